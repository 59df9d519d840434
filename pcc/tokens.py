"""Privacy Pass publicly verifiable tokens: RFC 9577 (auth scheme) and RFC 9578 (issuance).

Token type 0x0002, Blind RSA (2048-bit) with RSABSSA-SHA384-PSS-Deterministic, on top of
:mod:`pcc.blindrsa`. The flow::

    ch = TokenChallenge("issuer.example", origin_info=["pcc"])
    state, request = begin_issuance(issuer_spki, ch)         # client
    response = Issuer(sk).issue(request)                      # issuer
    token = finalize_issuance(state, response)                # client
    verify(token, issuer_spki, ch)                            # origin / gateway

The wire structures are TLS presentation-language structs, encoded and parsed here in Python with
every length checked: a decoder accepts exactly one well-formed structure and raises
:class:`~pcc.errors.FormatError` for anything else (truncation, trailing bytes, another token
type, bad lengths). The cryptography is the C blind-RSA core.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
from dataclasses import dataclass
from typing import Iterable

from . import blindrsa
from .errors import FormatError, InvalidArgument, UnknownKeyError, UnsupportedError, VerifyError

__all__ = [
    "TOKEN_TYPE", "NK", "NID", "NONCE_LEN", "VARIANT",
    "TokenChallenge", "TokenRequest", "TokenResponse", "Token", "IssuanceState", "Issuer",
    "token_key_id", "begin_issuance", "finalize_issuance", "verify",
    "authorization_header", "parse_authorization", "challenge_header", "parse_challenge_header",
]

TOKEN_TYPE = 0x0002  #: Blind RSA (2048-bit), RFC 9578 §8.2.2
NK = 256  #: authenticator / blinded message / blind signature length for type 2
NID = 32  #: token_key_id length
NONCE_LEN = 32
VARIANT = blindrsa.Variant.from_name("RSABSSA-SHA384-PSS-Deterministic")

_TOKEN_LEN = 2 + NONCE_LEN + 32 + NID + NK
_REQUEST_LEN = 2 + 1 + NK
_MAX_HEADER = 16384  # longest header value parsed (a type-2 token is 476 base64 characters)
_PRINTABLE = re.compile(rb"\A[\x20-\x7e]*\Z")


class _Reader:
    """Bounded reads over one buffer; every short read is a FormatError."""

    __slots__ = ("_b", "_off", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._b = data
        self._off = 0
        self._what = what

    def take(self, n: int) -> bytes:
        if n > len(self._b) - self._off:
            raise FormatError(f"{self._what}: truncated")
        out = self._b[self._off:self._off + n]
        self._off += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def end(self) -> None:
        if self._off != len(self._b):
            raise FormatError(f"{self._what}: {len(self._b) - self._off} trailing bytes")


def _as_bytes(x: object, what: str) -> bytes:
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"{what} must be bytes-like")


def _printable(s: str) -> bool:
    return s.isascii() and all(0x20 <= ord(c) <= 0x7E for c in s)


def _ascii(raw: bytes, what: str) -> str:
    if not _PRINTABLE.match(raw):
        raise FormatError(f"{what} must be printable ASCII")
    return raw.decode("ascii")


@dataclass(frozen=True, init=False)
class TokenChallenge:
    """A TokenChallenge (RFC 9577 §2.1.1).

    Attributes:
        token_type: the issuance protocol (2 for Blind RSA 2048).
        issuer_name: the issuer's name, printable ASCII, 1 to 65535 bytes.
        redemption_context: empty or 32 bytes.
        origin_info: the origin names (joined with ``,`` on the wire); empty for any origin.
    """

    token_type: int
    issuer_name: str
    redemption_context: bytes
    origin_info: tuple[str, ...]

    def __init__(self, issuer_name: str, redemption_context: bytes = b"",
                 origin_info: Iterable[str] = ("pcc",), token_type: int = TOKEN_TYPE) -> None:
        if not isinstance(issuer_name, str):
            raise TypeError("issuer_name must be a str")
        if isinstance(origin_info, (str, bytes)):
            raise TypeError("origin_info must be a list of origin names")
        origins = tuple(origin_info)
        if not all(isinstance(o, str) for o in origins):
            raise TypeError("origin_info must be a list of str")
        if not isinstance(token_type, int) or isinstance(token_type, bool) \
                or not 0 <= token_type <= 0xFFFF:
            raise InvalidArgument("token_type must be a 16-bit integer")
        rc = _as_bytes(redemption_context, "redemption_context")
        if len(rc) not in (0, 32):
            raise InvalidArgument("redemption_context must be empty or 32 bytes")
        if not 1 <= len(issuer_name) <= 0xFFFF or not _printable(issuer_name):
            raise InvalidArgument("issuer_name must be 1..65535 printable ASCII characters")
        for o in origins:
            if not o or "," in o or not _printable(o):
                raise InvalidArgument("each origin name must be non-empty printable ASCII "
                                      "without commas")
        if len(",".join(origins)) > 0xFFFF:
            raise InvalidArgument("origin_info longer than 65535 bytes")
        object.__setattr__(self, "token_type", token_type)
        object.__setattr__(self, "issuer_name", issuer_name)
        object.__setattr__(self, "redemption_context", rc)
        object.__setattr__(self, "origin_info", origins)

    def encode(self) -> bytes:
        """Return the TLS encoding: u16 type, <1..2^16-1> name, <0..32> context, <0..2^16-1>
        origin_info."""
        name = self.issuer_name.encode("ascii")
        origins = ",".join(self.origin_info).encode("ascii")
        return (struct.pack(">HH", self.token_type, len(name)) + name
                + bytes([len(self.redemption_context)]) + self.redemption_context
                + struct.pack(">H", len(origins)) + origins)

    @classmethod
    def decode(cls, data: bytes) -> "TokenChallenge":
        """Parse exactly one encoded TokenChallenge (FormatError otherwise)."""
        r = _Reader(_as_bytes(data, "data"), "TokenChallenge")
        token_type = r.u16()
        name_len = r.u16()
        if name_len == 0:
            raise FormatError("TokenChallenge: empty issuer_name")
        name = _ascii(r.take(name_len), "issuer_name")
        rc_len = r.u8()
        if rc_len not in (0, 32):
            raise FormatError("TokenChallenge: redemption_context must be 0 or 32 bytes")
        rc = r.take(rc_len)
        origins_raw = _ascii(r.take(r.u16()), "origin_info")
        r.end()
        origins = tuple(origins_raw.split(",")) if origins_raw else ()
        if any(not o for o in origins):
            raise FormatError("TokenChallenge: empty origin name in origin_info")
        return cls(name, rc, origins, token_type)

    def digest(self) -> bytes:
        """Return challenge_digest = SHA-256(encoded challenge)."""
        return hashlib.sha256(self.encode()).digest()


@dataclass(frozen=True)
class TokenRequest:
    """TokenRequest for type 2 (RFC 9578 §6.1): type, truncated key id, blinded message."""

    token_type: int
    truncated_token_key_id: int
    blinded_msg: bytes

    def encode(self) -> bytes:
        """Return the wire encoding (259 bytes)."""
        if self.token_type != TOKEN_TYPE or len(self.blinded_msg) != NK \
                or not 0 <= self.truncated_token_key_id <= 255:
            raise InvalidArgument("not a well-formed type-2 TokenRequest")
        return struct.pack(">HB", self.token_type, self.truncated_token_key_id) + self.blinded_msg

    @classmethod
    def decode(cls, data: bytes) -> "TokenRequest":
        """Parse a type-2 TokenRequest; FormatError for another type or any length error."""
        r = _Reader(_as_bytes(data, "data"), "TokenRequest")
        token_type = r.u16()
        if token_type != TOKEN_TYPE:
            raise FormatError(f"TokenRequest: unsupported token type 0x{token_type:04x}")
        key_id = r.u8()
        blinded = r.take(NK)
        r.end()
        return cls(token_type, key_id, blinded)


@dataclass(frozen=True)
class TokenResponse:
    """TokenResponse for type 2 (RFC 9578 §6.2): the blind signature (Nk bytes)."""

    blind_sig: bytes

    def encode(self) -> bytes:
        """Return the wire encoding (256 bytes)."""
        if len(self.blind_sig) != NK:
            raise InvalidArgument("blind_sig must be 256 bytes")
        return bytes(self.blind_sig)

    @classmethod
    def decode(cls, data: bytes) -> "TokenResponse":
        """Parse a type-2 TokenResponse (exactly 256 bytes)."""
        r = _Reader(_as_bytes(data, "data"), "TokenResponse")
        blind_sig = r.take(NK)
        r.end()
        return cls(blind_sig)


@dataclass(frozen=True)
class Token:
    """A Token (RFC 9577 §2.2) of type 2."""

    token_type: int
    nonce: bytes
    challenge_digest: bytes
    token_key_id: bytes
    authenticator: bytes

    def authenticator_input(self) -> bytes:
        """Return token_type || nonce || challenge_digest || token_key_id (the signed message)."""
        return (struct.pack(">H", self.token_type) + self.nonce + self.challenge_digest
                + self.token_key_id)

    def encode(self) -> bytes:
        """Return the wire encoding (354 bytes)."""
        if (self.token_type != TOKEN_TYPE or len(self.nonce) != NONCE_LEN
                or len(self.challenge_digest) != 32 or len(self.token_key_id) != NID
                or len(self.authenticator) != NK):
            raise InvalidArgument("not a well-formed type-2 Token")
        return self.authenticator_input() + self.authenticator

    @classmethod
    def decode(cls, data: bytes) -> "Token":
        """Parse exactly one type-2 Token; FormatError for another type or any length error."""
        r = _Reader(_as_bytes(data, "data"), "Token")
        token_type = r.u16()
        if token_type != TOKEN_TYPE:
            raise FormatError(f"Token: unsupported token type 0x{token_type:04x}")
        tok = cls(token_type, r.take(NONCE_LEN), r.take(32), r.take(NID), r.take(NK))
        r.end()
        return tok

    def __repr__(self) -> str:
        return f"Token(type=0x{self.token_type:04x}, key_id={self.token_key_id.hex()[:16]}…)"


def _issuer_key(issuer_spki: bytes) -> blindrsa.PublicKey:
    pk = blindrsa.PublicKey.from_der(_as_bytes(issuer_spki, "issuer_spki"))
    if pk.bits != 2048:
        raise UnsupportedError("token type 2 needs a 2048-bit issuer key")
    return pk


def token_key_id(spki: bytes) -> bytes:
    """Return token_key_id = SHA-256 of the issuer SPKI with the RSASSA-PSS OID (RFC 9578 §6.5).

    An id-RSASSA-PSS SPKI is hashed as given; an rsaEncryption SPKI is first converted to the
    RFC 9578 RSASSA-PSS encoding of the same key.
    """
    spki = _as_bytes(spki, "spki")
    pk = blindrsa.PublicKey.from_der(spki)
    if spki == pk.to_der(pss_oid=False):
        spki = pk.to_der(pss_oid=True)
    return hashlib.sha256(spki).digest()


def _challenge_bytes(ch: TokenChallenge | bytes) -> tuple[TokenChallenge, bytes]:
    if isinstance(ch, TokenChallenge):
        return ch, ch.encode()
    raw = _as_bytes(ch, "challenge")
    return TokenChallenge.decode(raw), raw


class IssuanceState:
    """The client's state between :func:`begin_issuance` and :func:`finalize_issuance`.

    Holds the issuer key, the token input (type, nonce, challenge digest, key id) and the
    blinding state (secret, in secure memory). Opaque.
    """

    __slots__ = ("_pk", "_nonce", "_digest", "_key_id", "_blinding")

    def __init__(self, pk: blindrsa.PublicKey, nonce: bytes, digest: bytes, key_id: bytes,
                 blinding: blindrsa.BlindingState) -> None:
        self._pk, self._nonce, self._digest, self._key_id = pk, nonce, digest, key_id
        self._blinding = blinding

    def _token_input(self) -> bytes:
        return struct.pack(">H", TOKEN_TYPE) + self._nonce + self._digest + self._key_id

    def __repr__(self) -> str:
        return "<tokens.IssuanceState>"


def begin_issuance(issuer_spki: bytes, ch: TokenChallenge | bytes, *,
                   nonce: bytes | None = None, salt: bytes | None = None,
                   r: int | bytes | None = None) -> tuple[IssuanceState, bytes]:
    """Client: start issuance (RFC 9578 §6.1); returns ``(state, encoded TokenRequest)``.

    ``ch`` is a TokenChallenge or its encoding (hashed as given). ``nonce``, ``salt`` and ``r``
    fix the random choices for known-answer tests only.

    Raises:
        UnsupportedError: the challenge is not for token type 2, or the key is not 2048 bits.
        FormatError: the issuer SPKI or the encoded challenge is malformed.
    """
    pk = _issuer_key(issuer_spki)
    challenge, raw = _challenge_bytes(ch)
    if challenge.token_type != TOKEN_TYPE:
        raise UnsupportedError(f"token type 0x{challenge.token_type:04x} is not supported")
    if nonce is None:
        nonce = os.urandom(NONCE_LEN)
    nonce = _as_bytes(nonce, "nonce")
    if len(nonce) != NONCE_LEN:
        raise InvalidArgument("nonce must be 32 bytes")
    key_id = token_key_id(issuer_spki)
    digest = hashlib.sha256(raw).digest()
    token_input = struct.pack(">H", TOKEN_TYPE) + nonce + digest + key_id
    # PrepareIdentity: the Deterministic variant signs token_input as is.
    blinded, blinding = blindrsa.blind(VARIANT, pk, token_input, salt=salt, r=r)
    request = TokenRequest(TOKEN_TYPE, key_id[-1], blinded).encode()
    return IssuanceState(pk, nonce, digest, key_id, blinding), request


def finalize_issuance(state: IssuanceState, response: bytes | TokenResponse) -> Token:
    """Client: finish issuance (RFC 9578 §6.3); returns the Token.

    Raises:
        FormatError: the TokenResponse is malformed.
        VerifyError: the issuer's blind signature does not unblind to a valid token.
    """
    if not isinstance(state, IssuanceState):
        raise TypeError("state must come from begin_issuance()")
    resp = response if isinstance(response, TokenResponse) else TokenResponse.decode(response)
    sig = blindrsa.finalize(VARIANT, state._pk, state._token_input(), resp.blind_sig,
                            state._blinding)
    return Token(TOKEN_TYPE, state._nonce, state._digest, state._key_id, sig)


class Issuer:
    """The issuer side of RFC 9578 token type 2 for one 2048-bit key.

    ``spki`` is the key encoding the issuer publishes (its hash is the token key id); by default
    the RFC 9578 RSASSA-PSS SPKI of ``sk``'s public key.
    """

    __slots__ = ("_sk", "_pk", "_spki", "_key_id")

    def __init__(self, sk: blindrsa.PrivateKey, *, spki: bytes | None = None) -> None:
        if not isinstance(sk, blindrsa.PrivateKey):
            raise TypeError("sk must be a blindrsa.PrivateKey")
        if sk.bits != 2048:
            raise UnsupportedError("token type 2 needs a 2048-bit issuer key")
        self._sk = sk
        self._pk = sk.public_key()
        if spki is None:
            spki = self._pk.to_der(pss_oid=True)
        spki = _as_bytes(spki, "spki")
        if blindrsa.PublicKey.from_der(spki) != self._pk:
            raise InvalidArgument("spki is not the public key of sk")
        self._spki = spki
        self._key_id = token_key_id(spki)

    def __repr__(self) -> str:  # public key id only, never the private key
        return f"<tokens.Issuer type=0x0002 key_id={self._key_id.hex()[:16]}…>"

    @property
    def spki(self) -> bytes:
        """The published issuer key (SPKI DER)."""
        return self._spki

    @property
    def token_key_id(self) -> bytes:
        """SHA-256 of the published key."""
        return self._key_id

    def issue(self, request: bytes | TokenRequest) -> bytes:
        """Answer a TokenRequest with an encoded TokenResponse (RFC 9578 §6.2).

        Raises:
            FormatError: malformed request, another token type, or a blinded message >= n.
            UnknownKeyError: the truncated key id is not this issuer's.
        """
        req = request if isinstance(request, TokenRequest) else TokenRequest.decode(request)
        if req.token_type != TOKEN_TYPE or len(req.blinded_msg) != NK:
            raise FormatError("not a type-2 TokenRequest")
        if req.truncated_token_key_id != self._key_id[-1]:
            raise UnknownKeyError("truncated_token_key_id does not match the issuer key")
        return TokenResponse(self._sk.blind_sign(VARIANT, req.blinded_msg)).encode()


def verify(token: Token | bytes, issuer_spki: bytes, ch: TokenChallenge | bytes) -> None:
    """Verify a type-2 token for a challenge and issuer key (RFC 9578 §6.4); None or VerifyError.

    Checks the token type, challenge_digest = SHA-256(challenge), token_key_id = the issuer's
    key id, and the RSASSA-PSS (SHA-384, MGF1-SHA-384, sLen 48) authenticator. Double-spend
    checks are the caller's (keyed by token_key_id and nonce).
    """
    tok = token if isinstance(token, Token) else Token.decode(token)
    pk = _issuer_key(issuer_spki)
    challenge, raw = _challenge_bytes(ch)
    ok = tok.token_type == TOKEN_TYPE and challenge.token_type == TOKEN_TYPE
    ok &= hmac.compare_digest(tok.challenge_digest, hashlib.sha256(raw).digest())
    ok &= hmac.compare_digest(tok.token_key_id, token_key_id(issuer_spki))
    if not ok or len(tok.nonce) != NONCE_LEN:
        raise VerifyError("verification failed")
    blindrsa.verify(VARIANT, pk, tok.authenticator_input(), tok.authenticator)


# --- HTTP authentication scheme (RFC 9577 §2) ---

_TCHAR = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z=/-]+")  # token chars, plus base64 '=' and '/'
_B64URL = re.compile(r"\A[A-Za-z0-9_-]*\Z")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")  # padded, as RFC 9577 asks


def _b64url_decode(s: str, what: str) -> bytes:
    """Strict base64url: padded or unpadded, canonical, nothing else."""
    body = s.rstrip("=")
    pad = len(s) - len(body)
    if not _B64URL.match(body) or pad > 2 or (pad and len(s) % 4) or len(body) % 4 == 1:
        raise FormatError(f"{what}: not base64url")
    try:
        out = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise FormatError(f"{what}: not base64url") from None
    if base64.urlsafe_b64encode(out).decode().rstrip("=") != body:
        raise FormatError(f"{what}: non-canonical base64url")
    return out


def _parse_auth_params(s: str, pos: int, what: str) -> dict[str, str]:
    """Parse ``#auth-param`` (RFC 9110 §11.2) from s[pos:]; duplicate names are an error."""
    params: dict[str, str] = {}
    n = len(s)
    while True:
        while pos < n and s[pos] in " \t,":
            pos += 1
        if pos >= n:
            return params
        m = _TCHAR.match(s, pos)
        if not m:
            raise FormatError(f"{what}: bad parameter name")
        name = m.group().lower()
        pos = m.end()
        while pos < n and s[pos] in " \t":
            pos += 1
        if pos >= n or s[pos] != "=":
            raise FormatError(f"{what}: expected '=' after parameter name")
        pos += 1
        while pos < n and s[pos] in " \t":
            pos += 1
        if pos < n and s[pos] == '"':
            pos += 1
            val = []
            while True:
                if pos >= n:
                    raise FormatError(f"{what}: unterminated quoted string")
                c = s[pos]
                if c == '"':
                    pos += 1
                    break
                if c == "\\":
                    pos += 1
                    if pos >= n:
                        raise FormatError(f"{what}: bad escape")
                    c = s[pos]
                val.append(c)
                pos += 1
            value = "".join(val)
        else:
            m = _VALUE.match(s, pos)
            if not m:
                raise FormatError(f"{what}: empty parameter value")
            value = m.group()
            pos = m.end()
        if name in params:
            raise FormatError(f"{what}: duplicate parameter")
        params[name] = value
        while pos < n and s[pos] in " \t":
            pos += 1
        if pos < n and s[pos] != ",":
            raise FormatError(f"{what}: expected ',' between parameters")


def authorization_header(token: Token) -> str:
    """Return the ``Authorization`` value ``PrivateToken token="<base64url>"`` (RFC 9577 §2.2)."""
    if not isinstance(token, Token):
        raise TypeError("token must be a tokens.Token")
    return f'PrivateToken token="{_b64url(token.encode())}"'


def _private_token_params(value: str | bytes, what: str) -> dict[str, str]:
    """Check that value is a ``PrivateToken`` credential or challenge; return its parameters."""
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise FormatError(f"{what}: not ASCII") from None
    if not isinstance(value, str):
        raise TypeError("value must be str or bytes")
    if len(value) > _MAX_HEADER:
        raise FormatError(f"{what}: header value too long")
    s = value.strip(" \t")
    m = _TCHAR.match(s)
    if not m or m.group().lower() != "privatetoken":
        raise FormatError(f"{what}: scheme is not PrivateToken")
    if m.end() < len(s) and s[m.end()] not in " \t":
        raise FormatError(f"{what}: expected a space after the scheme")
    return _parse_auth_params(s, m.end(), what)


def parse_authorization(value: str | bytes) -> Token:
    """Parse an ``Authorization: PrivateToken token=...`` value into a Token.

    The scheme name is case-insensitive, the value may be quoted or not, padded or not;
    unknown parameters are ignored (RFC 9577 §2.2). FormatError for anything else.
    """
    params = _private_token_params(value, "authorization")
    if "token" not in params:
        raise FormatError("authorization: no token parameter")
    return Token.decode(_b64url_decode(params["token"], "token"))


def parse_challenge_header(value: str | bytes) -> tuple[TokenChallenge, bytes, int | None]:
    """Parse one ``WWW-Authenticate: PrivateToken challenge=..., token-key=...[, max-age=N]``.

    Returns ``(challenge, issuer_spki, max_age)`` (max_age None when absent). The token key must
    parse as an RSA public key; unknown parameters are ignored (RFC 9577 §2.1). A header value
    holding several challenges must be split by the caller. FormatError for anything else.
    """
    params = _private_token_params(value, "www-authenticate")
    for name in ("challenge", "token-key"):
        if name not in params:
            raise FormatError(f"www-authenticate: no {name} parameter")
    ch = TokenChallenge.decode(_b64url_decode(params["challenge"], "challenge"))
    spki = _b64url_decode(params["token-key"], "token-key")
    blindrsa.PublicKey.from_der(spki)
    max_age = None
    if "max-age" in params:
        raw = params["max-age"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
            raise FormatError("www-authenticate: max-age is not a non-negative integer")
        max_age = int(raw)
    return ch, spki, max_age


def challenge_header(ch: TokenChallenge, issuer_spki: bytes, *,
                     max_age: int | None = None) -> str:
    """Return a ``WWW-Authenticate`` value (RFC 9577 §2.1):
    ``PrivateToken challenge="<b64url>", token-key="<b64url>"[, max-age=N]``.
    """
    if not isinstance(ch, TokenChallenge):
        raise TypeError("ch must be a tokens.TokenChallenge")
    spki = _as_bytes(issuer_spki, "issuer_spki")
    blindrsa.PublicKey.from_der(spki)  # refuse to advertise a key that does not parse
    out = f'PrivateToken challenge="{_b64url(ch.encode())}", token-key="{_b64url(spki)}"'
    if max_age is not None:
        if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0:
            raise InvalidArgument("max_age must be a non-negative int")
        out += f", max-age={max_age}"
    return out
