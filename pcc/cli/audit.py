"""``pcc audit``: statistical audits a client can run on what it kept."""
from __future__ import annotations

import json
import pathlib

from pcc.cli._common import EXIT_OK, _err, add_commands, vkey_arg

#: Exit status of ``audit selection`` when the offers are not uniform.
EXIT_BIASED = 3


def cmd_selection(args) -> int:
    """``audit selection``: test kept offers against uniform selection over the roster."""
    from pcc import audit
    from pcc.errors import PccError
    if not 0 < args.alpha < 1:
        return _err(f"--alpha {args.alpha:g} must be between 0 and 1 (e.g. 0.01)")
    try:
        ids = audit.read_roster(pathlib.Path(args.roster).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, PccError) as e:
        return _err(f"roster file {args.roster}: {_why(e)}; it must hold one node id (64 hex "
                    "digits) a line")
    try:
        offers = audit.read_history(pathlib.Path(args.history).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, PccError) as e:
        return _err(f"history file {args.history}: {_why(e)}")
    try:
        result = audit.audit(ids, offers, alpha=args.alpha)
    except PccError as e:
        return _err(f"{e} (history {args.history}, roster {args.roster}); check that the "
                    "history was kept against this roster")
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(str(result).rsplit("\n", 1)[0])
    print(result.line())
    return EXIT_BIASED if result.biased else EXIT_OK


def cmd_roster(args) -> int:
    """``audit roster``: is the roster the gateway serves (or the one in files) the newest one
    the log holds for its model?"""
    from pcc import roster
    from pcc.errors import PccError
    try:
        if args.config:
            from pcc.client import Client
            with Client.from_config(args.config, state=None) as c:
                leaf, proof = c.roster_proof(args.model)
                log, t = c.log, c.trust
                vkey, wits, quorum = t.log_vkey, list(t.witness_vkeys), t.quorum
            source = "served by the gateway"
        else:
            if not (args.leaf and args.proof and args.log and args.log_vkey):
                return _err("give --config CLIENT_JSON, or --leaf, --proof, --log and "
                            "--log-vkey (with --witness)")
            from pcc.cli._common import witness_quorum
            wits, quorum = witness_quorum(args)
            leaf = pathlib.Path(args.leaf).read_bytes()
            proof = pathlib.Path(args.proof).read_text(encoding="utf-8")
            log, vkey = args.log, args.log_vkey
            source = f"in {args.leaf}"
        newer = roster.find_newer(log, leaf, proof, vkey, wits, quorum,
                                  max_leaves=args.max_leaves)
    except (OSError, UnicodeDecodeError, PccError) as e:
        return _err(f"roster: {_why(e)}")
    r = roster.from_leaf(leaf)
    from pcc import note
    index = note.parse_proof(proof).index
    if newer is not None:
        print(f"roster: model {r.model} epoch {r.epoch} at index {index} ({source}) is "
              f"SUPERSEDED by epoch {newer.roster.epoch} at index {newer.index}")
        return EXIT_BIASED
    print(f"roster: model {r.model} epoch {r.epoch} at index {index} ({source}) is the newest "
          "the log holds")
    return EXIT_OK


def _why(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    if isinstance(e, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(e)


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    ap = subparsers.add_parser(
        "audit", help="statistical audits of what the gateway did",
        description="Audits a client can run on data it kept (opt-in), without trusting the "
                    "operator.")
    asub = add_commands(ap, "audit_cmd")
    p = asub.add_parser(
        "selection", help="test that the gateway offered nodes uniformly at random",
        description="Test the node ids a gateway offered (gateway-chosen mode) against uniform "
                    "selection, without replacement, over the roster. The last line printed is "
                    "`selection: n=<requests> nodes=<N> p=<p-value> verdict=uniform|biased`. "
                    "Exit status: 0 uniform, 3 biased, 2 bad input (unreadable files, an id "
                    "not in the roster, a node offered twice in one request, too few "
                    "requests).")
    p.add_argument("--roster", required=True, metavar="FILE",
                   help="the roster: one node id (hex) a line")
    p.add_argument("--history", required=True, metavar="FILE",
                   help='the offers kept: one JSON object a line, {"offered": ["<hex>", ...]}')
    p.add_argument("--alpha", type=float, default=0.01, metavar="A",
                   help="significance level: the chance of calling a fair gateway biased")
    p.add_argument("--json", action="store_true",
                   help="print the tests as one JSON line before the summary line")
    p.set_defaults(func=cmd_selection)
    p = asub.add_parser(
        "roster", help="check that a roster is the newest the log holds for its model",
        description="Read the log's leaves after a roster (up to its current, witnessed "
                    "checkpoint, checked against its root) and look for a later roster of the "
                    "same model with a higher epoch. With --config the roster is the one the "
                    "gateway serves (asked through the relay, as a client does). Exit status: "
                    "0 newest, 3 superseded, 2 an error (a proof that does not verify, a log "
                    "that cannot be read, too many leaves to scan).")
    p.add_argument("--config", metavar="CLIENT_JSON", help="ask the gateway of this client.json")
    p.add_argument("--model", default=None, help="the model (default: the client.json's)")
    p.add_argument("--leaf", metavar="FILE", help="a roster leaf (instead of --config)")
    p.add_argument("--proof", metavar="FILE", help="its tlog-proof")
    p.add_argument("--log", metavar="URL", help="the log's URL (with --leaf)")
    p.add_argument("--log-vkey", metavar="VKEY|FILE", type=vkey_arg("--log-vkey"),
                   help="the log's verifier key (with --leaf)")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY|FILE",
                   type=vkey_arg("--witness"), help="a witness's cosigner key (repeatable)")
    p.add_argument("--quorum", type=int, default=None, metavar="N",
                   help="witness cosignatures needed (default: all --witness keys)")
    p.add_argument("--max-leaves", type=int, default=65536, metavar="N",
                   help="most log leaves to read after the roster")
    p.set_defaults(func=cmd_roster)
