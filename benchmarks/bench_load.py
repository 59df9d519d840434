"""Load through the full private path: many concurrent clients, each with its own wallet and
verified nodes, sending chat requests through relay -> gateway -> nodes on loopback.

Prints throughput and latency percentiles (p50, p99), beside the bare engine's single-request
latency for the same answer measured in the same run, and counts every outcome: each request
is either answered or refused with a clear status (nodes beyond their worker queue answer
503 overloaded); nothing may be lost. Run: ``PYTHONPATH=. python benchmarks/bench_load.py
[--requests 1000] [--clients 200] [--tokens 4] [--nodes 2]``.
"""
from __future__ import annotations

import argparse
import collections
import pathlib
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _cell import UpCell  # noqa: E402

MSGS = [{"role": "user", "content": "Say one word."}]


def _outcome(e: Exception) -> str:
    import re
    return f"refused: {type(e).__name__}: " + re.sub(r"\d+", "N", str(e))


def bench_account(cell_dir: str, tokens_per_hour: int = 1_000_000) -> str:
    """A second issuer account for the load (the cell's own allows 1,000 tokens an hour)."""
    from pcc.services.issuer import SQLiteStore, add_account
    import secrets
    store = SQLiteStore(str(pathlib.Path(cell_dir) / "issuer.db"))
    try:
        return add_account(store, "load-" + secrets.token_hex(4), tokens_per_hour)
    finally:
        store.close()


def run_load(config, requests: int, clients: int, tokens: int) -> tuple[list, dict, float]:
    from pcc.client import Client
    from pcc.errors import PccError
    lat: list[float] = []
    outcomes: collections.Counter = collections.Counter()
    lock = threading.Lock()
    todo = iter(range(requests))
    barrier = threading.Barrier(clients + 1)

    def worker() -> None:
        c = Client.from_config(config, wallet_batch=max(1, requests // clients + 1))
        c.nodes()            # discovery and verification before the clock starts
        barrier.wait()
        while True:
            with lock:
                if next(todo, None) is None:
                    break
            t0 = time.perf_counter()
            try:
                c.complete(MSGS, max_tokens=tokens)
                out = "answered"
            except PccError as e:
                out = _outcome(e)
            dt = time.perf_counter() - t0
            with lock:
                outcomes[out] += 1
                if out == "answered":
                    lat.append(dt)
        c.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return lat, dict(outcomes), time.perf_counter() - t0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000, help="requests in all")
    ap.add_argument("--clients", type=int, default=200, help="concurrent clients (threads)")
    ap.add_argument("--tokens", type=int, default=4, help="max_tokens of each answer")
    ap.add_argument("--nodes", type=int, default=2, help="compute nodes in the cell")
    args = ap.parse_args()
    from pcc import llm
    from pcc._internal.model_cache import default_model_path
    with tempfile.TemporaryDirectory(prefix="pcc-load-") as d, UpCell(d, args.nodes) as cell:
        model = llm.Model.load(str(default_model_path()), threads=1)
        bare = []
        for _ in range(5):
            t0 = time.perf_counter()
            "".join(model.generate(messages=MSGS, max_tokens=args.tokens))
            bare.append(time.perf_counter() - t0)
        import json
        cfg = json.loads((cell.dir / "client.json").read_text())
        cfg["account"] = bench_account(str(cell.dir))
        lat, outcomes, wall = run_load(cfg, args.requests, args.clients, args.tokens)
    total = sum(outcomes.values())
    print(f"{args.requests} requests, {args.clients} concurrent clients, {args.nodes} nodes, "
          f"max_tokens {args.tokens}")
    for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {v:6d}  {k}")
    print(f"  {total:6d}  in all ({'none lost' if total == args.requests else 'LOST SOME'})")
    print(f"throughput: {len(lat) / wall:.1f} answers/s over {wall:.1f} s")
    print(f"latency of answered requests: p50 {pct(lat, 50) * 1e3:.0f} ms, "
          f"p99 {pct(lat, 99) * 1e3:.0f} ms")
    print(f"baseline, bare engine, one request at a time: {statistics.median(bare) * 1e3:.0f} ms "
          f"({1 / statistics.median(bare):.1f} answers/s on one thread)")
    return 0 if total == args.requests else 1


if __name__ == "__main__":
    raise SystemExit(main())
