"""The compute nodes of a cell: their node.json files, the release they run (measured and logged),
their ``pcc node serve`` processes and the wait for their first healthy answer."""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx

from pcc.errors import StateError

if TYPE_CHECKING:
    from pcc.cell import Cell

RELEASE_NAME = "pcc-cell"


def _weaker() -> list[str]:
    """Sandbox layers this machine cannot apply (they need root): the nodes say so in their
    attestation and the cell's client.json allows exactly those."""
    return [] if os.geteuid() == 0 else ["landlock", "netns"]


def node_json(cell: "Cell", i: int, port: int, index: int | None = None,
              enclave: dict | None = None) -> dict:
    """node.json of node ``i`` (1-based) of the cell: the release is fetched from the cell's
    log (leaf ``index``), with its proof refreshed while the node serves; without an index
    (before the release is logged) it names the files ``publish_release`` writes. ``enclave``:
    the node's ``enclave`` object (backend tpm), none for the default sim backend."""
    release = ({"leaf": "release.leaf", "proof": "release.proof"} if index is None else
               {"log": cell.urls["log"], "index": index})
    obj = {"v": 1, "serial": f"cell-node-{i}", "host": cell.host, "port": port,
           "models": {cell.model_name(): str(pathlib.Path(str(cell.model_path)).resolve())},
           "release": release,
           "trust": {"log": cell.vkey("log"),
                     "witnesses": [cell.vkey("witness-1"), cell.vkey("witness-2")],
                     "quorum": 2, "max_checkpoint_age_s": 86400},
           "ca": {"dir": "ca"}, "sandbox": {"weaker": _weaker()}}
    if enclave is not None:
        obj["enclave"] = enclave
    return obj


def publish_release(cell: "Cell", objs: list[dict]) -> int:
    """Measure the code, the model and the nodes' frozen configuration, log the release (once:
    an identical release already in the log is reused), save its leaf and a fresh proof (for
    offline use) and return its index in the log."""
    from pcc.node._config import parse
    from pcc.transparency import release
    cfg = parse(objs[0], "node-1.json", cell.dir)
    comps = release.measure(models=[(cell.model_name(), str(cell.model_path))],
                            config=cfg.measured(), progress=cell.progress)
    version = hashlib.sha256(b"".join(c[2] for c in comps)).hexdigest()[:16]
    cell.progress(f"publishing release {RELEASE_NAME} {version} to the log")
    pub = release.publish(cell.urls["log"], cell._signer("publisher"), RELEASE_NAME, version,
                          comps, log_vkey=cell.vkey("log"),
                          witness_vkeys=[cell.vkey("witness-1"), cell.vkey("witness-2")],
                          progress=cell.progress)
    _, proof = cell.publish(pub.leaf)            # a proof under the newest checkpoint
    (cell.dir / "release.leaf").write_bytes(pub.leaf)
    (cell.dir / "release.proof").write_text(proof, encoding="utf-8")
    return pub.index


def start_tpms(cell: "Cell") -> list[dict]:
    """Backend tpm: one swtpm per node (manufactured once into ``tpm-<i>/`` with the cell's own
    manufacturer CA in ``tpm-maker/``, started afresh so its PCRs are zero), the manufacturer
    root added to the provisioning CA's inventory. Returns each node's ``enclave`` object."""
    from pcc import _swtpm
    assert cell.ca is not None
    missing = _swtpm.missing_tools()
    if missing:
        raise StateError(f"--enclave tpm needs swtpm ({', '.join(missing)} not found): "
                         "apt-get install swtpm swtpm-tools")
    maker = _swtpm.LocalCA(cell.dir / "tpm-maker")
    out = []
    for i in range(1, cell.n_nodes + 1):
        sw = _swtpm.Swtpm(cell.dir / f"tpm-{i}", maker)
        if not (sw.dir / "state").exists():
            cell.progress(f"manufacturing the software TPM of node-{i}")
        sw.start()
        cell._tpms.append(sw)
        out.append({"backend": "tpm", "tpm": sw.tcti,
                    "ek_intermediates": str(maker.dir / "issuercert.pem")})
    if cell.ca.add_manufacturer_root(maker.root_pem):
        cell.progress("the provisioning CA now trusts the cell's software TPM manufacturer")
    return out


def start_nodes(cell: "Cell", ports: dict[str, int]) -> list[tuple[str, str, subprocess.Popen]]:
    """Write the node.json files, register the serials with the CA, publish the release and
    start one ``pcc node serve`` per node; returns ``[(name, url, process)…]``."""
    assert cell.ca is not None
    enclaves = start_tpms(cell) if cell.enclave == "tpm" else []
    objs = []
    for i in range(1, cell.n_nodes + 1):
        obj = node_json(cell, i, ports[f"node-{i}"], enclave=enclaves[i - 1] if enclaves else None)
        objs.append(obj)
        if obj["serial"] not in cell.ca.serials:
            cell.ca.add_serial(obj["serial"])
    cell.ca.save(cell.dir / "ca")
    index = publish_release(cell, objs)
    for i in range(1, cell.n_nodes + 1):         # the nodes take the release from the log
        objs[i - 1] = node_json(cell, i, ports[f"node-{i}"], index, objs[i - 1].get("enclave"))
        (cell.dir / f"node-{i}.json").write_text(json.dumps(objs[i - 1], indent=1))
    out = []
    env = dict(os.environ)
    env.setdefault("TSS2_LOG", "all+NONE")  # tpm2-tss would print every refused TPM command
    for i, obj in enumerate(objs, 1):
        log = open(cell.dir / f"node-{i}.log", "ab")
        try:
            proc = subprocess.Popen([sys.executable, "-m", "pcc", "node", "serve", "--config",
                                     str(cell.dir / f"node-{i}.json")], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        finally:
            log.close()
        out.append((f"node-{i}", f"http://{cell.host}:{obj['port']}", proc))
    return out


def wait_ready(cell: "Cell", timeout: float = 600.0) -> None:
    """Wait until every node answers /healthz (progress every few seconds); StateError naming
    the node and the end of its log when one exits or the time runs out."""
    names = [n for n, _ in cell.services if n.startswith("node-")]
    pending = {n: cell.urls[n] for n in names}
    procs = dict(zip(names, cell._procs))
    deadline = time.monotonic() + timeout
    last_say = 0.0
    with httpx.Client(timeout=2.0, trust_env=False) as c:
        while pending:
            for name, url in list(pending.items()):
                if procs[name].poll() is not None:
                    raise StateError(f"{name} exited during boot:\n" + _tail(cell, name))
                try:
                    if c.get(url + "/healthz").status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if not pending:
                break
            now = time.monotonic()
            if now > deadline:
                raise StateError(f"{', '.join(pending)} did not boot in {timeout:g} s:\n"
                                 + _tail(cell, next(iter(pending))))
            if now - last_say > 5:
                cell.progress(f"booting {', '.join(pending)}")
                last_say = now
            time.sleep(0.2)


def _tail(cell: "Cell", name: str) -> str:
    try:
        lines = (cell.dir / f"{name}.log").read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-15:])
