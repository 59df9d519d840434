"""Signed notes for the log, the witness and their clients, on top of :mod:`pcc.note`.

- keys: C2SP signed-note ``skey``/``vkey`` strings; Ed25519 note keys (type 0x01) for logs and
  publishers, timestamped Ed25519 cosigner keys (type 0x04, c2sp.org/tlog-cosignature) for
  witnesses;
- checkpoints (c2sp.org/tlog-checkpoint), cosignatures, tlog-proofs: :mod:`pcc.note`;
- helpers the services need on top: a note split into text and signature lines, per-line
  cosignature checks (a forged line from a known name does not count), strict decimals.
"""
from __future__ import annotations

import base64
import dataclasses
import pathlib
import re
import typing

from pcc import note
from pcc.errors import FormatError, InvalidArgument, PccError, UnsupportedError, VerifyError

PROOF_HEADER = note.PROOF_HEADER
_DEC_RE = re.compile(r"^(0|[1-9][0-9]{0,18})$")


def b64(data: bytes) -> str:
    """Standard base64 (RFC 4648 §4) with padding."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    """Strict standard base64: alphabet, padding and canonical form checked."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise FormatError(f"{what}: bad base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise FormatError(f"{what}: non-canonical base64")
    return raw


def decimal(text: str, what: str) -> int:
    """An ASCII decimal with no leading zeroes, below 2**63."""
    if not _DEC_RE.match(text) or int(text) > (1 << 63) - 1:
        raise FormatError(f"{what}: bad decimal")
    return int(text)


# ----------------------------------------------------------------------------- keys

def read_key_file(path: str | pathlib.Path) -> str:
    """Read a key file holding one skey or vkey line."""
    text = pathlib.Path(path).read_text(encoding="utf-8").strip()
    if "\n" in text or not text:
        raise FormatError("key file must hold exactly one key line")
    return text


def load_signer(skey):
    """A note signer from an skey: :class:`note.Signer` for type 0x01, :class:`note.Cosigner`
    for type 0x04. ``skey`` may be the text, a bytes-like holding it (parsed in place: no
    Python ``str`` of it is made; wiping it is the caller's job), or a signer (returned as is).
    """
    if isinstance(skey, note.Signer):
        return skey
    if isinstance(skey, (bytes, bytearray, memoryview)):
        return _signer_from_buffer(skey, cosigner=False)
    try:
        return note.Signer.from_skey(skey.strip())
    except UnsupportedError:
        return note.Cosigner.from_skey(skey.strip())


_SPACE = b" \t\r\n"
_KEY_FILE_MAX = 4096
_SKEY_PREFIX = b"PRIVATE+KEY+"


def _buf(view: memoryview) -> bytes:
    """The C parser takes any contiguous buffer (its stub says bytes): no copy is made."""
    return typing.cast(bytes, view)


def _signer_from_buffer(buf, *, cosigner: bool):
    """Parse an skey held in a bytes-like without copying it into Python objects: surrounding
    white space is skipped by slicing a memoryview. ``cosigner``: always a :class:`note.Cosigner`
    (a type 0x01 skey gives the cosigner of the same seed)."""
    from pcc import _core
    with memoryview(buf) as mv:
        a, b = 0, len(mv)
        while a < b and mv[a] in _SPACE:
            a += 1
        while b > a and mv[b - 1] in _SPACE:
            b -= 1
        with mv[a:b] as key:
            if key[:len(_SKEY_PREFIX)] != _SKEY_PREFIX:
                raise FormatError("not a private key (an skey starts with PRIVATE+KEY+)")
            if any(c in _SPACE for c in key):
                raise FormatError("key file must hold exactly one key line")
            if not cosigner:
                try:
                    return note.Signer(_core.note_key_from_skey(_buf(key), note.ALG_ED25519))
                except UnsupportedError:
                    pass
            return note.Cosigner(_core.note_key_from_skey(_buf(key), note.ALG_COSIGNATURE_V1))


def read_signer_file(path: str | pathlib.Path, *, cosigner: bool = False):
    """Load the signer in an skey file, keeping the key text out of Python strings.

    The file is read straight into a ``bytearray``, parsed in place into a signer whose seed
    lives in secure C memory, and the ``bytearray`` is overwritten with zeroes on every path.
    ``cosigner`` asks for a :class:`note.Cosigner` (a witness key). Raises
    :class:`FormatError` for anything but one skey line, ``OSError`` when unreadable.
    """
    buf = bytearray(_KEY_FILE_MAX + 1)
    try:
        n = 0
        with open(path, "rb", buffering=0) as f, memoryview(buf) as mv:
            while n < len(buf):
                k = f.readinto(mv[n:])
                if not k:
                    break
                n += k
        if n > _KEY_FILE_MAX:
            raise FormatError(f"key file is larger than {_KEY_FILE_MAX} bytes")
        with memoryview(buf) as mv, mv[:n] as key:
            return _signer_from_buffer(key, cosigner=cosigner)
    finally:
        buf[:] = bytes(len(buf))


def load_verifier(vkey: str) -> note.Verifier:
    """A note verifier from a vkey (``name+id+base64(type || key)``)."""
    return note.Verifier.from_vkey(vkey.strip())


def generate(name: str, *, cosigner: bool = False) -> tuple[str, str]:
    """A fresh key pair as ``(skey, vkey)``: Ed25519 note key, or a tlog-cosignature (0x04)
    witness key when ``cosigner``."""
    s = (note.Cosigner if cosigner else note.Signer).generate(name)
    return s.skey, s.vkey


def key_name(key) -> str:
    """The key name of a signer or verifier."""
    return key.name


def raw_sign(signer: note.Signer | str, message: bytes) -> bytes:
    """A plain Ed25519 signature (64 bytes) over ``message`` (how a publisher signs a leaf) by
    a note signer, or by the signer of an skey text (parsed by :func:`load_signer`; load it once
    when signing many). Uses :meth:`note.Signer.sign_raw`: the seed stays in the C core."""
    s = load_signer(signer) if isinstance(signer, str) else signer
    if not isinstance(s, note.Signer):
        raise TypeError(f"raw_sign needs a note.Signer or an skey, not {type(s).__name__}")
    return s.sign_raw(message)


def raw_verify(verifier: note.Verifier, message: bytes, sig: bytes) -> bool:
    """Whether ``sig`` is a valid plain Ed25519 signature over ``message`` by ``verifier``."""
    try:
        verifier.verify_raw(message, sig)
    except VerifyError:
        return False
    return True


# ----------------------------------------------------------------------------- notes

def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The checkpoint note text ``origin\\nsize\\nbase64(root)\\n``."""
    return note.Checkpoint(origin, size, root).format()


@dataclasses.dataclass(frozen=True)
class SignedNote:
    """A note split into its text and its signature lines (each without the newline)."""

    text: str
    lines: tuple[str, ...]

    def format(self) -> str:
        """The note as text: body, blank line, signature lines."""
        return self.text + "\n" + "".join(line + "\n" for line in self.lines)


def split_note(signed: str) -> SignedNote:
    """Parse a signed note (strictly, in C) without verifying it."""
    if not isinstance(signed, str):
        raise TypeError("note must be a str")
    try:
        n = note.parse(signed)
    except PccError as e:
        raise FormatError(f"note: {e}") from None
    return SignedNote(n.text, tuple(s.line.rstrip("\n") for s in n.signatures))


def parse_sig_lines(lines) -> list[note.Signature]:
    """Parse signature lines (without or with newlines) strictly."""
    body = "".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines)
    if not body:
        raise FormatError("no signature lines")
    try:
        return note.parse("x\n\n" + body).signatures
    except PccError as e:
        raise FormatError(f"signature lines: {e}") from None


def parse_checkpoint(text: str) -> note.Checkpoint:
    """Parse a checkpoint note text (no signatures)."""
    return note.Checkpoint.parse(text)


def sign_checkpoint(signer, text: str) -> SignedNote:
    """Sign checkpoint text with the log key."""
    return split_note(note.sign(text, [signer]))


def open_note(signed: str, verifiers) -> SignedNote:
    """Verify ``signed`` with ``verifiers`` (at least one must have signed and all matching
    signatures must verify); raises :class:`VerifyError` / :class:`FormatError`."""
    parsed = split_note(signed)
    note.open(signed, list(verifiers))
    return parsed


def cosign(cosigner, text: str, timestamp: int) -> str:
    """A tlog-cosignature/v1 line (no newline) by a witness key over checkpoint ``text``."""
    return note.cosign(text, cosigner, timestamp).rstrip("\n")


def valid_cosignatures(text: str, lines, witnesses) -> list[tuple[str, int, str]]:
    """Check each signature line against the witness verifiers (type 0x04 vkeys).

    Returns ``(witness name, timestamp, line)`` for every line that is a valid cosignature of
    checkpoint ``text`` by one of ``witnesses``. Lines from unknown keys are ignored (C2SP
    signed-note); a line from a known key that fails to verify is dropped.
    """
    out = []
    for sig in parse_sig_lines(lines):
        for w in witnesses:
            if w.name != sig.name or w.key_id != sig.key_id or not w.is_cosigner:
                continue
            try:
                ts = note.verify_cosignature(text, sig.line, w)
            except (VerifyError, FormatError, InvalidArgument):
                continue
            out.append((w.name, ts, sig.line.rstrip("\n")))
    return out


def verify_cosignatures(text: str, lines, witnesses) -> dict[str, int]:
    """``{witness name: newest valid cosignature timestamp}`` over checkpoint ``text``."""
    out: dict[str, int] = {}
    for name, ts, _ in valid_cosignatures(text, lines, witnesses):
        out[name] = max(ts, out.get(name, -1))
    return out


# ----------------------------------------------------------------------------- tlog-proof

def format_proof(index: int, hashes, checkpoint_note: str, extra: bytes | None = None) -> str:
    """Format a c2sp.org/tlog-proof@v1."""
    return note.format_proof(index, list(hashes), checkpoint_note, extra)


def parse_proof(text: str) -> note.Proof:
    """Parse a c2sp.org/tlog-proof@v1 strictly (raises :class:`FormatError`)."""
    if not isinstance(text, str):
        raise TypeError("proof must be a str")
    try:
        return note.parse_proof(text)
    except PccError as e:
        raise FormatError(f"tlog-proof: {e}") from None
