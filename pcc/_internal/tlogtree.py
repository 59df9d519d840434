"""RFC 9162 Merkle tree over a store of complete-subtree hashes (the log's sequencer view).

The store holds, for every complete subtree, its hash under ``(level, index)``: the subtree of
height ``level`` covering leaves ``[index * 2**level, (index + 1) * 2**level)``. Level 0 holds
leaf hashes. These are exactly the hashes C2SP tiles are cut from (tile level ``L`` = subtree
level ``8 * L``), and they never change once written.

:class:`Frontier` appends leaves while keeping only the right edge in memory and reports the new
complete subtrees to persist. :func:`subtree_hash`, :func:`inclusion_proof` and
:func:`consistency_proof` compute RFC 9162 values for any tree size from a ``get(level, index)``
callable. Hashing is RFC 9162 (``pcc.merkle.leaf_hash`` / ``node_hash``).
"""
from __future__ import annotations

import hashlib
from typing import Callable, Iterable

from pcc.errors import InvalidArgument, StateError

Getter = Callable[[int, int], bytes]
NodeHash = Callable[[bytes, bytes], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _node_hash_default() -> NodeHash:
    from pcc import merkle
    return merkle.node_hash


def largest_pow2_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def complete_subtrees(size: int) -> list[tuple[int, int]]:
    """``(level, index)`` of the complete subtrees that make up a tree of ``size`` leaves,
    left to right (one per set bit of ``size``, largest first)."""
    out = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


class Frontier:
    """The right edge of an append-only tree: one hash per complete subtree of the current size.

    ``append(leaf_hash)`` returns the ``(level, index, hash)`` of every complete subtree the new
    leaf completes (the leaf itself first); the caller persists them in the same transaction as
    the entry.
    """

    __slots__ = ("size", "_edge", "_node_hash")

    def __init__(self, size: int = 0, edge: Iterable[bytes] = (), node_hash: NodeHash | None = None):
        self._node_hash = node_hash or _node_hash_default()
        self.size = size
        self._edge: list[tuple[int, int, bytes]] = []
        shape = complete_subtrees(size)
        edge = list(edge)
        if len(edge) != len(shape):
            raise InvalidArgument("frontier: wrong number of edge hashes for the size")
        for (level, index), h in zip(shape, edge):
            if len(h) != 32:
                raise InvalidArgument("frontier: edge hash must be 32 bytes")
            self._edge.append((level, index, bytes(h)))

    @classmethod
    def load(cls, size: int, get: Getter, node_hash: NodeHash | None = None) -> "Frontier":
        """Rebuild the frontier of a tree of ``size`` leaves from a store."""
        return cls(size, [get(lv, ix) for lv, ix in complete_subtrees(size)], node_hash)

    def copy(self) -> "Frontier":
        """An independent copy (to stage a batch and drop it if the write fails)."""
        f = Frontier.__new__(Frontier)
        f._node_hash = self._node_hash
        f.size = self.size
        f._edge = list(self._edge)
        return f

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the new complete subtrees ``(level, index, hash)``."""
        if len(leaf_hash) != 32:
            raise InvalidArgument("leaf hash must be 32 bytes")
        index = self.size
        level = 0
        cur = bytes(leaf_hash)
        new = [(0, index, cur)]
        while index & 1:
            llevel, lindex, lhash = self._edge.pop()
            if llevel != level or lindex != index - 1:  # pragma: no cover - internal invariant
                raise StateError("frontier is corrupt")
            cur = self._node_hash(lhash, cur)
            index >>= 1
            level += 1
            new.append((level, index, cur))
        self._edge.append((level, index, cur))
        self.size += 1
        return new

    def root(self) -> bytes:
        """The RFC 9162 root of the current tree (SHA-256 of nothing when empty)."""
        if not self._edge:
            return EMPTY_ROOT
        h = self._edge[-1][2]
        for _, _, left in reversed(self._edge[:-1]):
            h = self._node_hash(left, h)
        return h

    def edge(self) -> list[bytes]:
        """The edge hashes, left to right."""
        return [h for _, _, h in self._edge]


def subtree_hash(get: Getter, start: int, end: int, node_hash: NodeHash | None = None) -> bytes:
    """``MTH(D[start:end])`` for a range as it occurs in RFC 9162 recursions.

    ``start`` must be a multiple of the largest power of two not above ``end - start`` (always
    true for the ranges the RFC algorithms produce).
    """
    nh = node_hash or _node_hash_default()
    n = end - start
    if n <= 0:
        raise InvalidArgument("empty subtree")
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        if start % n:
            raise InvalidArgument("unaligned subtree")
        return get(level, start >> level)
    # Fold the complete subtrees of [start, end) right to left.
    parts = []
    a = start
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            if a % (1 << level):
                raise InvalidArgument("unaligned subtree")
            parts.append(get(level, a >> level))
            a += 1 << level
    h = parts[-1]
    for left in reversed(parts[:-1]):
        h = nh(left, h)
    return h


def root(get: Getter, size: int, node_hash: NodeHash | None = None) -> bytes:
    """RFC 9162 root of the tree of ``size`` leaves held by the store."""
    if size < 0:
        raise InvalidArgument("negative tree size")
    if size == 0:
        return EMPTY_ROOT
    return subtree_hash(get, 0, size, node_hash)


def inclusion_proof(get: Getter, index: int, size: int,
                    node_hash: NodeHash | None = None) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof of leaf ``index`` in the tree of ``size`` leaves,
    leaf's sibling first."""
    if not 0 <= index < size:
        raise InvalidArgument("inclusion proof: index must be below the tree size")
    path = []
    a, b = 0, size
    while b - a > 1:
        k = largest_pow2_below(b - a)
        if index < a + k:           # PATH(m, D[0:k]) : MTH(D[k:n])
            path.append(subtree_hash(get, a + k, b, node_hash))
            b = a + k
        else:                       # PATH(m - k, D[k:n]) : MTH(D[0:k])
            path.append(subtree_hash(get, a, a + k, node_hash))
            a = a + k
    path.reverse()
    return path


def consistency_proof(get: Getter, size1: int, size2: int,
                      node_hash: NodeHash | None = None) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof between tree sizes ``size1 <= size2``.

    Empty when ``size1`` is 0 or equal to ``size2``.
    """
    if not 0 <= size1 <= size2:
        raise InvalidArgument("consistency proof: need 0 <= size1 <= size2")
    if size1 == 0 or size1 == size2:
        return []
    proof = []
    a, b, m = 0, size2, size1
    whole = True            # SUBPROOF(m, D[n], true)
    while m != b - a:
        k = largest_pow2_below(b - a)
        if m <= k:          # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            proof.append(subtree_hash(get, a + k, b, node_hash))
            b = a + k
        else:               # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            proof.append(subtree_hash(get, a, a + k, node_hash))
            a = a + k
            m -= k
            whole = False
    if not whole:           # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        proof.append(subtree_hash(get, a, b, node_hash))
    proof.reverse()
    return proof


class MemoryStore:
    """A dict-backed node store (tests, the auditor's replay)."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes:
        """The stored hash of subtree ``(level, index)``; :class:`StateError` when missing."""
        try:
            return self.nodes[(level, index)]
        except KeyError:
            raise StateError("node not in store") from None

    def put(self, level: int, index: int, h: bytes) -> None:
        """Store the hash of subtree ``(level, index)``."""
        self.nodes[(level, index)] = h
