"""Tile paths and geometry (c2sp.org/tlog-tiles) and the store-based Merkle tree."""
import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from conftest import load_vector
from pcc import merkle
from pcc.transparency import tiles
from pcc.services._tlogstore import LogStore, ProcessLock
from pcc.transparency.tiles import Tile
from pcc.errors import FormatError, InvalidArgument, StateError

V = load_vector("merkle_rfc9162.json")
LEAVES = [bytes.fromhex(x) for x in V["leaf_inputs_hex"]]


# --------------------------------------------------------------------------- paths

def test_index_encoding_spec_example():
    # tlog-tiles: index 1234067 is encoded as x001/x234/067
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.encode_index(0) == "000"
    assert tiles.encode_index(999) == "999"
    assert tiles.encode_index(1000) == "x001/000"


def test_tile_paths():
    assert Tile(0, 1234067).path == "tile/0/x001/x234/067"
    assert Tile(2, 5, 17).path == "tile/2/005.p/17"
    assert Tile(-1, 1234067, 255).path == "tile/entries/x001/x234/067.p/255"


@pytest.mark.parametrize("path,want", [
    ("tile/0/x001/x234/067", Tile(0, 1234067)),
    ("/tile/0/000", Tile(0, 0)),
    ("tile/63/000.p/1", Tile(63, 0, 1)),
    ("tile/entries/x001/000.p/255", Tile(-1, 1000, 255)),
])
def test_parse_path(path, want):
    assert tiles.parse_path(path) == want
    assert tiles.parse_path(want.path) == want


@pytest.mark.parametrize("bad", [
    "tile/00/000",              # leading zero in level
    "tile/64/000",              # level above 63
    "tile/-1/000",
    "tile/0/0",                 # groups are 3 digits
    "tile/0/1234",
    "tile/0/001/002",           # non-last groups need x
    "tile/0/x001",              # last group has no x
    "tile/0/x000/001",          # leading zero group: not canonical
    "tile/0/000.p/0",           # width 1..255
    "tile/0/000.p/256",
    "tile/0/000.p/07",          # leading zero in width
    "tile/0/000.p",
    "tile/0/000.q/5",
    "tiles/0/000",
    "tile/entries",
    "tile/0/",
    "//tile/0/000",
    "tile/0/x" + "/x".join(["999"] * 7) + "/999",   # beyond 2**63
    "tile/0/" + "x001/" * 40 + "000",
])
def test_parse_path_rejects(bad):
    with pytest.raises(FormatError):
        tiles.parse_path(bad)


@given(st.integers(0, 2**63 - 1), st.integers(-1, 63), st.integers(1, 256))
def test_path_roundtrip(index, level, width):
    t = Tile(level, index, width)
    assert tiles.parse_path(t.path) == t


@given(st.text(max_size=60))
@settings(max_examples=300)
def test_parse_path_fuzz(s):
    try:
        t = tiles.parse_path(s)
    except FormatError:
        return
    assert t.path == s.lstrip("/") if s.startswith("/") else t.path == s


def test_encode_index_rejects_negative():
    with pytest.raises(InvalidArgument):
        tiles.encode_index(-1)


# --------------------------------------------------------------------------- geometry

def test_tiles_for_size_spec_example():
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    # tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    # partial level 2 tile of width 1"
    ts = tiles.tiles_for_size(70000)
    by_level = {}
    for t in ts:
        by_level.setdefault(t.level, []).append(t)
    assert len([t for t in by_level[0] if not t.is_partial]) == 273
    assert [t.width for t in by_level[0] if t.is_partial] == [112]
    assert [t.width for t in by_level[1]] == [256, 17]
    assert [t.width for t in by_level[2]] == [1]
    assert set(by_level) == {0, 1, 2}


def test_tiles_for_size_256():
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile
    # of width 1"
    assert tiles.tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles.tiles_for_size(0) == []


def test_tile_available():
    assert tiles.tile_available(Tile(0, 0), 256)
    assert not tiles.tile_available(Tile(0, 0), 255)
    assert tiles.tile_available(Tile(0, 0, 255), 255)
    assert tiles.tile_available(Tile(0, 0, 5), 255)          # older partial still derivable
    assert not tiles.tile_available(Tile(0, 1, 1), 256)
    assert tiles.tile_available(Tile(1, 0, 1), 256)
    assert not tiles.tile_available(Tile(1, 0, 2), 511)
    assert tiles.tile_available(Tile(-1, 0, 7), 7)
    assert not tiles.tile_available(Tile(-1, 0, 8), 7)


def test_bundles_for_size():
    assert tiles.entry_bundles_for_size(513) == [Tile(-1, 0), Tile(-1, 1), Tile(-1, 2, 1)]
    assert tiles.entry_bundles_for_size(512) == [Tile(-1, 0), Tile(-1, 1)]


def test_bundle_codec():
    entries = [b"", b"a", b"x" * 65535]
    data = tiles.encode_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:5] == b"\x00\x01a"
    assert tiles.decode_bundle(data, 3) == entries


@pytest.mark.parametrize("bad,count", [
    (b"\x00", None),                  # truncated length
    (b"\x00\x05abc", None),           # truncated entry
    (b"\x00\x01a\x00\x01b", 1),       # too many
    (b"\x00\x01a", 2),                # too few
])
def test_bundle_rejects(bad, count):
    with pytest.raises(FormatError):
        tiles.decode_bundle(bad, count)


def test_bundle_entry_too_long():
    with pytest.raises(InvalidArgument):
        tiles.encode_bundle([b"x" * 65536])


def test_split_hashes():
    assert tiles.split_hashes(b"\x01" * 64, 2) == [b"\x01" * 32] * 2
    with pytest.raises(FormatError):
        tiles.split_hashes(b"\x01" * 33)
    with pytest.raises(FormatError):
        tiles.split_hashes(b"\x01" * 64, 3)


# --------------------------------------------------------------------------- SQLite node store

def _log_store(tmp_path, leaves, batches=1):
    store = LogStore(str(tmp_path / "t.db"), "origin.example")
    tree = merkle.Tree(store)
    step = max(1, len(leaves) // batches)
    for i in range(0, len(leaves), step):
        chunk = leaves[i:i + step]
        store.append_batch(tree.size, tree, [(x, merkle.leaf_hash(x)) for x in chunk])
    return store, tree


def test_store_roots_and_proofs_match_vectors(tmp_path):
    store, tree = _log_store(tmp_path, LEAVES, batches=3)
    for size, want in V["roots_by_tree_size"].items():
        if int(size):
            assert tree.root(int(size)).hex() == want
    for case in V["inclusion_proofs_official"]["vectors"] + V["all_inclusion_proofs_derived"]:
        got = tree.inclusion_proof(case["leaf_index"], case["tree_size"])
        assert [h.hex() for h in got] == case["proof"]
    for case in V["consistency_proofs_official"]["vectors"] + \
            V["all_consistency_proofs_derived"]:
        got = tree.consistency_proof(case["size1"], case["size2"])
        assert [h.hex() for h in got] == case["proof"]
    # a tree resumed from the store (as after a restart) agrees
    again = merkle.Tree(store, size=store.tree_size())
    assert again.root() == tree.root() and store.tree_size() == 8
    store.close()


def test_store_tiles_match_tree(tmp_path):
    data = [i.to_bytes(3, "big") for i in range(70000 // 100)]
    store, tree = _log_store(tmp_path, data, batches=7)
    mem = merkle.Tree()
    mem.append_many(data)
    assert tree.root() == mem.root()
    for t in tiles.tiles_for_size(len(data)):
        assert store.tile(t) == b"".join(mem.nodes(t.node_level(), t.start, t.start + t.width))
    for t in tiles.entry_bundles_for_size(len(data)):
        assert tiles.decode_bundle(store.tile(t), t.width) == data[t.start:t.start + t.width]
    store.close()


def test_store_duplicates_keep_their_index(tmp_path):
    store, tree = _log_store(tmp_path, [b"a", b"b"])
    got = store.append_batch(2, tree, [(x, merkle.leaf_hash(x)) for x in (b"c", b"a", b"c")])
    assert got == [2, 0, 2] and store.tree_size() == 3 and tree.size == 3
    assert store.lookup(merkle.leaf_hash(b"b")) == 1
    store.close()


def test_store_refuses_a_stale_start(tmp_path):
    store, tree = _log_store(tmp_path, [b"a", b"b"])
    with pytest.raises(StateError):
        store.append_batch(1, tree, [(b"x", merkle.leaf_hash(b"x"))])
    assert store.tree_size() == 2 and store.lookup(merkle.leaf_hash(b"x")) is None
    store.close()


def test_store_failed_batch_leaves_nothing(tmp_path):
    store, tree = _log_store(tmp_path, [b"a"])

    class Boom(Exception):
        pass

    orig = store.put_many

    def put_many(items):
        orig(items)
        raise Boom()

    store.put_many = put_many
    with pytest.raises(Boom):
        store.append_batch(1, tree, [(x, merkle.leaf_hash(x)) for x in (b"b", b"c")])
    assert store.tree_size() == 1 and tree.size == 1
    assert store.get(1, 0) is None and store.lookup(merkle.leaf_hash(b"b")) is None
    store.close()


def test_store_origin_is_pinned(tmp_path):
    LogStore(str(tmp_path / "o.db"), "a.example").close()
    with pytest.raises(StateError):
        LogStore(str(tmp_path / "o.db"), "b.example")


def test_process_lock(tmp_path):
    lock = ProcessLock(str(tmp_path / "x.lock"))
    with pytest.raises(StateError):
        ProcessLock(str(tmp_path / "x.lock"))
    lock.release()
    ProcessLock(str(tmp_path / "x.lock")).release()


# ---- a tlog-proof built from the tiles a log serves (TileReader.proof) ------------------------

class _TreeReader:
    """TileReader.proof over an in-memory tree: serves its checkpoint, hash tiles and bundles."""

    def __init__(self, n):
        from pcc import merkle
        from pcc.transparency import _note as tlognote
        from pcc.transparency.client import TileReader
        self.entries = [f"entry {i}".encode() for i in range(n)]
        self.tree = merkle.Tree()
        self.tree.append_many(self.entries)
        skey, self.vkey = tlognote.generate("log.example/tiles")
        text = tlognote.checkpoint_text("log.example/tiles", n, self.tree.root())
        self.note = tlognote.sign_checkpoint(tlognote.load_signer(skey), text).format()
        self.fetched = []
        reader = self

        class R(TileReader):
            def __init__(self):
                pass

            def checkpoint(self):
                return reader.note

            def tile(self, t):
                reader.fetched.append(t.path)
                if t.is_entries:
                    return tiles.encode_bundle(reader.entries[t.start:t.start + t.width])
                return b"".join(reader.tree.nodes(t.node_level(), t.start, t.start + t.width))

        self.reader = R()


@pytest.mark.parametrize("n", [1, 2, 3, 7, 255, 256, 257, 511, 513, 1000, 65536, 65537, 70001])
def test_proof_from_tiles_verifies(n):
    from pcc import transparency
    from pcc.transparency import _note as tlognote
    w = _TreeReader(n)
    for index in sorted({0, 1 % n, n // 2, n - 2 if n > 1 else 0, n - 1, 255 % n, 256 % n}):
        leaf, proof = w.reader.proof(index)
        assert leaf == w.entries[index]
        p = tlognote.parse_proof(proof)
        assert p.index == index and list(p.hashes) == w.tree.inclusion_proof(index, n)
        transparency.verify_proof(leaf, proof, w.vkey)
        assert w.reader.inclusion_proof(index) == proof
    assert len(set(w.fetched)) <= 60          # a handful of tiles per proof, never the log


def test_proof_index_beyond_checkpoint():
    w = _TreeReader(5)
    with pytest.raises(FormatError):
        w.reader.proof(5)
    with pytest.raises(TypeError):
        w.reader.proof(-1)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), data=st.data())
def test_proof_from_tiles_any_size(n, data):
    from pcc import transparency
    w = _TreeReader(n)
    index = data.draw(st.integers(0, n - 1))
    leaf, proof = w.reader.proof(index)
    assert leaf == w.entries[index]
    transparency.verify_proof(leaf, proof, w.vkey)
