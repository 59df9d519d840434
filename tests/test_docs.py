"""The docs stand on their own: no citations of files outside the project, links that resolve,
an index that lists every page, and the README still opening with the two commands."""
from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Built from pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([r"\bDESIGN" + r"(\.md|\s*§|\s*\\u00a7)", r"\bSTYLE" + r"(\.md|\s+\d)",
                               "/work/" + "shared"]))
TEXT = (".py", ".pyi", ".md", ".c", ".h", ".sh", ".toml", ".ipynb", ".in", ".txt")


def _files():
    for p in ROOT.rglob("*"):
        rel = p.relative_to(ROOT).as_posix()
        if rel.startswith((".git/", ".venv/", "build/")) or "/." in "/" + rel or \
                "__pycache__" in rel or not p.is_file():
            continue
        if p.suffix in TEXT or p.name in ("Makefile", "run"):
            yield p


def test_no_citations_of_files_outside_the_project():
    bad = []
    for p in _files():
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines()):
            if OUTSIDE.search(line):
                bad.append(f"{p.relative_to(ROOT)}:{i + 1}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)


def test_relative_links_resolve():
    bad = []
    for md in [*DOCS.glob("*.md"), ROOT / "README.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", md.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (md.parent / target).exists():
                bad.append(f"{md.relative_to(ROOT)} -> {target}")
    assert not bad, bad


def test_index_lists_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    missing = [p.name for p in DOCS.glob("*.md") if p.name != "index.md" and f"({p.name})" not in index]
    assert not missing, missing


def test_readme_starts_with_make_demo_and_make_test():
    lines = [ln for ln in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if ln]
    assert lines[0] == "# pcc" and lines[1] == "```sh"
    assert lines[2].startswith("make demo") and lines[3].startswith("make test")


def test_formats_page_covers_every_leaf_type_and_check():
    from pcc import transparency
    from pcc.transparency import leaves
    text = (DOCS / "formats.md").read_text(encoding="utf-8")
    for t in leaves.LEAF_TYPES:
        assert f"`{t}`" in text, t
    for check in transparency.CHECKS:
        assert f"`{check}`" in text, check
