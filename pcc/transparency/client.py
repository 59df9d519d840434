"""Clients of the log: submitting leaves, reading tiles, and the auditor's replay.

The auditor (:class:`Auditor`) fetches the checkpoint, verifies the log signature and the
witness cosignatures, downloads every entry bundle, recomputes every leaf hash, every hash tile
(level 0 and above) and the root, compares them with what the log serves, checks that the
checkpoint is consistent with the last one it saw (a saved state file), validates every leaf
against the leaf schema (:mod:`pcc.transparency.leaves`) and lists releases and keys. Any mismatch is an :class:`AuditFailure`
carrying both checkpoints where history was rewritten or forked.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import tempfile
import time
from typing import Callable

import msgpack

from pcc import merkle, note
from pcc.transparency import leaves as leafmod
from pcc.transparency import tiles as tilemod
from pcc.transparency import _note as tlognote
from pcc.errors import FormatError, PccError, PeerError, VerifyError
from pcc._internal.peer import PeerLimits, SyncPeer

# Caps on what a log may send: a hash tile is 256 hashes; an entry bundle 256 entries of at most
# 65535 bytes, each with a 2-byte length; a checkpoint a note with at most 100 signature lines.
HASH_TILE_MAX = tilemod.TILE_WIDTH * tilemod.HASH_SIZE
BUNDLE_MAX = tilemod.TILE_WIDTH * (2 + 65535)
CHECKPOINT_MAX = 1 << 20


class SubmitError(PccError):
    """The log refused or could not take a submission."""


def submit(log_url: str, leaf: bytes, sig: bytes, *, timeout: float = 60.0, retries: int = 5,
           client: SyncPeer | None = None) -> tuple[int, str]:
    """POST ``leaf`` with its publisher signature ``sig`` to ``log_url``/add and return
    ``(index, tlog-proof)``. 503 answers (sequenced but not yet witnessed, or a busy log) and
    connection errors are retried: the log answers a repeated leaf with its existing index.

    ``timeout`` bounds the whole submission, retries included; each answer is capped at 1 MiB.
    """
    if client is not None and not isinstance(client, SyncPeer):
        raise TypeError("client must be a bounded pcc client (see TileReader.client)")
    body = msgpack.packb({"leaf": bytes(leaf), "sig": bytes(sig)}, use_bin_type=True)
    own = client is None
    c = client or SyncPeer(log_url, PeerLimits(deadline_s=timeout, max_body=CHECKPOINT_MAX))
    end = time.monotonic() + timeout
    try:
        last = ""
        for attempt in range(retries + 1):
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                r = c.post(log_url.rstrip("/") + "/add", body, deadline_s=left,
                           headers={"content-type": "application/msgpack"})
            except PeerError as e:
                last = e.problem
                time.sleep(max(0.0, min(0.2 * 2 ** attempt, 5.0, end - time.monotonic())))
                continue
            if r.status_code == 200:
                try:
                    obj = msgpack.unpackb(r.content, raw=False)
                    return int(obj["index"]), str(obj["proof"])
                except (ValueError, KeyError, TypeError) as e:
                    raise SubmitError(f"log answered an unreadable body: {e}") from None
            last = f"HTTP {r.status_code}: {r.text[:300]!r}"
            if r.status_code != 503:
                raise SubmitError(f"log refused the leaf: {last}")
            time.sleep(max(0.0, min(0.2 * 2 ** attempt, 5.0, end - time.monotonic())))
        raise SubmitError(f"log did not take the leaf: {last}")
    finally:
        if own:
            c.close()


class TileReader:
    """Fetches the checkpoint, tiles and entry bundles of a tiled log.

    Every request is bounded (:class:`pcc.errors.PeerError` past a limit): ``deadline_s`` per
    request, and each answer capped at what its kind can hold (a checkpoint 1 MiB, a hash tile
    8 KiB, an entry bundle 256 entries of at most 64 KiB, on the wire and after gzip decoding).
    ``client`` shares an existing bounded client; otherwise the reader owns one: :meth:`close`
    it or use ``with``.
    """

    def __init__(self, base_url: str, client: SyncPeer | None = None, *,
                 deadline_s: float = 30.0) -> None:
        if client is not None and not isinstance(client, SyncPeer):
            raise TypeError("client must be a bounded pcc client: another TileReader's .client")
        self.base = base_url.rstrip("/")
        self._own = client is None
        self.client = client or SyncPeer(
            self.base, PeerLimits(deadline_s=deadline_s, max_body=BUNDLE_MAX + 64,
                                  max_decoded=BUNDLE_MAX))

    def __repr__(self) -> str:
        return f"<pcc TileReader {self.base}>"

    def close(self) -> None:
        """Close the reader's own client (a shared one stays open)."""
        if self._own:
            self.client.close()

    def __enter__(self) -> "TileReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, cap: int, *, decompress: bool = False) -> bytes:
        lim = dataclasses.replace(self.client.limits, max_body=cap, max_decoded=cap)
        r = self.client.get(f"{self.base}/{path}", limits=lim, decompress=decompress)
        if r.status_code != 200:
            raise FormatError(f"GET /{path}: HTTP {r.status_code}")
        return r.content

    def checkpoint(self) -> str:
        """The checkpoint note text."""
        try:
            return self._get("checkpoint", CHECKPOINT_MAX).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("checkpoint is not UTF-8") from None

    def tile(self, tile: tilemod.Tile) -> bytes:
        """The bytes of a tile or bundle (checked for the right length / count)."""
        if tile.is_entries:
            data = self._get(tile.path, tile.width * (2 + 65535) + 64, decompress=True)
        else:
            data = self._get(tile.path, tile.width * tilemod.HASH_SIZE)
        if tile.is_entries:
            tilemod.decode_bundle(data, tile.width)
        elif len(data) != tile.width * tilemod.HASH_SIZE:
            raise FormatError(f"{tile.path}: wrong length")
        return data


    def _node(self, size: int, height: int, index: int, cache: dict) -> bytes:
        """The hash of the complete subtree of ``2**height`` leaves numbered ``index`` at that
        height, from the hash tile that holds its level (folded up within the tile)."""
        level, r = divmod(height, tilemod.TILE_HEIGHT)
        first = index << r
        t = first // tilemod.TILE_WIDTH
        key = (level, t)
        if key not in cache:
            width = min(tilemod.TILE_WIDTH,
                        tilemod.level_width(size, level) - t * tilemod.TILE_WIDTH)
            if width <= 0:
                raise FormatError("a subtree beyond the checkpoint's tree")
            cache[key] = tilemod.split_hashes(self.tile(tilemod.Tile(level, t, width)), width)
        hs = cache[key]
        off = first - t * tilemod.TILE_WIDTH
        if off + (1 << r) > len(hs):
            raise FormatError("a subtree beyond the checkpoint's tree")
        hs = hs[off:off + (1 << r)]
        while len(hs) > 1:
            hs = [merkle.node_hash(hs[i], hs[i + 1]) for i in range(0, len(hs), 2)]
        return hs[0]

    def _subtree(self, a: int, b: int, size: int, cache: dict) -> bytes:
        """MTH(D[a:b]) (RFC 9162) for a range that starts on a multiple of its split point."""
        n = b - a
        if n & (n - 1) == 0 and a % n == 0:
            h = n.bit_length() - 1
            return self._node(size, h, a >> h, cache)
        k = 1 << ((n - 1).bit_length() - 1)
        return merkle.node_hash(self._subtree(a, a + k, size, cache),
                                self._subtree(a + k, b, size, cache))

    def proof(self, index: int) -> tuple[bytes, str]:
        """Leaf ``index`` and a tlog-proof for it under the log's current checkpoint, built from
        the checkpoint, the entry bundle that holds the leaf and the hash tiles its inclusion
        path needs (a handful of requests, whatever the log's size). Nothing here is trusted:
        check the result with :func:`pcc.transparency.verify_proof` (log signature, inclusion,
        witnesses, freshness). :class:`FormatError` when the log serves something unreadable or
        the index is not in its checkpoint, :class:`pcc.errors.PeerError` past a limit."""
        leaf, proof = self._proof(index, True)
        assert leaf is not None
        return leaf, proof

    def inclusion_proof(self, index: int) -> str:
        """A tlog-proof for leaf ``index`` under the log's current checkpoint, as :meth:`proof`
        builds it but without fetching the leaf (for a leaf the caller already holds)."""
        return self._proof(index, False)[1]

    def _proof(self, index: int, leaf: bool) -> tuple[bytes | None, str]:
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise TypeError("index must be a non-negative int")
        text = self.checkpoint()
        try:
            cp = tlognote.parse_checkpoint(tlognote.split_note(text).text)
        except FormatError:
            raise FormatError("the log serves an unreadable checkpoint") from None
        size = cp.size
        if index >= size:
            raise FormatError(f"leaf {index} is not in the log's checkpoint (size {size})")
        data = None
        if leaf:
            t = index // tilemod.TILE_WIDTH
            width = min(tilemod.TILE_WIDTH, size - t * tilemod.TILE_WIDTH)
            data = tilemod.decode_bundle(self.tile(tilemod.Tile(-1, t, width)),
                                         width)[index - t * tilemod.TILE_WIDTH]
        # the RFC 9162 path: the sibling subtrees from the leaf up to the root
        ranges = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if index < lo + k:
                ranges.append((lo + k, hi))
                hi = lo + k
            else:
                ranges.append((lo, lo + k))
                lo += k
        cache: dict = {}
        hashes = [self._subtree(a, b, size, cache) for a, b in reversed(ranges)]
        return data, tlognote.format_proof(index, hashes, text)


class AuditFailure(Exception):
    """The log misbehaved: ``problem`` says how; ``old``/``new`` are the checkpoints involved."""

    def __init__(self, problem: str, old: str | None = None, new: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.old = old
        self.new = new

    def report(self) -> str:
        """A human-readable report with both checkpoints where there are two."""
        out = [f"AUDIT FAILURE: {self.problem}"]
        if self.old:
            out += ["--- checkpoint seen before:", self.old.rstrip("\n")]
        if self.new:
            out += ["--- checkpoint now served:", self.new.rstrip("\n")]
        return "\n".join(out)


@dataclasses.dataclass
class AuditState:
    """What the auditor remembers between runs (saved as JSON)."""

    origin: str
    size: int
    root: bytes
    checkpoint: str

    def to_json(self) -> str:
        """Serialize."""
        return json.dumps({"origin": self.origin, "size": self.size,
                           "root": tlognote.b64(self.root), "checkpoint": self.checkpoint},
                          indent=1) + "\n"

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AuditState | None":
        """Load from ``path`` (None if the file does not exist)."""
        try:
            d = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        try:
            return cls(d["origin"], int(d["size"]), tlognote.unb64(d["root"], "state root"),
                       d["checkpoint"])
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"audit state file is malformed: {e}") from None

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically (temp file, fsync, rename)."""
        path = pathlib.Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=".audit-state-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


class Auditor:
    """Replays a log from its tiles and keeps checking it (see the module docstring)."""

    def __init__(self, reader: TileReader, log_vkey: str, witness_vkeys=(), quorum: int = 0,
                 *, on_entry: Callable[[int, bytes, dict | None, str | None], None] | None = None):
        self.reader = reader
        self.log_v = tlognote.load_verifier(log_vkey)
        self.origin = tlognote.key_name(self.log_v)
        self.wits = [tlognote.load_verifier(w) for w in witness_vkeys]
        if quorum > len(self.wits):
            raise FormatError("quorum is larger than the number of witness keys")
        self.quorum = quorum
        self.on_entry = on_entry
        self.tree = merkle.Tree()
        self.tail_hashes: list[bytes] = []          # leaf hashes of the last partial bundle
        self.checked_full: dict[int, int] = {}      # tile level -> full tiles checked so far
        self.checkpoint: str | None = None
        self.size = 0
        self.root = merkle.EMPTY_ROOT
        self.invalid_leaves: list[tuple[int, str]] = []
        self.counts: dict[str, int] = {}
        self.witnessed: dict[str, int] = {}
        # releases by (name, version) -> first index; later ones with the same pair
        self.releases: dict[tuple[str, str], int] = {}
        self.duplicate_releases: list[tuple[str, str, int, int]] = []   # name, version, first, idx

    # ------------------------------------------------------------------------- checkpoint

    def fetch_checkpoint(self) -> tuple[str, note.Checkpoint]:
        """Fetch and verify the current checkpoint (log signature, origin, witness quorum)."""
        text = self.reader.checkpoint()
        try:
            signed = tlognote.open_note(text, [self.log_v])
            cp = tlognote.parse_checkpoint(signed.text)
        except (VerifyError, FormatError) as e:
            raise AuditFailure(f"checkpoint does not verify with the log key: {e}",
                               new=text) from None
        if cp.origin != self.origin:
            raise AuditFailure(f"checkpoint origin {cp.origin!r} is not {self.origin!r}",
                               new=text)
        stamps = tlognote.verify_cosignatures(signed.text, signed.lines, self.wits)
        if len(stamps) < self.quorum:
            raise AuditFailure(f"checkpoint has {len(stamps)} valid witness cosignatures, "
                               f"quorum is {self.quorum}", new=text)
        self.witnessed = stamps
        return text, cp

    # ------------------------------------------------------------------------- replay

    def _check_tile(self, tile: tilemod.Tile) -> None:
        want = b"".join(self.tree.nodes(tile.node_level(), tile.start, tile.start + tile.width))
        if self.reader.tile(tile) != want:
            raise AuditFailure(f"tile {tile.path} served by the log does not match the hashes "
                               "recomputed from its entries", new=self.checkpoint)

    def _replay_to(self, size: int) -> None:
        start = self.tree.size
        first = start - len(self.tail_hashes)        # start of the open bundle
        a = first
        while a < size:
            b = min(size, (a // tilemod.TILE_WIDTH + 1) * tilemod.TILE_WIDTH)
            t = tilemod.Tile(-1, a // tilemod.TILE_WIDTH, b - a)
            entries = tilemod.decode_bundle(self.reader.tile(t), b - a)
            hashes = [merkle.leaf_hash(e) for e in entries]
            known = self.tail_hashes if a == first else []
            if hashes[:len(known)] != known:
                raise AuditFailure(f"entries below {start} changed in bundle {t.path}: "
                                   "history was rewritten", old=self.checkpoint)
            self.tree.append_hashes(hashes[len(known):])
            for i in range(len(known), len(entries)):
                self._leaf(a + i, entries[i])
            self.tail_hashes = hashes if t.is_partial else []
            a = b
        # every hash tile of this size not checked yet: new full tiles, and the partial ones
        for t in tilemod.tiles_for_size(size):
            done = self.checked_full.get(t.level, 0)
            if t.is_partial or t.index >= done:
                self._check_tile(t)
                if not t.is_partial:
                    self.checked_full[t.level] = t.index + 1

    def _leaf(self, idx: int, leaf: bytes) -> None:
        try:
            d = leafmod.decode(leaf)
            err = None
            self.counts[d["type"]] = self.counts.get(d["type"], 0) + 1
            if d["type"] == "release":
                first = self.releases.setdefault((d["name"], d["version"]), idx)
                if first != idx:
                    self.duplicate_releases.append((d["name"], d["version"], first, idx))
        except FormatError as e:
            d, err = None, str(e)
            self.invalid_leaves.append((idx, err))
        if self.on_entry is not None:
            self.on_entry(idx, leaf, d, err)

    # ------------------------------------------------------------------------- one pass

    def run_once(self, state: AuditState | None = None) -> AuditState:
        """Fetch the current checkpoint, replay up to it and check everything.

        ``state`` is the last checkpoint seen (from a previous run or pass); the new checkpoint
        must extend it. Returns the new state; raises :class:`AuditFailure`.
        """
        text, cp = self.fetch_checkpoint()
        old = state
        if old is not None:
            if old.origin != cp.origin:
                raise AuditFailure("state file is for another log origin")
            if cp.size < old.size:
                raise AuditFailure(f"tree shrank from {old.size} to {cp.size}: the log rolled "
                                   "back its history", old=old.checkpoint, new=text)
            if cp.size == old.size and bytes(cp.root) != old.root:
                raise AuditFailure(f"two different roots for size {cp.size}: the log forked",
                                   old=old.checkpoint, new=text)
        if self.tree.size > cp.size:
            raise AuditFailure(f"tree shrank from {self.tree.size} to {cp.size}",
                               old=self.checkpoint, new=text)
        prev_checkpoint = self.checkpoint
        self.checkpoint = text
        self._replay_to(cp.size)
        root = self.tree.root()
        if root != bytes(cp.root):
            raise AuditFailure(f"root recomputed from the {cp.size} entries does not match the "
                               "checkpoint: the log's tiles and its checkpoint disagree",
                               old=prev_checkpoint, new=text)
        if old is not None:
            want = self.tree.root(old.size) if old.size else merkle.EMPTY_ROOT
            if want != old.root:
                raise AuditFailure(f"the entries the log serves now give a different root for "
                                   f"size {old.size} than the checkpoint seen before: history "
                                   "was rewritten (fork)", old=old.checkpoint, new=text)
        if self.invalid_leaves:
            idx, err = self.invalid_leaves[0]
            raise AuditFailure(f"{len(self.invalid_leaves)} invalid leaves, first at index "
                               f"{idx}: {err}", new=text)
        self.size = cp.size
        self.root = root
        return AuditState(cp.origin, cp.size, root, text)
