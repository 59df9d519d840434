"""`pcc attest verify FILE --config client.json [--json]`: report printed, exit status 0 only
when the bundle passes (1 when a check fails, 2 when the inputs cannot be read)."""
import json
import subprocess
import sys

from _attest_util import DAY, NOW, World, pem
from pcc.cli import main

W = World()


def client_json(tmp_path, **over):
    cfg = {"v": 1, "relay": "http://127.0.0.1:1", "gateway": "http://127.0.0.1:2",
           "issuer": "http://127.0.0.1:3", "log": "http://127.0.0.1:4", "account": "a",
           "model": "smollm2-135m",
           "trust": {"provisioning_roots": [pem(W.root)], "log": W.log_vk,
                     "witnesses": [v for _, v in W.wits], "quorum": 2,
                     "max_checkpoint_age_s": DAY}}
    cfg["trust"].update(over)
    p = tmp_path / "client.json"
    p.write_text(json.dumps(cfg))
    return str(p)


def run(capsys, *args):
    rc = main(["attest", "verify", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_passing_bundle_exits_0(tmp_path, capsys):
    f = tmp_path / "bundle"
    f.write_bytes(W.bundle())
    rc, out, _ = run(capsys, str(f), "--config", client_json(tmp_path), "--now", str(NOW),
                     "--model", "smollm2-135m")
    assert rc == 0
    assert out.splitlines()[0].startswith("attestation passed")
    assert len(out.splitlines()) == 12


def test_failing_bundle_exits_1(tmp_path, capsys):
    f = tmp_path / "bundle"
    f.write_bytes(W.bundle())
    rc, out, _ = run(capsys, str(f), "--config", client_json(tmp_path), "--now", str(NOW),
                     "--model", "another-model")
    assert rc == 1
    assert "FAILED at model" in out and "FAIL model" in out


def test_json_output(tmp_path, capsys):
    f = tmp_path / "bundle"
    f.write_bytes(W.bundle()[:-1])
    rc, out, _ = run(capsys, str(f), "--config", client_json(tmp_path), "--now", str(NOW),
                     "--json")
    assert rc == 1
    d = json.loads(out)
    assert d["ok"] is False and d["failed"] == "format" and d["checks"][0]["name"] == "format"


def test_unreadable_inputs_exit_2(tmp_path, capsys):
    f = tmp_path / "bundle"
    f.write_bytes(W.bundle())
    rc, _, err = run(capsys, str(f), "--config", str(tmp_path / "missing.json"))
    assert rc == 2 and "client.json" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"v": 1}))
    rc, _, err = run(capsys, str(f), "--config", str(bad))
    assert rc == 2 and "trust" in err
    rc, _, err = run(capsys, str(f), "--config", client_json(tmp_path, quorum=5))
    assert rc == 2 and "quorum" in err
    rc, _, err = run(capsys, str(tmp_path / "nope"), "--config", client_json(tmp_path))
    assert rc == 2 and "bundle" in err


def test_python_m_pcc(tmp_path):
    f = tmp_path / "bundle"
    f.write_bytes(W.bundle())
    r = subprocess.run([sys.executable, "-m", "pcc", "attest", "verify", str(f), "--config",
                        client_json(tmp_path), "--now", str(NOW)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "attestation passed" in r.stdout
    r = subprocess.run([sys.executable, "-m", "pcc", "attest", "verify", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--config" in r.stdout and "--json" in r.stdout
