"""Kernels of the 5-bit and K-quant weight types (Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) and of the Q8_K
activation type: dequantization against the `gguf` package's own NumPy dequantizer (an
independent reference), dot products against exact float64 sums from the raw blocks, every SIMD
variant against the scalar reference bit for bit.

Q5_0/Q5_1 weights come from gguf's quantizer; the K-quants from the plain quantizer in
tests/llm_tiny.py (gguf-py has none) and from random blocks, which reach every bit pattern.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pcc._core as core
from pcc import errors

gguf = pytest.importorskip("gguf")
from gguf import quants  # noqa: E402

import llm_tiny as T  # noqa: E402

Q8_0, Q8_1, Q8_K = 8, 9, 15
NEW = [T.Q5_0, T.Q5_1, T.Q4_K, T.Q5_K, T.Q6_K]
DOT_TYPE = {T.Q5_0: Q8_0, T.Q5_1: Q8_1, T.Q4_K: Q8_K, T.Q5_K: Q8_K, T.Q6_K: Q8_K}
BLOCK = {T.Q5_0: (32, 22), T.Q5_1: (32, 24), T.Q4_K: (256, 144), T.Q5_K: (256, 176),
         T.Q6_K: (256, 210)}
VARIANTS = core._llm_k_variants()
REF = 0
IDS = lambda t: T.TYPE_NAMES[t]  # noqa: E731


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32).tobytes()


def from_bytes(b):
    return np.frombuffer(b, dtype=np.float32)


def _half_bytes(v):
    return np.asarray(v, np.float16).reshape(-1, 1).view(np.uint8)


def random_blocks(t, rows, n, seed):
    """Random raw blocks (every quant bit pattern) with scales in a sane range."""
    r = np.random.default_rng(seed)
    blk, nbytes = BLOCK[t]
    raw = r.integers(0, 256, (rows * (n // blk), nbytes), dtype=np.uint8)
    k = raw.shape[0]
    if t in (T.Q5_0, T.Q5_1, T.Q4_K, T.Q5_K):
        raw[:, 0:2] = _half_bytes(r.uniform(0.0005, 0.01, k))
    if t in (T.Q5_1, T.Q4_K, T.Q5_K):
        raw[:, 2:4] = _half_bytes(r.uniform(0.0005, 0.01, k))
    if t == T.Q6_K:
        raw[:, 208:210] = _half_bytes(r.uniform(0.0001, 0.001, k))
    return raw.reshape(rows, -1)


def quantized(t, w):
    w = w.astype(np.float32)
    return T.kquantize(w, t) if t in T.K_TYPES else quants.quantize(w, T.QTYPES[t])


def gguf_dequant(raw, t):
    return quants.dequantize(np.asarray(raw, np.uint8), T.QTYPES[t]).astype(np.float64)


def weights(t, rows, n, seed, kind):
    if kind == "random":
        return random_blocks(t, rows, n, seed)
    w = np.random.default_rng(seed).standard_normal((rows, n)) * 0.05
    return quantized(t, w)


def activation(x, t, variant=REF):
    return core._llm_k_from_float(variant, DOT_TYPE[t], f32(x))


def act_exact(xb, t, n):
    """The quantized activation as exact float64 values (and Q8_1's stored sums s)."""
    raw = np.frombuffer(xb, np.uint8)
    if DOT_TYPE[t] == Q8_K:
        b = raw.reshape(n // 256, 292)
        d = b[:, 0:4].copy().view(np.float32).astype(np.float64)
        q = b[:, 4:260].view(np.int8).astype(np.float64)
        return (d * q).reshape(-1), None
    b = raw.reshape(n // 32, -1)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float64)
    off = 4 if DOT_TYPE[t] == Q8_1 else 2
    q = b[:, off:].view(np.int8).astype(np.float64)
    s = b[:, 2:4].copy().view(np.float16).astype(np.float64)[:, 0] if off == 4 else None
    return (d * q).reshape(-1), s


def expected_dot(raw, t, xb, rows, n):
    """Exact float64 products of the dequantized weights with the quantized activation. Q5_1
    uses the activation's stored sum s (as ggml does: m * s, with s rounded to half)."""
    x, s = act_exact(xb, t, n)
    w = gguf_dequant(raw, t).reshape(rows, n)
    if t != T.Q5_1:
        return w @ x
    b = np.asarray(raw, np.uint8).reshape(rows, n // 32, 24)
    m = b[:, :, 2:4].copy().view(np.float16).astype(np.float64)[:, :, 0]
    return (w - np.repeat(m, 32, axis=1)) @ x + m @ s


# ---- dequantization -------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", NEW, ids=IDS)
@pytest.mark.parametrize("kind", ["quantized", "random"])
def test_dequantize_matches_gguf(variant, t, kind):
    n = 512
    raw = weights(t, 3, n, 11 + t, kind)
    got = from_bytes(core._llm_k_to_float(variant, t, raw.tobytes(), 3 * n)).reshape(3, n)
    assert np.array_equal(got, from_bytes(core._llm_k_to_float(REF, t, raw.tobytes(), 3 * n)).reshape(3, n))
    want = gguf_dequant(raw, t).reshape(3, n)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("t", T.K_TYPES, ids=IDS)
def test_test_quantizer_round_trips_through_gguf(t):
    """The tests' K-quantizer writes blocks that gguf's dequantizer reads back close to the input
    (so the tiny K-quant models carry the weights they claim)."""
    w = np.random.default_rng(t).standard_normal((4, 512)) * 0.05
    back = gguf_dequant(T.kquantize(w, t), t).reshape(w.shape)
    bound = {T.Q4_K: 0.01, T.Q5_K: 0.003, T.Q6_K: 0.001}[t]
    assert np.sum((back - w) ** 2) / np.sum(w ** 2) < bound


# ---- Q8_K activations -----------------------------------------------------------------------

def q8_k_numpy(x):
    """ggml's quantize_row_q8_K_ref in NumPy."""
    out = bytearray()
    for blk in x.astype(np.float32).reshape(-1, 256):
        i = int(np.argmax(np.abs(blk)))          # first index of the largest magnitude
        mx = blk[i]
        with np.errstate(over="ignore", divide="ignore"):
            iscale = np.float32(np.float32(-127.0) / mx) if mx != 0 else np.float32(0)
        if not np.isfinite(iscale) or iscale == 0:   # zero, or too tiny to scale: all zero
            out += bytes(292)
            continue
        q = np.minimum(np.rint(iscale * blk), 127).astype(np.int8)
        out += np.float32(np.float32(1.0) / iscale).tobytes() + q.tobytes()
        out += q.astype(np.int16).reshape(16, 16).sum(axis=1).astype(np.int16).tobytes()
    return bytes(out)


@pytest.mark.parametrize("variant", VARIANTS)
def test_q8_k_quantization_is_ggmls(variant):
    r = np.random.default_rng(5)
    for x in (r.standard_normal(1024), r.standard_normal(512) * 1e-3, np.zeros(256),
              np.full(256, 1e-39, np.float32),
              np.concatenate([np.full(256, -2.5), np.linspace(-1, 1, 256)]),
              np.concatenate([np.linspace(-3, 3, 255), [3.0]]), np.r_[np.zeros(255), -1e-3],
              np.r_[np.full(255, 0.5), np.inf], np.r_[np.arange(255) / 255, 1e38]):
        got = core._llm_k_from_float(variant, Q8_K, f32(x))
        assert got == q8_k_numpy(x)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, width=32), min_size=256, max_size=256))
def test_q8_k_error_bound(vals):
    x = np.array(vals, np.float32)
    b = core._llm_k_from_float(REF, Q8_K, f32(x))
    assert b == q8_k_numpy(x)
    for v in VARIANTS:
        assert core._llm_k_from_float(v, Q8_K, f32(x)) == b
    back = from_bytes(core._llm_k_to_float(REF, Q8_K, b, 256)).astype(np.float64)
    amax = np.abs(x).max()
    assert np.all(np.abs(back - x) <= amax / 127 * 0.5 * (1 + 1e-5) + 1e-30)


# ---- dot products ---------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", NEW, ids=IDS)
@pytest.mark.parametrize("kind", ["quantized", "random"])
@pytest.mark.parametrize("nblk", [1, 3, 8])
def test_dot_products_vs_exact_and_reference(variant, t, kind, nblk):
    n = 256 * nblk
    rows = 7
    raw = weights(t, rows, n, 100 * nblk + t, kind)
    wb = raw.tobytes()
    x = np.random.default_rng(nblk + t).standard_normal(n).astype(np.float32)
    xb = activation(x, t, variant)
    assert xb == activation(x, t, REF)
    want = expected_dot(raw, t, xb, rows, n)
    scale = np.abs(gguf_dequant(raw, t).reshape(rows, n)) @ np.abs(act_exact(xb, t, n)[0])
    got = from_bytes(core._llm_k_dotrows(variant, t, wb, rows, n, xb))
    assert np.all(np.abs(got - want) <= 2e-6 * scale + 1e-6), (got, want)
    assert np.array_equal(got, from_bytes(core._llm_k_dotrows(REF, t, wb, rows, n, xb)))
    row_bytes = len(wb) // rows
    for i in range(rows):  # the single-row kernel gives the multi-row kernel's bits
        one = from_bytes(core._llm_k_dotrows(variant, t, wb[i * row_bytes:(i + 1) * row_bytes], 0, n, xb))
        assert one[0] == got[i]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", NEW, ids=IDS)
def test_prefill_kernel_equals_row_kernel(variant, t):
    n, rows, ntok = 768, 9, 11
    raw = weights(t, rows, n, 7 * t, "quantized")
    r = np.random.default_rng(t)
    xs = [activation(r.standard_normal(n).astype(np.float32), t, variant) for _ in range(ntok)]
    got = from_bytes(core._llm_k_gemm(variant, t, raw.tobytes(), rows, n, b"".join(xs), ntok))
    got = got.reshape(ntok, rows)
    for i, xb in enumerate(xs):
        assert np.array_equal(got[i], from_bytes(core._llm_k_dotrows(variant, t, raw.tobytes(), rows, n, xb)))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", NEW, ids=IDS)
def test_very_long_rows(variant, t):
    """Rows past the SIMD kernels' prepared-scale limits give the reference's bits."""
    n, rows = 256 * 130, 3
    raw = weights(t, rows, n, 3, "random")
    xb = activation(np.random.default_rng(1).standard_normal(n).astype(np.float32), t, variant)
    got = from_bytes(core._llm_k_dotrows(variant, t, raw.tobytes(), rows, n, xb))
    assert np.array_equal(got, from_bytes(core._llm_k_dotrows(REF, t, raw.tobytes(), rows, n, xb)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_quantized_matvec_close_to_float_matvec(variant):
    """End to end, weights and activations quantized: within each type's quantization error."""
    r = np.random.default_rng(7)
    w = r.standard_normal((64, 768)).astype(np.float32) * 0.02
    x = r.standard_normal(768).astype(np.float32)
    want = w.astype(np.float64) @ x
    for t, tol in ((T.Q5_0, 0.06), (T.Q5_1, 0.06), (T.Q4_K, 0.12), (T.Q5_K, 0.06), (T.Q6_K, 0.03)):
        wb = quantized(t, w).tobytes()
        got = from_bytes(core._llm_k_dotrows(variant, t, wb, 64, 768, activation(x, t, variant)))
        assert np.sum((got - want) ** 2) / np.sum(want ** 2) < tol ** 2, T.TYPE_NAMES[t]


# ---- refusals -------------------------------------------------------------------------------

@pytest.mark.parametrize("t", T.K_TYPES, ids=IDS)
def test_k_quant_partial_super_block_is_refused(t):
    with pytest.raises(errors.InvalidArgument):
        core._llm_k_to_float(REF, t, b"\0" * BLOCK[t][1], 288)


def test_q8_k_partial_block_is_refused():
    with pytest.raises(errors.InvalidArgument):
        core._llm_k_from_float(REF, Q8_K, f32(np.zeros(288)))


@pytest.mark.parametrize("t", NEW, ids=IDS)
def test_weight_types_have_no_quantizer(t):
    with pytest.raises(errors.UnsupportedError):
        core._llm_k_from_float(REF, t, f32(np.zeros(256)))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [2, T.Q5_0, T.Q5_1, 8], ids=["Q4_0", "Q5_0", "Q5_1", "Q8_0"])
def test_prefill_kernel_long_rows(variant, t):
    """Rows past the prefill kernel's prepared-activation limit (8192 columns) keep its bits."""
    n, rows, ntok = 32 * 260, 3, 9
    w = np.random.default_rng(t).standard_normal((rows, n)).astype(np.float32) * 0.05
    wb = quants.quantize(w, T.QTYPES[t]).tobytes()
    r = np.random.default_rng(1)
    dt = {2: Q8_0, T.Q5_0: Q8_0, T.Q5_1: Q8_1, 8: Q8_0}[t]
    xs = [core._llm_k_from_float(variant, dt, f32(r.standard_normal(n))) for _ in range(ntok)]
    got = from_bytes(core._llm_k_gemm(variant, t, wb, rows, n, b"".join(xs), ntok)).reshape(ntok, rows)
    for i, xb in enumerate(xs):
        assert np.array_equal(got[i], from_bytes(core._llm_k_dotrows(REF, t, wb, rows, n, xb)))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [2, 3, T.Q5_0, T.Q5_1, 8], ids=["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"])
@pytest.mark.parametrize("rows,ntok,n", [(1, 1, 64), (2, 9, 96), (3, 33, 576), (5, 17, 1536),
                                         (13, 71, 576), (6, 40, 32 * 100), (9, 8, 32 * 256)])
def test_prefill_kernel_tiles(variant, t, rows, ntok, n):
    """The prefill kernel's tiles of 4 rows x 8 tokens and passes of up to 32 tokens (fewer for long
    rows): every row count mod 4, token counts across passes and short last groups, each (row,
    token) with the scalar row kernel's bits."""
    w = np.random.default_rng(rows * 100 + ntok).standard_normal((rows, n)).astype(np.float32) * 0.05
    wb = quants.quantize(w, T.QTYPES[t]).tobytes()
    r = np.random.default_rng(ntok)
    dt = {2: Q8_0, 3: Q8_1, T.Q5_0: Q8_0, T.Q5_1: Q8_1, 8: Q8_0}[t]
    xs = [core._llm_k_from_float(variant, dt, f32(r.standard_normal(n))) for _ in range(ntok)]
    got = from_bytes(core._llm_k_gemm(variant, t, wb, rows, n, b"".join(xs), ntok)).reshape(ntok, rows)
    for i, xb in enumerate(xs):
        assert np.array_equal(got[i], from_bytes(core._llm_k_dotrows(REF, t, wb, rows, n, xb)))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("t", [T.Q4_K, T.Q5_K, T.Q6_K], ids=IDS)
@pytest.mark.parametrize("rows,ntok,n", [(1, 1, 256), (2, 5, 256 * 64), (3, 6, 256 * 65)])
def test_k_prefill_kernel_unpacked_once_or_per_group(variant, t, rows, ntok, n):
    """Rows of up to 64 super-blocks are unpacked once for the whole batch, longer ones per group
    of tokens; a short last group repeats a token it does not store. Both give the row kernel's
    bits."""
    raw = weights(t, rows, n, 3 * t + ntok, "random")
    r = np.random.default_rng(ntok)
    xs = [activation(r.standard_normal(n).astype(np.float32), t, variant) for _ in range(ntok)]
    got = from_bytes(core._llm_k_gemm(variant, t, raw.tobytes(), rows, n, b"".join(xs), ntok)).reshape(ntok, rows)
    for i, xb in enumerate(xs):
        assert np.array_equal(got[i], from_bytes(core._llm_k_dotrows(REF, t, raw.tobytes(), rows, n, xb)))
