"""Misbehaving HTTP peers for the limit tests: a raw asyncio server on loopback whose answer is
an async function of (request head, request body, writer)."""
from __future__ import annotations

import asyncio
import os
import threading
from typing import Awaitable, Callable

Behaviour = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """Serves ``behaviour`` on 127.0.0.1 (a free port) from a background thread."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                body = await reader.readexactly(n) if n else b""
                self.requests += 1
                await self.behaviour(head, body, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        def _close() -> None:
            self._server.close()
            for t in asyncio.all_tasks(self._loop):
                t.cancel()
            self._loop.call_later(0.05, self._loop.stop)
        self._loop.call_soon_threadsafe(_close)
        self._thread.join(5)

    def __enter__(self) -> "RawServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def head(status: int = 200, length: int | None = None, extra: str = "") -> bytes:
    """A response head; no length means chunked."""
    h = f"HTTP/1.1 {status} X\r\n"
    h += f"content-length: {length}\r\n" if length is not None else "transfer-encoding: chunked\r\n"
    return (h + extra + "\r\n").encode()


def rss() -> int:
    """This process's resident set size in bytes."""
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir(f"/proc/{os.getpid()}/fd"))
