"""A compute node for the private-path tests, built in-process from the real parts: an identity
key certified by the cell's provisioning CA, a release published to the cell's log, a bundle from
pcc.attest.build_bundle, the node side of the request cryptography (the C core's testing entry
points: unwrap, open, parse, seal) and pcc.llm for the text. It speaks the node's HTTP contract
(/v1/attestation, /v1/invoke, /healthz) so relay, gateway and client run against it unchanged."""
from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time

import msgpack
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pcc import _core, attest, hpke, llm
from pcc.services import serve_in_thread
from pcc.transparency import leaves


class LocalNode:
    def __init__(self, cell, model_path: str, model_name: str, serial: str, *,
                 tamper: bool = False, not_after_s: int = 86400) -> None:
        self.model_name = model_name
        self.key = attest.IdentityKey.generate()
        cell.ca.add_serial(serial)
        cert = cell.ca.issue(self.key.csr(serial))
        self.node_id = self.key.node_id
        self.sk = hpke.PrivateKey.generate(hpke.KEM_X25519_SHA256)
        self.key_id = secrets.token_bytes(8)
        with open(model_path, "rb") as f:
            model_digest = hashlib.sha384(f.read()).digest()
        code = hashlib.sha384(b"pcc test node code").digest()
        config = hashlib.sha384(b"pcc test node config").digest()
        events = [(0, "pcc", code), (1, model_name, model_digest), (2, "node-config", config)]
        comps = [("pcc", "code", code), (model_name, "model", model_digest),
                 ("node-config", "config", config)]
        leaf = leaves.release("pcc-test-node", "1", 1_700_000_000, comps)
        _, proof = cell.publish(leaf)
        now = int(time.time())
        self.bundle = attest.build_bundle(
            self.key, chain=[cert], serial=serial, boot=os.urandom(16), issued=now,
            events=events, hpke=attest.HpkeKey(self.sk.public_bytes(), self.key_id,
                                               now + not_after_s),
            models=[model_name], release=leaf, tlog_proof=proof)
        if tamper:       # one flipped byte inside the signed body
            outer = msgpack.unpackb(self.bundle, raw=False)
            body = bytearray(outer["body"])
            body[len(body) // 2] ^= 1
            outer["body"] = bytes(body)
            self.bundle = msgpack.packb(outer, use_bin_type=True)
        self.model = llm.Model.load(model_path, threads=1)
        self.lock = threading.Lock()
        self.invokes = 0
        self.app = Starlette(routes=[
            Route("/v1/attestation", self._attestation, methods=["GET"]),
            Route("/v1/invoke", self._invoke, methods=["POST"]),
            Route("/healthz", self._health, methods=["GET"])])
        self.server = serve_in_thread(self.app)
        self.url = self.server.url

    async def _attestation(self, request: Request) -> Response:
        return Response(self.bundle, media_type="application/pcc-attestation+msgpack")

    async def _health(self, request: Request) -> Response:
        return Response(b'{"ok": true}', media_type="application/json")

    def _answer(self, obj: dict):
        entry = obj["keys"][0]
        s = self.sk
        dk = _core._testing_unwrap([(self.key_id, s, 0x20, 1, 1)], entry["key_id"],
                                   entry["enc"], entry["ct"], self.node_id)
        payload = _core._testing_request_open(dk, obj["nonce"], obj["body"], 1 << 20)
        msgs, p = _core._testing_chat_parse(payload)
        with self.lock:
            self.invokes += 1
            gen = self.model.generate(messages=msgs, max_tokens=p["max_tokens"],
                                      temperature=p["temperature"], top_p=p["top_p"],
                                      top_k=p["top_k"], seed=p["seed"])
            pieces = [piece for piece in gen if piece]
        pts = [(_core._testing_answer_encode(("text", t)), False) for t in pieces]
        pts.append((_core._testing_answer_encode(("done", 1, len(pieces))), True))
        return _core._testing_answer_seal(dk, self.node_id, pts)

    async def _invoke(self, request: Request) -> Response:
        obj = msgpack.unpackb(await request.body(), raw=False)
        if obj["keys"][0]["node"] != self.node_id:
            return Response(b'{"error": "not this node"}', status_code=400)
        from starlette.concurrency import run_in_threadpool
        stream = await run_in_threadpool(self._answer, obj)

        async def parts():
            for i in range(0, len(stream), 64):
                yield stream[i:i + 64]
        return StreamingResponse(parts(), media_type="application/pcc-answer")

    def stop(self) -> None:
        self.server.stop()


def wait_roster(cell, ids, timeout: float = 30.0) -> None:
    """Publish the cell's roster until its logged roster lists every id in ``ids``."""
    deadline = time.monotonic() + timeout
    while True:
        cell.publish_roster()
        if set(cell.roster_of() or ()) >= set(ids):
            return
        if time.monotonic() > deadline:
            raise AssertionError("the roster did not list the nodes")
        time.sleep(0.2)


def cell_with_nodes(base, model_path, model: str, n: int, serial_prefix: str):
    """A started ``pcc.cell.Cell`` in ``base`` with no nodes of its own and ``n`` LocalNodes
    serving ``model`` added to its gateway (``cell.test_nodes``), its logged roster listing
    them and its client.json written. :func:`stop_cell` stops it all."""
    from pcc.cell import Cell
    c = Cell(base, nodes=0, model=str(model_path))
    c.start()
    c.test_nodes = []
    for i in range(n):
        node = LocalNode(c, str(model_path), model, f"{serial_prefix}-{i}")
        c.test_nodes.append(node)
        c.gateway_app.state.add_node(node.url)
    wait_roster(c, {node.node_id for node in c.test_nodes})
    c._write_client_json()
    return c


def stop_cell(cell) -> None:
    for node in cell.test_nodes:
        node.stop()
    cell.stop()


def hostile_gateway(cell, monkeypatch):
    """For one test: ``install(fn)`` makes the cell's gateway serve ``fn(fair, model, ids)``
    where it would serve ``fair(model, ids)`` (the bundles ``/v1/nodes?ids=`` answers with)."""
    st = cell.gateway_app.state
    fair = st.bundles_for

    def install(fn):
        monkeypatch.setattr(st, "bundles_for", lambda model, ids: fn(fair, model, list(ids)))
    return install


def withhold_first_once(dropped: list):
    """For :func:`hostile_gateway`: withhold the first node asked for, once (its id is appended
    to ``dropped``); serve everything else as asked."""
    def serve(fair, model, ids):
        if not dropped:
            dropped.append(ids[0])
            return fair(model, ids[1:])
        return fair(model, ids)
    return serve
