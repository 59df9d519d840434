"""The ``pcc`` command line as a whole: help on everything, one error prefix, messages that say
what to do, ``log verify``, server start-up lines, refusals of insecure set-ups."""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time

import pytest

from _tlog_util import CLI, ROOT, Server, env, free_port, keygen, log_args
from pcc import merkle
from pcc.cli import _walk, build_parser, main
from pcc.transparency import _note as tlognote
from pcc.transparency import leaves

PREFIX = "pcc: error: "


# ----------------------------------------------------------------------------- the parser

def _all_parsers():
    return list(_walk(build_parser()))


def test_every_option_has_help_and_no_internal_names():
    """Walks every group and command, including groups registered by modules added later."""
    parsers = _all_parsers()
    assert len(parsers) > 8
    missing, shown = [], []
    for p in parsers:
        dests = []
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                dests.append(a.dest)
                if a.metavar is None:
                    shown.append(f"{p.prog}: sub-commands without a metavar ({a.dest})")
                continue
            if not (a.help or "").strip() or a.help == argparse.SUPPRESS:
                missing.append(f"{p.prog} {'/'.join(a.option_strings) or a.dest}")
        usage = p.format_usage()
        for d in dests:
            if d and re.search(rf"\b{re.escape(d)}\b", usage):
                shown.append(f"{p.prog}: help shows the internal name {d!r}")
        for a in p._actions:
            for c in getattr(a, "_choices_actions", []):
                if not (c.help or "").strip():
                    missing.append(f"{p.prog} {c.dest} (command)")
    assert not missing, "options without help text:\n" + "\n".join(missing)
    assert not shown, "\n".join(shown)


def test_defaults_are_shown():
    help_text = next(p for p in _all_parsers() if p.prog == "pcc log serve").format_help()
    assert "(default: 8470)" in help_text and "(default: 127.0.0.1)" in help_text
    assert "(default: None)" not in help_text


@pytest.mark.parametrize("argv", [[], ["log"], ["witness"], ["llm"], ["release"]])
def test_missing_command_names_command(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(PREFIX) and ("COMMAND" in err or "GROUP" in err)
    assert "_cmd" not in err and "_command" not in err


def test_version_and_python_m():
    r = subprocess.run([sys.executable, "-m", "pcc", "--version"], capture_output=True,
                       text=True, env=env(), cwd=str(ROOT), timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("pcc ")


# ----------------------------------------------------------------------------- keys and errors

@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keys")
    log_sk, log_vk = keygen(tmp, "cli.example/log")
    w_sk, w_vk = keygen(tmp, "w.cli.example", cosigner=True)
    return {"tmp": tmp, "log_sk": log_sk, "log_vk": log_vk, "w_sk": w_sk, "w_vk": w_vk,
            "log_vk_file": tmp / "cli.example_log.vkey", "w_vk_file": tmp / "w.cli.example.vkey"}


def _proof(keys, leaf: bytes, *, n: int = 5, index: int = 2, stamp: int | None = None) -> str:
    tree = merkle.Tree()
    for i in range(n):
        tree.append(leaf if i == index else f"other {i}".encode())
    text = tlognote.checkpoint_text("cli.example/log", n, tree.root())
    signed = tlognote.sign_checkpoint(
        tlognote.load_signer(tlognote.read_key_file(keys["log_sk"])), text)
    cosig = tlognote.cosign(tlognote.load_signer(tlognote.read_key_file(keys["w_sk"])), text,
                            int(time.time()) if stamp is None else stamp)
    note_text = tlognote.SignedNote(text, tuple(signed.lines) + (cosig,)).format()
    return tlognote.format_proof(index, tree.inclusion_proof(index, n), note_text)


def _verify(keys, tmp, leaf, proof, *extra, capsys):
    (tmp / "leaf").write_bytes(leaf)
    (tmp / "proof").write_text(proof)
    code = main(["log", "verify", "--leaf", str(tmp / "leaf"), "--proof", str(tmp / "proof"),
                 *extra])
    return code, capsys.readouterr()


def test_log_verify_ok_with_key_files(keys, tmp_path, capsys):
    leaf = leaves.roster("m", 1, [])
    code, out = _verify(keys, tmp_path, leaf, _proof(keys, leaf), "--log-vkey",
                        str(keys["log_vk_file"]), "--witness", str(keys["w_vk_file"]),
                        "--max-age", "600", capsys=capsys)
    assert code == 0, out
    lines = out.out.splitlines()
    assert [ln.split()[0] for ln in lines[:7]] == ["ok"] * 7
    assert "inclusion" in lines[4] and "leaf 2 of 5" in lines[4]
    assert lines[-1].startswith("verified: roster m epoch 1") or "verified:" in lines[-1]


def test_log_verify_json(keys, tmp_path, capsys):
    leaf = leaves.roster("m", 1, [])
    code, out = _verify(keys, tmp_path, leaf, _proof(keys, leaf), "--log-vkey", keys["log_vk"],
                        "--witness", keys["w_vk"], "--json", capsys=capsys)
    doc = json.loads(out.out)
    assert code == 0 and doc["ok"] and doc["index"] == 2 and doc["size"] == 5
    assert [c["name"] for c in doc["checks"]][-1] == "freshness"
    assert doc["checks"][-1]["ok"] is None          # no --max-age: not checked
    assert list(doc["cosigned"]) == ["w.cli.example"]


@pytest.mark.parametrize("case,failed", [
    ("wrong log key", "checkpoint signature"),
    ("other leaf", "inclusion"),
    ("stale", "freshness"),
    ("unknown witness", "witness quorum"),
    ("garbage proof", "proof format"),
])
def test_log_verify_failures(keys, tmp_path, capsys, case, failed):
    leaf = leaves.roster("m", 1, [])
    proof = _proof(keys, leaf, stamp=int(time.time()) - 7200 if case == "stale" else None)
    log_vk, w_vk = keys["log_vk"], keys["w_vk"]
    if case == "wrong log key":
        _, log_vk = tlognote.generate("cli.example/log")
    if case == "other leaf":
        leaf = leaves.roster("m", 2, [])
    if case == "unknown witness":
        _, w_vk = tlognote.generate("w.cli.example", cosigner=True)
    if case == "garbage proof":
        proof = "c2sp.org/tlog-proof@v1\nindex x\n"
    code, out = _verify(keys, tmp_path, leaf, proof, "--log-vkey", log_vk, "--witness", w_vk,
                        "--max-age", "600", capsys=capsys)
    assert code == 1
    assert f"FAIL {failed}" in out.out and f"NOT VERIFIED: the {failed} check failed" in out.out


def test_log_verify_refuses_no_witnesses(keys, tmp_path, capsys):
    leaf = leaves.roster("m", 1, [])
    code, out = _verify(keys, tmp_path, leaf, _proof(keys, leaf), "--log-vkey", keys["log_vk"],
                        capsys=capsys)
    assert code == 2 and out.err.startswith(PREFIX) and "--insecure-no-witnesses" in out.err
    code, out = _verify(keys, tmp_path, leaf, _proof(keys, leaf), "--log-vkey", keys["log_vk"],
                        "--insecure-no-witnesses", capsys=capsys)
    assert code == 0 and "INSECURE" in out.out


@pytest.mark.parametrize("make,expect", [
    (lambda k: str(k["log_sk"]), "PRIVATE key"),                    # an skey where a vkey goes
    (lambda k: "/nonexistent/log.vkey", "no such file"),
    (lambda k: "not-a-key", "neither a vkey"),
])
def test_key_argument_errors(keys, tmp_path, capsys, make, expect):
    (tmp_path / "l").write_bytes(b"x")
    (tmp_path / "p").write_text("x")
    with pytest.raises(SystemExit) as e:
        main(["log", "verify", "--leaf", str(tmp_path / "l"), "--proof", str(tmp_path / "p"),
              "--log-vkey", make(keys)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith(PREFIX + "argument --log-vkey: ") and expect in err


def test_vkey_where_skey_goes(keys, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["log", "serve", "--db", str(tmp_path / "x.db"), "--origin", "cli.example/log",
              "--key", str(keys["log_vk_file"]), "--insecure-no-witnesses"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith(PREFIX) and "not a private key" in err
    assert ".skey" in err


def test_missing_file_is_one_line(tmp_path, capsys, keys):
    code = main(["log", "verify", "--leaf", str(tmp_path / "nope"), "--proof",
                 str(tmp_path / "nope"), "--log-vkey", keys["log_vk"], "--witness", keys["w_vk"]])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(PREFIX) and "No such file" in err and str(tmp_path) in err
    assert err.count("\n") == 1


def test_add_key_missing_gateway_says_what_to_pass(keys, tmp_path, capsys):
    (tmp_path / "k").write_bytes(b"x")
    code = main(["log", "add-key", "ohttp", "--log", "http://127.0.0.1:1", "--key",
                 str(keys["log_sk"]), "--configs", str(tmp_path / "k")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(PREFIX) and "--gateway NAME" in err


# ----------------------------------------------------------------------------- servers

def _run(*args, timeout=60):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, env=env(),
                          cwd=str(ROOT), timeout=timeout)


def test_log_serve_refuses_insecure_setups(keys, tmp_path):
    base = ["log", "serve", "--db", str(tmp_path / "l.db"), "--key", str(keys["log_sk"]),
            "--port", str(free_port())]
    r = _run(*base, "--origin", "cli.example/log")
    assert r.returncode == 2 and r.stderr.startswith(PREFIX)
    assert "--insecure-no-witnesses" in r.stderr and "Traceback" not in r.stderr
    r = _run(*base, "--origin", "other.example/log", "--insecure-no-witnesses")
    assert r.returncode == 2 and "--insecure-origin-mismatch" in r.stderr
    assert "pcc log keygen other.example/log" in r.stderr


def test_log_serve_startup_lines_and_locked_database(keys, tmp_path):
    _, pub_vk = keygen(tmp_path, "pub.cli.example")
    args = log_args(tmp_path, "cli.example/log", keys["log_sk"], [pub_vk], [])
    srv = Server(args, free_port(), tmp_path / "log.out", "/checkpoint").start()
    try:
        deadline = time.monotonic() + 10
        while "INSECURE" not in (tmp_path / "log.out").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        out = (tmp_path / "log.out").read_text()
        assert f"log serving {srv.url}" in out
        assert "origin     cli.example/log" in out and keys["log_vk"] in out
        assert "pub.cli.example+" in out and "quorum     0 of 0" in out
        assert "INSECURE   --insecure-no-witnesses" in out
        r = _run(*args, "--port", str(free_port()))
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert r.stderr.startswith(PREFIX + "another process is serving this log database")
        assert r.stderr.count("\n") == 1
        r = _run(*log_args(tmp_path, "cli.example/log", keys["log_sk"], [], [], db="other.db"),
                 "--port", str(srv.port))
        assert r.returncode == 2 and "cannot listen" in r.stderr and "--port" in r.stderr
    finally:
        srv.stop()


def test_witness_serve_startup_lines(keys, tmp_path):
    args = ["witness", "serve", "--db", str(tmp_path / "w.db"), "--key", str(keys["w_sk"]),
            "--log", f"cli.example/log={keys['log_vk_file']}"]
    srv = Server(args, free_port(), tmp_path / "w.out", "/add-checkpoint").start()
    try:
        deadline = time.monotonic() + 10
        while "database" not in (tmp_path / "w.out").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        out = (tmp_path / "w.out").read_text()
        assert f"witness serving {srv.url}" in out and keys["w_vk"] in out
        assert "cli.example/log (cli.example/log+" in out
    finally:
        srv.stop()


@pytest.mark.parametrize("model,expect", [("/nonexistent.gguf", "no such model file"),
                                          ("README.md", "cannot load README.md")])
def test_llm_run_bad_model_names_the_file(model, expect, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code = main(["llm", "run", "--prompt", "hi", "--model", model])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(PREFIX) and expect in err and "--model" in err
