/* mp.c: msgpack-c for hostile input (mp_internal.h).
 *
 * Input first meets a structural pre-scan (every count no larger than the bytes left, nesting
 * at most MP_MAX_DEPTH, no reserved byte), because msgpack-c allocates an array of the declared
 * size before it reads the elements. msgpack-c then decodes into a zone whose strings point into
 * the caller's buffer; the zone itself holds only the tree (types, lengths, pointers, numbers),
 * and pcc_mp_release wipes it before the zone is freed. */
#include <string.h>

#include "mp_internal.h"
#include "pcc/secure.h"

#define MP_MAX_DEPTH 8

/* ---- pre-scan --------------------------------------------------------------------------- */

static int be(const uint8_t *p, size_t n, size_t *out)
{
    size_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    *out = v;
    return 1;
}

/* mp_skip advances *off over one msgpack object of data[0..len), or returns PCC_E_FORMAT. */
static pcc_status mp_skip(const uint8_t *data, size_t len, size_t *off, int depth)
{
    size_t items = 0, body = 0, hdr = 0;
    if (depth > MP_MAX_DEPTH || *off >= len)
        return PCC_E_FORMAT;
    uint8_t b = data[*off];
    size_t left = len - *off - 1;
    const uint8_t *p = data + *off + 1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        /* fixint, nil, bool */
    } else if (b >= 0x80 && b <= 0x8f) {
        items = 2 * (size_t)(b & 0x0f);
    } else if (b >= 0x90 && b <= 0x9f) {
        items = b & 0x0f;
    } else if (b >= 0xa0 && b <= 0xbf) {
        body = b & 0x1f;
    } else {
        switch (b) {
        case 0xc4: case 0xd9: hdr = 1; break;                 /* bin8, str8 */
        case 0xc5: case 0xda: hdr = 2; break;                 /* bin16, str16 */
        case 0xc6: case 0xdb: hdr = 4; break;                 /* bin32, str32 */
        case 0xc7: hdr = 1; body = 1; break;                  /* ext8: len, type */
        case 0xc8: hdr = 2; body = 1; break;
        case 0xc9: hdr = 4; body = 1; break;
        case 0xca: body = 4; break;                           /* float32 */
        case 0xcb: body = 8; break;                           /* float64 */
        case 0xcc: case 0xd0: body = 1; break;
        case 0xcd: case 0xd1: body = 2; break;
        case 0xce: case 0xd2: body = 4; break;
        case 0xcf: case 0xd3: body = 8; break;
        case 0xd4: body = 2; break;                           /* fixext: type + data */
        case 0xd5: body = 3; break;
        case 0xd6: body = 5; break;
        case 0xd7: body = 9; break;
        case 0xd8: body = 17; break;
        case 0xdc: case 0xdd: case 0xde: case 0xdf: {         /* array16/32, map16/32 */
            size_t n, w = (b == 0xdc || b == 0xde) ? 2 : 4;
            if (left < w || !be(p, w, &n))
                return PCC_E_FORMAT;
            items = (b == 0xde || b == 0xdf) ? 2 * n : n;
            *off += w;
            left -= w;
            break;
        }
        default:
            return PCC_E_FORMAT; /* 0xc1 */
        }
    }
    if (hdr) {
        size_t n;
        if (left < hdr || !be(p, hdr, &n))
            return PCC_E_FORMAT;
        body += n;
        *off += hdr;
        left -= hdr;
    }
    if (body > left)
        return PCC_E_FORMAT;
    *off += 1 + body;
    if (items > len - *off) /* each element takes at least one byte */
        return PCC_E_FORMAT;
    for (size_t i = 0; i < items; i++) {
        pcc_status st = mp_skip(data, len, off, depth + 1);
        if (st != PCC_OK)
            return st;
    }
    return PCC_OK;
}

/* mp_decode pre-scans data (exactly one object, no trailing bytes) and decodes it into u. */
pcc_status pcc_mp_decode(msgpack_unpacked *u, const uint8_t *data, size_t len)
{
    size_t off = 0;
    if (len == 0 || mp_skip(data, len, &off, 0) != PCC_OK || off != len)
        return PCC_E_FORMAT;
    off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(u, (const char *)data, len, &off);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)
        return PCC_E_NOMEM;
    if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        return PCC_E_FORMAT;
    return PCC_OK;
}

/* mp_wipe zeroes the tree's arrays and maps (in the zone) below o. */
static void mp_wipe(msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.ptr != NULL) {
        for (uint32_t i = 0; i < o->via.array.size; i++)
            mp_wipe(&o->via.array.ptr[i]);
        pcc_wipe(o->via.array.ptr, o->via.array.size * sizeof *o->via.array.ptr);
    } else if (o->type == MSGPACK_OBJECT_MAP && o->via.map.ptr != NULL) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            mp_wipe(&o->via.map.ptr[i].key);
            mp_wipe(&o->via.map.ptr[i].val);
        }
        pcc_wipe(o->via.map.ptr, o->via.map.size * sizeof *o->via.map.ptr);
    }
}

void pcc_mp_release(msgpack_unpacked *u, int decoded)
{
    if (decoded)
        mp_wipe(&u->data);
    pcc_wipe(&u->data, sizeof u->data);
    msgpack_unpacked_destroy(u);
}

int pcc_mp_str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

/* map_fields matches the keys of map o against names exactly (each present once) and sets
 * vals[i] to the value of names[i]; with allow_pad, one more key "pad" may be there, a bin of
 * zero bytes, checked and ignored. */
static pcc_status map_fields(const msgpack_object *o, const char *const *names, size_t n,
                             const msgpack_object **vals, int allow_pad)
{
    const msgpack_object *pad = NULL;
    if (o->type != MSGPACK_OBJECT_MAP ||
        (o->via.map.size != n && !(allow_pad && o->via.map.size == n + 1)))
        return PCC_E_FORMAT;
    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    for (uint32_t k = 0; k < o->via.map.size; k++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[k];
        size_t i = 0;
        while (i < n && !pcc_mp_str_is(&kv->key, names[i]))
            i++;
        if (i == n && allow_pad && pad == NULL && pcc_mp_str_is(&kv->key, "pad")) {
            pad = &kv->val;
            continue;
        }
        if (i == n || vals[i] != NULL)
            return PCC_E_FORMAT; /* unknown or duplicate key */
        vals[i] = &kv->val;
    }
    if (o->via.map.size == n + 1 && pad == NULL)
        return PCC_E_FORMAT;
    if (pad != NULL) {
        if (pad->type != MSGPACK_OBJECT_BIN)
            return PCC_E_FORMAT;
        uint8_t acc = 0;
        for (uint32_t i = 0; i < pad->via.bin.size; i++)
            acc |= (uint8_t)pad->via.bin.ptr[i];
        if (acc != 0)
            return PCC_E_FORMAT;
    }
    return PCC_OK;
}

pcc_status pcc_mp_map_fields(const msgpack_object *o, const char *const *names, size_t n,
                             const msgpack_object **vals)
{
    return map_fields(o, names, n, vals, 0);
}

pcc_status pcc_mp_map_fields_pad(const msgpack_object *o, const char *const *names, size_t n,
                                 const msgpack_object **vals)
{
    return map_fields(o, names, n, vals, 1);
}

/* utf8_ok is 1 for well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int pcc_mp_utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1; cp = c & 0x1fu; min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2; cp = c & 0x0fu; min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3; cp = c & 0x07u; min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

int pcc_mp_text_ok(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_STR &&
           pcc_mp_utf8_ok((const uint8_t *)o->via.str.ptr, o->via.str.size);
}

int pcc_mp_sink_write(void *data, const char *buf, size_t len)
{
    pcc_mp_sink *s = data;
    if (s->st == PCC_OK)
        s->st = pcc_writer_bytes(s->w, buf, len);
    return s->st == PCC_OK ? 0 : -1;
}
