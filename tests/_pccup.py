"""`pcc up` as a real process for the cell tests: started, read until "ready", stopped."""
from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def pcc_up(d: pathlib.Path, *args: str,
           timeout: float = 300.0) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """Run ``pcc up --dir D --nodes 2 *args`` until it prints ``ready``, with D relative (as a
    newcomer types it: run from d's parent); yields the process and the lines it printed before
    that; sends SIGTERM at the end if it still runs."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "pcc", "up", "--dir", d.name, "--nodes", "2",
                          *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, cwd=str(d.parent))
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            line = p.stdout.readline()
            if not line:
                raise AssertionError("pcc up exited: " + p.stderr.read()[-3000:])
            lines.append(line.rstrip("\n"))
            if lines[-1] == "ready":
                break
            assert time.monotonic() < deadline, "pcc up did not get ready in time"
        yield p, lines[:-1]
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(60)
