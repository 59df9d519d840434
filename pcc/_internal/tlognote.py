"""Signed notes for the log, the witness and their clients: the one place that calls pcc.note.

- keys: C2SP signed-note ``skey``/``vkey`` strings; Ed25519 note keys (type 0x01) for logs and
  publishers, timestamped Ed25519 cosigner keys (type 0x04, c2sp.org/tlog-cosignature) for
  witnesses;
- checkpoints (c2sp.org/tlog-checkpoint): ``origin\\nsize\\nbase64(root)\\n``;
- strict parsing of note signature lines and of c2sp.org/tlog-proof@v1 text.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import pathlib
import re

from pcc import note
from pcc.errors import FormatError, InvalidArgument, PccError, VerifyError

EM_DASH = "\u2014"
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 63
MAX_NOTE = 64 * 1024
MAX_SIGNATURES = 64
_NAME_RE = re.compile(r"^[^\s+\u2014]+$")
_DEC_RE = re.compile(r"^(0|[1-9][0-9]{0,18})$")


# ----------------------------------------------------------------------------- base64, decimals

def b64(data: bytes) -> str:
    """Standard base64 (RFC 4648 §4) with padding."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    """Strict standard base64: alphabet, padding and canonical form checked."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
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


def load_signer(skey: str):
    """A note signer from an skey string (``PRIVATE+KEY+name+id+base64``)."""
    return note.Signer.from_skey(skey.strip())


def load_verifier(vkey: str):
    """A note verifier from a vkey string (``name+id+base64``)."""
    return note.Verifier.from_vkey(vkey.strip())


def generate(name: str, *, cosigner: bool = False) -> tuple[str, str]:
    """A fresh key pair as ``(skey, vkey)``: Ed25519 note key, or a tlog-cosignature (0x04)
    witness key when ``cosigner``."""
    s = note.Signer.generate(name, cosignature=cosigner) if cosigner else \
        note.Signer.generate(name)
    return s.skey, s.vkey


def signer_vkey(signer) -> str:
    """The vkey of a signer."""
    return signer.vkey


def key_name(key) -> str:
    """The key name of a signer or verifier."""
    return key.name


def raw_sign(signer, message: bytes) -> bytes:
    """A plain Ed25519 signature (64 bytes) over ``message`` with a note key."""
    return bytes(signer.sign(bytes(message)))


def raw_verify(verifier, message: bytes, sig: bytes) -> bool:
    """Whether ``sig`` is a valid plain Ed25519 signature over ``message``."""
    if len(sig) != 64:
        return False
    try:
        return bool(verifier.verify(bytes(message), bytes(sig)))
    except PccError:
        return False


# ----------------------------------------------------------------------------- checkpoints

def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """The checkpoint note text ``origin\\nsize\\nbase64(root)\\n``."""
    if len(root) != 32:
        raise InvalidArgument("root must be 32 bytes")
    return f"{origin}\n{size}\n{b64(root)}\n"


@dataclasses.dataclass(frozen=True)
class SignedNote:
    """A note split into its text and its signature lines (each without the newline)."""

    text: str
    lines: tuple[str, ...]

    def format(self) -> str:
        """The note as text: body, blank line, signature lines."""
        return self.text + "\n" + "".join(line + "\n" for line in self.lines)


@dataclasses.dataclass(frozen=True)
class SigLine:
    """One parsed signature line."""

    name: str
    key_id: bytes
    sig: bytes
    line: str


def parse_sig_line(line: str) -> SigLine:
    """Parse ``— <name> base64(keyID || sig)`` (no trailing newline)."""
    if not line.startswith(EM_DASH + " "):
        raise FormatError("note: signature line must start with an em dash")
    rest = line[2:]
    parts = rest.split(" ")
    if len(parts) != 2 or not _NAME_RE.match(parts[0]):
        raise FormatError("note: bad signature line")
    raw = unb64(parts[1], "note signature")
    if len(raw) < 5:
        raise FormatError("note: signature too short")
    return SigLine(parts[0], raw[:4], raw[4:], line)


def split_note(signed: str) -> SignedNote:
    """Split a signed note at its last blank line and parse the signature lines strictly."""
    if not isinstance(signed, str):
        raise TypeError("note must be a str")
    if len(signed) > MAX_NOTE:
        raise FormatError("note: too large")
    if any((ord(c) < 0x20 and c != "\n") for c in signed):
        raise FormatError("note: control character")
    if not signed.endswith("\n"):
        raise FormatError("note: must end with a newline")
    i = signed.rfind("\n\n")
    if i < 0:
        raise FormatError("note: no signatures")
    text, sigs = signed[:i + 1], signed[i + 2:]
    lines = sigs[:-1].split("\n") if sigs else []
    if not lines or len(lines) > MAX_SIGNATURES:
        raise FormatError("note: bad number of signatures")
    for line in lines:
        parse_sig_line(line)
    return SignedNote(text, tuple(lines))


def parse_checkpoint(text: str):
    """Parse a checkpoint note text (no signatures); returns a ``note.Checkpoint``."""
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


def cosign(signer, text: str, timestamp: int) -> str:
    """A tlog-cosignature/v1 line (no newline) by a witness key over checkpoint ``text``."""
    line = note.cosign(text, signer, timestamp)
    return line.rstrip("\n")


def cosignature_time(sig: SigLine) -> int:
    """The timestamp of a tlog-cosignature/v1 signature line (not verified)."""
    if len(sig.sig) != 8 + 64:
        raise FormatError("cosignature: must be timestamp + 64-byte signature")
    ts = int.from_bytes(sig.sig[:8], "big")
    if ts > (1 << 63) - 1:
        raise FormatError("cosignature: timestamp out of range")
    return ts


def valid_cosignatures(text: str, lines, witnesses) -> list[tuple[str, int, str]]:
    """Check each signature line against the witness verifiers (type 0x04 vkeys).

    Returns ``(witness name, timestamp, line)`` for every line that is a valid cosignature by
    one of ``witnesses``. Lines from unknown keys are ignored (C2SP signed-note); a line from a
    known key that fails to verify is dropped.
    """
    out = []
    for line in lines:
        sig = parse_sig_line(line) if isinstance(line, str) else line
        for w in witnesses:
            if w.name != sig.name or bytes(w.key_id) != sig.key_id:
                continue
            try:
                ts = cosignature_time(sig)
                note.open(text + "\n" + sig.line + "\n", [w])
            except (VerifyError, FormatError):
                continue
            out.append((w.name, ts, sig.line))
    return out


def verify_cosignatures(text: str, lines, witnesses) -> dict[str, int]:
    """``{witness name: newest valid cosignature timestamp}`` over checkpoint ``text``."""
    out: dict[str, int] = {}
    for name, ts, _ in valid_cosignatures(text, lines, witnesses):
        out[name] = max(ts, out.get(name, -1))
    return out


# ----------------------------------------------------------------------------- tlog-proof

@dataclasses.dataclass(frozen=True)
class Proof:
    """A parsed c2sp.org/tlog-proof@v1."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str          # the signed checkpoint note, verbatim
    extra: bytes | None = None


def format_proof(index: int, hashes, checkpoint_note: str, extra: bytes | None = None) -> str:
    """Format a c2sp.org/tlog-proof@v1."""
    out = [PROOF_HEADER]
    if extra is not None:
        out.append("extra " + b64(extra))
    out.append(f"index {index}")
    out.extend(b64(h) for h in hashes)
    return "\n".join(out) + "\n\n" + checkpoint_note


def parse_proof(text: str) -> Proof:
    """Parse a c2sp.org/tlog-proof@v1 strictly (raises :class:`FormatError`)."""
    if not isinstance(text, str):
        raise TypeError("proof must be a str")
    if len(text) > MAX_NOTE + 8192:
        raise FormatError("tlog-proof: too large")
    head, sep, cp = text.partition("\n\n")
    if not sep:
        raise FormatError("tlog-proof: no checkpoint")
    lines = head.split("\n")
    if lines[0] != PROOF_HEADER:
        raise FormatError("tlog-proof: bad header line")
    pos = 1
    extra = None
    if pos < len(lines) and lines[pos].startswith("extra "):
        extra = unb64(lines[pos][6:], "tlog-proof extra")
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise FormatError("tlog-proof: missing index line")
    index = decimal(lines[pos][6:], "tlog-proof index")
    hashes = []
    for line in lines[pos + 1:]:
        h = unb64(line, "tlog-proof hash")
        if len(h) != 32:
            raise FormatError("tlog-proof: hash must be 32 bytes")
        hashes.append(h)
    if len(hashes) > MAX_PROOF_HASHES:
        raise FormatError("tlog-proof: too many hashes")
    split_note(cp)
    return Proof(index, tuple(hashes), cp, extra)
