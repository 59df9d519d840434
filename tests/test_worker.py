"""Request workers end to end: a host forks a worker per request, the worker sandboxes itself,
reads the invoke over its channel, has the enclave side unwrap DK, decrypts, runs the model and
streams the sealed answer, which the client's reader opens.

Each scenario runs in a fresh Python process (the test plays service, enclave and client there;
the worker itself is C from fork to exit) and prints what it saw as JSON. The engine is a tiny
random Llama (tests/llm_tiny.py); the worker's text must equal a greedy generation of the same
model in-process.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import llm_tiny as T
from pcc import _core

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the worker sandbox needs root")

CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

SCRIPT = r"""
import json, os, socket, struct, sys, time
import msgpack
from pcc import _core, _request, hpke, llm
from pcc.errors import PccError

model_path, scenario, layers = sys.argv[1], sys.argv[2], int(sys.argv[3])
node_id, key_id = os.urandom(32), os.urandom(8)
sk = hpke.PrivateKey.generate(0x20)
messages = [("user", "hello there")]
params = {"max_tokens": 12, "temperature": 0.0, "seed": 1}
netns = _core.sandbox_netns_prepare() if scenario == "joined_netns" else -1
host = _core.worker_host(model_path, node_id, netns_fd=netns, layers=layers,
                         max_payload=64 if scenario == "too_long" else 0,
                         threads=2 if scenario == "threads2" else 1)

body, state = _request.seal_request([(node_id, key_id, sk.public_bytes())], messages, params)
e = body["keys"][0]
inv = {"op": "invoke", "key_id": e["key_id"], "enc": e["enc"], "ct": e["ct"], "node": e["node"],
       "nonce": body["nonce"], "body": body["body"]}
if scenario == "other_node":
    inv["node"] = os.urandom(32)
if scenario == "unknown_key":
    inv["key_id"] = bytes(8)
if scenario == "tampered":
    inv["body"] = [body["body"][0][:-1] + bytes([body["body"][0][-1] ^ 1])]
raw = msgpack.packb(inv)
if scenario == "garbage":
    raw = b"\x93\x01\x02"
if scenario == "extra_key":
    raw = msgpack.packb(dict(inv, extra=1))

srv, wrk = socket.socketpair()
enc_srv, enc_wrk = socket.socketpair()
pid = host.spawn(wrk.fileno(), enc_wrk.fileno())
wrk.close()
enc_wrk.close()
out = {}

# the worker is sandboxed before it reads anything: watch it while it waits for the invoke
deadline = time.time() + 20
while time.time() < deadline:
    status = open(f"/proc/{pid}/status").read()
    if "Seccomp:\t2" in status or ("NoNewPrivs:\t1" in status and not layers & 0x20):
        break
    time.sleep(0.005)
fields = dict(l.split(":\t", 1) for l in status.splitlines() if ":\t" in l)
if scenario == "threads2":
    # the engine's threads are started by the worker once its sandbox is up: every task of the
    # worker runs under the same filter and without new privileges
    while time.time() < deadline and len(os.listdir(f"/proc/{pid}/task")) < 2:
        time.sleep(0.005)
    tasks = {}
    for t in sorted(os.listdir(f"/proc/{pid}/task")):
        f = dict(l.split(":\t", 1) for l in open(f"/proc/{pid}/task/{t}/status").read().splitlines()
                 if ":\t" in l)
        tasks[t] = [f["Seccomp"].strip(), f["NoNewPrivs"].strip()]
    out["tasks"] = tasks
out["seccomp"] = fields.get("Seccomp", "").strip()
out["no_new_privs"] = fields.get("NoNewPrivs", "").strip()
out["threads"] = fields.get("Threads", "").strip()
out["netns_differs"] = os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
if netns >= 0:
    out["netns_is_prepared"] = os.readlink(f"/proc/{pid}/ns/net") == os.readlink(f"/proc/self/fd/{netns}")
out["worker_fds"] = sorted(int(f) for f in os.listdir(f"/proc/{pid}/fd"))

srv.sendall(struct.pack(">I", len(raw)) + raw)
try:
    _core.worker_unwrap_reply(enc_srv.fileno(), [(key_id, sk, 0x20, 1, 1)], node_id)
    out["unwrap"] = "ok"
except PccError as ex:
    out["unwrap"] = type(ex).__name__
stream = b""
while True:
    chunk = srv.recv(65536)
    if not chunk:
        break
    stream += chunk
_, st = os.waitpid(pid, 0)
out["exit"] = os.waitstatus_to_exitcode(st)
out["stream_len"] = len(stream)
if stream:
    # the stream carries spare abort frames for the service; what reaches a client is the rest
    from pcc.node._service import _Relay
    relay = _Relay()
    stream = relay.feed(stream)
    out["client_len"] = len(stream)
    out["spares"], out["frames"] = relay.n_spares, relay.frames
    out["abort_left"] = len(relay.abort())
    reader = state.reader(node_id)
    events = reader.feed(stream)
    reader.finish()
    out["text"] = "".join(x for x in events if isinstance(x, str))
    last = events[-1]
    out["final"] = ({"done": [last.prompt_tokens, last.completion_tokens]}
                    if isinstance(last, _request.Done) else {"error": last.code})
    m = llm.Model.load(model_path, threads=1)
    g = m.generate(messages=[{"role": r, "content": c} for r, c in messages], max_tokens=12,
                   temperature=0.0, top_p=1.0, top_k=0, seed=1)
    out["want"] = "".join(g)
    out["want_counts"] = [g.n_prompt, g.n_generated]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("worker")
    return str(T.build(d, T.F32, T.TinyConfig(seed=3), chat_template=CHATML,
                       name="worker.gguf").path)


# Under AddressSanitizer the worker runs without its seccomp layer: the sanitizer's runtime makes
# system calls of its own (it reads /proc/self/maps, among others) that the filter denies, and
# then reports a failure at exit although the worker's own work went well.
UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ
LAYERS = _core.SANDBOX_ALL & ~_core.SANDBOX_SECCOMP if UNDER_ASAN else _core.SANDBOX_ALL


def run(model_path, scenario):
    r = subprocess.run([sys.executable, "-c", SCRIPT, model_path, scenario, str(LAYERS)],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def assert_sandboxed(out):
    assert out["seccomp"] == ("0" if UNDER_ASAN else "2") and out["no_new_privs"] == "1"
    assert out["netns_differs"]
    assert out["worker_fds"] == [0, 1, 2, 3, 4] or out["worker_fds"] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("scenario", ["normal", "joined_netns", "threads2"])
def test_worker_answers_like_the_engine(model_path, scenario):
    out = run(model_path, scenario)
    assert_sandboxed(out)
    if scenario == "threads2":
        # two engine threads, started under the sandbox: the same greedy answer as one thread
        # in-process (checked below), and both threads confined like the worker
        assert len(out["tasks"]) == 2, out["tasks"]
        want = ["0" if UNDER_ASAN else "2", "1"]
        assert all(v == want for v in out["tasks"].values()), out["tasks"]
    else:
        assert out["threads"] == "1"
    assert out["unwrap"] == "ok" and out["exit"] == 0
    assert out["text"] == out["want"]
    assert out["final"] == {"done": out["want_counts"]}
    # one spare abort frame per frame position (none after the final frame), none left over,
    # and the client's stream ends on a size bucket (1 KiB for this short answer)
    assert out["spares"] == out["frames"] > 1 and out["abort_left"] == 0
    assert out["client_len"] == 1024
    if scenario == "joined_netns":
        assert out["netns_is_prepared"] and out["worker_fds"] == [0, 1, 2, 3, 4, 5]
    else:
        assert out["worker_fds"] == [0, 1, 2, 3, 4]


def test_worker_refuses_an_invoke_for_another_node(model_path):
    out = run(model_path, "other_node")
    assert out["exit"] == _core.WORKER_EXIT_INVOKE and out["stream_len"] == 0
    assert out["unwrap"] == "StateError"  # the worker never asked


@pytest.mark.parametrize("scenario", ["garbage", "extra_key"])
def test_worker_refuses_a_malformed_invoke(model_path, scenario):
    out = run(model_path, scenario)
    assert out["exit"] == _core.WORKER_EXIT_INVOKE and out["stream_len"] == 0


def test_worker_unknown_key(model_path):
    out = run(model_path, "unknown_key")
    assert out["unwrap"] == "UnknownKeyError"
    assert out["exit"] == _core.WORKER_EXIT_KEY and out["stream_len"] == 0


def test_worker_tampered_payload_is_a_sealed_bad_request(model_path):
    out = run(model_path, "tampered")
    assert out["exit"] == 0 and out["final"] == {"error": "bad_request"} and out["text"] == ""


def test_worker_payload_over_the_limit_is_too_long(model_path):
    out = run(model_path, "too_long")
    assert out["exit"] == 0 and out["final"] == {"error": "too_long"}


@pytest.mark.parametrize("threads", [0, -1, 65])
def test_worker_host_refuses_a_thread_count_out_of_range(model_path, threads):
    from pcc.errors import InvalidArgument
    with pytest.raises(InvalidArgument, match="threads"):
        _core.worker_host(model_path, os.urandom(32), threads=threads)
