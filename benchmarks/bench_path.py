"""Privacy overhead of the private path: time to first token and total time of a 64-token answer
through relay -> gateway -> node (token, HPKE, OHTTP, attestation already cached) vs the bare
engine answering the same prompt in-process, same run, same machine.

The node's worker runs the engine with one thread, so the bare engine is loaded with one thread
too. Goal: at most 5 ms and at most 3 % added. Run: ``PYTHONPATH=. python
benchmarks/bench_path.py [--runs N] [--tokens 64]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _cell import UpCell  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]


def timed(it):
    t0 = time.perf_counter()
    first = None
    n = 0
    for piece in it:
        if first is None:
            first = time.perf_counter() - t0
        n += 1
    return first or 0.0, time.perf_counter() - t0, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs of each (medians printed)")
    ap.add_argument("--tokens", type=int, default=64, help="answer length (tokens)")
    args = ap.parse_args()
    from pcc import llm
    from pcc._internal.model_cache import default_model_path
    from pcc.client import Client
    with tempfile.TemporaryDirectory(prefix="pcc-bench-") as d, UpCell(d, nodes=1) as cell:
        client = Client.from_config(cell.dir / "client.json", wallet_batch=args.runs + 4)
        model = llm.Model.load(str(default_model_path()), threads=1)
        kw = dict(max_tokens=args.tokens, temperature=0.0)
        # warm both: tokens in the wallet, keys and attestation verified, pages mapped
        timed(client.chat(PROMPT, **kw))
        timed(model.generate(messages=PROMPT, **kw))
        path, bare = [], []
        for _ in range(args.runs):        # interleaved, so drift hits both alike
            bare.append(timed(model.generate(messages=PROMPT, **kw)))
            path.append(timed(client.chat(PROMPT, **kw)))
        client.close()
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    tb, tp = med(bare, 0), med(path, 0)
    Tb, Tp = med(bare, 1), med(path, 1)
    print(f"answer: {path[-1][2]} pieces, {args.tokens} tokens max, {args.runs} runs, medians")
    print(f"{'':24}{'bare engine':>14}{'private path':>14}{'added':>12}{'ratio':>9}")
    print(f"{'time to first token':24}{tb * 1e3:>11.2f} ms{tp * 1e3:>11.2f} ms"
          f"{(tp - tb) * 1e3:>9.2f} ms{tp / tb:>9.3f}")
    print(f"{'total time':24}{Tb * 1e3:>11.2f} ms{Tp * 1e3:>11.2f} ms"
          f"{(Tp - Tb) * 1e3:>9.2f} ms{Tp / Tb:>9.3f}")
    print(f"added to the {args.tokens}-token answer: {(Tp - Tb) * 1e3:.2f} ms = "
          f"{(Tp / Tb - 1) * 100:.1f} % (goal: <= 5 ms and <= 3 %)")
    # best of the runs: less sensitive to other load on a shared machine
    bb, bp = min(x[0] for x in bare), min(x[0] for x in path)
    Bb, Bp = min(x[1] for x in bare), min(x[1] for x in path)
    print(f"best runs: first token {bb * 1e3:.2f} vs {bp * 1e3:.2f} ms "
          f"({(bp - bb) * 1e3:+.2f} ms), total {Bb * 1e3:.2f} vs {Bp * 1e3:.2f} ms "
          f"({(Bp - Bb) * 1e3:+.2f} ms, {(Bp / Bb - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
