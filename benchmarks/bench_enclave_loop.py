"""The enclave's unwrap latency while other worker channels stall, beside the same unwrap with no
stalled channel, in the same run.

The enclave process (``python -m pcc.node._enclave``) is booted to LOCKED over its channels as
the service and the host would; then, for each run, a worker channel is handed over and sends
one real unwrap (a DK sealed to the node's key by pcc._request), and the time from sending it to
holding the enclave's ``dk`` reply is measured:

- baseline: no other channel;
- stalled: 50 other worker channels each holding half a message (a length prefix and one byte).

Before the enclave served its channels with poll() and per-channel inboxes, each stalled channel
held the loop up to 2 s; now the ratio should be about 1.
Usage: python benchmarks/bench_enclave_loop.py [--runs N] [--stalled N]
"""
from __future__ import annotations

import argparse
import pathlib
import socket
import statistics
import struct
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_node_enclave import Enclave, locked, read_reply, unwrap_msg, worker_channel  # noqa: E402


def one(enc: Enclave, msg: bytes) -> float:
    w = worker_channel(enc)
    time.sleep(0.002)                          # the enclave has the channel
    t0 = time.perf_counter()
    w.sendall(msg)
    r = read_reply(w)
    dt = time.perf_counter() - t0
    assert r["op"] == "dk"
    w.close()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=41)
    ap.add_argument("--stalled", type=int, default=50)
    a = ap.parse_args()
    enc = Enclave()
    try:
        keys = locked(enc)
        msgs = [unwrap_msg(*keys) for _ in range(2 * a.runs)]
        base, stalled = [], []
        for i in range(a.runs):                # interleaved: the same machine load for both
            base.append(one(enc, msgs[2 * i]))
            held: list[socket.socket] = []
            for _ in range(a.stalled):
                s = worker_channel(enc)
                s.sendall(struct.pack(">I", 200) + b"\x84")
                held.append(s)
            stalled.append(one(enc, msgs[2 * i + 1]))
            for s in held:
                s.close()
        mb, ms = statistics.median(base) * 1e3, statistics.median(stalled) * 1e3
        print(f"unwrap round trip, median of {a.runs} (ms): no stalled channel {mb:.3f}, "
              f"beside {a.stalled} stalled channels {ms:.3f}, ratio {ms / mb:.2f}")
    finally:
        enc.close()


if __name__ == "__main__":
    main()
