/* kernels.c: scalar reference kernels, the variant tables and CPU dispatch.
 *
 * The engine reproduces the arithmetic of llama.cpp's CPU backend (ggml built for AVX-512) bit for
 * bit, because a 30-layer model that requantizes its activations to 8 bits before every product
 * turns any rounding difference into a different token sooner or later. So the reference kernels
 * here spell out ggml's SIMD arithmetic lane by lane: which products go into which of the 8 or 16
 * float lanes, where a fused multiply-add rounds once, the order of the horizontal sums, and
 * ggml's own exp approximation. The SIMD variants in kernels_avx2.c and kernels_avx512.c compute
 * the same bits faster; the tests check every variant against this file bit for bit.
 */
#include <math.h>
#include <pthread.h>

#include "kernels_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

/* ---- half floats (IEEE binary16, round to nearest even; after Maratyszcza's FP16) ---- */

float pcc_fp16_to_fp32(uint16_t h)
{
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const uint32_t exp_offset = 0xE0u << 23;
    const float normalized = pcc_bits_f32((two_w >> 4) + exp_offset) * 0x1.0p-112f;
    const float denormalized = pcc_bits_f32((two_w >> 17) | (126u << 23)) - 0.5f;
    const uint32_t cutoff = 1u << 27;
    const uint32_t r = sign | (two_w < cutoff ? pcc_f32_bits(denormalized) : pcc_f32_bits(normalized));
    return pcc_bits_f32(r);
}

uint16_t pcc_fp32_to_fp16(float f)
{
    float base = (fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    const uint32_t w = pcc_f32_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u)
        bias = 0x71000000u;
    base = pcc_bits_f32((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = pcc_f32_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

#define H2F pcc_fp16_to_fp32
#define F2H pcc_fp32_to_fp16

/* ---- conversions ---- */

static void f32_from_float(const float *x, void *y, size_t n) { memcpy(y, x, n * sizeof(float)); }
static void f32_to_float(const void *x, float *y, size_t n) { memcpy(y, x, n * sizeof(float)); }

static void f16_from_float_ref(const float *x, void *vy, size_t n)
{
    uint16_t *y = vy;
    for (size_t i = 0; i < n; i++)
        y[i] = F2H(x[i]);
}

static void f16_to_float_ref(const void *vx, float *y, size_t n)
{
    const uint16_t *x = vx;
    for (size_t i = 0; i < n; i++)
        y[i] = H2F(x[i]);
}

/* Activation quantization, as ggml's SIMD path: d = amax/127, q = round_half_even(x * 127/amax). */
static float q8_block_ref(const float *x, int8_t *q, int *sum)
{
    float amax = 0.0f;
    for (int j = 0; j < PCC_QK; j++) {
        float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int s = 0;
    for (int j = 0; j < PCC_QK; j++) {
        int v = (int)nearbyintf(x[j] * id);
        q[j] = (int8_t)v;
        s += v;
    }
    *sum = s;
    return d;
}

static void q8_0_from_float_ref(const float *x, void *vy, size_t n)
{
    pcc_block_q8_0 *y = vy;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        int s;
        y[i].d = F2H(q8_block_ref(x + i * PCC_QK, y[i].qs, &s));
    }
}

static void q8_1_from_float_ref(const float *x, void *vy, size_t n)
{
    pcc_block_q8_1 *y = vy;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        int s;
        const float d = q8_block_ref(x + i * PCC_QK, y[i].qs, &s);
        y[i].d = F2H(d);
        y[i].s = F2H(d * (float)s);
    }
}

static void q4_0_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q4_0 *x = vx;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const float d = H2F(x[i].d);
        for (size_t j = 0; j < PCC_QK / 2; j++) {
            y[i * PCC_QK + j] = (float)((x[i].qs[j] & 0x0F) - 8) * d;
            y[i * PCC_QK + j + PCC_QK / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_1_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q4_1 *x = vx;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const float d = H2F(x[i].d), m = H2F(x[i].m);
        for (size_t j = 0; j < PCC_QK / 2; j++) {
            /* one rounding, as ggml's compiler contracts q * d + m */
            y[i * PCC_QK + j] = fmaf((float)(x[i].qs[j] & 0x0F), d, m);
            y[i * PCC_QK + j + PCC_QK / 2] = fmaf((float)(x[i].qs[j] >> 4), d, m);
        }
    }
}

static void q8_0_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q8_0 *x = vx;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const float d = H2F(x[i].d);
        for (size_t j = 0; j < PCC_QK; j++)
            y[i * PCC_QK + j] = (float)x[i].qs[j] * d;
    }
}

static void q8_1_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q8_1 *x = vx;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const float d = H2F(x[i].d);
        for (size_t j = 0; j < PCC_QK; j++)
            y[i * PCC_QK + j] = (float)x[i].qs[j] * d;
    }
}

static inline int q5_hbit(const uint8_t qh[4], int e)
{
    return (qh[e / 8] >> (e % 8)) & 1;
}

static void q5_0_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q5_0 *x = vx;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const float d = H2F(x[i].d);
        for (int j = 0; j < PCC_QK / 2; j++) {
            y[i * PCC_QK + (size_t)j] = (float)(((x[i].qs[j] & 0x0F) | q5_hbit(x[i].qh, j) << 4) - 16) * d;
            y[i * PCC_QK + (size_t)j + PCC_QK / 2] =
                (float)(((x[i].qs[j] >> 4) | q5_hbit(x[i].qh, j + 16) << 4) - 16) * d;
        }
    }
}

static void q5_1_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q5_1 *x = vx;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const float d = H2F(x[i].d), m = H2F(x[i].m);
        for (int j = 0; j < PCC_QK / 2; j++) {
            y[i * PCC_QK + (size_t)j] =
                fmaf((float)((x[i].qs[j] & 0x0F) | q5_hbit(x[i].qh, j) << 4), d, m);
            y[i * PCC_QK + (size_t)j + PCC_QK / 2] =
                fmaf((float)((x[i].qs[j] >> 4) | q5_hbit(x[i].qh, j + 16) << 4), d, m);
        }
    }
}

/* K-quants, as ggml's dequantize_row_q4_K/_q5_K (d * sc * q - dmin * m, contracted to one
 * rounding of the last step) and _q6_K ((d * sc) * (q - 32)). */
static void q4_k_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q4_k *x = vx;
    for (size_t i = 0; i < n / PCC_QK_K; i++) {
        const float d = H2F(x[i].d), dmin = H2F(x[i].dmin);
        uint8_t sc[8], mn[8];
        pcc_k4_scales(x[i].scales, sc, mn);
        float *o = y + i * PCC_QK_K;
        for (int j = 0; j < 4; j++) {
            const float d1 = d * (float)sc[2 * j], m1 = dmin * (float)mn[2 * j];
            const float d2 = d * (float)sc[2 * j + 1], m2 = dmin * (float)mn[2 * j + 1];
            const uint8_t *q = x[i].qs + 32 * j;
            for (int l = 0; l < 32; l++) {
                o[64 * j + l] = fmaf(d1, (float)(q[l] & 0x0F), -m1);
                o[64 * j + 32 + l] = fmaf(d2, (float)(q[l] >> 4), -m2);
            }
        }
    }
}

static void q5_k_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q5_k *x = vx;
    for (size_t i = 0; i < n / PCC_QK_K; i++) {
        const float d = H2F(x[i].d), dmin = H2F(x[i].dmin);
        uint8_t sc[8], mn[8];
        pcc_k4_scales(x[i].scales, sc, mn);
        float *o = y + i * PCC_QK_K;
        for (int j = 0; j < 4; j++) {
            const float d1 = d * (float)sc[2 * j], m1 = dmin * (float)mn[2 * j];
            const float d2 = d * (float)sc[2 * j + 1], m2 = dmin * (float)mn[2 * j + 1];
            const uint8_t *q = x[i].qs + 32 * j;
            for (int l = 0; l < 32; l++) {
                const int h0 = (x[i].qh[l] >> (2 * j)) & 1, h1 = (x[i].qh[l] >> (2 * j + 1)) & 1;
                o[64 * j + l] = fmaf(d1, (float)((q[l] & 0x0F) + 16 * h0), -m1);
                o[64 * j + 32 + l] = fmaf(d2, (float)((q[l] >> 4) + 16 * h1), -m2);
            }
        }
    }
}

/* element e (0..255) of a Q6_K super-block as an unsigned 6-bit value */
static inline int q6_k_val(const pcc_block_q6_k *b, int e)
{
    const int half = e / 128, r = e % 128, k = r / 32, l = r % 32;
    const uint8_t *ql = b->ql + 64 * half, *qh = b->qh + 32 * half;
    const int lo = k & 1 ? ql[l + 32] : ql[l];
    return (k < 2 ? lo & 0x0F : lo >> 4) | (((qh[l] >> (2 * k)) & 3) << 4);
}

static void q6_k_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q6_k *x = vx;
    for (size_t i = 0; i < n / PCC_QK_K; i++) {
        const float d = H2F(x[i].d);
        for (int e = 0; e < PCC_QK_K; e++)
            y[i * PCC_QK_K + (size_t)e] = d * (float)x[i].scales[e / 16] * (float)(q6_k_val(&x[i], e) - 32);
    }
}

/* Q8_K, as ggml's quantize_row_q8_K_ref (which x86 uses): iscale = -127 / x_amax (the signed
 * value of largest magnitude, the first one among equals), q = round_half_even(iscale * x)
 * capped at 127, d = 1 / iscale. */
static void q8_k_from_float_ref(const float *x, void *vy, size_t n)
{
    pcc_block_q8_k *y = vy;
    for (size_t i = 0; i < n / PCC_QK_K; i++) {
        const float *v = x + i * PCC_QK_K;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < PCC_QK_K; j++) {
            const float a = fabsf(v[j]);
            if (a > amax) {
                amax = a;
                max = v[j];
            }
        }
        const float iscale = amax != 0.0f ? -127.0f / max : 0.0f;
        if (!isfinite(iscale) || iscale == 0.0f) {
            /* all zero, or so tiny that 127 / max overflows (where ggml's conversion of an
             * infinite product is undefined): an all-zero block */
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        for (int j = 0; j < PCC_QK_K; j++) {
            const int q = (int)nearbyintf(iscale * v[j]);
            y[i].qs[j] = (int8_t)(q < 127 ? q : 127);
        }
        for (int j = 0; j < PCC_QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

static void q8_k_to_float_ref(const void *vx, float *y, size_t n)
{
    const pcc_block_q8_k *x = vx;
    for (size_t i = 0; i < n / PCC_QK_K; i++)
        for (size_t j = 0; j < PCC_QK_K; j++)
            y[i * PCC_QK_K + j] = x[i].d * (float)x[i].qs[j];
}

/* ---- dot products ---- */

/* ggml's horizontal sums: hsum_float_8 (upper half + lower half, then (0+2)+(1+3)) and
 * _mm512_reduce_add_ps (the same after folding 16 lanes onto 8). */
static float hsum8_ref(const float a[8])
{
    const float r0 = a[0] + a[4], r1 = a[1] + a[5], r2 = a[2] + a[6], r3 = a[3] + a[7];
    return (r0 + r2) + (r1 + r3);
}

static float hsum16_ref(const float a[16])
{
    float t[8];
    for (int l = 0; l < 8; l++)
        t[l] = a[l] + a[l + 8];
    return hsum8_ref(t);
}

/* Float dot products, as ggml_vec_dot_f32/_f16 (GGML_F32_STEP 64): element e goes to lane e % 16
 * of accumulator (e / 16) % 4, the accumulators are added (0+2)+(1+3), then reduced. n is taken as
 * rounded up to a multiple of 64 with zeros, which is exact for ggml's lengths (head sizes, the KV
 * length padded to 256). F16 x F16 products are exact in float, so an FMA there is an add. */
static void dot_f32_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const float *w = vw, *x = vx;
    float acc[4][16] = {{0}};
    for (size_t e = 0; e < n; e++)
        acc[(e / 16) % 4][e % 16] = fmaf(w[e], x[e], acc[(e / 16) % 4][e % 16]);
    float t[16];
    for (int l = 0; l < 16; l++)
        t[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    *s = hsum16_ref(t);
}

static void dot_f16_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const uint16_t *w = vw, *x = vx;
    float acc[4][16] = {{0}};
    for (size_t e = 0; e < n; e++)
        acc[(e / 16) % 4][e % 16] += H2F(w[e]) * H2F(x[e]);
    float t[16];
    for (int l = 0; l < 16; l++)
        t[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    *s = hsum16_ref(t);
}

/* Float dot products as llamafile's tinyBLAS computes them when llama.cpp multiplies a batch of
 * two or more tokens: one 16-lane accumulator (element e to lane e % 16), then reduced. */
static void dot_f32_batch_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const float *w = vw, *x = vx;
    float acc[16] = {0};
    for (size_t e = 0; e < n; e++)
        acc[e % 16] = fmaf(w[e], x[e], acc[e % 16]);
    *s = hsum16_ref(acc);
}

static void dot_f16_batch_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const uint16_t *w = vw, *x = vx;
    float acc[16] = {0};
    for (size_t e = 0; e < n; e++)
        acc[e % 16] += H2F(w[e]) * H2F(x[e]);
    *s = hsum16_ref(acc);
}

/* Quantized dot products, as ggml's AVX2 kernels (which its AVX-512 build also runs): per block an
 * integer dot product in 8 lanes of 4 consecutive elements, scaled by d_w * d_x (exact: a product
 * of two halves) and added to the lane's accumulator with one rounding (FMA); then hsum_float_8.
 * Q4_1 adds sum(m_w * s_x) (exact products) in a separate float. */
static inline int nib(const uint8_t *qs, int e)
{
    return e < PCC_QK / 2 ? qs[e] & 0x0F : qs[e - PCC_QK / 2] >> 4;
}

static void dot_q4_0_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const pcc_block_q4_0 *w = vw;
    const pcc_block_q8_0 *x = vx;
    float acc[8] = {0};
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const float d = H2F(w[i].d) * H2F(x[i].d);
        for (int l = 0; l < 8; l++) {
            int si = 0;
            for (int e = 4 * l; e < 4 * l + 4; e++)
                si += (nib(w[i].qs, e) - 8) * x[i].qs[e];
            acc[l] = fmaf(d, (float)si, acc[l]);
        }
    }
    *s = hsum8_ref(acc);
}

static void dot_q4_1_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const pcc_block_q4_1 *w = vw;
    const pcc_block_q8_1 *x = vx;
    float acc[8] = {0}, summs = 0.0f;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        summs += H2F(w[i].m) * H2F(x[i].s);
        const float d = H2F(w[i].d) * H2F(x[i].d);
        for (int l = 0; l < 8; l++) {
            int si = 0;
            for (int e = 4 * l; e < 4 * l + 4; e++)
                si += nib(w[i].qs, e) * x[i].qs[e];
            acc[l] = fmaf(d, (float)si, acc[l]);
        }
    }
    *s = hsum8_ref(acc) + summs;
}

static void dot_q8_0_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const pcc_block_q8_0 *w = vw;
    const pcc_block_q8_0 *x = vx;
    float acc[8] = {0};
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const float d = H2F(w[i].d) * H2F(x[i].d);
        for (int l = 0; l < 8; l++) {
            int si = 0;
            for (int e = 4 * l; e < 4 * l + 4; e++)
                si += w[i].qs[e] * x[i].qs[e];
            acc[l] = fmaf(d, (float)si, acc[l]);
        }
    }
    *s = hsum8_ref(acc);
}

static void dot_q5_0_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const pcc_block_q5_0 *w = vw;
    const pcc_block_q8_0 *x = vx;
    float acc[8] = {0};
    for (size_t i = 0; i < n / PCC_QK; i++) {
        const float d = H2F(w[i].d) * H2F(x[i].d);
        for (int l = 0; l < 8; l++) {
            int si = 0;
            for (int e = 4 * l; e < 4 * l + 4; e++)
                si += ((nib(w[i].qs, e) | q5_hbit(w[i].qh, e) << 4) - 16) * x[i].qs[e];
            acc[l] = fmaf(d, (float)si, acc[l]);
        }
    }
    *s = hsum8_ref(acc);
}

static void dot_q5_1_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const pcc_block_q5_1 *w = vw;
    const pcc_block_q8_1 *x = vx;
    float acc[8] = {0}, summs = 0.0f;
    for (size_t i = 0; i < n / PCC_QK; i++) {
        summs += H2F(w[i].m) * H2F(x[i].s);
        const float d = H2F(w[i].d) * H2F(x[i].d);
        for (int l = 0; l < 8; l++) {
            int si = 0;
            for (int e = 4 * l; e < 4 * l + 4; e++)
                si += (nib(w[i].qs, e) | q5_hbit(w[i].qh, e) << 4) * x[i].qs[e];
            acc[l] = fmaf(d, (float)si, acc[l]);
        }
    }
    *s = hsum8_ref(acc) + summs;
}

/* K-quant dot products, as ggml's AVX2 kernels: per super-block an integer sum in 8 lanes (lane l
 * takes elements 4l..4l+3 of every 32, times their sub-block scale), exact, then added to the
 * lane's float accumulator as fma(d_x * d_w, sum, acc). Q4_K/Q5_K subtract the mins through the
 * activation's 16-element sums: per super-block 4 lanes (lane p: sub-blocks 2p and 2p+1),
 * fma(-d_x * dmin, sum, acc_m[p]) for Q4_K and reduced (0+2)+(1+3) at the end, one float
 * fma(-d_x * dmin, sum of all, summs) for Q5_K. Q6_K subtracts 32 * sum(sc * bsums) per lane
 * (lane l: the 16-sums 2l and 2l+1). */
static void k4_min_sums(const uint8_t mn[8], const int16_t bsums[16], int prod[4])
{
    for (int p = 0; p < 4; p++)
        prod[p] = mn[2 * p] * (bsums[4 * p] + bsums[4 * p + 1]) +
                  mn[2 * p + 1] * (bsums[4 * p + 2] + bsums[4 * p + 3]);
}

static void dot_q4_k_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const pcc_block_q4_k *w = vw;
    const pcc_block_q8_k *x = vx;
    float acc[8] = {0}, accm[4] = {0};
    for (size_t i = 0; i < n / PCC_QK_K; i++) {
        const float d = x[i].d * H2F(w[i].d), dmin = -x[i].d * H2F(w[i].dmin);
        uint8_t sc[8], mn[8];
        pcc_k4_scales(w[i].scales, sc, mn);
        int prod[4];
        k4_min_sums(mn, x[i].bsums, prod);
        for (int p = 0; p < 4; p++)
            accm[p] = fmaf(dmin, (float)prod[p], accm[p]);
        for (int l = 0; l < 8; l++) {
            int si = 0;
            for (int j = 0; j < 4; j++) {
                int lo = 0, hi = 0;
                for (int e = 4 * l; e < 4 * l + 4; e++) {
                    lo += (w[i].qs[32 * j + e] & 0x0F) * x[i].qs[64 * j + e];
                    hi += (w[i].qs[32 * j + e] >> 4) * x[i].qs[64 * j + 32 + e];
                }
                si += sc[2 * j] * lo + sc[2 * j + 1] * hi;
            }
            acc[l] = fmaf(d, (float)si, acc[l]);
        }
    }
    *s = hsum8_ref(acc) + ((accm[0] + accm[2]) + (accm[1] + accm[3]));
}

static void dot_q5_k_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const pcc_block_q5_k *w = vw;
    const pcc_block_q8_k *x = vx;
    float acc[8] = {0}, summs = 0.0f;
    for (size_t i = 0; i < n / PCC_QK_K; i++) {
        const float d = x[i].d * H2F(w[i].d), dmin = -x[i].d * H2F(w[i].dmin);
        uint8_t sc[8], mn[8];
        pcc_k4_scales(w[i].scales, sc, mn);
        int prod[4];
        k4_min_sums(mn, x[i].bsums, prod);
        summs = fmaf(dmin, (float)(prod[0] + prod[1] + prod[2] + prod[3]), summs);
        for (int l = 0; l < 8; l++) {
            int si = 0;
            for (int j = 0; j < 4; j++) {
                int lo = 0, hi = 0;
                for (int e = 4 * l; e < 4 * l + 4; e++) {
                    const int h0 = (w[i].qh[e] >> (2 * j)) & 1, h1 = (w[i].qh[e] >> (2 * j + 1)) & 1;
                    lo += ((w[i].qs[32 * j + e] & 0x0F) + 16 * h0) * x[i].qs[64 * j + e];
                    hi += ((w[i].qs[32 * j + e] >> 4) + 16 * h1) * x[i].qs[64 * j + 32 + e];
                }
                si += sc[2 * j] * lo + sc[2 * j + 1] * hi;
            }
            acc[l] = fmaf(d, (float)si, acc[l]);
        }
    }
    *s = hsum8_ref(acc) + summs;
}

static void dot_q6_k_ref(size_t n, float *s, const void *vw, const void *vx)
{
    const pcc_block_q6_k *w = vw;
    const pcc_block_q8_k *x = vx;
    float acc[8] = {0};
    for (size_t i = 0; i < n / PCC_QK_K; i++) {
        const float d = x[i].d * H2F(w[i].d);
        for (int l = 0; l < 8; l++) {
            int si = 0;
            /* 8 chunks of 32: lane l holds elements 4l..4l+3 of each, sub-block scale by 16 */
            for (int c = 0; c < 8; c++)
                for (int e = 4 * l; e < 4 * l + 4; e++)
                    si += w[i].scales[2 * c + e / 16] * q6_k_val(&w[i], 32 * c + e) * x[i].qs[32 * c + e];
            si -= 32 * (x[i].bsums[2 * l] * w[i].scales[2 * l] + x[i].bsums[2 * l + 1] * w[i].scales[2 * l + 1]);
            acc[l] = fmaf(d, (float)si, acc[l]);
        }
    }
    *s = hsum8_ref(acc);
}

#define DOTROWS_REF(name, dot)                                                                  \
    static void name(size_t n, size_t nr, float *s, const void *w, size_t w_stride,            \
                     const void *x)                                                            \
    {                                                                                          \
        for (size_t r = 0; r < nr; r++)                                                        \
            dot(n, s + r, (const uint8_t *)w + r * w_stride, x);                               \
    }
DOTROWS_REF(dotrows_f32_ref, dot_f32_ref)
DOTROWS_REF(dotrows_f16_ref, dot_f16_ref)
DOTROWS_REF(dotrows_f32_batch_ref, dot_f32_batch_ref)
DOTROWS_REF(dotrows_f16_batch_ref, dot_f16_batch_ref)
DOTROWS_REF(dotrows_q4_0_ref, dot_q4_0_ref)
DOTROWS_REF(dotrows_q4_1_ref, dot_q4_1_ref)
DOTROWS_REF(dotrows_q8_0_ref, dot_q8_0_ref)
DOTROWS_REF(dotrows_q5_0_ref, dot_q5_0_ref)
DOTROWS_REF(dotrows_q5_1_ref, dot_q5_1_ref)
DOTROWS_REF(dotrows_q4_k_ref, dot_q4_k_ref)
DOTROWS_REF(dotrows_q5_k_ref, dot_q5_k_ref)
DOTROWS_REF(dotrows_q6_k_ref, dot_q6_k_ref)

/* ---- element-wise ---- */

float pcc_ggml_expf(float x)
{
    /* ggml_v_expf (AVX-512), after ARM's optimized-routines expf: x = n ln2 + b with n rounded
     * to an integer by the 1.5 * 2^23 trick, a degree-5 polynomial in b, scaled by 2^n. */
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                              fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    if (isnan(n))
        return n;
    if (fabsf(n) > 192.0f)
        return n <= 0.0f ? 0.0f : INFINITY;
    return ldexpf(j, (int)n); /* _mm512_scalef_ps */
}

static void rms_norm_ref(float *o, const float *x, const float *w, size_t n, float eps)
{
    /* ggml_compute_forward_rms_norm_f32: squares in float, summed in double, mean narrowed to
     * float before eps is added; then ggml_mul by the weight. */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (size_t i = 0; i < n; i++)
        o[i] = (x[i] * scale) * w[i];
}

static void softmax_ref(float *x, size_t n)
{
    /* ggml_vec_soft_max_f32 over 16-lane chunks (a short last chunk counts as padded with -inf,
     * like llama.cpp's padded KV length), each chunk reduced and summed in double; then
     * ggml_vec_scale_f32 by (float)(1 / sum). */
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (size_t i = 0; i < n; i += 16) {
        float v[16] = {0};
        for (size_t l = 0; l < 16 && i + l < n; l++)
            v[l] = x[i + l] = pcc_ggml_expf(x[i + l] - max);
        sum += (double)hsum16_ref(v);
    }
    const float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++)
        x[i] *= inv;
}

static void swiglu_ref(float *o, const float *g, const float *u, size_t n)
{
    /* ggml_vec_swiglu_f32: silu(g) = g / (1 + exp(-g)) with ggml's exp for whole 16-element
     * chunks and libm's expf for the rest, times u. */
    const size_t n16 = n & ~(size_t)15;
    for (size_t i = 0; i < n; i++) {
        const float gv = g[i];
        const float e = i < n16 ? pcc_ggml_expf(0.0f - gv) : expf(-gv);
        o[i] = gv / (1.0f + e) * u[i];
    }
}

/* ---- rope ---- */

void pcc_rope_cache(float *cs, float pos, size_t n_dims, float freq_base)
{
    /* ggml rope_cache_init: theta_i = pos * theta_scale^i, theta_scale = base^(-2/n_dims). */
    const float theta_scale = powf(freq_base, -2.0f / (float)n_dims);
    float theta = pos;
    for (size_t i = 0; i < n_dims; i += 2) {
        cs[i] = cosf(theta);
        cs[i + 1] = sinf(theta);
        theta *= theta_scale;
    }
}

void pcc_rope(float *x, size_t n_heads, size_t head_dim, size_t n_rot, const float *cs)
{
    for (size_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (size_t i = 0; i + 1 < n_rot; i += 2) {
            const float c = cs[i], s = cs[i + 1];
            const float x0 = v[i], x1 = v[i + 1];
            /* as ggml's compiler contracts x0*c - x1*s and x0*s + x1*c */
            v[i] = fmaf(x0, c, -(x1 * s));
            v[i + 1] = fmaf(x0, s, x1 * c);
        }
    }
}

void pcc_rope_neox(float *x, size_t n_heads, size_t head_dim, size_t n_rot, const float *cs)
{
    const size_t half = n_rot / 2;
    for (size_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (size_t i = 0; i < half; i++) {
            /* ggml rope_neox: theta of pair i is the table's entry 2i */
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const float x0 = v[i], x1 = v[i + half];
            v[i] = fmaf(x0, c, -(x1 * s));
            v[i + half] = fmaf(x0, s, x1 * c);
        }
    }
}

/* ---- tables ---- */

static void fill_ref(pcc_kernels *k)
{
    memset(k, 0, sizeof *k);
    k->variant = PCC_KV_REF;
    k->name = "ref";
    k->types[PCC_DT_F32] = (pcc_type_traits){"F32", 1, 4, PCC_DT_F32, f32_from_float, f32_to_float,
                                             dot_f32_ref, dotrows_f32_ref, NULL,
                                             dotrows_f32_batch_ref};
    k->types[PCC_DT_F16] = (pcc_type_traits){"F16", 1, 2, PCC_DT_F16, f16_from_float_ref,
                                             f16_to_float_ref, dot_f16_ref, dotrows_f16_ref, NULL,
                                             dotrows_f16_batch_ref};
    k->types[PCC_DT_Q4_0] = (pcc_type_traits){"Q4_0", PCC_QK, sizeof(pcc_block_q4_0), PCC_DT_Q8_0,
                                              NULL, q4_0_to_float_ref, dot_q4_0_ref,
                                              dotrows_q4_0_ref, NULL, NULL};
    k->types[PCC_DT_Q4_1] = (pcc_type_traits){"Q4_1", PCC_QK, sizeof(pcc_block_q4_1), PCC_DT_Q8_1,
                                              NULL, q4_1_to_float_ref, dot_q4_1_ref,
                                              dotrows_q4_1_ref, NULL, NULL};
    k->types[PCC_DT_Q8_0] = (pcc_type_traits){"Q8_0", PCC_QK, sizeof(pcc_block_q8_0), PCC_DT_Q8_0,
                                              q8_0_from_float_ref, q8_0_to_float_ref,
                                              dot_q8_0_ref, dotrows_q8_0_ref, NULL, NULL};
    k->types[PCC_DT_Q8_1] = (pcc_type_traits){"Q8_1", PCC_QK, sizeof(pcc_block_q8_1), PCC_DT_Q8_1,
                                              q8_1_from_float_ref, q8_1_to_float_ref, NULL, NULL, NULL,
                                              NULL};
    k->types[PCC_DT_Q5_0] = (pcc_type_traits){"Q5_0", PCC_QK, sizeof(pcc_block_q5_0), PCC_DT_Q8_0,
                                              NULL, q5_0_to_float_ref, dot_q5_0_ref,
                                              dotrows_q5_0_ref, NULL, NULL};
    k->types[PCC_DT_Q5_1] = (pcc_type_traits){"Q5_1", PCC_QK, sizeof(pcc_block_q5_1), PCC_DT_Q8_1,
                                              NULL, q5_1_to_float_ref, dot_q5_1_ref,
                                              dotrows_q5_1_ref, NULL, NULL};
    k->types[PCC_DT_Q4_K] = (pcc_type_traits){"Q4_K", PCC_QK_K, sizeof(pcc_block_q4_k), PCC_DT_Q8_K,
                                              NULL, q4_k_to_float_ref, dot_q4_k_ref,
                                              dotrows_q4_k_ref, NULL, NULL};
    k->types[PCC_DT_Q5_K] = (pcc_type_traits){"Q5_K", PCC_QK_K, sizeof(pcc_block_q5_k), PCC_DT_Q8_K,
                                              NULL, q5_k_to_float_ref, dot_q5_k_ref,
                                              dotrows_q5_k_ref, NULL, NULL};
    k->types[PCC_DT_Q6_K] = (pcc_type_traits){"Q6_K", PCC_QK_K, sizeof(pcc_block_q6_k), PCC_DT_Q8_K,
                                              NULL, q6_k_to_float_ref, dot_q6_k_ref,
                                              dotrows_q6_k_ref, NULL, NULL};
    k->types[PCC_DT_Q8_K] = (pcc_type_traits){"Q8_K", PCC_QK_K, sizeof(pcc_block_q8_k), PCC_DT_Q8_K,
                                              q8_k_from_float_ref, q8_k_to_float_ref, NULL, NULL,
                                              NULL, NULL};
    k->rms_norm = rms_norm_ref;
    k->softmax = softmax_ref;
    k->swiglu = swiglu_ref;
}

static pcc_kernels g_tables[PCC_KV_COUNT];
static int g_supported[PCC_KV_COUNT];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_tables(void)
{
    fill_ref(&g_tables[PCC_KV_REF]);
    g_supported[PCC_KV_REF] = 1;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    unsigned a, b, c = 0, d; /* F16C from CPUID leaf 1 (clang 14's cpu_supports lacks "f16c") */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C)) {
        fill_ref(&g_tables[PCC_KV_AVX2]);
        pcc_kernels_fill_avx2(&g_tables[PCC_KV_AVX2]);
        g_supported[PCC_KV_AVX2] = 1;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi")) {
            fill_ref(&g_tables[PCC_KV_AVX512]);
            pcc_kernels_fill_avx2(&g_tables[PCC_KV_AVX512]);
            pcc_kernels_fill_avx512(&g_tables[PCC_KV_AVX512]);
            g_supported[PCC_KV_AVX512] = 1;
        }
    }
#endif
}

int pcc_kernels_supported(int v)
{
    pthread_once(&g_once, init_tables);
    if (v < 0 || v >= PCC_KV_COUNT)
        return 0;
    return g_supported[v];
}

const pcc_kernels *pcc_kernels_get(int v)
{
    pthread_once(&g_once, init_tables);
    if (v == PCC_KV_BEST) {
        for (int i = PCC_KV_COUNT - 1; i >= 0; i--)
            if (g_supported[i])
                return &g_tables[i];
    }
    if (v < 0 || v >= PCC_KV_COUNT || !g_supported[v])
        return NULL;
    return &g_tables[v];
}

size_t pcc_type_size(pcc_dtype t, size_t n)
{
    size_t block, bytes;
    switch (t) {
    case PCC_DT_F32: block = 1; bytes = 4; break;
    case PCC_DT_F16: block = 1; bytes = 2; break;
    case PCC_DT_Q4_0: block = PCC_QK; bytes = sizeof(pcc_block_q4_0); break;
    case PCC_DT_Q4_1: block = PCC_QK; bytes = sizeof(pcc_block_q4_1); break;
    case PCC_DT_Q8_0: block = PCC_QK; bytes = sizeof(pcc_block_q8_0); break;
    case PCC_DT_Q8_1: block = PCC_QK; bytes = sizeof(pcc_block_q8_1); break;
    case PCC_DT_Q5_0: block = PCC_QK; bytes = sizeof(pcc_block_q5_0); break;
    case PCC_DT_Q5_1: block = PCC_QK; bytes = sizeof(pcc_block_q5_1); break;
    case PCC_DT_Q4_K: block = PCC_QK_K; bytes = sizeof(pcc_block_q4_k); break;
    case PCC_DT_Q5_K: block = PCC_QK_K; bytes = sizeof(pcc_block_q5_k); break;
    case PCC_DT_Q6_K: block = PCC_QK_K; bytes = sizeof(pcc_block_q6_k); break;
    case PCC_DT_Q8_K: block = PCC_QK_K; bytes = sizeof(pcc_block_q8_k); break;
    default: return 0;
    }
    if (n % block != 0 || n / block > SIZE_MAX / bytes)
        return 0;
    return n / block * bytes;
}
