"""Rosters: the logged list of nodes serving a model, and the client's draw from it.

An operator publishes, for each model and epoch, a ``roster`` leaf in the transparency log
(``{"type": "roster", "v": 1, "model", "epoch", "nodes": [node_id…]}``, node ids 32 bytes,
unique, sorted). A client that holds the roster and its proof picks the nodes for a request
itself, with its own CSPRNG, instead of taking the gateway's choice::

    r = roster.verify(leaf, proof, log_vkey, witness_vkeys, quorum=2, model="smollm2")
    chosen = r.draw(3)                                  # 3 distinct ids, uniformly
    more = r.redraw_excluding(chosen + withheld, 1)     # a replacement for a withheld bundle

The gateway serves ``GET /v1/roster?model=M`` (answer :func:`encode_response`, read with
:func:`decode_response`) and ``GET /v1/nodes?model=M&ids=<hex>,<hex>`` (the bundles of the named
nodes; :func:`parse_nodes_query` reads the query, :func:`format_ids` writes ``ids``). Every
parser here treats its input as hostile and raises :class:`pcc.errors.FormatError`.
"""
from __future__ import annotations

import dataclasses
import random
import secrets
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any, Optional, Union

import msgpack

from pcc import transparency
from pcc.errors import FormatError, InvalidArgument, StateError
from pcc.transparency import leaves

#: Length of a node id (SHA-256 of the node's identity key).
NODE_ID_LEN = 32
#: Most node ids one ``ids=`` query may name (a client names k ≤ this many nodes).
MAX_QUERY_IDS = 64
#: Most bytes of a query string the parsers read.
MAX_QUERY_LEN = 8192
#: Most nodes a roster can hold (the log's leaf size bounds it).
MAX_NODES = leaves.MAX_NODES
#: Largest k a client or gateway asks for in one discovery.
MAX_K = MAX_QUERY_IDS
#: Media type of the ``/v1/roster`` answer (the same shape as ``/v1/key-proof``).
MEDIA_TYPE = "application/msgpack"
#: Largest tlog-proof text accepted in a roster answer.
MAX_PROOF_LEN = 16384


@dataclasses.dataclass(frozen=True)
class Roster:
    """A verified roster: ``model``, ``epoch`` and the sorted node ids (``nodes``)."""

    model: str
    epoch: int
    nodes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        ids = tuple(self.nodes)
        if any(not isinstance(n, bytes) or len(n) != NODE_ID_LEN for n in ids):
            raise FormatError("roster: node ids must be 32-byte bytes")
        if list(ids) != sorted(set(ids)):
            raise FormatError("roster: node ids must be unique and sorted")
        object.__setattr__(self, "nodes", ids)

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def draw(self, k: int, rng: Optional[random.Random] = None) -> list[bytes]:
        """``k`` distinct node ids drawn uniformly at random without replacement (every
        k-subset equally likely, in random order) with ``rng`` (default: the operating
        system's CSPRNG, :class:`secrets.SystemRandom`). Raises :class:`InvalidArgument` when
        ``k`` is not in 1..len(nodes)."""
        return _sample(self.nodes, k, rng)

    def redraw_excluding(self, excluded: Iterable[bytes], k: int,
                         rng: Optional[random.Random] = None) -> list[bytes]:
        """Up to ``k`` distinct ids drawn uniformly from the roster minus ``excluded`` (the
        nodes already chosen and those whose bundle was withheld or failed verification), so a
        replacement is as unpredictable as the first draw. Returns fewer than ``k`` only when
        fewer remain; raises :class:`StateError` when none remains."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InvalidArgument("k must be a positive int")
        ex = set(bytes(e) for e in excluded)
        rest = tuple(n for n in self.nodes if n not in ex)
        if not rest:
            raise StateError("roster: every node of the roster is excluded; none is left to "
                             "draw (wait for the next epoch's roster)")
        return _sample(rest, min(k, len(rest)), rng)

    def to_dict(self) -> dict:
        """JSON-ready form (node ids in hex)."""
        return {"model": self.model, "epoch": self.epoch,
                "nodes": [n.hex() for n in self.nodes]}


def _sample(pool: Sequence[bytes], k: int, rng: Optional[random.Random]) -> list[bytes]:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= len(pool):
        raise InvalidArgument(f"k must be an int in 1..{len(pool)} (the nodes to draw from)")
    r = rng if rng is not None else secrets.SystemRandom()
    return list(r.sample(list(pool), k))


def from_leaf(leaf: bytes) -> Roster:
    """Decode a ``roster`` leaf (strictly) without checking any proof."""
    d = leaves.decode(leaf)
    if d["type"] != "roster":
        raise FormatError(f"roster: the leaf is a {d['type']} leaf, not a roster")
    return Roster(d["model"], d["epoch"], tuple(d["nodes"]))


def verify(leaf: bytes, proof: str, log_vkey, witness_vkeys: Sequence = (), quorum: int = 0,
           max_age_s: Optional[float] = None, *, model: Optional[str] = None,
           min_epoch: Optional[int] = None, now: Optional[float] = None) -> Roster:
    """Verify a roster leaf's tlog-proof against the pinned log and witness keys (as
    :func:`pcc.transparency.verify_proof` does: signature, inclusion, witness quorum and, with
    ``max_age_s``, freshness), decode it strictly and return the :class:`Roster`.

    With ``model``, the roster must be for that model; with ``min_epoch``, its epoch must be at
    least that (a client keeps the highest epoch it has seen, so a gateway cannot roll it back
    to an older roster). Raises :class:`pcc.errors.VerifyError` (a failed proof, naming the
    check), :class:`FormatError` (not a roster leaf) or :class:`StateError` (other model, old
    epoch)."""
    transparency.verify_proof(leaf, proof, log_vkey, witness_vkeys, quorum, max_age_s, now=now)
    r = from_leaf(leaf)                  # decoded only once the log vouches for the bytes
    if model is not None and r.model != model:
        raise StateError(f"roster: the roster is for model {r.model!r}, not {model!r}")
    if min_epoch is not None and r.epoch < min_epoch:
        raise StateError(f"roster: epoch {r.epoch} is older than epoch {min_epoch} already "
                         "seen (a rolled-back roster)")
    return r


def verify_trusted(leaf: bytes, proof: str, trust: Any, *, model: Optional[str] = None,
                   min_epoch: Optional[int] = None, now: Optional[float] = None) -> Roster:
    """:func:`verify` with the pinned keys of a client trust policy: any object with
    ``log_vkey``, ``witness_vkeys``, ``quorum`` and ``max_checkpoint_age_s`` attributes (the
    fields of ``pcc.attest.Trust``)."""
    try:
        log_vkey, wits = trust.log_vkey, list(trust.witness_vkeys)
        quorum, max_age = trust.quorum, trust.max_checkpoint_age_s
    except AttributeError as e:
        raise TypeError(f"trust lacks {e.name or 'a field'}: it needs log_vkey, witness_vkeys, "
                        "quorum and max_checkpoint_age_s") from None
    return verify(leaf, proof, log_vkey, wits, quorum, max_age, model=model,
                  min_epoch=min_epoch, now=now)


# ----------------------------------------------------------------------------- the wire

def format_ids(ids: Iterable[bytes]) -> str:
    """The ``ids`` query value: node ids in lower-case hex joined by commas."""
    out = []
    for n in ids:
        if not isinstance(n, (bytes, bytearray)) or len(n) != NODE_ID_LEN:
            raise InvalidArgument("node ids must be 32 bytes")
        out.append(bytes(n).hex())
    if not out:
        raise InvalidArgument("at least one node id is needed")
    return ",".join(out)


_HEX = frozenset("0123456789abcdefABCDEF")


def parse_id(text: str) -> bytes:
    """One node id from its 64 hex digits (either case). Raises :class:`FormatError`."""
    if not isinstance(text, str):
        raise TypeError("node id must be a str")
    if len(text) != 2 * NODE_ID_LEN or not set(text) <= _HEX:
        raise FormatError("node id must be 64 hex digits")
    return bytes.fromhex(text)


def parse_ids(text: str, *, max_ids: int = MAX_QUERY_IDS) -> list[bytes]:
    """The node ids of an ``ids`` query value (``<hex>,<hex>,…``), in order.

    Refuses (:class:`FormatError`) an empty value, an empty item, anything but 64 hex digits
    per id, more than ``max_ids`` ids and a repeated id."""
    if not isinstance(text, str):
        raise TypeError("ids must be a str")
    if not text:
        raise FormatError("ids: empty (name at least one node id)")
    if len(text) > max_ids * (2 * NODE_ID_LEN + 1):
        raise FormatError(f"ids: more than {max_ids} node ids")
    items = text.split(",")
    if len(items) > max_ids:
        raise FormatError(f"ids: more than {max_ids} node ids")
    out: list[bytes] = []
    for i, item in enumerate(items):
        try:
            n = parse_id(item)
        except FormatError:
            raise FormatError(f"ids: item {i} is not a node id (64 hex digits)") from None
        if n in out:
            raise FormatError(f"ids: item {i} repeats a node id")
        out.append(n)
    return out


def _query(query: Union[str, bytes], allowed: tuple[str, ...]) -> dict[str, str]:
    if isinstance(query, (bytes, bytearray)):
        try:
            query = bytes(query).decode("ascii")
        except UnicodeDecodeError:
            raise FormatError("query: not ASCII") from None
    if not isinstance(query, str):
        raise TypeError("query must be a str or bytes")
    if len(query) > MAX_QUERY_LEN:
        raise FormatError(f"query: longer than {MAX_QUERY_LEN} bytes")
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query),
                                       max_num_fields=len(allowed), errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise FormatError(f"query: malformed (expected {'&'.join(a + '=…' for a in allowed)})") \
            from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise FormatError(f"query: unknown parameter {key[:32]!r}")
        if key in out:
            raise FormatError(f"query: parameter {key} given twice")
        out[key] = value
    return out


def _model(value: Optional[str]) -> str:
    if value is None:
        raise FormatError("query: model is missing")
    b = value.encode("utf-8")
    if not 1 <= len(b) <= leaves.MAX_NAME or \
            any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise FormatError(f"query: model must be 1..{leaves.MAX_NAME} bytes without control "
                          "characters")
    return value


@dataclasses.dataclass(frozen=True)
class NodesQuery:
    """A parsed ``/v1/nodes`` query: the ``model`` and either ``k`` (the gateway chooses k
    nodes) or ``ids`` (the client names the nodes it drew from the roster)."""

    model: str
    k: Optional[int] = None
    ids: Optional[tuple[bytes, ...]] = None


def parse_nodes_query(query: Union[str, bytes], *, max_ids: int = MAX_QUERY_IDS) -> NodesQuery:
    """Parse the query string of ``GET /v1/nodes`` (``model=M&k=K`` or ``model=M&ids=…``;
    exactly one of ``k`` and ``ids``; ``k`` a decimal in 1..``max_ids``)."""
    q = _query(query, ("model", "k", "ids"))
    model = _model(q.get("model"))
    if ("k" in q) == ("ids" in q):
        raise FormatError("query: give exactly one of k (the gateway chooses) and ids (you "
                          "name the nodes)")
    if "k" in q:
        k = q["k"]
        if not (k.isascii() and k.isdigit()) or len(k) > 4 or k != str(int(k)) or \
                not 1 <= int(k) <= max_ids:
            raise FormatError(f"query: k must be a decimal integer in 1..{max_ids}")
        return NodesQuery(model, k=int(k))
    return NodesQuery(model, ids=tuple(parse_ids(q["ids"], max_ids=max_ids)))


def nodes_query(model: str, *, k: Optional[int] = None,
                ids: Optional[Sequence[bytes]] = None) -> str:
    """Build a ``/v1/nodes`` query string (the inverse of :func:`parse_nodes_query`)."""
    if (k is None) == (ids is None):
        raise InvalidArgument("give exactly one of k and ids")
    q = {"model": model}
    if k is not None:
        q["k"] = str(k)
    else:
        q["ids"] = format_ids(ids or ())
    text = urllib.parse.urlencode(q, safe=",")
    parse_nodes_query(text)
    return text


def parse_roster_query(query: Union[str, bytes]) -> str:
    """The model named by a ``GET /v1/roster`` query string (``model=M``, nothing else)."""
    return _model(_query(query, ("model",)).get("model"))


def encode_response(leaf: bytes, proof: str) -> bytes:
    """The ``/v1/roster`` answer body: ``msgpack({"leaf": bin, "proof": str})``. The leaf must
    be a valid roster leaf."""
    from_leaf(leaf)
    if not isinstance(proof, str) or not 0 < len(proof) <= MAX_PROOF_LEN:
        raise InvalidArgument(f"proof must be a non-empty str of at most {MAX_PROOF_LEN} chars")
    return msgpack.packb({"leaf": bytes(leaf), "proof": proof}, use_bin_type=True)


def decode_response(body: bytes) -> tuple[bytes, str]:
    """Read a ``/v1/roster`` answer: ``(leaf, proof)``, strictly (exactly the two keys, a bin
    roster leaf and a str proof, nothing trailing). The proof is not checked here: pass both to
    :func:`verify`."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError("body must be bytes")
    body = bytes(body)
    if len(body) > leaves.MAX_LEAF + MAX_PROOF_LEN + 64:
        raise FormatError("roster answer: too large")
    try:
        d = msgpack.unpackb(body, raw=False, strict_map_key=True, max_bin_len=leaves.MAX_LEAF,
                            max_str_len=MAX_PROOF_LEN, max_array_len=0, max_map_len=2,
                            max_ext_len=0)
    except (ValueError, TypeError, msgpack.exceptions.ExtraData,
            msgpack.exceptions.UnpackException, RecursionError):
        raise FormatError("roster answer: not a single msgpack map") from None
    if not isinstance(d, dict) or set(d) != {"leaf", "proof"}:
        raise FormatError('roster answer: must be a map with exactly "leaf" and "proof"')
    if not isinstance(d["leaf"], bytes) or not isinstance(d["proof"], str) or not d["proof"]:
        raise FormatError("roster answer: leaf must be bin and proof a non-empty str")
    from_leaf(d["leaf"])
    return d["leaf"], d["proof"]


# ----------------------------------------------------------------------------- files

def read_ids_file(text: str) -> list[bytes]:
    """Node ids from text with one hex id a line (blank lines and ``#`` comments ignored).
    Raises :class:`FormatError` naming the line of a malformed or repeated id."""
    out: list[bytes] = []
    seen: set[bytes] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        try:
            n = parse_id(s)
        except FormatError:
            raise FormatError(f"line {lineno}: not a node id (64 hex digits)") from None
        if n in seen:
            raise FormatError(f"line {lineno}: node id {s[:16]}… is listed twice")
        seen.add(n)
        out.append(n)
    return out
