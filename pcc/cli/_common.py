"""Helpers shared by the command groups: the parser class, key arguments, errors, serving.

Conventions every command follows (a test walks the whole parser to keep them):

- every option and positional has a help text; defaults are shown by :class:`HelpFormatter`;
- every sub-command group shows ``COMMAND`` (never an internal ``dest`` name);
- every error goes to stderr as one line starting ``pcc: error: `` that says what to do next;
- exit status: 0 success, 1 a check failed (verify, audit), 2 bad usage or an operational error.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import socket
import sys
import time
from typing import Any, NoReturn, Sequence

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
PREFIX = "pcc: error: "

SKEY_PREFIX = "PRIVATE+KEY+"


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help when it has a meaningful default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or not action.option_strings:
            return text
        d = action.default
        if d is None or d is False or d is argparse.SUPPRESS or d == [] or \
                isinstance(action, (argparse._StoreTrueAction, argparse._VersionAction,
                                    argparse._HelpAction)):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser with pcc's help formatter and error line (``pcc: error: ...``, exit 2).

    Sub-parsers made with ``add_subparsers`` are of this class too."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kw)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PREFIX}{message}\n  (see `{self.prog} --help`)\n")
        sys.exit(EXIT_ERROR)


def add_commands(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """The sub-command group of ``parser``: required, shown as ``COMMAND``."""
    return parser.add_subparsers(dest=dest, required=True, metavar="COMMAND",
                                 title="commands")


# ----------------------------------------------------------------------------- keys

def read_signer(value: str, what: str = "key", *, cosigner: bool = False):
    """The signer in an skey file (or, for tests, an inline skey), with a message that says how
    to fix a wrong one. A file is read into a wiped bytearray and parsed in C: no Python string
    of the key is made (an inline skey is in the process arguments anyway).

    Raises :class:`argparse.ArgumentTypeError` (argparse prints it as ``pcc: error: ...``)."""
    from pcc import note
    from pcc.transparency import _note as tlognote
    from pcc.errors import FormatError, PccError
    p = pathlib.Path(value)
    if not value.strip():
        raise argparse.ArgumentTypeError(f"{what}: empty value; give an skey file")
    not_private = (f"{what}: {value} is not a private key; pass the .skey file that "
                   f"`pcc log keygen` or `pcc witness keygen` wrote")
    if value.strip().startswith(SKEY_PREFIX):
        try:
            return (note.Cosigner.from_skey(value.strip()) if cosigner
                    else tlognote.load_signer(value))
        except PccError:
            raise argparse.ArgumentTypeError(f"{what}: not a valid skey") from None
    try:
        return tlognote.read_signer_file(p, cosigner=cosigner)
    except FormatError as e:
        if "not a private key" in str(e):
            raise argparse.ArgumentTypeError(not_private) from None
        raise argparse.ArgumentTypeError(f"{what}: {value} is not a valid skey ({e})") from None
    except IsADirectoryError:
        raise argparse.ArgumentTypeError(not_private) from None
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"{what}: no such file: {value}") from None
    except (OSError, PccError) as e:
        raise argparse.ArgumentTypeError(f"{what}: cannot read {value}: {_reason(e)}") from None


def read_key(value: str, what: str = "key", *, private: bool = False) -> str:
    """A key given inline or as a path to a file with one key line; checked to be a vkey (or an
    skey when ``private``), with a message that says how to fix a wrong one.

    Raises :class:`argparse.ArgumentTypeError` (argparse prints it as ``pcc: error: ...``)."""
    from pcc.transparency import _note as tlognote
    from pcc.errors import PccError
    text = value.strip()
    src = ""
    p = pathlib.Path(value)
    if not text:
        raise argparse.ArgumentTypeError(f"{what}: empty value; give a key or a key file")
    try:
        if p.is_file():
            text, src = tlognote.read_key_file(p), f" (read from {value})"
    except (OSError, PccError) as e:
        raise argparse.ArgumentTypeError(f"{what}: cannot read {value}: {_reason(e)}") from None
    is_skey = text.startswith(SKEY_PREFIX)
    if private:
        if not is_skey:
            raise argparse.ArgumentTypeError(
                f"{what}: {value} is not a private key{src}; pass the .skey file that "
                f"`pcc log keygen` or `pcc witness keygen` wrote")
        try:
            tlognote.load_signer(text)
        except PccError:
            raise argparse.ArgumentTypeError(
                f"{what}: {value} is not a valid skey{src}") from None
        return text
    if is_skey:
        raise argparse.ArgumentTypeError(
            f"{what}: {value} holds a PRIVATE key{src}; pass the public vkey instead (the "
            f".vkey file written beside it by keygen) and keep the skey secret")
    try:
        tlognote.load_verifier(text)
    except PccError:
        if "+" not in text and ("/" in value or value.endswith((".vkey", ".pub"))):
            raise argparse.ArgumentTypeError(f"{what}: no such file: {value}") from None
        raise argparse.ArgumentTypeError(
            f"{what}: {value!r} is neither a vkey (NAME+KEYID+BASE64) nor a file holding "
            f"one") from None
    return text


def vkey_arg(what: str):
    """An argparse ``type`` for a vkey (inline or file)."""
    def parse(value: str) -> str:
        return read_key(value, what)
    parse.__name__ = "vkey"
    return parse


def skey_arg(what: str, *, cosigner: bool = False):
    """An argparse ``type`` for an skey file (or inline skey): the value is the loaded signer
    (a :class:`pcc.note.Cosigner` when ``cosigner``), never the key text."""
    def parse(value: str):
        return read_signer(value, what, cosigner=cosigner)
    parse.__name__ = "skey"
    return parse


def _key_arg(value: str) -> str:
    """A vkey given inline or as a file (kept for callers; see :func:`read_key`)."""
    try:
        return read_key(value)
    except argparse.ArgumentTypeError as e:
        from pcc.errors import InvalidArgument
        raise InvalidArgument(str(e)) from None


def pair_arg(what: str):
    """An argparse ``type`` for ``LEFT=VKEY`` (split at the first ``=``: vkeys may end in ``=``)."""
    def parse(value: str) -> tuple[str, str]:
        left, sep, right = value.partition("=")
        if not sep or not left or not right:
            raise argparse.ArgumentTypeError(f"{what} must be LEFT=VKEY, got {value!r}")
        return left, read_key(right, what)
    parse.__name__ = "pair"
    return parse


def _pair(value: str, what: str) -> tuple[str, str]:
    return pair_arg(what)(value)


# ----------------------------------------------------------------------------- errors

def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    return str(e) or type(e).__name__


def _err(msg: str) -> int:
    """Print one ``pcc: error:`` line; return exit status 2."""
    print(f"{PREFIX}{msg}", file=sys.stderr)
    return EXIT_ERROR


def _guard(fn):
    """Run a command, turning pcc errors and OS errors into one error line and exit status 2."""
    def run(args) -> int:
        from pcc.errors import PccError
        try:
            return fn(args)
        except (PccError, OSError) as e:
            return _err(_reason(e))
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


# ----------------------------------------------------------------------------- serving

def key_id(vkey: str) -> str:
    """``name+hexid`` of a vkey (what a note signature line names)."""
    return "+".join(vkey.split("+")[:2])


def _listen(host: str, port: int) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP (not 0): asyncio then sets TCP_NODELAY on every accepted connection, so a
    # response written in pieces (headers, then a streamed body) is not held back by Nagle's
    # algorithm waiting for the peer's delayed ACK (40 ms a piece on Linux)
    s = socket.socket(fam, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError as e:
        s.close()
        from pcc.errors import StateError
        raise StateError(f"cannot listen on {host}:{port} ({e.strerror or e}): is another "
                         f"server running there? choose another --port") from None
    s.listen(2048)
    s.set_inheritable(True)
    return s


def _serve(app, host: str, port: int, lines: Sequence[str] = ()) -> int:
    """Start ``app`` (a pcc Service: its state is created before listening, so a locked database
    or a bad key is one error line), print the start-up lines, serve until SIGINT/SIGTERM.
    The service's :class:`pcc.services.Limits` set uvicorn's connection limits."""
    import uvicorn

    from pcc.services._limits import uvicorn_options

    async def main() -> None:
        sock = _listen(host, port)
        try:
            if hasattr(app, "start"):
                await app.start()
            bound = sock.getsockname()[1]
            url = f"http://{'[' + host + ']' if ':' in host else host}:{bound}"
            print(f"{getattr(app, 'name', 'service')} serving {url}", flush=True)
            for line in lines:
                print(f"  {line}", flush=True)
            cfg = uvicorn.Config(app, log_level=os.environ.get("PCC_LOG_LEVEL", "warning"),
                                 access_log=False, lifespan="on",
                                 **uvicorn_options(getattr(app, "limits", None)))
            await uvicorn.Server(cfg).serve(sockets=[sock])
        finally:
            sock.close()
            if hasattr(app, "stop"):
                await app.stop()

    asyncio.run(main())
    return EXIT_OK


# ----------------------------------------------------------------------------- submitting

INSECURE_NO_WITNESSES_HELP = ("accept a proof or log without any witness cosignature (anyone "
                              "holding the log key could then show you a forked history)")


def witness_quorum(args) -> tuple[list[str], int]:
    """The ``--witness`` keys and the quorum (default: all of them); refuses a zero quorum
    unless ``--insecure-no-witnesses``."""
    from pcc.errors import InvalidArgument
    wits = list(args.witness)
    quorum = len(wits) if args.quorum is None else args.quorum
    if not 0 <= quorum <= len(wits):
        raise InvalidArgument(f"--quorum {quorum} must be between 0 and the number of "
                              f"--witness keys ({len(wits)})")
    if quorum == 0 and not getattr(args, "insecure_no_witnesses", False):
        raise InvalidArgument("no witness quorum: pass the witnesses' vkeys with --witness "
                              "(and --quorum), or accept an unwitnessed log with "
                              "--insecure-no-witnesses")
    return wits, quorum


def _submit(args, leaf: bytes) -> tuple[int, str]:
    from pcc.transparency import _note as tlognote
    from pcc.transparency.client import submit
    sig = tlognote.raw_sign(args.key, leaf)      # args.key: a signer, seed held in C
    index, proof = submit(args.log, leaf, sig, timeout=args.timeout)
    if args.log_vkey:
        from pcc import transparency
        wits, quorum = witness_quorum(args)
        transparency.verify_proof(leaf, proof, args.log_vkey, wits, quorum, None)
    return index, proof


def _not_after(args) -> int:
    if args.not_after is not None:
        return args.not_after
    return int(time.time() + args.ttl_hours * 3600)


def _add_submit_args(p) -> None:
    p.add_argument("--log", required=True, metavar="URL",
                   help="the log's URL (the prefix of its /add endpoint)")
    p.add_argument("--key", required=True, metavar="SKEY_FILE", type=skey_arg("--key"),
                   help="publisher private key file (one of the log's --publisher keys)")
    p.add_argument("--log-vkey", metavar="VKEY|FILE", type=vkey_arg("--log-vkey"),
                   help="verify the returned proof with this log vkey (default: no check)")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY|FILE",
                   type=vkey_arg("--witness"),
                   help="witness cosigner vkey for verifying the proof (repeatable)")
    p.add_argument("--quorum", type=int, default=None, metavar="N",
                   help="witness cosignatures the proof needs (default: every --witness)")
    p.add_argument("--insecure-no-witnesses", action="store_true",
                   help=INSECURE_NO_WITNESSES_HELP)
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait for the log to sequence and witness the leaf")
