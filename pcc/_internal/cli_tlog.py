"""CLI for the transparency log: ``pcc log``, ``pcc witness`` and ``pcc release``.

``register(subparsers)`` adds the three command groups to the ``pcc`` parser; ``main()`` runs
them stand-alone (``python -m pcc._internal.cli_tlog log serve ...``).

- ``pcc log keygen NAME [--cosigner] [--out PREFIX]``: write ``PREFIX.skey`` / ``PREFIX.vkey``.
- ``pcc log serve --db PATH --origin ORIGIN --key SKEY_FILE [--publisher VKEY]…
  [--witness URL=VKEY]… [--quorum N] [--host H] [--port P]``.
- ``pcc log add-key ohttp --log URL --key SKEY_FILE --gateway NAME --configs FILE
  (--not-after UNIX | --ttl-hours H)`` and ``pcc log add-key issuer … --issuer NAME --spki FILE``.
- ``pcc log audit --log URL --vkey VKEY [--witness VKEY…] [--quorum N] [--state FILE]
  [--follow]``: replay and check the whole log; exit 1 on any inconsistency.
- ``pcc witness keygen NAME`` / ``pcc witness serve --db PATH --key SKEY_FILE
  --log ORIGIN=VKEY… [--host H] [--port P]``.
- ``pcc release publish --log URL --key SKEY_FILE [--log-vkey VKEY --witness VKEY…]
  MANIFEST``: hash the manifest's files (SHA-384), log a ``release`` leaf, save
  ``<manifest>.leaf`` and ``<manifest>.tlog-proof`` next to the manifest.

Key arguments (VKEY, the part after ``=``) take either the key string or a file holding it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import sys
import time

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def _key_arg(value: str) -> str:
    """A key given inline or as a path to a file with one key line."""
    from pcc._internal import tlognote
    p = pathlib.Path(value)
    if p.is_file():
        return tlognote.read_key_file(p)
    return value.strip()


def _pair(value: str, what: str) -> tuple[str, str]:
    """``LEFT=KEY`` split at the first ``=`` (vkeys end in base64 and may contain ``=``)."""
    left, sep, right = value.partition("=")
    if not sep or not left or not right:
        raise argparse.ArgumentTypeError(f"{what} must be LEFT=VKEY")
    return left, _key_arg(right)


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return EXIT_ERROR


def _guard(fn):
    """Run a command, turning pcc errors and OS errors into a message and exit status 2."""
    def run(args) -> int:
        from pcc.errors import PccError
        try:
            return fn(args)
        except (PccError, OSError) as e:
            return _err(f"{type(e).__name__}: {e}")
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


# ----------------------------------------------------------------------------- log

def cmd_keygen(args) -> int:
    """``log keygen`` / ``witness keygen``: write NAME.skey (0600) and NAME.vkey."""
    from pcc._internal import tlognote
    skey, vkey = tlognote.generate(args.name, cosigner=args.cosigner)
    prefix = args.out or args.name.replace("/", "_")
    sk, vk = pathlib.Path(prefix + ".skey"), pathlib.Path(prefix + ".vkey")
    if sk.exists() and not args.force:
        return _err(f"{sk} exists (use --force to overwrite)")
    fd = os.open(sk, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(skey + "\n")
    vk.write_text(vkey + "\n", encoding="utf-8")
    print(vkey)
    return EXIT_OK


def _serve(app, host: str, port: int) -> int:
    import uvicorn
    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("PCC_LOG_LEVEL", "warning"),
                access_log=False, lifespan="on")
    return EXIT_OK


def cmd_log_serve(args) -> int:
    """``log serve``: run the log service under uvicorn."""
    from pcc._internal import tlognote
    from pcc.services.tlog import LogConfig, create_app
    cfg = LogConfig(db_path=args.db, origin=args.origin, skey=tlognote.read_key_file(args.key),
                    publishers=tuple(_key_arg(v) for v in args.publisher),
                    witnesses=tuple(args.witness), quorum=args.quorum,
                    batch_interval_ms=args.batch_ms, batch_max=args.batch_max,
                    add_timeout_s=args.add_timeout, refresh_interval_s=args.refresh_interval)
    if not 0 <= cfg.resolved_quorum() <= len(cfg.witnesses):
        return _err("--quorum must be between 0 and the number of --witness")
    tlognote.load_signer(cfg.skey)                    # fail here, not inside uvicorn
    for v in cfg.publishers + tuple(vk for _, vk in cfg.witnesses):
        tlognote.load_verifier(v)
    return _serve(create_app(cfg), args.host, args.port)


def _submit(args, leaf: bytes) -> tuple[int, str]:
    from pcc._internal import tlognote
    from pcc._internal.tlogclient import submit
    signer = tlognote.load_signer(tlognote.read_key_file(args.key))   # seed held in C
    sig = tlognote.raw_sign(signer, leaf)
    index, proof = submit(args.log, leaf, sig, timeout=args.timeout)
    if args.log_vkey:
        from pcc import transparency
        wits = [_key_arg(w) for w in args.witness]
        quorum = len(wits) if args.quorum is None else args.quorum
        transparency.verify_proof(leaf, proof, _key_arg(args.log_vkey), wits, quorum, None)
    return index, proof


def _not_after(args) -> int:
    if args.not_after is not None:
        return args.not_after
    return int(time.time() + args.ttl_hours * 3600)


def cmd_add_key(args) -> int:
    """``log add-key ohttp|issuer``: log a key leaf and save its proof."""
    from pcc._internal import leaves
    from pcc.errors import PccError
    try:
        if args.kind == "ohttp":
            src = pathlib.Path(args.configs)
            leaf = leaves.ohttp_keys(args.gateway, src.read_bytes(), _not_after(args))
        else:
            src = pathlib.Path(args.spki)
            leaf = leaves.issuer_key(args.issuer, src.read_bytes(), _not_after(args))
        index, proof = _submit(args, leaf)
    except (PccError, OSError) as e:
        return _err(str(e))
    out = pathlib.Path(args.out) if args.out else src.with_name(src.name + ".tlog-proof")
    out.write_text(proof, encoding="utf-8")
    out.with_suffix(".leaf").write_bytes(leaf)
    print(f"logged {leaves.decode(leaf)['type']} at index {index}; proof in {out}")
    return EXIT_OK


def cmd_audit(args) -> int:
    """``log audit``: replay and check the log; exit 1 on any inconsistency."""
    import httpx
    from pcc._internal import leaves
    from pcc._internal.tlogclient import AuditFailure, Auditor, AuditState, TileReader
    from pcc.errors import PccError

    def on_entry(idx, leaf, d, err):
        if args.quiet:
            return
        if d is None:
            print(f"{idx:8d}  INVALID  {err}")
        else:
            extra = ""
            if d["type"] == "release":
                extra = f"  digest={leaves.release_digest(leaf).hex()}"
            print(f"{idx:8d}  {leaves.describe(d)}{extra}")

    wits = [_key_arg(w) for w in args.witness]
    quorum = len(wits) if args.quorum is None else args.quorum
    try:
        with httpx.Client(timeout=30.0) as client:
            auditor = Auditor(TileReader(args.log, client), _key_arg(args.vkey), wits, quorum,
                              on_entry=on_entry)
            state = AuditState.load(args.state) if args.state else None
            while True:
                try:
                    state = auditor.run_once(state)
                except AuditFailure as f:
                    print(f.report(), file=sys.stderr)
                    return EXIT_FAIL
                if args.state:
                    state.save(args.state)
                print(f"ok: {state.origin} size {state.size} root {state.root.hex()} "
                      f"witnesses {sorted(auditor.witnessed)} "
                      f"leaves {dict(sorted(auditor.counts.items()))}", file=sys.stderr)
                if not args.follow:
                    return EXIT_OK
                time.sleep(args.interval)
    except (PccError, OSError, httpx.HTTPError) as e:
        return _err(f"{type(e).__name__}: {e}")


# ----------------------------------------------------------------------------- witness

def cmd_witness_serve(args) -> int:
    """``witness serve``: run the witness service under uvicorn."""
    from pcc._internal import tlognote
    from pcc.services.witness import WitnessConfig, create_app
    cfg = WitnessConfig(db_path=args.db, skey=tlognote.read_key_file(args.key),
                        logs=tuple(args.log))
    for _, vk in cfg.logs:                            # fail here, not inside uvicorn
        tlognote.load_verifier(vk)
    return _serve(create_app(cfg), args.host, args.port)


# ----------------------------------------------------------------------------- release

def build_release_leaf(manifest_path: str | os.PathLike, created: int | None = None) -> bytes:
    """Read a release manifest and return the ``release`` leaf.

    Manifest (JSON): ``{"name": str, "version": str, "files": [{"path": str,
    "kind": "code"|"model"|"config", "name": str (optional, default: the file name)}]}``; paths
    are relative to the manifest's directory. Each component's ``sha384`` is computed from the
    file.
    """
    from pcc._internal import leaves
    from pcc.errors import FormatError
    mp = pathlib.Path(manifest_path)
    try:
        m = json.loads(mp.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FormatError(f"manifest is not JSON: {e}") from None
    if not isinstance(m, dict) or set(m) - {"name", "version", "files"} or \
            not {"name", "version", "files"} <= set(m):
        raise FormatError('manifest must have exactly "name", "version" and "files"')
    if not isinstance(m["files"], list) or not m["files"]:
        raise FormatError('manifest "files" must be a non-empty list')
    comps = []
    for i, f in enumerate(m["files"]):
        if not isinstance(f, dict) or "path" not in f or "kind" not in f or \
                set(f) - {"path", "kind", "name"}:
            raise FormatError(f"manifest files[{i}] must have path, kind and optional name")
        p = pathlib.Path(f["path"])
        if not p.is_absolute():
            p = mp.parent / p
        h = hashlib.sha384()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        comps.append((f.get("name", p.name), f["kind"], h.digest()))
    return leaves.release(m["name"], m["version"],
                          int(time.time()) if created is None else created, comps)


def cmd_release_publish(args) -> int:
    """``release publish``: log a release manifest, save the leaf and proof beside it."""
    from pcc._internal import leaves
    from pcc.errors import PccError
    try:
        leaf = build_release_leaf(args.manifest, args.created)
        index, proof = _submit(args, leaf)
    except (PccError, OSError) as e:
        return _err(str(e))
    mp = pathlib.Path(args.manifest)
    base = mp.with_suffix("") if mp.suffix else mp
    leaf_path = base.with_name(base.name + ".leaf")
    proof_path = base.with_name(base.name + ".tlog-proof")
    leaf_path.write_bytes(leaf)
    proof_path.write_text(proof, encoding="utf-8")
    print(f"release {leaves.decode(leaf)['name']} logged at index {index}, "
          f"digest {leaves.release_digest(leaf).hex()}; leaf in {leaf_path}, proof in "
          f"{proof_path}")
    return EXIT_OK


# ----------------------------------------------------------------------------- parser

def _add_submit_args(p) -> None:
    p.add_argument("--log", required=True, help="log URL (prefix of /add)")
    p.add_argument("--key", required=True, help="publisher skey file")
    p.add_argument("--log-vkey", help="verify the returned proof with this log vkey")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY",
                   help="witness cosigner vkey for verifying the proof (repeatable)")
    p.add_argument("--quorum", type=int, default=None)
    p.add_argument("--timeout", type=float, default=60.0)


def register(subparsers) -> None:
    """Add the ``log``, ``witness`` and ``release`` command groups to a subparsers object."""
    # log
    lp = subparsers.add_parser("log", help="transparency log: serve, keys, audit")
    ls = lp.add_subparsers(dest="log_cmd", required=True)

    p = ls.add_parser("keygen", help="write NAME.skey and NAME.vkey")
    p.add_argument("name")
    p.add_argument("--cosigner", action="store_true",
                   help="a witness cosigner key (tlog-cosignature, type 0x04)")
    p.add_argument("--out", help="file prefix (default: NAME)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=_guard(cmd_keygen))

    p = ls.add_parser("serve", help="run the log service")
    p.add_argument("--db", required=True)
    p.add_argument("--origin", required=True)
    p.add_argument("--key", required=True, help="log skey file")
    p.add_argument("--publisher", action="append", default=[], metavar="VKEY")
    p.add_argument("--witness", action="append", default=[], metavar="URL=VKEY",
                   type=lambda v: _pair(v, "--witness"))
    p.add_argument("--quorum", type=int, default=None,
                   help="witness cosignatures required before publishing (default: all)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8470)
    p.add_argument("--batch-ms", type=float, default=5.0)
    p.add_argument("--batch-max", type=int, default=512)
    p.add_argument("--add-timeout", type=float, default=30.0,
                   help="seconds an add waits for a witnessed checkpoint before answering 503")
    p.add_argument("--refresh-interval", type=float, default=600.0,
                   help="seconds after which an unchanged checkpoint is cosigned again")
    p.set_defaults(func=_guard(cmd_log_serve))

    p = ls.add_parser("add-key", help="log an ohttp-keys or issuer-key leaf")
    p.add_argument("kind", choices=["ohttp", "issuer"])
    _add_submit_args(p)
    p.add_argument("--gateway", help="gateway name (ohttp)")
    p.add_argument("--configs", help="application/ohttp-keys file (ohttp)")
    p.add_argument("--issuer", help="issuer name (issuer)")
    p.add_argument("--spki", help="issuer public key, DER SPKI file (issuer)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--not-after", type=int, default=None, help="expiry, unix seconds")
    g.add_argument("--ttl-hours", type=float, default=48.0)
    p.add_argument("--out", help="where to write the proof")
    p.set_defaults(func=_guard(cmd_add_key))

    p = ls.add_parser("audit", help="replay and check a log")
    p.add_argument("--log", required=True)
    p.add_argument("--vkey", required=True, help="log vkey")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY")
    p.add_argument("--quorum", type=int, default=None, help="default: all --witness keys")
    p.add_argument("--state", help="state file: last checkpoint seen")
    p.add_argument("--follow", action="store_true", help="keep auditing new checkpoints")
    p.add_argument("--interval", type=float, default=10.0)
    p.add_argument("--quiet", action="store_true", help="do not list the entries")
    p.set_defaults(func=_guard(cmd_audit))

    # witness
    wp = subparsers.add_parser("witness", help="transparency log witness")
    ws = wp.add_subparsers(dest="witness_cmd", required=True)
    p = ws.add_parser("keygen", help="write NAME.skey and NAME.vkey (cosigner key)")
    p.add_argument("name")
    p.add_argument("--out")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=_guard(cmd_keygen), cosigner=True)
    p = ws.add_parser("serve", help="run the witness service")
    p.add_argument("--db", required=True)
    p.add_argument("--key", required=True, help="witness cosigner skey file")
    p.add_argument("--log", action="append", default=[], metavar="ORIGIN=VKEY", required=True,
                   type=lambda v: _pair(v, "--log"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8471)
    p.set_defaults(func=_guard(cmd_witness_serve))

    # release
    rp = subparsers.add_parser("release", help="publish releases to the log")
    rs = rp.add_subparsers(dest="release_cmd", required=True)
    p = rs.add_parser("publish", help="log a release manifest")
    _add_submit_args(p)
    p.add_argument("--created", type=int, default=None, help="unix time (default: now)")
    p.add_argument("manifest")
    p.set_defaults(func=_guard(cmd_release_publish))


def main(argv=None) -> int:
    """Run ``log``/``witness``/``release`` commands stand-alone."""
    parser = argparse.ArgumentParser(prog="pcc")
    sub = parser.add_subparsers(dest="cmd", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
