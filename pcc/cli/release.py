"""``pcc release``: measure an installation, publish its release to the log once, verify it."""
from __future__ import annotations

import json
import os
import pathlib
import sys
import time

from pcc.errors import PccError
from pcc.cli._common import (EXIT_FAIL, EXIT_OK, INSECURE_NO_WITNESSES_HELP, _err, _guard,
                             _key_arg, skey_arg, witness_quorum)


def _progress(msg: str) -> None:
    print(f"pcc: {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- manifest mode

def manifest_components(manifest_path: str | os.PathLike) -> tuple[str, str, list]:
    """Read a release manifest: ``(name, version, components)``.

    Manifest (JSON): ``{"name": str, "version": str, "files": [{"path": str,
    "kind": "code"|"model"|"config", "name": str (optional, default: the file name)}]}``; paths
    are relative to the manifest's directory. Each component's ``sha384`` is computed from the
    file's bytes.
    """
    from pcc import _measure
    from pcc.errors import FormatError
    from pcc.transparency import leaves
    mp = pathlib.Path(manifest_path)
    try:
        m = json.loads(mp.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FormatError(f"manifest is not JSON: {e}") from None
    if not isinstance(m, dict) or set(m) != {"name", "version", "files"}:
        raise FormatError('manifest must have exactly "name", "version" and "files"')
    if not isinstance(m["files"], list) or not m["files"]:
        raise FormatError('manifest "files" must be a non-empty list')
    comps = []
    for i, f in enumerate(m["files"]):
        if not isinstance(f, dict) or "path" not in f or "kind" not in f or \
                set(f) - {"path", "kind", "name"}:
            raise FormatError(f"manifest files[{i}] must have path, kind and optional name")
        if f["kind"] not in leaves.KINDS:
            raise FormatError(f"manifest files[{i}].kind must be one of "
                              f"{', '.join(leaves.KINDS)}")
        p = pathlib.Path(f["path"])
        if not p.is_absolute():
            p = mp.parent / p
        comps.append((f.get("name", p.name), f["kind"], _measure.model_digest(p)))
    return m["name"], m["version"], comps


def build_release_leaf(manifest_path: str | os.PathLike, created: int | None = None) -> bytes:
    """The ``release`` leaf of a manifest (see :func:`manifest_components`)."""
    from pcc.transparency import leaves
    name, version, comps = manifest_components(manifest_path)
    return leaves.release(name, version, int(time.time()) if created is None else created, comps)


# ----------------------------------------------------------------------------- publish

def _write(path: pathlib.Path, data: bytes) -> None:
    from pcc.provision import _write_atomic, _write_bytes
    _write_atomic(path, _write_bytes(data), 0o644)


def _models(args) -> list[tuple[str, str]]:
    from pcc.transparency import release as rel
    names = list(args.model_name or [])
    if len(names) > len(args.model):
        raise ValueError("more --model-name than --model")
    return [(names[i] if i < len(names) else rel.model_name(p), p)
            for i, p in enumerate(args.model)]


def cmd_release_publish(args) -> int:
    """``release publish``: measure, then log the release once; save leaf and proof."""
    from pcc import transparency
    from pcc.transparency import leaves
    from pcc.transparency import release as rel
    progress = (lambda m: None) if args.quiet else _progress
    manifest_text = None
    try:
        if args.manifest:
            if args.package or args.model or args.config or args.name or args.version:
                return _err("give either a manifest file or --name/--version with --package, "
                            "--model and --config, not both")
            progress(f"measuring the files of {args.manifest}")
            name, version, comps = manifest_components(args.manifest)
            mp = pathlib.Path(args.manifest)
            base = mp.with_suffix("") if mp.suffix else mp
        else:
            if not args.name or not args.version:
                return _err("--name and --version are required (or give a manifest file)")
            name, version = args.name, args.version
            try:
                models = _models(args)
            except ValueError as e:
                return _err(str(e))
            config = rel.load_config(args.config) if args.config else None
            pkg = args.package or rel.installed_package_dir()
            texts: list[bytes] = []
            comps = rel.measure(pkg, models, config, progress=progress, manifest_out=texts)
            manifest_text = texts[0]
            base = pathlib.Path(args.out) if args.out else \
                pathlib.Path(f"{name}-{version}".replace("/", "_"))
        leaf_path = base.with_name(base.name + ".leaf")
        proof_path = base.with_name(base.name + ".tlog-proof")
        pending = leaf_path.read_bytes() if leaf_path.is_file() else None
        wits = [_key_arg(w) for w in args.witness]
        log_vkey = _key_arg(args.log_vkey) if args.log_vkey else None
        result = rel.publish(
            args.log, args.key, name, version, comps,
            created=args.created, pending_leaf=pending, timeout=args.timeout,
            log_vkey=log_vkey, witness_vkeys=wits, progress=progress,
            before_submit=lambda leaf: _write(leaf_path, leaf))
        if log_vkey:
            wits, quorum = witness_quorum(args)
            transparency.verify_proof(result.leaf, result.proof, log_vkey, wits, quorum, None)
    except rel.PublishError as e:
        msg = str(e)
        if e.index is not None and "gave up" in msg:
            msg += (f"\nThe leaf is saved in {leaf_path}; run the same command again later: it "
                    "resends the same bytes, so the log cannot end up with a second copy")
        return _err(msg)
    except (PccError, OSError) as e:
        return _err(str(e))
    _write(leaf_path, result.leaf)
    _write(proof_path, result.proof.encode("utf-8"))
    if manifest_text is not None:
        _write(base.with_name(base.name + ".manifest"), manifest_text)
    digest = leaves.release_digest(result.leaf).hex()
    if args.json:
        print(json.dumps({"name": name, "version": version, "index": result.index,
                          "existing": result.existing, "digest": digest,
                          "leaf": str(leaf_path), "proof": str(proof_path)}))
    elif result.existing:
        print(f"release {name} {version} is already logged at index {result.index} with the "
              f"same components; nothing added. Digest {digest}; leaf in {leaf_path}, proof "
              f"in {proof_path}")
    else:
        print(f"release {name} {version} logged at index {result.index}, digest {digest}; "
              f"leaf in {leaf_path}, proof in {proof_path}")
    return EXIT_OK


# ----------------------------------------------------------------------------- verify

def cmd_release_verify(args) -> int:
    """``release verify``: check a release's proof and recompute its digests."""
    from pcc.transparency import release as rel
    try:
        leaf = pathlib.Path(args.leaf).read_bytes()
        proof = pathlib.Path(args.proof).read_text(encoding="utf-8")
        models = _models(args)
        config = rel.load_config(args.config) if args.config else None
        manifest = pathlib.Path(args.manifest).read_bytes() if args.manifest else None
        if manifest is None and args.package:
            guess = pathlib.Path(args.leaf).with_suffix(".manifest")
            manifest = guess.read_bytes() if guess.is_file() else None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return _err(str(e))
    try:
        wits, quorum = witness_quorum(args)
    except PccError as e:
        return _err(str(e))
    package = args.package
    if package is None and args.installed:
        package = rel.installed_package_dir()
    report = rel.verify(leaf, proof, _key_arg(args.log_vkey), [_key_arg(w) for w in wits],
                        quorum, package_dir=package, models=models, config=config,
                        manifest=manifest, max_age_s=args.max_age)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report)
    return EXIT_OK if report.ok else EXIT_FAIL


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    rp = subparsers.add_parser(
        "release", help="measure, publish and verify releases",
        description="A release names what nodes run: the pcc package (code), model files "
                    "(model) and the node config (config), each by its SHA-384 digest, logged "
                    "once in the transparency log.")
    rs = rp.add_subparsers(dest="release_cmd", required=True, metavar="COMMAND")

    p = rs.add_parser(
        "publish", help="measure an installation and log its release once",
        description="Measure the package, models and config, then log the release leaf. If the "
                    "log already holds this name and version with the same components, nothing "
                    "is added and its index and proof are saved; with other components the "
                    "command fails. Writes PREFIX.leaf, PREFIX.tlog-proof and PREFIX.manifest "
                    "(the package's file list). Progress goes to stderr.")
    p.add_argument("--log", required=True, metavar="URL", help="log URL (prefix of /add)")
    p.add_argument("--key", required=True, metavar="SKEY_FILE", type=skey_arg("--key"),
                   help="publisher skey file (read into wiped memory, parsed at once)")
    p.add_argument("--name", help="release name, e.g. pcc-node")
    p.add_argument("--version", help="release version, e.g. 0.3.0")
    p.add_argument("--package", metavar="DIR",
                   help="package directory to measure (default: the installed pcc package)")
    p.add_argument("--model", action="append", default=[], metavar="PATH",
                   help="model file (GGUF) to measure; repeatable")
    p.add_argument("--model-name", action="append", default=[], metavar="NAME",
                   help="name of the matching --model, in order (default: the file name "
                        "without its suffix)")
    p.add_argument("--config", metavar="FILE", help="node config (JSON object) to measure")
    p.add_argument("--created", type=int, default=None, metavar="UNIX_S",
                   help="release time, unix seconds (default: now, or the time of an earlier "
                        "unfinished attempt at the same release)")
    p.add_argument("--out", metavar="PREFIX",
                   help="where to write PREFIX.leaf/.tlog-proof/.manifest (default: "
                        "NAME-VERSION in the current directory)")
    p.add_argument("--log-vkey", metavar="VKEY",
                   help="log vkey (or file): check the checkpoint and the returned proof")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY",
                   help="witness cosigner vkey (or file) for checking the proof and reporting "
                        "which witness is missing; repeatable")
    p.add_argument("--quorum", type=int, default=None, metavar="N",
                   help="witness cosignatures the proof needs (default: all --witness)")
    p.add_argument("--insecure-no-witnesses", action="store_true",
                   help=INSECURE_NO_WITNESSES_HELP)
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help="seconds to wait in all for the log and its witnesses (default: 120)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true",
                   help="print the outcome as JSON (index, existing, digest, files)")
    p.add_argument("manifest", nargs="?", metavar="MANIFEST",
                   help="instead of measuring an installation: a JSON manifest of files "
                        "({name, version, files: [{path, kind, name?}]})")
    p.set_defaults(func=_guard(cmd_release_publish))

    p = rs.add_parser(
        "verify", help="check a release's proof and recompute its digests",
        description="Verify the release leaf's inclusion proof against the pinned log and "
                    "witness keys, then recompute the digests of the given package, models and "
                    "config and compare them with the logged release. Prints one line per "
                    "check; exit status 0 only if every check passes.")
    p.add_argument("--leaf", required=True, metavar="FILE", help="the release leaf")
    p.add_argument("--proof", required=True, metavar="FILE", help="its tlog-proof")
    p.add_argument("--log-vkey", required=True, metavar="VKEY", help="log vkey (or file)")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY",
                   help="witness cosigner vkey (or file); repeatable")
    p.add_argument("--quorum", type=int, default=None, metavar="N",
                   help="witness cosignatures required (default: all --witness)")
    p.add_argument("--insecure-no-witnesses", action="store_true",
                   help=INSECURE_NO_WITNESSES_HELP)
    p.add_argument("--max-age", type=float, default=None, metavar="SECONDS",
                   help="also require the cosignatures to be at most this old")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--package", metavar="DIR", help="package directory to measure")
    g.add_argument("--installed", action="store_true",
                   help="measure the installed pcc package")
    p.add_argument("--manifest", metavar="FILE",
                   help="the release's .manifest file, to name the files that differ (default: "
                        "the leaf's name with suffix .manifest, if present)")
    p.add_argument("--model", action="append", default=[], metavar="PATH",
                   help="model file to measure; repeatable")
    p.add_argument("--model-name", action="append", default=[], metavar="NAME",
                   help="name of the matching --model (default: file name without suffix)")
    p.add_argument("--config", metavar="FILE", help="node config (JSON) to measure")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_guard(cmd_release_verify))
