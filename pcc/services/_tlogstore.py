"""SQLite store of the transparency log (WAL, synchronous=FULL).

Tables:

- ``entries(idx, leaf, hash)``: the leaves and their RFC 9162 leaf hashes (level-0 nodes);
  ``hash`` is unique, which is how duplicate submissions find their index;
- ``nodes(level, idx, hash)``: every complete subtree of height >= 1;
- ``checkpoint``: the one published (signed and cosigned) checkpoint note and its size;
- ``witness_state(url, size)``: the size each witness last cosigned for this log.

A batch of entries and all the subtrees it completes are written in one transaction, so after a
crash the store holds a whole number of batches. The checkpoint row is written only after the
tree it covers is committed and the witnesses cosigned it. Each thread gets its own connection.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Iterable, Sequence

from pcc.transparency.tiles import TILE_HEIGHT, Tile, encode_bundle
from pcc.errors import StateError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL,
                                   hash BLOB NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL,
                                 hash BLOB NOT NULL, PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoint(id INTEGER PRIMARY KEY CHECK (id = 1),
                                      size INTEGER NOT NULL, note TEXT NOT NULL,
                                      published REAL NOT NULL);
CREATE TABLE IF NOT EXISTS witness_state(url TEXT PRIMARY KEY, size INTEGER NOT NULL);
"""


def connect(path: str) -> sqlite3.Connection:
    """Open ``path`` with the durability settings every pcc SQLite store uses.

    Callers keep one connection per thread; ``check_same_thread`` is off only so that the
    owner can close every connection at shutdown."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class ProcessLock:
    """An exclusive ``flock`` on ``<db>.lock`` so only one sequencer writes a log.

    The kernel drops the lock when the process dies, ``kill -9`` included.
    """

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise StateError(f"another process is serving this log database ({path} is "
                             "locked): stop it first, or give this log its own --db") from None

    def release(self) -> None:
        """Drop the lock."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LogStore:
    """The log's SQLite store; thread-safe (one connection per thread)."""

    def __init__(self, path: str, origin: str) -> None:
        self.path = path
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self.conn()
        conn.executescript(SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key='origin'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta(key, value) VALUES('origin', ?)", (origin,))
        elif row[0] != origin:
            raise StateError("the database belongs to another log origin")

    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        c = getattr(self._local, "conn", None)
        if c is None:
            c = connect(self.path)
            self._local.conn = c
            with self._lock:
                self._conns.append(c)
        return c

    def close(self) -> None:
        """Close every connection (call once no thread uses the store)."""
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except sqlite3.Error:  # pragma: no cover
                    pass
            self._conns.clear()

    # ------------------------------------------------------------------------- reads

    def tree_size(self) -> int:
        """Number of committed entries."""
        row = self.conn().execute("SELECT max(idx) FROM entries").fetchone()
        return 0 if row[0] is None else row[0] + 1

    # pcc.merkle.NodeStore: the tree's complete subtrees; level 0 lives in entries.hash.

    def get(self, level: int, index: int) -> bytes | None:
        """Hash of the complete subtree ``(level, index)``, or None."""
        if level == 0:
            row = self.conn().execute("SELECT hash FROM entries WHERE idx=?", (index,)).fetchone()
        else:
            row = self.conn().execute("SELECT hash FROM nodes WHERE level=? AND idx=?",
                                      (level, index)).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, keys) -> list[bytes | None]:
        """:meth:`get` for many ``(level, index)`` keys."""
        return [self.get(level, index) for level, index in keys]

    def put(self, level: int, index: int, h: bytes) -> None:
        """Store a subtree hash (level 0 is written with its entry; a node already held is
        accepted). Must run inside :meth:`append_batch`'s transaction."""
        self.put_many([(level, index, h)])

    def put_many(self, items) -> None:
        """:meth:`put` for many ``(level, index, hash)`` items."""
        rows = [(lv, ix, bytes(h)) for lv, ix, h in items if lv > 0]
        self.conn().executemany("INSERT OR IGNORE INTO nodes(level, idx, hash) VALUES(?, ?, ?)",
                                rows)

    def lookup(self, leaf_hash: bytes) -> int | None:
        """Index of the entry with this leaf hash, or None."""
        row = self.conn().execute("SELECT idx FROM entries WHERE hash=?", (leaf_hash,)).fetchone()
        return None if row is None else row[0]

    def lookup_many(self, leaf_hashes: Sequence[bytes]) -> dict[bytes, int]:
        """``{leaf hash: index}`` for those of ``leaf_hashes`` already in the log."""
        out: dict[bytes, int] = {}
        conn = self.conn()
        for i in range(0, len(leaf_hashes), 500):
            chunk = list(leaf_hashes[i:i + 500])
            q = "SELECT hash, idx FROM entries WHERE hash IN (%s)" % ",".join("?" * len(chunk))
            for h, idx in conn.execute(q, chunk):
                out[bytes(h)] = idx
        return out

    def leaf(self, index: int) -> bytes | None:
        """The leaf at ``index``, or None."""
        row = self.conn().execute("SELECT leaf FROM entries WHERE idx=?", (index,)).fetchone()
        return None if row is None else bytes(row[0])

    def hashes(self, level: int, start: int, count: int) -> list[bytes]:
        """``count`` consecutive subtree hashes at ``level`` from ``start``."""
        if level == 0:
            rows = self.conn().execute(
                "SELECT hash FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
                (start, start + count)).fetchall()
        else:
            rows = self.conn().execute(
                "SELECT hash FROM nodes WHERE level=? AND idx >= ? AND idx < ? ORDER BY idx",
                (level, start, start + count)).fetchall()
        if len(rows) != count:
            raise StateError("tile hashes missing from the store")
        return [bytes(r[0]) for r in rows]

    def tile(self, tile: Tile) -> bytes:
        """The bytes of a hash tile or entry bundle (the caller checked it is available)."""
        if tile.is_entries:
            rows = self.conn().execute(
                "SELECT leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
                (tile.start, tile.start + tile.width)).fetchall()
            if len(rows) != tile.width:
                raise StateError("entries missing from the store")
            return encode_bundle(bytes(r[0]) for r in rows)
        hs = self.hashes(TILE_HEIGHT * tile.level, tile.start, tile.width)
        return b"".join(hs)

    def checkpoint(self) -> tuple[int, str, float] | None:
        """The published checkpoint ``(size, note, published_time)`` or None."""
        row = self.conn().execute("SELECT size, note, published FROM checkpoint WHERE id=1") \
            .fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def witness_sizes(self) -> dict[str, int]:
        """The size each witness last cosigned, by URL."""
        return dict(self.conn().execute("SELECT url, size FROM witness_state").fetchall())

    # ------------------------------------------------------------------------- writes

    def append_batch(self, start: int, tree,
                     leaves: Sequence[tuple[bytes, bytes]]) -> list[int]:
        """Append ``(leaf, leaf_hash)`` pairs in one transaction, after ``start`` entries.

        ``tree`` is the log's ``pcc.merkle.Tree`` over this store, of size ``start``; its
        ``append_hashes`` writes the new subtrees through :meth:`put_many` inside the same
        transaction. A leaf already present (or repeated in the batch) gets its existing index.
        Returns one index per input. If this raises after the tree grew (a failed COMMIT), the
        caller must rebuild the tree from the store.
        """
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self.tree_size() != start or tree.size != start:
                raise StateError("log store changed under the sequencer")
            seen = self.lookup_many([lh for _, lh in leaves])
            out: list[int] = []
            ent_rows: list[tuple] = []
            for leaf, lh in leaves:
                idx = seen.get(lh)
                if idx is None:
                    idx = start + len(ent_rows)
                    ent_rows.append((idx, leaf, lh))
                    seen[lh] = idx
                out.append(idx)
            conn.executemany("INSERT INTO entries(idx, leaf, hash) VALUES(?, ?, ?)", ent_rows)
            if ent_rows:
                tree.append_hashes([lh for _, _, lh in ent_rows])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return out

    def publish(self, size: int, note: str, published: float,
                witness_sizes: Iterable[tuple[str, int]]) -> None:
        """Record the published checkpoint and the witnesses' sizes in one transaction."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT OR REPLACE INTO checkpoint(id, size, note, published) "
                         "VALUES(1, ?, ?, ?)", (size, note, published))
            conn.executemany("INSERT OR REPLACE INTO witness_state(url, size) VALUES(?, ?)",
                             list(witness_sizes))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

