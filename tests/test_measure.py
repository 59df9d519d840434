"""Measurements: tree manifest (against coreutils), model and config digests, canonical msgpack."""
import hashlib
import os
import shutil
import subprocess

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcc import _measure
from pcc.errors import FormatError, InvalidArgument


def make_tree(root):
    files = {
        "__init__.py": b"# pkg\n",
        "Zeta.py": b"upper case sorts first\n",
        "a.py": b"print('a')\n",
        "sub/b.txt": b"b" * 3000,
        "sub/deeper/c.bin": bytes(range(256)),
        "sub/caf\u00e9.txt": b"unicode name\n",
        "a.py.orig": b"",
        "_core.cpython-311-x86_64-linux-gnu.so": b"\x7fELF" + bytes(100),
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    # not measured
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"junk")
    (root / "sub" / "__pycache__").mkdir()
    (root / "sub" / "__pycache__" / "notes.txt").write_bytes(b"skipped too")
    (root / "stray.pyc").write_bytes(b"junk")
    return files


def test_tree_manifest_known_answer(tmp_path):
    files = make_tree(tmp_path)
    lines = sorted((rel.encode(), hashlib.sha384(d).hexdigest()) for rel, d in files.items())
    want = b"".join(h.encode() + b" " + rel + b"\n" for rel, h in lines)
    assert _measure.tree_manifest(tmp_path) == want
    assert _measure.tree_manifest_digest(tmp_path) == hashlib.sha384(want).digest()
    # the order is by bytes: "Zeta.py" < "__init__.py" < "a.py" < "a.py.orig" < "sub/b.txt"
    paths = [ln.split(b" ", 1)[1] for ln in want.splitlines()]
    assert paths[:4] == [b"Zeta.py", b"__init__.py", b"_core.cpython-311-x86_64-linux-gnu.so",
                         b"a.py"]


@pytest.mark.skipif(shutil.which("sha384sum") is None, reason="needs coreutils")
def test_tree_manifest_matches_coreutils(tmp_path):
    """The recipe in docs/releases.md, with find, sort and sha384sum."""
    make_tree(tmp_path)
    script = ("find . -type f ! -path '*/__pycache__/*' ! -name '*.pyc' | sed 's|^\\./||' "
              "| LC_ALL=C sort | while IFS= read -r f; do "
              "printf '%s %s\\n' \"$(sha384sum < \"$f\" | cut -d' ' -f1)\" \"$f\"; done "
              "| sha384sum | cut -d' ' -f1")
    out = subprocess.run(["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == _measure.tree_manifest_digest(tmp_path).hex()


def test_tree_manifest_changes(tmp_path):
    make_tree(tmp_path)
    d0 = _measure.tree_manifest_digest(tmp_path)
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"more junk")
    assert _measure.tree_manifest_digest(tmp_path) == d0
    (tmp_path / "sub" / "b.txt").write_bytes(b"b" * 2999 + b"c")
    d1 = _measure.tree_manifest_digest(tmp_path)
    assert d1 != d0
    (tmp_path / "new.py").write_bytes(b"")
    d2 = _measure.tree_manifest_digest(tmp_path)
    assert d2 != d1
    (tmp_path / "new.py").rename(tmp_path / "new2.py")
    assert _measure.tree_manifest_digest(tmp_path) != d2


def test_symlinks(tmp_path):
    make_tree(tmp_path)
    d0 = _measure.tree_manifest(tmp_path)
    # a link to a file inside the tree: measured as that file, under the link's path
    (tmp_path / "link.py").symlink_to("a.py")
    m = _measure.parse_tree_manifest(_measure.tree_manifest(tmp_path))
    assert m["link.py"] == m["a.py"] and len(m) == len(_measure.parse_tree_manifest(d0)) + 1
    (tmp_path / "link.py").unlink()
    outside = tmp_path.parent / (tmp_path.name + "-outside.txt")
    outside.write_bytes(b"secret")
    (tmp_path / "out.txt").symlink_to(outside)
    with pytest.raises(FormatError, match="out.txt.*outside"):
        _measure.tree_manifest(tmp_path)
    (tmp_path / "out.txt").unlink()
    (tmp_path / "up.txt").symlink_to("../" + outside.name)
    with pytest.raises(FormatError, match="outside"):
        _measure.tree_manifest(tmp_path)
    (tmp_path / "up.txt").unlink()
    (tmp_path / "dangling").symlink_to("nope")
    with pytest.raises(FormatError, match="dangling"):
        _measure.tree_manifest(tmp_path)
    (tmp_path / "dangling").unlink()
    (tmp_path / "dirlink").symlink_to("sub")
    with pytest.raises(FormatError, match="directory"):
        _measure.tree_manifest(tmp_path)
    (tmp_path / "dirlink").unlink()
    # the package directory itself may be reached through a link
    alias = tmp_path.parent / (tmp_path.name + "-alias")
    alias.symlink_to(tmp_path)
    assert _measure.tree_manifest(alias) == d0


def test_refused_entries(tmp_path):
    make_tree(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(FormatError, match="regular"):
        _measure.tree_manifest(tmp_path)
    (tmp_path / "fifo").unlink()
    (tmp_path / "bad\nname").write_bytes(b"")
    with pytest.raises(FormatError, match="control"):
        _measure.tree_manifest(tmp_path)
    (tmp_path / "bad\nname").unlink()
    (tmp_path / os.fsdecode(b"\xff.bin")).write_bytes(b"")
    with pytest.raises(FormatError, match="UTF-8"):
        _measure.tree_manifest(tmp_path)


def test_empty_and_missing(tmp_path):
    with pytest.raises(FormatError):
        _measure.tree_manifest(tmp_path)
    with pytest.raises(InvalidArgument):
        _measure.tree_manifest(tmp_path / "nope")
    with pytest.raises(InvalidArgument):
        _measure.model_digest(tmp_path)


def test_parse_and_diff(tmp_path):
    make_tree(tmp_path)
    old = _measure.parse_tree_manifest(_measure.tree_manifest(tmp_path))
    (tmp_path / "a.py").write_bytes(b"changed")
    (tmp_path / "Zeta.py").unlink()
    (tmp_path / "added.py").write_bytes(b"")
    new = _measure.parse_tree_manifest(_measure.tree_manifest(tmp_path))
    assert _measure.diff_tree_manifests(old, new) == ["removed Zeta.py", "changed a.py",
                                                      "added added.py"]
    for bad in (b"x", b"00 a\n", b"g" * 96 + b" p\n", b"0" * 96 + b" b\n" + b"0" * 96 + b" a\n",
                b"0" * 96 + b" a\n" + b"0" * 96 + b" a\n", b"0" * 96 + b"\n"):
        with pytest.raises(FormatError):
            _measure.parse_tree_manifest(bad)


def test_model_digest(tmp_path):
    data = os.urandom(3 << 20) + b"tail"
    (tmp_path / "m.gguf").write_bytes(data)
    assert _measure.model_digest(tmp_path / "m.gguf") == hashlib.sha384(data).digest()


# ----------------------------------------------------------------------------- config

def test_config_known_answer():
    cfg = {"b": 1, "a": {"d": [1, 2], "c": None}, "e": 1.5, "f": True, "g": "x"}
    want = bytes([0x85, 0xa1]) + b"a" + bytes([0x82, 0xa1]) + b"c" + bytes([0xc0, 0xa1]) + \
        b"d" + bytes([0x92, 0x01, 0x02, 0xa1]) + b"b" + bytes([0x01, 0xa1]) + b"e" + \
        bytes([0xcb]) + bytes.fromhex("3ff8000000000000") + \
        bytes([0xa1]) + b"f" + bytes([0xc3, 0xa1]) + b"g" + bytes([0xa1]) + b"x"
    assert _measure.canonical_config(cfg) == want
    assert _measure.config_digest(cfg) == hashlib.sha384(want).digest()
    # key order does not matter; utf-8 byte order of keys
    assert _measure.canonical_config({"\u00e9": 1, "z": 2}) == \
        msgpack.packb({"z": 2, "\u00e9": 1})
    assert _measure.config_digest({"a": 1, "b": 2}) == _measure.config_digest({"b": 2, "a": 1})
    assert _measure.config_digest({"a": (1, 2)}) == _measure.config_digest({"a": [1, 2]})
    assert _measure.config_digest({"a": 1}) != _measure.config_digest({"a": 1.0})


@pytest.mark.parametrize("bad", [{1: "x"}, {"a": float("nan")}, {"a": float("inf")},
                                 {"a": {1, 2}}, {"a": 1 << 64}, {"a": -(1 << 63) - 1},
                                 {"a": object()}, {"\ud800": 1}])
def test_config_refused(bad):
    with pytest.raises(FormatError):
        _measure.config_digest(bad)


def test_config_depth_and_type():
    deep: dict = {}
    cur = deep
    for _ in range(70):
        cur["x"] = {}
        cur = cur["x"]
    with pytest.raises(FormatError, match="deeper"):
        _measure.config_digest(deep)
    with pytest.raises(TypeError):
        _measure.config_digest([1, 2])


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1) |
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids,
                                                              max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _json, max_size=6), st.randoms())
def test_config_order_independent(cfg, rnd):
    def shuffle(v):
        if isinstance(v, dict):
            items = list(v.items())
            rnd.shuffle(items)
            return {k: shuffle(x) for k, x in items}
        if isinstance(v, list):
            return [shuffle(x) for x in v]
        return v
    enc = _measure.canonical_config(cfg)
    assert _measure.canonical_config(shuffle(cfg)) == enc
    # it decodes back to the same value
    assert msgpack.unpackb(enc, raw=False, strict_map_key=False) == cfg
