"""``pcc llm``: local inference with the engine (no privacy layer: for testing models)."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional


def _llm_run(args: argparse.Namespace) -> int:
    from pcc import llm

    import os
    from pcc.errors import PccError
    path = args.model or llm.default_model()
    if not os.path.isfile(path):
        raise PccError(f"no such model file: {path} (pass a GGUF file with --model, or omit "
                       f"--model for the demo model)")
    try:
        model = llm.Model.load(path, threads=args.threads)
    except PccError as e:
        raise type(e)(f"cannot load {path} as a model: {e} (is it a GGUF file? check "
                      f"--model and --threads)") from None
    kw = dict(max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
              top_k=args.top_k, seed=args.seed)
    if args.chat:
        gen = model.generate(messages=[{"role": "user", "content": args.prompt}], **kw)
    else:
        gen = model.generate(prompt=args.prompt, **kw)
    t0 = time.perf_counter()
    t_first: Optional[float] = None
    with gen:
        for piece in gen:
            if t_first is None:
                t_first = time.perf_counter()
            sys.stdout.write(piece)
            sys.stdout.flush()
        n = gen.n_generated
        n_prompt = gen.n_prompt
    t1 = time.perf_counter()
    sys.stdout.write("\n")
    first = (t_first or t1) - t0
    decode = t1 - (t_first or t1)
    rate = (n - 1) / decode if n > 1 and decode > 0 else float("nan")
    sys.stderr.write(f"[{n_prompt} prompt tokens, {n} generated: first piece after {first:.3f} s, "
                     f"{rate:.1f} tokens/s, {model.info['threads']} threads, "
                     f"{model.info['kernels']} kernels]\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pcc llm`` to the top-level sub-parsers."""
    from pcc.cli._common import add_commands
    from pcc.llm import DEFAULTS
    p = sub.add_parser("llm", help="local inference with the engine (no privacy layer)")
    cmds = add_commands(p, "llm_command")
    r = cmds.add_parser("run", help="generate from a prompt and print tokens/s")
    r.add_argument("--model", metavar="GGUF",
                   help="GGUF model file (default: SmolLM2-135M-Instruct Q4_1, fetched once "
                        "into the cache; set PCC_MODEL_FILE to supply it offline)")
    r.add_argument("--prompt", required=True, help="prompt text")
    r.add_argument("--chat", action="store_true",
                   help="send the prompt as a user chat message (applies the chat template)")
    r.add_argument("--max-tokens", type=int, default=DEFAULTS.max_tokens, metavar="N",
                   help="most tokens to generate")
    r.add_argument("--threads", type=int, default=None, metavar="N",
                   help="worker threads (default: one per core)")
    r.add_argument("--temperature", type=float, default=DEFAULTS.temperature,
                   help="sampling temperature; 0 is greedy")
    r.add_argument("--top-p", type=float, default=DEFAULTS.top_p,
                   help="nucleus sampling mass (1: off)")
    r.add_argument("--top-k", type=int, default=DEFAULTS.top_k,
                   help="sample among the k likeliest (0: off)")
    r.add_argument("--seed", type=int, default=DEFAULTS.seed,
                   help="random seed for sampling (default: a fresh one)")
    r.set_defaults(func=_llm_run)
