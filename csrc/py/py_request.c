/* py_request.c: pcc._core glue for request and answer cryptography (pcc/request.h, pcc/chat.h).
 *
 * Client side: request_seal builds the invoke body and returns a RequestKey that holds DK in
 * secure memory (DK never becomes a Python object); RequestKey.answer_reader(node_id) gives an
 * AnswerReader that is fed the answer stream and returns text pieces as str.
 *
 * The node's side (unwrap, payload decryption and parsing, answer sealing) runs in C on the node
 * and never in Python; it is bound here only under names starting with _testing_, for the tests
 * that check it against an independent implementation. They hand plaintext to Python: never call
 * them outside tests. The public wrapper is pcc._request. */
#include "pymod.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "pcc/buf.h"
#include "pcc/chat.h"
#include "pcc/hpke.h"
#include "pcc/request.h"
#include "pcc/secure.h"

#define MAX_NODES 16 /* nodes one request is sealed to */

/* ---- RequestKey ------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pcc_request_key *dk;
} DkObject;

static void dk_dealloc(DkObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_request_key_free(self->dk);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* dk_wrap turns a C key into a RequestKey (takes ownership, frees it on failure). */
static PyObject *dk_wrap(PyObject *m, pcc_request_key *dk)
{
    PyTypeObject *tp = pcc_py_module_type(m, "RequestKey");
    if (tp == NULL) {
        pcc_request_key_free(dk);
        return NULL;
    }
    DkObject *o = (DkObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (o == NULL) {
        pcc_request_key_free(dk);
        return NULL;
    }
    o->dk = dk;
    return (PyObject *)o;
}

/* dk_arg borrows the C key of a RequestKey argument. */
static int dk_arg(PyObject *m, PyObject *o, const pcc_request_key **out)
{
    PyTypeObject *tp = pcc_py_module_type(m, "RequestKey");
    if (tp == NULL)
        return 0;
    int ok = PyObject_TypeCheck(o, tp) && ((DkObject *)o)->dk != NULL;
    Py_DECREF(tp);
    if (!ok) {
        PyErr_SetString(PyExc_TypeError, "expected a RequestKey");
        return 0;
    }
    *out = ((DkObject *)o)->dk;
    return 1;
}

static PyObject *reader_new(PyObject *m, const pcc_request_key *dk, PyObject *node_id);

static PyObject *dk_answer_reader(DkObject *self, PyObject *node_id)
{
    PyObject *m = PyType_GetModule(Py_TYPE(self));
    if (m == NULL)
        return NULL;
    return reader_new(m, self->dk, node_id);
}

static PyMethodDef dk_methods[] = {
    {"answer_reader", (PyCFunction)dk_answer_reader, METH_O,
     "answer_reader(node_id) -> AnswerReader: opens the answer of that node."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot dk_slots[] = {
    {Py_tp_doc, "RequestKey: a request key DK held in secure memory (use pcc._request)."},
    {Py_tp_dealloc, dk_dealloc},
    {Py_tp_methods, dk_methods},
    {0, NULL},
};

static PyType_Spec dk_spec = {
    "pcc._core.RequestKey", sizeof(DkObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, dk_slots,
};

/* ---- AnswerReader ----------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pcc_answer_opener *o;
    uint8_t *pt; /* secure, PCC_ANSWER_FINAL_CHUNK_MAX bytes */
} ReaderObject;

static void reader_dealloc(ReaderObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_answer_opener_free(self->o);
    pcc_secure_free(self->pt);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *reader_new(PyObject *m, const pcc_request_key *dk, PyObject *node_id)
{
    Py_buffer id;
    if (PyObject_GetBuffer(node_id, &id, PyBUF_SIMPLE) < 0)
        return NULL;
    PyTypeObject *tp = pcc_py_module_type(m, "AnswerReader");
    ReaderObject *r = tp ? (ReaderObject *)tp->tp_alloc(tp, 0) : NULL;
    Py_XDECREF(tp);
    pcc_status st = PCC_E_NOMEM;
    if (r == NULL)
        goto fail;
    if ((r->pt = pcc_secure_alloc(PCC_ANSWER_FINAL_CHUNK_MAX)) == NULL)
        goto fail;
    st = pcc_answer_opener_new(&r->o, dk, id.buf, (size_t)id.len);
    if (st != PCC_OK)
        goto fail;
    PyBuffer_Release(&id);
    return (PyObject *)r;
fail:
    PyBuffer_Release(&id);
    if (r == NULL)
        return PyErr_Occurred() ? NULL : pcc_py_raise(st, NULL);
    Py_DECREF(r);
    return pcc_py_raise(st, st == PCC_E_INVALID ? "node_id must be 32 bytes" : NULL);
}

/* event_object turns a decoded chunk into str (text), ("done", prompt, completion) or
 * ("error", code). */
static PyObject *event_object(const pcc_answer_event *ev)
{
    switch (ev->kind) {
    case PCC_ANSWER_TEXT:
        return PyUnicode_DecodeUTF8(ev->text, (Py_ssize_t)ev->text_len, "strict");
    case PCC_ANSWER_DONE:
        return Py_BuildValue("(sKK)", "done", (unsigned long long)ev->prompt_tokens,
                             (unsigned long long)ev->completion_tokens);
    default:
        return Py_BuildValue("(ss)", "error", pcc_answer_error_name(ev->error));
    }
}

static PyObject *reader_feed(ReaderObject *self, PyObject *arg)
{
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *events = PyList_New(0);
    const uint8_t *p = in.buf;
    size_t left = (size_t)in.len;
    pcc_status st = PCC_OK;
    const char *what = NULL;
    if (events == NULL)
        goto out;
    for (;;) {
        size_t used = 0, n = 0;
        int have = 0, final = 0;
        st = pcc_answer_opener_push(self->o, p, left, &used);
        if (st != PCC_OK) {
            what = st == PCC_E_FORMAT ? "malformed answer stream" : "answer reader";
            break;
        }
        p += used;
        left -= used;
        st = pcc_answer_opener_next(self->o, self->pt, &n, PCC_ANSWER_FINAL_CHUNK_MAX, &have,
                                    &final);
        if (st != PCC_OK) {
            what = st == PCC_E_FORMAT ? "malformed answer stream" : "answer reader failed earlier";
            break;
        }
        if (!have) {
            if (left == 0)
                break;
            continue;
        }
        pcc_answer_event ev;
        st = pcc_answer_decode(&ev, self->pt, n, final);
        PyObject *e = st == PCC_OK ? event_object(&ev) : NULL;
        pcc_wipe(&ev, sizeof ev);
        pcc_wipe(self->pt, n);
        if (st != PCC_OK) {
            what = "malformed answer chunk";
            break;
        }
        if (e == NULL || PyList_Append(events, e) < 0) {
            Py_XDECREF(e);
            Py_CLEAR(events);
            goto out;
        }
        Py_DECREF(e);
    }
    if (st != PCC_OK) {
        Py_CLEAR(events);
        pcc_py_raise(st, what);
    }
out:
    PyBuffer_Release(&in);
    return events;
}

static PyObject *reader_finish(ReaderObject *self, PyObject *unused)
{
    (void)unused;
    pcc_status st = pcc_answer_opener_finish(self->o);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_FORMAT ? "answer truncated (no final chunk)"
                                                   : "answer reader failed earlier");
    Py_RETURN_NONE;
}

static PyObject *reader_done(ReaderObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(pcc_answer_opener_finish(self->o) == PCC_OK);
}

static PyMethodDef reader_methods[] = {
    {"feed", (PyCFunction)reader_feed, METH_O,
     "feed(data) -> list: the events of the frames data completes: str for text, "
     "('done', prompt_tokens, completion_tokens) or ('error', code)."},
    {"finish", (PyCFunction)reader_finish, METH_NOARGS,
     "finish() -> None: at the end of the stream; FormatError if it was truncated."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef reader_getset[] = {
    {"done", (getter)reader_done, NULL, "True once the final chunk was read.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot reader_slots[] = {
    {Py_tp_doc, "AnswerReader: opens an answer stream incrementally (use pcc._request)."},
    {Py_tp_dealloc, reader_dealloc},
    {Py_tp_methods, reader_methods},
    {Py_tp_getset, reader_getset},
    {0, NULL},
};

static PyType_Spec reader_spec = {
    "pcc._core.AnswerReader", sizeof(ReaderObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, reader_slots,
};

/* ---- sealing a request ------------------------------------------------------------------ */

typedef struct {
    Py_buffer node_id, key_id, pk;
    pcc_hpke_suite suite;
    int have;
    PyObject *enc, *ct; /* bytes filled outside the GIL */
    Py_buffer ikm_e;
    int have_ikm;
} node_arg;

static void node_args_release(node_arg *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].have) {
            PyBuffer_Release(&a[i].node_id);
            PyBuffer_Release(&a[i].key_id);
            PyBuffer_Release(&a[i].pk);
        }
        if (a[i].have_ikm)
            PyBuffer_Release(&a[i].ikm_e);
        Py_XDECREF(a[i].enc);
        Py_XDECREF(a[i].ct);
    }
}

static int suite_ids(int kem, int kdf, int aead, pcc_hpke_suite *s)
{
    if (kem < 0 || kem > 0xFFFF || kdf < 0 || kdf > 0xFFFF || aead < 0 || aead > 0xFFFF) {
        pcc_py_raise(PCC_E_INVALID, "algorithm identifier out of range");
        return 0;
    }
    s->kem = (uint16_t)kem;
    s->kdf = (uint16_t)kdf;
    s->aead = (uint16_t)aead;
    if (s->aead == PCC_HPKE_AEAD_EXPORT_ONLY || pcc_hpke_suite_check(*s) != PCC_OK) {
        pcc_py_raise(PCC_E_UNSUPPORTED, "unsupported HPKE suite for a node key");
        return 0;
    }
    return 1;
}

/* node_args parses [(node_id, key_id, pk, kem, kdf, aead), ...] and allocates enc and ct. */
static int node_args(PyObject *seq, node_arg *a, size_t *n, PyObject *ikms)
{
    PyObject *fast = PySequence_Fast(seq, "node keys must be a sequence");
    if (fast == NULL)
        return 0;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    if (count < 1 || count > MAX_NODES) {
        Py_DECREF(fast);
        pcc_py_raise(PCC_E_INVALID, "a request is sealed to 1 to 16 nodes");
        return 0;
    }
    if (ikms != NULL && (!PyList_Check(ikms) || PyList_GET_SIZE(ikms) != count)) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_TypeError, "ikm_e must be a list with one entry per node");
        return 0;
    }
    *n = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        node_arg *x = &a[i];
        int kem, kdf, aead;
        size_t nenc, npk, nsk;
        *n = (size_t)i + 1;
        if (!PyTuple_Check(PySequence_Fast_GET_ITEM(fast, i))) {
            *n = (size_t)i; /* nothing of this entry is held */
            PyErr_SetString(PyExc_TypeError, "a node key is a tuple "
                            "(node_id, key_id, public_key, kem, kdf, aead)");
            goto fail;
        }
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "y*y*y*iii;a node key is "
                              "(node_id, key_id, public_key, kem, kdf, aead)",
                              &x->node_id, &x->key_id, &x->pk, &kem, &kdf, &aead))
            goto fail;
        x->have = 1;
        if (!suite_ids(kem, kdf, aead, &x->suite))
            goto fail;
        if (x->node_id.len != PCC_REQUEST_NODE_ID_LEN || x->key_id.len != PCC_REQUEST_KEY_ID_LEN) {
            pcc_py_raise(PCC_E_INVALID, "node_id must be 32 bytes and key_id 8 bytes");
            goto fail;
        }
        if (pcc_hpke_kem_sizes(x->suite.kem, &nenc, &npk, &nsk) != PCC_OK ||
            (size_t)x->pk.len != npk) {
            pcc_py_raise(PCC_E_INVALID, "public key has the wrong length for its KEM");
            goto fail;
        }
        for (Py_ssize_t j = 0; j < i; j++) {
            if (memcmp(a[j].node_id.buf, x->node_id.buf, PCC_REQUEST_NODE_ID_LEN) == 0) {
                pcc_py_raise(PCC_E_INVALID, "the same node is named twice");
                goto fail;
            }
        }
        if (ikms != NULL) {
            if (PyObject_GetBuffer(PyList_GET_ITEM(ikms, i), &x->ikm_e, PyBUF_SIMPLE) < 0)
                goto fail;
            x->have_ikm = 1;
        }
        x->enc = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)nenc);
        x->ct = PyBytes_FromStringAndSize(NULL, PCC_REQUEST_WRAPPED_LEN);
        if (x->enc == NULL || x->ct == NULL)
            goto fail;
    }
    Py_DECREF(fast);
    return 1;
fail:
    Py_DECREF(fast);
    return 0;
}

typedef struct {
    const pcc_request_key *dk;
    pcc_request_sealer *sealer;
    node_arg *nodes;
    size_t n_nodes;
    const uint8_t *payload;
    size_t payload_len;
    PyObject **chunks; /* bytes filled outside the GIL */
    size_t n_chunks;
} seal_job;

static size_t chunk_count(size_t len)
{
    return len == 0 ? 1 : (len + PCC_REQUEST_CHUNK_MAX - 1) / PCC_REQUEST_CHUNK_MAX;
}

/* seal_run wraps DK to every node and seals the payload chunks (no Python calls: the GIL may be
 * released; bytes objects are only written into). */
static pcc_status seal_run(seal_job *j)
{
    for (size_t i = 0; i < j->n_nodes; i++) {
        node_arg *x = &j->nodes[i];
        size_t enc_len = 0, ct_len = 0;
        uint8_t *enc = (uint8_t *)PyBytes_AS_STRING(x->enc), *ct = (uint8_t *)PyBytes_AS_STRING(x->ct);
        size_t max_enc = (size_t)PyBytes_GET_SIZE(x->enc);
        pcc_status st =
            x->have_ikm
                ? pcc_request_key_wrap_deterministic(j->dk, x->suite, x->pk.buf, (size_t)x->pk.len,
                                                     x->node_id.buf, (size_t)x->node_id.len,
                                                     x->ikm_e.buf, (size_t)x->ikm_e.len, enc,
                                                     &enc_len, max_enc, ct, &ct_len,
                                                     PCC_REQUEST_WRAPPED_LEN)
                : pcc_request_key_wrap(j->dk, x->suite, x->pk.buf, (size_t)x->pk.len,
                                       x->node_id.buf, (size_t)x->node_id.len, enc, &enc_len,
                                       max_enc, ct, &ct_len, PCC_REQUEST_WRAPPED_LEN);
        if (st != PCC_OK)
            return st;
        if (enc_len != max_enc || ct_len != PCC_REQUEST_WRAPPED_LEN)
            return PCC_E_CRYPTO;
    }
    size_t off = 0;
    for (size_t i = 0; i < j->n_chunks; i++) {
        size_t n = j->payload_len - off, got = 0;
        if (n > PCC_REQUEST_CHUNK_MAX)
            n = PCC_REQUEST_CHUNK_MAX;
        pcc_status st = pcc_request_sealer_seal(
            j->sealer, (uint8_t *)PyBytes_AS_STRING(j->chunks[i]), &got,
            (size_t)PyBytes_GET_SIZE(j->chunks[i]), j->payload + off, n, i + 1 == j->n_chunks);
        if (st != PCC_OK)
            return st;
        off += n;
    }
    return PCC_OK;
}

/* seal_build seals payload under dk (a fresh sealer, or one with the given nonce) and builds
 * ({"keys": [...], "nonce": bytes, "body": [bytes...]}). dk_obj is only referenced. */
static PyObject *seal_build(const pcc_request_key *dk, PyObject *node_keys, const uint8_t *payload,
                            size_t payload_len, const Py_buffer *nonce, PyObject *ikms)
{
    node_arg nodes[MAX_NODES];
    size_t n_nodes = 0;
    PyObject *result = NULL, *keys = NULL, *body = NULL, *nonce_b = NULL;
    PyObject *chunks[PCC_REQUEST_MAX_CHUNKS];
    seal_job j = {0};
    pcc_status st;
    memset(nodes, 0, sizeof nodes);
    j.n_chunks = chunk_count(payload_len);
    if (j.n_chunks > PCC_REQUEST_MAX_CHUNKS) {
        pcc_py_raise(PCC_E_LIMIT, "request payload too large");
        return NULL;
    }
    memset(chunks, 0, j.n_chunks * sizeof chunks[0]);
    if (!node_args(node_keys, nodes, &n_nodes, ikms))
        goto out;
    for (size_t i = 0, off = 0; i < j.n_chunks; i++, off += PCC_REQUEST_CHUNK_MAX) {
        size_t n = payload_len - off < PCC_REQUEST_CHUNK_MAX ? payload_len - off : PCC_REQUEST_CHUNK_MAX;
        if ((chunks[i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n + PCC_REQUEST_TAG_LEN))) == NULL)
            goto out;
    }
    st = nonce ? pcc_request_sealer_new_deterministic(&j.sealer, dk, nonce->buf, (size_t)nonce->len)
               : pcc_request_sealer_new(&j.sealer, dk);
    if (st != PCC_OK) {
        pcc_py_raise(st, "request nonce");
        goto out;
    }
    j.dk = dk;
    j.nodes = nodes;
    j.n_nodes = n_nodes;
    j.payload = payload;
    j.payload_len = payload_len;
    j.chunks = chunks;
    Py_BEGIN_ALLOW_THREADS
    st = seal_run(&j);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_FORMAT ? "invalid node public key" : "sealing the request");
        goto out;
    }
    uint8_t nb[PCC_REQUEST_NONCE_LEN];
    size_t nl = 0;
    if (pcc_request_sealer_nonce(j.sealer, nb, &nl, sizeof nb) != PCC_OK)
        goto out;
    if ((keys = PyList_New((Py_ssize_t)n_nodes)) == NULL || (body = PyList_New((Py_ssize_t)j.n_chunks)) == NULL ||
        (nonce_b = PyBytes_FromStringAndSize((const char *)nb, (Py_ssize_t)nl)) == NULL)
        goto out;
    for (size_t i = 0; i < n_nodes; i++) {
        PyObject *e = Py_BuildValue("{s:y#,s:y#,s:O,s:O}", "node", nodes[i].node_id.buf,
                                    nodes[i].node_id.len, "key_id", nodes[i].key_id.buf,
                                    nodes[i].key_id.len, "enc", nodes[i].enc, "ct", nodes[i].ct);
        if (e == NULL)
            goto out;
        PyList_SET_ITEM(keys, (Py_ssize_t)i, e);
    }
    for (size_t i = 0; i < j.n_chunks; i++) {
        PyList_SET_ITEM(body, (Py_ssize_t)i, chunks[i]);
        chunks[i] = NULL;
    }
    result = Py_BuildValue("{s:O,s:O,s:O}", "keys", keys, "nonce", nonce_b, "body", body);
out:
    pcc_request_sealer_free(j.sealer);
    node_args_release(nodes, n_nodes);
    for (size_t i = 0; i < j.n_chunks; i++)
        Py_XDECREF(chunks[i]);
    Py_XDECREF(keys);
    Py_XDECREF(body);
    Py_XDECREF(nonce_b);
    return result;
}

/* messages_encode turns [(role, content), ...] and the params into the payload, in w. */
static int messages_encode(pcc_writer *w, PyObject *messages, const pcc_chat_params *p)
{
    PyObject *fast = PySequence_Fast(messages, "messages must be a sequence");
    if (fast == NULL)
        return 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    pcc_chat_message *msgs = NULL;
    int ok = 0;
    if (n < 1 || n > PCC_CHAT_MAX_MESSAGES) {
        pcc_py_raise(PCC_E_INVALID, "a request has 1 to 1024 messages");
        goto out;
    }
    if ((msgs = PyMem_Calloc((size_t)n, sizeof *msgs)) == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *role, *content;
        Py_ssize_t rl, cl;
        if (!PyTuple_Check(PySequence_Fast_GET_ITEM(fast, i))) {
            PyErr_SetString(PyExc_TypeError, "a message is a tuple (role, content), both str");
            goto out;
        }
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i),
                              "UU;a message is (role, content), both str", &role, &content))
            goto out;
        /* the UTF-8 forms are cached in the str objects, which the caller keeps alive */
        if ((msgs[i].role = PyUnicode_AsUTF8AndSize(role, &rl)) == NULL ||
            (msgs[i].content = PyUnicode_AsUTF8AndSize(content, &cl)) == NULL)
            goto out;
        msgs[i].role_len = (size_t)rl;
        msgs[i].content_len = (size_t)cl;
    }
    pcc_status st = pcc_chat_request_encode(w, msgs, (size_t)n, p);
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_INVALID ? "invalid message role or sampling parameter"
                                             : "request payload");
        goto out;
    }
    ok = 1;
out:
    PyMem_Free(msgs);
    Py_DECREF(fast);
    return ok;
}

static PyObject *py_request_seal(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"node_keys", "messages", "max_tokens", "temperature", "top_p",
                             "top_k", "seed", "pad", NULL};
    PyObject *node_keys, *messages, *seed = Py_None, *sealed = NULL, *dk_obj = NULL;
    unsigned long long max_tokens, top_k;
    pcc_chat_params p = {0};
    pcc_request_key *dk = NULL;
    pcc_writer w;
    int pad = 0;
    pcc_writer_init_dynamic(&w, true, PCC_REQUEST_PAYLOAD_MAX);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOKddK|Op:request_seal", kwlist, &node_keys,
                                     &messages, &max_tokens, &p.temperature, &p.top_p, &top_k,
                                     &seed, &pad))
        return NULL;
    if (max_tokens > PCC_CHAT_MAX_TOKENS_LIMIT || top_k > PCC_CHAT_MAX_TOKENS_LIMIT) {
        pcc_py_raise(PCC_E_INVALID, "max_tokens and top_k must be below 2**31");
        goto out;
    }
    p.max_tokens = (uint32_t)max_tokens;
    p.top_k = (uint32_t)top_k;
    if (seed != Py_None) {
        p.seed = PyLong_AsUnsignedLongLong(seed);
        if (PyErr_Occurred())
            goto out;
        p.has_seed = 1;
    }
    if (!messages_encode(&w, messages, &p))
        goto out;
    pcc_status st = pad ? pcc_chat_pad(&w, 0, 0) : PCC_OK; /* the payload to a size bucket */
    if (st != PCC_OK) {
        pcc_py_raise(st, "request payload too large to pad");
        goto out;
    }
    st = pcc_request_key_generate(&dk);
    if (st != PCC_OK) {
        pcc_py_raise(st, "request key");
        goto out;
    }
    if ((dk_obj = dk_wrap(m, dk)) == NULL)
        goto out;
    sealed = seal_build(dk, node_keys, w.data, w.len, NULL, NULL);
out:
    pcc_writer_cleanup(&w);
    pcc_wipe(&p, sizeof p);
    if (sealed == NULL) {
        Py_XDECREF(dk_obj);
        return NULL;
    }
    PyObject *r = PyTuple_Pack(2, sealed, dk_obj);
    Py_DECREF(sealed);
    Py_DECREF(dk_obj);
    return r;
}

/* ---- test-only bindings (the node's side and deterministic sealing) ---------------------- */

static PyObject *py_testing_request_key(PyObject *m, PyObject *arg)
{
    Py_buffer raw;
    pcc_request_key *dk = NULL;
    if (PyObject_GetBuffer(arg, &raw, PyBUF_SIMPLE) < 0)
        return NULL;
    pcc_status st = pcc_request_key_from_bytes(&dk, raw.buf, (size_t)raw.len);
    PyBuffer_Release(&raw);
    if (st != PCC_OK)
        return pcc_py_raise(st, "a request key is 16 bytes");
    return dk_wrap(m, dk);
}

static PyObject *py_testing_request_key_bytes(PyObject *m, PyObject *arg)
{
    const pcc_request_key *dk;
    uint8_t raw[PCC_REQUEST_DK_LEN];
    size_t n = 0;
    if (!dk_arg(m, arg, &dk))
        return NULL;
    pcc_status st = pcc_request_key_bytes(dk, raw, &n, sizeof raw);
    PyObject *r = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)raw, (Py_ssize_t)n)
                               : pcc_py_raise(st, "request key");
    pcc_wipe(raw, sizeof raw);
    return r;
}

/* _testing_request_seal(dk, node_keys, payload, nonce, ikm_e) seals raw payload bytes with a
 * pinned nonce and ephemeral keys. */
static PyObject *py_testing_request_seal(PyObject *m, PyObject *args)
{
    PyObject *dk_o, *node_keys, *ikms;
    Py_buffer payload, nonce;
    const pcc_request_key *dk;
    if (!PyArg_ParseTuple(args, "OOy*y*O!:_testing_request_seal", &dk_o, &node_keys, &payload,
                          &nonce, &PyList_Type, &ikms))
        return NULL;
    PyObject *r = NULL;
    if (dk_arg(m, dk_o, &dk))
        r = seal_build(dk, node_keys, payload.buf, (size_t)payload.len, &nonce, ikms);
    PyBuffer_Release(&payload);
    PyBuffer_Release(&nonce);
    return r;
}

/* _testing_unwrap([(key_id, sk, kem, kdf, aead)...], key_id, enc, ct, node_id) -> RequestKey */
static PyObject *py_testing_unwrap(PyObject *m, PyObject *args)
{
    PyObject *keys_o, *fast = NULL, *r = NULL;
    Py_buffer key_id, enc, ct, node_id;
    pcc_request_node_key keys[4];
    pcc_request_key *dk = NULL;
    if (!PyArg_ParseTuple(args, "Oy*y*y*y*:_testing_unwrap", &keys_o, &key_id, &enc, &ct, &node_id))
        return NULL;
    if ((fast = PySequence_Fast(keys_o, "keys must be a sequence")) == NULL)
        goto out;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > 4) {
        pcc_py_raise(PCC_E_INVALID, "at most 4 keys");
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_buffer kid;
        PyObject *sk;
        int kem, kdf, aead;
        if (!PyTuple_Check(PySequence_Fast_GET_ITEM(fast, i))) {
            PyErr_SetString(PyExc_TypeError, "a key is a tuple (key_id, key, kem, kdf, aead)");
            goto out;
        }
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "y*Oiii", &kid, &sk, &kem, &kdf,
                              &aead))
            goto out;
        int ok = kid.len == PCC_REQUEST_KEY_ID_LEN;
        if (ok)
            memcpy(keys[i].key_id, kid.buf, PCC_REQUEST_KEY_ID_LEN);
        PyBuffer_Release(&kid);
        if (!ok) {
            pcc_py_raise(PCC_E_INVALID, "key_id must be 8 bytes");
            goto out;
        }
        if (pcc_py_hpke_key(m, sk, (const struct pcc_hpke_key **)&keys[i].key) < 0 ||
            !suite_ids(kem, kdf, aead, &keys[i].suite))
            goto out;
    }
    pcc_status st = pcc_request_key_unwrap(&dk, keys, (size_t)n, key_id.buf, (size_t)key_id.len,
                                           enc.buf, (size_t)enc.len, ct.buf, (size_t)ct.len,
                                           node_id.buf, (size_t)node_id.len);
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_UNKNOWN_KEY ? "unknown key id" : "wrapped request key");
        goto out;
    }
    r = dk_wrap(m, dk);
out:
    Py_XDECREF(fast);
    PyBuffer_Release(&key_id);
    PyBuffer_Release(&enc);
    PyBuffer_Release(&ct);
    PyBuffer_Release(&node_id);
    return r;
}

/* _testing_request_open(dk, nonce, chunks, max_payload) -> bytes (the plaintext payload) */
static PyObject *py_testing_request_open(PyObject *m, PyObject *args)
{
    PyObject *dk_o, *chunks_o, *fast = NULL, *r = NULL;
    Py_buffer nonce;
    Py_ssize_t max_payload;
    const pcc_request_key *dk;
    pcc_request_chunk *chunks = NULL;
    Py_buffer *bufs = NULL;
    Py_ssize_t n = 0, got = 0;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    if (!PyArg_ParseTuple(args, "Oy*On:_testing_request_open", &dk_o, &nonce, &chunks_o,
                          &max_payload))
        return NULL;
    if (!dk_arg(m, dk_o, &dk) || (fast = PySequence_Fast(chunks_o, "chunks")) == NULL)
        goto out;
    n = PySequence_Fast_GET_SIZE(fast);
    if ((chunks = PyMem_Calloc((size_t)n + 1, sizeof *chunks)) == NULL ||
        (bufs = PyMem_Calloc((size_t)n + 1, sizeof *bufs)) == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (; got < n; got++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fast, got), &bufs[got], PyBUF_SIMPLE) < 0)
            goto out;
        chunks[got].data = bufs[got].buf;
        chunks[got].len = (size_t)bufs[got].len;
    }
    pcc_status st = pcc_request_open(&pt, &pt_len, dk, nonce.buf, (size_t)nonce.len, chunks,
                                     (size_t)n, max_payload < 0 ? 0 : (size_t)max_payload);
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_LIMIT ? "request too large" : "request chunks");
        goto out;
    }
    r = PyBytes_FromStringAndSize((const char *)pt, (Py_ssize_t)pt_len);
out:
    pcc_secure_free(pt);
    for (Py_ssize_t i = 0; i < got; i++)
        PyBuffer_Release(&bufs[i]);
    PyMem_Free(bufs);
    PyMem_Free(chunks);
    Py_XDECREF(fast);
    PyBuffer_Release(&nonce);
    return r;
}

static PyObject *str_of(const char *p, size_t n)
{
    return PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "strict");
}

/* _testing_chat_parse(payload) -> ([(role, content)...], {params}) */
static PyObject *py_testing_chat_parse(PyObject *m, PyObject *arg)
{
    (void)m;
    Py_buffer in;
    pcc_chat_request *req = NULL;
    PyObject *msgs = NULL, *r = NULL;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    pcc_status st = pcc_chat_request_parse(&req, in.buf, (size_t)in.len);
    PyBuffer_Release(&in);
    if (st != PCC_OK)
        return pcc_py_raise(st, "request payload");
    size_t n = pcc_chat_request_count(req);
    if ((msgs = PyList_New((Py_ssize_t)n)) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        pcc_chat_message msg;
        if (pcc_chat_request_message(req, i, &msg) != PCC_OK)
            goto out;
        PyObject *t = Py_BuildValue("(NN)", str_of(msg.role, msg.role_len),
                                    str_of(msg.content, msg.content_len));
        if (t == NULL)
            goto out;
        PyList_SET_ITEM(msgs, (Py_ssize_t)i, t);
    }
    pcc_chat_params p;
    if (pcc_chat_request_params(req, &p) != PCC_OK)
        goto out;
    PyObject *seed = p.has_seed ? PyLong_FromUnsignedLongLong(p.seed) : Py_NewRef(Py_None);
    if (seed == NULL)
        goto out;
    r = Py_BuildValue("(O{s:I,s:d,s:d,s:I,s:N})", msgs, "max_tokens", p.max_tokens,
                      "temperature", p.temperature, "top_p", p.top_p, "top_k", p.top_k, "seed",
                      seed);
out:
    Py_XDECREF(msgs);
    pcc_chat_request_free(req);
    return r;
}

/* _testing_answer_encode(event) -> bytes: event is ("text", str), ("done", p, c) or
 * ("error", code). */
static PyObject *py_testing_answer_encode(PyObject *m, PyObject *arg)
{
    (void)m;
    const char *kind, *s;
    Py_ssize_t sl;
    unsigned long long a, b;
    pcc_writer w;
    pcc_status st = PCC_E_INVALID;
    pcc_writer_init_dynamic(&w, true, PCC_REQUEST_CHUNK_MAX * 4);
    if (!PyTuple_Check(arg) || PyTuple_GET_SIZE(arg) < 1) {
        PyErr_SetString(PyExc_TypeError, "an event is a tuple");
        return NULL;
    }
    PyObject *k = PyTuple_GET_ITEM(arg, 0);
    if (!PyUnicode_Check(k) || (kind = PyUnicode_AsUTF8(k)) == NULL) {
        PyErr_SetString(PyExc_TypeError, "event kind must be str");
        return NULL;
    }
    if (strcmp(kind, "text") == 0) {
        if (!PyArg_ParseTuple(arg, "ss#", &kind, &s, &sl))
            return NULL;
        st = pcc_answer_encode_text(&w, s, (size_t)sl);
    } else if (strcmp(kind, "done") == 0) {
        if (!PyArg_ParseTuple(arg, "sKK", &kind, &a, &b))
            return NULL;
        st = pcc_answer_encode_done(&w, a, b);
    } else if (strcmp(kind, "error") == 0) {
        if (!PyArg_ParseTuple(arg, "ss", &kind, &s))
            return NULL;
        for (int c = PCC_ANSWER_E_BAD_REQUEST; c <= PCC_ANSWER_E_INTERNAL; c++)
            if (strcmp(s, pcc_answer_error_name((pcc_answer_error)c)) == 0)
                st = pcc_answer_encode_error(&w, (pcc_answer_error)c);
    }
    PyObject *r = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)w.data, (Py_ssize_t)w.len)
                               : pcc_py_raise(st, "answer event");
    pcc_writer_cleanup(&w);
    return r;
}

/* _testing_answer_pad(chunk, before) -> bytes: the final chunk's map (as _testing_answer_encode
 * gives it) padded by pcc_answer_pad so that the answer stream ends on a bucket. */
static PyObject *py_testing_answer_pad(PyObject *m, PyObject *args)
{
    (void)m;
    Py_buffer in;
    unsigned long long before;
    if (!PyArg_ParseTuple(args, "y*K:_testing_answer_pad", &in, &before))
        return NULL;
    PyObject *r = NULL;
    uint8_t *buf = malloc(PCC_ANSWER_FINAL_CHUNK_MAX);
    if (buf == NULL) {
        PyBuffer_Release(&in);
        return PyErr_NoMemory();
    }
    pcc_writer w;
    pcc_writer_init_fixed(&w, buf, PCC_ANSWER_FINAL_CHUNK_MAX);
    pcc_status st = in.len > 0 && (size_t)in.len <= PCC_ANSWER_FINAL_CHUNK_MAX &&
                            before <= SIZE_MAX / 2
                        ? pcc_writer_bytes(&w, in.buf, (size_t)in.len)
                        : PCC_E_INVALID;
    if (st == PCC_OK)
        st = pcc_answer_pad(&w, 0, (size_t)before);
    r = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)w.data, (Py_ssize_t)w.len)
                     : pcc_py_raise(st, "answer pad");
    free(buf);
    PyBuffer_Release(&in);
    return r;
}

/* _testing_answer_bucket(n) -> int: pcc_answer_bucket. */
static PyObject *py_testing_answer_bucket(PyObject *m, PyObject *arg)
{
    (void)m;
    unsigned long long n = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred())
        return NULL;
    if (n > SIZE_MAX / 2)
        return pcc_py_raise(PCC_E_INVALID, "answer bucket");
    return PyLong_FromSize_t(pcc_answer_bucket((size_t)n));
}

/* _testing_answer_seal(dk, node_id, [(plaintext, final)...], rnonce=None) -> bytes: the stream */
static PyObject *py_testing_answer_seal(PyObject *m, PyObject *args)
{
    PyObject *dk_o, *chunks_o, *fast = NULL, *rn_o = Py_None, *r = NULL;
    Py_buffer node_id, rn = {0};
    const pcc_request_key *dk;
    pcc_answer_sealer *s = NULL;
    pcc_writer w;
    pcc_status st;
    pcc_writer_init_dynamic(&w, false, (size_t)1 << 26);
    if (!PyArg_ParseTuple(args, "Oy*O|O:_testing_answer_seal", &dk_o, &node_id, &chunks_o, &rn_o))
        return NULL;
    if (!dk_arg(m, dk_o, &dk) || (fast = PySequence_Fast(chunks_o, "chunks")) == NULL)
        goto out;
    if (rn_o != Py_None) {
        if (PyObject_GetBuffer(rn_o, &rn, PyBUF_SIMPLE) < 0)
            goto out;
        st = pcc_answer_sealer_new_deterministic(&s, dk, node_id.buf, (size_t)node_id.len,
                                                 rn.buf, (size_t)rn.len);
        PyBuffer_Release(&rn);
    } else {
        st = pcc_answer_sealer_new(&s, dk, node_id.buf, (size_t)node_id.len);
    }
    uint8_t head[PCC_ANSWER_RNONCE_LEN];
    size_t hl = 0;
    if (st == PCC_OK && (st = pcc_answer_sealer_rnonce(s, head, &hl, sizeof head)) == PCC_OK)
        st = pcc_writer_bytes(&w, head, hl);
    if (st != PCC_OK) {
        pcc_py_raise(st, "answer sealer");
        goto out;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
        Py_buffer pt;
        int final;
        size_t fl = 0;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "y*p", &pt, &final))
            goto out;
        st = pcc_writer_reserve(&w, (size_t)pt.len + 4 + PCC_REQUEST_TAG_LEN);
        if (st == PCC_OK)
            st = pcc_answer_sealer_frame(s, w.data + w.len, &fl, w.cap - w.len, pt.buf,
                                         (size_t)pt.len, final);
        PyBuffer_Release(&pt);
        if (st != PCC_OK) {
            pcc_py_raise(st, "answer frame");
            goto out;
        }
        w.len += fl;
    }
    r = PyBytes_FromStringAndSize((const char *)w.data, (Py_ssize_t)w.len);
out:
    pcc_answer_sealer_free(s);
    pcc_writer_cleanup(&w);
    Py_XDECREF(fast);
    PyBuffer_Release(&node_id);
    return r;
}

/* ---- benchmark hook --------------------------------------------------------------------- */

/* _bench_request_c(n, content_len) times, in C on the thread's CPU clock, n rounds of each
 * step of one request (sealed to 2 nodes, a payload with content_len bytes of content, an
 * answer of 63 text frames and a final one) and of the raw primitives the step is built from
 * (pcc's HPKE and one-shot AES-GCM / HKDF calls on OpenSSL). */
#define BENCH_NODES 2
#define BENCH_FRAMES 64

typedef struct {
    int n;
    size_t content_len;
    pcc_status st;
    uint64_t ns[10];
} req_bench;

enum { B_SEAL, B_UNWRAP, B_OPEN, B_ASEAL, B_AOPEN, R_SEAL, R_UNWRAP, R_OPEN, R_ASEAL, R_AOPEN };
static const char *const BENCH_NAMES[10] = {
    "seal", "unwrap", "open_parse", "answer_seal", "answer_open",
    "raw_seal", "raw_unwrap", "raw_open", "raw_answer_seal", "raw_answer_open"};

static uint64_t tnow(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#define BCHK(x)                        \
    do {                               \
        if ((b->st = (x)) != PCC_OK)   \
            goto out;                  \
    } while (0)

static void req_bench_run(req_bench *b)
{
    const pcc_hpke_suite suite = {PCC_HPKE_KEM_X25519_SHA256, PCC_HPKE_KDF_HKDF_SHA256,
                                  PCC_HPKE_AEAD_AES128GCM};
    pcc_hpke_key *sk[BENCH_NODES] = {NULL};
    uint8_t pk[BENCH_NODES][32], node_id[BENCH_NODES][32], enc[BENCH_NODES][32],
        ct[BENCH_NODES][32], nonce[12], rnonce[16], dkraw[16] = {1}, tmp[64];
    size_t len = 0, chunk_len[64];
    pcc_writer payload, frames, plain[BENCH_FRAMES];
    uint8_t *sealed = NULL, *pt = NULL, *content = NULL;
    pcc_request_key *dk = NULL;
    size_t n_chunks = 0, stream_len = 0;
    pcc_writer_init_dynamic(&payload, true, PCC_REQUEST_PAYLOAD_MAX);
    pcc_writer_init_dynamic(&frames, false, (size_t)1 << 24);
    for (int i = 0; i < BENCH_FRAMES; i++)
        pcc_writer_init_dynamic(&plain[i], true, 256);
    memset(node_id, 7, sizeof node_id);
    memset(nonce, 3, sizeof nonce);
    memset(rnonce, 5, sizeof rnonce);
    b->st = PCC_E_NOMEM;
    if ((content = calloc(1, b->content_len + 1)) == NULL)
        goto out;
    memset(content, 'a', b->content_len);
    for (int i = 0; i < BENCH_NODES; i++) {
        node_id[i][0] = (uint8_t)i;
        BCHK(pcc_hpke_key_generate(&sk[i], suite.kem));
        BCHK(pcc_hpke_key_public(sk[i], pk[i], &len, 32));
    }
    pcc_chat_message msg = {"user", 4, (const char *)content, b->content_len};
    pcc_chat_params params = {64, 0.0, 1.0, 0, 0, 0};
    BCHK(pcc_chat_request_encode(&payload, &msg, 1, &params));
    for (int i = 0; i < BENCH_FRAMES - 1; i++)
        BCHK(pcc_answer_encode_text(&plain[i], " token", 6));
    BCHK(pcc_answer_encode_done(&plain[BENCH_FRAMES - 1], 100, BENCH_FRAMES - 1));
    n_chunks = (payload.len + PCC_REQUEST_CHUNK_MAX - 1) / PCC_REQUEST_CHUNK_MAX;
    b->st = PCC_E_LIMIT;
    if (n_chunks > 64)
        goto out;
    b->st = PCC_E_NOMEM;
    if ((sealed = malloc(n_chunks * PCC_REQUEST_SEALED_MAX)) == NULL ||
        (pt = malloc(PCC_REQUEST_SEALED_MAX)) == NULL)
        goto out;
    BCHK(pcc_request_key_from_bytes(&dk, dkraw, 16));
    pcc_request_node_key nk = {{0}, sk[0], suite};

    for (int it = 0; it < b->n; it++) {
        uint64_t t0 = tnow();
        /* the client seals */
        pcc_request_key *k = NULL;
        pcc_request_sealer *s = NULL;
        BCHK(pcc_request_key_generate(&k));
        for (int i = 0; i < BENCH_NODES; i++) {
            size_t el, cl;
            BCHK(pcc_request_key_wrap(k, suite, pk[i], 32, node_id[i], 32, enc[i], &el, 32, ct[i],
                                      &cl, 32));
        }
        BCHK(pcc_request_sealer_new(&s, k));
        for (size_t c = 0; c < n_chunks; c++) {
            size_t m = payload.len - c * PCC_REQUEST_CHUNK_MAX;
            m = m > PCC_REQUEST_CHUNK_MAX ? PCC_REQUEST_CHUNK_MAX : m;
            BCHK(pcc_request_sealer_seal(s, sealed + c * PCC_REQUEST_SEALED_MAX, &chunk_len[c],
                                         PCC_REQUEST_SEALED_MAX,
                                         payload.data + c * PCC_REQUEST_CHUNK_MAX, m,
                                         c + 1 == n_chunks));
        }
        BCHK(pcc_request_sealer_nonce(s, nonce, &len, sizeof nonce));
        pcc_request_sealer_free(s);
        uint64_t t1 = tnow();
        /* the node unwraps, decrypts and parses */
        pcc_request_key *k2 = NULL;
        BCHK(pcc_request_key_unwrap(&k2, &nk, 1, nk.key_id, 8, enc[0], 32, ct[0], 32, node_id[0],
                                    32));
        uint64_t t2 = tnow();
        pcc_request_chunk chunks[64];
        for (size_t c = 0; c < n_chunks; c++) {
            chunks[c].data = sealed + c * PCC_REQUEST_SEALED_MAX;
            chunks[c].len = chunk_len[c];
        }
        uint8_t *body = NULL;
        size_t body_len = 0;
        pcc_chat_request *req = NULL;
        BCHK(pcc_request_open(&body, &body_len, k2, nonce, 12, chunks, n_chunks,
                              PCC_REQUEST_PAYLOAD_MAX));
        b->st = pcc_chat_request_parse_owned(&req, body, body_len);
        pcc_chat_request_free(req);
        if (b->st != PCC_OK)
            goto out;
        uint64_t t3 = tnow();
        /* the node answers */
        pcc_answer_sealer *as = NULL;
        frames.len = 0;
        BCHK(pcc_answer_sealer_new(&as, k2, node_id[0], 32));
        BCHK(pcc_writer_reserve(&frames, 16 + BENCH_FRAMES * 300));
        BCHK(pcc_answer_sealer_rnonce(as, frames.data, &frames.len, 16));
        for (int f = 0; f < BENCH_FRAMES; f++) {
            size_t fl = 0;
            BCHK(pcc_answer_sealer_frame(as, frames.data + frames.len, &fl,
                                         frames.cap - frames.len, plain[f].data, plain[f].len,
                                         f == BENCH_FRAMES - 1));
            frames.len += fl;
        }
        pcc_answer_sealer_free(as);
        stream_len = frames.len;
        uint64_t t4 = tnow();
        /* the client reads it */
        pcc_answer_opener *o = NULL;
        BCHK(pcc_answer_opener_new(&o, k, node_id[0], 32));
        size_t off = 0;
        int seen = 0;
        while (off < stream_len || seen < BENCH_FRAMES) {
            size_t used = 0, got = 0;
            int have = 0, final = 0;
            BCHK(pcc_answer_opener_push(o, frames.data + off, stream_len - off, &used));
            off += used;
            BCHK(pcc_answer_opener_next(o, pt, &got, PCC_REQUEST_SEALED_MAX, &have, &final));
            if (have) {
                pcc_answer_event ev;
                BCHK(pcc_answer_decode(&ev, pt, got, final));
                seen++;
            } else if (used == 0 && off >= stream_len) {
                break;
            }
        }
        BCHK(pcc_answer_opener_finish(o));
        pcc_answer_opener_free(o);
        pcc_request_key_free(k);
        pcc_request_key_free(k2);
        uint64_t t5 = tnow();
        b->ns[B_SEAL] += t1 - t0;
        b->ns[B_UNWRAP] += t2 - t1;
        b->ns[B_OPEN] += t3 - t2;
        b->ns[B_ASEAL] += t4 - t3;
        b->ns[B_AOPEN] += t5 - t4;

        /* the raw primitives of the same steps */
        t0 = tnow();
        BCHK(RAND_priv_bytes(dkraw, 16) == 1 && RAND_bytes(nonce, 12) == 1 ? PCC_OK : PCC_E_CRYPTO);
        for (int i = 0; i < BENCH_NODES; i++) {
            pcc_hpke_ctx *c = NULL;
            size_t el, cl;
            BCHK(pcc_hpke_setup_sender(&c, enc[i], &el, 32, suite, pk[i], 32, node_id[i], 32, NULL,
                                       0, NULL, 0, NULL, NULL, 0));
            b->st = pcc_hpke_seal(c, ct[i], &cl, 32, NULL, 0, dkraw, 16);
            pcc_hpke_ctx_free(c);
            if (b->st != PCC_OK)
                goto out;
        }
        for (size_t c = 0; c < n_chunks; c++) {
            size_t m = payload.len - c * PCC_REQUEST_CHUNK_MAX;
            m = m > PCC_REQUEST_CHUNK_MAX ? PCC_REQUEST_CHUNK_MAX : m;
            BCHK(pcc_aead_seal(1, dkraw, 16, nonce, 12, NULL, 0,
                               payload.data + c * PCC_REQUEST_CHUNK_MAX, m,
                               sealed + c * PCC_REQUEST_SEALED_MAX, &chunk_len[c],
                               PCC_REQUEST_SEALED_MAX));
        }
        t1 = tnow();
        {
            pcc_hpke_ctx *c = NULL;
            BCHK(pcc_hpke_setup_recipient(&c, suite, enc[0], 32, sk[0], node_id[0], 32, NULL, 0,
                                          NULL, 0, NULL, 0));
            b->st = pcc_hpke_open(c, tmp, &len, sizeof tmp, NULL, 0, ct[0], 32);
            pcc_hpke_ctx_free(c);
            if (b->st != PCC_OK)
                goto out;
        }
        t2 = tnow();
        for (size_t c = 0; c < n_chunks; c++)
            BCHK(pcc_aead_open(1, dkraw, 16, nonce, 12, NULL, 0,
                               sealed + c * PCC_REQUEST_SEALED_MAX, chunk_len[c], pt, &len,
                               PCC_REQUEST_SEALED_MAX));
        t3 = tnow();
        uint8_t prk[32], rk[16], rn[12];
        BCHK(pcc_hkdf_extract(1, prk, &len, 32, rnonce, 16, dkraw, 16));
        BCHK(pcc_hkdf_expand(1, rk, 16, prk, 32, node_id[0], 32));
        BCHK(pcc_hkdf_expand(1, rn, 12, prk, 32, node_id[0], 32));
        size_t aoff = 0;
        for (int f = 0; f < BENCH_FRAMES; f++) {
            size_t cl = 0;
            BCHK(pcc_aead_seal(1, rk, 16, rn, 12, NULL, 0, plain[f].data, plain[f].len,
                               frames.data + aoff, &cl, frames.cap - aoff));
            chunk_len[f % 64] = cl;
            aoff += cl;
        }
        t4 = tnow();
        BCHK(pcc_hkdf_extract(1, prk, &len, 32, rnonce, 16, dkraw, 16));
        BCHK(pcc_hkdf_expand(1, rk, 16, prk, 32, node_id[0], 32));
        BCHK(pcc_hkdf_expand(1, rn, 12, prk, 32, node_id[0], 32));
        aoff = 0;
        for (int f = 0; f < BENCH_FRAMES; f++) {
            BCHK(pcc_aead_open(1, rk, 16, rn, 12, NULL, 0, frames.data + aoff, chunk_len[f],
                               pt, &len, PCC_REQUEST_SEALED_MAX));
            aoff += chunk_len[f];
        }
        t5 = tnow();
        pcc_wipe(prk, sizeof prk);
        b->ns[R_SEAL] += t1 - t0;
        b->ns[R_UNWRAP] += t2 - t1;
        b->ns[R_OPEN] += t3 - t2;
        b->ns[R_ASEAL] += t4 - t3;
        b->ns[R_AOPEN] += t5 - t4;
    }
    b->st = PCC_OK;
out:
    pcc_request_key_free(dk);
    for (int i = 0; i < BENCH_NODES; i++)
        pcc_hpke_key_free(sk[i]);
    for (int i = 0; i < BENCH_FRAMES; i++)
        pcc_writer_cleanup(&plain[i]);
    pcc_writer_cleanup(&payload);
    pcc_writer_cleanup(&frames);
    free(sealed);
    free(pt);
    free(content);
}

static PyObject *py_bench_request_c(PyObject *m, PyObject *args)
{
    (void)m;
    req_bench b;
    Py_ssize_t content_len;
    memset(&b, 0, sizeof b);
    if (!PyArg_ParseTuple(args, "in:_bench_request_c", &b.n, &content_len))
        return NULL;
    if (b.n <= 0 || content_len < 0 || content_len > 512 * 1024)
        return pcc_py_raise(PCC_E_INVALID, "n > 0 and content_len <= 512 KiB");
    b.content_len = (size_t)content_len;
    Py_BEGIN_ALLOW_THREADS
    req_bench_run(&b);
    Py_END_ALLOW_THREADS
    if (b.st != PCC_OK)
        return pcc_py_raise(b.st, "bench");
    PyObject *d = PyDict_New();
    for (int i = 0; d != NULL && i < 10; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(b.ns[i]);
        if (v == NULL || PyDict_SetItemString(d, BENCH_NAMES[i], v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyMethodDef request_funcs[] = {
    {"request_seal", (PyCFunction)(void (*)(void))py_request_seal, METH_VARARGS | METH_KEYWORDS,
     "request_seal(node_keys, messages, max_tokens, temperature, top_p, top_k, seed=None, "
     "pad=False) -> (dict, RequestKey). pad: the payload gets a \"pad\" of zeros up to its size "
     "bucket (pcc._padding.pad_payload's rule)."},
    {"_testing_request_key", py_testing_request_key, METH_O, "Tests only."},
    {"_testing_request_key_bytes", py_testing_request_key_bytes, METH_O, "Tests only."},
    {"_testing_request_seal", py_testing_request_seal, METH_VARARGS, "Tests only."},
    {"_testing_unwrap", py_testing_unwrap, METH_VARARGS, "Tests only (the enclave's unwrap)."},
    {"_testing_request_open", py_testing_request_open, METH_VARARGS, "Tests only."},
    {"_testing_chat_parse", py_testing_chat_parse, METH_O, "Tests only."},
    {"_testing_answer_encode", py_testing_answer_encode, METH_O, "Tests only."},
    {"_testing_answer_pad", py_testing_answer_pad, METH_VARARGS, "Tests only."},
    {"_testing_answer_bucket", py_testing_answer_bucket, METH_O, "Tests only."},
    {"_testing_answer_seal", py_testing_answer_seal, METH_VARARGS, "Tests only."},
    {"_bench_request_c", py_bench_request_c, METH_VARARGS,
     "_bench_request_c(n, content_len) -> {step: ns}: thread CPU time of n rounds of each request "
     "step and of the raw primitives it is built from (benchmarks)."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_request_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &dk_spec, NULL) == NULL || pcc_py_add_type(m, &reader_spec, NULL) == NULL)
        return -1;
    return PyModule_AddFunctions(m, request_funcs);
}
