"""Types agree with the docs: mypy accepts the package and every ```python block in docs/.

Each docs page's ```python blocks are joined into one module (in order, like a notebook) and
type-checked against the package; API listings that are not Python (``-> bytes``, ``a | b``
alternatives) live in ```text blocks instead."""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]

pytest.importorskip("mypy")


def _blocks(md: pathlib.Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", md.read_text(encoding="utf-8"), re.S | re.M)


def _mypy(*targets: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                           str(ROOT / "pyproject.toml"), "--no-incremental",
                           "--cache-dir", "/dev/null", *targets],
                          capture_output=True, text=True, cwd=str(ROOT), timeout=600, check=False)


def test_mypy_accepts_the_package():
    r = _mypy("pcc")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]


def test_mypy_accepts_the_docs_snippets(tmp_path):
    written = []
    for md in DOCS:
        blocks = _blocks(md)
        if not blocks:
            continue
        src = "\n".join(blocks)
        compile(src, str(md), "exec")      # a syntax error names the page
        out = tmp_path / f"doc_{md.stem}.py"
        out.write_text(src, encoding="utf-8")
        written.append(str(out))
    assert len(written) >= 6, written
    r = _mypy(*written)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]


def test_the_documented_forms_are_checked():
    """The two calls the issue found rejected are in the checked snippets."""
    ohttp = "\n".join(_blocks(ROOT / "docs" / "ohttp.md"))
    bhttp = "\n".join(_blocks(ROOT / "docs" / "bhttp.md"))
    assert re.search(r"ohttp\.KeyConfig\(.*suites=\[\(", ohttp)
    assert re.search(r'headers=\[\("content-type", "', bhttp)
