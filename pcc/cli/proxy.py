"""``pcc proxy``: an OpenAI-compatible endpoint on this machine over the private path."""
from __future__ import annotations

import pathlib

from pcc.cli._common import _err, _guard, _serve


def cmd_proxy(args) -> int:
    """``proxy``: serve /v1/chat/completions and /v1/models, answering through the cell."""
    from pcc.client import Client
    from pcc.proxy import create_app
    cfg = args.config or str(pathlib.Path(args.cell) / "client.json")
    if not pathlib.Path(cfg).exists():
        return _err(f"{cfg} not found: start a cell with `pcc up` or give --config FILE")
    client = Client.from_config(cfg)
    app = create_app(client)
    lines = [f"model      {client.model}", f"relay      {client.relay}",
             "endpoints  POST /v1/chat/completions, GET /v1/models (OpenAI base URL: "
             f"http://{args.host}:{args.port}/v1)"]
    try:
        return _serve(app, args.host, args.port, lines)
    finally:
        client.close()


def register(subparsers) -> None:
    """Add ``proxy`` to the top-level sub-parsers."""
    p = subparsers.add_parser("proxy", help="OpenAI-compatible local endpoint over the private "
                                            "path")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", default=None, metavar="FILE", help="a client.json")
    src.add_argument("--cell", default="pcc-cell", metavar="DIR",
                     help="a cell folder (uses DIR/client.json)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.set_defaults(func=_guard(cmd_proxy))
