/* model.c: the Llama forward pass (after llama2.c's shape: config, weights, run state, forward).
 *
 * Weights stay in the GGUF file's read-only mapping; the run state and the KV cache are buffers
 * of one arena owned by the caller (a generation). Matrix-vector products quantize the activation
 * to the weight type's dot type once and split the rows over the pool's threads; a prompt is run
 * in batches with the same quantized kernels tiled over the batch (or, with options.prefill 2, by
 * dequantizing tiles of weights to F32 and calling BLAS sgemm: faster on some machines, but not
 * llama.cpp's arithmetic). Attention follows llama.cpp's non-flash path: K and V cached in F16
 * (or F32), Q and the attention weights converted to the cache type for the two products, softmax
 * in F32.
 *
 * The arithmetic is llama.cpp's (ggml CPU backend) bit for bit, including where llama.cpp's
 * differs between a batch of tokens and a single one: its float products (the two attention
 * products; the weight products of F16/F32 models) go through llamafile's tinyBLAS, which sums
 * in a different order, when a forward pass holds two or more tokens. pcc_forward treats a call
 * with two or more tokens (a prompt) as such a batch and a single token (a decode step) not.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llm_internal.h"

#define ALIGN 64
#define BATCH_MAX 128      /* tokens per prefill batch */
#define TILE_ROWS 16       /* weight rows per tile in the batched quantized product */
#define BLAS_TILE_ROWS 128  /* weight rows dequantized per sgemm call */

/* ------------------------------------------------------------------------------------------ */
/* loading                                                                                    */

static pcc_status get_u32_opt(const pcc_gguf *g, const char *key, uint32_t *out, uint32_t dflt)
{
    pcc_status st = pcc_gguf_get_u32(g, key, out);
    if (st == PCC_E_UNKNOWN_KEY) {
        *out = dflt;
        return PCC_OK;
    }
    return st;
}

static pcc_status get_f32_opt(const pcc_gguf *g, const char *key, float *out, float dflt)
{
    pcc_status st = pcc_gguf_get_f32(g, key, out);
    if (st == PCC_E_UNKNOWN_KEY) {
        *out = dflt;
        return PCC_OK;
    }
    return st;
}

static int type_ok(uint32_t t)
{
    return t == PCC_DT_F32 || t == PCC_DT_F16 || t == PCC_DT_Q4_0 || t == PCC_DT_Q4_1 ||
           t == PCC_DT_Q5_0 || t == PCC_DT_Q5_1 || t == PCC_DT_Q8_0 || t == PCC_DT_Q4_K ||
           t == PCC_DT_Q5_K || t == PCC_DT_Q6_K;
}

/* find_mat looks up a 2-D tensor of cols x rows (ggml ne order) in a supported type. */
static pcc_status find_mat(const pcc_gguf *g, const char *name, size_t cols, size_t rows,
                           pcc_mat *out)
{
    const pcc_gguf_tensor *t;
    pcc_status st = pcc_gguf_find_tensor(g, name, &t);
    if (st != PCC_OK)
        return st == PCC_E_UNKNOWN_KEY ? PCC_E_FORMAT : st;
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
        return PCC_E_FORMAT;
    if (!type_ok(t->type))
        return PCC_E_UNSUPPORTED;
    size_t rb = pcc_type_size((pcc_dtype)t->type, cols);
    if (rb == 0 || rb > SIZE_MAX / rows || t->nbytes != (uint64_t)rb * rows ||
        ((uintptr_t)t->data & 3u) != 0)
        return PCC_E_FORMAT;
    out->data = t->data;
    out->type = (pcc_dtype)t->type;
    out->rows = rows;
    out->cols = cols;
    out->row_bytes = rb;
    return PCC_OK;
}

static pcc_status find_norm(const pcc_gguf *g, const char *name, size_t n, const float **out)
{
    const pcc_gguf_tensor *t;
    pcc_status st = pcc_gguf_find_tensor(g, name, &t);
    if (st != PCC_OK)
        return st == PCC_E_UNKNOWN_KEY ? PCC_E_FORMAT : st;
    if (t->n_dims != 1 || t->ne[0] != n)
        return PCC_E_FORMAT;
    if (t->type != PCC_DT_F32)
        return PCC_E_UNSUPPORTED;
    if (((uintptr_t)t->data & 3u) != 0)
        return PCC_E_FORMAT;
    *out = (const float *)(const void *)t->data;
    return PCC_OK;
}

/* key builds "<arch>.<suffix>" */
static const char *key(char *buf, size_t cap, const char *arch, const char *suffix)
{
    snprintf(buf, cap, "%s.%s", arch, suffix);
    return buf;
}

static pcc_status read_config(const pcc_gguf *g, pcc_llm_config *c)
{
    const char *arch;
    size_t arch_len;
    pcc_status st = pcc_gguf_get_str(g, "general.architecture", &arch, &arch_len);
    if (st != PCC_OK)
        return st == PCC_E_UNKNOWN_KEY ? PCC_E_FORMAT : st;
    memset(c, 0, sizeof *c);
    const char *a;
    if (arch_len == 5 && memcmp(arch, "llama", 5) == 0) {
        c->arch = PCC_ARCH_LLAMA;
        a = "llama";
    } else if (arch_len == 5 && memcmp(arch, "qwen2", 5) == 0) {
        c->arch = PCC_ARCH_QWEN2;
        a = "qwen2";
    } else if (arch_len == 5 && memcmp(arch, "qwen3", 5) == 0) {
        c->arch = PCC_ARCH_QWEN3;
        a = "qwen3";
    } else {
        return PCC_E_UNSUPPORTED;
    }
    c->rope_neox = c->arch != PCC_ARCH_LLAMA;
    char k[96];
    if ((st = pcc_gguf_get_u32(g, key(k, sizeof k, a, "block_count"), &c->n_layers)) != PCC_OK ||
        (st = pcc_gguf_get_u32(g, key(k, sizeof k, a, "embedding_length"), &c->dim)) != PCC_OK ||
        (st = pcc_gguf_get_u32(g, key(k, sizeof k, a, "feed_forward_length"), &c->hidden_dim)) != PCC_OK ||
        (st = pcc_gguf_get_u32(g, key(k, sizeof k, a, "attention.head_count"), &c->n_heads)) != PCC_OK ||
        (st = pcc_gguf_get_u32(g, key(k, sizeof k, a, "context_length"), &c->n_ctx_train)) != PCC_OK)
        return st == PCC_E_UNKNOWN_KEY ? PCC_E_FORMAT : st;
    if ((st = get_u32_opt(g, key(k, sizeof k, a, "attention.head_count_kv"), &c->n_kv_heads, c->n_heads)) != PCC_OK ||
        (st = get_f32_opt(g, key(k, sizeof k, a, "rope.freq_base"), &c->rope_base, 10000.0f)) != PCC_OK ||
        (st = get_f32_opt(g, key(k, sizeof k, a, "attention.layer_norm_rms_epsilon"), &c->norm_eps, 1e-5f)) != PCC_OK)
        return st;
    /* Bounds: hostile metadata must not drive huge or zero-sized buffers. */
    if (c->n_layers == 0 || c->n_layers > 1024 || c->dim == 0 || c->dim > 65536 ||
        c->hidden_dim == 0 || c->hidden_dim > 262144 || c->n_heads == 0 || c->n_heads > c->dim ||
        c->n_kv_heads == 0 || c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0 ||
        c->dim % c->n_heads != 0 || c->n_ctx_train == 0 || c->n_ctx_train > (1u << 22) ||
        !(c->rope_base > 0.0f) || !isfinite(c->rope_base) || !(c->norm_eps >= 0.0f) ||
        !isfinite(c->norm_eps))
        return PCC_E_FORMAT;
    uint32_t key_len, val_len;
    if ((st = get_u32_opt(g, key(k, sizeof k, a, "attention.key_length"), &key_len, c->dim / c->n_heads)) != PCC_OK ||
        (st = get_u32_opt(g, key(k, sizeof k, a, "attention.value_length"), &val_len, key_len)) != PCC_OK)
        return st;
    if (val_len != key_len)
        return PCC_E_UNSUPPORTED;
    if (key_len == 0 || key_len > 1024)
        return PCC_E_FORMAT;
    /* Llama and Qwen2 split dim into the heads; Qwen3's heads may be wider or narrower */
    if (c->arch != PCC_ARCH_QWEN3 && key_len * c->n_heads != c->dim)
        return PCC_E_UNSUPPORTED;
    c->head_dim = key_len;
    if ((st = get_u32_opt(g, key(k, sizeof k, a, "rope.dimension_count"), &c->n_rot, c->head_dim)) != PCC_OK)
        return st;
    if (c->n_rot == 0 || c->n_rot > c->head_dim || c->n_rot % 2 != 0 || c->head_dim % 2 != 0)
        return PCC_E_FORMAT;
    /* rope scaling other than none is not implemented */
    const char *sc;
    size_t sc_len;
    st = pcc_gguf_get_str(g, key(k, sizeof k, a, "rope.scaling.type"), &sc, &sc_len);
    if (st == PCC_OK && !(sc_len == 4 && memcmp(sc, "none", 4) == 0))
        return PCC_E_UNSUPPORTED;
    return PCC_OK;
}

/* find_default_system extracts the default system prompt of a ChatML template that inserts one
 * when the first message is not a system message: SmolLM2's ("if ... != 'system'") and
 * Qwen2/2.5's ("if ... == 'system' ... else"). The prompt is the first "<|im_start|>system\n"
 * followed by literal text (no quote, brace or escape) up to "<|im_end|>". */
static void find_default_system(pcc_llm_model *m)
{
    const char *t;
    size_t n;
    if (pcc_gguf_get_str(m->gguf, "tokenizer.chat_template", &t, &n) != PCC_OK)
        return;
    static const char *const conds[] = {"messages[0]['role'] != 'system'", "messages[0][\"role\"] != \"system\"",
                                        "messages[0]['role'] == 'system'", "messages[0][\"role\"] == \"system\""};
    static const char head[] = "<|im_start|>system";
    static const char end[] = "<|im_end|>";
    bool cond = false;
    for (size_t i = 0; i < sizeof conds / sizeof conds[0]; i++)
        cond = cond || memmem(t, n, conds[i], strlen(conds[i])) != NULL;
    if (!cond)
        return;
    const char *lim = t + n;
    for (const char *h = memmem(t, n, head, sizeof head - 1); h != NULL;
         h = memmem(h + 1, (size_t)(lim - h - 1), head, sizeof head - 1)) {
        const char *p = h + sizeof head - 1;
        if (p < lim && *p == '\n')
            p++;
        else if (lim - p >= 2 && p[0] == '\\' && p[1] == 'n')
            p += 2;
        else
            continue;
        const char *e = memmem(p, (size_t)(lim - p), end, sizeof end - 1);
        if (e == NULL || e == p || memchr(p, '\\', (size_t)(e - p)) != NULL ||
            memchr(p, '{', (size_t)(e - p)) != NULL || memchr(p, '\'', (size_t)(e - p)) != NULL ||
            memchr(p, '"', (size_t)(e - p)) != NULL)
            continue;
        m->default_system = p;
        m->default_system_len = (size_t)(e - p);
        return;
    }
}

static uint64_t mat_bytes(const pcc_mat *w) { return (uint64_t)w->row_bytes * w->rows; }

static pcc_status model_init(pcc_llm_model *m, const pcc_llm_options *opt)
{
    pcc_status st;
    pcc_llm_config *c = &m->cfg;
    const pcc_gguf *g = m->gguf;
    if ((st = read_config(g, c)) != PCC_OK)
        return st;
    const size_t dim = c->dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim, hid = c->hidden_dim;
    const size_t q_dim = (size_t)c->n_heads * c->head_dim;

    const pcc_gguf_tensor *te;
    if ((st = pcc_gguf_find_tensor(g, "token_embd.weight", &te)) != PCC_OK)
        return st == PCC_E_UNKNOWN_KEY ? PCC_E_FORMAT : st;
    if (te->n_dims != 2 || te->ne[1] == 0 || te->ne[1] > (1u << 24))
        return PCC_E_FORMAT;
    c->vocab_size = (uint32_t)te->ne[1];
    if ((st = find_mat(g, "token_embd.weight", dim, c->vocab_size, &m->tok_embd)) != PCC_OK)
        return st;
    st = find_mat(g, "output.weight", dim, c->vocab_size, &m->output);
    if (st == PCC_E_FORMAT) {
        const pcc_gguf_tensor *to;
        if (pcc_gguf_find_tensor(g, "output.weight", &to) == PCC_OK)
            return PCC_E_FORMAT; /* present but malformed */
        m->output = m->tok_embd;
        c->tied_output = true;
    } else if (st != PCC_OK) {
        return st;
    }
    if ((st = find_norm(g, "output_norm.weight", dim, &m->output_norm)) != PCC_OK)
        return st;
    m->layers = calloc(c->n_layers, sizeof *m->layers);
    if (m->layers == NULL)
        return PCC_E_NOMEM;
    uint64_t wb = mat_bytes(&m->output) + m->tok_embd.row_bytes + dim * 4;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        pcc_layer *L = &m->layers[l];
        char name[64];
#define NAME(s) (snprintf(name, sizeof name, "blk.%u." s ".weight", l), name)
        if ((st = find_norm(g, NAME("attn_norm"), dim, &L->attn_norm)) != PCC_OK ||
            (st = find_norm(g, NAME("ffn_norm"), dim, &L->ffn_norm)) != PCC_OK ||
            (st = find_mat(g, NAME("attn_q"), dim, q_dim, &L->wq)) != PCC_OK ||
            (st = find_mat(g, NAME("attn_k"), dim, kv_dim, &L->wk)) != PCC_OK ||
            (st = find_mat(g, NAME("attn_v"), dim, kv_dim, &L->wv)) != PCC_OK ||
            (st = find_mat(g, NAME("attn_output"), q_dim, dim, &L->wo)) != PCC_OK ||
            (st = find_mat(g, NAME("ffn_gate"), dim, hid, &L->wg)) != PCC_OK ||
            (st = find_mat(g, NAME("ffn_up"), dim, hid, &L->wu)) != PCC_OK ||
            (st = find_mat(g, NAME("ffn_down"), hid, dim, &L->wd)) != PCC_OK)
            return st;
#undef NAME
#define BNAME(s) (snprintf(name, sizeof name, "blk.%u." s ".bias", l), name)
#define WNAME(s) (snprintf(name, sizeof name, "blk.%u." s ".weight", l), name)
        if (c->arch == PCC_ARCH_QWEN2 &&
            ((st = find_norm(g, BNAME("attn_q"), q_dim, &L->bq)) != PCC_OK ||
             (st = find_norm(g, BNAME("attn_k"), kv_dim, &L->bk)) != PCC_OK ||
             (st = find_norm(g, BNAME("attn_v"), kv_dim, &L->bv)) != PCC_OK))
            return st;
        if (c->arch == PCC_ARCH_QWEN3 &&
            ((st = find_norm(g, WNAME("attn_q_norm"), c->head_dim, &L->q_norm)) != PCC_OK ||
             (st = find_norm(g, WNAME("attn_k_norm"), c->head_dim, &L->k_norm)) != PCC_OK))
            return st;
#undef BNAME
#undef WNAME
        wb += mat_bytes(&L->wq) + mat_bytes(&L->wk) + mat_bytes(&L->wv) + mat_bytes(&L->wo) +
              mat_bytes(&L->wg) + mat_bytes(&L->wu) + mat_bytes(&L->wd) + 2 * dim * 4;
    }
    m->weight_bytes = wb;

    if ((st = pcc_tokenizer_new_from_gguf(&m->tok, g)) != PCC_OK)
        return st;
    if (pcc_tokenizer_vocab_size(m->tok) > c->vocab_size)
        return PCC_E_FORMAT;
    if (pcc_tokenizer_token_id(m->tok, "<|im_start|>", 12, &m->im_start) != PCC_OK ||
        pcc_tokenizer_token_id(m->tok, "<|im_end|>", 10, &m->im_end) != PCC_OK)
        m->im_start = m->im_end = -1; /* no ChatML: chat is unsupported for this model */
    find_default_system(m);

    int kv = opt ? opt->kernels : PCC_KV_BEST;
    m->k = pcc_kernels_get(kv);
    if (m->k == NULL)
        return PCC_E_UNSUPPORTED;
    int threads = opt ? opt->threads : 0;
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? 1 : n > 8 ? 8 : (int)n;
    }
    if (threads > PCC_LLM_MAX_THREADS)
        return PCC_E_INVALID;
    m->threads = threads;
    m->kv_type = opt && opt->kv_f32 ? PCC_DT_F32 : PCC_DT_F16;
    /* the quantized kernels by default: llama.cpp's arithmetic, and faster than its prefill */
    m->prefill = opt && opt->prefill ? opt->prefill : 1;
    if (m->prefill < 1 || m->prefill > 2)
        return PCC_E_INVALID;
    if (m->prefill == 2)
        openblas_set_num_threads(1); /* our own threads split the rows */
    return pcc_pool_new(&m->pool, threads);
}

static pcc_status model_load(pcc_llm_model **out, const char *path, const uint8_t *data,
                             size_t len, const pcc_llm_options *opt)
{
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    pcc_llm_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return PCC_E_NOMEM;
    pcc_status st = path ? pcc_gguf_open(&m->gguf, path) : pcc_gguf_open_memory(&m->gguf, data, len);
    if (st == PCC_OK)
        st = model_init(m, opt);
    if (st != PCC_OK) {
        pcc_llm_model_free(m);
        return st;
    }
    *out = m;
    return PCC_OK;
}

pcc_status pcc_llm_model_load(pcc_llm_model **out, const char *path, const pcc_llm_options *opt)
{
    if (path == NULL)
        return PCC_E_INVALID;
    return model_load(out, path, NULL, 0, opt);
}

pcc_status pcc_llm_model_load_memory(pcc_llm_model **out, const uint8_t *data, size_t len,
                                     const pcc_llm_options *opt)
{
    if (data == NULL || len == 0)
        return PCC_E_INVALID;
    return model_load(out, NULL, data, len, opt);
}

void pcc_llm_model_free(pcc_llm_model *m)
{
    if (m == NULL)
        return;
    pcc_pool_free(m->pool);
    pcc_tokenizer_free(m->tok);
    free(m->layers);
    pcc_gguf_close(m->gguf);
    free(m);
}

pcc_status pcc_llm_model_start_threads(pcc_llm_model *m, int threads)
{
    pcc_pool *p = NULL;
    pcc_status st;
    if (m == NULL || threads < 1 || threads > PCC_LLM_MAX_THREADS)
        return PCC_E_INVALID;
    if (m->threads != 1)
        return PCC_E_STATE; /* its threads may be another process's: never touch that pool */
    if (threads == 1)
        return PCC_OK;
    if ((st = pcc_pool_new(&p, threads)) != PCC_OK)
        return st;
    pcc_pool_free(m->pool); /* one thread: no thread to join, only its lock and condition */
    m->pool = p;
    m->threads = threads;
    return PCC_OK;
}

const pcc_llm_config *pcc_llm_model_config(const pcc_llm_model *m) { return &m->cfg; }
const pcc_tokenizer *pcc_llm_model_tokenizer(const pcc_llm_model *m) { return m->tok; }
const pcc_gguf *pcc_llm_model_gguf(const pcc_llm_model *m) { return m->gguf; }
int pcc_llm_model_threads(const pcc_llm_model *m) { return m->threads; }
const char *pcc_llm_model_kernels(const pcc_llm_model *m) { return m->k->name; }
uint64_t pcc_llm_model_weight_bytes(const pcc_llm_model *m) { return m->weight_bytes; }

/* ------------------------------------------------------------------------------------------ */
/* run state                                                                                  */

void *pcc_layout_take(pcc_layout *L, size_t n)
{
    if (L->failed)
        return NULL;
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ALIGN || L->total > SIZE_MAX - n - ALIGN) {
        L->failed = 1;
        return NULL;
    }
    L->total = ((L->total + ALIGN - 1) & ~(size_t)(ALIGN - 1)) + n;
    if (L->arena == NULL)
        return NULL;
    void *p = pcc_arena_alloc(L->arena, n, ALIGN);
    if (p == NULL)
        L->failed = 1;
    return p;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

void pcc_run_state_layout(pcc_layout *L, const pcc_llm_model *m, pcc_run_state *s, size_t n_ctx,
                          size_t bmax)
{
    const pcc_llm_config *c = &m->cfg;
    const size_t dim = c->dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    const size_t hid = c->hidden_dim, nt = (size_t)m->threads;
    const size_t esz = m->kv_type == PCC_DT_F16 ? 2 : 4;
    memset(s, 0, sizeof *s);
    s->n_ctx = n_ctx;
    s->bmax = bmax;
    s->x = pcc_layout_take(L, bmax * dim * 4);
    s->xb = pcc_layout_take(L, bmax * dim * 4);
    const size_t q_dim = (size_t)c->n_heads * c->head_dim;
    s->xb2 = pcc_layout_take(L, bmax * max_sz(dim, q_dim) * 4);
    s->q = pcc_layout_take(L, bmax * q_dim * 4);
    s->k = pcc_layout_take(L, bmax * kv_dim * 4);
    s->v = pcc_layout_take(L, bmax * kv_dim * 4);
    s->hb = pcc_layout_take(L, bmax * hid * 4);
    s->hb2 = pcc_layout_take(L, bmax * hid * 4);
    s->rope_cs = pcc_layout_take(L, bmax * c->n_rot * 4);
    /* the widest quantized activation row: dot types of every matrix over dim or hid columns */
    size_t cols = max_sz(max_sz(dim, hid), q_dim);
    s->xq_row = max_sz(max_sz(pcc_type_size(PCC_DT_Q8_0, cols), pcc_type_size(PCC_DT_Q8_1, cols)),
                       cols * 4);
    s->xq = pcc_layout_take(L, bmax * s->xq_row);
    s->kcache = pcc_layout_take(L, (size_t)c->n_layers * n_ctx * kv_dim * esz);
    s->vcache = pcc_layout_take(L, (size_t)c->n_layers * n_ctx * kv_dim * esz);
    const size_t group = c->n_heads / c->n_kv_heads; /* query heads per KV head */
    s->att = pcc_layout_take(L, nt * group * n_ctx * 4);
    s->att_conv = pcc_layout_take(L, nt * group * n_ctx * esz);
    s->q_conv = pcc_layout_take(L, nt * group * c->head_dim * esz);
    if (m->prefill == 2 && bmax > 1) {
        s->wtile_floats = BLAS_TILE_ROWS * cols;
        s->wtile = pcc_layout_take(L, nt * s->wtile_floats * 4);
    }
    s->logits = pcc_layout_take(L, (size_t)c->vocab_size * 4);
}

/* ------------------------------------------------------------------------------------------ */
/* parallel matrix products                                                                   */

typedef struct mm_job {
    const pcc_llm_model *m;
    pcc_run_state *s;
    size_t nmat;
    const pcc_mat *w[3];
    float *y[3];        /* n rows of w[i]->rows floats */
    size_t ldy[3];      /* row stride of y[i] in floats */
    const uint8_t *xq;  /* n rows of quantized activations */
    size_t xq_stride;
    const float *xf;    /* n rows of F32 activations (sgemm path) */
    size_t n;
    bool batch;         /* part of a multi-token batch: llama.cpp's batch arithmetic */
} mm_job;

static void mm_rows(const mm_job *j, int ith, size_t i, size_t r0, size_t r1)
{
    const pcc_mat *w = j->w[i];
    const pcc_type_traits *tt = &j->m->k->types[w->type];
    const size_t cols = w->cols;
    /* F32/F16 weights: tinyBLAS's summation order inside a batch (quantized types sum alike) */
    const pcc_dotrows_fn dotrows = j->batch && tt->dotrows_batch ? tt->dotrows_batch : tt->dotrows;
    if (j->n == 1) {
        dotrows(cols, r1 - r0, j->y[i] + r0, w->data + r0 * w->row_bytes, w->row_bytes, j->xq);
        return;
    }
    if (j->xf != NULL) {
        /* dequantize a tile of rows to F32 and let BLAS multiply the whole batch by it */
        float *tile = j->s->wtile + (size_t)ith * j->s->wtile_floats;
        for (size_t r = r0; r < r1; r += BLAS_TILE_ROWS) {
            size_t nr = r1 - r < BLAS_TILE_ROWS ? r1 - r : BLAS_TILE_ROWS;
            for (size_t t = 0; t < nr; t++)
                tt->to_float(w->data + (r + t) * w->row_bytes, tile + t * cols, cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->n, (int)nr, (int)cols,
                        1.0f, j->xf, (int)cols, tile, (int)cols, 0.0f, j->y[i] + r, (int)j->ldy[i]);
        }
        return;
    }
    if (tt->gemm != NULL && dotrows == tt->dotrows) {
        tt->gemm(cols, r1 - r0, j->n, j->y[i] + r0, j->ldy[i], w->data + r0 * w->row_bytes,
                 w->row_bytes, j->xq, j->xq_stride);
        return;
    }
    /* batched quantized product: a tile of weight rows stays in cache while every token of the
     * batch streams past it */
    for (size_t r = r0; r < r1; r += TILE_ROWS) {
        size_t nr = r1 - r < TILE_ROWS ? r1 - r : TILE_ROWS;
        for (size_t t = 0; t < j->n; t++)
            dotrows(cols, nr, j->y[i] + t * j->ldy[i] + r, w->data + r * w->row_bytes,
                    w->row_bytes, j->xq + t * j->xq_stride);
    }
}

/* chunks per thread: enough that a thread that is not running holds up little of a job */
#define CHUNKS_PER_THREAD 4

static void mm_worker(void *ctx, int ith, size_t chunk, size_t nchunks)
{
    const mm_job *j = ctx;
    size_t total = 0;
    for (size_t i = 0; i < j->nmat; i++)
        total += j->w[i]->rows;
    /* chunk c covers the concatenated rows [a, b), on multiples of 8 rows */
    size_t units = (total + 7) / 8;
    size_t a = units * chunk / nchunks * 8, b = units * (chunk + 1) / nchunks * 8;
    if (b > total)
        b = total;
    size_t base = 0;
    for (size_t i = 0; i < j->nmat && a < b; i++) {
        size_t rows = j->w[i]->rows;
        size_t lo = a > base ? a - base : 0, hi = b - base < rows ? b - base : rows;
        if (b > base && lo < rows && lo < hi)
            mm_rows(j, ith, i, lo, hi);
        base += rows;
    }
}

static size_t n_chunks(const pcc_llm_model *m, size_t work_units)
{
    size_t c = (size_t)m->threads * CHUNKS_PER_THREAD;
    if (m->threads == 1)
        c = 1;
    return work_units < c ? (work_units ? work_units : 1) : c;
}

/* matmul computes y[i] = x . w[i]^T for n rows of x (dim w[0]->cols) and up to 3 matrices that
 * share the input and type; batch: llama.cpp would run it with two or more rows. */
static void matmul(pcc_llm_model *m, pcc_run_state *s, const float *x, size_t n, bool batch,
                   size_t nmat, const pcc_mat *const *w, float *const *y)
{
    mm_job j;
    memset(&j, 0, sizeof j);
    j.m = m;
    j.s = s;
    j.nmat = nmat;
    j.n = n;
    j.batch = batch;
    for (size_t i = 0; i < nmat; i++) {
        j.w[i] = w[i];
        j.y[i] = y[i];
        j.ldy[i] = w[i]->rows;
    }
    const size_t cols = w[0]->cols;
    const pcc_type_traits *tt = &m->k->types[w[0]->type];
    if (n > 1 && m->prefill == 2 && s->wtile != NULL) {
        j.xf = x;
    } else {
        const pcc_type_traits *dt = &m->k->types[tt->dot_type];
        j.xq_stride = pcc_type_size(tt->dot_type, cols);
        for (size_t t = 0; t < n; t++)
            dt->from_float(x + t * cols, s->xq + t * j.xq_stride, cols);
        j.xq = s->xq;
    }
    size_t total = 0;
    for (size_t i = 0; i < nmat; i++)
        total += w[i]->rows;
    pcc_pool_run(m->pool, mm_worker, &j, n_chunks(m, (total + 7) / 8));
}

static void matmul1(pcc_llm_model *m, pcc_run_state *s, const float *x, size_t n, bool batch,
                    const pcc_mat *w, float *y)
{
    matmul(m, s, x, n, batch, 1, &w, &y);
}

/* ------------------------------------------------------------------------------------------ */
/* attention                                                                                  */

typedef struct att_job {
    const pcc_llm_model *m;
    pcc_run_state *s;
    size_t layer, n, pos0;
    bool batch;
} att_job;

/* Attention of one (token, KV head) item covers the query heads that share the KV head (grouped-
 * query attention): each K row and each V row is read from memory once for all of them and kept
 * in L1 while every head of the group takes its dot products, which are the same per (head, row)
 * as one head at a time would compute. Rows go in blocks of ATT_KB positions (K) and ATT_VB
 * output dimensions (V). */
#define ATT_KB 32
#define ATT_VB 16

static void att_worker(void *ctx, int ith, size_t chunk, size_t nchunks)
{
    const att_job *j = ctx;
    const pcc_llm_model *m = j->m;
    const pcc_llm_config *c = &m->cfg;
    pcc_run_state *s = j->s;
    const size_t hd = c->head_dim, q_dim = (size_t)c->n_heads * hd, kv_dim = (size_t)c->n_kv_heads * hd;
    const size_t group = c->n_heads / c->n_kv_heads;
    const size_t esz = m->kv_type == PCC_DT_F16 ? 2 : 4;
    const pcc_type_traits *kt = &m->k->types[m->kv_type];
    /* llama.cpp's KQ and KQV products go through tinyBLAS in a batch when the lengths allow
     * (head size a multiple of 16; its KV length is padded to 256) */
    const int mbatch = j->batch && hd % 16 == 0;
    const pcc_dotrows_fn dotrows = mbatch ? kt->dotrows_batch : kt->dotrows;
    /* all the heads of a group at once where the variant has it: the same bits per (head, row) */
    const pcc_dotrows_multi_fn multi = kt->dotrows_multi;
    const float scale = 1.0f / sqrtf((float)hd);
    const uint8_t *kc = s->kcache + j->layer * s->n_ctx * kv_dim * esz;
    const uint8_t *vc = s->vcache + j->layer * s->n_ctx * kv_dim * esz;
    float *att = s->att + (size_t)ith * group * s->n_ctx;
    uint8_t *att_conv = s->att_conv + (size_t)ith * group * s->n_ctx * esz;
    uint8_t *q_conv = s->q_conv + (size_t)ith * group * hd * esz;

    const size_t items = j->n * c->n_kv_heads;
    const size_t a = items * chunk / nchunks, b = items * (chunk + 1) / nchunks;
    for (size_t it = a; it < b; it++) {
        const size_t i = it / c->n_kv_heads, kh = it % c->n_kv_heads, h0 = kh * group;
        const size_t npos = j->pos0 + i + 1; /* causal: positions 0 .. pos */
        for (size_t g = 0; g < group; g++)
            kt->from_float(s->q + i * q_dim + (h0 + g) * hd, q_conv + g * hd * esz, hd);
        /* scores[g][t] = q_g . k_t */
        const uint8_t *kh_base = kc + kh * hd * esz;
        for (size_t t0 = 0; t0 < npos; t0 += ATT_KB) {
            const size_t nt = npos - t0 < ATT_KB ? npos - t0 : ATT_KB;
            if (multi != NULL) {
                multi(hd, nt, group, att + t0, s->n_ctx, kh_base + t0 * kv_dim * esz, kv_dim * esz, q_conv,
                      hd * esz, mbatch);
                continue;
            }
            for (size_t g = 0; g < group; g++)
                dotrows(hd, nt, att + g * s->n_ctx + t0, kh_base + t0 * kv_dim * esz, kv_dim * esz,
                        q_conv + g * hd * esz);
        }
        for (size_t g = 0; g < group; g++) {
            float *ag = att + g * s->n_ctx;
            for (size_t t = 0; t < npos; t++)
                ag[t] *= scale;
            m->k->softmax(ag, npos);
            kt->from_float(ag, att_conv + g * s->n_ctx * esz, npos);
        }
        /* out_g[d] = sum_t att_g[t] v_t[d], V stored transposed: one row of positions per d */
        const uint8_t *vh_base = vc + kh * hd * s->n_ctx * esz;
        for (size_t d0 = 0; d0 < hd; d0 += ATT_VB) {
            const size_t nd = hd - d0 < ATT_VB ? hd - d0 : ATT_VB;
            if (multi != NULL) {
                multi(npos, nd, group, s->xb2 + i * q_dim + h0 * hd + d0, hd, vh_base + d0 * s->n_ctx * esz,
                      s->n_ctx * esz, att_conv, s->n_ctx * esz, mbatch);
                continue;
            }
            for (size_t g = 0; g < group; g++)
                dotrows(npos, nd, s->xb2 + i * q_dim + (h0 + g) * hd + d0, vh_base + d0 * s->n_ctx * esz,
                        s->n_ctx * esz, att_conv + g * s->n_ctx * esz);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* forward                                                                                    */

static void store_kv(const pcc_llm_model *m, pcc_run_state *s, size_t l, size_t n, size_t pos0)
{
    const pcc_llm_config *c = &m->cfg;
    const size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    const pcc_type_traits *kt = &m->k->types[m->kv_type];
    const size_t esz = m->kv_type == PCC_DT_F16 ? 2 : 4;
    uint8_t *kc = s->kcache + l * s->n_ctx * kv_dim * esz;
    uint8_t *vc = s->vcache + l * s->n_ctx * kv_dim * esz;
    for (size_t i = 0; i < n; i++) {
        const size_t p = pos0 + i;
        kt->from_float(s->k + i * kv_dim, kc + p * kv_dim * esz, kv_dim);
        const float *v = s->v + i * kv_dim;
        if (m->kv_type == PCC_DT_F16) {
            uint16_t *vt = (uint16_t *)(void *)vc;
            for (size_t d = 0; d < kv_dim; d++)
                vt[d * s->n_ctx + p] = pcc_fp32_to_fp16(v[d]);
        } else {
            float *vt = (float *)(void *)vc;
            for (size_t d = 0; d < kv_dim; d++)
                vt[d * s->n_ctx + p] = v[d];
        }
    }
}

static void forward_batch(pcc_llm_model *m, pcc_run_state *s, const int32_t *ids, size_t n,
                          size_t pos0, bool batch, float *logits, bool all)
{
    const pcc_llm_config *c = &m->cfg;
    const pcc_kernels *k = m->k;
    const size_t dim = c->dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim, hid = c->hidden_dim;
    const size_t q_dim = (size_t)c->n_heads * c->head_dim;

    const pcc_type_traits *et = &k->types[m->tok_embd.type];
    for (size_t i = 0; i < n; i++) {
        et->to_float(m->tok_embd.data + (size_t)ids[i] * m->tok_embd.row_bytes, s->x + i * dim, dim);
        pcc_rope_cache(s->rope_cs + i * c->n_rot, (float)(pos0 + i), c->n_rot, c->rope_base);
    }
    for (size_t l = 0; l < c->n_layers; l++) {
        const pcc_layer *L = &m->layers[l];
        /* attention */
        for (size_t i = 0; i < n; i++)
            k->rms_norm(s->xb + i * dim, s->x + i * dim, L->attn_norm, dim, c->norm_eps);
        if (L->wq.type == L->wk.type && L->wk.type == L->wv.type) {
            const pcc_mat *w[3] = {&L->wq, &L->wk, &L->wv};
            float *y[3] = {s->q, s->k, s->v};
            matmul(m, s, s->xb, n, batch, 3, w, y);
        } else {
            matmul1(m, s, s->xb, n, batch, &L->wq, s->q);
            matmul1(m, s, s->xb, n, batch, &L->wk, s->k);
            matmul1(m, s, s->xb, n, batch, &L->wv, s->v);
        }
        for (size_t i = 0; i < n; i++) {
            float *q = s->q + i * q_dim, *kk = s->k + i * kv_dim;
            if (L->bq != NULL) { /* qwen2: Q, K and V biases */
                float *v = s->v + i * kv_dim;
                for (size_t e = 0; e < q_dim; e++)
                    q[e] += L->bq[e];
                for (size_t e = 0; e < kv_dim; e++) {
                    kk[e] += L->bk[e];
                    v[e] += L->bv[e];
                }
            }
            if (L->q_norm != NULL) { /* qwen3: RMSNorm of every Q and K head */
                for (size_t h = 0; h < c->n_heads; h++)
                    k->rms_norm(q + h * c->head_dim, q + h * c->head_dim, L->q_norm, c->head_dim, c->norm_eps);
                for (size_t h = 0; h < c->n_kv_heads; h++)
                    k->rms_norm(kk + h * c->head_dim, kk + h * c->head_dim, L->k_norm, c->head_dim, c->norm_eps);
            }
            const float *cs = s->rope_cs + i * c->n_rot;
            if (c->rope_neox) {
                pcc_rope_neox(q, c->n_heads, c->head_dim, c->n_rot, cs);
                pcc_rope_neox(kk, c->n_kv_heads, c->head_dim, c->n_rot, cs);
            } else {
                pcc_rope(q, c->n_heads, c->head_dim, c->n_rot, cs);
                pcc_rope(kk, c->n_kv_heads, c->head_dim, c->n_rot, cs);
            }
        }
        store_kv(m, s, l, n, pos0);
        att_job aj = {m, s, l, n, pos0, batch};
        pcc_pool_run(m->pool, att_worker, &aj, n_chunks(m, n * c->n_kv_heads));
        matmul1(m, s, s->xb2, n, batch, &L->wo, s->xb);
        for (size_t i = 0; i < n * dim; i++)
            s->x[i] += s->xb[i];
        /* feed-forward: w_down(silu(w_gate x) * w_up x) */
        for (size_t i = 0; i < n; i++)
            k->rms_norm(s->xb + i * dim, s->x + i * dim, L->ffn_norm, dim, c->norm_eps);
        if (L->wg.type == L->wu.type) {
            const pcc_mat *w[2] = {&L->wg, &L->wu};
            float *y[2] = {s->hb, s->hb2};
            matmul(m, s, s->xb, n, batch, 2, w, y);
        } else {
            matmul1(m, s, s->xb, n, batch, &L->wg, s->hb);
            matmul1(m, s, s->xb, n, batch, &L->wu, s->hb2);
        }
        for (size_t i = 0; i < n; i++) /* per row: ggml's exp covers whole chunks of 16 */
            k->swiglu(s->hb + i * hid, s->hb + i * hid, s->hb2 + i * hid, hid);
        matmul1(m, s, s->hb, n, batch, &L->wd, s->xb);
        for (size_t i = 0; i < n * dim; i++)
            s->x[i] += s->xb[i];
    }
    if (all) {
        for (size_t i = 0; i < n; i++)
            k->rms_norm(s->xb + i * dim, s->x + i * dim, m->output_norm, dim, c->norm_eps);
        /* logits rows are written straight to the caller's buffer, vocab floats apart */
        matmul1(m, s, s->xb, n, batch, &m->output, logits);
    } else if (logits != NULL) {
        k->rms_norm(s->xb, s->x + (n - 1) * dim, m->output_norm, dim, c->norm_eps);
        /* llama.cpp multiplies only the rows it outputs: one here */
        matmul1(m, s, s->xb, 1, false, &m->output, logits);
    }
}

pcc_status pcc_forward(pcc_llm_model *m, pcc_run_state *s, const int32_t *ids, size_t n,
                       size_t pos0, float *all_out)
{
    if (n == 0 || pos0 > s->n_ctx || n > s->n_ctx - pos0)
        return PCC_E_INVALID;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= m->cfg.vocab_size)
            return PCC_E_INVALID;
    const bool batch = n >= 2; /* llama.cpp runs a call's tokens as one batch */
    for (size_t done = 0; done < n;) {
        size_t b = n - done < s->bmax ? n - done : s->bmax;
        bool last = done + b == n;
        if (all_out != NULL)
            forward_batch(m, s, ids + done, b, pos0 + done, batch,
                          all_out + done * (size_t)m->cfg.vocab_size, true);
        else
            forward_batch(m, s, ids + done, b, pos0 + done, batch, last ? s->logits : NULL, false);
        done += b;
    }
    return PCC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* logits (tests)                                                                             */

pcc_status pcc_llm_logits(pcc_llm_model *m, const int32_t *ids, size_t n, size_t decode_from,
                          bool all, float *out, size_t max_out)
{
    if (m == NULL || ids == NULL || out == NULL || n == 0)
        return PCC_E_INVALID;
    if (n > m->cfg.n_ctx_train)
        return PCC_E_LIMIT;
    const size_t vocab = m->cfg.vocab_size;
    if (max_out < (all ? n * vocab : vocab) || (all && n > SIZE_MAX / vocab))
        return PCC_E_INVALID;
    size_t bmax = n < BATCH_MAX ? n : BATCH_MAX;
    pcc_layout L = {0};
    pcc_run_state s;
    pcc_run_state_layout(&L, m, &s, n, bmax);
    if (L.failed)
        return PCC_E_LIMIT;
    pcc_arena *arena = NULL;
    pcc_status st = pcc_arena_new(&arena, L.total + 4096);
    if (st != PCC_OK)
        return st;
    L = (pcc_layout){arena, 0, 0};
    pcc_run_state_layout(&L, m, &s, n, bmax);
    if (L.failed) {
        st = PCC_E_NOMEM;
        goto out;
    }
    /* ids[0 .. n0) as one prompt, then one token per pass as a generation decodes */
    const size_t n0 = decode_from == 0 ? 1 : decode_from < n ? decode_from : n;
    st = pcc_forward(m, &s, ids, n0, 0, all ? out : NULL);
    for (size_t i = n0; st == PCC_OK && i < n; i++)
        st = pcc_forward(m, &s, ids + i, 1, i, all ? out + i * vocab : NULL);
    if (st == PCC_OK && !all)
        memcpy(out, s.logits, vocab * sizeof(float));
out:
    pcc_arena_free(arena);
    return st;
}
