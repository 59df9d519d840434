/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ) + VNNI kernels, enabled per function with a target
 * pragma; used only after __builtin_cpu_supports confirmed every feature. Quantized dot products
 * take two 32-element blocks per 512-bit register and multiply u8 x s8 with vpdpbusd. */
#include "kernels_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <math.h>

#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline float hsum8(__m256 x)
{
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

static inline float hsum16(__m512 x)
{
    return hsum8(_mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1)));
}

/* 16 + 16 packed nibbles of two blocks -> 64 bytes in [0, 15], each block in ggml element order. */
static inline __m512i nibbles64(const uint8_t *q0, const uint8_t *q1)
{
    const __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)q0)),
                                              _mm_loadu_si128((const __m128i *)q1), 1);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1);
    v = _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

static inline __m256i nibbles32(const uint8_t *q)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)q);
    const __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

static inline __m512i load2x32(const int8_t *a, const int8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

static inline __m512 scale2(float a, float b)
{
    return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

/* exp(x) for 16 lanes (same method as the AVX2 variant). */
static inline __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33654f)), _mm512_set1_ps(88.3762626647949f));
    const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* ---- dot products ---- */

static inline float dot_f32_1(size_t n, const float *w, const float *x)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), _mm512_loadu_ps(x + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), _mm512_loadu_ps(x + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, x + i), a1);
    }
    return hsum16(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static inline float dot_f16_1(size_t n, const uint16_t *w, const uint16_t *x)
{
#define LDH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(LDH(w + i), LDH(x + i), a0);
        a1 = _mm512_fmadd_ps(LDH(w + i + 16), LDH(x + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(LDH(w + i), LDH(x + i), a0);
#undef LDH
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + i));
        const __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i));
        a1 = _mm512_fmadd_ps(wv, xv, a1);
    }
    return hsum16(_mm512_add_ps(a0, a1));
}

static inline float dot_q4_1_1(size_t nb, const pcc_block_q4_1 *w, const pcc_block_q8_1 *x)
{
    __m512 acc = _mm512_setzero_ps();
    float summs = 0.0f;
    size_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m512i qw = nibbles64(w[i].qs, w[i + 1].qs);
        const __m512i qx = load2x32(x[i].qs, x[i + 1].qs);
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qw, qx);
        const __m512 d = scale2(h2f(w[i].d) * h2f(x[i].d), h2f(w[i + 1].d) * h2f(x[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
        summs += h2f(w[i].m) * h2f(x[i].s) + h2f(w[i + 1].m) * h2f(x[i + 1].s);
    }
    float s = hsum16(acc);
    if (i < nb) {
        const __m256i qw = nibbles32(w[i].qs);
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), qw, qx);
        s += h2f(w[i].d) * h2f(x[i].d) * hsum8(_mm256_cvtepi32_ps(p));
        summs += h2f(w[i].m) * h2f(x[i].s);
    }
    return s + summs;
}

static inline float dot_q4_0_1(size_t nb, const pcc_block_q4_0 *w, const pcc_block_q8_0 *x)
{
    __m512 acc = _mm512_setzero_ps();
    const __m512i eight = _mm512_set1_epi8(8);
    size_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m512i qw = nibbles64(w[i].qs, w[i + 1].qs);
        const __m512i qx = load2x32(x[i].qs, x[i + 1].qs);
        /* sum (q - 8) * y = sum q*y - 8 * sum y */
        const __m512i p = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), qw, qx),
                                           _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, qx));
        const __m512 d = scale2(h2f(w[i].d) * h2f(x[i].d), h2f(w[i + 1].d) * h2f(x[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    float s = hsum16(acc);
    if (i < nb) {
        const __m256i qw = nibbles32(w[i].qs);
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i p = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), qw, qx),
                                           _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), qx));
        s += h2f(w[i].d) * h2f(x[i].d) * hsum8(_mm256_cvtepi32_ps(p));
    }
    return s;
}

static inline float dot_q8_0_1(size_t nb, const pcc_block_q8_0 *w, const pcc_block_q8_0 *x)
{
    __m512 acc = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m512i qw = load2x32(w[i].qs, w[i + 1].qs);
        const __m512i qx = load2x32(x[i].qs, x[i + 1].qs);
        /* signed x signed through u8 x s8: |w| * (y with w's sign) */
        const __mmask64 neg = _mm512_movepi8_mask(qw);
        const __m512i sy = _mm512_mask_sub_epi8(qx, neg, _mm512_setzero_si512(), qx);
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qw), sy);
        const __m512 d = scale2(h2f(w[i].d) * h2f(x[i].d), h2f(w[i + 1].d) * h2f(x[i + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    }
    float s = hsum16(acc);
    if (i < nb) {
        const __m256i qw = _mm256_loadu_si256((const __m256i *)w[i].qs);
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(qw, qw),
                                              _mm256_sign_epi8(qx, qw));
        s += h2f(w[i].d) * h2f(x[i].d) * hsum8(_mm256_cvtepi32_ps(p));
    }
    return s;
}

static void dot_f32(size_t n, float *s, const void *w, const void *x) { *s = dot_f32_1(n, w, x); }
static void dot_f16(size_t n, float *s, const void *w, const void *x) { *s = dot_f16_1(n, w, x); }
static void dot_q4_0(size_t n, float *s, const void *w, const void *x) { *s = dot_q4_0_1(n / PCC_QK, w, x); }
static void dot_q4_1(size_t n, float *s, const void *w, const void *x) { *s = dot_q4_1_1(n / PCC_QK, w, x); }
static void dot_q8_0(size_t n, float *s, const void *w, const void *x) { *s = dot_q8_0_1(n / PCC_QK, w, x); }

#define DOTROWS(name, fn, wt, arg)                                                              \
    static void name(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)  \
    {                                                                                          \
        for (size_t r = 0; r < nr; r++)                                                        \
            s[r] = fn(arg, (const wt *)((const uint8_t *)w + r * ws), x);                      \
    }
DOTROWS(dotrows_f32, dot_f32_1, float, n)
DOTROWS(dotrows_f16, dot_f16_1, uint16_t, n)
DOTROWS(dotrows_q4_0, dot_q4_0_1, pcc_block_q4_0, n / PCC_QK)
DOTROWS(dotrows_q4_1, dot_q4_1_1, pcc_block_q4_1, n / PCC_QK)
DOTROWS(dotrows_q8_0, dot_q8_0_1, pcc_block_q8_0, n / PCC_QK)

/* ---- element-wise ---- */

static void softmax(float *x, size_t n)
{
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
    float max = _mm512_reduce_max_ps(vmax);
    for (; i < n; i++)
        max = x[i] > max ? x[i] : max;
    const __m512 vm = _mm512_set1_ps(max);
    __m512 acc = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
        _mm512_storeu_ps(x + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    double sum = (double)hsum16(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    const __m512 vinv = _mm512_set1_ps(inv);
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), vinv));
    for (; i < n; i++)
        x[i] *= inv;
}

static void swiglu(float *o, const float *g, const float *u, size_t n)
{
    size_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        const __m512 gv = _mm512_loadu_ps(g + i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), gv));
        const __m512 si = _mm512_div_ps(gv, _mm512_add_ps(one, e));
        _mm512_storeu_ps(o + i, _mm512_mul_ps(si, _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

void pcc_kernels_fill_avx512(pcc_kernels *k)
{
    k->variant = PCC_KV_AVX512;
    k->name = "avx512";
    pcc_type_traits *t = k->types;
    t[PCC_DT_F32].dot = dot_f32;
    t[PCC_DT_F32].dotrows = dotrows_f32;
    t[PCC_DT_F16].dot = dot_f16;
    t[PCC_DT_F16].dotrows = dotrows_f16;
    t[PCC_DT_Q4_0].dot = dot_q4_0;
    t[PCC_DT_Q4_0].dotrows = dotrows_q4_0;
    t[PCC_DT_Q4_1].dot = dot_q4_1;
    t[PCC_DT_Q4_1].dotrows = dotrows_q4_1;
    t[PCC_DT_Q8_0].dot = dot_q8_0;
    t[PCC_DT_Q8_0].dotrows = dotrows_q8_0;
    k->softmax = softmax;
    k->swiglu = swiglu;
}

#else
void pcc_kernels_fill_avx512(pcc_kernels *k) { (void)k; }
#endif
