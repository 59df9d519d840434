/* test_request.c: request and answer cryptography and the chat payload against the static
 * library (no Python): the pinned vector of tests/test_request.py (made by an independent
 * implementation there), a round trip through client and node sides, and the main refusals. */
#include "ctest.h"
#include "pcc/buf.h"
#include "pcc/chat.h"
#include "pcc/request.h"
#include "pcc/secure.h"

static const char PIN_ENC[] = "6080bbe51005ea9acc863580ce57317d46bef6333558d5bfa97e461342985005";
static const char PIN_CT[] = "cdae23879278d7985f6e2be857b794e1ec7a261e13ca1e0a7f1b73c283e7fa63";
static const char PIN_BODY[] = "e30fc4b0429155037435b424c498e500d7ecd1";
static const char PIN_ANSWER[] =
    "101112131415161718191a1b1c1d1e1f00000019532ba960212dc645ddef0f8b07cfef2e44288d805c81ab5776"
    "00000020f71320f914ad0c3c179d7317c2f7283204efff7474319ebc60557da3e0fafe61";

static const pcc_hpke_suite SUITE = {PCC_HPKE_KEM_X25519_SHA256, PCC_HPKE_KDF_HKDF_SHA256,
                                     PCC_HPKE_AEAD_AES128GCM};

static void test_pinned(void)
{
    uint8_t dkraw[16], nonce[12], node_id[32] = {0}, ikm_r[32], ikm_e[32], pk[32], enc[32],
        ct[32], body[64], rn[16];
    size_t pk_len, enc_len, ct_len, body_len, n;
    for (int i = 0; i < 16; i++) {
        dkraw[i] = (uint8_t)i;
        rn[i] = (uint8_t)(16 + i);
    }
    for (int i = 0; i < 12; i++)
        nonce[i] = (uint8_t)i;
    memset(ikm_r, 1, sizeof ikm_r);
    memset(ikm_e, 2, sizeof ikm_e);
    pcc_hpke_key *sk = NULL;
    pcc_request_key *dk = NULL, *dk2 = NULL;
    pcc_request_sealer *s = NULL;
    pcc_answer_sealer *as = NULL;
    CHECK_ST(pcc_hpke_key_derive(&sk, PCC_HPKE_KEM_X25519_SHA256, ikm_r, sizeof ikm_r), PCC_OK);
    CHECK_ST(pcc_hpke_key_public(sk, pk, &pk_len, sizeof pk), PCC_OK);
    CHECK_ST(pcc_request_key_from_bytes(&dk, dkraw, sizeof dkraw), PCC_OK);
    CHECK_ST(pcc_request_key_wrap_deterministic(dk, SUITE, pk, pk_len, node_id, 32, ikm_e, 32, enc,
                                                &enc_len, sizeof enc, ct, &ct_len, sizeof ct),
             PCC_OK);
    CHECK(hex_eq(enc, enc_len, PIN_ENC));
    CHECK(hex_eq(ct, ct_len, PIN_CT));
    CHECK_ST(pcc_request_sealer_new_deterministic(&s, dk, nonce, sizeof nonce), PCC_OK);
    CHECK_ST(pcc_request_sealer_seal(s, body, &body_len, sizeof body, (const uint8_t *)"pcc", 3, 1),
             PCC_OK);
    CHECK(hex_eq(body, body_len, PIN_BODY));
    CHECK_ST(pcc_request_sealer_seal(s, body, &n, sizeof body, (const uint8_t *)"x", 1, 1),
             PCC_E_STATE);

    /* the node side: unwrap by key id, open the payload */
    pcc_request_node_key keys[2] = {{{9, 9, 9, 9, 9, 9, 9, 9}, sk, SUITE}, {{0}, sk, SUITE}};
    uint8_t kid[8] = {0};
    CHECK_ST(pcc_request_key_unwrap(&dk2, keys, 2, kid, 8, enc, enc_len, ct, ct_len, node_id, 32),
             PCC_OK);
    uint8_t raw[16];
    CHECK_ST(pcc_request_key_bytes(dk2, raw, &n, sizeof raw), PCC_OK);
    CHECK(n == 16 && memcmp(raw, dkraw, 16) == 0);
    pcc_request_key *bad = NULL;
    kid[0] = 1;
    CHECK_ST(pcc_request_key_unwrap(&bad, keys, 2, kid, 8, enc, enc_len, ct, ct_len, node_id, 32),
             PCC_E_UNKNOWN_KEY);
    kid[0] = 0;
    node_id[31] = 1;
    CHECK_ST(pcc_request_key_unwrap(&bad, keys, 2, kid, 8, enc, enc_len, ct, ct_len, node_id, 32),
             PCC_E_DECRYPT);
    CHECK(bad == NULL);
    node_id[31] = 0;
    pcc_request_chunk ch = {body, body_len};
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    CHECK_ST(pcc_request_open(&pt, &pt_len, dk2, nonce, 12, &ch, 1, 100), PCC_OK);
    CHECK(pt_len == 3 && pt != NULL && memcmp(pt, "pcc", 3) == 0);
    pcc_secure_free(pt);
    CHECK_ST(pcc_request_open(&pt, &pt_len, dk2, nonce, 12, &ch, 1, 2), PCC_E_LIMIT);
    body[0] ^= 1;
    CHECK_ST(pcc_request_open(&pt, &pt_len, dk2, nonce, 12, &ch, 1, 100), PCC_E_DECRYPT);
    CHECK(pt == NULL);

    /* the answer */
    uint8_t stream[256], plain[64];
    size_t off = 0, fl;
    pcc_writer w;
    CHECK_ST(pcc_answer_sealer_new_deterministic(&as, dk, node_id, 32, rn, 16), PCC_OK);
    CHECK_ST(pcc_answer_sealer_rnonce(as, stream, &off, sizeof stream), PCC_OK);
    pcc_writer_init_fixed(&w, plain, sizeof plain);
    CHECK_ST(pcc_answer_encode_text(&w, "hi", 2), PCC_OK);
    CHECK_ST(pcc_answer_sealer_frame(as, stream + off, &fl, sizeof stream - off, w.data, w.len, 0),
             PCC_OK);
    off += fl;
    pcc_writer_init_fixed(&w, plain, sizeof plain);
    CHECK_ST(pcc_answer_encode_error(&w, PCC_ANSWER_E_INTERNAL), PCC_OK);
    CHECK_ST(pcc_answer_sealer_frame(as, stream + off, &fl, sizeof stream - off, w.data, w.len, 1),
             PCC_OK);
    off += fl;
    CHECK(hex_eq(stream, off, PIN_ANSWER));

    /* ... opened one byte at a time */
    pcc_answer_opener *o = NULL;
    CHECK_ST(pcc_answer_opener_new(&o, dk2, node_id, 32), PCC_OK);
    int events = 0, saw_final = 0;
    for (size_t i = 0; i < off && o != NULL; i++) {
        size_t used = 0, got = 0;
        int have = 0, final = 0;
        CHECK_ST(pcc_answer_opener_push(o, stream + i, 1, &used), PCC_OK);
        CHECK(used == 1);
        CHECK_ST(pcc_answer_opener_next(o, plain, &got, sizeof plain, &have, &final), PCC_OK);
        if (have) {
            pcc_answer_event ev;
            CHECK_ST(pcc_answer_decode(&ev, plain, got, final), PCC_OK);
            CHECK(events != 0 || (ev.kind == PCC_ANSWER_TEXT && ev.text_len == 2));
            CHECK(events != 1 || (ev.kind == PCC_ANSWER_ERROR && ev.error == PCC_ANSWER_E_INTERNAL));
            events++;
            saw_final |= final;
        }
    }
    CHECK(events == 2 && saw_final);
    CHECK_ST(pcc_answer_opener_finish(o), PCC_OK);
    size_t used;
    CHECK_ST(pcc_answer_opener_push(o, stream, 1, &used), PCC_E_FORMAT);
    pcc_answer_opener_free(o);

    pcc_answer_sealer_free(as);
    pcc_request_sealer_free(s);
    pcc_request_key_free(dk);
    pcc_request_key_free(dk2);
    pcc_hpke_key_free(sk);
}

static void test_chat_round_trip(void)
{
    pcc_chat_message msgs[2] = {{"system", 6, "be brief", 8}, {"user", 4, "h\xc3\xa9llo", 6}};
    pcc_chat_params p = {.max_tokens = 64, .temperature = 0.5, .top_p = 0.9, .top_k = 40,
                         .has_seed = 1, .seed = 7};
    pcc_writer w;
    pcc_chat_request *r = NULL;
    pcc_writer_init_dynamic(&w, true, 1 << 20);
    CHECK_ST(pcc_chat_request_encode(&w, msgs, 2, &p), PCC_OK);
    CHECK_ST(pcc_chat_request_parse(&r, w.data, w.len), PCC_OK);
    CHECK(pcc_chat_request_count(r) == 2);
    pcc_chat_message m;
    pcc_chat_params q;
    CHECK_ST(pcc_chat_request_message(r, 1, &m), PCC_OK);
    CHECK(m.content_len == 6 && memcmp(m.content, "h\xc3\xa9llo", 6) == 0);
    CHECK_ST(pcc_chat_request_params(r, &q), PCC_OK);
    CHECK(q.max_tokens == 64 && q.top_k == 40 && q.has_seed && q.seed == 7 && q.top_p == 0.9);
    CHECK_ST(pcc_chat_request_message(r, 2, &m), PCC_E_INVALID);
    pcc_chat_request_free(r);
    /* every truncation is refused */
    for (size_t n = 0; n < w.len; n++) {
        r = NULL;
        CHECK_ST(pcc_chat_request_parse(&r, w.data, n), PCC_E_FORMAT);
        CHECK(r == NULL);
    }
    /* parse_owned takes the buffer, on success and on failure alike (ASan checks the leak) */
    uint8_t *own = pcc_secure_alloc(w.len);
    CHECK(own != NULL);
    if (own != NULL) {
        memcpy(own, w.data, w.len);
        CHECK_ST(pcc_chat_request_parse_owned(&r, own, w.len), PCC_OK);
        CHECK(pcc_chat_request_count(r) == 2);
        pcc_chat_request_free(r);
    }
    own = pcc_secure_alloc(w.len);
    if (own != NULL) {
        memcpy(own, w.data, w.len);
        own[0] = 0x83; /* a map of three: truncated */
        CHECK_ST(pcc_chat_request_parse_owned(&r, own, w.len), PCC_E_FORMAT);
        CHECK(r == NULL);
    }
    pcc_writer_cleanup(&w);
    /* bad role and bad parameters are refused when encoding */
    pcc_writer_init_dynamic(&w, true, 1 << 20);
    msgs[0].role = "root";
    msgs[0].role_len = 4;
    CHECK_ST(pcc_chat_request_encode(&w, msgs, 2, &p), PCC_E_INVALID);
    msgs[0].role = "system";
    msgs[0].role_len = 6;
    p.top_p = 1.5;
    CHECK_ST(pcc_chat_request_encode(&w, msgs, 2, &p), PCC_E_INVALID);
    CHECK(w.len == 0);
    pcc_writer_cleanup(&w);
}

int main(void)
{
    test_pinned();
    test_chat_round_trip();
    return ctest_done("test_request");
}
