"""The node's log: JSON lines of events from one fixed table (id, format string, typed
arguments). Nothing else is ever logged, and no argument can carry request content: every
argument is typed, and strings are limited to fixed vocabularies or names from the config."""
from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

# name: (id, format, {arg: type})
EVENTS: dict[str, tuple[int, str, dict[str, type]]] = {
    "boot_start": (1, "node {serial} booting, {models} model(s)", {"serial": str, "models": int}),
    "boot_refused": (2, "node refused to start: {reason}", {"reason": str}),
    "boot_done": (3, "node {node_id} serving, sandbox layers {sandbox}, "
                     "{pool} worker(s) per model forked ahead",
                  {"node_id": str, "sandbox": str, "pool": int}),
    "key_rotated": (4, "HPKE key rotated, valid until {not_after}", {"not_after": int}),
    "worker_failed": (5, "a worker ended with code {code}", {"code": int}),
    "overloaded": (6, "request refused: {running} workers running, {queued} queued",
                   {"running": int, "queued": int}),
    "enclave_died": (7, "the enclave process exited with status {status}", {"status": int}),
    "host_died": (8, "the host process exited with status {status}", {"status": int}),
    "stopping": (9, "node stopping", {}),
    "proof_refreshed": (10, "release proof refreshed from {source}, fresh until {fresh_until}",
                        {"source": str, "fresh_until": int}),
    "proof_refresh_failed": (11, "release proof refresh failed ({check}); keeping the proof "
                             "fresh until {fresh_until}", {"check": str, "fresh_until": int}),
    "proof_stale": (12, "the release proof is fresh only until {fresh_until}: not serving",
                    {"fresh_until": int}),
}

_out: TextIO = sys.stderr


def table() -> list:
    """The event table as measured: ``[[id, name, format, [arg names]], ...]`` by id."""
    return [[i, n, f, sorted(a)] for n, (i, f, a) in sorted(EVENTS.items(), key=lambda e: e[1][0])]


def emit(name: str, **args: Any) -> None:
    """Write one event. Unknown events or arguments of the wrong type are refused (TypeError)."""
    ident, fmt, types = EVENTS[name]
    if set(args) != set(types) or not all(type(args[k]) is t for k, t in types.items()):
        raise TypeError(f"log event {name}: arguments must be {types}")
    line = {"ts": round(time.time(), 3), "id": ident, "event": name, "msg": fmt.format(**args),
            "args": args}
    try:
        _out.write(json.dumps(line, sort_keys=True) + "\n")
        _out.flush()
    except (OSError, ValueError):
        pass
