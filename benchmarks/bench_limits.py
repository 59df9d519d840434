"""Benchmark: the cost of the inbound limits layer and of the bounded outbound client.

1. Inbound: a small POST (1 KiB body, read through ``read_body``) to the same Starlette routes
   called as an ASGI app, bare (baseline) and wrapped in ``LimitsMiddleware`` (what every pcc
   service runs behind). In process, no sockets, so the figure is the layer's own cost.
2. Outbound: GET of a 64 KiB body from a local uvicorn server, through a plain
   ``httpx.AsyncClient`` (baseline) and through ``pcc._internal.peer.Peer`` (overall deadline,
   streamed byte cap), both keeping the connection alive.

Baseline and measured batches alternate in each repeat so both see the same load. Prints the
median time per request of each and the median ratio to the baseline.

Run: PYTHONPATH=. python benchmarks/bench_limits.py [--repeats N]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pcc._internal.peer import Peer
from pcc.services import Limits, LimitsMiddleware, serve_in_thread
from pcc.services._http import read_body

BODY = b"x" * 1024
BIG = b"y" * 65536


async def echo(request: Request) -> Response:
    return Response(b"%d" % len(await read_body(request, 1 << 20)))


async def big(request: Request) -> Response:
    return Response(BIG)


def routes() -> Starlette:
    return Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/big", big)])


async def asgi_batch(app, n: int) -> float:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/echo", "raw_path": b"/echo", "query_string": b"",
             "root_path": "", "headers": [(b"content-length", b"1024")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}

    async def send(message) -> None:
        return None

    t0 = time.perf_counter()
    for _ in range(n):
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await app(scope, receive, send)
    return (time.perf_counter() - t0) / n


async def get_batch(fn, url: str, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await fn(url)
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    bare = routes()
    guarded = LimitsMiddleware(routes(), Limits())
    base, meas = [], []
    for _ in range(args.repeats):
        base.append(asyncio.run(asgi_batch(bare, 2000)))
        meas.append(asyncio.run(asgi_batch(guarded, 2000)))
    rows = [("inbound POST 1 KiB", "bare Starlette", base, "LimitsMiddleware", meas)]

    with serve_in_thread(routes()) as srv:
        async def outbound() -> tuple[list[float], list[float]]:
            b, m = [], []
            async with httpx.AsyncClient() as plain, Peer("bench") as peer:
                async def plain_get(url: str) -> None:
                    (await plain.get(url)).raise_for_status()

                async def peer_get(url: str) -> None:
                    assert (await peer.get(url)).status_code == 200
                for _ in range(args.repeats):
                    b.append(await get_batch(plain_get, srv.url + "/big", 200))
                    m.append(await get_batch(peer_get, srv.url + "/big", 200))
            return b, m
        ob, om = asyncio.run(outbound())
    rows.append(("outbound GET 64 KiB", "httpx.AsyncClient", ob, "Peer", om))

    for what, bname, b, mname, m in rows:
        ratios = [x / y for x, y in zip(m, b)]
        print(f"{what:22s} {bname:18s} {statistics.median(b) * 1e6:9.1f} us   "
              f"{mname:17s} {statistics.median(m) * 1e6:9.1f} us   "
              f"ratio {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
