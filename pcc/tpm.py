"""TPM 2.0 attestation: the node's TPM, quotes, and the checks a client or the provisioning CA runs.

Two halves:

- :class:`Tpm` is the node's side. It talks to a TPM 2.0 (a chip through ``device:/dev/tpmrm0``,
  or swtpm through ``swtpm:host=…,port=…``) via tpm2-tss. It creates the attestation key (AK) in
  the TPM — an ECC P-384 restricted signing key with fixedTPM and fixedParent, whose private part no
  TPM command releases — extends measurements into SHA-384 PCRs, quotes them, signs with the AK,
  reads the endorsement key (EK) certificate and answers the CA's credential challenge.
- Everything else needs no TPM and no TPM library (OpenSSL only): :func:`verify_quote` parses a
  quote (TPMS_ATTEST) as hostile input and checks it, :func:`check_ak` accepts only a
  non-exportable restricted signing key, :func:`check_ek_cert` checks an EK certificate against
  manufacturer roots, :func:`make_credential` is TPM2_MakeCredential in software, and
  :func:`challenge` strings the CA's side of provisioning together.

PCR rule. A measurement event ``(name, digest)`` of register ``r`` is extended into PCR
``pcrs[r]`` of the SHA-384 bank as ``e = SHA-384(SHA-384(name_utf8) || digest)``; the TPM then
sets ``PCR = SHA-384(PCR || e)``. :func:`replay` recomputes the PCRs from the events, starting at 48
zero bytes. The registers of a software node follow their own rule; the same events give both.

Bundle. A node with a TPM adds ``"tpm": {"v": 1, "pcrs": [p0, p1, p2], "attest": bin, "sig": bin}``
to the attestation body: a quote of the PCRs holding registers 0, 1, 2 whose qualifying data is
:func:`qualifying_data` of the body encoded without the ``tpm`` key, signed by the node's key
(the AK itself, certified by the provisioning CA with the :data:`AK_EKU_OID` extended key usage).
:func:`make_bundle_quote` builds it and :func:`check_bundle_quote` checks it.

Malformed input raises :class:`~pcc.errors.FormatError`; a quote, chain or credential that does not
verify raises :class:`~pcc.errors.VerifyError` with no detail.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from pcc import _core
from pcc.errors import FormatError, InvalidArgument, VerifyError

__all__ = [
    "PCR_SIZE", "DEFAULT_PCRS", "AK_EKU_OID", "AttestationKey", "Quote", "QuoteInfo", "Challenge",
    "Tpm", "event_data", "replay", "qualifying_data", "verify_quote", "check_ak",
    "check_ek_cert", "make_credential", "challenge", "ak_cert_key", "make_bundle_quote",
    "check_bundle_quote",
]

#: Size of a SHA-384 PCR.
PCR_SIZE = 48
#: PCRs that hold registers 0 (code), 1 (model), 2 (config). They are not resettable (PCRs 16 and
#: above are), so nothing can rewind them short of a reboot; a TPM shared with a boot chain that
#: extends them needs other indices below 16.
DEFAULT_PCRS = (8, 9, 10)
#: tcg-kp-AIKCertificate: the extended key usage the provisioning CA gives a node certificate only
#: after :func:`challenge` proved its key is a TPM attestation key. Quotes are checked only under
#: such certificates: a software key could sign any quote it likes.
AK_EKU_OID = _core.TPM_AK_EKU_OID

_Bytes = Union[bytes, bytearray, memoryview]


def _bytes(value: Any, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, not {type(value).__name__}")


def _pcr_list(pcrs: Iterable[int]) -> bytes:
    out = []
    for p in pcrs:
        if not isinstance(p, int) or isinstance(p, bool):
            raise TypeError("PCR indices must be int")
        if not 0 <= p < 16:
            raise InvalidArgument("PCR indices must be in 0..15")
        out.append(p)
    if not out or len(set(out)) != len(out):
        raise InvalidArgument("PCR indices must be distinct and at least one")
    return bytes(out)


@dataclass(frozen=True)
class AttestationKey:
    """An attestation key's public side: ``public`` (marshalled TPMT_PUBLIC), ``spki`` (DER, what
    certificates and verifiers use) and ``name`` (nameAlg || hash of ``public``, what the TPM
    binds credentials to)."""

    public: bytes
    spki: bytes
    name: bytes


@dataclass(frozen=True)
class Quote:
    """A TPM quote: ``attest`` (TPMS_ATTEST bytes) and ``signature`` (marshalled TPMT_SIGNATURE)."""

    attest: bytes
    signature: bytes


@dataclass(frozen=True)
class QuoteInfo:
    """The fields of a quote that verified. ``reset_count``/``restart_count`` are obfuscated by the
    TPM for keys outside the endorsement hierarchy; compare them only between quotes of one key."""

    extra_data: bytes
    signer_name: bytes
    pcr_mask: int
    pcr_digest: bytes
    clock: int
    reset_count: int
    restart_count: int
    safe: bool
    firmware_version: int

    @classmethod
    def _from(cls, d: dict) -> "QuoteInfo":
        return cls(extra_data=d["extra_data"], signer_name=d["signer_name"],
                   pcr_mask=d["pcr_mask"], pcr_digest=d["pcr_digest"], clock=d["clock"],
                   reset_count=d["reset_count"], restart_count=d["restart_count"],
                   safe=d["safe"], firmware_version=d["firmware_version"])


def event_data(name: str, digest: _Bytes) -> bytes:
    """``SHA-384(SHA-384(name_utf8) || digest)``: the 48 bytes one measurement event extends."""
    if not isinstance(name, str):
        raise TypeError("name must be str")
    d = _bytes(digest, "digest")
    if len(d) != PCR_SIZE:
        raise InvalidArgument("digest must be 48 bytes (SHA-384)")
    return _core.tpm_event_data(name.encode("utf-8"), d)


def _events(events: Iterable[Any]) -> list[tuple[int, str, bytes]]:
    out = []
    for ev in events:
        if isinstance(ev, Mapping):
            reg, name, dig = ev.get("reg"), ev.get("name"), ev.get("sha384")
        else:
            try:
                reg, name, dig = ev
            except (TypeError, ValueError):
                raise FormatError("an event is (reg, name, sha384) or a map with those keys") \
                    from None
        if not isinstance(reg, int) or isinstance(reg, bool) or not isinstance(name, str) or \
                not isinstance(dig, (bytes, bytearray)) or len(dig) != PCR_SIZE:
            raise FormatError("an event needs an int reg, a str name and a 48-byte sha384")
        out.append((reg, name, bytes(dig)))
    return out


def replay(events: Iterable[Any], registers: int = 3) -> list[bytes]:
    """The PCR values the events give under the TPM rule, one per register, from 48 zero bytes.

    ``events`` are maps ``{"reg", "name", "sha384"}`` (as in the attestation body) or tuples."""
    pcrs = [bytes(PCR_SIZE)] * registers
    for reg, name, dig in _events(events):
        if not 0 <= reg < registers:
            raise FormatError("event register out of range")
        pcrs[reg] = hashlib.sha384(pcrs[reg] + event_data(name, dig)).digest()
    return pcrs


def qualifying_data(body_without_tpm: _Bytes) -> bytes:
    """SHA-384 of the attestation body encoded without its ``tpm`` key: what the quote binds."""
    return hashlib.sha384(_bytes(body_without_tpm, "body")).digest()


def verify_quote(quote: Quote, *, public_key: _Bytes, qualifying_data: _Bytes,
                 pcrs: Mapping[int, _Bytes]) -> QuoteInfo:
    """Check a quote: the signature over ``attest`` by ``public_key`` (SPKI DER, ECDSA P-384 with
    SHA-384 or P-256 with SHA-256) first; then magic TPM_GENERATED_VALUE, type
    TPM_ST_ATTEST_QUOTE, extraData equal to ``qualifying_data``, a selection of exactly the
    SHA-384 PCRs in ``pcrs`` (index → expected 48-byte value) and pcrDigest equal to the hash of
    those values in ascending PCR order. Raises VerifyError (no detail) or FormatError."""
    if not isinstance(quote, Quote):
        raise TypeError("quote must be a pcc.tpm.Quote")
    if not isinstance(pcrs, Mapping):
        raise TypeError("pcrs must map PCR index to expected value")
    idx = _pcr_list(pcrs.keys())
    values = b"".join(_bytes(pcrs[i], "PCR value") for i in idx)
    if len(values) != PCR_SIZE * len(idx):
        raise InvalidArgument("expected PCR values must be 48 bytes each")
    extra = _bytes(qualifying_data, "qualifying_data")
    if len(extra) > 64:
        raise InvalidArgument("qualifying data is at most 64 bytes")
    d = _core.tpm_quote_verify(_bytes(quote.attest, "attest"), _bytes(quote.signature, "signature"),
                               _bytes(public_key, "public_key"), extra, idx, values)
    return QuoteInfo._from(d)


def check_ak(public: _Bytes) -> AttestationKey:
    """Accept ``public`` (a marshalled TPMT_PUBLIC) only as an attestation key that cannot leave
    its TPM: ECC P-384/SHA-384 or P-256/SHA-256 ECDSA, fixedTPM, fixedParent,
    sensitiveDataOrigin, restricted, sign, not decrypt. Raises VerifyError or FormatError."""
    pub = _bytes(public, "public")
    spki, name = _core.tpm_ak_check(pub)
    return AttestationKey(public=pub, spki=spki, name=name)


def _pem_bundle(certs: Union[str, bytes, Sequence[Union[str, bytes]]], what: str) -> bytes:
    if isinstance(certs, (str, bytes)):
        certs = [certs]
    out = []
    for c in certs:
        if isinstance(c, str):
            c = c.encode("ascii", "strict")
        if not isinstance(c, bytes):
            raise TypeError(f"{what} must be PEM str or bytes")
        out.append(c if c.endswith(b"\n") else c + b"\n")
    return b"".join(out)


def check_ek_cert(cert: _Bytes, *, roots: Union[str, bytes, Sequence[Union[str, bytes]]],
                  intermediates: Union[str, bytes, Sequence[Union[str, bytes]]] = (),
                  now: int | None = None) -> bytes:
    """Verify an EK certificate (DER) against the inventory of manufacturer ``roots`` (PEM; only
    these are trust anchors) through optional ``intermediates`` (PEM) at ``now`` (unix seconds)
    and return the certified EK public key (SPKI DER). Raises VerifyError or FormatError."""
    root_pem = _pem_bundle(roots, "roots")
    if not root_pem:
        raise InvalidArgument("at least one manufacturer root is needed")
    return _core.tpm_ek_cert_check(_bytes(cert, "cert"), root_pem,
                                   _pem_bundle(intermediates, "intermediates"),
                                   int(time.time()) if now is None else int(now))


def make_credential(ek_public: _Bytes, name: _Bytes, credential: _Bytes) -> tuple[bytes, bytes]:
    """TPM2_MakeCredential in software: wrap ``credential`` (1..32 bytes) for the TPM holding
    ``ek_public`` (SPKI DER of an RSA 2048 EK, default template), releasable only to the object
    named ``name``. Returns ``(credential_blob, secret)`` for :meth:`Tpm.activate_credential`."""
    return _core.tpm_make_credential(_bytes(ek_public, "ek_public"), _bytes(credential, "credential"),
                                     _bytes(name, "name"))


@dataclass(frozen=True)
class Challenge:
    """The CA's side of one credential activation. Send ``blob`` and ``secret`` to the node; keep
    the rest. :meth:`check` accepts the node's answer only if it is ``credential``."""

    blob: bytes
    secret: bytes
    ak: AttestationKey
    ek_public: bytes
    credential: bytes

    def __repr__(self) -> str:  # the credential is the CA's secret until answered
        return f"Challenge(ak_name={self.ak.name.hex()}, blob={len(self.blob)} bytes)"

    def check(self, answer: _Bytes) -> AttestationKey:
        """Return the attestation key if ``answer`` is the credential; VerifyError otherwise."""
        if not hmac.compare_digest(_bytes(answer, "answer"), self.credential):
            raise VerifyError("verification failed")
        return self.ak


def challenge(ek_cert: _Bytes, ak_public: _Bytes, *,
              roots: Union[str, bytes, Sequence[Union[str, bytes]]],
              intermediates: Union[str, bytes, Sequence[Union[str, bytes]]] = (),
              now: int | None = None) -> Challenge:
    """The provisioning CA's checks before it certifies an attestation key: the EK certificate
    chains to a known manufacturer root (:func:`check_ek_cert`), the AK is a non-exportable
    restricted signing key (:func:`check_ak`); then a fresh 32-byte credential is wrapped to that
    EK for that AK (:func:`make_credential`). Only the TPM holding both can answer it."""
    ek = check_ek_cert(ek_cert, roots=roots, intermediates=intermediates, now=now)
    ak = check_ak(ak_public)
    credential = os.urandom(32)
    blob, secret = make_credential(ek, ak.name, credential)
    return Challenge(blob=blob, secret=secret, ak=ak, ek_public=ek, credential=credential)


class Tpm:
    """A TPM 2.0 reached through a tpm2-tss TCTI string (``"device:/dev/tpmrm0"``,
    ``"swtpm:host=127.0.0.1,port=2321"``). Safe to share between threads (calls are serialised).
    Use as a context manager or call :meth:`close`."""

    def __init__(self, tcti: str):
        if not isinstance(tcti, str):
            raise TypeError("tcti must be str")
        self._t = _core.tpm_open(tcti)
        self._ak: AttestationKey | None = None

    def close(self) -> None:
        """Flush the keys this connection loaded and disconnect."""
        self._t.close()

    def __enter__(self) -> "Tpm":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_ak(self, unique: _Bytes = b"") -> AttestationKey:
        """Create the attestation key in the TPM (a primary key of the owner hierarchy: the same
        ``unique`` gives the same key again on this TPM, a new one a new key) and return its public
        side. The private part is generated inside and never leaves."""
        self._t.ak_create(_bytes(unique, "unique"))
        self._ak = check_ak(self._t.ak_public())
        return self._ak

    @property
    def ak(self) -> AttestationKey:
        """The attestation key made by :meth:`create_ak`."""
        if self._ak is None:
            raise InvalidArgument("no attestation key: call create_ak first")
        return self._ak

    def extend(self, pcr: int, name: str, digest: _Bytes) -> bytes:
        """Extend the measurement event ``(name, digest)`` into SHA-384 PCR ``pcr`` (0..15) by the
        rule above; returns the 48 bytes extended."""
        data = event_data(name, digest)
        self._t.pcr_extend(_pcr_list([pcr])[0], data)
        return data

    def read_pcrs(self, pcrs: Iterable[int] = DEFAULT_PCRS) -> dict[int, bytes]:
        """Current values of the SHA-384 PCRs ``pcrs``."""
        return {p: self._t.pcr_read(p) for p in _pcr_list(pcrs)}

    def quote(self, qualifying_data: _Bytes, pcrs: Iterable[int] = DEFAULT_PCRS) -> Quote:
        """Quote the SHA-384 PCRs ``pcrs`` with the attestation key, binding ``qualifying_data``
        (at most 64 bytes)."""
        attest, sig = self._t.quote(_bytes(qualifying_data, "qualifying_data"), _pcr_list(pcrs))
        return Quote(attest=attest, signature=sig)

    def sign(self, message: _Bytes) -> bytes:
        """DER ECDSA P-384/SHA-384 signature of ``message`` by the attestation key. The TPM hashes
        the message itself and refuses one that starts like TPM-generated data (StateError)."""
        return self._t.sign(_bytes(message, "message"))

    def ek_cert(self) -> bytes:
        """The RSA 2048 EK certificate (DER) the manufacturer stored in NV index 0x01c00002."""
        return self._t.ek_cert()

    def ek_public(self) -> bytes:
        """The RSA 2048 EK (default template) as SPKI DER."""
        return self._t.ek_public()

    def activate_credential(self, blob: _Bytes, secret: _Bytes) -> bytes:
        """TPM2_ActivateCredential with the attestation key and the EK: the CA's credential if it
        was made for this TPM's EK and this AK; VerifyError otherwise."""
        return self._t.activate_credential(_bytes(blob, "blob"), _bytes(secret, "secret"))

    def shutdown(self) -> None:
        """Flush the keys this connection loaded and send TPM2_Shutdown(CLEAR), so that the next
        reset of the TPM counts as orderly (a TPM takes disorderly resets for dictionary attacks
        and soon locks out the AK). The TPM answers commands until it is reset."""
        self._t.shutdown()
        self._ak = None

    @property
    def last_rc(self) -> int:
        """The TPM response code of the last failed call (0 if none)."""
        return self._t.last_rc


def ak_cert_key(node_cert: _Bytes) -> bytes:
    """The public key (SPKI DER) of a node certificate (DER) that carries :data:`AK_EKU_OID`;
    VerifyError if it does not, FormatError if it does not parse. The chain is the caller's."""
    return _core.tpm_ak_cert_key(_bytes(node_cert, "node_cert"))


# ---- the bundle's "tpm" key ---------------------------------------------------------------------

def make_bundle_quote(tpm: Tpm, body_without_tpm: _Bytes,
                      pcrs: Sequence[int] = DEFAULT_PCRS) -> dict:
    """The value of the body's ``tpm`` key: a quote of the register PCRs bound to the rest of the
    body (``body_without_tpm`` is its exact encoding without the ``tpm`` key)."""
    idx = _pcr_list(pcrs)
    q = tpm.quote(qualifying_data(body_without_tpm), idx)
    return {"v": 1, "pcrs": list(idx), "attest": q.attest, "sig": q.signature}


def check_bundle_quote(value: Any, *, body_without_tpm: _Bytes, node_cert: _Bytes,
                       events: Iterable[Any]) -> QuoteInfo:
    """Check a body's ``tpm`` value: exactly ``{"v": 1, "pcrs": [3 distinct ints < 16], "attest":
    bytes, "sig": bytes}`` (else FormatError); ``node_cert`` (the bundle's leaf, its chain already
    checked) is certified as a TPM attestation key (:func:`ak_cert_key`); the quote is signed by
    its key, binds :func:`qualifying_data` of ``body_without_tpm``, and covers exactly those PCRs
    holding :func:`replay` of ``events`` (else VerifyError)."""
    if not isinstance(value, Mapping) or set(value.keys()) != {"v", "pcrs", "attest", "sig"}:
        raise FormatError("tpm must be a map with exactly v, pcrs, attest, sig")
    if value["v"] != 1 or isinstance(value["v"], bool):
        raise FormatError("tpm.v must be 1")
    p = value["pcrs"]
    if not isinstance(p, (list, tuple)) or len(p) != 3 or \
            not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 16 for i in p) or \
            len(set(p)) != 3:
        raise FormatError("tpm.pcrs must be 3 distinct PCR indices below 16")
    attest, sig = value["attest"], value["sig"]
    if not isinstance(attest, bytes) or not isinstance(sig, bytes) or \
            not 0 < len(attest) <= 1024 or not 0 < len(sig) <= 256:
        raise FormatError("tpm.attest and tpm.sig must be bytes of a sane size")
    expected = replay(events, 3)
    public_key = ak_cert_key(node_cert)
    return verify_quote(Quote(attest, sig), public_key=public_key,
                        qualifying_data=qualifying_data(body_without_tpm),
                        pcrs={p[r]: expected[r] for r in range(3)})
