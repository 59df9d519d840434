"""Boot: the trust cache check, the enclave's identity certified by the provisioning CA, the
registers extended and locked, the first attestation bundle. Any mismatch refuses the start."""
from __future__ import annotations

import hashlib
import pathlib
import threading
import time

from pcc import _core, _measure, attest, provision, transparency
from pcc.attest import Trust
from pcc.errors import PccError, StateError, VerifyError
from pcc.node import _log, _release
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
                 proof: str, sandbox: int, root_pem: str,
                 source: "_release.Source | None" = None) -> None:
        self.cfg = cfg
        self.procs = procs
        self.node_id = node_id
        self.leaf = leaf
        self.proof = proof
        self.fresh_until = _release.fresh_until(cfg, proof)
        self.sandbox = sandbox
        self.root_pem = root_pem
        self.source = source or _release.Source(cfg)
        self.bundle = b""
        self._attest_lock = threading.RLock()

    def attest(self) -> bytes:
        """Have the enclave sign a bundle with the current release proof (and newest key)."""
        with self._attest_lock:
            r = self.procs.enclave_chan.call(
                {"op": "attest", "release": self.leaf, "tlog_proof": self.proof,
                 "models": [n for n, _ in self.cfg.models]}, "bundle")
            self.bundle = bytes(r["bundle"])
            return self.bundle

    def refresh_proof(self) -> str:
        """Fetch a fresher proof for the release and re-attest with it: ``"refreshed"`` (the
        bundle now carries the new proof), ``"same"`` (nothing fresher yet) or ``"failed"`` (it
        could not be had or did not verify: the current proof stays, and ``proof_refresh_failed``
        is logged naming the check)."""
        try:
            proof = self.source.refresh(self.leaf, self.proof)
        except _release.SourceError as e:
            _log.emit("proof_refresh_failed", check=e.check, fresh_until=self.fresh_until)
            return "failed"
        if proof is None:
            return "same"
        with self._attest_lock:
            old = self.proof, self.fresh_until
            self.proof, self.fresh_until = proof, _release.fresh_until(self.cfg, proof)
            try:
                self.attest()
            except PccError:
                self.proof, self.fresh_until = old
                raise
        _log.emit("proof_refreshed", source=self.source.describe(), fresh_until=self.fresh_until)
        return "refreshed"

    def stale(self, now: float | None = None) -> bool:
        """True once the bundle's proof is within the stale margin of failing a client's
        freshness check: the node then stops serving (healthz and attestation answer 503)."""
        t = time.time() if now is None else now
        return t >= self.fresh_until - _release.stale_margin(self.cfg)

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
                     max_checkpoint_age_s=c.max_checkpoint_age_s, relax=relax,
                     require_tpm=c.backend == "tpm")


def boot(cfg: NodeConfig, *, testing_probe: bool = False) -> Booted:
    """Boot a node from its config; raises :class:`BootError` on any failed check.
    ``testing_probe`` (tests only) runs the sandbox probe in workers instead of the model, and
    the bundle then says ``debug``, so that no client accepts the node."""
    source = _release.Source(cfg)
    try:
        node = _boot(cfg, source, testing_probe)
    except BaseException:
        source.close()
        raise
    node.source = source            # kept open: the proof is refreshed from it
    return node


def _boot(cfg: NodeConfig, source: "_release.Source", testing_probe: bool) -> Booted:
    _log.emit("boot_start", serial=cfg.serial, models=len(cfg.models))
    # 1. the release and its proof (from the log or from files), verified as a client would
    try:
        leaf, proof = source.fetch()
        d = leaves.decode(leaf)
    except _release.SourceError as e:
        if e.check in transparency.CHECKS:
            raise _refuse(f"the release is not verifiably logged: {e}") from None
        raise _refuse(f"cannot get the release ({e.check}): {e}") from None
    except PccError as e:
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
                      probe=testing_probe, tpm=cfg.tpm if cfg.backend == "tpm" else None,
                      pool=cfg.limits["pool"], threads=cfg.limits["threads"])
    try:
        return _finish(cfg, procs, leaf, proof, logged, code, config, testing_probe)
    except BaseException:
        procs.stop()
        raise


_TPM_REFUSALS = {
    "tpm_unreachable": "the TPM cannot be reached (is {tcti} right, and the TPM running?)",
    "tpm_no_sha384": "the TPM has no active SHA-384 PCR bank",
    "tpm_pcrs_not_zero": "the TPM's register PCRs are not zero: it was used since its last "
                         "reset (a node needs a freshly reset TPM; reboot the machine or restart "
                         "swtpm)",
}


def _enroll_tpm(cfg: NodeConfig, enc, ca: provision.CA) -> tuple[bytes, bytes]:
    """The TPM backend's identity: the enclave creates an attestation key in the TPM; the CA
    checks the EK certificate against its manufacturer roots and the AK's attributes and wraps a
    credential to that EK for that AK; the enclave recovers it with TPM2_ActivateCredential;
    the CA then certifies the AK. Returns (node id, certificate)."""
    enc.send({"op": "enroll", "serial": cfg.serial})
    r = enc.recv()
    if r.get("op") == "error" and r.get("error") in _TPM_REFUSALS:
        raise _refuse(_TPM_REFUSALS[r["error"]].format(tcti=cfg.tpm))
    if r.get("op") != "enroll":
        raise _refuse(f"the enclave refused enroll: {r.get('error', r.get('op'))}")
    inter: list[bytes] = []
    if cfg.ek_intermediates is not None:
        try:
            inter = [pathlib.Path(cfg.ek_intermediates).read_bytes()]
        except OSError as e:
            raise _refuse(f"cannot read enclave.ek_intermediates ({e.strerror})") from None
    try:
        enrollment = ca.tpm_challenge(bytes(r["ek_cert"]), bytes(r["ak_public"]), cfg.serial,
                                      intermediates=inter)
    except PccError as e:
        raise _refuse(f"the provisioning CA refused the TPM: {e}") from None
    a = enc.call({"op": "activate", "blob": enrollment.blob, "secret": enrollment.secret},
                 "credential")
    try:
        cert = ca.issue_tpm_ak(enrollment, bytes(a["credential"]))
    except PccError as e:
        raise _refuse(f"the provisioning CA refused the TPM's answer: {e}") from None
    return bytes(r["node_id"]), cert


def _finish(cfg: NodeConfig, procs: Processes, leaf: bytes, proof: str, logged: dict,
            code: bytes, config: bytes, testing_probe: bool) -> Booted:
    enc = procs.enclave_chan
    try:
        ca = provision.CA.load(cfg.ca_dir)
        if cfg.backend == "tpm":
            node_id, cert = _enroll_tpm(cfg, enc, ca)
        else:
            r = enc.call({"op": "csr", "serial": cfg.serial}, "csr")
            node_id = bytes(r["node_id"])
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
