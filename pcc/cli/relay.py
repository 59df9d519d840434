"""``pcc relay``: the oblivious relay (forwards sealed requests to one gateway)."""
from __future__ import annotations

from pcc.cli._common import _guard, _serve, add_commands


def cmd_relay_serve(args) -> int:
    """``relay serve``: run the relay service under uvicorn (no access log)."""
    from pcc.services.relay import RelayConfig, create_app
    cfg = RelayConfig(gateway_url=args.gateway, max_body=args.max_body, timeout_s=args.timeout)
    app = create_app(cfg)
    lines = [f"gateway    {cfg.gateway_url}",
             f"limits     body {cfg.max_body} bytes, {cfg.timeout_s:g} s per exchange",
             "endpoints  POST / (message/ohttp-req, message/ohttp-chunked-req)"]
    return _serve(app, args.host, args.port, lines)


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    rp = subparsers.add_parser("relay", help="oblivious relay: hides client addresses from the "
                                             "gateway")
    rsub = add_commands(rp, "relay_cmd")
    p = rsub.add_parser("serve", help="serve the relay resource (POST /)")
    p.add_argument("--gateway", required=True, metavar="URL",
                   help="the gateway resource every request is forwarded to")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8500, help="port to listen on (0: a free one)")
    p.add_argument("--max-body", type=int, default=4 << 20, metavar="BYTES",
                   help="largest request forwarded")
    p.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                   help="a whole exchange, first request byte to last answer byte")
    p.set_defaults(func=_guard(cmd_relay_serve))
