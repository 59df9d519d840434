"""``pcc witness``: cosigner keys and the witness service."""
from __future__ import annotations


from pcc.cli.log import cmd_keygen
from pcc.cli._common import (_guard, _pair, _serve)


# ----------------------------------------------------------------------------- witness

def cmd_witness_serve(args) -> int:
    """``witness serve``: run the witness service under uvicorn."""
    from pcc.transparency import _note as tlognote
    from pcc.services.witness import WitnessConfig, create_app
    cfg = WitnessConfig(db_path=args.db, skey=tlognote.read_key_file(args.key),
                        logs=tuple(args.log))
    for _, vk in cfg.logs:                            # fail here, not inside uvicorn
        tlognote.load_verifier(vk)
    return _serve(create_app(cfg), args.host, args.port)


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
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
