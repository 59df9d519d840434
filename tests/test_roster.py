"""Rosters (pcc.roster, `pcc roster`): strict leaves, verification against pinned log and
witness keys, the client's uniform draw, the gateway's query and answer formats, and an end-to-end
publish to a real log with a witness."""
from __future__ import annotations

import collections
import dataclasses
import json
import random
import subprocess
import time

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from _tlog_util import CLI, ROOT, Server, env, free_port, keygen, log_args, start_witness, \
    wait_checkpoint
from pcc import merkle, roster
from pcc.cli import main
from pcc.errors import FormatError, InvalidArgument, StateError, VerifyError
from pcc.transparency import _note as tlognote
from pcc.transparency import leaves

IDS = sorted(bytes([i]) * 32 for i in range(1, 11))
ORIGIN = "roster.example/log"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rkeys")
    log_sk, log_vk = keygen(tmp, ORIGIN)
    w_sk, w_vk = keygen(tmp, "w.roster.example", cosigner=True)
    return {"tmp": tmp, "log_sk": log_sk, "log_vk": log_vk, "w_sk": w_sk, "w_vk": w_vk}


def make_proof(keys, leaf: bytes, *, n: int = 4, index: int = 1, stamp: int | None = None) -> str:
    tree = merkle.Tree()
    for i in range(n):
        tree.append(leaf if i == index else f"entry {i}".encode())
    text = tlognote.checkpoint_text(ORIGIN, n, tree.root())
    signed = tlognote.sign_checkpoint(
        tlognote.load_signer(tlognote.read_key_file(keys["log_sk"])), text)
    cosig = tlognote.cosign(tlognote.load_signer(tlognote.read_key_file(keys["w_sk"])), text,
                            int(time.time()) if stamp is None else stamp)
    note_text = tlognote.SignedNote(text, tuple(signed.lines) + (cosig,)).format()
    return tlognote.format_proof(index, tree.inclusion_proof(index, n), note_text)


# ----------------------------------------------------------------------------- the leaf

def test_leaf_builder_sorts_and_decode_requires_order():
    leaf = leaves.roster("m", 3, list(reversed(IDS)))
    assert leaves.decode(leaf)["nodes"] == IDS
    unsorted = msgpack.packb({"type": "roster", "v": 1, "model": "m", "epoch": 3,
                              "nodes": [IDS[1], IDS[0]]}, use_bin_type=True)
    with pytest.raises(FormatError, match="out of order"):
        leaves.decode(unsorted)


def test_leaf_duplicate_refused():
    with pytest.raises(FormatError, match="duplicate"):
        leaves.roster("m", 1, [IDS[0], IDS[0]])


def test_from_leaf_refuses_other_leaf_types():
    leaf = leaves.release("r", "1", 5, [("pcc", "code", b"\x01" * 48)])
    with pytest.raises(FormatError, match="not a roster"):
        roster.from_leaf(leaf)


def test_roster_object_checks():
    with pytest.raises(FormatError):
        roster.Roster("m", 1, (IDS[1], IDS[0]))
    with pytest.raises(FormatError):
        roster.Roster("m", 1, (b"\x01" * 31,))
    r = roster.Roster("m", 1, tuple(IDS))
    assert len(r) == 10 and IDS[3] in r and b"\x00" * 32 not in r
    assert r.to_dict()["nodes"][0] == IDS[0].hex()


# ----------------------------------------------------------------------------- verify

def test_verify_ok(keys):
    leaf = leaves.roster("smollm2", 7, IDS)
    r = roster.verify(leaf, make_proof(keys, leaf), keys["log_vk"], [keys["w_vk"]], 1, 600,
                      model="smollm2", min_epoch=7)
    assert (r.model, r.epoch, r.nodes) == ("smollm2", 7, tuple(IDS))


@dataclasses.dataclass(frozen=True)
class PinnedKeys:
    """The trust-policy fields roster.verify_trusted reads (as pcc.attest.Trust holds them)."""

    log_vkey: str
    witness_vkeys: tuple
    quorum: int
    max_checkpoint_age_s: int


def test_verify_trusted(keys):
    leaf = leaves.roster("smollm2", 7, IDS)
    proof = make_proof(keys, leaf)
    r = roster.verify_trusted(leaf, proof, PinnedKeys(keys["log_vk"], (keys["w_vk"],), 1, 600),
                              model="smollm2")
    assert r.epoch == 7
    with pytest.raises(VerifyError, match="witness quorum"):
        other = tlognote.generate("w.other", cosigner=True)[1]
        roster.verify_trusted(leaf, proof, PinnedKeys(keys["log_vk"], (other,), 1, 600))
    stale = make_proof(keys, leaf, stamp=int(time.time()) - 7200)
    with pytest.raises(VerifyError, match="freshness"):
        roster.verify_trusted(leaf, stale, PinnedKeys(keys["log_vk"], (keys["w_vk"],), 1, 600))
    with pytest.raises(TypeError, match="log_vkey"):
        roster.verify_trusted(leaf, proof, object())


@pytest.mark.parametrize("case,exc,match", [
    ("other leaf", VerifyError, "inclusion"),
    ("wrong log key", VerifyError, "checkpoint signature"),
    ("no witness", VerifyError, "witness quorum"),
    ("stale", VerifyError, "freshness"),
    ("other model", StateError, "not 'other'"),
    ("rolled back", StateError, "rolled-back"),
    ("not a roster", FormatError, "not a roster"),
    ("garbage", VerifyError, "inclusion"),
])
def test_verify_failures(keys, case, exc, match):
    leaf = leaves.roster("smollm2", 7, IDS)
    proof = make_proof(keys, leaf, stamp=int(time.time()) - 7200 if case == "stale" else None)
    log_vk, wits, kw = keys["log_vk"], [keys["w_vk"]], {}
    if case == "other leaf":
        leaf = leaves.roster("smollm2", 8, IDS)
    if case == "wrong log key":
        log_vk = tlognote.generate(ORIGIN)[1]
    if case == "no witness":
        wits = [tlognote.generate("w.other", cosigner=True)[1]]
    if case == "other model":
        kw["model"] = "other"
    if case == "rolled back":
        kw["min_epoch"] = 8
    if case == "not a roster":
        leaf = leaves.release("r", "1", 5, [("pcc", "code", b"\x01" * 48)])
        proof = make_proof(keys, leaf)
    if case == "garbage":
        leaf = b"\xc1"
    with pytest.raises(exc, match=match):
        roster.verify(leaf, proof, log_vk, wits, 1, 600, **kw)


# ----------------------------------------------------------------------------- draws

def test_draw_distinct_and_from_roster():
    r = roster.Roster("m", 1, tuple(IDS))
    for k in (1, 3, 10):
        d = r.draw(k)
        assert len(d) == k == len(set(d)) and set(d) <= set(IDS)
    for bad in (0, 11, -1, True, 2.0):
        with pytest.raises(InvalidArgument):
            r.draw(bad)


def test_draw_is_uniform_over_subsets():
    """Every 2-subset of 5 nodes equally likely (chi-square, 10 cells, seeded)."""
    r = roster.Roster("m", 1, tuple(IDS[:5]))
    rng = random.Random(42)
    n = 20000
    c = collections.Counter(frozenset(r.draw(2, rng)) for _ in range(n))
    assert len(c) == 10
    e = n / 10
    stat = sum((v - e) ** 2 / e for v in c.values())
    assert stat < 27.88                    # chi-square 9 df, p = 0.001


def test_draw_uses_system_csprng_by_default():
    r = roster.Roster("m", 1, tuple(IDS))
    draws = {tuple(r.draw(3)) for _ in range(50)}
    assert len(draws) > 40                 # not a fixed seed


def test_redraw_excluding():
    r = roster.Roster("m", 1, tuple(IDS))
    chosen = r.draw(3)
    withheld = [chosen[0]]
    new = r.redraw_excluding(chosen + withheld, 2)
    assert len(new) == 2 and not set(new) & set(chosen)
    assert sorted(r.redraw_excluding(IDS[:8], 5)) == IDS[8:]       # fewer left than asked
    with pytest.raises(StateError, match="none is left"):
        r.redraw_excluding(IDS, 1)
    with pytest.raises(InvalidArgument):
        r.redraw_excluding([], 0)


def test_redraw_is_uniform_over_the_rest():
    r = roster.Roster("m", 1, tuple(IDS[:6]))
    rng = random.Random(9)
    c = collections.Counter(r.redraw_excluding(IDS[:2], 1, rng)[0] for _ in range(8000))
    assert set(c) == set(IDS[2:6])
    assert all(abs(v - 2000) < 200 for v in c.values())


# ----------------------------------------------------------------------------- the wire

def test_ids_roundtrip():
    text = roster.format_ids(IDS[:3])
    assert text == ",".join(i.hex() for i in IDS[:3])
    assert roster.parse_ids(text) == IDS[:3]
    assert roster.parse_ids(text.upper()) == IDS[:3]


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("ab" * 32 + ",", "item 1"),
    ("," + "ab" * 32, "item 0"),
    ("ab" * 31, "item 0"),
    ("ab" * 33, "item 0"),
    ("zz" * 32, "item 0"),
    (" " + "ab" * 31 + "a", "item 0"),
    ("ab" * 32 + "," + "ab" * 32, "repeats"),
    (",".join(f"{i:064x}" for i in range(65)), "more than 64"),
    ("a" * 10000, "more than 64"),
    ("\u0661" * 64, "item 0"),           # Arabic-Indic digits are not hex
])
def test_parse_ids_bad(text, match):
    with pytest.raises(FormatError, match=match):
        roster.parse_ids(text)


def test_parse_ids_type():
    with pytest.raises(TypeError):
        roster.parse_ids(b"ab" * 32)


def test_nodes_query():
    q = roster.nodes_query("smollm2", ids=IDS[:2])
    assert roster.parse_nodes_query(q) == roster.NodesQuery("smollm2", ids=tuple(IDS[:2]))
    assert roster.parse_nodes_query(q.encode()) == roster.NodesQuery("smollm2",
                                                                     ids=tuple(IDS[:2]))
    assert roster.parse_nodes_query("model=a%20b&k=3") == roster.NodesQuery("a b", k=3)
    assert roster.parse_roster_query("model=smollm2") == "smollm2"


@pytest.mark.parametrize("query,match", [
    ("k=2", "model is missing"),
    ("model=m", "exactly one of k"),
    ("model=m&k=2&ids=" + "ab" * 32, "exactly one of k"),
    ("model=m&k=0", "k must be"),
    ("model=m&k=65", "k must be"),
    ("model=m&k=02", "k must be"),
    ("model=m&k=-1", "k must be"),
    ("model=m&k=%EF%BC%92", "k must be"),      # a full-width digit
    ("model=m&model=n&k=1", "twice"),
    ("model=m&k=1&x=1", "malformed|unknown"),
    ("model=&k=1", "model must be"),
    ("model=a%0Ab&k=1", "model must be"),
    ("model=m&&k=1", "malformed"),
    ("model=m&ids=", "empty"),
    ("model=%FF&k=1", "malformed"),
    ("model=" + "m" * 9000, "longer"),
])
def test_nodes_query_bad(query, match):
    with pytest.raises(FormatError, match=match):
        roster.parse_nodes_query(query)


def test_roster_query_bad():
    for q in ("", "model=m&k=1", "m=1"):
        with pytest.raises(FormatError):
            roster.parse_roster_query(q)


def test_response_roundtrip_and_bad(keys):
    leaf = leaves.roster("m", 1, IDS)
    proof = make_proof(keys, leaf)
    body = roster.encode_response(leaf, proof)
    assert msgpack.unpackb(body) == {"leaf": leaf, "proof": proof}
    assert roster.decode_response(body) == (leaf, proof)
    bad = [
        b"",
        body + b"\x00",
        msgpack.packb({"leaf": leaf}),
        msgpack.packb({"leaf": leaf, "proof": proof, "x": 1}),
        msgpack.packb({"leaf": leaf.decode("latin-1"), "proof": proof}),
        msgpack.packb({"leaf": leaf, "proof": proof.encode()}, use_bin_type=True),
        msgpack.packb({"leaf": leaf, "proof": ""}, use_bin_type=True),
        msgpack.packb({"leaf": leaves.release("r", "1", 1, [("pcc", "code", b"\x01" * 48)]),
                       "proof": proof}, use_bin_type=True),
        msgpack.packb([leaf, proof], use_bin_type=True),
    ]
    for b in bad:
        with pytest.raises(FormatError):
            roster.decode_response(b)
    with pytest.raises(InvalidArgument):
        roster.encode_response(leaf, "")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parse_nodes_query_hostile(text):
    try:
        q = roster.parse_nodes_query(text)
    except FormatError:
        return
    assert (q.k is None) != (q.ids is None) and q.model


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_response_hostile(data):
    try:
        roster.decode_response(data)
    except FormatError:
        pass


# ----------------------------------------------------------------------------- the CLI

def test_cli_verify_and_draw(keys, tmp_path, capsys):
    leaf = leaves.roster("smollm2", 4, IDS)
    (tmp_path / "r.leaf").write_bytes(leaf)
    (tmp_path / "r.proof").write_text(make_proof(keys, leaf))
    base = ["roster", "verify", "--leaf", str(tmp_path / "r.leaf"), "--proof",
            str(tmp_path / "r.proof"), "--log-vkey", keys["log_vk"], "--witness", keys["w_vk"]]
    assert main(base + ["--model", "smollm2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:10] == [i.hex() for i in IDS] and out[-1].startswith("verified: roster smollm2")
    assert main(base + ["--model", "other"]) == 1
    assert "NOT VERIFIED" in capsys.readouterr().out
    assert main(base + ["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epoch"] == 4
    assert main(["roster", "draw", "--leaf", str(tmp_path / "r.leaf"), "-k", "3"]) == 0
    drawn = capsys.readouterr().out.split()
    assert len(set(drawn)) == 3 and set(drawn) <= {i.hex() for i in IDS}
    assert main(["roster", "draw", "--leaf", str(tmp_path / "r.leaf"), "-k", "11"]) == 2


def run(*args, check=True):
    r = subprocess.run(CLI + list(args), env=env(), cwd=str(ROOT), capture_output=True,
                       text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{args}: rc={r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def test_cli_publish_to_a_real_log(tmp_path):
    """`pcc roster publish` against a running log with one witness; the saved leaf and proof
    verify with `pcc.roster.verify`, and bad node ids are refused before anything is sent."""
    origin = "log.example/roster"
    log_sk, log_vk = keygen(tmp_path, origin)
    pub_sk, _ = keygen(tmp_path, "publisher.example")
    w, w_vk = start_witness(tmp_path, "w.example", [(origin, log_vk)])
    srv = Server(log_args(tmp_path, origin, log_sk, [str(tmp_path / "publisher.example.vkey")],
                          [(w.url, w_vk)]), free_port(), tmp_path / "log.log",
                 "/checkpoint").start()
    try:
        wait_checkpoint(srv.url, 0)
        nodes_file = tmp_path / "nodes.txt"
        nodes_file.write_text("# the nodes\n" + "\n".join(i.hex() for i in IDS[2:]) + "\n")
        out = tmp_path / "r"
        res = run("roster", "publish", "--model", "smollm2", "--log", srv.url, "--key",
                  str(pub_sk), "--node", IDS[1].hex(), "--node", IDS[0].hex().upper(),
                  "--nodes-file", str(nodes_file), "--epoch", "12", "--log-vkey", log_vk,
                  "--witness", w_vk, "--out", str(out), "--json")
        doc = json.loads(res.stdout)
        assert doc["epoch"] == 12 and doc["nodes"] == 10 and doc["index"] == 0
        leaf = (tmp_path / "r.leaf").read_bytes()
        proof = (tmp_path / "r.tlog-proof").read_text()
        r = roster.verify(leaf, proof, log_vk, [w_vk], 1, 600, model="smollm2")
        assert r.nodes == tuple(IDS) and r.epoch == 12
        # bad input: nothing is sent
        for extra, match in ((["--node", "abc"], "not a node id"),
                             (["--node", IDS[0].hex(), "--node", IDS[0].hex()], "twice"),
                             ([], "no nodes")):
            bad = run("roster", "publish", "--model", "m", "--log", srv.url, "--key",
                      str(pub_sk), "--insecure-no-witnesses", *extra, check=False)
            assert bad.returncode == 2 and bad.stderr.startswith("pcc: error: ") and \
                match in bad.stderr, bad.stderr
        assert int(wait_checkpoint(srv.url, 1).split("\n")[1]) == 1
    finally:
        srv.stop()
        w.stop()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF,xg ", max_size=400))
def test_parse_ids_hostile(text):
    try:
        ids = roster.parse_ids(text)
    except FormatError:
        return
    assert 1 <= len(ids) <= roster.MAX_QUERY_IDS and len(set(ids)) == len(ids)
    assert all(len(i) == 32 for i in ids) and roster.format_ids(ids) == text.lower()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=64, unique=True),
       st.text(min_size=1, max_size=40).filter(lambda m: all(ord(c) >= 0x20 and ord(c) != 0x7F
                                                              for c in m)))
def test_nodes_query_roundtrip(ids, model):
    q = roster.nodes_query(model, ids=ids)
    assert roster.parse_nodes_query(q) == roster.NodesQuery(model, ids=tuple(ids))
