"""`pcc up --enclave tpm`: a whole cell whose nodes keep their identity keys and registers in
software TPMs (one swtpm per node): a prompt goes through relay -> gateway -> node, the client
(its client.json requiring TPM quotes) verified every node with the `tpm` check, and SIGTERM stops
the nodes, then their swtpms."""
from __future__ import annotations

import json
import pathlib
import signal
import time

import pytest

from _pccup import pcc_up
from _swtpm import missing_tools
from pcc.client import Client

MISSING = missing_tools()

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(MISSING), reason=f"swtpm not installed "
                                 f"({', '.join(MISSING)}): apt-get install swtpm swtpm-tools")]


def swtpm_pids(d: pathlib.Path) -> list[int]:
    """The swtpm processes serving TPM state under the cell folder."""
    out = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"swtpm") and any(str(d).encode() in a for a in argv):
            out.append(int(proc.name))
    return out


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    d = tmp_path_factory.mktemp("cell-tpm")
    with pcc_up(d, "--enclave", "tpm") as (p, lines):
        yield p, d, lines


def test_prompt_answered_by_tpm_nodes(up):
    _, d, lines = up
    assert [ln.split(" ")[0] for ln in lines][-2:] == ["node-1", "node-2"]
    cfg = json.loads((d / "client.json").read_text())
    assert cfg["trust"]["require_tpm"] is True
    for i in (1, 2):
        enclave = json.loads((d / f"node-{i}.json").read_text())["enclave"]
        assert enclave["backend"] == "tpm" and enclave["tpm"].startswith("swtpm:host=127.0.0.1")
    assert len(swtpm_pids(d)) == 2
    with Client.from_config(d / "client.json") as c:
        got = c.complete([{"role": "user", "content": "What is the capital of France?"}],
                         max_tokens=8)
        rep = c.last_report
        explained = c.explain()
    assert got
    assert explained.count("; enclave tpm: identity key and registers in a TPM, quote checked") == 2
    assert rep["answered_by"] in rep["sealed_to"] and len(rep["sealed_to"]) == 2
    assert not rep["rejected"]
    for node in rep["nodes"]:
        assert node["ok"] and node["backend"] == "tpm"
        assert "tpm" in [ch["name"] for ch in node["checks"]]


def test_sigterm_stops_nodes_and_tpms(up):
    p, d, _ = up
    p.send_signal(signal.SIGTERM)
    assert p.wait(60) == 0
    deadline = time.monotonic() + 10
    while swtpm_pids(d) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert swtpm_pids(d) == []
