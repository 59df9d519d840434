"""Node selection over loopback with real services (log, witnesses, issuer, relay, gateway; the
nodes are tests/_testnode.py): the gateway's inner /v1/roster and /v1/nodes?ids= endpoints with
their bad inputs, the client drawing its nodes from the logged roster (the default), refusing a
node outside the roster or not asked for, redrawing past a withheld one, refusing a rolled-back
or unlogged roster, and gateway-chosen mode keeping an offer history that `pcc audit selection`
judges."""
from __future__ import annotations

import json
import time

import msgpack
import pytest

from pcc import roster
from pcc.cell import _Logged
from pcc.cli import main
from pcc.client import Client
from pcc.errors import InvalidArgument, StateError, VerifyError
from pcc.services.gateway import roster_files
from pcc.transparency import leaves

from _testnode import (LocalNode, cell_with_nodes, hostile_gateway, stop_cell,
                       withhold_first_once)
import llm_tiny

MSGS = [{"role": "user", "content": "Say hello"}]
MODEL = "tiny-chat"
N_NODES = 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return llm_tiny.build(tmp_path_factory.mktemp("model"), llm_tiny.F32,
                          name="tiny-chat.gguf").path


@pytest.fixture(scope="module")
def cell(tmp_path_factory, tiny):
    c = cell_with_nodes(tmp_path_factory.mktemp("cell"), tiny, MODEL, N_NODES, "SN-SEL")
    # a real, attested node the gateway does not serve and the roster does not list
    c.extra = LocalNode(c, str(tiny), MODEL, "SN-SEL-EXTRA")
    assert set(c.roster_of()) == {n.node_id for n in c.test_nodes}
    yield c
    c.extra.stop()
    stop_cell(c)


def client(cell, **kw) -> Client:
    kw.setdefault("state", None)       # epochs in memory: tests here roll rosters back
    return Client.from_config(cell.dir / "client.json", **kw)


@pytest.fixture(scope="module")
def raw(cell):
    """A client used only to send inner requests through the relay."""
    c = client(cell)
    yield c
    c.close()


def inner(raw, path):
    head, body = raw._call(raw._inner("GET", path))
    return head.status, body


@pytest.fixture
def hostile(cell, monkeypatch):
    """Replace the gateway's bundles_for (what /v1/nodes?ids= serves) for one test."""
    return hostile_gateway(cell, monkeypatch)


def bundle_of(cell, node_id):
    if node_id == cell.extra.node_id:
        return cell.extra.bundle
    return next(n.bundle for n in cell.test_nodes if n.node_id == node_id)


# ---- the gateway's endpoints ------------------------------------------------------------------

def test_client_json_selects_client_chosen_mode(cell):
    cfg = json.loads((cell.dir / "client.json").read_text())
    assert cfg["selection"] == "client"
    c = client(cell)
    assert c.selection == "client" and c.offer_history is None
    c.close()


def test_roster_endpoint_serves_the_logged_roster(cell, raw):
    status, body = inner(raw, f"/v1/roster?model={MODEL}")
    assert status == 200
    leaf, proof = roster.decode_response(body)
    r = roster.verify_trusted(leaf, proof, raw.trust, model=MODEL)
    assert set(r.nodes) == {n.node_id for n in cell.test_nodes}
    assert cell.extra.node_id not in r


@pytest.mark.parametrize("query, status, why", [
    ("?model=nope", 404, "unknown model"),
    ("", 400, "model is missing"),
    ("?model=", 400, "model must be"),
    (f"?model={MODEL}&model={MODEL}", 400, "malformed"),
    (f"?model={MODEL}&k=2", 400, "malformed"),
    ("?k=2", 400, "unknown parameter"),
    ("?model=a%01b", 400, "control characters"),
])
def test_roster_endpoint_bad_queries(raw, query, status, why):
    got, body = inner(raw, "/v1/roster" + query)
    assert got == status and why in json.loads(body)["error"]


def test_roster_endpoint_without_a_roster_is_404(cell, raw):
    key = f"roster:{MODEL}"
    with cell._roster_lock:
        saved = cell._logged.pop(key)
        try:
            status, body = inner(raw, f"/v1/roster?model={MODEL}")
        finally:
            cell._logged[key] = saved
    assert status == 404 and json.loads(body)["error"] == "no roster for this model"
    c = client(cell)
    with cell._roster_lock:
        saved = cell._logged.pop(key)
        try:
            with pytest.raises(VerifyError, match="serves no logged roster"):
                c.nodes()
        finally:
            cell._logged[key] = saved
    c.close()


def test_roster_endpoint_refuses_a_roster_for_another_model(cell, raw):
    key = f"roster:{MODEL}"
    other = leaves.roster("other-model", 5, [cell.test_nodes[0].node_id])
    with cell._roster_lock:
        saved = cell._logged[key]
        cell._logged[key] = _Logged(other, saved.proof)
        try:
            status, body = inner(raw, f"/v1/roster?model={MODEL}")
        finally:
            cell._logged[key] = saved
    assert status == 500 and "another model" in json.loads(body)["error"]


def test_nodes_by_ids_returns_exactly_those(cell, raw):
    a, b = cell.test_nodes[0], cell.test_nodes[2]
    q = roster.nodes_query(MODEL, ids=[b.node_id, a.node_id])
    status, body = inner(raw, f"/v1/nodes?{q}")
    assert status == 200
    assert msgpack.unpackb(body)["nodes"] == [b.bundle, a.bundle]
    # ids the gateway has no node for are left out (the client notices)
    q = roster.nodes_query(MODEL, ids=[cell.extra.node_id, bytes(32), a.node_id])
    status, body = inner(raw, f"/v1/nodes?{q}")
    assert status == 200 and msgpack.unpackb(body)["nodes"] == [a.bundle]


def test_nodes_gateway_chosen_still_works(raw):
    status, body = inner(raw, f"/v1/nodes?model={MODEL}")           # k defaults to 3
    assert status == 200 and len(msgpack.unpackb(body)["nodes"]) == 3
    status, body = inner(raw, f"/v1/nodes?model={MODEL}&k=2")
    assert status == 200 and len(msgpack.unpackb(body)["nodes"]) == 2


HEX = "ab" * 32


@pytest.mark.parametrize("query, status, why", [
    (f"model=nope&ids={HEX}", 404, "unknown model"),
    (f"model={MODEL}&ids=xyz", 400, "not a node id"),
    (f"model={MODEL}&ids={HEX[:-2]}", 400, "not a node id"),
    (f"model={MODEL}&ids={HEX},{HEX}", 400, "repeats"),
    (f"model={MODEL}&ids=" + ",".join(f"{i:064x}" for i in range(17)), 400, "more than 16"),
    (f"model={MODEL}&ids=", 400, "empty"),
    (f"model={MODEL}&ids={HEX}&k=2", 400, "exactly one of k"),
    (f"model={MODEL}&k=0", 400, "k must be"),
    (f"model={MODEL}&k=17", 400, "k must be"),
    (f"model={MODEL}&k=abc", 400, "k must be"),
    (f"model={MODEL}&k=2&color=red", 400, "unknown parameter"),
    (f"ids={HEX}", 400, "model is missing"),
    (f"model={MODEL}&&ids={HEX}", 400, "malformed"),
])
def test_nodes_bad_queries(raw, query, status, why):
    got, body = inner(raw, f"/v1/nodes?{query}")
    assert got == status, body
    assert why in json.loads(body)["error"]


def test_roster_files_source(tmp_path):
    ids = [bytes([i]) * 32 for i in (1, 2, 3)]
    for epoch, nodes in ((7, ids[:2]), (9, ids)):
        (tmp_path / f"r{epoch}.leaf").write_bytes(leaves.roster("m", epoch, nodes))
        (tmp_path / f"r{epoch}.tlog-proof").write_text(f"proof {epoch}")
    (tmp_path / "bad.leaf").write_bytes(b"not a leaf")
    (tmp_path / "bad.tlog-proof").write_text("x")
    src = roster_files([(str(tmp_path / f"{p}.leaf"), str(tmp_path / f"{p}.tlog-proof"))
                        for p in ("r7", "bad", "r9", "missing")])
    leaf, proof = src("m")
    assert roster.from_leaf(leaf).epoch == 9 and proof == "proof 9"
    assert src("other") is None


def test_gateway_serve_roster_files_must_exist(tmp_path, capsys):
    (tmp_path / "r.leaf").write_bytes(b"x")
    rc = main(["gateway", "serve", "--name", "gw", "--key", str(tmp_path / "k"),
               "--issuer-name", "iss", "--issuer-spki", str(tmp_path / "spki"),
               "--node", "http://127.0.0.1:1", "--roster", str(tmp_path / "r")])
    assert rc == 2 and "r.tlog-proof must both exist" in capsys.readouterr().err


# ---- client-chosen mode -----------------------------------------------------------------------

def test_client_chosen_end_to_end(cell):
    c = client(cell, k=2)
    out = c.complete(MSGS, max_tokens=4)
    assert out
    r = c.last_report
    ids = {n.node_id.hex() for n in cell.test_nodes}
    assert r["selection"] == "client" and r["roster"]["nodes"] == N_NODES
    assert r["roster"]["model"] == MODEL and isinstance(r["roster"]["log_index"], int)
    assert len(r["drawn"]) == 2 and set(r["drawn"]) <= ids
    assert r["sealed_to"] == r["drawn"] and r["answered_by"] in r["drawn"]
    assert r["withheld"] == [] and r["refused"] == [] and r["redraws"] == 0
    text = c.explain()
    assert f"roster for {MODEL}: epoch {r['roster']['epoch']}, {N_NODES} node(s)" in text
    assert "proof checked against the pinned log and witnesses" in text
    assert "nodes drawn from the roster by this client" in text
    assert r["drawn"][0][:16] in text
    c.close()


def test_client_draws_cover_the_roster(cell):
    """Each request draws anew: over 48 draws of 1 of 4 nodes every node is drawn (a fixed
    choice would fail with probability 1; a fair draw misses a node with p < 5e-6)."""
    c = client(cell, k=1)
    seen = set()
    for _ in range(48):
        seen.update(r.node_id for r in c.nodes())
    assert seen == {n.node_id for n in cell.test_nodes}
    c.close()


def test_verified_bundles_are_checked_again_after_an_hour(cell, hostile, monkeypatch):
    """A bundle verified once is reused only for _REVERIFY_S: then it is fetched and checked
    again (its release proof ages), even though its HPKE key is still valid."""
    import pcc.client as pc
    asked = []

    def spy(fair, model, ids):
        asked.append(list(ids))
        return fair(model, ids)
    hostile(spy)
    c = client(cell, k=N_NODES)
    c.nodes()
    c.nodes()
    assert len(asked) == 1                      # the second discovery reused the verified bundles
    clock = time.time() + pc._REVERIFY_S + 1
    monkeypatch.setattr(pc.time, "time", lambda: clock)
    c._rosters.clear()                          # the roster's own cache is shorter anyway
    c.nodes()
    assert len(asked) == 2 and sorted(asked[1]) == sorted(asked[0])
    c.close()


def test_refuses_a_node_outside_the_roster(cell, hostile):
    """A hostile gateway answers with a real, attested node that is not in the logged roster
    in place of one that was asked for: the client refuses it, seals nothing to it, and names
    it in the report."""
    calls = []

    def swap(fair, model, ids):
        out = fair(model, ids)
        calls.append(ids)
        return [cell.extra.bundle] + out[1:] if len(calls) == 1 else out
    hostile(swap)
    c = client(cell, k=2)
    assert c.complete(MSGS, max_tokens=3)
    r = c.last_report
    extra = cell.extra.node_id.hex()
    assert {"node_id": extra, "reason": "not in the logged roster"} in r["refused"]
    assert extra not in r["sealed_to"] and extra not in r["drawn"]
    assert r["withheld"] and r["redraws"] >= 1           # the replaced node was redrawn
    assert len(r["sealed_to"]) == 2 and set(r["sealed_to"]) <= set(r["drawn"])
    assert cell.extra.invokes == 0
    assert f"node {extra[:16]}: REFUSED (not in the logged roster)" in c.explain()
    c.close()


def test_refuses_a_roster_node_not_asked_for(cell, hostile):
    """Every answer carries another roster node than the one asked for: each is refused, and
    once the roster is used up the client says so instead of taking one."""
    others = {n.node_id: cell.test_nodes[(i + 1) % N_NODES].bundle
              for i, n in enumerate(cell.test_nodes)}
    hostile(lambda fair, model, ids: [others[i] for i in ids])
    c = client(cell, k=1)
    with pytest.raises(VerifyError, match="not one of the nodes asked for"):
        c.nodes()
    c.close()


def test_only_extra_nodes_served_is_refused(cell, hostile):
    hostile(lambda fair, model, ids: [cell.extra.bundle])
    c = client(cell, k=2)
    with pytest.raises(VerifyError, match="not in the logged roster"):
        c.complete(MSGS, max_tokens=2)
    assert cell.extra.invokes == 0
    c.close()


def test_withheld_bundle_is_redrawn(cell, hostile):
    withheld: list = []
    hostile(withhold_first_once(withheld))
    c = client(cell, k=2)
    assert c.complete(MSGS, max_tokens=3)
    r = c.last_report
    assert r["withheld"] == [withheld[0].hex()] and r["redraws"] == 1
    assert len(r["drawn"]) == 3 and r["drawn"][0] == withheld[0].hex()
    assert withheld[0].hex() not in r["sealed_to"] and len(r["sealed_to"]) == 2
    assert f"node {withheld[0].hex()[:16]}: withheld" in c.explain()
    c.close()


def test_everything_withheld_is_a_clear_error(cell, hostile):
    hostile(lambda fair, model, ids: [])
    c = client(cell, k=2)
    with pytest.raises(StateError, match="no node available.*roster exhausted"):
        c.complete(MSGS, max_tokens=2)
    assert "sealed_to" not in c.last_report      # nothing was sealed or sent
    c.close()


def test_failing_bundle_is_rejected_and_redrawn(cell, hostile):
    """A bundle of an asked node that fails verification is rejected at its check and
    replaced by a fresh draw."""
    def tamper(fair, model, ids):
        out = fair(model, ids)
        if len(ids) == 2:
            outer = msgpack.unpackb(out[0], raw=False)
            outer["sig"] = bytes(len(outer["sig"]))
            out[0] = msgpack.packb(outer, use_bin_type=True)
        return out
    hostile(tamper)
    c = client(cell, k=2)
    assert c.complete(MSGS, max_tokens=2)
    r = c.last_report
    assert [x["failed"] for x in r["rejected"]] == ["signature"]
    assert r["redraws"] == 1 and len(r["sealed_to"]) == 2 and len(r["withheld"]) == 1
    assert r["withheld"][0] not in r["sealed_to"]
    assert "REJECTED at signature" in c.explain()
    c.close()


def test_unlogged_roster_refused(cell):
    """A roster leaf the log does not hold (its proof is for another leaf) is refused."""
    key = f"roster:{MODEL}"
    forged = leaves.roster(MODEL, 2 ** 40, [cell.extra.node_id])
    c = client(cell)
    with cell._roster_lock:
        saved = cell._logged[key]
        cell._logged[key] = _Logged(forged, saved.proof)
        try:
            with pytest.raises(VerifyError, match="roster for 'tiny-chat'"):
                c.nodes()
        finally:
            cell._logged[key] = saved
    c.close()


def test_rolled_back_roster_refused(cell):
    key = f"roster:{MODEL}"
    c = client(cell)
    with cell._roster_lock:
        old = cell._logged[key]
    old_epoch = roster.from_leaf(old.leaf).epoch
    first = cell.test_nodes[0].node_id
    newer = leaves.roster(MODEL, old_epoch + 1000, [first])
    _, proof = cell.publish(newer)
    with cell._roster_lock:
        cell._logged[key] = _Logged(newer, proof)
        try:
            assert [r.node_id for r in c.nodes()] == [first]
            cell._logged[key] = old              # the gateway goes back to the older epoch
            with pytest.raises(VerifyError, match="older than epoch"):
                c._discover(MODEL, fresh=True)
        finally:
            cell._logged[key] = old
    c.close()


def test_client_options_checked(cell):
    with pytest.raises(InvalidArgument, match="selection"):
        client(cell, selection="anyone")
    with pytest.raises(TypeError, match="offer_history"):
        client(cell, offer_history=42)


# ---- gateway-chosen mode and the selection audit --------------------------------------------

def test_gateway_chosen_history_feeds_the_audit(cell, tmp_path, capsys):
    """Gateway-chosen mode with an offer history: 60 offers of 2 of 4 nodes from a fair
    gateway, judged by `pcc audit selection` against the logged roster. alpha = 1e-4 keeps
    this test's false-alarm rate at most 1 in 10,000 runs."""
    hist = tmp_path / "offers.jsonl"
    c = client(cell, k=2, selection="gateway", offer_history=str(hist))
    assert c.complete(MSGS, max_tokens=2)
    r = c.last_report
    assert r["selection"] == "gateway" and len(r["offered"]) == 2
    assert set(r["sealed_to"]) == set(r["offered"])
    assert "nodes chosen by the gateway" in c.explain() and str(hist) in c.explain()
    for _ in range(59):
        c._discover(MODEL, fresh=True)
    c.close()
    lines = hist.read_text().splitlines()
    assert len(lines) == 60 and all(len(json.loads(ln)["offered"]) == 2 for ln in lines)
    roster_file = tmp_path / "roster.txt"
    roster_file.write_text("".join(n.hex() + "\n" for n in cell.roster_of()))
    capsys.readouterr()
    rc = main(["audit", "selection", "--roster", str(roster_file), "--history", str(hist),
               "--alpha", "0.0001"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.strip().splitlines()[-1].startswith("selection: n=60 nodes=4 ")
    assert out.strip().endswith("verdict=uniform")


def test_chat_cli_offer_history(cell, tmp_path, capsys):
    hist = tmp_path / "h.jsonl"
    cfg = str(cell.dir / "client.json")
    rc = main(["chat", "--config", cfg, "--offer-history", str(hist), "--max-tokens", "2",
               "--explain", "Hi"])
    out = capsys.readouterr().out
    assert rc == 0 and "nodes chosen by the gateway" in out
    assert len(json.loads(hist.read_text())["offered"]) == 3
    rc = main(["chat", "--config", cfg, "--selection", "client", "--offer-history",
               str(hist), "Hi"])
    assert rc == 2 and "needs --selection gateway" in capsys.readouterr().err
    rc = main(["chat", "--config", cfg, "--selection", "client", "--explain", "--max-tokens",
               "2", "Hi"])
    assert rc == 0 and "nodes drawn from the roster" in capsys.readouterr().out


# ---- last: the cell publishes a new roster epoch when a node joins ---------------------------

def test_cell_republishes_when_a_node_joins(cell, tiny):
    c = client(cell)
    before = c.roster()
    new = LocalNode(cell, str(tiny), MODEL, "SN-SEL-NEW")
    try:
        cell.gateway_app.state.add_node(new.url)
        deadline = time.monotonic() + 30
        while new.node_id not in (cell.roster_of() or ()):      # the cell's watcher, unaided
            assert time.monotonic() < deadline, "the cell did not publish a new roster"
            time.sleep(0.2)
        c._rosters.clear()                      # skip the five-minute cache
        after = c.roster()
        assert after.epoch > before.epoch and new.node_id in after
        assert set(before.nodes) < set(after.nodes)
    finally:
        new.stop()
        c.close()
