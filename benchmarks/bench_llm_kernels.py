"""The engine's prefill and attention kernels in isolation, each beside a baseline timed in the same
run: the way the same products would be computed without them.

- Prefill (the batched weight kernels): 128 tokens times one matrix of SmolLM2-135M's shapes, against
  the decode row kernel called once per token (what a prompt would cost without a batched kernel).
  Weight types: every type SmolLM2's llama.cpp quantizations hold. Reported in GMAC/s.
- Attention (F16 KV rows times the query heads of a group, SmolLM2's 3 per KV head): the multi-head
  kernel against one row-kernel call per head, for the K product (2048 rows of 64) and the V
  product (64 rows of 2048), one-token order and batch order.

Each figure is the median of several repeats, alternating kernel and baseline, with thread CPU time
(time spent descheduled on a shared machine counts on neither side); the ratio is the median of the
per-repeat ratios (above 1: the kernel is faster). Both sides go through the test hooks in
pcc._core (a Python call and an output allocation each), which favours neither.

Run: PYTHONPATH=. python benchmarks/bench_llm_kernels.py
"""
from __future__ import annotations

import statistics
import sys
import time
import pathlib

import numpy as np

from pcc import _core

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
import llm_tiny as T  # noqa: E402  (the tests' quantizers: gguf-py and a K-quant one)
from gguf import quants  # noqa: E402

F16, Q8_0, Q8_1, Q8_K = 1, 8, 9, 15
DOT = {T.Q4_0: Q8_0, T.Q4_1: Q8_1, T.Q5_0: Q8_0, T.Q5_1: Q8_1, T.Q8_0: Q8_0,
       T.Q4_K: Q8_K, T.Q5_K: Q8_K, T.Q6_K: Q8_K}
NTOK = 128
REPEATS = 7
V = _core._llm_k_best()


def weights(t: int, rows: int, n: int) -> bytes:
    w = (np.random.default_rng(1).standard_normal((rows, n)) * 0.05).astype(np.float32)
    q = T.kquantize(w, t) if t in T.K_TYPES else quants.quantize(w, T.QTYPES[t])
    return np.ascontiguousarray(q).tobytes()


def cpu(fn) -> float:
    t0 = time.thread_time()
    fn()
    return time.thread_time() - t0


def paired(label: str, work: float, ours, base) -> None:
    a, b, r = [], [], []
    for _ in range(REPEATS):
        ta, tb = cpu(ours), cpu(base)
        a.append(ta)
        b.append(tb)
        r.append(tb / ta)
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"  {label:34s} {work / ma / 1e9:7.1f} GMAC/s   baseline {work / mb / 1e9:7.1f} GMAC/s"
          f"   ratio {statistics.median(r):5.2f}x ({min(r):.2f}-{max(r):.2f})")


def prefill() -> None:
    print(f"prefill: {NTOK} tokens x one matrix; baseline: the row kernel once per token")
    for t, rows, n, what in [(T.Q8_0, 1536, 576, "ffn_gate"), (T.Q8_0, 576, 1536, "ffn_down"),
                             (T.Q8_0, 960, 576, "attn_qkv"), (T.Q4_0, 1536, 576, "ffn_gate"),
                             (T.Q4_1, 1536, 576, "ffn_gate"), (T.Q5_0, 1536, 576, "ffn_gate"),
                             (T.Q6_K, 576, 1536, "ffn_down"), (T.Q4_K, 576, 1536, "ffn_down")]:
        wb = weights(t, rows, n)
        rng = np.random.default_rng(2)
        xs = [_core._llm_k_from_float(V, DOT[t], rng.standard_normal(n).astype(np.float32).tobytes())
              for _ in range(NTOK)]
        xcat = b"".join(xs)

        def ours():
            _core._llm_k_gemm(V, t, wb, rows, n, xcat, NTOK)

        def base():
            for xb in xs:
                _core._llm_k_dotrows(V, t, wb, rows, n, xb)

        paired(f"{T.TYPE_NAMES[t]} {rows}x{n} ({what})", rows * n * NTOK, ours, base)


def attention() -> None:
    print("attention: F16 rows x 3 query heads; baseline: the row kernel once per head")
    rng = np.random.default_rng(3)
    for label, rows, n in [("K product, 2048 rows of 64", 2048, 64), ("V product, 64 rows of 2048", 64, 2048)]:
        w = rng.standard_normal((rows, n)).astype(np.float16).tobytes()
        xs = [rng.standard_normal(n).astype(np.float16).tobytes() for _ in range(3)]
        xcat = b"".join(xs)
        for batch in (False, True):
            def ours():
                _core._llm_k_dotrows_multi(V, F16, w, rows, n, xcat, 3, batch)

            def base():
                for xb in xs:
                    _core._llm_k_dotrows(V, F16, w, rows, n, xb, batch)

            paired(f"{label}{', batch' if batch else ''}", rows * n * 3, ours, base)


def main() -> None:
    import os
    print(f"kernels: variant {V}; load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    prefill()
    attention()


if __name__ == "__main__":
    main()
