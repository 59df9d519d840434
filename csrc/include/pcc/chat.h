/* pcc/chat.h: the plaintexts inside a request and its answer (msgpack, on msgpack-c).
 *
 * Request payload: {"messages": [{"role": str, "content": str}, ...],
 *                   "params": {"max_tokens": int, "temperature": float, "top_p": float,
 *                              "top_k": int, "seed": int | nil}}
 * with exactly these keys (all five params present), in any order.
 * Answer chunks: {"text": str} while streaming; the final chunk is {"done": true, "usage":
 * {"prompt_tokens": int, "completion_tokens": int}} or {"error": code}, code one of
 * "bad_request", "too_long", "overloaded", "internal".
 *
 * Parsers are strict (unknown, missing or duplicate keys, wrong types, invalid UTF-8 and
 * trailing bytes are PCC_E_FORMAT) and keep every string in secure memory. */
#ifndef PCC_CHAT_H
#define PCC_CHAT_H

#include "pcc/buf.h"
#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_CHAT_MAX_MESSAGES 1024
#define PCC_CHAT_MAX_ROLE 32          /* bytes of a role name */
#define PCC_CHAT_MAX_TOKENS_LIMIT 0x7fffffffu

/* One message: role and content are UTF-8 (not NUL-terminated) and borrowed from the object
 * that handed them out. */
typedef struct pcc_chat_message {
    const char *role;
    size_t role_len;
    const char *content;
    size_t content_len;
} pcc_chat_message;

/* Sampling parameters. temperature >= 0 and 0 <= top_p <= 1 (both finite); max_tokens >= 1;
 * top_k 0 means no top-k cut; seed is meaningful only when has_seed. */
typedef struct pcc_chat_params {
    uint32_t max_tokens;
    double temperature;
    double top_p;
    uint32_t top_k;
    int has_seed;
    uint64_t seed;
} pcc_chat_params;

/* A parsed request payload (opaque; its strings and message table in secure memory). */
typedef struct pcc_chat_request pcc_chat_request;

/* pcc_chat_request_parse parses a payload (len bytes, only read: the object keeps its own
 * secure copy). Roles must be "system", "user" or "assistant"; 1 .. PCC_CHAT_MAX_MESSAGES
 * messages. PCC_E_FORMAT for anything else. Free with pcc_chat_request_free. */
PCC_API pcc_status pcc_chat_request_parse(pcc_chat_request **out, const uint8_t *payload,
                                          size_t len) PCC_WUR;

/* pcc_chat_request_parse_owned is pcc_chat_request_parse without the copy: it takes payload, a
 * pcc_secure_alloc block holding len bytes (what pcc_request_open returns), and frees it with
 * the request, or at once on failure. */
PCC_API pcc_status pcc_chat_request_parse_owned(pcc_chat_request **out, uint8_t *payload,
                                                size_t len) PCC_WUR;

/* pcc_chat_request_count returns the number of messages (0 for NULL). */
PCC_API size_t pcc_chat_request_count(const pcc_chat_request *r);

/* pcc_chat_request_message gives message i (pointers valid until pcc_chat_request_free). */
PCC_API pcc_status pcc_chat_request_message(const pcc_chat_request *r, size_t i,
                                            pcc_chat_message *out) PCC_WUR;

/* pcc_chat_request_params gives the sampling parameters. */
PCC_API pcc_status pcc_chat_request_params(const pcc_chat_request *r,
                                           pcc_chat_params *out) PCC_WUR;

/* pcc_chat_request_free wipes and frees. Accepts NULL. */
PCC_API void pcc_chat_request_free(pcc_chat_request *r);

/* pcc_chat_request_encode appends the payload for msgs and params to w (give it a secure
 * writer: the payload is the user's prompt). Keys are written in the order shown above, floats as
 * float64, integers in their shortest form. The same checks as the parser apply
 * (PCC_E_INVALID). */
PCC_API pcc_status pcc_chat_request_encode(pcc_writer *w, const pcc_chat_message *msgs,
                                           size_t n, const pcc_chat_params *params) PCC_WUR;

/* ---- answer chunks ---------------------------------------------------------------------- */

typedef enum pcc_answer_kind {
    PCC_ANSWER_TEXT = 1,
    PCC_ANSWER_DONE = 2,
    PCC_ANSWER_ERROR = 3
} pcc_answer_kind;

typedef enum pcc_answer_error {
    PCC_ANSWER_E_BAD_REQUEST = 1,
    PCC_ANSWER_E_TOO_LONG = 2,
    PCC_ANSWER_E_OVERLOADED = 3,
    PCC_ANSWER_E_INTERNAL = 4
} pcc_answer_error;

/* A decoded answer chunk. text points into the plaintext that was decoded. */
typedef struct pcc_answer_event {
    pcc_answer_kind kind;
    const char *text;
    size_t text_len;
    uint64_t prompt_tokens, completion_tokens;
    pcc_answer_error error;
} pcc_answer_event;

/* pcc_answer_error_name returns the wire name of an error code ("too_long"), NULL if unknown. */
PCC_API const char *pcc_answer_error_name(pcc_answer_error code);

/* pcc_answer_encode_text / _done / _error append one answer chunk's plaintext to w. */
PCC_API pcc_status pcc_answer_encode_text(pcc_writer *w, const char *text, size_t len) PCC_WUR;
PCC_API pcc_status pcc_answer_encode_done(pcc_writer *w, uint64_t prompt_tokens,
                                          uint64_t completion_tokens) PCC_WUR;
PCC_API pcc_status pcc_answer_encode_error(pcc_writer *w, pcc_answer_error code) PCC_WUR;

/* Size padding (the same rule as pcc/_padding.py). pcc_answer_bucket is the padded size of an
 * n-byte message: 1, 2, 4, 8, 16, 32 or 64 KiB (the smallest that holds n), then the next
 * multiple of 64 KiB. */
PCC_API size_t pcc_answer_bucket(size_t n);

/* pcc_chat_pad turns the msgpack map encoded in w from offset start (a fixmap of at most 14
 * keys) into the same map plus a "pad" key, a bin of zeros sized so that before + the map's
 * encoding is exactly a bucket; a size msgpack's bin headers cannot hit goes to the next
 * bucket. How a client pads its request payload (before = 0). PCC_E_LIMIT, and w unchanged, if
 * w has no room. */
PCC_API pcc_status pcc_chat_pad(pcc_writer *w, size_t start, size_t before) PCC_WUR;

/* pcc_answer_pad turns the final chunk's map encoded in w from offset start (a done or error
 * map, as _encode_done / _encode_error wrote it) into the same map plus a "pad" key, a bin of
 * zeros sized so that before + 4 + the chunk + 16 (the frame's length and tag) is exactly a
 * bucket: before counts the answer stream's bytes ahead of this frame (rnonce and every earlier
 * frame). A size msgpack's bin headers cannot hit goes to the next bucket. PCC_E_LIMIT if w has
 * no room. Readers check the pad is all zeros and ignore it. */
PCC_API pcc_status pcc_answer_pad(pcc_writer *w, size_t start, size_t before) PCC_WUR;

/* pcc_answer_decode decodes one chunk's plaintext (pt, len). final says whether it came in the
 * final frame: the final chunk must be done or error (either may carry a "pad" of zeros, which
 * is ignored), every other one text (PCC_E_FORMAT otherwise). ev->text borrows pt. */
PCC_API pcc_status pcc_answer_decode(pcc_answer_event *ev, const uint8_t *pt, size_t len,
                                     int final) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
