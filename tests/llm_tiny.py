"""Tiny random Llama GGUF files for the engine's tests, and a float64 NumPy reference forward.

The vocabulary is byte-level BPE like GPT-2's: the 256 byte symbols (in GPT-2's byte-to-unicode
order, so token 0 is "!"), some merges, and the ChatML special tokens.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import numpy as np

import gguf
from gguf import quants

F32, F16, Q4_0, Q4_1, Q8_0 = 0, 1, 2, 3, 8
QTYPES = {F32: gguf.GGMLQuantizationType.F32, F16: gguf.GGMLQuantizationType.F16,
          Q4_0: gguf.GGMLQuantizationType.Q4_0, Q4_1: gguf.GGMLQuantizationType.Q4_1,
          Q8_0: gguf.GGMLQuantizationType.Q8_0}
TYPE_NAMES = {F32: "F32", F16: "F16", Q4_0: "Q4_0", Q4_1: "Q4_1", Q8_0: "Q8_0"}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


@dataclass
class TinyConfig:
    n_layers: int = 2
    dim: int = 64
    hidden: int = 96
    n_heads: int = 4
    n_kv_heads: int = 2
    vocab: int = 300
    ctx: int = 128
    rope_base: float = 10000.0
    eps: float = 1e-5
    tied: bool = False
    eos: int = 297
    zero_output_norm: bool = False   # all logits 0: greedy always picks token 0 ("!")
    seed: int = 0


@dataclass
class TinyModel:
    path: pathlib.Path
    cfg: TinyConfig
    wtype: int
    weights: dict = field(default_factory=dict)   # name -> float64 (dequantized) array
    tokens: list = field(default_factory=list)


def _vocab(cfg: TinyConfig):
    b2u = bytes_to_unicode()
    # GPT-2 order: the printable bytes first (token 0 is "!"), then the remapped ones
    order = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    order += [b for b in range(256) if b not in order]
    tokens = [b2u[b] for b in order]
    merges = []
    letters = "etaoinshrdlu"
    g = b2u[ord(" ")]
    cands = [(g, c) for c in letters] + [(a, b) for a in letters for b in letters if a != b]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    for a, b in cands:
        if len(tokens) + len(specials) >= cfg.vocab:
            break
        if a + b not in tokens:
            merges.append(f"{a} {b}")
            tokens.append(a + b)
    tokens += specials
    assert len(tokens) == cfg.vocab
    types = [1] * (cfg.vocab - len(specials)) + [3] * len(specials)
    return tokens, types, merges


def _quantized(w: np.ndarray, t: int):
    """(raw array for the writer, float64 dequantized weights)"""
    w = w.astype(np.float32)
    if t == F32:
        return w, w.astype(np.float64)
    if t == F16:
        h = w.astype(np.float16)
        return h, h.astype(np.float64)
    q = quants.quantize(w, QTYPES[t])
    return q, quants.dequantize(q, QTYPES[t]).astype(np.float64)


def build(tmp: pathlib.Path, wtype: int, cfg: TinyConfig | None = None,
          chat_template: str | None = None, name: str | None = None) -> TinyModel:
    """Write a random tiny Llama GGUF with matrices of type wtype; return its weights."""
    cfg = cfg or TinyConfig()
    r = np.random.default_rng(cfg.seed)
    path = pathlib.Path(tmp) / (name or f"tiny-{TYPE_NAMES[wtype]}-{cfg.seed}-{int(cfg.tied)}.gguf")
    w = gguf.GGUFWriter(str(path), "llama")
    hd = cfg.dim // cfg.n_heads
    w.add_block_count(cfg.n_layers)
    w.add_context_length(cfg.ctx)
    w.add_embedding_length(cfg.dim)
    w.add_feed_forward_length(cfg.hidden)
    w.add_head_count(cfg.n_heads)
    w.add_head_count_kv(cfg.n_kv_heads)
    w.add_rope_freq_base(cfg.rope_base)
    w.add_layer_norm_rms_eps(cfg.eps)
    w.add_rope_dimension_count(hd)
    w.add_file_type(1 if wtype == F16 else 0)
    tokens, types, merges = _vocab(cfg)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.vocab - 3)
    w.add_eos_token_id(cfg.eos)
    w.add_add_bos_token(False)
    if chat_template:
        w.add_chat_template(chat_template)
    tm = TinyModel(path, cfg, wtype, tokens=tokens)

    def mat(name, rows, cols, scale, t=wtype):
        raw, deq = _quantized(r.standard_normal((rows, cols)) * scale, t)
        w.add_tensor(name, raw, raw_dtype=QTYPES[t])
        tm.weights[name] = deq

    def norm(name, n):
        v = (1.0 + 0.1 * r.standard_normal(n)).astype(np.float32)
        if name == "output_norm.weight" and cfg.zero_output_norm:
            v[:] = 0.0
        w.add_tensor(name, v)
        tm.weights[name] = v.astype(np.float64)

    kv = cfg.n_kv_heads * hd
    mat("token_embd.weight", cfg.vocab, cfg.dim, 1.0)
    for i in range(cfg.n_layers):
        norm(f"blk.{i}.attn_norm.weight", cfg.dim)
        mat(f"blk.{i}.attn_q.weight", cfg.dim, cfg.dim, cfg.dim ** -0.5)
        mat(f"blk.{i}.attn_k.weight", kv, cfg.dim, cfg.dim ** -0.5)
        mat(f"blk.{i}.attn_v.weight", kv, cfg.dim, cfg.dim ** -0.5)
        mat(f"blk.{i}.attn_output.weight", cfg.dim, cfg.dim, cfg.dim ** -0.5)
        norm(f"blk.{i}.ffn_norm.weight", cfg.dim)
        mat(f"blk.{i}.ffn_gate.weight", cfg.hidden, cfg.dim, cfg.dim ** -0.5)
        mat(f"blk.{i}.ffn_up.weight", cfg.hidden, cfg.dim, cfg.dim ** -0.5)
        mat(f"blk.{i}.ffn_down.weight", cfg.dim, cfg.hidden, cfg.hidden ** -0.5)
    norm("output_norm.weight", cfg.dim)
    if not cfg.tied:
        mat("output.weight", cfg.vocab, cfg.dim, 0.5)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tm


def reference_logits(tm: TinyModel, ids: list[int]) -> np.ndarray:
    """Float64 forward pass over ids at positions 0..n-1; logits of every position (n, vocab)."""
    c, W = tm.cfg, tm.weights
    hd = c.dim // c.n_heads
    group = c.n_heads // c.n_kv_heads
    n = len(ids)
    x = W["token_embd.weight"][ids].copy()

    def rms(v, g):
        return v / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + c.eps) * g

    pos = np.arange(n, dtype=np.float64)
    inv = c.rope_base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = pos[:, None] * inv[None, :]                       # (n, hd/2)
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rope(v):                                            # (n, heads, hd), adjacent pairs
        v0, v1 = v[..., 0::2], v[..., 1::2]
        out = np.empty_like(v)
        out[..., 0::2] = v0 * cos - v1 * sin
        out[..., 1::2] = v0 * sin + v1 * cos
        return out

    mask = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(c.n_layers):
        p = f"blk.{i}."
        h = rms(x, W[p + "attn_norm.weight"])
        q = rope((h @ W[p + "attn_q.weight"].T).reshape(n, c.n_heads, hd))
        k = rope((h @ W[p + "attn_k.weight"].T).reshape(n, c.n_kv_heads, hd))
        v = (h @ W[p + "attn_v.weight"].T).reshape(n, c.n_kv_heads, hd)
        out = np.empty((n, c.n_heads, hd))
        for hh in range(c.n_heads):
            kh = hh // group
            s = q[:, hh, :] @ k[:, kh, :].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, hh, :] = s @ v[:, kh, :]
        x = x + out.reshape(n, c.dim) @ W[p + "attn_output.weight"].T
        h = rms(x, W[p + "ffn_norm.weight"])
        g = h @ W[p + "ffn_gate.weight"].T
        u = h @ W[p + "ffn_up.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[p + "ffn_down.weight"].T
    out_w = W["token_embd.weight"] if c.tied else W["output.weight"]
    return rms(x, W["output_norm.weight"]) @ out_w.T


def nmse(got: np.ndarray, want: np.ndarray) -> float:
    """Normalised mean squared error."""
    return float(np.sum((got.astype(np.float64) - want) ** 2) / np.sum(want ** 2))
