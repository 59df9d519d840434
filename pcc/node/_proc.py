"""The node's processes (enclave, host) and the framed msgpack channels to them (see
csrc/include/pcc/node.h for the message table). Only ciphertext and public values cross these
channels on the service's side."""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
from typing import Any

import msgpack

from pcc.errors import FormatError, StateError

MSG_MAX = 512 * 1024


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        got = sock.recv(n - len(buf))
        if not got:
            raise StateError("the node process closed its channel")
        buf += got
    return bytes(buf)


class Channel:
    """A blocking framed channel: ``send`` a map (optionally with one descriptor), ``recv`` one,
    ``call`` both under a lock. Replies ``{"op": "error"}`` raise :class:`StateError`."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name
        self.lock = threading.Lock()

    def send(self, obj: dict, fd: int | None = None) -> None:
        data = msgpack.packb(obj, use_bin_type=True)
        frame = struct.pack(">I", len(data)) + data
        try:
            if fd is None:
                self.sock.sendall(frame)
            else:
                n = socket.send_fds(self.sock, [frame], [fd])
                if n < len(frame):
                    self.sock.sendall(frame[n:])
        except OSError:
            raise StateError(f"the {self.name} process is gone") from None

    def recv(self) -> dict:
        obj, fd = self.recv_fd()
        if fd is not None:
            os.close(fd)
        return obj

    def recv_fd(self) -> tuple[dict, int | None]:
        """One message and the descriptor that came with it (None if none); the caller owns
        the descriptor."""
        fd = None
        try:
            try:
                head, fds, _flags, _addr = socket.recv_fds(self.sock, 4, 1)
            except OSError:
                raise StateError(f"the {self.name} process is gone") from None
            if fds:
                fd = fds[0]
                for extra in fds[1:]:
                    os.close(extra)
            if not head:
                raise StateError("the node process closed its channel")
            obj = self._rest(head)
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
        return obj, fd

    def _rest(self, head: bytes) -> dict:
        try:
            head += _recv_exact(self.sock, 4 - len(head))
            (n,) = struct.unpack(">I", head)
            if not 0 < n <= MSG_MAX:
                raise FormatError(f"{self.name}: a message of {n} bytes")
            obj = msgpack.unpackb(_recv_exact(self.sock, n), raw=False, strict_map_key=True)
        except OSError:
            raise StateError(f"the {self.name} process is gone") from None
        except (ValueError, msgpack.UnpackException) as e:
            raise FormatError(f"{self.name}: malformed message ({type(e).__name__})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("op"), str):
            raise FormatError(f"{self.name}: a message that is not an op map")
        return obj

    def call(self, obj: dict, want: str) -> dict:
        with self.lock:
            self.send(obj)
            r = self.recv()
        if r["op"] == "error":
            raise StateError(f"the {self.name} refused {obj['op']}: {r.get('error')}")
        if r["op"] != want:
            raise FormatError(f"{self.name}: answered {r['op']!r} to {obj['op']!r}")
        return r


class Processes:
    """The enclave and host processes of one node, with the service's channels to them."""

    def __init__(self, models: list[tuple[str, str]], layers: int, optional: int,
                 max_payload: int, max_workers: int, max_tokens: int, key_lifetime: int,
                 probe: bool = False, tpm: str | None = None, pool: int = 2,
                 threads: int = 1) -> None:
        import json
        ctrl_s, ctrl_e = socket.socketpair()
        he_h, he_e = socket.socketpair()
        hc_s, hc_h = socket.socketpair()
        env = dict(os.environ)
        self.enclave = subprocess.Popen(
            [sys.executable, "-m", "pcc.node._enclave", str(ctrl_e.fileno()),
             str(he_e.fileno()), str(key_lifetime)] + (["debug"] if probe else []) +
            ([f"tpm={tpm}"] if tpm is not None else []),
            pass_fds=(ctrl_e.fileno(), he_e.fileno()), stdin=subprocess.DEVNULL, env=env)
        args = {"models": [list(m) for m in models], "layers": layers, "optional": optional,
                "max_payload": max_payload, "max_workers": max_workers,
                "max_tokens": max_tokens, "probe": probe, "pool": pool,
                "threads": threads}
        self.host = subprocess.Popen(
            [sys.executable, "-m", "pcc.node._host", str(hc_h.fileno()), str(he_h.fileno()),
             json.dumps(args)],
            pass_fds=(hc_h.fileno(), he_h.fileno()), stdin=subprocess.DEVNULL, env=env)
        for s in (ctrl_e, he_h, he_e, hc_h):
            s.close()
        self.enclave_chan = Channel(ctrl_s, "enclave")
        self.host_chan = Channel(hc_s, "host")

    def alive(self) -> bool:
        return self.enclave.poll() is None and self.host.poll() is None

    def stop(self) -> None:
        for s in (self.enclave_chan.sock, self.host_chan.sock):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for p in (self.host, self.enclave):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
