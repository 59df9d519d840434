"""Decode and prefill speed of pcc's engine beside llama.cpp (llama-cpp-python) on the same GGUF.

For 1 and 2 threads: decode tokens/s (64 greedy tokens after a short prompt) and prefill tokens/s
(a 256-token prompt), medians over several runs, each engine in its own process (so each peak
RSS is its own), engines alternated so background load hits both alike. Also the memory-bandwidth
bound of decoding: weight bytes read per token against a measured single-thread memcpy rate.

    PYTHONPATH=. python benchmarks/bench_llm.py [--model PATH] [--threads 1 2] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROMPT = "Once upon a time, there was a little robot who"  # no end-of-text within 64 tokens
DECODE_TOKENS = 64
PREFILL_TOKENS = 256
REPEATS = 3


def _prefill_ids(vocab: int = 49152) -> list[int]:
    import numpy as np
    return [int(i) for i in np.random.default_rng(0).integers(100, min(vocab, 40000), PREFILL_TOKENS)]


def worker_pcc(path: str, threads: int) -> dict:
    from pcc import llm
    m = llm.Model.load(path, threads=threads)
    ids = m.tokenize(PROMPT)
    decode, prefill = [], []
    pre = _prefill_ids()
    m.logits(pre[:16])  # warm the mapping
    for _ in range(REPEATS):
        g = m.generate(ids=ids, max_tokens=DECODE_TOKENS, temperature=0)
        it = iter(g)
        g._gen.next()                    # prompt + first token
        t0 = time.perf_counter()
        n0 = g.n_generated
        for _ in it:
            pass
        dt = time.perf_counter() - t0
        decode.append((g.n_generated - n0) / dt)
        g = m.generate(ids=pre, max_tokens=1, temperature=0)
        t0 = time.perf_counter()
        g._gen.next()                    # the 256-token prefill and one sampled token
        prefill.append(PREFILL_TOKENS / (time.perf_counter() - t0))
        g.close()
    return {"decode": decode, "prefill": prefill, "kernels": m.info["kernels"],
            "weight_bytes": m.info["weight_bytes"]}


def worker_llamacpp(path: str, threads: int) -> dict:
    import llama_cpp
    m = llama_cpp.Llama(path, n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=threads,
                        n_threads_batch=threads, flash_attn=False, verbose=False)
    ids = m.tokenize(PROMPT.encode(), add_bos=False, special=True)
    pre = _prefill_ids()
    decode, prefill = [], []
    m.reset()
    m.eval(pre[:16])
    for _ in range(REPEATS):
        m.reset()
        n = 0
        t0 = None
        for _tok in m.generate(ids, temp=0.0, top_k=1, reset=True):
            n += 1
            if n == 1:
                t0 = time.perf_counter()
            if n == DECODE_TOKENS:
                break
        decode.append((n - 1) / (time.perf_counter() - t0))
        m.reset()
        t0 = time.perf_counter()
        m.eval(pre)
        prefill.append(PREFILL_TOKENS / (time.perf_counter() - t0))
    return {"decode": decode, "prefill": prefill,
            "version": llama_cpp.__version__}


def peak_rss_mb() -> float:
    """VmHWM of this process (reset at exec, unlike ru_maxrss, which keeps the parent's)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(engine: str, path: str, threads: int) -> None:
    res = worker_pcc(path, threads) if engine == "pcc" else worker_llamacpp(path, threads)
    res["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(res))


def memcpy_gbps() -> float:
    import numpy as np
    a = np.ones(64 << 20, dtype=np.float32)  # 256 MiB
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best / 1e9  # read + write


def run_worker(engine: str, path: str, threads: int) -> dict | None:
    # NumPy's bundled OpenBLAS would start idle threads that compete for the cores; neither
    # engine uses them (pcc sets its own OpenBLAS to one thread and splits rows itself)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, __file__, "--worker", engine, "--model", path,
                        "--threads", str(threads)], capture_output=True, text=True, env=env,
                       timeout=600)
    if r.returncode != 0:
        sys.stderr.write(f"{engine} worker failed: {r.stderr.strip().splitlines()[-1:]}\n")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--worker", choices=["pcc", "llamacpp"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.model is None:
        from pcc import llm
        args.model = llm.default_model()
    if args.worker:
        worker(args.worker, args.model, args.threads[0])
        return
    try:
        import llama_cpp  # noqa: F401
        engines = ["pcc", "llamacpp"]
    except ImportError:
        engines = ["pcc"]
        print("llama-cpp-python not installed: no baseline (pip install llama-cpp-python)")
    bw = memcpy_gbps()
    print(f"model: {os.path.basename(args.model)}; memcpy {bw:.1f} GB/s (single thread, r+w)")
    wbytes = None
    for threads in args.threads:
        samples: dict[str, dict[str, list[float]]] = {e: {"decode": [], "prefill": []} for e in engines}
        rss: dict[str, float] = {}
        for _ in range(args.rounds):
            for e in engines:
                res = run_worker(e, args.model, threads)
                if res is None:
                    continue
                samples[e]["decode"] += res["decode"]
                samples[e]["prefill"] += res["prefill"]
                rss[e] = max(rss.get(e, 0.0), res["peak_rss_mb"])
                wbytes = res.get("weight_bytes", wbytes)
        print(f"\nthreads={threads}")
        med = {e: {k: statistics.median(v) if v else float("nan") for k, v in s.items()}
               for e, s in samples.items()}
        for e in engines:
            print(f"  {e:9s} decode {med[e]['decode']:7.1f} tok/s   prefill {med[e]['prefill']:7.1f} "
                  f"tok/s   peak RSS {rss.get(e, float('nan')):6.0f} MB")
        if "llamacpp" in med:
            print(f"  ratio pcc/llama.cpp: decode {med['pcc']['decode'] / med['llamacpp']['decode']:.2f}x"
                  f"   prefill {med['pcc']['prefill'] / med['llamacpp']['prefill']:.2f}x")
        if wbytes:
            bound = bw / 2 * 1e9 / wbytes  # reads only: half the r+w copy rate
            print(f"  bandwidth bound: {wbytes / 1e6:.1f} MB of weights per token -> "
                  f"{bound:.0f} tok/s at the memcpy read rate; pcc decode reaches "
                  f"{med['pcc']['decode'] / bound:.0%} of it")


if __name__ == "__main__":
    main()
