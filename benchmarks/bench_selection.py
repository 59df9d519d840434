"""Cost of client-chosen node selection: discovery with the client drawing its nodes from the
logged roster (fetch the roster through the relay, check its proof, draw, ask for exactly those
bundles, verify them) against gateway-chosen discovery (ask for k bundles, verify them), both
cold (nothing cached) and warm (what a request pays once roster and bundles are verified), in
one `pcc up` cell, interleaved, same run. Run: ``PYTHONPATH=. python
benchmarks/bench_selection.py [--runs N]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _cell import UpCell  # noqa: E402


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21, help="timed runs of each (medians printed)")
    args = ap.parse_args()
    from pcc.client import Client
    with tempfile.TemporaryDirectory(prefix="pcc-bench-") as d, UpCell(d, nodes=2) as cell:
        cfg = cell.dir / "client.json"
        own = Client.from_config(cfg, selection="client", k=2)
        gw = Client.from_config(cfg, selection="gateway", k=2)
        model = own.model
        own.nodes()                    # warm: OHTTP keys checked, connections open
        gw.nodes()
        cold_own, cold_gw, warm_own, warm_gw = [], [], [], []
        for _ in range(args.runs):     # interleaved, so drift hits both alike
            cold_gw.append(timed(lambda: gw._discover(model, fresh=True)))
            cold_own.append(timed(lambda: own._discover(model, fresh=True)))
            warm_gw.append(timed(lambda: gw._discover(model)))
            warm_own.append(timed(lambda: own._discover(model)))
        own.close()
        gw.close()
    print(f"discovery of 2 nodes, {args.runs} runs, medians")
    print(f"{'':34}{'gateway-chosen':>16}{'client-chosen':>16}{'ratio':>9}")
    for name, a, b in (("cold (roster + bundles verified)", cold_gw, cold_own),
                       ("warm (cached)", warm_gw, warm_own)):
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{name:34}{ma * 1e3:>13.3f} ms{mb * 1e3:>13.3f} ms{mb / ma:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
