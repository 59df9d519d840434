/* tokenizer.c: GPT-2 byte-level BPE from GGUF metadata (llama.cpp / Hugging Face compatible).
 *
 * encode(text):
 *   1. split out special tokens (leftmost, longest match; CONTROL/UNKNOWN only with parse_special,
 *      USER_DEFINED always), like HF's AddedVocabulary and llama.cpp's tokenizer_st_partition;
 *   2. pre-tokenize each remaining stretch: "smollm" first isolates every \p{N} code point
 *      (HF Digits(individual_digits), llama.cpp regex "\p{N}"), then each stretch between them is
 *      cut by the GPT-2 regex
 *          's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      implemented by hand below (gpt2_match);
 *   3. map each piece's bytes to GPT-2's byte-level alphabet (bytes_to_unicode) and merge adjacent
 *      symbols by merge rank (lowest rank first, leftmost first among equals) with a binary heap
 *      over a linked list of symbols.
 * decode(id) is the exact inverse: pieces are byte-level decoded once at load.
 *
 * Hash tables use SipHash-2-4 under a per-tokenizer random key, so a hostile vocabulary cannot
 * force quadratic work at load. */
#include "pcc/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "pcc/secure.h"
#include "unicode_tables.h"

#define NONE UINT32_MAX

struct special {
    const uint8_t *text;
    uint32_t len;
    int32_t id;
    bool control; /* CONTROL or UNKNOWN: only matched with parse_special */
};

struct pair_ent {
    uint64_t key; /* (uint64_t)left << 32 | right */
    uint32_t rank;
    int32_t merged;
    bool used;
};

struct pcc_tokenizer {
    size_t n_vocab;
    int pre;
    uint8_t *type;       /* PCC_TOKEN_* per id */
    uint8_t *eog;        /* 1 when the id ends generation */
    size_t *text_off;    /* vocabulary text, n_vocab + 1 offsets into text_pool */
    uint8_t *text_pool;
    size_t *piece_off;   /* decoded bytes, n_vocab + 1 offsets into piece_pool */
    uint8_t *piece_pool;
    size_t max_piece;
    uint32_t *tmap;      /* text -> id + 1 (0 empty), open addressing */
    size_t tmap_mask;
    struct pair_ent *pmap;
    size_t pmap_mask;
    int32_t byte_tok[256];
    struct special *specials; /* sorted by (first byte, length desc) */
    size_t n_specials;
    uint32_t special_start[257];
    int32_t bos, eos, pad, eot, eom;
    bool add_bos;
    uint64_t k0, k1; /* SipHash key */
};

struct pcc_tokenizer_decoder {
    const pcc_tokenizer *t;
    bool special;
    uint8_t n_pending;
    uint8_t pending[4];
};

/* ---- SipHash-2-4 (Aumasson, Bernstein) ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                   \
    do {                                                                           \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                  \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                     \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                     \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                  \
    } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t *in, size_t n)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)n << 56;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m = 0;
        for (int j = 7; j >= 0; j--)
            m = (m << 8) | in[i + (size_t)j];
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; i + j < n; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t hash_pair(const pcc_tokenizer *t, uint64_t key)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(key >> (8 * i));
    return siphash(t->k0, t->k1, b, 8);
}

/* ---- byte-level alphabet (GPT-2 bytes_to_unicode) ---- */

/* Bytes 33..126, 161..172 and 174..255 stand for themselves; the other 68 bytes map, in order,
 * to U+0100..U+0143. */
static uint32_t byte_to_cp(uint8_t b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)
        return b;
    uint32_t k = 0;
    for (uint32_t x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174))
            k++;
    return 256 + k;
}

/* Inverse: -1 for a code point outside the alphabet. */
static int cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || cp >= 174) ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    uint32_t k = cp - 256;
    for (uint32_t x = 0; x < 256; x++) {
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) {
            if (k == 0)
                return (int)x;
            k--;
        }
    }
    return -1;
}

static size_t utf8_put(uint8_t *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* utf8_next decodes one well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates,
 * <= U+10FFFF) at s[0..n) and returns its length, or 0 when s does not start one. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    v = (v << 6) | (s[1] & 0x3F);
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/* utf8_partial_tail returns how many bytes at the end of s[0..n) are the valid beginning of a
 * UTF-8 sequence that is not complete yet (0..3). */
static size_t utf8_partial_tail(const uint8_t *s, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = s[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: keep looking for the lead */
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 3;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 4;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else
            return 0;
        if (back >= need)
            return 0; /* complete (or over-long run): nothing to hold */
        if (back >= 2 && (s[n - back + 1] < lo || s[n - back + 1] > hi))
            return 0;
        return back;
    }
    return 0;
}

/* ---- Unicode classes ---- */

static uint8_t uc_class(uint32_t cp)
{
    if (cp == NONE)
        return PCC_UC_OTHER; /* an invalid byte */
    size_t lo = 0, hi = pcc_uc_ranges_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < pcc_uc_ranges[mid].first)
            hi = mid;
        else if (cp > pcc_uc_ranges[mid].last)
            lo = mid + 1;
        else
            return pcc_uc_ranges[mid].cls;
    }
    return PCC_UC_OTHER;
}


/* ---- hash tables ---- */

static size_t table_cap(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    return cap;
}

static const uint8_t *tok_text(const pcc_tokenizer *t, size_t id, size_t *len)
{
    *len = t->text_off[id + 1] - t->text_off[id];
    return t->text_pool + t->text_off[id];
}

static int32_t tmap_find(const pcc_tokenizer *t, const uint8_t *s, size_t len)
{
    size_t i = (size_t)siphash(t->k0, t->k1, s, len) & t->tmap_mask;
    for (;; i = (i + 1) & t->tmap_mask) {
        uint32_t e = t->tmap[i];
        if (e == 0)
            return -1;
        size_t l;
        const uint8_t *x = tok_text(t, e - 1, &l);
        if (l == len && memcmp(x, s, len) == 0)
            return (int32_t)(e - 1);
    }
}

/* Returns false when the text is already present. */
static bool tmap_insert(pcc_tokenizer *t, uint32_t id)
{
    size_t len;
    const uint8_t *s = tok_text(t, id, &len);
    size_t i = (size_t)siphash(t->k0, t->k1, s, len) & t->tmap_mask;
    for (;; i = (i + 1) & t->tmap_mask) {
        uint32_t e = t->tmap[i];
        if (e == 0) {
            t->tmap[i] = id + 1;
            return true;
        }
        size_t l;
        const uint8_t *x = tok_text(t, e - 1, &l);
        if (l == len && memcmp(x, s, len) == 0)
            return false;
    }
}

static const struct pair_ent *pmap_find(const pcc_tokenizer *t, uint32_t a, uint32_t b)
{
    uint64_t key = (uint64_t)a << 32 | b;
    size_t i = (size_t)hash_pair(t, key) & t->pmap_mask;
    for (;; i = (i + 1) & t->pmap_mask) {
        const struct pair_ent *e = &t->pmap[i];
        if (!e->used)
            return NULL;
        if (e->key == key)
            return e;
    }
}

static bool pmap_insert(pcc_tokenizer *t, uint32_t a, uint32_t b, uint32_t rank, int32_t merged)
{
    uint64_t key = (uint64_t)a << 32 | b;
    size_t i = (size_t)hash_pair(t, key) & t->pmap_mask;
    for (;; i = (i + 1) & t->pmap_mask) {
        struct pair_ent *e = &t->pmap[i];
        if (!e->used) {
            *e = (struct pair_ent){key, rank, merged, true};
            return true;
        }
        if (e->key == key)
            return false;
    }
}

/* ---- construction ---- */

static void random_key(pcc_tokenizer *t)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        /* no entropy: still unpredictable enough to a file author, and correctness never depends
         * on the key */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)t;
        k[1] = (uint64_t)(uintptr_t)&k ^ 0x9E3779B97F4A7C15ULL;
    }
    t->k0 = k[0];
    t->k1 = k[1];
}

static int cmp_special(const void *a, const void *b)
{
    const struct special *x = a, *y = b;
    if (x->text[0] != y->text[0])
        return x->text[0] < y->text[0] ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1; /* longest first */
    return (x->id > y->id) - (x->id < y->id);
}

static bool str_eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* optional_id reads an optional token id key; PCC_E_FORMAT when present but out of range. */
static pcc_status optional_id(const pcc_gguf *g, const char *key, size_t n_vocab, int32_t *out)
{
    uint32_t v;
    pcc_status st = pcc_gguf_get_u32(g, key, &v);
    *out = -1;
    if (st == PCC_E_UNKNOWN_KEY)
        return PCC_OK;
    if (st != PCC_OK)
        return st;
    if (v >= n_vocab)
        return PCC_E_FORMAT;
    *out = (int32_t)v;
    return PCC_OK;
}

static pcc_status load_vocab(pcc_tokenizer *t, const pcc_gguf *g)
{
    pcc_status st;
    uint32_t et;
    size_t n;
    if ((st = pcc_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n)) != PCC_OK)
        return st == PCC_E_UNKNOWN_KEY ? PCC_E_FORMAT : st;
    if (et != PCC_GGUF_VAL_STRING || n == 0)
        return PCC_E_FORMAT;
    if (n > PCC_TOKENIZER_MAX_VOCAB)
        return PCC_E_LIMIT;
    t->n_vocab = n;

    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if ((st = pcc_gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len)) != PCC_OK)
            return st;
        if (len == 0)
            return PCC_E_FORMAT;
        if (len > PCC_TOKENIZER_MAX_TOKEN_LEN)
            return PCC_E_LIMIT;
        total += len;
    }
    t->type = calloc(n, 1);
    t->eog = calloc(n, 1);
    t->text_off = malloc((n + 1) * sizeof *t->text_off);
    t->piece_off = malloc((n + 1) * sizeof *t->piece_off);
    t->text_pool = malloc(total);
    t->piece_pool = malloc(total); /* a decoded piece is never longer than its text */
    t->tmap_mask = table_cap(n) - 1;
    t->tmap = calloc(t->tmap_mask + 1, sizeof *t->tmap);
    if (!t->type || !t->eog || !t->text_off || !t->piece_off || !t->text_pool || !t->piece_pool ||
        !t->tmap)
        return PCC_E_NOMEM;

    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if ((st = pcc_gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len)) != PCC_OK)
            return st;
        t->text_off[i] = off;
        memcpy(t->text_pool + off, s, len);
        off += len;
    }
    t->text_off[n] = off;
    for (size_t i = 0; i < n; i++)
        if (!tmap_insert(t, (uint32_t)i))
            return PCC_E_FORMAT; /* duplicate token text */

    /* token types: optional, all NORMAL when absent */
    size_t nt;
    st = pcc_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &nt);
    if (st == PCC_E_UNKNOWN_KEY) {
        memset(t->type, PCC_TOKEN_NORMAL, n);
    } else if (st != PCC_OK) {
        return st;
    } else {
        if (nt != n)
            return PCC_E_FORMAT;
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            if ((st = pcc_gguf_get_arr_i64(g, "tokenizer.ggml.token_type", i, &v)) != PCC_OK)
                return st;
            if (v < PCC_TOKEN_UNDEFINED || v > PCC_TOKEN_BYTE)
                return PCC_E_FORMAT;
            t->type[i] = (uint8_t)v;
        }
    }

    /* pieces: byte-level decoded text for ordinary tokens, verbatim for the others */
    size_t poff = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *s = tok_text(t, i, &len);
        t->piece_off[i] = poff;
        uint8_t ty = t->type[i];
        if (ty == PCC_TOKEN_NORMAL || ty == PCC_TOKEN_BYTE || ty == PCC_TOKEN_UNDEFINED) {
            for (size_t k = 0; k < len;) {
                uint32_t cp;
                size_t l = utf8_next(s + k, len - k, &cp);
                int b = l ? cp_to_byte(cp) : -1;
                if (b < 0)
                    return PCC_E_FORMAT; /* not byte-level text: decode could not invert it */
                t->piece_pool[poff++] = (uint8_t)b;
                k += l;
            }
        } else {
            memcpy(t->piece_pool + poff, s, len);
            poff += len;
        }
        if (poff - t->piece_off[i] > t->max_piece)
            t->max_piece = poff - t->piece_off[i];
    }
    t->piece_off[n] = poff;

    /* the token of each single byte */
    for (int b = 0; b < 256; b++) {
        uint8_t u[4];
        size_t l = utf8_put(u, byte_to_cp((uint8_t)b));
        t->byte_tok[b] = tmap_find(t, u, l);
    }
    return PCC_OK;
}

static pcc_status load_merges(pcc_tokenizer *t, const pcc_gguf *g)
{
    pcc_status st;
    uint32_t et;
    size_t n;
    st = pcc_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n);
    if (st == PCC_E_UNKNOWN_KEY)
        n = 0;
    else if (st != PCC_OK)
        return st;
    else if (et != PCC_GGUF_VAL_STRING)
        return PCC_E_FORMAT;
    if (n > UINT32_MAX - 1)
        return PCC_E_LIMIT;
    t->pmap_mask = table_cap(n) - 1;
    t->pmap = calloc(t->pmap_mask + 1, sizeof *t->pmap);
    if (t->pmap == NULL)
        return PCC_E_NOMEM;
    uint8_t buf[2 * PCC_TOKENIZER_MAX_TOKEN_LEN];
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if ((st = pcc_gguf_get_arr_str(g, "tokenizer.ggml.merges", i, &s, &len)) != PCC_OK)
            return st;
        /* "left right": split at the first space after the first byte (llama.cpp) */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (sp == NULL || (size_t)(sp - s) + 1 >= len)
            return PCC_E_FORMAT;
        size_t la = (size_t)(sp - s), lb = len - la - 1;
        if (la + lb > sizeof buf)
            return PCC_E_FORMAT;
        int32_t a = tmap_find(t, (const uint8_t *)s, la);
        int32_t b = tmap_find(t, (const uint8_t *)sp + 1, lb);
        memcpy(buf, s, la);
        memcpy(buf + la, sp + 1, lb);
        int32_t m = tmap_find(t, buf, la + lb);
        if (a < 0 || b < 0 || m < 0)
            return PCC_E_FORMAT;
        if (!pmap_insert(t, (uint32_t)a, (uint32_t)b, (uint32_t)i, m))
            return PCC_E_FORMAT; /* the same pair twice */
    }
    return PCC_OK;
}

static pcc_status load_specials(pcc_tokenizer *t)
{
    size_t count = 0;
    for (size_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->type[i];
        if (ty == PCC_TOKEN_CONTROL || ty == PCC_TOKEN_UNKNOWN || ty == PCC_TOKEN_USER_DEFINED)
            count++;
    }
    t->specials = calloc(count ? count : 1, sizeof *t->specials);
    if (t->specials == NULL)
        return PCC_E_NOMEM;
    for (size_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->type[i];
        if (ty == PCC_TOKEN_CONTROL || ty == PCC_TOKEN_UNKNOWN || ty == PCC_TOKEN_USER_DEFINED) {
            size_t len;
            const uint8_t *s = tok_text(t, i, &len);
            t->specials[t->n_specials++] =
                (struct special){s, (uint32_t)len, (int32_t)i, ty != PCC_TOKEN_USER_DEFINED};
        }
    }
    if (t->n_specials > 1)
        qsort(t->specials, t->n_specials, sizeof *t->specials, cmp_special);
    size_t k = 0;
    for (unsigned b = 0; b <= 256; b++) {
        while (k < t->n_specials && t->specials[k].text[0] < b)
            k++;
        t->special_start[b] = (uint32_t)k;
    }
    return PCC_OK;
}

static const char *const eog_texts[] = {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>",
                                        "<|end|>", "<end_of_turn>"};

pcc_status pcc_tokenizer_new_from_gguf(pcc_tokenizer **out, const pcc_gguf *g)
{
    if (out == NULL || g == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    pcc_status st;
    const char *s;
    size_t len;
    pcc_tokenizer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return PCC_E_NOMEM;
    random_key(t);

    if ((st = pcc_gguf_get_str(g, "tokenizer.ggml.model", &s, &len)) != PCC_OK) {
        st = st == PCC_E_UNKNOWN_KEY ? PCC_E_FORMAT : st;
        goto out;
    }
    if (!str_eq(s, len, "gpt2")) {
        st = PCC_E_UNSUPPORTED;
        goto out;
    }
    if ((st = pcc_gguf_get_str(g, "tokenizer.ggml.pre", &s, &len)) != PCC_OK) {
        st = st == PCC_E_UNKNOWN_KEY ? PCC_E_UNSUPPORTED : st;
        goto out;
    }
    /* llama.cpp groups these names on the same regexes */
    static const char *const smollm_like[] = {"smollm", "starcoder", "refact", "command-r",
                                              "codeshell", "exaone", "minerva-7b"};
    static const char *const gpt2_like[] = {"gpt2", "gpt-2", "mpt", "olmo", "jais"};
    t->pre = -1;
    if (str_eq(s, len, "qwen2") || str_eq(s, len, "deepseek-r1-qwen"))
        t->pre = PCC_TOKENIZER_PRE_QWEN2;
    for (size_t i = 0; i < sizeof smollm_like / sizeof *smollm_like; i++)
        if (str_eq(s, len, smollm_like[i]))
            t->pre = PCC_TOKENIZER_PRE_SMOLLM;
    for (size_t i = 0; i < sizeof gpt2_like / sizeof *gpt2_like; i++)
        if (str_eq(s, len, gpt2_like[i]))
            t->pre = PCC_TOKENIZER_PRE_GPT2;
    if (t->pre < 0) {
        st = PCC_E_UNSUPPORTED;
        goto out;
    }

    if ((st = load_vocab(t, g)) != PCC_OK || (st = load_merges(t, g)) != PCC_OK ||
        (st = load_specials(t)) != PCC_OK)
        goto out;

    if ((st = optional_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos)) != PCC_OK ||
        (st = optional_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos)) != PCC_OK ||
        (st = optional_id(g, "tokenizer.ggml.padding_token_id", t->n_vocab, &t->pad)) != PCC_OK ||
        (st = optional_id(g, "tokenizer.ggml.eot_token_id", t->n_vocab, &t->eot)) != PCC_OK ||
        (st = optional_id(g, "tokenizer.ggml.eom_token_id", t->n_vocab, &t->eom)) != PCC_OK)
        goto out;
    bool ab = false;
    st = pcc_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &ab);
    if (st != PCC_OK && st != PCC_E_UNKNOWN_KEY)
        goto out;
    t->add_bos = st == PCC_OK && ab;
    st = PCC_OK;

    if (t->eos >= 0)
        t->eog[t->eos] = 1;
    if (t->eot >= 0)
        t->eog[t->eot] = 1;
    if (t->eom >= 0)
        t->eog[t->eom] = 1;
    for (size_t i = 0; i < sizeof eog_texts / sizeof *eog_texts; i++) {
        int32_t id = tmap_find(t, (const uint8_t *)eog_texts[i], strlen(eog_texts[i]));
        if (id >= 0 && t->type[id] == PCC_TOKEN_CONTROL)
            t->eog[id] = 1;
    }
out:
    if (st != PCC_OK) {
        pcc_tokenizer_free(t);
        return st;
    }
    *out = t;
    return PCC_OK;
}

void pcc_tokenizer_free(pcc_tokenizer *t)
{
    if (t == NULL)
        return;
    free(t->type);
    free(t->eog);
    free(t->text_off);
    free(t->text_pool);
    free(t->piece_off);
    free(t->piece_pool);
    free(t->tmap);
    free(t->pmap);
    free(t->specials);
    pcc_wipe(t, sizeof *t);
    free(t);
}

/* ---- accessors ---- */

size_t pcc_tokenizer_vocab_size(const pcc_tokenizer *t) { return t->n_vocab; }
int pcc_tokenizer_pre(const pcc_tokenizer *t) { return t->pre; }
int32_t pcc_tokenizer_bos(const pcc_tokenizer *t) { return t->bos; }
int32_t pcc_tokenizer_eos(const pcc_tokenizer *t) { return t->eos; }
int32_t pcc_tokenizer_pad(const pcc_tokenizer *t) { return t->pad; }
bool pcc_tokenizer_add_bos(const pcc_tokenizer *t) { return t->add_bos; }
size_t pcc_tokenizer_max_piece_len(const pcc_tokenizer *t) { return t->max_piece; }

static bool id_ok(const pcc_tokenizer *t, int32_t id) { return id >= 0 && (size_t)id < t->n_vocab; }

bool pcc_tokenizer_is_eog(const pcc_tokenizer *t, int32_t id) { return id_ok(t, id) && t->eog[id]; }

int pcc_tokenizer_token_type(const pcc_tokenizer *t, int32_t id)
{
    return id_ok(t, id) ? t->type[id] : -1;
}

pcc_status pcc_tokenizer_token_id(const pcc_tokenizer *t, const char *text, size_t len, int32_t *id)
{
    if (t == NULL || (text == NULL && len > 0) || id == NULL)
        return PCC_E_INVALID;
    int32_t r = len ? tmap_find(t, (const uint8_t *)text, len) : -1;
    if (r < 0)
        return PCC_E_UNKNOWN_KEY;
    *id = r;
    return PCC_OK;
}

pcc_status pcc_tokenizer_token_text(const pcc_tokenizer *t, int32_t id, const char **text,
                                    size_t *len)
{
    if (t == NULL || text == NULL || len == NULL || !id_ok(t, id))
        return PCC_E_INVALID;
    *text = (const char *)tok_text(t, (size_t)id, len);
    return PCC_OK;
}

/* ---- encode ---- */

struct heap_ent {
    uint32_t rank;
    uint32_t left;
};

struct enc {
    const pcc_tokenizer *t;
    int32_t *ids;
    size_t n, max;
    /* scratch (secure memory), sized for the whole text */
    uint32_t *cp;    /* code point per char (NONE for an invalid byte) */
    uint32_t *off;   /* byte offset per char; off[nchars] = end */
    uint8_t *cls;
    int32_t *tok;    /* BPE symbols */
    uint32_t *prev, *next;
    struct heap_ent *heap;
    size_t heap_cap;
};

static void emit(struct enc *e, int32_t id)
{
    if (e->n < e->max)
        e->ids[e->n] = id;
    e->n++;
}

static bool heap_less(struct heap_ent a, struct heap_ent b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.left < b.left);
}

static void heap_push(struct heap_ent *h, size_t *n, struct heap_ent x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(x, h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static struct heap_ent heap_pop(struct heap_ent *h, size_t *n)
{
    struct heap_ent top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && heap_less(h[c + 1], h[c]))
            c++;
        if (!heap_less(h[c], x))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = x;
    return top;
}

static void push_pair(struct enc *e, size_t *hn, uint32_t left)
{
    uint32_t right = e->next[left];
    if (right == NONE)
        return;
    const struct pair_ent *p = pmap_find(e->t, (uint32_t)e->tok[left], (uint32_t)e->tok[right]);
    if (p != NULL)
        heap_push(e->heap, hn, (struct heap_ent){p->rank, left});
}

/* bpe_word merges the bytes s[0..n) and emits the resulting ids. */
static void bpe_word(struct enc *e, const uint8_t *s, size_t n)
{
    const pcc_tokenizer *t = e->t;
    uint32_t m = 0, first = NONE, last = NONE;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_tok[s[i]];
        if (id < 0)
            continue; /* the vocabulary lacks this byte: it is dropped (HF BPE without unk) */
        e->tok[m] = id;
        e->prev[m] = last;
        e->next[m] = NONE;
        if (last != NONE)
            e->next[last] = m;
        else
            first = m;
        last = m;
        m++;
    }
    if (m == 0)
        return;
    size_t hn = 0;
    for (uint32_t i = first; i != NONE; i = e->next[i])
        push_pair(e, &hn, i);
    while (hn > 0) {
        struct heap_ent top = heap_pop(e->heap, &hn);
        uint32_t left = top.left, right = e->next[left];
        if (e->tok[left] < 0 || right == NONE)
            continue; /* left was merged away */
        const struct pair_ent *p = pmap_find(t, (uint32_t)e->tok[left], (uint32_t)e->tok[right]);
        if (p == NULL || p->rank != top.rank)
            continue; /* stale: the neighbours changed since this entry was pushed */
        e->tok[left] = p->merged;
        e->tok[right] = -1;
        e->next[left] = e->next[right];
        if (e->next[right] != NONE)
            e->prev[e->next[right]] = left;
        if (e->prev[left] != NONE)
            push_pair(e, &hn, e->prev[left]);
        push_pair(e, &hn, left);
    }
    for (uint32_t i = first; i != NONE; i = e->next[i])
        emit(e, e->tok[i]);
}

/* gpt2_match returns the end (exclusive, in chars) of the GPT-2 regex match at char i of the
 * stretch [.., end):
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Alternatives are tried in order, as a backtracking regex engine does. Always > i. */
static size_t gpt2_match(const struct enc *e, size_t i, size_t end)
{
    const uint32_t *cp = e->cp;
    const uint8_t *cls = e->cls;
    /* contractions (case-sensitive, like the original pattern) */
    if (cp[i] == '\'' && i + 1 < end) {
        uint32_t a = cp[i + 1];
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
            return i + 2;
        if (i + 2 < end) {
            uint32_t b = cp[i + 2];
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                return i + 3;
        }
    }
    /* optional single space, then a run of one class */
    size_t j = i;
    if (cp[i] == ' ' && i + 1 < end && cls[i + 1] != PCC_UC_S)
        j = i + 1;
    uint8_t c = cls[j];
    if (c != PCC_UC_S) {
        /* L+, N+, or [^\s\p{L}\p{N}]+ (c == OTHER) */
        size_t k = j + 1;
        while (k < end && cls[k] == c)
            k++;
        return k;
    }
    /* whitespace run [i, k) */
    size_t k = i + 1;
    while (k < end && cls[k] == PCC_UC_S)
        k++;
    if (k == end)
        return k;               /* \s+(?!\S) at the end of the stretch */
    if (k - i >= 2)
        return k - 1;           /* \s+(?!\S): leave the last space to the next piece */
    return k;                   /* \s+ */
}

/* qwen2_match is gpt2_match for Qwen2's regex:
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *   \s*[\r\n]+|\s+(?!\S)|\s+
 * (case-insensitive contractions in ASCII only). Always > i. */
static inline bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }
static inline uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static size_t qwen2_match(const struct enc *e, size_t i, size_t end)
{
    const uint32_t *cp = e->cp;
    const uint8_t *cls = e->cls;
    if (cp[i] == '\'' && i + 1 < end) {
        uint32_t a = ascii_lower(cp[i + 1]);
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
            return i + 2;
        if (i + 2 < end) {
            uint32_t b = ascii_lower(cp[i + 2]);
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                return i + 3;
        }
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    size_t j = i;
    if (cls[i] != PCC_UC_L && cls[i] != PCC_UC_N && !is_crlf(cp[i]) && i + 1 < end && cls[i + 1] == PCC_UC_L)
        j = i + 1;
    if (cls[j] == PCC_UC_L) {
        size_t k = j + 1;
        while (k < end && cls[k] == PCC_UC_L)
            k++;
        return k;
    }
    if (cls[i] == PCC_UC_N) /* \p{N}: one at a time */
        return i + 1;
    /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
    j = i;
    if (cp[i] == ' ' && i + 1 < end && cls[i + 1] == PCC_UC_OTHER)
        j = i + 1;
    if (cls[j] == PCC_UC_OTHER) {
        size_t k = j + 1;
        while (k < end && cls[k] == PCC_UC_OTHER)
            k++;
        while (k < end && is_crlf(cp[k]))
            k++;
        return k;
    }
    /* whitespace run [i, k) */
    size_t k = i + 1;
    while (k < end && cls[k] == PCC_UC_S)
        k++;
    /* \s*[\r\n]+: up to the last line break of the run */
    for (size_t p = k; p > i; p--)
        if (is_crlf(cp[p - 1]))
            return p;
    if (k == end)
        return k;               /* \s+(?!\S) at the end of the stretch */
    if (k - i >= 2)
        return k - 1;           /* \s+(?!\S): leave the last space to the next piece */
    return k;                   /* \s+ */
}

static void encode_word_chars(struct enc *e, size_t a, size_t b, const uint8_t *text)
{
    bpe_word(e, text + e->off[a], e->off[b] - e->off[a]);
}

static void pretokenize(struct enc *e, const uint8_t *text, size_t a, size_t b)
{
    /* a..b: chars of one stretch without special tokens (and, for smollm, without digits) */
    const bool qwen2 = e->t->pre == PCC_TOKENIZER_PRE_QWEN2;
    for (size_t i = a; i < b;) {
        size_t j = qwen2 ? qwen2_match(e, i, b) : gpt2_match(e, i, b);
        encode_word_chars(e, i, j, text);
        i = j;
    }
}

/* encode_plain encodes text[0..len) that holds no special token. */
static void encode_plain(struct enc *e, const uint8_t *text, size_t len)
{
    size_t nc = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t l = utf8_next(text + i, len - i, &c);
        if (l == 0) {
            c = NONE;
            l = 1;
        }
        e->cp[nc] = c;
        e->off[nc] = (uint32_t)i;
        e->cls[nc] = c < 128 ? pcc_uc_ascii[c] : uc_class(c);
        nc++;
        i += l;
    }
    e->off[nc] = (uint32_t)len;
    if (e->t->pre == PCC_TOKENIZER_PRE_SMOLLM) {
        size_t start = 0;
        for (size_t i = 0; i < nc; i++) {
            if (e->cls[i] == PCC_UC_N) {
                pretokenize(e, text, start, i);
                encode_word_chars(e, i, i + 1, text);
                start = i + 1;
            }
        }
        pretokenize(e, text, start, nc);
    } else {
        pretokenize(e, text, 0, nc);
    }
}

/* match_special returns the longest special token allowed at text[0..len), or NULL. */
static const struct special *match_special(const pcc_tokenizer *t, const uint8_t *s, size_t len,
                                           bool parse_special)
{
    for (uint32_t k = t->special_start[s[0]]; k < t->special_start[s[0] + 1]; k++) {
        const struct special *sp = &t->specials[k];
        if (sp->control && !parse_special)
            continue;
        if (sp->len <= len && memcmp(sp->text, s, sp->len) == 0)
            return sp; /* sorted longest first */
    }
    return NULL;
}

pcc_status pcc_tokenizer_encode(const pcc_tokenizer *t, const char *text, size_t len,
                                bool parse_special, int32_t *ids, size_t *n_ids, size_t max_ids)
{
    if (t == NULL || n_ids == NULL || (text == NULL && len > 0) || (ids == NULL && max_ids > 0))
        return PCC_E_INVALID;
    *n_ids = 0;
    if (len == 0)
        return PCC_OK;
    if (len >= UINT32_MAX / 2)
        return PCC_E_LIMIT;
    const uint8_t *s = (const uint8_t *)text;
    struct enc e = {.t = t, .ids = ids, .max = max_ids};
    /* one secure scratch block: per char cp, off, tok, prev, next (4 bytes each) + cls (1),
     * off has one extra entry, heap up to 3 entries per char */
    size_t per = 5 * sizeof(uint32_t) + 1 + 3 * sizeof(struct heap_ent);
    if (len + 1 > SIZE_MAX / per)
        return PCC_E_LIMIT;
    uint8_t *scratch = pcc_secure_alloc((len + 1) * per + 64);
    if (scratch == NULL)
        return PCC_E_NOMEM;
    /* secure blocks end flush against a guard page, so their start is not aligned: align it */
    uint8_t *p = scratch + ((16 - ((uintptr_t)scratch & 15)) & 15);
    e.heap = (struct heap_ent *)p;
    p += 3 * (len + 1) * sizeof(struct heap_ent);
    e.cp = (uint32_t *)p;
    p += (len + 1) * sizeof(uint32_t);
    e.off = (uint32_t *)p;
    p += (len + 1) * sizeof(uint32_t);
    e.tok = (int32_t *)p;
    p += (len + 1) * sizeof(uint32_t);
    e.prev = (uint32_t *)p;
    p += (len + 1) * sizeof(uint32_t);
    e.next = (uint32_t *)p;
    p += (len + 1) * sizeof(uint32_t);
    e.cls = p;

    size_t start = 0;
    for (size_t i = 0; i < len;) {
        const struct special *sp =
            t->n_specials ? match_special(t, s + i, len - i, parse_special) : NULL;
        if (sp == NULL) {
            i++;
            continue;
        }
        if (i > start)
            encode_plain(&e, s + start, i - start);
        emit(&e, sp->id);
        i += sp->len;
        start = i;
    }
    if (len > start)
        encode_plain(&e, s + start, len - start);
    pcc_secure_free(scratch); /* wipes the text-derived scratch */
    *n_ids = e.n;
    return e.n > max_ids ? PCC_E_LIMIT : PCC_OK;
}

/* ---- decode ---- */

/* piece returns id's bytes for decoding (empty for unrendered special tokens). */
static const uint8_t *piece(const pcc_tokenizer *t, int32_t id, bool special, size_t *len)
{
    uint8_t ty = t->type[id];
    if (!special && (ty == PCC_TOKEN_CONTROL || ty == PCC_TOKEN_UNKNOWN || ty == PCC_TOKEN_UNUSED)) {
        *len = 0;
        return t->piece_pool;
    }
    *len = t->piece_off[id + 1] - t->piece_off[id];
    return t->piece_pool + t->piece_off[id];
}

pcc_status pcc_tokenizer_token_to_piece(const pcc_tokenizer *t, int32_t id, bool special,
                                        uint8_t *out, size_t *out_len, size_t max_out)
{
    if (t == NULL || out_len == NULL || (out == NULL && max_out > 0) || !id_ok(t, id))
        return PCC_E_INVALID;
    size_t len;
    const uint8_t *p = piece(t, id, special, &len);
    *out_len = len;
    if (len > max_out)
        return PCC_E_LIMIT;
    if (len)
        memcpy(out, p, len);
    return PCC_OK;
}

pcc_status pcc_tokenizer_decode(const pcc_tokenizer *t, const int32_t *ids, size_t n, bool special,
                                uint8_t *out, size_t *out_len, size_t max_out)
{
    if (t == NULL || out_len == NULL || (ids == NULL && n > 0) || (out == NULL && max_out > 0))
        return PCC_E_INVALID;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!id_ok(t, ids[i]))
            return PCC_E_INVALID;
        size_t len;
        const uint8_t *p = piece(t, ids[i], special, &len);
        if (total + len <= max_out && len)
            memcpy(out + total, p, len);
        total += len;
    }
    *out_len = total;
    return total > max_out ? PCC_E_LIMIT : PCC_OK;
}

pcc_status pcc_tokenizer_decoder_new(pcc_tokenizer_decoder **out, const pcc_tokenizer *t,
                                     bool special)
{
    if (out == NULL || t == NULL)
        return PCC_E_INVALID;
    pcc_tokenizer_decoder *d = pcc_secure_alloc(sizeof *d);
    if (d == NULL)
        return PCC_E_NOMEM;
    d->t = t;
    d->special = special;
    d->n_pending = 0;
    *out = d;
    return PCC_OK;
}

pcc_status pcc_tokenizer_decoder_push(pcc_tokenizer_decoder *d, int32_t id, uint8_t *out,
                                      size_t *out_len, size_t max_out)
{
    if (d == NULL || out_len == NULL || (out == NULL && max_out > 0) || !id_ok(d->t, id))
        return PCC_E_INVALID;
    size_t len;
    const uint8_t *p = piece(d->t, id, d->special, &len);
    size_t total = d->n_pending + len;
    /* the last (at most 4) bytes of pending ++ piece decide what to hold back */
    uint8_t tail[4];
    size_t nt = total < 4 ? total : 4;
    for (size_t k = 0; k < nt; k++) {
        size_t pos = total - nt + k;
        tail[k] = pos < d->n_pending ? d->pending[pos] : p[pos - d->n_pending];
    }
    size_t hold = utf8_partial_tail(tail, nt);
    size_t emit_len = total - hold;
    if (emit_len > max_out) {
        *out_len = emit_len;
        pcc_wipe(tail, sizeof tail);
        return PCC_E_LIMIT;
    }
    size_t w = 0;
    for (size_t k = 0; k < d->n_pending && w < emit_len; k++)
        out[w++] = d->pending[k];
    if (emit_len > w)
        memcpy(out + w, p, emit_len - w);
    memcpy(d->pending, tail + nt - hold, hold);
    d->n_pending = (uint8_t)hold;
    *out_len = emit_len;
    pcc_wipe(tail, sizeof tail);
    return PCC_OK;
}

pcc_status pcc_tokenizer_decoder_flush(pcc_tokenizer_decoder *d, uint8_t *out, size_t *out_len,
                                       size_t max_out)
{
    if (d == NULL || out_len == NULL || (out == NULL && max_out > 0))
        return PCC_E_INVALID;
    *out_len = d->n_pending;
    if (d->n_pending > max_out)
        return PCC_E_LIMIT;
    if (d->n_pending)
        memcpy(out, d->pending, d->n_pending);
    pcc_wipe(d->pending, sizeof d->pending);
    d->n_pending = 0;
    return PCC_OK;
}

size_t pcc_tokenizer_decoder_pending(const pcc_tokenizer_decoder *d) { return d->n_pending; }

void pcc_tokenizer_decoder_free(pcc_tokenizer_decoder *d) { pcc_secure_free(d); }
