"""The client's guards around client-chosen selection, over loopback with real services (log,
witnesses, issuer, relay, gateway; the nodes are tests/_testnode.py): a roster superseded in the
log is caught (by the client with check_newest, by `pcc audit roster`, by
pcc.roster.find_newer); the highest accepted epoch survives a restart in a state file; a gateway
that keeps its roster proof fresh from the log itself; the bound on withheld nodes.

The tests run in file order against one cell: the ones that look for a newer roster come first,
before later tests log newer rosters of their own."""
from __future__ import annotations

import dataclasses
import json
import os
import stat
import time

import pytest
from hypothesis import given, settings, strategies as st

from pcc import merkle, note, roster, transparency
from pcc.cell import _Logged
from pcc.cli import main
from pcc.client import Client
from pcc.errors import InvalidArgument, StateError, VerifyError
from pcc.services.gateway import RosterFromLog
from pcc.transparency import leaves

from _testnode import cell_with_nodes, hostile_gateway, stop_cell, withhold_first_once
import llm_tiny

MSGS = [{"role": "user", "content": "Say hello"}]
MODEL = "tiny-chat"
N_NODES = 4
KEY = f"roster:{MODEL}"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return llm_tiny.build(tmp_path_factory.mktemp("model"), llm_tiny.F32,
                          name="tiny-chat.gguf").path


@pytest.fixture(scope="module")
def cell(tmp_path_factory, tiny):
    c = cell_with_nodes(tmp_path_factory.mktemp("cell"), tiny, MODEL, N_NODES, "SN-GUARD")
    yield c
    stop_cell(c)


def client(cell, **kw) -> Client:
    kw.setdefault("state", None)
    return Client.from_config(cell.dir / "client.json", **kw)


def served(cell) -> _Logged:
    with cell._roster_lock:
        return cell._logged[KEY]


def trust_args(cell):
    return cell.vkey("log"), [cell.vkey("witness-1"), cell.vkey("witness-2")], 2


def log_newer(cell, epoch_delta, nodes=None) -> tuple[bytes, int, str]:
    """Log a roster of MODEL with a higher epoch than the one served (the gateway goes on
    serving the old one); returns (leaf, index, proof)."""
    old = roster.from_leaf(served(cell).leaf)
    leaf = leaves.roster(MODEL, old.epoch + epoch_delta, nodes or list(old.nodes))
    index, proof = cell.publish(leaf)
    return leaf, index, proof


# ---- newest roster ----------------------------------------------------------------------------

def test_newest_roster_passes(cell, tmp_path, capsys):
    cur = served(cell)
    assert roster.find_newer(cell.urls["log"], cur.leaf, cur.proof, *trust_args(cell)) is None
    c = client(cell, k=2, check_newest=True)
    assert c.complete(MSGS, max_tokens=2)
    assert c.last_report["newest_checked"] is True
    assert "no newer roster for the model" in c.explain()
    c.close()
    capsys.readouterr()
    rc = main(["audit", "roster", "--config", str(cell.dir / "client.json")])
    out = capsys.readouterr().out
    assert rc == 0 and "is the newest the log holds" in out, out
    state = tmp_path / "st.json"
    rc = main(["chat", "--config", str(cell.dir / "client.json"), "--state", str(state),
               "--check-newest", "--max-tokens", "2", "--explain", "Hi"])
    out = capsys.readouterr().out
    assert rc == 0 and "no newer roster for the model" in out and "withheld: 0 of" in out
    assert json.loads(state.read_text())["rosters"][MODEL]["epoch"] == \
        roster.from_leaf(cur.leaf).epoch


def test_superseded_roster_is_caught(cell, tmp_path, capsys):
    """The log holds two rosters of the model; the gateway serves the older one. The client
    that checks refuses it, `pcc audit roster` exits 3, find_newer names the newer leaf; a
    client that does not check takes it (what the check adds)."""
    old = served(cell)
    leaf, index, proof = log_newer(cell, 1000)
    newer = roster.find_newer(cell.urls["log"], old.leaf, old.proof, *trust_args(cell))
    assert newer is not None and newer.index == index
    assert newer.roster == roster.from_leaf(leaf)
    # a later roster with a lower epoch does not supersede the newest
    assert roster.find_newer(cell.urls["log"], leaf, proof, *trust_args(cell)) is None
    c = client(cell, check_newest=True)
    with pytest.raises(VerifyError, match=f"superseded by epoch {newer.roster.epoch} logged at "
                                          f"index {index}: the gateway serves an old roster"):
        c.nodes()
    c.close()
    plain = client(cell)
    assert plain.roster().epoch == roster.from_leaf(old.leaf).epoch
    plain.close()
    capsys.readouterr()
    rc = main(["audit", "roster", "--config", str(cell.dir / "client.json")])
    out = capsys.readouterr().out
    assert rc == 3 and f"SUPERSEDED by epoch {newer.roster.epoch} at index {index}" in out
    # the same from files, and a bound on the work
    (tmp_path / "r.leaf").write_bytes(old.leaf)
    (tmp_path / "r.tlog-proof").write_text(old.proof)
    files = ["audit", "roster", "--leaf", str(tmp_path / "r.leaf"), "--proof",
             str(tmp_path / "r.tlog-proof"), "--log", cell.urls["log"],
             "--log-vkey", cell.vkey("log"), "--witness", cell.vkey("witness-1"),
             "--witness", cell.vkey("witness-2")]
    assert main(files) == 3
    capsys.readouterr()
    assert main(files + ["--max-leaves", "0"]) == 2
    assert "more than 0 to scan" in capsys.readouterr().err
    # from here on the gateway serves the newest roster again (a still newer one, all nodes)
    leaf2, _, proof2 = log_newer(cell, 2000)
    with cell._roster_lock:
        cell._logged[KEY] = _Logged(leaf2, proof2)


def test_find_newer_refuses_a_proof_that_does_not_verify(cell):
    cur = served(cell)
    forged = leaves.roster(MODEL, 1, [cell.test_nodes[0].node_id])
    with pytest.raises(VerifyError):
        roster.find_newer(cell.urls["log"], forged, cur.proof, *trust_args(cell))


def test_find_newer_catches_a_log_hiding_a_leaf(cell):
    """A log (or a path to it) that serves entry bundles without the newer roster cannot hide
    it: the root recomputed from what it served does not match its witnessed checkpoint."""
    from pcc.transparency import tiles
    from pcc.transparency.client import TileReader
    old = served(cell)
    _, index, _ = log_newer(cell, 10)            # a later leaf for the reader to drop

    class Hiding(TileReader):
        def tile(self, t):
            data = super().tile(t)
            if t.is_entries:
                es = tiles.decode_bundle(data, t.width)
                j = index - t.index * tiles.TILE_WIDTH
                if 0 <= j < len(es):
                    es[j] = leaves.roster("other", 1, [bytes(32)])
                    return tiles.encode_bundle(es)
            return data
    with Hiding(cell.urls["log"]) as rd:
        with pytest.raises(VerifyError, match="do not give the checkpoint's root"):
            roster.find_newer(cell.urls["log"], old.leaf, old.proof, *trust_args(cell),
                              reader=rd)
    with cell._roster_lock:          # serve the newest again (the leaf logged just above is)
        cur = cell._logged[KEY]
        top = leaves.roster(MODEL, roster.from_leaf(cur.leaf).epoch + 100,
                            list(roster.from_leaf(cur.leaf).nodes))
        _, proof = cell.publish(top)
        cell._logged[KEY] = _Logged(top, proof)


def test_log_audit_names_the_newest_roster(cell, capsys):
    """`pcc log audit` replays the whole log: it names each model's newest roster, and a
    roster logged after one of a higher epoch (which a scan from the served roster on does not
    count as newer)."""
    top = roster.from_leaf(served(cell).leaf)
    cell.publish(leaves.roster(MODEL, top.epoch - 50, list(top.nodes)))   # an older epoch, later
    capsys.readouterr()
    rc = main(["log", "audit", "--log", cell.urls["log"], "--vkey", cell.vkey("log"),
               "--witness", cell.vkey("witness-1"), "--witness", cell.vkey("witness-2"),
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"newest roster: {MODEL} epoch {top.epoch} at index " \
        f"{note.parse_proof(served(cell).proof).index}" in err
    assert f"ROSTER EPOCH WENT BACK: {MODEL} epoch {top.epoch - 50} at index " in err
    assert f"was logged after epoch {top.epoch} (index " in err


# ---- the gateway refreshes its roster proof from the log --------------------------------------

def test_gateway_refreshes_the_proof_from_the_log(cell, monkeypatch):
    cur = served(cell)
    index = note.parse_proof(cur.proof).index
    vkey, wits, quorum = trust_args(cell)
    src = RosterFromLog(cell.urls["log"], [(cur.leaf, index)], vkey, wits, quorum,
                        refresh_s=3600, proofs=[cur.proof])
    assert src(MODEL) == (cur.leaf, cur.proof)           # the given proof, still fresh
    assert src("other") is None
    size0 = transparency.verify_proof(cur.leaf, cur.proof, vkey, wits, quorum)[1].size
    cell.publish(leaves.roster("filler-model", 1, [bytes(32)]))     # the log grows
    assert src.refresh() == 1
    leaf, proof = src(MODEL)
    got_index, cp = transparency.verify_proof(leaf, proof, vkey, wits, quorum, 60)
    assert leaf == cur.leaf and got_index == index and cp.size > size0
    # served to a client through the relay, as the cell's own source would be
    st = cell.gateway_app.state
    monkeypatch.setattr(st, "config", dataclasses.replace(st.config, roster=src))
    c = client(cell, k=2)
    assert c.complete(MSGS, max_tokens=2)
    assert c.last_report["roster"]["log_index"] == index
    assert c.roster_proof()[1] == proof
    c.close()
    # the log cannot be reached: the previous proof stays, the error is kept
    src.log_url = "http://127.0.0.1:9"
    assert src.refresh() == 0 and src(MODEL) == (leaf, proof)
    assert "roster of tiny-chat" in (src.last_error or "")


def test_cell_refreshes_its_roster_proof_from_the_log(cell, monkeypatch):
    """`pcc up` keeps its roster proof fresh the way a gateway without the publisher key can:
    from the log's checkpoint and tiles, not by publishing again."""
    cur = _Logged(served(cell).leaf, served(cell).proof)           # a copy: refreshed in place
    vkey, wits, quorum = trust_args(cell)
    size0 = transparency.verify_proof(cur.leaf, cur.proof, vkey, wits, quorum)[1].size
    cell.publish(leaves.roster("filler-model", 2, [bytes(32)]))     # the log grows
    published = []
    real = cell.publish
    monkeypatch.setattr(cell, "publish", lambda leaf, *a, **kw: published.append(leaf) or
                        real(leaf, *a, **kw))
    cell.refresh_proofs()
    now = served(cell)
    assert now.leaf == cur.leaf and now.proof != cur.proof
    index, cp = transparency.verify_proof(now.leaf, now.proof, vkey, wits, quorum, 60)
    assert index == note.parse_proof(cur.proof).index and cp.size > size0
    assert cur.leaf not in published and published      # the other leaves were re-published


def test_gateway_refresh_refuses_a_wrong_index(cell):
    cur = served(cell)
    index = note.parse_proof(cur.proof).index
    vkey, wits, quorum = trust_args(cell)
    src = RosterFromLog(cell.urls["log"], [(cur.leaf, index - 1)], vkey, wits, quorum)
    assert src(MODEL) is None                    # never served: the fetched proof fails
    assert "inclusion" in (src.last_error or "")
    with pytest.raises(InvalidArgument, match="logged at"):
        RosterFromLog(cell.urls["log"], [(cur.leaf, index - 1)], vkey, wits, quorum,
                      proofs=[cur.proof])
    with pytest.raises(InvalidArgument, match="log_url"):
        RosterFromLog("ftp://x", [(cur.leaf, index)], vkey, wits, quorum)


def test_gateway_serve_roster_log_needs_a_log_key(tmp_path, capsys):
    for ext in ("leaf", "tlog-proof"):
        (tmp_path / f"r.{ext}").write_bytes(b"x")
    base = ["gateway", "serve", "--name", "gw", "--key", str(tmp_path / "k"),
            "--issuer-name", "iss", "--issuer-spki", str(tmp_path / "spki"),
            "--node", "http://127.0.0.1:1"]
    assert main(base + ["--roster", str(tmp_path / "r"), "--roster-log", "http://x"]) == 2
    assert "--roster-log needs --log-vkey" in capsys.readouterr().err
    assert main(base + ["--roster-log", "http://x"]) == 2
    assert "give --roster" in capsys.readouterr().err


# ---- the state file: rollback across restarts --------------------------------------------------

def test_state_file_refuses_a_rollback_after_restart(cell, tmp_path):
    state = tmp_path / "client-state.json"
    old = served(cell)
    old_epoch = roster.from_leaf(old.leaf).epoch
    first = cell.test_nodes[0].node_id
    newer, index, proof = log_newer(cell, 1000, [first])
    a = client(cell, state=str(state))
    with cell._roster_lock:
        cell._logged[KEY] = _Logged(newer, proof)
        try:
            assert [r.node_id for r in a.nodes()] == [first]
            a.close()                            # the client stops
            kept = json.loads(state.read_text())
            assert kept == {"v": 1, "rosters": {MODEL: {"epoch": old_epoch + 1000,
                                                        "log_index": index}}}
            assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
            cfg = json.loads((cell.dir / "client.json").read_text())
            assert cfg["account"] not in state.read_text()      # nothing secret in it
            cell._logged[KEY] = old              # the gateway goes back to the older epoch
            b = client(cell, state=str(state))   # a restarted client with the same state
            with pytest.raises(VerifyError, match=f"epoch {old_epoch} is older than epoch "
                                                  f"{old_epoch + 1000} already seen"):
                b.nodes()
            b.close()
            fresh = client(cell)                 # without the state it would have taken it
            assert fresh.roster().epoch == old_epoch
            fresh.close()
        finally:
            cell._logged[KEY] = old


def test_client_json_state_path(cell):
    cfg = json.loads((cell.dir / "client.json").read_text())
    assert cfg["state"] == str(cell.dir / "client-state.json")      # pcc up: beside it
    c = Client.from_config(cfg)
    assert c.state.path == cell.dir / "client-state.json"
    c.close()
    cfg["state"] = "mine.json"                   # a relative path: beside the client.json
    (cell.dir / "other.json").write_text(json.dumps(cfg))
    c = Client.from_config(cell.dir / "other.json")
    assert c.state.path == cell.dir / "mine.json"
    c.close()
    c = Client.from_config(cfg)                  # a dict: the path as given
    assert str(c.state.path) == "mine.json"
    c.close()


@pytest.mark.parametrize("content, why", [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[]", '"v": 1'),
    (b'{"v": 2, "rosters": {}}', '"v": 1'),
    (b'{"v": 1, "rosters": {}, "extra": 1}', '"v": 1'),
    (b'{"v": 1, "rosters": []}', "not an object"),
    (b'{"v": 1, "rosters": {"m": {"epoch": -1, "log_index": 0}}}', "model 'm'"),
    (b'{"v": 1, "rosters": {"m": {"epoch": "9", "log_index": 0}}}', "model 'm'"),
    (b'{"v": 1, "rosters": {"m": {"epoch": true, "log_index": 0}}}', "model 'm'"),
    (b'{"v": 1, "rosters": {"m": {"epoch": 9}}}', "model 'm'"),
])
def test_corrupt_state_file_is_a_clear_error(cell, tmp_path, content, why):
    state = tmp_path / "s.json"
    state.write_bytes(content)
    with pytest.raises(StateError, match="corrupt") as e:
        client(cell, state=str(state))
    assert why in str(e.value) and str(state) in str(e.value)
    assert state.read_bytes() == content         # never rewritten or reset


def test_state_file_merges_and_never_lowers(tmp_path):
    path = tmp_path / "s.json"
    a, b = roster.EpochState(path), roster.EpochState(path)
    a.accept("m", 10, 4)
    b.accept("n", 3, 5)                          # b did not see a's write: it merges
    b.accept("m", 7, 2)                          # lower than what is on disk: kept higher
    c = roster.EpochState(path)
    assert c.epoch("m") == 10 and c.epoch("n") == 3 and c.epoch("x") is None
    c.accept("m", 9, 1)
    assert roster.EpochState(path).epoch("m") == 10
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]      # no temporary left
    mem = roster.EpochState()
    mem.accept("m", 1, 0)
    assert mem.epoch("m") == 1 and mem.path is None
    with pytest.raises(StateError, match="cannot write"):
        roster.EpochState(tmp_path / "missing-dir" / "s.json").accept("m", 1, 0)


def test_deeply_nested_state_file_is_a_clear_error(tmp_path):
    # JSON nested deeper than the parser's recursion limit: a StateError, not a RecursionError
    state = tmp_path / "s.json"
    content = b"[" * 200000
    state.write_bytes(content)
    with pytest.raises(StateError, match="corrupt.*not JSON"):
        roster.EpochState(state)
    assert state.read_bytes() == content


def test_state_file_writers_do_not_race(tmp_path, monkeypatch):
    """Two clients sharing one state file, their updates interleaved (B reads and writes while A
    is between its read and its write): neither epoch is lost or lowered on disk."""
    import threading
    path = tmp_path / "s.json"
    a, b = roster.EpochState(path), roster.EpochState(path)
    real = roster._write_atomic
    other: list = []

    def slow_write(p, data):
        if not other:                            # A's write: let B run in between
            other.append(threading.Thread(target=b.accept, args=("m", 12, 7)))
            other[0].start()
            other[0].join(0.5)
        real(p, data)
    monkeypatch.setattr(roster, "_write_atomic", slow_write)
    a.accept("m", 10, 4)
    other[0].join(10)
    assert not other[0].is_alive()
    on_disk = roster.EpochState(path)
    assert on_disk.epoch("m") == 12              # B's higher epoch survives A's write
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_state_option_checked(cell):
    with pytest.raises(TypeError, match="state"):
        client(cell, state=42)
    with pytest.raises(TypeError, match="check_newest"):
        client(cell, check_newest="yes")
    for bad in (1.0, -0.1, True, "0.5"):
        with pytest.raises(InvalidArgument, match="max_withheld"):
            client(cell, max_withheld=bad)


# ---- the bound on withheld nodes -------------------------------------------------------------

@pytest.fixture
def hostile(cell, monkeypatch):
    return hostile_gateway(cell, monkeypatch)


def test_withheld_counts_in_the_report(cell, hostile):
    dropped: list = []
    hostile(withhold_first_once(dropped))
    c = client(cell, k=2)
    assert c.complete(MSGS, max_tokens=2)
    r = c.last_report
    assert r["withheld_count"] == 1 and r["drawn_count"] == 3
    assert r["withheld_total"] == {"withheld": 1, "drawn": 3}
    assert "withheld: 1 of 3 drawn node(s) in this request" in c.explain()
    c.nodes()                                    # nothing withheld now: the totals go on
    assert c.last_report["withheld_total"] == {"withheld": 1, "drawn": 3}
    c.close()


def test_too_many_withheld_is_refused_as_steering(cell, hostile):
    """k = 1: the gateway withholds every drawn node but one it likes, so the request would
    land on its node after a few redraws. Over half of the drawn nodes withheld: refused,
    nothing sealed or sent; with the bound off the request goes through."""
    liked = cell.test_nodes[0].node_id

    def steer(fair, model, ids):
        return fair(model, [i for i in ids if i == liked])
    hostile(steer)
    c = client(cell, k=1)
    for _ in range(40):                          # until a draw starts on another node
        try:
            c.nodes()
        except StateError as e:
            assert "the gateway may be steering" in str(e)
            break
    else:
        pytest.fail("never refused")
    r = c.last_report
    assert r["steering_suspected"] and r["withheld_count"] > r["drawn_count"] / 2
    with pytest.raises(StateError, match="steering"):
        for _ in range(40):
            c.complete(MSGS, max_tokens=2)
    r = c.last_report                            # the refused request: nothing sealed or sent
    assert r["steering_suspected"] and "sealed_to" not in r and "answered_by" not in r
    assert "REFUSED: too many drawn nodes withheld" in c.explain()
    c.close()
    off = client(cell, k=1, max_withheld=None)
    for _ in range(8):
        assert [x.node_id for x in off.nodes()] == [liked]
    off.close()


# ---- building proofs and roots from tiles; hostile input -------------------------------------

class _TreeTiles:
    """A tile reader over an in-memory merkle.Tree (what an honest log serves)."""

    def __init__(self, tree, corrupt=None):
        self.tree, self.corrupt, self.calls = tree, corrupt, 0

    def tile(self, t):
        self.calls += 1
        data = b"".join(self.tree.nodes(t.node_level(), t.start, t.start + t.width))
        return self.corrupt(t, data) if self.corrupt else data


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 70000), data=st.data())
def test_tile_tree_matches_the_merkle_tree(size, data):
    """Known answers from pcc.merkle.Tree: the root and inclusion proofs rebuilt from hash tiles
    (and from leaf hashes on the right of a cut) equal the tree's own, for any size."""
    from pcc import merkle
    tree = merkle.Tree()
    tree.append_hashes([i.to_bytes(32, "big") for i in range(size)])
    rd = _TreeTiles(tree)
    tt = roster._TileTree(rd, size)
    assert tt.hash(0, size) == tree.root()
    idx = data.draw(st.integers(0, size - 1))
    assert tt.path(idx, 0, size) == tree.inclusion_proof(idx, size)
    cut = data.draw(st.integers(0, size - 1)) // 256 * 256
    right = [i.to_bytes(32, "big") for i in range(cut, size)]
    assert roster._TileTree(rd, size, cut, right).hash(0, size) == tree.root()
    assert rd.calls <= 64                       # a few tiles per subtree, never the whole log


def test_fetch_proof_refuses_tiles_that_do_not_prove_the_leaf(cell):
    """A log (or a path to it) serving wrong hash tiles: the proof built from them does not
    verify, so it is never returned (and a gateway never serves it)."""
    from pcc.transparency.client import TileReader
    cur = served(cell)
    index = note.parse_proof(cur.proof).index

    class Flip(TileReader):
        def tile(self, t):
            data = super().tile(t)
            return data if t.is_entries else bytes([data[0] ^ 1]) + data[1:]
    with Flip(cell.urls["log"]) as rd:
        with pytest.raises(VerifyError, match="inclusion"):
            roster.fetch_proof(cell.urls["log"], cur.leaf, index, *trust_args(cell), reader=rd)
    good = roster.fetch_proof(cell.urls["log"], cur.leaf, index, *trust_args(cell))
    assert transparency.verify_proof(cur.leaf, good, *trust_args(cell))[0] == index
    with pytest.raises(StateError, match="not below the log's size"):
        roster.fetch_proof(cell.urls["log"], cur.leaf, 10 ** 9, *trust_args(cell))
    with pytest.raises(VerifyError, match="log: checkpoint does not verify"):
        roster.fetch_proof(cell.urls["log"], cur.leaf, index, cell.vkey("publisher"), [], 0)


def test_gateway_serve_roster_log_wires_a_refreshing_source(cell, tmp_path, monkeypatch,
                                                            capsys):
    import pcc.cli.gateway as cli_gateway
    import pcc.services.gateway as gw
    cur = served(cell)
    (tmp_path / "r.leaf").write_bytes(cur.leaf)
    (tmp_path / "r.tlog-proof").write_text(cur.proof)
    spki = leaves.decode(cell._logged["issuer-key"].leaf)["spki"]
    (tmp_path / "spki").write_bytes(spki)
    got = {}

    class App:
        info = {"store": "test"}

    def fake_create_app(cfg):
        got["cfg"] = cfg
        return App()
    monkeypatch.setattr(gw, "create_app", fake_create_app)
    monkeypatch.setattr(cli_gateway, "_serve", lambda app, host, port, lines:
                        got.setdefault("lines", lines) and 0)
    rc = main(["gateway", "serve", "--name", "gw", "--key", str(tmp_path / "k"),
               "--issuer-name", "iss", "--issuer-spki", str(tmp_path / "spki"),
               "--node", "http://127.0.0.1:1", "--roster", str(tmp_path / "r"),
               "--roster-log", cell.urls["log"], "--log-vkey", cell.vkey("log"),
               "--witness", cell.vkey("witness-1"), "--witness", cell.vkey("witness-2"),
               "--roster-refresh", "0"])
    assert rc == 0, capsys.readouterr().err
    src = got["cfg"].roster
    assert isinstance(src, RosterFromLog)
    assert any("proofs refreshed from" in ln for ln in got["lines"])
    first = src(MODEL)                          # served at once; refreshed in the background
    assert first is not None and first[0] == cur.leaf
    assert src.refresh() == 1
    leaf, proof = src(MODEL)
    assert leaf == cur.leaf and src.last_error is None
    assert transparency.verify_proof(leaf, proof, *trust_args(cell))[0] == \
        note.parse_proof(cur.proof).index
    (tmp_path / "r.tlog-proof").write_text(cur.proof.replace("index ", "index 1", 1))
    rc = main(["gateway", "serve", "--name", "gw", "--key", str(tmp_path / "k"),
               "--issuer-name", "iss", "--issuer-spki", str(tmp_path / "spki"),
               "--node", "http://127.0.0.1:1", "--roster", str(tmp_path / "r"),
               "--roster-log", cell.urls["log"], "--log-vkey", cell.vkey("log"),
               "--witness", cell.vkey("witness-1"), "--witness", cell.vkey("witness-2")])
    assert rc == 2 and "does not verify" in capsys.readouterr().err


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                              lambda ch: st.lists(ch, max_size=3) |
                              st.dictionaries(st.sampled_from(["v", "rosters", "m", "epoch",
                                                               "log_index"]), ch, max_size=3),
                              max_leaves=10).map(lambda o: json.dumps(o).encode())))
def test_state_parser_never_crashes(data):
    try:
        got = roster._parse_state(data, "f")
    except StateError as e:
        assert "client state f is corrupt" in str(e)
        return
    assert all(isinstance(v["epoch"], int) and v["epoch"] >= 0 for v in got.values())


class _ForkedLog:
    """A log (no witnesses) that signed a tree holding a roster at index 1, then serves another
    tree of its own whose index 1 is a different leaf: a fork."""

    def __init__(self, first: list[bytes], second: list[bytes]):
        from pcc.transparency import _note as tlognote
        skey, self.vkey = tlognote.generate("fork.example/log")
        self.signer = tlognote.load_signer(skey)
        self.first_note = self.signed(first)
        self.second, self.second_note = second, self.signed(second)

    def signed(self, entries):
        from pcc.transparency import _note as tlognote
        hs = [merkle.leaf_hash(e) for e in entries]
        text = tlognote.checkpoint_text("fork.example/log", len(entries), roster._mth(hs))
        return note.sign(text, [self.signer])

    def proof(self, entries, i):
        from pcc.transparency import _note as tlognote

        def path(hs, i):
            if len(hs) == 1:
                return []
            k = roster._largest_pow2_below(len(hs))
            if i < k:
                return path(hs[:k], i) + [roster._mth(hs[k:])]
            return path(hs[k:], i - k) + [roster._mth(hs[:k])]
        return tlognote.format_proof(i, path([merkle.leaf_hash(e) for e in entries], i),
                                     self.first_note)

    def checkpoint(self):
        return self.second_note

    def tile(self, t):
        from pcc.transparency import tiles
        return tiles.encode_bundle(self.second[t.start:t.start + t.width])

    def close(self):
        pass


def test_find_newer_refuses_a_checkpoint_without_the_roster():
    """The checkpoint the scan reads must hold, at the roster's index, the very roster leaf its
    proof was checked for: a log that forked (and rewrote that leaf) is an error, not a clean
    "nothing newer"."""
    ids = [bytes([i]) * 32 for i in range(1, 4)]
    mine = leaves.roster("m", 5, ids)
    forged = leaves.roster("m", 4, ids[:1])
    first = [b"a", mine, b"c"]
    log = _ForkedLog(first, [b"a", forged, b"c", b"d"])
    proof = log.proof(first, 1)
    assert transparency.verify_proof(mine, proof, log.vkey, [], 0)[0] == 1
    with pytest.raises(VerifyError, match="forked"):
        roster.find_newer("http://fork.example", mine, proof, log.vkey, [], 0, reader=log)
    # the same log, not forked: nothing newer, and a later roster is found
    later = leaves.roster("m", 6, ids[1:])
    log.second, log.second_note = first + [later], log.signed(first + [later])
    got = roster.find_newer("http://fork.example", mine, proof, log.vkey, [], 0, reader=log)
    assert got is not None and got.index == 3 and got.roster.epoch == 6
