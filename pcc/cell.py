"""A whole cell on one machine (``pcc up``): for development, demos and research.

:class:`Cell` starts, on loopback, the provisioning CA, the transparency log with two witnesses
(quorum 2), the token issuer (one account allowed 1,000 tokens an hour), the relay, the gateway
and N compute nodes, on consecutive ports in that order when a base port is given; publishes the
release the nodes run, the gateway's OHTTP keys and the issuer's key to the log; and writes
``client.json`` for :meth:`pcc.client.Client.from_config`. Everything it creates lives in one
directory: running it again on the same directory reuses the keys, the account and the log.

The log, witnesses, issuer, relay and gateway run in this process, each served by uvicorn in
its own thread; every node is its own ``pcc node serve`` process. Key proofs are refreshed in
the background (the log answers a logged leaf again with a proof under its newest, freshly
cosigned checkpoint), so clients' freshness checks keep passing for as long as the cell runs.

Once the nodes are up, the cell publishes a ``roster`` leaf for each model (the node ids whose
attestation checks out against the cell's own trust) and the gateway serves it at the inner
``GET /v1/roster``; ``client.json`` selects client-chosen nodes, so clients draw their nodes
from that logged roster. A watcher compares the roster with the nodes the gateway knows every
few seconds and publishes a new epoch when the set changes (a node added, or one that came back
with a new identity); a node that is merely down stays listed (clients draw past it).
"""
from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from pcc import provision
from pcc.errors import InvalidArgument, PccError, StateError

__all__ = ["Cell", "SERVICE_ORDER", "ISSUER_NAME", "GATEWAY_NAME", "LOG_ORIGIN"]

SERVICE_ORDER = ("log", "witness-1", "witness-2", "issuer", "relay", "gateway")
LOG_ORIGIN = "log.pcc.cell"
ISSUER_NAME = "issuer.pcc.cell"
GATEWAY_NAME = "gateway.pcc.cell"
ACCOUNT = "cell"
TOKENS_PER_HOUR = 1000
KEY_LIFETIME_S = 7 * 86400      # logged key leaves are re-published when they near expiry
PROOF_REFRESH_S = 1800.0
ROSTER_WATCH_S = 2.0            # how often the roster is compared with the gateway's nodes

Progress = Callable[[str], None]


def _quiet(msg: str) -> None:
    pass


def _write_secret(path: pathlib.Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class _Logged:
    leaf: bytes
    proof: str


class Cell:
    """A cell in ``directory``; :meth:`start` brings it up, :meth:`stop` takes it down.

    ``nodes``: how many compute nodes (``pcc node serve`` processes); ``model``: the GGUF file
    they serve (default: SmolLM2-135M-Instruct, fetched once into the cache); ``enclave``: the
    nodes' enclave backend, ``sim`` or ``tpm`` (one swtpm per node, manufactured with a local
    manufacturer CA that the provisioning CA then trusts; see docs/tpm.md); ``port_base``:
    the first of consecutive ports (None: free ports); ``redis_url``: keep the gateway's spend
    store in Redis (default SQLite in the folder). ``progress`` receives a line for every
    slow step.
    """

    def __init__(self, directory: str | os.PathLike, *, nodes: int = 2,
                 model: Optional[str] = None, host: str = "127.0.0.1",
                 port_base: Optional[int] = None, redis_url: Optional[str] = None,
                 progress: Progress = _quiet, enclave: str = "sim") -> None:
        if not isinstance(nodes, int) or not 0 <= nodes <= 64:
            raise InvalidArgument("cell: nodes must be 0..64")
        if enclave not in ("sim", "tpm"):
            raise InvalidArgument("cell: enclave must be sim or tpm")
        self.enclave = enclave
        self._tpms: list = []
        self.dir = pathlib.Path(directory).resolve()   # paths written into configs are absolute
        self.n_nodes = nodes
        self.model_path = model
        self.host = host
        self.port_base = port_base
        self.progress = progress
        self.redis_url = redis_url
        self.services: list[tuple[str, str]] = []
        self._servers: list = []
        self._procs: list[subprocess.Popen] = []
        self._logged: dict[str, _Logged] = {}
        self._stop = threading.Event()
        self._refresher: Optional[threading.Thread] = None
        self._roster_watcher: Optional[threading.Thread] = None
        self._roster_lock = threading.Lock()
        self._roster_epoch = 0
        self._attested: dict[bytes, bool] = {}       # bundle digest -> verified for the roster
        self.ca: Optional[provision.CA] = None
        self.urls: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<pcc Cell {self.dir} services={len(self.services)}>"

    # ------------------------------------------------------------------ keys and files

    def _keys(self) -> None:
        from pcc.transparency import _note as tlognote
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        for name, fname, cos in ((LOG_ORIGIN, "log", False), ("witness-1.pcc.cell", "witness-1", True),
                                 ("witness-2.pcc.cell", "witness-2", True),
                                 ("publisher.pcc.cell", "publisher", False)):
            sk_path = d / f"{fname}.skey"
            if not sk_path.exists():
                skey, vkey = tlognote.generate(name, cosigner=cos)
                _write_secret(sk_path, (skey + "\n").encode())
                (d / f"{fname}.vkey").write_text(vkey + "\n")
        if (d / "ca").exists():
            self.ca = provision.CA.load(d / "ca")
        else:
            self.ca = provision.CA.generate("pcc cell provisioning root")
            self.ca.save(d / "ca")
        if not (d / "issuer.key").exists():
            from pcc.services.issuer import generate_key
            generate_key(str(d / "issuer.key"))
        if not (d / "gateway.key").exists():
            from pcc.services.gateway import generate_key as gw_key
            gw_key(str(d / "gateway.key"))

    def vkey(self, name: str) -> str:
        """The public key of ``log``, ``witness-1``, ``witness-2`` or ``publisher``."""
        return (self.dir / f"{name}.vkey").read_text().strip()

    def _signer(self, name: str, cosigner: bool = False):
        from pcc.transparency import read_signer_file
        return read_signer_file(self.dir / f"{name}.skey", cosigner=cosigner)

    # ------------------------------------------------------------------ ports

    def _ports(self) -> dict[str, int]:
        names = list(SERVICE_ORDER) + [f"node-{i + 1}" for i in range(self.n_nodes)]
        if self.port_base is not None:
            return {n: self.port_base + i for i, n in enumerate(names)}
        return {n: _free_port(self.host) for n in names}

    # ------------------------------------------------------------------ log

    def publish(self, leaf: bytes, timeout: float = 60.0) -> tuple[int, str]:
        """Log ``leaf`` with the cell's publisher key and return ``(index, tlog-proof)``; a leaf
        already logged gets its index and a proof under the newest checkpoint."""
        from pcc.transparency import _note as tlognote
        from pcc.transparency.client import submit
        sig = tlognote.raw_sign(self._signer("publisher"), leaf)
        return submit(self.urls["log"], leaf, sig, timeout=timeout)

    def _key_leaf(self, kind: str, make: Callable[[int], bytes], same: Callable[[dict], bool]
                  ) -> _Logged:
        """The key leaf of ``kind`` saved in the directory if it still holds the same key and
        is valid for another day, else a new one; logged (again) for a fresh proof."""
        from pcc.transparency import leaves
        path = self.dir / f"{kind}.leaf"
        leaf = None
        if path.exists():
            old = path.read_bytes()
            try:
                d = leaves.decode(old)
                if same(d) and d["not_after"] > time.time() + 86400:
                    leaf = old
            except PccError:
                leaf = None
        if leaf is None:
            leaf = make(int(time.time()) + KEY_LIFETIME_S)
            path.write_bytes(leaf)
        _, proof = self.publish(leaf)
        return _Logged(leaf, proof)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(PROOF_REFRESH_S):
            self.refresh_proofs()

    def refresh_proofs(self) -> None:
        """Give every logged leaf a proof under the log's newest checkpoint. A roster's proof is
        built from the log's checkpoint and tiles and verified, as a gateway without the
        publisher key does (:func:`pcc.roster.fetch_proof`); when that fails, and for the
        other leaves, the leaf is published again. A leaf that cannot be refreshed keeps its
        proof."""
        from pcc import note, roster
        for kind, logged in list(self._logged.items()):
            try:
                if kind.startswith("roster:"):
                    try:
                        logged.proof = roster.fetch_proof(
                            self.urls["log"], logged.leaf, note.parse_proof(logged.proof).index,
                            self.vkey("log"), [self.vkey("witness-1"), self.vkey("witness-2")],
                            2)
                        continue
                    except PccError:
                        pass
                logged.proof = self.publish(logged.leaf)[1]
            except PccError:
                pass

    # ------------------------------------------------------------------ start / stop

    def start(self) -> list[tuple[str, str]]:
        """Bring the cell up; returns ``[(name, url)…]`` in start order. On failure everything
        started so far is stopped and the error raised."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.services

    def _serve(self, name: str, app, port: int) -> str:
        from pcc.services import BackgroundServer
        srv = BackgroundServer(app, self.host, port)
        self._servers.append(srv)
        self.urls[name] = srv.url
        self.services.append((name, srv.url))
        return srv.url

    def _start(self) -> None:
        from pcc.services import gateway, issuer, relay, tlog, witness
        from pcc.transparency import leaves
        self.progress(f"keys in {self.dir}")
        self._keys()
        ports = self._ports()
        host = self.host
        url = {n: f"http://{host}:{p}" for n, p in ports.items()}
        d = self.dir
        log_vkey = self.vkey("log")
        wits = [self.vkey("witness-1"), self.vkey("witness-2")]
        # the log first (its URL is what everyone needs), then the witnesses it asks to cosign
        # witnesses first, so the log's first checkpoint finds them (listed after the log)
        for i in (1, 2):
            w_app = witness.create_app(witness.WitnessConfig(
                db_path=str(d / f"witness-{i}.db"), skey=self._signer(f"witness-{i}", True),
                logs=((LOG_ORIGIN, log_vkey),)))
            self._serve(f"witness-{i}", w_app, ports[f"witness-{i}"])
        log_app = tlog.create_app(tlog.LogConfig(
            db_path=str(d / "log.db"), origin=LOG_ORIGIN, skey=self._signer("log"),
            publishers=(self.vkey("publisher"),),
            witnesses=((url["witness-1"], wits[0]), (url["witness-2"], wits[1])), quorum=2,
            batch_interval_ms=2.0, refresh_interval_s=600.0))
        self._serve("log", log_app, ports["log"])
        self.services.sort(key=lambda s: SERVICE_ORDER.index(s[0]))
        # the issuer, its account and its logged key
        from pcc import tokens
        from pcc.services.issuer import IssuerConfig, add_account, open_store
        icfg = IssuerConfig(issuer_name=ISSUER_NAME, key_path=str(d / "issuer.key"),
                            db_path=str(d / "issuer.db"),
                            key_proof=lambda: self._proof_of("issuer-key"))
        issuer_spki = tokens.Issuer(issuer._load_key(icfg.key_path)).spki
        account_path = d / "account.key"
        if not account_path.exists():
            store = open_store(icfg)
            try:
                key = add_account(store, ACCOUNT, TOKENS_PER_HOUR)
            finally:
                store.close()
            _write_secret(account_path, key.encode())
        self.progress("publishing the issuer key to the log")
        self._logged["issuer-key"] = self._key_leaf(
            "issuer-key", lambda na: leaves.issuer_key(ISSUER_NAME, issuer_spki, na),
            lambda dd: dd.get("type") == "issuer-key" and dd.get("spki") == issuer_spki)
        self._serve("issuer", issuer.create_app(icfg), ports["issuer"])
        # relay, then gateway (with the nodes' URLs: they join as soon as they are healthy)
        self._serve("relay", relay.create_app(relay.RelayConfig(gateway_url=url["gateway"] + "/")),
                    ports["relay"])
        redis_url = self.redis_url
        gcfg = gateway.GatewayConfig(
            name=GATEWAY_NAME, key_path=str(d / "gateway.key"), issuer_name=ISSUER_NAME,
            issuer_spki=issuer_spki, db_path=str(d / "gateway.db"),
            nodes=tuple(url[f"node-{i + 1}"] for i in range(self.n_nodes)),
            key_proof=lambda: self._proof_of("ohttp-keys"), redis_url=redis_url,
            roster=lambda model: self._proof_of(f"roster:{model}"))
        self.gateway_config = gcfg
        configs = gateway.key_configs(gcfg)
        self.progress("publishing the gateway's OHTTP keys to the log")
        self._logged["ohttp-keys"] = self._key_leaf(
            "ohttp-keys", lambda na: leaves.ohttp_keys(GATEWAY_NAME, configs, na),
            lambda dd: dd.get("type") == "ohttp-keys" and dd.get("configs") == configs)
        self.gateway_app = gateway.create_app(gcfg)
        self._serve("gateway", self.gateway_app, ports["gateway"])
        # nodes
        if self.n_nodes and self.model_path is None:
            self.model_path = self._default_model()
        if self.n_nodes:
            from pcc import _cellnodes
            for name, node_url, proc in _cellnodes.start_nodes(self, ports):
                self._procs.append(proc)
                self.urls[name] = node_url
                self.services.append((name, node_url))
            _cellnodes.wait_ready(self, timeout=600.0)
            self._wait_gateway()
            self.publish_roster()
        self._write_client_json()
        self._refresher = threading.Thread(target=self._refresh_loop, name="pcc-cell-proofs",
                                           daemon=True)
        self._refresher.start()
        self._roster_watcher = threading.Thread(target=self._roster_loop,
                                                name="pcc-cell-roster", daemon=True)
        self._roster_watcher.start()

    # ------------------------------------------------------------------ rosters

    def _roster_candidates(self) -> dict[str, list[bytes]]:
        """model -> node ids of the nodes the gateway has a bundle for that passes
        verification against the cell's own trust (a node that is down stays listed)."""
        import hashlib

        from pcc import attest
        trust = attest.Trust.from_client_config(self._trust_config())
        out: dict[str, set[bytes]] = {}
        for n in list(self.gateway_app.state.nodes.values()):
            bundle, node_id, models = n.bundle, n.node_id, n.models
            if bundle is None or node_id is None:
                continue
            digest = hashlib.sha256(bundle).digest()
            ok = self._attested.get(digest)
            if ok is None:
                ok = attest.verify(bundle, trust).ok
                self._attested[digest] = ok
            if ok:
                for m in models:
                    out.setdefault(m, set()).add(node_id)
        return {m: sorted(ids) for m, ids in out.items()}

    def roster_of(self, model: Optional[str] = None) -> Optional[list[bytes]]:
        """The node ids of the roster the cell serves for ``model`` (default: its model), or
        None before one is published."""
        from pcc import roster
        got = self._proof_of(f"roster:{model or self.model_name()}")
        return None if got is None else list(roster.from_leaf(got[0]).nodes)

    def publish_roster(self, model: Optional[str] = None,
                       node_ids: Optional[list[bytes]] = None) -> Optional[int]:
        """Publish a roster leaf for ``model`` (default: every model the gateway's nodes
        serve) listing ``node_ids`` (default: the nodes the gateway knows whose attestation
        checks out), with a new epoch, unless the current roster lists exactly those nodes;
        the gateway serves it at once. Returns the new epoch, or None when nothing changed."""
        from pcc.transparency import leaves
        with self._roster_lock:
            if node_ids is not None:
                if model is None:
                    raise InvalidArgument("cell: publish_roster with node_ids needs a model")
                wanted = {model: sorted(bytes(n) for n in node_ids)}
            else:
                wanted = self._roster_candidates()
                if model is not None:
                    wanted = {model: wanted.get(model, [])}
            epoch = None
            for m, ids in sorted(wanted.items()):
                if not ids or self.roster_of(m) == ids:
                    continue
                epoch = max(int(time.time()), self._roster_epoch + 1)
                leaf = leaves.roster(m, epoch, ids)
                self.progress(f"publishing the roster of {m} (epoch {epoch}, "
                              f"{len(ids)} node(s)) to the log")
                _, proof = self.publish(leaf)
                self._roster_epoch = epoch
                self._logged[f"roster:{m}"] = _Logged(leaf, proof)
            return epoch

    def _roster_loop(self) -> None:
        while not self._stop.wait(ROSTER_WATCH_S):
            try:
                self.publish_roster()
            except Exception:           # noqa: BLE001 - the next round tries again
                pass

    def _wait_gateway(self, timeout: float = 30.0) -> None:
        """Wait until the gateway has found every node healthy (its probe runs every 2 s)."""
        deadline = time.monotonic() + timeout
        while len(self.gateway_app.state.healthy()) < self.n_nodes:
            if time.monotonic() > deadline:
                raise StateError("the gateway did not see the nodes healthy in time")
            time.sleep(0.1)

    def _proof_of(self, kind: str) -> Optional[tuple[bytes, str]]:
        logged = self._logged.get(kind)
        return None if logged is None else (logged.leaf, logged.proof)

    def client_config(self) -> dict:
        """The ``client.json`` object for this cell."""
        assert self.ca is not None
        cfg: dict[str, Any] = {"v": 1, "relay": self.urls["relay"] + "/", "gateway": self.urls["gateway"],
                "issuer": self.urls["issuer"], "log": self.urls["log"],
                "account": (self.dir / "account.key").read_text().strip(),
                "model": self.model_name(),
                "selection": "client",
                # the highest roster epoch accepted per model, kept across client restarts
                "state": str(self.dir / "client-state.json"),
                "trust": self._trust_config()}
        return cfg

    def _trust_config(self) -> dict:
        """The ``trust`` object of ``client.json``."""
        assert self.ca is not None
        trust: dict[str, Any] = {
            "provisioning_roots": [self.ca.root_pem], "log": self.vkey("log"),
            "witnesses": [self.vkey("witness-1"), self.vkey("witness-2")],
            "quorum": 2, "max_checkpoint_age_s": 86400}
        if self.n_nodes:
            from pcc._cellnodes import _weaker
            if _weaker():
                trust["relax"] = _weaker()
        if self.enclave == "tpm":   # the cell's nodes all quote: accept no node without
            trust["require_tpm"] = True
        return trust

    def model_name(self) -> str:
        """The name clients ask for: the model file's name as the release names it."""
        if self.model_path is None:
            self.model_path = self._default_model()
        from pcc.transparency.release import model_name
        return model_name(self.model_path)

    def _default_model(self) -> str:
        from pcc._internal.model_cache import default_model_path
        self.progress("model: SmolLM2-135M-Instruct (fetched into the cache the first time)")
        return str(default_model_path())

    def _write_client_json(self) -> None:
        path = self.dir / "client.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.client_config(), f, indent=1)
        os.replace(tmp, path)

    def stop(self) -> None:
        """Stop everything this cell started, nodes first (idempotent)."""
        self._stop.set()
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
        for p in self._procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self._procs.clear()
        for sw in self._tpms:   # after their nodes: each gets an orderly TPM2_Shutdown first
            sw.stop()
        self._tpms.clear()
        for srv in reversed(self._servers):
            try:
                srv.stop()
            except Exception:
                pass
        self._servers.clear()

    def __enter__(self) -> "Cell":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

