"""A node that takes its release from the transparency log (node.json ``release.log``): a real log
with two real witnesses on loopback, the release published to it, and real nodes (``pcc node
serve``) that fetch the leaf and a proof through the bounded peer, verify them as a client
would, refresh the proof while serving, and refuse to boot (naming the check) when the log
serves a tampered leaf, tile or checkpoint, or cannot be reached. A proxy in front of the log
does the tampering."""
from __future__ import annotations

import base64
import json
import os
import pathlib
import threading
import time

import httpx
import msgpack
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import _node_util as U
from _tlog_util import free_port
from pcc import attest, transparency
from pcc.node import parse_config
from pcc.services import BackgroundServer, tlog, witness
from pcc.transparency import _note as tlognote, leaves, tiles
from pcc.transparency.client import submit
from pcc.transparency.release import measure

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the worker sandbox needs root")


class Proxy:
    """Forwards GETs to the log; ``mode`` tampers with what it serves."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "ok"
        self.paths: list[str] = []

        async def forward(request: Request) -> Response:
            path = request.url.path
            self.paths.append(path)
            if self.mode == "down":
                return Response(b"", status_code=503)
            async with httpx.AsyncClient(trust_env=False) as c:
                r = await c.get(self.upstream + path, timeout=10)
            body = r.content
            if r.status_code == 200:
                body = self.tamper(path, body)
            return Response(body, status_code=r.status_code,
                            media_type=r.headers.get("content-type"))

        self.app = Starlette(routes=[Route("/{rest:path}", forward, methods=["GET"])])
        self.server = BackgroundServer(self.app)
        self.url = self.server.url

    def tamper(self, path: str, body: bytes) -> bytes:
        if self.mode == "leaf" and path.startswith("/tile/entries/"):
            entries = tiles.decode_bundle(body)                # every leaf, one byte changed
            return tiles.encode_bundle([e[:-1] + bytes([e[-1] ^ 1]) for e in entries])
        if self.mode == "tile" and path.startswith("/tile/0/"):
            return bytes([body[0] ^ 1]) + body[1:]
        if self.mode == "cosignatures" and path == "/checkpoint":
            text = body.decode()
            head, sigs = text.split("\n\n", 1)
            log_line = [ln for ln in sigs.splitlines() if ln.startswith("\u2014 " + U.ORIGIN)]
            return (head + "\n\n" + "\n".join(log_line) + "\n").encode()
        if self.mode == "signature" and path == "/checkpoint":
            lines = body.split(b"\n")                          # another root, same signatures
            lines[2] = base64.b64encode(bytes(32))
            return b"\n".join(lines)
        return body


class LogWorld:
    """A real log (re-cosigned every second) and two witnesses, in this process."""

    def __init__(self, d: pathlib.Path, world: U.World) -> None:
        self.d = d
        self.pub_sk, self.pub_vk = tlognote.generate("publisher.example")
        self.servers = []
        wit_urls = []
        for i, (sk, vk) in enumerate(world.wits):
            app = witness.create_app(witness.WitnessConfig(
                db_path=str(d / f"w{i}.db"), skey=sk, logs=((U.ORIGIN, world.log_vk),)))
            s = BackgroundServer(app)
            self.servers.append(s)
            wit_urls.append((s.url, vk))
        log_app = tlog.create_app(tlog.LogConfig(
            db_path=str(d / "log.db"), origin=U.ORIGIN, skey=world.log_sk,
            publishers=(self.pub_vk,), witnesses=tuple(wit_urls), quorum=2,
            batch_interval_ms=2.0, refresh_interval_s=1.0))
        self.log = BackgroundServer(log_app)
        self.servers.append(self.log)
        self.url = self.log.url

    def publish(self, leaf: bytes) -> int:
        sig = tlognote.raw_sign(tlognote.load_signer(self.pub_sk), leaf)
        return submit(self.url, leaf, sig, timeout=60)[0]

    def stop(self) -> None:
        for s in reversed(self.servers):
            s.stop()


BASE = {"v": 1, "serial": U.SERIAL, "host": "127.0.0.1", "port": 0, "ca": {"dir": "ca"},
        "metrics_refresh_s": 0,
        "limits": {"max_workers": 2, "queue": 2, "max_tokens": 1900, "max_payload": 65536}}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("noderel")
    world = U.World(d)
    lw = LogWorld(d, world)
    # the release of this tree, these models and this (measured) configuration
    cfg = dict(BASE, models={U.MODEL: world.model_path, "slow": world.slow_path},
               release={"leaf": "x", "proof": "x"},
               trust={"log": world.log_vk, "witnesses": [v for _, v in world.wits], "quorum": 2})
    nc = parse_config(cfg, "node.json", d)
    comps = measure(models=list(nc.models), config=nc.measured())
    lw.publish(leaves.release("pcc", "other", int(time.time()), comps[:1]))
    leaf = leaves.release("pcc", "logtest", int(time.time()), comps)
    index = lw.publish(leaf)
    proxy = Proxy(lw.url)
    yield world, lw, proxy, cfg, leaf, index
    proxy.server.stop()
    lw.stop()


def write_config(env, name: str, release: dict, *, max_age: int = 86400) -> pathlib.Path:
    world, _, _, cfg, _, _ = env
    c = json.loads(json.dumps(cfg))
    c["release"] = release
    c["trust"]["max_checkpoint_age_s"] = max_age
    p = world.d / name
    p.write_text(json.dumps(c))
    return p


def bundle_proof(node) -> tuple[bytes, str, attest.Report]:
    world = node.world
    r = httpx.get(node.url + "/v1/attestation", timeout=10)
    assert r.status_code == 200
    rep = attest.verify(r.content, world.trust(), model=U.MODEL)
    assert rep.ok, str(rep)
    body = msgpack.unpackb(msgpack.unpackb(r.content)["body"])
    return body["release"], body["tlog_proof"], rep


def events(logfile: pathlib.Path, name: str) -> list[dict]:
    out = []
    for line in logfile.read_text(errors="replace").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and e.get("event") == name:
            out.append(e)
    return out


def start(env, name: str, release: dict, **kw) -> U.Node:
    n = U.Node(write_config(env, name + ".json", release, **kw), env[0].d / f"{name}.log")
    n.world = env[0]
    return n


def refused(env, name: str, release: dict) -> str:
    n = start(env, name, release)
    try:
        n.proc.wait(timeout=90)
    finally:
        n.stop()
    assert n.proc.returncode != 0
    ev = events(env[0].d / f"{name}.log", "boot_refused")
    assert len(ev) == 1, (env[0].d / f"{name}.log").read_text()[-2000:]
    return ev[0]["args"]["reason"]


def checkpoint_size(proof: str) -> int:
    return int(tlognote.parse_proof(proof).checkpoint.split("\n")[1])


# ---------------------------------------------------------------------------------- serving

def test_boot_from_log_and_refresh(env):
    world, lw, proxy, _, leaf, index = env
    n = start(env, "bylog", {"log": lw.url, "index": index, "refresh_s": 1})
    try:
        n.wait(90)
        got_leaf, proof, rep = bundle_proof(n)
        assert got_leaf == leaf and leaves.decode(got_leaf)["version"] == "logtest"
        assert tlognote.parse_proof(proof).index == index
        size0 = checkpoint_size(proof)
        # the log grows: the node's next refresh proves the same leaf under the newer checkpoint
        lw.publish(leaves.release("pcc", "later", int(time.time()), [("x", "code", bytes(48))]))
        deadline = time.monotonic() + 60
        while True:
            _, newer, rep = bundle_proof(n)
            if checkpoint_size(newer) > size0:
                break
            assert time.monotonic() < deadline, "the proof was not refreshed"
            time.sleep(0.5)
        assert tlognote.parse_proof(newer).index == index
        transparency.verify_proof(leaf, newer, world.log_vk, [v for _, v in world.wits], 2, 60)
        assert events(n.logfile, "proof_refreshed")
        assert not events(n.logfile, "proof_refresh_failed")
    finally:
        n.stop()


def test_boot_by_name_and_version_then_stale_when_refresh_fails(env):
    """Found by name and version; then the log starts serving tampered tiles: every refresh
    fails verification and is logged (the bundle keeps its proof), the proof nears its freshness
    limit and /healthz and /v1/attestation fail instead of serving it; the log heals and the node
    serves again."""
    world, lw, proxy, _, leaf, index = env
    proxy.mode = "ok"
    n = start(env, "stale", {"log": proxy.url, "name": "pcc", "version": "logtest",
                             "refresh_s": 1}, max_age=20)
    try:
        n.wait(90)
        got_leaf, before, _ = bundle_proof(n)
        assert got_leaf == leaf and tlognote.parse_proof(before).index == index
        proxy.mode = "tile"
        t0 = time.monotonic()
        while True:
            sent = time.time()
            if httpx.get(n.url + "/healthz", timeout=5).status_code != 200:
                break
            last_ok = sent
            assert time.monotonic() - t0 < 40, "a proof that cannot be refreshed kept serving"
            time.sleep(0.25)
        assert httpx.get(n.url + "/v1/attestation", timeout=5).status_code == 503
        failed = events(n.logfile, "proof_refresh_failed")
        assert failed and {e["args"]["check"] for e in failed} == {"inclusion"}
        stale = events(n.logfile, "proof_stale")
        assert len(stale) == 1
        # it served until stale_margin (2 s) before a client would refuse the proof, not after
        until = stale[0]["args"]["fresh_until"]
        assert last_ok < until - 2 <= stale[0]["ts"]
        proxy.mode = "ok"
        deadline = time.monotonic() + 30
        while httpx.get(n.url + "/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the node did not serve again"
            time.sleep(0.25)
        _, after, _ = bundle_proof(n)
        assert after != before
    finally:
        proxy.mode = "ok"
        n.stop()


# ---------------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("mode,check", [("leaf", "inclusion"), ("tile", "inclusion"),
                                        ("cosignatures", "witness quorum"),
                                        ("signature", "checkpoint signature")])
def test_boot_refuses_a_tampering_log(env, mode, check):
    _, _, proxy, _, _, index = env
    proxy.mode = mode
    try:
        reason = refused(env, f"tamper-{mode}", {"log": proxy.url, "index": index})
    finally:
        proxy.mode = "ok"
    assert reason == f"the release is not verifiably logged: tlog proof: {check} check failed"


def test_boot_refuses_an_unreachable_log(env):
    _, _, _, _, _, index = env
    url = f"http://127.0.0.1:{free_port()}"
    reason = refused(env, "unreachable", {"log": url, "index": index})
    assert reason.startswith(f"cannot get the release (unreachable): the log {url} is "
                             "unreachable"), reason


def test_boot_refuses_an_index_the_log_does_not_have(env):
    _, lw, _, _, _, _ = env
    reason = refused(env, "noindex", {"log": lw.url, "index": 10**6})
    assert reason.startswith("cannot get the release (unreadable)") and "10000" in reason


def test_boot_refuses_an_unknown_release_name(env):
    _, lw, _, _, _, _ = env
    reason = refused(env, "noname", {"log": lw.url, "name": "pcc", "version": "nope"})
    assert reason.startswith("cannot get the release (not found)"), reason


def test_boot_refuses_a_leaf_that_is_not_this_release(env):
    _, lw, _, _, _, index = env
    # index - 1 is the release "other" (the code component only): verifiably logged, but the
    # measurements refuse it
    reason = refused(env, "other", {"log": lw.url, "index": index - 1})
    assert reason == "the node config differs from the logged release (config node-config)"


class _HostileLog:
    """A log that signs a checkpoint of ``size`` leaves, every one of them the same release leaf
    (the log is free to claim and serve that): what the node's lookup by name reads."""

    def __init__(self, size: int, leaf: bytes):
        import types
        from pcc._internal.peer import PeerLimits
        skey, self.vkey = tlognote.generate("hostile.example/log")
        from pcc import note
        text = tlognote.checkpoint_text("hostile.example/log", size, b"\x00" * 32)
        body = note.sign(text, [tlognote.load_signer(skey)])
        self.base = "http://hostile.example"
        self.client = types.SimpleNamespace(
            limits=PeerLimits(),
            get=lambda url, limits=None: types.SimpleNamespace(status_code=200, text=body))
        self.leaf = leaf
        self.bundles = 0

    def tile(self, t):
        self.bundles += 1
        return tiles.encode_bundle([self.leaf] * t.width)

    def close(self):
        pass


@pytest.mark.parametrize("size", [256 * 64, (1 << 62) + 5])
def test_lookup_by_name_reads_only_up_to_the_first_match(size):
    """A log may claim any size and fill it with copies of the release: the lookup stops at the
    first match (one bundle, one release kept), it never lists every bundle of the claimed tree
    nor keeps every match."""
    import types
    from pcc.node import _release
    leaf = leaves.release("pcc", "dup", 1, [("code", "code", b"\x01" * 48)])
    log = _HostileLog(size, leaf)
    cfg = types.SimpleNamespace(release_index=None, release_log=log.base, release_name="pcc",
                                release_version="dup", log_vkey=log.vkey)
    src = _release.Source(cfg)
    src._reader = log
    t0 = time.monotonic()
    assert src._lookup() == 0
    assert log.bundles == 1 and time.monotonic() - t0 < 5


def test_refresh_from_a_log_claiming_an_impossible_size_is_a_source_error():
    """A checkpoint whose size no tree can have (2**64 and more) is the log serving something
    unreadable: a SourceError naming the check (what the proof_refresh_failed event logs), not
    another exception escaping the refresh."""
    import types
    from pcc import note
    from pcc.node import _release
    from pcc.transparency.client import TileReader
    skey, vkey = tlognote.generate("huge.example/log")
    rd = object.__new__(TileReader)
    rd.checkpoint = lambda: note.sign(tlognote.checkpoint_text("huge.example/log", 1 << 64,
                                                               b"\x00" * 32),
                                      [tlognote.load_signer(skey)])
    rd.tile = lambda t: b"\x01" * 32 * t.width
    cfg = types.SimpleNamespace(release_index=3, release_log="http://huge.example",
                                release_name=None, release_version=None, log_vkey=vkey,
                                release_source="log")
    src = _release.Source(cfg)
    src._reader = rd
    with pytest.raises(_release.SourceError) as e:
        src.refresh(b"leaf", "proof")
    assert e.value.check == "unreadable"
