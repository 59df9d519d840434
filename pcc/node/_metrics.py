"""The node's metrics: a ``prometheus_client`` registry holding only allow-listed names, fixed
label values and fixed histogram buckets; aggregated counters and histograms only, exposed no
more often than a set interval."""
from __future__ import annotations

import time

from prometheus_client import (CollectorRegistry, Counter, Histogram, disable_created_metrics,
                               generate_latest)

OUTCOMES = ("ok", "bad_request", "not_found", "overloaded", "internal")
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
REFRESH_S = 10.0


class Metrics:
    """The allow-listed registry (names from node.json ``metrics``)."""

    def __init__(self, allow: tuple[str, ...], refresh_s: float = REFRESH_S) -> None:
        disable_created_metrics()      # creation timestamps are gauges: counters only here
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = self._seconds = self._rotations = None
        if "pcc_node_requests_total" in allow:
            self._requests = Counter("pcc_node_requests", "Invokes by outcome", ["outcome"],
                                     registry=self.registry)
            for o in OUTCOMES:
                self._requests.labels(o)
        if "pcc_node_request_seconds" in allow:
            self._seconds = Histogram("pcc_node_request_seconds", "Invoke duration",
                                      buckets=BUCKETS, registry=self.registry)
        if "pcc_node_key_rotations_total" in allow:
            self._rotations = Counter("pcc_node_key_rotations", "HPKE key rotations",
                                      registry=self.registry)
        self._refresh = refresh_s
        self._cache: tuple[float, bytes] = (-1e18, b"")

    def request(self, outcome: str, seconds: float) -> None:
        if outcome not in OUTCOMES:
            outcome = "internal"
        if self._requests is not None:
            self._requests.labels(outcome).inc()
        if self._seconds is not None:
            self._seconds.observe(seconds)

    def rotated(self) -> None:
        if self._rotations is not None:
            self._rotations.inc()

    def text(self) -> bytes:
        now = time.monotonic()
        if now - self._cache[0] >= self._refresh:
            self._cache = (now, generate_latest(self.registry))
        return self._cache[1]
