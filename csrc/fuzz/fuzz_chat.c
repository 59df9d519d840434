/* fuzz_chat.c: libFuzzer harness for the node's plaintext parsers and the answer reader.
 *
 * Every input goes through:
 *   - the request payload parser: what parses encodes again (pcc_chat_request_encode) into a
 *     payload that parses to the same messages and parameters;
 *   - the answer chunk decoder, as a streaming and as a final chunk: decoded text encodes again
 *     and decodes to the same text;
 *   - the answer reader with a fixed DK and node id, fed the input in pieces whose sizes come
 *     from the input's first byte: it must never accept more than it was given, and it opens
 *     nothing here (no valid tag can be forged), so it must end failed or truncated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcc/buf.h"
#include "pcc/chat.h"
#include "pcc/request.h"

#define REQUIRE(c)                 \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

static void payload_round_trip(const uint8_t *data, size_t size)
{
    pcc_chat_request *r = NULL, *r2 = NULL;
    if (pcc_chat_request_parse(&r, data, size) != PCC_OK) {
        REQUIRE(r == NULL);
        return;
    }
    size_t n = pcc_chat_request_count(r);
    pcc_chat_message *msgs = calloc(n, sizeof *msgs);
    pcc_chat_params p, p2;
    REQUIRE(msgs != NULL && pcc_chat_request_params(r, &p) == PCC_OK);
    for (size_t i = 0; i < n; i++)
        REQUIRE(pcc_chat_request_message(r, i, &msgs[i]) == PCC_OK);
    pcc_writer w;
    pcc_writer_init_dynamic(&w, true, 1u << 22);
    REQUIRE(pcc_chat_request_encode(&w, msgs, n, &p) == PCC_OK);
    REQUIRE(pcc_chat_request_parse(&r2, w.data, w.len) == PCC_OK);
    REQUIRE(pcc_chat_request_count(r2) == n && pcc_chat_request_params(r2, &p2) == PCC_OK);
    REQUIRE(p2.max_tokens == p.max_tokens && p2.top_k == p.top_k && p2.has_seed == p.has_seed &&
            p2.seed == p.seed && p2.temperature == p.temperature && p2.top_p == p.top_p);
    for (size_t i = 0; i < n; i++) {
        pcc_chat_message m2;
        REQUIRE(pcc_chat_request_message(r2, i, &m2) == PCC_OK);
        REQUIRE(m2.role_len == msgs[i].role_len && m2.content_len == msgs[i].content_len &&
                memcmp(m2.role, msgs[i].role, m2.role_len) == 0 &&
                memcmp(m2.content, msgs[i].content, m2.content_len) == 0);
    }
    pcc_writer_cleanup(&w);
    free(msgs);
    pcc_chat_request_free(r2);
    pcc_chat_request_free(r);
}

static void answer_chunk(const uint8_t *data, size_t size, int final)
{
    pcc_answer_event ev, ev2;
    if (pcc_answer_decode(&ev, data, size, final) != PCC_OK)
        return;
    REQUIRE(final ? ev.kind != PCC_ANSWER_TEXT : ev.kind == PCC_ANSWER_TEXT);
    if (ev.kind != PCC_ANSWER_TEXT)
        return;
    pcc_writer w;
    pcc_writer_init_dynamic(&w, true, 1u << 22);
    REQUIRE(pcc_answer_encode_text(&w, ev.text, ev.text_len) == PCC_OK);
    REQUIRE(pcc_answer_decode(&ev2, w.data, w.len, 0) == PCC_OK);
    REQUIRE(ev2.text_len == ev.text_len && memcmp(ev2.text, ev.text, ev.text_len) == 0);
    pcc_writer_cleanup(&w);
}

static void answer_stream(const uint8_t *data, size_t size)
{
    static const uint8_t dkraw[PCC_REQUEST_DK_LEN] = {1, 2, 3};
    static const uint8_t node_id[PCC_REQUEST_NODE_ID_LEN] = {9};
    static uint8_t pt[PCC_ANSWER_FINAL_CHUNK_MAX];
    pcc_request_key *dk = NULL;
    pcc_answer_opener *o = NULL;
    if (size == 0)
        return;
    size_t step = (size_t)data[0] * 7 + 1;
    REQUIRE(pcc_request_key_from_bytes(&dk, dkraw, sizeof dkraw) == PCC_OK);
    REQUIRE(pcc_answer_opener_new(&o, dk, node_id, sizeof node_id) == PCC_OK);
    size_t off = 1;
    pcc_status st = PCC_OK;
    while (off < size && st == PCC_OK) {
        size_t len = size - off < step ? size - off : step, used = 0, got = 0;
        int have = 0, final = 0;
        st = pcc_answer_opener_push(o, data + off, len, &used);
        REQUIRE(used <= len);
        off += used;
        if (st == PCC_OK)
            st = pcc_answer_opener_next(o, pt, &got, sizeof pt, &have, &final);
        REQUIRE(!have); /* nothing forged opens */
    }
    REQUIRE(pcc_answer_opener_finish(o) != PCC_OK);
    pcc_answer_opener_free(o);
    pcc_request_key_free(dk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    payload_round_trip(data, size);
    answer_chunk(data, size, 0);
    answer_chunk(data, size, 1);
    answer_stream(data, size);
    return 0;
}
