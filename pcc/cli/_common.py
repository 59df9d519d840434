"""Helpers shared by the command groups: key arguments, error handling, serving, log submission."""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def _key_arg(value: str) -> str:
    """A key given inline or as a path to a file with one key line."""
    from pcc.transparency import _note as tlognote
    p = pathlib.Path(value)
    if p.is_file():
        return tlognote.read_key_file(p)
    return value.strip()


def _pair(value: str, what: str) -> tuple[str, str]:
    """``LEFT=KEY`` split at the first ``=`` (vkeys end in base64 and may contain ``=``)."""
    left, sep, right = value.partition("=")
    if not sep or not left or not right:
        raise argparse.ArgumentTypeError(f"{what} must be LEFT=VKEY")
    return left, _key_arg(right)


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return EXIT_ERROR


def _guard(fn):
    """Run a command, turning pcc errors and OS errors into a message and exit status 2."""
    def run(args) -> int:
        from pcc.errors import PccError
        try:
            return fn(args)
        except (PccError, OSError) as e:
            return _err(f"{type(e).__name__}: {e}")
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _serve(app, host: str, port: int) -> int:
    import uvicorn
    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("PCC_LOG_LEVEL", "warning"),
                access_log=False, lifespan="on")
    return EXIT_OK


def _submit(args, leaf: bytes) -> tuple[int, str]:
    from pcc.transparency import _note as tlognote
    from pcc.transparency.client import submit
    signer = tlognote.load_signer(tlognote.read_key_file(args.key))   # seed held in C
    sig = tlognote.raw_sign(signer, leaf)
    index, proof = submit(args.log, leaf, sig, timeout=args.timeout)
    if args.log_vkey:
        from pcc import transparency
        wits = [_key_arg(w) for w in args.witness]
        quorum = len(wits) if args.quorum is None else args.quorum
        transparency.verify_proof(leaf, proof, _key_arg(args.log_vkey), wits, quorum, None)
    return index, proof


def _not_after(args) -> int:
    if args.not_after is not None:
        return args.not_after
    return int(time.time() + args.ttl_hours * 3600)


def _add_submit_args(p) -> None:
    p.add_argument("--log", required=True, help="log URL (prefix of /add)")
    p.add_argument("--key", required=True, help="publisher skey file")
    p.add_argument("--log-vkey", help="verify the returned proof with this log vkey")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY",
                   help="witness cosigner vkey for verifying the proof (repeatable)")
    p.add_argument("--quorum", type=int, default=None)
    p.add_argument("--timeout", type=float, default=60.0)
