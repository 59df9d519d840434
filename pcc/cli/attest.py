"""``pcc attest``: check a node's attestation bundle offline."""
from __future__ import annotations

import json
import pathlib
import sys

from pcc.cli._common import EXIT_ERROR, EXIT_FAIL, EXIT_OK, _err


def _load_trust(config_path: str):
    from pcc import attest
    from pcc.errors import InvalidArgument
    try:
        cfg = json.loads(pathlib.Path(config_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidArgument(f"cannot read {config_path}: {e}") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("trust"), dict):
        raise InvalidArgument(f'{config_path} has no "trust" object (is it a client.json?)')
    try:
        return attest.Trust.from_client_config(cfg["trust"])
    except TypeError as e:
        raise InvalidArgument(f"{config_path}: trust: {e}") from None


def cmd_attest_verify(args) -> int:
    """``attest verify``: print the report; exit 0 only when every check passed."""
    from pcc import attest
    from pcc.errors import PccError
    try:
        trust = _load_trust(args.config)
    except PccError as e:
        return _err(f"{e}; pass the client.json that `pcc up` wrote")
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else pathlib.Path(args.file).read_bytes()
    except OSError as e:
        return _err(f"cannot read the bundle: {e}")
    report = attest.verify(data, trust, model=args.model, now=args.now)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report)
    return EXIT_OK if report.ok else EXIT_FAIL


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    ap = subparsers.add_parser("attest", help="verify node attestation bundles")
    asub = ap.add_subparsers(dest="attest_cmd", required=True)
    p = asub.add_parser(
        "verify", help="verify a bundle against the trust of a client.json",
        description="Verify an attestation bundle (the bytes a node serves at "
                    "/v1/attestation) against the provisioning roots, log key and witnesses "
                    "pinned in a client.json. Prints one line per check; exit status 0 when "
                    f"every check passed, {EXIT_FAIL} when one failed, {EXIT_ERROR} when the "
                    "bundle or the configuration could not be read.")
    p.add_argument("file", metavar="FILE", help="the bundle file ('-' reads standard input)")
    p.add_argument("--config", required=True, metavar="FILE",
                   help="client.json holding the trust to verify against")
    p.add_argument("--model", default=None,
                   help="also require the node to serve this model (default: no model check)")
    p.add_argument("--now", type=int, default=None,
                   help="verify as of this unix time (default: the current time)")
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON instead of text (default: text)")
    p.set_defaults(func=cmd_attest_verify)
