"""Transparency log service: C2SP tlog-tiles read API, authenticated append, witnessing.

``create_app(LogConfig(...))`` returns an ASGI app (served by uvicorn) with

- ``GET /checkpoint``: the latest published checkpoint (signed note with the log signature and
  the witnesses' tlog-cosignature/v1 lines), ``text/plain; charset=utf-8``, short max-age;
- ``GET /tile/<L>/<N>[.p/<W>]`` and ``GET /tile/entries/<N>[.p/<W>]`` (c2sp.org/tlog-tiles),
  ``application/octet-stream``, full tiles ``immutable``; entry bundles gzip-encoded when the
  client accepts gzip;
- ``POST /add``: body ``msgpack({"leaf": bin, "sig": bin})`` where ``sig`` is an Ed25519
  signature over ``leaf`` by a configured publisher key and ``leaf`` a valid log leaf
  (:mod:`pcc.transparency.leaves`, docs/formats.md).
  Once the entry is sequenced, committed and covered by a published checkpoint with the witness
  quorum, the answer is ``msgpack({"index": int, "proof": str})`` with a c2sp.org/tlog-proof@v1.
  A leaf already in the log gets its index and a proof against the current checkpoint.

A sequencer task collects pending adds into batches, commits each batch (entries and every
subtree hash it completes) in one SQLite transaction, signs a checkpoint for the new size, asks
the witnesses (c2sp.org/tlog-witness) to cosign it, and only then publishes it. Tiles are served
only up to the published size. After a crash the store holds a whole number of batches; on start
the log republishes a checkpoint for everything committed.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import gzip
import logging
import time
from collections import OrderedDict
from typing import Any

import msgpack
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pcc import merkle, note
from pcc.transparency import leaves as leafmod
from pcc.transparency import tiles as tilemod
from pcc.transparency import _note as tlognote
from pcc.services._tlogstore import LogStore, ProcessLock
from pcc.errors import FormatError, InvalidArgument, PccError, PeerError, StateError
from pcc._internal.peer import Peer, PeerLimits
from pcc.services._app import Service
from pcc.services._limits import Limits
from pcc.services._http import HTTPError, json_error, pcc_error_handler, read_body

log = logging.getLogger("pcc.tlog")

MSGPACK = "application/msgpack"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclasses.dataclass(frozen=True)
class LogConfig:
    """Configuration of a log instance.

    ``skey`` is the log's signed-note private key: a :class:`pcc.note.Signer` (for instance
    from :func:`pcc.transparency.read_signer_file`, which never makes a Python string of the
    key), or the skey text, parsed at once into such a signer so the config holds no key text
    (the caller's own string is theirs to drop). Its key name must equal ``origin`` (clients
    check a checkpoint's origin against the log key's name). ``publishers`` are the vkeys
    allowed to add leaves; ``witnesses`` are ``(url, vkey)`` pairs (cosigner vkeys, type 0x04);
    ``quorum`` is how many witnesses must cosign a checkpoint before it is published (``None``:
    all of them).

    Witnesses are asked in parallel; ``witness_timeout_s`` bounds a whole round (every call to
    every witness), and once the quorum has cosigned the others get ``witness_grace_s`` more
    before they are cancelled, so a slow witness never holds the log while the quorum is met.
    A witness that failed is skipped (with a growing back-off, up to a minute) while the others
    can still make the quorum. A witness answer above ``witness_max_answer`` bytes is refused.

    A log without witnesses (or with a quorum of 0) can show different histories to different
    clients without anyone noticing, and a log whose origin differs from its key name produces
    checkpoints no client accepts: both are refused with :class:`pcc.errors.InvalidArgument`
    unless ``insecure_no_witnesses`` / ``insecure_origin_mismatch`` says it is meant (tests,
    local experiments).

    ``limits`` are the inbound limits every request passes first (docs/limits.md); ``max_body``
    is the tighter cap of ``POST /add`` itself.
    """

    db_path: str
    origin: str
    skey: "str | note.Signer" = dataclasses.field(repr=False)
    publishers: tuple[str, ...] = ()
    witnesses: tuple[tuple[str, str], ...] = ()
    quorum: int | None = None
    batch_max: int = 512
    batch_interval_ms: float = 5.0
    max_body: int = 66 * 1024          # a 65535-byte leaf, its signature and msgpack framing
    add_timeout_s: float = 30.0
    witness_timeout_s: float = 10.0
    witness_grace_s: float = 0.25
    witness_max_answer: int = 64 * 1024
    refresh_interval_s: float = 600.0
    checkpoint_max_age_s: int = 2
    tile_cache_bytes: int = 64 << 20
    insecure_no_witnesses: bool = False
    insecure_origin_mismatch: bool = False
    limits: Limits = Limits()

    def __post_init__(self) -> None:
        # keep the signer (seed in secure C memory), never the key text
        object.__setattr__(self, "skey", tlognote.load_signer(self.skey))

    def resolved_quorum(self) -> int:
        """The quorum actually required (all witnesses when ``quorum`` is None)."""
        return len(self.witnesses) if self.quorum is None else self.quorum

    def __repr__(self) -> str:  # never shows the skey
        return (f"LogConfig(db_path={self.db_path!r}, origin={self.origin!r}, "
                f"publishers={len(self.publishers)}, witnesses={[u for u, _ in self.witnesses]!r}, "
                f"quorum={self.resolved_quorum()})")

    def check(self) -> None:
        """Refuse an unsafe or inconsistent configuration (:class:`InvalidArgument` saying what
        to change). Called by :class:`Log`; call it early to fail before serving."""
        q = self.resolved_quorum()
        if not isinstance(q, int) or not 0 <= q <= len(self.witnesses):
            raise InvalidArgument(f"quorum {q} must be between 0 and the number of witnesses "
                                  f"({len(self.witnesses)})")
        if q == 0 and not self.insecure_no_witnesses:
            raise InvalidArgument(
                "the log has no witness quorum (no witnesses, or quorum 0), so nobody could "
                "detect it showing different histories to different clients; add witnesses "
                "(--witness URL=VKEY) or accept the risk with --insecure-no-witnesses")
        name = tlognote.key_name(tlognote.load_signer(self.skey))
        if name != self.origin and not self.insecure_origin_mismatch:
            raise InvalidArgument(
                f"the log key is named {name!r} but the origin is {self.origin!r}: clients "
                f"reject such checkpoints; generate a key named after the origin (pcc log keygen "
                f"{self.origin}) or pass --insecure-origin-mismatch")


@dataclasses.dataclass(frozen=True)
class Published:
    """The published checkpoint: size, root, full note, publication time."""

    size: int
    root: bytes
    note: str
    time: float


@dataclasses.dataclass
class _Witness:
    url: str
    verifier: Any
    peer: Peer
    size: int = 0
    retry_at: float = 0.0          # monotonic time before which a failed witness is skipped
    backoff: float = 0.0

    def failed(self) -> None:
        self.backoff = min(max(self.backoff * 2, 1.0), 60.0)
        self.retry_at = time.monotonic() + self.backoff

    def succeeded(self) -> None:
        self.backoff, self.retry_at = 0.0, 0.0


class _ByteLRU:
    """A small LRU cache bounded by total bytes (immutable tiles only)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._d: OrderedDict[Any, bytes] = OrderedDict()

    def get(self, key):
        v = self._d.get(key)
        if v is not None:
            self._d.move_to_end(key)
        return v

    def put(self, key, value: bytes) -> None:
        if len(value) > self.limit // 8 or key in self._d:
            return
        self._d[key] = value
        self.used += len(value)
        while self.used > self.limit:
            _, old = self._d.popitem(last=False)
            self.used -= len(old)


class Log:
    """The log: store, sequencer, publisher. Create inside a running event loop."""

    def __init__(self, config: LogConfig) -> None:
        self.config = config
        config.check()
        self.signer = tlognote.load_signer(config.skey)
        self.publishers = [tlognote.load_verifier(v) for v in config.publishers]
        limits = PeerLimits(deadline_s=config.witness_timeout_s,
                            connect_s=min(5.0, config.witness_timeout_s),
                            max_body=config.witness_max_answer)
        self.witnesses = [_Witness(url.rstrip("/"), tlognote.load_verifier(vk),
                                   Peer(f"witness {url.rstrip('/')}", limits))
                          for url, vk in config.witnesses]
        if any(not w.verifier.is_cosigner for w in self.witnesses):
            raise InvalidArgument("witness vkeys must be cosigner (type 0x04) keys")
        if len({w.verifier.name for w in self.witnesses}) != len(self.witnesses):
            raise InvalidArgument("witness key names must be distinct")
        self._lock = ProcessLock(config.db_path + ".lock")
        try:
            self._open_store()
        except BaseException:
            self._lock.release()
            raise
        self._queue: list[tuple[bytes, bytes, asyncio.Future]] = []
        self._inflight: dict[bytes, asyncio.Future] = {}
        self._wake = asyncio.Event()
        self._pub_event = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._cache = _ByteLRU(config.tile_cache_bytes)
        self._retry_at = 0.0
        self._backoff = 0.0
        self.stats = {"batches": 0, "sequenced": 0, "published": 0, "witness_errors": 0}

    def __repr__(self) -> str:
        size = self.published.size if self.published is not None else None
        return (f"<pcc Log {self.config.origin} key={tlognote.key_name(self.signer)} "
                f"published={size}>")

    def _open_store(self) -> None:
        config = self.config
        self.store = LogStore(config.db_path, config.origin)
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tlog-w")
        self._readers = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="tlog-r")
        size = self.store.tree_size()
        self.tree = merkle.Tree(self.store, size=size)
        sizes = self.store.witness_sizes()
        for w in self.witnesses:
            w.size = sizes.get(w.url, 0)
        self.published: Published | None = None
        cp = self.store.checkpoint()
        if cp is not None:
            psize, pnote, ptime = cp
            text = tlognote.split_note(pnote).text
            c = tlognote.parse_checkpoint(text)
            if psize > size or c.size != psize or bytes(c.root) != self.tree.root(psize):
                raise StateError("published checkpoint does not match the stored tree")
            self.published = Published(psize, bytes(c.root), pnote, ptime)

    # ------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the sequencer task."""
        if tlognote.key_name(self.signer) != self.config.origin:
            log.warning("INSECURE: log key name %r differs from the origin %r",
                        tlognote.key_name(self.signer), self.config.origin)
        if self.config.resolved_quorum() == 0:
            log.warning("INSECURE: checkpoints are published without a witness quorum")
        self._task = asyncio.create_task(self._run(), name="tlog-sequencer")

    async def stop(self) -> None:
        """Stop the sequencer and close the store."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for w in self.witnesses:
            with contextlib.suppress(Exception):
                await w.peer.aclose()
        for _, _, fut in self._queue:
            if not fut.done():
                fut.set_exception(StateError("log is shutting down"))
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.store.close()
        self._lock.release()

    async def _read(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    async def _write(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    # ------------------------------------------------------------------------- adding

    def _check_sig(self, leaf: bytes, sig: bytes) -> bool:
        """Whether ``sig`` over ``leaf`` verifies with one of the publisher keys."""
        return any(tlognote.raw_verify(v, leaf, sig) for v in self.publishers)

    async def add(self, leaf: bytes, sig: bytes) -> tuple[int, str]:
        """Validate, authenticate and sequence ``leaf``; wait for a published checkpoint that
        covers it; return ``(index, tlog-proof)``."""
        leafmod.decode(leaf)
        if not self.publishers:
            raise HTTPError(403, "this log has no publisher keys configured")
        if not await self._read(self._check_sig, leaf, sig):
            raise HTTPError(403, "sig does not verify with any publisher key")
        lh = merkle.leaf_hash(leaf)
        fut = self._inflight.get(lh)
        index = None
        if fut is None:
            index = await self._read(self.store.lookup, lh)
            fut = self._inflight.get(lh)
        if index is None:
            if fut is None:
                fut = self.enqueue(leaf, lh)
            try:
                index = await asyncio.wait_for(asyncio.shield(fut), self.config.add_timeout_s)
            except asyncio.TimeoutError:
                raise HTTPError(503, "timed out waiting for the sequencer; retry") from None
        assert index is not None
        return await self._proof_when_published(index)

    def enqueue(self, leaf: bytes, lh: bytes) -> asyncio.Future:
        """Queue an already validated leaf for the sequencer; the future gets its index once the
        batch holding it is committed (not yet published). Used by :meth:`add` and benchmarks."""
        fut = self._inflight.get(lh)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._inflight[lh] = fut
            self._queue.append((leaf, lh, fut))
            self._wake.set()
        return fut

    async def wait_published(self, size: int, timeout: float) -> bool:
        """Wait until the published checkpoint covers ``size`` entries; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.published is None or self.published.size < size:
            ev = self._pub_event
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ev.wait(), left)
        return True

    async def _proof_when_published(self, index: int) -> tuple[int, str]:
        if not await self.wait_published(index + 1, self.config.add_timeout_s):
            raise HTTPError(503, "entry sequenced but no checkpoint with the witness quorum "
                            "covers it yet; retry the same add later", index=index)
        pub = self.published
        assert pub is not None    # wait_published returned True
        hashes = await self._read(self.tree.inclusion_proof, index, pub.size)
        return index, tlognote.format_proof(index, hashes, pub.note)

    # ------------------------------------------------------------------------- sequencer

    async def _run(self) -> None:
        interval = self.config.batch_interval_ms / 1000.0
        while True:
            try:
                pending_pub = self.published is None or self.published.size < self.tree.size
                timeout = None
                if pending_pub:
                    timeout = max(0.0, self._retry_at - time.monotonic())
                elif self.witnesses and self.published is not None:
                    timeout = max(0.0, self.published.time + self.config.refresh_interval_s
                                  - time.time())
                if not self._queue:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
                if self._queue:
                    if len(self._queue) < self.config.batch_max and interval > 0:
                        await asyncio.sleep(interval)
                    batch = self._queue[:self.config.batch_max]
                    del self._queue[:self.config.batch_max]
                    await self._sequence(batch)
                    if self._queue:
                        self._wake.set()
                refresh = (self.published is not None and self.witnesses and
                           time.time() - self.published.time >= self.config.refresh_interval_s)
                if (self.published is None or self.published.size < self.tree.size
                        or refresh) and time.monotonic() >= self._retry_at:
                    await self._publish()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the sequencer alive; failures are retried
                log.exception("sequencer iteration failed")
                await asyncio.sleep(0.5)

    async def _sequence(self, batch) -> None:
        start = self.tree.size
        try:
            indices = await self._write(self.store.append_batch, start, self.tree,
                                        [(leaf, lh) for leaf, lh, _ in batch])
        except Exception as e:
            log.error("committing a batch of %d failed: %s", len(batch), e)
            for _, lh, fut in batch:
                self._inflight.pop(lh, None)
                if not fut.done():
                    fut.set_exception(StateError("the log could not store the entry; retry"))
            # The tree may be ahead of the store (failed COMMIT): rebuild it from the store.
            self.tree = await self._write(self._reload_tree)
            return
        self.stats["batches"] += 1
        self.stats["sequenced"] += self.tree.size - start
        for (_, lh, fut), idx in zip(batch, indices):
            self._inflight.pop(lh, None)
            if not fut.done():
                fut.set_result(idx)

    def _reload_tree(self):
        return merkle.Tree(self.store, size=self.store.tree_size())

    async def _publish(self) -> None:
        tree = self.tree
        size = tree.size
        root = tree.root()
        text = tlognote.checkpoint_text(self.config.origin, size, root)
        signed = await self._read(tlognote.sign_checkpoint, self.signer, text)
        lines = list(signed.lines)
        sizes: list[tuple[str, int]] = []
        if self.witnesses:
            got = await self._cosign_quorum(size, signed)
            for w, res in got:
                lines.extend(res)
                sizes.append((w.url, size))
            if len(got) < self.config.resolved_quorum():
                self._backoff = min(max(self._backoff * 2, 0.2), 10.0)
                self._retry_at = time.monotonic() + self._backoff
                log.warning("checkpoint %d: %d of %d witnesses cosigned (quorum %d); retrying",
                            size, len(got), len(self.witnesses), self.config.resolved_quorum())
                return
        self._backoff = 0.0
        note_text = tlognote.SignedNote(text, tuple(lines)).format()
        now = time.time()
        await self._write(self.store.publish, size, note_text, now, sizes)
        for w in self.witnesses:
            if (w.url, size) in sizes:
                w.size = size
        self.published = Published(size, root, note_text, now)
        self.stats["published"] += 1
        ev, self._pub_event = self._pub_event, asyncio.Event()
        ev.set()

    async def _cosign_quorum(self, size: int, signed: tlognote.SignedNote
                             ) -> list[tuple[_Witness, list[str]]]:
        """Ask the witnesses in parallel; return ``(witness, lines)`` for those that cosigned.

        Returns as soon as every asked witness has answered, or the quorum is in and the grace
        period has passed, or the round deadline (``witness_timeout_s``) has passed; the calls
        still running then are cancelled. Witnesses in back-off are left out while the others
        can still make the quorum.
        """
        quorum = self.config.resolved_quorum()
        now = time.monotonic()
        ask = [w for w in self.witnesses if w.retry_at <= now]
        if len(ask) < quorum:
            ask = list(self.witnesses)
        tasks = {asyncio.create_task(self._cosign(w, size, signed),
                                     name=f"cosign {w.url}"): w for w in ask}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.witness_timeout_s
        got: list[tuple[_Witness, list[str]]] = []
        pending = set(tasks)
        try:
            while pending:
                if len(got) >= quorum:
                    deadline = min(deadline, loop.time() + self.config.witness_grace_s)
                elif len(got) + len(pending) < quorum:
                    break                             # the quorum cannot be reached any more
                left = deadline - loop.time()
                if left <= 0:
                    break
                done, pending = await asyncio.wait(pending, timeout=left,
                                                   return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    w = tasks[t]
                    try:
                        res = t.result()
                    except Exception:
                        log.exception("cosigning with witness %s failed", w.url)
                        res = []
                    if res:
                        w.succeeded()
                        got.append((w, res))
                    else:
                        w.failed()
        finally:
            for t in pending:
                t.cancel()
                w = tasks[t]
                log.warning("witness %s did not answer within the round; skipped", w.url)
                self.stats["witness_errors"] += 1
                w.failed()
            if pending:
                await asyncio.wait(pending)
        return got

    async def _cosign(self, w: _Witness, size: int, signed: tlognote.SignedNote) -> list[str]:
        """Ask one witness to cosign; returns its verified cosignature lines (or [])."""
        old = w.size
        for _ in range(3):
            if old > size:
                log.error("witness %s has size %d, beyond our tree (%d)", w.url, old, size)
                self.stats["witness_errors"] += 1
                return []
            proof = [] if old in (0, size) else await self._read(
                self.tree.consistency_proof, old, size)
            body = f"old {old}\n" + "".join(tlognote.b64(h) + "\n" for h in proof) + "\n" + \
                signed.format()
            try:
                r = await w.peer.post(w.url + "/add-checkpoint", body.encode(),
                                      headers={"content-type": "text/plain"})
            except PeerError as e:
                log.warning("%s", e)
                self.stats["witness_errors"] += 1
                return []
            if r.status_code == 409 and r.content_type == "text/x.tlog.size":
                try:
                    old = tlognote.decimal(r.text.rstrip("\n"), "witness size")
                except FormatError:
                    break
                w.size = old
                continue
            if r.status_code != 200:
                log.warning("witness %s answered %d: %r", w.url, r.status_code, r.text[:200])
                self.stats["witness_errors"] += 1
                return []
            try:
                lines = r.text.rstrip("\n").split("\n")
                good = await self._read(tlognote.valid_cosignatures, signed.text, lines,
                                        [w.verifier])
            except FormatError:
                good = []
            if not good:
                log.warning("witness %s returned no valid cosignature", w.url)
                self.stats["witness_errors"] += 1
                return []
            return [line for _, _, line in good]
        self.stats["witness_errors"] += 1
        return []

    # ------------------------------------------------------------------------- reading

    async def tile(self, tile: tilemod.Tile) -> bytes:
        """The bytes of a tile available at the published size (else HTTPError 404)."""
        pub = self.published
        if pub is None or not tilemod.tile_available(tile, pub.size):
            raise HTTPError(404, "tile not available at the published tree size")
        key = (tile.level, tile.index, tile.width)
        data = self._cache.get(key)
        if data is None:
            data = await self._read(self.store.tile, tile)
            if not tile.is_partial:
                self._cache.put(key, data)
        return data


# ----------------------------------------------------------------------------- HTTP

def _accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding value accepts gzip (a ``q=0`` refuses it)."""
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().replace(" ", "")
            return not (q.startswith("q=") and q[2:] in ("0", "0.", "0.0", "0.00", "0.000"))
    return False


def _decode_add(body: bytes) -> tuple[bytes, bytes]:
    try:
        obj = msgpack.unpackb(body, raw=False, strict_map_key=True, max_map_len=2,
                              max_array_len=0, max_ext_len=0)
    except (ValueError, TypeError, msgpack.exceptions.UnpackException) as e:
        raise FormatError(f"body is not a msgpack map ({type(e).__name__})") from None
    if not isinstance(obj, dict) or set(obj) != {"leaf", "sig"}:
        raise FormatError('body must be a msgpack map with exactly "leaf" and "sig"')
    leaf, sig = obj["leaf"], obj["sig"]
    if not isinstance(leaf, bytes) or not isinstance(sig, bytes):
        raise FormatError('"leaf" and "sig" must be msgpack bin')
    if len(sig) != 64:
        raise FormatError('"sig" must be a 64-byte Ed25519 signature')
    return leaf, sig


def create_app(config: LogConfig) -> Service[Log]:
    """The log's ASGI app, a :class:`pcc.services.Service` whose state is the :class:`Log`.

    Serve it alone (``uvicorn.run(app)``), or mount it under any prefix in a host app; compose
    its lifespan (``Starlette(routes=[Mount("/log", app=app)], lifespan=app.lifespan)``) or let
    the first request start it. ``app.state`` is the running :class:`Log`.
    """
    config.check()

    async def start() -> Log:
        lg = Log(config)
        await lg.start()
        return lg

    async def stop(lg: Log) -> None:
        await lg.stop()

    async def checkpoint(request: Request) -> Response:
        pub = svc.state.published
        if pub is None:
            return json_error(503, "no checkpoint published yet")
        return Response(pub.note, media_type="text/plain; charset=utf-8",
                        headers={"cache-control":
                                 f"public, max-age={config.checkpoint_max_age_s}"})

    async def tile(request: Request) -> Response:
        try:   # the route's own parameter, so the app answers the same under any mount prefix
            t = tilemod.parse_path("tile/" + request.path_params["rest"])
        except FormatError as e:
            return json_error(400, str(e))
        data = await svc.state.tile(t)
        headers = {"cache-control": IMMUTABLE if not t.is_partial else "public, max-age=60"}
        if t.is_entries:
            headers["vary"] = "Accept-Encoding"
            if _accepts_gzip(request.headers.get("accept-encoding", "")):
                data = gzip.compress(data, compresslevel=5, mtime=0)
                headers["content-encoding"] = "gzip"
        return Response(data, media_type="application/octet-stream", headers=headers)

    async def add(request: Request) -> Response:
        body = await read_body(request, config.max_body)
        leaf, sig = _decode_add(body)
        index, proof = await svc.state.add(leaf, sig)
        return Response(msgpack.packb({"index": index, "proof": proof}, use_bin_type=True),
                        media_type=MSGPACK, headers={"cache-control": "no-store"})

    async def not_found(request: Request, exc: Exception) -> Response:
        return json_error(404, "not found")

    routes = [
        Route("/checkpoint", checkpoint, methods=["GET", "HEAD"]),
        Route("/tile/{rest:path}", tile, methods=["GET", "HEAD"]),
        Route("/add", add, methods=["POST"]),
    ]
    signer = tlognote.load_signer(config.skey)     # already a signer: see __post_init__
    info = {"origin": config.origin, "key": signer.vkey,
            "publishers": len(config.publishers),
            "witnesses": [u for u, _ in config.witnesses],
            "quorum": config.resolved_quorum()}
    svc: Service[Log] = Service(
        "log", routes, start, stop, info=info, limits=config.limits,
        exception_handlers={PccError: pcc_error_handler, HTTPError: pcc_error_handler,
                            404: not_found})
    return svc
