"""``pcc witness``: cosigner keys and the witness service."""
from __future__ import annotations

from pcc.cli._common import _guard, _serve, add_commands, key_id, pair_arg, skey_arg
from pcc.cli.log import _keygen_args, _serve_args, cmd_keygen


# ----------------------------------------------------------------------------- witness

def cmd_witness_serve(args) -> int:
    """``witness serve``: run the witness service under uvicorn."""
    from pcc.services.witness import WitnessConfig, create_app
    cfg = WitnessConfig(db_path=args.db, skey=args.key, logs=tuple(args.log))
    app = create_app(cfg)                     # checks the keys before serving
    lines = [f"key        {app.info['key']}",
             "logs       " + ", ".join(f"{origin} ({key_id(v)})" for origin, v in cfg.logs),
             f"database   {cfg.db_path}",
             "endpoint   POST /add-checkpoint (c2sp.org/tlog-witness)"]
    return _serve(app, args.host, args.port, lines)


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    wp = subparsers.add_parser("witness", help="transparency log witness: keys, serve")
    ws = add_commands(wp, "witness_cmd")
    p = ws.add_parser("keygen", help="write NAME.skey and NAME.vkey (cosigner key)")
    _keygen_args(p)
    p.set_defaults(func=_guard(cmd_keygen), cosigner=True)
    p = ws.add_parser("serve", help="run the witness service (C2SP tlog-witness)")
    p.add_argument("--db", required=True, metavar="FILE", help="SQLite database of the witness")
    p.add_argument("--key", required=True, metavar="SKEY_FILE", type=skey_arg("--key", cosigner=True),
                   help="the witness's cosigner private key file (`pcc witness keygen NAME`)")
    p.add_argument("--log", action="append", default=[], metavar="ORIGIN=VKEY", required=True,
                   type=pair_arg("--log"),
                   help="a log to cosign: its origin and its vkey or vkey file (repeatable)")
    _serve_args(p, 8471)
    p.set_defaults(func=_guard(cmd_witness_serve))
