"""Token spend stores for the gateway: a token's nonce is spent once, keyed by token key id and
nonce. SQLite (one gateway) or Redis (any number of gateways sharing one server)."""
from __future__ import annotations

import sqlite3
import threading
import time
from typing import Protocol

from pcc.errors import InvalidArgument, StateError


class SpendStore(Protocol):
    """Where spent tokens are remembered."""

    def spend(self, key_id: bytes, nonce: bytes, ttl_s: int) -> bool:
        """Record the token as spent; True the first time, False if it was spent before."""
        ...

    def unspend(self, key_id: bytes, nonce: bytes) -> None:
        """Give a token back: the request it paid for was answered by no node."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class SQLiteSpendStore:
    """Spent tokens in a SQLite file (WAL, synchronous FULL): an INSERT that fails on the primary
    key (token key id, nonce) means the token was spent."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30.0)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS spent (key_id BLOB NOT NULL, "
                             "nonce BLOB NOT NULL, expires INTEGER NOT NULL, "
                             "PRIMARY KEY (key_id, nonce)) WITHOUT ROWID")
        self._last_sweep = 0.0

    def __repr__(self) -> str:
        return f"<SQLiteSpendStore {self.path}>"

    def spend(self, key_id: bytes, nonce: bytes, ttl_s: int) -> bool:
        now = time.time()
        with self._lock:
            if now - self._last_sweep > 3600:
                self._db.execute("DELETE FROM spent WHERE expires < ?", (int(now),))
                self._last_sweep = now
            try:
                self._db.execute("INSERT INTO spent (key_id, nonce, expires) VALUES (?, ?, ?)",
                                 (bytes(key_id), bytes(nonce), int(now + ttl_s)))
            except sqlite3.IntegrityError:
                return False
            return True

    def unspend(self, key_id: bytes, nonce: bytes) -> None:
        with self._lock:
            self._db.execute("DELETE FROM spent WHERE key_id = ? AND nonce = ?",
                             (bytes(key_id), bytes(nonce)))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisSpendStore:
    """Spent tokens in Redis: ``SET <prefix><key id><nonce> 1 NX EX ttl`` (atomic, shared by
    every gateway using the same server)."""

    def __init__(self, url: str, prefix: str = "pcc:gateway:") -> None:
        import redis
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise InvalidArgument("gateway: redis_url must be redis://host:port/db")
        self.url = url
        self.prefix = prefix
        self.redis = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)

    def __repr__(self) -> str:
        return f"<RedisSpendStore {self.url}>"

    def _key(self, key_id: bytes, nonce: bytes) -> bytes:
        return ((self.prefix + "spent:").encode() + bytes(key_id).hex().encode() + b":"
                + bytes(nonce).hex().encode())

    def unspend(self, key_id: bytes, nonce: bytes) -> None:
        import redis
        try:
            self.redis.delete(self._key(key_id, nonce))
        except redis.RedisError:
            pass        # the token stays spent: the client loses one token, nothing more

    def spend(self, key_id: bytes, nonce: bytes, ttl_s: int) -> bool:
        import redis
        key = self._key(key_id, nonce)
        try:
            return bool(self.redis.set(key, b"1", nx=True, ex=max(1, int(ttl_s))))
        except redis.RedisError:
            raise StateError("gateway: the spend store is unavailable") from None

    def close(self) -> None:
        self.redis.close()
