"""``pcc gateway``: the OHTTP gateway and load balancer in front of the nodes."""
from __future__ import annotations

import pathlib
from typing import Callable, Optional

from pcc.cli._common import EXIT_OK, _err, _guard, _serve, add_commands, vkey_arg


def cmd_gateway_keygen(args) -> int:
    """``gateway keygen``: write a fresh OHTTP key and its application/ohttp-keys."""
    from pcc import hpke, ohttp
    from pcc.services.gateway import generate_key, load_key
    key = pathlib.Path(args.key)
    if key.exists():
        return _err(f"{key} exists; choose another path (a gateway key is never overwritten)")
    generate_key(str(key))
    out = pathlib.Path(args.configs_out or str(key) + ".ohttp-keys")
    sk = load_key(str(key))
    cfg = ohttp.KeyConfig(args.key_id, hpke.KEM_X25519_SHA256, sk.public_bytes(),
                          suites=list(ohttp.DEFAULT_SUITES))
    out.write_bytes(ohttp.encode_key_configs([cfg]))
    print(f"gateway key in {key}; its key configurations in {out}: log them with "
          f"`pcc log add-key ohttp --gateway NAME --configs {out} ...`")
    return EXIT_OK


def cmd_gateway_serve(args) -> int:
    """``gateway serve``: run the gateway service under uvicorn."""
    from pcc.services.gateway import GatewayConfig, create_app
    key_proof: Optional[Callable[[], Optional[tuple[bytes, str]]]] = None
    if args.leaf or args.proof:
        if not (args.leaf and args.proof):
            return _err("--leaf and --proof go together (the files `pcc log add-key ohttp` wrote)")
        leaf_path, proof_path = pathlib.Path(args.leaf), pathlib.Path(args.proof)

        def read_proof() -> Optional[tuple[bytes, str]]:
            try:
                return leaf_path.read_bytes(), proof_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
        key_proof = read_proof
    if not args.node and not args.redis:
        return _err("give the nodes with --node URL (repeatable) or a shared registry with "
                    "--redis URL")
    from pcc.services.gateway import roster_files
    rosters = [(p + ".leaf", p + ".tlog-proof") for p in args.roster]
    for leaf_file, proof_file in rosters:
        if not (pathlib.Path(leaf_file).exists() and pathlib.Path(proof_file).exists()):
            return _err(f"--roster: {leaf_file} and {proof_file} must both exist (the files "
                        "`pcc roster publish --out PREFIX` writes)")
    source: Optional[Callable[[str], Optional[tuple[bytes, str]]]] = None
    if rosters and args.roster_log:
        from pcc import note
        from pcc.cli._common import witness_quorum
        from pcc.services.gateway import RosterFromLog
        if not args.log_vkey:
            return _err("--roster-log needs --log-vkey (and --witness) to check the proofs it "
                        "fetches")
        wits, quorum = witness_quorum(args)
        entries, proofs = [], []
        for leaf_file, proof_file in rosters:
            leaf = pathlib.Path(leaf_file).read_bytes()
            proof = pathlib.Path(proof_file).read_text(encoding="utf-8")
            entries.append((leaf, note.parse_proof(proof).index))
            proofs.append(proof)
        source = RosterFromLog(args.roster_log, entries, args.log_vkey, wits, quorum,
                               refresh_s=args.roster_refresh, proofs=proofs)
    elif args.roster_log:
        return _err("--roster-log refreshes the proofs of the --roster leaves: give --roster")
    elif rosters:
        source = roster_files(rosters)
    cfg = GatewayConfig(name=args.name, key_path=args.key, key_id=args.key_id,
                        issuer_name=args.issuer_name,
                        issuer_spki=pathlib.Path(args.issuer_spki).read_bytes(),
                        nodes=tuple(args.node), db_path=args.db, redis_url=args.redis,
                        key_proof=key_proof, roster=source)
    app = create_app(cfg)
    lines = [f"gateway    {cfg.name}",
             f"issuer     {cfg.issuer_name}",
             f"store      {app.info['store']}",
             f"nodes      {', '.join(cfg.nodes) or 'none configured'}"
             + (" + the Redis registry" if cfg.redis_url else ""),
             "key proof  " + (f"{args.leaf} + {args.proof}" if key_proof is not None
                              else "none (503 until --leaf and --proof are given)"),
             "rosters    " + (", ".join(args.roster) if args.roster
                                  else "none (clients must use gateway-chosen selection)")
             + (f" (proofs refreshed from {args.roster_log} every {args.roster_refresh:g} s)"
                if args.roster_log else ""),
             "endpoints  POST / (OHTTP), GET /ohttp-keys, GET /v1/key-proof"]
    return _serve(app, args.host, args.port, lines)


def cmd_node_add(args) -> int:
    """``gateway node add``: add a node URL to the shared Redis registry."""
    import redis
    if not args.url.startswith(("http://", "https://")):
        return _err("a node is an http:// or https:// URL")
    r = redis.Redis.from_url(args.redis)
    r.sadd(args.prefix + "nodes", args.url.rstrip("/"))
    print(f"added {args.url} to {args.redis}")
    return EXIT_OK


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    gp = subparsers.add_parser("gateway", help="OHTTP gateway: tokens, discovery, forwarding")
    gsub = add_commands(gp, "gateway_cmd")
    p = gsub.add_parser("keygen", help="write a fresh OHTTP key (a 32-byte seed, mode 0600)")
    p.add_argument("--key", required=True, help="key file to create")
    p.add_argument("--key-id", type=int, default=1, help="OHTTP key identifier (0..255)")
    p.add_argument("--configs-out", default=None,
                   help="where to write the application/ohttp-keys (default: KEY.ohttp-keys)")
    p.set_defaults(func=_guard(cmd_gateway_keygen))
    p = gsub.add_parser("serve", help="serve the gateway resource")
    p.add_argument("--name", required=True, help="the gateway's name in its ohttp-keys leaf")
    p.add_argument("--key", required=True, help="OHTTP key file (`pcc gateway keygen`)")
    p.add_argument("--key-id", type=int, default=1, help="OHTTP key identifier (0..255)")
    p.add_argument("--issuer-name", required=True, help="the token issuer's name")
    p.add_argument("--issuer-spki", required=True, metavar="FILE",
                   help="the issuer's public key (DER SPKI, `pcc issuer keygen` wrote it)")
    p.add_argument("--node", action="append", default=[], metavar="URL",
                   help="a compute node (repeatable)")
    p.add_argument("--db", default="gateway.db", help="SQLite spend store")
    p.add_argument("--redis", default=None, metavar="URL",
                   help="spend store and node registry in Redis, shared by every gateway")
    p.add_argument("--leaf", default=None, help="the ohttp-keys log leaf")
    p.add_argument("--proof", default=None, help="its tlog-proof (re-read on every request)")
    p.add_argument("--roster", action="append", default=[], metavar="PREFIX",
                   help="a model's roster: PREFIX.leaf and PREFIX.tlog-proof as `pcc roster "
                        "publish --out PREFIX` writes them, served at the inner GET /v1/roster "
                        "and re-read on every request (publish again to refresh the proof); "
                        "repeatable, one per model")
    p.add_argument("--roster-log", default=None, metavar="URL",
                   help="fetch fresh proofs of the --roster leaves from this log's checkpoint "
                        "and tiles (read once from the files), verified with --log-vkey and "
                        "--witness before they are served; the last good proof is kept when "
                        "the log cannot be read")
    p.add_argument("--roster-refresh", type=float, default=300.0, metavar="SECONDS",
                   help="how old a roster proof may get before it is fetched again "
                        "(with --roster-log)")
    p.add_argument("--log-vkey", default=None, metavar="VKEY|FILE", type=vkey_arg("--log-vkey"),
                   help="the log's verifier key (with --roster-log)")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY|FILE",
                   type=vkey_arg("--witness"), help="a witness's cosigner key (repeatable)")
    p.add_argument("--quorum", type=int, default=None, metavar="N",
                   help="witness cosignatures needed (default: all --witness keys)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8600, help="port to listen on (0: a free one)")
    p.set_defaults(func=_guard(cmd_gateway_serve))
    p = gsub.add_parser("node", help="the shared node registry")
    nsub = add_commands(p, "gateway_node_cmd")
    p = nsub.add_parser("add", help="add a node URL to the Redis registry")
    p.add_argument("url", help="the node's base URL")
    p.add_argument("--redis", required=True, metavar="URL", help="redis://host:port/db")
    p.add_argument("--prefix", default="pcc:gateway:", help="prefix of the gateways' Redis keys")
    p.set_defaults(func=_guard(cmd_node_add))
