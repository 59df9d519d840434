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

F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K = 0, 1, 2, 3, 6, 7, 8, 12, 13, 14
TYPE_NAMES = {F32: "F32", F16: "F16", Q4_0: "Q4_0", Q4_1: "Q4_1", Q5_0: "Q5_0", Q5_1: "Q5_1",
              Q8_0: "Q8_0", Q4_K: "Q4_K", Q5_K: "Q5_K", Q6_K: "Q6_K"}
QTYPES = {t: getattr(gguf.GGMLQuantizationType, n) for t, n in TYPE_NAMES.items()}
K_TYPES = (Q4_K, Q5_K, Q6_K)   # rows must be a multiple of 256 elements


def _pack_k4_scales(sc: np.ndarray, mn: np.ndarray) -> np.ndarray:
    """(nb, 8) 6-bit scales and mins -> (nb, 12) bytes, the inverse of ggml's get_scale_min_k4."""
    q = np.zeros((sc.shape[0], 12), np.uint8)
    q[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    q[:, 4:8] = mn[:, 0:4] | ((mn[:, 4:8] >> 4) << 6)
    q[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((mn[:, 4:8] & 0x0F) << 4)
    return q


def kquantize(w: np.ndarray, t: int) -> np.ndarray:
    """A plain (not error-optimising) quantizer to Q4_K, Q5_K or Q6_K in ggml's block layout:
    (rows, cols) float -> (rows, row bytes) uint8. The tests check its output through gguf's own
    dequantizer, so the packing here is verified independently of the engine."""
    rows, cols = w.shape
    x = w.astype(np.float32).reshape(-1, 256).astype(np.float64)
    nb = x.shape[0]

    def half(v):
        return np.asarray(v, np.float16).reshape(-1, 1).view(np.uint8)

    if t == Q6_K:
        sub = x.reshape(nb, 16, 16)
        s = np.abs(sub).max(axis=2) / 31.0                       # (nb, 16) sub-block scales
        d = np.maximum(s.max(axis=1), 1e-12) / 127.0
        d = d.astype(np.float16).astype(np.float64)
        sc = np.clip(np.rint(s / d[:, None]), -128, 127).astype(np.int8)
        step = d[:, None, None] * np.maximum(sc.astype(np.float64), 1)[:, :, None]
        q = (np.clip(np.rint(sub / step), -32, 31) + 32).astype(np.uint8).reshape(nb, 256)
        q = np.where((sc == 0)[:, :, None].repeat(16, 2).reshape(nb, 256), 32, q).astype(np.uint8)
        ql = np.zeros((nb, 128), np.uint8)
        qh = np.zeros((nb, 64), np.uint8)
        for h in range(2):
            b = q[:, 128 * h:128 * h + 128]
            ql[:, 64 * h:64 * h + 32] = (b[:, 0:32] & 15) | ((b[:, 64:96] & 15) << 4)
            ql[:, 64 * h + 32:64 * h + 64] = (b[:, 32:64] & 15) | ((b[:, 96:128] & 15) << 4)
            qh[:, 32 * h:32 * h + 32] = ((b[:, 0:32] >> 4) | ((b[:, 32:64] >> 4) << 2) |
                                         ((b[:, 64:96] >> 4) << 4) | ((b[:, 96:128] >> 4) << 6))
        out = np.concatenate([ql, qh, sc.view(np.uint8), half(d)], axis=1)
        return out.reshape(rows, -1)
    qmax = 15 if t == Q4_K else 31
    sub = x.reshape(nb, 8, 32)
    lo = np.minimum(sub.min(axis=2), 0.0)
    s = (sub.max(axis=2) - lo) / qmax
    m = -lo
    d = (np.maximum(s.max(axis=1), 1e-12) / 63.0).astype(np.float16).astype(np.float64)
    dmin = (np.maximum(m.max(axis=1), 1e-12) / 63.0).astype(np.float16).astype(np.float64)
    sc = np.clip(np.rint(s / d[:, None]), 0, 63).astype(np.uint8)
    mn = np.clip(np.rint(m / dmin[:, None]), 0, 63).astype(np.uint8)
    step = d[:, None, None] * np.maximum(sc, 1)[:, :, None]
    q = np.clip(np.rint((sub + (dmin[:, None] * mn)[:, :, None]) / step), 0, qmax).astype(np.uint8)
    q = q.reshape(nb, 256)
    qs = np.zeros((nb, 128), np.uint8)
    qh = np.zeros((nb, 32), np.uint8)
    for j in range(4):
        a, b = q[:, 64 * j:64 * j + 32], q[:, 64 * j + 32:64 * j + 64]
        qs[:, 32 * j:32 * j + 32] = (a & 15) | ((b & 15) << 4)
        qh |= ((a >> 4) << (2 * j)) | ((b >> 4) << (2 * j + 1))
    parts = [half(d), half(dmin), _pack_k4_scales(sc, mn)]
    parts += [qh, qs] if t == Q5_K else [qs]
    return np.concatenate(parts, axis=1).reshape(rows, -1)


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
    arch: str = "llama"              # or "qwen2" (Q/K/V biases) or "qwen3" (Q/K head norms)
    head_dim: int = 0                # 0: dim / n_heads (qwen3 may set another width)


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
    q = kquantize(w, t) if t in K_TYPES else quants.quantize(w, QTYPES[t])
    return q, quants.dequantize(q, QTYPES[t]).astype(np.float64)


def build(tmp: pathlib.Path, wtype: int, cfg: TinyConfig | None = None,
          chat_template: str | None = None, name: str | None = None) -> TinyModel:
    """Write a random tiny Llama GGUF with matrices of type wtype; return its weights."""
    cfg = cfg or TinyConfig()
    r = np.random.default_rng(cfg.seed)
    path = pathlib.Path(tmp) / (name or f"tiny-{TYPE_NAMES[wtype]}-{cfg.seed}-{int(cfg.tied)}.gguf")
    w = gguf.GGUFWriter(str(path), cfg.arch)
    hd = cfg.head_dim or cfg.dim // cfg.n_heads
    if cfg.head_dim:
        w.add_key_length(hd)
        w.add_value_length(hd)
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

    def vec(name, n, scale):
        v = (scale * r.standard_normal(n)).astype(np.float32)
        w.add_tensor(name, v)
        tm.weights[name] = v.astype(np.float64)

    kv = cfg.n_kv_heads * hd
    qd = cfg.n_heads * hd
    mat("token_embd.weight", cfg.vocab, cfg.dim, 1.0)
    for i in range(cfg.n_layers):
        norm(f"blk.{i}.attn_norm.weight", cfg.dim)
        mat(f"blk.{i}.attn_q.weight", qd, cfg.dim, cfg.dim ** -0.5)
        mat(f"blk.{i}.attn_k.weight", kv, cfg.dim, cfg.dim ** -0.5)
        mat(f"blk.{i}.attn_v.weight", kv, cfg.dim, cfg.dim ** -0.5)
        mat(f"blk.{i}.attn_output.weight", cfg.dim, qd, qd ** -0.5)
        if cfg.arch == "qwen2":
            vec(f"blk.{i}.attn_q.bias", qd, 0.5)
            vec(f"blk.{i}.attn_k.bias", kv, 0.5)
            vec(f"blk.{i}.attn_v.bias", kv, 0.5)
        if cfg.arch == "qwen3":
            norm(f"blk.{i}.attn_q_norm.weight", hd)
            norm(f"blk.{i}.attn_k_norm.weight", hd)
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
    hd = c.head_dim or c.dim // c.n_heads
    group = c.n_heads // c.n_kv_heads
    n = len(ids)
    x = W["token_embd.weight"][ids].copy()

    def rms(v, g):
        return v / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + c.eps) * g

    pos = np.arange(n, dtype=np.float64)
    inv = c.rope_base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = pos[:, None] * inv[None, :]                       # (n, hd/2)
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rope(v):                                            # (n, heads, hd)
        out = np.empty_like(v)
        if c.arch == "llama":                               # adjacent pairs
            v0, v1 = v[..., 0::2], v[..., 1::2]
            out[..., 0::2] = v0 * cos - v1 * sin
            out[..., 1::2] = v0 * sin + v1 * cos
        else:                                               # NeoX: i pairs with i + hd/2
            v0, v1 = v[..., :hd // 2], v[..., hd // 2:]
            out[..., :hd // 2] = v0 * cos - v1 * sin
            out[..., hd // 2:] = v0 * sin + v1 * cos
        return out

    def proj(h, name, heads):
        y = h @ W[name + ".weight"].T
        if c.arch == "qwen2":
            y = y + W[name + ".bias"]
        return y.reshape(n, heads, hd)

    mask = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(c.n_layers):
        p = f"blk.{i}."
        h = rms(x, W[p + "attn_norm.weight"])
        q = proj(h, p + "attn_q", c.n_heads)
        k = proj(h, p + "attn_k", c.n_kv_heads)
        v = proj(h, p + "attn_v", c.n_kv_heads)
        if c.arch == "qwen3":
            q = rms(q, W[p + "attn_q_norm.weight"])
            k = rms(k, W[p + "attn_k_norm.weight"])
        q, k = rope(q), rope(k)
        out = np.empty((n, c.n_heads, hd))
        for hh in range(c.n_heads):
            kh = hh // group
            s = q[:, hh, :] @ k[:, kh, :].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, hh, :] = s @ v[:, kh, :]
        x = x + out.reshape(n, c.n_heads * hd) @ W[p + "attn_output.weight"].T
        h = rms(x, W[p + "ffn_norm.weight"])
        g = h @ W[p + "ffn_gate.weight"].T
        u = h @ W[p + "ffn_up.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[p + "ffn_down.weight"].T
    out_w = W["token_embd.weight"] if c.tied else W["output.weight"]
    return rms(x, W["output_norm.weight"]) @ out_w.T


def nmse(got: np.ndarray, want: np.ndarray) -> float:
    """Normalised mean squared error."""
    return float(np.sum((got.astype(np.float64) - want) ** 2) / np.sum(want ** 2))
