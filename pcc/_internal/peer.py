"""Bounded calls to other services: every outbound HTTP request pcc makes goes through here.

A peer (a witness the log asks to cosign, a log the auditor replays, a gateway behind a relay)
may be slow, broken or hostile. :class:`Peer` (asyncio) and :class:`SyncPeer` (blocking) make one
call at a time bounded by :class:`PeerLimits`:

- an overall **deadline** per call (connect, send, headers and body together), not only a
  per-read timeout: a peer that sends one byte every few seconds is cut off at the deadline;
- a **byte cap** on the body as it arrives on the wire (``Content-Length`` above the cap fails
  before reading; a chunked or endless body fails as soon as it passes the cap);
- a **decompression cap**: a ``gzip`` body is inflated incrementally with ``max_length``, so a
  gzip bomb never expands beyond ``max_decoded`` bytes in memory; any other content-coding is
  refused;
- one error type, :class:`pcc.errors.PeerError`, naming the peer and the limit, never the body.

Redirects are not followed. A :class:`SyncPeer` runs a :class:`Peer` on its own event-loop
thread, so the blocking variant has the same overall deadline (a blocking socket read cannot
be given one). Both keep connections alive between calls; close them when done.
"""
from __future__ import annotations

import asyncio
import dataclasses
import threading
import weakref
import zlib
from typing import Any, Mapping

import httpx

from pcc.errors import InvalidArgument, PeerError

_GZIP = ("gzip", "x-gzip")


@dataclasses.dataclass(frozen=True)
class PeerLimits:
    """Limits for one call to a peer.

    ``deadline_s``: the whole call, from connecting to the last body byte. ``connect_s``: the
    TCP (and TLS) connect alone (at most the deadline). ``max_body``: bytes on the wire.
    ``max_decoded``: bytes after gzip decoding (only asked for with ``decompress``).
    """

    deadline_s: float = 30.0
    connect_s: float = 5.0
    max_body: int = 4 << 20
    max_decoded: int = 16 << 20

    def __post_init__(self) -> None:
        for name in ("deadline_s", "connect_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise TypeError(f"PeerLimits.{name} must be a number of seconds")
            if not v > 0:
                raise InvalidArgument(f"PeerLimits.{name} must be positive")
        for name in ("max_body", "max_decoded"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"PeerLimits.{name} must be an int (bytes)")
            if v <= 0:
                raise InvalidArgument(f"PeerLimits.{name} must be positive")


@dataclasses.dataclass(frozen=True)
class Answer:
    """A peer's whole answer, read within the limits: status, headers, body (decoded)."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        """The body as UTF-8 (undecodable bytes replaced)."""
        return self.content.decode("utf-8", "replace")

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class _Inflater:
    """Incremental gzip decoding that never holds more than ``cap`` decoded bytes."""

    def __init__(self, peer: str, cap: int) -> None:
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._peer = peer
        self._cap = cap
        self.out = bytearray()

    def _over(self) -> PeerError:
        return PeerError(self._peer, f"decoded answer larger than {self._cap} bytes",
                         "max_decoded")

    def feed(self, data: bytes) -> None:
        try:
            while data:
                if self._d.eof:
                    raise PeerError(self._peer, "data after the end of the gzip stream",
                                    "encoding")
                self.out += self._d.decompress(data, self._cap + 1 - len(self.out))
                if len(self.out) > self._cap:
                    raise self._over()
                if self._d.unused_data:
                    raise PeerError(self._peer, "data after the end of the gzip stream",
                                    "encoding")
                data = self._d.unconsumed_tail
        except zlib.error:
            raise PeerError(self._peer, "malformed gzip body", "encoding") from None

    def finish(self) -> bytes:
        if not self._d.eof:
            raise PeerError(self._peer, "truncated gzip body", "encoding")
        return bytes(self.out)


async def _read_body(resp: httpx.Response, peer: str, lim: PeerLimits, decompress: bool) -> bytes:
    cl = resp.headers.get("content-length")
    if cl is not None and cl.strip().isdigit() and int(cl) > lim.max_body:
        raise PeerError(peer, f"answer larger than {lim.max_body} bytes (Content-Length)",
                        "max_body")
    enc = resp.headers.get("content-encoding", "identity").strip().lower()
    if enc not in ("", "identity") and not (decompress and enc in _GZIP):
        raise PeerError(peer, "answer uses a content-coding that was not asked for", "encoding")
    inflater = _Inflater(peer, lim.max_decoded) if enc in _GZIP else None
    raw = bytearray()
    n = 0
    async for chunk in resp.aiter_raw():
        n += len(chunk)
        if n > lim.max_body:
            raise PeerError(peer, f"answer larger than {lim.max_body} bytes", "max_body")
        if inflater is not None:
            inflater.feed(chunk)
        else:
            raw += chunk
    return inflater.finish() if inflater is not None else bytes(raw)


class Peer:
    """An asyncio client for one peer service, every call bounded by :class:`PeerLimits`.

    ``name`` is how errors and logs name the peer (a URL or a role such as ``witness w1``).
    Use ``async with Peer(...)`` or call :meth:`aclose`.
    """

    def __init__(self, name: str, limits: PeerLimits | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.limits = limits or PeerLimits()
        lim = self.limits
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(lim.deadline_s, connect=min(lim.connect_s, lim.deadline_s)),
            follow_redirects=False, transport=transport, trust_env=False)

    def __repr__(self) -> str:
        return f"<pcc Peer {self.name} deadline={self.limits.deadline_s:g}s>"

    async def request(self, method: str, url: str, *, content: bytes | None = None,
                      headers: Mapping[str, str] | None = None,
                      limits: PeerLimits | None = None, deadline_s: float | None = None,
                      decompress: bool = False) -> Answer:
        """Make one request and read the whole answer within the limits.

        ``limits`` overrides the peer's for this call; ``deadline_s`` (if smaller) shortens its
        deadline, for a caller with its own time budget. ``decompress`` asks for gzip and
        decodes it under ``max_decoded``. Any status is returned; raises :class:`PeerError`
        when a limit is hit or the peer cannot be reached.
        """
        lim = limits or self.limits
        deadline = lim.deadline_s if deadline_s is None else min(deadline_s, lim.deadline_s)
        h = dict(headers or {})
        h["accept-encoding"] = "gzip" if decompress else "identity"
        try:
            if deadline <= 0:
                raise TimeoutError
            async with asyncio.timeout(deadline):
                req = self._client.build_request(method, url, content=content, headers=h)
                resp = await self._client.send(req, stream=True)
                try:
                    body = await _read_body(resp, self.name, lim, decompress)
                finally:
                    await resp.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise PeerError(self.name, f"no complete answer within {deadline:g} s",
                            "deadline") from None
        except httpx.HTTPError as e:
            raise PeerError(self.name, f"unreachable ({type(e).__name__})", "connect") from None
        return Answer(resp.status_code, resp.headers, body)

    async def get(self, url: str, **kw: Any) -> Answer:
        """``request("GET", url, ...)``."""
        return await self.request("GET", url, **kw)

    async def post(self, url: str, content: bytes, **kw: Any) -> Answer:
        """``request("POST", url, content=content, ...)``."""
        return await self.request("POST", url, content=content, **kw)

    async def aclose(self) -> None:
        """Close the kept-alive connections."""
        await self._client.aclose()

    async def __aenter__(self) -> "Peer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if loop.is_closed():
        return
    loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(10)
        if not thread.is_alive():
            loop.close()


class SyncPeer:
    """The blocking twin of :class:`Peer`: same limits, same overall deadline.

    It runs a :class:`Peer` on a private event-loop thread (a daemon), so a blocking caller gets
    a true per-call deadline. Safe to call from several threads. Use ``with SyncPeer(...)`` or
    call :meth:`close`.
    """

    def __init__(self, name: str, limits: PeerLimits | None = None) -> None:
        self.name = name
        self.limits = limits or PeerLimits()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"pcc-peer {name}")
        self._thread.start()
        self._peer = Peer(name, self.limits)
        self._closed = False
        # a client dropped without close() still stops its loop thread
        self._finalizer = weakref.finalize(self, _stop_loop, self._loop, self._thread)

    def __repr__(self) -> str:
        return f"<pcc SyncPeer {self.name} deadline={self.limits.deadline_s:g}s>"

    def request(self, method: str, url: str, **kw: Any) -> Answer:
        """As :meth:`Peer.request`, blocking until the answer or the deadline."""
        if self._closed:
            from pcc.errors import StateError
            raise StateError(f"the client for {self.name} is closed")
        fut = asyncio.run_coroutine_threadsafe(self._peer.request(method, url, **kw), self._loop)
        try:
            return fut.result()
        except BaseException:
            fut.cancel()
            raise

    def get(self, url: str, **kw: Any) -> Answer:
        """``request("GET", url, ...)``."""
        return self.request("GET", url, **kw)

    def post(self, url: str, content: bytes, **kw: Any) -> Answer:
        """``request("POST", url, content=content, ...)``."""
        return self.request("POST", url, content=content, **kw)

    def close(self) -> None:
        """Close the connections and stop the loop thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._peer.aclose(), self._loop).result(10)
        finally:
            self._finalizer()

    def __enter__(self) -> "SyncPeer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["PeerLimits", "Answer", "Peer", "SyncPeer"]
