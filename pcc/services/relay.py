"""Oblivious relay resource (RFC 9458 §6): hides the client's address from the gateway.

``create_app(RelayConfig(gateway_url=...))`` returns an ASGI app with one route:

- ``POST /`` with ``content-type: message/ohttp-req`` or ``message/ohttp-chunked-req``: the body
  is forwarded to the one configured gateway with no header but ``content-type`` (no address,
  user agent, cookie, forwarding or client hint reaches the gateway), and the gateway's answer is
  streamed back unchanged as it arrives, with only its status and ``content-type``;
- 415 for any other media type, 413 for a body over ``max_body``, 502 when the gateway cannot be
  reached or answers too much, 504 when it does not answer within ``timeout_s``.

The relay cannot read anything it forwards: requests are sealed to the gateway's key and answers
to the client's. It logs nothing per request (``pcc relay serve`` turns the access log off) and
keeps no state but a connection pool. Errors are short JSON ``{"error": str}`` that never echo
the request.
"""
from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import AsyncIterator, Optional

import httpx
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pcc import ohttp
from pcc.errors import InvalidArgument, PccError
from pcc.services._app import Service
from pcc.services._http import HTTPError, http_error_handler, read_body
from pcc.services._limits import Limits

__all__ = ["RelayConfig", "RelayState", "create_app", "MEDIA_TYPES"]

MEDIA_TYPES = (ohttp.REQUEST_MEDIA_TYPE, ohttp.CHUNKED_REQUEST_MEDIA_TYPE)
"""The request media types the relay forwards."""
_ANSWER_TYPES = (ohttp.RESPONSE_MEDIA_TYPE, ohttp.CHUNKED_RESPONSE_MEDIA_TYPE, "application/json")


@dataclasses.dataclass(frozen=True)
class RelayConfig:
    """Relay configuration.

    gateway_url: the gateway resource every request goes to (``http://host:port/`` or with a
        path when the gateway is mounted under a prefix).
    max_body: largest request body forwarded (bytes).
    max_answer: largest answer relayed back (bytes); past it the stream is cut.
    timeout_s: the whole exchange, from the first request byte to the last answer byte.
    connect_s: connecting to the gateway.
    limits: inbound limits (request count, header and body timers); ``max_body`` above wins for
        the body size.
    """

    gateway_url: str
    max_body: int = 4 << 20
    max_answer: int = 64 << 20
    timeout_s: float = 600.0
    connect_s: float = 5.0
    limits: Optional[Limits] = None

    def __post_init__(self) -> None:
        if not isinstance(self.gateway_url, str) or not self.gateway_url.startswith(
                ("http://", "https://")):
            raise InvalidArgument("relay: gateway_url must be an http:// or https:// URL")
        for name in ("max_body", "max_answer"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InvalidArgument(f"relay: {name} must be a positive int")
        for name in ("timeout_s", "connect_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise InvalidArgument(f"relay: {name} must be a positive number of seconds")


class RelayState:
    """The running relay: one connection pool to the gateway, sending no default headers."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_s, connect=min(config.connect_s,
                                                                config.timeout_s)),
            follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=1024, max_keepalive_connections=64))
        # httpx adds user-agent, accept and accept-encoding by default: none of them may leave
        for h in list(self.client.headers):
            del self.client.headers[h]

    async def close(self) -> None:
        await self.client.aclose()


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def create_app(config: RelayConfig) -> Service[RelayState]:
    """The relay's ASGI app (see the module documentation)."""
    if not isinstance(config, RelayConfig):
        raise TypeError("create_app takes a RelayConfig")
    base = config.limits or Limits()
    limits = dataclasses.replace(base, max_body=max(base.max_body, config.max_body))

    async def start() -> RelayState:
        return RelayState(config)

    async def stop(st: RelayState) -> None:
        await st.close()

    async def relay(request: Request) -> Response:
        st = svc.state
        media = _media_type(request)
        if media not in MEDIA_TYPES:
            raise HTTPError(415, "content-type must be message/ohttp-req or "
                                 "message/ohttp-chunked-req")
        deadline = time.monotonic() + config.timeout_s
        body = await read_body(request, config.max_body)
        req = st.client.build_request("POST", config.gateway_url, content=body,
                                      headers={"content-type": media})
        try:
            async with asyncio.timeout(config.timeout_s):
                resp = await st.client.send(req, stream=True)
        except (TimeoutError, httpx.TimeoutException):
            raise HTTPError(504, "the gateway did not answer in time") from None
        except httpx.HTTPError:
            raise HTTPError(502, "the gateway cannot be reached") from None
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in _ANSWER_TYPES:
            await resp.aclose()
            raise HTTPError(502, "the gateway answered with an unexpected media type")

        async def stream() -> AsyncIterator[bytes]:
            sent = 0
            it = resp.aiter_raw()
            try:
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return          # cut: the client sees a truncated answer
                    try:
                        chunk = await asyncio.wait_for(it.__anext__(), left)
                    except (StopAsyncIteration, TimeoutError, httpx.HTTPError):
                        return
                    sent += len(chunk)
                    if sent > config.max_answer:
                        return
                    yield chunk
            finally:
                await resp.aclose()

        return StreamingResponse(stream(), status_code=resp.status_code, media_type=ctype,
                                 headers={"cache-control": "no-store"})

    svc: Service[RelayState] = Service(
        "relay", [Route("/", relay, methods=["POST"])], start, stop,
        info={"gateway": config.gateway_url}, limits=limits,
        exception_handlers={HTTPError: http_error_handler, HTTPException: http_error_handler,
                            PccError: http_error_handler, Exception: http_error_handler})
    return svc
