/* pcc/bhttp.h: Binary Representation of HTTP Messages, RFC 9292 (message/bhttp).
 *
 * Requests and responses in known-length and indeterminate-length framing, informational (1xx)
 * responses, trailers, zero padding and the truncation of RFC 9292 §3.8. A decoded message owns a
 * copy of everything it returns (wiped when freed); accessors return pointers into it that stay
 * valid until pcc_bhttp_msg_free. Field names are lower-case tokens (RFC 9110 §5.1), values carry
 * no NUL, CR or LF; control data follows the HTTP/2 pseudo-header rules (method a token, scheme
 * per RFC 3986, authority and path visible ASCII). Hostile input returns PCC_E_FORMAT, input past
 * a limit below PCC_E_LIMIT. */
#ifndef PCC_BHTTP_H
#define PCC_BHTTP_H

#include <stdbool.h>
#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Framing indicators (RFC 9292 §3.3). */
#define PCC_BHTTP_KNOWN_REQUEST 0
#define PCC_BHTTP_KNOWN_RESPONSE 1
#define PCC_BHTTP_INDETERMINATE_REQUEST 2
#define PCC_BHTTP_INDETERMINATE_RESPONSE 3

/* Limits, enforced by the decoder and the encoder alike (PCC_E_LIMIT). */
#define PCC_BHTTP_MAX_MESSAGE (64u << 20)      /* encoded message, padding included */
#define PCC_BHTTP_MAX_CONTROL 8192u            /* each of method, scheme, authority, path */
#define PCC_BHTTP_MAX_FIELDS 1024u             /* field lines in one field section */
#define PCC_BHTTP_MAX_FIELD_SECTION (1u << 20) /* bytes of names and values in one section */
#define PCC_BHTTP_MAX_INFORMATIONAL 32u        /* informational responses before the final one */

/* Flags for pcc_bhttp_msg_encode. */
#define PCC_BHTTP_INDETERMINATE 0x1u /* indeterminate-length framing (default known-length) */
#define PCC_BHTTP_TRUNCATE 0x2u      /* omit trailing empty sections (RFC 9292 §3.8) */

/* Which field section of a message: the i-th informational response's, the header or the
 * trailer section. */
typedef enum pcc_bhttp_section {
    PCC_BHTTP_INFORMATIONAL = 0,
    PCC_BHTTP_HEADERS = 1,
    PCC_BHTTP_TRAILERS = 2
} pcc_bhttp_section;

/* A request or response (opaque). */
typedef struct pcc_bhttp_msg pcc_bhttp_msg;

/* pcc_bhttp_request_new makes a request with the given control data and no fields or content.
 * PCC_E_INVALID if an item is malformed, PCC_E_LIMIT if one is longer than
 * PCC_BHTTP_MAX_CONTROL. Caller frees with pcc_bhttp_msg_free. */
PCC_API pcc_status pcc_bhttp_request_new(pcc_bhttp_msg **out, const uint8_t *method,
                                         size_t method_len, const uint8_t *scheme,
                                         size_t scheme_len, const uint8_t *authority,
                                         size_t authority_len, const uint8_t *path,
                                         size_t path_len) PCC_WUR;

/* pcc_bhttp_response_new makes a response with final status 200..599 (else PCC_E_INVALID). */
PCC_API pcc_status pcc_bhttp_response_new(pcc_bhttp_msg **out, uint16_t status) PCC_WUR;

/* pcc_bhttp_msg_add_informational appends an informational response with status 100..199 to a
 * response (PCC_E_INVALID otherwise, or for a request); its fields are then added with section
 * PCC_BHTTP_INFORMATIONAL and its index. PCC_E_LIMIT past PCC_BHTTP_MAX_INFORMATIONAL. */
PCC_API pcc_status pcc_bhttp_msg_add_informational(pcc_bhttp_msg *m, uint16_t status) PCC_WUR;

/* pcc_bhttp_msg_add_field appends a field line to a section (info_index selects the
 * informational response and is ignored for the others). PCC_E_INVALID for a name that is not a
 * lower-case token or a value with NUL, CR or LF; PCC_E_LIMIT past the section limits. */
PCC_API pcc_status pcc_bhttp_msg_add_field(pcc_bhttp_msg *m, pcc_bhttp_section section,
                                           size_t info_index, const uint8_t *name,
                                           size_t name_len, const uint8_t *value,
                                           size_t value_len) PCC_WUR;

/* pcc_bhttp_msg_set_content replaces the content (copied). */
PCC_API pcc_status pcc_bhttp_msg_set_content(pcc_bhttp_msg *m, const uint8_t *content,
                                             size_t content_len) PCC_WUR;

/* pcc_bhttp_msg_encoded_len gives the length pcc_bhttp_msg_encode will write with these flags
 * and padding bytes (PCC_E_LIMIT past PCC_BHTTP_MAX_MESSAGE). */
PCC_API pcc_status pcc_bhttp_msg_encoded_len(const pcc_bhttp_msg *m, unsigned flags,
                                             size_t padding, size_t *out_len) PCC_WUR;

/* pcc_bhttp_msg_encode writes the message (flags PCC_BHTTP_*) followed by padding zero bytes.
 * Field section lengths, statuses and chunk lengths are minimal varints; indeterminate-length
 * content is one chunk. PCC_E_LIMIT if max_out is too small. */
PCC_API pcc_status pcc_bhttp_msg_encode(const pcc_bhttp_msg *m, unsigned flags, size_t padding,
                                        uint8_t *out, size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_bhttp_decode parses one message of either kind and framing, accepting the truncations of
 * RFC 9292 §3.8 (missing sections are empty) and trailing zero padding. PCC_E_FORMAT for
 * malformed input (unknown framing, bad varint, truncation elsewhere, invalid name, value or
 * status, non-zero padding), PCC_E_LIMIT past a limit. Caller frees with pcc_bhttp_msg_free. */
PCC_API pcc_status pcc_bhttp_decode(pcc_bhttp_msg **out, const uint8_t *data, size_t len) PCC_WUR;

/* pcc_bhttp_msg_is_request returns true for a request, false for a response. */
PCC_API bool pcc_bhttp_msg_is_request(const pcc_bhttp_msg *m);

/* pcc_bhttp_msg_framing returns the framing indicator a decoded message carried (or the
 * known-length one for a built message). */
PCC_API unsigned pcc_bhttp_msg_framing(const pcc_bhttp_msg *m);

/* pcc_bhttp_msg_control gives a request's method (0), scheme (1), authority (2) or path (3);
 * empty for a response or another index. */
PCC_API void pcc_bhttp_msg_control(const pcc_bhttp_msg *m, unsigned which, const uint8_t **p,
                                   size_t *len);

/* pcc_bhttp_msg_status returns a response's final status (0 for a request). */
PCC_API uint16_t pcc_bhttp_msg_status(const pcc_bhttp_msg *m);

/* pcc_bhttp_msg_informational_count returns the number of informational responses. */
PCC_API size_t pcc_bhttp_msg_informational_count(const pcc_bhttp_msg *m);

/* pcc_bhttp_msg_informational_status returns the status of informational response i (0 if
 * i is out of range). */
PCC_API uint16_t pcc_bhttp_msg_informational_status(const pcc_bhttp_msg *m, size_t i);

/* pcc_bhttp_msg_field_count returns the number of field lines in a section (0 if absent). */
PCC_API size_t pcc_bhttp_msg_field_count(const pcc_bhttp_msg *m, pcc_bhttp_section section,
                                         size_t info_index);

/* pcc_bhttp_msg_field gives field line i of a section (PCC_E_INVALID if out of range). */
PCC_API pcc_status pcc_bhttp_msg_field(const pcc_bhttp_msg *m, pcc_bhttp_section section,
                                       size_t info_index, size_t i, const uint8_t **name,
                                       size_t *name_len, const uint8_t **value,
                                       size_t *value_len) PCC_WUR;

/* pcc_bhttp_msg_content gives the content (chunks of indeterminate-length content joined). */
PCC_API void pcc_bhttp_msg_content(const pcc_bhttp_msg *m, const uint8_t **p, size_t *len);

/* pcc_bhttp_msg_free wipes and frees a message. Accepts NULL. */
PCC_API void pcc_bhttp_msg_free(pcc_bhttp_msg *m);


/* ---- incremental decoding of an indeterminate-length response ----
 *
 * A response that arrives in pieces (a chunked OHTTP response): the head (informational
 * responses, final status, header section) is reported once whole, content as it arrives, then
 * the trailers. Only indeterminate-length framing (3) is taken (PCC_E_FORMAT otherwise). The head
 * and trailers are validated and limited exactly as pcc_bhttp_decode does for a whole message;
 * content is not limited here (the caller bounds what it accepts). */

typedef struct pcc_bhttp_stream pcc_bhttp_stream;

/* Events of pcc_bhttp_stream_feed. */
#define PCC_BHTTP_EV_NONE 0     /* input used up */
#define PCC_BHTTP_EV_HEAD 1     /* the head is whole: pcc_bhttp_stream_head */
#define PCC_BHTTP_EV_CONTENT 2  /* *content, *content_len: content bytes (pointing into in) */
#define PCC_BHTTP_EV_TRAILERS 3 /* the trailers are whole: pcc_bhttp_stream_trailers */

/* pcc_bhttp_stream_new makes a decoder. Caller frees with pcc_bhttp_stream_free. */
PCC_API pcc_status pcc_bhttp_stream_new(pcc_bhttp_stream **out) PCC_WUR;

/* pcc_bhttp_stream_feed consumes in up to and including the next event and returns it in
 * *event (PCC_BHTTP_EV_NONE when in is used up); call again with the rest of the input. Errors
 * (PCC_E_FORMAT, PCC_E_LIMIT) are final: later calls return PCC_E_STATE, as after the end. */
PCC_API pcc_status pcc_bhttp_stream_feed(pcc_bhttp_stream *s, const uint8_t *in, size_t in_len,
                                         size_t *in_used, unsigned *event,
                                         const uint8_t **content, size_t *content_len) PCC_WUR;

/* pcc_bhttp_stream_finish ends the stream: PCC_OK for a whole message or one cut where RFC 9292
 * §3.8 allows (after the final status, the header section, or the content; *head_now is true
 * when the head only became whole now), PCC_E_FORMAT for a message cut anywhere else. */
PCC_API pcc_status pcc_bhttp_stream_finish(pcc_bhttp_stream *s, bool *head_now) PCC_WUR;

/* pcc_bhttp_stream_head gives the head as a response without content or trailers once it is
 * whole (NULL before); pcc_bhttp_stream_trailers gives a response whose trailer section holds the
 * trailers (NULL before). Both belong to the decoder. */
PCC_API const pcc_bhttp_msg *pcc_bhttp_stream_head(const pcc_bhttp_stream *s);
PCC_API const pcc_bhttp_msg *pcc_bhttp_stream_trailers(const pcc_bhttp_stream *s);

/* pcc_bhttp_stream_done returns true once pcc_bhttp_stream_finish has succeeded. */
PCC_API bool pcc_bhttp_stream_done(const pcc_bhttp_stream *s);

/* pcc_bhttp_stream_free wipes and frees. Accepts NULL. */
PCC_API void pcc_bhttp_stream_free(pcc_bhttp_stream *s);

#ifdef __cplusplus
}
#endif
#endif
