"""Releases over a real log with two witnesses on loopback: measured publish, idempotent and
conflicting re-publish, a witness down (bounded wait, no duplicate on retry), audit flagging a
duplicate name/version, and `release verify` naming what differs."""
import hashlib
import json
import subprocess
import time

import pytest
from _tlog_util import (
    CLI,
    ROOT,
    Server,
    env,
    free_port,
    keygen,
    log_args,
    start_witness,
    wait_checkpoint,
)

from pcc import _measure, transparency
from pcc.transparency import _note as tlognote
from pcc.transparency import leaves
from pcc.transparency import release as rel
from pcc.transparency.client import submit

ORIGIN = "log.example/releases"


def run(*args, check=True, timeout=120):
    r = subprocess.run(CLI + [str(a) for a in args], env=env(), cwd=str(ROOT),
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{args}: rc={r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def index_of(prefix, cell):
    leaf = prefix.with_suffix(".leaf").read_bytes()
    return transparency.verify_proof(leaf, prefix.with_suffix(".tlog-proof").read_text(),
                                     cell["log_vk"])[0]


def log_size(url):
    import httpx
    return int(httpx.get(url + "/checkpoint").text.split("\n")[1])


@pytest.fixture(scope="module")
def cell(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rel")
    log_sk, log_vk = keygen(tmp, ORIGIN)
    pub_sk, pub_vk = keygen(tmp, "publisher.example")
    w1, w1_vk = start_witness(tmp, "w1.example", [(ORIGIN, log_vk)])
    w2, w2_vk = start_witness(tmp, "w2.example", [(ORIGIN, log_vk)])
    args = log_args(tmp, ORIGIN, log_sk, [pub_vk], [(w1.url, w1_vk), (w2.url, w2_vk)])
    srv = Server(args + ["--add-timeout", "2"], free_port(), tmp / "log.log",
                 "/checkpoint").start()
    wait_checkpoint(srv.url, 0)
    # an installation: a package tree, a model, a node config
    pkg = tmp / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_bytes(b"VERSION = '1'\n")
    (pkg / "sub" / "mod.py").write_bytes(b"def f():\n    return 1\n")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    (tmp / "tiny.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 40)
    (tmp / "node.json").write_text(json.dumps({"models": ["tiny"], "limits": {"max_tokens": 256},
                                               "sandbox": {"seccomp": True}}))
    yield {"tmp": tmp, "srv": srv, "w1": w1, "w2": w2, "w1_vk": w1_vk, "w2_vk": w2_vk,
           "log_vk": log_vk, "pub_sk": pub_sk, "pub_vk": pub_vk, "pkg": pkg}
    srv.stop()
    w1.stop()
    w2.stop()


def publish(cell, version, out, *extra, check=True, timeout=120):
    t = cell["tmp"]
    return run("release", "publish", "--log", cell["srv"].url, "--key", cell["pub_sk"],
               "--log-vkey", cell["log_vk"], "--witness", cell["w1_vk"], "--witness",
               cell["w2_vk"], "--name", "pcc-node", "--version", version,
               "--package", cell["pkg"], "--model", t / "tiny.gguf", "--config",
               t / "node.json", "--out", out, *extra, check=check, timeout=timeout)


def verify(cell, prefix, *extra, check=False):
    return run("release", "verify", "--leaf", f"{prefix}.leaf", "--proof",
               f"{prefix}.tlog-proof", "--log-vkey", cell["log_vk"], "--witness", cell["w1_vk"],
               "--witness", cell["w2_vk"], *extra, check=check)


@pytest.fixture(scope="module")
def first(cell):
    prefix = cell["tmp"] / "r1"
    r = publish(cell, "1.0.0", prefix)
    return prefix, r


def test_publish_measures_real_files(cell, first):
    prefix, r = first
    t = cell["tmp"]
    assert "logged at index" in r.stdout
    assert "measuring package" in r.stderr and "measuring model tiny" in r.stderr
    leaf = prefix.with_suffix(".leaf").read_bytes()
    d = leaves.decode(leaf)
    assert (d["name"], d["version"]) == ("pcc-node", "1.0.0")
    cfg = json.loads((t / "node.json").read_text())
    assert rel.components_of(d) == [
        ("pcc", "code", _measure.tree_manifest_digest(cell["pkg"])),
        ("tiny", "model", hashlib.sha384((t / "tiny.gguf").read_bytes()).digest()),
        ("node-config", "config", _measure.config_digest(cfg))]
    proof = prefix.with_suffix(".tlog-proof").read_text()
    transparency.verify_proof(leaf, proof, cell["log_vk"], [cell["w1_vk"], cell["w2_vk"]], 2)
    manifest = prefix.with_suffix(".manifest").read_bytes()
    assert hashlib.sha384(manifest).digest() == d["components"][0]["sha384"]
    assert set(_measure.parse_tree_manifest(manifest)) == {"__init__.py", "sub/mod.py"}


def test_republish_is_idempotent(cell, first):
    prefix, _ = first
    size = log_size(cell["srv"].url)
    index = leaves.decode(prefix.with_suffix(".leaf").read_bytes())
    # a fresh output prefix (no saved leaf) and another --created: still the same release
    r = publish(cell, "1.0.0", cell["tmp"] / "again", "--created", "12345")
    assert "already logged at index" in r.stdout and "nothing added" in r.stdout
    assert log_size(cell["srv"].url) == size
    assert (cell["tmp"] / "again.leaf").read_bytes() == prefix.with_suffix(".leaf").read_bytes()
    assert index["created"] != 12345
    # the saved prefix too, with a JSON answer
    r = publish(cell, "1.0.0", prefix, "--json")
    out = json.loads(r.stdout)
    assert out["existing"] is True and out["index"] == index_of(prefix, cell)
    assert log_size(cell["srv"].url) == size


def test_conflicting_republish_refused(cell, first):
    t = cell["tmp"]
    size = log_size(cell["srv"].url)
    other = t / "other.gguf"
    other.write_bytes((t / "tiny.gguf").read_bytes()[:-1] + b"\x01")
    r = run("release", "publish", "--log", cell["srv"].url, "--key", cell["pub_sk"],
            "--name", "pcc-node", "--version", "1.0.0", "--package", cell["pkg"], "--model",
            other, "--model-name", "tiny", "--config", t / "node.json", "--out", t / "conf",
            check=False)
    assert r.returncode == 2
    assert "already logged at index" in r.stderr and "model tiny differs" in r.stderr
    assert "new version" in r.stderr
    assert log_size(cell["srv"].url) == size


def test_verify_passes(cell, first):
    prefix, _ = first
    t = cell["tmp"]
    r = verify(cell, prefix, "--package", cell["pkg"], "--model", t / "tiny.gguf", "--config",
               t / "node.json")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines[:-1]] == [
        "OK   leaf", "OK   transparency", "OK   code pcc", "OK   model tiny",
        "OK   config node-config"]
    assert lines[-1].startswith("OK: all 5 checks passed")
    r = verify(cell, prefix, "--package", cell["pkg"], "--json")
    rep = json.loads(r.stdout)
    assert r.returncode == 0 and rep["ok"] and rep["release"]["version"] == "1.0.0"
    assert [c["ok"] for c in rep["checks"]] == [True, True, True, None, None]
    # without a quorum of the pinned witnesses it fails
    _, stranger = keygen(t, "w3.example", cosigner=True)
    r = run("release", "verify", "--leaf", f"{prefix}.leaf", "--proof", f"{prefix}.tlog-proof",
            "--log-vkey", cell["log_vk"], "--witness", stranger, check=False)
    assert r.returncode == 1 and "FAIL transparency" in r.stdout


def test_verify_names_changed_model_byte(cell, first):
    prefix, _ = first
    t = cell["tmp"]
    data = bytearray((t / "tiny.gguf").read_bytes())
    data[100] ^= 1
    (t / "tiny-changed.gguf").write_bytes(data)
    r = verify(cell, prefix, "--model", t / "tiny-changed.gguf", "--model-name", "tiny")
    assert r.returncode == 1
    assert "FAIL model tiny: sha384 differs" in r.stdout
    assert "FAIL: 1 of 3 checks failed (model tiny)" in r.stdout
    r = verify(cell, prefix, "--model", t / "tiny-changed.gguf")
    assert r.returncode == 1 and "no model component named 'tiny-changed'" in r.stdout


def test_verify_names_changed_and_added_files(cell, first, tmp_path):
    import shutil
    prefix, _ = first
    pkg = tmp_path / "pkg"
    shutil.copytree(cell["pkg"], pkg)
    (pkg / "sub" / "mod.py").write_bytes(b"def f():\n    return 2\n")
    r = verify(cell, prefix, "--package", pkg)
    assert r.returncode == 1 and "FAIL code pcc" in r.stdout and "changed sub/mod.py" in r.stdout
    shutil.copy(cell["pkg"] / "sub" / "mod.py", pkg / "sub" / "mod.py")
    assert verify(cell, prefix, "--package", pkg).returncode == 0
    (pkg / "backdoor.py").write_bytes(b"")
    r = verify(cell, prefix, "--package", pkg)
    assert r.returncode == 1 and "added backdoor.py" in r.stdout
    (pkg / "backdoor.py").unlink()
    (pkg / "__init__.py").unlink()
    r = verify(cell, prefix, "--package", pkg)
    assert r.returncode == 1 and "removed __init__.py" in r.stdout
    # without the manifest file the report still says the code differs, and how to see more
    r = verify(cell, prefix, "--package", pkg, "--manifest", "/dev/null")
    assert r.returncode == 1 and "not the logged one" in r.stdout


def test_verify_names_config_change(cell, first, tmp_path):
    prefix, _ = first
    cfg = json.loads((cell["tmp"] / "node.json").read_text())
    cfg["sandbox"]["seccomp"] = False
    (tmp_path / "node.json").write_text(json.dumps(cfg))
    r = verify(cell, prefix, "--config", tmp_path / "node.json")
    assert r.returncode == 1 and "FAIL config node-config: sha384 differs" in r.stdout
    # key order and whitespace do not matter
    (tmp_path / "same.json").write_text(json.dumps(
        json.loads((cell["tmp"] / "node.json").read_text()), sort_keys=True, indent=3))
    assert verify(cell, prefix, "--config", tmp_path / "same.json").returncode == 0


def test_verify_bad_inputs(cell, first, tmp_path):
    prefix, _ = first
    (tmp_path / "bad.leaf").write_bytes(b"\x00garbage")
    r = run("release", "verify", "--leaf", tmp_path / "bad.leaf", "--proof",
            f"{prefix}.tlog-proof", "--log-vkey", cell["log_vk"], "--witness", cell["w1_vk"], check=False)
    assert r.returncode == 1 and "FAIL leaf" in r.stdout
    r = run("release", "verify", "--leaf", tmp_path / "missing.leaf", "--proof",
            f"{prefix}.tlog-proof", "--log-vkey", cell["log_vk"], "--witness", cell["w1_vk"], check=False)
    assert r.returncode == 2 and "missing.leaf" in r.stderr


def test_witness_down_bounded_then_no_duplicate(cell):
    """Issue 13: one of two witnesses down. Publishing gives up within --timeout with a message
    naming what it waits for; once the witness is back the same command logs the release
    once."""
    t = cell["tmp"]
    prefix = t / "r2"
    cell["w2"].kill()
    try:
        start = time.monotonic()
        r = publish(cell, "2.0.0", prefix, "--timeout", "6", check=False)
        took = time.monotonic() - start
        assert r.returncode == 2, r.stdout + r.stderr
        assert took < 30
        assert "sequenced the release at index" in r.stderr
        assert "waiting for its witness quorum" in r.stderr and "witnesses down" in r.stderr
        assert r.stderr.count("waiting:") >= 2           # progress while it waits
        assert "run the same command again" in r.stderr
        assert prefix.with_suffix(".leaf").exists()       # saved before submitting
        pending = prefix.with_suffix(".leaf").read_bytes()
    finally:
        cell["w2"].start()
    time.sleep(1.1)                    # a later run would otherwise pick another `created`
    r = publish(cell, "2.0.0", prefix, "--timeout", "60")
    assert "logged at index" in r.stdout or "already logged" in r.stdout
    assert prefix.with_suffix(".leaf").read_bytes() == pending
    found = rel.find_releases(cell["srv"].url, "pcc-node", "2.0.0")
    assert len(found) == 1
    # the audit finds no duplicate
    r = run("log", "audit", "--log", cell["srv"].url, "--vkey", cell["log_vk"], "--witness",
            cell["w1_vk"], "--witness", cell["w2_vk"], "--quiet")
    assert "DUPLICATE" not in r.stderr


def test_unreachable_log_times_out(cell, tmp_path):
    start = time.monotonic()
    r = run("release", "publish", "--log", f"http://127.0.0.1:{free_port()}", "--key",
            cell["pub_sk"], "--name", "x", "--version", "1",
            "--timeout", "2", "--out", tmp_path / "x", check=False)
    assert r.returncode == 2 and "unreachable" in r.stderr
    # without --package it measured the pcc package its interpreter imports (the child's: under
    # `make asan` the test process imports a sanitized copy, the child the tree at its cwd)
    child_pkg = subprocess.run(CLI[:1] + ["-c", "from pcc.transparency import release as r; "
                                          "print(r.installed_package_dir())"],
                               env=env(), cwd=str(ROOT), capture_output=True, text=True,
                               check=True).stdout.strip()
    assert f"measuring package {child_pkg}" in r.stderr
    assert time.monotonic() - start < 20


def test_audit_flags_duplicate_release(cell, tmp_path):
    # a separate log without witnesses, where a publisher logged one name/version twice
    log_sk, log_vk = keygen(tmp_path, "log.example/dup")
    srv = Server(log_args(tmp_path, "log.example/dup", log_sk, [cell["pub_vk"]], []),
                 free_port(), tmp_path / "dup.log", "/checkpoint").start()
    try:
        signer = tlognote.load_signer(tlognote.read_key_file(cell["pub_sk"]))
        comps = [("pcc", "code", bytes(48))]
        for created in (1000, 2000):
            leaf = leaves.release("pcc-node", "9.9", created, comps)
            submit(srv.url, leaf, tlognote.raw_sign(signer, leaf))
        r = run("log", "audit", "--log", srv.url, "--vkey", log_vk, "--insecure-no-witnesses",
                check=False)
        assert r.returncode == 1
        assert "DUPLICATE RELEASE: pcc-node 9.9 is logged at index 0 and again at index 1" \
            in r.stderr
        # and publish refuses to add to the confusion when the components differ
        r = run("release", "publish", "--log", srv.url, "--key", cell["pub_sk"], "--name",
                "pcc-node", "--version", "9.9", "--package", cell["pkg"], "--out",
                tmp_path / "p", check=False)
        assert r.returncode == 2 and "already logged at index 0" in r.stderr
    finally:
        srv.stop()
