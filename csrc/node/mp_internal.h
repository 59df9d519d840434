/* mp_internal.h: msgpack-c helpers for hostile input, shared by csrc/node (not installed). */
#ifndef PCC_NODE_MP_INTERNAL_H
#define PCC_NODE_MP_INTERNAL_H

#include <msgpack.h>

#include "pcc/buf.h"
#include "pcc/common.h"

/* pcc_mp_decode pre-scans data (exactly one object, no trailing bytes, counts within the bytes
 * left, nesting at most 8) and decodes it into u (strings point into data). PCC_E_FORMAT. */
pcc_status pcc_mp_decode(msgpack_unpacked *u, const uint8_t *data, size_t len) PCC_WUR;

/* pcc_mp_release wipes the decoded tree (when decoded) and frees u's zone. */
void pcc_mp_release(msgpack_unpacked *u, int decoded);

/* pcc_mp_str_is is 1 when o is the string s. */
int pcc_mp_str_is(const msgpack_object *o, const char *s);

/* pcc_mp_map_fields matches the keys of map o against names exactly (each once, nothing else)
 * and sets vals[i] to the value of names[i]; PCC_E_FORMAT otherwise. */
pcc_status pcc_mp_map_fields(const msgpack_object *o, const char *const *names, size_t n,
                             const msgpack_object **vals) PCC_WUR;

/* pcc_mp_map_fields_pad is pcc_mp_map_fields with one more key allowed: "pad", a bin of zero
 * bytes (size padding, pcc/_padding.py), checked and then ignored. PCC_E_FORMAT for a "pad" that
 * is not a bin or holds a nonzero byte. */
pcc_status pcc_mp_map_fields_pad(const msgpack_object *o, const char *const *names, size_t n,
                                 const msgpack_object **vals) PCC_WUR;

/* pcc_mp_utf8_ok is 1 for well-formed UTF-8; pcc_mp_text_ok for a str object holding it. */
int pcc_mp_utf8_ok(const uint8_t *s, size_t n);
int pcc_mp_text_ok(const msgpack_object *o);

/* pcc_mp_sink lets a msgpack_packer append to a pcc_writer: the packer's callback is
 * pcc_mp_sink_write, its data a pcc_mp_sink; the first failed append is kept in st and every
 * later one is refused. */
typedef struct {
    pcc_writer *w;
    pcc_status st;
} pcc_mp_sink;

int pcc_mp_sink_write(void *data, const char *buf, size_t len);

#endif
