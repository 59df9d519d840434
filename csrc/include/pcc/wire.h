/* pcc/wire.h: the project's msgpack messages (attestation bundles, enclave and host messages) on
 * msgpack-c: a strict decoder, a canonical encoder and 4-byte big-endian length framing.
 *
 * The decoder treats input as hostile. Before msgpack-c builds any object, one bounded pass over
 * the bytes checks that every count fits in the bytes that remain (so a 5-byte header cannot make
 * the unpacker allocate gigabytes), the nesting depth, the size of every string, binary, array
 * and map, the total number of values, that strings are valid UTF-8, that map keys are strings,
 * that no extension type (or the never-used byte 0xc1) appears and that nothing follows the one
 * top-level value. After unpacking, every map is checked for duplicate keys. Optionally
 * (PCC_WIRE_MINIMAL) every integer and length must use its shortest encoding, so one logical
 * value has exactly one byte string. Any failure is PCC_E_FORMAT (PCC_E_LIMIT for a document
 * over a limit, PCC_E_NOMEM when out of memory).
 *
 * The encoder writes shortest forms into a pcc_writer (so secret messages can be built in secure
 * memory) and can re-encode a decoded value with map keys sorted by their UTF-8 bytes. */
#ifndef PCC_WIRE_H
#define PCC_WIRE_H

#include <stdbool.h>

#include <msgpack.h>

#include "pcc/buf.h"
#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_WIRE_MAX_DEPTH 32           /* hard cap on nesting whatever the limits say */
#define PCC_WIRE_FRAME_HEADER 4         /* bytes of the big-endian length before a frame */
#define PCC_WIRE_FRAME_MAX 0x7fffffffu  /* largest length a frame header may carry */

/* Decoder flags. */
#define PCC_WIRE_MINIMAL 0x1u     /* integers and lengths in their shortest encoding */
#define PCC_WIRE_NO_FLOAT 0x2u    /* refuse float32/float64 */
#define PCC_WIRE_NO_NEGATIVE 0x4u /* refuse negative integers */

/* Limits for one decode. A field of 0 means "none allowed" (max_depth 0 allows only a scalar). */
typedef struct pcc_wire_limits {
    size_t max_depth; /* nesting of arrays and maps; the top-level map counts as 1 */
    size_t max_items; /* values in the whole document, keys included */
    size_t max_str;   /* bytes in one str */
    size_t max_bin;   /* bytes in one bin */
    size_t max_array; /* elements in one array */
    size_t max_map;   /* pairs in one map (duplicate detection is quadratic: keep it small) */
    unsigned flags;   /* PCC_WIRE_* */
} pcc_wire_limits;

/* A decoded document: msgpack-c objects in a zone, pointing into a private copy of the input. */
typedef struct pcc_wire_doc pcc_wire_doc;

/* pcc_wire_check runs the bounded pass alone (no allocation): PCC_OK when data is exactly one
 * msgpack value within lim (see the file comment). Duplicate keys are found only by decode. */
PCC_API pcc_status pcc_wire_check(const uint8_t *data, size_t len,
                                  const pcc_wire_limits *lim) PCC_WUR;

/* pcc_wire_decode checks data (pcc_wire_check, then duplicate keys) and unpacks it. On PCC_OK
 * *out owns a copy of the input; free it with pcc_wire_doc_free. */
PCC_API pcc_status pcc_wire_decode(pcc_wire_doc **out, const uint8_t *data, size_t len,
                                   const pcc_wire_limits *lim) PCC_WUR;

/* pcc_wire_doc_root returns the top-level value, valid until the document is freed. */
PCC_API const msgpack_object *pcc_wire_doc_root(const pcc_wire_doc *d);

/* pcc_wire_doc_free releases a document. Accepts NULL. */
PCC_API void pcc_wire_doc_free(pcc_wire_doc *d);

/* pcc_wire_utf8_valid returns 1 if s[0..len) is strict UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF), as the decoder requires of every str; else 0. */
PCC_API int pcc_wire_utf8_valid(const char *s, size_t len);

/* ---- reading decoded values (each returns PCC_E_FORMAT on a wrong type or size) --------- */

/* pcc_wire_map_get returns the value of key (a NUL-terminated string) in map, or NULL when map
 * is not a map or has no such key. */
PCC_API const msgpack_object *pcc_wire_map_get(const msgpack_object *map, const char *key);

/* pcc_wire_map_keys checks that map is a map whose keys are exactly the n_req required names
 * plus any of the n_opt optional ones, and nothing else. */
PCC_API pcc_status pcc_wire_map_keys(const msgpack_object *map, const char *const *required,
                                     size_t n_req, const char *const *optional,
                                     size_t n_opt) PCC_WUR;

/* pcc_wire_get_uint reads a non-negative integer of at most max. */
PCC_API pcc_status pcc_wire_get_uint(const msgpack_object *o, uint64_t max, uint64_t *out) PCC_WUR;

/* pcc_wire_get_bool reads a boolean. */
PCC_API pcc_status pcc_wire_get_bool(const msgpack_object *o, bool *out) PCC_WUR;

/* pcc_wire_get_str reads a str of min..max bytes; *p points into the document (not NUL-ended). */
PCC_API pcc_status pcc_wire_get_str(const msgpack_object *o, size_t min, size_t max,
                                    const char **p, size_t *len) PCC_WUR;

/* pcc_wire_get_bin reads a bin of min..max bytes; *p points into the document. */
PCC_API pcc_status pcc_wire_get_bin(const msgpack_object *o, size_t min, size_t max,
                                    const uint8_t **p, size_t *len) PCC_WUR;

/* pcc_wire_get_array reads an array of min..max elements. */
PCC_API pcc_status pcc_wire_get_array(const msgpack_object *o, size_t min, size_t max,
                                      const msgpack_object **items, size_t *n) PCC_WUR;

/* ---- encoding (shortest forms, appended to w) ------------------------------------------- */

PCC_API pcc_status pcc_wire_put_nil(pcc_writer *w) PCC_WUR;
PCC_API pcc_status pcc_wire_put_bool(pcc_writer *w, bool v) PCC_WUR;
PCC_API pcc_status pcc_wire_put_uint(pcc_writer *w, uint64_t v) PCC_WUR;
PCC_API pcc_status pcc_wire_put_int(pcc_writer *w, int64_t v) PCC_WUR;
PCC_API pcc_status pcc_wire_put_double(pcc_writer *w, double v) PCC_WUR; /* float64 */
/* pcc_wire_put_str writes a str header and s[0..len); it does not check UTF-8. */
PCC_API pcc_status pcc_wire_put_str(pcc_writer *w, const char *s, size_t len) PCC_WUR;
/* pcc_wire_put_cstr writes a NUL-terminated string as str. */
PCC_API pcc_status pcc_wire_put_cstr(pcc_writer *w, const char *s) PCC_WUR;
PCC_API pcc_status pcc_wire_put_bin(pcc_writer *w, const uint8_t *p, size_t len) PCC_WUR;
/* pcc_wire_put_array / _map write a header for n elements / n pairs (the caller writes them). */
PCC_API pcc_status pcc_wire_put_array(pcc_writer *w, size_t n) PCC_WUR;
PCC_API pcc_status pcc_wire_put_map(pcc_writer *w, size_t n) PCC_WUR;

/* pcc_wire_put_object encodes a decoded value in shortest forms; with sort_keys every map's pairs
 * are written in the order of their str keys' bytes (shorter first on a common prefix), which is
 * the canonical form hashed for measurements. PCC_E_FORMAT for a value the decoder would refuse
 * (ext) or a sorted map with a non-str key. */
PCC_API pcc_status pcc_wire_put_object(pcc_writer *w, const msgpack_object *o,
                                       bool sort_keys) PCC_WUR;

/* pcc_wire_canonicalize decodes data under lim and appends its canonical encoding (shortest
 * forms, sorted keys) to w. */
PCC_API pcc_status pcc_wire_canonicalize(pcc_writer *w, const uint8_t *data, size_t len,
                                         const pcc_wire_limits *lim) PCC_WUR;

/* ---- framing ------------------------------------------------------------------------------ */

/* pcc_wire_frame_put appends the 4-byte big-endian length of msg and msg to w (PCC_E_LIMIT when
 * len > PCC_WIRE_FRAME_MAX). */
PCC_API pcc_status pcc_wire_frame_put(pcc_writer *w, const uint8_t *msg, size_t len) PCC_WUR;

/* pcc_wire_frame_length reads a frame header and sets *len; PCC_E_LIMIT when the length exceeds
 * max (the receiver's limit for one message), PCC_E_FORMAT when it is zero. */
PCC_API pcc_status pcc_wire_frame_length(const uint8_t hdr[PCC_WIRE_FRAME_HEADER], size_t max,
                                         size_t *len) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
