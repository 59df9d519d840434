"""Inference kernels: every SIMD variant against its scalar twin, against NumPy, and against
outputs of llama.cpp's own CPU kernels (libggml-cpu) stored in tests/vectors.

Weights are quantized with the `gguf` package (ggml's reference quantizers), activations with
the engine's own quantizer, which must match ggml's (round half to even of x * 127 / amax) bit for
bit in every variant. All variants compute the same bits (ggml's AVX-512 arithmetic).
"""
import hashlib
import json
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pcc._core as core
from pcc import errors

gguf = pytest.importorskip("gguf")
from gguf import quants  # noqa: E402

F32, F16, Q4_0, Q4_1, Q8_0, Q8_1 = 0, 1, 2, 3, 8, 9
QTYPE = {Q4_0: gguf.GGMLQuantizationType.Q4_0, Q4_1: gguf.GGMLQuantizationType.Q4_1,
         Q8_0: gguf.GGMLQuantizationType.Q8_0}
DOT_TYPE = {F32: F32, F16: F16, Q4_0: Q8_0, Q4_1: Q8_1, Q8_0: Q8_0}
VARIANTS = core._llm_k_variants()
REF = 0


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32).tobytes()


def from_bytes(b):
    return np.frombuffer(b, dtype=np.float32)


def rng(seed=0):
    return np.random.default_rng(seed)


def quantize_weights(w, t):
    """Weights (rows, n) float32 -> raw bytes of type t (ggml layout)."""
    if t == F32:
        return w.astype(np.float32).tobytes()
    if t == F16:
        return w.astype(np.float16).tobytes()
    return quants.quantize(w.astype(np.float32), QTYPE[t]).tobytes()


def dequantize_weights(b, t, rows, n):
    if t == F32:
        return np.frombuffer(b, np.float32).reshape(rows, n).astype(np.float64)
    if t == F16:
        return np.frombuffer(b, np.float16).reshape(rows, n).astype(np.float64)
    raw = np.frombuffer(b, np.uint8).reshape(rows, -1)
    return quants.dequantize(raw, QTYPE[t]).astype(np.float64)


def q8_numpy(x, with_sum):
    """ggml's SIMD activation quantizer in NumPy: bytes of Q8_0 (or Q8_1 with with_sum)."""
    out = bytearray()
    for blk in x.astype(np.float32).reshape(-1, 32):
        amax = np.float32(np.max(np.abs(blk)))
        d = np.float32(amax / np.float32(127.0))
        idv = np.float32(np.float32(127.0) / amax) if amax != 0 else np.float32(0.0)
        q = np.rint(blk * idv).astype(np.int8)
        out += np.float16(d).tobytes()
        if with_sum:
            out += np.float16(np.float32(d * np.float32(int(q.astype(np.int32).sum())))).tobytes()
        out += q.tobytes()
    return bytes(out)


def activation(x, t, variant=REF):
    """Convert float activations to the dot type of weight type t with the engine's kernels."""
    dt = DOT_TYPE[t]
    return core._llm_k_from_float(variant, dt, f32(x))


def expected_dot(wbytes, t, xbytes, rows, n):
    """Exact dot products in float64 from the raw bytes (integer sums per block, as ggml)."""
    if t in (F32, F16):
        w = dequantize_weights(wbytes, t, rows, n)
        x = np.frombuffer(xbytes, np.float32 if t == F32 else np.float16).astype(np.float64)
        return w @ x
    nb = n // 32
    raw = np.frombuffer(wbytes, np.uint8).reshape(rows, nb, -1)
    xb = np.frombuffer(xbytes, np.uint8).reshape(nb, -1)
    xd = xb[:, 0:2].copy().view(np.float16).astype(np.float64)[:, 0]
    if t == Q4_1:
        xs = xb[:, 2:4].copy().view(np.float16).astype(np.float64)[:, 0]
        xq = xb[:, 4:].view(np.int8).astype(np.int64)
    else:
        xq = xb[:, 2:].view(np.int8).astype(np.int64)
    res = np.zeros(rows)
    for r in range(rows):
        for b in range(nb):
            blk = raw[r, b]
            d = blk[0:2].copy().view(np.float16).astype(np.float64)[0]
            if t == Q8_0:
                q = blk[2:].view(np.int8).astype(np.int64)
                res[r] += d * xd[b] * int(q @ xq[b])
                continue
            qs = blk[2:] if t == Q4_0 else blk[4:]
            q = np.concatenate([qs & 0x0F, qs >> 4]).astype(np.int64)
            if t == Q4_0:
                res[r] += d * xd[b] * int((q - 8) @ xq[b])
            else:
                m = blk[2:4].copy().view(np.float16).astype(np.float64)[0]
                res[r] += d * xd[b] * int(q @ xq[b]) + m * xs[b]
    return res


def test_variants_include_reference_and_best():
    assert REF in VARIANTS
    assert core._llm_k_best() in VARIANTS
    assert core._llm_k_best() == max(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [Q8_0, Q8_1])
def test_activation_quantization_matches_ggml_bit_for_bit(variant, t):
    x = rng(1).standard_normal(32 * 37).astype(np.float32) * 3
    x[:32] = 0.0  # an all-zero block: d = 0, q = 0
    x[40] = 1e-30  # tiny values
    got = core._llm_k_from_float(variant, t, f32(x))
    assert got == q8_numpy(x, with_sum=(t == Q8_1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_f16_conversion_matches_numpy(variant):
    x = np.concatenate([rng(2).standard_normal(1000).astype(np.float32) * 1000,
                        np.array([0.0, -0.0, 65504.0, 65520.0, 1e9, -1e9, 6e-8, 3e-8, 1e-5, np.inf,
                                  -np.inf, 2.0 ** -24, 2.0 ** -25 * 1.5], np.float32)])
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).tobytes()
    assert core._llm_k_fp16(f32(x)) == want
    assert core._llm_k_from_float(variant, F16, f32(x)) == want
    back = from_bytes(core._llm_k_to_float(variant, F16, want, len(x)))
    assert np.array_equal(back, np.frombuffer(want, np.float16).astype(np.float32))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [Q4_0, Q4_1, Q8_0])
def test_dequantize_matches_gguf(variant, t):
    w = rng(3).standard_normal((3, 32 * 5)).astype(np.float32)
    b = quantize_weights(w, t)
    got = from_bytes(core._llm_k_to_float(variant, t, b, w.size)).reshape(w.shape)
    assert np.array_equal(got, from_bytes(core._llm_k_to_float(REF, t, b, w.size)).reshape(w.shape))
    want = dequantize_weights(b, t, 3, 32 * 5)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [F32, F16, Q4_0, Q4_1, Q8_0])
@pytest.mark.parametrize("n", [32, 96, 576, 1536])
def test_dot_products_vs_exact_and_reference(variant, t, n):
    rows = 7
    r = rng(n + t)
    w = r.standard_normal((rows, n)).astype(np.float32) * 0.05
    x = r.standard_normal(n).astype(np.float32)
    wb = quantize_weights(w, t)
    xb = activation(x, t, variant)
    assert xb == activation(x, t, REF)
    want = expected_dot(wb, t, xb, rows, n)
    scale = np.abs(dequantize_weights(wb, t, rows, n)).sum(axis=1) * np.abs(x).max()
    got = from_bytes(core._llm_k_dotrows(variant, t, wb, rows, n, xb))
    ref = from_bytes(core._llm_k_dotrows(REF, t, wb, rows, n, xb))
    assert np.all(np.abs(got - want) <= 2e-6 * scale + 1e-6), (got, want)
    assert np.array_equal(got, ref)
    if t in (F32, F16):  # llama.cpp's batch order (tinyBLAS): same sum, other rounding
        batch = from_bytes(core._llm_k_dotrows(variant, t, wb, rows, n, xb, True))
        assert np.all(np.abs(batch - want) <= 2e-6 * scale + 1e-6)
        assert np.array_equal(batch, from_bytes(core._llm_k_dotrows(REF, t, wb, rows, n, xb, True)))
    # the single-row kernel gives the same numbers as the multi-row one
    for i in range(rows):
        row = wb[i * len(wb) // rows:(i + 1) * len(wb) // rows]
        one = from_bytes(core._llm_k_dotrows(variant, t, row, 0, n, xb))[0]
        assert one == got[i]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [F32, F16, Q4_0, Q4_1, Q8_0])
@pytest.mark.parametrize("n", [64, 96, 576, 1536])
def test_prefill_kernel_equals_row_kernel(variant, t, n):
    """The batched kernel gives each (row, token) the same bits as the decode row kernel."""
    r = rng(n * 7 + t)
    rows, ntok = 7, 6
    w = r.standard_normal((rows, n)).astype(np.float32) * 0.05
    wb = quantize_weights(w, t)
    xs = [activation(r.standard_normal(n).astype(np.float32), t, variant) for _ in range(ntok)]
    got = from_bytes(core._llm_k_gemm(variant, t, wb, rows, n, b"".join(xs), ntok)).reshape(ntok, rows)
    for i, xb in enumerate(xs):
        want = from_bytes(core._llm_k_dotrows(variant, t, wb, rows, n, xb))
        assert np.array_equal(got[i], want)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [Q4_0, Q4_1, Q8_0])
def test_row_kernel_very_long_rows(variant, t):
    """Past 32768 columns the AVX-512 kernels hand over to the AVX2 ones: same bits."""
    n, rows = 32 * 1025, 3
    r = rng(t)
    wb = quantize_weights(r.standard_normal((rows, n)).astype(np.float32) * 0.05, t)
    xb = activation(r.standard_normal(n).astype(np.float32), t, variant)
    got = from_bytes(core._llm_k_dotrows(variant, t, wb, rows, n, xb))
    assert np.array_equal(got, from_bytes(core._llm_k_dotrows(REF, t, wb, rows, n, xb)))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n", [32 * 512, 32 * 513])
def test_prefill_kernel_long_rows(variant, n):
    """Rows past the AVX-512 kernel's prepared-scale limit fall back to the row kernel's bits."""
    r = rng(n)
    rows, ntok = 3, 9
    wb = quantize_weights(r.standard_normal((rows, n)).astype(np.float32) * 0.05, Q4_1)
    xs = [activation(r.standard_normal(n).astype(np.float32), Q4_1, variant) for _ in range(ntok)]
    got = from_bytes(core._llm_k_gemm(variant, Q4_1, wb, rows, n, b"".join(xs), ntok)).reshape(ntok, rows)
    for i, xb in enumerate(xs):
        assert np.array_equal(got[i], from_bytes(core._llm_k_dotrows(variant, Q4_1, wb, rows, n, xb)))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [F32, F16])
@pytest.mark.parametrize("n", [1, 7, 15, 17, 33, 100])
def test_float_dot_odd_lengths(variant, t, n):
    r = rng(n)
    w = r.standard_normal((3, n)).astype(np.float32)
    x = r.standard_normal(n).astype(np.float32)
    wb = quantize_weights(w, t)
    xb = activation(x, t, variant)
    got = from_bytes(core._llm_k_dotrows(variant, t, wb, 3, n, xb))
    want = expected_dot(wb, t, xb, 3, n)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_quantized_matvec_close_to_float_matvec(variant):
    """End to end: Q8_0 weights x quantized activations stays within quantization error."""
    r = rng(7)
    w = r.standard_normal((64, 576)).astype(np.float32) * 0.02
    x = r.standard_normal(576).astype(np.float32)
    for t, tol in ((Q8_0, 0.01), (Q4_1, 0.1), (Q4_0, 0.12)):
        wb = quantize_weights(w, t)
        got = from_bytes(core._llm_k_dotrows(variant, t, wb, 64, 576, activation(x, t, variant)))
        want = w.astype(np.float64) @ x
        nmse = np.sum((got - want) ** 2) / np.sum(want ** 2)
        assert nmse < tol ** 2, (t, nmse)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n", [8, 576, 1000])
def test_rms_norm(variant, n):
    r = rng(n)
    x = r.standard_normal(n).astype(np.float32)
    w = r.standard_normal(n).astype(np.float32)
    got = from_bytes(core._llm_k_rms_norm(variant, f32(x), f32(w), 1e-5))
    assert np.array_equal(got, from_bytes(core._llm_k_rms_norm(REF, f32(x), f32(w), 1e-5)))
    xd = x.astype(np.float64)
    want = xd / np.sqrt(np.mean(xd * xd) + 1e-5) * w
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n", [1, 5, 16, 17, 300])
def test_softmax(variant, n):
    x = rng(n).standard_normal(n).astype(np.float32) * 10
    if n > 3:
        x[2] = -np.inf  # masked position
    got = from_bytes(core._llm_k_softmax(variant, f32(x)))
    assert np.array_equal(got, from_bytes(core._llm_k_softmax(REF, f32(x))))
    xd = x.astype(np.float64)
    e = np.exp(xd - xd.max())
    np.testing.assert_allclose(got, e / e.sum(), rtol=3e-6, atol=1e-9)
    assert abs(got.astype(np.float64).sum() - 1.0) < 1e-5


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n", [3, 64, 1536])
def test_swiglu(variant, n):
    r = rng(n)
    g = (r.standard_normal(n) * 8).astype(np.float32)
    g[0] = -100.0
    u = r.standard_normal(n).astype(np.float32)
    got = from_bytes(core._llm_k_swiglu(variant, f32(g), f32(u)))
    assert np.array_equal(got, from_bytes(core._llm_k_swiglu(REF, f32(g), f32(u))))
    gd = g.astype(np.float64)
    want = gd / (1 + np.exp(-gd)) * u
    np.testing.assert_allclose(got, want, rtol=3e-6, atol=1e-12)


def rope_numpy(x, n_heads, head_dim, n_rot, pos, base):
    """ggml's rope (normal mode): theta_i by repeated float32 multiplication, pairs (2i, 2i+1)."""
    out = x.astype(np.float64).reshape(n_heads, head_dim).copy()
    theta_scale = np.float32(np.float32(base) ** np.float32(-2.0 / n_rot))
    theta = np.float32(pos)
    for i in range(0, n_rot, 2):
        c, s = np.cos(np.float64(theta)), np.sin(np.float64(theta))
        x0, x1 = out[:, i].copy(), out[:, i + 1].copy()
        out[:, i] = x0 * c - x1 * s
        out[:, i + 1] = x0 * s + x1 * c
        theta = np.float32(theta * theta_scale)
    return out.reshape(-1)


@pytest.mark.parametrize("pos", [0, 1, 17, 300])
@pytest.mark.parametrize("n_rot", [64, 32])
def test_rope_normal_mode(pos, n_rot):
    x = rng(pos).standard_normal(3 * 64).astype(np.float32)
    got = from_bytes(core._llm_k_rope(f32(x), 3, 64, n_rot, float(pos), 100000.0))
    want = rope_numpy(x, 3, 64, n_rot, pos, 100000.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)
    if pos == 0:
        assert np.array_equal(got, x)
    # dimensions past n_rot are left alone
    assert np.array_equal(got.reshape(3, 64)[:, n_rot:], x.reshape(3, 64)[:, n_rot:])


def test_rope_preserves_pair_norms():
    x = rng(9).standard_normal(2 * 16).astype(np.float32)
    got = from_bytes(core._llm_k_rope(f32(x), 2, 16, 16, 123.0, 10000.0)).reshape(-1, 2)
    np.testing.assert_allclose(np.hypot(got[:, 0], got[:, 1]),
                               np.hypot(*x.reshape(-1, 2).T.astype(np.float64)), rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, width=32), min_size=32, max_size=32),
       st.sampled_from(VARIANTS))
def test_q8_roundtrip_error_bound(vals, variant):
    x = np.array(vals, np.float32)
    b = core._llm_k_from_float(variant, Q8_0, f32(x))
    assert b == q8_numpy(x, with_sum=False)
    back = from_bytes(core._llm_k_to_float(variant, Q8_0, b, 32)).astype(np.float64)
    amax = float(np.abs(x).max())
    d32 = float(np.float32(amax) / np.float32(127))
    d = float(np.float16(d32))
    # q is rounded with the float32 scale but read back with its half-precision copy, so the
    # error is half a step plus 127 times the scale's fp16 rounding (large when d is subnormal
    # in half precision); when d underflows to zero the block reads back as zeros (as in ggml)
    bound = d32 * 0.5 + 127 * abs(d - d32) + amax * 1e-3 + (amax if d == 0.0 else 0.0)
    assert np.all(np.abs(back - x) <= bound)


# ---- llama.cpp's own kernels (libggml-cpu), from scripts/gen_llama_reference.py ----

GGML = json.loads((pathlib.Path(__file__).parent / "vectors" / "smollm2_llamacpp_greedy.json")
                  .read_text(encoding="utf-8"))["ggml_kernels"]
TYPE_IDS = {"F32": F32, "F16": F16, "Q4_0": Q4_0, "Q4_1": Q4_1, "Q8_0": Q8_0}


def det_floats(n, seed, scale):
    """The generator's deterministic inputs (integer arithmetic only)."""
    i = np.arange(n, dtype=np.int64)
    v = (i * 2654435761 + seed * 40503) % 20011 - 10005
    return (v.astype(np.float64) * (scale / 10005.0)).astype(np.float32)


def det_bytes(n, seed):
    i = np.arange(n, dtype=np.int64)
    return (((i * 2246822519 + seed * 3266489917) >> 11) & 0xFF).astype(np.uint8)


def det_weights(t, rows, n):
    if t == "F32":
        return det_floats(rows * n, 11, 0.2).tobytes()
    if t == "F16":
        return det_floats(rows * n, 12, 0.2).astype(np.float16).tobytes()
    nb = rows * n // 32
    d = (np.abs(det_floats(nb, 13, 0.01)) + np.float32(1e-3)).astype(np.float16).view(np.uint8)
    d = d.reshape(nb, 2)
    if t == "Q4_1":
        m = det_floats(nb, 14, 0.05).astype(np.float16).view(np.uint8).reshape(nb, 2)
        return np.concatenate([d, m, det_bytes(nb * 16, 15).reshape(nb, 16)], axis=1).tobytes()
    if t == "Q4_0":
        return np.concatenate([d, det_bytes(nb * 16, 16).reshape(nb, 16)], axis=1).tobytes()
    qs = (det_bytes(nb * 32, 17).astype(np.int16) % 255 - 127).astype(np.int8).view(np.uint8)
    return np.concatenate([d, qs.reshape(nb, 32)], axis=1).tobytes()


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.mark.parametrize("variant", VARIANTS)
def test_activation_quantization_is_ggmls(variant):
    for dt, v in GGML["quantize"].items():
        got = core._llm_k_from_float(variant, Q8_0 if dt == "Q8_0" else Q8_1,
                                     f32(det_floats(v["n"], 1, 4.0)))
        assert sha(got) == v["sha256"], dt


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", GGML["dot"], ids=lambda c: f"{c['type']}-{c['n']}")
def test_dot_products_are_ggmls(variant, case):
    """ggml_vec_dot_* of llama.cpp's one-token path, bit for bit."""
    t, rows, n = TYPE_IDS[case["type"]], case["rows"], case["n"]
    x = det_floats(n, 2, 3.0)
    if t == F16:
        xb = x.astype(np.float16).tobytes()
    elif t == F32:
        xb = f32(x)
    else:
        xb = core._llm_k_from_float(variant, DOT_TYPE[t], f32(x))
    got = from_bytes(core._llm_k_dotrows(variant, t, det_weights(case["type"], rows, n), rows, n, xb))
    want = np.array([float.fromhex(h) for h in case["out"]], np.float32)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("variant", VARIANTS)
def test_softmax_is_ggmls(variant):
    """ggml_vec_soft_max_f32 over llama.cpp's padded length (-inf past the real entries)."""
    v = GGML["softmax"]
    got = core._llm_k_softmax(variant, f32(det_floats(256, 3, 12.0)[:v["n"]]))
    assert sha(got) == v["sha256"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_swiglu_is_ggmls(variant):
    v = GGML["swiglu"]
    got = core._llm_k_swiglu(variant, f32(det_floats(v["n"], 4, 9.0)), f32(det_floats(v["n"], 5, 2.0)))
    assert sha(got) == v["sha256"]


@pytest.mark.parametrize("t", [F32, F16])
def test_float_dot_lane_orders(t):
    """The two summation orders, spelled out in NumPy: llama.cpp's one-token path (ggml_vec_dot:
    element e in lane e % 16 of accumulator (e / 16) % 4, accumulators (0+2)+(1+3)) and its batch
    path (tinyBLAS: one 16-lane accumulator), each reduced as _mm512_reduce_add_ps."""
    n, rows = 200, 3
    r = rng(t + 40)
    w = r.standard_normal((rows, n)).astype(np.float32)
    x = r.standard_normal(n).astype(np.float32)
    if t == F16:
        w, x = w.astype(np.float16).astype(np.float32), x.astype(np.float16).astype(np.float32)
    wb = quantize_weights(w, t)
    xb = activation(x, t)

    def fma(a, b, c):  # one rounding: exact in float64 for F16 inputs; longdouble for F32
        return np.float32(np.longdouble(a) * np.longdouble(b) + np.longdouble(c))

    def reduce16(a):
        t8 = [np.float32(a[i] + a[i + 8]) for i in range(8)]
        r4 = [np.float32(t8[i] + t8[i + 4]) for i in range(4)]
        return np.float32(np.float32(r4[0] + r4[2]) + np.float32(r4[1] + r4[3]))

    for row in range(rows):
        acc = np.zeros((4, 16), np.float32)
        one = np.zeros(16, np.float32)
        for e in range(n):
            acc[(e // 16) % 4, e % 16] = fma(w[row, e], x[e], acc[(e // 16) % 4, e % 16])
            one[e % 16] = fma(w[row, e], x[e], one[e % 16])
        tot = np.array([np.float32(np.float32(acc[0, i] + acc[2, i]) + np.float32(acc[1, i] + acc[3, i]))
                        for i in range(16)], np.float32)
        got = from_bytes(core._llm_k_dotrows(REF, t, wb, rows, n, xb))[row]
        got_batch = from_bytes(core._llm_k_dotrows(REF, t, wb, rows, n, xb, True))[row]
        assert got == reduce16(tot) and got_batch == reduce16(one)


# ---- named negative tests ----

def test_unknown_type_is_refused():
    with pytest.raises(errors.UnsupportedError):
        core._llm_k_from_float(REF, 5, f32(np.zeros(32)))
    with pytest.raises(errors.UnsupportedError):
        core._llm_k_dotrows(REF, 42, b"\0" * 64, 1, 32, b"\0" * 64)


def test_unknown_variant_is_refused():
    with pytest.raises(errors.UnsupportedError):
        core._llm_k_softmax(7, f32(np.zeros(4)))


def test_partial_block_is_refused():
    with pytest.raises(errors.InvalidArgument):
        core._llm_k_from_float(REF, Q8_0, f32(np.zeros(33)))


def test_short_weights_are_refused():
    with pytest.raises(errors.InvalidArgument):
        core._llm_k_dotrows(REF, Q4_1, b"\0" * 39, 2, 32, b"\0" * 36)


def test_no_from_float_for_weight_only_types():
    with pytest.raises(errors.UnsupportedError):
        core._llm_k_from_float(REF, Q4_1, f32(np.zeros(32)))


def test_rope_bad_sizes():
    with pytest.raises(errors.InvalidArgument):
        core._llm_k_rope(f32(np.zeros(64)), 1, 64, 63, 0.0, 10000.0)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [F32, F16])
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("rows,n,nx", [(1, 64, 1), (16, 64, 3), (32, 64, 7), (33, 1, 2), (5, 17, 4),
                                       (17, 100, 5), (16, 2049, 3), (3, 6000, 3), (2, 130, 8)])
def test_multi_vector_rows_equal_row_kernel(variant, t, batch, rows, n, nx):
    """The attention kernel (rows x the query heads of a group, 16 row sums reduced side by side)
    gives each (vector, row) the bits of the one-vector row kernel, in both summation orders,
    for every tail length and vector count (and past its stack buffer, where it loops)."""
    r = rng(rows * 31 + n + nx)
    wb = quantize_weights(r.standard_normal((rows, n)).astype(np.float32), t)
    xs = [activation(r.standard_normal(n).astype(np.float32), t, variant) for _ in range(nx)]
    got = from_bytes(core._llm_k_dotrows_multi(variant, t, wb, rows, n, b"".join(xs), nx, batch))
    got = got.reshape(nx, rows)
    for j, xb in enumerate(xs):
        want = from_bytes(core._llm_k_dotrows(variant, t, wb, rows, n, xb, batch))
        assert np.array_equal(got[j], want)
        assert np.array_equal(got[j], from_bytes(core._llm_k_dotrows(REF, t, wb, rows, n, xb, batch)))


def test_multi_vector_rows_bad_sizes():
    """Fewer vector bytes than nx vectors: refused before any kernel reads them."""
    with pytest.raises(errors.InvalidArgument):
        core._llm_k_dotrows_multi(REF, F16, b"\0" * 16, 2, 4, b"\0" * 16, 3)
