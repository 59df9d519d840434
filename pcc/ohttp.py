"""Oblivious HTTP (RFC 9458) for binary HTTP messages.

A gateway publishes :class:`KeyConfig` objects (as ``application/ohttp-keys``, see
:func:`encode_key_configs`); a client encapsulates a binary HTTP request to one of them with
:func:`encapsulate_request`, the gateway opens it with :meth:`Gateway.decapsulate` and answers
through the returned :class:`ResponseContext`, and the client opens the answer with
:meth:`ClientContext.decapsulate_response`::

    cfg = ohttp.KeyConfig(1, 0x0020, sk.public_bytes(), suites=[(0x0001, 0x0001)])
    gw = ohttp.Gateway([(cfg, sk)])
    enc_request, cctx = ohttp.encapsulate_request(cfg, bhttp_request)
    request, rctx = gw.decapsulate(enc_request)
    enc_response = rctx.encapsulate(bhttp_response)
    response = cctx.decapsulate_response(enc_response)

Requests and responses are the encoded binary HTTP bytes (see :mod:`pcc.bhttp`). The HPKE
contexts, exported secrets and response keys stay in the C core's secure memory.

Chunked OHTTP (draft-ietf-ohai-chunked-ohttp, ``message/ohttp-chunked-req`` and
``message/ohttp-chunked-res``) carries the same messages as a stream of sealed chunks, so both
sides can send and process them as they are produced::

    header, cctx = ohttp.encapsulate_request_chunked(cfg)
    body = header + cctx.write(part1) + cctx.close(part2)     # or cctx.seal(chunk, final=...)
    gctx = gw.decapsulate_chunked()
    pieces = gctx.open(body[:100]) + gctx.open(body[100:])   # plaintext chunks as they complete
    last = gctx.finish()                                     # at the end of the request stream
    stream = gctx.write(answer_part) + gctx.close()
    got = cctx.open(stream) ; got.append(cctx.finish())

Errors say only which stage failed: :class:`~pcc.errors.FormatError` (truncated or malformed),
:class:`~pcc.errors.UnknownKeyError` (key identifier not configured at the gateway),
:class:`~pcc.errors.UnsupportedError` (KEM, KDF or AEAD not implemented or not offered),
:class:`~pcc.errors.DecryptError` (authentication failed, including an ``enc`` that fails Decap).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence, Tuple

from . import _core, hpke
from .errors import InvalidArgument, UnsupportedError

__all__ = [
    "KeyConfig", "Gateway", "ResponseContext", "ClientContext", "encapsulate_request",
    "encode_key_configs", "decode_key_configs", "REQUEST_MEDIA_TYPE", "RESPONSE_MEDIA_TYPE",
    "KEYS_MEDIA_TYPE", "DEFAULT_SUITES", "MAX_SUITES", "MAX_CONFIGS",
    "ChunkedClientContext", "ChunkedGatewayContext", "encapsulate_request_chunked",
    "CHUNKED_REQUEST_MEDIA_TYPE", "CHUNKED_RESPONSE_MEDIA_TYPE", "CHUNK_SIZE", "MAX_CHUNK",
]

REQUEST_MEDIA_TYPE = "message/ohttp-req"
"""Media type of an Encapsulated Request (RFC 9458 §9.2)."""
RESPONSE_MEDIA_TYPE = "message/ohttp-res"
"""Media type of an Encapsulated Response (RFC 9458 §9.3)."""
KEYS_MEDIA_TYPE = "application/ohttp-keys"
"""Media type of a list of key configurations (RFC 9458 §3.2)."""
CHUNKED_REQUEST_MEDIA_TYPE = "message/ohttp-chunked-req"
"""Media type of a Chunked Encapsulated Request (draft-ietf-ohai-chunked-ohttp)."""
CHUNKED_RESPONSE_MEDIA_TYPE = "message/ohttp-chunked-res"
"""Media type of a Chunked Encapsulated Response (draft-ietf-ohai-chunked-ohttp)."""
CHUNK_SIZE: int = _core.OHTTP_CHUNKED_CHUNK
"""Plaintext bytes per chunk that :meth:`ChunkedClientContext.write` and friends use (16 KiB:
every receiver must accept chunks this large)."""
MAX_CHUNK: int = _core.OHTTP_CHUNKED_MAX_CHUNK
"""Largest chunk plaintext this library seals or accepts (a longer one is a LimitError)."""

DEFAULT_SUITES: Tuple[Tuple[int, int], ...] = ((0x0001, 0x0001),)
"""HKDF-SHA256 with AES-128-GCM, the project's default (docs/formats.md)."""
MAX_SUITES = 64
"""Most (kdf, aead) pairs in one key configuration."""
MAX_CONFIGS = 64
"""Most key configurations in one list or gateway."""


def _u(v: object, what: str, bits: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"ohttp: {what} must be an int")
    if not 0 <= v < (1 << bits):
        raise InvalidArgument(f"ohttp: {what} must be 0..{(1 << bits) - 1}")
    return v


@dataclass(frozen=True)
class KeyConfig:
    """One key configuration (RFC 9458 §3.1): ``key_id`` (0..255), ``kem`` (HPKE KEM id),
    ``public_key`` (Npk bytes) and ``suites``, the ``(kdf, aead)`` pairs the gateway accepts in
    order of preference. Suites with ids this library does not implement may be listed; a client
    skips them."""

    key_id: int
    kem: int
    public_key: bytes
    suites: Sequence[Tuple[int, int]] = field(default=DEFAULT_SUITES)

    def __post_init__(self) -> None:
        _u(self.key_id, "key_id", 8)
        _u(self.kem, "kem", 16)
        if not isinstance(self.public_key, (bytes, bytearray, memoryview)):
            raise TypeError("ohttp: public_key must be bytes")
        object.__setattr__(self, "public_key", bytes(self.public_key))
        try:
            suites = tuple((_u(k, "kdf", 16), _u(a, "aead", 16)) for k, a in self.suites)
        except (TypeError, ValueError) as e:
            if isinstance(e, InvalidArgument):
                raise
            raise TypeError("ohttp: suites must be a sequence of (kdf, aead) pairs") from None
        if not 1 <= len(suites) <= MAX_SUITES:
            raise InvalidArgument(f"ohttp: a key configuration has 1..{MAX_SUITES} suites")
        object.__setattr__(self, "suites", suites)

    def __repr__(self) -> str:
        suites = ", ".join("(kdf=0x%04x, aead=0x%04x)" % s for s in self.suites)
        return (f"ohttp.KeyConfig(key_id=0x{self.key_id:02x}, kem=0x{self.kem:04x}, "
                f"public_key=<{len(self.public_key)} bytes>, suites=[{suites}])")

    def _tuple(self) -> tuple:
        return (self.key_id, self.kem, self.public_key, list(self.suites))

    def encode(self) -> bytes:
        """The Key Config encoding. Raises UnsupportedError for a KEM this library does not
        implement and InvalidArgument if the public key is not Npk bytes."""
        return _core.ohttp_key_config_encode(self._tuple())

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> "KeyConfig":
        """Parse exactly one Key Config. Raises FormatError if malformed or followed by other
        bytes, UnsupportedError for a KEM this library does not implement, LimitError for more
        than MAX_SUITES suites."""
        key_id, kem, pk, suites = _core.ohttp_key_config_decode(data)
        return cls(key_id, kem, pk, tuple(suites))


def encode_key_configs(configs: Iterable[KeyConfig]) -> bytes:
    """Encode key configurations as ``application/ohttp-keys`` (each prefixed with its 2-byte
    length, RFC 9458 §3.2)."""
    cfgs = list(configs)
    for c in cfgs:
        if not isinstance(c, KeyConfig):
            raise TypeError("ohttp: encode_key_configs takes KeyConfig objects")
    return _core.ohttp_key_configs_encode([c._tuple() for c in cfgs])


def decode_key_configs(data: bytes | bytearray | memoryview) -> list[KeyConfig]:
    """Parse ``application/ohttp-keys``. The whole list is rejected with FormatError if any part
    is incorrectly encoded (RFC 9458 §3.2) or it is empty. Configurations whose KEM this library
    does not implement are skipped; UnsupportedError if none is left."""
    return [KeyConfig(k, kem, pk, tuple(s)) for k, kem, pk, s in _core.ohttp_key_configs_decode(data)]


def _core_key(sk: object, what: str) -> "_core.HpkeKey":
    """The ``pcc._core.HpkeKey`` of a :class:`pcc.hpke.PrivateKey` (its documented ``_key``
    attribute), so the gateway holds the core key itself. A bare ``pcc._core.HpkeKey`` is taken
    as it is (internal callers such as the benchmark)."""
    if isinstance(sk, hpke.PrivateKey):
        return sk._key
    if isinstance(sk, _core.HpkeKey):
        return sk
    raise TypeError(f"ohttp: {what} must be a pcc.hpke.PrivateKey")


class ResponseContext:
    """The gateway's state for one decapsulated request: encapsulates its one response."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def __repr__(self) -> str:
        return f"ohttp.ResponseContext(key_id=0x{self.key_id:02x}, suite={_suite_text(self.suite)})"

    @property
    def key_id(self) -> int:
        """Key identifier the request was sent to."""
        return self._ctx.key_id

    @property
    def suite(self) -> Tuple[int, int, int]:
        """``(kem, kdf, aead)`` the request used (the response uses the same)."""
        return self._ctx.suite

    def encapsulate(self, response: bytes | bytearray | memoryview,
                    nonce: Optional[bytes] = None) -> bytes:
        """Encapsulate the binary HTTP ``response`` (RFC 9458 §4.4) under a fresh random response
        nonce and return the Encapsulated Response. A request gets one response: a second call
        raises StateError.

        ``nonce`` is kept in the signature for compatibility only: any value other than None
        raises InvalidArgument. A caller-chosen nonce would let a replayed request be answered
        twice under the same AEAD key and nonce; known-answer tests use the private
        ``pcc.ohttp._testing_encapsulate_response``.
        """
        if nonce is not None:
            raise InvalidArgument("ohttp: the response nonce is always drawn at random; "
                                  "encapsulate(response) takes no nonce")
        return self._ctx.encapsulate(response)


def _testing_encapsulate_response(rctx: ResponseContext, response: bytes | bytearray | memoryview,
                                  nonce: bytes | bytearray | memoryview) -> bytes:
    """Known-answer tests only: :meth:`ResponseContext.encapsulate` with the response nonce given
    (max(Nn, Nk) bytes, else InvalidArgument), as RFC 9458 Appendix A prints it.

    WARNING: never use it to answer real requests. A replayed request yields the same secret, and
    a fixed nonce would then encrypt two responses under the same AEAD key and nonce.
    """
    if not isinstance(rctx, ResponseContext):
        raise TypeError("ohttp: rctx must be a ResponseContext")
    return _core._testing_ohttp_encapsulate_response(rctx._ctx, response, nonce)


class ClientContext:
    """The client's state for one encapsulated request: decapsulates its response."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def __repr__(self) -> str:
        return f"ohttp.ClientContext(suite={_suite_text(self.suite)})"

    @property
    def suite(self) -> Tuple[int, int, int]:
        """``(kem, kdf, aead)`` the request used."""
        return self._ctx.suite

    def decapsulate_response(self, enc_response: bytes | bytearray | memoryview) -> bytes:
        """Open an Encapsulated Response and return the binary HTTP response. Raises FormatError
        if it is shorter than the nonce and tag, DecryptError if it does not authenticate (a
        tampered response, or one for another request)."""
        return self._ctx.decapsulate_response(enc_response)


Buffer = bytes | bytearray | memoryview


def _suite_text(suite: Optional[Tuple[int, int, int]]) -> str:
    if suite is None:
        return "None"
    return "(kem=0x%04x, kdf=0x%04x, aead=0x%04x)" % suite


class _ChunkedSender:
    """``write``/``close`` on top of a context's one-chunk ``seal``."""

    __slots__ = ()

    def seal(self, chunk: Buffer, *, final: bool = False) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def write(self, data: Buffer) -> bytes:
        """Seal ``data`` as non-final chunks of at most :data:`CHUNK_SIZE` bytes and return them
        (length-prefixed, ready to send). Empty ``data`` gives ``b""``."""
        view = memoryview(data).cast("B")
        return b"".join(self.seal(view[i:i + CHUNK_SIZE]) for i in range(0, len(view), CHUNK_SIZE))

    def close(self, data: Buffer = b"") -> bytes:
        """Seal ``data`` (possibly empty) and end the message: everything but its last
        :data:`CHUNK_SIZE` bytes as non-final chunks, then the final chunk. Nothing can be sealed
        afterwards (StateError)."""
        view = memoryview(data).cast("B")
        cut = max(0, len(view) - CHUNK_SIZE)
        return self.write(view[:cut]) + self.seal(view[cut:], final=True)


class ChunkedClientContext(_ChunkedSender):
    """The client's side of one chunked OHTTP exchange (made by
    :func:`encapsulate_request_chunked`): seals the request chunks and opens the response."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: "_core.OhttpChunkedClient") -> None:
        self._ctx = ctx

    def __repr__(self) -> str:
        return f"ohttp.ChunkedClientContext(suite={_suite_text(self.suite)})"

    @property
    def suite(self) -> Tuple[int, int, int]:
        """``(kem, kdf, aead)`` of the exchange."""
        return self._ctx.suite

    def seal(self, chunk: Buffer, *, final: bool = False) -> bytes:
        """Seal one request chunk and return it with its length prefix. A non-final chunk must
        not be empty (InvalidArgument); ``final=True`` ends the request (its chunk may be empty),
        after which sealing raises StateError. LimitError past :data:`MAX_CHUNK` bytes."""
        return self._ctx.seal(chunk, final=final)

    def open(self, data: Buffer) -> list[bytes]:
        """Take the next bytes of the Chunked Encapsulated Response, split anywhere, and return
        the plaintext of each chunk they complete (possibly none). The final chunk runs to the end
        of the stream: :meth:`finish` opens it. Raises FormatError (malformed), LimitError (a
        chunk longer than :data:`MAX_CHUNK`), DecryptError (a chunk does not authenticate:
        tampered, reordered, empty or from another exchange); after an error the context is dead
        (StateError)."""
        return self._ctx.open(data)

    def finish(self) -> bytes:
        """Call when the response stream has ended: open and return the final chunk. Raises
        FormatError if the response was truncated (no final chunk), DecryptError if the final
        chunk does not authenticate with its ``"final"`` marker (including bytes appended after
        it)."""
        return self._ctx.finish()


class ChunkedGatewayContext(_ChunkedSender):
    """The gateway's side of one chunked OHTTP exchange (made by
    :meth:`Gateway.decapsulate_chunked`): opens the request chunks, seals the response."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: "_core.OhttpChunkedGatewayContext") -> None:
        self._ctx = ctx

    def __repr__(self) -> str:
        kid = "None" if self.key_id is None else "0x%02x" % self.key_id
        return f"ohttp.ChunkedGatewayContext(key_id={kid}, suite={_suite_text(self.suite)})"

    @property
    def key_id(self) -> Optional[int]:
        """Key identifier the request was sent to (None until its header has been read)."""
        return self._ctx.key_id

    @property
    def suite(self) -> Optional[Tuple[int, int, int]]:
        """``(kem, kdf, aead)`` of the request (None until its header has been read)."""
        return self._ctx.suite

    def open(self, data: Buffer) -> list[bytes]:
        """Take the next bytes of the Chunked Encapsulated Request, split anywhere, and return
        the plaintext of each chunk they complete. The header is checked as soon as it is whole:
        UnknownKeyError, UnsupportedError, DecryptError (Decap failed) as in
        :meth:`Gateway.decapsulate`; then as :meth:`ChunkedClientContext.open`."""
        return self._ctx.open(data)

    def finish(self) -> bytes:
        """Call when the request stream has ended: open and return the final chunk (FormatError
        if the request was truncated, DecryptError if it does not authenticate)."""
        return self._ctx.finish()

    def seal(self, chunk: Buffer, *, final: bool = False) -> bytes:
        """Seal one response chunk and return it with its length prefix; the first call puts a
        fresh random response nonce in front (the caller cannot choose it: a fixed nonce would
        answer a replayed request under the same key and nonce). The response may start once the
        request header has been read (StateError before). Rules for empty and final chunks as
        :meth:`ChunkedClientContext.seal`."""
        return self._ctx.seal(chunk, final=final)


class Gateway:
    """An Oblivious Gateway Resource holding ``[(KeyConfig, pcc.hpke.PrivateKey), ...]``.

    Each private key must be the one whose public key its configuration publishes, and key ids
    must be distinct (else InvalidArgument). The gateway keeps references to the keys and never
    copies them. :meth:`decapsulate` may be called from several threads at once.
    """

    __slots__ = ("_gw", "_configs")

    def __init__(self, keys: Iterable[Tuple[KeyConfig, "hpke.PrivateKey"]]) -> None:
        pairs = []
        configs = []
        for item in keys:
            try:
                cfg, sk = item
            except (TypeError, ValueError):
                raise TypeError("ohttp: Gateway takes (KeyConfig, private key) pairs") from None
            if not isinstance(cfg, KeyConfig):
                raise TypeError("ohttp: Gateway takes (KeyConfig, private key) pairs")
            pairs.append((cfg._tuple(), _core_key(sk, "a gateway private key")))
            configs.append(cfg)
        self._gw = _core.OhttpGateway(pairs)
        self._configs = tuple(configs)

    def __repr__(self) -> str:
        ids = ", ".join("0x%02x" % c.key_id for c in self._configs)
        return f"ohttp.Gateway(key_ids=[{ids}])"

    @property
    def configs(self) -> Tuple[KeyConfig, ...]:
        """The key configurations this gateway serves (publish them with encode_key_configs)."""
        return self._configs

    def decapsulate(self, enc_request: bytes | bytearray | memoryview) -> Tuple[bytes, ResponseContext]:
        """Open an Encapsulated Request (RFC 9458 §4.3). Returns the binary HTTP request and the
        context to answer it with. Raises FormatError (truncated or malformed), UnknownKeyError
        (key id not configured), UnsupportedError (KEM, KDF or AEAD not offered for that key),
        DecryptError (Decap or AEAD open failed), LimitError (request too large)."""
        request, ctx = self._gw.decapsulate(enc_request)
        return request, ResponseContext(ctx)

    def decapsulate_chunked(self) -> ChunkedGatewayContext:
        """A context for one chunked request (``message/ohttp-chunked-req``): feed it the request
        stream with :meth:`ChunkedGatewayContext.open` and answer with its ``seal``/``write``/
        ``close`` (``message/ohttp-chunked-res``)."""
        return ChunkedGatewayContext(self._gw.chunked())


def encapsulate_request(cfg: KeyConfig, request: bytes | bytearray | memoryview, *,
                        kdf: Optional[int] = None, aead: Optional[int] = None,
                        ikm_e: Optional[bytes] = None,
                        _sk_e: Optional["hpke.PrivateKey"] = None) -> Tuple[bytes, ClientContext]:
    """Encapsulate the binary HTTP ``request`` to ``cfg`` (RFC 9458 §4.3).

    The suite is the first of ``cfg.suites`` this library implements, restricted to ``kdf``
    and/or ``aead`` when given (UnsupportedError if the configuration offers no such suite).
    ``ikm_e`` makes the ephemeral key DeriveKeyPair(ikm_e) (tests only). Returns the
    Encapsulated Request and the context that opens the response.

    ``_sk_e`` is a test hook (the underscore says so; never use it for real requests): the
    HPKE ephemeral key pair itself, a :class:`pcc.hpke.PrivateKey` of ``cfg.kem``
    (InvalidArgument otherwise, or together with ``ikm_e``). It replays RFC 9458 Appendix A,
    which prints the client's ``skE``.
    """
    if not isinstance(cfg, KeyConfig):
        raise TypeError("ohttp: cfg must be a KeyConfig")
    k = 0 if kdf is None else _u(kdf, "kdf", 16)
    a = 0 if aead is None else _u(aead, "aead", 16)
    if (kdf is not None and k == 0) or (aead is not None and a == 0):
        raise UnsupportedError("ohttp: suite not offered by the key configuration or not supported")
    sk_e = None if _sk_e is None else _core_key(_sk_e, "_sk_e")
    enc_request, ctx = _core.ohttp_encapsulate_request(cfg._tuple(), request, k, a, ikm_e, sk_e)
    return enc_request, ClientContext(ctx)


def encapsulate_request_chunked(cfg: KeyConfig, *, kdf: Optional[int] = None,
                                aead: Optional[int] = None, ikm_e: Optional[bytes] = None,
                                _sk_e: Optional["hpke.PrivateKey"] = None
                                ) -> Tuple[bytes, ChunkedClientContext]:
    """Start a chunked request to ``cfg`` (draft-ietf-ohai-chunked-ohttp).

    Returns the Chunked Request Header, which the request stream starts with, and the context
    that seals the request chunks and opens the chunked response. Suite choice, ``ikm_e`` and
    the ``_sk_e`` test hook as in :func:`encapsulate_request`.
    """
    if not isinstance(cfg, KeyConfig):
        raise TypeError("ohttp: cfg must be a KeyConfig")
    k = 0 if kdf is None else _u(kdf, "kdf", 16)
    a = 0 if aead is None else _u(aead, "aead", 16)
    if (kdf is not None and k == 0) or (aead is not None and a == 0):
        raise UnsupportedError("ohttp: suite not offered by the key configuration or not supported")
    sk_e = None if _sk_e is None else _core_key(_sk_e, "_sk_e")
    header, ctx = _core.ohttp_chunked_client(cfg._tuple(), k, a, ikm_e, sk_e)
    return header, ChunkedClientContext(ctx)


def _testing_chunked_seal(gctx: ChunkedGatewayContext, chunk: Buffer, *, final: bool = False,
                          nonce: bytes) -> bytes:
    """Known-answer tests only: :meth:`ChunkedGatewayContext.seal` with the response nonce
    pinned (first chunk only, max(Nn, Nk) bytes, else InvalidArgument). Never use it to answer a
    real request."""
    return gctx._ctx.seal(chunk, final=final, nonce=nonce)
