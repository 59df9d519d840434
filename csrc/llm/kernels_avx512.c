/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VBMI) + VNNI kernels, enabled per function with a target
 * pragma; used only after __builtin_cpu_supports confirmed every feature. Quantized dot products
 * take two 32-element blocks per 512-bit register and multiply u8 x s8 with vpdpbusd; VBMI's
 * byte permutes unpack Q4_1 pairs. */
#include "kernels_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <math.h>

#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,f16c")
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

#define DOTROWS(name, fn, wt, arg)                                                              \
    static void name(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)  \
    {                                                                                          \
        for (size_t r = 0; r < nr; r++)                                                        \
            s[r] = fn(arg, (const wt *)((const uint8_t *)w + r * ws), x);                      \
    }
DOTROWS(dotrows_f32, dot_f32_1, float, n)
DOTROWS(dotrows_f16, dot_f16_1, uint16_t, n)
DOTROWS(dotrows_q4_0, dot_q4_0_1, pcc_block_q4_0, n / PCC_QK)
DOTROWS(dotrows_q4_1_simple, dot_q4_1_1, pcc_block_q4_1, n / PCC_QK)

/* Q4_1 rows x one Q8_1 vector, the decode hot loop. The activation is prepared once per call:
 * its quants packed two blocks per 64 bytes, its scales d as [d0 x8 | d1 x8] vectors and its
 * sums s as [s0/8 x8 | s1/8 x8] (the final horizontal sum adds the 8 copies back). Per pair of
 * weight blocks one masked 40-byte load feeds everything: vpermb spreads the nibbles, vpermw
 * spreads d and m, so no scalar conversion is left in the loop. */
#define Q41_MAX_PAIRS 128
static inline float q41_tail(const pcc_block_q4_1 *b, const pcc_block_q8_1 *x)
{
    const __m256i qw = nibbles32(b->qs);
    const __m256i qx = _mm256_loadu_si256((const __m256i *)x->qs);
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), qw, qx);
    return h2f(b->d) * h2f(x->d) * hsum8(_mm256_cvtepi32_ps(p)) + h2f(b->m) * h2f(x->s);
}

static void dotrows_q4_1(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *vx)
{
    const size_t nb = n / PCC_QK, np = nb / 2;
    if (np > Q41_MAX_PAIRS || np == 0) {
        dotrows_q4_1_simple(n, nr, s, w, ws, vx);
        return;
    }
    const pcc_block_q8_1 *x = vx;
    __m512i xq[Q41_MAX_PAIRS];
    __m512 dx[Q41_MAX_PAIRS], sx[Q41_MAX_PAIRS];
    for (size_t k = 0; k < np; k++) {
        xq[k] = load2x32(x[2 * k].qs, x[2 * k + 1].qs);
        dx[k] = scale2(h2f(x[2 * k].d), h2f(x[2 * k + 1].d));
        sx[k] = scale2(h2f(x[2 * k].s) * 0.125f, h2f(x[2 * k + 1].s) * 0.125f);
    }
    /* bytes: [qs0 | qs0 | qs1 | qs1] from a pair at offsets 4..19 and 24..39 */
    static const uint8_t perm_q[64] = {
        4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
        4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
        24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39,
        24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39};
    /* words: [d0 x8, d1 x8, m0 x8, m1 x8] (d at word 0 / 10, m at word 1 / 11) */
    static const uint16_t perm_dm[32] = {0, 0, 0, 0, 0, 0, 0, 0, 10, 10, 10, 10, 10, 10, 10, 10,
                                         1, 1, 1, 1, 1, 1, 1, 1, 11, 11, 11, 11, 11, 11, 11, 11};
    static const uint16_t shifts[32] = {0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4,
                                        0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4};
    const __m512i pq = _mm512_loadu_si512(perm_q), pdm = _mm512_loadu_si512(perm_dm);
    const __m512i sh = _mm512_loadu_si512(shifts), low4 = _mm512_set1_epi8(0x0F);
    const __mmask64 m40 = (__mmask64)0xFFFFFFFFFFull;
#define Q41_PAIR(b, k, acc, macc)                                                               \
    do {                                                                                       \
        const __m512i raw_ = _mm512_maskz_loadu_epi8(m40, (b) + 2 * (k));                      \
        __m512i q_ = _mm512_permutexvar_epi8(pq, raw_);                                        \
        q_ = _mm512_and_si512(_mm512_srlv_epi16(q_, sh), low4);                                \
        const __m512i p_ = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q_, xq[k]);             \
        const __m512i dm_ = _mm512_permutexvar_epi16(pdm, raw_);                               \
        const __m512 d_ = _mm512_cvtph_ps(_mm512_castsi512_si256(dm_));                        \
        const __m512 m_ = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(dm_, 1));                  \
        acc = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(p_), dx[k]), d_, acc);          \
        macc = _mm512_fmadd_ps(m_, sx[k], macc);                                               \
    } while (0)
    size_t r = 0;
    for (; r + 2 <= nr; r += 2) {
        const pcc_block_q4_1 *b0 = (const pcc_block_q4_1 *)((const uint8_t *)w + r * ws);
        const pcc_block_q4_1 *b1 = (const pcc_block_q4_1 *)((const uint8_t *)w + (r + 1) * ws);
        __m512 acc0 = _mm512_setzero_ps(), macc0 = _mm512_setzero_ps();
        __m512 acc1 = _mm512_setzero_ps(), macc1 = _mm512_setzero_ps();
        for (size_t k = 0; k < np; k++) {
            Q41_PAIR(b0, k, acc0, macc0);
            Q41_PAIR(b1, k, acc1, macc1);
        }
        s[r] = hsum16(_mm512_add_ps(acc0, macc0)) + (nb & 1 ? q41_tail(b0 + nb - 1, x + nb - 1) : 0.0f);
        s[r + 1] = hsum16(_mm512_add_ps(acc1, macc1)) + (nb & 1 ? q41_tail(b1 + nb - 1, x + nb - 1) : 0.0f);
    }
    for (; r < nr; r++) {
        const pcc_block_q4_1 *b0 = (const pcc_block_q4_1 *)((const uint8_t *)w + r * ws);
        __m512 acc0 = _mm512_setzero_ps(), macc0 = _mm512_setzero_ps();
        for (size_t k = 0; k < np; k++)
            Q41_PAIR(b0, k, acc0, macc0);
        s[r] = hsum16(_mm512_add_ps(acc0, macc0)) + (nb & 1 ? q41_tail(b0 + nb - 1, x + nb - 1) : 0.0f);
    }
#undef Q41_PAIR
}
DOTROWS(dotrows_q8_0_simple, dot_q8_0_1, pcc_block_q8_0, n / PCC_QK)

/* Q8_0 rows x one Q8_0 vector (the tied output layer). vpdpbusd wants unsigned x signed, so the
 * weights are flipped to w + 128 (xor 0x80) and the accumulator starts at -128 * sum(y), which
 * the preparation computes once per call. */
static void dotrows_q8_0(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *vx)
{
    const size_t nb = n / PCC_QK, np = nb / 2;
    if (np > Q41_MAX_PAIRS || np == 0) {
        dotrows_q8_0_simple(n, nr, s, w, ws, vx);
        return;
    }
    const pcc_block_q8_0 *x = vx;
    __m512i xq[Q41_MAX_PAIRS], corr[Q41_MAX_PAIRS];
    __m512 dx[Q41_MAX_PAIRS];
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (size_t k = 0; k < np; k++) {
        xq[k] = load2x32(x[2 * k].qs, x[2 * k + 1].qs);
        corr[k] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                   _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, xq[k]));
        dx[k] = scale2(h2f(x[2 * k].d), h2f(x[2 * k + 1].d));
    }
    /* bytes 2..33 of the first block to lanes 0..31 */
    static const uint8_t perm_q[64] = {
        2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
        26, 27, 28, 29, 30, 31, 32, 33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    /* words: d0 x8 (word 0), d1 x8 (bytes 34..35 = word 17) */
    static const uint16_t perm_d[32] = {0, 0, 0, 0, 0, 0, 0, 0, 17, 17, 17, 17, 17, 17, 17, 17,
                                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const __m512i pq = _mm512_loadu_si512(perm_q), pd = _mm512_loadu_si512(perm_d);
    const __mmask64 m36 = (__mmask64)0xFFFFFFFFFull;
    for (size_t r = 0; r < nr; r++) {
        const pcc_block_q8_0 *b = (const pcc_block_q8_0 *)((const uint8_t *)w + r * ws);
        __m512 acc = _mm512_setzero_ps();
        for (size_t k = 0; k < np; k++) {
            const __m512i raw = _mm512_maskz_loadu_epi8(m36, b + 2 * k);
            __m512i q = _mm512_permutexvar_epi8(pq, raw);
            q = _mm512_inserti64x4(q, _mm256_loadu_si256((const __m256i *)b[2 * k + 1].qs), 1);
            const __m512i p = _mm512_dpbusd_epi32(corr[k], _mm512_xor_si512(q, flip), xq[k]);
            const __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(pd, raw)));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(d, dx[k]), acc);
        }
        float sum = hsum16(acc);
        if (nb & 1)
            sum += dot_q8_0_1(1, b + nb - 1, x + nb - 1);
        s[r] = sum;
    }
}

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

/* Q4_1 rows x a batch of Q8_1 vectors (prefill): tiles of 2 rows x 4 tokens keep 8
 * accumulators in registers, so each unpacked weight pair serves 4 tokens and each prepared
 * activation pair 2 rows. */
#define GEMM_T 4
#define GEMM_RCHUNK 64
static void gemm_q4_1(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w,
                      size_t ws, const void *vx, size_t xs)
{
    const size_t nb = n / PCC_QK, np = nb / 2;
    if (np > Q41_MAX_PAIRS || np == 0 || (nb & 1)) {
        for (size_t t = 0; t < nt; t++)
            dotrows_q4_1(n, nr, y + t * ldy, w, ws, (const uint8_t *)vx + t * xs);
        return;
    }
    static const uint8_t perm_q[64] = {
        4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
        4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
        24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39,
        24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39};
    static const uint16_t perm_dm[32] = {0, 0, 0, 0, 0, 0, 0, 0, 10, 10, 10, 10, 10, 10, 10, 10,
                                         1, 1, 1, 1, 1, 1, 1, 1, 11, 11, 11, 11, 11, 11, 11, 11};
    static const uint16_t shifts[32] = {0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4,
                                        0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4};
    const __m512i pq = _mm512_loadu_si512(perm_q), pdm = _mm512_loadu_si512(perm_dm);
    const __m512i sh = _mm512_loadu_si512(shifts), low4 = _mm512_set1_epi8(0x0F);
    const __mmask64 m40 = (__mmask64)0xFFFFFFFFFFull;
    __m512i xq[GEMM_T][Q41_MAX_PAIRS];
    __m512 dx[GEMM_T][Q41_MAX_PAIRS], sx[GEMM_T][Q41_MAX_PAIRS];
    for (size_t r0 = 0; r0 < nr; r0 += GEMM_RCHUNK) {
        const size_t rc = nr - r0 < GEMM_RCHUNK ? nr - r0 : GEMM_RCHUNK;
        for (size_t t0 = 0; t0 < nt; t0 += GEMM_T) {
            const size_t tc = nt - t0 < GEMM_T ? nt - t0 : GEMM_T;
            for (size_t t = 0; t < GEMM_T; t++) {
                /* a short last group repeats its last token; those sums are not stored */
                const pcc_block_q8_1 *x =
                    (const pcc_block_q8_1 *)((const uint8_t *)vx + (t0 + (t < tc ? t : tc - 1)) * xs);
                for (size_t k = 0; k < np; k++) {
                    xq[t][k] = load2x32(x[2 * k].qs, x[2 * k + 1].qs);
                    dx[t][k] = scale2(h2f(x[2 * k].d), h2f(x[2 * k + 1].d));
                    sx[t][k] = scale2(h2f(x[2 * k].s) * 0.125f, h2f(x[2 * k + 1].s) * 0.125f);
                }
            }
            for (size_t r = r0; r < r0 + rc; r += 2) {
                const size_t r1 = r + 1 < r0 + rc ? r + 1 : r; /* odd count: repeat the row */
                const pcc_block_q4_1 *b0 = (const pcc_block_q4_1 *)((const uint8_t *)w + r * ws);
                const pcc_block_q4_1 *b1 = (const pcc_block_q4_1 *)((const uint8_t *)w + r1 * ws);
                /* 8 accumulators, written out so they stay in registers */
                __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
                __m512 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                __m512 c00 = a00, c01 = a00, c02 = a00, c03 = a00; /* m * s terms */
                __m512 c10 = a00, c11 = a00, c12 = a00, c13 = a00;
                for (size_t k = 0; k < np; k++) {
                    const __m512i raw0 = _mm512_maskz_loadu_epi8(m40, b0 + 2 * k);
                    const __m512i raw1 = _mm512_maskz_loadu_epi8(m40, b1 + 2 * k);
                    const __m512i q0 = _mm512_and_si512(_mm512_srlv_epi16(_mm512_permutexvar_epi8(pq, raw0), sh), low4);
                    const __m512i q1 = _mm512_and_si512(_mm512_srlv_epi16(_mm512_permutexvar_epi8(pq, raw1), sh), low4);
                    const __m512i dm0 = _mm512_permutexvar_epi16(pdm, raw0);
                    const __m512i dm1 = _mm512_permutexvar_epi16(pdm, raw1);
                    const __m512 d0 = _mm512_cvtph_ps(_mm512_castsi512_si256(dm0));
                    const __m512 d1 = _mm512_cvtph_ps(_mm512_castsi512_si256(dm1));
                    const __m512 m0 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(dm0, 1));
                    const __m512 m1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(dm1, 1));
#define GEMM_STEP(t, A0, A1, C0, C1)                                                                \
    do {                                                                                       \
        const __m512i xv_ = xq[t][k];                                                          \
        const __m512 dv_ = dx[t][k], sv_ = sx[t][k];                                           \
        const __m512 f0_ = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q0, xv_)), dv_); \
        const __m512 f1_ = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q1, xv_)), dv_); \
        A0 = _mm512_fmadd_ps(f0_, d0, A0);                                                     \
        A1 = _mm512_fmadd_ps(f1_, d1, A1);                                                     \
        C0 = _mm512_fmadd_ps(m0, sv_, C0);                                                     \
        C1 = _mm512_fmadd_ps(m1, sv_, C1);                                                     \
    } while (0)
                    GEMM_STEP(0, a00, a10, c00, c10);
                    GEMM_STEP(1, a01, a11, c01, c11);
                    GEMM_STEP(2, a02, a12, c02, c12);
                    GEMM_STEP(3, a03, a13, c03, c13);
#undef GEMM_STEP
                }
                /* summed as the row kernel does: hsum(acc + macc) */
                const __m512 a0[GEMM_T] = {_mm512_add_ps(a00, c00), _mm512_add_ps(a01, c01),
                                           _mm512_add_ps(a02, c02), _mm512_add_ps(a03, c03)};
                const __m512 a1[GEMM_T] = {_mm512_add_ps(a10, c10), _mm512_add_ps(a11, c11),
                                           _mm512_add_ps(a12, c12), _mm512_add_ps(a13, c13)};
                for (size_t t = 0; t < tc; t++) {
                    y[(t0 + t) * ldy + r] = hsum16(a0[t]);
                    if (r1 != r)
                        y[(t0 + t) * ldy + r1] = hsum16(a1[t]);
                }
            }
        }
    }
}

/* single dot products through the row kernels, so one row gives the same bits either way */
static void dot_q4_1_rows(size_t n, float *s, const void *w, const void *x) { dotrows_q4_1(n, 1, s, w, 0, x); }
static void dot_q8_0_rows(size_t n, float *s, const void *w, const void *x) { dotrows_q8_0(n, 1, s, w, 0, x); }

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
    t[PCC_DT_Q4_1].dot = dot_q4_1_rows;
    t[PCC_DT_Q4_1].dotrows = dotrows_q4_1;
    t[PCC_DT_Q4_1].gemm = gemm_q4_1;
    t[PCC_DT_Q8_0].dot = dot_q8_0_rows;
    t[PCC_DT_Q8_0].dotrows = dotrows_q8_0;
    k->softmax = softmax;
    k->swiglu = swiglu;
}

#else
void pcc_kernels_fill_avx512(pcc_kernels *k) { (void)k; }
#endif
