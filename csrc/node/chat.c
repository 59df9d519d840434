/* chat.c: the request payload and the answer chunks (pcc/chat.h), on msgpack-c through the
 * hostile-input helpers of mp.c. Decoded strings point into our secure copy of the input. */
#include "pcc/chat.h"

#include <math.h>
#include <string.h>

#include <msgpack.h>

#include "pcc/request.h"
#include "pcc/secure.h"
#include "mp_internal.h"

/* ---- the request payload ---------------------------------------------------------------- */

struct pcc_chat_request {
    uint8_t *buf; /* secure copy of the payload; strings point into it */
    pcc_chat_message *msgs; /* secure */
    int msgs_small;         /* msgs came from pcc_secure_small_alloc */
    size_t n;
    pcc_chat_params params;
};

static int role_ok(const char *role, size_t n)
{
    static const char *const roles[] = {"system", "user", "assistant"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strlen(roles[i]) == n && memcmp(roles[i], role, n) == 0)
            return 1;
    return 0;
}

static int params_ok(const pcc_chat_params *p)
{
    return p->max_tokens >= 1 && p->max_tokens <= PCC_CHAT_MAX_TOKENS_LIMIT &&
           isfinite(p->temperature) && p->temperature >= 0.0 && isfinite(p->top_p) &&
           p->top_p >= 0.0 && p->top_p <= 1.0 && p->top_k <= PCC_CHAT_MAX_TOKENS_LIMIT;
}

static pcc_status parse_params(const msgpack_object *o, pcc_chat_params *p)
{
    static const char *const names[] = {"max_tokens", "temperature", "top_p", "top_k", "seed"};
    const msgpack_object *v[5];
    pcc_status st = pcc_mp_map_fields(o, names, 5, v);
    if (st != PCC_OK)
        return st;
    if (v[0]->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v[0]->via.u64 > UINT32_MAX ||
        (v[1]->type != MSGPACK_OBJECT_FLOAT64 && v[1]->type != MSGPACK_OBJECT_FLOAT32) ||
        (v[2]->type != MSGPACK_OBJECT_FLOAT64 && v[2]->type != MSGPACK_OBJECT_FLOAT32) ||
        v[3]->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v[3]->via.u64 > UINT32_MAX ||
        (v[4]->type != MSGPACK_OBJECT_POSITIVE_INTEGER && v[4]->type != MSGPACK_OBJECT_NIL))
        return PCC_E_FORMAT;
    p->max_tokens = (uint32_t)v[0]->via.u64;
    p->temperature = v[1]->via.f64;
    p->top_p = v[2]->via.f64;
    p->top_k = (uint32_t)v[3]->via.u64;
    p->has_seed = v[4]->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    p->seed = p->has_seed ? v[4]->via.u64 : 0;
    return params_ok(p) ? PCC_OK : PCC_E_FORMAT;
}

static pcc_status parse_messages(const msgpack_object *o, pcc_chat_request *r)
{
    static const char *const names[] = {"role", "content"};
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0 ||
        o->via.array.size > PCC_CHAT_MAX_MESSAGES)
        return PCC_E_FORMAT;
    size_t n = o->via.array.size;
    /* the message table is small for most requests: a slot then, a guarded mapping beyond */
    r->msgs_small = n * sizeof *r->msgs <= PCC_SECURE_SMALL_MAX;
    r->msgs = r->msgs_small ? pcc_secure_small_alloc(n * sizeof *r->msgs)
                            : pcc_secure_alloc(n * sizeof *r->msgs);
    if (r->msgs == NULL)
        return PCC_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *v[2];
        pcc_status st = pcc_mp_map_fields(&o->via.array.ptr[i], names, 2, v);
        if (st != PCC_OK)
            return st;
        if (!pcc_mp_text_ok(v[0]) || !pcc_mp_text_ok(v[1]) || !role_ok(v[0]->via.str.ptr, v[0]->via.str.size))
            return PCC_E_FORMAT;
        r->msgs[i].role = v[0]->via.str.ptr;
        r->msgs[i].role_len = v[0]->via.str.size;
        r->msgs[i].content = v[1]->via.str.ptr;
        r->msgs[i].content_len = v[1]->via.str.size;
    }
    r->n = n;
    return PCC_OK;
}

/* parse_into decodes r->buf (r->len bytes) into r. */
static pcc_status parse_into(pcc_chat_request *r, size_t len)
{
    static const char *const names[] = {"messages", "params"};
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    pcc_status st = pcc_mp_decode(&u, r->buf, len);
    int decoded = st == PCC_OK;
    const msgpack_object *v[2];
    if (st == PCC_OK && (st = pcc_mp_map_fields_pad(&u.data, names, 2, v)) == PCC_OK &&
        (st = parse_messages(v[0], r)) == PCC_OK)
        st = parse_params(v[1], &r->params);
    pcc_mp_release(&u, decoded);
    return st;
}

pcc_status pcc_chat_request_parse_owned(pcc_chat_request **out, uint8_t *payload, size_t len)
{
    pcc_chat_request *r = NULL;
    pcc_status st;
    if (out != NULL)
        *out = NULL;
    if (out == NULL || payload == NULL || pcc_secure_size(payload) < len) {
        pcc_secure_free(payload);
        return PCC_E_INVALID;
    }
    if (len == 0) {
        pcc_secure_free(payload);
        return PCC_E_FORMAT;
    }
    if ((r = pcc_secure_small_alloc(sizeof *r)) == NULL) {
        pcc_secure_free(payload);
        return PCC_E_NOMEM;
    }
    r->buf = payload;
    if ((st = parse_into(r, len)) != PCC_OK) {
        pcc_chat_request_free(r);
        return st;
    }
    *out = r;
    return PCC_OK;
}

pcc_status pcc_chat_request_parse(pcc_chat_request **out, const uint8_t *payload, size_t len)
{
    uint8_t *copy;
    if (out == NULL || (payload == NULL && len))
        return PCC_E_INVALID;
    *out = NULL;
    if (len == 0)
        return PCC_E_FORMAT;
    if ((copy = pcc_secure_alloc(len)) == NULL)
        return PCC_E_NOMEM;
    memcpy(copy, payload, len);
    return pcc_chat_request_parse_owned(out, copy, len);
}

size_t pcc_chat_request_count(const pcc_chat_request *r) { return r ? r->n : 0; }

pcc_status pcc_chat_request_message(const pcc_chat_request *r, size_t i, pcc_chat_message *out)
{
    if (r == NULL || out == NULL || i >= r->n)
        return PCC_E_INVALID;
    *out = r->msgs[i];
    return PCC_OK;
}

pcc_status pcc_chat_request_params(const pcc_chat_request *r, pcc_chat_params *out)
{
    if (r == NULL || out == NULL)
        return PCC_E_INVALID;
    *out = r->params;
    return PCC_OK;
}

void pcc_chat_request_free(pcc_chat_request *r)
{
    if (r == NULL)
        return;
    if (r->msgs_small)
        pcc_secure_small_free(r->msgs);
    else
        pcc_secure_free(r->msgs);
    pcc_secure_free(r->buf);
    pcc_secure_small_free(r);
}

/* ---- encoding --------------------------------------------------------------------------- */

static void mp_str(msgpack_packer *pk, const char *s, size_t n)
{
    (void)msgpack_pack_str(pk, n);
    (void)msgpack_pack_str_body(pk, s, n);
}

static void mp_cstr(msgpack_packer *pk, const char *s) { mp_str(pk, s, strlen(s)); }

/* mp_finish returns the sink's status and, on failure, takes back what was appended. */
static pcc_status mp_finish(pcc_mp_sink *s, size_t start)
{
    if (s->st != PCC_OK && s->w->len > start) {
        pcc_wipe(s->w->data + start, s->w->len - start);
        s->w->len = start;
    }
    return s->st;
}

pcc_status pcc_chat_request_encode(pcc_writer *w, const pcc_chat_message *msgs, size_t n,
                                   const pcc_chat_params *params)
{
    if (w == NULL || params == NULL || msgs == NULL || n == 0 || n > PCC_CHAT_MAX_MESSAGES ||
        !params_ok(params))
        return PCC_E_INVALID;
    for (size_t i = 0; i < n; i++) {
        if ((msgs[i].content == NULL && msgs[i].content_len) || msgs[i].role == NULL ||
            !role_ok(msgs[i].role, msgs[i].role_len) ||
            !pcc_mp_utf8_ok((const uint8_t *)msgs[i].content, msgs[i].content_len) ||
            msgs[i].content_len > UINT32_MAX)
            return PCC_E_INVALID;
    }
    pcc_mp_sink s = {w, PCC_OK};
    size_t start = w->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, pcc_mp_sink_write);
    (void)msgpack_pack_map(&pk, 2);
    mp_cstr(&pk, "messages");
    (void)msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        (void)msgpack_pack_map(&pk, 2);
        mp_cstr(&pk, "role");
        mp_str(&pk, msgs[i].role, msgs[i].role_len);
        mp_cstr(&pk, "content");
        mp_str(&pk, msgs[i].content ? msgs[i].content : "", msgs[i].content_len);
    }
    mp_cstr(&pk, "params");
    (void)msgpack_pack_map(&pk, 5);
    mp_cstr(&pk, "max_tokens");
    (void)msgpack_pack_uint64(&pk, params->max_tokens);
    mp_cstr(&pk, "temperature");
    (void)msgpack_pack_double(&pk, params->temperature);
    mp_cstr(&pk, "top_p");
    (void)msgpack_pack_double(&pk, params->top_p);
    mp_cstr(&pk, "top_k");
    (void)msgpack_pack_uint64(&pk, params->top_k);
    mp_cstr(&pk, "seed");
    if (params->has_seed)
        (void)msgpack_pack_uint64(&pk, params->seed);
    else
        (void)msgpack_pack_nil(&pk);
    return mp_finish(&s, start);
}

/* ---- answer chunks ---------------------------------------------------------------------- */

static const char *const ERROR_NAMES[] = {NULL, "bad_request", "too_long", "overloaded",
                                          "internal"};
#define N_ERRORS (sizeof ERROR_NAMES / sizeof ERROR_NAMES[0])

const char *pcc_answer_error_name(pcc_answer_error code)
{
    return (size_t)code > 0 && (size_t)code < N_ERRORS ? ERROR_NAMES[code] : NULL;
}

pcc_status pcc_answer_encode_text(pcc_writer *w, const char *text, size_t len)
{
    if (w == NULL || (text == NULL && len) || len > UINT32_MAX)
        return PCC_E_INVALID;
    if (!pcc_mp_utf8_ok((const uint8_t *)text, len))
        return PCC_E_INVALID; /* the worker holds back an incomplete trailing sequence */
    pcc_mp_sink s = {w, PCC_OK};
    size_t start = w->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, pcc_mp_sink_write);
    (void)msgpack_pack_map(&pk, 1);
    mp_cstr(&pk, "text");
    mp_str(&pk, text ? text : "", len);
    return mp_finish(&s, start);
}

pcc_status pcc_answer_encode_done(pcc_writer *w, uint64_t prompt_tokens,
                                  uint64_t completion_tokens)
{
    if (w == NULL)
        return PCC_E_INVALID;
    pcc_mp_sink s = {w, PCC_OK};
    size_t start = w->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, pcc_mp_sink_write);
    (void)msgpack_pack_map(&pk, 2);
    mp_cstr(&pk, "done");
    (void)msgpack_pack_true(&pk);
    mp_cstr(&pk, "usage");
    (void)msgpack_pack_map(&pk, 2);
    mp_cstr(&pk, "prompt_tokens");
    (void)msgpack_pack_uint64(&pk, prompt_tokens);
    mp_cstr(&pk, "completion_tokens");
    (void)msgpack_pack_uint64(&pk, completion_tokens);
    return mp_finish(&s, start);
}

pcc_status pcc_answer_encode_error(pcc_writer *w, pcc_answer_error code)
{
    const char *name = pcc_answer_error_name(code);
    if (w == NULL || name == NULL)
        return PCC_E_INVALID;
    pcc_mp_sink s = {w, PCC_OK};
    size_t start = w->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, pcc_mp_sink_write);
    (void)msgpack_pack_map(&pk, 1);
    mp_cstr(&pk, "error");
    mp_cstr(&pk, name);
    return mp_finish(&s, start);
}

size_t pcc_answer_bucket(size_t n)
{
    const size_t step = 65536;
    if (n <= 1024)
        return 1024;
    if (n <= step) {
        size_t b = 1024;
        while (b < n)
            b <<= 1;
        return b;
    }
    return n / step * step + (n % step ? step : 0);
}

/* bin_total is the length of a msgpack bin holding len bytes, header included. */
static size_t bin_total(size_t len)
{
    return len + (len <= 0xff ? 2 : len <= 0xffff ? 3 : 5);
}

pcc_status pcc_answer_pad(pcc_writer *w, size_t start, size_t before)
{
    if (before > SIZE_MAX / 2)
        return PCC_E_INVALID;
    return pcc_chat_pad(w, start, before + 4 + PCC_REQUEST_TAG_LEN); /* the frame's overhead */
}

pcc_status pcc_chat_pad(pcc_writer *w, size_t start, size_t before)
{
    static const uint8_t key[] = {0xa3, 'p', 'a', 'd'};
    if (w == NULL || start >= w->len || (w->data[start] & 0xf0) != 0x80 ||
        (w->data[start] & 0x0f) >= 15 || before > SIZE_MAX / 2)
        return PCC_E_INVALID; /* not a fixmap with room for one more key */
    size_t fixed = before + (w->len - start) + sizeof key;
    size_t target = pcc_answer_bucket(fixed + 2), len = 0;
    for (;;) {
        size_t room = target - fixed; /* what the bin may take, header included */
        int found = 0;
        for (size_t hdr = 2; hdr <= 5 && !found; hdr += hdr == 3 ? 2 : 1)
            if (room >= hdr && bin_total(room - hdr) == room) {
                len = room - hdr;
                found = 1;
            }
        if (found)
            break;
        target = pcc_answer_bucket(target + 1);
    }
    uint8_t h[5];
    size_t hl;
    if (len <= 0xff) {
        h[0] = 0xc4;
        h[1] = (uint8_t)len;
        hl = 2;
    } else if (len <= 0xffff) {
        h[0] = 0xc5;
        h[1] = (uint8_t)(len >> 8);
        h[2] = (uint8_t)len;
        hl = 3;
    } else {
        h[0] = 0xc6;
        h[1] = (uint8_t)(len >> 24);
        h[2] = (uint8_t)(len >> 16);
        h[3] = (uint8_t)(len >> 8);
        h[4] = (uint8_t)len;
        hl = 5;
    }
    size_t old = w->len;
    pcc_status st;
    if ((st = pcc_writer_bytes(w, key, sizeof key)) != PCC_OK ||
        (st = pcc_writer_bytes(w, h, hl)) != PCC_OK || (st = pcc_writer_zeros(w, len)) != PCC_OK) {
        w->len = old; /* nothing half-written */
        return st;
    }
    w->data[start]++; /* one more key */
    return PCC_OK;
}

static pcc_status decode_event(pcc_answer_event *ev, const msgpack_object *o, int final)
{
    static const char *const text_names[] = {"text"};
    static const char *const done_names[] = {"done", "usage"};
    static const char *const usage_names[] = {"prompt_tokens", "completion_tokens"};
    static const char *const error_names[] = {"error"};
    const msgpack_object *v[2], *u[2];
    if (!final) {
        if (pcc_mp_map_fields(o, text_names, 1, v) != PCC_OK || !pcc_mp_text_ok(v[0]))
            return PCC_E_FORMAT;
        ev->kind = PCC_ANSWER_TEXT;
        ev->text = v[0]->via.str.ptr;
        ev->text_len = v[0]->via.str.size;
        return PCC_OK;
    }
    if (pcc_mp_map_fields_pad(o, error_names, 1, v) == PCC_OK) {
        for (size_t i = 1; i < N_ERRORS; i++) {
            if (pcc_mp_str_is(v[0], ERROR_NAMES[i])) {
                ev->kind = PCC_ANSWER_ERROR;
                ev->error = (pcc_answer_error)i;
                return PCC_OK;
            }
        }
        return PCC_E_FORMAT;
    }
    if (pcc_mp_map_fields_pad(o, done_names, 2, v) != PCC_OK ||
        v[0]->type != MSGPACK_OBJECT_BOOLEAN ||
        !v[0]->via.boolean || pcc_mp_map_fields(v[1], usage_names, 2, u) != PCC_OK ||
        u[0]->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        u[1]->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return PCC_E_FORMAT;
    ev->kind = PCC_ANSWER_DONE;
    ev->prompt_tokens = u[0]->via.u64;
    ev->completion_tokens = u[1]->via.u64;
    return PCC_OK;
}

pcc_status pcc_answer_decode(pcc_answer_event *ev, const uint8_t *pt, size_t len, int final)
{
    msgpack_unpacked u;
    if (ev == NULL || (pt == NULL && len))
        return PCC_E_INVALID;
    memset(ev, 0, sizeof *ev);
    msgpack_unpacked_init(&u);
    pcc_status st = pcc_mp_decode(&u, pt, len);
    int decoded = st == PCC_OK;
    if (st == PCC_OK)
        st = decode_event(ev, &u.data, final);
    pcc_mp_release(&u, decoded);
    if (st != PCC_OK)
        memset(ev, 0, sizeof *ev);
    return st;
}
