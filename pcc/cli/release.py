"""``pcc release``: measure and publish releases to the log."""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import time

from pcc.cli._common import (EXIT_OK, _add_submit_args, _err, _guard, _submit)


# ----------------------------------------------------------------------------- release

def build_release_leaf(manifest_path: str | os.PathLike, created: int | None = None) -> bytes:
    """Read a release manifest and return the ``release`` leaf.

    Manifest (JSON): ``{"name": str, "version": str, "files": [{"path": str,
    "kind": "code"|"model"|"config", "name": str (optional, default: the file name)}]}``; paths
    are relative to the manifest's directory. Each component's ``sha384`` is computed from the
    file.
    """
    from pcc.transparency import leaves
    from pcc.errors import FormatError
    mp = pathlib.Path(manifest_path)
    try:
        m = json.loads(mp.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FormatError(f"manifest is not JSON: {e}") from None
    if not isinstance(m, dict) or set(m) - {"name", "version", "files"} or \
            not {"name", "version", "files"} <= set(m):
        raise FormatError('manifest must have exactly "name", "version" and "files"')
    if not isinstance(m["files"], list) or not m["files"]:
        raise FormatError('manifest "files" must be a non-empty list')
    comps = []
    for i, f in enumerate(m["files"]):
        if not isinstance(f, dict) or "path" not in f or "kind" not in f or \
                set(f) - {"path", "kind", "name"}:
            raise FormatError(f"manifest files[{i}] must have path, kind and optional name")
        p = pathlib.Path(f["path"])
        if not p.is_absolute():
            p = mp.parent / p
        h = hashlib.sha384()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        comps.append((f.get("name", p.name), f["kind"], h.digest()))
    return leaves.release(m["name"], m["version"],
                          int(time.time()) if created is None else created, comps)


def cmd_release_publish(args) -> int:
    """``release publish``: log a release manifest, save the leaf and proof beside it."""
    from pcc.transparency import leaves
    from pcc.errors import PccError
    try:
        leaf = build_release_leaf(args.manifest, args.created)
        index, proof = _submit(args, leaf)
    except (PccError, OSError) as e:
        return _err(str(e))
    mp = pathlib.Path(args.manifest)
    base = mp.with_suffix("") if mp.suffix else mp
    leaf_path = base.with_name(base.name + ".leaf")
    proof_path = base.with_name(base.name + ".tlog-proof")
    leaf_path.write_bytes(leaf)
    proof_path.write_text(proof, encoding="utf-8")
    print(f"release {leaves.decode(leaf)['name']} logged at index {index}, "
          f"digest {leaves.release_digest(leaf).hex()}; leaf in {leaf_path}, proof in "
          f"{proof_path}")
    return EXIT_OK


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    # release
    rp = subparsers.add_parser("release", help="publish releases to the log")
    rs = rp.add_subparsers(dest="release_cmd", required=True)
    p = rs.add_parser("publish", help="log a release manifest")
    _add_submit_args(p)
    p.add_argument("--created", type=int, default=None, help="unix time (default: now)")
    p.add_argument("manifest")
    p.set_defaults(func=_guard(cmd_release_publish))
