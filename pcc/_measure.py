"""Measurements: the SHA-384 digests a release logs and a node's registers replay.

Three kinds of component are measured, each so that anyone can recompute it from the artefact:

- code: :func:`tree_manifest_digest` of an installed package directory;
- model: :func:`model_digest`, SHA-384 of the GGUF file's bytes;
- config: :func:`config_digest`, SHA-384 of the canonical msgpack encoding of a config map.

The exact rules are in docs/releases.md.
"""
from __future__ import annotations

import hashlib
import math
import os
import pathlib
import stat
from collections.abc import Callable, Iterator
from typing import Any

import msgpack

from pcc.errors import FormatError, InvalidArgument

_CHUNK = 1 << 20
_MAX_DEPTH = 64


def _file_sha384(path: str | os.PathLike,
                 on_progress: Callable[[int], None] | None = None) -> bytes:
    h = hashlib.sha384()
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done)
    return h.digest()


def model_digest(path: str | os.PathLike, *,
                 on_progress: Callable[[int], None] | None = None) -> bytes:
    """SHA-384 of a model file's bytes, read in 1 MiB chunks (48 bytes). ``on_progress`` is
    called with the number of bytes hashed so far after each chunk."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise InvalidArgument(f"{p} is not a regular file")
    return _file_sha384(p, on_progress)


# ----------------------------------------------------------------------------- code

def _bad_name(rel: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in rel)


def _walk(root: pathlib.Path) -> Iterator[tuple[str, pathlib.Path]]:
    """Yield ``(relative path, path to read)`` for every measured file under ``root``."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=_raise):
        here = pathlib.Path(dirpath)
        keep = []
        for name in dirnames:
            p = here / name
            if name == "__pycache__":
                continue
            if p.is_symlink():
                raise FormatError(f"{_rel(root, p)}: symbolic link to a directory; the tree "
                                  "manifest only follows links to files inside the tree")
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            if name.endswith(".pyc"):
                continue
            p = here / name
            rel = _rel(root, p)
            target = p
            if p.is_symlink():
                target = pathlib.Path(os.path.realpath(p))
                if not target.is_relative_to(root):
                    raise FormatError(f"{rel}: symbolic link pointing outside the package "
                                      f"({os.readlink(p)})")
                if not target.exists():
                    raise FormatError(f"{rel}: dangling symbolic link")
            mode = os.stat(target).st_mode
            if stat.S_ISDIR(mode):
                raise FormatError(f"{rel}: symbolic link to a directory; the tree manifest only "
                                  "follows links to files inside the tree")
            if not stat.S_ISREG(mode):
                raise FormatError(f"{rel}: not a regular file")
            yield rel, target


def _raise(e: OSError) -> None:
    raise e


def _rel(root: pathlib.Path, p: pathlib.Path) -> str:
    rel = p.relative_to(root).as_posix()
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError(f"{os.fsencode(rel)!r}: file name is not UTF-8") from None
    if _bad_name(rel):
        raise FormatError(f"{rel!r}: file name holds a control character")
    return rel


def tree_manifest(package_dir: str | os.PathLike) -> bytes:
    """The tree manifest of a package directory: for every file under it except those inside a
    ``__pycache__`` directory and those ending in ``.pyc``, the line ``<sha384 hex> <path>\\n``
    (path relative to the package, ``/``-separated), lines sorted by the UTF-8 bytes of the
    path. A symbolic link to a file inside the tree is measured as that file's content under the
    link's own path; a link pointing outside the tree, a dangling link, a link to a directory
    or a special file is refused with :class:`FormatError`."""
    root = pathlib.Path(os.path.realpath(package_dir))
    if not root.is_dir():
        raise InvalidArgument(f"{package_dir} is not a directory")
    entries = sorted(((rel.encode("utf-8"), target) for rel, target in _walk(root)),
                     key=lambda e: e[0])
    if not entries:
        raise FormatError(f"{package_dir} holds no file to measure")
    return b"".join(_file_sha384(t).hex().encode("ascii") + b" " + rel + b"\n"
                    for rel, t in entries)


def tree_manifest_digest(package_dir: str | os.PathLike) -> bytes:
    """SHA-384 of :func:`tree_manifest` (48 bytes): the code measurement of a package."""
    return hashlib.sha384(tree_manifest(package_dir)).digest()


def parse_tree_manifest(text: bytes) -> dict[str, str]:
    """``{path: sha384 hex}`` from a tree manifest (checked: line format, sorted, unique)."""
    if not isinstance(text, (bytes, bytearray)):
        raise TypeError("manifest must be bytes")
    if not text.endswith(b"\n"):
        raise FormatError("tree manifest must end with a newline")
    out: dict[str, str] = {}
    prev = None
    for i, line in enumerate(bytes(text)[:-1].split(b"\n")):
        h, sep, path = line.partition(b" ")
        if not sep or len(h) != 96 or any(c not in b"0123456789abcdef" for c in h) or not path:
            raise FormatError(f"tree manifest line {i + 1} is not '<sha384 hex> <path>'")
        if prev is not None and path <= prev:
            raise FormatError(f"tree manifest line {i + 1} is out of order or repeated")
        prev = path
        try:
            out[path.decode("utf-8")] = h.decode("ascii")
        except UnicodeDecodeError:
            raise FormatError(f"tree manifest line {i + 1}: path is not UTF-8") from None
    return out


def diff_tree_manifests(logged: dict[str, str], local: dict[str, str]) -> list[str]:
    """Human-readable differences: ``changed P``, ``added P`` (only in ``local``), ``removed P``
    (only in ``logged``), sorted by path."""
    out = []
    for p in sorted(set(logged) | set(local), key=lambda s: s.encode("utf-8")):
        if p not in local:
            out.append(f"removed {p}")
        elif p not in logged:
            out.append(f"added {p}")
        elif logged[p] != local[p]:
            out.append(f"changed {p}")
    return out


# ----------------------------------------------------------------------------- config

def _canonical(v: Any, depth: int, where: str) -> Any:
    if depth > _MAX_DEPTH:
        raise FormatError(f"config: nested deeper than {_MAX_DEPTH} at {where}")
    if v is None or isinstance(v, (bool, str, bytes)):
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise FormatError(f"config: {where} is not valid Unicode") from None
        return v
    if isinstance(v, int):
        if not -(1 << 63) <= v < (1 << 64):
            raise FormatError(f"config: integer at {where} does not fit in 64 bits")
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise FormatError(f"config: {where} is not a finite number")
        return v
    if isinstance(v, (list, tuple)):
        return [_canonical(x, depth + 1, f"{where}[{i}]") for i, x in enumerate(v)]
    if isinstance(v, dict):
        keys = []
        for k in v:
            if not isinstance(k, str):
                raise FormatError(f"config: map key {k!r} at {where} is not a string")
            try:
                keys.append((k.encode("utf-8"), k))
            except UnicodeEncodeError:
                raise FormatError(f"config: map key at {where} is not valid Unicode") from None
        keys.sort()
        return {k: _canonical(v[k], depth + 1, f"{where}.{k}") for _, k in keys}
    raise FormatError(f"config: {where} has unsupported type {type(v).__name__}")


def canonical_config(config: dict) -> bytes:
    """The canonical msgpack encoding of a config map (see :func:`config_digest`)."""
    if not isinstance(config, dict):
        raise TypeError("config must be a dict")
    return msgpack.packb(_canonical(config, 0, "$"), use_bin_type=True, use_single_float=False,
                         strict_types=False)


def config_digest(config: dict) -> bytes:
    """SHA-384 of the canonical msgpack encoding of ``config`` (48 bytes).

    Canonical rules: map keys are strings, written in the order of their UTF-8 bytes, at every
    depth; integers use msgpack's shortest form (64-bit range); floats are always float64; strings
    are msgpack str, bytes are bin; lists and tuples are arrays in their own order; ``None``,
    ``True`` and ``False`` are nil and the booleans. Anything else (other key types, NaN or
    infinities, sets, objects) is refused with :class:`FormatError`.
    """
    return hashlib.sha384(canonical_config(config)).digest()


__all__ = [
    "canonical_config",
    "config_digest",
    "diff_tree_manifests",
    "model_digest",
    "parse_tree_manifest",
    "tree_manifest",
    "tree_manifest_digest",
]
