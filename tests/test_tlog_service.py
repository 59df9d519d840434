"""Log service over real HTTP: uvicorn subprocesses (log + 2 witnesses) on loopback."""
import concurrent.futures
import gzip
import hashlib

import httpx
import msgpack
import pytest

from _tlog_util import Server, free_port, keygen, log_args, start_witness, wait_checkpoint
from pcc import transparency
from pcc.transparency import _note as tlognote, leaves, tiles
from pcc.transparency.client import submit

ORIGIN = "log.example/svc"
SHA = hashlib.sha384(b"component").digest()


def release_leaf(i: int) -> bytes:
    return leaves.release("svc-test", f"1.0.{i}", 1_700_000_000 + i,
                          [("app", "code", SHA), ("weights", "model", hashlib.sha384(
                              i.to_bytes(4, "big")).digest())])


# independent RFC 9162 hashing with hashlib, for byte-for-byte tile checks
def _lh(d):
    return hashlib.sha256(b"\x00" + d).digest()


def _mth(hs):
    if len(hs) == 1:
        return hs[0]
    k = 1 << ((len(hs) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(hs[:k]) + _mth(hs[k:])).digest()


def test_tlognote_raw_sign_verify():
    """Publisher signatures over binary leaves go through pcc.note's raw Ed25519 (seed in C)."""
    skey, vkey = tlognote.generate("publisher.example")
    leaf = release_leaf(0)                            # binary msgpack: not note text
    signer = tlognote.load_signer(skey)
    sig = tlognote.raw_sign(signer, leaf)
    assert tlognote.raw_sign(skey, leaf) == sig       # skey text: parsed into a signer in C
    v = tlognote.load_verifier(vkey)
    assert tlognote.raw_verify(v, leaf, sig)
    assert not tlognote.raw_verify(v, leaf + b"x", sig)
    assert not tlognote.raw_verify(v, leaf, sig[:63])
    _, other = tlognote.generate("publisher.example")
    assert not tlognote.raw_verify(tlognote.load_verifier(other), leaf, sig)
    with pytest.raises(TypeError):
        tlognote.raw_sign(v, leaf)                    # a verifier cannot sign


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tlog")
    log_sk, log_vk = keygen(tmp, ORIGIN)
    pub_sk, pub_vk = keygen(tmp, "publisher.example")
    other_sk, _ = keygen(tmp, "stranger.example")
    w1, w1_vk = start_witness(tmp, "w1.example", [(ORIGIN, log_vk)])
    w2, w2_vk = start_witness(tmp, "w2.example", [(ORIGIN, log_vk)])
    args = log_args(tmp, ORIGIN, log_sk, [pub_vk], [(w1.url, w1_vk), (w2.url, w2_vk)], quorum=2)
    srv = Server(args, free_port(), tmp / "log.log", "/checkpoint").start()
    wait_checkpoint(srv.url, 0)
    client = httpx.Client(timeout=60.0)
    # publishers sign raw leaves with note signers (seeds held in C)
    signer = tlognote.load_signer(tlognote.read_key_file(pub_sk))
    stranger = tlognote.load_signer(tlognote.read_key_file(other_sk))
    e = {"srv": srv, "url": srv.url, "log_vk": log_vk, "wits": [w1_vk, w2_vk], "client": client,
         "signer": signer, "stranger": stranger, "added": {}, "tmp": tmp, "w": [w1, w2],
         "log_sk": log_sk, "pub_vk": pub_vk}
    yield e
    client.close()
    srv.stop()
    w1.stop()
    w2.stop()


def add(env, leaf):
    index, proof = submit(env["url"], leaf, tlognote.raw_sign(env["signer"], leaf))
    env["added"][index] = leaf
    return index, proof


def fill(env, n):
    """Add release leaves until the log holds at least n entries."""
    n0 = size(env)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: add(env, release_leaf(1000 + n0 + i)), range(max(0, n - n0))))


def verify(env, leaf, proof, quorum=2):
    return transparency.verify_proof(leaf, proof, env["log_vk"], env["wits"], quorum, 600)


def size(env):
    return int(env["client"].get(env["url"] + "/checkpoint").text.split("\n")[1])


def test_empty_log_checkpoint_is_witnessed(env):
    r = env["client"].get(env["url"] + "/checkpoint")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=2"
    n = tlognote.open_note(r.text, [tlognote.load_verifier(env["log_vk"])])
    assert n.text.startswith(ORIGIN + "\n")
    assert set(tlognote.verify_cosignatures(
        n.text, n.lines, [tlognote.load_verifier(w) for w in env["wits"]])) == \
        {"w1.example", "w2.example"}


def test_add_and_verify(env):
    leaf = release_leaf(0)
    index, proof = add(env, leaf)
    got, cp = verify(env, leaf, proof)
    assert got == index and cp.size > index


def test_duplicate_returns_same_index(env):
    leaf = release_leaf(1)
    i1, p1 = add(env, leaf)
    i2, p2 = add(env, leaf)
    assert i1 == i2
    verify(env, leaf, p2)


def test_concurrent_adds(env):
    base = len(env["added"])
    batch = [release_leaf(100 + i) for i in range(300)]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(lambda leaf: (leaf, add(env, leaf)), batch))
    indices = sorted(i for _, (i, _) in results)
    assert indices == list(range(base, base + 300))
    for leaf, (i, proof) in results[::7]:
        assert verify(env, leaf, proof)[0] == i


def test_tiles_byte_for_byte(env):
    # push the log past one full level-0 tile, then compare every tile with hashlib
    fill(env, 520)
    note = env["client"].get(env["url"] + "/checkpoint").text
    cp = tlognote.parse_checkpoint(tlognote.split_note(note).text)
    n = cp.size
    assert n >= 520 and sorted(env["added"]) == list(range(n))
    leaf_list = [env["added"][i] for i in range(n)]
    lhs = [_lh(x) for x in leaf_list]
    assert _mth(lhs) == bytes(cp.root)
    for t in tiles.tiles_for_size(n):
        r = env["client"].get(f"{env['url']}/{t.path}")
        assert r.status_code == 200, t.path
        assert r.headers["content-type"] == "application/octet-stream"
        span = 256 ** t.level
        want = b"".join(_mth(lhs[(t.start + i) * span:(t.start + i + 1) * span])
                        for i in range(t.width))
        assert r.content == want, t.path
        if t.is_partial:
            assert "immutable" not in r.headers["cache-control"]
        else:
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    for t in tiles.entry_bundles_for_size(n):
        r = env["client"].get(f"{env['url']}/{t.path}", headers={"accept-encoding": "identity"})
        assert r.status_code == 200
        assert "content-encoding" not in r.headers
        want = b"".join(len(x).to_bytes(2, "big") + x
                        for x in leaf_list[t.start:t.start + t.width])
        assert r.content == want, t.path


def test_largest_leaf_fits(env):
    # a leaf of exactly 65535 bytes (the uint16 bundle limit) is accepted; more is refused
    nodes = [i.to_bytes(32, "big") for i in range(1, 1921)]
    base = len(leaves.encode({"type": "roster", "v": 1, "model": "m", "epoch": 1,
                              "nodes": nodes}))
    extra = 65535 - base
    leaf = leaves.roster("m" * (extra + 1 if extra + 1 <= 31 else extra), 1, nodes)
    assert len(leaf) == 65535
    idx, proof = add(env, leaf)
    verify(env, leaf, proof)
    r = _post(env, _body(b"\x00" * 65536, bytes(64)))
    assert r.status_code == 400 and "65535" in r.json()["error"]


def test_entry_bundle_gzip(env):
    fill(env, 256)
    with httpx.Client() as c, c.stream("GET", env["url"] + "/tile/entries/000",
                                       headers={"accept-encoding": "gzip"}) as r:
        assert r.headers["content-encoding"] == "gzip"
        raw = gzip.decompress(b"".join(r.iter_raw()))      # raw: not decoded by httpx
    assert tiles.decode_bundle(raw, 256)[0] == env["added"][0]


def test_tile_beyond_checkpoint_is_404(env):
    n = size(env)
    t = tiles.Tile(0, n // 256, 255) if n % 256 != 255 else tiles.Tile(0, n // 256 + 1, 1)
    r = env["client"].get(f"{env['url']}/{t.path}")
    assert r.status_code == 404
    r = env["client"].get(f"{env['url']}/tile/entries/x001/000")
    assert r.status_code == 404


@pytest.mark.parametrize("path", ["tile/0/1", "tile/0/x000/000", "tile/00/000",
                                  "tile/0/000.p/256", "tile/99/000", "tile/entries/abc"])
def test_bad_tile_path_is_400(env, path):
    r = env["client"].get(f"{env['url']}/{path}")
    assert r.status_code == 400
    assert "tile path" in r.json()["error"]


def test_unknown_route_is_404(env):
    assert env["client"].get(env["url"] + "/nope").status_code == 404


def _post(env, body):
    return env["client"].post(env["url"] + "/add", content=body)


def _body(leaf, sig):
    return msgpack.packb({"leaf": leaf, "sig": sig}, use_bin_type=True)


def _bad_requests(env):
    leaf = release_leaf(5000)
    sig = tlognote.raw_sign(env["signer"], leaf)
    unknown = msgpack.packb({"type": "binary", "v": 1}, use_bin_type=True)
    bad_schema = leaves.encode({"type": "release", "v": 1, "name": "x", "version": "1",
                                "created": 1, "components": []})
    return [
        ("malformed msgpack", b"\xc1\xc1", 400),
        ("not a map", msgpack.packb([1, 2]), 400),
        ("trailing bytes", _body(leaf, sig) + b"\x00", 400),
        ("missing sig", msgpack.packb({"leaf": leaf}, use_bin_type=True), 400),
        ("extra key", msgpack.packb({"leaf": leaf, "sig": sig, "x": 1}, use_bin_type=True), 400),
        ("leaf as str", msgpack.packb({"leaf": "abc", "sig": sig}, use_bin_type=True), 400),
        ("short sig", _body(leaf, sig[:63]), 400),
        ("bad signature", _body(leaf, bytes([sig[0] ^ 1]) + sig[1:]), 403),
        ("signature of another leaf", _body(leaf, tlognote.raw_sign(env["signer"], b"x")), 403),
        ("non-publisher key", _body(leaf, tlognote.raw_sign(env["stranger"], leaf)), 403),
        ("unknown leaf type", _body(unknown, tlognote.raw_sign(env["signer"], unknown)), 400),
        ("schema violation", _body(bad_schema, tlognote.raw_sign(env["signer"], bad_schema)),
         400),
        ("oversize body", b"\x00" * (66 * 1024 + 1), 413),
    ]


def test_bad_requests_change_nothing(env):
    before = env["client"].get(env["url"] + "/checkpoint").text
    n = size(env)
    for what, body, status in _bad_requests(env):
        r = _post(env, body)
        assert r.status_code == status, (what, r.status_code, r.text)
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error"], what
    # nothing was sequenced: the same checkpoint size, and a fresh add lands at index n
    after = env["client"].get(env["url"] + "/checkpoint").text
    assert int(after.split("\n")[1]) == n and after.split("\n")[2] == before.split("\n")[2]
    leaf = release_leaf(5000)
    assert add(env, leaf)[0] == n


def test_oversize_streamed_body_without_length(env):
    def gen():
        for _ in range(100):
            yield b"\x00" * 1024
    r = env["client"].post(env["url"] + "/add", content=gen())
    assert r.status_code == 413


def test_get_add_not_allowed(env):
    assert env["client"].get(env["url"] + "/add").status_code == 405


def test_quorum_not_reached_gives_503(env, tmp_path):
    # a second log whose only witness is down: adds are sequenced but never published
    dead = f"http://127.0.0.1:{free_port()}"
    _, w_vk = keygen(tmp_path, "dead.example", cosigner=True)
    args = log_args(tmp_path, "log.example/dead", env["log_sk"], [env["pub_vk"]],
                    [(dead, w_vk)], quorum=1) + ["--add-timeout", "1",
                                                 "--insecure-origin-mismatch"]
    srv = Server(args, free_port(), tmp_path / "dead.log", "/checkpoint").start()
    try:
        leaf = release_leaf(7)
        r = httpx.post(srv.url + "/add", content=_body(leaf, tlognote.raw_sign(env["signer"],
                                                                               leaf)),
                       timeout=30)
        assert r.status_code == 503
        assert r.json()["index"] == 0
        assert httpx.get(srv.url + "/checkpoint").status_code == 503
        assert httpx.get(srv.url + "/tile/entries/000.p/1").status_code == 404
    finally:
        srv.stop()


def test_auditor_follows_incrementally(env):
    from pcc.transparency.client import Auditor, TileReader
    seen = []
    a = Auditor(TileReader(env["url"]), env["log_vk"], env["wits"], 2,
                on_entry=lambda i, leaf, d, err: seen.append(i))
    s1 = a.run_once(None)
    assert seen == list(range(s1.size)) and not a.invalid_leaves
    # grow past the next tile boundary, then audit again with the same auditor: only the new
    # entries are replayed, the open bundle's old entries are re-checked
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: add(env, release_leaf(20000 + i)), range(300)))
    s2 = a.run_once(s1)
    assert s2.size >= s1.size + 300 and seen == list(range(s2.size))
    # a fresh auditor starting from the first state reaches the same root
    b = Auditor(TileReader(env["url"]), env["log_vk"], env["wits"], 2)
    assert b.run_once(s1).root == s2.root
    assert sum(a.counts.values()) == s2.size


@pytest.mark.parametrize("header,want", [
    ("gzip", True), ("br, gzip;q=0.5", True), ("identity", False), ("", False),
    ("gzip;q=0", False), ("GZIP", True), ("x-gzip", True), ("gzip; q=0.0", False),
])
def test_accepts_gzip(header, want):
    from pcc.services.tlog import _accepts_gzip
    assert _accepts_gzip(header) is want
