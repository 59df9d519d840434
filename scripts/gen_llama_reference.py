"""Generate llama.cpp's greedy continuations of the SmolLM2 test prompts (run once, by hand).

Writes tests/vectors/smollm2_llamacpp_greedy.json, which tests/test_llm_real.py compares the
engine against, so CI does not need llama.cpp. Needs llama-cpp-python built from source:

    CMAKE_ARGS="-DGGML_NATIVE=ON" pip install llama-cpp-python
    PYTHONPATH=. python scripts/gen_llama_reference.py [--model PATH] [--tokens 64]

llama.cpp runs single-threaded with an F16 KV cache, flash attention off (the engine's numerics
follow that path), the whole prompt in one batch, greedy sampling (top_k 1).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import platform

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


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="GGUF file (default: pcc.llm.default_model())")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--out", default="tests/vectors/smollm2_llamacpp_greedy.json")
    args = ap.parse_args()

    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    path = pathlib.Path(args.model) if args.model else None
    if path is None:
        from pcc import llm
        path = pathlib.Path(llm.default_model())
    model = llama_cpp.Llama(str(path), n_ctx=1024, n_batch=1024, n_ubatch=1024, n_threads=1,
                            n_threads_batch=1, flash_attn=False, verbose=False, seed=0)
    template = model.metadata.get("tokenizer.chat_template")
    fmt = Jinja2ChatFormatter(template=template, eos_token="<|im_end|>", bos_token="<|im_start|>")

    cases = []
    for text in PROMPTS:
        cases.append({"kind": "text", "prompt": text})
    for msgs in CHATS:
        cases.append({"kind": "chat", "messages": msgs, "prompt": fmt(messages=msgs).prompt})

    for case in cases:
        ids = model.tokenize(case["prompt"].encode(), add_bos=False, special=True)
        model.reset()
        out = []
        for tok in model.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0,
                                  reset=True):
            if llama_cpp.llama_vocab_is_eog(model._model.vocab, tok):
                break
            out.append(int(tok))
            if len(out) == args.tokens:
                break
        case["prompt_ids"] = [int(i) for i in ids]
        case["output_ids"] = out
        case["output_text"] = model.detokenize(out).decode("utf-8", errors="replace")
        print(repr(case["prompt"][:40]), "->", repr(case["output_text"][:60]))

    doc = {
        "description": "llama.cpp greedy continuations of SmolLM2-135M-Instruct Q4_1 "
                       "(scripts/gen_llama_reference.py)",
        "llama_cpp_python_version": llama_cpp.__version__,
        "model_file": path.name,
        "model_sha256": sha256(path),
        "settings": {"n_threads": 1, "flash_attn": False, "type_k": "f16", "type_v": "f16",
                     "n_batch": 1024, "sampling": "greedy (top_k=1)", "max_tokens": args.tokens,
                     "stops_at": "end-of-generation token"},
        "machine": platform.machine(),
        "cases": cases,
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote", out)


if __name__ == "__main__":
    main()
