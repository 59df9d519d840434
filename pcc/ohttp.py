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
]

REQUEST_MEDIA_TYPE = "message/ohttp-req"
"""Media type of an Encapsulated Request (RFC 9458 §9.2)."""
RESPONSE_MEDIA_TYPE = "message/ohttp-res"
"""Media type of an Encapsulated Response (RFC 9458 §9.3)."""
KEYS_MEDIA_TYPE = "application/ohttp-keys"
"""Media type of a list of key configurations (RFC 9458 §3.2)."""

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

    @property
    def key_id(self) -> int:
        """Key identifier the request was sent to."""
        return self._ctx.key_id

    @property
    def suite(self) -> Tuple[int, int, int]:
        """``(kem, kdf, aead)`` the request used (the response uses the same)."""
        return self._ctx.suite

    def encapsulate(self, response: bytes | bytearray | memoryview, nonce: Optional[bytes] = None) -> bytes:
        """Encapsulate the binary HTTP ``response`` (RFC 9458 §4.4) and return the
        Encapsulated Response. ``nonce`` pins the response nonce (tests only; max(Nn, Nk)
        bytes, else InvalidArgument); by default a fresh random one is drawn. A request gets one
        response: a second call raises StateError."""
        return self._ctx.encapsulate(response, nonce)


class ClientContext:
    """The client's state for one encapsulated request: decapsulates its response."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    @property
    def suite(self) -> Tuple[int, int, int]:
        """``(kem, kdf, aead)`` the request used."""
        return self._ctx.suite

    def decapsulate_response(self, enc_response: bytes | bytearray | memoryview) -> bytes:
        """Open an Encapsulated Response and return the binary HTTP response. Raises FormatError
        if it is shorter than the nonce and tag, DecryptError if it does not authenticate (a
        tampered response, or one for another request)."""
        return self._ctx.decapsulate_response(enc_response)


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
