"""The private path over loopback: relay -> gateway -> nodes, with the client SDK, tokens from the
issuer and key proofs from the log (all real services; the nodes are tests/_testnode.py)."""
from __future__ import annotations

import base64
import json
import pathlib
import threading
import time

import httpx
import msgpack
import pytest

from pcc import bhttp, llm, ohttp, tokens
from pcc.client import Client
from pcc.errors import InvalidArgument, StateError, VerifyError

from _testnode import LocalNode, cell_with_nodes, stop_cell
import llm_tiny

MSGS = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return llm_tiny.build(tmp_path_factory.mktemp("model"), llm_tiny.F32,
                          name="tiny-chat.gguf").path


@pytest.fixture(scope="module")
def cell(tmp_path_factory, tiny):
    c = cell_with_nodes(tmp_path_factory.mktemp("cell"), tiny, "tiny-chat", 2, "SN-TEST")
    yield c
    stop_cell(c)


def wait_nodes(client, n=2, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = client._discover(client.model, fresh=True).reports
            if len(got) >= n:
                return got
        except (StateError, InvalidArgument, VerifyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("nodes did not become healthy")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def client(cell):
    c = Client.from_config(cell.dir / "client.json")
    wait_nodes(c)
    yield c
    c.close()


def test_answer_equals_engine_greedy(cell, client, tiny):
    got = client.complete(MSGS, max_tokens=12)
    want = "".join(llm.Model.load(str(tiny), threads=1).generate(messages=MSGS, max_tokens=12,
                                                                  temperature=0.0))
    assert got == want and got
    r = client.last_report
    assert r["answered_by"] in r["sealed_to"] and len(r["sealed_to"]) == 2
    assert r["usage"]["completion_tokens"] >= 1
    assert all(n["ok"] for n in r["nodes"])


def test_streaming_yields_pieces(client):
    pieces = list(client.chat(MSGS, max_tokens=8))
    assert len(pieces) >= 2 and all(isinstance(p, str) for p in pieces)


def test_nodes_are_verified_reports(client):
    reps = client.nodes()
    assert len(reps) == 2 and all(r.ok for r in reps)


# ---- tokens ---------------------------------------------------------------------------------

def _invoke_raw(client, token_header):
    """One invoke through the relay with a chosen authorization header; returns the inner
    response head status and body."""
    from pcc._request import NodeKey, Params, seal_request
    from pcc import hpke
    reps = client.nodes()
    keys = [NodeKey(r.node_id, r.key_id, r.hpke_public_key, hpke.Suite(*r.hpke_suite))
            for r in reps]
    body, _ = seal_request(keys, MSGS, Params(max_tokens=2), model=client.model)
    headers = [("content-type", "application/pcc-request+msgpack")]
    if token_header is not None:
        headers.append(("authorization", token_header))
    req = client._inner("POST", "/v1/invoke", headers, msgpack.packb(body, use_bin_type=True))
    head, content = client._call(req)
    return head, content


def _auth(tok):
    return 'PrivateToken token="%s"' % base64.urlsafe_b64encode(tok.encode()).decode().rstrip("=")


def test_double_spend_refused(client):
    tok = client._token()
    head, _ = _invoke_raw(client, _auth(tok))
    assert head.status == 200
    head, body = _invoke_raw(client, _auth(tok))
    assert head.status == 403 and json.loads(body)["error"] == "token already spent"


def test_missing_token_gets_challenge(client):
    head, _ = _invoke_raw(client, None)
    assert head.status == 401
    www = dict(head.headers)[b"www-authenticate"].decode()
    ch, spki, _ = tokens.parse_challenge_header(www)
    assert spki == client.issuer_key()[0]
    assert ch.encode() == client.issuer_key()[1].encode()


def test_forged_token_refused(client):
    tok = client._token()
    forged = tokens.Token(tok.token_type, tok.nonce, tok.challenge_digest, tok.token_key_id,
                          bytes(len(tok.authenticator)))
    head, _ = _invoke_raw(client, _auth(forged))
    assert head.status == 401


def test_wrong_key_token_refused(client):
    from pcc import blindrsa
    sk = blindrsa.PrivateKey.generate(2048)
    spki = sk.public_key().to_der(pss_oid=True)
    _, ch = client.issuer_key()
    state, req = tokens.begin_issuance(spki, ch)
    tok = tokens.finalize_issuance(state, tokens.Issuer(sk).issue(req))
    head, _ = _invoke_raw(client, _auth(tok))
    assert head.status == 401


@pytest.mark.parametrize("value", ['PrivateToken token="!!!"', "Bearer abc", "PrivateToken",
                                   'PrivateToken token="AAAA"'])
def test_malformed_token_refused(client, value):
    head, _ = _invoke_raw(client, value)
    assert head.status == 401


# ---- relay ----------------------------------------------------------------------------------

def test_relay_refuses_other_media_types(cell):
    r = httpx.post(cell.urls["relay"] + "/", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "error" in r.json()


def test_relay_drops_client_headers(cell, tmp_path):
    """A gateway stand-in records what the relay sends: only content-type (and the transport's
    host and length)."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    from pcc.services import relay, serve_in_thread
    seen = []

    async def gw(request):
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return Response(b"ok", media_type=ohttp.RESPONSE_MEDIA_TYPE)
    with serve_in_thread(Starlette(routes=[Route("/", gw, methods=["POST"])])) as g, \
            serve_in_thread(relay.create_app(relay.RelayConfig(gateway_url=g.url + "/"))) as rl:
        r = httpx.post(rl.url + "/", content=b"sealed", headers={
            "content-type": "message/ohttp-req", "user-agent": "secret-agent",
            "cookie": "id=42", "x-forwarded-for": "10.1.2.3", "forwarded": "for=10.1.2.3",
            "x-real-ip": "10.1.2.3", "authorization": "Bearer x"})
        assert r.status_code == 200 and r.content == b"ok"
        assert r.headers["content-type"] == ohttp.RESPONSE_MEDIA_TYPE
    assert set(seen[0]) <= {"host", "content-length", "content-type"}
    assert seen[0]["content-type"] == "message/ohttp-req"


# ---- gateway outer resource -------------------------------------------------------------------

def test_gateway_bad_requests(cell):
    g = cell.urls["gateway"]
    assert httpx.post(g + "/", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    r = httpx.post(g + "/", content=b"\x01garbage", headers={"content-type": "message/ohttp-req"})
    assert r.status_code in (400, 422) and "error" in r.json()
    r = httpx.post(g + "/", content=b"", headers={"content-type": "message/ohttp-chunked-req"})
    assert r.status_code == 400
    assert httpx.get(g + "/nope").status_code == 404


def test_gateway_inner_errors(client):
    head, _ = client._call(client._inner("GET", "/v1/nodes?model=nope&k=2"))
    assert head.status == 404
    head, _ = client._call(client._inner("GET", f"/v1/nodes?model={client.model}&k=99"))
    assert head.status == 400
    head, _ = client._call(client._inner("GET", "/v1/unknown"))
    assert head.status == 404
    head, body = client._call(client._inner("GET", "/v1/models"))
    assert head.status == 200 and client.model in json.loads(body)["models"]


def test_invoke_bad_body_spends_nothing(client):
    tok = client._token()
    req = client._inner("POST", "/v1/invoke", [
        ("content-type", "application/pcc-request+msgpack"), ("authorization", _auth(tok))],
        b"\x81\xa1vnot msgpack")
    head, _ = client._call(req)
    assert head.status == 400
    head, _ = _invoke_raw(client, _auth(tok))          # still unspent
    assert head.status == 200


def test_plain_ohttp_discovery(client):
    cfg = client.ohttp_config()
    req = client._inner("GET", f"/v1/nodes?model={client.model}&k=1").encode()
    enc, cctx = ohttp.encapsulate_request(cfg, req)
    r = httpx.post(client.relay, content=enc, headers={"content-type": "message/ohttp-req"})
    assert r.status_code == 200
    resp = bhttp.Response.decode(cctx.decapsulate_response(r.content))
    assert resp.status == 200 and len(msgpack.unpackb(resp.content)["nodes"]) == 1


# ---- key proofs -----------------------------------------------------------------------------

def _client_with(cell, **trust_over):
    cfg = json.loads((cell.dir / "client.json").read_text())
    cfg["trust"].update(trust_over)
    return Client.from_config(cfg)


def test_key_without_valid_proof_refused(cell):
    from pcc.transparency import _note as tlognote
    _, other_log = tlognote.generate("log.pcc.cell")
    c = _client_with(cell, log=other_log)
    with pytest.raises(VerifyError, match="gateway OHTTP keys"):
        c.ohttp_config()
    with pytest.raises(VerifyError, match="issuer key"):
        c.issuer_key()


def test_proof_for_other_keys_refused(cell, client):
    kp = cell._logged["ohttp-keys"]
    cell._logged["ohttp-keys"] = cell._logged["issuer-key"]
    try:
        c = _client_with(cell)
        with pytest.raises((VerifyError, Exception)):
            c.ohttp_config()
    finally:
        cell._logged["ohttp-keys"] = kp


def test_tampered_bundle_skipped(cell, tiny, client):
    bad = LocalNode(cell, str(tiny), "tiny-chat", "SN-TAMPER", tamper=True)
    try:
        cell.gateway_app.state.add_node(bad.url)
        c = Client.from_config(cell.dir / "client.json", k=16, selection="gateway")
        deadline = time.monotonic() + 30
        while True:         # until the gateway's probe has found the new node healthy
            d = c._discover(c.model, fresh=True)
            if d.rejected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(d.reports) == 2 and len(d.rejected) == 1
        assert d.rejected[0].failed == "signature"
        assert c.complete(MSGS, max_tokens=3)
        assert bad.invokes == 0
        c.close()
    finally:
        bad.stop()
        time.sleep(3)          # the gateway marks it down


def test_failover_to_next_node(cell, client):
    reps = client.nodes()
    first = reps[0].node_id
    node = next(n for n in cell.test_nodes if n.node_id == first)
    node.server.stop()
    try:
        out = client.complete(MSGS, max_tokens=3)
        assert out and client.last_report["answered_by"] != first.hex()
    finally:
        node.server = __import__("pcc.services", fromlist=["serve_in_thread"]).serve_in_thread(
            node.app, port=int(node.url.rsplit(":", 1)[1]))
    wait_nodes(client)


def test_concurrent_clients(cell):
    errors, outs = [], []

    def run():
        try:
            c = Client.from_config(cell.dir / "client.json", wallet_batch=2)
            for _ in range(2):
                outs.append(c.complete(MSGS, max_tokens=2))
            c.close()
        except Exception as e:  # noqa: BLE001 - collected and asserted
            errors.append(e)
    ts = [threading.Thread(target=run) for _ in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors and len(outs) == 10


# ---- proxy (the official openai package) ---------------------------------------------------

@pytest.fixture(scope="module")
def proxy(cell):
    from pcc.proxy import create_app
    from pcc.services import serve_in_thread
    c = Client.from_config(cell.dir / "client.json")
    wait_nodes(c)
    with serve_in_thread(create_app(c)) as srv:
        yield srv.url
    c.close()


def test_proxy_with_openai_package(proxy, tiny):
    import openai
    oa = openai.OpenAI(base_url=proxy + "/v1", api_key="unused")
    want = "".join(llm.Model.load(str(tiny), threads=1).generate(messages=MSGS, max_tokens=6,
                                                                  temperature=0.0))
    r = oa.chat.completions.create(model="tiny-chat", messages=MSGS, max_tokens=6,
                                   temperature=0)
    assert r.choices[0].message.content == want and r.usage.completion_tokens >= 1
    stream = oa.chat.completions.create(model="tiny-chat", messages=MSGS, max_tokens=6,
                                        temperature=0, stream=True)
    text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == want
    assert [m.id for m in oa.models.list()] == ["tiny-chat"]


def test_proxy_errors_in_openai_shape(proxy):
    import openai
    oa = openai.OpenAI(base_url=proxy + "/v1", api_key="unused")
    with pytest.raises(openai.BadRequestError):
        oa.chat.completions.create(model="tiny-chat", messages=[], max_tokens=2)
    r = httpx.post(proxy + "/v1/chat/completions", content=b"{not json")
    assert r.status_code == 400 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = httpx.post(proxy + "/v1/chat/completions", json={"model": "nope", "messages": MSGS})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_value"


# ---- canary ---------------------------------------------------------------------------------

def test_canary_not_in_logs_or_files(cell, client, capfd):
    canary = "CANARY-" + __import__("secrets").token_hex(8)
    client.complete([{"role": "user", "content": canary}], max_tokens=2)
    out, err = capfd.readouterr()
    assert canary not in out and canary not in err
    for f in pathlib.Path(cell.dir).rglob("*"):
        if f.is_file():
            assert canary.encode() not in f.read_bytes(), f
    import gc
    gc.collect()
    # nothing the relay, gateway or issuer keep alive holds the canary
    leaks = [o for o in gc.get_objects() if isinstance(o, (bytes, bytearray, str))
             and canary.encode() in (o if isinstance(o, (bytes, bytearray)) else o.encode())]
    assert not leaks or all(isinstance(o, str) and o == canary for o in leaks)


# ---- bad input changes nothing; no per-request logs ---------------------------------------

def test_relay_limits_and_methods(cell):
    rl = cell.urls["relay"]
    r = httpx.post(rl + "/", content=b"x" * (5 << 20), headers={"content-type": "message/ohttp-req"})
    assert r.status_code == 413 and "error" in r.json()
    assert httpx.get(rl + "/").status_code == 405
    assert httpx.post(rl + "/other", content=b"x").status_code == 404


def test_gateway_endpoints_refuse_bad_input(cell):
    g = cell.urls["gateway"]
    assert httpx.get(g + "/").status_code == 405
    assert httpx.post(g + "/ohttp-keys").status_code == 405
    r = httpx.post(g + "/", content=b"x" * (5 << 20), headers={"content-type": "message/ohttp-req"})
    assert r.status_code == 413
    # an unknown key id: 422 per RFC 9458's guidance for key mismatch is fine, never 5xx
    cfg = ohttp.decode_key_configs(httpx.get(g + "/ohttp-keys").content)[0]
    other = ohttp.KeyConfig((cfg.key_id + 1) % 256, cfg.kem, cfg.public_key, suites=cfg.suites)
    enc, _ = ohttp.encapsulate_request(other, b"\x00")
    r = httpx.post(g + "/", content=enc, headers={"content-type": "message/ohttp-req"})
    assert 400 <= r.status_code < 500
    # a request that decapsulates but is not binary HTTP
    enc, _ = ohttp.encapsulate_request(cfg, b"\xff\xff not bhttp")
    r = httpx.post(g + "/", content=enc, headers={"content-type": "message/ohttp-req"})
    assert r.status_code == 400


def test_no_log_record_per_request(client, caplog):
    import logging
    with caplog.at_level(logging.DEBUG):
        client.complete(MSGS, max_tokens=2)
    noisy = [r for r in caplog.records if r.name.startswith(("pcc.services", "uvicorn.access",
                                                              "pcc.relay", "pcc.gateway"))]
    assert not noisy, [r.getMessage() for r in noisy]
