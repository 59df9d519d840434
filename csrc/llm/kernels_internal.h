/* kernels_internal.h: block layouts and variant hooks shared by the kernel files (csrc/llm only). */
#ifndef PCC_KERNELS_INTERNAL_H
#define PCC_KERNELS_INTERNAL_H

#include <string.h>

#include "pcc/llm_kernels.h"

/* ggml's block layouts, byte for byte. */
typedef struct {
    uint16_t d;
    uint8_t qs[PCC_QK / 2];
} pcc_block_q4_0;
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[PCC_QK / 2];
} pcc_block_q4_1;
typedef struct {
    uint16_t d;
    int8_t qs[PCC_QK];
} pcc_block_q8_0;
typedef struct {
    uint16_t d;
    uint16_t s;
    int8_t qs[PCC_QK];
} pcc_block_q8_1;

typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[PCC_QK / 2];
} pcc_block_q5_0;
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[PCC_QK / 2];
} pcc_block_q5_1;
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qs[PCC_QK_K / 2];
} pcc_block_q4_k;
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[PCC_QK_K / 8];
    uint8_t qs[PCC_QK_K / 2];
} pcc_block_q5_k;
typedef struct {
    uint8_t ql[PCC_QK_K / 2];
    uint8_t qh[PCC_QK_K / 4];
    int8_t scales[PCC_QK_K / 16];
    uint16_t d;
} pcc_block_q6_k;
typedef struct {
    float d;
    int8_t qs[PCC_QK_K];
    int16_t bsums[PCC_QK_K / 16];
} pcc_block_q8_k;

_Static_assert(sizeof(pcc_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(pcc_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(pcc_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(pcc_block_q4_k) == 144, "q4_K block");
_Static_assert(sizeof(pcc_block_q5_k) == 176, "q5_K block");
_Static_assert(sizeof(pcc_block_q6_k) == 210, "q6_K block");
_Static_assert(sizeof(pcc_block_q8_k) == 292, "q8_K block");
_Static_assert(sizeof(pcc_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(pcc_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(pcc_block_q8_1) == 36, "q8_1 block");

/* The 6-bit scales and mins of a Q4_K/Q5_K super-block (ggml's get_scale_min_k4). */
static inline void pcc_k4_scales(const uint8_t q[12], uint8_t sc[8], uint8_t mn[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        mn[j] = q[j + 4] & 63;
        sc[j + 4] = (uint8_t)((q[j + 8] & 0x0F) | ((q[j] >> 6) << 4));
        mn[j + 4] = (uint8_t)((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
    }
}

/* pcc_ggml_expf is ggml's AVX-512 exp approximation (ggml_v_expf) for one float. */
float pcc_ggml_expf(float x);

/* Fill k (already holding the reference kernels) with a variant's overrides. */
void pcc_kernels_fill_avx2(pcc_kernels *k);
void pcc_kernels_fill_avx512(pcc_kernels *k);

static inline float pcc_bits_f32(uint32_t w)
{
    float f;
    memcpy(&f, &w, sizeof f);
    return f;
}

static inline uint32_t pcc_f32_bits(float f)
{
    uint32_t w;
    memcpy(&w, &f, sizeof w);
    return w;
}

#endif
