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
#define RND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC) /* an immediate for clang */
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), RND));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), RND));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), RND));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), RND));
    *sum = hsum_i32_8(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
#undef RND
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

/* 32 bits -> 32 bytes, 0xFF where bit e of x is set (ggml's bytes_from_bits_32) */
static inline __m256i bytes_from_bits32(const uint8_t *x)
{
    uint32_t x32;
    memcpy(&x32, x, sizeof x32);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

static inline float dot_q5_0_1(size_t nb, const pcc_block_q5_0 *w, const pcc_block_q8_0 *x)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(x[i].d));
        /* nibble | 0xF0 where the fifth bit is clear: q - 16 as int8 */
        const __m256i hi = _mm256_andnot_si256(bytes_from_bits32(w[i].qh), _mm256_set1_epi8((char)0xF0));
        const __m256i qw = _mm256_or_si256(nibbles32(w[i].qs), hi);
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, qx), acc);
    }
    return hsum8(acc);
}

static inline float dot_q5_1_1(size_t nb, const pcc_block_q5_1 *w, const pcc_block_q8_1 *x)
{
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        summs += h2f(w[i].m) * h2f(x[i].s);
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(x[i].d));
        const __m256i hi = _mm256_and_si256(bytes_from_bits32(w[i].qh), _mm256_set1_epi8(0x10));
        const __m256i qw = _mm256_or_si256(nibbles32(w[i].qs), hi);
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_us8(qw, qx), acc);
    }
    return hsum8(acc) + summs;
}

/* ---- K-quants (ggml's AVX2 loops; see kernels.c for the lane layout) ---- */

/* scales (bytes 0-7) and mins (8-15) of a Q4_K/Q5_K super-block as 16 int16 */
static inline __m256i k4_mins_scales(const uint8_t q[12])
{
    uint8_t sc[16];
    pcc_k4_scales(q, sc, sc + 8);
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)sc));
}

/* the 4 lanes of mins x activation sums: lane p = mn[2p] q8s[2p] + mn[2p+1] q8s[2p+1] */
static inline __m128i k4_min_prod(__m256i mins_scales, const int16_t *bsums)
{
    const __m256i q8sums = _mm256_loadu_si256((const __m256i *)bsums);
    const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(q8sums), _mm256_extracti128_si256(q8sums, 1));
    return _mm_madd_epi16(_mm256_extracti128_si256(mins_scales, 1), q8s);
}

static inline float dot_q4_k_1(size_t nb, const pcc_block_q4_k *w, const pcc_block_q8_k *x)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const float d = x[i].d * h2f(w[i].d), dmin = -x[i].d * h2f(w[i].dmin);
        const __m256i ms = k4_mins_scales(w[i].scales);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_min_prod(ms, x[i].bsums)), accm);
        const __m128i sc128 = _mm256_castsi256_si128(ms);
        const __m256i scales = _mm256_set_m128i(sc128, sc128);
        const uint8_t *q4 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i sl = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x0100 * (4 * j + 1) + 4 * j)));
            const __m256i sh = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x0100 * (4 * j + 3) + 4 * j + 2)));
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q4);
            q4 += 32;
            const __m256i ql = _mm256_and_si256(bits, m4);
            const __m256i qh = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            const __m256i pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)q8)));
            const __m256i ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)(q8 + 32))));
            q8 += 64;
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    return hsum8(acc) + _mm_cvtss_f32(accm);
}

static inline float dot_q5_k_1(size_t nb, const pcc_block_q5_k *w, const pcc_block_q8_k *x)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const float d = x[i].d * h2f(w[i].d), dmin = -x[i].d * h2f(w[i].dmin);
        const __m256i ms = k4_mins_scales(w[i].scales);
        const __m128i prod = k4_min_prod(ms, x[i].bsums);
        const __m128i hs = _mm_hadd_epi32(_mm_hadd_epi32(prod, _mm_setzero_si128()), _mm_setzero_si128());
        summs = fmaf(dmin, (float)_mm_cvtsi128_si32(hs), summs);
        const __m128i sc128 = _mm256_castsi256_si128(ms);
        const __m256i scales = _mm256_set_m128i(sc128, sc128);
        const __m256i hbits = _mm256_loadu_si256((const __m256i *)w[i].qh);
        const uint8_t *q5 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i sl = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x0100 * (4 * j + 1) + 4 * j)));
            const __m256i sh = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x0100 * (4 * j + 3) + 4 * j + 2)));
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q5);
            q5 += 32;
            const __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * j))), b1 = _mm256_set1_epi8((char)(2 << (2 * j)));
            const __m256i q0 = _mm256_add_epi8(_mm256_and_si256(bits, m4),
                                               _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, b0), b0), _mm256_set1_epi8(16)));
            const __m256i q1 = _mm256_add_epi8(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                               _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, b1), b1), _mm256_set1_epi8(16)));
            const __m256i p0 = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)q8)));
            const __m256i p1 = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(q8 + 32))));
            q8 += 64;
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc) + summs;
}

static inline float dot_q6_k_1(size_t nb, const pcc_block_q6_k *w, const pcc_block_q8_k *x)
{
    const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const float d = x[i].d * h2f(w[i].d);
        const uint8_t *q4 = w[i].ql, *qh = w[i].qh;
        const int8_t *q8 = x[i].qs;
        const __m128i scales = _mm_loadu_si128((const __m128i *)w[i].scales);
        const __m256i q8sums = _mm256_loadu_si256((const __m256i *)x[i].bsums);
        const __m256i sub = _mm256_slli_epi32(_mm256_madd_epi16(q8sums, _mm256_cvtepi8_epi16(scales)), 5);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)q4);
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(q4 + 32));
            const __m256i bh = _mm256_loadu_si256((const __m256i *)qh);
            q4 += 64;
            qh += 32;
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(bh, m3), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(12)), 2);
            const __m256i h2 = _mm256_and_si256(bh, _mm256_set1_epi8(48));
            const __m256i h3 = _mm256_srli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8((char)-64)), 2);
            const __m256i q[4] = {_mm256_or_si256(_mm256_and_si256(b1, m15), h0),
                                  _mm256_or_si256(_mm256_and_si256(b2, m15), h1),
                                  _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m15), h2),
                                  _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m15), h3)};
            for (int c = 0; c < 4; c++) {
                const int is = 8 * j + 2 * c;
                const __m128i sc = _mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101LL * (is + 1),
                                                                           0x0101010101010101LL * is));
                const __m256i p = _mm256_maddubs_epi16(q[c], _mm256_loadu_si256((const __m256i *)(q8 + 32 * c)));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), p));
            }
            q8 += 128;
        }
        sumi = _mm256_sub_epi32(sumi, sub);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

static void dot_f32(size_t n, float *s, const void *w, const void *x) { *s = dot_f32_1(n, w, x); }
static void dot_f16(size_t n, float *s, const void *w, const void *x) { *s = dot_f16_1(n, w, x); }
static void dot_q4_0(size_t n, float *s, const void *w, const void *x) { *s = dot_q4_0_1(n / PCC_QK, w, x); }
static void dot_q4_1(size_t n, float *s, const void *w, const void *x) { *s = dot_q4_1_1(n / PCC_QK, w, x); }
static void dot_q8_0(size_t n, float *s, const void *w, const void *x) { *s = dot_q8_0_1(n / PCC_QK, w, x); }
static void dot_q5_0(size_t n, float *s, const void *w, const void *x) { *s = dot_q5_0_1(n / PCC_QK, w, x); }
static void dot_q5_1(size_t n, float *s, const void *w, const void *x) { *s = dot_q5_1_1(n / PCC_QK, w, x); }
static void dot_q4_k(size_t n, float *s, const void *w, const void *x) { *s = dot_q4_k_1(n / PCC_QK_K, w, x); }
static void dot_q5_k(size_t n, float *s, const void *w, const void *x) { *s = dot_q5_k_1(n / PCC_QK_K, w, x); }
static void dot_q6_k(size_t n, float *s, const void *w, const void *x) { *s = dot_q6_k_1(n / PCC_QK_K, w, x); }

#define DOTROWS_Q(name, fn, qk)                                                                  \
    static void name(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)  \
    {                                                                                          \
        for (size_t r = 0; r < nr; r++)                                                        \
            s[r] = fn(n / (qk), (const void *)((const uint8_t *)w + r * ws), x);               \
    }
DOTROWS_Q(dotrows_q5_0, dot_q5_0_1, PCC_QK)
DOTROWS_Q(dotrows_q5_1, dot_q5_1_1, PCC_QK)
DOTROWS_Q(dotrows_q4_k, dot_q4_k_1, PCC_QK_K)
DOTROWS_Q(dotrows_q5_k, dot_q5_k_1, PCC_QK_K)
DOTROWS_Q(dotrows_q6_k, dot_q6_k_1, PCC_QK_K)

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
    t[PCC_DT_Q5_0].dot = dot_q5_0;
    t[PCC_DT_Q5_0].dotrows = dotrows_q5_0;
    t[PCC_DT_Q5_1].dot = dot_q5_1;
    t[PCC_DT_Q5_1].dotrows = dotrows_q5_1;
    t[PCC_DT_Q4_K].dot = dot_q4_k;
    t[PCC_DT_Q4_K].dotrows = dotrows_q4_k;
    t[PCC_DT_Q5_K].dot = dot_q5_k;
    t[PCC_DT_Q5_K].dotrows = dotrows_q5_k;
    t[PCC_DT_Q6_K].dot = dot_q6_k;
    t[PCC_DT_Q6_K].dotrows = dotrows_q6_k;
    k->softmax = softmax;
    k->swiglu = swiglu;
}

#else
void pcc_kernels_fill_avx2(pcc_kernels *k) { (void)k; }
#endif
