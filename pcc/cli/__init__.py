"""The ``pcc`` command line: ``pcc <group> <command> ...`` (argparse sub-commands).

Each command group lives in its own module under ``pcc.cli`` with a ``register(subparsers)``
function; :data:`GROUPS` lists them in the order ``pcc --help`` shows them. ``python -m pcc``
runs the same parser. Every error is one stderr line starting ``pcc: error: ``; the exit status
is 0 on success, 1 when a check fails (``log verify``, ``log audit``) and 2 for bad usage or an
operational error (see :mod:`pcc.cli._common`).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from pcc.cli._common import EXIT_ERROR, PREFIX, Parser
from pcc.errors import PccError

#: Command groups, in help order: group name -> module under ``pcc.cli`` with ``register``.
GROUPS: dict[str, str] = {
    "llm": "pcc.cli.llm",
    "log": "pcc.cli.log",
    "witness": "pcc.cli.witness",
    "release": "pcc.cli.release",
    "ca": "pcc.cli.ca",
    "issuer": "pcc.cli.issuer",
    "attest": "pcc.cli.attest",
    "roster": "pcc.cli.roster",
    "audit": "pcc.cli.audit",
    "node": "pcc.cli.node",
    "relay": "pcc.cli.relay",
    "gateway": "pcc.cli.gateway",
    "up": "pcc.cli.cell",
    "proxy": "pcc.cli.proxy",
}


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("pcc")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _walk(parser: argparse.ArgumentParser):
    """Every parser under ``parser`` (itself included), depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _walk(child)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered group."""
    parser = Parser(prog="pcc", description="pcc: an open, verifiable private-inference cloud")
    parser.add_argument("--version", action="version", version=f"pcc {_version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="group", required=True, metavar="GROUP",
                                title="command groups")
    for module in GROUPS.values():
        importlib.import_module(module).register(sub)
    # A group registered without a metavar would show its internal dest name in usage lines
    # and errors ("the following arguments are required: llm_command"): show COMMAND instead.
    for p in _walk(parser):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction) and action.metavar is None:
                action.metavar = "COMMAND"
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pcc`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PccError as e:
        sys.stderr.write(f"{PREFIX}{e}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
