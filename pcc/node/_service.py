"""The node's ASGI service: exactly ``GET /v1/attestation``, ``POST /v1/invoke``, ``GET /healthz``
and ``GET /metrics``. It never sees plaintext: for an invoke the host hands it the channel of a
worker forked ahead (sandboxed and waiting); the body (ciphertext) goes to the worker on it, and
the worker's sealed answer comes back on the same socket and is streamed as produced."""
from __future__ import annotations

import asyncio
import collections
import itertools
import os
import socket
import struct
import threading
import time
from typing import Any, AsyncIterator

import msgpack
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pcc import _core
from pcc.errors import PccError, StateError
from pcc.node import _log, _release
from pcc.node._boot import Booted, boot
from pcc.node._config import NodeConfig
from pcc.node._metrics import Metrics
from pcc.services._app import Service
from pcc.services._http import HTTPError, json_error, pcc_error_handler, read_body
from pcc.services._limits import Limits

ATTESTATION_TYPE = "application/pcc-attestation+msgpack"
ANSWER_TYPE = "application/pcc-answer"
REQUEST_TYPE = "application/pcc-request+msgpack"

# worker exit codes -> (HTTP status, error, metrics outcome) when no answer byte was produced
_EXIT = {
    _core.WORKER_EXIT_INVOKE: (400, "bad request", "bad_request"),
    _core.WORKER_EXIT_KEY: (400, "the node cannot open the request key", "bad_request"),
    _core.NODE_EXIT_OVERLOADED: (503, "overloaded", "overloaded"),
    _core.NODE_EXIT_MODEL: (404, "unknown model", "not_found"),
}


class NodeState:
    """A running node: the booted processes plus the service's bookkeeping."""

    def __init__(self, node: Booted, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self.cfg = node.cfg
        self.loop = loop
        self.metrics = Metrics(node.cfg.metrics, node.cfg.metrics_refresh_s)
        self.ids = itertools.count(1)
        self.exits: dict[int, asyncio.Future] = {}
        self.workers: dict[int, asyncio.Future] = {}
        self.idle: dict[str, collections.deque] = {}     # model -> (slot, socket) forked ahead
        self.running = 0
        self.queued = 0
        self.slots = asyncio.Semaphore(node.cfg.limits["max_workers"])
        self.host_alive = True
        self.stopping = False
        self.reported: set[str] = set()
        self.reader = threading.Thread(target=self._read_exits, name="pcc-node-exits", daemon=True)
        self.reader.start()
        self.rotator: asyncio.Task | None = None
        self.refresher: asyncio.Task | None = None
        self.stale_reported = False

    def _read_exits(self) -> None:
        chan = self.node.procs.host_chan
        while True:
            try:
                m, fd = chan.recv_fd()
            except PccError:
                break
            if m.get("op") == "worker" and isinstance(m.get("id"), int) and fd is not None:
                self.loop.call_soon_threadsafe(self._assigned, m["id"], fd)
                continue
            if m.get("op") == "idle" and isinstance(m.get("slot"), int) and isinstance(
                    m.get("model"), str) and fd is not None:
                self.loop.call_soon_threadsafe(self._idle, m["model"], m["slot"], fd)
                continue
            if m.get("op") == "gone" and isinstance(m.get("slot"), int):
                self.loop.call_soon_threadsafe(self._gone, m["slot"])
            if fd is not None:
                os.close(fd)
            if m.get("op") == "exit" and isinstance(m.get("id"), int) and isinstance(
                    m.get("code"), int):
                self.loop.call_soon_threadsafe(self._exited, m["id"], m["code"])
        self.host_alive = False
        if not self.stopping:
            self.loop.call_soon_threadsafe(self._host_gone)

    def _idle(self, model: str, slot: int, fd: int) -> None:
        sock = socket.socket(fileno=fd)
        if self.stopping:
            sock.close()
            return
        sock.setblocking(False)
        self.idle.setdefault(model, collections.deque()).append((slot, sock))

    def _gone(self, slot: int) -> None:
        for q in self.idle.values():
            for item in list(q):
                if item[0] == slot:
                    q.remove(item)
                    item[1].close()

    def take_idle(self, model: str) -> tuple[int, socket.socket] | None:
        """The channel of a waiting worker of ``model`` (the oldest), or None."""
        q = self.idle.get(model)
        return q.popleft() if q else None

    def close_idle(self) -> None:
        for q in self.idle.values():
            while q:
                q.popleft()[1].close()

    def _assigned(self, ident: int, fd: int) -> None:
        fut = self.workers.pop(ident, None)
        if fut is None or fut.done():
            os.close(fd)
            return
        fut.set_result(fd)

    def _exited(self, ident: int, code: int) -> None:
        w = self.workers.pop(ident, None)
        if w is not None and not w.done():
            w.set_result(None)                  # no worker: the code says why
        fut = self.exits.pop(ident, None)
        if fut is not None and not fut.done():
            fut.set_result(code)

    def _host_gone(self) -> None:
        for w in self.workers.values():
            if not w.done():
                w.set_result(None)
        self.workers.clear()
        for fut in self.exits.values():
            if not fut.done():
                fut.set_result(-1)
        self.exits.clear()

    def healthy(self) -> bool:
        procs = self.node.procs
        for name, p in (("enclave_died", procs.enclave), ("host_died", procs.host)):
            if p.poll() is not None and name not in self.reported and not self.stopping:
                self.reported.add(name)
                _log.emit(name, status=int(p.returncode))
        if self.node.stale():
            if not self.stale_reported and not self.stopping:
                self.stale_reported = True
                _log.emit("proof_stale", fresh_until=self.node.fresh_until)
            return False
        self.stale_reported = False
        return self.host_alive and procs.alive()

    async def refresh_forever(self) -> None:
        """Fetch a fresher release proof every ``release.refresh_s`` (every 30 s at most after a
        failure or while the proof is too old to serve), so that the bundle keeps passing
        clients' freshness check."""
        wait = self.refresh_wait(failed=False)
        while True:
            await asyncio.sleep(wait)
            try:
                outcome = await asyncio.to_thread(self.node.refresh_proof)
            except PccError:
                outcome = "failed"
            wait = self.refresh_wait(failed=outcome == "failed")

    def refresh_wait(self, failed: bool, now: float | None = None) -> float:
        """Seconds until the next refresh: ``release.refresh_s``, but no later than the moment
        the current proof would go stale (so a long period cannot make the node stop serving a
        proof a refresh could have replaced), and at most 30 s after a failure or while stale."""
        period = float(self.cfg.release_refresh_s)
        if failed or self.node.stale(now):
            return min(period, 30.0)
        t = time.time() if now is None else now
        until_stale = self.node.fresh_until - _release.stale_margin(self.cfg) - t
        return max(1.0, min(period, until_stale))

    async def rotate_forever(self) -> None:
        period = self.cfg.keys["rotate_s"]
        while True:
            await asyncio.sleep(period)
            try:
                not_after = await asyncio.to_thread(self.node.rotate)
            except PccError:
                continue
            self.metrics.rotated()
            _log.emit("key_rotated", not_after=not_after)


_RNONCE = 16
_SPARE = 0x80000000
_FRAME_MAX = 65536 + 1024 + 16 + 4          # the longest frame, length prefix included


class _Relay:
    """Splits a worker's stream (ciphertext only): ``rnonce`` and the answer frames go to the
    client whole (never a partial frame); the spare abort frames mixed in (records whose
    4-byte header has the top bit set; spare k is for frame k) are kept. If the worker ends
    before its final frame, :meth:`abort` gives the spare for the first frame it did not send:
    the client's stream then ends with a sealed ``internal`` error instead of being cut."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.started = False
        self.frames = 0
        self.n_spares = 0
        self.spares: dict[int, bytes] = {}

    @property
    def ready(self) -> bool:
        """rnonce and the first spare are in: the client's stream may start."""
        return self.started and self.n_spares > 0

    def feed(self, data: bytes) -> bytes:
        """Take worker bytes; return the complete units to forward."""
        self.buf += data
        out = bytearray()
        if not self.started:
            if len(self.buf) < _RNONCE:
                return b""
            out += self.buf[:_RNONCE]
            del self.buf[:_RNONCE]
            self.started = True
        while len(self.buf) >= 4:
            (h,) = struct.unpack_from(">I", self.buf)
            n = h & ~_SPARE
            if h & _SPARE:
                if not 20 <= n <= _FRAME_MAX:
                    raise StateError("the worker broke its stream")
                if len(self.buf) < 4 + n:
                    break
                self.spares[self.n_spares] = bytes(self.buf[4:4 + n])
                self.n_spares += 1
                del self.buf[:4 + n]
            else:
                if not 16 <= n <= _FRAME_MAX - 4:
                    raise StateError("the worker broke its stream")
                if len(self.buf) < 4 + n:
                    break
                out += self.buf[:4 + n]
                del self.buf[:4 + n]
                self.spares.pop(self.frames, None)
                self.frames += 1
        return bytes(out)

    def abort(self) -> bytes:
        """The spare for the first frame not sent, or b"" when the answer was complete (no
        spare follows the final frame)."""
        return self.spares.get(self.frames, b"")


def _invoke_message(body: bytes, node_id: bytes, models: set[str]) -> tuple[str, bytes]:
    """Check the forwarded invoke object's shape and build the worker's invoke message."""
    try:
        d = msgpack.unpackb(body, raw=False, strict_map_key=True, max_bin_len=len(body),
                            max_str_len=1024, max_array_len=4096, max_map_len=16)
    except (ValueError, msgpack.UnpackException):
        raise HTTPError(400, "malformed request") from None
    if not isinstance(d, dict) or set(d) != {"v", "model", "keys", "nonce", "body"} or \
            d["v"] != 1 or not isinstance(d["model"], str) or not isinstance(d["keys"], list) or \
            len(d["keys"]) != 1 or not isinstance(d["body"], list) or not d["body"] or \
            not isinstance(d["nonce"], bytes) or len(d["nonce"]) != 12 or \
            not all(isinstance(c, bytes) for c in d["body"]):
        raise HTTPError(400, "malformed request")
    k = d["keys"][0]
    if not isinstance(k, dict) or set(k) != {"node", "key_id", "enc", "ct"} or not all(
            isinstance(v, bytes) for v in k.values()) or len(k["key_id"]) != 8 or \
            len(k["node"]) != 32 or len(k["ct"]) != 32 or not 0 < len(k["enc"]) <= 133:
        raise HTTPError(400, "malformed request")
    if k["node"] != node_id:
        raise HTTPError(400, "the request is sealed to another node")
    if d["model"] not in models:
        raise HTTPError(404, "unknown model")
    msg = msgpack.packb({"op": "invoke", "key_id": k["key_id"], "enc": k["enc"], "ct": k["ct"],
                         "node": k["node"], "nonce": d["nonce"], "body": d["body"]},
                        use_bin_type=True)
    return d["model"], struct.pack(">I", len(msg)) + msg


def _body_limit(cfg: NodeConfig) -> int:
    """The largest invoke body: the sealed payload (tags and msgpack framing included) plus the
    key entry, with room to spare; the payload limit itself is the worker's."""
    return cfg.limits["max_payload"] * 2 + 64 * 1024


def create_app(config: NodeConfig, *, testing_probe: bool = False) -> Service[NodeState]:
    """The node service for ``config``. Starting it boots the node (trust cache, CA, lock,
    attest); stopping it stops the enclave and host. ``testing_probe``: see
    :func:`pcc.node._boot.boot` (tests only; the bundle then says debug)."""

    async def start() -> NodeState:
        node = await asyncio.to_thread(lambda: boot(config, testing_probe=testing_probe))
        st = NodeState(node, asyncio.get_running_loop())
        st.rotator = asyncio.get_running_loop().create_task(st.rotate_forever())
        st.refresher = asyncio.get_running_loop().create_task(st.refresh_forever())
        return st

    async def stop(st: NodeState) -> None:
        _log.emit("stopping")
        st.stopping = True
        for task in (st.rotator, st.refresher):
            if task is not None:
                task.cancel()
        st.close_idle()
        await asyncio.to_thread(st.node.procs.stop)
        await asyncio.to_thread(st.node.source.close)

    async def attestation(request: Request) -> Response:
        st = await svc.start()
        if not st.healthy():
            raise HTTPError(503, "node unavailable")
        return Response(st.node.bundle, media_type=ATTESTATION_TYPE,
                        headers={"cache-control": "no-store"})

    async def healthz(request: Request) -> Response:
        st = await svc.start()
        if not st.healthy():
            return json_error(503, "node unavailable")
        return Response(b'{"ok": true}\n', media_type="application/json")

    async def metrics(request: Request) -> Response:
        st = await svc.start()
        return Response(st.metrics.text(), media_type="text/plain; version=0.0.4")

    async def invoke(request: Request) -> Response:
        st = await svc.start()
        t0 = time.monotonic()
        if not st.healthy():
            raise HTTPError(503, "node unavailable")
        body = await read_body(request, _body_limit(st.cfg))
        model, msg = _invoke_message(body, st.node.node_id, {n for n, _ in st.cfg.models})
        if st.running >= st.cfg.limits["max_workers"] and st.queued >= st.cfg.limits["queue"]:
            _log.emit("overloaded", running=st.running, queued=st.queued)
            st.metrics.request("overloaded", time.monotonic() - t0)
            raise HTTPError(503, "overloaded")
        st.queued += 1
        try:
            await st.slots.acquire()
        finally:
            st.queued -= 1
        st.running += 1
        released = False

        def release(outcome: str) -> None:
            nonlocal released
            if not released:
                released = True
                st.running -= 1
                st.slots.release()
                st.metrics.request(outcome, time.monotonic() - t0)

        ident = next(st.ids)
        fut = st.loop.create_future()
        wfut = st.loop.create_future()
        st.exits[ident] = fut
        st.workers[ident] = wfut
        ours: socket.socket | None = None
        first = b""
        relay = _Relay()
        try:
            while (pooled := st.take_idle(model)) is not None:
                # a worker forked ahead: the invoke goes to it at once, and the host gives the
                # enclave its enclave channel meanwhile
                slot, sock = pooled
                st.node.procs.host_chan.send({"op": "assign", "id": ident, "slot": slot})
                try:
                    await st.loop.sock_sendall(sock, msg)
                except OSError:
                    # it died waiting (the host's "gone" is on its way): try the next one,
                    # under a new id (the host answers the old one with an exit code)
                    sock.close()
                    st.exits.pop(ident, None)
                    st.workers.pop(ident, None)
                    ident, fut = next(st.ids), st.loop.create_future()
                    st.exits[ident] = fut
                    st.workers[ident] = wfut = st.loop.create_future()
                    continue
                ours = sock
                break
            if ours is None:
                # none free: the host forks one (its channel comes back) or says why not
                st.node.procs.host_chan.send({"op": "invoke", "id": ident, "model": model})
                fd = await wfut
                if fd is not None:
                    ours = socket.socket(fileno=fd)
                    ours.setblocking(False)
                    await st.loop.sock_sendall(ours, msg)
            if ours is not None:
                # answer only once rnonce and the first spare are in (an HTTP error before)
                while not relay.ready:
                    data = await st.loop.sock_recv(ours, 65536)
                    if not data:
                        break
                    first += relay.feed(data)
                if not relay.ready:
                    first = b""
        except (PccError, OSError):
            first = b""
        finally:
            st.workers.pop(ident, None)
        if not first or ours is None:
            if ours is not None:
                ours.close()
            code = await _exit_code(fut)
            status, err, outcome = _EXIT.get(code, (500, "internal", "internal"))
            if outcome == "internal":
                _log.emit("worker_failed", code=code)
            release(outcome)
            raise HTTPError(status, err)

        conn: socket.socket = ours

        async def stream() -> AsyncIterator[bytes]:
            outcome = "internal"
            try:
                yield first
                try:
                    while True:
                        data = await st.loop.sock_recv(conn, 65536)
                        if not data:
                            break
                        out = relay.feed(data)
                        if out:
                            yield out
                except (PccError, OSError):
                    pass
                tail = relay.abort()
                if tail:
                    yield tail            # the worker died mid-answer: a sealed internal error
                code = await _exit_code(fut)
                if code == 0:
                    outcome = "ok"
                else:
                    _log.emit("worker_failed", code=code)
            finally:
                conn.close()
                st.exits.pop(ident, None)
                release(outcome)

        return StreamingResponse(stream(), media_type=ANSWER_TYPE,
                                 headers={"cache-control": "no-store"})

    async def _exit_code(fut: asyncio.Future) -> int:
        try:
            return await asyncio.wait_for(fut, 10)
        except asyncio.TimeoutError:
            return -1

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return json_error(exc.status_code, {404: "not found", 405: "method not allowed"}.get(
                exc.status_code, "bad request"))
        if isinstance(exc, StateError) and not isinstance(exc, HTTPError):
            return json_error(503, "node unavailable")
        return await pcc_error_handler(request, exc)

    routes = [
        Route("/v1/attestation", attestation, methods=["GET"]),
        Route("/v1/invoke", invoke, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    svc: Service[NodeState] = Service(
        "node", routes, start, stop, info={"serial": config.serial},
        limits=Limits(max_body=_body_limit(config),
                      max_requests=config.limits["max_workers"] + config.limits["queue"] + 64),
        exception_handlers={HTTPError: http_error, HTTPException: http_error,
                            PccError: http_error, Exception: http_error})
    return svc
