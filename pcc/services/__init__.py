"""ASGI services: relay, gateway, issuer, transparency log, witness.

Every service module has ``create_app(config)`` returning a :class:`Service`: an ASGI app that
runs alone under uvicorn or mounted under a prefix inside another Starlette or FastAPI app.
When mounting, compose its lifespan (``lifespan=app.lifespan``, or :func:`lifespan` for several)
so that start-up errors show when the host starts; without it the first request starts the
service. Every service runs behind :class:`Limits` (inbound) and bounds its own outbound calls
(:class:`PeerLimits`). See docs/embedding.md and docs/limits.md.
"""
from pcc.services._app import BackgroundServer, Service, lifespan, serve_in_thread
from pcc.services._limits import Limits, LimitsMiddleware
from pcc._internal.peer import PeerLimits

__all__ = ["Service", "lifespan", "BackgroundServer", "serve_in_thread", "Limits",
           "LimitsMiddleware", "PeerLimits"]
