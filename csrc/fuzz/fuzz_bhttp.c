/* fuzz_bhttp.c: libFuzzer harness for the Binary HTTP (RFC 9292) decoder and encoder.
 *
 * Every input is decoded (request or response, either framing). What decodes is re-encoded in
 * all four flag combinations (known/indeterminate length, truncated or not) with a little
 * padding; each encoding must have the length pcc_bhttp_msg_encoded_len announced and must
 * decode back to the same message: control data, statuses, informational responses, every field
 * line, content. Any difference traps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcc/bhttp.h"

#define REQUIRE(c)                 \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

static int same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void same_section(const pcc_bhttp_msg *a, const pcc_bhttp_msg *b, pcc_bhttp_section s,
                         size_t info)
{
    size_t n = pcc_bhttp_msg_field_count(a, s, info);
    REQUIRE(n == pcc_bhttp_msg_field_count(b, s, info));
    for (size_t i = 0; i < n; i++) {
        const uint8_t *an, *av, *bn, *bv;
        size_t anl, avl, bnl, bvl;
        REQUIRE(pcc_bhttp_msg_field(a, s, info, i, &an, &anl, &av, &avl) == PCC_OK);
        REQUIRE(pcc_bhttp_msg_field(b, s, info, i, &bn, &bnl, &bv, &bvl) == PCC_OK);
        REQUIRE(same_bytes(an, anl, bn, bnl) && same_bytes(av, avl, bv, bvl));
        REQUIRE(anl > 0); /* a field line always has a name */
    }
    const uint8_t *x, *y;
    size_t xl, yl;
    REQUIRE(pcc_bhttp_msg_field(a, s, info, n, &x, &xl, &y, &yl) == PCC_E_INVALID);
}

static void same_message(const pcc_bhttp_msg *a, const pcc_bhttp_msg *b)
{
    const uint8_t *p, *q;
    size_t pl, ql;
    REQUIRE(pcc_bhttp_msg_is_request(a) == pcc_bhttp_msg_is_request(b));
    for (unsigned i = 0; i < 5; i++) { /* index 4: empty for any message */
        pcc_bhttp_msg_control(a, i, &p, &pl);
        pcc_bhttp_msg_control(b, i, &q, &ql);
        REQUIRE(same_bytes(p, pl, q, ql));
    }
    REQUIRE(pcc_bhttp_msg_status(a) == pcc_bhttp_msg_status(b));
    size_t ni = pcc_bhttp_msg_informational_count(a);
    REQUIRE(ni == pcc_bhttp_msg_informational_count(b) && ni <= PCC_BHTTP_MAX_INFORMATIONAL);
    for (size_t i = 0; i < ni; i++) {
        uint16_t s = pcc_bhttp_msg_informational_status(a, i);
        REQUIRE(s >= 100 && s <= 199 && s == pcc_bhttp_msg_informational_status(b, i));
        same_section(a, b, PCC_BHTTP_INFORMATIONAL, i);
    }
    same_section(a, b, PCC_BHTTP_HEADERS, 0);
    same_section(a, b, PCC_BHTTP_TRAILERS, 0);
    pcc_bhttp_msg_content(a, &p, &pl);
    pcc_bhttp_msg_content(b, &q, &ql);
    REQUIRE(same_bytes(p, pl, q, ql));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pcc_bhttp_msg *m = NULL;
    pcc_status st = pcc_bhttp_decode(&m, data, size);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_LIMIT);
    REQUIRE((st == PCC_OK) == (m != NULL));
    if (m == NULL)
        return 0;
    REQUIRE(pcc_bhttp_msg_framing(m) <= 3);
    if (!pcc_bhttp_msg_is_request(m)) {
        uint16_t s = pcc_bhttp_msg_status(m);
        REQUIRE(s >= 200 && s <= 599);
    }
    for (unsigned flags = 0; flags < 4; flags++) {
        size_t padding = flags, len = 0, wrote = 0;
        if (pcc_bhttp_msg_encoded_len(m, flags, padding, &len) != PCC_OK)
            continue; /* over the message limit */
        uint8_t *out = malloc(len ? len : 1);
        REQUIRE(out != NULL);
        REQUIRE(pcc_bhttp_msg_encode(m, flags, padding, out, &wrote, len) == PCC_OK);
        REQUIRE(wrote == len);
        if (len > 0)
            REQUIRE(pcc_bhttp_msg_encode(m, flags, padding, out, &wrote, len - 1) == PCC_E_LIMIT);
        REQUIRE(pcc_bhttp_msg_encode(m, flags, padding, out, &wrote, len) == PCC_OK);
        pcc_bhttp_msg *back = NULL;
        REQUIRE(pcc_bhttp_decode(&back, out, len) == PCC_OK);
        unsigned want = (pcc_bhttp_msg_is_request(m) ? 0u : 1u) +
                        ((flags & PCC_BHTTP_INDETERMINATE) ? 2u : 0u);
        REQUIRE(pcc_bhttp_msg_framing(back) == want);
        same_message(m, back);
        pcc_bhttp_msg_free(back);
        free(out);
    }
    pcc_bhttp_msg_free(m);
    return 0;
}
