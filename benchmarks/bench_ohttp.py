"""OHTTP request encapsulation and gateway decapsulation vs the raw OpenSSL primitives.

Suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM, a 1 KiB binary HTTP request.
The baseline, measured in the same run, is the raw EVP cost of the HPKE base-mode seal and open
OHTTP is made of (pcc._core._bench_raw_hpke_primitives: X25519 keygen + derive, the 8 HMACs of
the KEM and key schedule, AES-128-GCM of 1 KiB, all in C with objects fetched once). OHTTP adds
the header, the info string and one Export (one more HMAC) on top. The pcc HPKE C API timed
without Python is printed too, so the Python-call overhead is visible.

Run: PYTHONPATH=. python benchmarks/bench_ohttp.py
"""
from __future__ import annotations

import statistics
import time

from pcc import _core, bhttp, hpke, ohttp

X25519 = 0x0020
REPEATS = 7
N = 1500


def _request_1k() -> bytes:
    base = bhttp.Request("POST", "https", "gateway.example", "/v1/invoke",
                         [("content-type", "application/pcc-request+msgpack")])
    pad = 1024 - len(base.encode()) - 1  # the empty content's 1-byte length becomes 2 bytes
    req = bhttp.Request(base.method, base.scheme, base.authority, base.path, base.headers, b"x" * pad)
    data = req.encode()
    assert len(data) == 1024, len(data)
    return data


def _median_ops(fn, n: int) -> float:
    rates = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def _median_raw(n: int) -> tuple[float, float]:
    seal, open_ = [], []
    for _ in range(REPEATS):
        r = _core._bench_raw_hpke_primitives(n)
        seal.append(n / (r["seal_ns"] / 1e9))
        open_.append(n / (r["open_ns"] / 1e9))
    return statistics.median(seal), statistics.median(open_)


def _median_c(n: int) -> tuple[float, float]:
    seal, open_ = [], []
    for _ in range(REPEATS):
        r = _core._bench_hpke_c(n)
        seal.append(n / (r["seal_ns"] / 1e9))
        open_.append(n / (r["open_ns"] / 1e9))
    return statistics.median(seal), statistics.median(open_)


def main() -> None:
    sk = hpke.PrivateKey.generate(X25519)
    cfg = ohttp.KeyConfig(1, X25519, sk.public_bytes(), [(0x0001, 0x0001)])
    gw = ohttp.Gateway([(cfg, sk)])
    request = _request_1k()
    enc_request, _ = ohttp.encapsulate_request(cfg, request)
    assert gw.decapsulate(enc_request)[0] == request

    encap = _median_ops(lambda: ohttp.encapsulate_request(cfg, request), N)
    decap = _median_ops(lambda: gw.decapsulate(enc_request), N)
    raw_seal, raw_open = _median_raw(N)
    c_seal, c_open = _median_c(N)

    print(f"OHTTP X25519/HKDF-SHA256/AES-128-GCM, 1 KiB BHTTP request, median of {REPEATS} x {N}")
    print(f"{'operation':<34}{'pcc ops/s':>12}{'raw ops/s':>12}{'pcc/raw':>9}")
    print(f"{'request encapsulate (client)':<34}{encap:>12,.0f}{raw_seal:>12,.0f}{encap / raw_seal:>9.2f}")
    print(f"{'gateway decapsulate':<34}{decap:>12,.0f}{raw_open:>12,.0f}{decap / raw_open:>9.2f}")
    print(f"{'  pcc HPKE C API seal (no Python)':<34}{c_seal:>12,.0f}{raw_seal:>12,.0f}{c_seal / raw_seal:>9.2f}")
    print(f"{'  pcc HPKE C API open (no Python)':<34}{c_open:>12,.0f}{raw_open:>12,.0f}{c_open / raw_open:>9.2f}")
    print("raw = X25519 keygen+derive, 8 HMAC-SHA256, AES-128-GCM 1 KiB through OpenSSL EVP in C;"
          " pcc/raw = fraction of the raw primitive rate (1.00 = no overhead)")


if __name__ == "__main__":
    main()
