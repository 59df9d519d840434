"""The shipped type stubs match the extension: current, and naming every public _core member."""
import ast
import pathlib
import subprocess
import sys

from pcc import _core

ROOT = pathlib.Path(__file__).resolve().parent.parent


def stub_names():
    tree = ast.parse((ROOT / "pcc" / "_core.pyi").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_stub_file_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_core_pyi.py"), "--check"])
    assert r.returncode == 0, "pcc/_core.pyi is stale: run scripts/gen_core_pyi.py"


def test_every_public_core_name_has_a_stub():
    public = {n for n in dir(_core) if not n.startswith("_")}
    missing = sorted(public - stub_names())
    assert not missing, f"no stub for: {missing}"
