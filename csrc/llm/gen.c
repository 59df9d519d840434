/* gen.c: one generation: prompt (text, chat or ids), sampling loop, stop strings, wipe.
 *
 * Everything request-specific lives in the generation's arena: prompt ids, generated ids, run
 * state, KV cache, logits, sampler state, stop strings and held-back text. Prompt text is
 * rendered and tokenized in a smaller, separate arena first (its size is only known from the
 * text) and wiped as soon as the ids are copied over.
 */
#include <stdlib.h>
#include <string.h>

#include "llm_internal.h"

#define BATCH_MAX 128

struct pcc_llm_gen {
    pcc_llm_model *m;
    pcc_arena *arena;
    pcc_run_state s;
    int32_t *ids;       /* prompt then generated ids (n_ctx) */
    size_t n_prompt, n_gen, max_tokens, pos;
    int32_t pending;    /* sampled, not yet run through the model */
    bool prefilled;
    bool closed;
    pcc_llm_finish finish;
    pcc_sampler *sampler;
    float *probs;
    uint32_t *idx;
    /* stop strings: n_stop strings packed in stop_buf */
    size_t n_stop;
    const char *stop[PCC_LLM_MAX_STOP];
    size_t stop_len[PCC_LLM_MAX_STOP];
    /* text decoded but not yet handed out */
    uint8_t *text;
    size_t text_len, text_cap;
    uint8_t *piece; /* one token's bytes */
    size_t piece_cap;
    pcc_tokenizer_decoder *dec;
};

/* ---- chat ---------------------------------------------------------------------------------- */

static const char IM_START[] = "<|im_start|>";
static const char IM_END[] = "<|im_end|>";

static bool has_marker(const char *s, size_t n)
{
    return memmem(s, n, IM_START, sizeof IM_START - 1) != NULL ||
           memmem(s, n, IM_END, sizeof IM_END - 1) != NULL;
}

static pcc_status check_messages(const pcc_llm_message *msgs, size_t n)
{
    if (msgs == NULL || n == 0 || n > PCC_LLM_MAX_MESSAGES)
        return PCC_E_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].role == NULL || msgs[i].role_len == 0 || msgs[i].role_len > 64 ||
            (msgs[i].content == NULL && msgs[i].content_len != 0))
            return PCC_E_INVALID;
        if (memchr(msgs[i].role, '\n', msgs[i].role_len) != NULL ||
            has_marker(msgs[i].role, msgs[i].role_len))
            return PCC_E_INVALID;
    }
    return PCC_OK;
}

static bool needs_default_system(const pcc_llm_model *m, const pcc_llm_message *msgs)
{
    return m->default_system != NULL &&
           !(msgs[0].role_len == 6 && memcmp(msgs[0].role, "system", 6) == 0);
}

/* Writer that counts when out is too small. */
typedef struct wr {
    char *out;
    size_t len, cap;
} wr;

static void put(wr *w, const void *p, size_t n)
{
    if (w->len <= w->cap && n <= w->cap - w->len && w->out != NULL)
        memcpy(w->out + w->len, p, n);
    w->len += n;
}

pcc_status pcc_llm_chat_render(const pcc_llm_model *m, const pcc_llm_message *msgs, size_t n,
                               char *out, size_t *out_len, size_t max_out)
{
    if (m == NULL || out_len == NULL)
        return PCC_E_INVALID;
    pcc_status st = check_messages(msgs, n);
    if (st != PCC_OK)
        return st;
    wr w = {out, 0, out ? max_out : 0};
    if (needs_default_system(m, msgs)) {
        put(&w, "<|im_start|>system\n", 19);
        put(&w, m->default_system, m->default_system_len);
        put(&w, "<|im_end|>\n", 11);
    }
    for (size_t i = 0; i < n; i++) {
        put(&w, IM_START, sizeof IM_START - 1);
        put(&w, msgs[i].role, msgs[i].role_len);
        put(&w, "\n", 1);
        put(&w, msgs[i].content, msgs[i].content_len);
        put(&w, IM_END, sizeof IM_END - 1);
        put(&w, "\n", 1);
    }
    put(&w, "<|im_start|>assistant\n", 22);
    *out_len = w.len;
    return w.len > w.cap ? PCC_E_LIMIT : PCC_OK;
}

/* ---- prompt tokenization in a scratch arena ------------------------------------------------ */

typedef struct prompt {
    pcc_arena *arena;
    int32_t *ids;
    size_t n, cap;
    char *text; /* fragment buffer */
} prompt;

static pcc_status prompt_add_text(const pcc_llm_model *m, prompt *p, const char *s, size_t len,
                                  bool special)
{
    size_t got = 0;
    if (len == 0)
        return PCC_OK;
    pcc_status st = pcc_tokenizer_encode(m->tok, s, len, special, p->ids + p->n, &got, p->cap - p->n);
    if (st != PCC_OK)
        return st;
    p->n += got;
    return PCC_OK;
}

static pcc_status prompt_add_id(prompt *p, int32_t id)
{
    if (p->n >= p->cap)
        return PCC_E_LIMIT;
    p->ids[p->n++] = id;
    return PCC_OK;
}

/* A fragment "role\ncontent" is tokenized as one text (so BPE sees what llama.cpp sees between
 * two special tokens) with special tokens NOT parsed: a message cannot forge ChatML markers. */
static pcc_status prompt_add_fragment(const pcc_llm_model *m, prompt *p, const char *role,
                                      size_t role_len, const char *content, size_t content_len)
{
    memcpy(p->text, role, role_len);
    p->text[role_len] = '\n';
    if (content_len)
        memcpy(p->text + role_len + 1, content, content_len);
    pcc_status st = prompt_add_text(m, p, p->text, role_len + 1 + content_len, false);
    pcc_wipe(p->text, role_len + 1 + content_len);
    return st;
}

static pcc_status prompt_build(const pcc_llm_model *m, prompt *p, const char *text, size_t len,
                               const pcc_llm_message *msgs, size_t n_msgs)
{
    pcc_status st;
    size_t total = len, frag = 0;
    if (msgs != NULL) {
        if ((st = check_messages(msgs, n_msgs)) != PCC_OK)
            return st;
        if (m->im_start < 0 || m->im_end < 0)
            return PCC_E_UNSUPPORTED;
        total = 64 + m->default_system_len;
        for (size_t i = 0; i < n_msgs; i++) {
            size_t f = msgs[i].role_len + 1 + msgs[i].content_len;
            if (msgs[i].content_len > SIZE_MAX / 8 || total > SIZE_MAX / 8 - f - 8)
                return PCC_E_LIMIT;
            total += f + 8;
            frag = f > frag ? f : frag;
        }
        frag = frag > m->default_system_len + 8 ? frag : m->default_system_len + 8;
    }
    /* every id covers at least one byte, specials aside: ids <= bytes + markers + BOS */
    p->cap = total + 4 * n_msgs + 8;
    if (p->cap > SIZE_MAX / 8)
        return PCC_E_LIMIT;
    if ((st = pcc_arena_new(&p->arena, p->cap * sizeof(int32_t) + frag + 256)) != PCC_OK)
        return st;
    p->ids = pcc_arena_alloc(p->arena, p->cap * sizeof(int32_t), 64);
    p->text = frag ? pcc_arena_alloc(p->arena, frag, 64) : NULL;
    if (p->ids == NULL || (frag && p->text == NULL))
        return PCC_E_NOMEM;
    if (pcc_tokenizer_add_bos(m->tok) && pcc_tokenizer_bos(m->tok) >= 0 &&
        (st = prompt_add_id(p, pcc_tokenizer_bos(m->tok))) != PCC_OK)
        return st;
    if (msgs == NULL)
        return prompt_add_text(m, p, text, len, true);
    if (needs_default_system(m, msgs)) {
        if ((st = prompt_add_id(p, m->im_start)) != PCC_OK ||
            (st = prompt_add_fragment(m, p, "system", 6, m->default_system,
                                      m->default_system_len)) != PCC_OK ||
            (st = prompt_add_id(p, m->im_end)) != PCC_OK ||
            (st = prompt_add_text(m, p, "\n", 1, false)) != PCC_OK)
            return st;
    }
    for (size_t i = 0; i < n_msgs; i++) {
        if ((st = prompt_add_id(p, m->im_start)) != PCC_OK ||
            (st = prompt_add_fragment(m, p, msgs[i].role, msgs[i].role_len, msgs[i].content,
                                      msgs[i].content_len)) != PCC_OK ||
            (st = prompt_add_id(p, m->im_end)) != PCC_OK ||
            (st = prompt_add_text(m, p, "\n", 1, false)) != PCC_OK)
            return st;
    }
    if ((st = prompt_add_id(p, m->im_start)) != PCC_OK)
        return st;
    return prompt_add_text(m, p, "assistant\n", 10, false);
}

/* ---- generation ---------------------------------------------------------------------------- */

static pcc_status gen_layout(pcc_layout *L, pcc_llm_gen *g, const pcc_llm_params *p)
{
    const pcc_llm_model *m = g->m;
    const size_t n_ctx = g->n_prompt + g->max_tokens;
    const size_t bmax = g->n_prompt < BATCH_MAX ? g->n_prompt : BATCH_MAX;
    pcc_run_state_layout(L, m, &g->s, n_ctx, bmax);
    g->ids = pcc_layout_take(L, n_ctx * sizeof(int32_t));
    g->sampler = pcc_layout_take(L, sizeof(pcc_sampler));
    g->probs = pcc_layout_take(L, (size_t)m->cfg.vocab_size * sizeof(float));
    g->idx = pcc_layout_take(L, (size_t)m->cfg.vocab_size * sizeof(uint32_t));
    g->piece_cap = pcc_tokenizer_max_piece_len(m->tok) + 8;
    g->piece = pcc_layout_take(L, g->piece_cap);
    size_t max_stop = 0;
    for (size_t i = 0; i < p->n_stop; i++) {
        char *s = pcc_layout_take(L, p->stop_len[i]);
        if (s != NULL) {
            memcpy(s, p->stop[i], p->stop_len[i]);
            g->stop[i] = s;
            g->stop_len[i] = p->stop_len[i];
        }
        max_stop = p->stop_len[i] > max_stop ? p->stop_len[i] : max_stop;
    }
    g->text_cap = max_stop + g->piece_cap + 8;
    g->text = pcc_layout_take(L, g->text_cap);
    return L->failed ? PCC_E_LIMIT : PCC_OK;
}

static pcc_status check_params(const pcc_llm_params *p)
{
    if (p == NULL || p->max_tokens == 0 || !(p->top_p > 0.0f) || p->top_p > 1.0f ||
        p->temperature != p->temperature || p->n_stop > PCC_LLM_MAX_STOP ||
        (p->n_stop > 0 && (p->stop == NULL || p->stop_len == NULL)))
        return PCC_E_INVALID;
    for (size_t i = 0; i < p->n_stop; i++) {
        if (p->stop[i] == NULL || p->stop_len[i] == 0)
            return PCC_E_INVALID;
        if (p->stop_len[i] > PCC_LLM_MAX_STOP_LEN)
            return PCC_E_LIMIT;
    }
    return PCC_OK;
}

static pcc_status gen_create(pcc_llm_gen **out, pcc_llm_model *m, const int32_t *ids, size_t n,
                             const pcc_llm_params *p)
{
    pcc_status st;
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (m == NULL || (ids == NULL && n > 0))
        return PCC_E_INVALID;
    if ((st = check_params(p)) != PCC_OK)
        return st;
    if (n == 0)
        return PCC_E_INVALID;
    if (n >= m->cfg.n_ctx_train)
        return PCC_E_LIMIT;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= m->cfg.vocab_size)
            return PCC_E_INVALID;
    pcc_llm_gen *g = calloc(1, sizeof *g);
    if (g == NULL)
        return PCC_E_NOMEM;
    g->m = m;
    g->n_prompt = n;
    g->max_tokens = p->max_tokens;
    if (g->max_tokens > m->cfg.n_ctx_train - n)
        g->max_tokens = m->cfg.n_ctx_train - n;
    g->pending = -1;
    g->n_stop = p->n_stop;
    pcc_layout L = {0};
    if ((st = gen_layout(&L, g, p)) != PCC_OK)
        goto fail;
    if ((st = pcc_arena_new(&g->arena, L.total + 4096)) != PCC_OK)
        goto fail;
    L = (pcc_layout){g->arena, 0, 0};
    if ((st = gen_layout(&L, g, p)) != PCC_OK) {
        st = PCC_E_NOMEM;
        goto fail;
    }
    memcpy(g->ids, ids, n * sizeof(int32_t));
    pcc_sampler_init(g->sampler, p);
    if ((st = pcc_tokenizer_decoder_new(&g->dec, m->tok, false)) != PCC_OK)
        goto fail;
    *out = g;
    return PCC_OK;
fail:
    pcc_llm_gen_free(g);
    return st;
}

pcc_status pcc_llm_gen_new_tokens(pcc_llm_gen **out, pcc_llm_model *m, const int32_t *ids,
                                  size_t n, const pcc_llm_params *p)
{
    return gen_create(out, m, ids, n, p);
}

static pcc_status gen_from_prompt(pcc_llm_gen **out, pcc_llm_model *m, const char *text,
                                  size_t len, const pcc_llm_message *msgs, size_t n_msgs,
                                  const pcc_llm_params *p)
{
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (m == NULL || (msgs == NULL && text == NULL && len > 0))
        return PCC_E_INVALID;
    pcc_status st = check_params(p);
    if (st != PCC_OK)
        return st;
    prompt pr = {0};
    st = prompt_build(m, &pr, text, len, msgs, n_msgs);
    if (st == PCC_OK)
        st = gen_create(out, m, pr.ids, pr.n, p);
    pcc_arena_free(pr.arena); /* wipes the prompt ids and fragments */
    return st;
}

pcc_status pcc_llm_gen_new_text(pcc_llm_gen **out, pcc_llm_model *m, const char *text, size_t len,
                                const pcc_llm_params *p)
{
    return gen_from_prompt(out, m, text, len, NULL, 0, p);
}

pcc_status pcc_llm_gen_new_chat(pcc_llm_gen **out, pcc_llm_model *m, const pcc_llm_message *msgs,
                                size_t n, const pcc_llm_params *p)
{
    if (msgs == NULL)
        return PCC_E_INVALID;
    return gen_from_prompt(out, m, NULL, 0, msgs, n, p);
}

size_t pcc_llm_gen_max_piece(const pcc_llm_gen *g) { return g ? g->text_cap : 0; }

/* hold_back returns how many trailing bytes of text could still begin a stop string. */
static size_t hold_back(const pcc_llm_gen *g)
{
    size_t hold = 0;
    for (size_t i = 0; i < g->n_stop; i++) {
        size_t sl = g->stop_len[i];
        size_t maxl = sl - 1 < g->text_len ? sl - 1 : g->text_len;
        for (size_t l = maxl; l > hold; l--) {
            if (memcmp(g->text + g->text_len - l, g->stop[i], l) == 0) {
                hold = l;
                break;
            }
        }
    }
    return hold;
}

/* find_stop returns the offset of the earliest stop string in text, or SIZE_MAX. */
static size_t find_stop(const pcc_llm_gen *g)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < g->n_stop; i++) {
        const uint8_t *f = memmem(g->text, g->text_len, g->stop[i], g->stop_len[i]);
        if (f != NULL && (size_t)(f - g->text) < best)
            best = (size_t)(f - g->text);
    }
    return best;
}

/* emit moves the first n bytes of text to out and shifts the rest down. */
static void emit(pcc_llm_gen *g, size_t n, uint8_t *out, size_t *out_len)
{
    memcpy(out, g->text, n);
    *out_len = n;
    memmove(g->text, g->text + n, g->text_len - n);
    pcc_wipe(g->text + g->text_len - n, n);
    g->text_len -= n;
}

static void gen_wipe(pcc_llm_gen *g)
{
    if (g->arena != NULL)
        pcc_arena_reset(g->arena);
    pcc_tokenizer_decoder_free(g->dec);
    g->dec = NULL;
    g->text_len = 0;
    g->pending = -1;
    g->closed = true;
}

pcc_status pcc_llm_gen_next(pcc_llm_gen *g, uint8_t *out, size_t *out_len, size_t max_out,
                            int32_t *token, bool *done)
{
    if (g == NULL || out == NULL || out_len == NULL || token == NULL || done == NULL)
        return PCC_E_INVALID;
    *out_len = 0;
    *token = -1;
    *done = false;
    if (g->closed || g->finish != PCC_LLM_RUNNING)
        return PCC_E_STATE;
    if (max_out < g->text_cap)
        return PCC_E_LIMIT;
    pcc_llm_model *m = g->m;
    pcc_status st = PCC_OK;
    size_t piece_len = 0;
    if (!g->prefilled) {
        st = pcc_forward(m, &g->s, g->ids, g->n_prompt, 0, NULL);
        if (st != PCC_OK)
            goto fail;
        g->pos = g->n_prompt;
        g->prefilled = true;
    } else if (g->pending >= 0) {
        st = pcc_forward(m, &g->s, &g->pending, 1, g->pos, NULL);
        if (st != PCC_OK)
            goto fail;
        g->pos++;
        g->pending = -1;
    }
    int32_t t = pcc_sampler_sample(g->sampler, g->s.logits, m->cfg.vocab_size, g->probs, g->idx);
    *token = t;
    bool finished = false;
    if (pcc_tokenizer_is_eog(m->tok, t)) {
        g->finish = PCC_LLM_STOP;
        finished = true;
    } else {
        g->ids[g->n_prompt + g->n_gen] = t;
        g->n_gen++;
        st = pcc_tokenizer_decoder_push(g->dec, t, g->piece, &piece_len, g->piece_cap);
        if (st != PCC_OK)
            goto fail;
        memcpy(g->text + g->text_len, g->piece, piece_len);
        g->text_len += piece_len;
        pcc_wipe(g->piece, piece_len);
        if (g->n_gen >= g->max_tokens) {
            g->finish = PCC_LLM_LENGTH;
            finished = true;
        } else {
            g->pending = t;
        }
    }
    if (finished) {
        /* flush the bytes of an incomplete character the decoder held back */
        st = pcc_tokenizer_decoder_flush(g->dec, g->piece, &piece_len, g->piece_cap);
        if (st != PCC_OK)
            goto fail;
        memcpy(g->text + g->text_len, g->piece, piece_len);
        g->text_len += piece_len;
        pcc_wipe(g->piece, piece_len);
    }
    size_t at = find_stop(g);
    if (at != SIZE_MAX) {
        emit(g, at, out, out_len);
        g->finish = PCC_LLM_STOP;
        finished = true;
    } else if (finished) {
        emit(g, g->text_len, out, out_len);
    } else {
        emit(g, g->text_len - hold_back(g), out, out_len);
    }
    *done = finished;
    if (finished)
        gen_wipe(g);
    return PCC_OK;
fail:
    *out_len = 0;
    *token = -1;
    *done = true;
    g->finish = PCC_LLM_STOP;
    gen_wipe(g);
    return st;
}

pcc_llm_finish pcc_llm_gen_finish(const pcc_llm_gen *g) { return g ? g->finish : PCC_LLM_RUNNING; }

void pcc_llm_gen_counts(const pcc_llm_gen *g, size_t *n_prompt, size_t *n_generated)
{
    if (n_prompt)
        *n_prompt = g ? g->n_prompt : 0;
    if (n_generated)
        *n_generated = g ? g->n_gen : 0;
}

void pcc_llm_gen_close(pcc_llm_gen *g)
{
    if (g != NULL)
        gen_wipe(g);
}

bool pcc_llm_gen_arena_is_zero(const pcc_llm_gen *g)
{
    if (g == NULL || g->arena == NULL)
        return false;
    const uint8_t *b = pcc_arena_base(g->arena);
    size_t n = pcc_arena_capacity(g->arena);
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

void pcc_llm_gen_free(pcc_llm_gen *g)
{
    if (g == NULL)
        return;
    pcc_tokenizer_decoder_free(g->dec);
    pcc_arena_free(g->arena);
    pcc_wipe(g, sizeof *g);
    free(g);
}
