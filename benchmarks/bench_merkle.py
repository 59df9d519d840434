"""Merkle tree and signed-note benchmarks beside the raw OpenSSL primitives they are built from.

Merkle (RFC 9162) at 10^6 leaves: append rate, inclusion/consistency proof generation and
verification, each next to the cost of the same number of raw one-shot EVP_Digest SHA-256 calls
over 33-byte (leaf) and 65-byte (node) inputs, timed in the same run by a C helper
(pcc._core._bench_sha256). Signed notes: opening a cosigned checkpoint and verifying a
tlog-proof, next to raw EVP_DigestVerify Ed25519 verifications of the same messages
(pcc._core._bench_ed25519_verify). Every figure is the median of several repeats; a ratio is
ours / raw (1.0 would mean no overhead beyond the primitive).

Run: PYTHONPATH=. python benchmarks/bench_merkle.py
"""
from __future__ import annotations

import functools
import random
import statistics
import time

from pcc import _core, merkle, note

N = 1_000_000
REPEATS = 5
PROOFS = 2000


def timed(fn, cpu: bool = False) -> float:
    """Time of one fn() call: the calling thread's CPU time when cpu (what _bench_sha256 reads,
    so time spent descheduled on a shared machine counts on neither side), else wall time."""
    clock = time.thread_time if cpu else time.perf_counter
    t0 = clock()
    fn()
    return clock() - t0


def paired(what: str, ours, raw, unit: str = "us", per: int = 1, repeats: int = REPEATS,
           cpu: bool = False) -> None:
    """Time ours() and raw() (which returns its own seconds) alternately, repeats times, and
    print both medians and the median of the per-repeat ratios (robust on a shared machine).
    cpu: time ours() with thread CPU time (for raw timers that read the same clock)."""
    o_s, r_s = [], []
    for _ in range(repeats):
        o_s.append(timed(ours, cpu))
        r_s.append(raw())
    o, r = statistics.median(o_s), statistics.median(r_s)
    ratio = statistics.median(a / b for a, b in zip(o_s, r_s))
    if unit == "us":
        print(f"  {what:<46} {o / per * 1e6:10.2f} us   raw {r / per * 1e6:9.2f} us"
              f"   ratio {ratio:5.2f}")
    else:
        print(f"  {what:<46} {per / o:12,.0f}/s  raw {per / r:12,.0f}/s  ratio {ratio:5.2f}")


def sha(n: int, length: int) -> float:
    """Seconds for n raw one-shot EVP_Digest SHA-256 calls over length-byte inputs."""
    return _core._bench_sha256(n, length)


def incl_hashes(index: int, size: int) -> tuple[int, int]:
    """(hashes to generate, hashes to verify) an inclusion proof."""
    plan = _core.merkle_plan(1, index, size)
    proof_len = len(_core.merkle_fold(1, index, size, bytes(32 * len(plan))))
    return len(plan) - proof_len, proof_len


def cons_hashes(size1: int, size2: int) -> tuple[int, int]:
    """(hashes to generate, hashes to verify) a consistency proof (transparency-dev's chains)."""
    plan = _core.merkle_plan(2, size1, size2)
    proof_len = len(_core.merkle_fold(2, size1, size2, bytes(32 * len(plan))))
    gen = len(plan) - proof_len
    if size1 == size2:
        return gen, 0
    idx = size1 - 1
    inner = (idx ^ (size2 - 1)).bit_length()
    border = bin(idx >> inner).count("1")
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    mask = idx >> shift
    right = bin(mask & ((1 << inner) - 1)).count("1")
    return gen, right + border + inner + border


def bench_merkle() -> None:
    print(f"Merkle tree, RFC 9162, {N:,} leaves of 32 bytes (SHA-256 via EVP)")
    leaves = [i.to_bytes(32, "big") for i in range(N)]
    paired_cpu = functools.partial(paired, cpu=True)  # _bench_sha256 reads thread CPU time
    trees = []

    def build():
        t = merkle.Tree()
        t.append_many(leaves)
        trees.append(t)

    def nodes(n):  # interior nodes written by n appends
        return n - bin(n).count("1")

    paired_cpu("append_many (leaf + node hashes, stored)", build,
           lambda: sha(N, 33) + sha(nodes(N), 65), "ops", N)
    tree = trees[-1]
    trees.clear()
    few = leaves[:100_000]
    raw_few = lambda: sha(len(few), 33) + sha(nodes(len(few)), 65)  # noqa: E731

    def loop():
        t = merkle.Tree()
        for d in few:
            t.append(d)

    paired_cpu("append() one call per leaf", loop, raw_few, "ops", len(few))
    paired_cpu("append_many into a Python dict NodeStore",
           lambda: merkle.Tree(merkle.MemoryStore()).append_many(few), raw_few, "ops", len(few),
           repeats=3)
    paired_cpu(f"root() at {N:,} ({bin(N).count('1') - 1} hashes)",
           lambda: [tree.root() for _ in range(1000)],
           lambda: sha(1000 * (bin(N).count("1") - 1), 65), "us", 1000)

    rng = random.Random(1)
    idx = [rng.randrange(N) for _ in range(PROOFS)]
    pairs = [tuple(sorted((rng.randrange(1, N + 1), rng.randrange(1, N + 1))))
             for _ in range(PROOFS)]
    root = tree.root()
    roots = {s: tree.root(s) for p in pairs for s in p}
    incl = [tree.inclusion_proof(i, N) for i in idx]
    leaf_hashes = [merkle.leaf_hash(leaves[i]) for i in idx]
    cons = [tree.consistency_proof(a, b) for a, b in pairs]
    ih = [incl_hashes(i, N) for i in idx]
    ch = [cons_hashes(a, b) for a, b in pairs]
    gi, vi = sum(g for g, _ in ih), sum(v for _, v in ih)
    gc, vc = sum(g for g, _ in ch), sum(v for _, v in ch)

    def gen_incl():
        for i in idx:
            tree.inclusion_proof(i, N)

    def gen_cons():
        for a, b in pairs:
            tree.consistency_proof(a, b)

    def ver_incl():
        for lh, i, p in zip(leaf_hashes, idx, incl):
            merkle.verify_inclusion(lh, i, N, p, root)

    def ver_cons():
        for (a, b), p in zip(pairs, cons):
            merkle.verify_consistency(a, b, p, roots[a], roots[b])

    print(f"  per proof, {PROOFS} random ones; raw = one-shot SHA-256 of 65 bytes times the "
          "hashes the operation computes:")
    paired_cpu(f"inclusion_proof ({gi / PROOFS:.1f} hashes)", gen_incl, lambda: sha(gi, 65), "us",
           PROOFS)
    paired_cpu(f"verify_inclusion ({vi / PROOFS:.1f} hashes)", ver_incl, lambda: sha(vi, 65), "us",
           PROOFS)
    paired_cpu(f"consistency_proof ({gc / PROOFS:.1f} hashes)", gen_cons, lambda: sha(gc, 65), "us",
           PROOFS)
    paired_cpu(f"verify_consistency ({vc / PROOFS:.1f} hashes)", ver_cons, lambda: sha(vc, 65), "us",
           PROOFS)
    print("  (proof generation also reads ~2x as many stored nodes and builds Python lists; "
          "those are not hashes)")


def bench_note() -> None:
    print("Signed notes (C2SP), Ed25519 via EVP; raw = EVP_DigestVerify of the same messages")
    log = note.Signer.generate("example.com/log")
    wits = [note.Cosigner.generate(f"witness{i}.example") for i in range(2)]
    tree = merkle.Tree()
    tree.append_many([i.to_bytes(8, "big") for i in range(1000)])
    cp = note.Checkpoint("example.com/log", 1000, tree.root())
    body = cp.format()
    ts = 1_700_000_000
    signed = note.add_signatures(note.sign(body, [log]), [note.cosign(cp, w, ts) for w in wits])
    vs = [log.verifier] + [w.verifier for w in wits]
    body_b = body.encode()
    cosig_msg = f"cosignature/v1\ntime {ts}\n{body}".encode()
    single = note.sign(body, [log])
    n = 2000
    raw1 = lambda: _core._bench_ed25519_verify(n, body_b)  # noqa: E731
    raw3 = lambda: raw1() + 2 * _core._bench_ed25519_verify(n, cosig_msg)  # noqa: E731

    paired("open: checkpoint, 1 signature", lambda: [note.open(single, vs[:1]) for _ in range(n)],
           raw1, "ops", n)
    paired("open: checkpoint + 2 cosignatures (3 verifies)",
           lambda: [note.open(signed, vs) for _ in range(n)], raw3, "ops", n)
    proof = note.format_proof(500, tree.inclusion_proof(500), signed)
    leaf = (500).to_bytes(8, "big")
    plen = len(tree.inclusion_proof(500))
    paired(f"verify_proof (3 verifies + {plen + 1} hashes)",
           lambda: [note.verify_proof(leaf, proof, vs[0], vs[1:], 2) for _ in range(n)],
           lambda: raw3() + sha(n * (plen + 1), 65), "ops", n)


def main() -> None:
    """Print the Merkle and signed-note figures."""
    t0 = time.perf_counter()
    bench_merkle()
    bench_note()
    print(f"(done in {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
