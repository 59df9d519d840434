"""The compute node end to end: a real node (``pcc node serve``: service, enclave and host
processes, a sandboxed worker per request) on loopback, with a tiny random GGUF, a test CA and a
test log with two witnesses. The client side is pcc._request (what a client sends) and
pcc.attest.verify (what a client checks)."""
import os
import pathlib
import re
import secrets
import signal
import threading
import time

import httpx
import msgpack
import pytest

import _node_util as U
from pcc import _padding as padding
from pcc import _core, _request, attest, llm
from pcc.errors import FormatError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the worker sandbox needs root")

TINY = {"max_tokens": 12, "temperature": 0.0, "seed": 1}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return U.World(tmp_path_factory.mktemp("node"))


@pytest.fixture(scope="module")
def node(world):
    n = U.Node(world.config(), world.d / "node.log")
    try:
        yield n.wait()
    finally:
        n.stop()


def report(node, world, model=U.MODEL):
    r = httpx.get(node.url + "/v1/attestation", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pcc-attestation+msgpack"
    rep = attest.verify(r.content, world.trust(), model=model)
    assert rep.ok, str(rep)
    return rep


def seal(rep, messages, params=TINY, model=U.MODEL):
    return _request.seal_request([(rep.node_id, rep.key_id, rep.hpke_public_key)], messages,
                                 params, model=model)


def post(node, body, timeout=60):
    data = body if isinstance(body, bytes) else msgpack.packb(body)
    return httpx.post(node.url + "/v1/invoke", content=data, timeout=timeout,
                      headers={"content-type": "application/pcc-request+msgpack"})


def events_of(resp, state, node_id):
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pcc-answer"
    rd = state.reader(node_id)
    ev = rd.feed(resp.content)
    rd.finish()
    return ev


def sealed_error(node, rep, body, state):
    ev = events_of(post(node, body), state, rep.node_id)
    assert isinstance(ev[-1], _request.Failed)
    return ev[-1].code


# ------------------------------------------------------------------------------- the answer

def test_answer_equals_the_engine(node, world):
    rep = report(node, world)
    msgs = [("system", "be brief"), ("user", "hello there")]
    body, state = seal(rep, msgs)
    ev = events_of(post(node, body), state, rep.node_id)
    m = llm.Model.load(world.model_path, threads=1)
    g = m.generate(messages=[{"role": r, "content": c} for r, c in msgs], max_tokens=12,
                   temperature=0.0, top_p=1.0, top_k=0, seed=1)
    want = "".join(g)
    assert "".join(e for e in ev if isinstance(e, str)) == want
    assert ev[-1] == _request.Done(prompt_tokens=g.n_prompt, completion_tokens=g.n_generated)


def test_second_model_and_bundle_lists_both(node, world):
    rep = report(node, world, model="slow")
    body, state = seal(rep, [("user", "hi")], {"max_tokens": 5, "temperature": 0.0},
                       model="slow")
    ev = events_of(post(node, body), state, rep.node_id)
    assert "".join(e for e in ev if isinstance(e, str)) == "!" * 5


def test_only_the_four_endpoints(node):
    for method, path in [("GET", "/"), ("GET", "/admin"), ("POST", "/v1/attestation"),
                         ("GET", "/v1/invoke"), ("GET", "/debug"), ("POST", "/healthz")]:
        r = httpx.request(method, node.url + path, timeout=10)
        assert r.status_code in (404, 405), (method, path)
    assert httpx.get(node.url + "/healthz").status_code == 200
    m = httpx.get(node.url + "/metrics").text
    names = set(re.findall(r"^(pcc_[a-z_]+?)(?:_bucket|_count|_sum)?[{ ]", m, re.M))
    assert names == {"pcc_node_requests_total", "pcc_node_request_seconds",
                     "pcc_node_key_rotations_total"}


# ------------------------------------------------------------------------------- negatives

def test_wrong_node_entry_refused(node, world):
    rep = report(node, world)
    body, _ = seal(rep, [("user", "x")])
    body["keys"][0]["node"] = os.urandom(32)
    r = post(node, body)
    assert r.status_code == 400 and r.json() == {"error": "the request is sealed to another node"}


def test_sealed_for_another_node_id(node, world):
    rep = report(node, world)
    other = os.urandom(32)
    body, _ = _request.seal_request([(other, rep.key_id, rep.hpke_public_key)], [("user", "x")],
                                    TINY, model=U.MODEL)
    body["keys"][0]["node"] = rep.node_id     # the wrap binds the other node id: unwrap fails
    r = post(node, body)
    assert r.status_code == 400 and "cannot open" in r.json()["error"]


def test_unknown_key_id(node, world):
    rep = report(node, world)
    body, _ = seal(rep, [("user", "x")])
    body["keys"][0]["key_id"] = bytes(8)
    r = post(node, body)
    assert r.status_code == 400 and "cannot open" in r.json()["error"]


def test_malformed_msgpack(node):
    for data in [b"\x93\x01\x02", b"\xc1", b"", b"\x81\xa1v"]:
        r = post(node, data)
        assert r.status_code == 400 and r.json() == {"error": "malformed request"}


def test_extra_or_missing_keys(node, world):
    rep = report(node, world)
    body, _ = seal(rep, [("user", "x")])
    assert post(node, dict(body, extra=1)).status_code == 400
    b2 = dict(body)
    del b2["nonce"]
    assert post(node, b2).status_code == 400


def test_unknown_model(node, world):
    rep = report(node, world)
    body, _ = seal(rep, [("user", "x")], model="nope")
    r = post(node, body)
    assert r.status_code == 404


def _long_body(rep):
    return seal(rep, [("user", "y" * 40000)])       # three chunks


def test_tampered_chunk(node, world):
    rep = report(node, world)
    body, state = _long_body(rep)
    c = bytearray(body["body"][1])
    c[5] ^= 1
    body["body"][1] = bytes(c)
    assert sealed_error(node, rep, body, state) == "bad_request"


def test_reordered_chunks(node, world):
    rep = report(node, world)
    body, state = _long_body(rep)
    body["body"][0], body["body"][1] = body["body"][1], body["body"][0]
    assert sealed_error(node, rep, body, state) == "bad_request"


def test_dropped_chunk(node, world):
    rep = report(node, world)
    body, state = _long_body(rep)
    del body["body"][1]
    assert sealed_error(node, rep, body, state) == "bad_request"


def test_extra_chunk(node, world):
    rep = report(node, world)
    body, state = _long_body(rep)
    body["body"].append(body["body"][0])
    assert sealed_error(node, rep, body, state) == "bad_request"


def test_missing_final_chunk(node, world):
    rep = report(node, world)
    body, state = _long_body(rep)
    del body["body"][-1]                  # the one sealed as final
    assert sealed_error(node, rep, body, state) == "bad_request"


def test_padded_payload_and_padded_answer(node, world):
    # a payload padded to its size bucket is accepted; the answer stream ends on a bucket and
    # its final chunk's pad is checked and dropped by the reader
    rep = report(node, world)
    body, state = _request.seal_request([(rep.node_id, rep.key_id, rep.hpke_public_key)],
                                        [("user", "hello")], TINY, model=U.MODEL, pad=True)
    plain, _ = seal(rep, [("user", "hello")])
    assert len(body["body"][0]) > len(plain["body"][0])
    r = post(node, body)
    ev = events_of(r, state, rep.node_id)
    assert isinstance(ev[-1], _request.Done) and all(isinstance(e, str) for e in ev[:-1])
    assert len(r.content) == padding.bucket(len(r.content))


def _seal_payload(rep, payload):
    """The invoke body for raw payload bytes (what a broken or hostile client could send)."""
    dk = _core._testing_request_key(os.urandom(16))
    key = (rep.node_id, rep.key_id, rep.hpke_public_key, *rep.hpke_suite)
    body = _core._testing_request_seal(dk, [key], payload, os.urandom(12), [os.urandom(32)])
    return dict(v=1, model=U.MODEL, **body), dk


@pytest.mark.parametrize("pad", [b"\0" * 9 + b"\1", "zeros", [b""]],
                         ids=["nonzero", "str", "array"])
def test_payload_with_a_wrong_pad(node, world, pad):
    rep = report(node, world)
    payload = msgpack.packb({"messages": [{"role": "user", "content": "x"}],
                             "params": {"max_tokens": 4, "temperature": 0.0, "top_p": 1.0,
                                        "top_k": 0, "seed": None}, "pad": pad})
    body, dk = _seal_payload(rep, payload)
    r = post(node, body)
    assert r.status_code == 200
    rd = dk.answer_reader(rep.node_id)
    assert rd.feed(r.content) == [("error", "bad_request")]
    rd.finish()
    assert len(r.content) == padding.MIN_BUCKET      # an error is padded like any answer


def test_oversized_payload(node, world):
    rep = report(node, world)
    body, state = seal(rep, [("user", "z" * 70000)])    # over the node's 64 KiB limit
    assert sealed_error(node, rep, body, state) == "too_long"


def test_over_max_tokens(node, world):
    rep = report(node, world)
    body, state = seal(rep, [("user", "x")], {"max_tokens": 5000, "temperature": 0.0})
    assert sealed_error(node, rep, body, state) == "too_long"


def test_body_over_the_size_limit(node):
    r = post(node, b"\x00" * (300 * 1024))
    assert r.status_code == 413


# ------------------------------------------------------------------------------- no trace

def _mem_has(pid: int, needle: bytes) -> bool:
    """Whether needle is anywhere in the readable memory of pid (as root)."""
    maps = pathlib.Path(f"/proc/{pid}/maps").read_text().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            f = line.split()
            if f[1][0] != "r" or line.endswith(("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            if data and needle in data:
                return True
    return False


def _node_pids(node) -> dict:
    pids = node.children()
    pids["service"] = node.proc.pid
    assert set(pids) == {"service", "enclave", "host"}
    return pids


def _waiting_for_invoke(pid: int) -> bool:
    """Whether pid is blocked in read(2) on descriptor 3 (a pooled worker waiting)."""
    f = pathlib.Path(f"/proc/{pid}/syscall").read_text().split()
    return len(f) > 1 and f[0] == "0" and int(f[1], 16) == 3


def _workers(host_pid: int) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == host_pid:
                out.append(int(pid))
    return out


def test_canary_leaves_no_trace(node, world):
    rep = report(node, world)
    canary = "CANARY-" + secrets.token_hex(16)
    body, state = seal(rep, [("user", f"remember {canary} please")])
    ev = events_of(post(node, body), state, rep.node_id)
    assert isinstance(ev[-1], _request.Done)
    needle = canary.encode()
    assert needle not in httpx.get(node.url + "/metrics").content
    for p in world.d.rglob("*"):                      # every file the node could write
        if p.is_file():
            assert needle not in p.read_bytes(), p
    pids = _node_pids(node)
    for name, pid in pids.items():
        assert not _mem_has(pid, needle), name
    for w in _workers(pids["host"]):                  # nor in the pool forked ahead
        assert not _mem_has(w, needle), w


def test_pool_size_is_reported(node):
    import json
    done = [json.loads(line) for line in node.logfile.read_text().splitlines()
            if line.startswith("{") and '"boot_done"' in line]
    assert done and done[-1]["args"]["pool"] == 2


def test_pooled_worker_killed_while_waiting(node, world):
    # a waiting worker that dies is dropped from the pool (the service closes its channel) and
    # replaced; requests go on being served
    host = _node_pids(node)["host"]
    waiting = [w for w in _workers(host) if _waiting_for_invoke(w)]
    assert len(waiting) == 2 * 2
    for w in waiting[:2]:
        os.kill(w, signal.SIGKILL)
    rep = report(node, world)
    for i in range(3):
        body, state = seal(rep, [("user", f"after {i}")])
        assert isinstance(events_of(post(node, body), state, rep.node_id)[-1], _request.Done)
    for _ in range(100):                           # the pools fill up again
        if len([w for w in _workers(host) if _waiting_for_invoke(w)]) == 2 * 2:
            break
        time.sleep(0.05)
    assert len([w for w in _workers(host) if _waiting_for_invoke(w)]) == 2 * 2


def test_pool_size_is_bounded(world):
    import json
    from pcc.node import parse_config
    cfg = json.loads(world.config("pool17.json").read_text())
    for bad in (-1, 17, 2.0, True):
        cfg["limits"]["pool"] = bad
        with pytest.raises(FormatError, match="pool"):
            parse_config(cfg, "node.json", world.d)


def test_threads_limit_is_bounded(world):
    import json
    from pcc.node import parse_config
    cfg = json.loads(world.config("threads0.json").read_text())
    assert parse_config(cfg, "node.json", world.d).limits["threads"] == 1     # the default
    for bad in (0, -1, len(os.sched_getaffinity(0)) + 1, 65, 2.0, True):
        cfg["limits"]["threads"] = bad
        with pytest.raises(FormatError, match="threads"):
            parse_config(cfg, "node.json", world.d)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_two_engine_threads_answer_like_one(world):
    # each worker starts its engine's second thread under its own sandbox: every task of a
    # waiting worker is under the seccomp filter, and the greedy answer is the one-thread one
    cfg = world.config("threads2.json", limits={"max_workers": 2, "queue": 2, "max_tokens": 1900,
                                                "max_payload": 65536, "threads": 2})
    n = U.Node(cfg, world.d / "threads2.log").wait()
    try:
        host = _node_pids(n)["host"]
        for _ in range(100):
            waiting = [w for w in _workers(host) if _waiting_for_invoke(w)]
            if len(waiting) == 2 * 2 and all(len(os.listdir(f"/proc/{w}/task")) == 2
                                             for w in waiting):
                break
            time.sleep(0.05)
        for w in waiting:
            tasks = os.listdir(f"/proc/{w}/task")
            assert len(tasks) == 2
            for t in tasks:
                st = pathlib.Path(f"/proc/{w}/task/{t}/status").read_text()
                assert "Seccomp:\t2" in st and "NoNewPrivs:\t1" in st, (w, t)
        rep = report(n, world)
        msgs = [("system", "be brief"), ("user", "hello there")]
        body, state = seal(rep, msgs)
        ev = events_of(post(n, body), state, rep.node_id)
        m = llm.Model.load(world.model_path, threads=1)
        g = m.generate(messages=[{"role": r, "content": c} for r, c in msgs], max_tokens=12,
                       temperature=0.0, top_p=1.0, top_k=0, seed=1)
        assert "".join(e for e in ev if isinstance(e, str)) == "".join(g)
        assert ev[-1] == _request.Done(prompt_tokens=g.n_prompt, completion_tokens=g.n_generated)
    finally:
        n.stop()


def test_long_generation_plaintext_only_in_the_worker_then_kill(node, world):
    rep = report(node, world, model="slow")
    canary = "CANARY-" + secrets.token_hex(16)
    body, state = seal(rep, [("user", f"say {canary}")],
                       {"max_tokens": 1800, "temperature": 0.0}, model="slow")
    got = bytearray()
    first = threading.Event()
    done = threading.Event()

    def run():
        try:
            with httpx.stream("POST", node.url + "/v1/invoke", content=msgpack.packb(body),
                              timeout=60) as r:
                assert r.status_code == 200
                for chunk in r.iter_raw():
                    got.extend(chunk)
                    if len(got) > 16:                  # a frame: the payload was opened
                        first.set()
        except httpx.HTTPError:
            pass
        finally:
            first.set()
            done.set()

    t = threading.Thread(target=run)
    t.start()
    assert first.wait(30)
    pids = _node_pids(node)
    needle = canary.encode()
    # the pooled workers wait in read(3, ...) for an invoke; one is serving this request, and
    # only it holds the plaintext
    workers = _workers(pids["host"])
    serving = [w for w in workers if not _waiting_for_invoke(w)]
    assert len(serving) == 1, [pathlib.Path(f"/proc/{w}/syscall").read_text() for w in workers]
    w = serving[0]
    assert _mem_has(w, needle)                         # the scan sees it where it is
    assert not done.is_set()
    os.kill(w, signal.SIGKILL)
    for name, pid in pids.items():                     # and nowhere else (scanned after the
        assert not _mem_has(pid, needle), name         # kill: the answer is short-lived)
    # the pool (2 per model; the one taken was replaced): children of the host,
    # all sandboxed before any request reached them, waiting; none holds the plaintext
    for _ in range(100):
        waiting = [x for x in _workers(pids["host"]) if x != w and _waiting_for_invoke(x)]
        if len(waiting) == 2 * 2:
            break
        time.sleep(0.05)
    assert len(waiting) == 2 * 2
    for x in waiting:
        # seccomp filter, no_new_privs, another network namespace, only its channels open
        status = dict(line.split(":\t", 1) for line in
                      pathlib.Path(f"/proc/{x}/status").read_text().splitlines() if ":\t" in line)
        assert status["Seccomp"].strip() == "2" and status["NoNewPrivs"].strip() == "1"
        assert os.readlink(f"/proc/{x}/ns/net") != os.readlink("/proc/self/ns/net")
        assert {int(f) for f in os.listdir(f"/proc/{x}/fd")} <= {0, 1, 2, 3, 4, 5}
    assert not _mem_has(waiting[0], needle)
    assert done.wait(30)
    t.join()
    # the service ends the stream with the worker's spare abort frame for the next position:
    # a sealed internal error, not a truncated answer
    rd = state.reader(rep.node_id)
    ev = rd.feed(bytes(got))
    assert ev[-1] == _request.Failed("internal")
    assert len(ev) > 1 and all(isinstance(e, str) for e in ev[:-1])
    rd.finish()
    assert len(got) == padding.bucket(len(got))       # even then, the size is a bucket
    # the node keeps serving
    body, state = seal(report(node, world), [("user", "again")])
    assert isinstance(events_of(post(node, body), state, rep.node_id)[-1], _request.Done)
    m = httpx.get(node.url + "/metrics").text
    assert 'pcc_node_requests_total{outcome="internal"} 1.0' in m
    for line in (world.d / "node.log").read_text().splitlines():
        assert canary not in line


def test_log_lines_come_from_the_table(node):
    import json
    from pcc.node import _log
    ids = {i for i, *_ in _log.table()}
    for line in node.logfile.read_text().splitlines():
        if line.startswith("{"):
            ev = json.loads(line)
            assert ev["id"] in ids and set(ev) == {"ts", "id", "event", "msg", "args"}


def test_overloaded_beyond_the_queue(world):
    # no pool here: each worker is forked when its request arrives
    cfg = world.config("busy.json", limits={"max_workers": 1, "queue": 0, "max_tokens": 1900,
                                            "max_payload": 65536, "pool": 0})
    n = U.Node(cfg, world.d / "busy.log").wait()
    try:
        rep = report(n, world, model="slow")
        body, state = seal(rep, [("user", "x")], {"max_tokens": 1800, "temperature": 0.0},
                           model="slow")
        started = threading.Event()

        def run():
            with httpx.stream("POST", n.url + "/v1/invoke", content=msgpack.packb(body),
                              timeout=60) as r:
                for _ in r.iter_raw():
                    started.set()
        t = threading.Thread(target=run)
        t.start()
        assert started.wait(30)
        body2, _ = seal(rep, [("user", "y")])
        r = post(n, body2)
        assert r.status_code == 503 and r.json() == {"error": "overloaded"}
        t.join()
    finally:
        n.stop()


def test_enclave_death_fails_health_and_invoke(world):
    n = U.Node(world.config("die.json"), world.d / "die.log").wait()
    try:
        rep = report(n, world)
        os.kill(n.children()["enclave"], signal.SIGKILL)
        time.sleep(0.5)
        assert httpx.get(n.url + "/healthz").status_code == 503
        body, _ = seal(rep, [("user", "x")])
        assert post(n, body).status_code == 503
        assert httpx.get(n.url + "/v1/attestation").status_code == 503
    finally:
        n.stop()
    assert '"event": "enclave_died"' in (world.d / "die.log").read_text()


def test_rotation_keeps_the_old_key_until_it_expires(world):
    cfg = world.config("rot.json", keys={"lifetime_s": 4, "rotate_s": 2})
    n = U.Node(cfg, world.d / "rot.log").wait()
    try:
        old = report(n, world)
        time.sleep(2.6)
        new = report(n, world)
        assert new.key_id != old.key_id                      # rotated
        body, state = seal(old, [("user", "x")])             # the old key still opens
        assert isinstance(events_of(post(n, body), state, old.node_id)[-1], _request.Done)
        time.sleep(3.2)      # past the old key's not_after (whole seconds: leave a second of margin)
        body, _ = seal(old, [("user", "x")])
        r = post(n, body)
        assert r.status_code == 400 and "cannot open" in r.json()["error"]
        m = httpx.get(n.url + "/metrics").text
        assert re.search(r"pcc_node_key_rotations_total [1-9]", m)
    finally:
        n.stop()


# ------------------------------------------------------------------------------- boot refusals

def _refused(world, cfg, name):
    n = U.Node(cfg, world.d / f"{name}.log")
    try:
        n.proc.wait(timeout=60)
    finally:
        n.stop()
    assert n.proc.returncode != 0
    return (world.d / f"{name}.log").read_text()


def test_boot_refuses_a_config_not_in_the_release(world):
    cfg = world.config("drift.json", release_for={"limits": {"max_workers": 3}})
    assert "node config differs" in _refused(world, cfg, "drift")


def test_boot_refuses_a_model_not_in_the_release(world):
    import llm_tiny as T
    other = str(T.build(world.d, T.F32, T.TinyConfig(seed=9), chat_template=U.CHATML,
                        name="other.gguf").path)
    cfg = world.config("model.json", release_for={"models": {U.MODEL: other,
                                                             "slow": world.slow_path}})
    assert f"model {U.MODEL} differs" in _refused(world, cfg, "model")


def test_boot_refuses_an_unlogged_release(world):
    cfg = world.config("unlogged.json")
    (world.d / "unlogged.json.proof").write_text(
        (world.d / "unlogged.json.proof").read_text().replace("\n\n", "\n\nx", 1))
    assert "not verifiably logged" in _refused(world, cfg, "unlogged")


@pytest.mark.slow
def test_real_smollm2_through_the_node(tmp_path):
    path = llm.default_model()
    w = U.World(tmp_path, model_path=path)
    cfg = w.config(models={"smollm2": path})
    n = U.Node(cfg, tmp_path / "real.log").wait(180)
    try:
        rep = report(n, w, model="smollm2")
        msgs = [("user", "What is the capital of France?")]
        body, state = seal(rep, msgs, {"max_tokens": 24, "temperature": 0.0}, model="smollm2")
        ev = events_of(post(n, body, timeout=120), state, rep.node_id)
        m = llm.Model.load(path, threads=1)
        g = m.generate(messages=[{"role": r, "content": c} for r, c in msgs], max_tokens=24,
                       temperature=0.0, top_p=1.0, top_k=0, seed=1)
        want = "".join(g)
        assert "".join(e for e in ev if isinstance(e, str)) == want
        assert ev[-1] == _request.Done(prompt_tokens=g.n_prompt, completion_tokens=g.n_generated)
    finally:
        n.stop()


# ------------------------------------------------------------------------------- the sandbox

@pytest.fixture(scope="module")
def probe_node(world):
    n = U.Node(world.config("probe.json"), world.d / "probe.log", ["--testing-probe-workers"])
    try:
        yield n.wait()
    finally:
        n.stop()


def _probe_report(n, world):
    r = httpx.get(n.url + "/v1/attestation", timeout=10)
    rep = attest.verify(r.content, world.trust(), model=U.MODEL)
    assert not rep.ok and rep.failed == "modes"           # a probe node says debug
    return rep


def test_inside_a_real_worker_the_sandbox_refuses(probe_node, world):
    import errno
    rep = _probe_report(probe_node, world)
    body, state = seal(rep, [("user", "probe")])
    ev = events_of(post(probe_node, body), state, rep.node_id)
    got = dict(line.split() for line in "".join(e for e in ev if isinstance(e, str)).split("\n")
               if line)
    refused = {errno.EPERM, errno.EACCES}
    assert set(got) == {"open", "create", "socket_inet", "socket_unix", "fork", "write_stdout",
                        "write_stderr", "kill_parent"}
    for name, e in got.items():
        assert int(e) in refused, (name, e)
    assert not pathlib.Path("/tmp/pcc-probe").exists()


@pytest.mark.parametrize("call", ["execve", "ptrace"])
def test_inside_a_real_worker_execve_and_ptrace_kill_it(probe_node, world, call):
    rep = _probe_report(probe_node, world)
    body, state = seal(rep, [("user", call)])
    r = post(probe_node, body)
    # the filter kills the worker (SIGSYS) before it writes a frame: the client gets the
    # worker's spare abort frame for frame 0 (a sealed internal error), and the node logs the
    # signal
    assert r.status_code == 200
    rd = state.reader(rep.node_id)
    assert rd.feed(r.content) == [_request.Failed("internal")]
    rd.finish()
    assert len(r.content) == padding.MIN_BUCKET
    time.sleep(0.3)
    assert f'"code": {128 + signal.SIGSYS}' in (world.d / "probe.log").read_text()
    # and the node goes on serving
    body, state = seal(rep, [("user", "probe")])
    assert isinstance(events_of(post(probe_node, body), state, rep.node_id)[-1], _request.Done)
