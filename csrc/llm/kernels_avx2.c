/* kernels_avx2.c: AVX2 + FMA + F16C kernels (enabled per function with a target pragma, so the
 * extension's global flags stay generic; called only after __builtin_cpu_supports says yes). */
#include "kernels_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <math.h>

#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

static inline float hsum8(__m256 x)
{
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

static inline int hsum_i32_8(__m256i a)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 32 nibbles -> 32 bytes in [0, 15]: low nibbles first, then high nibbles (ggml order). */
static inline __m256i nibbles32(const uint8_t *p)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* sum of u8 x s8 products, pairwise to 8 int32 lanes, as floats */
static inline __m256 mul_sum_us8(__m256i ax, __m256i sy)
{
    const __m256i dot = _mm256_maddubs_epi16(ax, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot));
}

static inline __m256 mul_sum_i8(__m256i x, __m256i y)
{
    return mul_sum_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* ggml_v_expf (see pcc_ggml_expf) for 8 lanes. AVX2 has no scalef, so 2^n is applied as two
 * exact power-of-two factors 2^floor(n/2) and 2^(n - floor(n/2)): j * 2^n rounds once, as
 * ggml's AVX-512 build rounds it. */
static inline __m256 ggml_exp8(__m256 x)
{
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 k1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 k2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    const __m256 res = _mm256_mul_ps(_mm256_mul_ps(j, k1), k2);
    const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    if (!_mm256_movemask_ps(big))
        return res;
    /* |n| > 192: 0 below, infinity above */
    const __m256 alt = _mm256_andnot_ps(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ),
                                        _mm256_set1_ps(INFINITY));
    return _mm256_blendv_ps(res, alt, big);
}

/* ---- conversions ---- */

static void f16_from_float(const float *x, void *vy, size_t n)
{
    uint16_t *y = vy;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

static void f16_to_float(const void *vx, float *y, size_t n)
{
    const uint16_t *x = vx;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        y[i] = h2f(x[i]);
}

/* One block of activation quantization; returns d, writes 32 int8 and the sum of the ints. */
static inline float q8_block(const float *x, int8_t *q, int *sum)
{
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
    m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f;
    const __m256 mul = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    enum { rnd = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }; /* a constant for clang */
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), rnd));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), rnd));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), rnd));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), rnd));
    *sum = hsum_i32_8(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    i0 = _mm256_packs_epi32(i0, i1);
    i2 = _mm256_packs_epi32(i2, i3);
    i0 = _mm256_packs_epi16(i0, i2);
    i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, i0);
    return d;
}

static void q8_0_from_float(const float *x, void *vy, size_t n)
{
    pcc_block_q8_0 *y = vy;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        int s;
        y[i].d = _cvtss_sh(q8_block(x + i * PCC_QK, y[i].qs, &s), _MM_FROUND_TO_NEAREST_INT);
    }
}

static void q8_1_from_float(const float *x, void *vy, size_t n)
{
    pcc_block_q8_1 *y = vy;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        int s;
        const float d = q8_block(x + i * PCC_QK, y[i].qs, &s);
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        y[i].s = _cvtss_sh(d * (float)s, _MM_FROUND_TO_NEAREST_INT);
    }
}

static void q4_0_to_float(const void *vx, float *y, size_t n)
{
    const pcc_block_q4_0 *x = vx;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d));
        const __m256i q = _mm256_sub_epi8(nibbles32(x[i].qs), _mm256_set1_epi8(8));
        const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        float *o = y + i * PCC_QK;
        _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
        _mm256_storeu_ps(o + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
        _mm256_storeu_ps(o + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
        _mm256_storeu_ps(o + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
    }
}

static void q4_1_to_float(const void *vx, float *y, size_t n)
{
    const pcc_block_q4_1 *x = vx;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d)), m = _mm256_set1_ps(h2f(x[i].m));
        const __m256i q = nibbles32(x[i].qs);
        const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        float *o = y + i * PCC_QK;
        _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), d, m));
        _mm256_storeu_ps(o + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), d, m));
        _mm256_storeu_ps(o + 16, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), d, m));
        _mm256_storeu_ps(o + 24, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), d, m));
    }
}

static void q8_0_to_float(const void *vx, float *y, size_t n)
{
    const pcc_block_q8_0 *x = vx;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d));
        float *o = y + i * PCC_QK;
        for (int j = 0; j < PCC_QK; j += 8) {
            const __m128i b = _mm_loadl_epi64((const __m128i *)(x[i].qs + j));
            _mm256_storeu_ps(o + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), d));
        }
    }
}

/* ---- dot products ---- */

/* Float dot products in ggml_vec_dot_f32/_f16's order on AVX-512 (see kernels.c): 4 accumulators
 * of 16 lanes, each held here as two 8-lane halves; a short tail counts as padded with zeros. */
#define LDH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

static inline float reduce4x16(__m256 a[4][2])
{
    const __m256 lo = _mm256_add_ps(_mm256_add_ps(a[0][0], a[2][0]), _mm256_add_ps(a[1][0], a[3][0]));
    const __m256 hi = _mm256_add_ps(_mm256_add_ps(a[0][1], a[2][1]), _mm256_add_ps(a[1][1], a[3][1]));
    return hsum8(_mm256_add_ps(lo, hi));
}

static inline float dot_f32_1(size_t n, const float *w, const float *x)
{
    __m256 a[4][2];
    for (int j = 0; j < 4; j++)
        a[j][0] = a[j][1] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 4; j++)
            for (int h = 0; h < 2; h++)
                a[j][h] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16 * j + 8 * h),
                                          _mm256_loadu_ps(x + i + 16 * j + 8 * h), a[j][h]);
    if (i < n) {
        float tw[64] = {0}, tx[64] = {0};
        memcpy(tw, w + i, (n - i) * sizeof(float));
        memcpy(tx, x + i, (n - i) * sizeof(float));
        for (int j = 0; j < 4; j++)
            for (int h = 0; h < 2; h++)
                a[j][h] = _mm256_fmadd_ps(_mm256_loadu_ps(tw + 16 * j + 8 * h),
                                          _mm256_loadu_ps(tx + 16 * j + 8 * h), a[j][h]);
    }
    return reduce4x16(a);
}

static inline float dot_f16_1(size_t n, const uint16_t *w, const uint16_t *x)
{
    __m256 a[4][2];
    for (int j = 0; j < 4; j++)
        a[j][0] = a[j][1] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 4; j++)
            for (int h = 0; h < 2; h++)
                a[j][h] = _mm256_fmadd_ps(LDH(w + i + 16 * j + 8 * h), LDH(x + i + 16 * j + 8 * h), a[j][h]);
    if (i < n) {
        uint16_t tw[64] = {0}, tx[64] = {0};
        memcpy(tw, w + i, (n - i) * sizeof(uint16_t));
        memcpy(tx, x + i, (n - i) * sizeof(uint16_t));
        for (int j = 0; j < 4; j++)
            for (int h = 0; h < 2; h++)
                a[j][h] = _mm256_fmadd_ps(LDH(tw + 16 * j + 8 * h), LDH(tx + 16 * j + 8 * h), a[j][h]);
    }
    return reduce4x16(a);
}

/* tinyBLAS's order (batches of 2+ tokens): one 16-lane accumulator. */
static inline float dot_f32_batch_1(size_t n, const float *w, const float *x)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), hi);
    }
    if (i < n) {
        float tw[16] = {0}, tx[16] = {0};
        memcpy(tw, w + i, (n - i) * sizeof(float));
        memcpy(tx, x + i, (n - i) * sizeof(float));
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(tw), _mm256_loadu_ps(tx), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(tw + 8), _mm256_loadu_ps(tx + 8), hi);
    }
    return hsum8(_mm256_add_ps(lo, hi));
}

static inline float dot_f16_batch_1(size_t n, const uint16_t *w, const uint16_t *x)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        lo = _mm256_fmadd_ps(LDH(w + i), LDH(x + i), lo);
        hi = _mm256_fmadd_ps(LDH(w + i + 8), LDH(x + i + 8), hi);
    }
    if (i < n) {
        uint16_t tw[16] = {0}, tx[16] = {0};
        memcpy(tw, w + i, (n - i) * sizeof(uint16_t));
        memcpy(tx, x + i, (n - i) * sizeof(uint16_t));
        lo = _mm256_fmadd_ps(LDH(tw), LDH(tx), lo);
        hi = _mm256_fmadd_ps(LDH(tw + 8), LDH(tx + 8), hi);
    }
    return hsum8(_mm256_add_ps(lo, hi));
}
#undef LDH

static inline float dot_q4_0_1(size_t nb, const pcc_block_q4_0 *w, const pcc_block_q8_0 *x)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(x[i].d));
        const __m256i qw = _mm256_sub_epi8(nibbles32(w[i].qs), _mm256_set1_epi8(8));
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, qx), acc);
    }
    return hsum8(acc);
}

static inline float dot_q4_1_1(size_t nb, const pcc_block_q4_1 *w, const pcc_block_q8_1 *x)
{
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        summs += h2f(w[i].m) * h2f(x[i].s);
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(x[i].d));
        const __m256i qw = nibbles32(w[i].qs);
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_us8(qw, qx), acc);
    }
    return hsum8(acc) + summs;
}

static inline float dot_q8_0_1(size_t nb, const pcc_block_q8_0 *w, const pcc_block_q8_0 *x)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(x[i].d));
        const __m256i qw = _mm256_loadu_si256((const __m256i *)w[i].qs);
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, qx), acc);
    }
    return hsum8(acc);
}

static void dot_f32(size_t n, float *s, const void *w, const void *x) { *s = dot_f32_1(n, w, x); }
static void dot_f16(size_t n, float *s, const void *w, const void *x) { *s = dot_f16_1(n, w, x); }
static void dot_q4_0(size_t n, float *s, const void *w, const void *x) { *s = dot_q4_0_1(n / PCC_QK, w, x); }
static void dot_q4_1(size_t n, float *s, const void *w, const void *x) { *s = dot_q4_1_1(n / PCC_QK, w, x); }
static void dot_q8_0(size_t n, float *s, const void *w, const void *x) { *s = dot_q8_0_1(n / PCC_QK, w, x); }

static void dotrows_f32(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    for (size_t r = 0; r < nr; r++)
        s[r] = dot_f32_1(n, (const float *)((const uint8_t *)w + r * ws), x);
}
static void dotrows_f16(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    for (size_t r = 0; r < nr; r++)
        s[r] = dot_f16_1(n, (const uint16_t *)((const uint8_t *)w + r * ws), x);
}
static void dotrows_f32_batch(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    for (size_t r = 0; r < nr; r++)
        s[r] = dot_f32_batch_1(n, (const float *)((const uint8_t *)w + r * ws), x);
}
static void dotrows_f16_batch(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    for (size_t r = 0; r < nr; r++)
        s[r] = dot_f16_batch_1(n, (const uint16_t *)((const uint8_t *)w + r * ws), x);
}
static void dotrows_q4_0(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    for (size_t r = 0; r < nr; r++)
        s[r] = dot_q4_0_1(n / PCC_QK, (const void *)((const uint8_t *)w + r * ws), x);
}
static void dotrows_q4_1(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    for (size_t r = 0; r < nr; r++)
        s[r] = dot_q4_1_1(n / PCC_QK, (const void *)((const uint8_t *)w + r * ws), x);
}
static void dotrows_q8_0(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    for (size_t r = 0; r < nr; r++)
        s[r] = dot_q8_0_1(n / PCC_QK, (const void *)((const uint8_t *)w + r * ws), x);
}

/* ---- element-wise ---- */

/* ggml_vec_soft_max_f32: 16-lane chunks (two halves here), each reduced and summed in double; a
 * short last chunk is padded with -inf (exp 0), as llama.cpp's KV length is. */
static void softmax(float *x, size_t n)
{
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    const __m256 vm = _mm256_set1_ps(max);
    double sum = 0.0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 lo = ggml_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        const __m256 hi = ggml_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm));
        _mm256_storeu_ps(x + i, lo);
        _mm256_storeu_ps(x + i + 8, hi);
        sum += (double)hsum8(_mm256_add_ps(lo, hi));
    }
    if (i < n) {
        float t[16];
        for (size_t l = 0; l < 16; l++)
            t[l] = i + l < n ? x[i + l] : -INFINITY;
        const __m256 lo = ggml_exp8(_mm256_sub_ps(_mm256_loadu_ps(t), vm));
        const __m256 hi = ggml_exp8(_mm256_sub_ps(_mm256_loadu_ps(t + 8), vm));
        _mm256_storeu_ps(t, lo);
        _mm256_storeu_ps(t + 8, hi);
        memcpy(x + i, t, (n - i) * sizeof(float));
        sum += (double)hsum8(_mm256_add_ps(lo, hi));
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= (float)(1.0 / sum);
}

/* ggml_vec_swiglu_f32: ggml's exp over whole 16-element chunks, libm's expf for the rest. */
static void swiglu(float *o, const float *g, const float *u, size_t n)
{
    const size_t n16 = n & ~(size_t)15;
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i < n16; i += 8) {
        const __m256 gv = _mm256_loadu_ps(g + i);
        const __m256 e = ggml_exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
        const __m256 si = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(o + i, _mm256_mul_ps(si, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

void pcc_kernels_fill_avx2(pcc_kernels *k)
{
    k->variant = PCC_KV_AVX2;
    k->name = "avx2";
    pcc_type_traits *t = k->types;
    t[PCC_DT_F32].dot = dot_f32;
    t[PCC_DT_F32].dotrows = dotrows_f32;
    t[PCC_DT_F16].from_float = f16_from_float;
    t[PCC_DT_F16].to_float = f16_to_float;
    t[PCC_DT_F16].dot = dot_f16;
    t[PCC_DT_F16].dotrows = dotrows_f16;
    t[PCC_DT_F32].dotrows_batch = dotrows_f32_batch;
    t[PCC_DT_F16].dotrows_batch = dotrows_f16_batch;
    t[PCC_DT_Q4_0].to_float = q4_0_to_float;
    t[PCC_DT_Q4_0].dot = dot_q4_0;
    t[PCC_DT_Q4_0].dotrows = dotrows_q4_0;
    t[PCC_DT_Q4_1].to_float = q4_1_to_float;
    t[PCC_DT_Q4_1].dot = dot_q4_1;
    t[PCC_DT_Q4_1].dotrows = dotrows_q4_1;
    t[PCC_DT_Q8_0].from_float = q8_0_from_float;
    t[PCC_DT_Q8_0].to_float = q8_0_to_float;
    t[PCC_DT_Q8_0].dot = dot_q8_0;
    t[PCC_DT_Q8_0].dotrows = dotrows_q8_0;
    t[PCC_DT_Q8_1].from_float = q8_1_from_float;
    k->softmax = softmax;
    k->swiglu = swiglu;
}

#else
void pcc_kernels_fill_avx2(pcc_kernels *k) { (void)k; }
#endif
