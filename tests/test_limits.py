"""The inbound limits every service runs behind, against real misbehaving clients on loopback:
stalled uploads and heads, oversized bodies, clients that leave mid-body, too many requests.
Timeouts are short (about a second) so each test takes a few seconds."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import time

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from _rawpeer import open_fds
from pcc.errors import InvalidArgument
from pcc.services import Limits, Service, serve_in_thread, witness
from pcc.services._http import read_body
from pcc.transparency import _note as tlognote

SHORT = Limits(body_timeout_s=1.0, header_timeout_s=1.0, max_body=64 * 1024, max_requests=400,
               keep_alive_s=1.0)


def echo_service(limits: Limits, gate: asyncio.Event | None = None) -> Service:
    async def echo(request: Request) -> Response:
        body = await read_body(request, 1 << 30)      # the limits layer is the only cap here
        return Response(b"%d" % len(body))

    async def wait(request: Request) -> Response:
        assert gate is not None
        await gate.wait()
        return Response(b"done")

    async def start() -> dict:
        return {}

    async def stop(_: dict) -> None:
        return None

    return Service("echo", [Route("/echo", echo, methods=["POST"]), Route("/wait", wait)],
                   start, stop, limits=limits)


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    return s


def stalled_upload(url: str, path: str = "/echo", length: int = 10000) -> socket.socket:
    s = connect(url)
    s.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {length}\r\n\r\n".encode()
              + b"x" * 10)
    return s


def read_all(s: socket.socket, timeout: float) -> bytes:
    """Read until the server closes (or the timeout passes)."""
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    except (socket.timeout, ConnectionResetError):
        return out + b"<open>"


def test_limits_are_checked():
    for bad in ({"max_body": 0}, {"body_timeout_s": -1}, {"max_requests": -3}):
        with pytest.raises(InvalidArgument):
            Limits(**bad)
    for bad in ({"max_requests": 1.5}, {"keep_alive_s": True}, {"max_body": "1"}):
        with pytest.raises(TypeError):
            Limits(**bad)
    assert "Limits(" in repr(Limits())


def test_stalled_uploads_are_closed_and_healthy_requests_served():
    """Two hundred uploads that stop mid-body: each gets 408 and its connection is closed after
    the body timeout; meanwhile a healthy request is answered at once; descriptors return to
    their baseline."""
    app = echo_service(SHORT)
    with serve_in_thread(app) as srv:
        httpx.post(srv.url + "/echo", content=b"warm")
        base = open_fds()
        t0 = time.monotonic()
        socks = [stalled_upload(srv.url) for _ in range(200)]
        t = time.monotonic()
        r = httpx.post(srv.url + "/echo", content=b"hello", timeout=5)
        assert r.status_code == 200 and r.text == "5" and time.monotonic() - t < 0.8
        with concurrent.futures.ThreadPoolExecutor(32) as ex:
            answers = list(ex.map(lambda s: read_all(s, 5.0), socks))
        took = time.monotonic() - t0
        for s in socks:
            s.close()
        assert all(a.startswith(b"HTTP/1.1 408 ") and not a.endswith(b"<open>")
                   for a in answers), answers[0]
        assert took < 4.0
        assert app.limit_stats["body_timeouts"] == 200
        deadline = time.monotonic() + 3
        while open_fds() > base + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_fds() <= base + 5


def test_stalled_and_silent_heads_are_closed():
    with serve_in_thread(echo_service(SHORT)) as srv:
        silent = connect(srv.url)
        partial = connect(srv.url)
        partial.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\n")
        t = time.monotonic()
        assert read_all(silent, 4.0) == b""
        assert read_all(partial, 4.0) == b""
        assert time.monotonic() - t < 3.0
        # a kept-alive connection whose next head stalls is closed too
        ka = connect(srv.url)
        ka.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi")
        ka.settimeout(3)
        got = b""
        while not got.endswith(b"\r\n\r\n2"):
            got += ka.recv(4096)
        assert got.startswith(b"HTTP/1.1 200 ")
        ka.sendall(b"POST /echo HTTP/1.1\r\nhost")
        assert read_all(ka, 4.0) == b""
        for s in (silent, partial, ka):
            s.close()


def test_body_caps():
    app = echo_service(SHORT)
    with serve_in_thread(app) as srv:
        r = httpx.post(srv.url + "/echo", content=b"x" * (64 * 1024 + 1))
        assert r.status_code == 413 and r.headers["connection"] == "close"

        def chunks():
            for _ in range(100):
                yield b"y" * 4096
        r = httpx.post(srv.url + "/echo", content=chunks())          # chunked, no length
        assert r.status_code == 413
        assert httpx.post(srv.url + "/echo", content=b"z" * 65536).text == "65536"
        s = connect(srv.url)
        s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 1x\r\n\r\n")
        assert read_all(s, 3).startswith(b"HTTP/1.1 400 ")
        s.close()
        assert app.limit_stats["too_large"] == 2


def test_oversized_head_is_refused():
    with serve_in_thread(echo_service(SHORT)) as srv:
        r = httpx.post(srv.url + "/echo", content=b"x", headers={"x-big": "a" * 20000})
        assert r.status_code == 431                  # arrived in one read: the middleware
        s = connect(srv.url)                         # arriving in pieces: h11's own limit
        s.sendall(b"POST /echo HTTP/1.1\r\nhost: x\r\n")
        try:
            for _ in range(20):
                s.sendall(b"x-pad: " + b"a" * 1000 + b"\r\n")
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            pass                                     # refused before the whole head was sent
        answer = read_all(s, 3)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400 ")
        assert not answer.endswith(b"<open>")
        s.close()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_client_leaving_mid_body_is_quiet(tmp_path, capfd):
    """A client that disconnects mid-body: no traceback in the logs, the request is counted."""
    _, log_vkey = tlognote.generate("quiet.example/log")
    w_skey, _ = tlognote.generate("w.quiet.example", cosigner=True)
    app = witness.create_app(witness.WitnessConfig(
        db_path=str(tmp_path / "w.db"), skey=w_skey, logs=(("quiet.example/log", log_vkey),),
        limits=SHORT))
    cap = _Capture()
    loggers = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.error", "pcc")]
    for lg in loggers:
        lg.addHandler(cap)
    try:
        with serve_in_thread(app) as srv:
            for _ in range(5):
                s = stalled_upload(srv.url, "/add-checkpoint", 5000)
                time.sleep(0.05)
                s.close()
            deadline = time.monotonic() + 3
            while app.limit_stats["disconnects"] < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert app.limit_stats["disconnects"] == 5
            r = httpx.post(srv.url + "/add-checkpoint", content=b"old 0\n\nbad")
            assert r.status_code == 400                          # still serving
    finally:
        for lg in loggers:
            lg.removeHandler(cap)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Exception in ASGI" not in out + err
    assert not [r for r in cap.records if r.exc_info or r.levelno >= logging.ERROR]


def test_too_many_requests_get_503_quickly():
    gate = asyncio.Event()
    app = echo_service(Limits(max_requests=3), gate)
    with serve_in_thread(app) as srv:
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            held = [ex.submit(httpx.get, srv.url + "/wait", timeout=10) for _ in range(3)]
            deadline = time.monotonic() + 5
            while app._guarded.active < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            t = time.monotonic()
            r = httpx.get(srv.url + "/wait", timeout=5)
            assert r.status_code == 503 and time.monotonic() - t < 0.5
            assert r.headers["retry-after"] == "1"
            # release the held requests on the server's loop
            assert app._loop is not None
            app._loop.call_soon_threadsafe(gate.set)           # on the server's event loop
            assert [f.result().text for f in held] == ["done"] * 3
        assert app.limit_stats["busy"] == 1


def test_connection_limit_gives_503():
    """uvicorn's connection limit (max_connections) answers 503 instead of queueing."""
    with serve_in_thread(echo_service(Limits(max_connections=4, header_timeout_s=5))) as srv:
        idle = [connect(srv.url) for _ in range(4)]
        time.sleep(0.2)
        t = time.monotonic()
        r = httpx.post(srv.url + "/echo", content=b"x", timeout=5)
        assert r.status_code == 503 and time.monotonic() - t < 0.5
        for s in idle:
            s.close()
        time.sleep(0.2)
        assert httpx.post(srv.url + "/echo", content=b"x", timeout=5).status_code == 200


def test_cli_serve_passes_the_connection_limits(monkeypatch, capsys):
    """``pcc ... serve`` (the one _serve helper) hands the service's limits to uvicorn."""
    import uvicorn

    from pcc.cli._common import _serve
    seen = {}

    async def fake_serve(self, sockets=None):
        c = self.config
        seen.update(http=c.http, limit=c.limit_concurrency, keep_alive=c.timeout_keep_alive,
                    head=c.h11_max_incomplete_event_size)
    monkeypatch.setattr(uvicorn.Server, "serve", fake_serve)
    app = echo_service(Limits(max_connections=7, keep_alive_s=2.0, max_header_bytes=8192))
    assert _serve(app, "127.0.0.1", 0) == 0
    assert (seen["limit"], seen["keep_alive"], seen["head"]) == (7, 2.0, 8192)
    assert seen["http"].__name__ == "HeadTimeoutH11Protocol"
    assert "echo serving http://127.0.0.1:" in capsys.readouterr().out
