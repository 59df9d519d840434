"""Log leaves: strict decoding, validation and construction (the format: docs/formats.md).

A leaf is the msgpack encoding of a map with a ``"type"``:

- ``release``: ``{"type", "v": 1, "name", "version", "created", "components": [{"name", "kind",
  "sha384"}]}`` with kind ``code`` | ``model`` | ``config`` and ``sha384`` 48 bytes;
- ``ohttp-keys``: ``{"type", "v": 1, "gateway", "configs" (application/ohttp-keys), "not_after"}``;
- ``issuer-key``: ``{"type", "v": 1, "issuer", "token_type": 2, "spki" (DER), "not_after"}``;
- ``roster``: ``{"type", "v": 1, "model", "epoch", "nodes": [node_id (32 bytes)…]}``, node ids
  unique and sorted ascending (byte order).

Validation is exact: the key set of every map, the msgpack type of every value (``str`` vs
``bin``), lengths and ranges, and the encoding itself must be the minimal one msgpack produces
(so one logical leaf has exactly one byte string: no duplicate keys, no padded integers).
Everything raises :class:`pcc.errors.FormatError` with a message naming the field.
"""
from __future__ import annotations

import hashlib
from typing import Any

import msgpack

from pcc.errors import FormatError

MAX_LEAF = 0xFFFF          # entry bundles carry uint16 lengths
MAX_NAME = 256             # bytes in a name, version, model or gateway string
MAX_COMPONENTS = 4096
MAX_NODES = 65536 // 34
MAX_UINT63 = (1 << 63) - 1
KINDS = ("code", "model", "config")
LEAF_TYPES = ("release", "ohttp-keys", "issuer-key", "roster")

# HPKE KEM ids -> encoded public key length (RFC 9180 Npk), for application/ohttp-keys.
_KEM_NPK = {0x0010: 65, 0x0011: 97, 0x0012: 133, 0x0020: 32, 0x0021: 56}
_KDFS = (0x0001, 0x0002, 0x0003)
_AEADS = (0x0001, 0x0002, 0x0003, 0xFFFF)


def _fail(what: str) -> None:
    raise FormatError(f"leaf: {what}")


def _str(d: dict, key: str, where: str) -> str:
    v = d[key]
    if not isinstance(v, str):
        _fail(f"{where}{key} must be a msgpack str")
    b = v.encode("utf-8")
    if not 1 <= len(b) <= MAX_NAME:
        _fail(f"{where}{key} must be 1..{MAX_NAME} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
        _fail(f"{where}{key} must not contain control characters")
    return v


def _uint(d: dict, key: str, where: str = "") -> int:
    v = d[key]
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_UINT63:
        _fail(f"{where}{key} must be an integer in 0..2^63-1")
    return v


def _bin(d: dict, key: str, where: str = "", *, length: int | None = None,
         max_len: int = MAX_LEAF) -> bytes:
    v = d[key]
    if not isinstance(v, bytes):
        _fail(f"{where}{key} must be msgpack bin")
    if length is not None and len(v) != length:
        _fail(f"{where}{key} must be {length} bytes")
    if not 1 <= len(v) <= max_len:
        _fail(f"{where}{key} has a bad length")
    return v


def _keys(d: Any, want: tuple[str, ...], where: str) -> dict:
    if not isinstance(d, dict):
        _fail(f"{where or 'leaf'} must be a map")
    if set(d) != set(want) or len(d) != len(want):
        extra = sorted(str(k) for k in set(d) - set(want))
        missing = sorted(set(want) - set(d))
        _fail(f"{where or 'leaf'} keys: missing {missing}, unexpected {extra}")
    return d


def _version(d: dict) -> None:
    v = d["v"]
    if not isinstance(v, int) or isinstance(v, bool) or v != 1:
        _fail("v must be 1")


def check_ohttp_keys(data: bytes) -> None:
    """Check an application/ohttp-keys body (RFC 9458 §3.2): one or more key configurations,
    each prefixed by a 2-byte length; each ``key_id(1) kem_id(2) public_key(Npk)
    len(2) (kdf_id(2) aead_id(2))+``."""
    pos = 0
    count = 0
    while pos < len(data):
        if len(data) - pos < 2:
            _fail("configs: truncated length")
        n = int.from_bytes(data[pos:pos + 2], "big")
        pos += 2
        cfg = data[pos:pos + n]
        if len(cfg) != n:
            _fail("configs: truncated key configuration")
        pos += n
        if len(cfg) < 3:
            _fail("configs: key configuration too short")
        kem = int.from_bytes(cfg[1:3], "big")
        if kem not in _KEM_NPK:
            _fail("configs: unknown KEM")
        q = 3 + _KEM_NPK[kem]
        if len(cfg) < q + 2:
            _fail("configs: truncated public key")
        slen = int.from_bytes(cfg[q:q + 2], "big")
        q += 2
        if slen == 0 or slen % 4 or len(cfg) != q + slen:
            _fail("configs: bad symmetric algorithm list")
        for i in range(q, q + slen, 4):
            if int.from_bytes(cfg[i:i + 2], "big") not in _KDFS or \
                    int.from_bytes(cfg[i + 2:i + 4], "big") not in _AEADS:
                _fail("configs: unknown KDF or AEAD")
        count += 1
    if count == 0:
        _fail("configs: no key configuration")


def _der_len(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        _fail("spki: truncated DER")
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    k = b & 0x7F
    if k == 0 or k > 3 or pos + 1 + k > len(data):
        _fail("spki: bad DER length")
    n = int.from_bytes(data[pos + 1:pos + 1 + k], "big")
    if n < 0x80 or (k > 1 and n < (1 << (8 * (k - 1)))):
        _fail("spki: non-minimal DER length")
    return n, pos + 1 + k


def check_spki(data: bytes) -> None:
    """Check the DER framing of a SubjectPublicKeyInfo: ``SEQUENCE { SEQUENCE {...},
    BIT STRING }`` filling the buffer exactly (the key itself is checked by its users)."""
    if len(data) < 16 or data[0] != 0x30:
        _fail("spki: not a DER SEQUENCE")
    n, pos = _der_len(data, 1)
    if pos + n != len(data):
        _fail("spki: DER length does not match")
    if data[pos] != 0x30:
        _fail("spki: missing AlgorithmIdentifier")
    n1, p1 = _der_len(data, pos + 1)
    q = p1 + n1
    if q >= len(data) or data[q] != 0x03:
        _fail("spki: missing BIT STRING")
    n2, p2 = _der_len(data, q + 1)
    if p2 + n2 != len(data) or n2 < 2 or data[p2] != 0:
        _fail("spki: bad BIT STRING")


def _release(d: dict) -> None:
    _keys(d, ("type", "v", "name", "version", "created", "components"), "")
    _version(d)
    _str(d, "name", "")
    _str(d, "version", "")
    _uint(d, "created")
    comps = d["components"]
    if not isinstance(comps, list) or not 1 <= len(comps) <= MAX_COMPONENTS:
        _fail(f"components must be an array of 1..{MAX_COMPONENTS}")
    seen = set()
    for i, c in enumerate(comps):
        where = f"components[{i}]."
        _keys(c, ("name", "kind", "sha384"), f"components[{i}]")
        name = _str(c, "name", where)
        if not isinstance(c["kind"], str) or c["kind"] not in KINDS:
            _fail(f"{where}kind must be one of {', '.join(KINDS)}")
        _bin(c, "sha384", where, length=48)
        if name in seen:
            _fail(f"{where}name is a duplicate")
        seen.add(name)


def _ohttp_keys(d: dict) -> None:
    _keys(d, ("type", "v", "gateway", "configs", "not_after"), "")
    _version(d)
    _str(d, "gateway", "")
    check_ohttp_keys(_bin(d, "configs"))
    _uint(d, "not_after")


def _issuer_key(d: dict) -> None:
    _keys(d, ("type", "v", "issuer", "token_type", "spki", "not_after"), "")
    _version(d)
    _str(d, "issuer", "")
    tt = d["token_type"]
    if not isinstance(tt, int) or isinstance(tt, bool) or tt != 2:
        _fail("token_type must be 2")
    check_spki(_bin(d, "spki", max_len=4096))
    _uint(d, "not_after")


def _roster(d: dict) -> None:
    _keys(d, ("type", "v", "model", "epoch", "nodes"), "")
    _version(d)
    _str(d, "model", "")
    _uint(d, "epoch")
    nodes = d["nodes"]
    if not isinstance(nodes, list) or len(nodes) > MAX_NODES:
        _fail("nodes must be an array")
    seen = set()
    for i, n in enumerate(nodes):
        if not isinstance(n, bytes) or len(n) != 32:
            _fail(f"nodes[{i}] must be 32 bytes of msgpack bin")
        if n in seen:
            _fail(f"nodes[{i}] is a duplicate")
        if i and n < nodes[i - 1]:
            _fail(f"nodes[{i}] is out of order (node ids are sorted ascending)")
        seen.add(n)


_CHECKS = {"release": _release, "ohttp-keys": _ohttp_keys, "issuer-key": _issuer_key,
           "roster": _roster}


def _unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True,
                               max_bin_len=MAX_LEAF, max_str_len=MAX_LEAF,
                               max_array_len=MAX_LEAF, max_map_len=64, max_ext_len=0)
    except (ValueError, TypeError, msgpack.exceptions.ExtraData, msgpack.exceptions.UnpackException,
            RecursionError) as e:
        raise FormatError(f"leaf: not a single msgpack value ({type(e).__name__})") from None


def decode(leaf: bytes) -> dict:
    """Decode and validate a leaf; return the map. Raises :class:`FormatError`."""
    if not isinstance(leaf, (bytes, bytearray, memoryview)):
        raise TypeError("leaf must be bytes")
    leaf = bytes(leaf)
    if not 1 <= len(leaf) <= MAX_LEAF:
        _fail(f"size must be 1..{MAX_LEAF} bytes")
    d = _unpack(leaf)
    if not isinstance(d, dict):
        _fail("must be a msgpack map")
    t = d.get("type")
    if not isinstance(t, str) or t not in _CHECKS:
        _fail(f"unknown type (expected one of {', '.join(LEAF_TYPES)})")
    _CHECKS[t](d)
    if encode(d) != leaf:
        _fail("not minimally encoded (re-encoding gives other bytes)")
    return d


def encode(d: dict) -> bytes:
    """msgpack-encode a leaf map (str as str, bytes as bin, minimal integers)."""
    return msgpack.packb(d, use_bin_type=True)


def release(name: str, version: str, created: int,
            components: list[tuple[str, str, bytes]]) -> bytes:
    """Build and validate a ``release`` leaf from ``(name, kind, sha384)`` components."""
    leaf = encode({"type": "release", "v": 1, "name": name, "version": version,
                   "created": created,
                   "components": [{"name": n, "kind": k, "sha384": bytes(h)}
                                  for n, k, h in components]})
    decode(leaf)
    return leaf


def ohttp_keys(gateway: str, configs: bytes, not_after: int) -> bytes:
    """Build and validate an ``ohttp-keys`` leaf."""
    leaf = encode({"type": "ohttp-keys", "v": 1, "gateway": gateway, "configs": bytes(configs),
                   "not_after": not_after})
    decode(leaf)
    return leaf


def issuer_key(issuer: str, spki: bytes, not_after: int) -> bytes:
    """Build and validate an ``issuer-key`` leaf (token type 2)."""
    leaf = encode({"type": "issuer-key", "v": 1, "issuer": issuer, "token_type": 2,
                   "spki": bytes(spki), "not_after": not_after})
    decode(leaf)
    return leaf


def roster(model: str, epoch: int, nodes: list[bytes]) -> bytes:
    """Build and validate a ``roster`` leaf (the node ids are sorted here; a duplicate is a
    :class:`FormatError`)."""
    leaf = encode({"type": "roster", "v": 1, "model": model, "epoch": epoch,
                   "nodes": sorted(bytes(n) for n in nodes)})
    decode(leaf)
    return leaf


def release_digest(leaf: bytes) -> bytes:
    """The release digest: SHA-256 of the leaf bytes (the name of a release)."""
    return hashlib.sha256(leaf).digest()


def describe(d: dict) -> str:
    """One human-readable line for a decoded leaf (for the auditor's listing)."""
    t = d["type"]
    if t == "release":
        comps = ", ".join(f"{c['name']}({c['kind']}) {c['sha384'].hex()[:16]}…"
                          for c in d["components"])
        return f"release {d['name']} {d['version']} created={d['created']} [{comps}]"
    if t == "ohttp-keys":
        return f"ohttp-keys gateway={d['gateway']} not_after={d['not_after']} " \
               f"configs={len(d['configs'])}B"
    if t == "issuer-key":
        return f"issuer-key issuer={d['issuer']} token_type=2 not_after={d['not_after']} " \
               f"spki-sha256={hashlib.sha256(d['spki']).hexdigest()[:16]}…"
    return f"roster model={d['model']} epoch={d['epoch']} nodes={len(d['nodes'])}"
