/* test_ohttp_chunked.c: chunked OHTTP (draft-ietf-ohai-chunked-ohttp) and the streaming binary
 * HTTP response decoder against the static library (no Python). Known answers: the draft's
 * Appendix A example (tests/vectors/ohttp_chunked_draft.json) on both sides, fed whole and one
 * byte at a time; then truncation, reordering, tampering, data after the final chunk, an
 * oversized length, sender rules, and the streaming decoder on the response the example
 * carries. */
#include <stdbool.h>

#include "ctest.h"
#include "pcc/bhttp.h"
#include "pcc/hpke.h"
#include "pcc/ohttp.h"

static const char SK_R[] = "1c190d72acdbe4dbc69e680503bb781a932c70a12c8f3754434c67d8640d8698";
static const char SK_E[] = "b26d565f3f875ed480d1abced3d665159650c99174fd0b124ac4bda0c64ae324";
static const char REQ[] = "00034745540568747470730b6578616d706c652e636f6d012f";
static const char HDR[] = "01002000010001"
                          "8811eb457e100811c40a0aa71340a1b81d804bb986f736f2f566a7199761a032";
static const char *REQ_CHUNKS[3] = {
    "1c2ad24942d4d692563012f2980c8fef437a336b9b2fc938ef77a5834f",
    "1d2e33d8fd25577afe31bd1c79d094f76b6250ae6549b473ecd950501311",
    "001c6c1395d0ef7c1022297966307b8a7f"};
static const char RESP_NONCE[] = "bcce7f4cb921309ba5d62edf1769ef09";
static const char *RESP_CHUNKS[3] = {"1179bf1cc87fa0e2c02de4546945aa3d1e48",
                                     "12b348b5bd4c594c16b6170b07b475845d1f32",
                                     "00ed9d8a796617a5b27265f4d73247f639"};

static pcc_hpke_key *g_sk, *g_eph;
static pcc_ohttp_key_config g_cfg;
static pcc_ohttp_gateway *g_gw;

static void setup(void)
{
    uint8_t sk[32];
    unhex(sk, sizeof sk, SK_R);
    CHECK_ST(pcc_hpke_key_from_bytes(&g_sk, PCC_HPKE_KEM_X25519_SHA256, sk, 32), PCC_OK);
    unhex(sk, sizeof sk, SK_E);
    CHECK_ST(pcc_hpke_key_from_bytes(&g_eph, PCC_HPKE_KEM_X25519_SHA256, sk, 32), PCC_OK);
    g_cfg.key_id = 1;
    g_cfg.kem = PCC_HPKE_KEM_X25519_SHA256;
    CHECK_ST(pcc_hpke_key_public(g_sk, g_cfg.public_key, &g_cfg.public_key_len, 65), PCC_OK);
    g_cfg.n_suites = 2;
    g_cfg.suites[0] = (pcc_ohttp_suite){1, 1};
    g_cfg.suites[1] = (pcc_ohttp_suite){1, 3};
    CHECK_ST(pcc_ohttp_gateway_new(&g_gw), PCC_OK);
    CHECK_ST(pcc_ohttp_gateway_add_key(g_gw, &g_cfg, g_sk), PCC_OK);
}

/* stream builds header/nonce + chunks into out. */
static size_t stream(uint8_t *out, const char *first, const char *const *chunks, size_t n)
{
    size_t len = unhex(out, 512, first);
    for (size_t i = 0; i < n; i++)
        len += unhex(out + len, 512 - len, chunks[i]);
    return len;
}

/* feed_gateway feeds s in pieces of `step` bytes (0 = whole) and appends plaintext to pt. */
static pcc_status feed_gateway(pcc_ohttp_chunked_gateway_ctx *g, const uint8_t *s, size_t n,
                               size_t step, uint8_t *pt, size_t *pt_len)
{
    size_t off = 0;
    *pt_len = 0;
    while (off < n) {
        size_t end = step && off + step < n ? off + step : n;
        while (off < end) {
            size_t need = 0, missing = 0, used = 0, w = 0;
            if (!pcc_ohttp_chunked_gateway_next(g, &need, &missing) || missing > end - off)
                need = 0;
            pcc_status st = pcc_ohttp_chunked_gateway_open(g, need ? pt + *pt_len : NULL, &w, need,
                                                           s + off, end - off, &used);
            if (st != PCC_OK)
                return st;
            off += used;
            *pt_len += w;
        }
    }
    size_t w = 0, fl = pcc_ohttp_chunked_gateway_final_len(g);
    pcc_status st = pcc_ohttp_chunked_gateway_finish(g, pt + *pt_len, &w, fl);
    *pt_len += w;
    return st;
}

static void test_draft_client(void)
{
    pcc_ohttp_chunked_client *c = NULL;
    uint8_t hdr[128], out[128], req[64], pt[128];
    size_t hdr_len = 0, n = unhex(req, sizeof req, REQ), w = 0, used = 0;
    CHECK_ST(pcc_ohttp_chunked_client_new_ephemeral(&c, hdr, &hdr_len, sizeof hdr, &g_cfg,
                                                    g_cfg.suites[0], g_eph), PCC_OK);
    CHECK(hex_eq(hdr, hdr_len, HDR));
    CHECK_ST(pcc_ohttp_chunked_client_seal(c, out, &w, sizeof out, req, 12, false), PCC_OK);
    CHECK(hex_eq(out, w, REQ_CHUNKS[0]));
    CHECK_ST(pcc_ohttp_chunked_client_seal(c, out, &w, sizeof out, req + 12, n - 12, false), PCC_OK);
    CHECK(hex_eq(out, w, REQ_CHUNKS[1]));
    CHECK_ST(pcc_ohttp_chunked_client_seal(c, out, &w, sizeof out, NULL, 0, true), PCC_OK);
    CHECK(hex_eq(out, w, REQ_CHUNKS[2]));
    CHECK_ST(pcc_ohttp_chunked_client_seal(c, out, &w, sizeof out, req, 1, false), PCC_E_STATE);
    /* the draft's response, one byte at a time: chunks of 1 and 2 bytes, empty final */
    uint8_t s[256];
    size_t len = stream(s, RESP_NONCE, RESP_CHUNKS, 3), got = 0;
    for (size_t i = 0; i < len; i++) {
        size_t need = 0, missing = 0;
        if (!pcc_ohttp_chunked_client_next(c, &need, &missing) || missing > 1)
            need = 0;
        CHECK_ST(pcc_ohttp_chunked_client_open(c, need ? pt + got : NULL, &w, need, s + i, 1,
                                               &used), PCC_OK);
        CHECK(used == 1);
        got += w;
    }
    CHECK(got == 3 && hex_eq(pt, 3, "0140c8"));
    CHECK(pcc_ohttp_chunked_client_final_len(c) == 0);
    CHECK_ST(pcc_ohttp_chunked_client_finish(c, pt, &w, 0), PCC_OK);
    CHECK(w == 0);
    CHECK_ST(pcc_ohttp_chunked_client_open(c, NULL, &w, 0, s, 1, &used), PCC_E_STATE);
    pcc_ohttp_chunked_client_free(c);
}

static void test_draft_gateway(void)
{
    uint8_t s[512], pt[128], out[128];
    size_t len = stream(s, HDR, REQ_CHUNKS, 3), n = 0, w = 0;
    for (size_t step = 0; step <= 7; step++) {
        pcc_ohttp_chunked_gateway_ctx *g = NULL;
        CHECK_ST(pcc_ohttp_chunked_gateway_ctx_new(&g, g_gw), PCC_OK);
        CHECK_ST(feed_gateway(g, s, len, step, pt, &n), PCC_OK);
        CHECK(hex_eq(pt, n, REQ));
        if (step == 0) { /* the draft's response, byte for byte, with its nonce */
            uint8_t nonce[16], resp[3] = {0x01, 0x40, 0xc8};
            unhex(nonce, sizeof nonce, RESP_NONCE);
            CHECK(pcc_ohttp_chunked_gateway_nonce_len(g) == 16);
            CHECK_ST(pcc_ohttp_testing_chunked_gateway_seal_nonce(g, out, &w, sizeof out, resp, 1,
                                                                  false, nonce, 16), PCC_OK);
            CHECK(w == 16 + 18 && hex_eq(out, 16, RESP_NONCE) && hex_eq(out + 16, 18, RESP_CHUNKS[0]));
            CHECK_ST(pcc_ohttp_testing_chunked_gateway_seal_nonce(g, out, &w, sizeof out, resp + 1,
                                                                  2, false, nonce, 16), PCC_E_INVALID);
            CHECK_ST(pcc_ohttp_chunked_gateway_seal(g, out, &w, sizeof out, resp + 1, 2, false),
                     PCC_OK);
            CHECK(hex_eq(out, w, RESP_CHUNKS[1]));
            CHECK_ST(pcc_ohttp_chunked_gateway_seal(g, out, &w, sizeof out, NULL, 0, true),
                     PCC_OK);
            CHECK(hex_eq(out, w, RESP_CHUNKS[2]));
            CHECK_ST(pcc_ohttp_chunked_gateway_seal(g, out, &w, sizeof out, resp, 1, true),
                     PCC_E_STATE);
        }
        pcc_ohttp_chunked_gateway_ctx_free(g);
    }
}

static pcc_status gateway_status(const uint8_t *s, size_t len)
{
    pcc_ohttp_chunked_gateway_ctx *g = NULL;
    uint8_t pt[512];
    size_t n = 0, w = 0, used = 0;
    CHECK_ST(pcc_ohttp_chunked_gateway_ctx_new(&g, g_gw), PCC_OK);
    pcc_status st = feed_gateway(g, s, len, 0, pt, &n);
    if (st != PCC_OK) /* errors are final */
        CHECK_ST(pcc_ohttp_chunked_gateway_open(g, NULL, &w, 0, s, 1, &used), PCC_E_STATE);
    pcc_ohttp_chunked_gateway_ctx_free(g);
    return st;
}

static void test_bad_requests(void)
{
    uint8_t s[512];
    const char *swapped[3] = {REQ_CHUNKS[1], REQ_CHUNKS[0], REQ_CHUNKS[2]};
    size_t len;
    len = stream(s, HDR, REQ_CHUNKS, 2); /* no final chunk */
    CHECK_ST(gateway_status(s, len), PCC_E_FORMAT);
    len = stream(s, HDR, swapped, 3);
    CHECK_ST(gateway_status(s, len), PCC_E_DECRYPT);
    len = stream(s, HDR, REQ_CHUNKS, 3);
    s[len - 3] ^= 1; /* tampered final chunk */
    CHECK_ST(gateway_status(s, len), PCC_E_DECRYPT);
    s[len - 3] ^= 1;
    s[len++] = 0; /* data after the final chunk */
    CHECK_ST(gateway_status(s, len), PCC_E_DECRYPT);
    len = unhex(s, sizeof s, HDR);
    memcpy(s + len, "\xbf\xff\xff\xff", 4); /* a 4-byte varint far past the chunk limit */
    CHECK_ST(gateway_status(s, len + 4), PCC_E_LIMIT);
    s[len] = 0x0f; /* a length shorter than the tag */
    CHECK_ST(gateway_status(s, len + 1), PCC_E_FORMAT);
    s[len] = 0x10; /* an empty non-final chunk */
    CHECK_ST(gateway_status(s, len + 1), PCC_E_DECRYPT);
    s[len] = 0x40; /* a varint cut by the end of the stream */
    CHECK_ST(gateway_status(s, len + 1), PCC_E_FORMAT);
    s[0] = 9;
    CHECK_ST(gateway_status(s, 7), PCC_E_UNKNOWN_KEY);
    s[0] = 1;
    s[6] = 2; /* AES-256-GCM is not offered */
    CHECK_ST(gateway_status(s, 7), PCC_E_UNSUPPORTED);
}

static void test_sender_rules(void)
{
    pcc_ohttp_chunked_client *c = NULL;
    pcc_ohttp_chunked_gateway_ctx *g = NULL;
    uint8_t hdr[128], out[64];
    size_t hdr_len = 0, w = 0, len = 0;
    CHECK_ST(pcc_ohttp_chunked_client_new(&c, hdr, &hdr_len, sizeof hdr, &g_cfg, g_cfg.suites[1],
                                          NULL, 0), PCC_OK);
    CHECK_ST(pcc_ohttp_chunked_client_seal(c, out, &w, sizeof out, NULL, 0, false), PCC_E_INVALID);
    CHECK_ST(pcc_ohttp_chunked_client_seal(c, out, &w, 10, (const uint8_t *)"x", 1, false),
             PCC_E_LIMIT);
    CHECK_ST(pcc_ohttp_chunked_seal_len(PCC_OHTTP_CHUNKED_MAX_CHUNK + 1, false, &len), PCC_E_LIMIT);
    CHECK_ST(pcc_ohttp_chunked_seal_len(100, false, &len), PCC_OK);
    CHECK(len == 2 + 116);
    CHECK_ST(pcc_ohttp_chunked_gateway_ctx_new(&g, g_gw), PCC_OK);
    CHECK_ST(pcc_ohttp_chunked_gateway_seal(g, out, &w, sizeof out, (const uint8_t *)"x", 1, true),
             PCC_E_STATE); /* before the header */
    pcc_ohttp_chunked_gateway_ctx_free(g);
    pcc_ohttp_chunked_client_free(c);
}

static void test_bhttp_stream(void)
{
    /* framing 3, 100 Continue with no fields, 200 with a: b, content "abc" in two chunks,
     * trailers t: 1, two bytes of padding */
    static const char MSG[] = "03" "406400" "40c8" "016101620" "0" "026162" "0163" "00"
                              "01740131" "00" "0000";
    uint8_t m[64], content[16];
    size_t n = unhex(m, sizeof m, MSG);
    for (size_t step = 1; step <= n; step++) {
        pcc_bhttp_stream *s = NULL;
        size_t off = 0, got = 0;
        bool head = false, trailers = false, head_now = false;
        CHECK_ST(pcc_bhttp_stream_new(&s), PCC_OK);
        while (off < n) {
            size_t end = off + step < n ? off + step : n;
            while (off < end) {
                size_t used = 0, cl = 0;
                unsigned ev = 0;
                const uint8_t *c = NULL;
                CHECK_ST(pcc_bhttp_stream_feed(s, m + off, end - off, &used, &ev, &c, &cl), PCC_OK);
                off += used;
                if (ev == PCC_BHTTP_EV_CONTENT && got + cl <= sizeof content) {
                    memcpy(content + got, c, cl);
                    got += cl;
                }
                head |= ev == PCC_BHTTP_EV_HEAD;
                trailers |= ev == PCC_BHTTP_EV_TRAILERS;
                if (used == 0)
                    break;
            }
        }
        CHECK_ST(pcc_bhttp_stream_finish(s, &head_now), PCC_OK);
        CHECK(head && trailers && !head_now && got == 3 && memcmp(content, "abc", 3) == 0);
        CHECK(pcc_bhttp_msg_status(pcc_bhttp_stream_head(s)) == 200);
        CHECK(pcc_bhttp_msg_informational_count(pcc_bhttp_stream_head(s)) == 1);
        CHECK(pcc_bhttp_msg_field_count(pcc_bhttp_stream_trailers(s), PCC_BHTTP_TRAILERS, 0) == 1);
        pcc_bhttp_stream_free(s);
    }
    /* cut inside the content: truncated */
    pcc_bhttp_stream *s = NULL;
    size_t used = 0, cl = 0;
    unsigned ev = 0;
    const uint8_t *c = NULL;
    bool head_now = false;
    CHECK_ST(pcc_bhttp_stream_new(&s), PCC_OK);
    for (size_t off = 0; off < 12; off += used)
        CHECK_ST(pcc_bhttp_stream_feed(s, m + off, 12 - off, &used, &ev, &c, &cl), PCC_OK);
    CHECK_ST(pcc_bhttp_stream_finish(s, &head_now), PCC_E_FORMAT);
    CHECK_ST(pcc_bhttp_stream_finish(s, &head_now), PCC_E_STATE);
    pcc_bhttp_stream_free(s);
}

int main(void)
{
    setup();
    test_draft_client();
    test_draft_gateway();
    test_bad_requests();
    test_sender_rules();
    test_bhttp_stream();
    pcc_ohttp_gateway_free(g_gw);
    pcc_hpke_key_free(g_sk);
    pcc_hpke_key_free(g_eph);
    return ctest_done("ohttp_chunked");
}
