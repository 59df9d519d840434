"""Outbound calls hold against misbehaving peers: real raw servers on loopback that dribble,
never answer, stream without end or send gzip bombs. Timeouts are short so each test takes a
few seconds."""
from __future__ import annotations

import asyncio
import gzip
import logging
import os
import time

import httpx
import msgpack
import pytest

from _rawpeer import RawServer, head, rss
from pcc.errors import FormatError, InvalidArgument, PeerError
from pcc.services import serve_in_thread, tlog, witness
from pcc.transparency import _note as tlognote
from pcc.transparency import leaves, tiles
from pcc.transparency.client import SubmitError, TileReader, submit
from pcc._internal.peer import Peer, PeerLimits, SyncPeer

# AddressSanitizer keeps freed memory in its quarantine (256 MiB by default), so the process's RSS
# says nothing about what the code under test holds on to.
UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ


async def ok(h, body, w):
    w.write(head(200, 5) + b"hello")
    await w.drain()


async def dribble_body(h, body, w):
    w.write(head(200, 1000))
    await w.drain()
    for _ in range(1000):
        w.write(b"x")
        await w.drain()
        await asyncio.sleep(0.3)


async def dribble_head(h, body, w):
    for b in head(200, 5):
        w.write(bytes([b]))
        await w.drain()
        await asyncio.sleep(0.3)


async def silent(h, body, w):
    await asyncio.sleep(3600)


async def endless(h, body, w):
    w.write(head(200))
    chunk = b"%x\r\n" % 65536 + b"SECRET" * (65536 // 6) + b"SECR" + b"\r\n"
    while True:
        w.write(chunk)
        await w.drain()


def bomb_server(size=64 << 20):
    bomb = gzip.compress(b"\0" * size, compresslevel=9)

    async def b(h, body, w):
        w.write(head(200, len(bomb), "content-encoding: gzip\r\n") + bomb)
        await w.drain()
    return RawServer(b), len(bomb)


FAST = PeerLimits(deadline_s=1.0, connect_s=0.5, max_body=1 << 20, max_decoded=1 << 20)


def test_limits_are_checked():
    for bad in ({"deadline_s": 0}, {"connect_s": -1}, {"max_body": 0}):
        with pytest.raises(InvalidArgument):
            PeerLimits(**bad)
    for bad in ({"max_decoded": 1.5}, {"deadline_s": True}, {"deadline_s": "1"}):
        with pytest.raises(TypeError):
            PeerLimits(**bad)


def test_healthy_peer():
    with RawServer(ok) as s, SyncPeer("ok", FAST) as p:
        a = p.get(s.url + "/")
        assert (a.status_code, a.content, a.text) == (200, b"hello", "hello")
        assert p.get(s.url + "/").content == b"hello"          # the connection is reused
        assert s.requests == 2


@pytest.mark.parametrize("behaviour", [dribble_body, dribble_head, silent],
                         ids=["body", "head", "silent"])
def test_overall_deadline(behaviour):
    """A byte every 0.3 s never trips a per-read timeout; the call's deadline still ends it."""
    with RawServer(behaviour) as s, SyncPeer("slow peer", FAST) as p:
        t = time.monotonic()
        with pytest.raises(PeerError) as e:
            p.get(s.url + "/")
        took = time.monotonic() - t
    assert e.value.limit == "deadline" and e.value.peer == "slow peer"
    assert "within 1 s" in str(e.value)
    assert 0.9 < took < 2.0


def test_async_deadline_and_shorter_call_deadline():
    async def main():
        with RawServer(dribble_body) as s:
            async with Peer("slow", FAST) as p:
                t = time.monotonic()
                with pytest.raises(PeerError) as e:
                    await p.get(s.url + "/", deadline_s=0.4)
                return e.value, time.monotonic() - t
    err, took = asyncio.run(main())
    assert err.limit == "deadline" and took < 1.0


def test_endless_body_is_capped_and_memory_stays_bounded():
    with RawServer(endless) as s, SyncPeer("endless", PeerLimits(deadline_s=10.0,
                                                                 max_body=4 << 20)) as p:
        before = rss()
        for _ in range(5):
            with pytest.raises(PeerError) as e:
                p.get(s.url + "/")
            assert e.value.limit == "max_body"
            assert "SECRET" not in str(e.value)            # no body content in errors
        if not UNDER_ASAN:
            assert rss() - before < 32 << 20


def test_content_length_above_cap_fails_before_reading():
    async def big(h, body, w):
        w.write(head(200, 1 << 30))
        await w.drain()
        await asyncio.sleep(3600)
    with RawServer(big) as s, SyncPeer("big", FAST) as p:
        t = time.monotonic()
        with pytest.raises(PeerError, match="Content-Length") as e:
            p.get(s.url + "/")
        assert e.value.limit == "max_body" and time.monotonic() - t < 0.9


def test_gzip_bomb_refused_within_cap():
    s, n = bomb_server()
    with s, SyncPeer("bomb", FAST) as p:
        before = rss()
        with pytest.raises(PeerError) as e:
            p.get(s.url + "/", decompress=True)
        assert e.value.limit == "max_decoded" and n < FAST.max_body
        assert rss() - before < 24 << 20
        # not asked to decompress: a gzip answer is refused, not passed on undecoded
        with pytest.raises(PeerError) as e:
            p.get(s.url + "/")
        assert e.value.limit == "encoding"


@pytest.mark.parametrize("body,why", [(b"\x1f\x8bnot gzip at all", "malformed"),
                                      (gzip.compress(b"a" * 1000)[:-12], "truncated"),
                                      (gzip.compress(b"a") + b"trailing", "after the end")],
                         ids=["malformed", "truncated", "trailing"])
def test_bad_gzip(body, why):
    async def b(h, _, w):
        w.write(head(200, len(body), "content-encoding: gzip\r\n") + body)
        await w.drain()
    with RawServer(b) as s, SyncPeer("gz", FAST) as p:
        with pytest.raises(PeerError, match=why) as e:
            p.get(s.url + "/", decompress=True)
        assert e.value.limit == "encoding"


def test_gzip_within_cap_is_decoded():
    data = b"entry" * 1000
    z = gzip.compress(data)

    async def b(h, _, w):
        assert b"accept-encoding: gzip" in h.lower()
        w.write(head(200, len(z), "content-encoding: gzip\r\n") + z)
        await w.drain()
    with RawServer(b) as s, SyncPeer("gz", FAST) as p:
        assert p.get(s.url + "/", decompress=True).content == data


def test_unreachable():
    with SyncPeer("nobody", FAST) as p:
        with pytest.raises(PeerError) as e:
            p.get("http://127.0.0.1:1/")
    assert e.value.limit == "connect" and "nobody" in str(e.value)


def test_auditor_refuses_gzip_bomb_bundle():
    """A hostile log serving a gzip bomb as an entry bundle: refused at the bundle's cap."""
    s, _ = bomb_server()
    with s, TileReader(s.url, deadline_s=5.0) as r:
        before = rss()
        with pytest.raises(PeerError) as e:
            r.tile(tiles.Tile(-1, 0, 1))
        assert e.value.limit == "max_decoded"
        assert rss() - before < 24 << 20


def test_auditor_refuses_oversized_hash_tile():
    async def b(h, _, w):
        w.write(head(200, 8193) + b"\0" * 8193)
        await w.drain()
    with RawServer(b) as s, TileReader(s.url) as r:
        with pytest.raises(PeerError) as e:
            r.tile(tiles.Tile(0, 0, 256))
        assert e.value.limit == "max_body"


def test_reader_and_submit_take_only_bounded_clients():
    with pytest.raises(TypeError):
        TileReader("http://127.0.0.1:1", httpx.Client())       # type: ignore[arg-type]
    with pytest.raises(TypeError):
        submit("http://127.0.0.1:1", b"x", b"y", client=httpx.Client())  # type: ignore


def test_submit_timeout_covers_retries():
    with RawServer(silent) as s:
        t = time.monotonic()
        with pytest.raises(SubmitError):
            submit(s.url, b"leaf", b"s" * 64, timeout=1.0)
        assert time.monotonic() - t < 2.5


# ----------------------------------------------------------------------------- log publisher

ORIGIN = "peer.example/log"


class _Net:
    """A log (in this process) with one healthy witness and one misbehaving raw one."""

    def __init__(self, tmp, bad_behaviour, *, quorum=1, timeout=1.0, add_timeout=10.0):
        self.log_skey, self.log_vkey = tlognote.generate(ORIGIN)
        w_skey, self.w_vkey = tlognote.generate("good.peer.example", cosigner=True)
        _, bad_vkey = tlognote.generate("bad.peer.example", cosigner=True)
        pub_skey, pub_vkey = tlognote.generate("pub.peer.example")
        self.pub = tlognote.load_signer(pub_skey)
        self.bad = RawServer(bad_behaviour)
        self.w = serve_in_thread(witness.create_app(witness.WitnessConfig(
            db_path=str(tmp / "w.db"), skey=w_skey, logs=((ORIGIN, self.log_vkey),))))
        self.cfg = tlog.LogConfig(
            db_path=str(tmp / "log.db"), origin=ORIGIN, skey=self.log_skey,
            publishers=(pub_vkey,), witnesses=((self.bad.url, bad_vkey), (self.w.url, self.w_vkey)),
            quorum=quorum, batch_interval_ms=1.0, witness_timeout_s=timeout,
            add_timeout_s=add_timeout)
        self.app = tlog.create_app(self.cfg)
        self.log = serve_in_thread(self.app)

    def add(self, i, timeout=10.0):
        leaf = leaves.release("peer-test", f"1.0.{i}", 1_700_000_000 + i,
                              [("app", "code", bytes(48))])
        return submit(self.log.url, leaf, tlognote.raw_sign(self.pub, leaf), timeout=timeout)

    def close(self):
        self.log.stop()
        self.w.stop()
        self.bad.stop()


@pytest.mark.parametrize("behaviour", [dribble_body, dribble_head, silent],
                         ids=["dribble-body", "dribble-head", "silent"])
def test_slow_witness_does_not_hold_the_log(tmp_path, behaviour):
    """quorum 1, a healthy witness and a slow one, a 5 s round deadline: every add is answered
    well before that deadline (the quorum is in, the straggler is cancelled after the grace
    period, then skipped) and the checkpoint carries the healthy witness's cosignature."""
    net = _Net(tmp_path, behaviour, timeout=5.0)
    try:
        for i in range(4):
            t = time.monotonic()
            index, proof = net.add(i)
            took = time.monotonic() - t
            # the first round waits out the grace period; later ones skip the slow witness
            assert took < 1.5, took
            assert index == i
            r = httpx.get(net.log.url + "/checkpoint", timeout=5)
            assert r.status_code == 200
            n = tlognote.open_note(r.text, [tlognote.load_verifier(net.log_vkey)])
            assert tlognote.verify_cosignatures(n.text, n.lines,
                                                [tlognote.load_verifier(net.w_vkey)])
        assert net.app.state.stats["witness_errors"] >= 1
    finally:
        net.close()


def test_unreachable_quorum_bounds_each_add(tmp_path):
    """quorum 2 with one silent witness: no checkpoint can be published; an add is refused with
    503 within its own add timeout, and each publish round is bounded by the witness deadline."""
    net = _Net(tmp_path, silent, quorum=2, timeout=0.5, add_timeout=1.5)
    try:
        leaf = leaves.release("peer-test", "2.0", 1_700_000_000, [("app", "code", bytes(48))])
        body = msgpack.packb({"leaf": leaf, "sig": tlognote.raw_sign(net.pub, leaf)},
                             use_bin_type=True)
        t = time.monotonic()
        r = httpx.post(net.log.url + "/add", content=body, timeout=10)
        assert r.status_code == 503 and time.monotonic() - t < 3.0
        assert httpx.get(net.log.url + "/checkpoint").status_code == 503
    finally:
        net.close()


def test_endless_witness_answer_keeps_log_memory_bounded(tmp_path, caplog):
    """A witness streaming an endless 200 body: the log's call stops at its 64 KiB cap (the log
    says so, naming the witness and the cap), its memory stays flat, adds still succeed."""
    net = _Net(tmp_path, endless, timeout=3.0)
    try:
        before = rss()
        with caplog.at_level(logging.WARNING, logger="pcc.tlog"):
            for i in range(3):
                net.add(i)
        assert rss() - before < 32 << 20
        assert net.app.state.stats["witness_errors"] >= 1
        msgs = [r.getMessage() for r in caplog.records]
        assert any(m == f"witness {net.bad.url}: answer larger than 65536 bytes" for m in msgs), \
            msgs
        assert not any("SECRET" in m for m in msgs)
    finally:
        net.close()


def test_peer_error_maps_to_502():
    from pcc.services._http import status_for
    assert status_for(PeerError("x", "slow", "deadline")) == 502
    assert not isinstance(PeerError("x", "y"), FormatError)


def test_sync_peer_threads_end():
    """close() ends the loop thread; so does dropping an unclosed client."""
    import gc
    import threading

    def peer_threads():
        return [t for t in threading.enumerate() if t.name.startswith("pcc-peer leak")]
    p = SyncPeer("leak a")
    assert len(peer_threads()) == 1
    p.close()
    p.close()                                          # idempotent
    assert peer_threads() == []
    SyncPeer("leak b")
    gc.collect()
    deadline = time.monotonic() + 5
    while peer_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert peer_threads() == []
