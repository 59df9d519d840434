/* pcc/llm_kernels.h: the numeric kernels of the inference engine.
 *
 * Weights keep ggml's block formats bit for bit, so a GGUF tensor is used straight from the
 * read-only mapping:
 *   Q4_0  {f16 d; u8 qs[16]}           32 weights, w = d * (q - 8)
 *   Q4_1  {f16 d; f16 m; u8 qs[16]}    32 weights, w = d * q + m
 *   Q8_0  {f16 d; i8 qs[32]}           32 weights, w = d * q
 *   Q8_1  {f16 d; f16 s; i8 qs[32]}    32 values,  s = d * sum(q)   (activations only)
 *   Q5_0  {f16 d; u8 qh[4]; u8 qs[16]} 32 weights, w = d * (q - 16), bit 4 of q_e is bit e of qh
 *   Q5_1  {f16 d; f16 m; u8 qh[4]; u8 qs[16]}  w = d * q + m
 * where byte j of qs holds element j in its low nibble and element j + 16 in its high nibble.
 * The K-quants have super-blocks of 256 (PCC_QK_K) elements:
 *   Q4_K  {f16 d, dmin; u8 scales[12]; u8 qs[128]}  8 sub-blocks of 32 with 6-bit scale and min:
 *         w = d * sc_j * q - dmin * m_j; qs holds 64 elements per 32 bytes (low nibbles first)
 *   Q5_K  as Q4_K plus u8 qh[32] (bit 4 of element 32 * j + l is bit j of qh[l])
 *   Q6_K  {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}  16 sub-blocks of 16:
 *         w = d * sc_j * (q - 32), q 6 bits
 *   Q8_K  {f32 d; i8 qs[256]; i16 bsums[16]}  (activations only; bsums: sums of 16 qs)
 *
 * A matrix-vector product first converts the float activation to the weight type's "dot type"
 * (Q8_0 for Q4_0, Q5_0 and Q8_0, Q8_1 for Q4_1 and Q5_1, Q8_K for the K-quants, F16 for F16,
 * F32 for F32), as ggml does, then takes one
 * dot product per weight row. Every kernel has a scalar reference (variant PCC_KV_REF) used by
 * the tests; SIMD variants (AVX2+FMA+F16C, AVX-512 with VNNI) are picked once by
 * pcc_kernels_get(PCC_KV_BEST) from what the CPU supports.
 *
 * Every variant computes the same bits as llama.cpp's CPU backend built for AVX-512 (ggml's
 * quantizers, lane layouts, fused multiply-adds, horizontal-sum order and exp approximation), so
 * that the engine's greedy output is llama.cpp's; kernels.c spells that arithmetic out in scalar C.
 */
#ifndef PCC_LLM_KERNELS_H
#define PCC_LLM_KERNELS_H

#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tensor element types, numbered as in ggml / GGUF. */
typedef enum pcc_dtype {
    PCC_DT_F32 = 0,
    PCC_DT_F16 = 1,
    PCC_DT_Q4_0 = 2,
    PCC_DT_Q4_1 = 3,
    PCC_DT_Q5_0 = 6,
    PCC_DT_Q5_1 = 7,
    PCC_DT_Q8_0 = 8,
    PCC_DT_Q8_1 = 9,
    PCC_DT_Q4_K = 12,
    PCC_DT_Q5_K = 13,
    PCC_DT_Q6_K = 14,
    PCC_DT_Q8_K = 15,
    PCC_DT_COUNT = 16 /* one past the largest id */
} pcc_dtype;

#define PCC_QK 32    /* elements per quantization block */
#define PCC_QK_K 256 /* elements per K-quant super-block */

/* Kernel variants. */
typedef enum pcc_kvariant {
    PCC_KV_REF = 0,    /* portable scalar C */
    PCC_KV_AVX2 = 1,   /* AVX2 + FMA + F16C */
    PCC_KV_AVX512 = 2, /* AVX-512 F/BW/VL/DQ/VBMI + VNNI */
    PCC_KV_COUNT = 3,
    PCC_KV_BEST = -1   /* the fastest one this CPU runs */
} pcc_kvariant;

/* Dot product of n elements (a multiple of the type's block size): *s = w . x, where w is in
 * the weight type and x in its dot type. */
typedef void (*pcc_dot_fn)(size_t n, float *s, const void *w, const void *x);

/* Dot products of nr consecutive weight rows (row stride w_stride bytes) with one vector x:
 * s[r] = w_r . x. The decode hot loop. */
typedef void (*pcc_dotrows_fn)(size_t n, size_t nr, float *s, const void *w, size_t w_stride,
                               const void *x);

/* Products of nr weight rows with nt vectors (row stride x_stride bytes, in the dot type):
 * y[t * ldy + r] = w_r . x_t. The prompt (prefill) kernel; NULL: callers loop over dotrows. */
typedef void (*pcc_gemm_fn)(size_t n, size_t nr, size_t nt, float *y, size_t ldy, const void *w,
                            size_t w_stride, const void *x, size_t x_stride);

/* Dot products of nr weight rows with nx vectors: s[j * ls + r] = w_r . x_j, x_j at x + j * xs
 * bytes (in the dot type); each with the bits of dotrows (batch 0) or dotrows_batch (batch 1).
 * The attention products of the query heads that share a KV head: each K or V row is read and
 * converted once for all of them. */
typedef void (*pcc_dotrows_multi_fn)(size_t n, size_t nr, size_t nx, float *s, size_t ls, const void *w,
                                     size_t ws, const void *x, size_t xs, int batch);

/* Convert n floats to a type (quantize). n must be a multiple of the type's block size. */
typedef void (*pcc_from_float_fn)(const float *x, void *y, size_t n);

/* Convert n elements of a type to floats (dequantize). */
typedef void (*pcc_to_float_fn)(const void *x, float *y, size_t n);

/* Per-type traits in one variant. Unsupported combinations are NULL. */
typedef struct pcc_type_traits {
    const char *name;
    size_t block;             /* elements per block (1 for F32/F16) */
    size_t block_bytes;       /* bytes per block */
    pcc_dtype dot_type;       /* the type x must be in for dot/dotrows */
    pcc_from_float_fn from_float;
    pcc_to_float_fn to_float;
    pcc_dot_fn dot;
    pcc_dotrows_fn dotrows;
    pcc_gemm_fn gemm;
    /* F32/F16 only: the row dot products as llama.cpp computes them inside a batch of two or more
     * tokens (llamafile's tinyBLAS: one 16-lane accumulator), where dotrows follows its one-token
     * path (ggml_vec_dot: four). NULL for other types. */
    pcc_dotrows_fn dotrows_batch;
    /* F16 in the AVX-512 variant, NULL elsewhere (callers loop over dotrows / dotrows_batch). */
    pcc_dotrows_multi_fn dotrows_multi;
} pcc_type_traits;

/* The kernels of one variant. */
typedef struct pcc_kernels {
    pcc_kvariant variant;
    const char *name;
    pcc_type_traits types[PCC_DT_COUNT]; /* indexed by pcc_dtype; name == NULL: unsupported */
    /* o[i] = x[i] * w[i] / sqrt(mean(x^2) + eps), sum of squares in double as ggml does. */
    void (*rms_norm)(float *o, const float *x, const float *w, size_t n, float eps);
    /* x[i] = exp(x[i] - max) / sum, in place, with ggml's exp; n is treated as padded to a
     * multiple of 16 with -inf (llama.cpp pads its KV length). */
    void (*softmax)(float *x, size_t n);
    /* o[i] = silu(g[i]) * u[i] (SwiGLU); o may alias g or u. */
    void (*swiglu)(float *o, const float *g, const float *u, size_t n);
} pcc_kernels;

/* pcc_kernels_get returns the kernels of variant v, or of the best one this CPU supports for
 * PCC_KV_BEST; NULL when v is not supported by this CPU or unknown. The table is static. */
PCC_API const pcc_kernels *pcc_kernels_get(int v);

/* pcc_kernels_supported returns 1 when this CPU runs variant v (PCC_KV_REF always). */
PCC_API int pcc_kernels_supported(int v);

/* pcc_type_size returns the bytes of n elements of type t, or 0 when t is unknown or n is not a
 * whole number of blocks. */
PCC_API size_t pcc_type_size(pcc_dtype t, size_t n);

/* pcc_fp16_to_fp32 / pcc_fp32_to_fp16 convert one half float (IEEE binary16, round to nearest
 * even, like F16C). */
PCC_API float pcc_fp16_to_fp32(uint16_t h);
PCC_API uint16_t pcc_fp32_to_fp16(float f);

/* pcc_rope_cache fills cos/sin tables for position pos, n_dims rotated dimensions (even), base
 * freq_base: for pair i, theta = pos * freq_base^(-2i/n_dims) computed as ggml does (repeated
 * multiplication in float). cs holds n_dims floats: cos0, sin0, cos1, sin1, ... */
PCC_API void pcc_rope_cache(float *cs, float pos, size_t n_dims, float freq_base);

/* pcc_rope applies rotary embedding in "normal" (adjacent pairs) mode, as llama.cpp does for
 * LLAMA-architecture GGUF files (whose Q/K weights were permuted at conversion), to the first
 * n_rot dimensions of n_heads heads of head_dim floats at x, with the table pcc_rope_cache made
 * for n_dims == n_rot. */
PCC_API void pcc_rope(float *x, size_t n_heads, size_t head_dim, size_t n_rot, const float *cs);

/* pcc_rope_neox applies rotary embedding in NeoX mode (element i pairs with i + n_rot/2), as
 * llama.cpp does for Qwen2/Qwen3 GGUF files, with the same table as pcc_rope. */
PCC_API void pcc_rope_neox(float *x, size_t n_heads, size_t head_dim, size_t n_rot, const float *cs);

#ifdef __cplusplus
}
#endif
#endif
