"""``pcc audit``: statistical audits a client can run on what it kept."""
from __future__ import annotations

import json
import pathlib

from pcc.cli._common import EXIT_OK, _err, add_commands

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
