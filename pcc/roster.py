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

Guards around a served roster: :class:`EpochState` keeps the highest epoch a client accepted
per model (in a file, across restarts); :func:`find_newer` reads the log after a roster (checked
against the log's witnessed root) for a later roster of the same model with a higher epoch;
:func:`fetch_proof` builds a fresh, verified tlog-proof of a leaf from the log's checkpoint and
tiles (what a gateway uses to keep its roster proof fresh without the publisher key).
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import random
import secrets
import tempfile
import threading
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


# ----------------------------------------------------------------------------- client state

#: Version of the client state file (:class:`EpochState`).
STATE_VERSION = 1
_STATE_MAX = 1 << 20


class EpochState:
    """The highest roster epoch a client has accepted for each model, optionally kept in a JSON
    file so that a restarted client still refuses an older roster (a rollback across restarts).

    ``path`` None keeps the epochs in memory only. A missing file is a first run (empty). The
    file is ``{"v": 1, "rosters": {"<model>": {"epoch": int, "log_index": int}}}``; it holds
    no secret (which models were used, and which roster epochs were seen). It is written
    atomically (a temporary file in the same directory, fsync, rename, mode 0600), merging with
    what is on disk under an exclusive lock on the directory (flock) so that two clients
    sharing one file never lower an epoch. A file that
    cannot be read or parsed raises :class:`StateError` naming it: the client never silently
    forgets what it accepted (remove the file by hand to start over)."""

    def __init__(self, path: Union[str, "os.PathLike[str]", None] = None) -> None:
        self.path = None if path is None else pathlib.Path(path)
        self._lock = threading.Lock()
        self._rosters: dict[str, dict[str, int]] = self._read() if self.path else {}

    def __repr__(self) -> str:
        return f"<pcc EpochState {self.path or 'in memory'} models={len(self._rosters)}>"

    def _read(self) -> dict[str, dict[str, int]]:
        assert self.path is not None
        try:
            with open(self.path, "rb") as f:
                data = f.read(_STATE_MAX + 1)
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise StateError(f"client state {self.path}: cannot read "
                             f"({e.strerror or type(e).__name__})") from None
        return _parse_state(data, str(self.path))

    def epoch(self, model: str) -> Optional[int]:
        """The highest epoch accepted for ``model`` (None: none yet)."""
        got = self._rosters.get(model)
        return None if got is None else got["epoch"]

    def accept(self, model: str, epoch: int, log_index: int) -> None:
        """Record that a roster of ``model`` with ``epoch`` (logged at ``log_index``) was
        accepted; a lower epoch than the one kept is ignored. Writes the file when the epoch
        rose. Raises :class:`StateError` when the file cannot be written (or has become
        corrupt meanwhile)."""
        with self._lock:
            cur = self._rosters.get(model)
            if cur is not None and cur["epoch"] >= epoch:
                return
            self._rosters[model] = {"epoch": int(epoch), "log_index": int(log_index)}
            if self.path is None:
                return
            # read, merge and replace under an exclusive lock on the directory, so that another
            # client sharing the file cannot write between this read and this write (its epoch
            # would be lost)
            dir_fd = _lock_dir(self.path)
            try:
                merged = self._read()
                for m, v in self._rosters.items():
                    if m not in merged or merged[m]["epoch"] < v["epoch"]:
                        merged[m] = v
                self._rosters = merged
                text = json.dumps({"v": STATE_VERSION, "rosters": merged}, indent=1,
                                  sort_keys=True) + "\n"
                _write_atomic(self.path, text.encode("utf-8"))
                try:
                    os.fsync(dir_fd)             # the rename itself survives a crash
                except OSError:
                    pass
            finally:
                os.close(dir_fd)                 # and releases the lock


def _parse_state(data: bytes, name: str) -> dict[str, dict[str, int]]:
    def bad(why: str) -> StateError:
        return StateError(f"client state {name} is corrupt ({why}); the client will not "
                          "forget the roster epochs it accepted: fix or remove the file")
    if len(data) > _STATE_MAX:
        raise bad("larger than 1 MiB")
    try:
        d = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad("not JSON") from None
    if not isinstance(d, dict) or d.get("v") != STATE_VERSION or set(d) != {"v", "rosters"}:
        raise bad(f'expected {{"v": {STATE_VERSION}, "rosters": {{…}}}}')
    rosters = d["rosters"]
    if not isinstance(rosters, dict):
        raise bad("rosters is not an object")
    out: dict[str, dict[str, int]] = {}
    for model, v in rosters.items():
        if not isinstance(v, dict) or set(v) != {"epoch", "log_index"} or \
                not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                        for x in v.values()):
            raise bad(f"the entry of model {model[:64]!r} is not "
                      '{"epoch": int, "log_index": int}')
        out[model] = {"epoch": v["epoch"], "log_index": v["log_index"]}
    return out


def _lock_dir(path: pathlib.Path) -> int:
    """An open descriptor of ``path``'s directory holding an exclusive flock (released when it
    is closed)."""
    import fcntl
    try:
        fd = os.open(str(path.parent), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise StateError(f"client state {path}: cannot write "
                         f"({e.strerror or type(e).__name__})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as e:
        os.close(fd)
        raise StateError(f"client state {path}: cannot lock its directory "
                         f"({e.strerror or type(e).__name__})") from None
    return fd


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.")
    except OSError as e:
        raise StateError(f"client state {path}: cannot write "
                         f"({e.strerror or type(e).__name__})") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StateError(f"client state {path}: cannot write "
                         f"({e.strerror or type(e).__name__})") from None


# ----------------------------------------------------------------------------- the log itself

#: Most log leaves :func:`find_newer` reads after a roster (256 entry bundles).
MAX_SCAN = 65536


@dataclasses.dataclass(frozen=True)
class Newer:
    """A roster of the same model logged after the one checked, with a higher epoch: the one
    checked is superseded. ``index`` is the newer leaf's position in the log."""

    index: int
    roster: Roster


def _largest_pow2_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 Merkle tree hash of a list of leaf (or same-level subtree) hashes."""
    from pcc import merkle
    if len(hashes) == 1:
        return hashes[0]
    k = _largest_pow2_below(len(hashes))
    return merkle.node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


class _TileTree:
    """Subtree hashes of a log of ``size`` leaves, read from its hash tiles (a few tiles per
    subtree, cached) and, from ``right_start`` on, from leaf hashes the caller computed from the
    entries themselves. Nothing here is trusted: the caller compares the root it gives with a
    verified checkpoint (or verifies the inclusion proof it gives)."""

    def __init__(self, reader: Any, size: int, right_start: Optional[int] = None,
                 right: Sequence[bytes] = ()) -> None:
        self.reader, self.size = reader, size
        self.right_start = size if right_start is None else right_start
        self.right = list(right)
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    def _node(self, level: int, idx: int) -> bytes:
        from pcc.transparency import tiles
        t_level, r = divmod(level, tiles.TILE_HEIGHT)
        first = idx << r                      # index at level 8 * t_level
        t_idx = first // tiles.TILE_WIDTH
        key = (t_level, t_idx)
        if key not in self._tiles:
            width = min(tiles.TILE_WIDTH,
                        tiles.level_width(self.size, t_level) - t_idx * tiles.TILE_WIDTH)
            tile = tiles.Tile(t_level, t_idx, width)
            self._tiles[key] = tiles.split_hashes(self.reader.tile(tile), width)
        off = first - t_idx * tiles.TILE_WIDTH
        got = self._tiles[key][off:off + (1 << r)]
        if len(got) != 1 << r:
            raise FormatError("log: a hash tile is shorter than the tree needs")
        return _mth(got)

    def hash(self, a: int, b: int) -> bytes:
        """MTH of leaves [a, b)."""
        n = b - a
        if a >= self.right_start:
            return _mth(self.right[a - self.right_start:b - self.right_start])
        if b <= self.right_start and n & (n - 1) == 0:
            level = n.bit_length() - 1
            return self._node(level, a >> level)
        k = _largest_pow2_below(n)
        from pcc import merkle
        return merkle.node_hash(self.hash(a, a + k), self.hash(a + k, b))

    def path(self, index: int, a: int, b: int) -> list[bytes]:
        """RFC 9162 inclusion path of leaf ``index`` in leaves [a, b), leaf level first."""
        if b - a == 1:
            return []
        k = _largest_pow2_below(b - a)
        if index < a + k:
            return self.path(index, a, a + k) + [self.hash(a + k, b)]
        return self.path(index, a + k, b) + [self.hash(a, a + k)]


def _checkpoint(reader: Any, log_vkey: Any, witness_vkeys: Sequence, quorum: int
                ) -> tuple[str, Any]:
    """The log's current checkpoint, verified (log signature, origin, witness quorum)."""
    from pcc.errors import VerifyError
    from pcc.transparency.client import AuditFailure, Auditor
    try:
        return Auditor(reader, log_vkey, list(witness_vkeys), quorum).fetch_checkpoint()
    except AuditFailure as e:
        raise VerifyError(f"log: {e.problem}") from None


def _reader(log_url: str, reader: Any, deadline_s: float) -> tuple[Any, bool]:
    from pcc.transparency.client import TileReader
    if reader is not None:
        return reader, False
    if not isinstance(log_url, str) or not log_url.startswith(("http://", "https://")):
        raise InvalidArgument("log_url must be an http:// or https:// URL")
    return TileReader(log_url, deadline_s=deadline_s), True


def fetch_proof(log_url: str, leaf: bytes, index: int, log_vkey: Any,
                witness_vkeys: Sequence = (), quorum: int = 0, *, reader: Any = None,
                deadline_s: float = 10.0) -> str:
    """A fresh tlog-proof for ``leaf`` at ``index``, built from the log's current checkpoint
    and its hash tiles (about log₂(size)/8 tiles, each request bounded by ``deadline_s``), and
    verified (log signature, witness quorum, inclusion of exactly ``leaf``) before it is
    returned. No publisher key is needed: anyone can refresh a proof this way. Raises
    :class:`pcc.errors.VerifyError` when the log's answers do not prove the leaf,
    :class:`pcc.errors.PeerError` when the log cannot be read."""
    from pcc import note
    rd, own = _reader(log_url, reader, deadline_s)
    try:
        text, cp = _checkpoint(rd, log_vkey, witness_vkeys, quorum)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < cp.size:
            raise StateError(f"log: index {index} is not below the log's size {cp.size}")
        hashes = _TileTree(rd, cp.size).path(index, 0, cp.size)
        proof = note.format_proof(index, hashes, text)
    finally:
        if own:
            rd.close()
    transparency.verify_proof(leaf, proof, log_vkey, list(witness_vkeys), quorum)
    return proof


def find_newer(log_url: str, leaf: bytes, proof: str, log_vkey: Any,
               witness_vkeys: Sequence = (), quorum: int = 0, *, max_leaves: int = MAX_SCAN,
               reader: Any = None, deadline_s: float = 10.0) -> Optional[Newer]:
    """Whether the log holds a newer roster for the same model than ``leaf``: the roster of the
    highest epoch above ``leaf``'s among the leaves logged after it, or None when there is none.

    ``proof`` must verify (it gives the leaf's index). The leaves from that index up to the
    log's current checkpoint (verified with the pinned log key and witness quorum, at least as
    large as the proof's) are read from the entry bundles, their hashes combined with the hash
    tiles to the left, and the root compared with the checkpoint's, so a log cannot hide a
    leaf from this scan without forking (which witnesses and auditors see). At most
    ``max_leaves`` leaves are read: more raises :class:`StateError` (run ``pcc log audit``
    instead). A later roster of a lower epoch does not count (the client keeps the highest
    epoch it accepted anyway)."""
    from pcc import merkle
    from pcc.errors import VerifyError
    from pcc.transparency import tiles
    index, proof_cp = transparency.verify_proof(leaf, proof, log_vkey, list(witness_vkeys),
                                                quorum)
    mine = from_leaf(leaf)
    rd, own = _reader(log_url, reader, deadline_s)
    try:
        _, cp = _checkpoint(rd, log_vkey, witness_vkeys, quorum)
        if cp.size < proof_cp.size:
            raise VerifyError(f"log: its checkpoint (size {cp.size}) is older than the "
                              f"roster's proof (size {proof_cp.size})")
        start, end = index + 1, cp.size
        if end - start > max_leaves:
            raise StateError(f"log: {end - start} leaves follow the roster, more than "
                             f"{max_leaves} to scan here (use pcc log audit)")
        b_start = start // tiles.TILE_WIDTH * tiles.TILE_WIDTH
        # each bundle is reduced to its leaf hashes (and a candidate roster) as it arrives: what
        # is kept does not grow with the size of the entries the log serves
        hashes: list[bytes] = []
        best: Optional[Newer] = None
        for a in range(b_start, end, tiles.TILE_WIDTH):
            width = min(tiles.TILE_WIDTH, end - a)
            t = tiles.Tile(-1, a // tiles.TILE_WIDTH, width)
            for i, e in enumerate(tiles.decode_bundle(rd.tile(t), width), a):
                hashes.append(merkle.leaf_hash(e))
                if i == index and e != bytes(leaf):
                    raise VerifyError(f"log: its checkpoint holds another leaf at {index} than "
                                      "the roster its proof was checked for (a forked log)")
                if i < start:
                    continue
                try:
                    d = leaves.decode(e)
                except FormatError:
                    continue
                if d["type"] == "roster" and d["model"] == mine.model and \
                        d["epoch"] > mine.epoch and \
                        (best is None or d["epoch"] > best.roster.epoch):
                    best = Newer(i, Roster(d["model"], d["epoch"], tuple(d["nodes"])))
        if end > 0:
            tree = _TileTree(rd, end, b_start, hashes)
            if tree.hash(0, end) != bytes(cp.root):
                raise VerifyError("log: the entries after the roster and its tiles do not "
                                  "give the checkpoint's root")
    finally:
        if own:
            rd.close()
    return best
