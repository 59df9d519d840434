"""Selection audit: measured false-alarm rate and power, and the cost of one audit.

Setting: a roster of N = 20 nodes, k = 2 nodes offered per request, 10,000 requests per history,
alpha = 0.01. A fair gateway offers uniform 2-subsets; a steering gateway, in an extra 5% of
requests, puts one chosen node into the offer. For each, HISTORIES histories are simulated and
audited; the figures are the share called biased, with a 99.7% (3 standard errors) Wilson
interval. Baseline in the same run: the naive Pearson chi-square on per-node counts (as if
counts were multinomial over the 2N slots) at the same alpha — it ignores the
without-replacement covariance. Timing: median seconds per audit of one history vs the naive
test (a ratio).

Run: PYTHONPATH=. python benchmarks/bench_selection_audit.py [HISTORIES]
"""
from __future__ import annotations

import math
import statistics
import sys
import time

import numpy as np

from pcc import audit

N, K, REQUESTS, ALPHA = 20, 2, 10_000, 0.01


def fair(rng):
    a = rng.integers(0, N, REQUESTS)
    b = rng.integers(0, N - 1, REQUESTS)
    return np.stack([a, b + (b >= a)], axis=1)


def steering(rng, extra=0.05, target=0):
    x = fair(rng)
    hit = rng.random(REQUESTS) < extra
    other = rng.integers(1, N, int(hit.sum()))
    x[hit, 0], x[hit, 1] = target, other
    return x


def naive(x) -> bool:
    counts = np.bincount(x.ravel(), minlength=N)
    e = x.size / N
    return audit.chi2_sf(float(((counts - e) ** 2).sum() / e), N - 1) < ALPHA


def wilson(s: int, n: int, z: float = 3.0) -> tuple[float, float]:
    p = s / n
    den = 1 + z * z / n
    c = p + z * z / (2 * n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (c - h) / den, (c + h) / den


def main() -> None:
    histories = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rng = np.random.default_rng(1)
    rows = []
    t_ours, t_naive = [], []
    for name, gen in (("fair (false alarms)", fair), ("steering +5% (power)", steering)):
        ours = base = 0
        for _ in range(histories):
            x = gen(rng)
            t0 = time.perf_counter()
            ours += audit.audit_indices(N, x, alpha=ALPHA).biased
            t1 = time.perf_counter()
            base += naive(x)
            t2 = time.perf_counter()
            t_ours.append(t1 - t0)
            t_naive.append(t2 - t1)
        rows.append((name, ours, base))
    print(f"N={N} k={K} requests={REQUESTS} alpha={ALPHA} histories={histories} per row")
    print(f"{'gateway':24s} {'audit':>28s} {'naive chi-square (baseline)':>30s}")
    for name, ours, base in rows:
        lo, hi = wilson(ours, histories)
        blo, bhi = wilson(base, histories)
        print(f"{name:24s} {ours / histories:8.2%} [{lo:6.2%}, {hi:6.2%}]   "
              f"{base / histories:8.2%} [{blo:6.2%}, {bhi:6.2%}]")
    mo, mn = statistics.median(t_ours), statistics.median(t_naive)
    print(f"time per audit: {mo * 1e3:.2f} ms (naive {mn * 1e3:.2f} ms), ratio {mo / mn:.1f}x")


if __name__ == "__main__":
    main()
