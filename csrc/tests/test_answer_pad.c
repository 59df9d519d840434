/* test_answer_pad.c: size padding and abort frames in C alone. The bucket rule and the padded
 * sizes are known answers computed with pcc/_padding.py; the abort frames are pinned by their
 * SHA-256, computed with an independent AES-GCM/HKDF reference (tests/test_request.py's). */
#include <openssl/evp.h>

#include "ctest.h"
#include "pcc/buf.h"
#include "pcc/chat.h"
#include "pcc/request.h"

static const char PIN_FRAME0[] = "00000019532ba960212dc645ddef0f8b07cfef2e44288d805c81ab5776";
static const char PIN_SPARE0[] = "73018e28175f7fc0d458b3608f68013e56b63eed66d49250f7be7780041c2948";
static const char PIN_SPARE1[] = "fb5379e96bdaff9e21d534709a801ce4733b8d9160681993d2f79a190a52c0dc";

static void test_buckets(void)
{
    static const size_t in[] = {0, 1, 1024, 1025, 2048, 2049, 40000, 65536, 65537, 70000, 131072,
                                131073};
    static const size_t want[] = {1024, 1024, 1024, 2048, 2048, 4096, 65536, 65536, 131072,
                                  131072, 131072, 196608};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        CHECK(pcc_answer_bucket(in[i]) == want[i]);
}

/* the final chunk {"done", "usage": {7, 9}} padded after sent bytes: pad_answer_final's sizes */
static void test_final_sizes(void)
{
    static const size_t sent[] = {16, 500, 1004, 1005, 5000, 40000, 70000};
    static const size_t want[] = {988, 504, 1024, 1023, 3172, 25516, 61052};
    uint8_t buf[PCC_ANSWER_FINAL_CHUNK_MAX];
    for (size_t i = 0; i < sizeof sent / sizeof sent[0]; i++) {
        pcc_writer w;
        pcc_writer_init_fixed(&w, buf, sizeof buf);
        CHECK_ST(pcc_answer_encode_done(&w, 7, 9), PCC_OK);
        CHECK_ST(pcc_answer_pad(&w, 0, sent[i]), PCC_OK);
        CHECK(w.len == want[i]);
        CHECK(pcc_answer_bucket(sent[i] + 20 + w.len) == sent[i] + 20 + w.len);
        pcc_answer_event ev;
        CHECK_ST(pcc_answer_decode(&ev, w.data, w.len, 1), PCC_OK); /* the pad is ignored */
        CHECK(ev.kind == PCC_ANSWER_DONE && ev.prompt_tokens == 7 && ev.completion_tokens == 9);
    }
    /* no room: refused, and nothing written */
    uint8_t small[64];
    pcc_writer w;
    pcc_writer_init_fixed(&w, small, sizeof small);
    CHECK_ST(pcc_answer_encode_error(&w, PCC_ANSWER_E_INTERNAL), PCC_OK);
    size_t before = w.len;
    CHECK_ST(pcc_answer_pad(&w, 0, 16), PCC_E_LIMIT);
    CHECK(w.len == before && small[0] == 0x81);
    /* not a map */
    pcc_writer_init_fixed(&w, small, sizeof small);
    CHECK_ST(pcc_writer_bytes(&w, "\xa1x", 2), PCC_OK);
    CHECK_ST(pcc_answer_pad(&w, 0, 16), PCC_E_INVALID);
}

static void sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    unsigned int l = 0;
    CHECK(EVP_Digest(p, n, out, &l, EVP_sha256(), NULL) == 1 && l == 32);
}

static size_t spare_for(pcc_answer_sealer *s, uint8_t *out, size_t max, size_t sent)
{
    uint8_t pt[PCC_ANSWER_FINAL_CHUNK_MAX];
    pcc_writer w;
    size_t n = 0;
    pcc_writer_init_fixed(&w, pt, sizeof pt);
    CHECK_ST(pcc_answer_encode_error(&w, PCC_ANSWER_E_INTERNAL), PCC_OK);
    CHECK_ST(pcc_answer_pad(&w, 0, sent), PCC_OK);
    CHECK_ST(pcc_answer_sealer_spare(s, out, &n, max, w.data, w.len), PCC_OK);
    return n;
}

static void test_abort_frames(void)
{
    uint8_t dkraw[16], rn[16], node_id[32] = {0}, h[32];
    static uint8_t sp0[PCC_ANSWER_FINAL_FRAME_MAX], sp1[PCC_ANSWER_FINAL_FRAME_MAX],
        f0[PCC_ANSWER_FINAL_FRAME_MAX], pt[PCC_ANSWER_FINAL_CHUNK_MAX];
    for (int i = 0; i < 16; i++) {
        dkraw[i] = (uint8_t)i;
        rn[i] = (uint8_t)(16 + i);
    }
    pcc_request_key *dk = NULL;
    pcc_answer_sealer *s = NULL;
    pcc_answer_opener *o = NULL;
    size_t n0, n1, nf = 0, used, pl;
    int have, final;
    CHECK_ST(pcc_request_key_from_bytes(&dk, dkraw, sizeof dkraw), PCC_OK);
    CHECK_ST(pcc_answer_sealer_new_deterministic(&s, dk, node_id, 32, rn, 16), PCC_OK);
    n0 = spare_for(s, sp0, sizeof sp0, 16);
    sha256(sp0, n0, h);
    CHECK(n0 == 1008 && hex_eq(h, 32, PIN_SPARE0));
    /* sealing a spare does not move the counter: frame 0 is the pinned one */
    CHECK_ST(pcc_answer_sealer_frame(s, f0, &nf, sizeof f0, (const uint8_t *)"\x81\xa4text\xa2hi",
                                     9, 0),
             PCC_OK);
    CHECK(hex_eq(f0, nf, PIN_FRAME0));
    n1 = spare_for(s, sp1, sizeof sp1, 16 + nf);
    sha256(sp1, n1, h);
    CHECK(n1 == 979 && hex_eq(h, 32, PIN_SPARE1));
    CHECK(16 + nf + n1 == 1024); /* the stream a killed worker leaves ends on a bucket */

    /* the client reads frame 0, then the abort frame: a final internal error */
    CHECK_ST(pcc_answer_opener_new(&o, dk, node_id, 32), PCC_OK);
    CHECK_ST(pcc_answer_opener_push(o, rn, 16, &used), PCC_OK);
    CHECK_ST(pcc_answer_opener_next(o, pt, &pl, sizeof pt, &have, &final), PCC_OK);
    CHECK_ST(pcc_answer_opener_push(o, f0, nf, &used), PCC_OK);
    CHECK_ST(pcc_answer_opener_next(o, pt, &pl, sizeof pt, &have, &final), PCC_OK);
    CHECK(have && !final && pl == 9);
    CHECK_ST(pcc_answer_opener_push(o, sp1, n1, &used), PCC_OK);
    CHECK(used == n1);
    CHECK_ST(pcc_answer_opener_next(o, pt, &pl, sizeof pt, &have, &final), PCC_OK);
    CHECK(have && final);
    pcc_answer_event ev;
    CHECK_ST(pcc_answer_decode(&ev, pt, pl, 1), PCC_OK);
    CHECK(ev.kind == PCC_ANSWER_ERROR && ev.error == PCC_ANSWER_E_INTERNAL);
    CHECK_ST(pcc_answer_opener_finish(o), PCC_OK);
    pcc_answer_opener_free(o);
    o = NULL;

    /* an abort frame for another position does not open */
    CHECK_ST(pcc_answer_opener_new(&o, dk, node_id, 32), PCC_OK);
    CHECK_ST(pcc_answer_opener_push(o, rn, 16, &used), PCC_OK);
    CHECK_ST(pcc_answer_opener_next(o, pt, &pl, sizeof pt, &have, &final), PCC_OK);
    CHECK_ST(pcc_answer_opener_push(o, sp1, n1, &used), PCC_OK);
    CHECK_ST(pcc_answer_opener_next(o, pt, &pl, sizeof pt, &have, &final), PCC_E_DECRYPT);
    pcc_answer_opener_free(o);

    /* only the final chunk may pass 16 KiB; a spare after the final frame is refused */
    CHECK_ST(pcc_answer_sealer_frame(s, f0, &nf, sizeof f0, pt, PCC_REQUEST_CHUNK_MAX + 1, 0),
             PCC_E_LIMIT);
    CHECK_ST(pcc_answer_sealer_spare(s, sp0, &n0, sizeof sp0, pt, PCC_ANSWER_FINAL_CHUNK_MAX + 1),
             PCC_E_LIMIT);
    pcc_writer w;
    pcc_writer_init_fixed(&w, pt, sizeof pt);
    CHECK_ST(pcc_answer_encode_done(&w, 1, 1), PCC_OK);
    CHECK_ST(pcc_answer_pad(&w, 0, 40000), PCC_OK);
    CHECK(w.len > PCC_REQUEST_CHUNK_MAX);
    CHECK_ST(pcc_answer_sealer_frame(s, f0, &nf, sizeof f0, w.data, w.len, 1), PCC_OK);
    CHECK_ST(pcc_answer_sealer_spare(s, sp0, &n0, sizeof sp0, w.data, 10), PCC_E_STATE);
    pcc_answer_sealer_free(s);
    pcc_request_key_free(dk);
}

int main(void)
{
    test_buckets();
    test_final_sizes();
    test_abort_frames();
    return ctest_done("test_answer_pad");
}
