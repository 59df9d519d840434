"""Node attestation: verify a node's bundle against pinned trust, and build one.

A client pins a :class:`Trust` (provisioning CA roots, the transparency log's key, witness keys
and quorum) and checks each node's attestation bundle with :func:`verify`::

    trust = attest.Trust(provisioning_roots=[root_pem], log_vkey=log_vkey,
                         witness_vkeys=[w1, w2], quorum=2)
    report = attest.verify(bundle, trust, model="smollm2-135m")
    if report.ok:
        use(report.hpke_public_key, report.key_id, report.node_id)
    else:
        print(report)            # one line per check, the failed one last

The checks run in a fixed order and stop at the first failure: ``format``, ``chain``,
``signature``, [``tpm``], ``node_id``, ``registers``, ``release``, ``transparency``, ``freshness``,
``modes``, ``key``, ``model`` (see docs/attestation.md). ``tpm`` is listed only for bundles it
applies to: a body with a TPM quote, a node certificate issued to a TPM attestation key, or any
bundle under ``Trust(require_tpm=True)``. :func:`verify` never raises for a bad bundle; the
verification itself runs in C (``pcc._core``) with a cache of chains that verified.

The node side uses :class:`IdentityKey` (ECDSA P-384, private key held in C secure memory) and
:func:`build_bundle`.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import msgpack

from pcc import _core
from pcc.errors import InvalidArgument

#: The checks of every bundle, in order.
CHECKS = ("format", "chain", "signature", "node_id", "registers", "release", "transparency",
          "freshness", "modes", "key", "model")
#: The conditional check: it runs right after ``signature`` (see :class:`Report`).
TPM_CHECK = "tpm"
#: The checks of a bundle the ``tpm`` check applies to, in order.
TPM_CHECKS = CHECKS[:3] + (TPM_CHECK,) + CHECKS[3:]
#: What :attr:`Report.backend` can say.
BACKENDS = ("sim", "tpm")
_REQUIRE_TPM = 0x100
SANDBOX_LAYERS = ("seccomp", "landlock", "netns")
REGISTER_KINDS = ("code", "model", "config")  # register 0, 1, 2
_RELAX_FLAGS = {"seccomp": 1, "landlock": 2, "netns": 4}
ZERO_REGISTER = bytes(48)
_MAX_S = (1 << 63) - 1
_MAX_BUNDLE = 256 * 1024


def _ranged(value: Any, what: str, hi: int) -> int:
    v = _int(value, what)
    if not 0 <= v <= hi:
        raise InvalidArgument(f"{what} must be in 0..{hi}")
    return v


def _text(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes")


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes")
    return bytes(value)


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int")
    return value


# ---- trust -------------------------------------------------------------------------------------

class Trust:
    """What a client pins to accept nodes.

    ``provisioning_roots``: the provisioning CA root certificates (PEM ``str``/``bytes`` or DER
    ``bytes``, P-384); ``log_vkey``: the log's note verifier key; ``witness_vkeys``: the
    witnesses' cosignature (type 0x04) vkeys, with distinct names; ``quorum``: how many of them
    must have cosigned the checkpoint (1..len(witness_vkeys)); ``max_checkpoint_age_s``: how old
    those cosignatures may be; ``relax``: names of sandbox layers (``seccomp``, ``landlock``,
    ``netns``) a node may run without; ``require_tpm``: accept only nodes whose bundle carries a
    TPM quote (a ``sim`` node fails the ``tpm`` check with the reason "a TPM quote is
    required"). Raises :class:`pcc.errors.InvalidArgument` for anything wrong, TypeError for wrong
    types. Immutable; safe to share between threads.
    """

    __slots__ = ("_provisioning_roots", "_log_vkey", "_witness_vkeys", "_quorum",
                 "_max_checkpoint_age_s", "_relax", "_require_tpm", "_core")

    def __init__(self, provisioning_roots: Sequence[str | bytes], log_vkey: str,
                 witness_vkeys: Sequence[str], quorum: int, max_checkpoint_age_s: int = 86400,
                 relax: Iterable[str] = (), require_tpm: bool = False) -> None:
        if isinstance(provisioning_roots, (str, bytes)):
            raise TypeError("provisioning_roots must be a list of certificates")
        if isinstance(witness_vkeys, (str, bytes)):
            raise TypeError("witness_vkeys must be a list of vkeys")
        if isinstance(relax, (str, bytes)):
            raise TypeError("relax must be a list of sandbox layer names")
        roots = [_text(r, "a provisioning root") for r in provisioning_roots]
        if not isinstance(log_vkey, str):
            raise TypeError("log_vkey must be a str")
        wits = [w for w in witness_vkeys]
        for w in wits:
            if not isinstance(w, str):
                raise TypeError("witness_vkeys must be a list of str")
        quorum = _int(quorum, "quorum")
        max_age = _int(max_checkpoint_age_s, "max_checkpoint_age_s")
        if not 0 <= max_age <= _MAX_S:
            raise InvalidArgument("max_checkpoint_age_s must be in 0..2^63-1")
        if not 1 <= quorum <= len(wits):
            raise InvalidArgument("quorum must be between 1 and the number of witness keys")
        relaxed = tuple(relax)
        flags = 0
        for name in relaxed:
            if not isinstance(name, str):
                raise TypeError("relax must be a list of str")
            if name not in _RELAX_FLAGS:
                raise InvalidArgument(f"relax: unknown sandbox layer (one of {', '.join(SANDBOX_LAYERS)})")
            flags |= _RELAX_FLAGS[name]
        if not isinstance(require_tpm, bool):
            raise TypeError("require_tpm must be a bool")
        if require_tpm:
            flags |= _REQUIRE_TPM
        self._core = _core.attest_trust_new(roots, log_vkey.encode("utf-8"),
                                            [w.encode("utf-8") for w in wits], quorum, max_age,
                                            flags)
        self._provisioning_roots = tuple(provisioning_roots)
        self._log_vkey = log_vkey
        self._witness_vkeys = tuple(wits)
        self._quorum = quorum
        self._max_checkpoint_age_s = max_age
        self._relax = tuple(sorted(set(relaxed)))
        self._require_tpm = require_tpm

    @classmethod
    def from_client_config(cls, trust: dict) -> Trust:
        """Build from the ``trust`` object of a client.json: ``provisioning_roots``, ``log``,
        ``witnesses``, ``quorum``, ``max_checkpoint_age_s`` (and optional ``relax`` and
        ``require_tpm``)."""
        if not isinstance(trust, dict):
            raise TypeError("trust must be a dict")
        try:
            return cls(provisioning_roots=trust["provisioning_roots"], log_vkey=trust["log"],
                       witness_vkeys=trust["witnesses"], quorum=trust["quorum"],
                       max_checkpoint_age_s=trust.get("max_checkpoint_age_s", 86400),
                       relax=trust.get("relax", ()),
                       require_tpm=trust.get("require_tpm", False))
        except KeyError as e:
            raise InvalidArgument(f"trust: missing {e.args[0]!r}") from None

    provisioning_roots = property(lambda self: self._provisioning_roots,
                                  doc="The pinned provisioning roots, as given.")
    log_vkey = property(lambda self: self._log_vkey, doc="The log's vkey.")
    witness_vkeys = property(lambda self: self._witness_vkeys, doc="The witnesses' vkeys.")
    quorum = property(lambda self: self._quorum, doc="Witness cosignatures required.")
    max_checkpoint_age_s = property(lambda self: self._max_checkpoint_age_s,
                                    doc="Oldest acceptable cosignature, in seconds.")
    relax = property(lambda self: self._relax, doc="Sandbox layers allowed off.")
    require_tpm = property(lambda self: self._require_tpm,
                           doc="Whether bundles without a TPM quote are refused.")

    def clear_cache(self) -> None:
        """Forget the chains verified so far (they are re-verified on next use)."""
        self._core.cache_clear()

    def __repr__(self) -> str:
        return (f"Trust(roots={len(self._provisioning_roots)}, "
                f"witnesses={len(self._witness_vkeys)}, quorum={self._quorum}, "
                f"max_checkpoint_age_s={self._max_checkpoint_age_s}, relax={list(self._relax)}, "
                f"require_tpm={self._require_tpm})")


# ---- report ------------------------------------------------------------------------------------

class Check(NamedTuple):
    """One named check of a report: its name, whether it passed, and a public sentence."""

    name: str
    ok: bool
    detail: str


class Report:
    """The outcome of :func:`verify`.

    ``checks`` lists the checks run, in order, up to and including the first failure (all of
    them when the bundle passed); ``failed`` names the failed check or is None; ``ok`` is True
    only when every check passed. The node fields (``node_id``, ``hpke_public_key``, ``key_id``,
    ``hpke_suite``, ``key_not_after``, ``issued``, ``backend``) are set once the signed body
    decoded and are None before that; ``log_index`` once the transparency check passed.
    ``backend`` is ``"tpm"`` when the body carries a TPM quote (the ``tpm`` check is then listed
    after ``signature``) and ``"sim"`` otherwise.
    """

    __slots__ = ("checks", "node_id", "hpke_public_key", "key_id", "hpke_suite",
                 "key_not_after", "issued", "log_index", "backend")

    def __init__(self, checks: list[Check], node: tuple | None) -> None:
        self.checks = checks
        if node is None:
            self.node_id = self.hpke_public_key = self.key_id = None
            self.hpke_suite = self.key_not_after = self.issued = self.log_index = None
            self.backend = None
        else:
            (self.node_id, self.hpke_public_key, self.key_id, kem, kdf, aead,
             self.key_not_after, self.issued, log_index, self.backend) = node
            self.hpke_suite = (kem, kdf, aead)
            names = [c.name for c in checks if c.ok]
            self.log_index = log_index if "transparency" in names else None

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        names = tuple(c.name for c in self.checks)
        return names in (CHECKS, TPM_CHECKS) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> str | None:
        """The name of the failed check, or None."""
        for c in self.checks:
            if not c.ok:
                return c.name
        return None

    @property
    def reason(self) -> str | None:
        """The failed check's public reason, or None."""
        for c in self.checks:
            if not c.ok:
                return c.detail
        return None

    def to_dict(self) -> dict:
        """A JSON-ready dict: ``ok``, ``failed``, ``checks``, ``backend`` and the node fields
        (hex)."""
        def hx(b):
            return None if b is None else b.hex()
        return {
            "ok": self.ok, "failed": self.failed,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "node_id": hx(self.node_id), "hpke_public_key": hx(self.hpke_public_key),
            "key_id": hx(self.key_id),
            "hpke_suite": None if self.hpke_suite is None else list(self.hpke_suite),
            "key_not_after": self.key_not_after, "issued": self.issued,
            "log_index": self.log_index, "backend": self.backend,
        }

    def __str__(self) -> str:
        head = "attestation passed" if self.ok else f"attestation FAILED at {self.failed}"
        if self.node_id is not None:
            head += f" (node {self.node_id.hex()[:16]}, {self.backend})"
        width = max(len(n) for n in TPM_CHECKS)
        lines = [head]
        for c in self.checks:
            lines.append(f"  {'ok  ' if c.ok else 'FAIL'} {c.name:<{width}}  {c.detail}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<attest.Report ok={self.ok} failed={self.failed!r}>"


def verify(bundle_bytes: bytes, trust: Trust, *, model: str | None = None,
           now: int | float | None = None) -> Report:
    """Verify an attestation bundle at time ``now`` (unix seconds, default: the clock) for
    ``model`` (None: any) and return a :class:`Report`. Never raises for a bad bundle; raises
    TypeError for arguments of the wrong type."""
    if not isinstance(bundle_bytes, (bytes, bytearray, memoryview)):
        raise TypeError("bundle_bytes must be bytes")
    if not isinstance(trust, Trust):
        raise TypeError("trust must be an attest.Trust")
    if model is not None and not isinstance(model, str):
        raise TypeError("model must be a str or None")
    if now is None:
        now = time.time()
    if not isinstance(now, (int, float)) or isinstance(now, bool):
        raise TypeError("now must be a number of seconds")
    now_s = max(0, min(int(now), (1 << 63) - 1))
    passed, checks, node = _core.attest_verify(
        trust._core, bytes(bundle_bytes) if not isinstance(bundle_bytes, bytes) else bundle_bytes,
        None if model is None else model.encode("utf-8"), now_s)
    report = Report([Check(n, ok, d) for n, ok, d in checks], node)
    assert report.ok == passed
    return report


# ---- registers and measurements ---------------------------------------------------------------

def register_extend(register: bytes, name: str, digest: bytes) -> bytes:
    """Return SHA-384(register || SHA-384(name as UTF-8) || digest); register and digest are
    48 bytes (InvalidArgument otherwise)."""
    return _core.attest_register_extend(_bytes(register, "register"), _text(name, "name"),
                                        _bytes(digest, "digest"))


def replay(events: Iterable[tuple[int, str, bytes]]) -> list[bytes]:
    """Replay ``(reg, name, sha384)`` events onto three zero registers; return the registers."""
    regs = [ZERO_REGISTER] * 3
    for reg, name, digest in events:
        reg = _int(reg, "reg")
        if not 0 <= reg < 3:
            raise InvalidArgument("reg must be 0, 1 or 2")
        regs[reg] = register_extend(regs[reg], name, digest)
    return regs


def tree_manifest(package_dir: str | os.PathLike) -> bytes:
    """The tree manifest of an installed package: for every file under ``package_dir`` except
    ``__pycache__/`` directories and ``*.pyc`` files, the line ``<sha384 hex> <relative path>\\n``
    ('/'-separated), sorted by the path's bytes."""
    root = os.fspath(package_dir)
    if not os.path.isdir(root):
        raise InvalidArgument("package_dir is not a directory")
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for f in filenames:
            if f.endswith(".pyc"):
                continue
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            h = hashlib.sha384()
            with open(full, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            entries.append((os.fsencode(rel), h.hexdigest()))
    entries.sort()
    return b"".join(f"{hx} ".encode() + rel + b"\n" for rel, hx in entries)


def tree_manifest_digest(package_dir: str | os.PathLike) -> bytes:
    """SHA-384 of :func:`tree_manifest`: the code measurement of a package."""
    return hashlib.sha384(tree_manifest(package_dir)).digest()


def canonical_msgpack(data: bytes) -> bytes:
    """Re-encode one strict msgpack value canonically (map keys sorted by their UTF-8 bytes,
    shortest forms), as configuration measurements hash it. FormatError for input the strict
    decoder refuses (non-text keys, duplicates, ext types, trailing bytes), LimitError beyond
    its limits (nesting deeper than 16)."""
    return _core.wire_canonical(_bytes(data, "data"))


# ---- the node side: identity key and bundles --------------------------------------------------

class IdentityKey:
    """An ECDSA P-384 node identity key. The private key stays in C secure memory; it leaves
    only through :meth:`export_private_der`."""

    __slots__ = ("_k",)

    def __init__(self, _key) -> None:  # use generate() or from_private_der()
        if not isinstance(_key, _core.P384Key):
            raise TypeError("use IdentityKey.generate() or IdentityKey.from_private_der()")
        self._k = _key

    @classmethod
    def generate(cls) -> IdentityKey:
        """A fresh key pair."""
        return cls(_core.p384_generate())

    @classmethod
    def from_private_der(cls, der: bytes) -> IdentityKey:
        """Load a P-384 private key from PKCS#8 or SEC 1 DER (FormatError otherwise)."""
        return cls(_core.p384_from_der(_bytes(der, "der")))

    @property
    def spki(self) -> bytes:
        """The public key as DER SubjectPublicKeyInfo."""
        return self._k.spki

    @property
    def node_id(self) -> bytes:
        """SHA-256 of the SPKI DER."""
        return self._k.node_id

    def sign(self, message: bytes) -> bytes:
        """DER ECDSA-SHA384 signature of ``message``."""
        return self._k.sign(_bytes(message, "message"))

    def csr(self, serial: str) -> bytes:
        """A DER PKCS#10 request for this key whose subject is serialNumber (2.5.4.5) =
        ``serial`` (1..64 PrintableString characters; InvalidArgument otherwise)."""
        if not isinstance(serial, str):
            raise TypeError("serial must be a str")
        try:
            raw = serial.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidArgument("serial must be 1..64 PrintableString characters") from None
        return self._k.csr(raw)

    def export_private_der(self) -> bytes:
        """The private key as PKCS#8 DER. WARNING: this copies the secret into a Python bytes."""
        return self._k.export_private_der()

    def __repr__(self) -> str:
        return f"<attest.IdentityKey node_id={self.node_id.hex()[:16]}…>"


def verify_signature(spki: bytes, message: bytes, signature: bytes) -> None:
    """Check a DER ECDSA-SHA384 signature by the P-384 key ``spki``; VerifyError if it fails,
    FormatError if ``spki`` is not a P-384 key."""
    _core.p384_verify(_bytes(spki, "spki"), _bytes(message, "message"),
                      _bytes(signature, "signature"))


class Event(NamedTuple):
    """One measurement: extended into register ``reg`` (0 code, 1 model, 2 config)."""

    reg: int
    name: str
    sha384: bytes


@dataclass(frozen=True)
class Modes:
    """The node's operating modes, as the bundle states them."""

    restricted: bool = True
    ephemeral_data: bool = True
    debug: bool = False
    seccomp: bool = True
    landlock: bool = True
    netns: bool = True


@dataclass(frozen=True)
class HpkeKey:
    """The node's current HPKE public key and suite."""

    pk: bytes
    key_id: bytes
    not_after: int
    kem: int = 0x0020
    kdf: int = 0x0001
    aead: int = 0x0001


def _encode(key: IdentityKey | bytes, chain: Sequence[bytes] | None, serial: str, boot: bytes,
            issued: int, events: Sequence[Event | tuple], hpke: HpkeKey, models: Sequence[str],
            release: bytes, tlog_proof: str, modes: Modes, registers: Sequence[bytes] | None,
            tpm: Mapping[str, Any] | bytes | None) -> bytes:
    if isinstance(key, IdentityKey):
        core_key: Any = key._k
    elif chain is None and isinstance(key, (bytes, bytearray, memoryview)):
        spki = bytes(key)
        if not 0 < len(spki) <= 1024:
            raise InvalidArgument("key: the node key's SPKI DER is 1..1024 bytes")
        core_key = hashlib.sha256(spki).digest()
    else:
        raise TypeError("key must be an attest.IdentityKey (or, for encode_body, the SPKI DER "
                        "of a key held elsewhere)")
    if not isinstance(modes, Modes) or not isinstance(hpke, HpkeKey):
        raise TypeError("modes must be attest.Modes and hpke attest.HpkeKey")
    evs = [Event(*e) for e in events]
    for e in evs:
        _ranged(e.reg, "reg", 2)
    regs = replay(evs) if registers is None else [_bytes(r, "register") for r in registers]
    if isinstance(models, str):
        raise TypeError("models must be a list of str")
    flags = (modes.restricted, modes.ephemeral_data, modes.debug, modes.seccomp, modes.landlock,
             modes.netns)
    if not all(isinstance(f, bool) for f in flags):
        raise TypeError("modes must hold booleans")
    if tpm is None:
        tpm_raw = None
    elif isinstance(tpm, Mapping):
        tpm_raw = msgpack.packb(dict(tpm), use_bin_type=True)
    else:
        tpm_raw = msgpack.packb(_bytes(tpm, "tpm"), use_bin_type=True)
    return _core.attest_bundle_encode(
        core_key, _text(serial, "serial"), _bytes(boot, "boot"), _ranged(issued, "issued", _MAX_S),
        regs, [(e.reg, _text(e.name, "event name"), _bytes(e.sha384, "sha384")) for e in evs],
        flags,
        (_ranged(hpke.kem, "kem", 0xFFFF), _ranged(hpke.kdf, "kdf", 0xFFFF),
         _ranged(hpke.aead, "aead", 0xFFFF), _bytes(hpke.pk, "pk"),
         _bytes(hpke.key_id, "key_id"), _ranged(hpke.not_after, "not_after", _MAX_S)),
        [_text(m, "model") for m in models], _bytes(release, "release"),
        _text(tlog_proof, "tlog_proof"),
        None if chain is None else [_bytes(c, "certificate") for c in chain], tpm_raw)


def build_bundle(key: IdentityKey, *, chain: Sequence[bytes], serial: str, boot: bytes,
                 issued: int, events: Sequence[Event | tuple], hpke: HpkeKey,
                 models: Sequence[str], release: bytes, tlog_proof: str,
                 modes: Modes = Modes(), registers: Sequence[bytes] | None = None,
                 tpm: Mapping[str, Any] | bytes | None = None) -> bytes:
    """Encode Body (keys sorted) from these fields, sign it with ``key`` and return the bundle
    ``{"body", "sig", "chain"}``. ``registers`` defaults to the replay of ``events`` (an enclave
    passes its own). ``chain`` is the node certificate (DER) then intermediates. ``tpm`` (a map,
    or bytes carried as bin) becomes Body's optional ``tpm`` key. Raises InvalidArgument for
    fields outside the format's limits."""
    if chain is None:
        raise TypeError("chain must be a list of DER certificates")
    return _encode(key, chain, serial, boot, issued, events, hpke, models, release, tlog_proof,
                   modes, registers, tpm)


def encode_body(key: IdentityKey | bytes, *, serial: str, boot: bytes, issued: int,
                events: Sequence[Event | tuple], hpke: HpkeKey, models: Sequence[str],
                release: bytes, tlog_proof: str, modes: Modes = Modes(),
                registers: Sequence[bytes] | None = None,
                tpm: Mapping[str, Any] | bytes | None = None) -> bytes:
    """The Body bytes :func:`build_bundle` would sign for the same fields. With ``tpm=None``
    this is the body "without its tpm key" that a TPM quote binds: keys are sorted, so adding
    ``tpm`` later inserts it without changing any other byte. ``key`` may also be the SPKI DER
    of a key held elsewhere (a TPM attestation key): node_id is then its SHA-256, and the caller
    signs the body itself and calls :func:`assemble_bundle`."""
    return _encode(key, None, serial, boot, issued, events, hpke, models, release, tlog_proof,
                   modes, registers, tpm)


def assemble_bundle(body: bytes, sig: bytes, chain: Sequence[bytes]) -> bytes:
    """The bundle ``{"body", "sig", "chain"}`` for a body signed elsewhere: ``sig`` is the DER
    ECDSA P-384/SHA-384 signature of ``body`` by the node key (e.g. :meth:`pcc.tpm.Tpm.sign`),
    ``chain`` the node certificate (DER) then intermediates. Only sizes are checked
    (InvalidArgument); :func:`verify` judges the rest."""
    b, s = _bytes(body, "body"), _bytes(sig, "sig")
    if isinstance(chain, (bytes, str)):
        raise TypeError("chain must be a list of DER certificates")
    certs = [_bytes(c, "certificate") for c in chain]
    if not 0 < len(b) <= _MAX_BUNDLE or not 8 <= len(s) <= 104 or \
            not 1 <= len(certs) <= 4 or not all(0 < len(c) <= 8192 for c in certs):
        raise InvalidArgument("body, sig or chain is outside the bundle's limits")
    out = msgpack.packb({"body": b, "chain": certs, "sig": s}, use_bin_type=True)
    if len(out) > _MAX_BUNDLE:
        raise InvalidArgument("the bundle is larger than 256 KiB")
    return out


__all__ = ["CHECKS", "TPM_CHECK", "TPM_CHECKS", "BACKENDS", "assemble_bundle", "SANDBOX_LAYERS", "REGISTER_KINDS", "Trust", "Check", "Report", "verify",
           "register_extend", "replay", "tree_manifest", "tree_manifest_digest",
           "canonical_msgpack", "IdentityKey", "verify_signature", "Event", "Modes", "HpkeKey",
           "build_bundle", "encode_body"]
