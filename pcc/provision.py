"""The provisioning CA: a P-384 root that certifies the identity keys of known machines.

A node proves who it is with a certificate chain that ends at a provisioning root its clients
pin. The CA behind that root keeps an *inventory* of hardware serials it is willing to certify;
a node sends a PKCS#10 certificate request for its P-384 identity key whose subject carries its
serial in a ``serialNumber`` attribute (OID 2.5.4.5), and the CA answers with a node
certificate signed by the root key itself::

    ca = provision.CA.generate("Example provisioning root")
    ca.add_serial("SN-0001")
    ca.save("ca-dir")                       # root.key (0600), root.pem, inventory.json
    ca = provision.CA.load("ca-dir")
    cert_der = ca.issue(csr_der)             # refuses serials not in the inventory

The root key is generated, kept and used in C (secure memory); it is read from and written to
its file by the C core, so it never becomes a Python object. See docs/provisioning.md.
"""
from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import json
import os
import pathlib
import ssl
import stat
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pcc import _core, tpm as _tpm
from pcc.errors import (FormatError, InvalidArgument, StateError, UnknownKeyError,
                        VerifyError)

#: Files of a CA directory.
KEY_FILE = "root.key"
ROOT_FILE = "root.pem"
INVENTORY_FILE = "inventory.json"
#: TPM manufacturer roots (PEM, concatenated) that EK certificates must chain to; optional.
MANUFACTURERS_FILE = "tpm-manufacturers.pem"

#: Default validity of the root certificate and of node certificates, in days.
ROOT_DAYS = 3650
NODE_DAYS = 30
MAX_DAYS = _core.PROVISION_MAX_DAYS
MAX_SERIAL = _core.PROVISION_MAX_SERIAL


def serial_ok(serial: str) -> bool:
    """Whether ``serial`` is a valid hardware serial: 1 to 64 characters from ``A-Z a-z 0-9``
    and ``- . :``, not starting with ``-`` or ``.``."""
    return isinstance(serial, str) and _core.provision_serial_ok(serial)


def _check_serial(serial: str) -> str:
    if not isinstance(serial, str):
        raise TypeError("serial must be a str")
    if not serial_ok(serial):
        raise InvalidArgument(f"invalid serial {serial!r}: use 1-64 characters A-Z a-z 0-9 - . : "
                              "(not starting with - or .)")
    return serial


def _now(now: int | None) -> int:
    if now is None:
        return int(time.time())
    if not isinstance(now, int) or isinstance(now, bool):
        raise TypeError("now must be an int (unix seconds)")
    return now


def _days(days: int) -> int:
    if not isinstance(days, int) or isinstance(days, bool):
        raise TypeError("days must be an int")
    if not 1 <= days <= MAX_DAYS:
        raise InvalidArgument(f"days must be between 1 and {MAX_DAYS}")
    return days


def csr_serial(csr_der: bytes) -> str:
    """The serial named by a certificate request, after checking the request (one DER PKCS#10
    object, EC P-384 key, ECDSA-SHA384 self-signature that verifies, exactly one valid
    ``serialNumber`` in the subject). Raises :class:`FormatError`, :class:`UnsupportedError` or
    :class:`VerifyError`."""
    if not isinstance(csr_der, (bytes, bytearray, memoryview)):
        raise TypeError("csr_der must be bytes")
    return _core.provision_csr_serial(bytes(csr_der))


def pem_to_der(pem: str | bytes, what: str = "certificate") -> bytes:
    """The DER bytes of one PEM ``CERTIFICATE`` block (``str`` or ``bytes``)."""
    if isinstance(pem, (bytes, bytearray)):
        try:
            pem = bytes(pem).decode("ascii")
        except UnicodeDecodeError:
            raise FormatError(f"{what}: PEM must be ASCII") from None
    if not isinstance(pem, str):
        raise TypeError("pem must be str or bytes")
    text = pem.strip()
    head, tail = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    if not text.startswith(head) or not text.endswith(tail) or text.count(head) != 1:
        raise FormatError(f"{what}: expected one PEM CERTIFICATE block")
    body = "".join(text[len(head):-len(tail)].split())
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        raise FormatError(f"{what}: bad base64 in PEM") from None


def der_to_pem(der: bytes) -> str:
    """A certificate's DER bytes as PEM text."""
    return ssl.DER_cert_to_PEM_cert(bytes(der))


def _write_atomic(path: pathlib.Path, write, mode: int) -> None:
    """Create ``path`` with ``mode`` through a temporary file in the same directory: write,
    fsync, rename. ``write(fd)`` writes the content."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        write(fd)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_bytes(data: bytes):
    def write(fd: int) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    return write


def _fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_PEM_HEAD = "-----BEGIN CERTIFICATE-----"
_PEM_TAIL = "-----END CERTIFICATE-----"


def _split_pem(text: str, what: str) -> list[bytes]:
    """The DER of every CERTIFICATE block of a PEM text (at least one)."""
    out = []
    rest = text
    while _PEM_HEAD in rest:
        start = rest.index(_PEM_HEAD)
        end = rest.find(_PEM_TAIL, start)
        if end < 0:
            raise FormatError(f"{what}: a PEM certificate without its END line")
        out.append(pem_to_der(rest[start:end + len(_PEM_TAIL)], what))
        rest = rest[end + len(_PEM_TAIL):]
    if rest.strip() or not out:
        raise FormatError(f"{what}: expected PEM CERTIFICATE blocks and nothing else")
    return out


def _one_der_sequence(der: bytes) -> bool:
    """Whether der is exactly one DER SEQUENCE (definite length)."""
    if len(der) < 2 or der[0] != 0x30:
        return False
    n = der[1]
    if n < 0x80:
        return len(der) == 2 + n
    k = n & 0x7F
    if not 1 <= k <= 4 or len(der) < 2 + k:
        return False
    return len(der) == 2 + k + int.from_bytes(der[2:2 + k], "big")


def _read_manufacturers(path: pathlib.Path) -> list[bytes]:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return []
    except UnicodeDecodeError:
        raise FormatError(f"{path} is not PEM text: the CA directory is damaged") from None
    if not text.strip():
        return []
    return _split_pem(text, str(path))


def _read_inventory(path: pathlib.Path) -> list[str]:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(f"{path} is missing: the CA directory is damaged") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{path} is not valid JSON ({e}): the CA directory is damaged") \
            from None
    if not isinstance(d, dict) or set(d) != {"v", "serials"} or d["v"] != 1 or \
            not isinstance(d["serials"], list):
        raise FormatError(f'{path} must be {{"v": 1, "serials": [...]}}: the CA directory is '
                          "damaged")
    out = []
    for s in d["serials"]:
        if not serial_ok(s):
            raise FormatError(f"{path} holds an invalid serial {s!r}")
        out.append(s)
    if len(set(out)) != len(out):
        raise FormatError(f"{path} lists a serial twice")
    return out


class CA:
    """A provisioning CA: the root key (in C secure memory), its certificate and the inventory
    of hardware serials it certifies. Make one with :meth:`generate` or :meth:`load`."""

    def __init__(self, core: _core.ProvisionCA, serials: Iterable[str] = (),
                 manufacturer_roots: Iterable[bytes] = ()) -> None:
        if not isinstance(core, _core.ProvisionCA):
            raise TypeError("use CA.generate or CA.load")
        self._core = core
        self._root_der = core.root_der()
        self._serials = {_check_serial(s) for s in serials}
        self._manufacturers: list[bytes] = []  # DER, in the order added
        for der in manufacturer_roots:
            if der not in self._manufacturers:
                self._manufacturers.append(der)

    def __repr__(self) -> str:
        return f"<pcc.provision.CA root sha256={self.root_fingerprint[:16]}… " \
               f"serials={len(self._serials)}>"

    # ------------------------------------------------------------------------- making

    @classmethod
    def generate(cls, name: str, *, now: int | None = None, days: int = ROOT_DAYS) -> CA:
        """A fresh CA: a P-384 key and a self-signed root certificate with common name ``name``
        (1-64 bytes of UTF-8), valid from ``now`` (default: the current time) for ``days``
        days. The inventory starts empty."""
        if not isinstance(name, str):
            raise TypeError("name must be a str")
        return cls(_core.provision_ca_generate(name, _now(now), _days(days)))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> CA:
        """Load a CA saved by :meth:`save`. Raises :class:`FormatError` naming the file when the
        directory is missing a file or holds a damaged one, and when the key file can be read by
        other users."""
        d = pathlib.Path(directory)
        if not d.is_dir():
            raise FormatError(f"{d} is not a directory (create a CA with `pcc ca init`)")
        root_path, key_path = d / ROOT_FILE, d / KEY_FILE
        try:
            root_der = pem_to_der(root_path.read_text(encoding="ascii"), str(root_path))
        except FileNotFoundError:
            raise FormatError(f"{root_path} is missing: not a CA directory (create one with "
                              "`pcc ca init`)") from None
        except UnicodeDecodeError:
            raise FormatError(f"{root_path} is not PEM text: the CA directory is damaged") \
                from None
        try:
            fd = os.open(key_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise FormatError(f"{key_path} is missing: the CA directory is damaged") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise FormatError(f"{key_path} is a symbolic link: the root key must be a "
                                  "regular file in the CA directory") from None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FormatError(f"{key_path} is not a regular file")
            if st.st_mode & 0o077:
                raise FormatError(f"{key_path} can be read by other users (mode "
                                  f"{stat.S_IMODE(st.st_mode):04o}): run `chmod 600 {key_path}`")
            try:
                core = _core.provision_ca_load(fd, root_der)
            except FormatError:
                raise FormatError(f"{key_path} / {root_path}: the root key or certificate is "
                                  "damaged, or they do not belong together") from None
        finally:
            os.close(fd)
        return cls(core, _read_inventory(d / INVENTORY_FILE),
                   _read_manufacturers(d / MANUFACTURERS_FILE))

    @staticmethod
    @contextlib.contextmanager
    def locked(directory: str | os.PathLike):
        """Hold an exclusive lock on a CA directory (a ``.lock`` file in it) for a
        load-change-save sequence, so that two processes changing the inventory at once do not
        lose an update."""
        d = pathlib.Path(directory)
        if not d.is_dir():
            raise FormatError(f"{d} is not a directory (create a CA with `pcc ca init`)")
        fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def save(self, directory: str | os.PathLike) -> None:
        """Write the CA to ``directory`` (created with mode 0700 if needed): ``root.key`` (PEM
        PKCS#8, mode 0600), ``root.pem`` and ``inventory.json``, each written atomically. A
        directory that already holds this CA only gets its inventory rewritten; one that holds
        another CA is refused with :class:`StateError`."""
        d = pathlib.Path(directory)
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        root_path, key_path = d / ROOT_FILE, d / KEY_FILE
        existing = None
        if root_path.exists():
            try:
                existing = pem_to_der(root_path.read_text(encoding="ascii"), str(root_path))
            except (FormatError, UnicodeDecodeError):
                existing = b""
            if existing != self._root_der:
                raise StateError(f"{d} already holds another CA's root ({root_path}); refusing "
                                 "to overwrite it: choose another directory")
        if existing is None or not key_path.exists():
            _write_atomic(key_path, self._core.write_key, 0o600)
            if existing is None:
                _write_atomic(root_path, _write_bytes(self.root_pem.encode("ascii")), 0o644)
        inv = json.dumps({"v": 1, "serials": sorted(self._serials)}, indent=1) + "\n"
        _write_atomic(d / INVENTORY_FILE, _write_bytes(inv.encode("utf-8")), 0o644)
        if self._manufacturers or (d / MANUFACTURERS_FILE).exists():
            pems = "".join(der_to_pem(der) for der in self._manufacturers)
            _write_atomic(d / MANUFACTURERS_FILE, _write_bytes(pems.encode("ascii")), 0o644)
        _fsync_dir(d)

    # ------------------------------------------------------------------------- the root

    @property
    def root_der(self) -> bytes:
        """The root certificate, DER."""
        return self._root_der

    @property
    def root_pem(self) -> str:
        """The root certificate, PEM (what clients pin)."""
        return der_to_pem(self._root_der)

    @property
    def root_fingerprint(self) -> str:
        """SHA-256 of the root certificate's DER, hex."""
        import hashlib
        return hashlib.sha256(self._root_der).hexdigest()

    # ------------------------------------------------------------------------- inventory

    @property
    def serials(self) -> tuple[str, ...]:
        """The inventory: the hardware serials this CA certifies, sorted."""
        return tuple(sorted(self._serials))

    def add_serial(self, serial: str) -> bool:
        """Add a hardware serial to the inventory (in memory; :meth:`save` writes it). Returns
        False if it was already there."""
        _check_serial(serial)
        if serial in self._serials:
            return False
        self._serials.add(serial)
        return True

    def remove_serial(self, serial: str) -> bool:
        """Remove a serial from the inventory; returns False if it was not there."""
        _check_serial(serial)
        if serial not in self._serials:
            return False
        self._serials.remove(serial)
        return True

    # ------------------------------------------------------------------------- TPM manufacturers

    @property
    def manufacturer_roots(self) -> tuple[str, ...]:
        """The TPM manufacturer roots (PEM) that EK certificates must chain to."""
        return tuple(der_to_pem(d) for d in self._manufacturers)

    def add_manufacturer_root(self, pem: str | bytes) -> bool:
        """Add a TPM manufacturer's root certificate (one PEM CERTIFICATE block) to the
        inventory of EK trust anchors (in memory; :meth:`save` writes it to
        ``tpm-manufacturers.pem``). Returns False if it was already there. FormatError for
        anything but one PEM block holding one DER SEQUENCE (the certificate itself is parsed
        when an EK certificate is checked against it)."""
        der = pem_to_der(pem, "manufacturer root")
        if not _one_der_sequence(der):
            raise FormatError("manufacturer root: not a DER certificate")
        if der in self._manufacturers:
            return False
        self._manufacturers.append(der)
        return True

    def tpm_challenge(self, ek_cert_der: bytes, ak_public: bytes, serial: str, *,
                      intermediates: Sequence[str | bytes] = (),
                      now: int | None = None) -> TpmEnrollment:
        """Start certifying a TPM attestation key for the machine ``serial``: the serial must
        be in the inventory (VerifyError naming it), the EK certificate (DER, from
        :meth:`pcc.tpm.Tpm.ek_cert`) must chain to one of :attr:`manufacturer_roots` through
        optional ``intermediates`` (VerifyError), and ``ak_public`` (a marshalled TPMT_PUBLIC)
        must be a restricted, non-exportable signing key (VerifyError / FormatError). Returns
        the enrollment: send its ``blob`` and ``secret`` to the node, keep the rest for
        :meth:`issue_tpm_ak`."""
        _check_serial(serial)
        if serial not in self._serials:
            raise VerifyError(f"serial {serial!r} is not in the CA's inventory (add it with "
                              "`pcc ca add-serial`)")
        if not self._manufacturers:
            raise StateError("no TPM manufacturer roots: add one with "
                             "`pcc ca add-manufacturer-root`")
        ch = _tpm.challenge(ek_cert_der, ak_public, roots=list(self.manufacturer_roots),
                           intermediates=intermediates, now=now)
        if len(ch.ak.spki) != 120:  # the node certificate holds P-384 keys only
            raise VerifyError("the attestation key is not ECC P-384")
        return TpmEnrollment(serial=serial, challenge=ch)

    def issue_tpm_ak(self, enrollment: TpmEnrollment, answer: bytes, *,
                     now: int | None = None, days: int = NODE_DAYS) -> bytes:
        """Finish :meth:`tpm_challenge`: if ``answer`` (from
        :meth:`pcc.tpm.Tpm.activate_credential`) is the credential (VerifyError otherwise),
        return the node certificate (DER) for the attestation key, subject
        serialNumber=serial, with the tcg-kp-AIKCertificate extended key usage
        (:data:`pcc.tpm.AK_EKU_OID`) that verifiers require before they trust a quote. The
        serial must still be in the inventory."""
        if not isinstance(enrollment, TpmEnrollment):
            raise TypeError("enrollment must come from CA.tpm_challenge")
        ak = enrollment.challenge.check(answer)
        now, days = _now(now), _days(days)
        try:
            return self._core.issue_ak(ak.spki, enrollment.serial, tuple(self._serials), now,
                                       days)
        except UnknownKeyError as e:
            raise VerifyError(str(e)) from None

    # ------------------------------------------------------------------------- issuing

    def issue(self, csr_der: bytes, *, now: int | None = None, days: int = NODE_DAYS) -> bytes:
        """Check a node's certificate request and return its certificate (DER), valid from
        ``now`` (default: the current time) for ``days`` days.

        Refuses (with :mod:`pcc.errors` types): garbage or trailing bytes, a key that is not
        EC P-384 or a signature that is not ECDSA-SHA384 (:class:`UnsupportedError`), a
        self-signature that does not verify (:class:`VerifyError`), a subject without exactly
        one valid ``serialNumber`` (:class:`FormatError`), and a serial that is not in the
        inventory (:class:`VerifyError`, naming the serial).
        """
        if not isinstance(csr_der, (bytes, bytearray, memoryview)):
            raise TypeError("csr_der must be bytes")
        now, days = _now(now), _days(days)
        try:
            return self._core.issue(bytes(csr_der), tuple(self._serials), now, days)
        except UnknownKeyError as e:
            raise VerifyError(str(e)) from None


@dataclass(frozen=True, repr=False)
class TpmEnrollment:
    """One TPM attestation key waiting for its certificate: the machine's ``serial`` and the
    credential ``challenge`` (:class:`pcc.tpm.Challenge`). Send :attr:`blob` and :attr:`secret`
    to the node; its answer goes to :meth:`CA.issue_tpm_ak`."""

    serial: str
    challenge: _tpm.Challenge

    @property
    def blob(self) -> bytes:
        """The credential blob for TPM2_ActivateCredential."""
        return self.challenge.blob

    @property
    def secret(self) -> bytes:
        """The encrypted seed for TPM2_ActivateCredential."""
        return self.challenge.secret

    def __repr__(self) -> str:  # the credential stays out of reprs
        return f"TpmEnrollment(serial={self.serial!r}, {self.challenge!r})"


__all__ = [
    "CA",
    "MANUFACTURERS_FILE",
    "TpmEnrollment",
    "INVENTORY_FILE",
    "KEY_FILE",
    "NODE_DAYS",
    "ROOT_DAYS",
    "ROOT_FILE",
    "csr_serial",
    "der_to_pem",
    "pem_to_der",
    "serial_ok",
]
