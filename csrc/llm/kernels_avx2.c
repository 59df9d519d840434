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

/* exp(x) for 8 lanes: Cephes-style range reduction and polynomial, about 1 ulp. */
static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.3762626647949f));
    const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
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
    const int rnd = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
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

static inline float dot_f32_1(size_t n, const float *w, const float *x)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        s += w[i] * x[i];
    return s;
}

static inline float dot_f16_1(size_t n, const uint16_t *w, const uint16_t *x)
{
#define LDH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(LDH(w + i), LDH(x + i), a0);
        a1 = _mm256_fmadd_ps(LDH(w + i + 8), LDH(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(LDH(w + i + 16), LDH(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(LDH(w + i + 24), LDH(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(LDH(w + i), LDH(x + i), a0);
#undef LDH
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        s += h2f(w[i]) * h2f(x[i]);
    return s;
}

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

static void softmax(float *x, size_t n)
{
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    const __m256 vm = _mm256_set1_ps(max);
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    double sum = (double)hsum8(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++)
        x[i] *= (float)(1.0 / sum);
}

static void swiglu(float *o, const float *g, const float *u, size_t n)
{
    size_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 gv = _mm256_loadu_ps(g + i);
        const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
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
