"""``pcc roster``: publish the nodes serving a model to the log; verify a roster; draw from it."""
from __future__ import annotations

import json
import pathlib
import time

from pcc.cli._common import (EXIT_FAIL, EXIT_OK, INSECURE_NO_WITNESSES_HELP, _add_submit_args,
                             _err, _guard, _submit, add_commands, vkey_arg, witness_quorum)


def _node_ids(args) -> list[bytes]:
    from pcc import roster
    from pcc.errors import FormatError
    ids: list[bytes] = []
    for i, text in enumerate(args.node):
        try:
            ids.append(roster.parse_id(text.strip()))
        except FormatError:
            raise FormatError(f"--node {text[:20]!r} is not a node id (64 hex digits, the "
                              "node_id of its attestation)") from None
    if args.nodes_file:
        text = pathlib.Path(args.nodes_file).read_text(encoding="utf-8")
        try:
            ids += roster.read_ids_file(text)
        except FormatError as e:
            raise FormatError(f"{args.nodes_file}: {e}") from None
    if len(set(ids)) != len(ids):
        raise FormatError("a node id is given twice (--node and --nodes-file together list "
                          "each node once)")
    return ids


def cmd_publish(args) -> int:
    """``roster publish``: log a roster leaf and save it with its proof."""
    from pcc.transparency import leaves
    ids = _node_ids(args)
    if not ids:
        return _err("no nodes: give --node ID_HEX (repeatable) or --nodes-file FILE")
    epoch = int(time.time()) if args.epoch is None else args.epoch
    leaf = leaves.roster(args.model, epoch, ids)
    index, proof = _submit(args, leaf)
    base = pathlib.Path(args.out) if args.out else \
        pathlib.Path(f"roster-{args.model}-{epoch}".replace("/", "_"))
    leaf_path = base.with_name(base.name + ".leaf")
    proof_path = base.with_name(base.name + ".tlog-proof")
    leaf_path.write_bytes(leaf)
    proof_path.write_text(proof, encoding="utf-8")
    if args.json:
        print(json.dumps({"model": args.model, "epoch": epoch, "nodes": len(ids),
                          "index": index, "leaf": str(leaf_path), "proof": str(proof_path)}))
    else:
        print(f"roster {args.model} epoch {epoch} ({len(ids)} nodes) logged at index {index}; "
              f"leaf in {leaf_path}, proof in {proof_path}")
    return EXIT_OK


def cmd_verify(args) -> int:
    """``roster verify``: check a roster leaf's proof; print the roster."""
    from pcc import roster
    from pcc.errors import StateError, VerifyError
    leaf = pathlib.Path(args.leaf).read_bytes()
    proof = pathlib.Path(args.proof).read_text(encoding="utf-8")
    wits, quorum = witness_quorum(args)
    try:
        r = roster.verify(leaf, proof, args.log_vkey, wits, quorum, args.max_age,
                          model=args.model, min_epoch=args.min_epoch)
    except (VerifyError, StateError) as e:
        print(f"NOT VERIFIED: {e}")
        return EXIT_FAIL
    if args.json:
        print(json.dumps({"ok": True, **r.to_dict()}))
    else:
        for n in r.nodes:
            print(n.hex())
        print(f"verified: roster {r.model} epoch {r.epoch}, {len(r)} nodes")
    return EXIT_OK


def cmd_draw(args) -> int:
    """``roster draw``: draw k node ids from a roster leaf with the system CSPRNG."""
    from pcc import roster
    r = roster.from_leaf(pathlib.Path(args.leaf).read_bytes())
    for n in r.draw(args.k):
        print(n.hex())
    return EXIT_OK


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    rp = subparsers.add_parser(
        "roster", help="publish, verify and draw from node rosters",
        description="A roster lists, for one model and epoch, the node ids that serve it. It is "
                    "logged, so a client can draw its nodes itself (uniformly, with its own "
                    "random numbers) from a list the gateway cannot change per client.")
    rs = add_commands(rp, "roster_cmd")

    p = rs.add_parser("publish", help="log a roster leaf (operator side)",
                      description="Build the roster leaf (node ids sorted, each once), submit it "
                                  "to the log, wait for its witnessed proof and write "
                                  "PREFIX.leaf and PREFIX.tlog-proof.")
    p.add_argument("--model", required=True, metavar="NAME", help="the model the nodes serve")
    p.add_argument("--node", action="append", default=[], metavar="ID_HEX",
                   help="a node id (64 hex digits); repeatable")
    p.add_argument("--nodes-file", metavar="FILE",
                   help="a file with one node id (hex) a line; # starts a comment")
    p.add_argument("--epoch", type=int, default=None, metavar="N",
                   help="roster epoch, an integer that grows with each new roster (default: "
                        "now, in unix seconds)")
    _add_submit_args(p)
    p.add_argument("--out", metavar="PREFIX",
                   help="write PREFIX.leaf and PREFIX.tlog-proof (default: "
                        "roster-MODEL-EPOCH in the current directory)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=_guard(cmd_publish))

    p = rs.add_parser("verify", help="check a roster's proof against pinned keys",
                      description="Verify the roster leaf's tlog-proof (log signature, "
                                  "inclusion, witness quorum, freshness with --max-age) and "
                                  "print its node ids. Exit status 0 only when it verifies.")
    p.add_argument("--leaf", required=True, metavar="FILE", help="the roster leaf")
    p.add_argument("--proof", required=True, metavar="FILE", help="its tlog-proof")
    p.add_argument("--log-vkey", required=True, metavar="VKEY|FILE", type=vkey_arg("--log-vkey"),
                   help="the log's vkey")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY|FILE",
                   type=vkey_arg("--witness"), help="witness cosigner vkey; repeatable")
    p.add_argument("--quorum", type=int, default=None, metavar="N",
                   help="witness cosignatures required (default: every --witness)")
    p.add_argument("--insecure-no-witnesses", action="store_true",
                   help=INSECURE_NO_WITNESSES_HELP)
    p.add_argument("--max-age", type=float, default=None, metavar="SECONDS",
                   help="also require the cosignatures to be at most this old")
    p.add_argument("--model", metavar="NAME", help="require the roster to be for this model")
    p.add_argument("--min-epoch", type=int, default=None, metavar="N",
                   help="require at least this epoch (the highest one seen before)")
    p.add_argument("--json", action="store_true", help="print the roster as JSON")
    p.set_defaults(func=_guard(cmd_verify))

    p = rs.add_parser("draw", help="draw k node ids from a roster leaf",
                      description="Print k distinct node ids drawn uniformly from the roster "
                                  "with the system's CSPRNG (what a client does per request). "
                                  "Does not check the proof: use `pcc roster verify` first.")
    p.add_argument("--leaf", required=True, metavar="FILE", help="the roster leaf")
    p.add_argument("-k", type=int, default=2, metavar="K", help="how many nodes to draw")
    p.set_defaults(func=_guard(cmd_draw))
