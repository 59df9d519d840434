"""Privacy Pass token issuer (RFC 9578 publicly verifiable issuance, token type 0x0002).

``create_app(IssuerConfig(...))`` returns an ASGI app (Starlette, served by uvicorn) with:

- ``GET /.well-known/private-token-issuer-directory``: the RFC 9578 §4 directory (JSON, media
  type ``application/private-token-issuer-directory``);
- ``POST /token-request``: ``authorization: Bearer <account key>`` and an
  ``application/private-token-request`` body, answered with ``application/private-token-response``;
  401 for an unknown account, 429 with ``retry-after`` over the account's hourly limit, 415 for
  another media type, 400 for a malformed request or another issuer key, 413 for a body over the
  size limit;
- ``GET /v1/key-proof``: ``msgpack({"leaf": issuer-key log leaf, "proof": tlog-proof text})`` so
  clients can check the key is logged (503 until a proof is configured).

Errors are short JSON ``{"error": str}`` that never repeat request content. The app works when
mounted under a prefix inside another Starlette app: routes match their own paths, and the issuer
key and the store are opened by the app's lifespan, by a host that composes ``app.lifespan``, or
else by the first request (see :class:`pcc.services.Service`). Accounts are managed with :func:`add_account` (and the
``pcc issuer account add`` command), never over HTTP; only a hash of each bearer key is stored.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import re
import secrets
import time
from typing import Callable, Optional, Tuple, Union

import msgpack
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pcc import blindrsa, tokens
from pcc.errors import FormatError, InvalidArgument, PccError, UnknownKeyError
from pcc.services._app import Service
from pcc.services._http import HTTPError, json_error, pcc_error_handler
from pcc.services._issuer_store import Account, RedisStore, SQLiteStore, Store, key_hash
from pcc.transparency import leaves

__all__ = [
    "IssuerConfig", "IssuerState", "KeyProof", "create_app", "add_account", "open_store", "generate_key",
    "SQLiteStore", "RedisStore", "Store", "Account",
    "DIRECTORY_PATH", "DIRECTORY_MEDIA_TYPE", "REQUEST_MEDIA_TYPE", "RESPONSE_MEDIA_TYPE",
]

DIRECTORY_PATH = "/.well-known/private-token-issuer-directory"
DIRECTORY_MEDIA_TYPE = "application/private-token-issuer-directory"
REQUEST_MEDIA_TYPE = "application/private-token-request"
RESPONSE_MEDIA_TYPE = "application/private-token-response"
KEY_PROOF_MEDIA_TYPE = "application/msgpack"
WINDOW_S = 3600  # rate limits count tokens per clock hour

KeyProof = Tuple[bytes, str]
"""``(issuer-key log leaf, tlog-proof text)``."""

_NAME = re.compile(r"\A[A-Za-z0-9._-]{1,64}\Z")
_BEARER = re.compile(r"\A[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9._~+/-]+=*) *\Z")


@dataclasses.dataclass(frozen=True)
class IssuerConfig:
    """Issuer configuration.

    issuer_name: the name clients put in the TokenChallenge (the issuer-key leaf's ``issuer``).
    key_path: the 2048-bit RSA issuer key, PKCS#8 DER (see :func:`generate_key`).
    db_path: SQLite file for accounts and counters (used unless ``redis_url`` is set).
    redis_url: ``redis://host:port/db``: keep accounts and counters in Redis instead, shared by
        every issuer pointing at it.
    key_proof: the issuer-key leaf and its tlog-proof, or a callable returning them (or None
        while there is none yet); called on each ``/v1/key-proof`` request, so it can follow a
        log. The leaf must name ``issuer_name`` and hold this key.
    not_before: the directory's ``not-before`` for the key (omitted when None).
    request_uri: the directory's ``issuer-request-uri``; by default the path of ``/token-request``
        under the prefix the app is mounted at.
    max_body: largest request body read (a TokenRequest is 259 bytes).
    directory_max_age: ``cache-control: max-age`` of the directory.
    redis_prefix: prefix of every Redis key.
    """

    issuer_name: str
    key_path: str
    db_path: str = "issuer.db"
    redis_url: Optional[str] = None
    key_proof: Union[KeyProof, Callable[[], Optional[KeyProof]], None] = None
    not_before: Optional[int] = None
    request_uri: Optional[str] = None
    max_body: int = 1024
    directory_max_age: int = 3600
    redis_prefix: str = "pcc:issuer:"


def generate_key(path: str) -> bytes:
    """Write a fresh 2048-bit issuer key to ``path`` (PKCS#8 DER, mode 0600, refusing to overwrite)
    and return its public key as the RFC 9578 SPKI."""
    sk = blindrsa.PrivateKey.generate(2048)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(sk.to_der())
    return sk.public_key().to_der(pss_oid=True)


def _load_key(path: str) -> blindrsa.PrivateKey:
    with open(path, "rb") as f:
        return blindrsa.PrivateKey.from_der(f.read())


def open_store(config: IssuerConfig) -> Store:
    """The store a configuration names: Redis when ``redis_url`` is set, else SQLite."""
    if config.redis_url:
        return RedisStore(config.redis_url, config.redis_prefix)
    return SQLiteStore(config.db_path)


def add_account(store: Store, name: str, tokens_per_hour: int) -> str:
    """Create an account allowed ``tokens_per_hour`` tokens per clock hour and return its bearer
    key (shown once: the store keeps only a hash). ``name`` is 1..64 of ``A-Za-z0-9._-``.
    Raises InvalidArgument for a bad or taken name or a limit below 1."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument("issuer: account name must be 1..64 characters of A-Z a-z 0-9 . _ -")
    if not isinstance(tokens_per_hour, int) or isinstance(tokens_per_hour, bool):
        raise TypeError("issuer: tokens_per_hour must be an int")
    if tokens_per_hour < 1:
        raise InvalidArgument("issuer: tokens_per_hour must be at least 1")
    key = "pcc_" + secrets.token_urlsafe(32)
    store.add_account(name, key_hash(key), tokens_per_hour, time.time())
    return key


class IssuerState:
    """The running issuer: its key (``issuer``, a :class:`pcc.tokens.Issuer`) and its store."""

    def __init__(self, config: IssuerConfig) -> None:
        self.config = config
        self.issuer = tokens.Issuer(_load_key(config.key_path))
        self.store = open_store(config)

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def key_proof(self) -> Optional[KeyProof]:
        """The configured key proof, checked to be for this issuer and key (None if none yet)."""
        kp = self.config.key_proof
        if callable(kp):
            kp = kp()
        if kp is None:
            return None
        leaf, proof = kp
        d = leaves.decode(leaf)
        if (d["type"] != "issuer-key" or d["issuer"] != self.config.issuer_name
                or d["spki"] != self.issuer.spki):
            raise HTTPError(500, "the configured key proof is not for this issuer key")
        if not isinstance(proof, str):
            raise HTTPError(500, "the configured key proof is not tlog-proof text")
        return leaf, proof


def _account_of(request: Request, store: Store) -> Account:
    m = _BEARER.match(request.headers.get("authorization", ""))
    account = store.account(key_hash(m.group(1))) if m else None
    if account is None:
        raise HTTPError(401, "unknown account")
    return account


async def _read_body(request: Request, limit: int) -> bytes:
    cl = request.headers.get("content-length")
    if cl is not None and (not cl.isdigit() or int(cl) > limit):
        raise HTTPError(413 if cl.isdigit() else 400,
                        "request body too large" if cl.isdigit() else "bad content-length")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPError(413, "request body too large")
    return bytes(body)


def create_app(config: IssuerConfig) -> Service[IssuerState]:
    """The issuer's ASGI app (see the module documentation): a :class:`pcc.services.Service`
    whose state (:class:`IssuerState`) holds the key and the store, created by the app's lifespan,
    a host's composed ``app.lifespan``, or the first request."""
    if not isinstance(config, IssuerConfig):
        raise TypeError("create_app takes an IssuerConfig")

    async def start() -> IssuerState:
        return await run_in_threadpool(IssuerState, config)

    async def stop(st: IssuerState) -> None:
        await run_in_threadpool(st.close)

    async def directory(request: Request) -> Response:
        issuer = svc.state.issuer
        key: dict[str, object] = {
            "token-type": tokens.TOKEN_TYPE,
            "token-key": base64.urlsafe_b64encode(issuer.spki).decode("ascii")}
        if config.not_before is not None:
            key["not-before"] = config.not_before
        uri = config.request_uri or request.scope.get("root_path", "") + "/token-request"
        body = json.dumps({"issuer-request-uri": uri, "token-keys": [key]})
        return Response(body, media_type=DIRECTORY_MEDIA_TYPE,
                        headers={"cache-control": f"public, max-age={config.directory_max_age}"})

    def issue(st: IssuerState, account: Account, body: bytes) -> bytes:
        try:
            req = tokens.TokenRequest.decode(body)
        except FormatError:
            raise HTTPError(400, "malformed token request") from None
        if req.token_type != tokens.TOKEN_TYPE:
            raise HTTPError(400, "unsupported token type")
        if req.truncated_token_key_id != st.issuer.token_key_id[-1]:
            raise HTTPError(400, "token request is for another issuer key")
        now = time.time()
        window = int(now // WINDOW_S)
        if not st.store.take(account.name, window, account.tokens_per_hour, 2 * WINDOW_S):
            retry = max(1, math.ceil((window + 1) * WINDOW_S - now))
            raise HTTPError(429, "token limit reached for this account", retry_after=retry)
        try:
            return st.issuer.issue(req)
        except (FormatError, UnknownKeyError):
            raise HTTPError(400, "malformed token request") from None

    async def token_request(request: Request) -> Response:
        st = svc.state
        account = await run_in_threadpool(_account_of, request, st.store)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != REQUEST_MEDIA_TYPE:
            raise HTTPError(415, f"content-type must be {REQUEST_MEDIA_TYPE}")
        body = await _read_body(request, config.max_body)
        out = await run_in_threadpool(issue, st, account, body)
        return Response(out, media_type=RESPONSE_MEDIA_TYPE, headers={"cache-control": "no-store"})

    async def key_proof(request: Request) -> Response:
        kp = await run_in_threadpool(svc.state.key_proof)
        if kp is None:
            raise HTTPError(503, "no key proof yet")
        body = msgpack.packb({"leaf": kp[0], "proof": kp[1]}, use_bin_type=True)
        return Response(body, media_type=KEY_PROOF_MEDIA_TYPE, headers={"cache-control": "no-cache"})

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPError):
            resp = json_error(exc.status, exc.message)
            if exc.status == 429:
                resp.headers["retry-after"] = str(exc.extra.get("retry_after", WINDOW_S))
            if exc.status == 401:
                resp.headers["www-authenticate"] = 'Bearer realm="pcc-issuer"'
            return resp
        if isinstance(exc, HTTPException):
            return json_error(exc.status_code, {404: "not found", 405: "method not allowed"}.get(
                exc.status_code, "bad request"))
        return await pcc_error_handler(request, exc)

    routes = [
        Route(DIRECTORY_PATH, directory, methods=["GET"]),
        Route("/token-request", token_request, methods=["POST"]),
        Route("/v1/key-proof", key_proof, methods=["GET"]),
    ]
    store = f"redis {config.redis_url}" if config.redis_url else f"sqlite {config.db_path}"
    info = {"issuer": config.issuer_name, "store": store}
    svc: Service[IssuerState] = Service(
        "issuer", routes, start, stop, info=info,
        exception_handlers={HTTPError: http_error, HTTPException: http_error,
                            PccError: http_error, Exception: http_error})
    return svc
