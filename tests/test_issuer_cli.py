"""``pcc issuer``: keygen, account add (and its refusals), and ``issuer serve`` in a subprocess
answering a real issuance and serving the key proof from files."""
import base64
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import msgpack

from pcc import tokens
from pcc.transparency import leaves

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pcc(*args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "pcc", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_keygen_refuses_to_overwrite(tmp_path):
    r = pcc("issuer", "keygen", "k", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "k").exists() and (tmp_path / "k.spki").exists()
    assert oct((tmp_path / "k").stat().st_mode & 0o777) == "0o600"
    r = pcc("issuer", "keygen", "k", cwd=tmp_path)
    assert r.returncode == 2 and "exists" in r.stderr


def test_account_add_prints_the_key_once(tmp_path):
    r = pcc("issuer", "account", "add", "bob", "--tokens-per-hour", "5", "--db", "i.db",
            "--json", cwd=tmp_path)
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert out["name"] == "bob" and out["tokens_per_hour"] == 5 and out["key"].startswith("pcc_")
    assert out["key"].encode() not in (tmp_path / "i.db").read_bytes()
    r = pcc("issuer", "account", "add", "bob", "--db", "i.db", cwd=tmp_path)
    assert r.returncode == 2 and "exists" in r.stderr
    r = pcc("issuer", "account", "add", "bad name", "--db", "i.db", cwd=tmp_path)
    assert r.returncode == 2 and "account name" in r.stderr


def test_serve_issues_and_serves_the_key_proof(tmp_path):
    assert pcc("issuer", "keygen", "k", cwd=tmp_path).returncode == 0
    key = pcc("issuer", "account", "add", "alice", "--db", "i.db", cwd=tmp_path).stdout.strip()
    spki = (tmp_path / "k.spki").read_bytes()
    leaf = leaves.issuer_key("issuer.cli", spki, int(time.time()) + 3600)
    (tmp_path / "k.leaf").write_bytes(leaf)
    (tmp_path / "k.proof").write_text("proof\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "pcc", "issuer", "serve", "--name", "issuer.cli",
                             "--key", "k", "--db", "i.db", "--leaf", "k.leaf", "--proof", "k.proof",
                             "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        assert proc.stdout.readline().strip() == f"issuer serving {url}"
        assert proc.stdout.readline().split() == ["issuer", "issuer.cli"]
        deadline = time.time() + 30
        while True:
            try:
                d = httpx.get(url + "/.well-known/private-token-issuer-directory", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.time() < deadline
                time.sleep(0.1)
        assert base64.urlsafe_b64decode(d.json()["token-keys"][0]["token-key"]) == spki
        ch = tokens.TokenChallenge("issuer.cli", origin_info=["pcc"])
        state, req = tokens.begin_issuance(spki, ch)
        r = httpx.post(url + "/token-request", content=req, timeout=10,
                       headers={"content-type": "application/private-token-request",
                                "authorization": f"Bearer {key}"})
        assert r.status_code == 200
        tokens.verify(tokens.finalize_issuance(state, r.content), spki, ch)
        kp = msgpack.unpackb(httpx.get(url + "/v1/key-proof", timeout=5).content)
        assert kp == {"leaf": leaf, "proof": "proof\n"}
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_with_a_bad_key_is_one_error_line(tmp_path):
    (tmp_path / "bad").write_bytes(b"not a key")
    r = pcc("issuer", "serve", "--name", "x", "--key", "bad", "--db", "i.db", "--port", "0",
            cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcc: error: "), r.stderr
