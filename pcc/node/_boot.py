"""Boot: the trust cache check, the enclave's identity certified by the provisioning CA, the
registers extended and locked, the first attestation bundle. Any mismatch refuses the start."""
from __future__ import annotations

import hashlib
import pathlib
import time

from pcc import _core, _measure, attest, provision, transparency
from pcc.attest import Trust
from pcc.errors import PccError, StateError, VerifyError
from pcc.node import _log
from pcc.node._config import LAYERS, NodeConfig
from pcc.node._proc import Processes
from pcc.transparency import leaves
from pcc.transparency.release import CODE_NAME, CONFIG_NAME, installed_package_dir

_LAYER_BITS = {"seccomp": _core.SANDBOX_SECCOMP, "landlock": _core.SANDBOX_LANDLOCK,
               "netns": _core.SANDBOX_NETNS}


class BootError(PccError):
    """The node refused to start (the reason says which check failed)."""


def _refuse(reason: str) -> BootError:
    _log.emit("boot_refused", reason=reason)
    return BootError(reason)


class Booted:
    """A node that has booted: its processes, node id, release and current bundle."""

    def __init__(self, cfg: NodeConfig, procs: Processes, node_id: bytes, leaf: bytes,
                 proof: str, sandbox: int, root_pem: str) -> None:
        self.cfg = cfg
        self.procs = procs
        self.node_id = node_id
        self.leaf = leaf
        self.proof = proof
        self.sandbox = sandbox
        self.root_pem = root_pem
        self.bundle = b""

    def attest(self) -> bytes:
        r = self.procs.enclave_chan.call(
            {"op": "attest", "release": self.leaf, "tlog_proof": self.proof,
             "models": [n for n, _ in self.cfg.models]}, "bundle")
        self.bundle = bytes(r["bundle"])
        return self.bundle

    def rotate(self) -> int:
        r = self.procs.enclave_chan.call({"op": "rotate"}, "key")
        self.attest()
        return int(r["not_after"])

    def trust(self) -> Trust:
        """What a client of this node pins (the node checks its own bundle with it)."""
        c = self.cfg
        relax = tuple(c.weaker)
        return Trust(provisioning_roots=[self.root_pem], log_vkey=c.log_vkey,
                            witness_vkeys=list(c.witnesses), quorum=c.quorum,
                            max_checkpoint_age_s=c.max_checkpoint_age_s, relax=relax)


def boot(cfg: NodeConfig, *, testing_probe: bool = False) -> Booted:
    """Boot a node from its config; raises :class:`BootError` on any failed check.
    ``testing_probe`` (tests only) runs the sandbox probe in workers instead of the model, and
    the bundle then says ``debug``, so that no client accepts the node."""
    _log.emit("boot_start", serial=cfg.serial, models=len(cfg.models))
    # 1. the release and its proof, verified as a client would
    try:
        leaf = pathlib.Path(cfg.release_leaf).read_bytes()
        proof = pathlib.Path(cfg.release_proof).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _refuse(f"cannot read the release leaf or proof ({type(e).__name__})") from None
    try:
        transparency.verify_proof(leaf, proof, cfg.log_vkey, list(cfg.witnesses), cfg.quorum,
                                  cfg.max_checkpoint_age_s)
        d = leaves.decode(leaf)
    except (PccError, TypeError) as e:
        raise _refuse(f"the release is not verifiably logged: {e}") from None
    if d.get("type") != "release":
        raise _refuse("the release leaf is not a release")
    logged = {(c["kind"], c["name"]): bytes(c["sha384"]) for c in d["components"]}
    # 2. code and config, measured here
    code = _measure.tree_manifest_digest(installed_package_dir())
    config = _measure.config_digest(cfg.measured())
    if logged.get(("code", CODE_NAME)) != code:
        raise _refuse("the pcc package differs from the logged release (code pcc)")
    if logged.get(("config", CONFIG_NAME)) != config:
        raise _refuse("the node config differs from the logged release (config node-config)")
    want = {("code", CODE_NAME), ("config", CONFIG_NAME)} | {("model", n) for n, _ in cfg.models}
    if set(logged) != want:
        extra = sorted(f"{k} {n}" for k, n in set(logged) ^ want)
        raise _refuse(f"components not both logged and present: {', '.join(extra)}")
    # 3. the processes; the host measures the models from its own mapping
    optional = 0
    for name in cfg.weaker:
        optional |= _LAYER_BITS[name]
    procs = Processes(list(cfg.models), _core.SANDBOX_ALL, optional, cfg.limits["max_payload"],
                      cfg.limits["max_workers"], cfg.limits["max_tokens"], cfg.keys["lifetime_s"],
                      probe=testing_probe, pool=cfg.limits["pool"])
    try:
        return _finish(cfg, procs, leaf, proof, logged, code, config, testing_probe)
    except BaseException:
        procs.stop()
        raise


def _finish(cfg: NodeConfig, procs: Processes, leaf: bytes, proof: str, logged: dict,
            code: bytes, config: bytes, testing_probe: bool) -> Booted:
    enc = procs.enclave_chan
    try:
        r = enc.call({"op": "csr", "serial": cfg.serial}, "csr")
        node_id = bytes(r["node_id"])
        ca = provision.CA.load(cfg.ca_dir)
        cert = ca.issue(bytes(r["csr"]))
        enc.call({"op": "set_chain", "chain": [cert]}, "ok")
        enc.call({"op": "extend", "reg": 0, "name": CODE_NAME, "sha384": code}, "ok")
        enc.call({"op": "extend", "reg": 2, "name": CONFIG_NAME, "sha384": config}, "ok")
        ready = procs.host_chan.recv()
    except PccError as e:
        raise _refuse(f"boot failed: {e}") from None
    if ready.get("op") != "ready":
        raise _refuse("the host did not get ready")
    for m in ready["models"]:
        if logged.get(("model", m["name"])) != bytes(m["sha384"]):
            raise _refuse(f"model {m['name']} differs from the logged release")
    sandbox = int(ready["sandbox"])
    for name in LAYERS:
        if not sandbox & _LAYER_BITS[name] and name not in cfg.weaker:
            raise _refuse(f"the sandbox layer {name} is not available")
    try:
        enc.call({"op": "lock"}, "ok")
    except PccError as e:
        raise _refuse(f"the enclave refused to lock: {e}") from None
    node = Booted(cfg, procs, node_id, leaf, proof, sandbox, ca.root_pem)
    node.attest()
    rep = attest.verify(node.bundle, node.trust())
    if not rep.ok and not (testing_probe and rep.failed == "modes"):
        raise _refuse(f"the node's own bundle does not verify: {rep.failed}")
    procs.host_chan.send({"op": "start", "node_id": node_id})
    names = ",".join(n for n in LAYERS if sandbox & _LAYER_BITS[n])
    _log.emit("boot_done", node_id=node_id.hex(), sandbox=names or "none",
              pool=int(ready.get("pool", 0)))
    return node
