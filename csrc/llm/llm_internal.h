/* llm_internal.h: what model.c, gen.c and sampler.c share (csrc/llm only). */
#ifndef PCC_LLM_INTERNAL_H
#define PCC_LLM_INTERNAL_H

#include "pcc/llm.h"
#include "pcc/llm_kernels.h"
#include "pcc/secure.h"
#include "pool.h"

/* A weight matrix: rows x cols elements of type, row-major, in the read-only mapping. */
typedef struct pcc_mat {
    const uint8_t *data;
    pcc_dtype type;
    size_t rows, cols, row_bytes;
} pcc_mat;

typedef struct pcc_layer {
    const float *attn_norm, *ffn_norm;
    const float *bq, *bk, *bv;         /* qwen2: Q/K/V biases (NULL otherwise) */
    const float *q_norm, *k_norm;      /* qwen3: per-head RMSNorm weights (NULL otherwise) */
    pcc_mat wq, wk, wv, wo, wg, wu, wd;
} pcc_layer;

struct pcc_llm_model {
    pcc_gguf *gguf;
    pcc_tokenizer *tok;
    pcc_llm_config cfg;
    pcc_mat tok_embd, output;
    const float *output_norm;
    pcc_layer *layers;
    const pcc_kernels *k;
    pcc_pool *pool;
    int threads;
    pcc_dtype kv_type;
    int prefill; /* 1 quantized batch kernels, 2 dequantize + sgemm */
    uint64_t weight_bytes;
    /* chat template: ChatML markers and the default system prompt (points into the mapping) */
    int32_t im_start, im_end;
    const char *default_system;
    size_t default_system_len;
};

/* Run state of one forward context: every buffer lives in the arena. */
typedef struct pcc_run_state {
    size_t n_ctx; /* KV capacity in positions */
    size_t bmax;  /* tokens per forward batch */
    float *x, *xb, *xb2, *q, *k, *v, *hb, *hb2; /* bmax rows each */
    float *rope_cs;                              /* bmax x n_rot */
    uint8_t *xq;                                 /* bmax rows of quantized activations */
    size_t xq_row;                               /* bytes per xq row */
    uint8_t *kcache, *vcache;                    /* [layer][pos][kv_dim], [layer][kv_dim][pos] */
    float *att;                                  /* threads x n_ctx scores */
    uint8_t *att_conv;                           /* threads x n_ctx (kv type) */
    uint8_t *q_conv;                             /* threads x head_dim (kv type) */
    float *wtile;                                /* threads x tile of dequantized weights */
    size_t wtile_floats;
    float *logits;                               /* vocab (last position) */
} pcc_run_state;

/* pcc_layout: a dry-run or real allocator over one arena (sizes are computed by running the same
 * allocation code twice). */
typedef struct pcc_layout {
    pcc_arena *arena; /* NULL: dry run */
    size_t total;
    int failed;
} pcc_layout;

void *pcc_layout_take(pcc_layout *L, size_t n);

/* pcc_run_state_layout takes the buffers for n_ctx positions and batches of bmax tokens. */
void pcc_run_state_layout(pcc_layout *L, const pcc_llm_model *m, pcc_run_state *s, size_t n_ctx,
                          size_t bmax);

/* pcc_forward runs n tokens at positions pos0 .. pos0+n-1 (in batches of s->bmax) and writes
 * the logits of the last position to s->logits, or, with all_out != NULL, of every position to
 * all_out (n x vocab). Returns PCC_E_INVALID for a bad id or position. */
pcc_status pcc_forward(pcc_llm_model *m, pcc_run_state *s, const int32_t *ids, size_t n,
                       size_t pos0, float *all_out) PCC_WUR;

/* Sampler: xoshiro256** seeded through splitmix64; lives in the generation's arena. */
typedef struct pcc_sampler {
    uint64_t s[4];
    float temperature, top_p;
    uint32_t top_k;
} pcc_sampler;

void pcc_sampler_init(pcc_sampler *sp, const pcc_llm_params *p);

/* pcc_sampler_next_u64 returns the next raw 64-bit output. */
uint64_t pcc_sampler_next_u64(pcc_sampler *sp);

/* pcc_sampler_sample picks a token from n logits (modified in place) using scratch space of n
 * floats and n uint32_t. */
int32_t pcc_sampler_sample(pcc_sampler *sp, float *logits, size_t n, float *probs, uint32_t *idx);

#endif
