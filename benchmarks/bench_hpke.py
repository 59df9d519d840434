"""Benchmark: HPKE single-shot seal and open vs the raw OpenSSL primitives they are made of.

Suite: base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, 1 KiB plaintext.

- seal = SetupBaseS + Seal: X25519 keygen + X25519 derive + 8 HMAC-SHA256 (the HKDF extract and
  expand calls of the KEM and the key schedule) + AES-128-GCM of 1 KiB.
- open = SetupBaseR + Open: X25519 derive + 8 HMAC-SHA256 + AES-128-GCM open of 1 KiB.

The baseline is those EVP calls made directly from C in the same process
(``_core._bench_raw_hpke_primitives``), so no Python overhead skews it. The pcc C API is timed the
same way (``_core._bench_hpke_c``), and the Python API (``hpke.seal``/``hpke.open`` and
``setup_*`` + ``seal``/``open``) from Python; the Python-call overhead is the difference between
the Python and the C figures. All timers read the calling thread's CPU clock
(CLOCK_THREAD_CPUTIME_ID / ``time.thread_time_ns``): everything runs on that thread (releasing
the GIL does not switch threads), and time spent descheduled by other load on a shared machine
does not count. Runs are interleaved (one batch of each per repeat) and the ratios are medians
of per-repeat ratios.

Run: ``PYTHONPATH=. python benchmarks/bench_hpke.py [--repeats 31] [--batch 100]``
"""
from __future__ import annotations

import argparse
import statistics
import time

from pcc import _core, hpke

PLAINTEXT = bytes(1024)


def _time_py(fn, n: int) -> float:
    """Thread CPU seconds per call of fn over n calls (the C timers use the same clock)."""
    t0 = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - t0) / n / 1e9


def run(repeats: int, batch: int) -> dict:
    """Run the interleaved measurements; return seconds per op lists keyed by name."""
    suite = hpke.Suite(kem=hpke.KEM_X25519_SHA256, kdf=hpke.KDF_HKDF_SHA256,
                       aead=hpke.AEAD_AES128GCM)
    sk = hpke.PrivateKey.generate(suite.kem)
    pk = sk.public_bytes()
    enc, ct = hpke.seal(suite, pk, PLAINTEXT)
    assert hpke.open(suite, enc, sk, ct) == PLAINTEXT

    def seal_once():
        return hpke.seal(suite, pk, PLAINTEXT)

    def open_once():
        return hpke.open(suite, enc, sk, ct)

    def seal_ctx():
        return hpke.setup_sender(suite, pk)[1].seal(PLAINTEXT)

    def open_ctx():
        return hpke.setup_recipient(suite, enc, sk).open(ct)

    # Warm up caches (fetches, slabs, branch predictors).
    _core._bench_raw_hpke_primitives(20)
    _core._bench_hpke_c(20)
    for f in (seal_once, open_once, seal_ctx, open_ctx):
        _time_py(f, 20)

    res: dict = {k: [] for k in ("raw_seal", "raw_open", "c_seal", "c_open", "py_seal",
                                 "py_open", "ctx_seal", "ctx_open")}
    for _ in range(repeats):
        raw = _core._bench_raw_hpke_primitives(batch)
        res["raw_seal"].append(raw["seal_ns"] / batch / 1e9)
        res["raw_open"].append(raw["open_ns"] / batch / 1e9)
        c = _core._bench_hpke_c(batch)
        res["c_seal"].append(c["seal_ns"] / batch / 1e9)
        res["c_open"].append(c["open_ns"] / batch / 1e9)
        res["py_seal"].append(_time_py(seal_once, batch))
        res["py_open"].append(_time_py(open_once, batch))
        res["ctx_seal"].append(_time_py(seal_ctx, batch))
        res["ctx_open"].append(_time_py(open_ctx, batch))
    return res


def _ratio(res: dict, num: str, den: str) -> float:
    """Median over repeats of ops/s(num) / ops/s(den) = t(den) / t(num) (paired per repeat)."""
    return statistics.median(d / n for n, d in zip(res[num], res[den]))


def report(res: dict, repeats: int, batch: int) -> str:
    """Format the figures as a table."""
    med = {k: statistics.median(v) for k, v in res.items()}
    best = {k: min(v) for k, v in res.items()}
    lines = [
        "HPKE base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM, 1 KiB plaintext",
        f"{repeats} interleaved repeats x {batch} ops; thread CPU time; ops/s are medians",
        "",
        f"{'':40s}{'seal ops/s':>11s}{'open ops/s':>11s}{'ratio seal':>11s}{'ratio open':>11s}"
        f"{'best seal':>10s}{'best open':>10s}",
        f"{'raw OpenSSL primitives (C, baseline)':40s}{1 / med['raw_seal']:11.0f}"
        f"{1 / med['raw_open']:11.0f}{1.0:11.3f}{1.0:11.3f}{1.0:10.3f}{1.0:10.3f}",
    ]
    for label, s, o in (("pcc HPKE, C API", "c_seal", "c_open"),
                        ("pcc hpke.seal / hpke.open (Python)", "py_seal", "py_open"),
                        ("pcc setup_* + ctx.seal/open (Python)", "ctx_seal", "ctx_open")):
        lines.append(f"{label:40s}{1 / med[s]:11.0f}{1 / med[o]:11.0f}"
                     f"{_ratio(res, s, 'raw_seal'):11.3f}{_ratio(res, o, 'raw_open'):11.3f}"
                     f"{best['raw_seal'] / best[s]:10.3f}{best['raw_open'] / best[o]:10.3f}")
    lines += [
        "",
        "ratio = ops/s over baseline ops/s, median of per-repeat (paired) ratios; best = ratio of",
        "the fastest repeats (least disturbed by other load). 1.0 = the raw primitive cost.",
        "per op (best): raw seal {:.1f} us, open {:.1f} us; pcc C API seal {:.1f} us, open {:.1f} us"
        .format(*(1e6 * best[k] for k in ("raw_seal", "raw_open", "c_seal", "c_open"))),
        "Python-call overhead per op (best Python minus best C API): "
        f"hpke.seal {1e6 * (best['py_seal'] - best['c_seal']):.1f} us, "
        f"hpke.open {1e6 * (best['py_open'] - best['c_open']):.1f} us, "
        f"setup_sender+seal {1e6 * (best['ctx_seal'] - best['c_seal']):.1f} us, "
        f"setup_recipient+open {1e6 * (best['ctx_open'] - best['c_open']):.1f} us",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    """Parse arguments, run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=31, help="interleaved repeats (>= 5)")
    ap.add_argument("--batch", type=int, default=100, help="operations per batch")
    args = ap.parse_args(argv)
    repeats = max(5, args.repeats)
    res = run(repeats, args.batch)
    print(report(res, repeats, args.batch))


if __name__ == "__main__":
    main()
