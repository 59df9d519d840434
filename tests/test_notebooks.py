"""Every notebook in notebooks/ runs top to bottom (code cells in order, one namespace).

A notebook whose metadata holds ``{"pcc": {"slow": true}}`` (the real model) is marked slow."""
import json
import pathlib

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def _param(path: pathlib.Path):
    meta = json.loads(path.read_text()).get("metadata", {})
    marks = [pytest.mark.slow] if meta.get("pcc", {}).get("slow") else []
    return pytest.param(path, id=path.name, marks=marks)


def test_there_are_notebooks():
    assert NOTEBOOKS
    names = " ".join(p.name for p in NOTEBOOKS)
    assert "log" in names and "model" in names


@pytest.mark.parametrize("path", [_param(p) for p in NOTEBOOKS])
def test_notebook_runs(path, capsys):
    nb = json.loads(path.read_text())
    ns: dict = {"__name__": "__notebook__"}
    ran = 0
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        exec(compile(src, f"{path.name}[cell {i}]", "exec"), ns)  # noqa: S102
        ran += 1
    assert ran > 0
    assert capsys.readouterr().out.strip(), "a walkthrough should show its results"


def test_log_notebook_shows_a_verified_proof(capsys):
    path = next(p for p in NOTEBOOKS if "log" in p.name)
    nb = json.loads(path.read_text())
    ns: dict = {"__name__": "__notebook__"}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), path.name, "exec"), ns)  # noqa: S102
    out = capsys.readouterr().out
    assert "ok   inclusion" in out and "exit status 0" in out
    assert "c2sp.org/tlog-proof@v1" in out
    assert "inclusion check failed" in out and "witness quorum check failed" in out
