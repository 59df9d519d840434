"""node.json: the node's configuration, checked strictly, and the part of it that is measured."""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any, Mapping

from pcc.errors import FormatError

LAYERS = ("seccomp", "landlock", "netns")
"""Sandbox layers a node may be told to run without (``sandbox.weaker``)."""

DEFAULT_METRICS = ("pcc_node_requests_total", "pcc_node_request_seconds",
                   "pcc_node_key_rotations_total")

_TOP = {"v", "serial", "host", "port", "models", "release", "trust", "ca", "limits", "keys",
        "sandbox", "metrics", "metrics_refresh_s", "enclave"}
_REQUIRED = {"v", "serial", "models", "release", "trust", "ca"}
DEFAULT_REFRESH_S = 600
_LIMITS = {"max_workers": 4, "queue": 16, "max_payload": 1 << 20, "max_tokens": 4096, "pool": 2,
           "threads": 1}
_KEYS = {"lifetime_s": 48 * 3600, "rotate_s": 24 * 3600}
BACKENDS = ("sim", "tpm")
"""Enclave backends: ``sim`` (software identity key) and ``tpm`` (a TPM 2.0 holds it)."""


def _fail(path: str, what: str) -> FormatError:
    return FormatError(f"{path}: {what}")


def _int(d: Mapping, k: str, lo: int, hi: int, where: str) -> int:
    v = d[k]
    if type(v) is not int or not lo <= v <= hi:
        raise _fail(where, f"{k} must be an integer in [{lo}, {hi}]")
    return v


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """A checked node.json (see docs/node.md). Paths are resolved against the file's folder."""

    serial: str
    host: str
    port: int
    models: tuple[tuple[str, str], ...]          # (name, gguf path)
    release_leaf: str | None                     # file mode: the release leaf (bytes)
    release_proof: str | None                    # file mode: its tlog-proof (text)
    log_vkey: str
    witnesses: tuple[str, ...]
    quorum: int
    max_checkpoint_age_s: int
    ca_dir: str
    limits: Mapping[str, int]
    keys: Mapping[str, int]
    weaker: tuple[str, ...]
    metrics: tuple[str, ...]
    metrics_refresh_s: int = 10
    backend: str = "sim"                         # enclave backend: "sim" or "tpm"
    tpm: str | None = None                       # backend tpm: the tpm2-tss TCTI string
    ek_intermediates: str | None = None          # backend tpm: PEM file of the EK cert's CAs

    def with_enclave(self, backend: str, tpm: str | None = None) -> "NodeConfig":
        """This configuration with another enclave backend (``pcc node serve --enclave``);
        ``tpm`` (a TCTI string) replaces the configured one when given."""
        if backend not in BACKENDS:
            raise FormatError(f"enclave backend must be one of {', '.join(BACKENDS)}")
        tcti = tpm if tpm is not None else self.tpm
        if backend == "tpm":
            _check_tcti(tcti, "--tpm-device")
        return dataclasses.replace(self, backend=backend, tpm=tcti if backend == "tpm" else None)
    release_log: str | None = None               # log mode: the log's URL
    release_index: int | None = None             # log mode: the release's leaf index, or
    release_name: str | None = None              # its name and version, looked up in the log
    release_version: str | None = None
    release_refresh_s: int = DEFAULT_REFRESH_S   # how often the proof is fetched again

    @property
    def release_source(self) -> str:
        """``"log"`` or ``"file"``."""
        return "log" if self.release_log is not None else "file"

    def measured(self) -> dict:
        """The frozen configuration that is measured into register 2 (``node-config``): what
        changes the node's behaviour towards a request, nothing that differs between nodes of
        one release (no serial, address, paths or keys)."""
        from pcc.node import _log
        return {"v": 1, "models": sorted(n for n, _ in self.models),
                "limits": dict(sorted(self.limits.items())),
                "keys": dict(sorted(self.keys.items())),
                "sandbox": {"weaker": sorted(self.weaker)},
                "metrics": sorted(self.metrics), "metrics_refresh_s": self.metrics_refresh_s,
                "log_events": _log.table()}


def _check_tcti(tcti: Any, where: str) -> str:
    if not isinstance(tcti, str) or not 1 <= len(tcti.encode()) <= 1024 or "\0" in tcti:
        raise FormatError(f"{where}: the TPM is a tpm2-tss TCTI string such as "
                          "\"device:/dev/tpmrm0\" or \"swtpm:host=127.0.0.1,port=2321\"")
    return tcti


def _enclave(obj: Any, where: str) -> tuple[str, str | None, str | None]:
    """(backend, tcti, intermediates path) of the optional ``enclave`` object."""
    if not isinstance(obj, dict) or set(obj) - {"backend", "tpm", "ek_intermediates"}:
        raise _fail(where, "enclave may hold only backend, tpm and ek_intermediates")
    backend = obj.get("backend", "sim")
    if backend not in BACKENDS:
        raise _fail(where, f"enclave.backend must be one of {', '.join(BACKENDS)}")
    tcti = obj.get("tpm")
    if tcti is not None:
        _check_tcti(tcti, where + ": enclave.tpm")
    elif backend == "tpm":
        raise _fail(where, "enclave.tpm (the TCTI string) is needed with backend tpm")
    inter = obj.get("ek_intermediates")
    if inter is not None and not isinstance(inter, str):
        raise _fail(where, "enclave.ek_intermediates is the path of a PEM file")
    return backend, tcti, inter
_RELEASE_HELP = ('release must be {"leaf": path, "proof": path} (file mode) or {"log": url, '
                 '"index": int} or {"log": url, "name": str, "version": str} (log mode), '
                 'each with an optional "refresh_s"')


def _release(rel: Any, where: str) -> dict:
    """Check the ``release`` object: file mode or log mode (see docs/node.md)."""
    if not isinstance(rel, dict):
        raise _fail(where, _RELEASE_HELP)
    keys = set(rel) - {"refresh_s"}
    if keys == {"leaf", "proof"}:
        if not all(isinstance(rel[k], str) and rel[k] for k in keys):
            raise _fail(where, "release.leaf and release.proof are paths")
    elif keys in ({"log", "index"}, {"log", "name", "version"}):
        url = rel["log"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or \
                len(url) > 2048:
            raise _fail(where, "release.log is the log's http(s) URL")
        if "index" in keys:
            _int(rel, "index", 0, (1 << 63) - 1, where + ": release")
        elif not all(isinstance(rel[k], str) and 1 <= len(rel[k]) <= 256
                     for k in ("name", "version")):
            raise _fail(where, "release.name and release.version are strings")
    else:
        raise _fail(where, _RELEASE_HELP)
    if "refresh_s" in rel:
        _int(rel, "refresh_s", 1, 7 * 86400, where + ": release")
    return rel


def parse(obj: Any, where: str = "node.json", base: str | os.PathLike = ".") -> NodeConfig:
    """Check a decoded node.json and return a :class:`NodeConfig`; FormatError names the key."""
    base = pathlib.Path(base)
    if not isinstance(obj, dict):
        raise _fail(where, "a JSON object is needed")
    unknown = set(obj) - _TOP
    if unknown:
        raise _fail(where, f"unknown key {sorted(unknown)[0]!r}")
    missing = _REQUIRED - set(obj)
    if missing:
        raise _fail(where, f"missing key {sorted(missing)[0]!r}")
    if obj["v"] != 1:
        raise _fail(where, "v must be 1")
    serial = obj["serial"]
    if not isinstance(serial, str) or not 1 <= len(serial) <= 64:
        raise _fail(where, "serial must be a string of 1 to 64 characters")
    host = obj.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise _fail(where, "host must be a string")
    port = _int({"port": obj.get("port", 8080)}, "port", 0, 65535, where)
    models = obj["models"]
    if not isinstance(models, dict) or not 1 <= len(models) <= 8 or not all(
            isinstance(k, str) and 1 <= len(k.encode()) <= 256 and isinstance(v, str)
            for k, v in models.items()):
        raise _fail(where, "models must map 1 to 8 names to GGUF paths")
    rel = _release(obj["release"], where)
    tr = obj["trust"]
    if not isinstance(tr, dict) or not {"log", "witnesses", "quorum"} <= set(tr) or \
            set(tr) - {"log", "witnesses", "quorum", "max_checkpoint_age_s"}:
        raise _fail(where, "trust must hold log, witnesses, quorum (and max_checkpoint_age_s)")
    if not isinstance(tr["log"], str) or not isinstance(tr["witnesses"], list) or not all(
            isinstance(w, str) for w in tr["witnesses"]):
        raise _fail(where, "trust.log is a vkey, trust.witnesses a list of vkeys")
    quorum = _int(tr, "quorum", 0, len(tr["witnesses"]), where + ": trust")
    age = _int({"a": tr.get("max_checkpoint_age_s", 86400)}, "a", 1, 10**9, where)
    ca = obj["ca"]
    if not isinstance(ca, dict) or set(ca) != {"dir"} or not isinstance(ca["dir"], str):
        raise _fail(where, "ca must be {\"dir\": path of the provisioning CA}")
    limits = dict(_LIMITS)
    lim = obj.get("limits", {})
    if not isinstance(lim, dict) or set(lim) - set(_LIMITS):
        raise _fail(where, f"limits may hold only {', '.join(_LIMITS)}")
    limits.update(lim)
    _int(limits, "max_workers", 1, 1024, where + ": limits")
    _int(limits, "queue", 0, 100000, where + ": limits")
    _int(limits, "max_payload", 1024, 1 << 20, where + ": limits")
    _int(limits, "max_tokens", 1, 1 << 20, where + ": limits")
    _int(limits, "pool", 0, 16, where + ": limits")
    _int(limits, "threads", 1, min(64, len(os.sched_getaffinity(0))), where + ": limits")
    keys = dict(_KEYS)
    k = obj.get("keys", {})
    if not isinstance(k, dict) or set(k) - set(_KEYS):
        raise _fail(where, "keys may hold only lifetime_s and rotate_s")
    keys.update(k)
    _int(keys, "lifetime_s", 1, 48 * 3600, where + ": keys")
    _int(keys, "rotate_s", 1, keys["lifetime_s"], where + ": keys")
    sb = obj.get("sandbox", {"weaker": []})
    if not isinstance(sb, dict) or set(sb) - {"weaker"} or not isinstance(
            sb.get("weaker", []), list) or not set(sb.get("weaker", [])) <= set(LAYERS):
        raise _fail(where, f"sandbox.weaker lists layers allowed off, among {', '.join(LAYERS)}")
    metrics = obj.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not set(metrics) <= set(DEFAULT_METRICS):
        raise _fail(where, f"metrics is an allow-list among {', '.join(DEFAULT_METRICS)}")

    refresh = _int({"r": obj.get("metrics_refresh_s", 10)}, "r", 0, 3600, where)
    backend, tcti, inter = _enclave(obj.get("enclave", {}), where)

    def path(p: str) -> str:
        return str((base / p).resolve())

    return NodeConfig(serial=serial, host=host, port=port,
                      models=tuple((n, path(p)) for n, p in models.items()),
                      release_leaf=path(rel["leaf"]) if "leaf" in rel else None,
                      release_proof=path(rel["proof"]) if "proof" in rel else None,
                      release_log=rel.get("log"), release_index=rel.get("index"),
                      release_name=rel.get("name"), release_version=rel.get("version"),
                      release_refresh_s=rel.get("refresh_s", DEFAULT_REFRESH_S),
                      log_vkey=tr["log"], witnesses=tuple(tr["witnesses"]), quorum=quorum,
                      max_checkpoint_age_s=age, ca_dir=path(ca["dir"]), limits=limits, keys=keys,
                      weaker=tuple(sorted(set(sb.get("weaker", [])))), metrics=tuple(metrics),
                      metrics_refresh_s=refresh, backend=backend, tpm=tcti,
                      ek_intermediates=None if inter is None else path(inter))


def load(path: str | os.PathLike) -> NodeConfig:
    """Read and check a node.json file."""
    p = pathlib.Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise FormatError(f"{p}: cannot read ({e.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{p}: not JSON ({e})") from None
    return parse(obj, str(p), p.parent)
