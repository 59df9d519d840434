"""A test world for the compute node: a tiny random GGUF, a provisioning CA with the node's serial,
a log key and two witnesses holding a release leaf of exactly this tree, model and config, and
a real node (``pcc node serve`` in a subprocess) on a free loopback port."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import httpx

import llm_tiny as T
from _attest_util import make_log
from _tlog_util import ROOT, env, free_port
from pcc import attest, provision
from pcc.node import parse_config
from pcc.transparency import _note as tlognote, leaves
from pcc.transparency.release import measure

CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
ORIGIN = "log.example/node-test"
SERIAL = "NODE-TEST-1"
MODEL = "tiny"
# a tiny random Llama with a long context, so that a generation lasts long enough to watch
SLOW = T.TinyConfig(seed=4, n_layers=4, dim=256, hidden=512, ctx=2048, zero_output_norm=True)


class World:
    """Everything a node needs, under ``d``; :meth:`config` writes a node.json."""

    def __init__(self, d: pathlib.Path, model_path: str | None = None) -> None:
        self.d = d
        self.model_path = model_path or str(
            T.build(d, T.F32, T.TinyConfig(seed=3), chat_template=CHATML, name="tiny.gguf").path)
        # "slow": greedy never stops (all logits equal), for generations long enough to watch
        self.slow_path = str(T.build(d, T.F32, SLOW, chat_template=CHATML, name="slow.gguf").path)
        self.ca = provision.CA.generate("pcc node test root")
        self.ca.add_serial(SERIAL)
        self.ca.save(d / "ca")
        self.log_sk, self.log_vk = tlognote.generate(ORIGIN)
        self.wits = [tlognote.generate(f"w{i}.example", cosigner=True) for i in range(2)]

    def config(self, name: str = "node.json", release_for: dict | None = None,
               models: dict | None = None, **over) -> pathlib.Path:
        """Write a node.json and a release logged for it (or for ``release_for``'s changes)."""
        cfg = {"v": 1, "serial": SERIAL, "host": "127.0.0.1", "port": 0,
               "models": models or {MODEL: self.model_path, "slow": self.slow_path},
               "release": {"leaf": f"{name}.leaf", "proof": f"{name}.proof"},
               "trust": {"log": self.log_vk, "witnesses": [v for _, v in self.wits],
                         "quorum": 2},
               "ca": {"dir": "ca"}, "metrics_refresh_s": 0,
               "limits": {"max_workers": 2, "queue": 2, "max_tokens": 1900, "max_payload": 65536}}
        cfg.update(over)
        logged = dict(cfg, **(release_for or {}))
        nc = parse_config(logged, "node.json", self.d)
        comps = measure(models=list(nc.models), config=nc.measured())
        leaf = leaves.release("pcc", "test", int(time.time()) - 60, comps)
        other = leaves.release("pcc", "old", int(time.time()) - 600, comps[:1])
        proof = make_log([other, leaf], 1, log_sk=self.log_sk,
                         wit_sks=[s for s, _ in self.wits], stamp=int(time.time()) - 30,
                         origin=ORIGIN)
        (self.d / f"{name}.leaf").write_bytes(leaf)
        (self.d / f"{name}.proof").write_text(proof)
        p = self.d / name
        p.write_text(json.dumps(cfg))
        return p

    def trust(self, relax=()) -> attest.Trust:
        return attest.Trust(provisioning_roots=[self.ca.root_pem], log_vkey=self.log_vk,
                            witness_vkeys=[v for _, v in self.wits], quorum=2,
                            max_checkpoint_age_s=86400, relax=relax)


class Node:
    """``pcc node serve`` in a subprocess; its stderr (the JSON log) goes to a file."""

    def __init__(self, config: pathlib.Path, log: pathlib.Path, extra: list | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = log
        f = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pcc", "node", "serve", "--config", str(config), "--port",
             str(self.port)] + (extra or []), env=env(), stdout=f, stderr=f, cwd=str(ROOT),
            start_new_session=True)
        f.close()

    def wait(self, timeout: float = 60.0) -> "Node":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited {self.proc.returncode}: "
                                   f"{self.logfile.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"node did not start: {self.logfile.read_text()[-3000:]}")

    def children(self) -> dict[str, int]:
        """The enclave and host process ids (by their launcher module)."""
        out = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                ppid = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
                           .split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid != self.proc.pid:
                continue
            if b"pcc.node._enclave" in cmd:
                out["enclave"] = int(pid)
            elif b"pcc.node._host" in cmd:
                out["host"] = int(pid)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
