"""Generate llama.cpp's reference outputs for the SmolLM2 tests (run by hand), or compare the
engine against llama.cpp live.

Writes tests/vectors/smollm2_llamacpp_greedy.json, which tests/test_llm_real.py and
tests/test_llm_kernels.py compare the engine against, so CI does not need llama.cpp:

- greedy continuations of the test prompts, and SHA-256 digests of llama.cpp's logits when its
  own tokens are fed back (teacher forcing), both as its generation ran (the prompt as one batch,
  then one token per pass) and as one batch;
- outputs of ggml's CPU kernels (libggml-cpu, called through ctypes) on fixed inputs.

Needs llama-cpp-python built from source for this CPU:

    CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python
    PYTHONPATH=. python scripts/gen_llama_reference.py [--model PATH] [--tokens 64]
    PYTHONPATH=. python scripts/gen_llama_reference.py --compare [--threads 1]

--compare prints, per prompt, pcc's teacher-forced top-1 agreement with llama.cpp's tokens, the
logits' NMSE against llama.cpp's, how many positions are bit-identical, and whether the greedy
continuation is identical.

llama.cpp runs single-threaded with an F16 KV cache, flash attention off (the engine's numerics
follow that path), the whole prompt in one batch, greedy sampling (top_k 1).
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import pathlib
import platform

import numpy as np

PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a little robot who",
    "def fibonacci(n):\n",
    "The three laws of thermodynamics are",
    "Here is a recipe for pancakes:\n1.",
    "Photosynthesis is the process by which",
    ("In the beginning of the twentieth century, the city was a busy port. Ships arrived every "
     "day from distant countries, bringing spices, silk, tea and news. The harbour master kept a "
     "large book in which he wrote the name of every ship, its captain, its cargo and the date of "
     "its arrival. One morning in early spring, a ship with black sails entered the harbour, and "
     "nobody on the quay could read the name painted on its bow. The harbour master walked down "
     "to the water, opened his book and"),
]
CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a concise assistant."},
     {"role": "user", "content": "Name three primary colours."}],
]
N_CTX = 1024


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


# ---- deterministic kernel inputs (integer arithmetic only; tests/test_llm_kernels.py has a copy)

def det_floats(n: int, seed: int, scale: float) -> np.ndarray:
    i = np.arange(n, dtype=np.int64)
    v = (i * 2654435761 + seed * 40503) % 20011 - 10005
    return (v.astype(np.float64) * (scale / 10005.0)).astype(np.float32)


def det_bytes(n: int, seed: int) -> np.ndarray:
    i = np.arange(n, dtype=np.int64)
    return (((i * 2246822519 + seed * 3266489917) >> 11) & 0xFF).astype(np.uint8)


def det_weights(t: str, rows: int, n: int) -> bytes:
    """Raw ggml blocks (Q4_0, Q4_1, Q8_0) or F16/F32 rows."""
    if t == "F32":
        return det_floats(rows * n, 11, 0.2).tobytes()
    if t == "F16":
        return det_floats(rows * n, 12, 0.2).astype(np.float16).tobytes()
    nb = rows * n // 32
    d = (np.abs(det_floats(nb, 13, 0.01)) + np.float32(1e-3)).astype(np.float16)
    out = bytearray()
    if t == "Q4_1":
        m = det_floats(nb, 14, 0.05).astype(np.float16)
        qs = det_bytes(nb * 16, 15).reshape(nb, 16)
        for k in range(nb):
            out += d[k].tobytes() + m[k].tobytes() + qs[k].tobytes()
    elif t == "Q4_0":
        qs = det_bytes(nb * 16, 16).reshape(nb, 16)
        for k in range(nb):
            out += d[k].tobytes() + qs[k].tobytes()
    else:  # Q8_0, quants in [-127, 127] as ggml's quantizer makes them
        qs = (det_bytes(nb * 32, 17).astype(np.int16) % 255 - 127).astype(np.int8).reshape(nb, 32)
        for k in range(nb):
            out += d[k].tobytes() + qs[k].tobytes()
    return bytes(out)


KERNEL_DOTS = [("Q4_1", 16, 1536), ("Q4_1", 16, 576), ("Q8_0", 16, 576), ("Q4_0", 16, 576),
               ("F16", 16, 256), ("F32", 16, 256)]
SOFTMAX_N, SOFTMAX_PAD = 250, 256   # llama.cpp pads the KV length; -inf past the real entries
SWIGLU_N = 1000                     # not a multiple of 16: the libm tail too


def ggml_kernels() -> dict:
    """Outputs of llama.cpp's own CPU kernels (libggml-cpu) on the deterministic inputs."""
    import llama_cpp

    lib = ctypes.CDLL(str(pathlib.Path(llama_cpp.__file__).parent / "lib" / "libggml-cpu.so"))
    if hasattr(lib, "ggml_cpu_init"):
        lib.ggml_cpu_init()
    P = ctypes.c_void_p
    dot_fn = {"Q4_1": "ggml_vec_dot_q4_1_q8_1", "Q8_0": "ggml_vec_dot_q8_0_q8_0",
              "Q4_0": "ggml_vec_dot_q4_0_q8_0", "F16": "ggml_vec_dot_f16", "F32": "ggml_vec_dot_f32"}
    for f in dot_fn.values():
        getattr(lib, f).argtypes = [ctypes.c_int, P, ctypes.c_size_t, P, ctypes.c_size_t, P,
                                    ctypes.c_size_t, ctypes.c_int]
    lib.quantize_row_q8_0.argtypes = lib.quantize_row_q8_1.argtypes = [P, P, ctypes.c_int64]
    lib.ggml_vec_soft_max_f32.restype = ctypes.c_double
    lib.ggml_vec_soft_max_f32.argtypes = [ctypes.c_int, P, P, ctypes.c_float]
    lib.ggml_vec_swiglu_f32.argtypes = [ctypes.c_int, P, P, P]

    def ptr(a: np.ndarray) -> ctypes.c_void_p:
        return a.ctypes.data_as(P)

    out: dict = {"library": "libggml-cpu of llama-cpp-python " + llama_cpp.__version__,
                 "quantize": {}, "dot": [], "softmax": {}, "swiglu": {}}
    for dt, n in (("Q8_0", 576), ("Q8_1", 1536)):
        x = det_floats(n, 1, 4.0)
        buf = ctypes.create_string_buffer(n // 32 * (34 if dt == "Q8_0" else 36))
        getattr(lib, "quantize_row_" + dt.lower())(ptr(x), buf, n)
        out["quantize"][dt] = {"n": n, "sha256": hashlib.sha256(buf.raw).hexdigest()}
    for t, rows, n in KERNEL_DOTS:
        w = ctypes.create_string_buffer(det_weights(t, rows, n))
        x = det_floats(n, 2, 3.0)
        if t in ("F16", "F32"):
            xb = ctypes.create_string_buffer(x.astype(np.float16 if t == "F16" else np.float32).tobytes())
        else:
            xb = ctypes.create_string_buffer(n // 32 * (36 if t == "Q4_1" else 34))
            (lib.quantize_row_q8_1 if t == "Q4_1" else lib.quantize_row_q8_0)(ptr(x), xb, n)
        row = len(w.raw) // rows
        res = []
        for r in range(rows):
            s = ctypes.c_float()
            getattr(lib, dot_fn[t])(n, ctypes.byref(s), 0, ctypes.addressof(w) + r * row, 0, xb, 0, 1)
            res.append(float(s.value).hex())
        out["dot"].append({"type": t, "rows": rows, "n": n, "out": res})
    x = det_floats(SOFTMAX_PAD, 3, 12.0)
    x[SOFTMAX_N:] = -np.inf
    y = np.zeros(SOFTMAX_PAD, np.float32)
    s = lib.ggml_vec_soft_max_f32(SOFTMAX_PAD, ptr(y), ptr(x), ctypes.c_float(float(x.max())))
    y *= np.float32(1.0 / s)  # ggml_vec_scale_f32 by (float)(1/sum)
    out["softmax"] = {"n": SOFTMAX_N, "sha256": digest(y[:SOFTMAX_N])}
    g, u = det_floats(SWIGLU_N, 4, 9.0), det_floats(SWIGLU_N, 5, 2.0)
    y = np.zeros(SWIGLU_N, np.float32)
    lib.ggml_vec_swiglu_f32(SWIGLU_N, ptr(y), ptr(g), ptr(u))
    out["swiglu"] = {"n": SWIGLU_N, "sha256": digest(y)}
    return out


# ---- llama.cpp runs

def llama(path: pathlib.Path, logits_all: bool):
    import llama_cpp
    return llama_cpp.Llama(str(path), n_ctx=N_CTX, n_batch=N_CTX, n_ubatch=N_CTX, n_threads=1,
                           n_threads_batch=1, flash_attn=False, verbose=False, seed=0,
                           logits_all=logits_all)


def teacher_forced(model, prompt: list[int], output: list[int], one_batch: bool) -> np.ndarray:
    """llama.cpp's logits at the positions predicting output, with output[:-1] fed back."""
    model.reset()
    if one_batch:
        model.eval(prompt + output[:-1])
    else:
        model.eval(prompt)
        for t in output[:-1]:
            model.eval([t])
    n = len(prompt) + len(output) - 1
    return np.array(model.scores[:n], dtype=np.float32)[len(prompt) - 1:]


def make_cases(model) -> list[dict]:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = model.metadata.get("tokenizer.chat_template")
    fmt = Jinja2ChatFormatter(template=template, eos_token="<|im_end|>", bos_token="<|im_start|>")
    cases = [{"kind": "text", "prompt": text} for text in PROMPTS]
    cases += [{"kind": "chat", "messages": msgs, "prompt": fmt(messages=msgs).prompt} for msgs in CHATS]
    for case in cases:
        case["prompt_ids"] = [int(i) for i in
                              model.tokenize(case["prompt"].encode(), add_bos=False, special=True)]
    return cases


def greedy(model, ids: list[int], tokens: int) -> list[int]:
    import llama_cpp

    model.reset()
    out = []
    for tok in model.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0,
                              reset=True):
        if llama_cpp.llama_vocab_is_eog(model._model.vocab, tok):
            break
        out.append(int(tok))
        if len(out) == tokens:
            break
    return out


def generate(path: pathlib.Path, tokens: int, out_path: pathlib.Path) -> None:
    import llama_cpp

    model = llama(path, logits_all=False)
    cases = make_cases(model)
    for case in cases:
        case["output_ids"] = greedy(model, case["prompt_ids"], tokens)
        case["output_text"] = model.detokenize(case["output_ids"]).decode("utf-8", errors="replace")
        print(repr(case["prompt"][:40]), "->", repr(case["output_text"][:60]))
    del model
    forced = llama(path, logits_all=True)
    for case in cases:
        p, o = case["prompt_ids"], case["output_ids"]
        gen = teacher_forced(forced, p, o, one_batch=False)
        assert [int(t) for t in gen.argmax(1)] == o, "llama.cpp does not reproduce its generation"
        case["logits_sha256"] = {"generation": digest(gen),
                                 "one_batch": digest(teacher_forced(forced, p, o, one_batch=True))}
    doc = {
        "description": "llama.cpp greedy continuations of SmolLM2-135M-Instruct Q4_1, digests of "
                       "its teacher-forced logits and outputs of its CPU kernels "
                       "(scripts/gen_llama_reference.py)",
        "llama_cpp_python_version": llama_cpp.__version__,
        "model_file": path.name,
        "model_sha256": sha256(path),
        "settings": {"n_threads": 1, "flash_attn": False, "type_k": "f16", "type_v": "f16",
                     "n_batch": N_CTX, "sampling": "greedy (top_k=1)", "max_tokens": tokens,
                     "stops_at": "end-of-generation token",
                     "logits_sha256": "float32 logits rows len(prompt)-1 .. len(prompt)+len(output)-2 "
                                      "with output[:-1] fed back: 'generation' = prompt as one "
                                      "batch then one token per pass, 'one_batch' = all at once"},
        "machine": platform.machine(),
        "cases": cases,
        "ggml_kernels": ggml_kernels(),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", out_path)


def compare(path: pathlib.Path, tokens: int, threads: int) -> None:
    from pcc import llm

    ref = llama(path, logits_all=True)
    cases = make_cases(ref)
    m = llm.Model.load(str(path), threads=threads)
    print(f"pcc kernels {m.info['kernels']}, {threads} thread(s)")
    tot = {"gen": 0, "batch": 0, "n": 0, "same": 0}
    for case in cases:
        p = case["prompt_ids"]
        o = greedy(ref, p, tokens)
        row = [f"{case['prompt'][:28]!r:32s}"]
        for mode, one_batch in (("gen", False), ("batch", True)):
            want = teacher_forced(ref, p, o, one_batch)
            got = m.logits(p + o[:-1], all_positions=True,
                           decode_from=None if one_batch else len(p))[len(p) - 1:]
            agree = int(np.sum(got.argmax(1) == np.array(o)))
            nmse = float(np.sum((got - want) ** 2) / np.sum(want ** 2))
            exact = int(np.sum(np.all(got == want, axis=1)))
            tot[mode] += agree
            row.append(f"{mode}: top-1 {agree}/{len(o)} nmse {nmse:.1e} exact rows {exact}")
        tot["n"] += len(o)
        mine = m.generate_tokens(p, max_tokens=len(o))
        same = mine == o
        tot["same"] += same
        fork = next((i for i, (a, b) in enumerate(zip(mine, o)) if a != b), min(len(mine), len(o)))
        row.append("identical" if same else f"forks at {fork}")
        print("  ".join(row))
    print(f"teacher-forced top-1: as generated {tot['gen'] / tot['n']:.4f}, one batch "
          f"{tot['batch'] / tot['n']:.4f}; identical continuations {tot['same']}/{len(cases)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="GGUF file (default: pcc.llm.default_model())")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--out", default="tests/vectors/smollm2_llamacpp_greedy.json")
    ap.add_argument("--compare", action="store_true", help="compare pcc with llama.cpp, write nothing")
    ap.add_argument("--threads", type=int, default=1, help="pcc threads for --compare")
    args = ap.parse_args()
    path = pathlib.Path(args.model) if args.model else None
    if path is None:
        from pcc import llm
        path = pathlib.Path(llm.default_model())
    if args.compare:
        compare(path, args.tokens, args.threads)
    else:
        generate(path, args.tokens, pathlib.Path(args.out))


if __name__ == "__main__":
    main()
