"""RSA blind signatures, RFC 9474.

All four variants of RFC 9474 §5 (``RSABSSA-SHA384-{PSS,PSSZERO}-{Randomized,Deterministic}``)
for moduli of 2048 to 4096 bits. The protocol::

    v = Variant.from_name("RSABSSA-SHA384-PSS-Randomized")
    sk = PrivateKey.generate(bits=2048); pk = sk.public_key()
    prepared = prepare(v, msg)                      # client
    blinded, state = blind(v, pk, prepared)         # client -> server: blinded
    blind_sig = sk.blind_sign(v, blinded)           # server -> client: blind_sig
    sig = finalize(v, pk, prepared, blind_sig, state)
    verify(v, pk, prepared, sig)                    # anyone; None or VerifyError

The cryptography runs in C (``pcc._core``) on OpenSSL: private keys and blinding factors stay in
secure memory, the signer uses OpenSSL's blinded constant-time CRT RSA and checks every blind
signature with the public key before returning it, and :func:`finalize` returns a signature only
after it verifies. RSA operations and key generation release the GIL.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import _core
from .errors import InvalidArgument, UnsupportedError

__all__ = [
    "Variant", "PrivateKey", "PublicKey", "BlindingState", "prepare", "blind", "finalize",
    "verify", "verify_pss", "VARIANT_NAMES",
]

VARIANT_NAMES = (
    "RSABSSA-SHA384-PSS-Randomized",
    "RSABSSA-SHA384-PSSZERO-Randomized",
    "RSABSSA-SHA384-PSS-Deterministic",
    "RSABSSA-SHA384-PSSZERO-Deterministic",
)

_HASHES = {
    "SHA-1": _core.BLINDRSA_HASH_SHA1,
    "SHA-224": _core.BLINDRSA_HASH_SHA224,
    "SHA-256": _core.BLINDRSA_HASH_SHA256,
    "SHA-384": _core.BLINDRSA_HASH_SHA384,
    "SHA-512": _core.BLINDRSA_HASH_SHA512,
}


@dataclass(frozen=True)
class Variant:
    """One RFC 9474 variant: SHA-384 with MGF1-SHA-384, a salt length and a prefix rule.

    Attributes:
        name: the RFC name, e.g. ``"RSABSSA-SHA384-PSS-Randomized"``.
        salt_len: the PSS salt length in bytes (48 for PSS, 0 for PSSZERO).
        randomized: whether :func:`prepare` adds a 32-byte random prefix.
    """

    name: str
    salt_len: int
    randomized: bool
    _id: int

    @classmethod
    def from_name(cls, name: str) -> "Variant":
        """Return the variant called ``name`` (exact RFC 9474 spelling).

        Raises:
            UnsupportedError: the name is not one of the four RFC 9474 variants.
        """
        if not isinstance(name, str):
            raise TypeError("variant name must be a str")
        vid, salt_len, randomized = _core.blindrsa_variant(name)
        return cls(name, salt_len, randomized, vid)

    @classmethod
    def all(cls) -> tuple["Variant", ...]:
        """Return the four variants in RFC order."""
        return tuple(cls.from_name(n) for n in VARIANT_NAMES)

    def __repr__(self) -> str:
        return f"Variant({self.name!r})"


def _variant_id(v: Variant) -> int:
    if not isinstance(v, Variant):
        raise TypeError("expected a blindrsa.Variant")
    return v._id


def _bytes(x: object, what: str) -> bytes:
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"{what} must be bytes-like")


class PublicKey:
    """An RSA public key (2048 to 4096 bits) for blind signatures.

    Compare keys with ``==`` (same n and e). Build one with :meth:`from_der` or
    :meth:`PrivateKey.public_key`.
    """

    __slots__ = ("_k",)

    def __init__(self, _k: object) -> None:
        if not isinstance(_k, _core.BlindRSAPublicKey):
            raise TypeError("use PublicKey.from_der() or PrivateKey.public_key()")
        self._k = _k

    @classmethod
    def from_der(cls, spki_der: bytes) -> "PublicKey":
        """Import a DER SubjectPublicKeyInfo.

        Accepts the rsaEncryption OID and the id-RSASSA-PSS OID with the RFC 9578 §6.5
        parameters (SHA-384, MGF1-SHA-384, salt length 48), the hash parameters absent (as in
        RFC 9578) or NULL. The input must be exactly that DER, nothing before or after it.

        Raises:
            FormatError: the input is not such a DER structure.
            UnsupportedError: other PSS parameters, another key type, a size outside 2048..4096
                bits, or an exponent that is even, below 3 or wider than 64 bits.
        """
        return cls(_core.blindrsa_pk_from_der(_bytes(spki_der, "spki_der")))

    def to_der(self, pss_oid: bool = False) -> bytes:
        """Return the DER SubjectPublicKeyInfo.

        With ``pss_oid=False`` the rsaEncryption form; with ``pss_oid=True`` the id-RSASSA-PSS
        form with exactly the RFC 9578 §6.5 parameters (the Privacy Pass token key encoding).
        """
        return self._k.to_der(pss_oid=bool(pss_oid))

    @property
    def bits(self) -> int:
        """The modulus size in bits."""
        return self._k.bits

    @property
    def modulus_len(self) -> int:
        """The modulus size in bytes: the length of blinded messages and signatures."""
        return self._k.modulus_len

    @property
    def n(self) -> int:
        """The modulus."""
        return int.from_bytes(self._k.numbers()[0], "big")

    @property
    def e(self) -> int:
        """The public exponent."""
        return int.from_bytes(self._k.numbers()[1], "big")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._k.numbers() == other._k.numbers()

    def __hash__(self) -> int:
        return hash(self._k.numbers())

    def __repr__(self) -> str:
        return f"<blindrsa.PublicKey {self.bits} bits>"


class PrivateKey:
    """An RSA private key for blind signing, held in secure memory by the C core."""

    __slots__ = ("_k",)

    def __init__(self, _k: object) -> None:
        if not isinstance(_k, _core.BlindRSAPrivateKey):
            raise TypeError("use PrivateKey.generate() or PrivateKey.from_der()")
        self._k = _k

    @classmethod
    def generate(cls, bits: int = 2048) -> "PrivateKey":
        """Generate a fresh key of ``bits`` bits (2048 to 4096, e = 65537).

        Key generation runs without the GIL. Raises UnsupportedError for another size.
        """
        if not isinstance(bits, int) or isinstance(bits, bool):
            raise TypeError("bits must be an int")
        return cls(_core.blindrsa_sk_generate(bits))

    @classmethod
    def from_der(cls, pkcs8_der: bytes) -> "PrivateKey":
        """Import a DER PKCS#8 PrivateKeyInfo (rsaEncryption, two primes, 2048..4096 bits).

        The key is checked for consistency (primes, exponents, CRT values) on import.

        Raises:
            FormatError: malformed DER or an inconsistent key.
            UnsupportedError: another key type or size.
        """
        return cls(_core.blindrsa_sk_from_der(_bytes(pkcs8_der, "pkcs8_der")))

    def to_der(self) -> bytes:
        """Export the key as DER PKCS#8 PrivateKeyInfo.

        WARNING: this returns the secret key as ``bytes``; store it encrypted.
        """
        return self._k.to_der()

    def public_key(self) -> PublicKey:
        """Return the public key."""
        return PublicKey(self._k.public_key())

    @property
    def bits(self) -> int:
        """The modulus size in bits."""
        return self._k.bits

    def blind_sign(self, v: Variant, blinded: bytes) -> bytes:
        """BlindSign (RFC 9474 §4.3): sign a blinded message; returns ``blind_sig``.

        The result is checked with the public key before it is returned.

        Raises:
            FormatError: ``blinded`` is not ``modulus_len`` bytes or is not below n.
            CryptoError: the signature failed its check (fault) or OpenSSL failed.
        """
        return self._k.blind_sign(_variant_id(v), _bytes(blinded, "blinded"))

    def __repr__(self) -> str:
        return f"<blindrsa.PrivateKey {self.bits} bits>"


class BlindingState:
    """The client's secret from :func:`blind` (the inverse blinding factor, in secure memory).

    Opaque; pass it to :func:`finalize` with the same variant and key.
    """

    __slots__ = ("_s",)

    def __init__(self, _s: object) -> None:
        if not isinstance(_s, _core.BlindRSAState):
            raise TypeError("BlindingState comes from blindrsa.blind()")
        self._s = _s

    def __repr__(self) -> str:
        return "<blindrsa.BlindingState>"


def prepare(v: Variant, msg: bytes, *, prefix: bytes | None = None) -> bytes:
    """Prepare (RFC 9474 §4.1): ``prefix || msg`` for Randomized variants, ``msg`` otherwise.

    ``prefix`` (32 bytes) fixes the random prefix of a Randomized variant; tests only.
    Deterministic variants take no prefix (InvalidArgument).
    """
    vid = _variant_id(v)
    msg = _bytes(msg, "msg")
    if prefix is not None:
        prefix = _bytes(prefix, "prefix")
    return _core.blindrsa_prepare(vid, msg, prefix)


def blind(v: Variant, pk: PublicKey, prepared: bytes, *, salt: bytes | None = None,
          r: int | bytes | None = None) -> tuple[bytes, BlindingState]:
    """Blind (RFC 9474 §4.2): returns ``(blinded_msg, state)``.

    ``salt`` (``v.salt_len`` bytes) and ``r`` (an int or big-endian bytes, 1 <= r < n,
    invertible mod n) fix the random choices for known-answer tests only.

    Raises:
        InvalidArgument: a wrong-size salt, a bad r, or (with negligible probability) an encoded
            message that is not coprime to n.
    """
    vid = _variant_id(v)
    if not isinstance(pk, PublicKey):
        raise TypeError("pk must be a blindrsa.PublicKey")
    prepared = _bytes(prepared, "prepared")
    if salt is not None:
        salt = _bytes(salt, "salt")
    r_bytes = None
    if r is not None:
        if isinstance(r, int) and not isinstance(r, bool):
            if r <= 0 or r.bit_length() > pk.modulus_len * 8:
                raise InvalidArgument("r must be in [1, n)")
            r_bytes = r.to_bytes(pk.modulus_len, "big")
        else:
            r_bytes = _bytes(r, "r")
    blinded, state = _core.blindrsa_blind(vid, pk._k, prepared, salt, r_bytes)
    return blinded, BlindingState(state)


def finalize(v: Variant, pk: PublicKey, prepared: bytes, blind_sig: bytes,
             state: BlindingState) -> bytes:
    """Finalize (RFC 9474 §4.4): unblind ``blind_sig`` and return the signature.

    The signature is returned only if it verifies for ``prepared`` under ``pk``.

    Raises:
        VerifyError: the unblinded signature does not verify (or ``blind_sig`` >= n).
        FormatError: ``blind_sig`` is not ``modulus_len`` bytes.
        InvalidArgument: ``state`` was made for another variant or key size.
    """
    vid = _variant_id(v)
    if not isinstance(pk, PublicKey):
        raise TypeError("pk must be a blindrsa.PublicKey")
    if not isinstance(state, BlindingState):
        raise TypeError("state must be a blindrsa.BlindingState")
    return _core.blindrsa_finalize(vid, pk._k, _bytes(prepared, "prepared"),
                                   _bytes(blind_sig, "blind_sig"), state._s)


def verify(v: Variant, pk: PublicKey, prepared: bytes, sig: bytes) -> None:
    """Verify (RFC 9474 §4.5): RSASSA-PSS-VERIFY of the prepared message.

    Returns None; raises VerifyError (no detail) for any invalid signature, including one of the
    wrong length or not below n.
    """
    vid = _variant_id(v)
    if not isinstance(pk, PublicKey):
        raise TypeError("pk must be a blindrsa.PublicKey")
    _core.blindrsa_verify(vid, pk._k, _bytes(prepared, "prepared"), _bytes(sig, "sig"))


def verify_pss(pk: PublicKey, msg: bytes, sig: bytes, *, hash: str = "SHA-384",
               mgf1_hash: str | None = None, salt_len: int = 48) -> None:
    """Generic RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) with any hash, MGF1 hash and salt length.

    ``hash`` and ``mgf1_hash`` are ``"SHA-1"``, ``"SHA-224"``, ``"SHA-256"``, ``"SHA-384"`` or
    ``"SHA-512"`` (``mgf1_hash`` defaults to ``hash``). Returns None or raises VerifyError.
    """
    if not isinstance(pk, PublicKey):
        raise TypeError("pk must be a blindrsa.PublicKey")
    if mgf1_hash is None:
        mgf1_hash = hash
    try:
        h, g = _HASHES[hash], _HASHES[mgf1_hash]
    except (KeyError, TypeError):
        raise UnsupportedError("hash must be one of " + ", ".join(_HASHES)) from None
    if not isinstance(salt_len, int) or salt_len < 0:
        raise InvalidArgument("salt_len must be a non-negative int")
    _core.blindrsa_pss_verify(pk._k, _bytes(msg, "msg"), _bytes(sig, "sig"), h, g, salt_len)
