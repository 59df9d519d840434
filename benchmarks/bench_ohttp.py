"""OHTTP request encapsulation and gateway decapsulation vs the raw OpenSSL primitives.

Suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM, a 1 KiB binary HTTP request.
The baseline, measured in the same run, is the raw EVP cost of the HPKE base-mode seal and open
OHTTP is made of (pcc._core._bench_raw_hpke_primitives: X25519 keygen + derive, the 8 HMACs of
the KEM and key schedule, AES-128-GCM of 1 KiB, all in C with objects fetched once). OHTTP adds
the header, the info string and one Export (one more HMAC) on top. The pcc HPKE C API timed
without Python is printed too, so the Python-call overhead is visible. All timers read the
calling thread's CPU clock (time spent descheduled on a shared machine does not count); the runs
are interleaved, one batch of each per repeat, and the ratios are medians of per-repeat ratios.

A second table compares chunked OHTTP (draft-ietf-ohai-chunked-ohttp, 16 KiB chunks) with plain
OHTTP on the same 1 MiB message, both directions through the Python API, as nanoseconds per byte
(request: client seal + gateway open; response: gateway seal + client open; each chunk handed to
the receiver as it is sealed, as a streaming sender does); the baseline is plain OHTTP measured in
the same run, interleaved.

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
    main_big(cfg, gw)


BIG = 1 << 20
BIG_REPEATS = 9
BIG_BATCH = 4


def run_big(cfg: ohttp.KeyConfig, gw: ohttp.Gateway) -> dict:
    """Seconds per byte of a 1 MiB request and response, plain vs chunked, interleaved."""
    msg = bytes(range(256)) * (BIG // 256)

    def plain_req():
        gw.decapsulate(ohttp.encapsulate_request(cfg, msg)[0])

    enc0, cctx0 = ohttp.encapsulate_request(cfg, b"x")

    def plain_resp():
        _, rctx = gw.decapsulate(enc0)
        cctx0.decapsulate_response(rctx.encapsulate(msg))

    pieces = [msg[i:i + ohttp.CHUNK_SIZE] for i in range(0, BIG, ohttp.CHUNK_SIZE)]

    def stream(sender, receiver):
        """Each chunk sealed and handed to the receiver as it is produced (no concatenation)."""
        for p in pieces[:-1]:
            receiver.open(sender.seal(p))
        receiver.open(sender.seal(pieces[-1], final=True))
        receiver.finish()

    def chunked_req():
        header, cctx = ohttp.encapsulate_request_chunked(cfg)
        gctx = gw.decapsulate_chunked()
        gctx.open(header)
        stream(cctx, gctx)

    def chunked_resp():
        header, cctx = ohttp.encapsulate_request_chunked(cfg)
        gctx = gw.decapsulate_chunked()
        gctx.open(header + cctx.seal(b"x", final=True))
        gctx.finish()
        stream(gctx, cctx)

    res = {k: [] for k in ("plain_req", "chunked_req", "plain_resp", "chunked_resp")}
    for _ in range(BIG_REPEATS):
        for name, fn in (("plain_req", plain_req), ("chunked_req", chunked_req),
                         ("plain_resp", plain_resp), ("chunked_resp", chunked_resp)):
            res[name].append(_time_py(fn, BIG_BATCH) / BIG)
    return res


def main_big(cfg: ohttp.KeyConfig, gw: ohttp.Gateway) -> None:
    res = run_big(cfg, gw)
    med = {k: statistics.median(v) * 1e9 for k, v in res.items()}
    print()
    print(f"chunked vs plain OHTTP, 1 MiB message, 16 KiB chunks, {BIG_REPEATS} interleaved repeats"
          f" x {BIG_BATCH}; thread CPU ns per byte (medians)")
    print(f"{'direction':<34}{'chunked':>12}{'plain':>12}{'chk/plain':>10}")
    for label, c, p in (("request (seal + open)", "chunked_req", "plain_req"),
                        ("response (seal + open)", "chunked_resp", "plain_resp")):
        print(f"{label:<34}{med[c]:>12.3f}{med[p]:>12.3f}{_ratio(res, p, c):>10.2f}")
    print("chk/plain = median of per-repeat paired time ratios (1.00 = same cost per byte)")


if __name__ == "__main__":
    main()
