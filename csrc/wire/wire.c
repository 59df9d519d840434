/* wire.c: strict msgpack decoding on msgpack-c, canonical encoding, length framing (pcc/wire.h).
 *
 * Format bytes (msgpack spec): 0x00-0x7f positive fixint, 0x80-0x8f fixmap, 0x90-0x9f fixarray,
 * 0xa0-0xbf fixstr, 0xc0 nil, 0xc1 never used, 0xc2/0xc3 false/true, 0xc4-0xc6 bin 8/16/32,
 * 0xc7-0xc9 ext, 0xca/0xcb float 32/64, 0xcc-0xcf uint 8..64, 0xd0-0xd3 int 8..64,
 * 0xd4-0xd8 fixext, 0xd9-0xdb str 8/16/32, 0xdc/0xdd array 16/32, 0xde/0xdf map 16/32,
 * 0xe0-0xff negative fixint. */
#include <stdlib.h>
#include <string.h>

#include "pcc/wire.h"

struct pcc_wire_doc {
    msgpack_unpacked u;
    uint8_t *copy;
};

/* ---- the bounded pass ------------------------------------------------------------------- */

typedef struct scan {
    const uint8_t *p;
    size_t len;
    size_t off;
    size_t items;
    const pcc_wire_limits *lim;
} scan;

static pcc_status take(scan *s, size_t n, const uint8_t **out)
{
    if (n > s->len - s->off)
        return PCC_E_FORMAT;
    *out = s->p + s->off;
    s->off += n;
    return PCC_OK;
}

static pcc_status take_be(scan *s, size_t n, uint64_t *v)
{
    const uint8_t *b;
    pcc_status st = take(s, n, &b);
    if (st != PCC_OK)
        return st;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v = *v << 8 | b[i];
    return PCC_OK;
}

/* utf8_ok: strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07u;
        } else {
            return 0;
        }
        if (k > n - i - 1)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3fu);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

int pcc_wire_utf8_valid(const char *s, size_t len)
{
    return s != NULL ? utf8_ok((const uint8_t *)s, len) : len == 0;
}

/* minimal_len: is a str or bin length n written with the shortest header? hdr_bytes is 0 (fix),
 * 1, 2 or 4; fix_max is the largest fixstr length (31), or UINT64_MAX for bin (no fix form). */
static int minimal_len(uint64_t n, size_t hdr_bytes, uint64_t fix_max)
{
    if (hdr_bytes == 0)
        return 1;
    if (hdr_bytes == 1)
        return fix_max == UINT64_MAX || n > fix_max;
    if (hdr_bytes == 2)
        return n > 0xffu;
    return n > 0xffffu;
}

static pcc_status scan_value(scan *s, size_t depth);

static pcc_status scan_str(scan *s, uint64_t n, size_t hdr)
{
    const uint8_t *b;
    if (s->lim->flags & PCC_WIRE_MINIMAL && !minimal_len(n, hdr, 31))
        return PCC_E_FORMAT;
    if (n > s->lim->max_str)
        return PCC_E_LIMIT;
    if (take(s, (size_t)n, &b) != PCC_OK || !utf8_ok(b, (size_t)n))
        return PCC_E_FORMAT;
    return PCC_OK;
}

/* scan_key: a map key must be a str. */
static pcc_status scan_key(scan *s)
{
    const uint8_t *b;
    uint64_t n;
    pcc_status st;
    if (++s->items > s->lim->max_items)
        return PCC_E_LIMIT;
    if ((st = take(s, 1, &b)) != PCC_OK)
        return st;
    if (*b >= 0xa0 && *b <= 0xbf)
        return scan_str(s, *b & 0x1fu, 0);
    if (*b < 0xd9 || *b > 0xdb)
        return PCC_E_FORMAT;
    size_t hdr = (size_t)1 << (*b - 0xd9);
    if ((st = take_be(s, hdr, &n)) != PCC_OK)
        return st;
    return scan_str(s, n, hdr);
}

static pcc_status scan_container(scan *s, uint64_t n, size_t hdr, int is_map, size_t depth)
{
    pcc_status st;
    if (s->lim->flags & PCC_WIRE_MINIMAL && hdr != 0 && n <= (hdr == 2 ? 15u : 0xffffu))
        return PCC_E_FORMAT;
    if (depth >= s->lim->max_depth || depth >= PCC_WIRE_MAX_DEPTH)
        return PCC_E_LIMIT;
    if (n > (is_map ? s->lim->max_map : s->lim->max_array))
        return PCC_E_LIMIT;
    /* every value takes at least one byte: a count beyond what remains is a lie */
    if (n > (s->len - s->off) / (is_map ? 2u : 1u))
        return PCC_E_FORMAT;
    for (uint64_t i = 0; i < n; i++) {
        if (is_map && (st = scan_key(s)) != PCC_OK)
            return st;
        if ((st = scan_value(s, depth + 1)) != PCC_OK)
            return st;
    }
    return PCC_OK;
}

static pcc_status scan_value(scan *s, size_t depth)
{
    const uint8_t *b;
    uint64_t n;
    pcc_status st;
    unsigned flags = s->lim->flags;
    if (++s->items > s->lim->max_items)
        return PCC_E_LIMIT;
    if ((st = take(s, 1, &b)) != PCC_OK)
        return st;
    uint8_t t = *b;
    if (t <= 0x7f || t == 0xc0 || t == 0xc2 || t == 0xc3)
        return PCC_OK;
    if (t >= 0xe0)
        return flags & PCC_WIRE_NO_NEGATIVE ? PCC_E_FORMAT : PCC_OK;
    if (t <= 0x8f)
        return scan_container(s, t & 0x0fu, 0, 1, depth);
    if (t <= 0x9f)
        return scan_container(s, t & 0x0fu, 0, 0, depth);
    if (t <= 0xbf)
        return scan_str(s, t & 0x1fu, 0);
    switch (t) {
    case 0xc4: case 0xc5: case 0xc6: {
        size_t hdr = (size_t)1 << (t - 0xc4);
        if ((st = take_be(s, hdr, &n)) != PCC_OK)
            return st;
        if (flags & PCC_WIRE_MINIMAL && !minimal_len(n, hdr, UINT64_MAX))
            return PCC_E_FORMAT;
        if (n > s->lim->max_bin)
            return PCC_E_LIMIT;
        return take(s, (size_t)n, &b);
    }
    case 0xca: case 0xcb:
        if (flags & PCC_WIRE_NO_FLOAT)
            return PCC_E_FORMAT;
        return take(s, t == 0xca ? 4 : 8, &b);
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        size_t k = (size_t)1 << (t - 0xcc);
        if ((st = take_be(s, k, &n)) != PCC_OK)
            return st;
        /* shortest: uint8 only above 127, uint16 above 255, ... */
        if (flags & PCC_WIRE_MINIMAL &&
            (k == 1 ? n < 0x80 : n <= (k == 2 ? 0xffu : k == 4 ? 0xffffu : 0xffffffffu)))
            return PCC_E_FORMAT;
        return PCC_OK;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        size_t k = (size_t)1 << (t - 0xd0);
        if ((st = take_be(s, k, &n)) != PCC_OK)
            return st;
        int neg = (n >> (8 * k - 1)) & 1;
        if (flags & PCC_WIRE_NO_NEGATIVE && neg)
            return PCC_E_FORMAT;
        if (flags & PCC_WIRE_MINIMAL) {
            /* a signed form is only shortest for a negative value below the next smaller form */
            int64_t v = (int64_t)(n | (neg && k < 8 ? ~((UINT64_C(1) << (8 * k)) - 1) : 0));
            int64_t lo = k == 1 ? -32 : k == 2 ? INT8_MIN : k == 4 ? INT16_MIN : INT32_MIN;
            if (!neg || v >= lo)
                return PCC_E_FORMAT;
        }
        return PCC_OK;
    }
    case 0xd9: case 0xda: case 0xdb: {
        size_t hdr = (size_t)1 << (t - 0xd9);
        if ((st = take_be(s, hdr, &n)) != PCC_OK)
            return st;
        return scan_str(s, n, hdr);
    }
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
        size_t hdr = t == 0xdc || t == 0xde ? 2 : 4;
        if ((st = take_be(s, hdr, &n)) != PCC_OK)
            return st;
        return scan_container(s, n, hdr, t >= 0xde, depth);
    }
    default: /* 0xc1, ext and fixext */
        return PCC_E_FORMAT;
    }
}

pcc_status pcc_wire_check(const uint8_t *data, size_t len, const pcc_wire_limits *lim)
{
    scan s = {data, len, 0, 0, lim};
    pcc_status st;
    if ((data == NULL && len > 0) || lim == NULL)
        return PCC_E_INVALID;
    if (len == 0)
        return PCC_E_FORMAT;
    if ((st = scan_value(&s, 0)) != PCC_OK)
        return st;
    return s.off == len ? PCC_OK : PCC_E_FORMAT; /* no trailing bytes */
}

/* ---- decoding ----------------------------------------------------------------------------- */

static int str_eq(const msgpack_object_str *a, const msgpack_object_str *b)
{
    return a->size == b->size && memcmp(a->ptr, b->ptr, a->size) == 0;
}

/* no_duplicates walks the tree (depth already bounded) and refuses a map with a repeated key. */
static pcc_status no_duplicates(const msgpack_object *o)
{
    pcc_status st;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if ((st = no_duplicates(&o->via.array.ptr[i])) != PCC_OK)
                return st;
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        const msgpack_object_kv *kv = o->via.map.ptr;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (kv[i].key.type != MSGPACK_OBJECT_STR)
                return PCC_E_FORMAT;
            for (uint32_t j = 0; j < i; j++)
                if (str_eq(&kv[i].key.via.str, &kv[j].key.via.str))
                    return PCC_E_FORMAT;
            if ((st = no_duplicates(&kv[i].val)) != PCC_OK)
                return st;
        }
    } else if (o->type == MSGPACK_OBJECT_EXT) {
        return PCC_E_FORMAT;
    }
    return PCC_OK;
}

pcc_status pcc_wire_decode(pcc_wire_doc **out, const uint8_t *data, size_t len,
                           const pcc_wire_limits *lim)
{
    pcc_wire_doc *d = NULL;
    size_t off = 0;
    pcc_status st;
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if ((st = pcc_wire_check(data, len, lim)) != PCC_OK)
        return st;
    if ((d = calloc(1, sizeof *d)) == NULL || (d->copy = malloc(len)) == NULL) {
        free(d);
        return PCC_E_NOMEM;
    }
    memcpy(d->copy, data, len);
    msgpack_unpacked_init(&d->u);
    msgpack_unpack_return r = msgpack_unpack_next(&d->u, (const char *)d->copy, len, &off);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR) {
        st = PCC_E_NOMEM;
        goto out;
    }
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
        st = PCC_E_FORMAT;
        goto out;
    }
    st = no_duplicates(&d->u.data);
out:
    if (st != PCC_OK)
        pcc_wire_doc_free(d);
    else
        *out = d;
    return st;
}

const msgpack_object *pcc_wire_doc_root(const pcc_wire_doc *d) { return d ? &d->u.data : NULL; }

void pcc_wire_doc_free(pcc_wire_doc *d)
{
    if (d == NULL)
        return;
    msgpack_unpacked_destroy(&d->u);
    free(d->copy);
    free(d);
}

/* ---- reading ------------------------------------------------------------------------------ */

static int key_is(const msgpack_object *k, const char *name, size_t n)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

const msgpack_object *pcc_wire_map_get(const msgpack_object *map, const char *key)
{
    if (map == NULL || key == NULL || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (key_is(&map->via.map.ptr[i].key, key, n))
            return &map->via.map.ptr[i].val;
    return NULL;
}

pcc_status pcc_wire_map_keys(const msgpack_object *map, const char *const *required, size_t n_req,
                             const char *const *optional, size_t n_opt)
{
    size_t found = 0;
    if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
        return PCC_E_FORMAT;
    /* keys are unique (decode checked): every key must be named, every required one present */
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        int known = 0;
        for (size_t j = 0; j < n_req && !known; j++)
            if (key_is(k, required[j], strlen(required[j]))) {
                known = 1;
                found++;
            }
        for (size_t j = 0; j < n_opt && !known; j++)
            known = key_is(k, optional[j], strlen(optional[j]));
        if (!known)
            return PCC_E_FORMAT;
    }
    return found == n_req ? PCC_OK : PCC_E_FORMAT;
}

pcc_status pcc_wire_get_uint(const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return PCC_E_FORMAT;
    *out = o->via.u64;
    return PCC_OK;
}

pcc_status pcc_wire_get_bool(const msgpack_object *o, bool *out)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
        return PCC_E_FORMAT;
    *out = o->via.boolean;
    return PCC_OK;
}

pcc_status pcc_wire_get_str(const msgpack_object *o, size_t min, size_t max, const char **p,
                            size_t *len)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size < min ||
        o->via.str.size > max)
        return PCC_E_FORMAT;
    *p = o->via.str.ptr;
    *len = o->via.str.size;
    return PCC_OK;
}

pcc_status pcc_wire_get_bin(const msgpack_object *o, size_t min, size_t max, const uint8_t **p,
                            size_t *len)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_BIN || o->via.bin.size < min ||
        o->via.bin.size > max)
        return PCC_E_FORMAT;
    *p = (const uint8_t *)o->via.bin.ptr;
    *len = o->via.bin.size;
    return PCC_OK;
}

pcc_status pcc_wire_get_array(const msgpack_object *o, size_t min, size_t max,
                              const msgpack_object **items, size_t *n)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < min ||
        o->via.array.size > max)
        return PCC_E_FORMAT;
    *items = o->via.array.ptr;
    *n = o->via.array.size;
    return PCC_OK;
}

/* ---- encoding ----------------------------------------------------------------------------- */

static pcc_status put_hdr(pcc_writer *w, uint8_t t, uint64_t v, size_t n)
{
    uint8_t b[9];
    b[0] = t;
    for (size_t i = 0; i < n; i++)
        b[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return pcc_writer_bytes(w, b, 1 + n);
}

pcc_status pcc_wire_put_nil(pcc_writer *w) { return pcc_writer_u8(w, 0xc0); }

pcc_status pcc_wire_put_bool(pcc_writer *w, bool v) { return pcc_writer_u8(w, v ? 0xc3 : 0xc2); }

pcc_status pcc_wire_put_uint(pcc_writer *w, uint64_t v)
{
    if (v <= 0x7f)
        return pcc_writer_u8(w, (uint8_t)v);
    if (v <= 0xff)
        return put_hdr(w, 0xcc, v, 1);
    if (v <= 0xffff)
        return put_hdr(w, 0xcd, v, 2);
    if (v <= 0xffffffffu)
        return put_hdr(w, 0xce, v, 4);
    return put_hdr(w, 0xcf, v, 8);
}

pcc_status pcc_wire_put_int(pcc_writer *w, int64_t v)
{
    if (v >= 0)
        return pcc_wire_put_uint(w, (uint64_t)v);
    if (v >= -32)
        return pcc_writer_u8(w, (uint8_t)(0xe0 | (uint8_t)(v + 32)));
    if (v >= INT8_MIN)
        return put_hdr(w, 0xd0, (uint64_t)v, 1);
    if (v >= INT16_MIN)
        return put_hdr(w, 0xd1, (uint64_t)v, 2);
    if (v >= INT32_MIN)
        return put_hdr(w, 0xd2, (uint64_t)v, 4);
    return put_hdr(w, 0xd3, (uint64_t)v, 8);
}

pcc_status pcc_wire_put_double(pcc_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return put_hdr(w, 0xcb, bits, 8);
}

static pcc_status put_len(pcc_writer *w, size_t n, uint8_t fix, uint64_t fix_max, uint8_t t8,
                          uint8_t t16, uint8_t t32)
{
    if (n <= fix_max && fix != 0)
        return pcc_writer_u8(w, (uint8_t)(fix | n));
    if (n <= 0xff && t8 != 0)
        return put_hdr(w, t8, n, 1);
    if (n <= 0xffff)
        return put_hdr(w, t16, n, 2);
    if ((uint64_t)n <= 0xffffffffu)
        return put_hdr(w, t32, n, 4);
    return PCC_E_LIMIT;
}

pcc_status pcc_wire_put_str(pcc_writer *w, const char *s, size_t len)
{
    pcc_status st;
    if (s == NULL && len > 0)
        return PCC_E_INVALID;
    if ((st = put_len(w, len, 0xa0, 31, 0xd9, 0xda, 0xdb)) != PCC_OK)
        return st;
    return len ? pcc_writer_bytes(w, s, len) : PCC_OK;
}

pcc_status pcc_wire_put_cstr(pcc_writer *w, const char *s)
{
    if (s == NULL)
        return PCC_E_INVALID;
    return pcc_wire_put_str(w, s, strlen(s));
}

pcc_status pcc_wire_put_bin(pcc_writer *w, const uint8_t *p, size_t len)
{
    pcc_status st;
    if (p == NULL && len > 0)
        return PCC_E_INVALID;
    if ((st = put_len(w, len, 0, 0, 0xc4, 0xc5, 0xc6)) != PCC_OK)
        return st;
    return len ? pcc_writer_bytes(w, p, len) : PCC_OK;
}

pcc_status pcc_wire_put_array(pcc_writer *w, size_t n)
{
    return put_len(w, n, 0x90, 15, 0, 0xdc, 0xdd);
}

pcc_status pcc_wire_put_map(pcc_writer *w, size_t n)
{
    return put_len(w, n, 0x80, 15, 0, 0xde, 0xdf);
}

static int key_cmp(const msgpack_object_str *a, const msgpack_object_str *b)
{
    uint32_t n = a->size < b->size ? a->size : b->size;
    int c = n ? memcmp(a->ptr, b->ptr, n) : 0;
    if (c != 0)
        return c;
    return a->size < b->size ? -1 : a->size > b->size;
}

static pcc_status put_object(pcc_writer *w, const msgpack_object *o, bool sort_keys, size_t depth)
{
    pcc_status st = PCC_OK;
    if (depth > PCC_WIRE_MAX_DEPTH)
        return PCC_E_LIMIT;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return pcc_wire_put_nil(w);
    case MSGPACK_OBJECT_BOOLEAN: return pcc_wire_put_bool(w, o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return pcc_wire_put_uint(w, o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return pcc_wire_put_int(w, o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return pcc_wire_put_double(w, o->via.f64);
    case MSGPACK_OBJECT_STR: return pcc_wire_put_str(w, o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return pcc_wire_put_bin(w, (const uint8_t *)o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY:
        if ((st = pcc_wire_put_array(w, o->via.array.size)) != PCC_OK)
            return st;
        for (uint32_t i = 0; i < o->via.array.size && st == PCC_OK; i++)
            st = put_object(w, &o->via.array.ptr[i], sort_keys, depth + 1);
        return st;
    case MSGPACK_OBJECT_MAP: {
        uint32_t n = o->via.map.size;
        const msgpack_object_kv *kv = o->via.map.ptr;
        uint32_t *order = NULL;
        if ((st = pcc_wire_put_map(w, n)) != PCC_OK)
            return st;
        if (n == 0)
            return PCC_OK;
        if ((order = malloc(n * sizeof *order)) == NULL)
            return PCC_E_NOMEM;
        for (uint32_t i = 0; i < n; i++) {
            order[i] = i;
            if (sort_keys && kv[i].key.type != MSGPACK_OBJECT_STR)
                st = PCC_E_FORMAT;
        }
        /* insertion sort: maps here are small, and this keeps equal keys stable */
        for (uint32_t i = 1; sort_keys && st == PCC_OK && i < n; i++) {
            uint32_t x = order[i], j = i;
            while (j > 0 && key_cmp(&kv[order[j - 1]].key.via.str, &kv[x].key.via.str) > 0) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = x;
        }
        for (uint32_t i = 0; i < n && st == PCC_OK; i++) {
            if ((st = put_object(w, &kv[order[i]].key, sort_keys, depth + 1)) == PCC_OK)
                st = put_object(w, &kv[order[i]].val, sort_keys, depth + 1);
        }
        free(order);
        return st;
    }
    default: return PCC_E_FORMAT; /* ext */
    }
}

pcc_status pcc_wire_put_object(pcc_writer *w, const msgpack_object *o, bool sort_keys)
{
    if (w == NULL || o == NULL)
        return PCC_E_INVALID;
    return put_object(w, o, sort_keys, 0);
}

pcc_status pcc_wire_canonicalize(pcc_writer *w, const uint8_t *data, size_t len,
                                 const pcc_wire_limits *lim)
{
    pcc_wire_doc *d = NULL;
    pcc_status st;
    if (w == NULL)
        return PCC_E_INVALID;
    if ((st = pcc_wire_decode(&d, data, len, lim)) != PCC_OK)
        return st;
    st = pcc_wire_put_object(w, pcc_wire_doc_root(d), true);
    pcc_wire_doc_free(d);
    return st;
}

/* ---- framing ------------------------------------------------------------------------------ */

pcc_status pcc_wire_frame_put(pcc_writer *w, const uint8_t *msg, size_t len)
{
    pcc_status st;
    if (w == NULL || (msg == NULL && len > 0))
        return PCC_E_INVALID;
    if (len > PCC_WIRE_FRAME_MAX)
        return PCC_E_LIMIT;
    if ((st = pcc_writer_reserve(w, 4 + len)) != PCC_OK ||
        (st = pcc_writer_u32(w, (uint32_t)len)) != PCC_OK)
        return st;
    return len ? pcc_writer_bytes(w, msg, len) : PCC_OK;
}

pcc_status pcc_wire_frame_length(const uint8_t hdr[PCC_WIRE_FRAME_HEADER], size_t max, size_t *len)
{
    if (hdr == NULL || len == NULL)
        return PCC_E_INVALID;
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n == 0)
        return PCC_E_FORMAT;
    if (n > PCC_WIRE_FRAME_MAX || n > max)
        return PCC_E_LIMIT;
    *len = n;
    return PCC_OK;
}
