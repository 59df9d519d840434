"""Helpers for the transparency-log tests: keys, free ports, uvicorn subprocesses."""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import httpx

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "pcc"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("PCC_LOG_LEVEL", "warning")
    return e


def keygen(tmp: pathlib.Path, name: str, *, cosigner: bool = False) -> tuple[pathlib.Path, str]:
    """Write NAME.skey/.vkey under tmp; return (skey path, vkey string)."""
    from pcc.transparency import _note as tlognote
    skey, vkey = tlognote.generate(name, cosigner=cosigner)
    safe = name.replace("/", "_")
    sk = tmp / f"{safe}.skey"
    sk.write_text(skey + "\n")
    (tmp / f"{safe}.vkey").write_text(vkey + "\n")
    return sk, vkey


class Server:
    """A CLI-started uvicorn service on a free loopback port."""

    def __init__(self, args: list[str], port: int, log: pathlib.Path, ready_path: str):
        self.args = args
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.logfile = log
        self.ready_path = ready_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "Server":
        f = open(self.logfile, "ab")
        self.proc = subprocess.Popen(CLI + self.args + ["--port", str(self.port)], env=env(),
                                     stdout=f, stderr=subprocess.STDOUT, cwd=str(ROOT))
        f.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.logfile.read_text()[-3000:]}")
            try:
                httpx.get(self.url + self.ready_path, timeout=1.0)
                return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.logfile.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, then reap."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 10 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_witness(tmp: pathlib.Path, name: str, logs: list[tuple[str, str]]):
    """Start a witness; return (server, cosigner vkey)."""
    sk, vkey = keygen(tmp, name, cosigner=True)
    args = ["witness", "serve", "--db", str(tmp / f"{name}.db"), "--key", str(sk)]
    for origin, lv in logs:
        args += ["--log", f"{origin}={lv}"]
    s = Server(args, free_port(), tmp / f"{name}.log", "/add-checkpoint").start()
    return s, vkey


def log_args(tmp, origin, log_skey, publishers, witnesses, quorum=None, db="log.db"):
    args = ["log", "serve", "--db", str(tmp / db), "--origin", origin, "--key", str(log_skey)]
    for p in publishers:
        args += ["--publisher", p]
    for url, vk in witnesses:
        args += ["--witness", f"{url}={vk}"]
    if quorum is not None:
        args += ["--quorum", str(quorum)]
    if not witnesses or quorum == 0:
        args += ["--insecure-no-witnesses"]
    return args


def wait_checkpoint(url: str, size: int, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + "/checkpoint", timeout=2.0)
            if r.status_code == 200 and int(r.text.split("\n")[1]) >= size:
                return r.text
        except (httpx.HTTPError, ValueError, IndexError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no checkpoint of size {size}")


class MiniLog:
    """An in-memory log for tests: builds trees, signs checkpoints, makes proofs."""

    def __init__(self, origin: str, skey: str | None = None):
        from pcc import merkle
        from pcc.transparency import _note as tlognote
        self.origin = origin
        if skey is None:
            skey, _ = tlognote.generate(origin)
        self.signer = tlognote.load_signer(skey)
        self.vkey = self.signer.vkey
        self.tree = merkle.Tree()

    def grow(self, size: int) -> None:
        while self.tree.size < size:
            self.tree.append(f"{self.origin} entry {self.tree.size}".encode())

    def checkpoint(self, size: int, root: bytes | None = None) -> str:
        from pcc.transparency import _note as tlognote
        self.grow(size)
        text = tlognote.checkpoint_text(self.origin, size, root or self.tree.root(size))
        return tlognote.sign_checkpoint(self.signer, text).format()

    def consistency(self, old: int, new: int) -> list[bytes]:
        self.grow(new)
        return [] if old == 0 else self.tree.consistency_proof(old, new)

    def add_checkpoint_body(self, old: int, new: int, proof=None, note=None) -> bytes:
        from pcc.transparency import _note as tlognote
        proof = self.consistency(old, new) if proof is None else proof
        note = self.checkpoint(new) if note is None else note
        return (f"old {old}\n" + "".join(tlognote.b64(h) + "\n" for h in proof) + "\n"
                + note).encode()
