/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VBMI) + VNNI kernels, enabled per function with a target
 * pragma; used only after __builtin_cpu_supports confirmed every feature.
 *
 * They compute ggml's bits (see kernels.c). ggml's quantized dot products keep 8 float lanes per
 * weight row, so these kernels put two weight rows in one 512-bit register, one per 256-bit half:
 * each half does exactly what ggml's AVX2 loop does for its row, and a pair of rows costs about
 * what one 512-bit pass over a row would. VBMI's two-source byte and word permutes gather the
 * nibbles and scales of the two rows' blocks; vpdpbusd multiplies u8 x s8. */
#include "kernels_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>

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

static inline __m512 ggml_exp16(__m512 x)
{
    /* ggml_v_expf, AVX-512 version (see pcc_ggml_expf) */
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 res = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(big, big))
        return res;
    const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                            _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
    return _mm512_mask_blend_ps(big, res, alt);
}

/* ---- float dot products ---- */

static inline __mmask16 tail_mask(size_t left)
{
    return (__mmask16)(left >= 16 ? 0xFFFFu : (1u << left) - 1u);
}

#define LDH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define LDH_M(m, p) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((m), (p)))

/* ggml_vec_dot_f32/_f16: 4 accumulators of 16 lanes over steps of 64, (0+2)+(1+3), reduced; the
 * tail is masked (as if padded with zeros). */
static inline float dot_f32_1(size_t n, const float *w, const float *x)
{
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 4; j++)
            a[j] = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16 * j), _mm512_loadu_ps(x + i + 16 * j), a[j]);
    for (int j = 0; j < 4 && i + 16 * (size_t)j < n; j++) {
        const __mmask16 m = tail_mask(n - i - 16 * (size_t)j);
        a[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i + 16 * j),
                               _mm512_maskz_loadu_ps(m, x + i + 16 * j), a[j]);
    }
    return hsum16(_mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3])));
}

static inline float dot_f16_1(size_t n, const uint16_t *w, const uint16_t *x)
{
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 4; j++)
            a[j] = _mm512_fmadd_ps(LDH(w + i + 16 * j), LDH(x + i + 16 * j), a[j]);
    for (int j = 0; j < 4 && i + 16 * (size_t)j < n; j++) {
        const __mmask16 m = tail_mask(n - i - 16 * (size_t)j);
        a[j] = _mm512_fmadd_ps(LDH_M(m, w + i + 16 * j), LDH_M(m, x + i + 16 * j), a[j]);
    }
    return hsum16(_mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3])));
}

/* tinyBLAS (batches of 2+ tokens): one 16-lane accumulator. */
static inline float dot_f32_batch_1(size_t n, const float *w, const float *x)
{
    __m512 a = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        a = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a);
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, x + i), a);
    }
    return hsum16(a);
}

static inline float dot_f16_batch_1(size_t n, const uint16_t *w, const uint16_t *x)
{
    __m512 a = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        a = _mm512_fmadd_ps(LDH(w + i), LDH(x + i), a);
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        a = _mm512_fmadd_ps(LDH_M(m, w + i), LDH_M(m, x + i), a);
    }
    return hsum16(a);
}
#undef LDH
#undef LDH_M

static void dot_f32(size_t n, float *s, const void *w, const void *x) { *s = dot_f32_1(n, w, x); }
static void dot_f16(size_t n, float *s, const void *w, const void *x) { *s = dot_f16_1(n, w, x); }

#define DOTROWS(name, fn, wt)                                                                   \
    static void name(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)  \
    {                                                                                          \
        for (size_t r = 0; r < nr; r++)                                                        \
            s[r] = fn(n, (const wt *)((const uint8_t *)w + r * ws), x);                        \
    }
DOTROWS(dotrows_f32, dot_f32_1, float)
DOTROWS(dotrows_f32_batch, dot_f32_batch_1, float)

/* F16 rows x one F16 vector (the attention products): the vector is widened to F32 once per call
 * instead of once per row (exact either way), so each row costs one conversion per 16 elements.
 * Same lane orders as dot_f16_1 / dot_f16_batch_1. */
#define XF_MAX 16384
static inline size_t widen_f16(float *xf, const uint16_t *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(xf + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(xf + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)));
    }
    return n;
}

#define LDW(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define LDW_M(m, p) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((m), (p)))

static inline float dot_f16_xf(size_t n, const uint16_t *w, const float *xf)
{
    /* four named accumulators: an indexed array would live on the stack (a store and a load
     * in every FMA's dependency chain) */
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(LDW(w + i), _mm512_loadu_ps(xf + i), a0);
        a1 = _mm512_fmadd_ps(LDW(w + i + 16), _mm512_loadu_ps(xf + i + 16), a1);
        a2 = _mm512_fmadd_ps(LDW(w + i + 32), _mm512_loadu_ps(xf + i + 32), a2);
        a3 = _mm512_fmadd_ps(LDW(w + i + 48), _mm512_loadu_ps(xf + i + 48), a3);
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        a0 = _mm512_fmadd_ps(LDW_M(m, w + i), _mm512_maskz_loadu_ps(m, xf + i), a0);
        if (i + 16 < n) {
            m = tail_mask(n - i - 16);
            a1 = _mm512_fmadd_ps(LDW_M(m, w + i + 16), _mm512_maskz_loadu_ps(m, xf + i + 16), a1);
        }
        if (i + 32 < n) {
            m = tail_mask(n - i - 32);
            a2 = _mm512_fmadd_ps(LDW_M(m, w + i + 32), _mm512_maskz_loadu_ps(m, xf + i + 32), a2);
        }
        if (i + 48 < n) {
            m = tail_mask(n - i - 48);
            a3 = _mm512_fmadd_ps(LDW_M(m, w + i + 48), _mm512_maskz_loadu_ps(m, xf + i + 48), a3);
        }
    }
    return hsum16(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
}

static inline float dot_f16_batch_xf(size_t n, const uint16_t *w, const float *xf)
{
    __m512 a = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        a = _mm512_fmadd_ps(LDW(w + i), _mm512_loadu_ps(xf + i), a);
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        a = _mm512_fmadd_ps(LDW_M(m, w + i), _mm512_maskz_loadu_ps(m, xf + i), a);
    }
    return hsum16(a);
}
#undef LDW
#undef LDW_M

static void dotrows_f16(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    if (n > XF_MAX || nr < 2) {
        for (size_t r = 0; r < nr; r++)
            s[r] = dot_f16_1(n, (const uint16_t *)((const uint8_t *)w + r * ws), x);
        return;
    }
    float xf[XF_MAX];
    widen_f16(xf, x, n);
    for (size_t r = 0; r < nr; r++)
        s[r] = dot_f16_xf(n, (const uint16_t *)((const uint8_t *)w + r * ws), xf);
}

static void dotrows_f16_batch(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    if (n > XF_MAX || nr < 2) {
        for (size_t r = 0; r < nr; r++)
            s[r] = dot_f16_batch_1(n, (const uint16_t *)((const uint8_t *)w + r * ws), x);
        return;
    }
    float xf[XF_MAX];
    widen_f16(xf, x, n);
    for (size_t r = 0; r < nr; r++)
        s[r] = dot_f16_batch_xf(n, (const uint16_t *)((const uint8_t *)w + r * ws), xf);
}

/* hsum16 of 16 vectors at once, with hsum16's additions: lanes i and i + 8, then i and i + 4,
 * i and i + 2, 0 and 1, here for 16 rows side by side (shuffles move lanes, additions pair the
 * same lanes as hsum16 does, and float addition is commutative, so each result is hsum16's). */
static inline __m512 hsum16_x16(const __m512 v[16])
{
    __m512 y[8], z[4], t[2];
    for (int k = 0; k < 8; k++)
        y[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int k = 0; k < 4; k++) /* [rows 4k .. 4k+3], 4 lanes each */
        z[k] = _mm512_add_ps(_mm512_shuffle_f32x4(y[2 * k], y[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(y[2 * k], y[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    for (int k = 0; k < 2; k++) /* 128-bit lane L: rows 8k + L and 8k + L + 4, 2 lanes each */
        t[k] = _mm512_add_ps(_mm512_shuffle_ps(z[2 * k], z[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(z[2 * k], z[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* lane 4L + k holds row L + 4k */
    const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(t[0], t[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(t[0], t[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

/* pending row sums reduced 16 at a time */
typedef struct red16 {
    __m512 v[16];
    float *out[16];
    int n;
} red16;

static inline void red16_flush(red16 *q)
{
    if (q->n == 0)
        return;
    for (int i = q->n; i < 16; i++)
        q->v[i] = _mm512_setzero_ps();
    float r[16];
    _mm512_storeu_ps(r, hsum16_x16(q->v));
    for (int i = 0; i < q->n; i++)
        *q->out[i] = r[i];
    q->n = 0;
}

static inline void red16_push(red16 *q, __m512 v, float *out)
{
    q->v[q->n] = v;
    q->out[q->n] = out;
    if (++q->n == 16)
        red16_flush(q);
}

#define MX_MAX 4 /* vectors per pass over a row */

/* rows x up to MX_MAX widened vectors xf[j] (n floats each), dot_f16_xf's four accumulators
 * (batch 0) or dot_f16_batch_xf's one (batch 1) per vector */
static inline __attribute__((always_inline)) void mx_rows(int batch, int nx, size_t n, size_t nr, float *s,
                                                          size_t ls, const uint8_t *w, size_t ws,
                                                          const float *const *xf, red16 *q)
{
    for (size_t r = 0; r < nr; r++) {
        const uint16_t *wr = (const uint16_t *)(const void *)(w + r * ws);
        /* KV rows come from memory at long contexts (short K rows far apart, long V rows each in
         * its own page, where the hardware prefetchers start over): a short row 16 ahead, and a
         * long row's next row at the same offset, are requested early, about the time of a
         * memory access ahead (a prefetch never faults) */
        if (n <= 64) {
            _mm_prefetch((const char *)(w + (r + 16) * ws), _MM_HINT_T0);
            _mm_prefetch((const char *)(w + (r + 16) * ws + 64), _MM_HINT_T0);
        }
        const uint8_t *wnext = w + (r + 1) * ws;
        __m512 a[MX_MAX][4];
        _Pragma("GCC unroll 4") for (int j = 0; j < MX_MAX; j++)
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
                a[j][c] = _mm512_setzero_ps();
        size_t i = 0;
        if (batch) {
            for (; i + 16 <= n; i += 16) {
                _mm_prefetch((const char *)(wnext + 2 * i), _MM_HINT_T0);
                const __m512 wv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + i)));
                _Pragma("GCC unroll 4") for (int j = 0; j < nx; j++)
                    a[j][0] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xf[j] + i), a[j][0]);
            }
            if (i < n) {
                const __mmask16 m = tail_mask(n - i);
                const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, wr + i));
                _Pragma("GCC unroll 4") for (int j = 0; j < nx; j++)
                    a[j][0] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, xf[j] + i), a[j][0]);
            }
            _Pragma("GCC unroll 4") for (int j = 0; j < nx; j++)
                red16_push(q, a[j][0], s + (size_t)j * ls + r);
            continue;
        }
        for (; i + 64 <= n; i += 64) {
            _mm_prefetch((const char *)(wnext + 2 * i), _MM_HINT_T0);
            _mm_prefetch((const char *)(wnext + 2 * i + 64), _MM_HINT_T0);
            const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + i)));
            const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + i + 16)));
            const __m512 w2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + i + 32)));
            const __m512 w3 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + i + 48)));
            _Pragma("GCC unroll 4") for (int j = 0; j < nx; j++) {
                a[j][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xf[j] + i), a[j][0]);
                a[j][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xf[j] + i + 16), a[j][1]);
                a[j][2] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xf[j] + i + 32), a[j][2]);
                a[j][3] = _mm512_fmadd_ps(w3, _mm512_loadu_ps(xf[j] + i + 48), a[j][3]);
            }
        }
        _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
            if (i + 16 * (size_t)c >= n)
                break;
            const __mmask16 m = tail_mask(n - i - 16 * (size_t)c);
            const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, wr + i + 16 * (size_t)c));
            _Pragma("GCC unroll 4") for (int j = 0; j < nx; j++)
                a[j][c] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, xf[j] + i + 16 * (size_t)c), a[j][c]);
        }
        _Pragma("GCC unroll 4") for (int j = 0; j < nx; j++)
            red16_push(q, _mm512_add_ps(_mm512_add_ps(a[j][0], a[j][2]), _mm512_add_ps(a[j][1], a[j][3])),
                       s + (size_t)j * ls + r);
    }
}

static void dotrows_multi_f16(size_t n, size_t nr, size_t nx, float *s, size_t ls, const void *w, size_t ws,
                              const void *x, size_t xs, int batch)
{
    if (n * (nx < MX_MAX ? nx : MX_MAX) > XF_MAX) {
        for (size_t j = 0; j < nx; j++)
            (batch ? dotrows_f16_batch : dotrows_f16)(n, nr, s + j * ls, w, ws, (const uint8_t *)x + j * xs);
        return;
    }
    float xbuf[XF_MAX];
    red16 q;
    q.n = 0;
    for (size_t j0 = 0; j0 < nx; j0 += MX_MAX) {
        const size_t jn = nx - j0 < MX_MAX ? nx - j0 : MX_MAX;
        const float *xf[MX_MAX];
        for (size_t j = 0; j < jn; j++) {
            widen_f16(xbuf + j * n, (const uint16_t *)(const void *)((const uint8_t *)x + (j0 + j) * xs), n);
            xf[j] = xbuf + j * n;
        }
        float *sj = s + j0 * ls;
        const uint8_t *wb = w;
        /* constant vector counts and accumulator kinds, so the accumulators stay in registers */
        switch ((batch ? 4 : 0) + (int)jn - 1) {
        case 0: mx_rows(0, 1, n, nr, sj, ls, wb, ws, xf, &q); break;
        case 1: mx_rows(0, 2, n, nr, sj, ls, wb, ws, xf, &q); break;
        case 2: mx_rows(0, 3, n, nr, sj, ls, wb, ws, xf, &q); break;
        case 3: mx_rows(0, 4, n, nr, sj, ls, wb, ws, xf, &q); break;
        case 4: mx_rows(1, 1, n, nr, sj, ls, wb, ws, xf, &q); break;
        case 5: mx_rows(1, 2, n, nr, sj, ls, wb, ws, xf, &q); break;
        case 6: mx_rows(1, 3, n, nr, sj, ls, wb, ws, xf, &q); break;
        default: mx_rows(1, 4, n, nr, sj, ls, wb, ws, xf, &q); break;
        }
    }
    red16_flush(&q);
}

/* ---- quantized dot products ---- */

#define NB_MAX 1024 /* blocks per row (32768 columns) the kernels prepare on the stack */
#define G2_PREP 2048 /* see gemm_q32_tiled */
static void gemm_q32_tiled(int kind, size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w,
                           size_t ws, const void *vx, size_t xs);

/* Lanes 0-7 of a pair of rows to the first row's result, 8-15 to the second's. */
static inline void store_pair(float *s0, float *s1, __m512 acc, __m512 sm)
{
    *s0 = hsum8(_mm512_castps512_ps256(acc)) + _mm512_cvtss_f32(sm);
    if (s1 != NULL)
        *s1 = hsum8(_mm512_extractf32x8_ps(acc, 1)) +
              _mm_cvtss_f32(_mm512_extractf32x4_ps(sm, 2));
}

/* Q4_1: 20-byte blocks {d, m, qs[16]}. The 16 quant bytes of row r's block and row r+1's go to
 * [qs_r, qs_r, qs_r1, qs_r1] by broadcast loads, the second copies shifted right by 4 (the high
 * nibbles: elements 16..31); (d, m) of both rows go through one half-to-float conversion and a
 * float permute to 8 lanes per row. */
static const uint16_t q41_shift[32] = {0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4,
                                       0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4};


typedef struct q41_unpack {
    __m512i pd, pm, sh, low4;
} q41_unpack;

static inline q41_unpack q41_consts(void)
{
    q41_unpack u = {_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2),
                    _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3),
                    _mm512_loadu_si512(q41_shift), _mm512_set1_epi8(0x0F)};
    return u;
}

/* nibbles (u8 in [0, 15]) of block k of two rows, and their d and m as floats */
static inline __m512i q41_load(const q41_unpack *u, const pcc_block_q4_1 *b0, const pcc_block_q4_1 *b1,
                               __m512 *d, __m512 *m)
{
    /* [qs_r x2 | qs_r1 x2] by broadcast loads; the second copies shift to the high nibbles */
    const __m512i q = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)b0->qs)),
                                                  (__mmask16)0xFF00, _mm_loadu_si128((const __m128i *)b1->qs));
    /* (d_r, m_r, d_r1, m_r1) to floats, then spread to 8 lanes per row */
    int32_t dm0, dm1;
    memcpy(&dm0, b0, 4);
    memcpy(&dm1, b1, 4);
    const __m128 f = _mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128(dm0), dm1, 1));
    *d = _mm512_permutexvar_ps(u->pd, _mm512_castps128_ps512(f));
    *m = _mm512_permutexvar_ps(u->pm, _mm512_castps128_ps512(f));
    return _mm512_and_si512(_mm512_srlv_epi16(q, u->sh), u->low4);
}

static inline __m512i bcast_q(const int8_t *qs)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qs));
}

/* Q4_1 rows x one Q8_1 vector: per block acc = fma(d_w * d_x, isum, acc) in each row's 8 lanes,
 * summs = fma(m_w, s_x, summs) (an exact product: the sequential float sum ggml keeps). */
static void dotrows_q4_1(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *vx)
{
    const size_t nb = n / PCC_QK;
    const pcc_block_q8_1 *x = vx;
    float dx[NB_MAX], sx[NB_MAX];
    if (nb > NB_MAX) {
        for (size_t r = 0; r < nr; r++)
            pcc_kernels_get(PCC_KV_AVX2)->types[PCC_DT_Q4_1].dot(n, s + r, (const uint8_t *)w + r * ws, vx);
        return;
    }
    for (size_t k = 0; k < nb; k++) {
        dx[k] = h2f(x[k].d);
        sx[k] = h2f(x[k].s);
    }
    const q41_unpack u = q41_consts();
    /* row i pairs with row i + h: two ascending streams (interleaving neighbouring rows defeats
     * the hardware prefetcher on some CPUs) */
    const size_t h = (nr + 1) / 2;
    for (size_t i = 0; i < h; i++) {
        const size_t r = i, r1 = i + h < nr ? i + h : i;
        const pcc_block_q4_1 *b0 = (const pcc_block_q4_1 *)((const uint8_t *)w + r * ws);
        const pcc_block_q4_1 *b1 = (const pcc_block_q4_1 *)((const uint8_t *)w + r1 * ws);
        __m512 acc = _mm512_setzero_ps(), sm = _mm512_setzero_ps();
        for (size_t k = 0; k < nb; k++) {
            __m512 d, m;
            const __m512i q = q41_load(&u, b0 + k, b1 + k, &d, &m);
            const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, bcast_q(x[k].qs));
            acc = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx[k])), _mm512_cvtepi32_ps(p), acc);
            sm = _mm512_fmadd_ps(m, _mm512_set1_ps(sx[k]), sm);
        }
        store_pair(s + r, r1 != r ? s + r1 : NULL, acc, sm);
    }
}

/* Q4_1 rows x a batch of Q8_1 vectors (prefill): tiles of 2 rows x 8 tokens, so each unpacked
 * pair of weight blocks serves 8 tokens (16 accumulators); every (row, token) gets dotrows_q4_1's
 * bits. Rows pair as in dotrows_q4_1. */
#define GEMM_T 8
static void gemm_q4_1(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w,
                      size_t ws, const void *vx, size_t xs)
{
    const size_t nb = n / PCC_QK;
    if (nb > NB_MAX / 2) {
        for (size_t t = 0; t < nt; t++)
            dotrows_q4_1(n, nr, y + t * ldy, w, ws, (const uint8_t *)vx + t * xs);
        return;
    }
    float dx[GEMM_T][NB_MAX / 2], sx[GEMM_T][NB_MAX / 2]; /* 32 KiB: up to 16384 columns */
    const pcc_block_q8_1 *xt[GEMM_T];
    const q41_unpack u = q41_consts();
    const size_t h = (nr + 1) / 2;
    for (size_t t0 = 0; t0 < nt; t0 += GEMM_T) {
        const size_t tc = nt - t0 < GEMM_T ? nt - t0 : GEMM_T;
        for (size_t t = 0; t < GEMM_T; t++) {
            /* a short last group repeats its last token; those sums are not stored */
            xt[t] = (const pcc_block_q8_1 *)((const uint8_t *)vx + (t0 + (t < tc ? t : tc - 1)) * xs);
            for (size_t k = 0; k < nb; k++) {
                dx[t][k] = h2f(xt[t][k].d);
                sx[t][k] = h2f(xt[t][k].s);
            }
        }
        for (size_t i = 0; i < h; i++) {
            const size_t r = i, r1 = i + h < nr ? i + h : i;
            const pcc_block_q4_1 *b0 = (const pcc_block_q4_1 *)((const uint8_t *)w + r * ws);
            const pcc_block_q4_1 *b1 = (const pcc_block_q4_1 *)((const uint8_t *)w + r1 * ws);
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            __m512 c0 = a0, c1 = a0, c2 = a0, c3 = a0, c4 = a0, c5 = a0, c6 = a0, c7 = a0;
            for (size_t k = 0; k < nb; k++) {
                __m512 d, m;
                const __m512i q = q41_load(&u, b0 + k, b1 + k, &d, &m);
#define GEMM_STEP(t, A, C)                                                                           \
    do {                                                                                            \
        const __m512i p_ = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, bcast_q(xt[t][k].qs));    \
        A = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx[t][k])), _mm512_cvtepi32_ps(p_), A); \
        C = _mm512_fmadd_ps(m, _mm512_set1_ps(sx[t][k]), C);                                        \
    } while (0)
                GEMM_STEP(0, a0, c0);
                GEMM_STEP(1, a1, c1);
                GEMM_STEP(2, a2, c2);
                GEMM_STEP(3, a3, c3);
                GEMM_STEP(4, a4, c4);
                GEMM_STEP(5, a5, c5);
                GEMM_STEP(6, a6, c6);
                GEMM_STEP(7, a7, c7);
#undef GEMM_STEP
            }
            const __m512 acc[GEMM_T] = {a0, a1, a2, a3, a4, a5, a6, a7};
            const __m512 sm[GEMM_T] = {c0, c1, c2, c3, c4, c5, c6, c7};
            for (size_t t = 0; t < tc; t++)
                store_pair(y + (t0 + t) * ldy + r, r1 != r ? y + (t0 + t) * ldy + r1 : NULL, acc[t], sm[t]);
        }
    }
}

/* Q8_0: 34-byte blocks; bytes 2..33 of each row's block to [qs_r | qs_r1], word 0 to
 * [d_r x8 | d_r1 x8]. vpdpbusd takes u8 x s8, so the weights are flipped to w + 128 (xor 0x80)
 * and the accumulator starts at -128 * (sum of the 4 activation bytes), prepared per block. */
static const uint8_t q80_perm_q[64] = {
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31, 32, 33,
    66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89,
    90, 91, 92, 93, 94, 95, 96, 97};
static const uint16_t q80_perm_d[32] = {0, 0, 0, 0, 0, 0, 0, 0, 32, 32, 32, 32, 32, 32, 32, 32,
                                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static void dotrows_q8_0(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *vx)
{
    const size_t nb = n / PCC_QK;
    const pcc_block_q8_0 *x = vx;
    if (nb > NB_MAX) {
        for (size_t r = 0; r < nr; r++)
            pcc_kernels_get(PCC_KV_AVX2)->types[PCC_DT_Q8_0].dot(n, s + r, (const uint8_t *)w + r * ws, vx);
        return;
    }
    __m256i corr[NB_MAX];
    float dx[NB_MAX];
    const __m256i flip256 = _mm256_set1_epi8((char)0x80);
    for (size_t k = 0; k < nb; k++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)x[k].qs);
        corr[k] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), flip256, q));
        dx[k] = h2f(x[k].d);
    }
    const __m512i pq = _mm512_loadu_si512(q80_perm_q), pd = _mm512_loadu_si512(q80_perm_d);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __mmask64 m34 = (__mmask64)0x3FFFFFFFFull;
    const size_t h = (nr + 1) / 2; /* row i pairs with row i + h, as in dotrows_q4_1 */
    for (size_t i = 0; i < h; i++) {
        const size_t r = i, r1 = i + h < nr ? i + h : i;
        const pcc_block_q8_0 *b0 = (const pcc_block_q8_0 *)((const uint8_t *)w + r * ws);
        const pcc_block_q8_0 *b1 = (const pcc_block_q8_0 *)((const uint8_t *)w + r1 * ws);
        __m512 acc = _mm512_setzero_ps();
        for (size_t k = 0; k < nb; k++) {
            const __m512i raw0 = _mm512_maskz_loadu_epi8(m34, b0 + k);
            const __m512i raw1 = _mm512_maskz_loadu_epi8(m34, b1 + k);
            const __m512i q = _mm512_xor_si512(_mm512_permutex2var_epi8(raw0, pq, raw1), flip);
            const __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(raw0, pd, raw1)));
            const __m512i c = _mm512_broadcast_i64x4(corr[k]);
            const __m512i p = _mm512_dpbusd_epi32(c, q, bcast_q(x[k].qs));
            acc = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx[k])), _mm512_cvtepi32_ps(p), acc);
        }
        store_pair(s + r, r1 != r ? s + r1 : NULL, acc, _mm512_setzero_ps());
    }
}

/* ---- Q4_0, Q5_0, Q5_1: two rows per register, as dotrows_q4_1 ---- */

/* [d0 x8 | d1 x8] as floats */
static inline __m512 d_pair(uint16_t d0, uint16_t d1)
{
    return _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16((short)d1), _mm_set1_epi16((short)d0)));
}

/* 16 nibble bytes of two rows' blocks to [elements 0..31 of row 0 | of row 1], as u8 in [0, 15] */
static inline __m512i nib_pair(const q41_unpack *u, const uint8_t *qs0, const uint8_t *qs1)
{
    const __m512i q = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qs0)),
                                                  (__mmask16)0xFF00, _mm_loadu_si128((const __m128i *)qs1));
    return _mm512_and_si512(_mm512_srlv_epi16(q, u->sh), u->low4);
}

/* bit e of qh0 and qh1 as byte e and 32 + e */
static inline __mmask64 qh_pair(const uint8_t *qh0, const uint8_t *qh1)
{
    uint32_t a, b;
    memcpy(&a, qh0, 4);
    memcpy(&b, qh1, 4);
    return (__mmask64)a | (__mmask64)b << 32;
}

/* -off * (sum of each 4 activation bytes) per 32-bit lane: added to u8 x s8 sums of q + off it
 * gives the sums of q, exactly */
static inline __m256i offset_corr(const int8_t *qs, int off)
{
    const __m256i q = _mm256_loadu_si256((const __m256i *)qs);
    return _mm256_sub_epi32(_mm256_setzero_si256(),
                            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)off), q));
}

/* kind 0: Q4_0 (q - 8), 1: Q5_0 (q - 16), 2: Q5_1 (q, plus m * s) */
static inline __attribute__((always_inline)) void dotrows_q32(int kind, size_t n, size_t nr, float *s, const void *w, size_t ws, const void *vx)
{
    const size_t nb = n / PCC_QK;
    const size_t xbytes = kind == 2 ? sizeof(pcc_block_q8_1) : sizeof(pcc_block_q8_0);
    const pcc_dtype wt = kind == 0 ? PCC_DT_Q4_0 : kind == 1 ? PCC_DT_Q5_0 : PCC_DT_Q5_1;
    if (nb > NB_MAX) {
        for (size_t r = 0; r < nr; r++)
            pcc_kernels_get(PCC_KV_AVX2)->types[wt].dot(n, s + r, (const uint8_t *)w + r * ws, vx);
        return;
    }
    __m256i corr[NB_MAX];
    float dx[NB_MAX], sx[NB_MAX];
    const int8_t *xq[NB_MAX];
    for (size_t k = 0; k < nb; k++) {
        const uint8_t *xb = (const uint8_t *)vx + k * xbytes;
        uint16_t h[2];
        memcpy(h, xb, 4);
        dx[k] = h2f(h[0]);
        sx[k] = kind == 2 ? h2f(h[1]) : 0.0f;
        xq[k] = (const int8_t *)(xb + (kind == 2 ? 4 : 2));
        corr[k] = kind == 2 ? _mm256_setzero_si256() : offset_corr(xq[k], kind == 0 ? 8 : 16);
    }
    const q41_unpack u = q41_consts();
    const size_t wb = kind == 0 ? sizeof(pcc_block_q4_0) : kind == 1 ? sizeof(pcc_block_q5_0) : sizeof(pcc_block_q5_1);
    const size_t qs_off = kind == 0 ? 2 : kind == 1 ? 6 : 8, qh_off = kind == 1 ? 2 : 4;
    const __m512i sixteen = _mm512_set1_epi8(16);
    const size_t h = (nr + 1) / 2; /* row i pairs with row i + h, as in dotrows_q4_1 */
    for (size_t i = 0; i < h; i++) {
        const size_t r = i, r1 = i + h < nr ? i + h : i;
        const uint8_t *b0 = (const uint8_t *)w + r * ws, *b1 = (const uint8_t *)w + r1 * ws;
        __m512 acc = _mm512_setzero_ps(), sm = _mm512_setzero_ps();
        for (size_t k = 0; k < nb; k++, b0 += wb, b1 += wb) {
            uint16_t h0[2], h1[2];
            memcpy(h0, b0, 4);
            memcpy(h1, b1, 4);
            __m512i q = nib_pair(&u, b0 + qs_off, b1 + qs_off);
            if (kind != 0)
                q = _mm512_mask_add_epi8(q, qh_pair(b0 + qh_off, b1 + qh_off), q, sixteen);
            const __m512i p = _mm512_dpbusd_epi32(_mm512_broadcast_i64x4(corr[k]), q, bcast_q(xq[k]));
            const __m512 d = d_pair(h0[0], h1[0]);
            acc = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx[k])), _mm512_cvtepi32_ps(p), acc);
            if (kind == 2)
                sm = _mm512_fmadd_ps(d_pair(h0[1], h1[1]), _mm512_set1_ps(sx[k]), sm);
        }
        store_pair(s + r, r1 != r ? s + r1 : NULL, acc, sm);
    }
}

static void dotrows_q4_0(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    dotrows_q32(0, n, nr, s, w, ws, x);
}
static void dotrows_q5_0(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    dotrows_q32(1, n, nr, s, w, ws, x);
}
static void dotrows_q5_1(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)
{
    dotrows_q32(2, n, nr, s, w, ws, x);
}

/* The 32-element types x a batch of activations (prefill), tiled: the tokens go
 * in passes of up to 32 whose prepared per-block activation terms (the offset corrections, d and
 * s as floats: at most G2_PREP blocks x tokens) stay in L1/L2, and within a pass every tile of
 * 2 x 2 rows (two registers of a row pair each) meets the pass's tokens 8 at a time, so a tile's
 * blocks are read from L1 and each activation load serves four rows (two for Q5_1, whose min sums
 * take the other registers). The next tile's rows are prefetched during the first group.
 * Each (row, token) gets the row kernel's bits: the same integer sums, the same float steps in the
 * same order. kind as gemm_q32. The weights are used in place (no repacked copy). Q4_1 keeps
 * gemm_q4_1 (2 rows x 8 tokens over the whole matrix), measured faster on SmolLM2's L2-sized
 * matrices than these tiles with a min. */
#define G2_RP 2      /* row pairs per tile */

typedef struct g2_ctx {
    int kind;
    size_t nb, wb, qs_off, qh_off, xbytes, xq_off;
    const __m256i *corr; /* [token][block] */
    const float *dx, *sx;
    const uint8_t *const *xt;
    __m512i pq, pd;
} g2_ctx;

#define G2_INLINE static inline __attribute__((always_inline))

/* q (u8 operands of vpdpbusd), d and m of block k of rows b0/b1; kind is a constant at every
 * call, so the branches fold */
G2_INLINE __m512i g2_unpack(int kind, const g2_ctx *g, const q41_unpack *u, const uint8_t *b0,
                            const uint8_t *b1, __m512 *d, __m512 *m)
{
    if (kind == 3) {
        const __mmask64 m34 = (__mmask64)0x3FFFFFFFFull;
        const __m512i raw0 = _mm512_maskz_loadu_epi8(m34, b0);
        const __m512i raw1 = _mm512_maskz_loadu_epi8(m34, b1);
        *d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(raw0, g->pd, raw1)));
        *m = _mm512_setzero_ps();
        return _mm512_xor_si512(_mm512_permutex2var_epi8(raw0, g->pq, raw1), _mm512_set1_epi8((char)0x80));
    }
    uint16_t h0[2], h1[2];
    memcpy(h0, b0, 4);
    memcpy(h1, b1, 4);
    __m512i q = nib_pair(u, b0 + g->qs_off, b1 + g->qs_off);
    if (kind == 1 || kind == 2)
        q = _mm512_mask_add_epi8(q, qh_pair(b0 + g->qh_off, b1 + g->qh_off), q, _mm512_set1_epi8(16));
    *d = d_pair(h0[0], h1[0]);
    *m = kind == 2 ? d_pair(h0[1], h1[1]) : _mm512_setzero_ps();
    return q;
}

/* one tile: rows ri[0 .. 2 G2_RP), paired (ri[2p], ri[2p+1]) (the types with a min: the first
 * pair only), x tokens [t0, t0 + 8) of the pass; rows at or past nr (repeats of the last row)
 * and tokens at or past tc are not stored */
G2_INLINE void g2_tile(int kind, const g2_ctx *g, const q41_unpack *u, const uint8_t *const *rb,
                       const uint8_t *const *pf, const size_t *ri, size_t nr, size_t t0, size_t tc, float *y,
                       size_t ldy)
{
    enum { TS = 8 };
    /* with a min (sm accumulators too): one pair per call, the caller makes two */
    const int hm = kind == 2, ts = 8, np = hm ? 1 : G2_RP;
    __m512 acc[G2_RP][TS], sm[G2_RP][TS];
    const uint8_t *xp[TS];
#pragma GCC unroll 8
    for (int t = 0; t < TS; t++) {
        xp[t] = t < ts ? g->xt[t0 + (size_t)t] + g->xq_off : NULL;
#pragma GCC unroll 2
        for (int p = 0; p < np; p++)
            acc[p][t] = sm[p][t] = _mm512_setzero_ps();
    }
    const __m256i *corr = g->corr + t0 * g->nb;
    const float *dxp = g->dx + t0 * g->nb, *sxp = g->sx + t0 * g->nb;
    for (size_t k = 0; k < g->nb; k++) {
        __m512i q[G2_RP];
        __m512 d[G2_RP], m[G2_RP];
#pragma GCC unroll 2
        for (int p = 0; p < np; p++)
            q[p] = g2_unpack(kind, g, u, rb[2 * p] + k * g->wb, rb[2 * p + 1] + k * g->wb, &d[p], &m[p]);
        if (pf != NULL) {
            /* the next tile's rows, which come from L3 or memory when the matrix is larger than L2
             * (four short interleaved streams; requested early rather than left to the hardware) */
#pragma GCC unroll 4
            for (int i = 0; i < 2 * np; i++)
                _mm_prefetch((const char *)(pf[i] + k * g->wb), _MM_HINT_T0);
        }
#pragma GCC unroll 8
        for (int t = 0; t < TS; t++) {
            if (t >= ts)
                break;
            const size_t tk = (size_t)t * g->nb + k;
            const __m512i xq = bcast_q((const int8_t *)(xp[t] + k * g->xbytes));
            const __m512i c = kind == 2 ? _mm512_setzero_si512() : _mm512_broadcast_i64x4(corr[tk]);
            const __m512 dx = _mm512_set1_ps(dxp[tk]);
#pragma GCC unroll 2
            for (int p = 0; p < np; p++) {
                const __m512i s_ = _mm512_dpbusd_epi32(c, q[p], xq);
                acc[p][t] = _mm512_fmadd_ps(_mm512_mul_ps(d[p], dx), _mm512_cvtepi32_ps(s_), acc[p][t]);
                if (hm)
                    sm[p][t] = _mm512_fmadd_ps(m[p], _mm512_set1_ps(sxp[tk]), sm[p][t]);
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < TS; t++) {
        if (t >= ts || t0 + (size_t)t >= tc)
            break;
#pragma GCC unroll 2
        for (int p = 0; p < np; p++)
            if (ri[2 * p] < nr)
                store_pair(y + (size_t)t * ldy + ri[2 * p],
                           ri[2 * p + 1] < nr ? y + (size_t)t * ldy + ri[2 * p + 1] : NULL, acc[p][t], sm[p][t]);
    }
}

static void gemm_q32_tiled(int kind, size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w,
                           size_t ws, const void *vx, size_t xs)
{
    g2_ctx g;
    g.kind = kind;
    g.nb = n / PCC_QK;
    /* tokens per pass: a multiple of 8, at most 32, the prepared terms within G2_PREP */
    size_t tp = G2_PREP / g.nb;
    tp = tp > 32 ? 32 : tp - tp % 8;
    __m256i corr[G2_PREP];
    float dx[G2_PREP], sx[G2_PREP];
    const uint8_t *xt[32];
    const bool has_m = kind == 2;
    g.xbytes = has_m ? sizeof(pcc_block_q8_1) : sizeof(pcc_block_q8_0);
    g.xq_off = has_m ? 4 : 2;
    g.wb = kind == 0 ? sizeof(pcc_block_q4_0) : kind == 1 ? sizeof(pcc_block_q5_0)
           : kind == 2 ? sizeof(pcc_block_q5_1) : sizeof(pcc_block_q8_0);
    g.qs_off = kind == 0 ? 2 : kind == 1 ? 6 : 8;
    g.qh_off = kind == 1 ? 2 : 4;
    g.corr = corr;
    g.dx = dx;
    g.sx = sx;
    g.xt = xt;
    g.pq = _mm512_loadu_si512(q80_perm_q);
    g.pd = _mm512_loadu_si512(q80_perm_d);
    const int off = kind == 0 ? 8 : kind == 1 ? 16 : kind == 3 ? 128 : 0;
    const q41_unpack u = q41_consts();
    const size_t ts = 8;
    for (size_t p0 = 0; p0 < nt; p0 += tp) {
        const size_t pc = nt - p0 < tp ? nt - p0 : tp; /* tokens in this pass */
        const size_t pr = (pc + ts - 1) / ts * ts;     /* rounded up; the extra ones repeat the last */
        for (size_t t = 0; t < pr; t++) {
            xt[t] = (const uint8_t *)vx + (p0 + (t < pc ? t : pc - 1)) * xs;
            for (size_t k = 0; k < g.nb; k++) {
                const uint8_t *xb = xt[t] + k * g.xbytes;
                uint16_t hh[2];
                memcpy(hh, xb, 4);
                dx[t * g.nb + k] = h2f(hh[0]);
                sx[t * g.nb + k] = has_m ? h2f(hh[1]) : 0.0f;
                corr[t * g.nb + k] = off ? offset_corr((const int8_t *)(xb + g.xq_off), off) : _mm256_setzero_si256();
            }
        }
        for (size_t r0 = 0; r0 < nr; r0 += 2 * G2_RP) {
            const uint8_t *rb[2 * G2_RP], *nx[2 * G2_RP];
            size_t ri[2 * G2_RP];
            for (size_t i = 0; i < 2 * G2_RP; i++) {
                ri[i] = r0 + i;
                rb[i] = (const uint8_t *)w + (r0 + i < nr ? r0 + i : nr - 1) * ws;
                const size_t rn = r0 + 2 * G2_RP + i; /* the next tile's rows, or the next pass's first */
                nx[i] = (const uint8_t *)w + (rn < nr ? rn : i < nr ? i : 0) * ws;
            }
            for (size_t t0 = 0; t0 < pc; t0 += ts) {
                float *yt = y + (p0 + t0) * ldy;
                const uint8_t *const *pf = t0 == 0 ? nx : NULL;
                switch (kind) {
                case 0: g2_tile(0, &g, &u, rb, pf, ri, nr, t0, pc, yt, ldy); break;
                case 1: g2_tile(1, &g, &u, rb, pf, ri, nr, t0, pc, yt, ldy); break;
                case 2: g2_tile(2, &g, &u, rb, pf, ri, nr, t0, pc, yt, ldy); break;
                case 3: g2_tile(3, &g, &u, rb, pf, ri, nr, t0, pc, yt, ldy); break;
                default: break;
                }
                if (has_m) /* the second pair of a tile */
                    g2_tile(2, &g, &u, rb + 2, pf ? pf + 2 : NULL, ri + 2, nr, t0, pc, yt, ldy);
            }
        }
    }
}

/* Q4_0, Q5_0, Q5_1 and Q8_0 rows x a batch of activations (prefill): tiles of 2 rows x 8 tokens
 * as gemm_q4_1, each (row, token) with the row kernel's bits. kind as dotrows_q32, 3: Q8_0. */
#define GEMM_NB 256 /* blocks per row prepared on the stack (8192 columns); longer rows loop */
static void gemm_q32(int kind, size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w,
                     size_t ws, const void *vx, size_t xs)
{
    const size_t nb = n / PCC_QK;
    if (nb <= G2_PREP / 8) {
        gemm_q32_tiled(kind, n, nr, nt, y, ldy, w, ws, vx, xs);
        return;
    }
    if (nb > GEMM_NB) {
        const pcc_dtype wt = kind == 0 ? PCC_DT_Q4_0 : kind == 1 ? PCC_DT_Q5_0 : kind == 2 ? PCC_DT_Q5_1 : PCC_DT_Q8_0;
        const pcc_dotrows_fn fn = pcc_kernels_get(PCC_KV_AVX512)->types[wt].dotrows;
        for (size_t t = 0; t < nt; t++)
            fn(n, nr, y + t * ldy, w, ws, (const uint8_t *)vx + t * xs);
        return;
    }
    __m256i corr[GEMM_T][GEMM_NB];
    float dx[GEMM_T][GEMM_NB], sx[GEMM_T][GEMM_NB];
    const uint8_t *xt[GEMM_T];
    const size_t xbytes = kind == 2 ? sizeof(pcc_block_q8_1) : sizeof(pcc_block_q8_0);
    const size_t xq_off = kind == 2 ? 4 : 2;
    const size_t wb = kind == 0 ? sizeof(pcc_block_q4_0) : kind == 1 ? sizeof(pcc_block_q5_0)
                      : kind == 2 ? sizeof(pcc_block_q5_1) : sizeof(pcc_block_q8_0);
    const size_t qs_off = kind == 0 ? 2 : kind == 1 ? 6 : 8, qh_off = kind == 1 ? 2 : 4;
    const int off = kind == 0 ? 8 : kind == 1 ? 16 : kind == 3 ? 128 : 0;
    const q41_unpack u = q41_consts();
    const __m512i sixteen = _mm512_set1_epi8(16), flip = _mm512_set1_epi8((char)0x80);
    const __m512i pq = _mm512_loadu_si512(q80_perm_q), pd = _mm512_loadu_si512(q80_perm_d);
    const __mmask64 m34 = (__mmask64)0x3FFFFFFFFull;
    const size_t h = (nr + 1) / 2;
    for (size_t t0 = 0; t0 < nt; t0 += GEMM_T) {
        const size_t tc = nt - t0 < GEMM_T ? nt - t0 : GEMM_T;
        for (size_t t = 0; t < GEMM_T; t++) {
            /* a short last group repeats its last token; those sums are not stored */
            xt[t] = (const uint8_t *)vx + (t0 + (t < tc ? t : tc - 1)) * xs;
            for (size_t k = 0; k < nb; k++) {
                const uint8_t *xb = xt[t] + k * xbytes;
                uint16_t hh[2];
                memcpy(hh, xb, 4);
                dx[t][k] = h2f(hh[0]);
                sx[t][k] = kind == 2 ? h2f(hh[1]) : 0.0f;
                corr[t][k] = off ? offset_corr((const int8_t *)(xb + xq_off), off) : _mm256_setzero_si256();
            }
        }
        for (size_t i = 0; i < h; i++) {
            const size_t r = i, r1 = i + h < nr ? i + h : i;
            const uint8_t *b0 = (const uint8_t *)w + r * ws, *b1 = (const uint8_t *)w + r1 * ws;
            __m512 acc[GEMM_T], sm[GEMM_T];
            for (size_t t = 0; t < GEMM_T; t++)
                acc[t] = sm[t] = _mm512_setzero_ps();
            for (size_t k = 0; k < nb; k++, b0 += wb, b1 += wb) {
                __m512i q;
                __m512 d, m = _mm512_setzero_ps();
                if (kind == 3) {
                    const __m512i raw0 = _mm512_maskz_loadu_epi8(m34, b0);
                    const __m512i raw1 = _mm512_maskz_loadu_epi8(m34, b1);
                    q = _mm512_xor_si512(_mm512_permutex2var_epi8(raw0, pq, raw1), flip);
                    d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(raw0, pd, raw1)));
                } else {
                    uint16_t h0[2], h1[2];
                    memcpy(h0, b0, 4);
                    memcpy(h1, b1, 4);
                    q = nib_pair(&u, b0 + qs_off, b1 + qs_off);
                    if (kind != 0)
                        q = _mm512_mask_add_epi8(q, qh_pair(b0 + qh_off, b1 + qh_off), q, sixteen);
                    d = d_pair(h0[0], h1[0]);
                    if (kind == 2)
                        m = d_pair(h0[1], h1[1]);
                }
#pragma GCC unroll 8
                for (size_t t = 0; t < GEMM_T; t++) {
                    const __m512i p = _mm512_dpbusd_epi32(_mm512_broadcast_i64x4(corr[t][k]), q,
                                                          bcast_q((const int8_t *)(xt[t] + k * xbytes + xq_off)));
                    acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx[t][k])), _mm512_cvtepi32_ps(p), acc[t]);
                    if (kind == 2)
                        sm[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(sx[t][k]), sm[t]);
                }
            }
            for (size_t t = 0; t < tc; t++)
                store_pair(y + (t0 + t) * ldy + r, r1 != r ? y + (t0 + t) * ldy + r1 : NULL, acc[t], sm[t]);
        }
    }
}

static void gemm_q4_0(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w, size_t ws,
                      const void *x, size_t xs)
{
    gemm_q32(0, n, nr, nt, y, ldy, w, ws, x, xs);
}
static void gemm_q5_0(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w, size_t ws,
                      const void *x, size_t xs)
{
    gemm_q32(1, n, nr, nt, y, ldy, w, ws, x, xs);
}
static void gemm_q5_1(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w, size_t ws,
                      const void *x, size_t xs)
{
    gemm_q32(2, n, nr, nt, y, ldy, w, ws, x, xs);
}
static void gemm_q8_0(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w, size_t ws,
                      const void *x, size_t xs)
{
    gemm_q32(3, n, nr, nt, y, ldy, w, ws, x, xs);
}

/* ---- K-quants: one row at a time, 64 elements per 512-bit step ----
 * Each step holds two 32-element chunks (lanes 0-7 and 8-15 of the integer sums); u8 x s8 pairs
 * (vpmaddubsw, exact here) times the chunk's scale accumulate with vpdpwssd; the two halves are
 * added (integers, exact) into ggml's 8 lanes before the float step, which is the AVX2 one. */

static inline __m512i bcast256(const void *p)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

static const uint16_t k_shift_lo_hi[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                           4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4};

static inline __m256i fold_lanes(__m512i v)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* scales (int16 lanes 0-7) and mins (8-15) of a Q4_K/Q5_K super-block, unpacked as ggml's
 * kmask trick does */
static inline __m256i k4_mins_scales512(const uint8_t q[12])
{
    uint32_t u[4];
    memcpy(u, q, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    const uint32_t aux = u[1] & 0x3f3f3f3fu;
    u[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    u[2] = aux;
    u[0] &= 0x3f3f3f3fu;
    return _mm256_cvtepu8_epi16(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]));
}

static inline __m128i k4_min_prod512(__m256i ms, const int16_t *bsums)
{
    const __m256i q8sums = _mm256_loadu_si256((const __m256i *)bsums);
    const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(q8sums), _mm256_extracti128_si256(q8sums, 1));
    return _mm_madd_epi16(_mm256_extracti128_si256(ms, 1), q8s);
}

/* word indexes spreading scale 2j over lanes 0-15 and scale 2j+1 over lanes 16-31 */
static const uint16_t k4_sidx[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}};

typedef struct k4_consts {
    __m512i sh, m4, sixteen, sidx[4], bit[4];
} k4_consts;

static inline k4_consts k4_init(void)
{
    k4_consts c;
    c.sh = _mm512_loadu_si512(k_shift_lo_hi);
    c.m4 = _mm512_set1_epi8(0x0F);
    c.sixteen = _mm512_set1_epi8(16);
    for (int j = 0; j < 4; j++) {
        c.sidx[j] = _mm512_loadu_si512(k4_sidx[j]);
        c.bit[j] = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * j))),
                                      _mm256_set1_epi8((char)(2 << (2 * j))), 1);
    }
    return c;
}

/* integer sums of a Q4_K (qh NULL) or Q5_K super-block, in ggml's 8 lanes; ms from
 * k4_mins_scales512 */
static inline __m256i k45_sums(const k4_consts *c, const uint8_t *qs, const uint8_t *qh, __m256i ms,
                               const int8_t *q8)
{
    const __m512i hb = qh != NULL ? bcast256(qh) : _mm512_setzero_si512();
    const __m512i ms512 = _mm512_castsi256_si512(ms);
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    for (int j = 0; j < 4; j++) {
        __m512i q = _mm512_and_si512(_mm512_srlv_epi16(bcast256(qs + 32 * j), c->sh), c->m4);
        if (qh != NULL)
            q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(hb, c->bit[j]), q, c->sixteen);
        const __m512i scale = _mm512_permutexvar_epi16(c->sidx[j], ms512);
        const __m512i p16 = _mm512_maddubs_epi16(q, _mm512_loadu_si512(q8 + 64 * j));
        if (j & 1)
            s1 = _mm512_dpwssd_epi32(s1, scale, p16);
        else
            s0 = _mm512_dpwssd_epi32(s0, scale, p16);
    }
    return fold_lanes(_mm512_add_epi32(s0, s1));
}

static inline float dot_q4_k_1(size_t nb, const pcc_block_q4_k *w, const pcc_block_q8_k *x)
{
    const k4_consts c = k4_init();
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const float d = x[i].d * h2f(w[i].d), dmin = -x[i].d * h2f(w[i].dmin);
        const __m256i ms = k4_mins_scales512(w[i].scales);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_min_prod512(ms, x[i].bsums)), accm);
        const __m256i sumi = k45_sums(&c, w[i].qs, NULL, ms, x[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    return hsum8(acc) + _mm_cvtss_f32(accm);
}

static inline float dot_q5_k_1(size_t nb, const pcc_block_q5_k *w, const pcc_block_q8_k *x)
{
    const k4_consts c = k4_init();
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (size_t i = 0; i < nb; i++) {
        const float d = x[i].d * h2f(w[i].d), dmin = -x[i].d * h2f(w[i].dmin);
        const __m256i ms = k4_mins_scales512(w[i].scales);
        const __m128i prod = k4_min_prod512(ms, x[i].bsums);
        const __m128i hs = _mm_hadd_epi32(_mm_hadd_epi32(prod, _mm_setzero_si128()), _mm_setzero_si128());
        summs = fmaf(dmin, (float)_mm_cvtsi128_si32(hs), summs);
        const __m256i sumi = k45_sums(&c, w[i].qs, w[i].qh, ms, x[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc) + summs;
}

/* Q6_K: per 128 elements two steps, chunks (0, 1) and (2, 3) of ggml's loop; each 16-element
 * sub-block's scale spread over its 8 int16 lanes by a word permute */
static const uint16_t q6_sidx[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15}};
static const uint16_t q6_hshift[2][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6}};

static inline float dot_q6_k_1(size_t nb, const pcc_block_q6_k *w, const pcc_block_q8_k *x)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
    const __m512i hsA = _mm512_loadu_si512(q6_hshift[0]), hsB = _mm512_loadu_si512(q6_hshift[1]);
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const float d = x[i].d * h2f(w[i].d);
        const __m128i scales = _mm_loadu_si128((const __m128i *)w[i].scales);
        const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(scales));
        const __m256i sub = _mm256_slli_epi32(
            _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[i].bsums), _mm256_cvtepi8_epi16(scales)), 5);
        __m512i sumi = _mm512_setzero_si512();
        for (int j = 0; j < 2; j++) {
            const __m512i l = _mm512_loadu_si512(w[i].ql + 64 * j);
            const __m512i bh = bcast256(w[i].qh + 32 * j);
            const __m512i hA = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(bh, hsA), m3), 4);
            const __m512i hB = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(bh, hsB), m3), 4);
            const __m512i qA = _mm512_or_si512(_mm512_and_si512(l, m4), hA);
            const __m512i qB = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), hB);
            const __m512i sA = _mm512_permutexvar_epi16(_mm512_loadu_si512(q6_sidx[2 * j]), sc16);
            const __m512i sB = _mm512_permutexvar_epi16(_mm512_loadu_si512(q6_sidx[2 * j + 1]), sc16);
            sumi = _mm512_dpwssd_epi32(sumi, sA, _mm512_maddubs_epi16(qA, _mm512_loadu_si512(x[i].qs + 128 * j)));
            sumi = _mm512_dpwssd_epi32(sumi, sB, _mm512_maddubs_epi16(qB, _mm512_loadu_si512(x[i].qs + 128 * j + 64)));
        }
        const __m256i si = _mm256_sub_epi32(fold_lanes(sumi), sub);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(si), acc);
    }
    return hsum8(acc);
}

#define DOTROWS_K(name, fn)                                                                      \
    static void name(size_t n, size_t nr, float *s, const void *w, size_t ws, const void *x)  \
    {                                                                                          \
        for (size_t r = 0; r < nr; r++)                                                        \
            s[r] = fn(n / PCC_QK_K, (const void *)((const uint8_t *)w + r * ws), x);           \
    }
DOTROWS_K(dotrows_q4_k, dot_q4_k_1)
DOTROWS_K(dotrows_q5_k, dot_q5_k_1)
DOTROWS_K(dotrows_q6_k, dot_q6_k_1)
static void dot_q4_k(size_t n, float *s, const void *w, const void *x) { *s = dot_q4_k_1(n / PCC_QK_K, w, x); }
static void dot_q5_k(size_t n, float *s, const void *w, const void *x) { *s = dot_q5_k_1(n / PCC_QK_K, w, x); }
static void dot_q6_k(size_t n, float *s, const void *w, const void *x) { *s = dot_q6_k_1(n / PCC_QK_K, w, x); }

/* K-quant rows x a batch of Q8_K vectors (prefill): each super-block of a row is unpacked once
 * (4 vectors of 64 quants and their scale words) for 4 tokens at a time; per (row, token) the
 * same integer sums and float steps as the row kernels, so the same bits. kind 0: Q4_K, 1: Q5_K,
 * 2: Q6_K. */
#define KGEMM_T 4
static inline void k_unpack(int kind, const k4_consts *c, const uint8_t *blk, __m512i qv[4], __m512i sv[4],
                            __m256i *ms)
{
    if (kind == 2) {
        const pcc_block_q6_k *b = (const pcc_block_q6_k *)(const void *)blk;
        const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
        const __m512i hsA = _mm512_loadu_si512(q6_hshift[0]), hsB = _mm512_loadu_si512(q6_hshift[1]);
        const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales)));
        for (int j = 0; j < 2; j++) {
            const __m512i l = _mm512_loadu_si512(b->ql + 64 * j);
            const __m512i bh = bcast256(b->qh + 32 * j);
            qv[2 * j] = _mm512_or_si512(_mm512_and_si512(l, m4),
                                        _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(bh, hsA), m3), 4));
            qv[2 * j + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                            _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(bh, hsB), m3), 4));
            sv[2 * j] = _mm512_permutexvar_epi16(_mm512_loadu_si512(q6_sidx[2 * j]), sc16);
            sv[2 * j + 1] = _mm512_permutexvar_epi16(_mm512_loadu_si512(q6_sidx[2 * j + 1]), sc16);
        }
        return;
    }
    const pcc_block_q4_k *b4 = (const pcc_block_q4_k *)(const void *)blk;
    const pcc_block_q5_k *b5 = (const pcc_block_q5_k *)(const void *)blk;
    const uint8_t *qs = kind == 0 ? b4->qs : b5->qs;
    *ms = k4_mins_scales512(b4->scales);
    const __m512i ms512 = _mm512_castsi256_si512(*ms);
    const __m512i hb = kind == 1 ? bcast256(b5->qh) : _mm512_setzero_si512();
    for (int j = 0; j < 4; j++) {
        __m512i q = _mm512_and_si512(_mm512_srlv_epi16(bcast256(qs + 32 * j), c->sh), c->m4);
        if (kind == 1)
            q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(hb, c->bit[j]), q, c->sixteen);
        qv[j] = q;
        sv[j] = _mm512_permutexvar_epi16(c->sidx[j], ms512);
    }
}

static inline __m256i k_sums(const __m512i qv[4], const __m512i sv[4], const int8_t *q8)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    s0 = _mm512_dpwssd_epi32(s0, sv[0], _mm512_maddubs_epi16(qv[0], _mm512_loadu_si512(q8)));
    s1 = _mm512_dpwssd_epi32(s1, sv[1], _mm512_maddubs_epi16(qv[1], _mm512_loadu_si512(q8 + 64)));
    s0 = _mm512_dpwssd_epi32(s0, sv[2], _mm512_maddubs_epi16(qv[2], _mm512_loadu_si512(q8 + 128)));
    s1 = _mm512_dpwssd_epi32(s1, sv[3], _mm512_maddubs_epi16(qv[3], _mm512_loadu_si512(q8 + 192)));
    return fold_lanes(_mm512_add_epi32(s0, s1));
}

/* One row's super-blocks unpacked once (K_SCRATCH of them, 528 bytes each) serve every token of
 * the batch; longer rows unpack per group of tokens. */
#define K_SCRATCH 64
typedef struct k_unpacked {
    __m512i qv[4], sv[4];
    __m256i ms;    /* Q4_K/Q5_K: scales and mins; Q6_K: the scales as int16 */
} k_unpacked;

static inline __attribute__((always_inline)) void gemm_k_row(int kind, size_t nb, size_t wb, const k4_consts *c,
                                                             const uint8_t *row, size_t r, size_t nt, float *y,
                                                             size_t ldy, const void *vx, size_t xs,
                                                             k_unpacked *ku)
{
    const bool once = nb <= K_SCRATCH;
    if (once)
        for (size_t i = 0; i < nb; i++) {
            k_unpack(kind, c, row + i * wb, ku[i].qv, ku[i].sv, &ku[i].ms);
            if (kind == 2)
                ku[i].ms = _mm256_cvtepi8_epi16(
                    _mm_loadu_si128((const __m128i *)((const pcc_block_q6_k *)(const void *)(row + i * wb))->scales));
        }
    for (size_t t0 = 0; t0 < nt; t0 += KGEMM_T) {
        const size_t tc = nt - t0 < KGEMM_T ? nt - t0 : KGEMM_T;
        __m256 acc[KGEMM_T];
        __m128 accm[KGEMM_T];
        float summs[KGEMM_T];
        for (size_t t = 0; t < KGEMM_T; t++) {
            acc[t] = _mm256_setzero_ps();
            accm[t] = _mm_setzero_ps();
            summs[t] = 0.0f;
        }
        for (size_t i = 0; i < nb; i++) {
            const uint8_t *blk = row + i * wb;
            k_unpacked tmp;
            const k_unpacked *k = once ? &ku[i] : &tmp;
            if (!once) {
                k_unpack(kind, c, blk, tmp.qv, tmp.sv, &tmp.ms);
                if (kind == 2)
                    tmp.ms = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)((const pcc_block_q6_k *)(const void *)blk)->scales));
            }
            const float dw = h2f(kind == 2 ? ((const pcc_block_q6_k *)(const void *)blk)->d
                                           : ((const pcc_block_q4_k *)(const void *)blk)->d);
            const float dmw = kind == 2 ? 0.0f : h2f(((const pcc_block_q4_k *)(const void *)blk)->dmin);
            /* a short last group repeats its last token (not stored): constant trip counts keep
             * the accumulators in registers */
#pragma GCC unroll 4
            for (size_t t = 0; t < KGEMM_T; t++) {
                const pcc_block_q8_k *xk = (const pcc_block_q8_k *)(const void *)((const uint8_t *)vx + (t0 + (t < tc ? t : tc - 1)) * xs) + i;
                __m256i sumi = k_sums(k->qv, k->sv, xk->qs);
                if (kind == 2) {
                    const __m256i sub = _mm256_slli_epi32(
                        _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xk->bsums), k->ms), 5);
                    sumi = _mm256_sub_epi32(sumi, sub);
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xk->d * dw), _mm256_cvtepi32_ps(sumi), acc[t]);
                    continue;
                }
                const float d = xk->d * dw, dmin = -xk->d * dmw;
                const __m128i prod = k4_min_prod512(k->ms, xk->bsums);
                if (kind == 0) {
                    accm[t] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm[t]);
                } else {
                    const __m128i hs = _mm_hadd_epi32(_mm_hadd_epi32(prod, _mm_setzero_si128()), _mm_setzero_si128());
                    summs[t] = fmaf(dmin, (float)_mm_cvtsi128_si32(hs), summs[t]);
                }
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc[t]);
            }
        }
        for (size_t t = 0; t < tc; t++) {
            float v = hsum8(acc[t]);
            if (kind == 0) {
                __m128 m = _mm_add_ps(accm[t], _mm_movehl_ps(accm[t], accm[t]));
                m = _mm_add_ss(m, _mm_movehdup_ps(m));
                v += _mm_cvtss_f32(m);
            } else if (kind == 1) {
                v += summs[t];
            }
            y[(t0 + t) * ldy + r] = v;
        }
    }
}

static void gemm_k(int kind, size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w,
                   size_t ws, const void *vx, size_t xs)
{
    const size_t nb = n / PCC_QK_K;
    const size_t wb = kind == 0 ? sizeof(pcc_block_q4_k) : kind == 1 ? sizeof(pcc_block_q5_k) : sizeof(pcc_block_q6_k);
    const k4_consts c = k4_init();
    k_unpacked ku[K_SCRATCH];
    for (size_t r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)w + r * ws;
        if (kind == 0)
            gemm_k_row(0, nb, wb, &c, row, r, nt, y, ldy, vx, xs, ku);
        else if (kind == 1)
            gemm_k_row(1, nb, wb, &c, row, r, nt, y, ldy, vx, xs, ku);
        else
            gemm_k_row(2, nb, wb, &c, row, r, nt, y, ldy, vx, xs, ku);
    }
}

static void gemm_q4_k(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w, size_t ws,
                      const void *x, size_t xs)
{
    gemm_k(0, n, nr, nt, y, ldy, w, ws, x, xs);
}
static void gemm_q5_k(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w, size_t ws,
                      const void *x, size_t xs)
{
    gemm_k(1, n, nr, nt, y, ldy, w, ws, x, xs);
}
static void gemm_q6_k(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w, size_t ws,
                      const void *x, size_t xs)
{
    gemm_k(2, n, nr, nt, y, ldy, w, ws, x, xs);
}

/* single dot products through the row kernels, so one row gives the same bits either way */
static void dot_q4_1_rows(size_t n, float *s, const void *w, const void *x) { dotrows_q4_1(n, 1, s, w, 0, x); }
static void dot_q8_0_rows(size_t n, float *s, const void *w, const void *x) { dotrows_q8_0(n, 1, s, w, 0, x); }
static void dot_q4_0_rows(size_t n, float *s, const void *w, const void *x) { dotrows_q4_0(n, 1, s, w, 0, x); }
static void dot_q5_0_rows(size_t n, float *s, const void *w, const void *x) { dotrows_q5_0(n, 1, s, w, 0, x); }
static void dot_q5_1_rows(size_t n, float *s, const void *w, const void *x) { dotrows_q5_1(n, 1, s, w, 0, x); }

/* Q8_K activations as q8_k_from_float_ref (ggml's quantize_row_q8_K_ref): the largest magnitude
 * (NaNs skipped, as the scalar comparison does), the first element that has it, the same scalar
 * iscale; vcvtps2dq rounds half to even as nearbyintf does, a truncating narrow matches the scalar
 * (int8_t) cast. */
static void q8_k_from_float(const float *x, void *vy, size_t n)
{
    pcc_block_q8_k *y = vy;
    for (size_t i = 0; i < n / PCC_QK_K; i++) {
        const float *v = x + i * PCC_QK_K;
        __m512 am = _mm512_setzero_ps();
        for (int c = 0; c < 16; c++)
            am = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(v + 16 * c)), am); /* NaN: keeps am */
        const float amax = _mm512_reduce_max_ps(am);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0.0f;
        for (int c = 0; c < 16; c++) {
            const __mmask16 eq = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(v + 16 * c)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (eq != 0) {
                max = v[16 * c + __builtin_ctz((unsigned)eq)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        if (!isfinite(iscale) || iscale == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const __m512 is = _mm512_set1_ps(iscale);
        const __m512i cap = _mm512_set1_epi32(127);
        for (int c = 0; c < 16; c++) {
            const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(is, _mm512_loadu_ps(v + 16 * c))), cap);
            const __m128i q8 = _mm512_cvtepi32_epi8(q);
            _mm_storeu_si128((__m128i *)(void *)(y[i].qs + 16 * c), q8);
            y[i].bsums[c] = (int16_t)_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(q8));
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ---- element-wise ---- */

/* ggml_vec_soft_max_f32: 16-lane chunks, each reduced and summed in double; the masked last
 * chunk reads -inf (exp 0), as llama.cpp's padded KV length does. */
static void softmax(float *x, size_t n)
{
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
    float max = _mm512_reduce_max_ps(vmax);
    for (; i < n; i++)
        max = x[i] > max ? x[i] : max;
    const __m512 vm = _mm512_set1_ps(max), ninf = _mm512_set1_ps(-INFINITY);
    double sum = 0.0;
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 e = ggml_exp16(_mm512_sub_ps(_mm512_mask_loadu_ps(ninf, m, x + i), vm));
        _mm512_mask_storeu_ps(x + i, m, e);
        sum += (double)hsum16(e);
    }
    const __m512 vinv = _mm512_set1_ps((float)(1.0 / sum));
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vinv));
    }
}

/* ggml_vec_swiglu_f32: ggml's exp for whole 16-element chunks, libm's expf for the rest. */
static void swiglu(float *o, const float *g, const float *u, size_t n)
{
    size_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        const __m512 gv = _mm512_loadu_ps(g + i);
        const __m512 e = ggml_exp16(_mm512_sub_ps(_mm512_setzero_ps(), gv));
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
    t[PCC_DT_F32].dotrows_batch = dotrows_f32_batch;
    t[PCC_DT_F16].dotrows_batch = dotrows_f16_batch;
    t[PCC_DT_F16].dotrows_multi = dotrows_multi_f16;
    t[PCC_DT_Q8_K].from_float = q8_k_from_float;
    t[PCC_DT_Q4_1].dot = dot_q4_1_rows;
    t[PCC_DT_Q4_1].dotrows = dotrows_q4_1;
    t[PCC_DT_Q4_1].gemm = gemm_q4_1;
    t[PCC_DT_Q8_0].dot = dot_q8_0_rows;
    t[PCC_DT_Q8_0].dotrows = dotrows_q8_0;
    t[PCC_DT_Q4_0].dot = dot_q4_0_rows;
    t[PCC_DT_Q4_0].dotrows = dotrows_q4_0;
    t[PCC_DT_Q4_0].gemm = gemm_q4_0;
    t[PCC_DT_Q5_0].gemm = gemm_q5_0;
    t[PCC_DT_Q5_1].gemm = gemm_q5_1;
    t[PCC_DT_Q8_0].gemm = gemm_q8_0;
    t[PCC_DT_Q5_0].dot = dot_q5_0_rows;
    t[PCC_DT_Q5_0].dotrows = dotrows_q5_0;
    t[PCC_DT_Q5_1].dot = dot_q5_1_rows;
    t[PCC_DT_Q5_1].dotrows = dotrows_q5_1;
    t[PCC_DT_Q4_K].dot = dot_q4_k;
    t[PCC_DT_Q4_K].dotrows = dotrows_q4_k;
    t[PCC_DT_Q5_K].dot = dot_q5_k;
    t[PCC_DT_Q5_K].dotrows = dotrows_q5_k;
    t[PCC_DT_Q6_K].dot = dot_q6_k;
    t[PCC_DT_Q6_K].dotrows = dotrows_q6_k;
    t[PCC_DT_Q4_K].gemm = gemm_q4_k;
    t[PCC_DT_Q5_K].gemm = gemm_q5_k;
    t[PCC_DT_Q6_K].gemm = gemm_q6_k;
    k->softmax = softmax;
    k->swiglu = swiglu;
}

#else
void pcc_kernels_fill_avx512(pcc_kernels *k) { (void)k; }
#endif
