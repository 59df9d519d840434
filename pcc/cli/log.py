"""``pcc log``: keys, serving, logging key leaves and auditing a transparency log."""
from __future__ import annotations

import os
import pathlib
import sys
import time

from pcc.cli._common import (EXIT_FAIL, EXIT_OK, INSECURE_NO_WITNESSES_HELP, _add_submit_args,
                              _err, _guard, _not_after, _serve, _submit, add_commands, key_id,
                              pair_arg, skey_arg, vkey_arg, witness_quorum)


# ----------------------------------------------------------------------------- log

def cmd_keygen(args) -> int:
    """``log keygen`` / ``witness keygen``: write NAME.skey (0600) and NAME.vkey."""
    from pcc.transparency import _note as tlognote
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


def _insecure(args) -> list[str]:
    return [f for f, on in (("--insecure-no-witnesses", getattr(args, "insecure_no_witnesses",
                                                                   False)),
                            ("--insecure-origin-mismatch", getattr(args,
                                                                   "insecure_origin_mismatch",
                                                                   False))) if on]


def cmd_log_serve(args) -> int:
    """``log serve``: run the log service under uvicorn."""
    from pcc.services.tlog import LogConfig, create_app
    cfg = LogConfig(db_path=args.db, origin=args.origin, skey=args.key,
                    publishers=tuple(args.publisher), witnesses=tuple(args.witness),
                    quorum=args.quorum, batch_interval_ms=args.batch_ms,
                    batch_max=args.batch_max, add_timeout_s=args.add_timeout,
                    witness_timeout_s=args.witness_timeout,
                    refresh_interval_s=args.refresh_interval,
                    insecure_no_witnesses=args.insecure_no_witnesses,
                    insecure_origin_mismatch=args.insecure_origin_mismatch)
    app = create_app(cfg)                     # checks the configuration before serving
    lines = [f"origin     {cfg.origin}",
             f"key        {app.info['key']}",
             f"publishers {', '.join(key_id(v) for v in cfg.publishers) or 'none (no /add)'}",
             "witnesses  " + (", ".join(f"{u} ({key_id(v)})" for u, v in cfg.witnesses)
                              or "none"),
             f"quorum     {cfg.resolved_quorum()} of {len(cfg.witnesses)}",
             f"database   {cfg.db_path}"]
    if _insecure(args):
        lines.append("INSECURE   " + " ".join(_insecure(args)))
    return _serve(app, args.host, args.port, lines)


def cmd_add_key(args) -> int:
    """``log add-key ohttp|issuer``: log a key leaf and save its proof."""
    from pcc.transparency import leaves
    if args.kind == "ohttp":
        if not args.gateway or not args.configs:
            return _err("`log add-key ohttp` needs --gateway NAME and --configs FILE (the "
                        "gateway's application/ohttp-keys)")
        src = pathlib.Path(args.configs)
        leaf = leaves.ohttp_keys(args.gateway, src.read_bytes(), _not_after(args))
    else:
        if not args.issuer or not args.spki:
            return _err("`log add-key issuer` needs --issuer NAME and --spki FILE (the "
                        "issuer's public key, DER SPKI)")
        src = pathlib.Path(args.spki)
        leaf = leaves.issuer_key(args.issuer, src.read_bytes(), _not_after(args))
    index, proof = _submit(args, leaf)
    out = pathlib.Path(args.out) if args.out else src.with_name(src.name + ".tlog-proof")
    out.write_text(proof, encoding="utf-8")
    out.with_suffix(".leaf").write_bytes(leaf)
    print(f"logged {leaves.decode(leaf)['type']} at index {index}; proof in {out}")
    return EXIT_OK


def cmd_audit(args) -> int:
    """``log audit``: replay and check the log; exit 1 on any inconsistency or on a release
    name/version logged more than once."""
    from pcc.errors import PeerError
    from pcc.transparency import leaves
    from pcc.transparency.client import AuditFailure, Auditor, AuditState, TileReader

    rosters: dict[str, tuple[int, int, int]] = {}     # model -> (epoch, index, how many)
    went_back: list[str] = []

    def on_entry(idx, leaf, d, err):
        if d is not None and d["type"] == "roster":
            top = rosters.get(d["model"])
            if top is not None and d["epoch"] < top[0]:
                went_back.append(f"ROSTER EPOCH WENT BACK: {d['model']} epoch {d['epoch']} at "
                                 f"index {idx} was logged after epoch {top[0]} (index {top[1]})")
            if top is None or d["epoch"] > top[0]:
                rosters[d["model"]] = (d["epoch"], idx, (top[2] if top else 0) + 1)
            else:
                rosters[d["model"]] = (top[0], top[1], top[2] + 1)
        if args.quiet:
            return
        if d is None:
            print(f"{idx:8d}  INVALID  {err}")
        else:
            extra = ""
            if d["type"] == "release":
                extra = f"  digest={leaves.release_digest(leaf).hex()}"
            print(f"{idx:8d}  {leaves.describe(d)}{extra}")

    wits, quorum = witness_quorum(args)
    try:
        with TileReader(args.log) as reader:
            auditor = Auditor(reader, args.vkey, wits, quorum, on_entry=on_entry)
            state = AuditState.load(args.state) if args.state else None
            reported = 0
            while True:
                try:
                    state = auditor.run_once(state)
                except AuditFailure as f:
                    print(f.report(), file=sys.stderr)
                    return EXIT_FAIL
                if args.state:
                    state.save(args.state)
                insecure = "  INSECURE: --insecure-no-witnesses" if quorum == 0 else ""
                print(f"ok: {state.origin} size {state.size} root {state.root.hex()} "
                      f"witnesses {sorted(auditor.witnessed)} "
                      f"leaves {dict(sorted(auditor.counts.items()))}{insecure}",
                      file=sys.stderr)
                # the newest roster of each model: what a gateway should serve
                for model, (epoch, idx, n) in sorted(rosters.items()):
                    print(f"newest roster: {model} epoch {epoch} at index {idx} ({n} roster "
                          "leaves of this model)", file=sys.stderr)
                for line in went_back:
                    print(line, file=sys.stderr)
                went_back.clear()
                # the log is consistent, but a release name/version logged twice is ambiguous
                for name, version, first, idx in auditor.duplicate_releases[reported:]:
                    print(f"DUPLICATE RELEASE: {name} {version} is logged at index {first} "
                          f"and again at index {idx}", file=sys.stderr)
                reported = len(auditor.duplicate_releases)
                if not args.follow:
                    return EXIT_FAIL if reported else EXIT_OK
                time.sleep(args.interval)
    except PeerError as e:
        return _err(f"cannot read the log at {args.log} ({e.problem}); check --log")


# ----------------------------------------------------------------------------- verify

def cmd_verify(args) -> int:
    """``log verify``: check a leaf and its tlog-proof offline against pinned keys."""
    import json
    from pcc import transparency
    from pcc.errors import VerifyError
    from pcc.transparency import leaves
    leaf = pathlib.Path(args.leaf).read_bytes()
    proof = pathlib.Path(args.proof).read_text(encoding="utf-8")
    wits, quorum = witness_quorum(args)
    checks = list(transparency.CHECKS)
    failed = None
    index = cp = None
    try:
        index, cp = transparency.verify_proof(leaf, proof, args.log_vkey, wits, quorum,
                                              args.max_age)
    except VerifyError as e:
        failed = getattr(e, "check", None) or "proof"
    stamps: dict = {}
    if failed is None:
        stamps = transparency.cosignature_times(proof, wits)
    detail = {
        "proof format": "c2sp.org/tlog-proof@v1",
        "checkpoint signature": f"signed by {key_id(args.log_vkey)}",
        "checkpoint format": f"size {cp.size}" if cp else "",
        "checkpoint origin": f"{cp.origin}" if cp else "",
        "inclusion": f"leaf {index} of {cp.size}" if cp else "",
        "witness quorum": (f"{len(stamps)} of {len(wits)} witnesses cosigned, quorum {quorum}"
                           + ("  INSECURE: --insecure-no-witnesses" if quorum == 0 else "")),
        "freshness": ("not checked (no --max-age)" if args.max_age is None else
                      f"{quorum} cosignature(s) at most {args.max_age:g} s old"),
    }
    rows = []
    for name in checks:
        if failed is None:
            ok: bool | None = True
        elif name == failed:
            ok = False
        elif checks.index(name) < (checks.index(failed) if failed in checks else 0):
            ok = True
        else:
            ok = None
        text = detail[name] if ok else ("failed" if ok is False else "not reached")
        if name == "freshness" and args.max_age is None and ok:
            ok = None
        rows.append({"name": name, "ok": ok, "detail": text})
    try:
        what = leaves.describe(leaves.decode(leaf))
    except Exception:
        what = "not a pcc leaf"
    if args.json:
        print(json.dumps({"ok": failed is None, "failed": failed, "index": index,
                          "origin": cp.origin if cp else None, "size": cp.size if cp else None,
                          "root": bytes(cp.root).hex() if cp else None, "leaf": what,
                          "cosigned": stamps, "checks": rows}, indent=2))
    else:
        for r in rows:
            mark = {True: "ok  ", False: "FAIL", None: "-   "}[r["ok"]]  # type: ignore[index]
            print(f"{mark} {r['name']:<21} {r['detail']}".rstrip())
        if failed is None and cp is not None:
            print(f"verified: {what}, index {index} in {cp.origin} (size {cp.size})")
        else:
            print(f"NOT VERIFIED: the {failed} check failed")
    return EXIT_OK if failed is None else EXIT_FAIL


def _serve_args(p, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=port, help="port to listen on")


def _keygen_args(p) -> None:
    p.add_argument("name", help="key name (for a log: its origin, e.g. example.org/log)")
    p.add_argument("--out", metavar="PREFIX",
                   help="write PREFIX.skey and PREFIX.vkey (default: NAME with / as _)")
    p.add_argument("--force", action="store_true", help="overwrite an existing .skey file")


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    lp = subparsers.add_parser("log", help="transparency log: keys, serve, add keys, verify, "
                                           "audit")
    ls = add_commands(lp, "log_cmd")

    p = ls.add_parser("keygen", help="write NAME.skey and NAME.vkey")
    _keygen_args(p)
    p.add_argument("--cosigner", action="store_true",
                   help="a witness cosigner key (tlog-cosignature, type 0x04)")
    p.set_defaults(func=_guard(cmd_keygen))

    p = ls.add_parser("serve", help="run the log service (C2SP tlog-tiles, witnessed)")
    p.add_argument("--db", required=True, metavar="FILE", help="SQLite database of the log")
    p.add_argument("--origin", required=True,
                   help="the log's origin line (must equal the log key's name)")
    p.add_argument("--key", required=True, metavar="SKEY_FILE", type=skey_arg("--key"),
                   help="the log's private key file (from `pcc log keygen ORIGIN`)")
    p.add_argument("--publisher", action="append", default=[], metavar="VKEY|FILE",
                   type=vkey_arg("--publisher"),
                   help="a key allowed to add leaves (repeatable; none: no /add)")
    p.add_argument("--witness", action="append", default=[], metavar="URL=VKEY",
                   type=pair_arg("--witness"),
                   help="a witness's URL and cosigner vkey or vkey file (repeatable)")
    p.add_argument("--quorum", type=int, default=None, metavar="N",
                   help="witness cosignatures required before publishing (default: all)")
    p.add_argument("--insecure-no-witnesses", action="store_true",
                   help="publish checkpoints without a witness quorum (tests only: nobody "
                        "could detect a forked log)")
    p.add_argument("--insecure-origin-mismatch", action="store_true",
                   help="serve although the key name differs from --origin (clients will "
                        "reject its checkpoints)")
    _serve_args(p, 8470)
    p.add_argument("--batch-ms", type=float, default=5.0, metavar="MS",
                   help="how long the sequencer waits to fill a batch")
    p.add_argument("--batch-max", type=int, default=512, metavar="N",
                   help="most entries per batch")
    p.add_argument("--add-timeout", type=float, default=30.0, metavar="SECONDS",
                   help="seconds an add waits for a witnessed checkpoint before answering 503")
    p.add_argument("--witness-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="deadline of one cosigning round (every call to every witness); once "
                        "the quorum is in, slower witnesses are cancelled")
    p.add_argument("--refresh-interval", type=float, default=600.0, metavar="SECONDS",
                   help="seconds after which an unchanged checkpoint is cosigned again")
    p.set_defaults(func=_guard(cmd_log_serve))

    p = ls.add_parser("add-key", help="log an ohttp-keys or issuer-key leaf")
    p.add_argument("kind", choices=["ohttp", "issuer"],
                   help="ohttp: a gateway's key configs; issuer: a token issuer's key")
    _add_submit_args(p)
    p.add_argument("--gateway", metavar="NAME", help="gateway name (ohttp)")
    p.add_argument("--configs", metavar="FILE", help="application/ohttp-keys file (ohttp)")
    p.add_argument("--issuer", metavar="NAME", help="issuer name (issuer)")
    p.add_argument("--spki", metavar="FILE", help="issuer public key, DER SPKI file (issuer)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--not-after", type=int, default=None, metavar="UNIX_S",
                   help="expiry, unix seconds (default: now + --ttl-hours)")
    g.add_argument("--ttl-hours", type=float, default=48.0, metavar="HOURS",
                   help="expiry as hours from now")
    p.add_argument("--out", metavar="FILE",
                   help="where to write the proof (default: the key file + .tlog-proof)")
    p.set_defaults(func=_guard(cmd_add_key))

    p = ls.add_parser("verify", help="check a leaf and its tlog-proof against pinned keys "
                                     "(offline)")
    p.add_argument("--leaf", required=True, metavar="FILE", help="the leaf bytes")
    p.add_argument("--proof", required=True, metavar="FILE",
                   help="its tlog-proof (c2sp.org/tlog-proof@v1 text)")
    p.add_argument("--log-vkey", required=True, metavar="VKEY|FILE",
                   type=vkey_arg("--log-vkey"), help="the log's vkey")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY|FILE",
                   type=vkey_arg("--witness"), help="a trusted witness's cosigner vkey "
                                                    "(repeatable)")
    p.add_argument("--quorum", type=int, default=None, metavar="N",
                   help="distinct witness cosignatures required (default: every --witness)")
    p.add_argument("--max-age", type=float, default=None, metavar="SECONDS",
                   help="also require quorum cosignatures at most this old (default: no "
                        "freshness check)")
    p.add_argument("--insecure-no-witnesses", action="store_true",
                   help=INSECURE_NO_WITNESSES_HELP)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_guard(cmd_verify))

    p = ls.add_parser("audit", help="replay and check a log")
    p.add_argument("--log", required=True, metavar="URL", help="the log's URL")
    p.add_argument("--vkey", required=True, metavar="VKEY|FILE", type=vkey_arg("--vkey"),
                   help="the log's vkey")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY|FILE",
                   type=vkey_arg("--witness"),
                   help="a trusted witness's cosigner vkey (repeatable)")
    p.add_argument("--quorum", type=int, default=None, metavar="N",
                   help="witness cosignatures required (default: every --witness)")
    p.add_argument("--insecure-no-witnesses", action="store_true",
                   help=INSECURE_NO_WITNESSES_HELP)
    p.add_argument("--state", metavar="FILE",
                   help="state file: the last checkpoint seen (default: none, full replay "
                        "without a consistency check against earlier runs)")
    p.add_argument("--follow", action="store_true", help="keep auditing new checkpoints")
    p.add_argument("--interval", type=float, default=10.0, metavar="SECONDS",
                   help="seconds between checks with --follow")
    p.add_argument("--quiet", action="store_true", help="do not list the entries")
    p.set_defaults(func=_guard(cmd_audit))
