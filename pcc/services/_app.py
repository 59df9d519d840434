"""The shape every pcc service has, so that it runs alone *or* mounted inside someone else's app.

A :class:`Service` is an ASGI app built from routes plus two callbacks, ``start`` (create the
service's state: open stores, start background tasks) and ``stop`` (release it). It works in
three set-ups without any change to the service itself:

- **served alone** (``uvicorn.run(app)``, ``pcc log serve``): the server's lifespan events call
  ``start`` before the first request and ``stop`` at shutdown;
- **mounted, with a composed lifespan** (preferred when embedding): the host passes
  :meth:`Service.lifespan` (or :func:`lifespan` for several services) as its own lifespan, so
  start-up errors surface when the host starts and shutdown is clean::

      log_app = tlog.create_app(LogConfig(...))
      host = Starlette(routes=[Mount("/log", app=log_app)], lifespan=log_app.lifespan)
      # FastAPI: api = FastAPI(lifespan=log_app.lifespan); api.mount("/log", log_app)

- **mounted, nothing composed**: Starlette and FastAPI never send lifespan events to a mounted
  app, so the state is created on the first request (once, even under concurrent requests) and
  lives until the process exits.

Routes read their own path parameters (never ``request.url.path``), so a service answers the same
under any mount prefix. Handlers reach the state through :attr:`Service.state`.

Every request passes through the service's :class:`~pcc.services.Limits` first (body size and
read timeout, requests in progress, quiet disconnects: :mod:`pcc.services._limits`), mounted or
not; :func:`serve_in_thread` and ``pcc ... serve`` also apply its per-connection limits.
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, AsyncIterator, Awaitable, Callable, Generic, Mapping, Sequence, TypeVar

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from pcc.errors import StateError
from pcc.services._limits import Limits, LimitsMiddleware, uvicorn_options

S = TypeVar("S")


class Service(Generic[S]):
    """An ASGI app with a start/stop life cycle that a host app can compose or leave alone.

    ``start()`` creates the state (idempotent, safe under concurrent callers), ``stop()`` releases
    it; ``state`` is the running state. ``info`` holds the public facts a start-up line shows
    (origin, key names, witnesses): never secrets. ``limits`` (default :class:`Limits`) guards
    every request; ``limit_stats`` counts what it refused.
    """

    def __init__(self, name: str, routes: Sequence[BaseRoute],
                 start: Callable[[], Awaitable[S]], stop: Callable[[S], Awaitable[None]], *,
                 exception_handlers: Mapping[Any, Callable] | None = None,
                 info: Mapping[str, Any] | None = None, limits: Limits | None = None) -> None:
        self.name = name
        self.info: dict[str, Any] = dict(info or {})
        self.limits = limits or Limits()
        self._start_fn = start
        self._stop_fn = stop
        self._guarded = LimitsMiddleware(
            Starlette(routes=list(routes), exception_handlers=dict(exception_handlers or {})),
            self.limits)
        self._state: S | None = None
        self._guard = threading.Lock()          # creates the asyncio lock exactly once
        self._alock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        running = "running" if self._state is not None else "not started"
        return f"<pcc service {self.name} ({running})>"

    # ------------------------------------------------------------------------- life cycle

    @property
    def started(self) -> bool:
        """Whether the state exists (started by a lifespan, :meth:`start` or a first request)."""
        return self._state is not None

    @property
    def state(self) -> S:
        """The running state; raises :class:`pcc.errors.StateError` before :meth:`start`."""
        if self._state is None:
            raise StateError(f"the {self.name} service has not been started")
        return self._state

    def _async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            if self._alock is None:
                self._alock, self._loop = asyncio.Lock(), loop
            elif self._loop is not loop:
                raise StateError(f"the {self.name} service already runs on another event loop")
            return self._alock

    async def start(self) -> S:
        """Create the state if it does not exist yet and return it (idempotent)."""
        if self._state is not None:
            return self._state
        async with self._async_lock():
            if self._state is None:
                self._state = await self._start_fn()
            return self._state

    async def stop(self) -> None:
        """Release the state (idempotent); a later request or :meth:`start` creates it again."""
        if self._state is None:
            return
        async with self._async_lock():
            st, self._state = self._state, None
            if st is not None:
                await self._stop_fn(st)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """A lifespan for a host app: ``Starlette(..., lifespan=service.lifespan)``."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    # ------------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan_protocol(receive, send)
            return
        if self._state is None:
            await self.start()
        await self._guarded(scope, receive, send)

    @property
    def limit_stats(self) -> dict[str, int]:
        """Requests refused by the limits so far: ``busy`` (503), ``too_large`` (413),
        ``body_timeouts`` (408), ``disconnects`` (clients gone mid-request)."""
        return dict(self._guarded.stats)

    async def _lifespan_protocol(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as e:  # the server prints this message and exits
                    await send({"type": "lifespan.startup.failed",
                                "message": f"{self.name}: {e}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.stop()
                except Exception as e:
                    await send({"type": "lifespan.shutdown.failed",
                                "message": f"{self.name}: {e}"})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return


@contextlib.asynccontextmanager
async def _compose(services: Sequence[Service], app: Any) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for s in services:
            await stack.enter_async_context(s.lifespan(app))
        yield


def lifespan(*services: Service) -> Callable[[Any], contextlib.AbstractAsyncContextManager]:
    """One lifespan that starts ``services`` in order and stops them in reverse, for a host app
    mounting several of them: ``Starlette(routes=[...], lifespan=lifespan(log_app, w_app))``."""
    for s in services:
        if not isinstance(s, Service):
            raise TypeError("lifespan() takes pcc services (the apps create_app returns)")
    return lambda app: _compose(services, app)


class BackgroundServer:
    """An ASGI app served by uvicorn in a background thread on a loopback port: for notebooks,
    tests and tools that need a live service next to their own code. Use as a context manager
    or call :meth:`stop`. ``url`` is ``http://host:port`` (port 0 picks a free one).

    The connection limits are ``limits``, else the app's own (a :class:`Service`'s), else the
    :class:`Limits` defaults."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 timeout: float = 30.0, limits: Limits | None = None) -> None:
        import socket
        import time

        import uvicorn
        # IPPROTO_TCP (not 0): asyncio then sets TCP_NODELAY on each accepted connection, so a
        # streamed answer does not wait for delayed ACKs piece by piece
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        self._sock = sock
        self._app = app
        self._error: BaseException | None = None
        lim = limits or getattr(app, "limits", None)
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                                     access_log=False, lifespan="on",
                                                     **uvicorn_options(lim)))
        self._thread = threading.Thread(target=self._run, name=f"pcc-serve {self.url}",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                why = f": {self._error}" if self._error else " (see the log above)"
                raise StateError(f"the app did not start on {self.url}{why}")
            time.sleep(0.01)

    async def _main(self) -> None:
        if isinstance(self._app, Service):
            await self._app.start()        # its errors are reported by __init__, not uvicorn
        await self._server.serve(sockets=[self._sock])

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        except (Exception, SystemExit) as e:   # uvicorn exits on a failed start-up
            self._error = e
        finally:
            loop.close()

    def __repr__(self) -> str:
        return f"<pcc BackgroundServer {self.url}>"

    def stop(self) -> None:
        """Shut the server down (lifespan shutdown included) and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(30)
        self._sock.close()

    def __enter__(self) -> "BackgroundServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, *,
                    limits: Limits | None = None) -> BackgroundServer:
    """Serve ``app`` on ``host:port`` in a background thread; returns once it accepts requests.

    ``with serve_in_thread(tlog.create_app(cfg)) as log: httpx.get(log.url + "/checkpoint")``.
    Connection limits: ``limits``, else the app's own, else the :class:`Limits` defaults.
    """
    return BackgroundServer(app, host, port, limits=limits)


__all__ = ["Service", "lifespan", "BackgroundServer", "serve_in_thread"]
