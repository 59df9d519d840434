/* pcc/llm.h: Llama/Qwen2/Qwen3 inference on a GGUF file (forward pass, sampling, chat).
 *
 * A pcc_llm_model holds what every request shares and nobody can change: the read-only mapping
 * of the GGUF file (weights are used in place), the configuration, the tokenizer and a thread
 * pool. A pcc_llm_gen is one request: prompt tokens, generated tokens, activations, logits, the
 * KV cache and the pending text all live in ONE pcc_arena (guarded, locked, excluded from core
 * dumps) that is wiped when the generation closes or fails. The text pieces handed to the
 * caller are the only copies that leave it.
 *
 * Supported: general.architecture "llama" (Llama 2/3, SmolLM, TinyLlama ...): RMSNorm, rotary
 * embeddings in GGUF's "normal" (adjacent pairs) layout, grouped-query attention, SwiGLU, tied
 * or separate output matrix. Matrices in F32, F16, Q4_0, Q4_1 or Q8_0; norms in F32.
 *
 * Threads: a model runs one forward pass at a time (its pool is shared); callers serialise
 * pcc_llm_gen_* and pcc_llm_logits calls on one model (the Python glue holds a per-model lock).
 */
#ifndef PCC_LLM_H
#define PCC_LLM_H

#include <stdbool.h>

#include "pcc/common.h"
#include "pcc/gguf.h"
#include "pcc/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_LLM_MAX_STOP 16        /* stop strings per generation */
#define PCC_LLM_MAX_STOP_LEN 256   /* bytes per stop string */
#define PCC_LLM_MAX_MESSAGES 1024  /* chat messages per request */
#define PCC_LLM_MAX_THREADS 64

/* Model hyper-parameters, from the GGUF metadata llama.* */
/* Architectures (general.architecture). */
typedef enum pcc_llm_arch {
    PCC_ARCH_LLAMA = 0, /* "llama" */
    PCC_ARCH_QWEN2 = 1, /* "qwen2": biases on Q, K and V; NeoX RoPE */
    PCC_ARCH_QWEN3 = 2, /* "qwen3": RMSNorm of each Q and K head before RoPE; NeoX RoPE */
} pcc_llm_arch;

/* Model hyper-parameters; the keys are under the architecture's name ("llama." etc.). */
typedef struct pcc_llm_config {
    pcc_llm_arch arch;
    uint32_t n_layers;    /* llama.block_count */
    uint32_t dim;         /* llama.embedding_length */
    uint32_t hidden_dim;  /* llama.feed_forward_length */
    uint32_t n_heads;     /* llama.attention.head_count */
    uint32_t n_kv_heads;  /* llama.attention.head_count_kv (defaults to n_heads) */
    uint32_t head_dim;    /* dim / n_heads (or llama.attention.key_length; qwen3 may differ) */
    uint32_t n_rot;       /* llama.rope.dimension_count (defaults to head_dim) */
    uint32_t vocab_size;  /* rows of token_embd */
    uint32_t n_ctx_train; /* llama.context_length */
    float rope_base;      /* llama.rope.freq_base (default 10000) */
    float norm_eps;       /* llama.attention.layer_norm_rms_epsilon (default 1e-5) */
    bool tied_output;     /* no output.weight: logits use token_embd */
    bool rope_neox;       /* RoPE pairs (i, i + n_rot/2) instead of adjacent ones (qwen2/3) */
} pcc_llm_config;

/* Options for pcc_llm_model_load. Zero-initialise, then set what you need. */
typedef struct pcc_llm_options {
    int threads;       /* 0: one per online CPU, at most 8 */
    int kernels;       /* a pcc_kvariant; 0 is the reference kernels, so set PCC_KV_BEST (-1) */
    bool kv_f32;       /* keep the KV cache in F32 (default F16, as llama.cpp) */
    int prefill;       /* 0 auto (1), 1 quantized batch kernels, 2 dequantize + BLAS sgemm */
} pcc_llm_options;

/* Sampling and stopping parameters of a generation. */
typedef struct pcc_llm_params {
    uint32_t max_tokens;  /* at least 1; clipped to the context left after the prompt */
    float temperature;    /* <= 0: greedy (argmax) */
    float top_p;          /* nucleus mass in (0, 1]; 1 disables */
    uint32_t top_k;       /* 0 disables */
    uint64_t seed;        /* RNG seed (xoshiro256** seeded through splitmix64) */
    size_t n_stop;        /* number of stop strings */
    const char *const *stop;   /* stop strings (UTF-8, need not be NUL-terminated) */
    const size_t *stop_len;    /* their lengths, each 1 .. PCC_LLM_MAX_STOP_LEN */
} pcc_llm_params;

/* One chat message (bytes need not be NUL-terminated). */
typedef struct pcc_llm_message {
    const char *role;
    size_t role_len;
    const char *content;
    size_t content_len;
} pcc_llm_message;

typedef struct pcc_llm_model pcc_llm_model;
typedef struct pcc_llm_gen pcc_llm_gen;

/* Why a generation stopped. */
typedef enum pcc_llm_finish {
    PCC_LLM_RUNNING = 0,
    PCC_LLM_STOP = 1,   /* an end-of-generation token or a stop string */
    PCC_LLM_LENGTH = 2  /* max_tokens (or the context) reached */
} pcc_llm_finish;

/* pcc_llm_model_load opens the GGUF file at path, validates the configuration and every tensor
 * the forward pass uses (shape and type), builds the tokenizer and starts the thread pool.
 * opt may be NULL (defaults, best kernels). Returns PCC_E_FORMAT for a malformed file or
 * missing/inconsistent tensors, PCC_E_UNSUPPORTED for another architecture or tensor type,
 * PCC_E_INVALID for a bad path or option, PCC_E_NOMEM. Free with pcc_llm_model_free. */
PCC_API pcc_status pcc_llm_model_load(pcc_llm_model **out, const char *path,
                                      const pcc_llm_options *opt) PCC_WUR;

/* pcc_llm_model_load_memory is pcc_llm_model_load on a GGUF image in memory (tests). */
PCC_API pcc_status pcc_llm_model_load_memory(pcc_llm_model **out, const uint8_t *data, size_t len,
                                             const pcc_llm_options *opt) PCC_WUR;

/* pcc_llm_model_free stops the pool and unmaps the file. Accepts NULL. WARNING: every
 * generation of the model must be freed first. */
PCC_API void pcc_llm_model_free(pcc_llm_model *m);

/* pcc_llm_model_config returns the model's configuration (owned by m). */
PCC_API const pcc_llm_config *pcc_llm_model_config(const pcc_llm_model *m);

/* pcc_llm_model_tokenizer returns the model's tokenizer (owned by m). */
PCC_API const pcc_tokenizer *pcc_llm_model_tokenizer(const pcc_llm_model *m);

/* pcc_llm_model_gguf returns the model's GGUF file (owned by m), for metadata and tensor info. */
PCC_API const pcc_gguf *pcc_llm_model_gguf(const pcc_llm_model *m);

/* pcc_llm_model_threads returns the number of threads the model computes with. */
PCC_API int pcc_llm_model_threads(const pcc_llm_model *m);

/* pcc_llm_model_start_threads replaces the model's one-thread pool with one of threads threads
 * (1 .. PCC_LLM_MAX_THREADS), started by the calling process. It is how a process forked from the
 * one that loaded the model (with one thread: a pool's threads do not survive fork) computes
 * with several: a worker calls it after its sandbox is up, so that the threads, created after,
 * are confined like it. PCC_E_STATE when the model already has a pool of several threads,
 * PCC_E_INVALID for a count out of range, PCC_E_NOMEM (the model keeps one thread). WARNING: no
 * generation of m may exist yet (each sizes its buffers by the model's thread count). */
PCC_API pcc_status pcc_llm_model_start_threads(pcc_llm_model *m, int threads) PCC_WUR;

/* pcc_llm_model_kernels returns the name of the kernel variant in use ("avx512", "avx2", "ref"). */
PCC_API const char *pcc_llm_model_kernels(const pcc_llm_model *m);

/* pcc_llm_model_weight_bytes returns the bytes of weights one decode step reads (every matrix
 * once plus one embedding row): the memory-bandwidth bound of decoding. */
PCC_API uint64_t pcc_llm_model_weight_bytes(const pcc_llm_model *m);

/* pcc_llm_logits runs the forward pass over n tokens at positions 0 .. n-1 in a private arena
 * and writes the logits of the last position (all == false, vocab_size floats) or of every
 * position (all == true, n * vocab_size floats, row-major) to out, which holds max_out floats.
 * ids[0 .. decode_from) run as one prompt and every later id in its own pass, as a generation
 * decodes it (decode_from >= n: all of ids as one prompt; 0 counts as 1). The split matters to
 * the last bits only: llama.cpp sums some products in another order inside a batch, and the
 * engine follows it. Returns PCC_E_INVALID for an id out of range, n == 0 or a short out,
 * PCC_E_LIMIT when n exceeds the training context, PCC_E_NOMEM. The arena is wiped before
 * return. */
PCC_API pcc_status pcc_llm_logits(pcc_llm_model *m, const int32_t *ids, size_t n,
                                  size_t decode_from, bool all, float *out,
                                  size_t max_out) PCC_WUR;

/* pcc_llm_chat_render writes the model's chat prompt for msgs (ChatML, with the default system
 * prompt the GGUF chat template inserts when the first message is not a system message, and the
 * assistant header at the end) to out. PCC_E_LIMIT when more than max_out bytes are needed
 * (*out_len then holds the size needed), PCC_E_INVALID for bad messages (empty role, a role or
 * content containing a ChatML marker, too many). */
PCC_API pcc_status pcc_llm_chat_render(const pcc_llm_model *m, const pcc_llm_message *msgs,
                                       size_t n, char *out, size_t *out_len,
                                       size_t max_out) PCC_WUR;

/* pcc_llm_gen_new_tokens starts a generation from n prompt token ids (copied into the arena).
 * pcc_llm_gen_new_text tokenizes len bytes of text (special tokens parsed) into the arena;
 * pcc_llm_gen_new_chat renders msgs with the chat template into the arena and tokenizes it.
 * The arena is sized for the prompt plus max_tokens. Nothing is computed yet: the prompt is
 * processed by the first pcc_llm_gen_next. Returns PCC_E_INVALID for bad parameters or ids,
 * PCC_E_LIMIT when the prompt fills the training context or a stop string is too long,
 * PCC_E_NOMEM. Free with pcc_llm_gen_free. */
PCC_API pcc_status pcc_llm_gen_new_tokens(pcc_llm_gen **out, pcc_llm_model *m, const int32_t *ids,
                                          size_t n, const pcc_llm_params *p) PCC_WUR;
PCC_API pcc_status pcc_llm_gen_new_text(pcc_llm_gen **out, pcc_llm_model *m, const char *text,
                                        size_t len, const pcc_llm_params *p) PCC_WUR;
PCC_API pcc_status pcc_llm_gen_new_chat(pcc_llm_gen **out, pcc_llm_model *m,
                                        const pcc_llm_message *msgs, size_t n,
                                        const pcc_llm_params *p) PCC_WUR;

/* pcc_llm_gen_max_piece returns a buffer size that always holds one pcc_llm_gen_next output. */
PCC_API size_t pcc_llm_gen_max_piece(const pcc_llm_gen *g);

/* pcc_llm_gen_next computes one step: on the first call the prompt (batched prefill), then one
 * token per call. It writes the text that became final to out (*out_len may be 0: text that
 * could start a stop string or an incomplete UTF-8 character is held back), the sampled token to
 * *token (-1 when none was sampled) and sets *done once the generation has finished (the
 * remaining held-back text, if any, is written with it). Returns PCC_E_STATE after done,
 * PCC_E_LIMIT when max_out < pcc_llm_gen_max_piece. On any error the generation is wiped and
 * finished. */
PCC_API pcc_status pcc_llm_gen_next(pcc_llm_gen *g, uint8_t *out, size_t *out_len, size_t max_out,
                                    int32_t *token, bool *done) PCC_WUR;

/* pcc_llm_gen_finish returns why g stopped (PCC_LLM_RUNNING while it runs). */
PCC_API pcc_llm_finish pcc_llm_gen_finish(const pcc_llm_gen *g);

/* pcc_llm_gen_counts returns the prompt and generated token counts. */
PCC_API void pcc_llm_gen_counts(const pcc_llm_gen *g, size_t *n_prompt, size_t *n_generated);

/* pcc_llm_gen_close wipes the arena and the sampler state now; g may still be queried (counts,
 * finish, pcc_llm_gen_arena_is_zero) and must still be freed. */
PCC_API void pcc_llm_gen_close(pcc_llm_gen *g);

/* pcc_llm_gen_arena_is_zero returns true when every byte of g's arena reads zero (a test hook
 * for the wipe: call it after pcc_llm_gen_close). */
PCC_API bool pcc_llm_gen_arena_is_zero(const pcc_llm_gen *g);

/* pcc_llm_gen_free wipes and releases g. Accepts NULL. */
PCC_API void pcc_llm_gen_free(pcc_llm_gen *g);

#ifdef __cplusplus
}
#endif
#endif
