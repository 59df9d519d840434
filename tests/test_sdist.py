"""The source distribution builds, carries every tracked source file, and installs into a fresh
virtual environment where ``pcc._core`` imports and works. Offline-friendly: no build isolation
(setuptools comes from the running environment) and no dependency downloads (--no-deps)."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _tracked() -> list[str]:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return [p for p in out.splitlines() if (ROOT / p).is_file()]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> pathlib.Path:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir",
                        str(out), str(ROOT)], capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (path,) = out.glob("pcc-*.tar.gz")
    return path


def test_sdist_carries_every_tracked_source(sdist):
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    wanted = [p for p in _tracked()
              if p.startswith(("csrc/", "pcc/", "scripts/", "tests/", "docs/", "notebooks/"))
              or p in ("setup.py", "pyproject.toml", "Makefile", "README.md", "LICENSE")]
    missing = [p for p in wanted if p not in names]
    assert not missing, f"missing from the sdist: {missing[:20]}"
    assert any(n.startswith("csrc/include/pcc/") and n.endswith(".h") for n in names)
    assert not [n for n in names if n.endswith((".so", ".o", ".pyc")) or "__pycache__" in n]


def test_sdist_installs_in_a_fresh_venv(sdist, tmp_path):
    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", "-w", str(wheels), str(sdist)],
                       capture_output=True, text=True, timeout=600, env=env, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (wheel,) = wheels.glob("pcc-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index",
                        "--disable-pip-version-check", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=300, env=env, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    code = ("import pcc, pcc._core as c, pathlib; "
            "assert 'site-packages' in pcc.__file__, pcc.__file__; "
            "assert (pathlib.Path(pcc.__file__).parent / 'py.typed').exists(); "
            "assert (pathlib.Path(pcc.__file__).parent / '_core.pyi').exists(); "
            "import hashlib; from pcc import merkle; "
            "assert merkle.leaf_hash(b'x') == hashlib.sha256(b'\\x00x').digest(); "
            "print(c.__name__)")
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=str(tmp_path),
                       env=env, timeout=120, check=False)
    assert r.returncode == 0 and r.stdout.strip() == "pcc._core", r.stderr[-3000:]
