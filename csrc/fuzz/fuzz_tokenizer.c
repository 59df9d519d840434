/* fuzz_tokenizer.c: libFuzzer harness for the byte-level BPE tokenizer with a fixed vocabulary.
 *
 * fuzz_gguf.c fuzzes tokenizers built from hostile GGUF metadata; this one keeps the vocabulary
 * fixed and fuzzes what a service feeds a tokenizer: prompt text (any bytes) and token ids (any
 * int32). The vocabulary is written as a GGUF in memory at start-up: GPT-2's 256 byte symbols,
 * 144 merges, three CONTROL tokens and one USER_DEFINED token, loaded twice (pre-tokenizer
 * "gpt2" and "smollm").
 *
 * Input: byte 0 picks the tokenizer (bit 0), parse_special (bit 1) and the mode (bit 2: text or
 * ids); the rest is the text, or little-endian int32 ids. Checked, beyond the sanitizers:
 * - text: encode succeeds; decoding the ids (special pieces included) gives the text back byte
 *   for byte (every byte has a token); the streaming decoder's output, concatenated, is the same.
 * - ids: every call returns PCC_OK or PCC_E_INVALID (an id out of range), never anything else.
 *
 * Built and run by `make fuzz` (FUZZERS=tokenizer); seeds in csrc/fuzz/corpus/tokenizer/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcc/gguf.h"
#include "pcc/tokenizer.h"

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #c);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- an in-memory GGUF writer, just enough for tokenizer metadata ------------------------- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} wbuf;

static void put(wbuf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        REQUIRE(b->p != NULL);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put_u32(wbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void put_u64(wbuf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(wbuf *b, const char *s, size_t n)
{
    put_u64(b, n);
    put(b, s, n);
}

enum { T_U32 = 4, T_I32 = 5, T_BOOL = 7, T_STR = 8, T_ARR = 9 };

static void kv_str(wbuf *b, const char *key, const char *v)
{
    put_str(b, key, strlen(key));
    put_u32(b, T_STR);
    put_str(b, v, strlen(v));
}

static void kv_u32(wbuf *b, const char *key, uint32_t v)
{
    put_str(b, key, strlen(key));
    put_u32(b, T_U32);
    put_u32(b, v);
}

/* ---- the vocabulary --------------------------------------------------------------------- */

#define MAX_TOKENS 512
static char g_tok[MAX_TOKENS][24];
static size_t g_tok_len[MAX_TOKENS];
static int32_t g_type[MAX_TOKENS];
static char g_merge[MAX_TOKENS][40];
static size_t n_tok, n_merge;

static size_t utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2; /* byte symbols stay below U+0800 */
}

static void add_token(const char *s, size_t n, int32_t type)
{
    REQUIRE(n_tok < MAX_TOKENS && n < sizeof g_tok[0]);
    memcpy(g_tok[n_tok], s, n);
    g_tok_len[n_tok] = n;
    g_type[n_tok++] = type;
}

static void build_vocab(void)
{
    /* GPT-2's byte-to-unicode table, in its order: printable bytes first, then the others
     * remapped to U+0100 onwards */
    unsigned cp[256];
    int printable[256] = {0};
    for (unsigned b = 0x21; b <= 0x7E; b++)
        printable[b] = 1;
    for (unsigned b = 0xA1; b <= 0xAC; b++)
        printable[b] = 1;
    for (unsigned b = 0xAE; b <= 0xFF; b++)
        printable[b] = 1;
    unsigned extra = 0;
    for (unsigned b = 0; b < 256; b++)
        cp[b] = printable[b] ? b : 256 + extra++;
    char s[8];
    for (int pass = 0; pass < 2; pass++)
        for (unsigned b = 0; b < 256; b++)
            if (printable[b] == (pass == 0))
                add_token(s, utf8(s, cp[b]), 1);
    /* merges: "Ġ" + letter, then letter pairs */
    static const char letters[] = "etaoinshrdlu";
    char g[3];
    size_t gl = utf8(g, cp[' ']);
    for (size_t i = 0; i < sizeof letters - 1; i++) {
        char t[4];
        memcpy(t, g, gl);
        t[gl] = letters[i];
        add_token(t, gl + 1, 1);
        snprintf(g_merge[n_merge++], sizeof g_merge[0], "%.*s %c", (int)gl, g, letters[i]);
    }
    for (size_t i = 0; i < sizeof letters - 1; i++)
        for (size_t j = 0; j < sizeof letters - 1; j++) {
            if (i == j)
                continue;
            char t[2] = {letters[i], letters[j]};
            add_token(t, 2, 1);
            snprintf(g_merge[n_merge++], sizeof g_merge[0], "%c %c", letters[i], letters[j]);
        }
    static const char *const control[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (size_t i = 0; i < 3; i++)
        add_token(control[i], strlen(control[i]), 3);
    add_token("<tool>", 6, 4); /* USER_DEFINED: always matched, written verbatim */
}

static void gguf_bytes(wbuf *b, const char *pre)
{
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, 0); /* tensors */
    put_u64(b, 9); /* metadata pairs */
    kv_str(b, "general.architecture", "llama");
    kv_str(b, "tokenizer.ggml.model", "gpt2");
    kv_str(b, "tokenizer.ggml.pre", pre);
    put_str(b, "tokenizer.ggml.tokens", 21);
    put_u32(b, T_ARR);
    put_u32(b, T_STR);
    put_u64(b, n_tok);
    for (size_t i = 0; i < n_tok; i++)
        put_str(b, g_tok[i], g_tok_len[i]);
    put_str(b, "tokenizer.ggml.token_type", 25);
    put_u32(b, T_ARR);
    put_u32(b, T_I32);
    put_u64(b, n_tok);
    for (size_t i = 0; i < n_tok; i++)
        put_u32(b, (uint32_t)g_type[i]);
    put_str(b, "tokenizer.ggml.merges", 21);
    put_u32(b, T_ARR);
    put_u32(b, T_STR);
    put_u64(b, n_merge);
    for (size_t i = 0; i < n_merge; i++)
        put_str(b, g_merge[i], strlen(g_merge[i]));
    kv_u32(b, "tokenizer.ggml.bos_token_id", (uint32_t)(n_tok - 3));
    kv_u32(b, "tokenizer.ggml.eos_token_id", (uint32_t)(n_tok - 2));
    put_str(b, "tokenizer.ggml.add_bos_token", 28);
    put_u32(b, T_BOOL);
    put(b, "\0", 1);
}

static wbuf g_file[2];
static pcc_gguf *g_gguf[2];
static pcc_tokenizer *g_tok_obj[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const pre[2] = {"gpt2", "smollm"};
    build_vocab();
    for (int i = 0; i < 2; i++) {
        gguf_bytes(&g_file[i], pre[i]);
        REQUIRE(pcc_gguf_open_memory(&g_gguf[i], g_file[i].p, g_file[i].len) == PCC_OK);
        REQUIRE(pcc_tokenizer_new_from_gguf(&g_tok_obj[i], g_gguf[i]) == PCC_OK);
        REQUIRE(pcc_tokenizer_vocab_size(g_tok_obj[i]) == n_tok);
    }
    return 0;
}

/* stream decodes ids through a streaming decoder into out (capacity cap); returns the length. */
static size_t stream(const pcc_tokenizer *t, const int32_t *ids, size_t n, uint8_t *out,
                     size_t cap)
{
    pcc_tokenizer_decoder *d = NULL;
    uint8_t buf[PCC_TOKENIZER_MAX_TOKEN_LEN + 8];
    size_t len = 0, ol = 0;
    REQUIRE(pcc_tokenizer_decoder_new(&d, t, true) == PCC_OK);
    for (size_t k = 0; k < n; k++) {
        REQUIRE(pcc_tokenizer_decoder_push(d, ids[k], buf, &ol, sizeof buf) == PCC_OK);
        REQUIRE(len + ol <= cap);
        memcpy(out + len, buf, ol);
        len += ol;
    }
    REQUIRE(pcc_tokenizer_decoder_flush(d, buf, &ol, sizeof buf) == PCC_OK);
    REQUIRE(len + ol <= cap && pcc_tokenizer_decoder_pending(d) == 0);
    memcpy(out + len, buf, ol);
    len += ol;
    pcc_tokenizer_decoder_free(d);
    return len;
}

static void fuzz_text(const pcc_tokenizer *t, bool special, const uint8_t *text, size_t len)
{
    size_t n = 0, cap = len / 2 + 1, blen = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    REQUIRE(ids != NULL);
    pcc_status st = pcc_tokenizer_encode(t, (const char *)text, len, special, ids, &n, cap);
    if (st == PCC_E_LIMIT) { /* the documented retry with the size it asked for */
        REQUIRE(n > cap);
        cap = n;
        free(ids);
        ids = malloc(cap * sizeof *ids);
        REQUIRE(ids != NULL);
        st = pcc_tokenizer_encode(t, (const char *)text, len, special, ids, &n, cap);
    }
    REQUIRE(st == PCC_OK && n <= cap && n <= len);
    uint8_t *back = malloc(len + 1), *streamed = malloc(len + 1);
    REQUIRE(back != NULL && streamed != NULL);
    REQUIRE(pcc_tokenizer_decode(t, ids, n, true, back, &blen, len + 1) == PCC_OK);
    REQUIRE(blen == len && memcmp(back, text, len) == 0); /* every byte has a token */
    REQUIRE(stream(t, ids, n, streamed, len + 1) == len && memcmp(streamed, text, len) == 0);
    free(ids);
    free(back);
    free(streamed);
}

static void fuzz_ids(const pcc_tokenizer *t, bool special, const uint8_t *data, size_t size)
{
    size_t n = size / 4, out_len = 0, cap = n * pcc_tokenizer_max_piece_len(t) + 1;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    uint8_t *out = malloc(cap);
    uint8_t piece[PCC_TOKENIZER_MAX_TOKEN_LEN + 8];
    REQUIRE(ids != NULL && out != NULL);
    for (size_t k = 0; k < n; k++)
        ids[k] = (int32_t)((uint32_t)data[4 * k] | (uint32_t)data[4 * k + 1] << 8 |
                           (uint32_t)data[4 * k + 2] << 16 | (uint32_t)data[4 * k + 3] << 24);
    pcc_status st = pcc_tokenizer_decode(t, ids, n, special, out, &out_len, cap);
    REQUIRE(st == PCC_OK || st == PCC_E_INVALID);
    pcc_tokenizer_decoder *d = NULL;
    REQUIRE(pcc_tokenizer_decoder_new(&d, t, special) == PCC_OK);
    for (size_t k = 0; k < n; k++) {
        size_t pl = 0;
        const char *text;
        size_t tl;
        int ok = ids[k] >= 0 && (size_t)ids[k] < n_tok;
        st = pcc_tokenizer_token_to_piece(t, ids[k], special, piece, &pl, sizeof piece);
        REQUIRE(ok ? st == PCC_OK : st == PCC_E_INVALID);
        st = pcc_tokenizer_token_text(t, ids[k], &text, &tl);
        REQUIRE(ok ? st == PCC_OK : st == PCC_E_INVALID);
        (void)pcc_tokenizer_token_type(t, ids[k]);
        (void)pcc_tokenizer_is_eog(t, ids[k]);
        st = pcc_tokenizer_decoder_push(d, ids[k], piece, &pl, sizeof piece);
        REQUIRE(ok ? st == PCC_OK : st == PCC_E_INVALID);
    }
    size_t fl = 0;
    REQUIRE(pcc_tokenizer_decoder_flush(d, piece, &fl, sizeof piece) == PCC_OK);
    pcc_tokenizer_decoder_free(d);
    free(ids);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const pcc_tokenizer *t = g_tok_obj[data[0] & 1];
    bool special = (data[0] & 2) != 0;
    if (data[0] & 4)
        fuzz_ids(t, special, data + 1, size - 1);
    else
        fuzz_text(t, special, data + 1, size - 1);
    return 0;
}
