"""Stores of the token issuer: accounts (by a hash of their bearer key) and per-account
rate-limit counters, in SQLite (default) or Redis (so several issuers share them).

Counters are fixed one-hour windows keyed by ``(account, window)``; taking a token increments the
window's counter only while it is below the account's limit, atomically (one SQL statement, or
one Lua script in Redis), so concurrent issuers never give out more than the limit.
"""
from __future__ import annotations

import dataclasses
import hashlib
import threading
from typing import Optional

from pcc.errors import InvalidArgument
from pcc.services._tlogstore import connect

KEY_HASH_CONTEXT = b"pcc issuer account key v1\x00"

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts(name TEXT PRIMARY KEY, key_hash BLOB NOT NULL UNIQUE,
                                    tokens_per_hour INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS usage(name TEXT NOT NULL, window INTEGER NOT NULL,
                                 count INTEGER NOT NULL, PRIMARY KEY(name, window)) WITHOUT ROWID;
"""


def key_hash(bearer_key: str) -> bytes:
    """What a store keeps of a bearer key: SHA-256 over a context label and the key. The keys are
    256-bit random strings, so one hash is enough to make the stored value useless to a thief."""
    return hashlib.sha256(KEY_HASH_CONTEXT + bearer_key.encode("ascii")).digest()


@dataclasses.dataclass(frozen=True)
class Account:
    """An account as a store holds it (never its bearer key)."""

    name: str
    tokens_per_hour: int


class Store:
    """What the issuer needs from a store."""

    def add_account(self, name: str, hashed_key: bytes, tokens_per_hour: int, created: float) -> None:
        """Record an account; InvalidArgument if the name is taken."""
        raise NotImplementedError

    def account(self, hashed_key: bytes) -> Optional[Account]:
        """The account with this key hash, or None."""
        raise NotImplementedError

    def take(self, name: str, window: int, limit: int, ttl: int) -> bool:
        """Count one token in ``window`` for ``name`` if fewer than ``limit`` were counted;
        False (and nothing counted) otherwise. ``ttl`` is how long the counter must live."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class SQLiteStore(Store):
    """Accounts and counters in one SQLite file (WAL, synchronous FULL); one connection per
    thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()
        self._takes = 0
        self._conn().executescript(SCHEMA)

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = connect(self.path)
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def add_account(self, name: str, hashed_key: bytes, tokens_per_hour: int, created: float) -> None:
        import sqlite3
        try:
            self._conn().execute("INSERT INTO accounts VALUES(?, ?, ?, ?)",
                                 (name, hashed_key, tokens_per_hour, created))
        except sqlite3.IntegrityError:
            raise InvalidArgument("issuer: an account with this name exists") from None

    def account(self, hashed_key: bytes) -> Optional[Account]:
        row = self._conn().execute("SELECT name, tokens_per_hour FROM accounts WHERE key_hash = ?",
                                   (hashed_key,)).fetchone()
        return Account(row[0], row[1]) if row else None

    def take(self, name: str, window: int, limit: int, ttl: int) -> bool:
        if limit <= 0:
            return False
        c = self._conn()
        row = c.execute(
            "INSERT INTO usage(name, window, count) VALUES(?, ?, 1) "
            "ON CONFLICT(name, window) DO UPDATE SET count = count + 1 WHERE count < ? "
            "RETURNING count", (name, window, limit)).fetchone()
        with self._lock:
            self._takes += 1
            prune = self._takes % 1024 == 0
        if prune:  # old windows are never read again
            c.execute("DELETE FROM usage WHERE window < ?", (window - 1,))
        return row is not None

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            c.close()
        self._local = threading.local()


# Count one token unless the window already holds ARGV[1]; keep the counter ARGV[2] seconds.
_TAKE_LUA = """
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


# Reserve the name and record the account in one step: KEYS = name key, account key.
_ADD_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') == false then return 0 end
redis.call('HSET', KEYS[2], 'name', ARGV[2], 'tokens_per_hour', ARGV[3], 'created', ARGV[4])
return 1
"""


class RedisStore(Store):
    """Accounts and counters in Redis (``redis`` package), under ``prefix``."""

    def __init__(self, url: str, prefix: str = "pcc:issuer:") -> None:
        import redis
        self._r = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
        self._prefix = prefix
        self._take = self._r.register_script(_TAKE_LUA)
        self._add = self._r.register_script(_ADD_LUA)

    def add_account(self, name: str, hashed_key: bytes, tokens_per_hour: int, created: float) -> None:
        keys = [self._prefix + "name:" + name, self._prefix + "account:" + hashed_key.hex()]
        if not self._add(keys=keys, args=[hashed_key.hex(), name, tokens_per_hour, created]):
            raise InvalidArgument("issuer: an account with this name exists")

    def account(self, hashed_key: bytes) -> Optional[Account]:
        d = self._r.hgetall(self._prefix + "account:" + hashed_key.hex())
        if not d:
            return None
        name = d[b"name"]
        return Account(name.decode("utf-8") if isinstance(name, bytes) else name,
                       int(d[b"tokens_per_hour"]))

    def take(self, name: str, window: int, limit: int, ttl: int) -> bool:
        if limit <= 0:
            return False
        key = f"{self._prefix}usage:{name}:{window}"
        return bool(self._take(keys=[key], args=[limit, ttl]))

    def close(self) -> None:
        self._r.close()
