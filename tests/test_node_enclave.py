"""The enclave loop alone (``python -m pcc.node._enclave``), driven over its two channels: every
operation of the message table in the states that allow it, every out-of-order one refused with
``state`` and nothing changed, hostile messages refused with ``format``, never a crash."""
import hashlib
import os
import socket
import struct
import subprocess
import sys

import msgpack
import pytest

from pcc import _core, attest, provision
from pcc.errors import StateError
from pcc.node._proc import Channel

D = hashlib.sha384(b"x").digest()


class Enclave:
    def __init__(self, lifetime=3600):
        c_s, c_e = socket.socketpair()
        h_s, h_e = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pcc.node._enclave", str(c_e.fileno()), str(h_e.fileno()),
             str(lifetime)], pass_fds=(c_e.fileno(), h_e.fileno()))
        c_e.close()
        h_e.close()
        self.ctrl = Channel(c_s, "enclave")
        self.host = Channel(h_s, "enclave")

    def refused(self, chan, obj, why="state"):
        chan.send(obj)
        r = chan.recv()
        assert r == {"op": "error", "error": why}, (obj, r)

    def raw(self, chan, data: bytes, why="format"):
        chan.sock.sendall(struct.pack(">I", len(data)) + data)
        r = chan.recv()
        assert r == {"op": "error", "error": why}, (data, r)

    def close(self):
        self.ctrl.sock.close()
        self.host.sock.close()
        return self.proc.wait(timeout=10)


@pytest.fixture
def enc():
    e = Enclave()
    yield e
    if e.proc.poll() is None:
        e.proc.kill()
        e.proc.wait()


def ext(reg, name="pcc"):
    return {"op": "extend", "reg": reg, "name": name, "sha384": D}


def attest_msg():
    return {"op": "attest", "release": b"leaf", "tlog_proof": "proof", "models": ["m"]}


def test_out_of_order_before_csr(enc):
    for m in [{"op": "set_chain", "chain": [b"cert"]}, {"op": "lock"}, attest_msg(),
              {"op": "rotate"}]:
        enc.refused(enc.ctrl, m)
    # a channel message without its descriptor breaks the host protocol: the enclave drops
    # the host channel (it never replies on channel) and keeps serving the control channel
    enc.host.send({"op": "channel"})
    with pytest.raises(StateError):
        enc.host.recv()
    enc.ctrl.call({"op": "csr", "serial": "AFTER-1"}, "csr")


def test_full_sequence_and_refusals(enc, tmp_path):
    ca = provision.CA.generate("enclave test root")
    ca.add_serial("SER-1")
    r = enc.ctrl.call({"op": "csr", "serial": "SER-1"}, "csr")
    assert len(r["node_id"]) == 32
    enc.refused(enc.ctrl, {"op": "csr", "serial": "SER-1"})            # once per boot
    enc.refused(enc.ctrl, {"op": "lock"})                              # no chain yet
    enc.refused(enc.ctrl, attest_msg())
    enc.ctrl.call({"op": "set_chain", "chain": [ca.issue(bytes(r["csr"]))]}, "ok")
    enc.refused(enc.ctrl, {"op": "set_chain", "chain": [b"again"]})
    enc.refused(enc.ctrl, ext(1), "invalid")           # the model register is the host's
    enc.refused(enc.host, ext(0), "invalid")           # and the code register the service's
    enc.refused(enc.host, ext(2), "invalid")
    enc.ctrl.call(ext(0), "ok")
    enc.refused(enc.ctrl, {"op": "lock"})              # model and config not measured yet
    enc.host.call(ext(1, "m"), "ok")
    enc.ctrl.call(ext(2, "node-config"), "ok")
    enc.refused(enc.ctrl, {"op": "lock"})              # the sandbox modes are not known yet
    enc.refused(enc.ctrl, {"op": "modes", "sandbox": 63}, "format")   # not the service's op
    enc.host.call({"op": "modes", "sandbox": _core.SANDBOX_ALL}, "ok")
    enc.refused(enc.host, {"op": "modes", "sandbox": 0})              # once
    enc.refused(enc.ctrl, {"op": "rotate"})
    enc.ctrl.call({"op": "lock"}, "ok")
    # after lock: nothing measured, nothing re-keyed
    for m in [ext(0), ext(2, "node-config"), {"op": "lock"}, {"op": "csr", "serial": "SER-1"},
              {"op": "set_chain", "chain": [b"c"]}]:
        enc.refused(enc.ctrl, m)
    enc.refused(enc.host, ext(1, "m2"))
    b = enc.ctrl.call(attest_msg(), "bundle")["bundle"]
    body = msgpack.unpackb(msgpack.unpackb(b)["body"])
    assert body["node_id"] == r["node_id"] and body["serial"] == "SER-1"
    assert body["events"] == [{"reg": 0, "name": "pcc", "sha384": D},
                              {"reg": 1, "name": "m", "sha384": D},
                              {"reg": 2, "name": "node-config", "sha384": D}]
    assert body["modes"]["sandbox"] == {"seccomp": True, "landlock": True, "netns": True}
    reg = bytes(48)
    for reg_i in (0,):
        reg = attest.register_extend(reg, "pcc", D)
    assert body["registers"][0] == reg
    k = enc.ctrl.call({"op": "rotate"}, "key")
    assert k["key_id"] != body["hpke"]["key_id"] and k["not_after"] > body["issued"]
    b2 = msgpack.unpackb(msgpack.unpackb(enc.ctrl.call(attest_msg(), "bundle")["bundle"])["body"])
    assert b2["hpke"]["key_id"] == k["key_id"]
    assert enc.close() == 0


def test_weaker_modes_are_reported(enc):
    ca = provision.CA.generate("enclave test root")
    ca.add_serial("SER-2")
    r = enc.ctrl.call({"op": "csr", "serial": "SER-2"}, "csr")
    enc.ctrl.call({"op": "set_chain", "chain": [ca.issue(bytes(r["csr"]))]}, "ok")
    enc.ctrl.call(ext(0), "ok")
    enc.host.call(ext(1, "m"), "ok")
    enc.ctrl.call(ext(2, "node-config"), "ok")
    enc.host.call({"op": "modes", "sandbox": _core.SANDBOX_ALL & ~_core.SANDBOX_NETNS}, "ok")
    enc.ctrl.call({"op": "lock"}, "ok")
    body = msgpack.unpackb(msgpack.unpackb(enc.ctrl.call(attest_msg(), "bundle")["bundle"])["body"])
    assert body["modes"]["sandbox"] == {"seccomp": True, "landlock": True, "netns": False}


def test_bad_serial_leaves_boot(enc):
    enc.refused(enc.ctrl, {"op": "csr", "serial": "bad*serial"}, "invalid")
    enc.ctrl.call({"op": "csr", "serial": "GOOD-1"}, "csr")


@pytest.mark.parametrize("data", [
    b"\xc1", b"\x93\x01\x02\x03", msgpack.packb({"op": "nope"}), msgpack.packb({"op": 1}),
    msgpack.packb({"op": "csr"}), msgpack.packb({"op": "csr", "serial": "A", "x": 1}),
    msgpack.packb({"op": "csr", "serial": b"A"}), msgpack.packb({"op": "lock", "x": 1}),
    msgpack.packb({"op": "extend", "reg": 7, "name": "a", "sha384": D}),
    msgpack.packb({"op": "extend", "reg": 0, "name": "a", "sha384": D[:47]}),
    msgpack.packb({"op": "csr", "serial": 1.5}),
    b"\x82\xa2op\xa3csr\xa2op\xa3csr",                  # duplicate key
    msgpack.packb({"op": "unwrap", "key_id": b"k" * 8, "enc": b"e" * 32, "ct": b"c" * 32}),
])
def test_hostile_messages(enc, data):
    enc.ctrl.sock.sendall(struct.pack(">I", len(data)) + data)
    r = enc.ctrl.recv()
    assert r["op"] == "error" and r["error"] in ("format", "invalid")
    enc.ctrl.call({"op": "csr", "serial": "STILL-OK"}, "csr")     # the enclave is unharmed


def test_broken_framing_ends_the_enclave(enc):
    enc.ctrl.sock.sendall(struct.pack(">I", 0))
    assert enc.proc.wait(timeout=10) is not None


def test_unwrap_only_on_a_worker_channel(enc):
    # unwrap is not an operation of the control or host channels
    m = {"op": "unwrap", "key_id": b"k" * 8, "enc": b"e" * 32, "ct": b"c" * 32}
    enc.refused(enc.ctrl, m, "format")
    enc.refused(enc.host, m, "format")


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.text(max_size=20) |
    st.binary(max_size=64),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=12)
_ops = st.sampled_from(["csr", "set_chain", "extend", "lock", "attest", "rotate", "modes",
                        "channel", "unwrap", "x"])


@pytest.fixture(scope="module")
def fuzz_enclave():
    e = Enclave()
    yield e
    e.close()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(min_size=1, max_size=200),
    st.builds(lambda op, extra: msgpack.packb(dict(extra, op=op)), _ops,
              st.dictionaries(st.sampled_from(["serial", "chain", "reg", "name", "sha384",
                                               "release", "tlog_proof", "models", "x"]),
                              _values, max_size=4))))
def test_any_message_gets_a_reply_and_never_a_crash(fuzz_enclave, data):
    e = fuzz_enclave
    e.ctrl.sock.sendall(struct.pack(">I", len(data)) + data)
    r = e.ctrl.recv()
    assert r["op"] in ("error", "ok", "csr", "bundle", "key")
    assert e.proc.poll() is None


# ---- the loop serves its channels concurrently ---------------------------------------------

def locked(enc):
    """Boot the enclave to LOCKED; return (node_id, key_id, hpke public key)."""
    ca = provision.CA.generate("enclave test root")
    ca.add_serial("SER-C")
    r = enc.ctrl.call({"op": "csr", "serial": "SER-C"}, "csr")
    enc.ctrl.call({"op": "set_chain", "chain": [ca.issue(bytes(r["csr"]))]}, "ok")
    enc.ctrl.call(ext(0), "ok")
    enc.host.call(ext(1, "m"), "ok")
    enc.ctrl.call(ext(2, "node-config"), "ok")
    enc.host.call({"op": "modes", "sandbox": _core.SANDBOX_ALL}, "ok")
    enc.ctrl.call({"op": "lock"}, "ok")
    body = msgpack.unpackb(msgpack.unpackb(enc.ctrl.call(attest_msg(), "bundle")["bundle"])["body"])
    return body["node_id"], body["hpke"]["key_id"], body["hpke"]["pk"]


def worker_channel(enc):
    """Hand the enclave a worker channel (as the host does); return the worker's end."""
    ours, theirs = socket.socketpair()
    enc.host.send({"op": "channel"}, theirs.fileno())
    theirs.close()
    ours.settimeout(10)
    return ours


def unwrap_msg(node_id, key_id, pk):
    from pcc import _request
    body, _state = _request.seal_request([_request.NodeKey(node_id, key_id, pk)],
                                         [{"role": "user", "content": "hi"}], model="m")
    k = body["keys"][0]
    m = msgpack.packb({"op": "unwrap", "key_id": k["key_id"], "enc": k["enc"], "ct": k["ct"]})
    return struct.pack(">I", len(m)) + m


def read_reply(sock):
    ch = Channel(sock, "enclave")
    return ch.recv()


def closed(sock, timeout):
    """True when the enclave closes its end within timeout (EOF, nothing sent)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False


import time  # noqa: E402

BOUND_S = 0.5      # what a reply may take while another channel holds half a message (was 2 s)


def test_half_a_message_does_not_delay_another_channel(enc):
    node_id, key_id, pk = locked(enc)
    slow = worker_channel(enc)
    slow.sendall(struct.pack(">I", 100) + b"\x84" + b"x" * 9)      # 10 of 100 bytes, then nothing
    fast = worker_channel(enc)
    time.sleep(0.05)                                               # the enclave has both channels
    t0 = time.monotonic()
    fast.sendall(unwrap_msg(node_id, key_id, pk))
    r = read_reply(fast)
    took = time.monotonic() - t0
    assert r["op"] == "dk" and len(r["dk"]) == 16
    assert took < BOUND_S, took
    # the control channel is not held either
    t0 = time.monotonic()
    enc.ctrl.call(attest_msg(), "bundle")
    assert time.monotonic() - t0 < BOUND_S
    # the slow channel is dropped at its deadline (2 s after it arrived), with no reply
    assert closed(slow, 5)
    assert enc.proc.poll() is None


def test_message_split_in_pieces_is_served(enc):
    node_id, key_id, pk = locked(enc)
    w = worker_channel(enc)
    data = unwrap_msg(node_id, key_id, pk)
    for i in range(0, len(data), 7):                   # header split too
        w.sendall(data[i:i + 7])
        time.sleep(0.005)
    assert read_reply(w)["op"] == "dk"


def test_oversize_length_prefix_is_refused_and_dropped(enc):
    node_id, key_id, pk = locked(enc)
    w = worker_channel(enc)
    t0 = time.monotonic()
    w.sendall(struct.pack(">I", 1 << 20))
    assert read_reply(w) == {"op": "refused"}
    assert closed(w, 5) and time.monotonic() - t0 < BOUND_S
    ok = worker_channel(enc)
    ok.sendall(unwrap_msg(node_id, key_id, pk))
    assert read_reply(ok)["op"] == "dk"


def test_silent_worker_loses_its_channel(enc):
    locked(enc)
    w = worker_channel(enc)
    t0 = time.monotonic()
    assert closed(w, 6)
    assert 1.5 < time.monotonic() - t0 < 5


def test_many_channels(enc):
    node_id, key_id, pk = locked(enc)
    stalled = [worker_channel(enc) for _ in range(60)]
    for s in stalled:
        s.sendall(struct.pack(">I", 200) + b"\x84")
    good = [worker_channel(enc) for _ in range(60)]
    msgs = [unwrap_msg(node_id, key_id, pk) for _ in good]
    time.sleep(0.05)
    t0 = time.monotonic()
    for g, m in zip(good, msgs):
        g.sendall(m)
    replies = [read_reply(g) for g in good]
    took = time.monotonic() - t0
    assert all(r["op"] == "dk" for r in replies)
    assert took < 2 * BOUND_S, took                    # 60 unwraps, none waiting on a stalled one
    bad = worker_channel(enc)                          # a garbage unwrap is refused as ever
    m = msgpack.packb({"op": "unwrap", "key_id": b"k" * 8, "enc": b"e" * 32, "ct": b"c" * 32})
    bad.sendall(struct.pack(">I", len(m)) + m)
    assert read_reply(bad) == {"op": "refused"}
    assert all(closed(s, 5) for s in stalled)
    assert enc.proc.poll() is None


def test_half_a_host_message_holds_nobody(enc):
    node_id, key_id, pk = locked(enc)
    w = worker_channel(enc)
    time.sleep(0.05)
    enc.host.sock.sendall(struct.pack(">I", 50) + b"\x81")      # the host stalls mid-message
    t0 = time.monotonic()
    w.sendall(unwrap_msg(node_id, key_id, pk))
    assert read_reply(w)["op"] == "dk"
    enc.ctrl.call(attest_msg(), "bundle")
    assert time.monotonic() - t0 < BOUND_S


def _fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def _send_with_fds(sock, data, fds):
    import array
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def test_passed_descriptors_never_accumulate(enc):
    """Descriptors that come with messages that do not take one (several per message, on the
    header and on the body, on every channel) are closed: the enclave's descriptor count does
    not grow."""
    node_id, key_id, pk = locked(enc)
    time.sleep(0.1)
    base = _fds(enc.proc.pid)
    for _ in range(10):
        pipes = [os.pipe() for _ in range(3)]
        fds = [f for p in pipes for f in p]
        m = msgpack.packb(ext(1, "late"))                    # refused: locked
        _send_with_fds(enc.host.sock, struct.pack(">I", len(m)), fds[:4])
        _send_with_fds(enc.host.sock, m, fds[4:])
        assert enc.host.recv() == {"op": "error", "error": "state"}
        m = msgpack.packb({"op": "channel"})                 # not a control-channel op
        _send_with_fds(enc.ctrl.sock, struct.pack(">I", len(m)) + m, fds[:2])
        assert enc.ctrl.recv() == {"op": "error", "error": "format"}
        w = worker_channel(enc)                              # a worker sending descriptors
        _send_with_fds(w, unwrap_msg(node_id, key_id, pk), fds[2:])
        assert read_reply(w)["op"] == "dk"
        assert closed(w, 5)
        w.close()
        for f in fds:
            os.close(f)
    deadline = time.monotonic() + 3
    while _fds(enc.proc.pid) > base and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _fds(enc.proc.pid) == base
    assert enc.proc.poll() is None


def raw_reply(sock, timeout=5):
    """Every byte the enclave sends on a worker channel before it closes it."""
    sock.settimeout(timeout)
    raw = b""
    while chunk := sock.recv(4096):
        raw += chunk
    return raw


def test_worker_channel_replies_are_the_workers_bytes(enc):
    # the loop answers with the same code as worker_unwrap_reply: the same bytes, then EOF
    from test_worker_unwrap import DK_PREFIX, REFUSED
    node_id, key_id, pk = locked(enc)
    w = worker_channel(enc)
    w.sendall(unwrap_msg(node_id, key_id, pk))
    raw = raw_reply(w)
    assert raw.startswith(DK_PREFIX) and len(raw) == len(DK_PREFIX) + 16
    for data in (struct.pack(">I", 1 << 20),                                 # over the cap
                 struct.pack(">I", 3) + b"\x93\x01\x02"):                     # not a map
        w = worker_channel(enc)
        w.sendall(data)
        assert raw_reply(w) == REFUSED
    assert enc.proc.poll() is None


def test_worker_gone_before_its_reply(enc):
    # a worker that asks and leaves: the reply fails without a signal, the enclave serves on
    node_id, key_id, pk = locked(enc)
    for _ in range(5):
        w = worker_channel(enc)
        w.sendall(unwrap_msg(node_id, key_id, pk))
        w.close()
    time.sleep(0.2)
    assert enc.proc.poll() is None
    ok = worker_channel(enc)
    ok.sendall(unwrap_msg(node_id, key_id, pk))
    assert read_reply(ok)["op"] == "dk"
