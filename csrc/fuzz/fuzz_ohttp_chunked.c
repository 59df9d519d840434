/* fuzz_ohttp_chunked.c: libFuzzer harness for chunked Oblivious HTTP
 * (draft-ietf-ohai-chunked-ohttp): the incremental receivers on hostile streams split at
 * hostile points, and the senders against the receivers.
 *
 * The first input byte picks the target (mod 3) and the second seeds the split points; the rest
 * is the stream (or, for the round trip, plaintext and chunk sizes):
 *   0  gateway: the stream is fed to a chunked gateway context holding the draft's example key
 *      (key_id 1, X25519, HKDF-SHA256 with AES-128-GCM or ChaCha20-Poly1305) in pieces, with
 *      output buffers sized exactly by pcc_ohttp_chunked_gateway_next, then finished;
 *   1  client: the same for a client context whose request is the draft's example (its
 *      ephemeral key), so the draft's response is a valid input;
 *   2  round trip: the client seals the input as request chunks of sizes drawn from the seed,
 *      the gateway opens the stream split at other points and must get the input back; the
 *      gateway answers with the same chunks and the client must get them back; that plaintext
 *      is then decoded as a streamed binary HTTP response, split at a seed-drawn point, and must
 *      be accepted exactly when the whole-message decoder accepts it (framing 3).
 * Invariants: only documented statuses; an error is final (every later call is PCC_E_STATE);
 * nothing is written past the size the caller gave; a finished message gives nothing more. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcc/bhttp.h"
#include "pcc/hpke.h"
#include "pcc/ohttp.h"

#define REQUIRE(c)                 \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

static pcc_ohttp_gateway *g_gw;
static pcc_hpke_key *g_sk, *g_eph;
static pcc_ohttp_key_config g_cfg;

static size_t unhex(uint8_t *out, const char *s)
{
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        REQUIRE(sscanf(s + 2 * i, "%2x", &v) == 1); /* init only */
        out[i] = (uint8_t)v;
    }
    return n;
}

static void cleanup(void)
{
    pcc_ohttp_gateway_free(g_gw);
    pcc_hpke_key_free(g_sk);
    pcc_hpke_key_free(g_eph);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    uint8_t sk[32];
    /* the draft's example: gateway key and key configuration, client ephemeral key */
    unhex(sk, "1c190d72acdbe4dbc69e680503bb781a932c70a12c8f3754434c67d8640d8698");
    REQUIRE(pcc_hpke_key_from_bytes(&g_sk, PCC_HPKE_KEM_X25519_SHA256, sk, 32) == PCC_OK);
    g_cfg.key_id = 1;
    g_cfg.kem = PCC_HPKE_KEM_X25519_SHA256;
    REQUIRE(pcc_hpke_key_public(g_sk, g_cfg.public_key, &g_cfg.public_key_len,
                                sizeof g_cfg.public_key) == PCC_OK);
    g_cfg.n_suites = 2;
    g_cfg.suites[0] = (pcc_ohttp_suite){PCC_HPKE_KDF_HKDF_SHA256, PCC_HPKE_AEAD_AES128GCM};
    g_cfg.suites[1] = (pcc_ohttp_suite){PCC_HPKE_KDF_HKDF_SHA256, PCC_HPKE_AEAD_CHACHA20POLY1305};
    REQUIRE(pcc_ohttp_gateway_new(&g_gw) == PCC_OK);
    REQUIRE(pcc_ohttp_gateway_add_key(g_gw, &g_cfg, g_sk) == PCC_OK);
    unhex(sk, "b26d565f3f875ed480d1abced3d665159650c99174fd0b124ac4bda0c64ae324");
    REQUIRE(pcc_hpke_key_from_bytes(&g_eph, PCC_HPKE_KEM_X25519_SHA256, sk, 32) == PCC_OK);
    REQUIRE(atexit(cleanup) == 0);
    return 0;
}

/* A tiny deterministic generator for split points and chunk sizes. */
static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

typedef pcc_status (*open_fn)(void *, uint8_t *, size_t *, size_t, const uint8_t *, size_t,
                              size_t *);
typedef bool (*next_fn)(const void *, size_t *, size_t *);
typedef size_t (*final_len_fn)(const void *);
typedef pcc_status (*finish_fn)(void *, uint8_t *, size_t *, size_t);

static pcc_status c_open(void *c, uint8_t *o, size_t *ol, size_t mo, const uint8_t *i, size_t il,
                         size_t *iu)
{
    return pcc_ohttp_chunked_client_open(c, o, ol, mo, i, il, iu);
}
static bool c_next(const void *c, size_t *p, size_t *m) { return pcc_ohttp_chunked_client_next(c, p, m); }
static size_t c_final(const void *c) { return pcc_ohttp_chunked_client_final_len(c); }
static pcc_status c_finish(void *c, uint8_t *o, size_t *ol, size_t mo)
{
    return pcc_ohttp_chunked_client_finish(c, o, ol, mo);
}
static pcc_status g_open(void *c, uint8_t *o, size_t *ol, size_t mo, const uint8_t *i, size_t il,
                         size_t *iu)
{
    return pcc_ohttp_chunked_gateway_open(c, o, ol, mo, i, il, iu);
}
static bool g_next(const void *c, size_t *p, size_t *m) { return pcc_ohttp_chunked_gateway_next(c, p, m); }
static size_t g_final(const void *c) { return pcc_ohttp_chunked_gateway_final_len(c); }
static pcc_status g_finish(void *c, uint8_t *o, size_t *ol, size_t mo)
{
    return pcc_ohttp_chunked_gateway_finish(c, o, ol, mo);
}

static bool documented(pcc_status st)
{
    return st == PCC_E_FORMAT || st == PCC_E_LIMIT || st == PCC_E_DECRYPT ||
           st == PCC_E_UNKNOWN_KEY || st == PCC_E_UNSUPPORTED;
}

/* receive feeds d[0..n) in pieces and appends the plaintext to got (when non-NULL); returns
 * PCC_OK with the whole message, or the first error (after checking it is final). */
static pcc_status receive(void *ctx, open_fn op, next_fn nx, final_len_fn fl, finish_fn fin,
                          const uint8_t *d, size_t n, uint32_t seed, uint8_t *got,
                          size_t *got_len, size_t got_max)
{
    size_t off = 0, total = 0;
    pcc_status st = PCC_OK;
    uint8_t *out = malloc(PCC_OHTTP_CHUNKED_MAX_CHUNK + 1);
    REQUIRE(out != NULL);
    while (off < n && st == PCC_OK) {
        size_t piece = 1 + next_rand(&seed) % (n - off);
        size_t end = off + piece;
        while (off < end && st == PCC_OK) {
            size_t need = 0, missing = 0, used = 0, w = 0;
            if (!nx(ctx, &need, &missing) || missing > end - off)
                need = 0;
            REQUIRE(need <= PCC_OHTTP_CHUNKED_MAX_CHUNK);
            out[need] = 0xA5; /* a canary just past what the caller allows */
            st = op(ctx, need ? out : NULL, &w, need, d + off, end - off, &used);
            REQUIRE(out[need] == 0xA5);
            REQUIRE(used <= end - off);
            off += used;
            if (st != PCC_OK)
                break;
            REQUIRE(w == 0 || w == need);
            if (w && got != NULL) {
                REQUIRE(total + w <= got_max);
                memcpy(got + total, out, w);
            }
            total += w;
            if (w == 0 && used == 0)
                break;
        }
        REQUIRE(st != PCC_OK || off == end);
    }
    if (st == PCC_OK) {
        size_t need = fl(ctx), w = 0;
        REQUIRE(need <= PCC_OHTTP_CHUNKED_MAX_CHUNK);
        out[need] = 0xA5;
        st = fin(ctx, out, &w, need);
        REQUIRE(out[need] == 0xA5);
        if (st == PCC_OK) {
            REQUIRE(w == need);
            if (got != NULL) {
                REQUIRE(total + w <= got_max);
                memcpy(got + total, out, w);
            }
            total += w;
        }
    }
    if (st == PCC_OK) {
        size_t used = 0, w = 0;
        REQUIRE(op(ctx, NULL, &w, 0, d, n, &used) == PCC_E_STATE);
    } else {
        size_t used = 0, w = 0;
        REQUIRE(documented(st));
        REQUIRE(op(ctx, NULL, &w, 0, d, n, &used) == PCC_E_STATE);
        REQUIRE(fin(ctx, out, &w, 0) == PCC_E_STATE);
    }
    if (got_len != NULL)
        *got_len = total;
    free(out);
    return st;
}

static pcc_ohttp_chunked_client *draft_client(uint8_t *hdr, size_t *hdr_len, uint16_t aead)
{
    pcc_ohttp_chunked_client *c = NULL;
    pcc_ohttp_suite s = {PCC_HPKE_KDF_HKDF_SHA256, aead};
    REQUIRE(pcc_ohttp_chunked_client_new_ephemeral(&c, hdr, hdr_len, 64, &g_cfg, s, g_eph) ==
            PCC_OK);
    return c;
}

static void fuzz_gateway(const uint8_t *d, size_t n, uint32_t seed)
{
    pcc_ohttp_chunked_gateway_ctx *g = NULL;
    REQUIRE(pcc_ohttp_chunked_gateway_ctx_new(&g, g_gw) == PCC_OK);
    pcc_status st = receive(g, g_open, g_next, g_final, g_finish, d, n, seed, NULL, NULL, 0);
    if (st == PCC_OK) { /* a request that opened can be answered */
        uint8_t out[64];
        size_t w = 0;
        REQUIRE(pcc_ohttp_chunked_gateway_seal(g, out, &w, sizeof out, (const uint8_t *)"ok", 2,
                                               true) == PCC_OK);
    }
    pcc_ohttp_chunked_gateway_ctx_free(g);
}

static void fuzz_client(const uint8_t *d, size_t n, uint32_t seed)
{
    uint8_t hdr[64];
    size_t hdr_len = 0;
    pcc_ohttp_chunked_client *c = draft_client(hdr, &hdr_len, PCC_HPKE_AEAD_AES128GCM);
    (void)receive(c, c_open, c_next, c_final, c_finish, d, n, seed, NULL, NULL, 0);
    pcc_ohttp_chunked_client_free(c);
}

/* seal_all seals pt as chunks of random sizes (1..64, the last one final) after prefix. */
static size_t seal_all(bool client, void *ctx, uint8_t *out, size_t max, const uint8_t *pt,
                       size_t n, uint32_t seed)
{
    size_t off = 0, len = 0;
    for (;;) {
        size_t k = 1 + next_rand(&seed) % 64, w = 0;
        bool final = n - off <= k;
        if (final)
            k = n - off;
        pcc_status st =
            client ? pcc_ohttp_chunked_client_seal(ctx, out + len, &w, max - len, pt + off, k,
                                                   final)
                   : pcc_ohttp_chunked_gateway_seal(ctx, out + len, &w, max - len, pt + off, k,
                                                    final);
        REQUIRE(st == PCC_OK);
        len += w;
        off += k;
        if (final)
            return len;
    }
}

/* bhttp_stream_check: the streamed decoder agrees with the whole-message one on
 * indeterminate-length responses. */
static void bhttp_stream_check(const uint8_t *d, size_t n, uint32_t seed)
{
    pcc_bhttp_stream *s = NULL;
    pcc_bhttp_msg *whole = NULL;
    size_t cut = n ? next_rand(&seed) % (n + 1) : 0, off = 0;
    pcc_status st = PCC_OK;
    bool head_now = false;
    REQUIRE(pcc_bhttp_stream_new(&s) == PCC_OK);
    while (off < n && st == PCC_OK) {
        size_t end = off < cut ? cut : n, used = 0, cl = 0;
        unsigned ev = 0;
        const uint8_t *c = NULL;
        st = pcc_bhttp_stream_feed(s, d + off, end - off, &used, &ev, &c, &cl);
        REQUIRE(used <= end - off);
        if (ev == PCC_BHTTP_EV_CONTENT)
            REQUIRE(c >= d + off && c + cl <= d + off + used);
        off += used;
        if (st == PCC_OK && ev == PCC_BHTTP_EV_NONE)
            REQUIRE(off == end);
    }
    if (st == PCC_OK)
        st = pcc_bhttp_stream_finish(s, &head_now);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_LIMIT);
    pcc_status w = pcc_bhttp_decode(&whole, d, n);
    if (n > 0 && d[0] == PCC_BHTTP_INDETERMINATE_RESPONSE)
        REQUIRE((st == PCC_OK) == (w == PCC_OK));
    else
        REQUIRE(st != PCC_OK);
    if (st == PCC_OK)
        REQUIRE(pcc_bhttp_stream_head(s) != NULL &&
                pcc_bhttp_msg_status(pcc_bhttp_stream_head(s)) == pcc_bhttp_msg_status(whole));
    pcc_bhttp_msg_free(whole);
    pcc_bhttp_stream_free(s);
}

static void fuzz_round_trip(const uint8_t *d, size_t n, uint32_t seed)
{
    uint8_t hdr[64];
    size_t hdr_len = 0, got_len = 0;
    pcc_ohttp_chunked_client *c =
        draft_client(hdr, &hdr_len, seed & 1 ? PCC_HPKE_AEAD_CHACHA20POLY1305
                                             : PCC_HPKE_AEAD_AES128GCM);
    pcc_ohttp_chunked_gateway_ctx *g = NULL;
    size_t max = hdr_len + n * 3 + 64 * 3 + 64;
    uint8_t *stream = malloc(max), *got = malloc(n + 1);
    REQUIRE(stream != NULL && got != NULL);
    memcpy(stream, hdr, hdr_len);
    size_t len = hdr_len + seal_all(true, c, stream + hdr_len, max - hdr_len, d, n, seed);
    REQUIRE(pcc_ohttp_chunked_gateway_ctx_new(&g, g_gw) == PCC_OK);
    REQUIRE(receive(g, g_open, g_next, g_final, g_finish, stream, len, seed ^ 0x5555, got,
                    &got_len, n) == PCC_OK);
    REQUIRE(got_len == n && (n == 0 || memcmp(got, d, n) == 0));
    len = seal_all(false, g, stream, max, d, n, seed ^ 0xAAAA);
    REQUIRE(receive(c, c_open, c_next, c_final, c_finish, stream, len, seed ^ 0x3333, got,
                    &got_len, n) == PCC_OK);
    REQUIRE(got_len == n && (n == 0 || memcmp(got, d, n) == 0));
    bhttp_stream_check(got, n, seed);
    free(stream);
    free(got);
    pcc_ohttp_chunked_gateway_ctx_free(g);
    pcc_ohttp_chunked_client_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t seed = data[1];
    switch (data[0] % 3) {
    case 0: fuzz_gateway(data + 2, size - 2, seed); break;
    case 1: fuzz_client(data + 2, size - 2, seed); break;
    default: fuzz_round_trip(data + 2, size - 2, seed); break;
    }
    return 0;
}
