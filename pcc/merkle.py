"""RFC 9162 Merkle trees: hashing, an append-only tree with proofs, and proof verification.

Hashing follows RFC 9162 §2.1.1 (the same as RFC 6962): the empty tree hashes to SHA-256(""), a
leaf to SHA-256(0x00 || data) and an inner node to SHA-256(0x01 || left || right). Proofs are lists
of 32-byte hashes ordered from the leaf (or the old tree) up to the root.

A :class:`Tree` keeps only a compact range (the O(log n) hashes of the perfect subtrees on its
right edge) for its running root, and writes every full subtree it completes, addressed by
``(level, index)``, to a node store. Roots of past sizes and proofs are folded from O(log n)
stored nodes. The default store is in C memory (about 64 bytes per leaf); any object with the
:class:`NodeStore` methods (a database table, say) can be plugged in instead.

Verification ports every check of transparency-dev/merkle ``proof/verify.go``. Inputs that are
not 32-byte hashes raise :class:`~pcc.errors.FormatError`; a proof that does not verify for any
other reason raises :class:`~pcc.errors.VerifyError`, which carries no detail.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from pcc import _core
from pcc.errors import FormatError, InvalidArgument, StateError

__all__ = [
    "HASH_LEN", "EMPTY_ROOT", "leaf_hash", "node_hash", "verify_inclusion", "verify_consistency",
    "NodeStore", "MemoryStore", "Tree",
]

#: Length of every hash (SHA-256).
HASH_LEN = 32
#: Root of the empty tree, MTH({}) = SHA-256("").
EMPTY_ROOT = hashlib.sha256(b"").digest()

_ROOT, _INCLUSION, _CONSISTENCY = 0, 1, 2


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || data)."""
    return _core.merkle_leaf_hash(data)


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right).

    Inputs of any length are hashed as given (trees only ever pass 32-byte hashes).
    """
    return _core.merkle_node_hash(left, right)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Returns None. Raises :class:`~pcc.errors.FormatError` when ``leaf_hash``, ``root`` or a proof
    hash is not 32 bytes, :class:`~pcc.errors.InvalidArgument` when ``index`` or ``size`` is not in
    [0, 2^64), and :class:`~pcc.errors.VerifyError` (no detail) when ``index >= size``, the proof
    does not have exactly the length ``(index, size)`` implies, or the recomputed root differs.
    """
    _core.merkle_verify_inclusion(leaf_hash, index, size, proof, root)


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes,
                       root2: bytes) -> None:
    """Check that the tree of ``size1`` leaves with ``root1`` is a prefix of the one of ``size2``.

    Returns None. Raises :class:`~pcc.errors.FormatError` when a root or proof hash is not 32
    bytes, :class:`~pcc.errors.InvalidArgument` for sizes outside [0, 2^64), and
    :class:`~pcc.errors.VerifyError` (no detail) when ``size1 > size2``, ``size1 == 0`` (a proof
    from the empty tree proves nothing), ``size1 == size2`` with a non-empty proof or different
    roots, the proof does not have exactly the length ``(size1, size2)`` implies, or either
    recomputed root differs.
    """
    _core.merkle_verify_consistency(size1, size2, proof, root1, root2)


@runtime_checkable
class NodeStore(Protocol):
    """Where a :class:`Tree` keeps the hashes of its full subtrees.

    The node ``(level, index)`` is the perfect subtree over leaves ``[index * 2**level,
    (index + 1) * 2**level)``; level 0 holds the leaf hashes. A tree of n leaves stores fewer than
    2n nodes, each put exactly once in append order, except that nodes of an append that failed
    are put again when it is retried: ``put`` must accept a node it already holds (the hash is
    the same). ``get`` returns None for a node it does not hold.

    A store may also define the batched forms, which a tree then uses instead:
    ``get_many(keys: list[tuple[int, int]]) -> list[bytes | None]`` and
    ``put_many(items: list[tuple[int, int, bytes]]) -> None``. A tree calls ``put_many`` once per
    :meth:`Tree.append` / :meth:`Tree.append_many` and ``get_many`` once per root, proof or nodes
    query, so a database-backed store can do each in one transaction.
    """

    def get(self, level: int, index: int) -> bytes | None:
        """Return the hash of node (level, index), or None if it is not stored."""

    def put(self, level: int, index: int, hash: bytes) -> None:
        """Store the hash of node (level, index)."""


class MemoryStore:
    """A dict-backed :class:`NodeStore` (reference implementation, handy in tests)."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes | None:
        """Return the hash of node (level, index), or None."""
        return self.nodes.get((level, index))

    def put(self, level: int, index: int, hash: bytes) -> None:
        """Store the hash of node (level, index)."""
        self.nodes[(level, index)] = bytes(hash)

    def get_many(self, keys: Sequence[tuple[int, int]]) -> list[bytes | None]:
        """Return the hashes of the given nodes (None for those not stored)."""
        return [self.nodes.get(k) for k in keys]

    def put_many(self, items: Sequence[tuple[int, int, bytes]]) -> None:
        """Store many (level, index, hash) nodes."""
        for level, index, h in items:
            self.nodes[(level, index)] = bytes(h)

    def __len__(self) -> int:
        return len(self.nodes)


def _check_size(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int")
    if value < 0 or value >= 1 << 64:
        raise InvalidArgument(f"{name} out of range [0, 2^64)")
    return value


class Tree:
    """An append-only RFC 9162 Merkle tree.

    ``Tree()`` keeps its nodes in C memory. ``Tree(store)`` writes them to ``store`` (see
    :class:`NodeStore`) and reads them back for proofs; ``Tree(store, size=n)`` resumes a tree of
    n leaves whose nodes the store already holds (reading its popcount(n) right-edge nodes).
    Appends are all or nothing: when a store raises, the tree keeps its previous size and the
    error propagates. A tree is safe to share between threads; with a store, a single tree
    should be the only writer.
    """

    def __init__(self, store: NodeStore | None = None, *, size: int = 0) -> None:
        _check_size("size", size)
        self._store = store
        self._lock = threading.RLock()
        if store is None:
            if size:
                raise InvalidArgument("size needs a store that holds the tree's nodes")
            self._t = _core.MerkleTree()
            # The in-memory tree answers proofs in one C call: bind them here so a call does not
            # go through a Python frame (same arguments, checks and errors as the methods below).
            self.inclusion_proof = self._t.inclusion_proof  # type: ignore[method-assign]
            self.consistency_proof = self._t.consistency_proof  # type: ignore[method-assign]
            return
        if not callable(getattr(store, "get", None)) or not callable(getattr(store, "put", None)):
            raise TypeError("store must have get(level, index) and put(level, index, hash)")
        self._t = _core.MerkleTree(collect=True)
        if size:
            nodes = _core.merkle_plan(_ROOT, size)
            self._t.restore(size, b"".join(self._get_many(nodes)))

    # -- store access -------------------------------------------------------------------------

    @property
    def store(self) -> NodeStore | None:
        """The node store given at construction (None for the in-memory one)."""
        return self._store

    def _get_many(self, keys: list[tuple[int, int]]) -> list[bytes]:
        store = self._store
        assert store is not None
        get_many = getattr(store, "get_many", None)
        if callable(get_many):
            got = list(get_many(keys))
            if len(got) != len(keys):
                raise StateError("node store get_many returned the wrong number of hashes")
        else:
            got = [store.get(level, index) for level, index in keys]
        out = []
        for (level, index), h in zip(keys, got):
            if h is None:
                raise StateError(f"node store is missing node ({level}, {index})")
            h = bytes(h)
            if len(h) != HASH_LEN:
                raise FormatError(f"node store returned a bad hash for ({level}, {index})")
            out.append(h)
        return out

    def _put_many(self, items: list[tuple[int, int, bytes]]) -> None:
        store = self._store
        assert store is not None
        put_many = getattr(store, "put_many", None)
        if callable(put_many):
            put_many(items)
        else:
            for level, index, h in items:
                store.put(level, index, h)

    def _store_append(self, op, arg) -> int:
        """Run a _core append in collect mode, hand the new nodes to the store, or roll back."""
        with self._lock:
            snapshot = self._t.compact_range()
            try:
                first = op(arg)
                self._put_many(self._t.take_nodes())
            except BaseException:
                self._t.take_nodes()
                self._t.restore(*snapshot)
                raise
            return first

    # -- appending ----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._t.size

    def __len__(self) -> int:
        return self._t.size

    def append(self, data: bytes) -> int:
        """Append ``data`` as a leaf (hashed with :func:`leaf_hash`); return its index."""
        if self._store is None:
            return self._t.append(data)
        return self._store_append(self._t.append, data)

    def append_hash(self, leaf_hash: bytes) -> int:
        """Append a leaf given its 32-byte leaf hash; return its index."""
        if self._store is None:
            return self._t.append_hash(leaf_hash)
        return self._store_append(self._t.append_hash, leaf_hash)

    def append_many(self, leaves: Iterable[bytes]) -> int:
        """Append many leaves at once (hashed without the GIL); return the index of the first.

        All or nothing. An empty batch returns the current size.
        """
        if self._store is None:
            return self._t.append_many(leaves)
        return self._store_append(self._t.append_many, leaves)

    def append_hashes(self, leaf_hashes: Iterable[bytes]) -> int:
        """Append many leaves given their leaf hashes; return the index of the first."""
        if self._store is None:
            return self._t.append_hashes(leaf_hashes)
        return self._store_append(self._t.append_hashes, leaf_hashes)

    # -- reading ------------------------------------------------------------------------------

    def _run(self, kind: int, a: int, b: int = 0) -> list[bytes]:
        nodes = _core.merkle_plan(kind, a, b)
        return _core.merkle_fold(kind, a, b, b"".join(self._get_many(nodes)))

    def root(self, size: int | None = None) -> bytes:
        """Return the root of the first ``size`` leaves (default: all of them).

        Raises :class:`~pcc.errors.InvalidArgument` when ``size`` exceeds the tree size.
        """
        if self._store is None:
            return self._t.root(size)
        with self._lock:
            current = self._t.size
            if size is None or size == current:
                return self._t.root()
        _check_size("size", size)
        if size > current:
            raise InvalidArgument("size is larger than the tree")
        return self._run(_ROOT, size)[0]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the inclusion proof of leaf ``index`` in the tree of the first ``size`` leaves.

        ``size`` defaults to the tree size. Needs ``index < size <= tree size``
        (else :class:`~pcc.errors.InvalidArgument`).
        """
        if self._store is None:
            return self._t.inclusion_proof(index, size)
        _check_size("index", index)
        size = self.size if size is None else _check_size("size", size)
        if not index < size <= self.size:
            raise InvalidArgument("need index < size <= tree size")
        return self._run(_INCLUSION, index, size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Return the consistency proof from the first ``size1`` leaves to the first ``size2``.

        ``size2`` defaults to the tree size. Needs ``0 < size1 <= size2 <= tree size`` (else
        :class:`~pcc.errors.InvalidArgument`); equal sizes give an empty proof.
        """
        if self._store is None:
            return self._t.consistency_proof(size1, size2)
        _check_size("size1", size1)
        size2 = self.size if size2 is None else _check_size("size2", size2)
        if not 0 < size1 <= size2 <= self.size:
            raise InvalidArgument("need 0 < size1 <= size2 <= tree size")
        return self._run(_CONSISTENCY, size1, size2)

    def node(self, level: int, index: int) -> bytes:
        """Return the hash of the complete subtree ``(level, index)`` (level 0: leaf hashes)."""
        return self.nodes(level, index, index + 1)[0]

    def nodes(self, level: int, start: int, end: int) -> list[bytes]:
        """Return the hashes of complete subtrees ``(level, start)`` .. ``(level, end - 1)``.

        These are what C2SP tlog-tiles serves (a level-L tile holds tree level 8L). Raises
        :class:`~pcc.errors.InvalidArgument` unless each is complete in the tree.
        """
        if self._store is None:
            return self._t.nodes(level, start, end)
        _check_size("level", level)
        _check_size("start", start)
        _check_size("end", end)
        if level >= 64 or end < start or end > self.size >> level:
            raise InvalidArgument("node is not a complete subtree of the tree")
        return self._get_many([(level, i) for i in range(start, end)])

    def __repr__(self) -> str:
        kind = "memory" if self._store is None else type(self._store).__name__
        return f"<pcc.merkle.Tree size={self.size} store={kind}>"
