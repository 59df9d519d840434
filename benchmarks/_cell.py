"""A `pcc up` cell in a subprocess for the path benchmarks (started, read until `ready`, stopped
with SIGTERM)."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


class UpCell:
    def __init__(self, directory: str, nodes: int = 2) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.dir = pathlib.Path(directory)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pcc", "up", "--dir", directory, "--nodes", str(nodes)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.urls: dict[str, str] = {}
        deadline = time.monotonic() + 600
        while True:
            line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
            if line == "ready":
                break
            if not line and self.proc.poll() is not None:
                raise SystemExit("pcc up failed (run it by hand to see why)")
            if " " in line:
                name, url = line.split(" ", 1)
                self.urls[name] = url
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("pcc up did not get ready in 600 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> "UpCell":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
