"""C2SP signed notes, checkpoints, cosignatures and transparency-log proofs.

- Signed notes (c2sp.org/signed-note): text ending in a newline, a blank line, then signature
  lines ``— <key name> base64(key ID || signature)``. Keys are Ed25519 (type 0x01), in Go's
  ``golang.org/x/mod/sumdb/note`` text forms: a *vkey* ``name+hex8(id)+base64(0x01 || pub)`` and
  an *skey* ``PRIVATE+KEY+name+hex8(id)+base64(0x01 || seed)``; the key ID is
  ``SHA-256(name || "\\n" || 0x01 || pub)[:4]``.
- Checkpoints (c2sp.org/tlog-checkpoint): the note text ``origin\\nsize\\nbase64(root)\\n`` plus
  optional non-empty extension lines, parsed strictly.
- Cosignatures (c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``, key type 0x04): a witness
  signs ``"cosignature/v1\\ntime <t>\\n" || checkpoint text`` and its signature carries the 8-byte
  big-endian timestamp before the Ed25519 signature.
- Raw signatures: :meth:`Signer.sign_raw` / :meth:`Verifier.verify_raw` are plain Ed25519
  (RFC 8032) over arbitrary bytes with the same keys, for publisher signatures over binary log
  leaves. They are not note signatures (no key ID, no text rules).
- Proofs (c2sp.org/tlog-proof): ``c2sp.org/tlog-proof@v1``, an optional ``extra <base64>`` line,
  ``index <n>``, the inclusion proof hashes (base64, one per line), a blank line, then the signed
  (and cosigned) checkpoint verbatim.

Malformed input raises :class:`~pcc.errors.FormatError` (or :class:`~pcc.errors.LimitError` for a
note over 1 MiB); a note or proof that does not verify raises :class:`~pcc.errors.VerifyError`
with no detail. The parsing and the cryptography run in the C core.
"""
from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Union

from pcc import _core, merkle
from pcc.errors import FormatError, InvalidArgument, LimitError, VerifyError

__all__ = [
    "ALG_ED25519", "ALG_COSIGNATURE_V1", "MAX_SIGNATURES", "PROOF_HEADER",
    "Verifier", "Signer", "Cosigner", "Signature", "Note", "Checkpoint", "Proof", "ProofResult",
    "parse", "open", "sign", "add_signatures", "cosign", "verify_cosignature",
    "format_proof", "parse_proof", "verify_proof",
]

#: Signature type of signed-note Ed25519 keys.
ALG_ED25519 = 0x01
#: Signature type of tlog-cosignature Ed25519 cosignature/v1 keys.
ALG_COSIGNATURE_V1 = 0x04
#: Most signature lines a note may carry (as Go's sumdb/note).
MAX_SIGNATURES = 100
#: First line of a tlog-proof.
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_MAX_TIMESTAMP = (1 << 63) - 1


def _utf8(value, what: str) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError(f"{what} is not valid UTF-8") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{what} is not valid UTF-8") from None


def _bytes(value, what: str):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return value
    raise TypeError(f"{what} must be bytes, not {type(value).__name__}")


def _key_text(value, what: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str")
    return _utf8(value, what)


def _timestamp(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("timestamp must be an int (POSIX seconds)")
    if not 0 <= value <= _MAX_TIMESTAMP:
        raise InvalidArgument("timestamp must be in [0, 2^63)")
    return value


class Verifier:
    """A public note key: verifies signatures (type 0x01) or cosignatures (type 0x04)."""

    __slots__ = ("_k", "_vkey")

    def __init__(self, _key) -> None:  # use Verifier.from_vkey
        if not isinstance(_key, _core.NoteKey):
            raise TypeError("use Verifier.from_vkey(vkey)")
        self._k = _key
        self._vkey = _key.vkey()

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a vkey ``name+hex8(id)+base64(type || pub)`` of type 0x01 or 0x04.

        Raises FormatError for malformed text, a key that is not 32 bytes or a key ID that does
        not match, and UnsupportedError for another type byte.
        """
        return cls(_core.note_key_from_vkey(_key_text(vkey, "vkey")))

    @property
    def name(self) -> str:
        """Key name."""
        return self._k.name

    @property
    def key_id(self) -> int:
        """32-bit key ID (``SHA-256(name || "\\n" || type || pub)[:4]``, big-endian)."""
        return self._k.key_id

    @property
    def alg(self) -> int:
        """Signature type: :data:`ALG_ED25519` or :data:`ALG_COSIGNATURE_V1`."""
        return self._k.alg

    @property
    def is_cosigner(self) -> bool:
        """True for a tlog-cosignature (type 0x04) key."""
        return self._k.alg == ALG_COSIGNATURE_V1

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._k.public_key

    @property
    def vkey(self) -> str:
        """The vkey text."""
        return self._vkey

    def verify_raw(self, message: bytes, sig: bytes) -> None:
        """Verify a plain Ed25519 signature (RFC 8032) of the bytes ``message`` by this key.

        This checks a publisher signature over a log leaf (see :meth:`Signer.sign_raw`), not a
        note signature: the signature is exactly 64 bytes over ``message`` itself, with no key
        ID, no note-text rules and no cosignature header, whatever the key type. Raises
        VerifyError (no detail) when it does not verify, including a signature that is not 64
        bytes; TypeError unless both are bytes-like.
        """
        self._k.verify_raw(_bytes(message, "message"), _bytes(sig, "sig"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verifier) and other._vkey == self._vkey

    def __hash__(self) -> int:
        return hash(self._vkey)

    def __repr__(self) -> str:
        return f"Verifier({self._vkey!r})"


class Signer:
    """A signed-note Ed25519 signer (type 0x01). Its private seed stays in secure C memory."""

    __slots__ = ("_k",)
    _ALG = ALG_ED25519

    def __init__(self, _key) -> None:  # use from_skey or generate
        if not isinstance(_key, _core.NoteKey) or not _key.is_signer or _key.alg != self._ALG:
            raise TypeError(f"use {type(self).__name__}.from_skey() or .generate()")
        self._k = _key

    @classmethod
    def from_skey(cls, skey: str):
        """Parse a Go-format skey ``PRIVATE+KEY+name+hex8(id)+base64(type || seed)``.

        A :class:`Signer` needs type 0x01. Raises FormatError for malformed text or a key ID that
        does not match, UnsupportedError for another type byte.
        """
        if not isinstance(skey, str):
            raise TypeError("skey must be a str")
        # The str goes to C as it is: encoding it here would leave a copy of the key text in an
        # ordinary bytes object that is never wiped.
        return cls(_core.note_key_from_skey(skey, cls._ALG))

    @classmethod
    def generate(cls, name: str):
        """Make a fresh key named ``name`` (non-empty, no spaces, no '+'; else InvalidArgument)."""
        return cls(_core.note_key_generate(_key_text(name, "name"), cls._ALG))

    @property
    def name(self) -> str:
        """Key name."""
        return self._k.name

    @property
    def key_id(self) -> int:
        """32-bit key ID."""
        return self._k.key_id

    @property
    def alg(self) -> int:
        """Signature type."""
        return self._k.alg

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._k.public_key

    @property
    def vkey(self) -> str:
        """The verifier key text to publish."""
        return self._k.vkey()

    @property
    def skey(self) -> str:
        """The private key text (exports the secret: store it as one)."""
        return self._k.skey()

    @property
    def verifier(self) -> Verifier:
        """The matching :class:`Verifier`."""
        return Verifier.from_vkey(self.vkey)

    def sign_raw(self, message: bytes) -> bytes:
        """Return the 64-byte plain Ed25519 signature (RFC 8032) of the bytes ``message``.

        For publisher signatures over binary log leaves; check it with
        :meth:`Verifier.verify_raw`. It is distinct from a note signature (:func:`sign`): no
        key ID, no note-text rules, no cosignature header. The seed never leaves C and the GIL
        is released while signing.

        WARNING: a note signature *is* Ed25519 over the note text, so ``sign_raw`` of a message
        that is valid note text (or, for a :class:`Cosigner`, a ``cosignature/v1`` message)
        is also a valid note signature (cosignature) over it. Sign only data that cannot be note
        text, such as msgpack leaves, or keep a separate key for raw signatures.
        """
        return self._k.sign_raw(_bytes(message, "message"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, key_id={self.key_id:08x})"


class Cosigner(Signer):
    """A tlog-cosignature/v1 Ed25519 cosigner (type 0x04), as a witness uses.

    ``from_skey`` takes a type 0x04 skey or, as transparency-dev/formats does, a type 0x01 one
    (the same seed; the cosigner's key ID is computed with 0x04). ``skey`` exports type 0x04.
    """

    __slots__ = ()
    _ALG = ALG_COSIGNATURE_V1


_KeyLike = Union[Verifier, Signer]


def _as_verifier(v) -> Verifier:
    if isinstance(v, Verifier):
        return v
    if isinstance(v, Signer):
        return v.verifier
    raise TypeError(f"expected a Verifier, not {type(v).__name__}")


class Signature(NamedTuple):
    """One signature line: key name, key ID and the signature bytes after the key ID
    (for a cosignature: 8-byte timestamp || Ed25519 signature)."""

    name: str
    key_id: int
    sig: bytes

    @property
    def line(self) -> str:
        """The signature line, ``— name base64(key ID || sig)\\n``."""
        raw = self.key_id.to_bytes(4, "big") + self.sig
        return f"\u2014 {self.name} {base64.b64encode(raw).decode()}\n"

    @property
    def timestamp(self) -> int | None:
        """The timestamp field if the signature has the cosignature/v1 shape, else None.

        Unverified: use :attr:`Note.timestamps` of an opened note for trusted values.
        """
        return int.from_bytes(self.sig[:8], "big") if len(self.sig) == 72 else None


@dataclass(frozen=True)
class Note:
    """A parsed signed note.

    ``text`` ends in a newline; ``signatures`` lists every signature line in order (known or
    not); ``verified_by`` lists the verifiers whose signatures verified (empty from
    :func:`parse`); ``timestamps`` maps each verified cosigner to its cosignature timestamp.
    """

    text: str
    signatures: list[Signature]
    verified_by: list[Verifier] = field(default_factory=list)
    timestamps: dict[Verifier, int] = field(default_factory=dict)

    def format(self) -> str:
        """Serialize the note again (text, blank line, signature lines)."""
        return self.text + "\n" + "".join(s.line for s in self.signatures)


def parse(signed: str | bytes) -> Note:
    """Split a signed note into text and signature lines without verifying anything.

    Raises FormatError when it is not a well-formed note (no blank line, text or signatures not
    ending in a newline, bad base64, invalid key names, more than 100 signatures, invalid UTF-8
    or control characters) and LimitError over 1 MiB.
    """
    text, sigs = _core.note_parse(_utf8(signed, "note"))
    return Note(text, [Signature(*s) for s in sigs])


def open(signed: str | bytes, verifiers: Iterable[_KeyLike]) -> Note:  # noqa: A001
    """Parse and verify a signed note against known verifiers.

    Signature lines whose (name, key ID) match no verifier are ignored. Raises VerifyError when a
    line from a known key does not verify, a known key signed more than once, or no known key
    signed; FormatError/LimitError as :func:`parse`; InvalidArgument when two different
    verifiers share a name and key ID. Cosignature (type 0x04) verifiers verify cosignatures of
    checkpoint notes and report their timestamps in :attr:`Note.timestamps`.
    """
    if isinstance(verifiers, (Verifier, Signer, str)):
        raise TypeError("verifiers must be a list of Verifier objects")
    vs = [_as_verifier(v) for v in verifiers]
    text, sigs, kidx, times = _core.note_open(_utf8(signed, "note"), [v._k for v in vs])
    verified: list[Verifier] = []
    stamps: dict[Verifier, int] = {}
    for k, t in zip(kidx, times):
        if k >= 0:
            verified.append(vs[k])
            if t is not None:
                stamps[vs[k]] = t
    return Note(text, [Signature(*s) for s in sigs], verified, stamps)


def _merge(text: str, old: Sequence[Signature], new_lines: list[str],
           new_keys: list[tuple[str, int]]) -> str:
    if len(set(new_keys)) != len(new_keys):
        raise InvalidArgument("the same key signs twice")
    replaced = set(new_keys)
    kept = [s.line for s in old if (s.name, s.key_id) not in replaced]
    if len(kept) + len(new_lines) > MAX_SIGNATURES:
        raise LimitError(f"a note carries at most {MAX_SIGNATURES} signatures")
    return text + "\n" + "".join(kept) + "".join(new_lines)


def sign(text: str | Note, signers: Iterable[Signer], *, timestamp: int | None = None) -> str:
    """Sign ``text`` with each signer and return the signed note.

    ``text`` is note text ending in a newline (FormatError otherwise: it must be UTF-8 without
    control characters but newlines), or a :class:`Note` (from :func:`parse`/:func:`open`) whose
    signatures are kept, except those by the same keys as ``signers``, which are replaced;
    new signature lines come last. :class:`Cosigner` entries cosign (the text must then be a
    checkpoint) at ``timestamp`` (default: now).
    """
    if isinstance(text, Note):
        body, old = text.text, text.signatures
    else:
        body, old = _decode(_utf8(text, "text"), "text"), []
    if isinstance(signers, Signer):
        raise TypeError("signers must be a list of Signer objects")
    signers = list(signers)
    if not signers:
        raise InvalidArgument("sign needs at least one signer")
    for s in signers:
        if not isinstance(s, Signer):
            raise TypeError(f"expected a Signer, not {type(s).__name__}")
    ts = int(time.time()) if timestamp is None else _timestamp(timestamp)
    raw = body.encode("utf-8")
    lines = [s._k.sign_line(raw, ts) for s in signers]
    return _merge(body, old, lines, [(s.name, s.key_id) for s in signers])


def add_signatures(signed: str | bytes | Note, lines: Iterable[str]) -> str:
    """Add signature lines (e.g. witness cosignatures) to a signed note; return the new note.

    A new line replaces an existing one from the same (name, key ID). Nothing is verified here:
    :func:`open` the result. Raises FormatError for malformed lines, LimitError beyond 100
    signatures, InvalidArgument when two new lines come from the same key.
    """
    n = signed if isinstance(signed, Note) else parse(signed)
    if isinstance(lines, str):
        lines = [lines]
    joined = "".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines)
    if not joined:
        return n.format()
    new = parse(n.text + "\n" + joined).signatures
    return _merge(n.text, n.signatures, [s.line for s in new], [(s.name, s.key_id) for s in new])


def _checkpoint_text(checkpoint) -> bytes:
    if isinstance(checkpoint, Checkpoint):
        return checkpoint.format().encode("utf-8")
    if isinstance(checkpoint, Note):
        return checkpoint.text.encode("utf-8")
    return _utf8(checkpoint, "checkpoint")


def cosign(checkpoint: str | Checkpoint | Note, cosigner: Cosigner, timestamp: int) -> str:
    """Return the cosignature/v1 line ``— name base64(id || timestamp || sig)\\n`` of
    ``cosigner`` over a checkpoint body (text, :class:`Checkpoint` or an opened :class:`Note`).

    Raises FormatError when the text is not a checkpoint, InvalidArgument for a timestamp
    outside [0, 2^63).
    """
    if not isinstance(cosigner, Cosigner):
        raise TypeError("cosign needs a Cosigner")
    return cosigner._k.sign_line(_checkpoint_text(checkpoint), _timestamp(timestamp))


def verify_cosignature(checkpoint: str | Checkpoint | Note, line: str,
                       verifier: Verifier) -> int:
    """Verify one cosignature line over a checkpoint body; return its timestamp.

    Raises VerifyError if it does not verify with ``verifier`` (a type 0x04 key; else
    InvalidArgument), FormatError for a malformed line or checkpoint.
    """
    verifier = _as_verifier(verifier)
    if not verifier.is_cosigner:
        raise InvalidArgument("verify_cosignature needs a cosignature (type 0x04) verifier")
    body = _decode(_checkpoint_text(checkpoint), "checkpoint")
    if not isinstance(line, str):
        raise TypeError("line must be a str")
    n = open(body + "\n" + (line if line.endswith("\n") else line + "\n"), [verifier])
    if verifier not in n.timestamps:
        raise VerifyError("verification failed")
    return n.timestamps[verifier]


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, tree size, 32-byte root hash and extension lines.

    Constructing one validates it (InvalidArgument: empty origin, newlines or control characters
    in a line, an empty extension line, a root that is not 32 bytes, a size outside [0, 2^64)).
    """

    origin: str
    size: int
    root: bytes
    extensions: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        ext = f", extensions={self.extensions!r}" if self.extensions else ""
        return (f"Checkpoint(origin={self.origin!r}, size={self.size}, "
                f"root={bytes(self.root).hex()}{ext})")

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str):
            raise TypeError("origin must be a str")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise TypeError("size must be an int")
        if not 0 <= self.size < 1 << 64:
            raise InvalidArgument("size must be in [0, 2^64)")
        if not isinstance(self.root, (bytes, bytearray, memoryview)):
            raise TypeError("root must be bytes")
        object.__setattr__(self, "root", bytes(self.root))
        if len(self.root) != 32:
            raise InvalidArgument("root must be 32 bytes")
        if isinstance(self.extensions, str):
            raise TypeError("extensions must be a list of lines")
        ext = list(self.extensions)
        for e in ext:
            if not isinstance(e, str):
                raise TypeError("extension lines must be str")
            if not e or "\n" in e:
                raise InvalidArgument("extension lines must be non-empty single lines")
        object.__setattr__(self, "extensions", ext)
        if not self.origin or "\n" in self.origin:
            raise InvalidArgument("origin must be a non-empty single line")
        self.format()  # everything else (control characters) is checked by the C formatter

    @classmethod
    def parse(cls, text: str | bytes) -> Checkpoint:
        """Parse a checkpoint body strictly (FormatError): a non-empty origin line; the size in
        decimal without sign or leading zeros, below 2^64; the root as canonical base64 of
        exactly 32 bytes; then only non-empty extension lines; all ending in newlines."""
        origin, size, root, ext = _core.checkpoint_parse(_utf8(text, "checkpoint"))
        return cls(origin, size, root, ext.split("\n")[:-1])

    def format(self) -> str:
        """Return the checkpoint body text (ends in a newline)."""
        try:
            ext = "".join(e + "\n" for e in self.extensions).encode("utf-8")
            origin = self.origin.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument("checkpoint lines must be valid UTF-8") from None
        return _core.checkpoint_format(origin, self.size, self.root, ext)


class Proof(NamedTuple):
    """A parsed tlog-proof: leaf index, inclusion proof hashes, the signed checkpoint note and
    the optional extra data (None when absent; not authenticated)."""

    index: int  # type: ignore[assignment]  # the field shadows tuple.index, as documented
    hashes: list[bytes]
    checkpoint: str
    extra: bytes | None = None


class ProofResult(NamedTuple):
    """What :func:`verify_proof` checked: the leaf index, the checkpoint, and the timestamp of
    each witness whose cosignature verified (None for a plain type 0x01 witness signature)."""

    index: int  # type: ignore[assignment]  # the field shadows tuple.index, as documented
    checkpoint: Checkpoint
    timestamps: dict[Verifier, int | None]


def format_proof(index: int, hashes: Sequence[bytes], signed_checkpoint: str | bytes,
                 extra: bytes | None = None) -> str:
    """Write a c2sp.org/tlog-proof@v1: header, ``extra`` line if given, ``index``, the hashes
    in base64, a blank line, then the signed checkpoint verbatim.

    Raises InvalidArgument when a hash is not 32 bytes, there are more than 64, ``index`` is not
    in [0, 2^64), or the checkpoint is not a well-formed signed checkpoint note.
    """
    if not isinstance(index, int) or isinstance(index, bool):
        raise TypeError("index must be an int")
    if not 0 <= index < 1 << 64:
        raise InvalidArgument("index must be in [0, 2^64)")
    if extra is not None and not isinstance(extra, (bytes, bytearray, memoryview)):
        raise TypeError("extra must be bytes or None")
    return _core.tlog_proof_format(index, list(hashes), _utf8(signed_checkpoint, "checkpoint"),
                                   None if extra is None else bytes(extra))


def parse_proof(text: str | bytes) -> Proof:
    """Parse a c2sp.org/tlog-proof@v1 strictly (FormatError): header; optional
    ``extra <base64>``; ``index <decimal, no leading zeros>``; at most 64 base64 32-byte hashes;
    a blank line; a well-formed signed note whose text is a checkpoint (not verified here)."""
    index, hashes, extra, checkpoint = _core.tlog_proof_parse(_utf8(text, "proof"))
    return Proof(index, hashes, checkpoint, extra)


def verify_proof(leaf: bytes, proof: str | bytes | Proof, log_verifier: _KeyLike,
                 witness_verifiers: Iterable[_KeyLike] = (), quorum: int = 0, *,
                 leaf_is_hash: bool = False, origin: str | None = None) -> ProofResult:
    """Verify a tlog-proof offline: the leaf is included in a checkpoint signed by the log and
    cosigned by at least ``quorum`` of the witnesses.

    This is the format-level primitive; :func:`pcc.transparency.verify_proof` is the policy
    check built on the same rules (freshness, failures named by check, ``(index, checkpoint)``
    returned) that clients and ``pcc log verify`` use.

    ``leaf`` is the leaf data (hashed with :func:`pcc.merkle.leaf_hash`), or its leaf hash when
    ``leaf_is_hash`` is true. Checks, in order: the proof parses (FormatError); every signature
    from the log or a listed witness verifies and the log's does (VerifyError); the checkpoint's
    origin is ``origin`` (default: the log key's name); at least ``quorum`` distinct witnesses
    (other than the log key) verified; the inclusion proof of ``leaf`` at the proof's index
    against the checkpoint's size and root (VerifyError). Returns a :class:`ProofResult`; check
    freshness from its timestamps. ``quorum`` must be in [0, number of witnesses]
    (InvalidArgument).
    """
    lv = _as_verifier(log_verifier)
    if isinstance(witness_verifiers, (Verifier, Signer)):
        raise TypeError("witness_verifiers must be a list")
    ws: list[Verifier] = []
    for w in witness_verifiers:
        w = _as_verifier(w)
        if w != lv and w not in ws:
            ws.append(w)
    if not isinstance(quorum, int) or isinstance(quorum, bool):
        raise TypeError("quorum must be an int")
    if not 0 <= quorum <= len(ws):
        raise InvalidArgument("quorum must be between 0 and the number of witnesses")
    p = proof if isinstance(proof, Proof) else parse_proof(proof)
    n = open(p.checkpoint, [lv, *ws])
    if lv not in n.verified_by:
        raise VerifyError("verification failed")
    cp = Checkpoint.parse(n.text)
    if cp.origin != (lv.name if origin is None else origin):
        raise VerifyError("verification failed")
    seen = {w: n.timestamps.get(w) for w in ws if w in n.verified_by}
    if len(seen) < quorum:
        raise VerifyError("verification failed")
    lh = leaf if leaf_is_hash else merkle.leaf_hash(leaf)
    merkle.verify_inclusion(lh, p.index, cp.size, p.hashes, cp.root)
    return ProofResult(p.index, cp, seen)
