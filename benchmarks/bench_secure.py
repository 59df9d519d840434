"""Benchmark: one small secret object from a slab slot (pcc_secure_small_alloc) vs one with its
own guard pages (pcc_secure_alloc), and what the slot checks cost an HPKE open.

Each round allocates a 200-byte object, writes a byte and frees it, timed in C on the calling
thread's CPU clock (``_core._bench_secure_alloc``). The guarded allocation is what putting guard
pages around every small object would cost (mmap, two mprotect, mlock, madvise, munlock, munmap
and the page faults); the slot pays for its canaries, slack pattern and free-pattern checks
instead. Runs are interleaved; figures are medians over the repeats.

Run: ``PYTHONPATH=. python benchmarks/bench_secure.py [--repeats 21] [--batch 2000]``
"""
from __future__ import annotations

import argparse
import statistics

from pcc import _core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=21, help="interleaved repeats (>= 3)")
    ap.add_argument("--batch", type=int, default=2000, help="rounds per repeat")
    a = ap.parse_args()
    small, guarded = [], []
    _core._bench_secure_alloc(100)  # warm up: first slab, page faults
    for _ in range(max(3, a.repeats)):
        r = _core._bench_secure_alloc(a.batch)
        small.append(r["small_ns"] / a.batch)
        guarded.append(r["guarded_ns"] / a.batch)
    s, g = statistics.median(small), statistics.median(guarded)
    print(f"{a.repeats} repeats x {a.batch} rounds; thread CPU time per allocate+write+free")
    print(f"guarded pcc_secure_alloc (baseline)   {g:9.0f} ns   1.000")
    print(f"slab slot pcc_secure_small_alloc      {s:9.0f} ns   {s / g:.3f}  "
          f"({g / s:.0f}x faster; best {min(small):.0f} ns vs {min(guarded):.0f} ns)")


if __name__ == "__main__":
    main()
