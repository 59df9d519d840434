/* fuzz_ohttp.c: libFuzzer harness for Oblivious HTTP (RFC 9458) parsing and decapsulation.
 *
 * The first input byte picks the target (mod 4), the rest is its input:
 *   0  application/ohttp-keys decode: what decodes re-encodes, and decodes back the same;
 *   1  one Key Config decode: what decodes re-encodes to exactly the input;
 *   2  gateway decapsulation with fixed keys: key_id 1 is the RFC 9458 Appendix A X25519 key
 *      (suites HKDF-SHA256 with AES-128-GCM and ChaCha20-Poly1305), key_id 2 a P-256 key
 *      (DeriveKeyPair of 32 bytes 0x42; HKDF-SHA256/AES-128-GCM and HKDF-SHA512/AES-256-GCM).
 *      A request that decapsulates is decoded as binary HTTP and answered once (a second answer
 *      must be refused);
 *   3  client response decapsulation, with the client context of the RFC 9458 Appendix A
 *      request (its ephemeral key), so the Appendix A response is a valid input.
 * A failure must leave no output: *ctx stays NULL and the status is one of the documented ones. */
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
static pcc_ohttp_client_ctx *g_client;
static pcc_hpke_key *g_x25519, *g_p256;

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

/* The keys live in secure memory (mmap), which LeakSanitizer does not scan for pointers: the
 * OpenSSL objects they hold would be reported as leaked at exit unless freed first. */
static void cleanup(void)
{
    pcc_ohttp_client_ctx_free(g_client);
    pcc_ohttp_gateway_free(g_gw);
    pcc_hpke_key_free(g_x25519);
    pcc_hpke_key_free(g_p256);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    uint8_t sk[32], ikm[32], req[64], enc_req[128];
    size_t n, len = 0;
    pcc_ohttp_key_config c1 = {0}, c2 = {0};
    pcc_hpke_key *eph = NULL;

    /* RFC 9458 Appendix A: server key and key configuration */
    unhex(sk, "3c168975674b2fa8e465970b79c8dcf09f1c741626480bd4c6162fc5b6a98e1a");
    REQUIRE(pcc_hpke_key_from_bytes(&g_x25519, PCC_HPKE_KEM_X25519_SHA256, sk, 32) == PCC_OK);
    c1.key_id = 1;
    c1.kem = PCC_HPKE_KEM_X25519_SHA256;
    REQUIRE(pcc_hpke_key_public(g_x25519, c1.public_key, &c1.public_key_len,
                                sizeof c1.public_key) == PCC_OK);
    c1.n_suites = 2;
    c1.suites[0] = (pcc_ohttp_suite){PCC_HPKE_KDF_HKDF_SHA256, PCC_HPKE_AEAD_AES128GCM};
    c1.suites[1] = (pcc_ohttp_suite){PCC_HPKE_KDF_HKDF_SHA256, PCC_HPKE_AEAD_CHACHA20POLY1305};
    memset(ikm, 0x42, sizeof ikm);
    REQUIRE(pcc_hpke_key_derive(&g_p256, PCC_HPKE_KEM_P256_SHA256, ikm, sizeof ikm) == PCC_OK);
    c2.key_id = 2;
    c2.kem = PCC_HPKE_KEM_P256_SHA256;
    REQUIRE(pcc_hpke_key_public(g_p256, c2.public_key, &c2.public_key_len,
                                sizeof c2.public_key) == PCC_OK);
    c2.n_suites = 2;
    c2.suites[0] = (pcc_ohttp_suite){PCC_HPKE_KDF_HKDF_SHA256, PCC_HPKE_AEAD_AES128GCM};
    c2.suites[1] = (pcc_ohttp_suite){PCC_HPKE_KDF_HKDF_SHA512, PCC_HPKE_AEAD_AES256GCM};
    REQUIRE(pcc_ohttp_gateway_new(&g_gw) == PCC_OK);
    REQUIRE(pcc_ohttp_gateway_add_key(g_gw, &c1, g_x25519) == PCC_OK);
    REQUIRE(pcc_ohttp_gateway_add_key(g_gw, &c2, g_p256) == PCC_OK);

    /* RFC 9458 Appendix A: the client's request with its ephemeral key */
    unhex(sk, "bc51d5e930bda26589890ac7032f70ad12e4ecb37abb1b65b1256c9c48999c73");
    REQUIRE(pcc_hpke_key_from_bytes(&eph, PCC_HPKE_KEM_X25519_SHA256, sk, 32) == PCC_OK);
    n = unhex(req, "00034745540568747470730b6578616d706c652e636f6d012f");
    REQUIRE(pcc_ohttp_encapsulate_request_ephemeral(&g_client, enc_req, &len, sizeof enc_req, &c1,
                                                    c1.suites[0], req, n, eph) == PCC_OK);
    pcc_hpke_key_free(eph);
    REQUIRE(atexit(cleanup) == 0);
    return 0;
}

static int config_eq(const pcc_ohttp_key_config *a, const pcc_ohttp_key_config *b)
{
    return a->key_id == b->key_id && a->kem == b->kem && a->public_key_len == b->public_key_len &&
           memcmp(a->public_key, b->public_key, a->public_key_len) == 0 &&
           a->n_suites == b->n_suites &&
           memcmp(a->suites, b->suites, a->n_suites * sizeof a->suites[0]) == 0;
}

static void fuzz_configs(const uint8_t *d, size_t n)
{
    static pcc_ohttp_key_config cfgs[PCC_OHTTP_MAX_CONFIGS], back[PCC_OHTTP_MAX_CONFIGS];
    static uint8_t enc[PCC_OHTTP_MAX_CONFIGS * (2 + PCC_OHTTP_MAX_KEY_CONFIG)];
    size_t k = 99, k2 = 0, len = 0;
    pcc_status st = pcc_ohttp_key_configs_decode(cfgs, &k, PCC_OHTTP_MAX_CONFIGS, d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_UNSUPPORTED || st == PCC_E_LIMIT);
    if (st != PCC_OK) {
        REQUIRE(k == 0);
        return;
    }
    REQUIRE(k >= 1 && k <= PCC_OHTTP_MAX_CONFIGS);
    REQUIRE(pcc_ohttp_key_configs_encode(cfgs, k, enc, &len, sizeof enc) == PCC_OK);
    REQUIRE(len <= n); /* only configurations with unknown KEMs were dropped */
    REQUIRE(pcc_ohttp_key_configs_decode(back, &k2, PCC_OHTTP_MAX_CONFIGS, enc, len) == PCC_OK);
    REQUIRE(k2 == k);
    for (size_t i = 0; i < k; i++) {
        pcc_ohttp_suite s;
        REQUIRE(config_eq(&cfgs[i], &back[i]));
        if (pcc_ohttp_select_suite(&cfgs[i], 0, 0, &s) == PCC_OK)
            REQUIRE(s.aead != PCC_HPKE_AEAD_EXPORT_ONLY);
    }
    /* too little room is a limit, never a partial result */
    if (k > 1)
        REQUIRE(pcc_ohttp_key_configs_decode(back, &k2, k - 1, d, n) == PCC_E_LIMIT && k2 == 0);
}

static void fuzz_config(const uint8_t *d, size_t n)
{
    pcc_ohttp_key_config cfg, back;
    uint8_t enc[PCC_OHTTP_MAX_KEY_CONFIG];
    size_t len = 0;
    pcc_status st = pcc_ohttp_key_config_decode(&cfg, d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_UNSUPPORTED || st == PCC_E_LIMIT);
    if (st != PCC_OK)
        return;
    REQUIRE(pcc_ohttp_key_config_encode(&cfg, enc, &len, sizeof enc) == PCC_OK);
    REQUIRE(len == n && memcmp(enc, d, n) == 0);
    REQUIRE(pcc_ohttp_key_config_decode(&back, enc, len) == PCC_OK && config_eq(&cfg, &back));
}

static void fuzz_gateway(const uint8_t *d, size_t n)
{
    pcc_ohttp_response_ctx *ctx = (pcc_ohttp_response_ctx *)1;
    size_t max = pcc_ohttp_decapsulated_max(n), len = 0;
    uint8_t *out = malloc(max ? max : 1);
    REQUIRE(out != NULL);
    pcc_status st = pcc_ohttp_gateway_decapsulate(g_gw, &ctx, out, &len, max, d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_UNKNOWN_KEY ||
            st == PCC_E_UNSUPPORTED || st == PCC_E_LIMIT || st == PCC_E_DECRYPT);
    if (st != PCC_OK) {
        REQUIRE(ctx == NULL);
        free(out);
        return;
    }
    REQUIRE(ctx != NULL && len <= max);
    /* the request is binary HTTP; whatever it is, the decoder copes */
    pcc_bhttp_msg *m = NULL;
    (void)pcc_bhttp_decode(&m, out, len);
    pcc_bhttp_msg_free(m);
    /* answer once with the request echoed; a second answer is refused */
    size_t rlen = 0, wrote = 0;
    REQUIRE(pcc_ohttp_response_len(ctx, len, &rlen) == PCC_OK);
    uint8_t *resp = malloc(rlen);
    REQUIRE(resp != NULL);
    REQUIRE(pcc_ohttp_response_encapsulate(ctx, resp, &wrote, rlen, out, len) == PCC_OK);
    REQUIRE(wrote == rlen);
    REQUIRE(pcc_ohttp_response_encapsulate(ctx, resp, &wrote, rlen, out, len) ==
            PCC_E_STATE);
    free(resp);
    pcc_ohttp_response_ctx_free(ctx);
    free(out);
}

static void fuzz_client(const uint8_t *d, size_t n)
{
    size_t len = 0;
    uint8_t *out = malloc(n ? n : 1);
    REQUIRE(out != NULL);
    pcc_status st = pcc_ohttp_client_decapsulate_response(g_client, out, &len, n, d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_DECRYPT || st == PCC_E_LIMIT);
    if (st == PCC_OK) {
        pcc_bhttp_msg *m = NULL;
        REQUIRE(len + 16 + 16 == n); /* AES-128-GCM: 16-byte response nonce and tag */
        (void)pcc_bhttp_decode(&m, out, len);
        pcc_bhttp_msg_free(m);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] & 3) {
    case 0: fuzz_configs(data + 1, size - 1); break;
    case 1: fuzz_config(data + 1, size - 1); break;
    case 2: fuzz_gateway(data + 1, size - 1); break;
    default: fuzz_client(data + 1, size - 1); break;
    }
    return 0;
}
