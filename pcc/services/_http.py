"""Helpers shared by the log and witness ASGI apps: bounded body reads, error mapping."""
from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pcc.errors import (FormatError, InvalidArgument, LimitError, PccError, PeerError,
                        StateError, UnknownKeyError, UnsupportedError, VerifyError)


class HTTPError(Exception):
    """An HTTP error with a status, a message and optional extra JSON fields."""

    def __init__(self, status: int, message: str, **extra) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


_STATUS = (
    (LimitError, 413),
    (FormatError, 400),
    (InvalidArgument, 400),
    (VerifyError, 403),
    (UnknownKeyError, 404),
    (UnsupportedError, 400),
    (StateError, 503),
    (PeerError, 502),
)


def status_for(exc: BaseException) -> int:
    """The HTTP status for a pcc error (500 for anything unexpected)."""
    if isinstance(exc, HTTPError):
        return exc.status
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def json_error(status: int, message: str, **extra) -> Response:
    """A JSON error body ``{"error": message, ...}``."""
    body = {"error": message}
    body.update(extra)
    return Response(json.dumps(body) + "\n", status_code=status,
                    media_type="application/json", headers={"cache-control": "no-store"})


async def pcc_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: pcc errors and HTTPError -> JSON error responses."""
    status = status_for(exc)
    if isinstance(exc, HTTPError):
        return json_error(status, exc.message, **exc.extra)
    if isinstance(exc, PccError):
        return json_error(status, str(exc) or type(exc).__name__)
    return json_error(500, "internal error")


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler of the relay and the gateway: an HTTPError gives its status and
    message, Starlette's own HTTPException a fixed message (not found, method not allowed, bad
    request), anything else what :func:`pcc_error_handler` makes of it."""
    if isinstance(exc, HTTPError):
        return json_error(exc.status, exc.message)
    if isinstance(exc, HTTPException):
        return json_error(exc.status_code, {404: "not found", 405: "method not allowed"}.get(
            exc.status_code, "bad request"))
    return await pcc_error_handler(request, exc)


async def read_body(request: Request, limit: int) -> bytes:
    """Read the request body, refusing more than ``limit`` bytes with :class:`LimitError`."""
    cl = request.headers.get("content-length")
    if cl is not None:
        if not cl.isdigit():
            raise FormatError("bad content-length")
        if int(cl) > limit:
            raise LimitError(f"request body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise LimitError(f"request body larger than {limit} bytes")
    return bytes(body)
