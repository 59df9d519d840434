"""OHTTP request encapsulation and gateway decapsulation vs the raw OpenSSL primitives.

Suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM, a 1 KiB binary HTTP request.
The baseline, measured in the same run, is the raw EVP cost of the HPKE base-mode seal and open
OHTTP is made of (pcc._core._bench_raw_hpke_primitives: X25519 keygen + derive, the 8 HMACs of
the KEM and key schedule, AES-128-GCM of 1 KiB, all in C with objects fetched once). OHTTP adds
the header, the info string and one Export (one more HMAC) on top. The pcc HPKE C API timed
without Python is printed too, so the Python-call overhead is visible. All timers read the
calling thread's CPU clock (time spent descheduled on a shared machine does not count); the runs
are interleaved, one batch of each per repeat, and the ratios are medians of per-repeat ratios.

Run: PYTHONPATH=. python benchmarks/bench_ohttp.py
"""
from __future__ import annotations

import statistics
import time

from pcc import _core, bhttp, hpke, ohttp

X25519 = 0x0020
REPEATS = 21
BATCH = 300


def _request_1k() -> bytes:
    base = bhttp.Request("POST", "https", "gateway.example", "/v1/invoke",
                         [("content-type", "application/pcc-request+msgpack")])
    pad = 1024 - len(base.encode()) - 1  # the empty content's 1-byte length becomes 2 bytes
    req = bhttp.Request(base.method, base.scheme, base.authority, base.path, base.headers, b"x" * pad)
    data = req.encode()
    assert len(data) == 1024, len(data)
    return data


def _time_py(fn, n: int) -> float:
    """Thread CPU seconds per call of fn over n calls (the C timers use the same clock)."""
    t0 = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - t0) / n / 1e9


def run(encap, decap, repeats: int, batch: int) -> dict:
    """Interleaved measurements (one batch of each per repeat): seconds per op, keyed by name."""
    res = {k: [] for k in ("encap", "decap", "raw_seal", "raw_open", "c_seal", "c_open")}
    for _ in range(repeats):
        res["encap"].append(_time_py(encap, batch))
        res["decap"].append(_time_py(decap, batch))
        r = _core._bench_raw_hpke_primitives(batch)
        res["raw_seal"].append(r["seal_ns"] / batch / 1e9)
        res["raw_open"].append(r["open_ns"] / batch / 1e9)
        r = _core._bench_hpke_c(batch)
        res["c_seal"].append(r["seal_ns"] / batch / 1e9)
        res["c_open"].append(r["open_ns"] / batch / 1e9)
    return res


def _ops(res: dict, name: str) -> float:
    return 1.0 / statistics.median(res[name])


def _ratio(res: dict, num: str, den: str) -> float:
    """Median over repeats of ops/s(num) / ops/s(den) = t(den) / t(num) (paired per repeat)."""
    return statistics.median(d / n for n, d in zip(res[num], res[den]))


def main() -> None:
    sk = hpke.PrivateKey.generate(X25519)
    cfg = ohttp.KeyConfig(1, X25519, sk.public_bytes(), [(0x0001, 0x0001)])
    gw = ohttp.Gateway([(cfg, sk)])
    request = _request_1k()
    enc_request, _ = ohttp.encapsulate_request(cfg, request)
    assert gw.decapsulate(enc_request)[0] == request

    res = run(lambda: ohttp.encapsulate_request(cfg, request), lambda: gw.decapsulate(enc_request),
              REPEATS, BATCH)
    rows = [("request encapsulate (client)", "encap", "raw_seal"),
            ("gateway decapsulate", "decap", "raw_open"),
            ("  pcc HPKE C API seal (no Python)", "c_seal", "raw_seal"),
            ("  pcc HPKE C API open (no Python)", "c_open", "raw_open")]
    print(f"OHTTP X25519/HKDF-SHA256/AES-128-GCM, 1 KiB BHTTP request, {REPEATS} interleaved"
          f" repeats x {BATCH} ops; thread CPU time; ops/s are medians")
    print(f"{'operation':<34}{'pcc ops/s':>12}{'raw ops/s':>12}{'pcc/raw':>9}")
    for label, num, den in rows:
        print(f"{label:<34}{_ops(res, num):>12,.0f}{_ops(res, den):>12,.0f}{_ratio(res, num, den):>9.2f}")
    print("raw = X25519 keygen+derive, 8 HMAC-SHA256, AES-128-GCM 1 KiB through OpenSSL EVP in C;"
          " pcc/raw = median of per-repeat paired ratios of ops/s (1.00 = no overhead)")


if __name__ == "__main__":
    main()
