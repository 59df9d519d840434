/* buf.c: bounded reader and writer. */
#include "pcc/buf.h"

#include <stdlib.h>
#include <string.h>

#include "pcc/secure.h"

void pcc_reader_init(pcc_reader *r, const uint8_t *data, size_t len)
{
    r->data = data;
    r->len = data ? len : 0;
    r->off = 0;
}

size_t pcc_reader_remaining(const pcc_reader *r) { return r->len - r->off; }

static pcc_status take(pcc_reader *r, size_t n, const uint8_t **p)
{
    if (n > r->len - r->off)
        return PCC_E_FORMAT;
    *p = r->data + r->off;
    r->off += n;
    return PCC_OK;
}

pcc_status pcc_reader_u8(pcc_reader *r, uint8_t *out)
{
    const uint8_t *p;
    if (take(r, 1, &p) != PCC_OK)
        return PCC_E_FORMAT;
    *out = p[0];
    return PCC_OK;
}

static pcc_status read_be(pcc_reader *r, size_t n, uint64_t *out)
{
    const uint8_t *p;
    if (take(r, n, &p) != PCC_OK)
        return PCC_E_FORMAT;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    *out = v;
    return PCC_OK;
}

static pcc_status read_le(pcc_reader *r, size_t n, uint64_t *out)
{
    const uint8_t *p;
    if (take(r, n, &p) != PCC_OK)
        return PCC_E_FORMAT;
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--)
        v = (v << 8) | p[i - 1];
    *out = v;
    return PCC_OK;
}

pcc_status pcc_reader_u16(pcc_reader *r, uint16_t *out)
{
    uint64_t v;
    if (read_be(r, 2, &v) != PCC_OK)
        return PCC_E_FORMAT;
    *out = (uint16_t)v;
    return PCC_OK;
}

pcc_status pcc_reader_u32(pcc_reader *r, uint32_t *out)
{
    uint64_t v;
    if (read_be(r, 4, &v) != PCC_OK)
        return PCC_E_FORMAT;
    *out = (uint32_t)v;
    return PCC_OK;
}

pcc_status pcc_reader_u64(pcc_reader *r, uint64_t *out) { return read_be(r, 8, out); }

pcc_status pcc_reader_u16le(pcc_reader *r, uint16_t *out)
{
    uint64_t v;
    if (read_le(r, 2, &v) != PCC_OK)
        return PCC_E_FORMAT;
    *out = (uint16_t)v;
    return PCC_OK;
}

pcc_status pcc_reader_u32le(pcc_reader *r, uint32_t *out)
{
    uint64_t v;
    if (read_le(r, 4, &v) != PCC_OK)
        return PCC_E_FORMAT;
    *out = (uint32_t)v;
    return PCC_OK;
}

pcc_status pcc_reader_u64le(pcc_reader *r, uint64_t *out) { return read_le(r, 8, out); }

pcc_status pcc_reader_varint(pcc_reader *r, uint64_t *out)
{
    /* RFC 9000 §16: the two high bits of the first byte give the length 1, 2, 4 or 8. */
    if (r->off >= r->len)
        return PCC_E_FORMAT;
    size_t n = (size_t)1 << (r->data[r->off] >> 6);
    uint64_t v;
    if (read_be(r, n, &v) != PCC_OK)
        return PCC_E_FORMAT;
    *out = v & ((n == 8) ? 0x3FFFFFFFFFFFFFFFULL : ((1ULL << (8 * n - 2)) - 1));
    return PCC_OK;
}

pcc_status pcc_reader_bytes(pcc_reader *r, const uint8_t **out, size_t n)
{
    return take(r, n, out);
}

pcc_status pcc_reader_copy(pcc_reader *r, uint8_t *out, size_t n)
{
    const uint8_t *p;
    if (take(r, n, &p) != PCC_OK)
        return PCC_E_FORMAT;
    if (n)
        memcpy(out, p, n);
    return PCC_OK;
}

void pcc_writer_init_fixed(pcc_writer *w, uint8_t *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->data = buf;
    w->cap = cap;
    w->max = cap;
}

void pcc_writer_init_dynamic(pcc_writer *w, bool secure, size_t max)
{
    memset(w, 0, sizeof *w);
    w->dynamic = true;
    w->secure = secure;
    w->max = max;
}

void pcc_writer_cleanup(pcc_writer *w)
{
    if (w->dynamic && w->data != NULL) {
        if (w->secure) {
            pcc_secure_free(w->data);
        } else {
            pcc_wipe(w->data, w->cap);
            free(w->data);
        }
    }
    if (w->dynamic) {
        w->data = NULL;
        w->cap = 0;
    }
    w->len = 0;
}

pcc_status pcc_writer_reserve(pcc_writer *w, size_t extra)
{
    if (extra > w->max || w->len > w->max - extra)
        return PCC_E_LIMIT;
    size_t need = w->len + extra;
    if (need <= w->cap)
        return PCC_OK;
    if (!w->dynamic)
        return PCC_E_LIMIT;
    size_t ncap = w->cap ? w->cap : 64;
    while (ncap < need)
        ncap = (ncap > SIZE_MAX / 2) ? need : ncap * 2;
    if (ncap > w->max)
        ncap = w->max;
    uint8_t *nd = w->secure ? pcc_secure_alloc(ncap) : malloc(ncap);
    if (nd == NULL)
        return PCC_E_NOMEM;
    if (w->len)
        memcpy(nd, w->data, w->len);
    if (w->data != NULL) {
        if (w->secure) {
            pcc_secure_free(w->data);
        } else {
            pcc_wipe(w->data, w->cap);
            free(w->data);
        }
    }
    w->data = nd;
    w->cap = ncap;
    return PCC_OK;
}

pcc_status pcc_writer_bytes(pcc_writer *w, const void *p, size_t n)
{
    if (n == 0)
        return PCC_OK;
    pcc_status st = pcc_writer_reserve(w, n);
    if (st != PCC_OK)
        return st;
    memcpy(w->data + w->len, p, n);
    w->len += n;
    return PCC_OK;
}

pcc_status pcc_writer_zeros(pcc_writer *w, size_t n)
{
    if (n == 0)
        return PCC_OK;
    pcc_status st = pcc_writer_reserve(w, n);
    if (st != PCC_OK)
        return st;
    memset(w->data + w->len, 0, n);
    w->len += n;
    return PCC_OK;
}

static pcc_status write_be(pcc_writer *w, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[n - 1 - i] = (uint8_t)(v >> (8 * i));
    return pcc_writer_bytes(w, b, n);
}

pcc_status pcc_writer_u8(pcc_writer *w, uint8_t v) { return pcc_writer_bytes(w, &v, 1); }
pcc_status pcc_writer_u16(pcc_writer *w, uint16_t v) { return write_be(w, v, 2); }
pcc_status pcc_writer_u32(pcc_writer *w, uint32_t v) { return write_be(w, v, 4); }
pcc_status pcc_writer_u64(pcc_writer *w, uint64_t v) { return write_be(w, v, 8); }

pcc_status pcc_writer_varint(pcc_writer *w, uint64_t v)
{
    if (v < 0x40)
        return write_be(w, v, 1);
    if (v < 0x4000)
        return write_be(w, v | 0x4000u, 2);
    if (v < 0x40000000)
        return write_be(w, v | 0x80000000u, 4);
    if (v < 0x4000000000000000ULL)
        return write_be(w, v | 0xC000000000000000ULL, 8);
    return PCC_E_INVALID;
}
