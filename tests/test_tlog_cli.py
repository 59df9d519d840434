"""CLI: keygen, release publish, add-key, audit (incl. a forked / rewritten / rolled-back log)."""
import hashlib
import json
import sqlite3
import subprocess

import pytest

from _tlog_util import CLI, ROOT, Server, env, free_port, keygen, log_args, start_witness, \
    wait_checkpoint
from pcc import transparency
from pcc.transparency import _note as tlognote, leaves
from pcc.transparency.client import submit

ORIGIN = "log.example/cli"


def run(*args, check=True):
    r = subprocess.run(CLI + list(args), env=env(), cwd=str(ROOT), capture_output=True,
                       text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{args}: rc={r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    r = run("log", "keygen", ORIGIN, "--out", str(tmp / "log"))
    log_vk = (tmp / "log.vkey").read_text().strip()
    assert r.stdout.strip() == log_vk and log_vk.startswith(ORIGIN + "+")
    assert (tmp / "log.skey").stat().st_mode & 0o777 == 0o600
    run("log", "keygen", "publisher.example", "--out", str(tmp / "pub"))
    w, w_vk = start_witness(tmp, "w.example", [(ORIGIN, str(tmp / "log.vkey"))])
    port = free_port()
    args = log_args(tmp, ORIGIN, tmp / "log.skey", [str(tmp / "pub.vkey")], [(w.url, w_vk)])
    srv = Server(args, port, tmp / "log.log", "/checkpoint").start()
    wait_checkpoint(srv.url, 0)
    yield {"tmp": tmp, "srv": srv, "w": w, "w_vk": w_vk, "log_vk": log_vk, "args": args,
           "port": port}
    srv.stop()
    w.stop()


def test_keygen_cosigner(tmp_path):
    r = run("witness", "keygen", "w9.example", "--out", str(tmp_path / "w9"))
    vk = r.stdout.strip()
    v = tlognote.load_verifier(vk)
    assert tlognote.key_name(v) == "w9.example"
    # refuses to overwrite without --force
    assert run("witness", "keygen", "w9.example", "--out", str(tmp_path / "w9"),
               check=False).returncode == 2


def test_release_publish(setup):
    tmp = setup["tmp"]
    rel = tmp / "rel"
    rel.mkdir()
    (rel / "app.py").write_bytes(b"print('hi')\n")
    (rel / "model.gguf").write_bytes(b"GGUF" + bytes(1000))
    (rel / "release.json").write_text(json.dumps({
        "name": "pcc-node", "version": "0.1.0",
        "files": [{"path": "app.py", "kind": "code"},
                  {"path": "model.gguf", "kind": "model", "name": "smollm2"}]}))
    r = run("release", "publish", "--log", setup["srv"].url, "--key", str(tmp / "pub.skey"),
            "--log-vkey", setup["log_vk"], "--witness", setup["w_vk"], str(rel / "release.json"))
    assert "logged at index 0" in r.stdout
    leaf = (rel / "release.leaf").read_bytes()
    proof = (rel / "release.tlog-proof").read_text()
    d = leaves.decode(leaf)
    assert d["components"][0] == {"name": "app.py", "kind": "code",
                                  "sha384": hashlib.sha384(b"print('hi')\n").digest()}
    assert d["components"][1]["name"] == "smollm2"
    assert transparency.verify_proof(leaf, proof, setup["log_vk"], [setup["w_vk"]], 1, 600)[0] \
        == 0


def test_release_publish_bad_manifest(setup, tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"name": "x", "version": "1",
                                                 "files": [{"path": "nope", "kind": "code"}]}))
    r = run("release", "publish", "--log", setup["srv"].url, "--key",
            str(setup["tmp"] / "pub.skey"), str(tmp_path / "m.json"), check=False)
    assert r.returncode == 2 and "error" in r.stderr
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "m.json").write_text(json.dumps({"name": "x", "version": "1",
                                                 "files": [{"path": "a", "kind": "binary"}]}))
    r = run("release", "publish", "--log", setup["srv"].url, "--key",
            str(setup["tmp"] / "pub.skey"), str(tmp_path / "m.json"), check=False)
    assert r.returncode == 2 and "kind" in r.stderr


def test_add_key_ohttp_and_issuer(setup, tmp_path):
    cfg = bytes([1]) + (0x20).to_bytes(2, "big") + b"\x09" * 32 + (4).to_bytes(2, "big") + \
        b"\x00\x01\x00\x01"
    (tmp_path / "gw.keys").write_bytes(len(cfg).to_bytes(2, "big") + cfg)
    r = run("log", "add-key", "ohttp", "--log", setup["srv"].url, "--key",
            str(setup["tmp"] / "pub.skey"), "--gateway", "gw.example", "--configs",
            str(tmp_path / "gw.keys"), "--ttl-hours", "24", "--log-vkey", setup["log_vk"],
            "--witness", setup["w_vk"])
    assert "logged ohttp-keys" in r.stdout
    assert (tmp_path / "gw.keys.tlog-proof").exists()
    alg = b"\x30\x0b\x06\x09" + b"\x2a" * 9
    key = b"\x00" + b"\x5a" * 269
    body = alg + b"\x03\x82" + len(key).to_bytes(2, "big") + key
    (tmp_path / "iss.spki").write_bytes(b"\x30\x82" + len(body).to_bytes(2, "big") + body)
    r = run("log", "add-key", "issuer", "--log", setup["srv"].url, "--key",
            str(setup["tmp"] / "pub.skey"), "--issuer", "issuer.example", "--spki",
            str(tmp_path / "iss.spki"), "--not-after", "1900000000")
    assert "logged issuer-key" in r.stdout


def test_add_key_refused_with_bad_publisher(setup, tmp_path):
    run("log", "keygen", "intruder", "--out", str(tmp_path / "intruder"))
    (tmp_path / "iss.spki").write_bytes(b"\x30\x03\x02\x01\x00")
    r = run("log", "add-key", "issuer", "--log", setup["srv"].url, "--key",
            str(tmp_path / "intruder.skey"), "--issuer", "x", "--spki", str(tmp_path / "iss.spki"),
            check=False)
    assert r.returncode == 2      # refused locally: the SPKI is malformed
    cfg = bytes([1]) + (0x20).to_bytes(2, "big") + b"\x09" * 32 + b"\x00\x04\x00\x01\x00\x01"
    (tmp_path / "gw.keys").write_bytes(len(cfg).to_bytes(2, "big") + cfg)
    r = run("log", "add-key", "ohttp", "--log", setup["srv"].url, "--key",
            str(tmp_path / "intruder.skey"), "--gateway", "gw", "--configs",
            str(tmp_path / "gw.keys"), check=False)
    assert r.returncode == 2 and "403" in r.stderr


def test_audit_ok_and_state(setup):
    tmp = setup["tmp"]
    state = tmp / "audit.json"
    r = run("log", "audit", "--log", setup["srv"].url, "--vkey", str(tmp / "log.vkey"),
            "--witness", setup["w_vk"], "--state", str(state))
    assert "release pcc-node 0.1.0" in r.stdout and "digest=" in r.stdout
    assert "ohttp-keys gateway=gw.example" in r.stdout
    assert "issuer-key issuer=issuer.example" in r.stdout
    st = json.loads(state.read_text())
    assert st["size"] == 3 and st["origin"] == ORIGIN
    # again, consistent with the saved state
    r = run("log", "audit", "--log", setup["srv"].url, "--vkey", setup["log_vk"], "--witness",
            setup["w_vk"], "--state", str(state), "--quiet")
    assert r.stdout == "" and "ok:" in r.stderr


def test_audit_wrong_key_fails(setup, tmp_path):
    _, other = keygen(tmp_path, ORIGIN)
    r = run("log", "audit", "--log", setup["srv"].url, "--vkey", other, "--insecure-no-witnesses",
            check=False)
    assert r.returncode == 1 and "does not verify" in r.stderr


def test_audit_missing_witness_quorum(setup, tmp_path):
    _, stranger = keygen(tmp_path, "w2.example", cosigner=True)
    r = run("log", "audit", "--log", setup["srv"].url, "--vkey", setup["log_vk"], "--witness",
            stranger, check=False)
    assert r.returncode == 1 and "quorum" in r.stderr


def _fork_server(setup, tmp, db_name, n_leaves, tamper=None):
    """Start a second log with the same key on a new DB holding other entries."""
    args = log_args(setup["tmp"], ORIGIN, setup["tmp"] / "log.skey",
                    [str(setup["tmp"] / "pub.vkey")], [], db=str(tmp / db_name))
    # the fork has no witness: audit it without --witness
    srv = Server(args, free_port(), tmp / f"{db_name}.log", "/checkpoint").start()
    signer = tlognote.load_signer(tlognote.read_key_file(setup["tmp"] / "pub.skey"))
    for i in range(n_leaves):
        leaf = leaves.roster("fork", i, [])
        submit(srv.url, leaf, tlognote.raw_sign(signer, leaf))
    return srv


def test_audit_detects_fork(setup, tmp_path):
    state = tmp_path / "state.json"
    main = _fork_server(setup, tmp_path, "a.db", 5)
    try:
        run("log", "audit", "--log", main.url, "--vkey", setup["log_vk"], "--state", str(state),
            "--quiet", "--insecure-no-witnesses")
    finally:
        main.stop()
    # same key, a different history of 7 entries: the first 5 differ from what was audited
    fork = _fork_server(setup, tmp_path, "b.db", 0)
    try:
        signer = tlognote.load_signer(tlognote.read_key_file(setup["tmp"] / "pub.skey"))
        for i in range(7):
            leaf = leaves.roster("other", i, [])
            submit(fork.url, leaf, tlognote.raw_sign(signer, leaf))
        r = run("log", "audit", "--log", fork.url, "--vkey", setup["log_vk"], "--state",
                str(state), "--quiet", "--insecure-no-witnesses", check=False)
        assert r.returncode == 1
        assert "fork" in r.stderr or "rewritten" in r.stderr
        assert "checkpoint seen before" in r.stderr and "checkpoint now served" in r.stderr
        assert "\n5\n" in r.stderr and "\n7\n" in r.stderr
        # the state file still holds the old checkpoint
        assert json.loads(state.read_text())["size"] == 5
    finally:
        fork.stop()


def test_audit_detects_rollback(setup, tmp_path):
    state = tmp_path / "state.json"
    big = _fork_server(setup, tmp_path, "big.db", 4)
    try:
        run("log", "audit", "--log", big.url, "--vkey", setup["log_vk"], "--state", str(state),
            "--quiet", "--insecure-no-witnesses")
    finally:
        big.stop()
    small = _fork_server(setup, tmp_path, "small.db", 2)
    try:
        r = run("log", "audit", "--log", small.url, "--vkey", setup["log_vk"], "--state",
                str(state), "--quiet", "--insecure-no-witnesses", check=False)
        assert r.returncode == 1 and "rolled" in r.stderr
    finally:
        small.stop()


def test_audit_detects_tampered_entry(setup, tmp_path):
    srv = _fork_server(setup, tmp_path, "t.db", 3)
    srv.stop()
    # rewrite entry 1 in the database behind the log's back (hash column left as it was)
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("UPDATE entries SET leaf=? WHERE idx=1", (leaves.roster("evil", 1, []),))
    conn.commit()
    conn.close()
    srv.start()
    try:
        r = run("log", "audit", "--log", srv.url, "--vkey", setup["log_vk"], "--quiet",
                "--insecure-no-witnesses", check=False)
        assert r.returncode == 1 and "does not match" in r.stderr
    finally:
        srv.stop()


def test_audit_unreachable_log(setup):
    r = run("log", "audit", "--log", f"http://127.0.0.1:{free_port()}", "--vkey",
            setup["log_vk"], "--insecure-no-witnesses", check=False)
    assert r.returncode == 2


def test_audit_follow(setup, tmp_path):
    import time
    p = subprocess.Popen(CLI + ["log", "audit", "--log", setup["srv"].url, "--vkey",
                                setup["log_vk"], "--witness", setup["w_vk"], "--follow",
                                "--interval", "0.2", "--quiet"],
                         env=env(), cwd=str(ROOT), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        first = p.stderr.readline()
        assert first.startswith("ok: ") and p.poll() is None
        size0 = int(first.split(" size ")[1].split()[0])
        signer = tlognote.load_signer(tlognote.read_key_file(setup["tmp"] / "pub.skey"))
        leaf = leaves.roster("follow", int(time.time()), [])
        submit(setup["srv"].url, leaf, tlognote.raw_sign(signer, leaf))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = p.stderr.readline()
            if line.startswith("ok: ") and int(line.split(" size ")[1].split()[0]) > size0:
                break
        else:
            raise AssertionError("the follower never saw the new entry")
    finally:
        p.terminate()
        p.wait(10)


def test_serve_refuses_bad_quorum(setup, tmp_path):
    args = log_args(setup["tmp"], ORIGIN, setup["tmp"] / "log.skey", [], [], quorum=1,
                    db=str(tmp_path / "q.db"))
    r = run(*args, "--port", str(free_port()), check=False)
    assert r.returncode == 2 and "quorum" in r.stderr
