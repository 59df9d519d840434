"""The ``pcc`` command line: ``pcc <group> <command> ...`` (argparse sub-commands).

Each command group lives in its own module under ``pcc.cli`` with a ``register(subparsers)``
function; :data:`GROUPS` lists them in the order ``pcc --help`` shows them. ``python -m pcc``
runs the same parser.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from pcc.errors import PccError

#: Command groups, in help order: group name -> module under ``pcc.cli`` with ``register``.
GROUPS: dict[str, str] = {
    "llm": "pcc.cli.llm",
    "log": "pcc.cli.log",
    "witness": "pcc.cli.witness",
    "release": "pcc.cli.release",
    "attest": "pcc.cli.attest",
}


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("pcc")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered group."""
    parser = argparse.ArgumentParser(
        prog="pcc", description="pcc: an open, verifiable private-inference cloud",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pcc {_version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="group", required=True, metavar="GROUP",
                                title="command groups")
    for module in GROUPS.values():
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pcc`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PccError as e:
        sys.stderr.write(f"pcc: error: {e}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
