"""``pcc log``: keys, serving, logging key leaves and auditing a transparency log."""
from __future__ import annotations

import os
import pathlib
import sys
import time

from pcc.cli._common import (EXIT_FAIL, EXIT_OK, _add_submit_args, _err, _guard, _key_arg,
                              _not_after, _pair, _serve, _submit)


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


def cmd_log_serve(args) -> int:
    """``log serve``: run the log service under uvicorn."""
    from pcc.transparency import _note as tlognote
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


def cmd_add_key(args) -> int:
    """``log add-key ohttp|issuer``: log a key leaf and save its proof."""
    from pcc.transparency import leaves
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
    from pcc.transparency import leaves
    from pcc.transparency.client import AuditFailure, Auditor, AuditState, TileReader
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


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
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
