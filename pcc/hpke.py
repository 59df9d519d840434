"""Hybrid Public Key Encryption, RFC 9180.

All four modes (base, psk, auth, auth_psk), KEMs DHKEM(X25519, HKDF-SHA256) and
DHKEM(P-256, HKDF-SHA256), KDFs HKDF-SHA256/384/512, AEADs AES-128-GCM, AES-256-GCM,
ChaCha20-Poly1305 and export-only. The work is done by the C core (``pcc._core``) on OpenSSL;
private keys and contexts live in locked, guard-paged memory that is wiped when freed.

The mode follows from the arguments: ``psk``/``psk_id`` select a PSK mode, ``sk_s`` (sender) or
``pk_s`` (recipient) an authenticated mode, both together ``auth_psk``::

    suite = hpke.Suite(kem=hpke.KEM_X25519_SHA256, kdf=hpke.KDF_HKDF_SHA256,
                       aead=hpke.AEAD_AES128GCM)
    sk = hpke.PrivateKey.generate(suite.kem)
    enc, sctx = hpke.setup_sender(suite, sk.public_bytes(), info=b"app")
    ct = sctx.seal(b"hello", aad=b"hdr")
    rctx = hpke.setup_recipient(suite, enc, sk, info=b"app")
    assert rctx.open(ct, aad=b"hdr") == b"hello"

Errors (all from :mod:`pcc.errors`):

- :class:`~pcc.errors.UnsupportedError`: a KEM, KDF or AEAD id that is not implemented; ``seal``
  or ``open`` with the export-only AEAD.
- :class:`~pcc.errors.FormatError`: ``enc``, ``pk_r``, ``pk_s`` or a private key that is not a
  valid encoding for the KEM: wrong length, a compressed or otherwise non-0x04 P-256 point, a
  point off the curve, a P-256 scalar outside [1, n-1], and an X25519 public key of small order
  (its DH result is all zero, RFC 9180 §7.1.4). These depend only on public inputs, so they are
  reported as such, during setup; a well-formed ``enc`` for the wrong key is not detectable at
  setup and shows up as :class:`~pcc.errors.DecryptError` on ``open``.
- :class:`~pcc.errors.DecryptError`: ``open`` failed to authenticate (wrong key, info, aad, psk,
  sender key; truncated or modified ciphertext). No detail is given.
- :class:`~pcc.errors.InvalidArgument`: inconsistent mode inputs (``psk`` without ``psk_id`` or
  the reverse, an empty or shorter than 32-byte ``psk``, a key of another KEM), ``ikm`` shorter
  than 32 bytes, an export length above 255 * Nh.
- :class:`~pcc.errors.StateError`: the context's 64-bit sequence number is exhausted.
- ``TypeError`` for arguments of the wrong Python type.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

from pcc import _core
from pcc.errors import InvalidArgument, UnsupportedError

Buffer = Union[bytes, bytearray, memoryview]

KEM_P256_SHA256 = 0x0010
KEM_X25519_SHA256 = 0x0020
KDF_HKDF_SHA256 = 0x0001
KDF_HKDF_SHA384 = 0x0002
KDF_HKDF_SHA512 = 0x0003
AEAD_AES128GCM = 0x0001
AEAD_AES256GCM = 0x0002
AEAD_CHACHA20POLY1305 = 0x0003
AEAD_EXPORT_ONLY = 0xFFFF

MODE_BASE = 0x00
MODE_PSK = 0x01
MODE_AUTH = 0x02
MODE_AUTH_PSK = 0x03

TAG_LEN = 16
"""Nt: bytes a ciphertext is longer than its plaintext (every AEAD here)."""

MIN_PSK_LEN = 32
"""Shortest accepted PSK (RFC 9180 §5.1.2: a PSK MUST have at least 32 bytes of entropy)."""


def _check_id(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFF:
        raise InvalidArgument(f"{name} must be a 16-bit identifier")
    return value


@dataclass(frozen=True)
class Suite:
    """An HPKE cipher suite: KEM, KDF and AEAD identifiers (RFC 9180 §7).

    Any 16-bit identifiers can be held (so a suite read from a peer can be represented);
    :attr:`supported` tells whether this library implements it, and setting up a context with an
    unsupported suite raises :class:`~pcc.errors.UnsupportedError`.
    """

    kem: int = KEM_X25519_SHA256
    kdf: int = KDF_HKDF_SHA256
    aead: int = AEAD_AES128GCM

    def __post_init__(self) -> None:
        _check_id("kem", self.kem)
        _check_id("kdf", self.kdf)
        _check_id("aead", self.aead)

    @property
    def supported(self) -> bool:
        """True when every identifier of the suite is implemented."""
        return bool(_core.hpke_suite_supported(self.kem, self.kdf, self.aead))

    def __repr__(self) -> str:
        return f"hpke.Suite(kem={self.kem:#06x}, kdf={self.kdf:#06x}, aead={self.aead:#06x})"

    def check(self) -> None:
        """Raise :class:`~pcc.errors.UnsupportedError` unless the suite is implemented."""
        if not self.supported:
            raise UnsupportedError(
                f"unsupported HPKE suite (kem={self.kem:#06x}, kdf={self.kdf:#06x}, "
                f"aead={self.aead:#06x})")


def kem_sizes(kem: int) -> Tuple[int, int, int]:
    """Return ``(Nenc, Npk, Nsk)`` for a KEM id (UnsupportedError if not implemented)."""
    return _core.hpke_kem_sizes(_check_id("kem", kem))


class PrivateKey:
    """A KEM private key held in secure memory (its public key is derived from it).

    Make one with :meth:`generate`, :meth:`from_bytes` or :meth:`derive`; the constructor is
    internal.

    Attribute ``_key`` (internal, for pcc's own modules): the ``pcc._core.HpkeKey`` this object
    wraps. It is set once by the constructor and cannot be reassigned or deleted, so C code that
    borrows the key from it (``pcc_py_hpke_key`` in the extension, :class:`pcc.ohttp.Gateway`)
    can rely on it living as long as this object.
    """

    __slots__ = ("_key",)
    _key: "_core.HpkeKey"

    def __init__(self, _key: "_core.HpkeKey") -> None:
        if not isinstance(_key, _core.HpkeKey):
            raise TypeError("use PrivateKey.generate, from_bytes or derive")
        if hasattr(self, "_key"):
            raise AttributeError("hpke.PrivateKey is immutable")
        object.__setattr__(self, "_key", _key)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("hpke.PrivateKey is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("hpke.PrivateKey is immutable")

    @classmethod
    def generate(cls, kem: int) -> "PrivateKey":
        """Return a fresh random key pair for ``kem`` (GenerateKeyPair)."""
        return cls(_core.hpke_key_generate(_check_id("kem", kem)))

    @classmethod
    def from_bytes(cls, kem: int, raw: Buffer) -> "PrivateKey":
        """Load a serialized private key (DeserializePrivateKey; FormatError if invalid)."""
        return cls(_core.hpke_key_from_bytes(_check_id("kem", kem), raw))

    @classmethod
    def derive(cls, kem: int, ikm: Buffer) -> "PrivateKey":
        """Derive a key pair from input keying material (DeriveKeyPair, RFC 9180 §7.1.3).

        ``ikm`` must be at least 32 bytes (InvalidArgument otherwise).
        """
        return cls(_core.hpke_key_derive(_check_id("kem", kem), ikm))

    @property
    def kem(self) -> int:
        """The KEM identifier of this key."""
        return self._key.kem

    def public_bytes(self) -> bytes:
        """Return the serialized public key (32 bytes X25519, 65-byte uncompressed P-256)."""
        return self._key.public_bytes()

    def private_bytes(self) -> bytes:
        """Return the serialized private key (32 bytes).

        WARNING: this copies a secret into an ordinary ``bytes`` object; only call it when the
        key really has to leave secure memory.
        """
        return self._key.private_bytes()

    def __repr__(self) -> str:
        return f"<hpke.PrivateKey kem={self.kem:#06x}>"


class Context:
    """An HPKE encryption context (RFC 9180 §5.2). Thread-safe: calls on one context are
    serialised by a lock; the sequence number advances once per successful seal or open."""

    __slots__ = ("_ctx",)

    def __init__(self, _ctx: "_core.HpkeContext") -> None:
        if not isinstance(_ctx, _core.HpkeContext):
            raise TypeError("contexts come from setup_sender / setup_recipient")
        self._ctx = _ctx

    def __repr__(self) -> str:
        s = self.suite
        return (f"<hpke.{type(self).__name__} kem={s.kem:#06x} kdf={s.kdf:#06x} "
                f"aead={s.aead:#06x} seq={self.seq}>")

    @property
    def suite(self) -> Suite:
        """The suite this context was set up with."""
        return Suite(*self._ctx.suite)

    @property
    def seq(self) -> int:
        """Sequence number of the next message."""
        return self._ctx.seq

    def export(self, exporter_context: Buffer, length: int) -> bytes:
        """Return ``Context.Export(exporter_context, length)``; ``length <= 255 * Nh``."""
        if isinstance(length, bool) or not isinstance(length, int):
            raise TypeError("length must be an int")
        return self._ctx.export(exporter_context, length)


class SenderContext(Context):
    """A sender context: :meth:`seal` and :meth:`export`."""

    __slots__ = ()

    def seal(self, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        """Encrypt ``plaintext`` with ``aad``; returns ``len(plaintext) + 16`` bytes.

        Raises UnsupportedError for the export-only AEAD and StateError when the sequence
        number is exhausted.
        """
        return self._ctx.seal(plaintext, aad)


class RecipientContext(Context):
    """A recipient context: :meth:`open` and :meth:`export`."""

    __slots__ = ()

    def open(self, ciphertext: Buffer, aad: Buffer = b"") -> bytes:
        """Decrypt and authenticate ``ciphertext``; DecryptError (no detail) on failure.

        Messages must be opened in the order they were sealed.
        """
        return self._ctx.open(ciphertext, aad)


def _nbytes(name: str, value: Buffer) -> int:
    try:
        return memoryview(value).nbytes
    except TypeError:
        raise TypeError(f"{name} must be bytes-like, not {type(value).__name__}") from None


def _check_psk(psk: Optional[Buffer], psk_id: Optional[Buffer]) -> None:
    # VerifyPSKInputs: psk and psk_id come together (RFC 9180 §5.1).
    if (psk is None) != (psk_id is None):
        raise InvalidArgument("psk and psk_id must be given together")
    if psk is not None and psk_id is not None:
        if _nbytes("psk_id", psk_id) == 0:
            raise InvalidArgument("psk_id must not be empty")
        if _nbytes("psk", psk) < MIN_PSK_LEN:
            raise InvalidArgument(f"psk must be at least {MIN_PSK_LEN} bytes")


def _check_suite(suite: Suite) -> Suite:
    if not isinstance(suite, Suite):
        raise TypeError("suite must be an hpke.Suite")
    return suite


def _sender_key(sk_s: Optional[PrivateKey]) -> Optional["_core.HpkeKey"]:
    if sk_s is None:
        return None
    if not isinstance(sk_s, PrivateKey):
        raise TypeError("sk_s must be an hpke.PrivateKey")
    return sk_s._key


def _recipient_key(sk_r: PrivateKey) -> "_core.HpkeKey":
    if not isinstance(sk_r, PrivateKey):
        raise TypeError("sk_r must be an hpke.PrivateKey")
    return sk_r._key


def _ephemeral_key(sk_e: Optional[PrivateKey], ikm_e: Optional[Buffer],
                   ) -> Optional["_core.HpkeKey"]:
    if sk_e is None:
        return None
    if not isinstance(sk_e, PrivateKey):
        raise TypeError("_sk_e must be an hpke.PrivateKey")
    if ikm_e is not None:
        raise InvalidArgument("give ikm_e or _sk_e, not both")
    return sk_e._key


def setup_sender(suite: Suite, pk_r: Buffer, info: Buffer = b"", *,
                 psk: Optional[Buffer] = None, psk_id: Optional[Buffer] = None,
                 sk_s: Optional[PrivateKey] = None,
                 ikm_e: Optional[Buffer] = None,
                 _sk_e: Optional[PrivateKey] = None) -> Tuple[bytes, SenderContext]:
    """Set up a sender context to the recipient public key ``pk_r``; returns ``(enc, ctx)``.

    SetupBaseS, SetupPSKS, SetupAuthS or SetupAuthPSKS depending on ``psk``/``psk_id`` and
    ``sk_s``. ``ikm_e`` makes the ephemeral key deterministic, ``DeriveKeyPair(ikm_e)``
    (known-answer tests only: reusing it breaks confidentiality).

    ``_sk_e`` is a test hook (the underscore says so; never use it to send real data): the
    ephemeral key pair itself, a :class:`PrivateKey` of the suite's KEM (InvalidArgument
    otherwise, or together with ``ikm_e``), so examples that print ``skEm`` rather than
    ``ikmE`` (RFC 9458 Appendix A) can be replayed. The C API is
    ``pcc_hpke_setup_sender_ephemeral``.
    """
    _check_suite(suite)
    _check_psk(psk, psk_id)
    sk_e = _ephemeral_key(_sk_e, ikm_e)
    enc, ctx = _core.hpke_setup_sender(suite.kem, suite.kdf, suite.aead, pk_r, info, psk, psk_id,
                                       _sender_key(sk_s), ikm_e, sk_e)
    return enc, SenderContext(ctx)


def setup_recipient(suite: Suite, enc: Buffer, sk_r: PrivateKey, info: Buffer = b"", *,
                    psk: Optional[Buffer] = None, psk_id: Optional[Buffer] = None,
                    pk_s: Optional[Buffer] = None) -> RecipientContext:
    """Set up a recipient context from ``enc`` and the private key ``sk_r``.

    SetupBaseR, SetupPSKR, SetupAuthR or SetupAuthPSKR depending on ``psk``/``psk_id`` and
    ``pk_s`` (the sender's serialized public key).
    """
    _check_suite(suite)
    _check_psk(psk, psk_id)
    return RecipientContext(_core.hpke_setup_recipient(
        suite.kem, suite.kdf, suite.aead, enc, _recipient_key(sk_r), info, psk, psk_id, pk_s))


def _testing_pair_at(suite: Suite, sk_r: PrivateKey, seq: int, info: Buffer = b"",
                     ) -> Tuple[bytes, SenderContext, RecipientContext]:
    """Tests only: a new base-mode ``(enc, sender, recipient)`` whose sequence numbers start at
    ``seq`` (to reach the end of the sequence-number space without 2**64 messages).

    The sender's ephemeral key is drawn at random, so it cannot repeat a nonce; no context that
    already exists can be moved, forwards or back.
    """
    suite = _check_suite(suite)
    enc, s, r = _core._testing_hpke_pair_at(suite.kem, suite.kdf, suite.aead,
                                            _recipient_key(sk_r), seq, info)
    return enc, SenderContext(s), RecipientContext(r)


def seal(suite: Suite, pk_r: Buffer, plaintext: Buffer, info: Buffer = b"", aad: Buffer = b"",
         *, psk: Optional[Buffer] = None, psk_id: Optional[Buffer] = None,
         sk_s: Optional[PrivateKey] = None) -> Tuple[bytes, bytes]:
    """Single-shot encryption (RFC 9180 §6.1): set up a sender context, seal one message.

    Returns ``(enc, ct)``. Mode keywords as for :func:`setup_sender`.
    """
    _check_suite(suite)
    _check_psk(psk, psk_id)
    return _core.hpke_seal(suite.kem, suite.kdf, suite.aead, pk_r, plaintext, info, aad, psk,
                           psk_id, _sender_key(sk_s))


def open(suite: Suite, enc: Buffer, sk_r: PrivateKey, ct: Buffer, info: Buffer = b"",  # noqa: A001
         aad: Buffer = b"", *, psk: Optional[Buffer] = None, psk_id: Optional[Buffer] = None,
         pk_s: Optional[Buffer] = None) -> bytes:
    """Single-shot decryption (RFC 9180 §6.1): set up a recipient context, open one message.

    Mode keywords as for :func:`setup_recipient`; DecryptError if it does not authenticate.
    """
    _check_suite(suite)
    _check_psk(psk, psk_id)
    return _core.hpke_open(suite.kem, suite.kdf, suite.aead, enc, _recipient_key(sk_r), ct, info,
                           aad, psk, psk_id, pk_s)


__all__ = [
    "Suite", "PrivateKey", "Context", "SenderContext", "RecipientContext",
    "setup_sender", "setup_recipient", "seal", "open", "kem_sizes",
    "KEM_P256_SHA256", "KEM_X25519_SHA256", "KDF_HKDF_SHA256", "KDF_HKDF_SHA384",
    "KDF_HKDF_SHA512", "AEAD_AES128GCM", "AEAD_AES256GCM", "AEAD_CHACHA20POLY1305",
    "AEAD_EXPORT_ONLY", "MODE_BASE", "MODE_PSK", "MODE_AUTH", "MODE_AUTH_PSK", "TAG_LEN",
    "MIN_PSK_LEN",
]
