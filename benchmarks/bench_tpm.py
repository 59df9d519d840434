"""TPM benchmarks beside their baselines, measured in the same run.

- Quote verification (client side, no TPM): pcc.tpm.verify_quote on the swtpm quote kept in
  tests/vectors/tpm_swtpm_quote.json, next to one raw EVP_DigestVerify ECDSA P-384/SHA-384 of the
  same attest bytes with the key loaded once, timed by a C helper on the same system OpenSSL
  (pcc._core._bench_tpm_raw_verify). The ratio shows what loading the key from its SPKI, the
  parsing, selection and PCR-digest checks and the Python call add to the signature check.
- Node side against a real swtpm (when swtpm is installed): Quote and Sign by the attestation key
  and PCR_Extend, next to PCR_Read of one PCR (the cheapest TPM round trip: transport + command
  dispatch), so the ratio is the TPM's own work in units of one round trip.

Every figure is the median of several repeats. Run: PYTHONPATH=.:tests python benchmarks/bench_tpm.py
"""
from __future__ import annotations

import hashlib
import json
import pathlib
import statistics
import sys
import tempfile
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from pcc import _core, tpm

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPEATS = 7


def per_call(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def paired(what: str, ours, raw, n: int, raw_timed=None) -> None:
    """Median per-call times of ours() and of the baseline (raw() per call, or raw_timed(n)
    returning its own seconds for n calls), alternating, and the median ratio."""
    o_s, r_s = [], []
    for _ in range(REPEATS):
        o_s.append(per_call(ours, n))
        r_s.append(raw_timed(n) / n if raw_timed is not None else per_call(raw, n))
    o, r = statistics.median(o_s), statistics.median(r_s)
    ratio = statistics.median(a / b for a, b in zip(o_s, r_s))
    print(f"  {what:<44} {o * 1e6:10.1f} us   baseline {r * 1e6:9.1f} us   ratio {ratio:5.2f}")


def bench_verify() -> None:
    v = json.loads((ROOT / "tests" / "vectors" / "tpm_swtpm_quote.json").read_text())
    attest, sig = bytes.fromhex(v["attest"]), bytes.fromhex(v["signature"])
    spki = bytes.fromhex(v["ak_spki"])
    pcrs = {int(k): bytes.fromhex(h) for k, h in v["pcrs"].items()}
    qd = bytes.fromhex(v["qualifying_data"])
    q = tpm.Quote(attest, sig)
    # the same signature as DER for the raw check: TPMT_SIGNATURE = alg, hash, TPM2B r, TPM2B s
    r = int.from_bytes(sig[6:6 + 48], "big")
    s = int.from_bytes(sig[6 + 48 + 2:], "big")
    der = encode_dss_signature(r, s)
    key = serialization.load_der_public_key(spki)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(der, attest, ec.ECDSA(hashes.SHA384()))  # the conversion is right
    paired("verify_quote (3 PCRs) vs raw ECDSA P-384 verify",
           lambda: tpm.verify_quote(q, public_key=spki, qualifying_data=qd, pcrs=pcrs), None, 100,
           raw_timed=lambda n: _core._bench_tpm_raw_verify(n, spki, attest, der))


def bench_swtpm() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from _swtpm import LocalCA, Swtpm, missing_tools  # noqa: E402
    if missing_tools():
        print(f"  swtpm not installed ({', '.join(missing_tools())}): node-side figures skipped")
        return
    with tempfile.TemporaryDirectory() as d:
        base = pathlib.Path(d)
        with Swtpm(base / "tpm", LocalCA(base / "ca")) as sw, tpm.Tpm(sw.tcti) as t:
            t.create_ak()
            qd = hashlib.sha384(b"body").digest()
            digest = hashlib.sha384(b"m").digest()
            read = lambda: t.read_pcrs([8])  # noqa: E731
            paired("Quote (swtpm) vs PCR_Read round trip", lambda: t.quote(qd), read, 20)
            paired("Sign 4 KiB (swtpm) vs PCR_Read round trip", lambda: t.sign(b"b" * 4096),
                   read, 20)
            paired("PCR_Extend (swtpm) vs PCR_Read round trip",
                   lambda: t.extend(11, "bench", digest), read, 50)


def main() -> None:
    print("== tpm")
    bench_verify()
    bench_swtpm()


if __name__ == "__main__":
    main()
