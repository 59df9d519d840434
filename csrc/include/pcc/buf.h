/* pcc/buf.h: bounded reader and writer used by every parser and encoder. */
#ifndef PCC_BUF_H
#define PCC_BUF_H

#include <stdbool.h>
#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* pcc_reader reads from a borrowed buffer; every read checks the remaining length first and a
 * failed read leaves the position unchanged and returns PCC_E_FORMAT. */
typedef struct pcc_reader {
    const uint8_t *data;
    size_t len;
    size_t off;
} pcc_reader;

/* pcc_reader_init points r at len bytes of data (borrowed, not copied). */
PCC_API void pcc_reader_init(pcc_reader *r, const uint8_t *data, size_t len);
/* pcc_reader_remaining returns the bytes not yet read. */
PCC_API size_t pcc_reader_remaining(const pcc_reader *r);
PCC_API pcc_status pcc_reader_u8(pcc_reader *r, uint8_t *out) PCC_WUR;
PCC_API pcc_status pcc_reader_u16(pcc_reader *r, uint16_t *out) PCC_WUR; /* big-endian */
PCC_API pcc_status pcc_reader_u32(pcc_reader *r, uint32_t *out) PCC_WUR; /* big-endian */
PCC_API pcc_status pcc_reader_u64(pcc_reader *r, uint64_t *out) PCC_WUR; /* big-endian */
/* pcc_reader_u16le/u32le/u64le read little-endian integers (GGUF). */
PCC_API pcc_status pcc_reader_u16le(pcc_reader *r, uint16_t *out) PCC_WUR;
PCC_API pcc_status pcc_reader_u32le(pcc_reader *r, uint32_t *out) PCC_WUR;
PCC_API pcc_status pcc_reader_u64le(pcc_reader *r, uint64_t *out) PCC_WUR;
/* pcc_reader_varint reads a QUIC variable-length integer (RFC 9000 §16), minimal or not. */
PCC_API pcc_status pcc_reader_varint(pcc_reader *r, uint64_t *out) PCC_WUR;
/* pcc_reader_bytes sets *out to the next n bytes (pointing into the buffer) and advances. */
PCC_API pcc_status pcc_reader_bytes(pcc_reader *r, const uint8_t **out, size_t n) PCC_WUR;
/* pcc_reader_copy copies the next n bytes into out and advances. */
PCC_API pcc_status pcc_reader_copy(pcc_reader *r, uint8_t *out, size_t n) PCC_WUR;

/* pcc_writer appends to a buffer. A fixed writer wraps caller memory of cap bytes; a dynamic one
 * grows on the heap (or in secure memory when secure is true, wiping old copies as it grows).
 * Writes past a fixed capacity fail with PCC_E_LIMIT; a growable writer stops at max bytes. */
typedef struct pcc_writer {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
    bool dynamic;
    bool secure;
} pcc_writer;

/* pcc_writer_init_fixed writes into caller memory buf of cap bytes. */
PCC_API void pcc_writer_init_fixed(pcc_writer *w, uint8_t *buf, size_t cap);
/* pcc_writer_init_dynamic starts an empty growable writer limited to max bytes. */
PCC_API void pcc_writer_init_dynamic(pcc_writer *w, bool secure, size_t max);
/* pcc_writer_cleanup wipes and frees a dynamic writer's buffer (no-op for fixed). */
PCC_API void pcc_writer_cleanup(pcc_writer *w);
PCC_API pcc_status pcc_writer_reserve(pcc_writer *w, size_t extra) PCC_WUR;
PCC_API pcc_status pcc_writer_u8(pcc_writer *w, uint8_t v) PCC_WUR;
PCC_API pcc_status pcc_writer_u16(pcc_writer *w, uint16_t v) PCC_WUR;
PCC_API pcc_status pcc_writer_u32(pcc_writer *w, uint32_t v) PCC_WUR;
PCC_API pcc_status pcc_writer_u64(pcc_writer *w, uint64_t v) PCC_WUR;
/* pcc_writer_varint writes v as a minimal QUIC varint; v must be < 2^62. */
PCC_API pcc_status pcc_writer_varint(pcc_writer *w, uint64_t v) PCC_WUR;
PCC_API pcc_status pcc_writer_bytes(pcc_writer *w, const void *p, size_t n) PCC_WUR;
/* pcc_writer_zeros appends n zero bytes (padding). */
PCC_API pcc_status pcc_writer_zeros(pcc_writer *w, size_t n) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
