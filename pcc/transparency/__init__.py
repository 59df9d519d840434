"""Offline verification of transparency-log proofs (c2sp.org/tlog-proof@v1).

A proof carries a leaf index, an RFC 9162 inclusion proof and the log's checkpoint with the
witnesses' tlog-cosignature/v1 lines. :func:`verify_proof` checks it against pinned keys::

    index, checkpoint = transparency.verify_proof(leaf, proof_text, log_vkey,
                                                  witness_vkeys, quorum=2, max_age_s=86400)

Every check is named; the :class:`pcc.errors.VerifyError` raised on failure names the check
that failed in its message and in its ``check`` attribute (this is public data, so naming it
leaks nothing): ``proof format``, ``checkpoint signature``, ``checkpoint format``,
``checkpoint origin``, ``inclusion``, ``witness quorum``, ``freshness``. ``pcc log verify``
prints the same checks one per line.

Two functions verify tlog-proofs, for two audiences:

- :func:`pcc.transparency.verify_proof` (here) is the *policy* check that clients, nodes and
  the CLI use: vkey strings in, freshness included, ``(index, checkpoint)`` out, failures named
  by check;
- :func:`pcc.note.verify_proof` is the *format-level* primitive under it (C2SP signed notes):
  verifier objects or vkeys in, a :class:`pcc.note.ProofResult` with every cosignature timestamp
  out, freshness left to the caller.

Keys are vkey *strings* (or :class:`pcc.note.Verifier` objects); to use a key file, read it
first (``pathlib.Path(f).read_text().strip()``); the CLI accepts either.
"""
from __future__ import annotations

import time
from typing import Iterable, Sequence

from pcc import merkle, note
from pcc.transparency import _note as tlognote
from pcc.errors import FormatError, InvalidArgument, PccError, VerifyError
from pcc.transparency._note import read_signer_file

CHECKS = ("proof format", "checkpoint signature", "checkpoint format", "checkpoint origin",
          "inclusion", "witness quorum", "freshness")

# Cosignatures dated further than this into the future do not count as fresh.
MAX_CLOCK_SKEW_S = 300


def _fail(check: str) -> VerifyError:
    e = VerifyError(f"tlog proof: {check} check failed")
    e.check = check  # type: ignore[attr-defined]
    return e


def _verifier(key, what: str):
    if isinstance(key, str):
        try:
            return tlognote.load_verifier(key)
        except PccError:
            hint = (" (this is a private skey: pass the public vkey)"
                    if key.startswith("PRIVATE+KEY+") else
                    " (pass the key text, NAME+KEYID+BASE64, not a file name)")
            raise InvalidArgument(f"{what} is not a valid vkey{hint}") from None
    return key


def verify_proof(leaf: bytes, proof: str, log_vkey, witness_vkeys: Sequence = (),
                 quorum: int = 0, max_age_s: float | None = None, *,
                 now: float | None = None):
    """Verify that ``leaf`` is in the log per ``proof``; return ``(index, checkpoint)``.

    ``log_vkey`` is the log's vkey (its key name must equal the checkpoint origin);
    ``witness_vkeys`` are the trusted witnesses' cosigner vkeys (type 0x04), of which ``quorum``
    distinct ones must have cosigned the checkpoint; with ``max_age_s`` set, ``quorum`` of those
    cosignatures must also be at most ``max_age_s`` old (freshness needs witnesses: with a
    quorum of 0 and ``max_age_s`` set the freshness check fails). ``checkpoint`` is a
    ``pcc.note.Checkpoint``. Raises :class:`VerifyError` naming the failed check.
    """
    if not isinstance(leaf, (bytes, bytearray, memoryview)):
        raise TypeError("leaf must be bytes")
    if not isinstance(proof, str):
        raise TypeError("proof must be a str")
    if not isinstance(quorum, int) or isinstance(quorum, bool) or quorum < 0:
        raise InvalidArgument("quorum must be a non-negative int")
    log_v = _verifier(log_vkey, "log_vkey")
    wits = [_verifier(w, "witness vkey") for w in witness_vkeys]
    if any(not w.is_cosigner for w in wits):
        raise InvalidArgument("witness vkeys must be cosigner (type 0x04) keys")
    names = [tlognote.key_name(w) for w in wits]
    if len(set(names)) != len(names):
        raise InvalidArgument("witness vkeys must have distinct names")
    if quorum > len(wits):
        raise InvalidArgument("quorum is larger than the number of witness keys")
    if now is None:
        now = time.time()

    # proof format
    try:
        p = tlognote.parse_proof(proof)
    except FormatError:
        raise _fail("proof format") from None
    # checkpoint signature (the log's own key) and the witnesses' cosignatures: one pass over
    # the note when every known signature verifies, else line by line so that a bad witness
    # line only costs that witness (and a bad log signature is named as such)
    try:
        n = note.open(p.checkpoint, [log_v, *wits])
        if log_v not in n.verified_by:
            raise VerifyError("verification failed")
        text = n.text
        stamps = {w.name: n.timestamps[w] for w in wits if w in n.timestamps}
    except (VerifyError, FormatError, InvalidArgument):
        try:
            signed = tlognote.open_note(p.checkpoint, [log_v])
        except (VerifyError, FormatError):
            raise _fail("checkpoint signature") from None
        text = signed.text
        stamps = tlognote.verify_cosignatures(text, signed.lines, wits) if wits else {}
    # checkpoint format
    try:
        cp = tlognote.parse_checkpoint(text)
    except FormatError:
        raise _fail("checkpoint format") from None
    if cp.origin != tlognote.key_name(log_v):
        raise _fail("checkpoint origin")
    # inclusion: index < size, hash lengths, the RFC 9162 path
    root = bytes(cp.root)
    if not 0 <= p.index < cp.size or len(root) != 32 or any(len(h) != 32 for h in p.hashes):
        raise _fail("inclusion")
    try:
        merkle.verify_inclusion(merkle.leaf_hash(bytes(leaf)), p.index, cp.size,
                                list(p.hashes), root)
    except (VerifyError, FormatError, InvalidArgument):
        raise _fail("inclusion") from None
    # witness quorum: distinct trusted witnesses with a valid cosignature
    if len(stamps) < quorum:
        raise _fail("witness quorum")
    # freshness
    if max_age_s is not None:
        fresh = [t for t in stamps.values() if now - max_age_s <= t <= now + MAX_CLOCK_SKEW_S]
        if quorum == 0 or len(fresh) < quorum:
            raise _fail("freshness")
    return p.index, cp


def cosignature_times(proof_or_note: str, witness_vkeys: Iterable) -> dict[str, int]:
    """``{witness name: timestamp}`` of the valid cosignatures in a proof or checkpoint note
    (signatures only; the log signature is not checked here)."""
    text = proof_or_note
    if text.startswith(tlognote.PROOF_HEADER):
        text = tlognote.parse_proof(text).checkpoint
    n = tlognote.split_note(text)
    wits = [_verifier(w, "witness vkey") for w in witness_vkeys]
    return tlognote.verify_cosignatures(n.text, n.lines, wits)


__all__ = ["verify_proof", "cosignature_times", "CHECKS", "read_signer_file"]
