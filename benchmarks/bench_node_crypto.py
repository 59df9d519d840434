"""Benchmark: the node's per-request cryptography and the worker sandbox, each beside a baseline.

1. One request, step by step, timed in C on the thread's CPU clock (``_core._bench_request_c``):
   the client seals a chat payload to 2 nodes (a fresh DK, 2 HPKE wraps, the chunks), the node
   unwraps DK, decrypts and parses the payload, seals a 64-frame answer (63 text frames and the
   final one), and the client opens it. The baseline of each step is the raw primitives it is
   built from, timed in the same loop: pcc's HPKE (setup + seal/open on OpenSSL), one-shot
   AES-128-GCM and HKDF-SHA256 calls, nothing else. The ratio is what the protocol layer adds:
   DK and payload in secure (guarded, locked) memory, msgpack encode/parse, trial decryption of
   the final frame, state checks.
2. The same from Python: ``pcc._request.seal_request`` and ``AnswerReader.feed`` against their C
   steps (the Python-call overhead).
3. Fork + sandbox: a child forked from this process applies the whole sandbox and exits, vs a
   bare fork + exit, both waited for (wall clock): creating a new network namespace per worker;
   entering one prepared empty namespace; and that plus a seccomp program compiled once before
   the forks. Needs root; skipped otherwise.

Medians over repeats; ratios are medians of per-repeat ratios. The machine may be shared: read
ratios, not absolute figures.

Run: ``PYTHONPATH=. python benchmarks/bench_node_crypto.py [--repeats 15] [--batch 50]``
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from pcc import _core, _request, hpke

STEPS = ("seal", "unwrap", "open_parse", "answer_seal", "answer_open")
RAW = {"seal": "raw_seal", "unwrap": "raw_unwrap", "open_parse": "raw_open",
       "answer_seal": "raw_answer_seal", "answer_open": "raw_answer_open"}


def med(xs):
    return statistics.median(xs)


def bench_steps(repeats: int, batch: int, content_len: int) -> dict:
    _core._bench_request_c(5, content_len)  # warm up
    per: dict = {}
    for _ in range(repeats):
        d = _core._bench_request_c(batch, content_len)
        for k, v in d.items():
            per.setdefault(k, []).append(v / batch / 1e3)
    return per


def bench_python(repeats: int, batch: int) -> dict:
    nodes = []
    for _ in range(2):
        sk = hpke.PrivateKey.generate(hpke.KEM_X25519_SHA256)
        nodes.append((os.urandom(32), os.urandom(8), sk.public_bytes(), sk))
    msgs = [("user", "a" * 1000)]
    keys = [(n, k, pk) for n, k, pk, _ in nodes]
    body, state = _request.seal_request(keys, msgs)
    e = body["keys"][0]
    dk = _core._testing_unwrap([(nodes[0][1], nodes[0][3], 0x20, 1, 1)], e["key_id"], e["enc"],
                               e["ct"], e["node"])
    frames = [(_core._testing_answer_encode(("text", " token")), False)] * 63
    frames.append((_core._testing_answer_encode(("done", 100, 63)), True))
    stream = _core._testing_answer_seal(dk, nodes[0][0], frames)
    out: dict = {"py_seal": [], "py_answer_open": []}
    for _ in range(repeats):
        t0 = time.thread_time_ns()
        for _ in range(batch):
            _request.seal_request(keys, msgs)
        t1 = time.thread_time_ns()
        for _ in range(batch):
            r = state.reader(nodes[0][0])
            r.feed(stream)
            r.finish()
        t2 = time.thread_time_ns()
        out["py_seal"].append((t1 - t0) / batch / 1e3)
        out["py_answer_open"].append((t2 - t1) / batch / 1e3)
    return out


def bench_fork(repeats: int, batch: int) -> dict | None:
    if os.geteuid() != 0:
        return None
    netns = _core.sandbox_netns_prepare()
    try:
        _core._bench_fork(3, _core.SANDBOX_ALL)
        out: dict = {"bare": [], "sandbox_new_netns": [], "sandbox_joined_netns": [],
                     "sandbox_joined_prepared": []}
        for _ in range(repeats):
            out["bare"].append(med(_core._bench_fork(batch, 0)) / 1e3)
            out["sandbox_new_netns"].append(med(_core._bench_fork(batch, _core.SANDBOX_ALL)) / 1e3)
            out["sandbox_joined_netns"].append(
                med(_core._bench_fork(batch, _core.SANDBOX_ALL, netns)) / 1e3)
            out["sandbox_joined_prepared"].append(
                med(_core._bench_fork(batch, _core.SANDBOX_ALL, netns, True)) / 1e3)
        return out
    finally:
        os.close(netns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--content", type=int, default=1000, help="prompt bytes (default 1000)")
    a = ap.parse_args()

    per = bench_steps(a.repeats, a.batch, a.content)
    print(f"request steps, us per request (thread CPU), prompt {a.content} B, 2 nodes, "
          f"64 answer frames; median of {a.repeats} x {a.batch}")
    print(f"{'step':<14}{'pcc':>10}{'raw prims':>12}{'ratio':>8}")
    tot_p = tot_r = 0.0
    for s in STEPS:
        p, r = med(per[s]), med(per[RAW[s]])
        ratio = med([x / y for x, y in zip(per[s], per[RAW[s]])])
        tot_p, tot_r = tot_p + p, tot_r + r
        print(f"{s:<14}{p:>10.1f}{r:>12.1f}{ratio:>8.2f}")
    print(f"{'total':<14}{tot_p:>10.1f}{tot_r:>12.1f}{tot_p / tot_r:>8.2f}")
    node_side = sum(med(per[s]) for s in ("unwrap", "open_parse", "answer_seal"))
    print(f"node side (unwrap + open/parse + 64-frame answer): {node_side:.1f} us")

    py = bench_python(a.repeats, max(1, a.batch // 2))
    print("\nfrom Python, us per call (thread CPU) vs the same step in C")
    for name, step in (("py_seal", "seal"), ("py_answer_open", "answer_open")):
        print(f"{name:<16}{med(py[name]):>10.1f}   C {med(per[step]):>8.1f}   "
              f"ratio {med(py[name]) / med(per[step]):.2f}")

    fk = bench_fork(a.repeats, max(1, a.batch // 5))
    if fk is None:
        print("\nfork + sandbox: skipped (needs root)")
        return
    print(f"\nfork + sandbox + exit + wait, us (wall clock), median of {a.repeats} medians; "
          f"Landlock ABI {_core.sandbox_landlock_abi()}")
    base = med(fk["bare"])
    print(f"{'bare fork':<26}{base:>10.0f}")
    # the seccomp program is compiled by libseccomp in each child for the first two rows
    for k in ("sandbox_new_netns", "sandbox_joined_netns", "sandbox_joined_prepared"):
        ratio = med([x / y for x, y in zip(fk[k], fk["bare"])])
        print(f"{k:<26}{med(fk[k]):>10.0f}   ratio {ratio:.2f}   added {med(fk[k]) - base:.0f}")


if __name__ == "__main__":
    main()
