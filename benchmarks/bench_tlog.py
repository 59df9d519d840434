"""Transparency log benchmark: sequencer and HTTP append rates, proofs, tile serving.

Figures (medians of several repeats), each beside the raw SHA-256 cost of the same work measured
in the same run with hashlib:

- appends/s straight into the sequencer (batches committed to SQLite, WAL, synchronous=FULL) to
  build a log of N entries (default 10^5; ``--entries 1000000`` for 10^6), vs hashing the same
  tree (2N-1 SHA-256 calls);
- appends/s through ``POST /add`` with concurrent clients (uvicorn subprocess, one witness,
  quorum 1, each answer waits for the witnessed checkpoint and carries its proof), on top of the
  N-entry log;
- tlog-proof size and ``pcc.transparency.verify_proof`` time at size N;
- full-tile and entry-bundle fetch rate (keep-alive HTTP on loopback).

Run: ``PYTHONPATH=. python benchmarks/bench_tlog.py [--entries N] [--http-adds M]``.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import pathlib
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
import msgpack

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pcc import _core, merkle, transparency  # noqa: E402
from pcc.transparency import _note as tlognote, leaves, tiles  # noqa: E402
from pcc.services.tlog import Log, LogConfig  # noqa: E402

ORIGIN = "bench.example/log"


def leaf(i: int) -> bytes:
    return leaves.release("bench", f"1.{i}", 1_700_000_000,
                          [("app", "code", hashlib.sha384(i.to_bytes(8, "big")).digest())])


def hashlib_tree(data: list[bytes]) -> float:
    """Seconds to hash the RFC 9162 tree of ``data`` with hashlib (leaf and node hashes)."""
    sha = hashlib.sha256
    t0 = time.perf_counter()
    level = [sha(b"\x00" + d).digest() for d in data]
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest()
               for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return time.perf_counter() - t0


async def build_log(db: str, skey: str, data: list[bytes], batch: int) -> float:
    """Sequence ``data`` straight into a Log (no HTTP, no signature checks); return seconds
    until the last batch is committed and its checkpoint published."""
    cfg = LogConfig(db_path=db, origin=ORIGIN, skey=skey, batch_max=batch, batch_interval_ms=0,
                    insecure_no_witnesses=True)    # sequencer cost alone, no witness round trip
    lg = Log(cfg)
    await lg.start()
    try:
        await lg.wait_published(0, 30)
        t0 = time.perf_counter()
        futs = []
        for i, d in enumerate(data):
            futs.append(lg.enqueue(d, merkle.leaf_hash(d)))
            if len(futs) >= 4 * batch:      # keep the queue bounded like a real stream
                await asyncio.gather(*futs)
                futs = []
        await asyncio.gather(*futs)
        ok = await lg.wait_published(len(data), 120)
        dt = time.perf_counter() - t0
        assert ok and lg.published.size == len(data)
        return dt
    finally:
        await lg.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], port: int, log: pathlib.Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "pcc"] + args +
                         ["--port", str(port)], env=env, stdout=open(log, "ab"),
                         stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return p
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(log.read_text())


async def http_adds(url: str, pub_skey: str, data: list[bytes], concurrency: int) -> float:
    """POST every leaf to /add over ``concurrency`` keep-alive connections; return seconds.

    A minimal HTTP/1.1 client on asyncio streams, so that the figure measures the log and not
    the client library (httpx costs a few ms of CPU per request on a small machine)."""
    host, port = url.split("//")[1].split(":")
    bodies = [msgpack.packb({"leaf": d, "sig": tlognote.raw_sign(pub_skey, d)}, use_bin_type=True)
              for d in data]
    reqs = [(f"POST /add HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/msgpack\r\n"
             f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies]
    q = list(range(len(reqs)))

    async def worker():
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while q:
                writer.write(reqs[q.pop()])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                assert status == 200, body
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


def med(xs):
    return statistics.median(xs)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--http-adds", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--tile-fetches", type=int, default=1500)
    a = ap.parse_args(argv)
    n = a.entries
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-tlog-"))
    log_skey, log_vkey = tlognote.generate(ORIGIN)
    pub_skey, pub_vkey = tlognote.generate("publisher.example")
    w_skey, w_vkey = tlognote.generate("witness.example", cosigner=True)
    data = [leaf(i) for i in range(n)]
    print(f"pcc transparency log benchmark: {n} entries of ~{len(data[0])} bytes, "
          f"batch {a.batch}, SQLite WAL synchronous=FULL, {os.cpu_count()} CPUs")

    # 1. sequencer vs hashlib tree
    seq_times, hash_times = [], []
    for r in range(a.repeats):
        db = str(tmp / f"seq{r}.db")
        seq_times.append(asyncio.run(build_log(db, log_skey, data, a.batch)))
        hash_times.append(hashlib_tree(data))
    ts, th = med(seq_times), med(hash_times)
    print(f"sequencer appends     {n / ts:12,.0f} /s   ({ts:.2f} s for {n}; median of "
          f"{a.repeats})")
    print(f"  baseline hashlib    {n / th:12,.0f} /s   ({th:.3f} s to hash the same tree)   "
          f"ratio {ts / th:.1f}x the raw SHA-256 cost")

    # serve the last log (with one witness) for HTTP figures
    (tmp / "log.skey").write_text(log_skey + "\n")
    (tmp / "w.skey").write_text(w_skey + "\n")
    wport, lport = free_port(), free_port()
    wproc = start(["witness", "serve", "--db", str(tmp / "w.db"), "--key", str(tmp / "w.skey"),
                   "--log", f"{ORIGIN}={log_vkey}"], wport, tmp / "w.log")
    lproc = start(["log", "serve", "--db", str(tmp / f"seq{a.repeats - 1}.db"), "--origin",
                   ORIGIN, "--key", str(tmp / "log.skey"), "--publisher", pub_vkey,
                   "--witness", f"http://127.0.0.1:{wport}={w_vkey}", "--quorum", "1"],
                  lport, tmp / "log.log")
    url = f"http://127.0.0.1:{lport}"
    try:
        for _ in range(600):
            cp = httpx.get(url + "/checkpoint").text
            if "witness.example" in cp:
                break
            time.sleep(0.05)

        # 2. POST /add with concurrent clients
        add_times = []
        base = n
        for r in range(a.repeats):
            extra = [leaf(base + r * a.http_adds + i) for i in range(a.http_adds)]
            add_times.append(asyncio.run(http_adds(url, pub_skey, extra, a.concurrency)))
        tadd = med(add_times)
        print(f"POST /add             {a.http_adds / tadd:12,.0f} /s   ({a.concurrency} "
              f"concurrent clients, witnessed answers with proofs; median of {a.repeats})")
        hash_add = hashlib_tree(extra)
        print(f"  baseline hashlib    {a.http_adds / hash_add:12,.0f} /s   ratio "
              f"{tadd / hash_add:.0f}x the raw SHA-256 cost")

        # 3. proof size and verify time
        idx = random.Random(1).randrange(n)
        body = msgpack.packb({"leaf": data[idx], "sig": tlognote.raw_sign(pub_skey, data[idx])},
                             use_bin_type=True)
        resp = msgpack.unpackb(httpx.post(url + "/add", content=body, timeout=60).content)
        assert resp["index"] == idx
        proof = resp["proof"]
        size = tlognote.parse_checkpoint(tlognote.split_note(
            tlognote.parse_proof(proof).checkpoint).text).size
        vt = []
        for _ in range(a.repeats):
            k = 200
            t0 = time.perf_counter()
            for _ in range(k):
                transparency.verify_proof(data[idx], proof, log_vkey, [w_vkey], 1, 3600)
            vt.append((time.perf_counter() - t0) / k)
        hashes = len(tlognote.parse_proof(proof).hashes)
        t0 = time.perf_counter()
        for _ in range(2000):
            h = hashlib.sha256(b"\x00" + data[idx]).digest()
            for _ in range(hashes):
                h = hashlib.sha256(b"\x01" + h + h).digest()
        hv = (time.perf_counter() - t0) / 2000
        note_text = tlognote.split_note(tlognote.parse_proof(proof).checkpoint).text.encode()
        ev = med([_core._bench_ed25519_verify(500, note_text) / 500 for _ in range(a.repeats)])
        base = hv + 2 * ev
        print(f"tlog-proof            {len(proof.encode()):12,d} bytes ({hashes} hashes, tree "
              f"size {size}, 1 cosignature)")
        print(f"verify_proof          {med(vt) * 1e6:12,.1f} us   (log signature, 1 cosignature, "
              f"inclusion; median of {a.repeats})")
        print(f"  baseline            {base * 1e6:12,.1f} us   2 raw EVP Ed25519 verifications "
              f"({ev * 1e6:.1f} us each) + {hashes + 1} hashlib SHA-256; ratio "
              f"{med(vt) / base:.1f}x")

        # 4. tile fetch rate
        full = n // 256
        rng = random.Random(2)
        for kind, mk in (("level-0 tiles", lambda i: tiles.Tile(0, i)),
                         ("entry bundles", lambda i: tiles.Tile(-1, i))):
            rates = []
            with httpx.Client(headers={"accept-encoding": "identity"}) as c:
                for _ in range(a.repeats):
                    idxs = [rng.randrange(full) for _ in range(a.tile_fetches // a.repeats)]
                    t0 = time.perf_counter()
                    nbytes = 0
                    for i in idxs:
                        r = c.get(f"{url}/{mk(i).path}")
                        assert r.status_code == 200
                        nbytes += len(r.content)
                    rates.append(len(idxs) / (time.perf_counter() - t0))
            print(f"GET {kind:17s} {med(rates):12,.0f} /s   ({nbytes // len(idxs):,} bytes "
                  f"each, one keep-alive client; median of {a.repeats})")
        t0 = time.perf_counter()
        for _ in range(200):
            tl = b"".join(hashlib.sha256(b"\x00" + d).digest() for d in data[:256])
        th_tile = (time.perf_counter() - t0) / 200
        print(f"  baseline hashlib    {1 / th_tile:12,.0f} /s   to hash one tile's 256 leaves "
              f"(what a client does to check a bundle), {len(tl)} bytes")
    finally:
        lproc.terminate()
        wproc.terminate()
        lproc.wait(10)
        wproc.wait(10)


if __name__ == "__main__":
    main()
