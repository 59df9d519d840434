"""Every service mounts under a prefix inside a host app (Starlette and FastAPI), over real uvicorn.

Three set-ups: the host composes the services' lifespans; the host composes nothing (the first
request starts each service); FastAPI with ``pcc.services.lifespan``. In each, a log mounted at
``/log`` is witnessed by a witness mounted at ``/witness`` of the same server, a leaf is added,
its proof verifies offline, and tiles (partial and entries) are served under the prefix.
"""
from __future__ import annotations

import asyncio
import threading
import time

import httpx
import msgpack
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from _tlog_util import free_port
from pcc import merkle, transparency
from pcc.errors import StateError
from pcc.services import Service, lifespan, tlog, witness
from pcc.transparency import _note as tlognote
from pcc.transparency import leaves

ORIGIN = "embed.example/log"


class Keys:
    def __init__(self):
        self.log_skey, self.log_vkey = tlognote.generate(ORIGIN)
        self.w_skey, self.w_vkey = tlognote.generate("w.embed.example", cosigner=True)
        self.pub_skey, self.pub_vkey = tlognote.generate("publisher.embed.example")


def make_apps(tmp, keys, base):
    w_app = witness.create_app(witness.WitnessConfig(
        db_path=str(tmp / "w.db"), skey=keys.w_skey, logs=((ORIGIN, keys.log_vkey),)))
    log_app = tlog.create_app(tlog.LogConfig(
        db_path=str(tmp / "log.db"), origin=ORIGIN, skey=keys.log_skey,
        publishers=(keys.pub_vkey,), witnesses=((base + "/witness", keys.w_vkey),), quorum=1,
        batch_interval_ms=1.0))
    return log_app, w_app


class Uvicorn:
    """uvicorn in a thread on its own event loop; stop() also runs extra shutdown coroutines."""

    def __init__(self, app, port):
        import uvicorn
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="auto"))
        self.after: list = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.server.serve())
            for coro in self.after:
                loop.run_until_complete(coro())
        except BaseException as e:  # reported by stop()
            self.error = e
        finally:
            loop.close()

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(20)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def exercise(base: str, keys: Keys) -> None:
    """Add a leaf through the mounted log; check proof, checkpoint and tiles under the prefix."""
    deadline = time.monotonic() + 20
    while True:   # the first checkpoint needs the witness's cosignature
        r = httpx.get(base + "/log/checkpoint", timeout=5)
        if r.status_code == 200:
            break
        assert r.status_code == 503 and time.monotonic() < deadline, r.text
        time.sleep(0.05)
    assert r.text.startswith(ORIGIN + "\n") and "— w.embed.example " in r.text

    leaf = leaves.roster("m", 1, [b"\x01" * 32])
    signer = tlognote.load_signer(keys.pub_skey)
    body = msgpack.packb({"leaf": leaf, "sig": tlognote.raw_sign(signer, leaf)})
    r = httpx.post(base + "/log/add", content=body, timeout=30)
    assert r.status_code == 200, r.text
    got = msgpack.unpackb(r.content)
    index, cp = transparency.verify_proof(leaf, got["proof"], keys.log_vkey, [keys.w_vkey], 1,
                                          max_age_s=60)
    assert index == got["index"] == 0 and cp.size == 1

    r = httpx.get(base + "/log/tile/0/000.p/1", timeout=5)
    assert r.status_code == 200 and r.content == merkle.leaf_hash(leaf)
    r = httpx.get(base + "/log/tile/entries/000.p/1", timeout=5)
    assert r.status_code == 200 and r.content == len(leaf).to_bytes(2, "big") + leaf
    r = httpx.get(base + "/log/tile/0/001", timeout=5)
    assert r.status_code == 404
    r = httpx.get(base + "/log/tile/x/000", timeout=5)
    assert r.status_code == 400 and "tile path" in r.json()["error"]
    r = httpx.get(base + "/host", timeout=5)
    assert r.text == "host"


def host_route():
    return Route("/host", lambda request: PlainTextResponse("host"))


def test_starlette_composed_lifespan(tmp_path):
    keys, port = Keys(), free_port()
    base = f"http://127.0.0.1:{port}"
    log_app, w_app = make_apps(tmp_path, keys, base)
    host = Starlette(routes=[host_route(), Mount("/log", app=log_app),
                             Mount("/witness", app=w_app)],
                     lifespan=lifespan(w_app, log_app))
    assert not log_app.started
    with Uvicorn(host, port):
        assert log_app.started and w_app.started   # the host's lifespan started them
        exercise(base, keys)
    assert not log_app.started and not w_app.started  # and stopped them
    # the database lock was released: a new log on the same database starts
    log2, _ = make_apps(tmp_path, keys, base)
    asyncio.run(_start_stop(log2))


async def _start_stop(app: Service) -> None:
    await app.start()
    assert app.started
    await app.stop()


def test_starlette_lazy_state(tmp_path):
    keys, port = Keys(), free_port()
    base = f"http://127.0.0.1:{port}"
    log_app, w_app = make_apps(tmp_path, keys, base)
    host = Starlette(routes=[host_route(), Mount("/log", app=log_app),
                             Mount("/witness", app=w_app)])
    with Uvicorn(host, port) as u:
        u.after += [log_app.stop, w_app.stop]
        assert not log_app.started
        with pytest.raises(StateError):
            log_app.state
        # concurrent first requests create the state once
        with httpx.Client(timeout=10) as c:
            threads = [threading.Thread(target=c.get, args=(base + "/log/checkpoint",))
                       for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert log_app.started
        first = log_app.state
        exercise(base, keys)
        assert log_app.state is first and w_app.started


def test_fastapi_mount(tmp_path):
    fastapi = pytest.importorskip("fastapi")
    keys, port = Keys(), free_port()
    base = f"http://127.0.0.1:{port}"
    log_app, w_app = make_apps(tmp_path, keys, base)
    api = fastapi.FastAPI(lifespan=lifespan(w_app, log_app))
    api.get("/host", response_class=PlainTextResponse)(lambda: "host")
    api.mount("/log", log_app)
    api.mount("/witness", w_app)
    with Uvicorn(api, port):
        exercise(base, keys)
    assert not log_app.started


def test_second_log_on_same_database_fails_cleanly(tmp_path):
    keys = Keys()
    a, _ = make_apps(tmp_path, keys, "http://127.0.0.1:1")
    b, _ = make_apps(tmp_path, keys, "http://127.0.0.1:1")

    async def run():
        await a.start()
        try:
            with pytest.raises(StateError, match="locked.*--db"):
                await b.start()
            assert not b.started
        finally:
            await a.stop()
    asyncio.run(run())


def test_lifespan_takes_only_services():
    with pytest.raises(TypeError):
        lifespan(Starlette())


def test_repr_hides_keys(tmp_path):
    """repr and str of every config, service, state and client object: no key material, and
    the configs keep a signer (seed in C), not the key text."""
    from pcc.services import Limits, LimitsMiddleware, serve_in_thread
    from pcc.transparency.client import TileReader
    from pcc._internal.peer import Peer, SyncPeer
    keys = Keys()
    log_app, w_app = make_apps(tmp_path, keys, "http://127.0.0.1:1")
    cfg = tlog.LogConfig(db_path="x.db", origin=ORIGIN, skey=keys.log_skey,
                         witnesses=(("http://w", keys.w_vkey),))
    wcfg = witness.WitnessConfig("w.db", keys.w_skey)
    assert not isinstance(cfg.skey, str) and not isinstance(wcfg.skey, str)
    # each key whole and its base64 part (after the 4th "+": the base64 itself may hold "+")
    secrets = [k for sk in (keys.log_skey, keys.w_skey) for k in (sk, sk.split("+", 4)[4])]

    async def states():
        log_state = await log_app.start()
        w_state = await w_app.start()
        out = [log_state, w_state, *log_state.witnesses, log_state.witnesses[0].peer]
        await log_app.stop()
        await w_app.stop()
        return out

    with SyncPeer("p") as sp, TileReader("http://127.0.0.1:1") as tr:
        objs = [log_app, w_app, cfg, wcfg, Limits(), LimitsMiddleware(None), Peer("p"), sp, tr, cfg.skey, wcfg.skey,
                *asyncio.run(states())]
        with serve_in_thread(witness.create_app(witness.WitnessConfig(
                str(tmp_path / "w2.db"), keys.w_skey))) as srv:
            objs.append(srv)
        for obj in objs:
            for text in (repr(obj), str(obj)):
                assert "PRIVATE" not in text and not any(s in text for s in secrets), text
                assert "object at 0x" not in text, text


def test_configs_take_signers_and_key_files(tmp_path):
    """The configs take a signer loaded from a file through a wiped bytearray; a witness needs a
    cosigner; a bad key fails at construction."""
    from pcc import note
    from pcc.errors import FormatError, InvalidArgument
    from pcc.transparency import read_signer_file
    keys = Keys()
    (tmp_path / "log.skey").write_text(keys.log_skey + "\n")
    (tmp_path / "w.skey").write_text(keys.w_skey + "\n")
    (tmp_path / "log.vkey").write_text(keys.log_vkey + "\n")
    signer = read_signer_file(tmp_path / "log.skey")
    assert signer.vkey == keys.log_vkey
    cfg = tlog.LogConfig(db_path="x.db", origin=ORIGIN, skey=signer,
                         witnesses=(("http://w", keys.w_vkey),))
    assert cfg.skey is signer
    cos = read_signer_file(tmp_path / "w.skey", cosigner=True)
    assert isinstance(cos, note.Cosigner) and cos.vkey == keys.w_vkey
    assert witness.WitnessConfig("w.db", cos).skey is cos
    with pytest.raises(InvalidArgument):
        witness.WitnessConfig("w.db", signer)                 # a note key, not a cosigner
    with pytest.raises(FormatError, match="not a private key"):
        read_signer_file(tmp_path / "log.vkey")
    with pytest.raises(FormatError):
        tlog.LogConfig(db_path="x.db", origin=ORIGIN, skey="PRIVATE+KEY+nope")


def test_serve_in_thread(tmp_path):
    from pcc.services import serve_in_thread
    keys = Keys()
    w_app = witness.create_app(witness.WitnessConfig(
        db_path=str(tmp_path / "w.db"), skey=keys.w_skey, logs=((ORIGIN, keys.log_vkey),)))
    with serve_in_thread(w_app) as srv:
        assert srv.url.startswith("http://127.0.0.1:") and w_app.started
        r = httpx.post(srv.url + "/add-checkpoint", content=b"garbage", timeout=5)
        assert r.status_code == 400
    assert not w_app.started                      # lifespan shutdown ran
    # a start-up failure (the log database is held) is an error, not a silent thread
    a, _ = make_apps(tmp_path, keys, "http://127.0.0.1:1")
    b, _ = make_apps(tmp_path, keys, "http://127.0.0.1:1")
    with serve_in_thread(a):
        with pytest.raises(StateError, match="did not start.*another process is serving"):
            serve_in_thread(b)
