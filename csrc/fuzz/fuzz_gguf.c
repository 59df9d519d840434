/* fuzz_gguf.c: libFuzzer harness for the GGUF loader and the tokenizer built from its metadata.
 * Not part of the extension build (setup.py and `make lib` skip paths containing /fuzz/).
 *
 *   make fuzz FUZZERS=gguf FUZZ_SECONDS=60     (seeds: csrc/fuzz/corpus/gguf/)
 *
 * The input is opened as a GGUF; an accepted file must be self-consistent (every key and tensor
 * found again by name), every accessor is walked, and when the metadata makes a tokenizer the
 * input itself is encoded, decoded and stream-decoded with it.
 *
 * Without libFuzzer, -DPCC_FUZZ_MAIN builds a main() that runs each file named on the command
 * line once (for reproducing a crash under valgrind or gdb). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcc/buf.h"
#include "pcc/gguf.h"
#include "pcc/tokenizer.h"

static volatile uint64_t sink;

static void walk_metadata(const pcc_gguf *g)
{
    for (size_t i = 0; i < pcc_gguf_kv_count(g); i++) {
        const char *key = pcc_gguf_kv_key(g, i);
        const uint8_t *raw;
        size_t len, idx;
        if (pcc_gguf_kv_raw(g, i, &raw, &len) != PCC_OK || pcc_gguf_find_key(g, key, &idx) != PCC_OK)
            abort(); /* an accepted file must be self-consistent */
        for (size_t k = 0; k < len; k++)
            sink += raw[k];
        uint64_t u;
        int64_t s;
        float f;
        bool b;
        const char *str;
        size_t sl;
        if (pcc_gguf_get_u64(g, key, &u) == PCC_OK)
            sink += u;
        if (pcc_gguf_get_i64(g, key, &s) == PCC_OK)
            sink += (uint64_t)s;
        if (pcc_gguf_get_f32(g, key, &f) == PCC_OK)
            sink += (uint64_t)(f == f);
        if (pcc_gguf_get_bool(g, key, &b) == PCC_OK)
            sink += b;
        if (pcc_gguf_get_str(g, key, &str, &sl) == PCC_OK && sl)
            sink += (uint8_t)str[sl - 1];
        uint32_t et;
        size_t n;
        if (pcc_gguf_get_arr(g, key, &et, &n) == PCC_OK) {
            for (size_t k = 0; k < n && k < 64; k++) {
                if (pcc_gguf_get_arr_str(g, key, k, &str, &sl) == PCC_OK && sl)
                    sink += (uint8_t)str[0];
                if (pcc_gguf_get_arr_i64(g, key, k, &s) == PCC_OK)
                    sink += (uint64_t)s;
                if (pcc_gguf_get_arr_f32(g, key, k, &f) == PCC_OK)
                    sink += (uint64_t)(f == f);
            }
        }
    }
}

static void walk_tensors(const pcc_gguf *g)
{
    for (size_t i = 0; i < pcc_gguf_tensor_count(g); i++) {
        const pcc_gguf_tensor *t = pcc_gguf_tensor_at(g, i), *u;
        if (pcc_gguf_find_tensor(g, t->name, &u) != PCC_OK || u != t)
            abort();
        if (t->nbytes > 0)
            sink += t->data[0] + t->data[t->nbytes - 1];
    }
}

static void exercise_tokenizer(const pcc_gguf *g, const uint8_t *data, size_t size)
{
    pcc_tokenizer *t = NULL;
    if (pcc_tokenizer_new_from_gguf(&t, g) != PCC_OK)
        return;
    /* encode the input itself as text (arbitrary bytes), decode it back, stream-decode it */
    size_t cap = size + 1, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    uint8_t *back = malloc(size + 1);
    if (ids != NULL && back != NULL &&
        pcc_tokenizer_encode(t, (const char *)data, size, false, ids, &n, cap) == PCC_OK) {
        size_t blen;
        pcc_status st = pcc_tokenizer_decode(t, ids, n, false, back, &blen, size + 1);
        if (st == PCC_OK)
            sink += blen;
    }
    pcc_tokenizer_decoder *d = NULL;
    if (pcc_tokenizer_decoder_new(&d, t, true) == PCC_OK) {
        uint8_t buf[PCC_TOKENIZER_MAX_TOKEN_LEN + 8];
        size_t ol;
        for (size_t k = 0; k < n && ids != NULL; k++)
            if (pcc_tokenizer_decoder_push(d, ids[k], buf, &ol, sizeof buf) == PCC_OK)
                sink += ol;
        if (pcc_tokenizer_decoder_flush(d, buf, &ol, sizeof buf) == PCC_OK)
            sink += ol;
        pcc_tokenizer_decoder_free(d);
    }
    free(ids);
    free(back);
    pcc_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pcc_gguf *g = NULL;
    if (pcc_gguf_open_memory(&g, data, size) != PCC_OK)
        return 0;
    walk_metadata(g);
    walk_tensors(g);
    exercise_tokenizer(g, data, size);
    pcc_gguf_close(g);
    return 0;
}

#ifdef PCC_FUZZ_MAIN
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n)
            LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        fclose(f);
    }
    return 0;
}
#endif
