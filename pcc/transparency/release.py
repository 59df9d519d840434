"""Releases: measure an installation, publish its ``release`` leaf once, verify it later.

- :func:`measure` computes the components of a release from real files: the installed ``pcc``
  package (code), model files (model) and a node config (config), as :mod:`pcc._measure` defines
  the digests.
- :func:`find_releases` reads a log's entries and returns the releases with a given name and
  version; :func:`publish` uses it to stay idempotent: a release whose name, version and
  components are already logged is not logged again, and one that differs from a logged release
  of the same name and version is refused. Waiting for the log (and its witnesses) is bounded by
  a deadline and reported through a progress callback.
- :func:`verify` checks a release leaf's inclusion proof and recomputes its digests from an
  installation, naming each difference.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import time
from collections.abc import Callable, Iterable, Sequence

import msgpack

from pcc import _measure, note
from pcc._internal.peer import PeerLimits, SyncPeer
from pcc.errors import FormatError, InvalidArgument, PccError, PeerError, VerifyError
from pcc.transparency import _note as tlognote
from pcc.transparency import leaves as leafmod
from pcc.transparency import tiles as tilemod
from pcc.transparency.client import CHECKPOINT_MAX, TileReader

#: Component names of the code and config measurements (also the attestation event names).
CODE_NAME = "pcc"
CONFIG_NAME = "node-config"

Progress = Callable[[str], None]
Component = tuple[str, str, bytes]          # (name, kind, sha384)


class PublishError(PccError):
    """Publishing did not complete: refused by the log, a conflicting release, or the deadline
    passed (``index`` is set when the log had already sequenced the leaf)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


def _quiet(_: str) -> None:
    pass


def installed_package_dir() -> pathlib.Path:
    """The directory of the ``pcc`` package this interpreter imports."""
    import pcc
    return pathlib.Path(pcc.__file__).resolve().parent


def load_config(path: str | os.PathLike) -> dict:
    """A node config file: one JSON object (duplicate keys refused)."""
    def no_dupes(pairs):
        d = {}
        for k, v in pairs:
            if k in d:
                raise FormatError(f"{path}: key {k!r} appears twice")
            d[k] = v
        return d
    try:
        obj = json.loads(pathlib.Path(path).read_text(encoding="utf-8"),
                         object_pairs_hook=no_dupes)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{path}: not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{path}: a node config must be a JSON object")
    return obj


def model_name(path: str | os.PathLike) -> str:
    """The default name of a model file: its file name without the last suffix."""
    return pathlib.Path(path).stem


def _size(path) -> str:
    n = float(os.path.getsize(path))
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _every_tenth(total: int, name: str, progress: Progress):
    """A byte-count callback that reports every 10 % of a large (>= 256 MiB) file."""
    if total < (256 << 20):
        return None
    step = total // 10
    state = {"next": step}

    def cb(done: int) -> None:
        if done >= state["next"] and done < total:
            progress(f"  {name}: {done * 100 // total} % hashed")
            state["next"] += step
    return cb


def measure(package_dir: str | os.PathLike | None = None,
            models: Sequence[tuple[str, str | os.PathLike]] = (),
            config: dict | None = None, *, progress: Progress = _quiet,
            manifest_out: list | None = None) -> list[Component]:
    """The components of a release: ``pcc`` (code, the tree manifest digest of
    ``package_dir``, default the installed package), each ``(name, path)`` model (model) and
    ``config`` (config, named ``node-config``) when given. The package's tree manifest is
    appended to ``manifest_out`` when given."""
    pkg = pathlib.Path(package_dir) if package_dir is not None else installed_package_dir()
    progress(f"measuring package {pkg}")
    text = _measure.tree_manifest(pkg)
    if manifest_out is not None:
        manifest_out.append(text)
    comps: list[Component] = [(CODE_NAME, "code", hashlib.sha384(text).digest())]
    for name, path in models:
        progress(f"measuring model {name} ({path}, {_size(path)})")
        comps.append((name, "model", _measure.model_digest(
            path, on_progress=_every_tenth(os.path.getsize(path), name, progress))))
    if config is not None:
        progress("measuring node config")
        comps.append((CONFIG_NAME, "config", _measure.config_digest(config)))
    names = [c[0] for c in comps]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InvalidArgument(f"component names must be distinct: {', '.join(sorted(dup))} "
                              "appears twice (use --model-name)")
    return comps


def components_of(d: dict) -> list[Component]:
    """``(name, kind, sha384)`` of a decoded release leaf, in order."""
    return [(c["name"], c["kind"], bytes(c["sha384"])) for c in d["components"]]


def same_components(a: Iterable[Component], b: Iterable[Component]) -> bool:
    """Whether two component lists are the same set (order does not matter)."""
    return sorted(a) == sorted(b)


def describe_difference(logged: Iterable[Component], local: Iterable[Component]) -> list[str]:
    """What differs between two component lists, one phrase per component."""
    a = {(n, k): h for n, k, h in logged}
    b = {(n, k): h for n, k, h in local}
    out = []
    for key in sorted(set(a) | set(b)):
        n, k = key
        if key not in b:
            out.append(f"{k} {n} only in the logged release")
        elif key not in a:
            out.append(f"{k} {n} only in this one")
        elif a[key] != b[key]:
            out.append(f"{k} {n} differs")
    return out


# ----------------------------------------------------------------------------- reading the log

@dataclasses.dataclass(frozen=True)
class LoggedRelease:
    """A release leaf found in the log."""

    index: int
    leaf: bytes
    name: str
    version: str
    created: int
    components: tuple[Component, ...]


def _log_size(reader: TileReader, log_vkey: str | None) -> int:
    r = reader.client.get(reader.base + "/checkpoint",
                          limits=dataclasses.replace(reader.client.limits,
                                                     max_body=CHECKPOINT_MAX))
    if r.status_code == 503:
        return 0                                    # nothing published yet
    if r.status_code != 200:
        raise PublishError(f"GET {reader.base}/checkpoint: HTTP {r.status_code}")
    try:
        n = tlognote.split_note(r.text)
        if log_vkey:
            tlognote.open_note(r.text, [tlognote.load_verifier(log_vkey)])
        return tlognote.parse_checkpoint(n.text).size
    except VerifyError:
        raise PublishError("the log's checkpoint does not verify with --log-vkey") from None
    except FormatError as e:
        raise PublishError(f"the log served an unreadable checkpoint: {e}") from None


def find_releases(log_url: str, name: str | None = None, version: str | None = None, *,
                  log_vkey: str | None = None, reader: TileReader | None = None,
                  limit: int | None = None) -> list[LoggedRelease]:
    """Every ``release`` leaf in the log's published tree (with ``name`` / ``version`` when
    given), read from its entry bundles through a bounded :class:`client.TileReader` (each
    answer capped, each request under a deadline). With ``log_vkey`` the checkpoint's signature
    is checked. With ``limit``, the scan stops once that many are found (the first ones, in log
    order). (A full audit, with every hash recomputed, is :class:`client.Auditor`.)"""
    own = reader is None
    rd = reader or TileReader(log_url)
    try:
        size = _log_size(rd, log_vkey)
        if size > tilemod.MAX_TREE_SIZE:
            raise PublishError("the log's checkpoint claims a tree larger than 2**63 - 1")
        out: list[LoggedRelease] = []
        full, part = divmod(size, tilemod.TILE_WIDTH)
        # one bundle at a time: the checkpoint's size is the log's claim, not a list to build
        for n in range(full + (1 if part else 0)):
            if limit is not None and len(out) >= limit:
                break
            t = tilemod.Tile(-1, n, tilemod.TILE_WIDTH if n < full else part)
            try:
                data = rd.tile(t)
            except FormatError as e:
                raise PublishError(f"{rd.base}/{t.path}: {e}") from None
            for i, leaf in enumerate(tilemod.decode_bundle(data, t.width)):
                try:
                    d = leafmod.decode(leaf)
                except FormatError:
                    continue
                if d["type"] != "release" or (name is not None and d["name"] != name) or \
                        (version is not None and d["version"] != version):
                    continue
                out.append(LoggedRelease(t.start + i, leaf, d["name"], d["version"],
                                         d["created"], tuple(components_of(d))))
                if limit is not None and len(out) >= limit:
                    break
        return out
    finally:
        if own:
            rd.close()


# ----------------------------------------------------------------------------- publishing

@dataclasses.dataclass(frozen=True)
class Published:
    """The outcome of :func:`publish`: where the leaf is, its proof, and whether it was already
    in the log before this call."""

    index: int
    proof: str
    leaf: bytes
    existing: bool


def _waiting_for(client: SyncPeer, base: str, witness_vkeys: Sequence[str]) -> str:
    """Which of the given witnesses cosigned the log's current checkpoint (for progress)."""
    if not witness_vkeys:
        return ""
    try:
        r = client.get(base + "/checkpoint", deadline_s=5.0)
        if r.status_code != 200:
            return ""
        n = tlognote.split_note(r.text)
        wits = [tlognote.load_verifier(w) for w in witness_vkeys]
        have = tlognote.verify_cosignatures(n.text, n.lines, wits)
        size = tlognote.parse_checkpoint(n.text).size
    except PccError:                                # PeerError included
        return ""
    missing = [w.name for w in wits if w.name not in have]
    return (f"; the latest checkpoint it published has size {size} and is cosigned by "
            f"{', '.join(sorted(have)) or 'none'} of the given witnesses"
            + (f" (not by {', '.join(missing)})" if missing else "")
            + "; is one of the log's witnesses down?")


def submit_until(log_url: str, leaf: bytes, sig: bytes, deadline: float, *,
                 progress: Progress = _quiet, witness_vkeys: Sequence[str] = (),
                 client: SyncPeer | None = None) -> tuple[int, str]:
    """POST the leaf until the log answers with its index and proof, or ``deadline``
    (``time.monotonic()``) passes (:class:`PublishError`). 503 answers (the log sequenced the
    entry but has no checkpoint cosigned by its witness quorum yet, or is busy) and connection
    errors are retried; the log answers a repeated leaf with its existing index, so retrying
    never adds a second entry."""
    base = log_url.rstrip("/")
    body = msgpack.packb({"leaf": bytes(leaf), "sig": bytes(sig)}, use_bin_type=True)
    own = client is None
    c = client or SyncPeer(base, PeerLimits(deadline_s=max(deadline - time.monotonic(), 0.1),
                                            max_body=CHECKPOINT_MAX))
    index = None
    last = "no answer"
    delay = 0.5
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                r = c.post(base + "/add", body, deadline_s=max(left, 0.1),
                           headers={"content-type": "application/msgpack"})
            except PeerError as e:
                if e.limit == "deadline":
                    if index is None:
                        last = "the log did not answer in time"
                    continue
                last = f"the log is unreachable ({e.problem})"
                progress(f"{last}; retrying")
            else:
                if r.status_code == 200:
                    try:
                        obj = msgpack.unpackb(r.content, raw=False)
                        return int(obj["index"]), str(obj["proof"])
                    except (ValueError, KeyError, TypeError) as e:
                        raise PublishError(f"the log answered an unreadable body: {e}") from None
                try:
                    err = json.loads(r.content)
                except ValueError:
                    err = {"error": r.text[:200]}
                msg = str(err.get("error", ""))[:300] if isinstance(err, dict) else ""
                if r.status_code != 503:
                    raise PublishError(f"the log refused the release: HTTP {r.status_code}: "
                                       f"{msg}")
                if isinstance(err, dict) and isinstance(err.get("index"), int):
                    index = err["index"]
                    last = (f"the log sequenced the release at index {index} and is waiting for "
                            f"its witness quorum to cosign a checkpoint that covers it"
                            + _waiting_for(c, base, witness_vkeys))
                else:
                    last = f"the log is busy ({msg})"
                progress(f"waiting: {last}")
            pause = min(delay, max(deadline - time.monotonic(), 0))
            time.sleep(pause)
            delay = min(delay * 2, 5.0)
    finally:
        if own:
            c.close()
    raise PublishError(f"gave up waiting: {last}", index=index)


def publish(log_url: str, skey: str | note.Signer, name: str, version: str,
            components: list[Component], *,
            created: int | None = None, pending_leaf: bytes | None = None,
            timeout: float = 120.0, log_vkey: str | None = None,
            witness_vkeys: Sequence[str] = (), progress: Progress = _quiet,
            before_submit: Callable[[bytes], None] | None = None) -> Published:
    """Log a release once, signed with ``skey`` (a publisher ``note.Signer``, or skey text).

    Looks for releases named ``name`` ``version`` in the log first: identical components → the
    existing entry is returned (``existing=True``) and nothing is added; different components →
    :class:`PublishError` naming the existing index. Otherwise the leaf is built (``created``
    defaults to the ``created`` of ``pending_leaf`` when that is an earlier attempt at the same
    release, so a retry resends identical bytes, else to now), handed to ``before_submit`` (to
    save it), and submitted until the log returns its proof or ``timeout`` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    signer = tlognote.load_signer(skey) if isinstance(skey, str) else skey
    progress(f"looking for {name} {version} in the log {log_url}")
    found: list[LoggedRelease] = []
    with TileReader(log_url, deadline_s=min(30.0, max(timeout, 1.0))) as reader:
        c = reader.client
        while True:
            try:
                found = find_releases(log_url, name, version, log_vkey=log_vkey, reader=reader)
                break
            except PeerError as e:
                if time.monotonic() >= deadline:
                    raise PublishError(f"the log {log_url} is unreachable "
                                       f"({e.problem})") from None
                progress(f"the log is unreachable ({e.problem}); retrying")
                time.sleep(min(1.0, max(deadline - time.monotonic(), 0)))
        same = [r for r in found if same_components(r.components, components)]
        other = [r for r in found if r not in same]
        if other:
            o = other[0]
            raise PublishError(
                f"release {name} {version} is already logged at index {o.index} with other "
                f"components ({'; '.join(describe_difference(o.components, components))}); "
                "publish it under a new version", index=o.index)
        if same:
            leaf = same[0].leaf
            progress(f"{name} {version} is already logged at index {same[0].index} with the "
                     "same components; fetching its proof")
        else:
            leaf = None
            if pending_leaf is not None:
                try:
                    d = leafmod.decode(pending_leaf)
                    if d["type"] == "release" and d["name"] == name and \
                            d["version"] == version and \
                            same_components(components_of(d), components) and \
                            (created is None or created == d["created"]):
                        leaf = bytes(pending_leaf)
                        progress("resending the leaf of an earlier attempt (same bytes)")
                except FormatError:
                    pass
            if leaf is None:
                leaf = leafmod.release(name, version,
                                       int(time.time()) if created is None else created,
                                       components)
        assert leaf is not None
        if before_submit is not None:
            before_submit(leaf)
        progress(f"submitting {name} {version} to {log_url} (waiting at most "
                 f"{max(deadline - time.monotonic(), 0):.0f} s for the log and its witnesses)")
        index, proof = submit_until(log_url, leaf, tlognote.raw_sign(signer, leaf), deadline,
                                    progress=progress, witness_vkeys=witness_vkeys, client=c)
    return Published(index, proof, leaf, bool(same))


# ----------------------------------------------------------------------------- verifying

@dataclasses.dataclass(frozen=True)
class Check:
    """One line of a release verification report: ``ok`` is None for a skipped check."""

    name: str
    ok: bool | None
    detail: str


@dataclasses.dataclass
class Report:
    """The result of :func:`verify`: every check in order."""

    checks: list[Check]
    release: dict | None = None

    @property
    def ok(self) -> bool:
        """True when no check failed and at least the leaf and its proof passed."""
        return all(c.ok is not False for c in self.checks) and \
            any(c.name == "transparency" and c.ok for c in self.checks)

    @property
    def failed(self) -> list[str]:
        """Names of the failed checks."""
        return [c.name for c in self.checks if c.ok is False]

    def __str__(self) -> str:
        word = {True: "OK  ", False: "FAIL", None: "SKIP"}
        lines = [f"{word[c.ok]} {c.name}: {c.detail}" for c in self.checks]
        if self.ok:
            lines.append(f"OK: all {sum(1 for c in self.checks if c.ok)} checks passed")
        else:
            lines.append(f"FAIL: {len(self.failed)} of "
                         f"{sum(1 for c in self.checks if c.ok is not None)} checks failed "
                         f"({', '.join(self.failed)})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        rel = None
        if self.release is not None:
            rel = {"name": self.release["name"], "version": self.release["version"],
                   "created": self.release["created"],
                   "components": [{"name": n, "kind": k, "sha384": h.hex()}
                                  for n, k, h in components_of(self.release)]}
        return {"ok": self.ok, "failed": self.failed, "release": rel,
                "checks": [dataclasses.asdict(c) for c in self.checks]}


def _short(h: bytes) -> str:
    return h.hex()[:16] + "…"


def verify(leaf: bytes, proof: str, log_vkey: str, witness_vkeys: Sequence[str] = (),
           quorum: int | None = None, *, package_dir: str | os.PathLike | None = None,
           models: Sequence[tuple[str, str | os.PathLike]] = (), config: dict | None = None,
           manifest: bytes | None = None, max_age_s: float | None = None,
           now: float | None = None) -> Report:
    """Verify a logged release against an installation; never raises for bad input.

    Checks, in order: ``leaf`` (a valid release leaf), ``transparency`` (included per
    ``proof`` under a checkpoint signed by ``log_vkey`` and cosigned by ``quorum`` of
    ``witness_vkeys``, default all), then one check per component given: ``code pcc``
    (the tree manifest digest of ``package_dir``), ``model NAME`` per ``(name, path)``,
    ``config node-config``. Logged components with nothing to compare are reported as skipped.
    ``manifest`` (the tree manifest published with the release) lets a code mismatch name the
    files that differ.
    """
    checks: list[Check] = []
    try:
        d = leafmod.decode(leaf)
        if d["type"] != "release":
            raise FormatError(f"leaf: a {d['type']} leaf, not a release")
    except (FormatError, TypeError) as e:
        checks.append(Check("leaf", False, str(e)))
        return Report(checks)
    comps = components_of(d)
    checks.append(Check("leaf", True, f"release {d['name']} {d['version']} created "
                                      f"{d['created']}, {len(comps)} components, digest "
                                      f"{leafmod.release_digest(leaf).hex()}"))
    wits = list(witness_vkeys)
    q = len(wits) if quorum is None else quorum
    from pcc import transparency
    try:
        index, cp = transparency.verify_proof(leaf, proof, log_vkey, wits, q, max_age_s, now=now)
        checks.append(Check("transparency", True,
                            f"included at index {index} of {cp.origin} (tree size {cp.size}), "
                            f"checkpoint cosigned by at least {q} of {len(wits)} witnesses"))
    except (PccError, TypeError) as e:
        checks.append(Check("transparency", False, str(e)))

    logged = {(n, k): h for n, k, h in comps}
    checked: set[tuple[str, str]] = set()

    def compare(kind: str, name: str, compute, explain=None) -> None:
        label = f"{kind} {name}"
        want = logged.get((name, kind))
        if want is None:
            checks.append(Check(label, False, f"the release has no {kind} component named "
                                              f"{name!r}"))
            return
        checked.add((name, kind))
        try:
            got = compute()
        except (PccError, OSError) as e:
            checks.append(Check(label, False, f"could not measure: {e}"))
            return
        if got == want:
            checks.append(Check(label, True, f"sha384 {_short(got)} matches"))
        else:
            extra = explain() if explain else ""
            checks.append(Check(label, False, f"sha384 differs: logged {_short(want)}, local "
                                              f"{_short(got)}{extra}"))

    if package_dir is not None:
        local_manifest: list[bytes] = []

        def code():
            local_manifest.append(_measure.tree_manifest(package_dir))
            return hashlib.sha384(local_manifest[0]).digest()

        def explain():
            if manifest is None:
                return " (give the release's .manifest file to see which files differ)"
            if hashlib.sha384(manifest).digest() != logged.get((CODE_NAME, "code")):
                return " (the manifest file given is not the logged one)"
            try:
                diff = _measure.diff_tree_manifests(_measure.parse_tree_manifest(manifest),
                                                    _measure.parse_tree_manifest(
                                                        local_manifest[0]))
            except FormatError as e:
                return f" ({e})"
            return ": " + ", ".join(diff[:20]) + (f" and {len(diff) - 20} more"
                                                  if len(diff) > 20 else "")

        compare("code", CODE_NAME, code, explain)
    for name, path in models:
        compare("model", name, lambda p=path: _measure.model_digest(p))
    if config is not None:
        compare("config", CONFIG_NAME, lambda: _measure.config_digest(config))
    for n, k, _ in comps:
        if (n, k) not in checked and not any(c.name == f"{k} {n}" for c in checks):
            checks.append(Check(f"{k} {n}", None, "not checked (nothing given to compare)"))
    return Report(checks, d)


__all__ = [
    "CODE_NAME",
    "CONFIG_NAME",
    "Check",
    "LoggedRelease",
    "PublishError",
    "Published",
    "Report",
    "components_of",
    "describe_difference",
    "find_releases",
    "installed_package_dir",
    "load_config",
    "measure",
    "model_name",
    "publish",
    "same_components",
    "submit_until",
    "verify",
]
