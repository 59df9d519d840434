"""The one inbound protection layer every pcc service runs behind.

:class:`Limits` holds the numbers; :class:`LimitsMiddleware` enforces the per-request ones on any
ASGI app (every :class:`pcc.services.Service` wraps its routes in it); :func:`uvicorn_options`
turns the per-connection ones into uvicorn settings (``pcc ... serve`` and
:func:`pcc.services.serve_in_thread` use it).

Per request (the middleware, so they hold when a service is mounted in someone else's app too):

- ``max_requests`` requests in progress per service; one more gets 503 at once (no queueing);
- header fields above ``max_header_bytes`` in all get 431 (h11 only limits a head that arrives
  in pieces; one that arrives in a single read is checked here);
- a declared ``Content-Length`` above ``max_body`` gets 413 before any byte is read; a body that
  grows past it while streaming gets 413 and the connection is closed;
- the whole body must arrive within ``body_timeout_s`` of the app first reading it; a body
  that stalls gets 408 and the connection is closed;
- a client that goes away mid-request ends the request quietly: no traceback in the log.

Per connection (uvicorn, so only when pcc serves the app itself):

- ``header_timeout_s``: a connection that does not complete a request head in time is closed
  (uvicorn has no such timer; pcc adds one to its h11 protocol);
- ``max_header_bytes``: the most a request head may take (h11's incomplete-event limit);
- ``max_connections``: uvicorn's ``limit_concurrency`` (503 beyond);
- ``keep_alive_s``: how long an idle kept-alive connection stays open.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pcc.errors import InvalidArgument

log = logging.getLogger("pcc.limits")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Inbound limits of a service; the defaults suit a service on the open internet."""

    max_body: int = 1 << 20
    body_timeout_s: float = 10.0
    max_requests: int = 256
    header_timeout_s: float = 10.0
    max_header_bytes: int = 16 * 1024
    max_connections: int = 1024
    keep_alive_s: float = 5.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            want = int if f.type == "int" else (int, float)
            if isinstance(v, bool) or not isinstance(v, want):
                raise TypeError(f"Limits.{f.name} must be "
                                f"{'an int' if want is int else 'a number'}")
            if not v > 0:
                raise InvalidArgument(f"Limits.{f.name} must be positive")


def _reply_messages(status: int, message: str, extra: dict[str, str] | None = None
                    ) -> tuple[Message, Message]:
    body = (json.dumps({"error": message}) + "\n").encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
               (b"cache-control", b"no-store"), (b"connection", b"close")]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    return ({"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": body})


class _Cycle:
    """One request's wrapped receive/send: body deadline and cap, quiet disconnects."""

    def __init__(self, mw: "LimitsMiddleware", receive: Receive, send: Send) -> None:
        self._mw = mw
        self._receive = receive
        self._send = send
        self._deadline: float | None = None
        self._n = 0
        self.body_done = False
        self.started = False
        self.cut = False            # we answered for the app (408/413); its messages are dropped
        self.gone = False           # the client went away

    async def refuse(self, status: int, message: str) -> None:
        self.cut = True
        if not self.started:
            self.started = True
            start, body = _reply_messages(status, message)
            try:
                await self._send(start)
                await self._send(body)
            except OSError:
                self.gone = True

    async def receive(self) -> Message:
        if self.cut:
            return {"type": "http.disconnect"}
        if self.body_done:                   # after the body: disconnect listeners, no deadline
            return await self._receive()
        loop = asyncio.get_running_loop()
        lim = self._mw.limits
        if self._deadline is None:
            self._deadline = loop.time() + lim.body_timeout_s
        try:
            async with asyncio.timeout(self._deadline - loop.time()):
                msg = await self._receive()
        except TimeoutError:
            self._mw.stats["body_timeouts"] += 1
            await self.refuse(408, f"request body not received within {lim.body_timeout_s:g} s")
            return {"type": "http.disconnect"}
        if msg["type"] == "http.request":
            self._n += len(msg.get("body", b""))
            if self._n > lim.max_body:
                self._mw.stats["too_large"] += 1
                await self.refuse(413, f"request body larger than {lim.max_body} bytes")
                return {"type": "http.disconnect"}
            if not msg.get("more_body", False):
                self.body_done = True
        elif msg["type"] == "http.disconnect":
            self.gone = True
        return msg

    async def send(self, message: Message) -> None:
        if self.cut:
            return
        if message["type"] == "http.response.start":
            self.started = True
        try:
            await self._send(message)
        except OSError:                      # the client went away while we answered
            self.gone = True


class LimitsMiddleware:
    """ASGI middleware enforcing a :class:`Limits`' per-request limits (see the module doc).

    ``stats`` counts refusals: ``busy`` (503), ``too_large`` (413), ``body_timeouts`` (408),
    ``disconnects`` (clients that went away mid-request).
    """

    def __init__(self, app: ASGIApp, limits: Limits | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.active = 0
        self.stats = {"busy": 0, "too_large": 0, "body_timeouts": 0, "disconnects": 0}

    def __repr__(self) -> str:
        return f"<pcc LimitsMiddleware {self.limits}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lim = self.limits
        if self.active >= lim.max_requests:
            self.stats["busy"] += 1
            for m in _reply_messages(503, "too many requests in progress; retry shortly",
                                     {"retry-after": "1"}):
                await send(m)
            return
        headers = scope.get("headers", ())
        if sum(len(n) + len(v) + 4 for n, v in headers) > lim.max_header_bytes:
            self.stats["too_large"] += 1
            for m in _reply_messages(431, f"request head larger than {lim.max_header_bytes} "
                                          "bytes"):
                await send(m)
            return
        for name, value in headers:
            if name == b"content-length":
                if not value.isdigit():
                    for m in _reply_messages(400, "bad content-length"):
                        await send(m)
                    return
                if int(value) > lim.max_body:
                    self.stats["too_large"] += 1
                    for m in _reply_messages(413, f"request body larger than {lim.max_body} "
                                                  "bytes"):
                        await send(m)
                    return
        cycle = _Cycle(self, receive, send)
        self.active += 1
        try:
            await self.app(scope, cycle.receive, cycle.send)
        except Exception as e:
            if not (cycle.cut or cycle.gone):
                raise
            log.debug("request ended after the client left or a limit: %s", type(e).__name__)
        finally:
            self.active -= 1
            if cycle.gone:
                self.stats["disconnects"] += 1


def _h11_protocol(header_timeout_s: float) -> type:
    """uvicorn's h11 protocol with a request-head timer: a connection that has not sent a
    whole request head ``header_timeout_s`` after connecting (or after it starts sending the
    next request on a kept-alive connection) is closed."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadTimeoutH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(header_timeout_s, self._head_timeout)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timeout(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeadTimeoutH11Protocol


def uvicorn_options(limits: Limits | None = None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that apply ``limits``' per-connection limits."""
    lim = limits or Limits()
    return {"http": _h11_protocol(lim.header_timeout_s),
            "limit_concurrency": lim.max_connections,
            "timeout_keep_alive": lim.keep_alive_s,
            "h11_max_incomplete_event_size": lim.max_header_bytes}


__all__ = ["Limits", "LimitsMiddleware", "uvicorn_options"]
