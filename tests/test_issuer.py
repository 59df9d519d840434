"""Token issuer service (RFC 9578, token type 2): one end-to-end issuance through a real uvicorn
server on loopback (client begins with pcc.tokens, the server issues, the client finalizes and
verifies), ASGI-level tests for the directory, the key proof and every error status, the app
mounted under a prefix in a host Starlette app, accounts stored hashed, and two issuers sharing
rate limits through SQLite and through a real redis-server."""
import base64
import json
import shutil
import socket
import sqlite3
import subprocess
import threading
import time

import httpx
import msgpack
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from pcc import tokens
from pcc.errors import InvalidArgument
from pcc.services import issuer as iss
from pcc.transparency import leaves

NAME = "issuer.test"
CH = tokens.TokenChallenge(NAME, origin_info=["pcc"])
REQ_TYPE = {"content-type": iss.REQUEST_MEDIA_TYPE}


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory):
    path = tmp_path_factory.mktemp("issuer") / "issuer.key"
    spki = iss.generate_key(str(path))
    return str(path), spki


@pytest.fixture
def config(keyfile, tmp_path):
    return iss.IssuerConfig(NAME, keyfile[0], db_path=str(tmp_path / "issuer.db"))


def account(cfg, limit=1000, name="alice"):
    store = iss.open_store(cfg)
    try:
        return iss.add_account(store, name, limit)
    finally:
        store.close()


def auth(key):
    return {"authorization": f"Bearer {key}"}


def token_request(spki):
    state, req = tokens.begin_issuance(spki, CH)
    return state, req


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- end to end over real HTTP ----

class _Uvicorn:
    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def test_end_to_end_issuance_over_uvicorn(config, keyfile):
    key = account(config)
    with _Uvicorn(iss.create_app(config)) as url:
        with httpx.Client(base_url=url, timeout=10) as http:
            d = http.get(iss.DIRECTORY_PATH)
            assert d.status_code == 200
            assert d.headers["content-type"] == iss.DIRECTORY_MEDIA_TYPE
            directory = d.json()
            spki = base64.urlsafe_b64decode(directory["token-keys"][0]["token-key"])
            assert spki == keyfile[1]
            state, req = tokens.begin_issuance(spki, CH)
            r = http.post(directory["issuer-request-uri"], content=req, headers={**REQ_TYPE, **auth(key)})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == iss.RESPONSE_MEDIA_TYPE
            token = tokens.finalize_issuance(state, r.content)
            tokens.verify(token, spki, CH)


# ---- directory ----

def test_directory_is_rfc9578_json(config, keyfile):
    cfg = iss.IssuerConfig(NAME, keyfile[0], db_path=config.db_path, not_before=1700000000)
    with TestClient(iss.create_app(cfg)) as c:
        r = c.get(iss.DIRECTORY_PATH)
    assert r.status_code == 200 and r.headers["content-type"] == iss.DIRECTORY_MEDIA_TYPE
    assert "max-age=" in r.headers["cache-control"]
    d = r.json()
    assert set(d) == {"issuer-request-uri", "token-keys"}
    assert d["issuer-request-uri"] == "/token-request"
    (k,) = d["token-keys"]
    assert k["token-type"] == 2 and k["not-before"] == 1700000000
    assert k["token-key"].endswith("=") or len(keyfile[1]) % 3 == 0  # base64url with padding
    assert base64.urlsafe_b64decode(k["token-key"]) == keyfile[1]


def test_directory_request_uri_can_be_configured(config, keyfile):
    cfg = iss.IssuerConfig(NAME, keyfile[0], db_path=config.db_path,
                           request_uri="https://issuer.example/token-request")
    with TestClient(iss.create_app(cfg)) as c:
        assert c.get(iss.DIRECTORY_PATH).json()["issuer-request-uri"] == \
            "https://issuer.example/token-request"


# ---- token requests: success and every error status ----

def test_issue_through_the_asgi_app(config, keyfile):
    key = account(config)
    state, req = token_request(keyfile[1])
    with TestClient(iss.create_app(config)) as c:
        r = c.post("/token-request", content=req, headers={**REQ_TYPE, **auth(key)})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    tokens.verify(tokens.finalize_issuance(state, r.content), keyfile[1], CH)


@pytest.mark.parametrize("header", [None, "Bearer pcc_not-a-real-key", "Basic YWxpY2U6cHc=",
                                    "Bearer", "Bearer two words", "bearer\tx"])
def test_unknown_account_is_401(config, keyfile, header):
    account(config)
    _, req = token_request(keyfile[1])
    headers = dict(REQ_TYPE)
    if header is not None:
        headers["authorization"] = header
    with TestClient(iss.create_app(config)) as c:
        r = c.post("/token-request", content=req, headers=headers)
    assert r.status_code == 401
    assert r.json() == {"error": "unknown account"}
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_scheme_is_case_insensitive(config, keyfile):
    key = account(config)
    _, req = token_request(keyfile[1])
    with TestClient(iss.create_app(config)) as c:
        r = c.post("/token-request", content=req,
                   headers={**REQ_TYPE, "authorization": f"BEARER {key}"})
    assert r.status_code == 200


def test_over_the_limit_is_429_with_retry_after(config, keyfile):
    key = account(config, limit=2)
    with TestClient(iss.create_app(config)) as c:
        codes = [c.post("/token-request", content=token_request(keyfile[1])[1],
                        headers={**REQ_TYPE, **auth(key)}) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    r = codes[2]
    assert 1 <= int(r.headers["retry-after"]) <= iss.WINDOW_S
    assert r.json() == {"error": "token limit reached for this account"}


def test_limits_are_per_account(config, keyfile):
    a = account(config, limit=1, name="a")
    b = account(config, limit=1, name="b")
    with TestClient(iss.create_app(config)) as c:
        post = lambda k: c.post("/token-request", content=token_request(keyfile[1])[1],
                                headers={**REQ_TYPE, **auth(k)}).status_code
        assert (post(a), post(a), post(b), post(b)) == (200, 429, 200, 429)


@pytest.mark.parametrize("ctype", [None, "application/octet-stream", "text/plain",
                                   "application/private-token-response"])
def test_wrong_media_type_is_415(config, keyfile, ctype):
    key = account(config)
    headers = auth(key)
    if ctype:
        headers["content-type"] = ctype
    with TestClient(iss.create_app(config)) as c:
        r = c.post("/token-request", content=token_request(keyfile[1])[1], headers=headers)
    assert r.status_code == 415 and set(r.json()) == {"error"}


def test_media_type_parameters_are_ignored(config, keyfile):
    key = account(config)
    with TestClient(iss.create_app(config)) as c:
        r = c.post("/token-request", content=token_request(keyfile[1])[1],
                   headers={"content-type": iss.REQUEST_MEDIA_TYPE + "; charset=binary", **auth(key)})
    assert r.status_code == 200


@pytest.mark.parametrize("mangle", [
    lambda r: r[:-1],                    # truncated
    lambda r: r + b"\x00",               # trailing byte
    lambda r: b"",                       # empty
    lambda r: b"\x00\x01" + r[2:],       # token type 1
    lambda r: r[:2] + bytes([r[2] ^ 0xFF]) + r[3:],   # another issuer key
])
def test_bad_token_request_is_400_and_not_echoed(config, keyfile, mangle):
    key = account(config)
    body = mangle(token_request(keyfile[1])[1])
    with TestClient(iss.create_app(config)) as c:
        r = c.post("/token-request", content=body, headers={**REQ_TYPE, **auth(key)})
    assert r.status_code == 400
    assert set(r.json()) == {"error"}
    assert not body or (body.hex() not in r.text and base64.b64encode(body).decode() not in r.text)


def test_bad_requests_do_not_count_against_the_limit(config, keyfile):
    key = account(config, limit=1)
    with TestClient(iss.create_app(config)) as c:
        assert c.post("/token-request", content=b"bad", headers={**REQ_TYPE, **auth(key)}).status_code == 400
        assert c.post("/token-request", content=token_request(keyfile[1])[1],
                      headers={**REQ_TYPE, **auth(key)}).status_code == 200


def test_oversized_body_is_413(config):
    key = account(config)
    with TestClient(iss.create_app(config)) as c:
        r = c.post("/token-request", content=bytes(5000), headers={**REQ_TYPE, **auth(key)})
    assert r.status_code == 413 and set(r.json()) == {"error"}


def test_wrong_method_and_unknown_path_are_json(config):
    with TestClient(iss.create_app(config)) as c:
        r = c.get("/token-request")
        assert r.status_code == 405 and r.json() == {"error": "method not allowed"}
        r = c.get("/nothing-here")
        assert r.status_code == 404 and r.json() == {"error": "not found"}


# ---- key proof ----

def _leaf(spki, issuer=NAME):
    return leaves.issuer_key(issuer, spki, int(time.time()) + 86400)


def test_key_proof_is_503_until_configured(config):
    with TestClient(iss.create_app(config)) as c:
        r = c.get("/v1/key-proof")
    assert r.status_code == 503 and set(r.json()) == {"error"}


def test_key_proof_static(config, keyfile):
    leaf = _leaf(keyfile[1])
    cfg = iss.IssuerConfig(NAME, keyfile[0], db_path=config.db_path, key_proof=(leaf, "proof text\n"))
    with TestClient(iss.create_app(cfg)) as c:
        r = c.get("/v1/key-proof")
    assert r.status_code == 200
    assert msgpack.unpackb(r.content, raw=False) == {"leaf": leaf, "proof": "proof text\n"}


def test_key_proof_from_a_callable(config, keyfile):
    leaf = _leaf(keyfile[1])
    box = {"kp": None}
    cfg = iss.IssuerConfig(NAME, keyfile[0], db_path=config.db_path, key_proof=lambda: box["kp"])
    with TestClient(iss.create_app(cfg)) as c:
        assert c.get("/v1/key-proof").status_code == 503
        box["kp"] = (leaf, "later\n")
        assert msgpack.unpackb(c.get("/v1/key-proof").content)["proof"] == "later\n"


@pytest.mark.parametrize("which", ["other issuer", "other key"])
def test_key_proof_for_another_key_is_refused(config, keyfile, which):
    other = tokens.Issuer(__import__("pcc").blindrsa.PrivateKey.generate(2048)).spki
    leaf = _leaf(keyfile[1], "someone.else") if which == "other issuer" else _leaf(other)
    cfg = iss.IssuerConfig(NAME, keyfile[0], db_path=config.db_path, key_proof=(leaf, "p\n"))
    with TestClient(iss.create_app(cfg)) as c:
        r = c.get("/v1/key-proof")
    assert r.status_code == 500 and set(r.json()) == {"error"}


# ---- mounted under a prefix ----

def test_mounted_under_a_prefix(config, keyfile):
    key = account(config)
    host = Starlette(routes=[Route("/", lambda r: PlainTextResponse("host")),
                             Mount("/services/issuer", app=iss.create_app(config))])
    with TestClient(host) as c:  # the host's lifespan runs; the issuer's never does
        assert c.get("/").text == "host"
        d = c.get("/services/issuer" + iss.DIRECTORY_PATH).json()
        assert d["issuer-request-uri"] == "/services/issuer/token-request"
        state, req = token_request(keyfile[1])
        r = c.post(d["issuer-request-uri"], content=req, headers={**REQ_TYPE, **auth(key)})
        assert r.status_code == 200
        tokens.verify(tokens.finalize_issuance(state, r.content), keyfile[1], CH)
        assert c.post("/token-request", content=req, headers={**REQ_TYPE, **auth(key)}).status_code == 404


def test_mounted_with_a_composed_lifespan(config, keyfile):
    key = account(config)
    app = iss.create_app(config)
    host = Starlette(routes=[Mount("/i", app=app)], lifespan=app.lifespan)
    assert not app.started
    with TestClient(host) as c:
        assert app.started                   # the host's start-up started the issuer
        state, req = token_request(keyfile[1])
        r = c.post("/i/token-request", content=req, headers={**REQ_TYPE, **auth(key)})
        assert r.status_code == 200
    assert not app.started                   # and its shutdown stopped it


def test_bad_key_file_fails_at_start(config, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key")
    app = iss.create_app(iss.IssuerConfig(NAME, str(bad), db_path=config.db_path))
    host = Starlette(routes=[Mount("/i", app=app)], lifespan=app.lifespan)
    with pytest.raises(Exception):
        with TestClient(host):
            pass


# ---- accounts ----

def test_account_keys_are_stored_hashed(config, tmp_path):
    key = account(config)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("issuer.db"))
    assert key.encode() not in raw
    rows = sqlite3.connect(config.db_path).execute("SELECT * FROM accounts").fetchall()
    assert len(rows) == 1 and all(key not in str(v) and key.encode() not in bytes(str(v), "utf8")
                                  for v in rows[0])
    from pcc.services._issuer_store import key_hash
    assert rows[0][1] == key_hash(key)


def test_bearer_keys_are_distinct_and_long(config):
    keys = {account(config, name=f"n{i}") for i in range(5)}
    assert len(keys) == 5 and all(len(k) >= 40 for k in keys)


def test_add_account_rejects_bad_input(config):
    store = iss.open_store(config)
    try:
        iss.add_account(store, "bob", 5)
        with pytest.raises(InvalidArgument):
            iss.add_account(store, "bob", 5)          # taken
        for name in ("", "a b", "x" * 65, "é", "a/b"):
            with pytest.raises(InvalidArgument):
                iss.add_account(store, name, 5)
        with pytest.raises(InvalidArgument):
            iss.add_account(store, "carol", 0)
        with pytest.raises(TypeError):
            iss.add_account(store, "carol", "5")
    finally:
        store.close()


def test_two_apps_on_one_sqlite_file_share_limits(config, keyfile):
    key = account(config, limit=3)
    a, b = TestClient(iss.create_app(config)), TestClient(iss.create_app(config))
    with a, b:
        post = lambda c: c.post("/token-request", content=token_request(keyfile[1])[1],
                                headers={**REQ_TYPE, **auth(key)}).status_code
        assert [post(a), post(b), post(a), post(b), post(a)] == [200, 200, 200, 429, 429]


def test_concurrent_takes_never_exceed_the_limit(config):
    store = iss.SQLiteStore(config.db_path)
    got = []

    def worker():
        s = iss.SQLiteStore(config.db_path)
        got.extend(s.take("acct", 7, 25, 7200) for _ in range(20))
        s.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert sum(got) == 25 and len(got) == 80


# ---- Redis ----

@pytest.fixture
def redis_url(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (scripts/setup.sh installs it)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.time() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def test_two_issuers_share_accounts_and_limits_through_redis(keyfile, tmp_path, redis_url):
    cfg_a = iss.IssuerConfig(NAME, keyfile[0], db_path=str(tmp_path / "a.db"), redis_url=redis_url)
    cfg_b = iss.IssuerConfig(NAME, keyfile[0], db_path=str(tmp_path / "b.db"), redis_url=redis_url)
    key = account(cfg_a, limit=3)              # created through one issuer's store
    with TestClient(iss.create_app(cfg_a)) as a, TestClient(iss.create_app(cfg_b)) as b:
        post = lambda c: c.post("/token-request", content=token_request(keyfile[1])[1],
                                headers={**REQ_TYPE, **auth(key)})
        codes = [post(a).status_code, post(b).status_code, post(b).status_code]
        assert codes == [200, 200, 200]
        r = post(a)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert post(b).status_code == 429
        assert post(b).status_code == 429
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "b.db").exists()


def test_redis_store_keeps_only_hashes(keyfile, tmp_path, redis_url):
    import redis
    cfg = iss.IssuerConfig(NAME, keyfile[0], redis_url=redis_url)
    key = account(cfg, limit=3, name="dora")
    r = redis.Redis.from_url(redis_url)
    dump = b"".join(k + repr(r.dump(k)).encode() for k in r.keys("*"))
    assert key.encode() not in dump and b"dora" in dump
    with pytest.raises(InvalidArgument):
        account(cfg, name="dora")
    r.close()
