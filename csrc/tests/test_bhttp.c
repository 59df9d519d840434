/* test_bhttp.c: Binary HTTP (RFC 9292) against the static library (no Python). Known answers:
 * the examples of RFC 9292 §5 (tests/vectors/bhttp_rfc9292.json), decoded field by field and
 * re-encoded byte for byte, plus a built request decoded back and a few malformed inputs. */
#include "ctest.h"
#include "pcc/bhttp.h"

/* RFC 9292 §5, "Known-Length Binary Encoding of Request" (135 bytes). */
static const char REQ_KNOWN[] =
    "0003474554056874747073000a2f68656c6c6f2e747874406c0a757365722d6167656e74346375726c2f372e"
    "31362e33206c69626375726c2f372e31362e33204f70656e53534c2f302e392e376c207a6c69622f312e322e"
    "3304686f73740f7777772e6578616d706c652e636f6d0f6163636570742d6c616e677561676506656e2c206d"
    "690000";

/* RFC 9292 §5, the same request with indeterminate length and 10 bytes of padding. */
static const char REQ_INDETERMINATE[] =
    "0203474554056874747073000a2f68656c6c6f2e7478740a757365722d6167656e74346375726c2f372e3136"
    "2e33206c69626375726c2f372e31362e33204f70656e53534c2f302e392e376c207a6c69622f312e322e3304"
    "686f73740f7777772e6578616d706c652e636f6d0f6163636570742d6c616e677561676506656e2c206d6900"
    "000000000000000000000000";

/* RFC 9292 §5, indeterminate-length response with 102 and 103 informational responses. */
static const char RESP_INFO[] =
    "0340660772756e6e696e670a22736c65657020313522004067046c696e6b233c2f7374796c652e6373733e3b"
    "2072656c3d7072656c6f61643b2061733d7374796c65046c696e6b243c2f7363726970742e6a733e3b207265"
    "6c3d7072656c6f61643b2061733d7363726970740040c804646174651d4d6f6e2c203237204a756c20323030"
    "392031323a32383a353320474d5406736572766572064170616368650d6c6173742d6d6f6469666965641d57"
    "65642c203232204a756c20323030392031393a31353a353620474d5404657461671422333461613338372d64"
    "2d3135363865623030220d6163636570742d72616e6765730562797465730e636f6e74656e742d6c656e6774"
    "6802353104766172790f4163636570742d456e636f64696e670c636f6e74656e742d747970650a746578742f"
    "706c61696e003348656c6c6f20576f726c6421204d7920636f6e74656e7420696e636c756465732061207472"
    "61696c696e672043524c462e0d0a0000";

/* RFC 9292 §5, known-length response with a trailer. */
static const char RESP_KNOWN[] =
    "0140c8001d5468697320636f6e74656e7420636f6e7461696e732043524c462e0d0a0d07747261696c657204"
    "74657874";

static uint8_t buf[1024], out[1024];

static int is(const uint8_t *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

static int field_is(const pcc_bhttp_msg *m, pcc_bhttp_section s, size_t info, size_t i,
                    const char *name, const char *value)
{
    const uint8_t *np, *vp;
    size_t nl, vl;
    return pcc_bhttp_msg_field(m, s, info, i, &np, &nl, &vp, &vl) == PCC_OK &&
           is(np, nl, name) && is(vp, vl, value);
}

static void check_hello_request(const pcc_bhttp_msg *m)
{
    static const char *const want[4] = {"GET", "https", "", "/hello.txt"};
    const uint8_t *p;
    size_t n;
    CHECK(pcc_bhttp_msg_is_request(m));
    for (unsigned i = 0; i < 4; i++) {
        pcc_bhttp_msg_control(m, i, &p, &n);
        CHECK(is(p, n, want[i]));
    }
    CHECK(pcc_bhttp_msg_field_count(m, PCC_BHTTP_HEADERS, 0) == 3);
    CHECK(field_is(m, PCC_BHTTP_HEADERS, 0, 0, "user-agent",
                   "curl/7.16.3 libcurl/7.16.3 OpenSSL/0.9.7l zlib/1.2.3"));
    CHECK(field_is(m, PCC_BHTTP_HEADERS, 0, 1, "host", "www.example.com"));
    CHECK(field_is(m, PCC_BHTTP_HEADERS, 0, 2, "accept-language", "en, mi"));
    CHECK(pcc_bhttp_msg_field_count(m, PCC_BHTTP_TRAILERS, 0) == 0);
    pcc_bhttp_msg_content(m, &p, &n);
    CHECK(n == 0);
}

static void test_request_examples(void)
{
    pcc_bhttp_msg *m = NULL;
    size_t n = unhex(buf, sizeof buf, REQ_KNOWN), len = 0, w = 0;
    CHECK(n == 135);
    CHECK_ST(pcc_bhttp_decode(&m, buf, n), PCC_OK);
    if (m != NULL) {
        CHECK(pcc_bhttp_msg_framing(m) == PCC_BHTTP_KNOWN_REQUEST);
        check_hello_request(m);
        /* known-length re-encoding reproduces the RFC bytes */
        CHECK_ST(pcc_bhttp_msg_encoded_len(m, 0, 0, &len), PCC_OK);
        CHECK(len == n);
        CHECK_ST(pcc_bhttp_msg_encode(m, 0, 0, out, &w, sizeof out), PCC_OK);
        CHECK(w == n && memcmp(out, buf, n) == 0);
        /* truncated form (§3.8) drops the empty content and trailers: 2 bytes shorter */
        CHECK_ST(pcc_bhttp_msg_encode(m, PCC_BHTTP_TRUNCATE, 0, out, &w, sizeof out), PCC_OK);
        CHECK(w == n - 2 && memcmp(out, buf, n - 2) == 0);
        CHECK_ST(pcc_bhttp_msg_encode(m, 0, 0, out, &w, n - 1), PCC_E_LIMIT);
        pcc_bhttp_msg_free(m);
        m = NULL;
    }
    /* every strict prefix that stops inside an item is malformed; the §3.8 cut points decode */
    for (size_t cut = 0; cut < n; cut++) {
        pcc_status st = pcc_bhttp_decode(&m, buf, cut);
        CHECK(st == PCC_OK || st == PCC_E_FORMAT);
        CHECK((st == PCC_OK) == (m != NULL));
        pcc_bhttp_msg_free(m);
        m = NULL;
    }

    n = unhex(buf, sizeof buf, REQ_INDETERMINATE);
    CHECK(n == 144);
    CHECK_ST(pcc_bhttp_decode(&m, buf, n), PCC_OK);
    if (m != NULL) {
        CHECK(pcc_bhttp_msg_framing(m) == PCC_BHTTP_INDETERMINATE_REQUEST);
        check_hello_request(m);
        /* indeterminate re-encoding with the same 10 bytes of padding gives the RFC bytes */
        CHECK_ST(pcc_bhttp_msg_encode(m, PCC_BHTTP_INDETERMINATE, 10, out, &w, sizeof out),
                 PCC_OK);
        CHECK(w == n && memcmp(out, buf, n) == 0);
        pcc_bhttp_msg_free(m);
        m = NULL;
    }
    buf[n - 1] = 1; /* non-zero padding */
    CHECK_ST(pcc_bhttp_decode(&m, buf, n), PCC_E_FORMAT);
    CHECK(m == NULL);
}

static void test_response_examples(void)
{
    pcc_bhttp_msg *m = NULL;
    const uint8_t *p;
    size_t n = unhex(buf, sizeof buf, RESP_INFO), w = 0, cl;
    CHECK_ST(pcc_bhttp_decode(&m, buf, n), PCC_OK);
    if (m != NULL) {
        CHECK(!pcc_bhttp_msg_is_request(m));
        CHECK(pcc_bhttp_msg_framing(m) == PCC_BHTTP_INDETERMINATE_RESPONSE);
        CHECK(pcc_bhttp_msg_status(m) == 200);
        CHECK(pcc_bhttp_msg_informational_count(m) == 2);
        CHECK(pcc_bhttp_msg_informational_status(m, 0) == 102);
        CHECK(pcc_bhttp_msg_informational_status(m, 1) == 103);
        CHECK(field_is(m, PCC_BHTTP_INFORMATIONAL, 0, 0, "running", "\"sleep 15\""));
        CHECK(field_is(m, PCC_BHTTP_INFORMATIONAL, 1, 1, "link",
                       "</script.js>; rel=preload; as=script"));
        CHECK(pcc_bhttp_msg_field_count(m, PCC_BHTTP_HEADERS, 0) == 8);
        CHECK(field_is(m, PCC_BHTTP_HEADERS, 0, 7, "content-type", "text/plain"));
        pcc_bhttp_msg_content(m, &p, &cl);
        CHECK(is(p, cl, "Hello World! My content includes a trailing CRLF.\r\n"));
        CHECK_ST(pcc_bhttp_msg_encode(m, PCC_BHTTP_INDETERMINATE, 0, out, &w, sizeof out),
                 PCC_OK);
        CHECK(w == n && memcmp(out, buf, n) == 0);
        pcc_bhttp_msg_free(m);
        m = NULL;
    }

    n = unhex(buf, sizeof buf, RESP_KNOWN);
    CHECK_ST(pcc_bhttp_decode(&m, buf, n), PCC_OK);
    if (m != NULL) {
        CHECK(pcc_bhttp_msg_status(m) == 200 && pcc_bhttp_msg_informational_count(m) == 0);
        pcc_bhttp_msg_content(m, &p, &cl);
        CHECK(is(p, cl, "This content contains CRLF.\r\n"));
        CHECK(pcc_bhttp_msg_field_count(m, PCC_BHTTP_TRAILERS, 0) == 1);
        CHECK(field_is(m, PCC_BHTTP_TRAILERS, 0, 0, "trailer", "text"));
        CHECK_ST(pcc_bhttp_msg_encode(m, 0, 0, out, &w, sizeof out), PCC_OK);
        CHECK(w == n && memcmp(out, buf, n) == 0);
        pcc_bhttp_msg_free(m);
    }
}

/* A request built through the API decodes back to the same message in both framings. */
static void test_build(void)
{
    pcc_bhttp_msg *m = NULL, *back = NULL;
    const uint8_t *p;
    size_t w = 0, n;
    CHECK_ST(pcc_bhttp_request_new(&m, (const uint8_t *)"POST", 4, (const uint8_t *)"https", 5,
                                   (const uint8_t *)"pcc.example", 11, (const uint8_t *)"/v1/x", 5),
             PCC_OK);
    if (m == NULL)
        return;
    CHECK_ST(pcc_bhttp_msg_add_field(m, PCC_BHTTP_HEADERS, 0, (const uint8_t *)"content-type", 12,
                                     (const uint8_t *)"application/json", 16),
             PCC_OK);
    CHECK_ST(pcc_bhttp_msg_add_field(m, PCC_BHTTP_HEADERS, 0, (const uint8_t *)"Upper", 5,
                                     (const uint8_t *)"x", 1),
             PCC_E_INVALID);
    CHECK_ST(pcc_bhttp_msg_add_field(m, PCC_BHTTP_HEADERS, 0, (const uint8_t *)"x-a", 3,
                                     (const uint8_t *)"a\r\nb", 4),
             PCC_E_INVALID);
    CHECK_ST(pcc_bhttp_msg_set_content(m, (const uint8_t *)"{\"prompt\":\"hi\"}", 15), PCC_OK);
    CHECK_ST(pcc_bhttp_msg_add_informational(m, 103), PCC_E_INVALID); /* not a response */
    for (unsigned flags = 0; flags < 4; flags++) {
        CHECK_ST(pcc_bhttp_msg_encode(m, flags, 3, out, &w, sizeof out), PCC_OK);
        CHECK_ST(pcc_bhttp_decode(&back, out, w), PCC_OK);
        if (back == NULL)
            continue;
        pcc_bhttp_msg_control(back, 0, &p, &n);
        CHECK(is(p, n, "POST"));
        pcc_bhttp_msg_control(back, 2, &p, &n);
        CHECK(is(p, n, "pcc.example"));
        CHECK(field_is(back, PCC_BHTTP_HEADERS, 0, 0, "content-type", "application/json"));
        pcc_bhttp_msg_content(back, &p, &n);
        CHECK(is(p, n, "{\"prompt\":\"hi\"}"));
        pcc_bhttp_msg_free(back);
        back = NULL;
    }
    pcc_bhttp_msg_free(m);
    CHECK_ST(pcc_bhttp_request_new(&m, (const uint8_t *)"G T", 3, NULL, 0, NULL, 0, NULL, 0),
             PCC_E_INVALID);
    CHECK(m == NULL);
}

/* Malformed inputs, one per way: unknown framing, a field length past the end, an upper-case
 * name, a final status out of range. */
static void test_malformed(void)
{
    static const char *const bad[] = {
        "04",                                      /* framing indicator 4 */
        "0003474554",                              /* scheme length missing */
        "00034745540568747470730000000a00",        /* section length 10, 1 byte left */
        "0003474554000000" "04" "01" "41" "01" "62", /* header name "A" */
        "0140630000",                              /* final status 99 */
        "01c0000000000000c8",                      /* 8-byte varint status 200: accepted */
    };
    static const pcc_status want[] = {PCC_E_FORMAT, PCC_E_FORMAT, PCC_E_FORMAT,
                                      PCC_E_FORMAT, PCC_E_FORMAT, PCC_OK};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pcc_bhttp_msg *m = NULL;
        size_t n = unhex(buf, sizeof buf, bad[i]);
        CHECK_ST(pcc_bhttp_decode(&m, buf, n), want[i]);
        CHECK((m != NULL) == (want[i] == PCC_OK));
        pcc_bhttp_msg_free(m);
    }
}

int main(void)
{
    test_request_examples();
    test_response_examples();
    test_build();
    test_malformed();
    return ctest_done("bhttp");
}
