"""The node's cost per request, beside the bare engine on the same prompt, in the same run.

A real node (``pcc node serve``: service, enclave, host, sandboxed workers forked ahead in a
pool of ``--pool`` per model) serves the real SmolLM2-135M-Instruct on loopback, and a second node
with no pool (a worker forked when the request arrives) beside it; the client seals each request to the node's
verified key (pcc._request) and opens the streamed answer. The baseline is the same engine in
this process (``pcc.llm``, one thread, as each worker uses) on the same chat, greedy, the same
number of tokens. Reported, as medians over the runs:

- TTFT: request sent (bare: generation started) → first text piece in the client's hands;
- decode tokens/s after the first piece;
- the node's added time per request = node TTFT − bare TTFT (the HTTP round trip and the
  service, handing over a waiting worker, unwrap, decrypt, parse; without a pool also fork and
  sandbox; sealing frames shows up in tokens/s).

Goal: ≤ 2 ms added per request, tokens/s ≥ 0.98 × bare. Needs root (the worker sandbox).
Usage: python benchmarks/bench_node.py [--runs N] [--tokens N] [--pool N]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import random
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402
import msgpack  # noqa: E402

import _node_util as U  # noqa: E402
from pcc import _request, attest, llm  # noqa: E402

MESSAGES = [("user", "Write a short poem about the sea.")]


def bare(model, tokens: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    g = model.generate(messages=[{"role": r, "content": c} for r, c in MESSAGES],
                       max_tokens=tokens, temperature=0.0, top_p=1.0, top_k=0, seed=1)
    first = None
    n = 0
    for _ in g:
        n += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return (first - t0) * 1e3, (g.n_generated - 1) / (end - first)


def through_node(client: httpx.Client, url: str, rep, tokens: int
                 ) -> tuple[float, float, str, float]:
    body, state = _request.seal_request([(rep.node_id, rep.key_id, rep.hpke_public_key)],
                                        MESSAGES, {"max_tokens": tokens, "temperature": 0.0},
                                        model="bench")
    data = msgpack.packb(body)
    rd = state.reader(rep.node_id)
    text = []
    done = None
    t0 = time.perf_counter()
    first = None
    with client.stream("POST", url + "/v1/invoke", content=data, timeout=120) as r:
        head = time.perf_counter()        # the response headers: rnonce is on its way
        for chunk in r.iter_raw():
            for ev in rd.feed(chunk):
                if isinstance(ev, str):
                    if first is None:
                        first = time.perf_counter()
                    text.append(ev)
                else:
                    done = ev
    end = time.perf_counter()
    rd.finish()
    assert isinstance(done, _request.Done), done
    return ((first - t0) * 1e3, (done.completion_tokens - 1) / (end - first), "".join(text),
            (head - t0) * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--pool", type=int, default=2)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_node: needs root (the worker sandbox)")
    path = llm.default_model()
    d = pathlib.Path(tempfile.mkdtemp(prefix="pcc-bench-node-"))
    world = U.World(d, model_path=path)
    nodes = {}
    for name, pool in (("node", a.pool), ("nopool", 0)):
        cfg = world.config(f"{name}.json", models={"bench": path},
                           limits={"max_workers": 2, "queue": 2, "max_tokens": 4096,
                                   "pool": pool})
        nodes[name] = U.Node(cfg, d / f"{name}.log").wait(120)
    try:
        reps = {k: attest.verify(httpx.get(n.url + "/v1/attestation").content, world.trust(),
                                 model="bench") for k, n in nodes.items()}
        assert all(r.ok for r in reps.values()), reps
        model = llm.Model.load(path, threads=1)
        # warm both (page cache, allocator), and check they say the same thing
        want = "".join(model.generate(messages=[{"role": r, "content": c} for r, c in MESSAGES],
                                      max_tokens=a.tokens, temperature=0.0, top_p=1.0, top_k=0,
                                      seed=1))
        # one client, kept open as a real client keeps it (making an httpx client builds a TLS
        # context: ~15 ms that are the client's, not the node's)
        client = httpx.Client()
        for k, n in nodes.items():
            assert through_node(client, n.url, reps[k], a.tokens)[2] == want, k
        rows: dict[str, list[float]] = {f"{k}_{x}": [] for k in ("bare", *nodes)
                                        for x in ("ttft", "tps", "head")}
        load = [os.getloadavg()[0]]
        rng = random.Random(1)
        for _ in range(a.runs):           # interleaved in a shuffled order, so load changes
            order = ["bare", *nodes]      # hit all alike
            rng.shuffle(order)
            for k in order:
                time.sleep(0.05)
                if k == "bare":
                    t, s = bare(model, a.tokens)
                else:
                    t, s, _, hd = through_node(client, nodes[k].url, reps[k], a.tokens)
                    rows[f"{k}_head"].append(hd)
                rows[f"{k}_ttft"].append(t)
                rows[f"{k}_tps"].append(s)
            load.append(os.getloadavg()[0])
    finally:
        for n in nodes.values():
            n.stop()
    m = {k: statistics.median(v) for k, v in rows.items() if v}
    print(f"model {pathlib.Path(path).name}, {a.tokens} tokens, greedy, 1 engine thread, "
          f"{a.runs} interleaved runs (medians); load {min(load):.1f} to {max(load):.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'':24}{'node':>10}{'no pool':>10}{'bare':>10}{'node/bare':>11}{'no pool/bare':>14}")
    for x, label, f in (("ttft", "TTFT (ms)", ".2f"), ("tps", "decode tokens/s", ".1f")):
        print(f"{label:24}{m['node_' + x]:>10{f}}{m['nopool_' + x]:>10{f}}{m['bare_' + x]:>10{f}}"
              f"{m['node_' + x] / m['bare_' + x]:>11.3f}{m['nopool_' + x] / m['bare_' + x]:>14.3f}")
    print(f"{'response headers (ms)':24}{m['node_head']:>10.2f}{m['nopool_head']:>10.2f}"
          f"{'':>10}   (request sent -> headers: HTTP, service, worker, unwrap, rnonce)")
    for k, label in (("node", f"pool {a.pool}"), ("nopool", "no pool")):
        added = [n - b for n, b in zip(rows[f"{k}_ttft"], rows["bare_ttft"])]
        print(f"added per request, {label} (node TTFT - bare TTFT, median of pairs): "
              f"{statistics.median(added):.2f} ms   (goal <= 2 ms)")
    print(f"tokens/s ratio {m['node_tps'] / m['bare_tps']:.3f}   (goal >= 0.98)")


if __name__ == "__main__":
    main()
