/* gguf.c: strict GGUF v3/v2 loader (read-only mmap, everything validated at open).
 *
 * File layout (ggml docs/gguf.md):
 *   u32 magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv    x { gguf_string key | u32 value_type | value }
 *   n_tensors x { gguf_string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
 *   padding to general.alignment | tensor data (offsets relative to here, each aligned)
 * gguf_string = u64 len | len bytes. All integers little-endian.
 *
 * Checks follow ggml's gguf.cpp and go further where it trusts the file: counts against the
 * bytes left, string lengths, key/name uniqueness, nested arrays (depth-limited), bool bytes,
 * dims 1..4 with every ne > 0, element/byte products overflow-checked, tensor data inside the file
 * and not overlapping (in any order). */
#include "pcc/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcc/buf.h"

/* Smallest encodings, used to bound counts by the bytes left before allocating anything. */
#define MIN_KV_BYTES 13u     /* u64 key len + 1 key byte + u32 type + 1 value byte */
#define MIN_TENSOR_BYTES 33u /* u64 name len + 1 name byte + u32 n_dims + u64 ne + u32 type + u64 off */

struct kv {
    size_t key_off; /* into pool, then turned into key */
    const char *key;
    size_t key_len;
    uint32_t type;
    const uint8_t *raw; /* value bytes after the type tag */
    size_t raw_len;
    /* arrays */
    uint32_t elem_type;
    uint64_t n;
    const uint8_t *elems;    /* first element */
    uint64_t *str_index;     /* string arrays: file offset of each element's u64 length */
};

struct name_ref { /* sorted index entry */
    const char *s;
    size_t len;
    size_t idx;
};

struct pcc_gguf {
    const uint8_t *base;
    size_t size;
    size_t map_len;
    uint32_t version;
    size_t alignment;
    uint64_t data_off;
    size_t n_kv;
    struct kv *kv;
    struct name_ref *kv_sorted;
    size_t n_tensors;
    pcc_gguf_tensor *tensors;
    size_t *tensor_name_off;
    struct name_ref *t_sorted;
    char *pool;
};

/* ---- type tables ---- */

static const struct {
    const char *name;
    uint16_t block;
    uint16_t size;
} type_table[PCC_GGUF_TYPE_COUNT] = {
    [PCC_GGUF_TYPE_F32] = {"F32", 1, 4},
    [PCC_GGUF_TYPE_F16] = {"F16", 1, 2},
    [PCC_GGUF_TYPE_Q4_0] = {"Q4_0", 32, 18},
    [PCC_GGUF_TYPE_Q4_1] = {"Q4_1", 32, 20},
    [PCC_GGUF_TYPE_Q5_0] = {"Q5_0", 32, 22},
    [PCC_GGUF_TYPE_Q5_1] = {"Q5_1", 32, 24},
    [PCC_GGUF_TYPE_Q8_0] = {"Q8_0", 32, 34},
    /* ggml's block_q8_1 is two halves + 32 bytes = 36 (gguf-py's table says 40; it is unused in
     * files, ggml is the reference). */
    [PCC_GGUF_TYPE_Q8_1] = {"Q8_1", 32, 36},
    [PCC_GGUF_TYPE_Q2_K] = {"Q2_K", 256, 84},
    [PCC_GGUF_TYPE_Q3_K] = {"Q3_K", 256, 110},
    [PCC_GGUF_TYPE_Q4_K] = {"Q4_K", 256, 144},
    [PCC_GGUF_TYPE_Q5_K] = {"Q5_K", 256, 176},
    [PCC_GGUF_TYPE_Q6_K] = {"Q6_K", 256, 210},
    [PCC_GGUF_TYPE_Q8_K] = {"Q8_K", 256, 292},
    [PCC_GGUF_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66},
    [PCC_GGUF_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74},
    [PCC_GGUF_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98},
    [PCC_GGUF_TYPE_IQ1_S] = {"IQ1_S", 256, 50},
    [PCC_GGUF_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18},
    [PCC_GGUF_TYPE_IQ3_S] = {"IQ3_S", 256, 110},
    [PCC_GGUF_TYPE_IQ2_S] = {"IQ2_S", 256, 82},
    [PCC_GGUF_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136},
    [PCC_GGUF_TYPE_I8] = {"I8", 1, 1},
    [PCC_GGUF_TYPE_I16] = {"I16", 1, 2},
    [PCC_GGUF_TYPE_I32] = {"I32", 1, 4},
    [PCC_GGUF_TYPE_I64] = {"I64", 1, 8},
    [PCC_GGUF_TYPE_F64] = {"F64", 1, 8},
    [PCC_GGUF_TYPE_IQ1_M] = {"IQ1_M", 256, 56},
    [PCC_GGUF_TYPE_BF16] = {"BF16", 1, 2},
    [PCC_GGUF_TYPE_TQ1_0] = {"TQ1_0", 256, 54},
    [PCC_GGUF_TYPE_TQ2_0] = {"TQ2_0", 256, 66},
    [PCC_GGUF_TYPE_MXFP4] = {"MXFP4", 32, 17},
    [PCC_GGUF_TYPE_NVFP4] = {"NVFP4", 64, 36},
    [PCC_GGUF_TYPE_Q1_0] = {"Q1_0", 128, 18},
};

/* Bytes of one fixed-size metadata value (0 for STRING and ARRAY). */
static const uint8_t val_size[PCC_GGUF_VAL_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

size_t pcc_gguf_type_size(uint32_t type)
{
    return type < PCC_GGUF_TYPE_COUNT ? type_table[type].size : 0;
}

size_t pcc_gguf_block_size(uint32_t type)
{
    return type < PCC_GGUF_TYPE_COUNT ? type_table[type].block : 0;
}

const char *pcc_gguf_type_name(uint32_t type)
{
    return type < PCC_GGUF_TYPE_COUNT ? type_table[type].name : NULL;
}

pcc_status pcc_gguf_row_size(uint32_t type, uint64_t ne0, uint64_t *out)
{
    if (out == NULL)
        return PCC_E_INVALID;
    size_t bs = pcc_gguf_block_size(type), ts = pcc_gguf_type_size(type);
    if (bs == 0)
        return PCC_E_UNSUPPORTED;
    if (ne0 % bs != 0)
        return PCC_E_FORMAT;
    uint64_t blocks = ne0 / bs;
    if (blocks > UINT64_MAX / ts)
        return PCC_E_FORMAT;
    *out = blocks * ts;
    return PCC_OK;
}

/* ---- helpers ---- */

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int cmp_ref(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Sorted index of n names; PCC_E_FORMAT if two are equal. */
static pcc_status sort_unique(struct name_ref *refs, size_t n)
{
    if (n > 1)
        qsort(refs, n, sizeof *refs, cmp_ref);
    for (size_t i = 1; i < n; i++)
        if (cmp_ref(&refs[i - 1], &refs[i]) == 0)
            return PCC_E_FORMAT;
    return PCC_OK;
}

static const struct name_ref *lookup(const struct name_ref *refs, size_t n, const char *s)
{
    struct name_ref key = {s, strlen(s), 0};
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_ref(&key, &refs[mid]);
        if (c == 0)
            return &refs[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* read_string reads a gguf_string: *s points into the buffer, *len is its length. */
static pcc_status read_string(pcc_reader *r, const uint8_t **s, size_t *len)
{
    uint64_t n;
    size_t save = r->off;
    pcc_status st = pcc_reader_u64le(r, &n);
    if (st != PCC_OK)
        return st;
    if (n > pcc_reader_remaining(r)) {
        r->off = save;
        return PCC_E_FORMAT;
    }
    *len = (size_t)n;
    st = pcc_reader_bytes(r, s, (size_t)n);
    if (st != PCC_OK)
        r->off = save;
    return st;
}

/* Keys: 1..PCC_GGUF_MAX_KEY bytes of ASCII without NUL (spec: "a valid ASCII string").
 */
static bool key_ok(const uint8_t *s, size_t len)
{
    if (len == 0 || len > PCC_GGUF_MAX_KEY)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == 0 || s[i] >= 0x80)
            return false;
    return true;
}

/* utf8_ok: s is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF). */
static bool utf8_ok(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1Fu, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0Fu, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (n > len - i - 1)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* Tensor names: 1..PCC_GGUF_MAX_NAME bytes of UTF-8 without NUL (GGUF strings are UTF-8). */
static bool name_ok(const uint8_t *s, size_t len)
{
    return len > 0 && len <= PCC_GGUF_MAX_NAME && memchr(s, 0, len) == NULL && utf8_ok(s, len);
}

/* skip_value validates and skips one value of type `type`. depth counts enclosing arrays. */
static pcc_status skip_value(pcc_reader *r, uint32_t type, unsigned depth)
{
    pcc_status st;
    if (type >= PCC_GGUF_VAL_COUNT)
        return PCC_E_FORMAT;
    if (type == PCC_GGUF_VAL_STRING) {
        const uint8_t *s;
        size_t len;
        return read_string(r, &s, &len);
    }
    if (type == PCC_GGUF_VAL_BOOL) {
        uint8_t b;
        if ((st = pcc_reader_u8(r, &b)) != PCC_OK)
            return st;
        return b <= 1 ? PCC_OK : PCC_E_FORMAT;
    }
    if (type != PCC_GGUF_VAL_ARRAY) {
        const uint8_t *p;
        return pcc_reader_bytes(r, &p, val_size[type]);
    }
    /* array: u32 element type | u64 count | elements */
    if (depth >= PCC_GGUF_MAX_ARRAY_DEPTH)
        return PCC_E_FORMAT;
    uint32_t et;
    uint64_t n;
    if ((st = pcc_reader_u32le(r, &et)) != PCC_OK || (st = pcc_reader_u64le(r, &n)) != PCC_OK)
        return st;
    if (et >= PCC_GGUF_VAL_COUNT)
        return PCC_E_FORMAT;
    size_t rem = pcc_reader_remaining(r);
    if (et == PCC_GGUF_VAL_STRING || et == PCC_GGUF_VAL_ARRAY) {
        size_t min = et == PCC_GGUF_VAL_STRING ? 8 : 12;
        if (n > rem / min)
            return PCC_E_FORMAT;
        for (uint64_t i = 0; i < n; i++)
            if ((st = skip_value(r, et, depth + 1)) != PCC_OK)
                return st;
        return PCC_OK;
    }
    if (n > rem / val_size[et])
        return PCC_E_FORMAT;
    const uint8_t *p;
    if ((st = pcc_reader_bytes(r, &p, (size_t)n * val_size[et])) != PCC_OK)
        return st;
    if (et == PCC_GGUF_VAL_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (p[i] > 1)
                return PCC_E_FORMAT;
    return PCC_OK;
}

/* ---- parse ---- */

static pcc_status pool_add(pcc_writer *pool, const uint8_t *s, size_t len, size_t *off)
{
    pcc_status st;
    *off = pool->len;
    if ((st = pcc_writer_bytes(pool, s, len)) != PCC_OK || (st = pcc_writer_u8(pool, 0)) != PCC_OK)
        return st == PCC_E_LIMIT ? PCC_E_NOMEM : st;
    return PCC_OK;
}

static pcc_status parse_kv(pcc_gguf *g, pcc_reader *r, pcc_writer *pool, struct kv *kv)
{
    pcc_status st;
    const uint8_t *key;
    size_t key_len;
    if ((st = read_string(r, &key, &key_len)) != PCC_OK)
        return st;
    if (!key_ok(key, key_len))
        return PCC_E_FORMAT;
    if ((st = pool_add(pool, key, key_len, &kv->key_off)) != PCC_OK)
        return st;
    kv->key_len = key_len;
    if ((st = pcc_reader_u32le(r, &kv->type)) != PCC_OK)
        return st;
    if (kv->type >= PCC_GGUF_VAL_COUNT)
        return PCC_E_FORMAT;
    size_t start = r->off;
    if ((st = skip_value(r, kv->type, 0)) != PCC_OK)
        return st;
    kv->raw = r->data + start;
    kv->raw_len = r->off - start;
    if (kv->type != PCC_GGUF_VAL_ARRAY)
        return PCC_OK;
    /* validated above: the header is there */
    kv->elem_type = (uint32_t)kv->raw[0] | (uint32_t)kv->raw[1] << 8 | (uint32_t)kv->raw[2] << 16 |
                    (uint32_t)kv->raw[3] << 24;
    kv->n = le64(kv->raw + 4);
    kv->elems = kv->raw + 12;
    if (kv->elem_type == PCC_GGUF_VAL_STRING && kv->n > 0) {
        /* n <= raw_len / 8, so this allocation is bounded by the file size */
        kv->str_index = malloc((size_t)kv->n * sizeof *kv->str_index);
        if (kv->str_index == NULL)
            return PCC_E_NOMEM;
        size_t off = (size_t)(kv->elems - g->base);
        for (uint64_t i = 0; i < kv->n; i++) {
            kv->str_index[i] = off;
            off += 8 + (size_t)le64(g->base + off);
        }
    }
    return PCC_OK;
}

static int cmp_tensor_off(const void *a, const void *b)
{
    const pcc_gguf_tensor *x = *(const pcc_gguf_tensor *const *)a;
    const pcc_gguf_tensor *y = *(const pcc_gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static pcc_status parse_tensor(pcc_gguf *g, pcc_reader *r, pcc_writer *pool, size_t i)
{
    pcc_status st;
    pcc_gguf_tensor *t = &g->tensors[i];
    const uint8_t *name;
    size_t name_len;
    if ((st = read_string(r, &name, &name_len)) != PCC_OK)
        return st;
    if (!name_ok(name, name_len))
        return PCC_E_FORMAT;
    if ((st = pool_add(pool, name, name_len, &g->tensor_name_off[i])) != PCC_OK)
        return st;
    if ((st = pcc_reader_u32le(r, &t->n_dims)) != PCC_OK)
        return st;
    if (t->n_dims < 1 || t->n_dims > PCC_GGUF_MAX_DIMS)
        return PCC_E_FORMAT;
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < PCC_GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims)
            continue;
        if ((st = pcc_reader_u64le(r, &t->ne[d])) != PCC_OK)
            return st;
        /* ggml keeps ne as int64_t: every ne and their product must fit */
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return PCC_E_FORMAT;
        if (nelem > (uint64_t)INT64_MAX / t->ne[d])
            return PCC_E_FORMAT;
        nelem *= t->ne[d];
    }
    if ((st = pcc_reader_u32le(r, &t->type)) != PCC_OK)
        return st;
    if (pcc_gguf_block_size(t->type) == 0)
        return PCC_E_UNSUPPORTED;
    if ((st = pcc_reader_u64le(r, &t->offset)) != PCC_OK)
        return st;
    if (t->offset % g->alignment != 0)
        return PCC_E_FORMAT;
    /* rows of ne[0] elements, ne[0] a multiple of the block size */
    uint64_t row;
    if ((st = pcc_gguf_row_size(t->type, t->ne[0], &row)) != PCC_OK)
        return st;
    uint64_t rows = nelem / t->ne[0];
    if (rows > UINT64_MAX / row)
        return PCC_E_FORMAT;
    t->nbytes = rows * row;
    return PCC_OK;
}

static pcc_status parse(pcc_gguf *g)
{
    pcc_status st;
    pcc_reader r;
    pcc_writer pool;
    pcc_writer_init_dynamic(&pool, false, SIZE_MAX);
    pcc_reader_init(&r, g->base, g->size);

    const uint8_t *magic;
    uint64_t n_tensors, n_kv;
    if ((st = pcc_reader_bytes(&r, &magic, 4)) != PCC_OK)
        goto out;
    if (memcmp(magic, "GGUF", 4) != 0) {
        st = PCC_E_FORMAT;
        goto out;
    }
    if ((st = pcc_reader_u32le(&r, &g->version)) != PCC_OK)
        goto out;
    if (g->version != 2 && g->version != 3) { /* v1 had 32-bit counts; others are unknown */
        st = PCC_E_UNSUPPORTED;
        goto out;
    }
    if ((st = pcc_reader_u64le(&r, &n_tensors)) != PCC_OK ||
        (st = pcc_reader_u64le(&r, &n_kv)) != PCC_OK)
        goto out;
    size_t rem = pcc_reader_remaining(&r);
    if (n_kv > rem / MIN_KV_BYTES || n_tensors > rem / MIN_TENSOR_BYTES ||
        n_kv * MIN_KV_BYTES > rem - n_tensors * MIN_TENSOR_BYTES) {
        st = PCC_E_FORMAT;
        goto out;
    }
    g->n_kv = (size_t)n_kv;
    g->n_tensors = (size_t)n_tensors;
    /* counts are bounded by the file size, so none of these products overflow */
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->kv_sorted = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv_sorted);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    g->tensor_name_off = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensor_name_off);
    g->t_sorted = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->t_sorted);
    if (!g->kv || !g->kv_sorted || !g->tensors || !g->tensor_name_off || !g->t_sorted) {
        st = PCC_E_NOMEM;
        goto out;
    }

    for (size_t i = 0; i < g->n_kv; i++)
        if ((st = parse_kv(g, &r, &pool, &g->kv[i])) != PCC_OK)
            goto out;

    /* general.alignment: UINT32, a non-zero power of two (ggml) */
    g->alignment = PCC_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < g->n_kv; i++) {
        const struct kv *kv = &g->kv[i];
        if (kv->key_len == 17 && memcmp(pool.data + kv->key_off, "general.alignment", 17) == 0) {
            if (kv->type != PCC_GGUF_VAL_UINT32) {
                st = PCC_E_FORMAT;
                goto out;
            }
            uint32_t a = (uint32_t)kv->raw[0] | (uint32_t)kv->raw[1] << 8 |
                         (uint32_t)kv->raw[2] << 16 | (uint32_t)kv->raw[3] << 24;
            if (a == 0 || (a & (a - 1)) != 0) {
                st = PCC_E_FORMAT;
                goto out;
            }
            g->alignment = a;
        }
    }

    for (size_t i = 0; i < g->n_tensors; i++)
        if ((st = parse_tensor(g, &r, &pool, i)) != PCC_OK)
            goto out;

    /* data section: first aligned offset after the tensor table */
    uint64_t pos = r.off;
    if (pos > UINT64_MAX - (g->alignment - 1)) {
        st = PCC_E_FORMAT;
        goto out;
    }
    g->data_off = (pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors > 0) {
        if (g->data_off > g->size) {
            st = PCC_E_FORMAT;
            goto out;
        }
        uint64_t avail = g->size - g->data_off;
        for (size_t i = 0; i < g->n_tensors; i++) {
            pcc_gguf_tensor *t = &g->tensors[i];
            if (t->offset > avail || t->nbytes > avail - t->offset) {
                st = PCC_E_FORMAT;
                goto out;
            }
            t->data = g->base + g->data_off + t->offset;
        }
        /* no two tensors may share bytes, whatever their order in the table */
        pcc_gguf_tensor **by_off = malloc(g->n_tensors * sizeof *by_off);
        if (by_off == NULL) {
            st = PCC_E_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < g->n_tensors; i++)
            by_off[i] = &g->tensors[i];
        qsort(by_off, g->n_tensors, sizeof *by_off, cmp_tensor_off);
        for (size_t i = 1; i < g->n_tensors; i++) {
            if (by_off[i - 1]->offset + by_off[i - 1]->nbytes > by_off[i]->offset) {
                st = PCC_E_FORMAT;
                break;
            }
        }
        free(by_off);
        if (st != PCC_OK)
            goto out;
    } else if (g->data_off > g->size) {
        g->data_off = g->size;
    }

    /* the pool is final: resolve names and build the sorted indexes */
    g->pool = (char *)pool.data;
    pool.data = NULL;
    pool.len = pool.cap = 0;
    for (size_t i = 0; i < g->n_kv; i++) {
        g->kv[i].key = g->pool + g->kv[i].key_off;
        g->kv_sorted[i] = (struct name_ref){g->kv[i].key, g->kv[i].key_len, i};
    }
    if ((st = sort_unique(g->kv_sorted, g->n_kv)) != PCC_OK)
        goto out;
    for (size_t i = 0; i < g->n_tensors; i++) {
        g->tensors[i].name = g->pool + g->tensor_name_off[i];
        g->t_sorted[i] = (struct name_ref){g->tensors[i].name, strlen(g->tensors[i].name), i};
    }
    st = sort_unique(g->t_sorted, g->n_tensors);
out:
    pcc_writer_cleanup(&pool);
    return st;
}

static void gguf_free(pcc_gguf *g)
{
    if (g == NULL)
        return;
    if (g->kv != NULL)
        for (size_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].str_index);
    free(g->kv);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->tensor_name_off);
    free(g->t_sorted);
    free(g->pool);
    if (g->base != NULL)
        munmap((void *)g->base, g->map_len);
    free(g);
}

static pcc_status finish_open(pcc_gguf **out, pcc_gguf *g)
{
    pcc_status st = parse(g);
    if (st != PCC_OK) {
        gguf_free(g);
        return st;
    }
    *out = g;
    return PCC_OK;
}

pcc_status pcc_gguf_open(pcc_gguf **out, const char *path)
{
    if (out == NULL || path == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return PCC_E_INVALID;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return PCC_E_INVALID;
    }
    if (sb.st_size == 0) {
        close(fd);
        return PCC_E_FORMAT;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return PCC_E_LIMIT;
    }
    pcc_gguf *g = calloc(1, sizeof *g);
    if (g == NULL) {
        close(fd);
        return PCC_E_NOMEM;
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        free(g);
        return errno == ENOMEM ? PCC_E_NOMEM : PCC_E_INVALID;
    }
    g->base = p;
    g->size = g->map_len = (size_t)sb.st_size;
    return finish_open(out, g);
}

pcc_status pcc_gguf_open_memory(pcc_gguf **out, const uint8_t *data, size_t len)
{
    if (out == NULL || (data == NULL && len > 0))
        return PCC_E_INVALID;
    *out = NULL;
    if (len == 0)
        return PCC_E_FORMAT;
    pcc_gguf *g = calloc(1, sizeof *g);
    if (g == NULL)
        return PCC_E_NOMEM;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(g);
        return PCC_E_NOMEM;
    }
    memcpy(p, data, len);
    if (mprotect(p, len, PROT_READ) != 0) {
        munmap(p, len);
        free(g);
        return PCC_E_NOMEM;
    }
    g->base = p;
    g->size = g->map_len = len;
    return finish_open(out, g);
}

void pcc_gguf_close(pcc_gguf *g) { gguf_free(g); }

uint32_t pcc_gguf_version(const pcc_gguf *g) { return g->version; }

size_t pcc_gguf_alignment(const pcc_gguf *g) { return g->alignment; }

void pcc_gguf_file(const pcc_gguf *g, const uint8_t **data, size_t *len)
{
    *data = g->base;
    *len = g->size;
}

uint64_t pcc_gguf_data_offset(const pcc_gguf *g) { return g->data_off; }

/* ---- metadata ---- */

size_t pcc_gguf_kv_count(const pcc_gguf *g) { return g->n_kv; }

const char *pcc_gguf_kv_key(const pcc_gguf *g, size_t i) { return i < g->n_kv ? g->kv[i].key : NULL; }

uint32_t pcc_gguf_kv_type(const pcc_gguf *g, size_t i)
{
    return i < g->n_kv ? g->kv[i].type : (uint32_t)PCC_GGUF_VAL_COUNT;
}

pcc_status pcc_gguf_kv_raw(const pcc_gguf *g, size_t i, const uint8_t **raw, size_t *len)
{
    if (i >= g->n_kv || raw == NULL || len == NULL)
        return PCC_E_INVALID;
    *raw = g->kv[i].raw;
    *len = g->kv[i].raw_len;
    return PCC_OK;
}

pcc_status pcc_gguf_find_key(const pcc_gguf *g, const char *key, size_t *i)
{
    if (g == NULL || key == NULL || i == NULL)
        return PCC_E_INVALID;
    const struct name_ref *ref = lookup(g->kv_sorted, g->n_kv, key);
    if (ref == NULL)
        return PCC_E_UNKNOWN_KEY;
    *i = ref->idx;
    return PCC_OK;
}

static pcc_status find(const pcc_gguf *g, const char *key, const struct kv **kv)
{
    size_t i;
    pcc_status st = pcc_gguf_find_key(g, key, &i);
    if (st == PCC_OK)
        *kv = &g->kv[i];
    return st;
}

/* Integer value at p of integer type `type` as a sign flag and magnitude-free pair: *neg is set for
 * negative signed values, *u holds the value (two's complement for negatives as int64). */
static bool read_int(uint32_t type, const uint8_t *p, int64_t *sv, uint64_t *uv, bool *neg)
{
    uint64_t v = 0;
    size_t n;
    switch (type) {
    case PCC_GGUF_VAL_UINT8: case PCC_GGUF_VAL_INT8: n = 1; break;
    case PCC_GGUF_VAL_UINT16: case PCC_GGUF_VAL_INT16: n = 2; break;
    case PCC_GGUF_VAL_UINT32: case PCC_GGUF_VAL_INT32: n = 4; break;
    case PCC_GGUF_VAL_UINT64: case PCC_GGUF_VAL_INT64: n = 8; break;
    default: return false;
    }
    for (size_t i = n; i-- > 0;)
        v = (v << 8) | p[i];
    bool is_signed = type == PCC_GGUF_VAL_INT8 || type == PCC_GGUF_VAL_INT16 ||
                     type == PCC_GGUF_VAL_INT32 || type == PCC_GGUF_VAL_INT64;
    if (is_signed && n < 8 && (v >> (8 * n - 1)) & 1)
        v |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    *neg = is_signed && (v >> 63) != 0;
    *uv = v;
    *sv = (int64_t)v; /* implementation-defined but two's complement on every target we build */
    return true;
}

static pcc_status get_int(const pcc_gguf *g, const char *key, int64_t *sv, uint64_t *uv, bool *neg)
{
    const struct kv *kv;
    pcc_status st = find(g, key, &kv);
    if (st != PCC_OK)
        return st;
    return read_int(kv->type, kv->raw, sv, uv, neg) ? PCC_OK : PCC_E_FORMAT;
}

pcc_status pcc_gguf_get_u32(const pcc_gguf *g, const char *key, uint32_t *out)
{
    int64_t s;
    uint64_t u;
    bool neg;
    pcc_status st = get_int(g, key, &s, &u, &neg);
    if (st != PCC_OK)
        return st;
    if (neg || u > UINT32_MAX)
        return PCC_E_FORMAT;
    *out = (uint32_t)u;
    return PCC_OK;
}

pcc_status pcc_gguf_get_i32(const pcc_gguf *g, const char *key, int32_t *out)
{
    int64_t s;
    uint64_t u;
    bool neg;
    pcc_status st = get_int(g, key, &s, &u, &neg);
    if (st != PCC_OK)
        return st;
    if (neg ? s < INT32_MIN : u > INT32_MAX)
        return PCC_E_FORMAT;
    *out = (int32_t)s;
    return PCC_OK;
}

pcc_status pcc_gguf_get_u64(const pcc_gguf *g, const char *key, uint64_t *out)
{
    int64_t s;
    uint64_t u;
    bool neg;
    pcc_status st = get_int(g, key, &s, &u, &neg);
    if (st != PCC_OK)
        return st;
    if (neg)
        return PCC_E_FORMAT;
    *out = u;
    return PCC_OK;
}

pcc_status pcc_gguf_get_i64(const pcc_gguf *g, const char *key, int64_t *out)
{
    int64_t s;
    uint64_t u;
    bool neg;
    pcc_status st = get_int(g, key, &s, &u, &neg);
    if (st != PCC_OK)
        return st;
    if (!neg && u > (uint64_t)INT64_MAX)
        return PCC_E_FORMAT;
    *out = s;
    return PCC_OK;
}

static bool read_float(uint32_t type, const uint8_t *p, double *out)
{
    if (type == PCC_GGUF_VAL_FLOAT32) {
        uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float f;
        memcpy(&f, &b, 4);
        *out = f;
        return true;
    }
    if (type == PCC_GGUF_VAL_FLOAT64) {
        uint64_t b = le64(p);
        memcpy(out, &b, 8);
        return true;
    }
    return false;
}

pcc_status pcc_gguf_get_f64(const pcc_gguf *g, const char *key, double *out)
{
    const struct kv *kv;
    pcc_status st = find(g, key, &kv);
    if (st != PCC_OK)
        return st;
    return read_float(kv->type, kv->raw, out) ? PCC_OK : PCC_E_FORMAT;
}

pcc_status pcc_gguf_get_f32(const pcc_gguf *g, const char *key, float *out)
{
    double d;
    pcc_status st = pcc_gguf_get_f64(g, key, &d);
    if (st == PCC_OK)
        *out = (float)d;
    return st;
}

pcc_status pcc_gguf_get_bool(const pcc_gguf *g, const char *key, bool *out)
{
    const struct kv *kv;
    pcc_status st = find(g, key, &kv);
    if (st != PCC_OK)
        return st;
    if (kv->type != PCC_GGUF_VAL_BOOL)
        return PCC_E_FORMAT;
    *out = kv->raw[0] != 0;
    return PCC_OK;
}

pcc_status pcc_gguf_get_str(const pcc_gguf *g, const char *key, const char **s, size_t *len)
{
    const struct kv *kv;
    pcc_status st = find(g, key, &kv);
    if (st != PCC_OK)
        return st;
    if (kv->type != PCC_GGUF_VAL_STRING)
        return PCC_E_FORMAT;
    *len = (size_t)le64(kv->raw);
    *s = (const char *)kv->raw + 8;
    return PCC_OK;
}

static pcc_status find_arr(const pcc_gguf *g, const char *key, const struct kv **kv)
{
    pcc_status st = find(g, key, kv);
    if (st != PCC_OK)
        return st;
    return (*kv)->type == PCC_GGUF_VAL_ARRAY ? PCC_OK : PCC_E_FORMAT;
}

pcc_status pcc_gguf_get_arr(const pcc_gguf *g, const char *key, uint32_t *elem_type, size_t *n)
{
    const struct kv *kv;
    pcc_status st = find_arr(g, key, &kv);
    if (st != PCC_OK)
        return st;
    *elem_type = kv->elem_type;
    *n = (size_t)kv->n;
    return PCC_OK;
}

pcc_status pcc_gguf_get_arr_raw(const pcc_gguf *g, const char *key, uint32_t elem_type,
                                const uint8_t **data, size_t *n)
{
    const struct kv *kv;
    pcc_status st = find_arr(g, key, &kv);
    if (st != PCC_OK)
        return st;
    if (kv->elem_type != elem_type || val_size[elem_type < PCC_GGUF_VAL_COUNT ? elem_type : 8] == 0)
        return PCC_E_FORMAT;
    *data = kv->elems;
    *n = (size_t)kv->n;
    return PCC_OK;
}

pcc_status pcc_gguf_get_arr_i64(const pcc_gguf *g, const char *key, size_t index, int64_t *out)
{
    const struct kv *kv;
    pcc_status st = find_arr(g, key, &kv);
    if (st != PCC_OK)
        return st;
    if (kv->elem_type >= PCC_GGUF_VAL_COUNT || val_size[kv->elem_type] == 0 ||
        kv->elem_type == PCC_GGUF_VAL_BOOL)
        return PCC_E_FORMAT;
    if (index >= kv->n)
        return PCC_E_INVALID;
    int64_t s;
    uint64_t u;
    bool neg;
    if (!read_int(kv->elem_type, kv->elems + index * val_size[kv->elem_type], &s, &u, &neg))
        return PCC_E_FORMAT;
    if (!neg && u > (uint64_t)INT64_MAX)
        return PCC_E_FORMAT;
    *out = s;
    return PCC_OK;
}

pcc_status pcc_gguf_get_arr_f32(const pcc_gguf *g, const char *key, size_t index, float *out)
{
    const struct kv *kv;
    pcc_status st = find_arr(g, key, &kv);
    if (st != PCC_OK)
        return st;
    if (kv->elem_type != PCC_GGUF_VAL_FLOAT32 && kv->elem_type != PCC_GGUF_VAL_FLOAT64)
        return PCC_E_FORMAT;
    if (index >= kv->n)
        return PCC_E_INVALID;
    double d;
    if (!read_float(kv->elem_type, kv->elems + index * val_size[kv->elem_type], &d))
        return PCC_E_FORMAT;
    *out = (float)d;
    return PCC_OK;
}

pcc_status pcc_gguf_get_arr_str(const pcc_gguf *g, const char *key, size_t index, const char **s,
                                size_t *len)
{
    const struct kv *kv;
    pcc_status st = find_arr(g, key, &kv);
    if (st != PCC_OK)
        return st;
    if (kv->elem_type != PCC_GGUF_VAL_STRING)
        return PCC_E_FORMAT;
    if (index >= kv->n)
        return PCC_E_INVALID;
    const uint8_t *p = g->base + kv->str_index[index];
    *len = (size_t)le64(p);
    *s = (const char *)p + 8;
    return PCC_OK;
}

/* ---- tensors ---- */

size_t pcc_gguf_tensor_count(const pcc_gguf *g) { return g->n_tensors; }

const pcc_gguf_tensor *pcc_gguf_tensor_at(const pcc_gguf *g, size_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

pcc_status pcc_gguf_find_tensor(const pcc_gguf *g, const char *name, const pcc_gguf_tensor **out)
{
    if (g == NULL || name == NULL || out == NULL)
        return PCC_E_INVALID;
    const struct name_ref *ref = lookup(g->t_sorted, g->n_tensors, name);
    if (ref == NULL)
        return PCC_E_UNKNOWN_KEY;
    *out = &g->tensors[ref->idx];
    return PCC_OK;
}
