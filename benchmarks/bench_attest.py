"""Attestation verification benchmark: one bundle verified with the chain cached and uncached,
beside the raw cost of the cryptography it is built from, measured in the same run:

- one ECDSA P-384/SHA-384 verification of the body (OpenSSL EVP_DigestVerify, key parsed once);
- the Ed25519 verifications of the checkpoint: the log's signature and each witness cosignature
  (the bundle here carries three, all checked);
- the SHA-256 hashes of the inclusion proof (the leaf hash and one node hash per proof step).

Goal: a verification with the chain cached costs at most 1 ms and at most 1.15x the raw sum.
Prints medians of CPU time per call (the cases take turns, so load on a shared machine hits
all of them alike) and the ratios.

Run: ``PYTHONPATH=. python benchmarks/bench_attest.py [--n 200] [--repeats 7]``.
"""
from __future__ import annotations

import argparse
import hashlib
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import msgpack  # noqa: E402

from pcc import _core, attest  # noqa: E402
from pcc.transparency import _note as tlognote  # noqa: E402
from _attest_util import NOW, World  # noqa: E402


def cpu_per_call(fn, n: int) -> float:
    """CPU seconds per call of fn() over n calls (process time: on a shared machine, time spent
    waiting for a core is not counted)."""
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n


def round_robin(cases: dict, repeats: int) -> dict:
    """Median per-call CPU time of each case; every repeat runs every case once, in turn, so
    that load changes on the machine hit all of them alike. A case is (fn, calls, per)."""
    got: dict = {k: [] for k in cases}
    for _ in range(repeats):
        for k, (fn, calls, per) in cases.items():
            got[k].append(cpu_per_call(fn, calls) / per)
    return {k: statistics.median(v) for k, v in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="calls per repeat (default 200)")
    ap.add_argument("--repeats", type=int, default=7, help="repeats (default 7)")
    a = ap.parse_args()
    n, rep = a.n, a.repeats

    w = World()
    trust = w.trust()
    bundle = w.bundle()
    assert attest.verify(bundle, trust, now=NOW).ok
    outer = msgpack.unpackb(bundle, raw=False)
    proof = tlognote.parse_proof(w.proof)
    signed = tlognote.split_note(proof.checkpoint)
    n_sigs = len(signed.lines)           # the log's signature and the cosignatures
    n_hashes = 1 + len(proof.hashes)     # leaf hash + one node hash per step

    core_trust = trust._core

    def uncached():
        core_trust.cache_clear()
        _core.attest_verify(core_trust, bundle, None, NOW)

    from cryptography.hazmat.primitives import serialization
    spki = w.node_key.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    body, sig = outer["body"], outer["sig"]
    text = signed.text.encode()
    leaf = b"\x00" + w.release
    node = b"\x01" + bytes(64)
    batch = 20  # the C loops run `batch` operations per call
    t = round_robin({
        "cached_c": (lambda: _core.attest_verify(core_trust, bundle, None, NOW), n, 1),
        "cached_py": (lambda: attest.verify(bundle, trust, now=NOW), n, 1),
        "uncached_c": (uncached, n, 1),
        "ecdsa": (lambda: _core._bench_p384_verify(batch, spki, body, sig), n // batch or 1,
                  batch),
        "ed": (lambda: _core._bench_ed25519_verify(batch, text), n // batch or 1, batch),
        "sha": (lambda: (hashlib.sha256(leaf).digest(), hashlib.sha256(node).digest()), n, 2),
    }, rep)
    cached_c, cached_py, uncached_c = t["cached_c"], t["cached_py"], t["uncached_c"]
    ecdsa, ed, sha = t["ecdsa"], t["ed"], t["sha"]
    raw = ecdsa + n_sigs * ed + n_hashes * sha

    us = 1e6
    print(f"attestation verify, bundle {len(bundle)} B, chain of {len(outer['chain'])} "
          f"certificates, {n_sigs} checkpoint signatures, {n_hashes} SHA-256 hashes "
          f"(CPU time, median of {rep} rounds)")
    print(f"  raw parts: ECDSA P-384 verify {ecdsa * us:8.1f} us")
    print(f"             Ed25519 verify     {ed * us:8.1f} us x {n_sigs}")
    print(f"             SHA-256 (hashlib)  {sha * us:8.1f} us x {n_hashes}")
    print(f"             raw sum            {raw * us:8.1f} us")
    print(f"  verify, chain cached (C)      {cached_c * us:8.1f} us   {cached_c / raw:5.2f}x raw")
    print(f"  verify, chain cached (Python) {cached_py * us:8.1f} us   {cached_py / raw:5.2f}x raw")
    print(f"  verify, chain uncached (C)    {uncached_c * us:8.1f} us   {uncached_c / raw:5.2f}x raw")
    ok_time = cached_py <= 1e-3
    ok_ratio = cached_py <= 1.15 * raw
    print(f"  goal <= 1 ms: {'met' if ok_time else 'NOT met'}; "
          f"goal <= 1.15x raw: {'met' if ok_ratio else 'NOT met'}")


if __name__ == "__main__":
    main()
