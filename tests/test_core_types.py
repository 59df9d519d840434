"""Every function and method of pcc._core, called with wrong-typed arguments, raises a Python
error a caller can handle (TypeError, ValueError, OverflowError, OSError or a pcc.errors type):
never SystemError, never a crash.

The walk introspects the module, so a binding added later is covered without editing this file
(a new type needs a factory below; the test fails until it has one). It runs in a subprocess so
a segfault or abort fails the test and names the call that caused it.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from pcc import _core

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Test hooks that are dangerous by design; tests/test_secure.py runs them in their own children.
SKIP = {
    "_small_slot_smash_test",          # smashes a canary and aborts on purpose
    "SecureBuffer._unchecked_write",   # writes without bounds checks on purpose
    "sandbox_apply",                   # sandboxes the calling process (tests/test_sandbox.py)
    "sandbox_netns_prepare",           # creates a network namespace (tests/test_sandbox.py)
    "_bench_fork",                     # forks sandboxed children (a benchmark hook)
    "WorkerHost.spawn",                # forks a worker on the given fds (tests/test_worker.py)
    "worker_unwrap_reply",             # writes a reply to the fd it is given (could be stdout)
    "enclave_run",                     # takes the process over as the node's enclave (never
    "host_run",                        # returns; tests/test_node*.py run them in their own processes)
    "node_harden",                     # makes the calling process non-dumpable
}

CHILD = r'''
import itertools, json, sys, time, traceback
from pcc import _core, errors, hpke, ohttp, provision

class Boom(Exception):
    """Raised by Weird.__index__: propagating it unchanged is correct."""

ALLOWED = (TypeError, ValueError, OverflowError, OSError, errors.PccError, Boom)
SKIP = set(json.loads(sys.argv[1]))
model_path = sys.argv[2] or None
tcti = sys.argv[3]

class Weird:
    def __index__(self):
        raise Boom("boom")  # an __index__ that raises must not become SystemError
    def __len__(self):
        return -1

VALUES = [None, 0, 1, -1, 2**64, 1.5, "x", "\udcff", b"x", bytearray(32), memoryview(b"xy"),
          [], [(1,)], [(1, 2)], [(None, None, None, None)], [("a", "b", "c")], [b"x"], [1, None],
          (1,), (None,), ((1, 2),), {}, {"a": 1}, object(), True, Weird(), [[1]], [(1, 0x20, b"x", [(1,)])],
          [(1, 0x20, b"x", [(None, 1)])], (1, 0x20, b"x", [1]), (1, 0x20, b"x", None)]
FILLERS = [1, b"\x00" * 32, "a", 0x20]

def arity(fn):
    """Parameters named in the docstring's "name(a, b=None) -> ..." first line (7 if none)."""
    sig = getattr(fn, "__text_signature__", None) or (fn.__doc__ or "").split("\n", 1)[0]
    if "(" not in sig or ")" not in sig:
        return 7
    inner = sig[sig.index("(") + 1:sig.index(")")]
    names = [x for x in inner.replace("[", "").replace("]", "").split(",")
             if x.strip() and x.strip() not in ("/", "*", "$self", "$module", "$type")]
    return len(names)

def arg_lists(fn):
    for k in range(0, min(12, max(7, arity(fn) + 2))):
        for v in VALUES:
            yield [v] * k
        for i in range(k):
            for v in VALUES:
                for f in FILLERS:
                    a = [f] * k
                    a[i] = v
                    yield a

bad = []
seen = set()
calls = 0

def call(name, fn):
    global calls
    for a in arg_lists(fn):
        calls += 1
        sys.stdout.write(f"CALL {name} {a!r:.200}\n")
        sys.stdout.flush()
        try:
            r = fn(*a)
        except ALLOWED:
            continue
        except BaseException as e:
            key = (name, type(e).__name__, str(e)[:80])
            if key not in seen:
                seen.add(key)
                bad.append(f"{name}{tuple(a)!r:.200}: {type(e).__name__}: {e}")
            continue
        # a returned generation or iterator-like object is left to the garbage collector

def instances():
    """Fresh instances per type (a method like free/close/reset may spoil one)."""
    k = _core.hpke_key_generate(0x20)
    suite = hpke.Suite(0x20, 1, 1)
    sk = hpke.PrivateKey.generate(0x20)
    cfg = ohttp.KeyConfig(1, 0x20, sk.public_bytes())
    gw = ohttp.Gateway([(cfg, sk)])
    enc_req, cctx = ohttp.encapsulate_request(cfg, b"request")
    out = {
        "Arena": lambda: _core.Arena(4096),
        "SecureBuffer": lambda: _core.SecureBuffer(64),
        "HpkeKey": lambda: _core.hpke_key_generate(0x20),
        "HpkeContext": lambda: _core.hpke_setup_sender(0x20, 1, 1, k.public_bytes())[1],
        "OhttpGateway": lambda: _core.OhttpGateway([(cfg._tuple(), sk._key)]),
        "OhttpClientContext": lambda: ohttp.encapsulate_request(cfg, b"r")[1]._ctx,
        "OhttpResponseContext": lambda: gw.decapsulate(ohttp.encapsulate_request(cfg, b"r")[0])[1]._ctx,
        "NoteKey": lambda: _core.note_key_generate(b"example.com/log", 1),
        "P384Key": lambda: _core.p384_generate(),
        "AttestTrust": lambda: _core.attest_trust_new(
            [_core.provision_ca_generate("root", 1_800_000_000, 30).root_der()],
            _core.note_key_generate(b"example.com/log", 1).vkey().encode(),
            [_core.note_key_generate(b"w.example", 4).vkey().encode()], 1, 86400, 0),
        "MerkleTree": lambda: _core.MerkleTree(),
        "BlindRSAPrivateKey": lambda: RSA_SK,
        "BlindRSAPublicKey": lambda: RSA_SK.public_key(),
        "BlindRSAState": None,  # no methods; made by blindrsa_blind
        "BhttpResponseStream": lambda: _core.BhttpResponseStream(),
        "OhttpChunkedClient": lambda: ohttp.encapsulate_request_chunked(cfg)[1]._ctx,
        "OhttpChunkedGatewayContext": lambda: gw.decapsulate_chunked()._ctx,
        "ProvisionCA": lambda: provision.CA.generate("types.example")._core,
        "RequestKey": lambda: _core._testing_request_key(bytes(16)),
        "AnswerReader": lambda: _core._testing_request_key(bytes(16)).answer_reader(bytes(32)),
        "SandboxFilter": None,  # no methods; made by sandbox_filter_new
        # a real swtpm started by the test; without swtpm the Tpm methods are skipped by name
        "Tpm": (lambda: _core.tpm_open(tcti)) if tcti else None,
    }
    if model_path:
        g = _core.GGUFFile(model_path)
        m = _core.LlmModel(model_path)
        out.update({
            "GGUFFile": lambda: _core.GGUFFile(model_path),
            "Tokenizer": lambda: _core.Tokenizer(g),
            "TokenDecoder": lambda: _core.Tokenizer(g).decoder(),
            "LlmModel": lambda: m,
            "LlmGeneration": lambda: m.generate("hi", max_tokens=2),
            "WorkerHost": lambda: _core.worker_host(model_path, bytes(32)),
        })
    return out

RSA_SK = _core.blindrsa_sk_generate(2048)

for name in sorted(dir(_core)):
    obj = getattr(_core, name)
    if name.startswith("__") or name in SKIP:
        continue
    if isinstance(obj, type):
        continue
    if callable(obj):
        call(name, obj)

facts = instances()
types_seen = []
for name in sorted(dir(_core)):
    tp = getattr(_core, name)
    if not isinstance(tp, type) or name.startswith("__"):
        continue
    types_seen.append(name)
    methods = sorted(m for m, d in vars(tp).items() if not m.startswith("__") and callable(getattr(tp, m)))
    if name not in facts:
        if tp.__module__ == "pcc._core" and not issubclass(tp, BaseException):
            bad.append(f"{name}: no factory in test_core_types.py (add one)")
        continue
    # the constructor itself
    call(name, tp)
    make = facts[name]
    for meth in methods:
        if f"{name}.{meth}" in SKIP:
            continue
        if make is None:
            bad.append(f"{name}.{meth}: has methods but no factory")
            continue
        inst = make()
        call(f"{name}.{meth}", getattr(inst, meth))
        # then every property, on an instance the calls above may have freed or closed
        for prop, d in vars(tp).items():
            if not prop.startswith("__") and not callable(getattr(tp, prop)):
                try:
                    getattr(inst, prop)
                except ALLOWED:
                    pass
                except BaseException as e:
                    bad.append(f"{name}.{prop} after {meth}: {type(e).__name__}: {e}")
        # unbound, with a wrong self
        call(f"{name}.{meth}[unbound]", getattr(tp, meth))

sys.stdout.write("RESULT " + json.dumps({"bad": bad, "calls": calls, "types": types_seen}) + "\n")
'''


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    try:
        import llm_tiny
    except ImportError:  # the gguf writer is a test extra; the walk then skips the LLM types
        return ""
    tm = llm_tiny.build(tmp_path_factory.mktemp("walk"), llm_tiny.F32)
    return str(tm.path)


@pytest.fixture(scope="module")
def tcti(tmp_path_factory):
    """A real swtpm for the Tpm methods; "" when swtpm is not installed (they are then skipped)."""
    import _swtpm
    if _swtpm.missing_tools():
        yield ""
        return
    d = tmp_path_factory.mktemp("walk-tpm")
    with _swtpm.LocalCA(d / "ca") as ca, _swtpm.Swtpm(d / "tpm", ca) as sw:
        yield sw.tcti


def test_every_core_callable_rejects_wrong_types(model_path, tcti):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    skip = set(SKIP)
    if not tcti:
        skip |= {f"Tpm.{m}" for m in vars(_core.Tpm) if not m.startswith("__")}
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(sorted(skip)), model_path, tcti],
                       capture_output=True, text=True, env=env, timeout=600, cwd=str(ROOT))
    lines = p.stdout.splitlines()
    last = next((ln for ln in reversed(lines) if ln.startswith("CALL ")), "(none)")
    assert p.returncode == 0, (f"the walk died (rc {p.returncode}) at {last}\n"
                               f"{p.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["bad"] == [], "\n".join(result["bad"][:60])
    assert result["calls"] > 10000
    if model_path:
        assert {"LlmModel", "Tokenizer", "GGUFFile"} <= set(result["types"])


def test_the_reported_case_is_a_type_error():
    with pytest.raises(TypeError):
        _core.ohttp_key_config_encode([(1,)])
    with pytest.raises(TypeError):
        _core.ohttp_key_configs_encode([(1,)])
