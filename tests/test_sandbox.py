"""The worker sandbox, tried from the inside.

Each test starts a fresh Python child that sets things up (a channel, a pipe, an open directory,
a listening socket...), applies some or all layers with ``_core.sandbox_apply`` and then tries
what a compromised worker would try. Results come back over the channel, the one descriptor the
worker may still use; calls that kill the worker are checked by the signal it died of. We run
as root, so the tests also show that root does not get around any layer: Landlock stops root,
the new network namespace has no route for root, seccomp kills root's setns.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from pcc import _core, _sandbox

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the worker sandbox needs root (new network namespace)")

ALL = _core.SANDBOX_ALL
NETNS, LANDLOCK, SECCOMP = _core.SANDBOX_NETNS, _core.SANDBOX_LANDLOCK, _core.SANDBOX_SECCOMP

PRELUDE = """
import ctypes, errno, json, mmap, os, resource, socket, sys, threading, traceback
from pcc import _core, hpke
chan = socket.socket(fileno=int(sys.argv[1]))
libc = ctypes.CDLL(None, use_errno=True)
out = {"uid": os.getuid()}  # taken before the sandbox, which refuses getuid

def probe(name, fn):
    try:
        r = fn()
        out[name] = "ok" if r is None or not isinstance(r, int) or r >= 0 else \\
            errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))
    except Exception as e:  # reported, since stderr is closed to the worker
        out[name] = type(e).__name__ + ": " + str(e)

def report():
    chan.sendall(json.dumps(out).encode() + b"\\n")

def fatal(name, fn):
    out["about_to"] = name
    report()
    fn()
    out["survived"] = name
    report()
    os._exit(0)
"""


def run_child(setup, body, layers=ALL, optional=0, extra_fds=(), send=b"", netns_fd=-1,
              prepared=False):
    """Run setup, apply the sandbox (layers) with the channel as its only fd, run body; return
    (list of reports, returncode)."""
    parent, child = socket.socketpair()
    code = PRELUDE + textwrap.dedent(setup) + textwrap.dedent(f"""
        flt = _core.sandbox_filter_new([chan.fileno()]) if {prepared} else None
        out["applied"] = _core.sandbox_apply(layers={layers}, optional={optional},
                                             fds=[chan.fileno()], netns_fd={netns_fd},
                                             filter=flt)
        """) + "def _body():\n    pass\n" + textwrap.indent(textwrap.dedent(body), "    ") + """
try:
    _body()
except Exception:
    out["error"] = traceback.format_exc()
report()
os._exit(0)
"""
    if send:
        parent.sendall(send)
    proc = subprocess.Popen([sys.executable, "-c", code, str(child.fileno())],
                            pass_fds=(child.fileno(), *extra_fds), stderr=subprocess.PIPE)
    child.close()
    data = b""
    parent.settimeout(60)
    while True:
        chunk = parent.recv(65536)
        if not chunk:
            break
        data += chunk
    rc = proc.wait(timeout=60)
    err = proc.stderr.read().decode(errors="replace")
    parent.close()
    reports = [json.loads(line) for line in data.decode().splitlines()]
    assert not any("error" in r for r in reports), reports[-1]["error"]
    assert reports and rc != 1, f"child failed (rc {rc}): {err}"
    return reports, rc, err


def test_landlock_abi_probe():
    assert _core.sandbox_landlock_abi() >= 1, "this kernel has no Landlock: a node would refuse"


@pytest.mark.parametrize("prepared", [False, True], ids=["filter-built-here", "filter-prepared"])
def test_full_sandbox_blocks_files_sockets_fork_and_other_fds(tmp_path, prepared):
    (tmp_path / "secret").write_text("s")
    setup = f"""
    d = os.open({str(tmp_path)!r}, os.O_RDONLY | os.O_DIRECTORY)
    f = os.open({str(tmp_path / 'secret')!r}, os.O_RDONLY)
    r, w = os.pipe()
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0)); srv.listen(1)
    port = srv.getsockname()[1]
    """
    body = """
    probe("open_dev_null", lambda: os.open("/dev/null", os.O_RDONLY))
    probe("open_via_dirfd", lambda: os.open("secret", os.O_RDONLY, dir_fd=d))
    probe("create_file", lambda: os.open("new", os.O_WRONLY | os.O_CREAT, dir_fd=d))
    probe("socket_inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    probe("socket_unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    probe("socketpair", lambda: socket.socketpair())
    probe("connect_out", lambda: tcp.connect(("127.0.0.1", port)))
    probe("write_other_fd", lambda: os.write(w, b"x"))
    probe("read_other_fd", lambda: os.read(f, 1))
    probe("fork", lambda: os.fork())
    probe("mmap_file", lambda: mmap.mmap(f, 1, prot=mmap.PROT_READ))
    probe("mmap_exec", lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC))
    probe("raise_nofile", lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096)))
    probe("dumpable_again", lambda: libc.prctl(4, 1, 0, 0, 0))   # PR_SET_DUMPABLE
    probe("kill_parent", lambda: os.kill(os.getppid(), 0))
    """
    (rep,), rc, err = run_child(setup, body, prepared=prepared)
    assert rc == 0, err
    assert rep["applied"] == ALL and rep["uid"] == 0
    for name in ("open_dev_null", "open_via_dirfd", "create_file", "socket_inet", "socket_unix",
                 "socketpair", "connect_out", "write_other_fd", "read_other_fd", "fork",
                 "mmap_file", "mmap_exec", "dumpable_again", "kill_parent"):
        assert rep[name] == "EPERM", (name, rep[name])
    # Python reports setrlimit's EPERM as this ValueError (root could raise it without seccomp)
    assert rep["raise_nofile"] == "ValueError: not allowed to raise maximum limit"


UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ


@pytest.mark.skipif(UNDER_ASAN, reason="AddressSanitizer's thread hooks read /proc/self/maps, "
                    "which the sandbox denies")
def test_full_sandbox_keeps_what_a_worker_needs():
    body = """
    probe("channel_read", lambda: out.__setitem__("got", chan.recv(4).decode()))
    probe("alloc", lambda: bytearray(64 << 20))
    probe("mmap_anon", lambda: mmap.mmap(-1, 1 << 20))
    probe("random", lambda: os.urandom(16))
    # OpenSSL after fork (its DRBG reseeds through getrandom) and secure memory (mlock, guards)
    probe("hpke_keygen", lambda: hpke.PrivateKey.generate(0x20).public_bytes())
    res = []
    def work():
        res.append(sum(range(1000)))
    ths = [threading.Thread(target=work) for _ in range(4)]
    probe("threads", lambda: [t.start() for t in ths] and None)
    for t in ths: t.join()
    out["thread_results"] = res
    out["rlimit_core"] = resource.getrlimit(resource.RLIMIT_CORE)
    out["rlimit_nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)
    """
    (rep,), rc, err = run_child("", body, send=b"ping")
    assert rc == 0, err
    assert rep["got"] == "ping" and rep["channel_read"] == "ok"
    for name in ("alloc", "mmap_anon", "random", "hpke_keygen", "threads"):
        assert rep[name] == "ok", (name, rep[name])
    assert rep["thread_results"] == [499500] * 4
    assert rep["rlimit_core"] == [0, 0]
    assert rep["rlimit_nofile"] == [16, 16]


def test_process_attribute_layers():
    body = """
    out["dumpable"] = libc.prctl(3, 0, 0, 0, 0)        # PR_GET_DUMPABLE
    out["no_new_privs"] = libc.prctl(39, 0, 0, 0, 0)   # PR_GET_NO_NEW_PRIVS
    out["core"] = resource.getrlimit(resource.RLIMIT_CORE)
    """
    (rep,), rc, err = run_child("", body, layers=0)
    assert rc == 0, err
    assert (rep["dumpable"], rep["no_new_privs"]) == (1, 0)  # the baseline
    assert rep["core"] != [0, 0] or resource_core_is_zero()
    layers = _core.SANDBOX_NO_NEW_PRIVS | _core.SANDBOX_NOT_DUMPABLE | _core.SANDBOX_RLIMITS
    (rep,), rc, err = run_child("", body, layers=layers)
    assert rc == 0, err
    assert rep["applied"] == layers
    assert (rep["dumpable"], rep["no_new_privs"], rep["core"]) == (0, 1, [0, 0])


def resource_core_is_zero():
    import resource
    return resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)


@pytest.mark.parametrize("prepared", [False, True], ids=["filter-built-here", "filter-prepared"])
@pytest.mark.parametrize("call", ["execve", "ptrace", "setns", "unshare", "process_vm_readv"])
def test_fatal_calls_kill_the_worker(call, prepared):
    setup = """
    netns = os.open("/proc/self/ns/net", os.O_RDONLY)
    """
    calls = {
        "execve": "lambda: os.execv('/bin/true', ['true'])",
        "ptrace": "lambda: libc.ptrace(0, 0, 0, 0)",                 # PTRACE_TRACEME
        "setns": "lambda: libc.setns(netns, 0x40000000)",           # back to the host's netns
        "unshare": "lambda: libc.unshare(0x40000000)",
        "process_vm_readv": "lambda: libc.syscall(310, os.getppid(), 0, 0, 0, 0, 0)",
    }
    reports, rc, err = run_child(setup, f'fatal("{call}", {calls[call]})', prepared=prepared)
    assert reports[0]["about_to"] == call and all("survived" not in r for r in reports)
    assert rc == -signal.SIGSYS, (rc, err)


def test_landlock_alone_stops_root(tmp_path):
    (tmp_path / "f").write_text("x")
    setup = f"""
    d = os.open({str(tmp_path)!r}, os.O_RDONLY | os.O_DIRECTORY)
    kept = os.open({str(tmp_path / 'f')!r}, os.O_RDONLY)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0)); srv.listen(1)
    port = srv.getsockname()[1]
    """
    body = """
    probe("open_dev_null", lambda: os.open("/dev/null", os.O_RDONLY))
    probe("open_proc", lambda: os.open("/proc/self/status", os.O_RDONLY))
    probe("open_via_dirfd", lambda: os.open("f", os.O_RDONLY, dir_fd=d))
    probe("create_via_dirfd", lambda: os.open("g", os.O_WRONLY | os.O_CREAT, dir_fd=d))
    probe("listdir", lambda: os.listdir("/"))
    probe("mkdir", lambda: os.mkdir("/tmp/pcc-sandbox-escape"))
    probe("read_kept_fd", lambda: os.read(kept, 1))
    probe("tcp_connect", lambda: socket.create_connection(("127.0.0.1", port), timeout=5))
    probe("execve_check", lambda: os.access("/bin/true", os.X_OK) or None)
    """
    (rep,), rc, err = run_child(setup, body, layers=LANDLOCK)
    assert rc == 0, err
    assert rep["applied"] == LANDLOCK and rep["uid"] == 0
    for name in ("open_dev_null", "open_proc", "open_via_dirfd", "create_via_dirfd", "listdir",
                 "mkdir"):
        assert rep[name] == "EACCES", (name, rep[name])
    assert rep["read_kept_fd"] == "ok"  # descriptors opened before stay usable
    if _core.sandbox_landlock_abi() >= 4:
        assert rep["tcp_connect"] == "EACCES"
    assert not os.path.exists("/tmp/pcc-sandbox-escape")


def test_netns_alone_has_no_route_even_for_root():
    setup = """
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0)); srv.listen(1)
    port = srv.getsockname()[1]
    """
    body = """
    out["interfaces"] = [n for _, n in socket.if_nameindex()]
    probe("connect_host_loopback", lambda: socket.create_connection(("127.0.0.1", port), timeout=5))
    probe("connect_outside", lambda: socket.create_connection(("192.0.2.1", 80), timeout=5))
    """
    (rep,), rc, err = run_child(setup, body, layers=NETNS)
    assert rc == 0, err
    assert rep["applied"] == NETNS and rep["uid"] == 0
    assert rep["interfaces"] == ["lo"]
    assert rep["connect_host_loopback"] == "ENETUNREACH"
    assert rep["connect_outside"] == "ENETUNREACH"


@pytest.fixture
def empty_netns():
    fd = _core.sandbox_netns_prepare()
    yield fd
    os.close(fd)


def test_prepared_empty_netns(empty_netns):
    assert os.readlink(f"/proc/self/fd/{empty_netns}") != os.readlink("/proc/self/ns/net")
    setup = """
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0)); srv.listen(1)
    port = srv.getsockname()[1]
    """
    body = """
    out["ns"] = os.readlink("/proc/self/ns/net")
    out["interfaces"] = [n for _, n in socket.if_nameindex()]
    probe("connect_host_loopback", lambda: socket.create_connection(("127.0.0.1", port), timeout=5))
    """
    (rep,), rc, err = run_child(setup, body, layers=NETNS, extra_fds=(empty_netns,),
                                netns_fd=empty_netns)
    assert rc == 0, err
    assert rep["ns"] == os.readlink(f"/proc/self/fd/{empty_netns}")
    assert rep["interfaces"] == ["lo"] and rep["connect_host_loopback"] == "ENETUNREACH"
    # the full sandbox with it
    (rep,), rc, err = run_child("", "", extra_fds=(empty_netns,), netns_fd=empty_netns)
    assert rc == 0 and rep["applied"] == ALL, err


def test_joining_something_else_than_a_netns_fails():
    r, w = os.pipe()
    try:
        parent, child = socket.socketpair()
        code = PRELUDE + f"""
try:
    _core.sandbox_apply(layers={NETNS}, fds=[chan.fileno()], netns_fd={r})
    out["result"] = "applied"
except Exception as e:
    out["result"] = type(e).__name__ + ": " + str(e)
report()
"""
        proc = subprocess.Popen([sys.executable, "-c", code, str(child.fileno())],
                                pass_fds=(child.fileno(), r))
        child.close()
        parent.settimeout(60)
        line = parent.makefile("rb").readline()
        assert proc.wait(timeout=60) == 0
        assert json.loads(line)["result"] == \
            "StateError: sandbox layer netns could not be applied"
    finally:
        os.close(r)
        os.close(w)


def test_seccomp_alone_refuses_root_the_namespace_door():
    setup = """
    netns = os.open("/proc/self/ns/net", os.O_RDONLY)
    """
    body = """
    probe("open", lambda: os.open("/dev/null", os.O_RDONLY))
    fatal("setns", lambda: libc.setns(netns, 0x40000000))
    """
    reports, rc, _ = run_child(setup, body, layers=SECCOMP)
    assert reports[0]["open"] == "EPERM" and reports[0]["about_to"] == "setns"
    assert rc == -signal.SIGSYS


def test_each_layer_reported():
    for name, bit in _sandbox.LAYERS:
        body = "out['names'] = __import__('pcc._sandbox', fromlist=['x']).layer_names(out['applied'])"
        setup = "import pcc._sandbox\n"
        (rep,), rc, err = run_child(setup, body, layers=bit)
        assert rc == 0, err
        assert rep["applied"] == bit and rep["names"] == [name]
    assert _sandbox.modes(ALL) == {"seccomp": True, "landlock": True, "netns": True}
    assert _sandbox.modes(ALL & ~LANDLOCK)["landlock"] is False
    assert _sandbox.layers_from_names(["netns", "seccomp"]) == NETNS | SECCOMP
    with pytest.raises(ValueError):
        _sandbox.layers_from_names(["chroot"])


def test_a_layer_that_fails_is_an_error_unless_optional():
    # After seccomp, prctl and setrlimit are refused: a second call shows both outcomes.
    body = """
    try:
        _core.sandbox_apply(layers=_core.SANDBOX_NOT_DUMPABLE | _core.SANDBOX_RLIMITS,
                            optional=_core.SANDBOX_NOT_DUMPABLE, fds=[chan.fileno()])
        out["strict"] = "applied"
    except Exception as e:
        out["strict"] = type(e).__name__ + ": " + str(e)
    out["weaker"] = _core.sandbox_apply(
        layers=_core.SANDBOX_NOT_DUMPABLE | _core.SANDBOX_RLIMITS,
        optional=_core.SANDBOX_NOT_DUMPABLE | _core.SANDBOX_RLIMITS, fds=[chan.fileno()])
    """
    (rep,), rc, err = run_child("", body, layers=SECCOMP)
    assert rc == 0, err
    assert rep["strict"] == "StateError: sandbox layer rlimits could not be applied"
    assert rep["weaker"] == 0


def test_abort_still_kills_the_worker():
    # tgkill is not on the list: abort() cannot raise SIGABRT, and glibc's fallback ends the
    # process by a fault instead; either way a worker with a smashed canary does not live on
    reports, rc, _ = run_child("", 'fatal("abort", lambda: libc.abort())')
    assert reports[0]["about_to"] == "abort" and all("survived" not in r for r in reports)
    assert rc < 0 and -rc in (signal.SIGSEGV, signal.SIGILL, signal.SIGABRT, signal.SIGKILL), rc


def test_prepared_filter_must_match_the_channels():
    from pcc.errors import InvalidArgument
    flt = _core.sandbox_filter_new([3, 4])
    # layers=0: checked before anything is applied, and this is the test process itself
    with pytest.raises(InvalidArgument):
        _core.sandbox_apply(layers=0, fds=[4, 3], filter=flt)
    with pytest.raises(TypeError):
        _core.sandbox_apply(layers=0, fds=[3, 4], filter=object())
    with pytest.raises(InvalidArgument):
        _core.sandbox_filter_new([-1])


def test_invalid_policy():
    from pcc.errors import InvalidArgument
    with pytest.raises(InvalidArgument):
        _core.sandbox_apply(layers=0x40)
    with pytest.raises(InvalidArgument):
        _core.sandbox_apply(layers=0, fds=[-1])
    with pytest.raises(InvalidArgument):
        _core.sandbox_apply(layers=0, fds=list(range(9)))
    assert _core.sandbox_apply(layers=0) == 0  # nothing asked, nothing done
