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

_Static_assert(sizeof(pcc_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(pcc_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(pcc_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(pcc_block_q8_1) == 36, "q8_1 block");

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
