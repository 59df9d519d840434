"""Benchmark: RSA blind signatures (RFC 9474) against the raw RSA operations they are built from.

For 2048- and 4096-bit keys, times the server's blind_sign, the client's blind and finalize, and
verify (all through the Python API, RSABSSA-SHA384-PSS-Randomized), beside the raw OpenSSL RSA
private operation (EVP_PKEY_sign, RSA_NO_PADDING, one modulus-size input, one reused context) and
raw public operation (EVP_PKEY_encrypt, RSA_NO_PADDING), measured in the same run by a C timing
loop in the extension (pcc._core._bench_rsa_raw). Baseline and operation batches alternate in each
repeat, so both see the same load, and both read the thread CPU clock. Prints the median of
several repeats and the median ratio to the baseline:

    blind_sign  / raw private  (blind_sign = private op + public-key check + glue)
    blind       / raw public   (EMSA-PSS encode + constant-time r^e + blinded inverse + products)
    finalize    / raw public   (one modular product + RSASSA-PSS-VERIFY)
    verify      / raw public   (RSASSA-PSS-VERIFY)

Run: PYTHONPATH=. python benchmarks/bench_blindrsa.py [--repeats N]
"""
from __future__ import annotations

import argparse
import statistics
import time

from pcc import _core, blindrsa

V = blindrsa.Variant.from_name("RSABSSA-SHA384-PSS-Randomized")


def batch(fn, n: int) -> float:
    """Thread CPU seconds per call of fn() over one batch of n calls (the C baseline reads the
    same clock; time spent descheduled on a shared machine counts on neither side)."""
    t0 = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - t0) / n


def bench(bits: int, repeats: int) -> list[tuple[str, float, str, float]]:
    """Time every operation; baseline and operation batches alternate within each repeat so that
    both see the same machine load. Returns (name, median s/op, baseline name, median ratio)."""
    t0 = time.perf_counter()
    sk = blindrsa.PrivateKey.generate(bits=bits)
    keygen = time.perf_counter() - t0
    pk = sk.public_key()
    n_priv = 40 if bits == 2048 else 10
    n_pub = 300 if bits == 2048 else 100
    n_blind = 40 if bits == 2048 else 15

    prepared = blindrsa.prepare(V, b"benchmark message")
    blinded, state = blindrsa.blind(V, pk, prepared)
    blind_sig = sk.blind_sign(V, blinded)
    sig = blindrsa.finalize(V, pk, prepared, blind_sig, state)
    blindrsa.verify(V, pk, prepared, sig)

    raw = {
        "raw private": lambda n: _core._bench_rsa_raw(sk._k, True, n) / n / 1e9,
        "raw public": lambda n: _core._bench_rsa_raw(sk._k, False, n) / n / 1e9,
    }
    ops = [  # (name, callable, batch size, baseline)
        ("blind_sign", lambda: sk.blind_sign(V, blinded), n_priv, "raw private"),
        ("blind", lambda: blindrsa.blind(V, pk, prepared), n_blind, "raw public"),
        ("finalize", lambda: blindrsa.finalize(V, pk, prepared, blind_sig, state), n_pub,
         "raw public"),
        ("verify", lambda: blindrsa.verify(V, pk, prepared, sig), n_pub, "raw public"),
    ]
    times: dict[str, list[float]] = {name: [] for name in list(raw) + [o[0] for o in ops]}
    ratios: dict[str, list[float]] = {o[0]: [] for o in ops}
    for _ in range(repeats):
        for name, fn, n, base in ops:
            b = raw[base](n if base == "raw private" else n_pub)
            t = batch(fn, n)
            times[base].append(b)
            times[name].append(t)
            ratios[name].append(t / b)

    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [("raw RSA private (EVP, no padding)", med["raw private"], "-", 1.0),
            ("raw RSA public (EVP, no padding)", med["raw public"], "-", 1.0)]
    rows += [(name, med[name], base, statistics.median(ratios[name])) for name, _, _, base in ops]
    print(f"\n{bits}-bit key (generated in {keygen:.2f} s), median of {repeats} repeats")
    print(f"  {'operation':36} {'us/op':>10} {'ops/s':>10}   median ratio to baseline")
    for name, t, base, ratio in rows:
        extra = "" if base == "-" else f"{ratio:6.2f} x {base}"
        print(f"  {name:36} {t * 1e6:10.1f} {1 / t:10.0f}   {extra}")
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    print("pcc blind RSA benchmark (RSABSSA-SHA384-PSS-Randomized); baseline: raw OpenSSL RSA "
          "in the same process")
    for bits in (2048, 4096):
        bench(bits, args.repeats)


if __name__ == "__main__":
    main()
