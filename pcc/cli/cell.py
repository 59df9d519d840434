"""``pcc up`` (a whole cell on this machine) and ``pcc chat`` (one prompt through it)."""
from __future__ import annotations

import json
import pathlib
import signal
import sys
import threading

from pcc.cli._common import EXIT_OK, _err, _guard


def _progress(msg: str) -> None:
    print(f"... {msg}", file=sys.stderr, flush=True)


def cmd_up(args) -> int:
    """``up``: start the cell, print one ``<name> <url>`` line per service and ``ready``, run
    until SIGINT or SIGTERM, then stop everything."""
    from pcc.cell import Cell
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    cell = Cell(args.dir, nodes=args.nodes, model=args.model, host=args.host,
                port_base=args.port_base, progress=_progress, enclave=args.enclave)
    try:
        cell.start()
        for name, url in cell.services:
            print(f"{name} {url}", flush=True)
        print("ready", flush=True)
        _progress(f"client configuration in {pathlib.Path(args.dir) / 'client.json'}; try "
                  f"`pcc chat --cell {args.dir} \"Hello\"`; Ctrl-C stops the cell")
        while not stop.wait(0.5):
            pass
    finally:
        _progress("stopping")
        cell.stop()
        for s, h in old.items():
            signal.signal(s, h)
    _progress("stopped")
    return EXIT_OK


def _client_config(args) -> str:
    if args.config:
        return args.config
    path = pathlib.Path(args.cell) / "client.json"
    if not path.exists():
        raise FileNotFoundError(path)
    return str(path)


def cmd_chat(args) -> int:
    """``chat``: send PROMPT through the private path and stream the answer."""
    from pcc.client import Client
    try:
        cfg = _client_config(args)
    except FileNotFoundError as e:
        return _err(f"{e.args[0]} not found: start a cell with `pcc up --dir {args.cell}` "
                    f"or give --config FILE")
    over = {}
    if args.selection:
        over["selection"] = args.selection
    if args.offer_history:
        over["offer_history"] = args.offer_history
        over.setdefault("selection", "gateway")
    if args.state:
        over["state"] = args.state
    if args.check_newest:
        over["check_newest"] = True
    if args.max_withheld is not None:
        over["max_withheld"] = None if args.max_withheld < 0 else args.max_withheld
    if over.get("offer_history") and over.get("selection") != "gateway":
        return _err("--offer-history keeps what the gateway offers: it needs --selection gateway")
    with Client.from_config(cfg, **over) as client:
        messages = [{"role": "user", "content": args.prompt}]
        pieces = []
        for piece in client.chat(messages, max_tokens=args.max_tokens):
            pieces.append(piece)
            if not args.json:
                sys.stdout.write(piece)
                sys.stdout.flush()
        if args.json:
            out = {"text": "".join(pieces), "report": client.last_report}
            print(json.dumps(out, indent=1 if args.explain else None))
            return EXIT_OK
        print()
        if args.explain:
            print()
            print(client.explain())
    return EXIT_OK


def register(subparsers) -> None:
    """Add ``up`` and ``chat`` to the top-level sub-parsers."""
    p = subparsers.add_parser("up", help="start a whole cell on this machine (log, witnesses, "
                                         "issuer, relay, gateway, nodes)")
    p.add_argument("--dir", default="pcc-cell",
                   help="folder for the cell's keys, databases and client.json (reused when "
                        "it exists)")
    p.add_argument("--nodes", type=int, default=2, help="number of compute nodes")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="GGUF model file the nodes serve (default: SmolLM2-135M-Instruct, "
                        "fetched once)")
    p.add_argument("--enclave", choices=("sim", "tpm"), default="sim",
                   help="the nodes' enclave backend: sim (software identity key, the default) or "
                        "tpm (one swtpm per node holds the identity key and the registers; needs "
                        "swtpm and swtpm-tools)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to serve on")
    p.add_argument("--port-base", type=int, default=None, metavar="P",
                   help="first of consecutive ports: log, witness-1, witness-2, issuer, relay, "
                        "gateway, node-1... (default: free ports)")
    p.set_defaults(func=_guard(cmd_up))
    p = subparsers.add_parser("chat", help="send one prompt through the private path")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", default=None, metavar="FILE", help="a client.json")
    src.add_argument("--cell", default="pcc-cell", metavar="DIR",
                     help="a cell folder (uses DIR/client.json)")
    p.add_argument("--explain", action="store_true",
                   help="also print what was verified, which node answered and what the relay "
                        "and the gateway could see")
    p.add_argument("--max-tokens", type=int, default=256, metavar="N",
                   help="most tokens in the answer")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: the text and the report")
    p.add_argument("--selection", choices=("client", "gateway"), default=None,
                   help="who picks the nodes: client (drawn by this client from the logged "
                        "roster; the default unless client.json says otherwise) or gateway")
    p.add_argument("--offer-history", default=None, metavar="FILE",
                   help="gateway-chosen mode: append the node ids the gateway offered to FILE, "
                        "one JSON line per offer, for `pcc audit selection --history FILE` "
                        "(implies --selection gateway)")
    p.add_argument("--state", default=None, metavar="FILE",
                   help="keep the highest roster epoch accepted per model in FILE, so a "
                        "restarted client refuses an older roster (default: client.json's "
                        "\"state\", which `pcc up` sets to a client-state.json beside it)")
    p.add_argument("--check-newest", action="store_true",
                   help="also read the log (directly, not through the relay) and refuse a "
                        "roster that a later roster of the model supersedes")
    p.add_argument("--max-withheld", type=float, default=None, metavar="SHARE",
                   help="refuse a request when more than this share of the nodes drawn for it "
                        "were withheld by the gateway (default 0.5; a negative value: no bound)")
    p.add_argument("prompt", help="the prompt")
    p.set_defaults(func=_guard(cmd_chat))
