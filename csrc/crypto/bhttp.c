/* bhttp.c: Binary HTTP messages, RFC 9292. */
#include "pcc/bhttp.h"

#include <stdlib.h>
#include <string.h>

#include "pcc/buf.h"
#include "pcc/secure.h"

typedef struct field {
    size_t name_off, name_len, value_off, value_len; /* offsets into the message's store */
} field;

typedef struct section {
    uint16_t status; /* informational sections only */
    field *f;
    size_t n, cap;
    size_t bytes; /* names and values, for PCC_BHTTP_MAX_FIELD_SECTION */
} section;

struct pcc_bhttp_msg {
    bool request;
    unsigned framing;
    size_t ctl_off[4], ctl_len[4]; /* method, scheme, authority, path */
    uint16_t status;
    section info[PCC_BHTTP_MAX_INFORMATIONAL];
    size_t n_info;
    section headers, trailers;
    size_t content_off, content_len;
    pcc_writer store; /* every byte the message returns; wiped on free */
};

static const uint8_t empty[1] = {0};

/* ---- validation (RFC 9110 §5.1, §5.5; RFC 9113 §8.3.1; RFC 3986 §3.1) ---- */

static bool is_tchar(uint8_t c)
{
    /* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" /
     *         "|" / "~" / DIGIT / ALPHA */
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool valid_token(const uint8_t *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar(p[i]))
            return false;
    return true;
}

/* RFC 9292 §3.6: field names are lower-case tokens (upper case makes the message malformed). */
static bool valid_name(const uint8_t *p, size_t n)
{
    if (!valid_token(p, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            return false;
    return true;
}

/* RFC 9110 §5.5: a field value with NUL, CR or LF is rejected. */
static bool valid_value(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0 || p[i] == '\r' || p[i] == '\n')
            return false;
    return true;
}

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), or empty (CONNECT). */
static bool valid_scheme(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (i == 0 ? !alpha : !(alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* authority and path: visible ASCII only (no space, control or non-ASCII byte). */
static bool valid_vchar(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7E)
            return false;
    return true;
}

static bool valid_control(unsigned which, const uint8_t *p, size_t n)
{
    switch (which) {
    case 0: return valid_token(p, n);
    case 1: return valid_scheme(p, n);
    default: return valid_vchar(p, n);
    }
}

static size_t varint_len(uint64_t v)
{
    return v < 0x40 ? 1 : v < 0x4000 ? 2 : v < 0x40000000 ? 4 : 8;
}

/* ---- message object ---- */

static pcc_bhttp_msg *msg_alloc(void)
{
    pcc_bhttp_msg *m = calloc(1, sizeof *m);
    if (m != NULL)
        pcc_writer_init_dynamic(&m->store, false, SIZE_MAX / 2);
    return m;
}

static void section_cleanup(section *s)
{
    free(s->f);
    memset(s, 0, sizeof *s);
}

void pcc_bhttp_msg_free(pcc_bhttp_msg *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_info; i++)
        section_cleanup(&m->info[i]);
    section_cleanup(&m->headers);
    section_cleanup(&m->trailers);
    pcc_writer_cleanup(&m->store); /* wipes */
    pcc_wipe(m, sizeof *m);
    free(m);
}

static const uint8_t *at(const pcc_bhttp_msg *m, size_t off, size_t len)
{
    return len == 0 ? empty : m->store.data + off;
}

static section *section_of(pcc_bhttp_msg *m, pcc_bhttp_section s, size_t info_index)
{
    switch (s) {
    case PCC_BHTTP_INFORMATIONAL: return info_index < m->n_info ? &m->info[info_index] : NULL;
    case PCC_BHTTP_HEADERS: return &m->headers;
    case PCC_BHTTP_TRAILERS: return &m->trailers;
    }
    return NULL;
}

/* section_push records a field line whose bytes are already in the store. */
static pcc_status section_push(section *s, size_t name_off, size_t name_len, size_t value_off,
                               size_t value_len)
{
    if (s->n >= PCC_BHTTP_MAX_FIELDS)
        return PCC_E_LIMIT;
    if (name_len > PCC_BHTTP_MAX_FIELD_SECTION || value_len > PCC_BHTTP_MAX_FIELD_SECTION ||
        s->bytes + name_len + value_len > PCC_BHTTP_MAX_FIELD_SECTION)
        return PCC_E_LIMIT;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 8;
        field *nf = realloc(s->f, ncap * sizeof *nf);
        if (nf == NULL)
            return PCC_E_NOMEM;
        s->f = nf;
        s->cap = ncap;
    }
    s->f[s->n++] = (field){name_off, name_len, value_off, value_len};
    s->bytes += name_len + value_len;
    return PCC_OK;
}

pcc_status pcc_bhttp_request_new(pcc_bhttp_msg **out, const uint8_t *method, size_t method_len,
                                 const uint8_t *scheme, size_t scheme_len,
                                 const uint8_t *authority, size_t authority_len,
                                 const uint8_t *path, size_t path_len)
{
    const uint8_t *p[4] = {method, scheme, authority, path};
    size_t n[4] = {method_len, scheme_len, authority_len, path_len};
    pcc_status st;
    *out = NULL;
    for (unsigned i = 0; i < 4; i++) {
        if (p[i] == NULL && n[i] != 0)
            return PCC_E_INVALID;
        if (n[i] > PCC_BHTTP_MAX_CONTROL)
            return PCC_E_LIMIT;
        if (!valid_control(i, p[i], n[i]))
            return PCC_E_INVALID;
    }
    pcc_bhttp_msg *m = msg_alloc();
    if (m == NULL)
        return PCC_E_NOMEM;
    m->request = true;
    m->framing = PCC_BHTTP_KNOWN_REQUEST;
    for (unsigned i = 0; i < 4; i++) {
        m->ctl_off[i] = m->store.len;
        m->ctl_len[i] = n[i];
        if ((st = pcc_writer_bytes(&m->store, p[i], n[i])) != PCC_OK) {
            pcc_bhttp_msg_free(m);
            return st;
        }
    }
    *out = m;
    return PCC_OK;
}

pcc_status pcc_bhttp_response_new(pcc_bhttp_msg **out, uint16_t status)
{
    *out = NULL;
    if (status < 200 || status > 599)
        return PCC_E_INVALID;
    pcc_bhttp_msg *m = msg_alloc();
    if (m == NULL)
        return PCC_E_NOMEM;
    m->framing = PCC_BHTTP_KNOWN_RESPONSE;
    m->status = status;
    *out = m;
    return PCC_OK;
}

pcc_status pcc_bhttp_msg_add_informational(pcc_bhttp_msg *m, uint16_t status)
{
    if (m->request || status < 100 || status > 199)
        return PCC_E_INVALID;
    if (m->n_info >= PCC_BHTTP_MAX_INFORMATIONAL)
        return PCC_E_LIMIT;
    m->info[m->n_info++].status = status;
    return PCC_OK;
}

pcc_status pcc_bhttp_msg_add_field(pcc_bhttp_msg *m, pcc_bhttp_section s, size_t info_index,
                                   const uint8_t *name, size_t name_len, const uint8_t *value,
                                   size_t value_len)
{
    section *sec = section_of(m, s, info_index);
    if (sec == NULL || (name == NULL && name_len) || (value == NULL && value_len))
        return PCC_E_INVALID;
    if (name_len > PCC_BHTTP_MAX_FIELD_SECTION || value_len > PCC_BHTTP_MAX_FIELD_SECTION)
        return PCC_E_LIMIT;
    if (!valid_name(name, name_len) || !valid_value(value, value_len))
        return PCC_E_INVALID;
    size_t mark = m->store.len;
    pcc_status st = pcc_writer_bytes(&m->store, name, name_len);
    if (st == PCC_OK)
        st = pcc_writer_bytes(&m->store, value, value_len);
    if (st == PCC_OK)
        st = section_push(sec, mark, name_len, mark + name_len, value_len);
    if (st != PCC_OK)
        m->store.len = mark;
    return st;
}

pcc_status pcc_bhttp_msg_set_content(pcc_bhttp_msg *m, const uint8_t *content, size_t content_len)
{
    if (content == NULL && content_len)
        return PCC_E_INVALID;
    if (content_len > PCC_BHTTP_MAX_MESSAGE)
        return PCC_E_LIMIT;
    size_t off = m->store.len;
    pcc_status st = pcc_writer_bytes(&m->store, content, content_len);
    if (st != PCC_OK)
        return st;
    m->content_off = off;
    m->content_len = content_len;
    return PCC_OK;
}

/* ---- encoding ---- */

static size_t lines_len(const section *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += varint_len(s->f[i].name_len) + s->f[i].name_len + varint_len(s->f[i].value_len) +
             s->f[i].value_len;
    return n;
}

static size_t section_len(const section *s, bool known)
{
    size_t l = lines_len(s);
    return known ? varint_len(l) + l : l + 1; /* length prefix, or the 0x00 terminator */
}

static size_t content_len_enc(const pcc_bhttp_msg *m, bool known)
{
    size_t c = m->content_len;
    if (known)
        return varint_len(c) + c;
    return (c ? varint_len(c) + c : 0) + 1; /* one chunk and the terminator */
}

/* parts returns how many of headers, content and trailers are written (3, or fewer when
 * truncating trailing empty ones, RFC 9292 §3.8). */
static int parts(const pcc_bhttp_msg *m, unsigned flags)
{
    if (!(flags & PCC_BHTTP_TRUNCATE))
        return 3;
    if (m->trailers.n)
        return 3;
    if (m->content_len)
        return 2;
    return m->headers.n ? 1 : 0;
}

pcc_status pcc_bhttp_msg_encoded_len(const pcc_bhttp_msg *m, unsigned flags, size_t padding,
                                     size_t *out_len)
{
    bool known = !(flags & PCC_BHTTP_INDETERMINATE);
    size_t n = 1; /* framing indicator */
    if (m->request) {
        for (unsigned i = 0; i < 4; i++)
            n += varint_len(m->ctl_len[i]) + m->ctl_len[i];
    } else {
        for (size_t i = 0; i < m->n_info; i++)
            n += varint_len(m->info[i].status) + section_len(&m->info[i], known);
        n += varint_len(m->status);
    }
    int k = parts(m, flags);
    if (k >= 1)
        n += section_len(&m->headers, known);
    if (k >= 2)
        n += content_len_enc(m, known);
    if (k >= 3)
        n += section_len(&m->trailers, known);
    if (n > PCC_BHTTP_MAX_MESSAGE || padding > PCC_BHTTP_MAX_MESSAGE - n)
        return PCC_E_LIMIT;
    *out_len = n + padding;
    return PCC_OK;
}

static pcc_status put_vbytes(pcc_writer *w, const uint8_t *p, size_t n)
{
    pcc_status st = pcc_writer_varint(w, n);
    return st != PCC_OK ? st : pcc_writer_bytes(w, p, n);
}

static pcc_status put_section(pcc_writer *w, const pcc_bhttp_msg *m, const section *s, bool known)
{
    pcc_status st = PCC_OK;
    if (known && (st = pcc_writer_varint(w, lines_len(s))) != PCC_OK)
        return st;
    for (size_t i = 0; i < s->n && st == PCC_OK; i++) {
        const field *f = &s->f[i];
        st = put_vbytes(w, at(m, f->name_off, f->name_len), f->name_len);
        if (st == PCC_OK)
            st = put_vbytes(w, at(m, f->value_off, f->value_len), f->value_len);
    }
    if (st == PCC_OK && !known)
        st = pcc_writer_u8(w, 0);
    return st;
}

pcc_status pcc_bhttp_msg_encode(const pcc_bhttp_msg *m, unsigned flags, size_t padding,
                                uint8_t *out, size_t *out_len, size_t max_out)
{
    bool known = !(flags & PCC_BHTTP_INDETERMINATE);
    size_t need;
    pcc_status st = pcc_bhttp_msg_encoded_len(m, flags, padding, &need);
    if (st != PCC_OK)
        return st;
    if (need > max_out || out == NULL)
        return PCC_E_LIMIT;
    pcc_writer w;
    pcc_writer_init_fixed(&w, out, max_out);
    unsigned framing = (m->request ? 0u : 1u) + (known ? 0u : 2u);
    if ((st = pcc_writer_varint(&w, framing)) != PCC_OK)
        goto out;
    if (m->request) {
        for (unsigned i = 0; i < 4 && st == PCC_OK; i++)
            st = put_vbytes(&w, at(m, m->ctl_off[i], m->ctl_len[i]), m->ctl_len[i]);
    } else {
        for (size_t i = 0; i < m->n_info && st == PCC_OK; i++) {
            st = pcc_writer_varint(&w, m->info[i].status);
            if (st == PCC_OK)
                st = put_section(&w, m, &m->info[i], known);
        }
        if (st == PCC_OK)
            st = pcc_writer_varint(&w, m->status);
    }
    int k = parts(m, flags);
    if (st == PCC_OK && k >= 1)
        st = put_section(&w, m, &m->headers, known);
    if (st == PCC_OK && k >= 2) {
        const uint8_t *c = at(m, m->content_off, m->content_len);
        if (known) {
            st = put_vbytes(&w, c, m->content_len);
        } else {
            if (m->content_len)
                st = put_vbytes(&w, c, m->content_len);
            if (st == PCC_OK)
                st = pcc_writer_u8(&w, 0);
        }
    }
    if (st == PCC_OK && k >= 3)
        st = put_section(&w, m, &m->trailers, known);
    if (st == PCC_OK)
        st = pcc_writer_zeros(&w, padding);
out:
    if (st != PCC_OK) {
        pcc_wipe(out, max_out);
        return st;
    }
    *out_len = w.len;
    return PCC_OK;
}

/* ---- decoding ---- */

typedef struct dec {
    const uint8_t *data; /* the input; the store holds a copy at the same offsets */
    pcc_reader r;
    pcc_bhttp_msg *m;
} dec;

/* read_vbytes reads a varint length and that many bytes, giving their offset in the input. */
static pcc_status read_vbytes(pcc_reader *r, size_t base, size_t *off, size_t *len)
{
    uint64_t n;
    if (pcc_reader_varint(r, &n) != PCC_OK || n > pcc_reader_remaining(r))
        return PCC_E_FORMAT;
    *off = base + r->off;
    *len = (size_t)n;
    r->off += (size_t)n;
    return PCC_OK;
}

/* read_line reads one field line from r (offsets relative to base). Returns PCC_OK with
 * *end = true for the zero-length name that ends an indeterminate-length section. */
static pcc_status read_line(dec *d, pcc_reader *r, size_t base, section *s, bool known, bool *end)
{
    size_t no, nl, vo, vl;
    pcc_status st;
    *end = false;
    if ((st = read_vbytes(r, base, &no, &nl)) != PCC_OK)
        return st;
    if (nl == 0) {
        if (known)
            return PCC_E_FORMAT; /* an empty name is never a field line */
        *end = true;
        return PCC_OK;
    }
    if ((st = read_vbytes(r, base, &vo, &vl)) != PCC_OK)
        return st;
    if (!valid_name(d->data + no, nl) || !valid_value(d->data + vo, vl))
        return PCC_E_FORMAT;
    return section_push(s, no, nl, vo, vl);
}

/* read_section reads a known-length (length prefix) or indeterminate-length (terminated)
 * field section (RFC 9292 §3.6). */
static pcc_status read_section(dec *d, section *s, bool known)
{
    pcc_status st;
    bool end = false;
    if (!known) {
        while (!end)
            if ((st = read_line(d, &d->r, 0, s, false, &end)) != PCC_OK)
                return st;
        return PCC_OK;
    }
    uint64_t l;
    if (pcc_reader_varint(&d->r, &l) != PCC_OK || l > pcc_reader_remaining(&d->r))
        return PCC_E_FORMAT;
    if (l > (uint64_t)PCC_BHTTP_MAX_FIELD_SECTION + 16u * PCC_BHTTP_MAX_FIELDS)
        return PCC_E_LIMIT; /* longer than any section the limits allow (names, values, varints) */
    size_t base = d->r.off;
    pcc_reader sub;
    pcc_reader_init(&sub, d->data + base, (size_t)l);
    d->r.off += (size_t)l;
    while (pcc_reader_remaining(&sub) > 0)
        if ((st = read_line(d, &sub, base, s, true, &end)) != PCC_OK)
            return st;
    return PCC_OK;
}

/* append_chunk joins indeterminate-length content: the first chunk is used in place, later ones
 * move the content to the end of the store. */
static pcc_status append_chunk(dec *d, size_t off, size_t len, size_t *chunks)
{
    pcc_bhttp_msg *m = d->m;
    pcc_status st;
    if (len > PCC_BHTTP_MAX_MESSAGE - m->content_len)
        return PCC_E_LIMIT;
    if (*chunks == 0) {
        m->content_off = off;
        m->content_len = len;
    } else {
        if (*chunks == 1) {
            size_t first = m->store.len;
            /* copy from the input (not the store, which may move as it grows) */
            if ((st = pcc_writer_bytes(&m->store, d->data + m->content_off, m->content_len)) != PCC_OK)
                return st;
            m->content_off = first;
        }
        if ((st = pcc_writer_bytes(&m->store, d->data + off, len)) != PCC_OK)
            return st;
        m->content_len += len;
    }
    (*chunks)++;
    return PCC_OK;
}

static pcc_status read_content(dec *d, bool known)
{
    size_t off, len, chunks = 0;
    pcc_status st;
    if (known) {
        if ((st = read_vbytes(&d->r, 0, &off, &len)) != PCC_OK)
            return st;
        d->m->content_off = off;
        d->m->content_len = len;
        return PCC_OK;
    }
    for (;;) {
        if ((st = read_vbytes(&d->r, 0, &off, &len)) != PCC_OK)
            return st;
        if (len == 0)
            return PCC_OK;
        if ((st = append_chunk(d, off, len, &chunks)) != PCC_OK)
            return st;
    }
}

static pcc_status decode(dec *d)
{
    pcc_bhttp_msg *m = d->m;
    pcc_status st;
    uint64_t v;
    if (pcc_reader_varint(&d->r, &v) != PCC_OK || v > 3)
        return PCC_E_FORMAT; /* framing indicator 0..3 */
    m->framing = (unsigned)v;
    m->request = (v & 1) == 0;
    bool known = v < 2;
    if (m->request) {
        /* Request Control Data { Method Length (i), Method (..), Scheme Length (i), ... } */
        for (unsigned i = 0; i < 4; i++) {
            if ((st = read_vbytes(&d->r, 0, &m->ctl_off[i], &m->ctl_len[i])) != PCC_OK)
                return st;
            if (m->ctl_len[i] > PCC_BHTTP_MAX_CONTROL)
                return PCC_E_LIMIT;
            if (!valid_control(i, d->data + m->ctl_off[i], m->ctl_len[i]))
                return PCC_E_FORMAT;
        }
    } else {
        /* Informational Response (..) ..., Final Response Control Data { Status Code (i) } */
        for (;;) {
            if (pcc_reader_varint(&d->r, &v) != PCC_OK)
                return PCC_E_FORMAT;
            if (v >= 200 && v <= 599) {
                m->status = (uint16_t)v;
                break;
            }
            if (v < 100 || v > 199)
                return PCC_E_FORMAT;
            if (m->n_info >= PCC_BHTTP_MAX_INFORMATIONAL)
                return PCC_E_LIMIT;
            section *s = &m->info[m->n_info++];
            s->status = (uint16_t)v;
            if ((st = read_section(d, s, known)) != PCC_OK)
                return st;
        }
    }
    /* RFC 9292 §3.8: the message may end after the control data, the header section or the
     * content; the missing parts are empty. */
    if (pcc_reader_remaining(&d->r) == 0)
        return PCC_OK;
    if ((st = read_section(d, &m->headers, known)) != PCC_OK)
        return st;
    if (pcc_reader_remaining(&d->r) == 0)
        return PCC_OK;
    if ((st = read_content(d, known)) != PCC_OK)
        return st;
    if (pcc_reader_remaining(&d->r) == 0)
        return PCC_OK;
    if ((st = read_section(d, &m->trailers, known)) != PCC_OK)
        return st;
    /* Padding: any number of zero bytes; non-zero padding makes the message invalid. */
    uint8_t acc = 0;
    for (size_t i = d->r.off; i < d->r.len; i++)
        acc |= d->data[i];
    return acc ? PCC_E_FORMAT : PCC_OK;
}

pcc_status pcc_bhttp_decode(pcc_bhttp_msg **out, const uint8_t *data, size_t len)
{
    *out = NULL;
    if (data == NULL && len)
        return PCC_E_INVALID;
    if (len > PCC_BHTTP_MAX_MESSAGE)
        return PCC_E_LIMIT;
    pcc_bhttp_msg *m = msg_alloc();
    if (m == NULL)
        return PCC_E_NOMEM;
    /* The store starts as a copy of the input, so offsets into the input are offsets into it. */
    pcc_status st = pcc_writer_bytes(&m->store, data, len);
    if (st == PCC_OK) {
        dec d = {.data = data, .m = m};
        pcc_reader_init(&d.r, data, len);
        st = decode(&d);
    }
    if (st != PCC_OK) {
        pcc_bhttp_msg_free(m);
        return st;
    }
    *out = m;
    return PCC_OK;
}

/* ---- accessors ---- */

bool pcc_bhttp_msg_is_request(const pcc_bhttp_msg *m) { return m->request; }

unsigned pcc_bhttp_msg_framing(const pcc_bhttp_msg *m) { return m->framing; }

void pcc_bhttp_msg_control(const pcc_bhttp_msg *m, unsigned which, const uint8_t **p, size_t *len)
{
    if (!m->request || which > 3) {
        *p = empty;
        *len = 0;
        return;
    }
    *p = at(m, m->ctl_off[which], m->ctl_len[which]);
    *len = m->ctl_len[which];
}

uint16_t pcc_bhttp_msg_status(const pcc_bhttp_msg *m) { return m->status; }

size_t pcc_bhttp_msg_informational_count(const pcc_bhttp_msg *m) { return m->n_info; }

uint16_t pcc_bhttp_msg_informational_status(const pcc_bhttp_msg *m, size_t i)
{
    return i < m->n_info ? m->info[i].status : 0;
}

size_t pcc_bhttp_msg_field_count(const pcc_bhttp_msg *m, pcc_bhttp_section s, size_t info_index)
{
    const section *sec = section_of((pcc_bhttp_msg *)m, s, info_index);
    return sec ? sec->n : 0;
}

pcc_status pcc_bhttp_msg_field(const pcc_bhttp_msg *m, pcc_bhttp_section s, size_t info_index,
                               size_t i, const uint8_t **name, size_t *name_len,
                               const uint8_t **value, size_t *value_len)
{
    const section *sec = section_of((pcc_bhttp_msg *)m, s, info_index);
    if (sec == NULL || i >= sec->n)
        return PCC_E_INVALID;
    const field *f = &sec->f[i];
    *name = at(m, f->name_off, f->name_len);
    *name_len = f->name_len;
    *value = at(m, f->value_off, f->value_len);
    *value_len = f->value_len;
    return PCC_OK;
}

void pcc_bhttp_msg_content(const pcc_bhttp_msg *m, const uint8_t **p, size_t *len)
{
    *p = at(m, m->content_off, m->content_len);
    *len = m->content_len;
}

/* ---- incremental decoding of an indeterminate-length response ----
 *
 * A light scanner follows the framing byte by byte (varints and the lengths they announce)
 * without interpreting names or values. The head (framing indicator, informational responses,
 * final status, header section) and the trailer section are held until whole and then decoded by
 * pcc_bhttp_decode, so they get exactly the validation and limits of a whole message; content
 * chunks are handed out as they arrive, pointing into the caller's input. */

enum {
    SC_FRAMING, SC_STATUS,                       /* head control data */
    SC_LINE_NAME_LEN, SC_LINE_NAME, SC_LINE_VALUE_LEN, SC_LINE_VALUE, /* a field section */
    SC_CHUNK_LEN, SC_CHUNK,                      /* content */
    SC_PADDING, SC_DONE, SC_FAILED
};

/* The largest head or trailer section held: one field section at its limits (names, values and
 * their varints) plus the control data. */
#define STREAM_MAX_SECTION ((size_t)PCC_BHTTP_MAX_FIELD_SECTION + 16u * PCC_BHTTP_MAX_FIELDS + 64u)
#define STREAM_MAX_HEAD (STREAM_MAX_SECTION + PCC_BHTTP_MAX_INFORMATIONAL * 4096u)

struct pcc_bhttp_stream {
    int state;
    int section; /* which section the field-line states are in: 0 informational, 1 head, 2 trailers */
    uint8_t vint[8];
    size_t vint_len, vint_need;
    uint64_t skip;    /* bytes left of a name, value or content chunk */
    bool content;     /* a content chunk was seen */
    pcc_writer held;  /* the head, then the trailers (framed as a whole message) */
    size_t max_held;
    pcc_bhttp_msg *head, *trailers;
};

pcc_status pcc_bhttp_stream_new(pcc_bhttp_stream **out)
{
    pcc_bhttp_stream *s = calloc(1, sizeof *s);
    *out = NULL;
    if (s == NULL)
        return PCC_E_NOMEM;
    s->state = SC_FRAMING;
    s->max_held = STREAM_MAX_HEAD;
    pcc_writer_init_dynamic(&s->held, false, STREAM_MAX_HEAD);
    *out = s;
    return PCC_OK;
}

void pcc_bhttp_stream_free(pcc_bhttp_stream *s)
{
    if (s == NULL)
        return;
    pcc_writer_cleanup(&s->held); /* wipes */
    pcc_bhttp_msg_free(s->head);
    pcc_bhttp_msg_free(s->trailers);
    pcc_wipe(s, sizeof *s);
    free(s);
}

const pcc_bhttp_msg *pcc_bhttp_stream_head(const pcc_bhttp_stream *s) { return s->head; }

const pcc_bhttp_msg *pcc_bhttp_stream_trailers(const pcc_bhttp_stream *s) { return s->trailers; }

bool pcc_bhttp_stream_done(const pcc_bhttp_stream *s) { return s->state == SC_DONE; }

static void stream_fail(pcc_bhttp_stream *s)
{
    pcc_writer_cleanup(&s->held);
    s->state = SC_FAILED;
}

/* stream_hold keeps n bytes of the head or trailers. */
static pcc_status stream_hold(pcc_bhttp_stream *s, const uint8_t *p, size_t n)
{
    if (n > s->max_held - s->held.len)
        return PCC_E_LIMIT;
    return pcc_writer_bytes(&s->held, p, n);
}

/* stream_decode_head decodes the held head (a message truncated after its header section). */
static pcc_status stream_decode_head(pcc_bhttp_stream *s)
{
    pcc_status st = pcc_bhttp_decode(&s->head, s->held.data, s->held.len);
    pcc_writer_cleanup(&s->held);
    if (st != PCC_OK)
        return st;
    /* the trailers are held next, behind a synthetic head: framing 3, status 200, no header
     * fields, no content */
    static const uint8_t pre[] = {3, 0x40, 0xc8, 0, 0};
    s->max_held = STREAM_MAX_SECTION + sizeof pre;
    pcc_writer_init_dynamic(&s->held, false, s->max_held);
    return pcc_writer_bytes(&s->held, pre, sizeof pre);
}

pcc_status pcc_bhttp_stream_feed(pcc_bhttp_stream *s, const uint8_t *in, size_t in_len,
                                 size_t *in_used, unsigned *event, const uint8_t **content,
                                 size_t *content_len)
{
    size_t u = 0;
    pcc_status st = PCC_OK;
    *in_used = 0;
    *event = PCC_BHTTP_EV_NONE;
    if (s->state == SC_FAILED || s->state == SC_DONE)
        return PCC_E_STATE;
    if (in == NULL && in_len)
        return PCC_E_INVALID;
    while (u < in_len && st == PCC_OK && *event == PCC_BHTTP_EV_NONE) {
        size_t avail = in_len - u;
        switch (s->state) {
        case SC_CHUNK: { /* content bytes go straight out */
            size_t take = s->skip < avail ? (size_t)s->skip : avail;
            *content = in + u;
            *content_len = take;
            *event = PCC_BHTTP_EV_CONTENT;
            u += take;
            s->skip -= take;
            if (s->skip == 0)
                s->state = SC_CHUNK_LEN;
            break;
        }
        case SC_LINE_NAME:
        case SC_LINE_VALUE: {
            size_t take = s->skip < avail ? (size_t)s->skip : avail;
            if ((st = stream_hold(s, in + u, take)) != PCC_OK)
                break;
            u += take;
            s->skip -= take;
            if (s->skip == 0)
                s->state = s->state == SC_LINE_NAME ? SC_LINE_VALUE_LEN : SC_LINE_NAME_LEN;
            break;
        }
        case SC_PADDING:
            for (; u < in_len; u++)
                if (in[u] != 0) {
                    st = PCC_E_FORMAT; /* non-zero padding */
                    break;
                }
            break;
        default: { /* a varint */
            uint8_t b = in[u++];
            if (s->vint_len == 0)
                s->vint_need = (size_t)1 << (b >> 6);
            s->vint[s->vint_len++] = b;
            if (s->state != SC_CHUNK_LEN && (st = stream_hold(s, &b, 1)) != PCC_OK)
                break;
            if (s->vint_len < s->vint_need)
                break;
            uint64_t v = s->vint[0] & 0x3f;
            for (size_t i = 1; i < s->vint_len; i++)
                v = v << 8 | s->vint[i];
            s->vint_len = 0;
            switch (s->state) {
            case SC_FRAMING:
                if (v != PCC_BHTTP_INDETERMINATE_RESPONSE)
                    st = PCC_E_FORMAT; /* this decoder takes indeterminate-length responses */
                s->state = SC_STATUS;
                break;
            case SC_STATUS:
                if (v < 100 || v > 599) {
                    st = PCC_E_FORMAT;
                    break;
                }
                s->section = v < 200 ? 0 : 1;
                s->state = SC_LINE_NAME_LEN;
                break;
            case SC_LINE_NAME_LEN:
                if (v == 0) { /* end of the section */
                    if (s->section == 0) {
                        s->state = SC_STATUS;
                    } else if (s->section == 1) {
                        if ((st = stream_decode_head(s)) == PCC_OK) {
                            s->state = SC_CHUNK_LEN;
                            *event = PCC_BHTTP_EV_HEAD;
                        }
                    } else {
                        st = pcc_bhttp_decode(&s->trailers, s->held.data, s->held.len);
                        pcc_writer_cleanup(&s->held);
                        if (st == PCC_OK) {
                            s->state = SC_PADDING;
                            *event = PCC_BHTTP_EV_TRAILERS;
                        }
                    }
                    break;
                }
                __attribute__((fallthrough)); /* a name of v bytes */
            case SC_LINE_VALUE_LEN:
                if (v > s->max_held - s->held.len) {
                    st = PCC_E_LIMIT;
                    break;
                }
                s->skip = v;
                s->state = s->state == SC_LINE_NAME_LEN ? SC_LINE_NAME : SC_LINE_VALUE;
                if (v == 0)
                    s->state = SC_LINE_NAME_LEN; /* an empty value */
                break;
            case SC_CHUNK_LEN:
                if (v == 0) { /* content terminator: the trailer section follows */
                    s->section = 2;
                    s->state = SC_LINE_NAME_LEN;
                } else {
                    s->skip = v;
                    s->content = true;
                    s->state = SC_CHUNK;
                }
                break;
            default:
                st = PCC_E_STATE;
                break;
            }
            break;
        }
        }
    }
    *in_used = u;
    if (st != PCC_OK) {
        stream_fail(s);
        *event = PCC_BHTTP_EV_NONE;
    }
    return st;
}

pcc_status pcc_bhttp_stream_finish(pcc_bhttp_stream *s, bool *head_now)
{
    pcc_status st;
    *head_now = false;
    if (s->state == SC_FAILED || s->state == SC_DONE)
        return PCC_E_STATE;
    /* RFC 9292 §3.8: the message may end after the final status, after the header section or
     * after the content; the missing sections are empty. Anywhere else it is truncated. */
    bool at_boundary = s->vint_len == 0;
    if (at_boundary && s->state == SC_LINE_NAME_LEN && s->section == 1 && s->head == NULL) {
        /* ended right after the final status (or inside the header section: decode decides) */
        st = pcc_bhttp_decode(&s->head, s->held.data, s->held.len);
        pcc_writer_cleanup(&s->held);
        if (st == PCC_OK)
            *head_now = true;
    } else if (at_boundary && ((s->state == SC_CHUNK_LEN && !s->content) ||
                               s->state == SC_PADDING)) {
        st = PCC_OK; /* after the header section, or a whole message (and padding) */
    } else if (at_boundary && s->state == SC_LINE_NAME_LEN && s->section == 2 &&
               s->held.len == 5) {
        st = PCC_OK; /* ended after the content terminator: no trailers */
    } else {
        st = PCC_E_FORMAT;
    }
    if (st != PCC_OK) {
        stream_fail(s);
        return st;
    }
    pcc_writer_cleanup(&s->held);
    s->state = SC_DONE;
    return PCC_OK;
}
