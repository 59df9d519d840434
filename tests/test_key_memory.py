"""Where private keys sit in memory: only in locked, dump-excluded mappings, and nowhere once freed.

A child process makes keys whose private bytes the parent knows: HPKE X25519 and P-256 keys from
bytes and by DeriveKeyPair, and a note signer from an skey (Ed25519 seed). The child never holds
the raw private bytes in a Python object: from_bytes gets them in a bytearray that the child
unmasks in place and wipes right after, derive gets only ikm, and the skey text carries the seed
in base64. The parent then reads the child's whole memory (/proc/PID/maps and /proc/PID/mem) and,
for every place a private key appears, checks /proc/PID/smaps: the mapping must be mlock'ed
(VmFlags "lo") and excluded from core dumps ("dd"); the ordinary heap or any other anonymous
memory fails the test. After the child frees the keys, no copy may be left anywhere.
"""
from __future__ import annotations

import base64
import os
import pathlib
import re
import subprocess
import sys

import pytest

from pcc import hpke, note

ROOT = pathlib.Path(__file__).resolve().parent.parent
MASK = 0x5A

# AddressSanitizer intercepts mlock and makes it a no-op (its shadow memory cannot be locked), so
# under it a key's mapping is dump-excluded but never shows as locked.
UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ
REQUIRED_FLAGS = {"dd"} if UNDER_ASAN else {"lo", "dd"}

pytestmark = pytest.mark.skipif(not pathlib.Path("/proc/self/mem").exists(),
                                reason="needs Linux /proc")

CHILD = r'''
import gc, sys
from pcc import hpke, note

def unmask(hexstr):
    b = bytearray.fromhex(hexstr)
    for i in range(len(b)):
        b[i] ^= 0x5A
    return b

x_raw, p_raw = unmask(sys.argv[1]), unmask(sys.argv[2])
keys = [hpke.PrivateKey.from_bytes(0x20, x_raw), hpke.PrivateKey.from_bytes(0x10, p_raw),
        hpke.PrivateKey.derive(0x20, bytes.fromhex(sys.argv[3])),
        note.Signer.from_skey(sys.argv[4])]
x_raw[:] = bytes(len(x_raw))
p_raw[:] = bytes(len(p_raw))
# use them once, as a server would
sig = keys[3].sign_raw(b"hello")
enc, ct = hpke.seal(hpke.Suite(0x20, 1, 1), keys[0].public_bytes(), b"m")
assert hpke.open(hpke.Suite(0x20, 1, 1), enc, keys[0], ct) == b"m"
print("live", flush=True)
sys.stdin.readline()
del keys
gc.collect()
print("freed", flush=True)
sys.stdin.readline()
'''


def _smaps(pid: int) -> dict[int, dict]:
    """start address -> {"end", "name", "flags", "rss_kb", "locked_kb"} for every mapping."""
    out: dict[int, dict] = {}
    cur = None
    head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = head.match(line)
            if m:
                cur = {"end": int(m.group(2), 16), "perms": m.group(3), "name": m.group(4),
                       "flags": set(), "rss_kb": 0, "locked_kb": 0}
                out[int(m.group(1), 16)] = cur
            elif cur is not None and line.startswith("VmFlags:"):
                cur["flags"] = set(line.split()[1:])
            elif cur is not None and line.startswith("Rss:"):
                cur["rss_kb"] = int(line.split()[1])
            elif cur is not None and line.startswith("Locked:"):
                cur["locked_kb"] = int(line.split()[1])
    return out


def _scan(pid: int, needles: dict[str, bytes]) -> list[tuple[str, int, dict]]:
    """Every (needle name, address, mapping) where a needle occurs in the process's memory."""
    hits = []
    maps = _smaps(pid)
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, m in maps.items():
            if m["perms"][0] != "r" or m["name"] in ("[vvar]", "[vsyscall]") or m["rss_kb"] == 0:
                continue
            if m["end"] - start > 8 << 30:
                # a sanitizer's shadow memory (terabytes reserved; nothing of ours is this large):
                # reading it whole would ask for a buffer the allocator refuses
                continue
            try:
                mem.seek(start)
                data = mem.read(m["end"] - start)
            except OSError:
                continue
            for name, needle in needles.items():
                i = data.find(needle)
                while i >= 0:
                    hits.append((name, start + i, m))
                    i = data.find(needle, i + 1)
    return hits


def _describe(hits) -> str:
    return "\n".join(f"{n} at {a:#x} in {m['name'] or '(anonymous)'} {m['perms']} "
                     f"flags={' '.join(sorted(m['flags']))} locked={m['locked_kb']}kB"
                     for n, a, m in hits)


@pytest.fixture
def child():
    x_raw = os.urandom(32)
    p_raw = hpke.PrivateKey.derive(0x10, os.urandom(32)).private_bytes()  # a valid P-256 scalar
    ikm = os.urandom(32)
    derived = hpke.PrivateKey.derive(0x20, ikm).private_bytes()
    signer = note.Signer.generate("example.com/memory-test")
    skey = signer.skey
    seed = base64.b64decode(skey.split("+", 4)[4])[1:]
    assert len(seed) == 32
    masked = [bytes(b ^ MASK for b in k).hex() for k in (x_raw, p_raw)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-c", CHILD, masked[0], masked[1], ikm.hex(), skey],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    needles = {
        "x25519 from_bytes": x_raw,
        "x25519 derived": derived,
        "ed25519 seed": seed,
        "p256 scalar": p_raw,
        "p256 scalar (BIGNUM words)": p_raw[::-1],
    }
    try:
        yield p, needles
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


def _step(p, want: str) -> None:
    line = p.stdout.readline().strip()
    if line != want:
        p.kill()
        raise AssertionError(f"child said {line!r}, not {want!r}: {p.stderr.read()[-2000:]}")


def test_live_keys_are_only_in_locked_dump_excluded_memory(child):
    p, needles = child
    _step(p, "live")
    hits = _scan(p.pid, needles)
    found = {n for n, _, _ in hits}
    # each key is somewhere (pcc's own secure copy at least), so the scan does see them
    assert {"x25519 from_bytes", "x25519 derived", "ed25519 seed"} <= found, _describe(hits)
    assert "p256 scalar" in found, _describe(hits)
    exposed = [h for h in hits if not REQUIRED_FLAGS <= h[2]["flags"]]
    assert exposed == [], "private key bytes outside locked, dump-excluded memory:\n" + \
        _describe(exposed)
    assert not any(m["name"] == "[heap]" for _, _, m in hits)
    p.stdin.write("\n")
    p.stdin.flush()
    _step(p, "freed")
    left = _scan(p.pid, needles)
    assert left == [], "private key bytes left after the keys were freed:\n" + _describe(left)
    p.stdin.write("\n")
    p.stdin.flush()
    assert p.wait(timeout=30) == 0, p.stderr.read()


def test_scanner_finds_a_key_in_ordinary_memory():
    # the negative control: a private key in a Python bytes object is found, in memory that is
    # neither locked nor dump-excluded
    secret = os.urandom(32)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = ("import sys; k = bytes(b ^ 0x5A for b in bytes.fromhex(sys.argv[1])); "
            "print('live', flush=True); sys.stdin.readline()")
    p = subprocess.Popen([sys.executable, "-c", code, bytes(b ^ MASK for b in secret).hex()],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "live"
        hits = _scan(p.pid, {"k": secret})
        assert hits and all(not {"lo", "dd"} <= m["flags"] for _, _, m in hits)
    finally:
        p.kill()
        p.wait()
