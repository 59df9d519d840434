"""``pcc issuer``: the Privacy Pass token issuer (keys, accounts, the service)."""
from __future__ import annotations

import json
import pathlib
from typing import Callable, Optional

from pcc.cli._common import EXIT_OK, _err, _guard, _serve, add_commands
from pcc.cli.log import _serve_args


def _store_config(args, key_path: str = "", name: str = "-"):
    from pcc.services.issuer import IssuerConfig
    return IssuerConfig(issuer_name=name, key_path=key_path, db_path=args.db,
                        redis_url=args.redis)


def cmd_issuer_keygen(args) -> int:
    """``issuer keygen``: write a 2048-bit issuer key (PKCS#8 DER, 0600) and its SPKI."""
    from pcc.services.issuer import generate_key
    key = pathlib.Path(args.key)
    if key.exists():
        return _err(f"{key} exists; choose another path (an issuer key is never overwritten)")
    spki = generate_key(str(key))
    out = pathlib.Path(args.spki_out or str(key) + ".spki")
    out.write_bytes(spki)
    print(f"issuer key in {key}; public key (SPKI) in {out}: log it with "
          f"`pcc log add-key issuer --spki {out} ...`")
    return EXIT_OK


def cmd_issuer_serve(args) -> int:
    """``issuer serve``: run the issuer service under uvicorn."""
    from pcc.services.issuer import IssuerConfig, create_app
    key_proof: Optional[Callable[[], Optional[tuple[bytes, str]]]] = None
    if args.leaf or args.proof:
        if not (args.leaf and args.proof):
            return _err("--leaf and --proof go together (the files `pcc log add-key issuer` wrote)")
        leaf_path, proof_path = pathlib.Path(args.leaf), pathlib.Path(args.proof)

        def read_proof() -> Optional[tuple[bytes, str]]:
            try:   # read on each request, so a refreshed proof is served without a restart
                return leaf_path.read_bytes(), proof_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
        key_proof = read_proof
    cfg = IssuerConfig(issuer_name=args.name, key_path=args.key, db_path=args.db,
                       redis_url=args.redis, key_proof=key_proof, not_before=args.not_before)
    app = create_app(cfg)                    # the key and store open before listening
    lines = [f"issuer     {cfg.issuer_name}",
             f"store      {app.info['store']}",
             "key proof  " + (f"{args.leaf} + {args.proof}" if key_proof is not None
                              else "none (503 until --leaf and --proof are given)"),
             "endpoints  GET /.well-known/private-token-issuer-directory, POST /token-request, "
             "GET /v1/key-proof"]
    return _serve(app, args.host, args.port, lines)


def cmd_account_add(args) -> int:
    """``issuer account add``: create an account and print its bearer key (shown once)."""
    from pcc.services.issuer import add_account, open_store
    store = open_store(_store_config(args))
    try:
        key = add_account(store, args.name, args.tokens_per_hour)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"name": args.name, "tokens_per_hour": args.tokens_per_hour, "key": key}))
    else:
        print(key)
    return EXIT_OK


def _add_store_args(p) -> None:
    p.add_argument("--db", default="issuer.db",
                   help="SQLite file of accounts and rate-limit counters")
    p.add_argument("--redis", default=None, metavar="URL",
                   help="keep accounts and counters in Redis instead (redis://host:port/db)")


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    ip = subparsers.add_parser("issuer", help="Privacy Pass token issuer (RFC 9578, type 2)")
    isub = add_commands(ip, "issuer_cmd")

    p = isub.add_parser("keygen", help="write a new issuer key and its public key (SPKI)")
    p.add_argument("key", help="path of the new key file (PKCS#8 DER, never overwritten)")
    p.add_argument("--spki-out", default=None, help="SPKI output path (default: KEY.spki)")
    p.set_defaults(func=_guard(cmd_issuer_keygen))

    p = isub.add_parser("serve", help="run the issuer service")
    p.add_argument("--name", required=True, help="issuer name (the issuer-key leaf's issuer)")
    p.add_argument("--key", required=True, help="issuer key file (from `pcc issuer keygen`)")
    _add_store_args(p)
    p.add_argument("--leaf", default=None, help="issuer-key log leaf file for /v1/key-proof")
    p.add_argument("--proof", default=None, help="tlog-proof file of that leaf")
    p.add_argument("--not-before", type=int, default=None,
                   help="unix time published as the key's not-before in the directory")
    _serve_args(p, 8473)
    p.set_defaults(func=_guard(cmd_issuer_serve))

    ap = isub.add_parser("account", help="manage accounts (never over HTTP)")
    asub = add_commands(ap, "account_cmd")
    p = asub.add_parser("add", help="create an account and print its bearer key (shown once)")
    p.add_argument("name", help="account name: 1..64 of A-Z a-z 0-9 . _ -")
    p.add_argument("--tokens-per-hour", type=int, default=1000,
                   help="tokens the account may obtain per clock hour")
    _add_store_args(p)
    p.add_argument("--json", action="store_true", help="print {name, tokens_per_hour, key} as JSON")
    p.set_defaults(func=_guard(cmd_account_add))
