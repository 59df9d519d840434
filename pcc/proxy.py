"""An OpenAI-compatible endpoint on your own machine that answers through the private path.

``create_app(client)`` (or ``pcc proxy``) serves:

- ``POST /v1/chat/completions``: OpenAI's chat completion request (``model``, ``messages``,
  ``max_tokens`` or ``max_completion_tokens``, ``temperature``, ``top_p``, ``seed``,
  ``stream``); with ``stream: true`` the answer comes as server-sent events of
  ``chat.completion.chunk`` objects ending with ``data: [DONE]``, as OpenAI sends them;
- ``GET /v1/models``: the models the cell serves, as OpenAI's model list.

Errors use OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, so existing
OpenAI clients (the ``openai`` package included) work unchanged against
``http://127.0.0.1:8000/v1``. The proxy listens on loopback by default: it holds your issuer
account and spends your tokens.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any, Iterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pcc.client import Client
from pcc.errors import InvalidArgument, LimitError, PccError, PeerError, StateError, VerifyError

__all__ = ["create_app"]

_MAX_BODY = 1 << 20


def _error(status: int, message: str, type_: str = "invalid_request_error",
           param: str | None = None, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param,
                                   "code": code}}, status_code=status)


def _status_of(e: PccError) -> tuple[int, str, str]:
    if isinstance(e, InvalidArgument):
        return 400, "invalid_request_error", "invalid_value"
    if isinstance(e, LimitError):
        return 429, "rate_limit_error", "rate_limit_exceeded"
    if isinstance(e, VerifyError):
        return 502, "verification_error", "verification_failed"
    if isinstance(e, (StateError, PeerError)):
        return 503, "service_unavailable", "unavailable"
    return 500, "server_error", "internal_error"


def _messages(raw: Any) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise InvalidArgument("messages must be a non-empty list")
    out = []
    for m in raw:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise InvalidArgument("each message needs role and content")
        content = m["content"]
        if isinstance(content, list):        # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content
                              if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str) or not isinstance(m["role"], str):
            raise InvalidArgument("role and content must be strings")
        role = "system" if m["role"] == "developer" else m["role"]
        out.append({"role": role, "content": content})
    return out


def _params(body: dict) -> dict:
    p: dict[str, Any] = {}
    mt = body.get("max_completion_tokens", body.get("max_tokens"))
    if mt is not None:
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            raise InvalidArgument("max_tokens must be a positive integer")
        p["max_tokens"] = mt
    for name in ("temperature", "top_p"):
        v = body.get(name)
        if v is not None:
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise InvalidArgument(f"{name} must be a number")
            p[name] = float(v)
    seed = body.get("seed")
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InvalidArgument("seed must be a non-negative integer")
        p["seed"] = seed
    n = body.get("n", 1)
    if n != 1:
        raise InvalidArgument("only n = 1 is supported")
    return p


def create_app(client: Client) -> Starlette:
    """The proxy's ASGI app over ``client`` (requests are serialised through it)."""
    if not isinstance(client, Client):
        raise TypeError("create_app takes a pcc.client.Client")
    lock = threading.Lock()

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": client.model, "object": "model", "created": 0, "owned_by": "pcc"}]})

    async def completions(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return _error(413, "request body too large")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "the body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        try:
            msgs = _messages(body.get("messages"))
            params = _params(body)
        except InvalidArgument as e:
            return _error(400, str(e), param="messages" if "message" in str(e) else None)
        model = body.get("model") or client.model
        if not isinstance(model, str):
            return _error(400, "model must be a string", param="model")
        cid = "chatcmpl-" + secrets.token_hex(12)
        created = int(time.time())
        max_tokens = params.get("max_tokens", 256)

        def finish_reason() -> str:
            usage = client.last_report.get("usage") or {}
            return "length" if usage.get("completion_tokens", 0) >= max_tokens else "stop"

        if body.get("stream"):
            def begin() -> tuple[Iterator[str], str | None]:
                lock.acquire()
                try:
                    g = client.chat(msgs, model=model, **params)
                    return g, next(g, None)  # errors before the first piece become statuses
                except BaseException:
                    lock.release()
                    raise
            try:
                gen, first = await run_in_threadpool(begin)
            except PccError as e:
                st, t, c = _status_of(e)
                return _error(st, str(e), t, code=c)

            def events() -> Iterator[str]:
                def chunk(delta: dict, reason: str | None) -> str:
                    return "data: " + json.dumps({
                        "id": cid, "object": "chat.completion.chunk", "created": created,
                        "model": model, "choices": [{"index": 0, "delta": delta,
                                                     "finish_reason": reason}]}) + "\n\n"
                try:
                    yield chunk({"role": "assistant", "content": ""}, None)
                    if first is not None:
                        yield chunk({"content": first}, None)
                        for piece in gen:
                            yield chunk({"content": piece}, None)
                    yield chunk({}, finish_reason())
                    yield "data: [DONE]\n\n"
                except PccError as e:
                    st, t, c = _status_of(e)
                    yield "data: " + json.dumps({"error": {"message": str(e), "type": t,
                                                           "param": None, "code": c}}) + "\n\n"
                finally:
                    lock.release()
            return StreamingResponse(events(), media_type="text/event-stream",
                                     headers={"cache-control": "no-store"})

        def run() -> str:
            with lock:
                return client.complete(msgs, model=model, **params)
        try:
            text = await run_in_threadpool(run)
        except PccError as e:
            st, t, c = _status_of(e)
            return _error(st, str(e), t, code=c)
        usage = client.last_report.get("usage") or {"prompt_tokens": 0, "completion_tokens": 0}
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish_reason(), "logprobs": None}],
            "usage": {"prompt_tokens": usage["prompt_tokens"],
                      "completion_tokens": usage["completion_tokens"],
                      "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}})

    async def not_found(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        return _error(code, "not found" if code == 404 else "method not allowed")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]),
                             Route("/v1/models", models, methods=["GET"])],
                     exception_handlers={404: not_found, 405: not_found})
