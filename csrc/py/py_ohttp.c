/* py_ohttp.c: pcc._core glue for Oblivious HTTP (RFC 9458): OhttpGateway, OhttpResponseContext,
 * OhttpClientContext and the key configuration codecs. The pcc.ohttp wrapper is the public API.
 * Private keys are pcc.hpke.PrivateKey or pcc._core.HpkeKey objects, read with pcc_py_hpke_key
 * (py_hpke.c). */
#include "pymod.h"

#include <string.h>

#include "pcc/hpke.h"
#include "pcc/ohttp.h"
#include "pcc/secure.h"

/* ---- key configurations as Python tuples (key_id, kem, public_key, [(kdf, aead), ...]) ---- */

static int u16_of(PyObject *o, uint16_t *out, const char *what)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < 0 || v > 0xFFFF) {
        pcc_py_raise(PCC_E_INVALID, what);
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

static int config_from_tuple(PyObject *t, pcc_ohttp_key_config *cfg)
{
    PyObject *suites = NULL, *seq = NULL;
    PyObject *key_id, *kem;
    Py_buffer pk = {0};
    int rc = -1;
    uint16_t v;
    memset(cfg, 0, sizeof *cfg);
    /* PyArg_ParseTuple on something that is not a tuple is a SystemError: say what is wanted. */
    if (!PyTuple_Check(t)) {
        PyErr_SetString(PyExc_TypeError,
                        "ohttp: a key config is a (key_id, kem, public_key, suites) tuple");
        return -1;
    }
    if (!PyArg_ParseTuple(t, "OOy*O:key config", &key_id, &kem, &pk, &suites))
        return -1;
    if (u16_of(key_id, &v, "ohttp: key_id must be 0..255") < 0)
        goto out;
    if (v > 0xFF) {
        pcc_py_raise(PCC_E_INVALID, "ohttp: key_id must be 0..255");
        goto out;
    }
    cfg->key_id = (uint8_t)v;
    if (u16_of(kem, &cfg->kem, "ohttp: kem must be 0..65535") < 0)
        goto out;
    if ((size_t)pk.len > sizeof cfg->public_key) {
        size_t nenc, npk, nsk;
        pcc_status st = pcc_hpke_kem_sizes(cfg->kem, &nenc, &npk, &nsk);
        pcc_py_raise(st == PCC_OK ? PCC_E_INVALID : PCC_E_UNSUPPORTED,
                     st == PCC_OK ? "ohttp: public key length does not match the KEM"
                                  : "ohttp: KEM not supported");
        goto out;
    }
    memcpy(cfg->public_key, pk.buf, (size_t)pk.len);
    cfg->public_key_len = (size_t)pk.len;
    if ((seq = PySequence_Fast(suites, "ohttp: suites must be a sequence of (kdf, aead)")) == NULL)
        goto out;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > PCC_OHTTP_MAX_SUITES) {
        pcc_py_raise(n < 1 ? PCC_E_INVALID : PCC_E_LIMIT, "ohttp: a key config has 1..64 suites");
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(s) || PyTuple_GET_SIZE(s) != 2) {
            PyErr_SetString(PyExc_TypeError, "ohttp: a suite is a (kdf, aead) tuple");
            goto out;
        }
        if (u16_of(PyTuple_GET_ITEM(s, 0), &cfg->suites[i].kdf, "ohttp: kdf must be 0..65535") < 0 ||
            u16_of(PyTuple_GET_ITEM(s, 1), &cfg->suites[i].aead, "ohttp: aead must be 0..65535") < 0)
            goto out;
    }
    cfg->n_suites = (size_t)n;
    rc = 0;
out:
    Py_XDECREF(seq);
    PyBuffer_Release(&pk);
    return rc;
}

static PyObject *config_to_tuple(const pcc_ohttp_key_config *cfg)
{
    PyObject *suites = PyList_New((Py_ssize_t)cfg->n_suites);
    if (suites == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_suites; i++) {
        PyObject *s = Py_BuildValue("(II)", (unsigned)cfg->suites[i].kdf, (unsigned)cfg->suites[i].aead);
        if (s == NULL) {
            Py_DECREF(suites);
            return NULL;
        }
        PyList_SET_ITEM(suites, (Py_ssize_t)i, s);
    }
    return Py_BuildValue("(IIy#N)", (unsigned)cfg->key_id, (unsigned)cfg->kem,
                         (const char *)cfg->public_key, (Py_ssize_t)cfg->public_key_len, suites);
}

static const char *config_error(pcc_status st)
{
    switch (st) {
    case PCC_E_UNSUPPORTED: return "ohttp: KEM not supported";
    case PCC_E_LIMIT: return "ohttp: too many entries";
    case PCC_E_INVALID: return "ohttp: public key length does not match the KEM, or no suites";
    default: return "ohttp: malformed key configuration";
    }
}

static PyObject *py_key_config_encode(PyObject *mod, PyObject *arg)
{
    (void)mod;
    pcc_ohttp_key_config cfg;
    uint8_t buf[PCC_OHTTP_MAX_KEY_CONFIG];
    size_t n;
    if (config_from_tuple(arg, &cfg) < 0)
        return NULL;
    pcc_status st = pcc_ohttp_key_config_encode(&cfg, buf, &n, sizeof buf);
    if (st != PCC_OK)
        return pcc_py_raise(st, config_error(st));
    return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n);
}

static PyObject *py_key_config_decode(PyObject *mod, PyObject *arg)
{
    (void)mod;
    Py_buffer b;
    pcc_ohttp_key_config cfg;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    pcc_status st = pcc_ohttp_key_config_decode(&cfg, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    if (st != PCC_OK)
        return pcc_py_raise(st, config_error(st));
    return config_to_tuple(&cfg);
}

static PyObject *py_key_configs_encode(PyObject *mod, PyObject *arg)
{
    (void)mod;
    PyObject *seq = PySequence_Fast(arg, "ohttp: configs must be a sequence");
    pcc_ohttp_key_config *cfgs = NULL;
    PyObject *out = NULL;
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > PCC_OHTTP_MAX_CONFIGS) {
        pcc_py_raise(n < 1 ? PCC_E_INVALID : PCC_E_LIMIT, "ohttp: 1..64 key configurations");
        goto out;
    }
    if ((cfgs = PyMem_Calloc((size_t)n, sizeof *cfgs)) == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (config_from_tuple(PySequence_Fast_GET_ITEM(seq, i), &cfgs[i]) < 0)
            goto out;
    size_t cap = (size_t)n * (2 + PCC_OHTTP_MAX_KEY_CONFIG), len = 0;
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap)) == NULL)
        goto out;
    pcc_status st = pcc_ohttp_key_configs_encode(cfgs, (size_t)n, (uint8_t *)PyBytes_AS_STRING(out),
                                                 &len, cap);
    if (st != PCC_OK) {
        Py_CLEAR(out);
        pcc_py_raise(st, config_error(st));
        goto out;
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)len) < 0)
        out = NULL;
out:
    PyMem_Free(cfgs);
    Py_DECREF(seq);
    return out;
}

static PyObject *py_key_configs_decode(PyObject *mod, PyObject *arg)
{
    (void)mod;
    Py_buffer b;
    size_t n = 0;
    PyObject *list = NULL;
    pcc_ohttp_key_config *cfgs = PyMem_Calloc(PCC_OHTTP_MAX_CONFIGS, sizeof *cfgs);
    if (cfgs == NULL)
        return PyErr_NoMemory();
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        goto out;
    pcc_status st = pcc_ohttp_key_configs_decode(cfgs, &n, PCC_OHTTP_MAX_CONFIGS, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_UNSUPPORTED ? "ohttp: no key configuration with a supported KEM"
                                                 : config_error(st));
        goto out;
    }
    if ((list = PyList_New((Py_ssize_t)n)) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        PyObject *t = config_to_tuple(&cfgs[i]);
        if (t == NULL) {
            Py_CLEAR(list);
            goto out;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
out:
    PyMem_Free(cfgs);
    return list;
}

static PyObject *py_select_suite(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *t;
    int kdf, aead;
    pcc_ohttp_key_config cfg;
    pcc_ohttp_suite s;
    if (!PyArg_ParseTuple(args, "Oii:ohttp_select_suite", &t, &kdf, &aead))
        return NULL;
    if (config_from_tuple(t, &cfg) < 0)
        return NULL;
    if (kdf < 0 || kdf > 0xFFFF || aead < 0 || aead > 0xFFFF)
        return pcc_py_raise(PCC_E_UNSUPPORTED, "ohttp: suite not offered");
    pcc_status st = pcc_ohttp_select_suite(&cfg, (uint16_t)kdf, (uint16_t)aead, &s);
    if (st != PCC_OK)
        return pcc_py_raise(st, "ohttp: no offered suite is supported");
    return Py_BuildValue("(II)", (unsigned)s.kdf, (unsigned)s.aead);
}

/* ---- OhttpClientContext ---- */

typedef struct {
    PyObject_HEAD
    pcc_ohttp_client_ctx *ctx;
} ClientObject;

static void client_dealloc(ClientObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_ohttp_client_ctx_free(self->ctx);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static size_t response_nonce_len(uint16_t aead)
{
    size_t nk = 0, nn = 0;
    if (pcc_hpke_aead_sizes(aead, &nk, &nn) != PCC_OK)
        return 0;
    return nk > nn ? nk : nn;
}

static PyObject *client_decapsulate(ClientObject *self, PyObject *arg)
{
    Py_buffer b;
    PyObject *out = NULL;
    size_t pt_len = 0;
    pcc_status st;
    if (self->ctx == NULL)
        return pcc_py_raise(PCC_E_STATE, "ohttp: client context not initialised");
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    size_t nl = response_nonce_len(pcc_ohttp_client_ctx_suite(self->ctx).aead);
    size_t len = (size_t)b.len;
    size_t exact = len >= nl + PCC_HPKE_TAG_LEN ? len - nl - PCC_HPKE_TAG_LEN : 0;
    if (exact > PCC_OHTTP_MAX_MESSAGE) {
        pcc_py_raise(PCC_E_LIMIT, "ohttp: response too large");
        goto out;
    }
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)exact)) == NULL)
        goto out;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_ohttp_client_decapsulate_response(self->ctx, (uint8_t *)PyBytes_AS_STRING(out),
                                               &pt_len, exact, b.buf, len);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK || pt_len != exact) {
        Py_CLEAR(out);
        pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO,
                     st == PCC_E_FORMAT ? "ohttp: encapsulated response truncated" : "ohttp: response");
    }
out:
    PyBuffer_Release(&b);
    return out;
}

static PyObject *client_suite(ClientObject *self, void *c)
{
    (void)c;
    if (self->ctx == NULL)
        Py_RETURN_NONE;
    pcc_hpke_suite s = pcc_ohttp_client_ctx_suite(self->ctx);
    return Py_BuildValue("(III)", (unsigned)s.kem, (unsigned)s.kdf, (unsigned)s.aead);
}

static PyMethodDef client_methods[] = {
    {"decapsulate_response", (PyCFunction)client_decapsulate, METH_O,
     "decapsulate_response(enc_response) -> bytes (the binary HTTP response)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef client_getset[] = {
    {"suite", (getter)client_suite, NULL, "(kem, kdf, aead) of the request.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot client_slots[] = {
    {Py_tp_doc, "The client's state for one OHTTP request (made by ohttp_encapsulate_request)."},
    {Py_tp_dealloc, client_dealloc},
    {Py_tp_methods, client_methods},
    {Py_tp_getset, client_getset},
    {0, NULL},
};

static PyType_Spec client_spec = {
    "pcc._core.OhttpClientContext", sizeof(ClientObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, client_slots,
};

/* client_args checks what both request encapsulations take: the key configuration tuple, the
 * suite (kdf/aead 0 means the first usable one) and at most one of ikm_e (a buffer, released by
 * the caller when ikm->obj is set) and _sk_e. Returns 0, or -1 with an exception set. */
static int client_args(PyObject *mod, PyObject *t, int kdf, int aead, PyObject *ikm_obj,
                       PyObject *sk_e_obj, pcc_ohttp_key_config *cfg, pcc_ohttp_suite *suite,
                       Py_buffer *ikm, const pcc_hpke_key **sk_e)
{
    pcc_status st;
    if (ikm_obj != Py_None && PyObject_GetBuffer(ikm_obj, ikm, PyBUF_SIMPLE) < 0)
        return -1;
    if (sk_e_obj != Py_None) {
        if (pcc_py_hpke_key(mod, sk_e_obj, sk_e) < 0)
            return -1;
        if (ikm->obj) {
            pcc_py_raise(PCC_E_INVALID, "ohttp: give ikm_e or _sk_e, not both");
            return -1;
        }
    }
    if (config_from_tuple(t, cfg) < 0)
        return -1;
    if ((st = pcc_ohttp_key_config_check(cfg)) != PCC_OK) {
        pcc_py_raise(st, config_error(st));
        return -1;
    }
    if (kdf < 0 || kdf > 0xFFFF || aead < 0 || aead > 0xFFFF ||
        pcc_ohttp_select_suite(cfg, (uint16_t)kdf, (uint16_t)aead, suite) != PCC_OK) {
        pcc_py_raise(PCC_E_UNSUPPORTED,
                     "ohttp: suite not offered by the key configuration or not supported");
        return -1;
    }
    return 0;
}

static PyObject *py_encapsulate_request(PyObject *mod, PyObject *args)
{
    PyObject *t, *ikm_obj, *sk_e_obj = Py_None, *out = NULL, *ctx_obj = NULL;
    Py_buffer req = {0}, ikm = {0};
    int kdf, aead;
    pcc_ohttp_key_config cfg;
    pcc_ohttp_suite suite;
    pcc_ohttp_client_ctx *ctx = NULL;
    const pcc_hpke_key *sk_e = NULL;
    size_t need, wrote = 0;
    pcc_status st;
    if (!PyArg_ParseTuple(args, "Oy*iiO|O:ohttp_encapsulate_request", &t, &req, &kdf, &aead,
                          &ikm_obj, &sk_e_obj))
        return NULL;
    if (client_args(mod, t, kdf, aead, ikm_obj, sk_e_obj, &cfg, &suite, &ikm, &sk_e) < 0)
        goto out;
    if ((st = pcc_ohttp_encapsulated_request_len(cfg.kem, (size_t)req.len, &need)) != PCC_OK) {
        pcc_py_raise(st, "ohttp: request too large");
        goto out;
    }
    PyTypeObject *tp = pcc_py_module_type(mod, "OhttpClientContext");
    if (tp == NULL)
        goto out;
    ctx_obj = tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (ctx_obj == NULL)
        goto out;
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need)) == NULL)
        goto out;
    Py_BEGIN_ALLOW_THREADS
    if (sk_e != NULL)
        st = pcc_ohttp_encapsulate_request_ephemeral(&ctx, (uint8_t *)PyBytes_AS_STRING(out),
                                                     &wrote, need, &cfg, suite, req.buf,
                                                     (size_t)req.len, sk_e);
    else
        st = pcc_ohttp_encapsulate_request(&ctx, (uint8_t *)PyBytes_AS_STRING(out), &wrote, need,
                                           &cfg, suite, req.buf, (size_t)req.len,
                                           ikm.obj ? ikm.buf : NULL, ikm.obj ? (size_t)ikm.len : 0);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK || wrote != need) {
        pcc_ohttp_client_ctx_free(ctx);
        Py_CLEAR(out);
        pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO,
                     st == PCC_E_INVALID ? "ohttp: ephemeral key or ikm_e does not fit the KEM"
                                         : "ohttp: encapsulate request");
        goto out;
    }
    ((ClientObject *)ctx_obj)->ctx = ctx;
    {
        PyObject *r = PyTuple_Pack(2, out, ctx_obj);
        Py_DECREF(out);
        out = r;
    }
out:
    Py_XDECREF(ctx_obj);
    PyBuffer_Release(&req);
    if (ikm.obj)
        PyBuffer_Release(&ikm);
    return out;
}

/* ---- OhttpResponseContext ---- */

typedef struct {
    PyObject_HEAD
    pcc_ohttp_response_ctx *ctx;
    PyThread_type_lock lock;
} ResponseObject;

static void response_dealloc(ResponseObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_ohttp_response_ctx_free(self->ctx);
    if (self->lock)
        PyThread_free_lock(self->lock);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* response_run encapsulates under the context's lock; nonce (known-answer tests only) may be
 * NULL. */
static PyObject *response_run(ResponseObject *self, Py_buffer *resp, Py_buffer *nonce)
{
    PyObject *out = NULL;
    size_t need, wrote = 0;
    pcc_status st;
    if (self->ctx == NULL)
        return pcc_py_raise(PCC_E_STATE, "ohttp: response context not initialised");
    if (nonce != NULL && (size_t)nonce->len != pcc_ohttp_response_nonce_len(self->ctx))
        return pcc_py_raise(PCC_E_INVALID, "ohttp: response nonce must be max(Nn, Nk) bytes");
    if ((st = pcc_ohttp_response_len(self->ctx, (size_t)resp->len, &need)) != PCC_OK)
        return pcc_py_raise(st, "ohttp: response too large");
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need)) == NULL)
        return NULL;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    if (nonce != NULL)
        st = pcc_ohttp_testing_response_encapsulate_nonce(self->ctx, o, &wrote, need, resp->buf,
                                                          (size_t)resp->len, nonce->buf,
                                                          (size_t)nonce->len);
    else
        st = pcc_ohttp_response_encapsulate(self->ctx, o, &wrote, need, resp->buf,
                                            (size_t)resp->len);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK || wrote != need) {
        Py_CLEAR(out);
        pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO,
                     st == PCC_E_STATE ? "ohttp: this request already has its response"
                                       : "ohttp: encapsulate response");
    }
    return out;
}

static PyObject *response_encapsulate(ResponseObject *self, PyObject *arg)
{
    Py_buffer resp;
    if (PyObject_GetBuffer(arg, &resp, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = response_run(self, &resp, NULL);
    PyBuffer_Release(&resp);
    return out;
}

static PyObject *response_key_id(ResponseObject *self, void *c)
{
    (void)c;
    return self->ctx ? PyLong_FromLong(pcc_ohttp_response_ctx_key_id(self->ctx)) : Py_NewRef(Py_None);
}

static PyObject *response_suite(ResponseObject *self, void *c)
{
    (void)c;
    if (self->ctx == NULL)
        Py_RETURN_NONE;
    pcc_hpke_suite s = pcc_ohttp_response_ctx_suite(self->ctx);
    return Py_BuildValue("(III)", (unsigned)s.kem, (unsigned)s.kdf, (unsigned)s.aead);
}

static PyMethodDef response_methods[] = {
    {"encapsulate", (PyCFunction)response_encapsulate, METH_O,
     "encapsulate(response) -> bytes (the Encapsulated Response, fresh random nonce); once "
     "only."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef response_getset[] = {
    {"key_id", (getter)response_key_id, NULL, "Key identifier the request used.", NULL},
    {"suite", (getter)response_suite, NULL, "(kem, kdf, aead) of the request.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot response_slots[] = {
    {Py_tp_doc, "The gateway's state for answering one OHTTP request (made by OhttpGateway)."},
    {Py_tp_dealloc, response_dealloc},
    {Py_tp_methods, response_methods},
    {Py_tp_getset, response_getset},
    {0, NULL},
};

static PyType_Spec response_spec = {
    "pcc._core.OhttpResponseContext", sizeof(ResponseObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, response_slots,
};

/* ---- chunked OHTTP: OhttpChunkedClient and OhttpChunkedGatewayContext ---- */

/* The receive side of either context, so one loop serves both. */
typedef struct {
    pcc_status (*open)(void *ctx, uint8_t *out, size_t *out_len, size_t max_out,
                       const uint8_t *in, size_t in_len, size_t *in_used);
    bool (*next)(const void *ctx, size_t *pt_len, size_t *missing);
    size_t (*final_len)(const void *ctx);
    pcc_status (*finish)(void *ctx, uint8_t *out, size_t *out_len, size_t max_out);
} chunked_rx;

static pcc_status cl_open(void *c, uint8_t *o, size_t *ol, size_t mo, const uint8_t *i, size_t il,
                          size_t *iu)
{
    return pcc_ohttp_chunked_client_open(c, o, ol, mo, i, il, iu);
}
static bool cl_next(const void *c, size_t *p, size_t *m) { return pcc_ohttp_chunked_client_next(c, p, m); }
static size_t cl_final_len(const void *c) { return pcc_ohttp_chunked_client_final_len(c); }
static pcc_status cl_finish(void *c, uint8_t *o, size_t *ol, size_t mo)
{
    return pcc_ohttp_chunked_client_finish(c, o, ol, mo);
}
static pcc_status gw_open(void *c, uint8_t *o, size_t *ol, size_t mo, const uint8_t *i, size_t il,
                          size_t *iu)
{
    return pcc_ohttp_chunked_gateway_open(c, o, ol, mo, i, il, iu);
}
static bool gw_next(const void *c, size_t *p, size_t *m) { return pcc_ohttp_chunked_gateway_next(c, p, m); }
static size_t gw_final_len(const void *c) { return pcc_ohttp_chunked_gateway_final_len(c); }
static pcc_status gw_finish(void *c, uint8_t *o, size_t *ol, size_t mo)
{
    return pcc_ohttp_chunked_gateway_finish(c, o, ol, mo);
}
static const chunked_rx CLIENT_RX = {cl_open, cl_next, cl_final_len, cl_finish};
static const chunked_rx GATEWAY_RX = {gw_open, gw_next, gw_final_len, gw_finish};

static const char *chunked_error(pcc_status st)
{
    switch (st) {
    case PCC_E_FORMAT: return "ohttp: chunked message truncated or malformed";
    case PCC_E_UNKNOWN_KEY: return "ohttp: unknown key identifier";
    case PCC_E_UNSUPPORTED: return "ohttp: KEM, KDF or AEAD not offered for this key";
    case PCC_E_LIMIT: return "ohttp: chunk too large";
    case PCC_E_STATE: return "ohttp: chunked message already ended or failed";
    default: return "ohttp: chunked";
    }
}

/* rx_open feeds data and returns the list of plaintext chunks it completed, each a bytes object
 * of exactly its size (so no plaintext is left behind in a shrunk copy). */
static PyObject *rx_open(const chunked_rx *rx, void *ctx, PyThread_type_lock lock, PyObject *arg)
{
    Py_buffer b;
    PyObject *list = NULL;
    if (ctx == NULL)
        return pcc_py_raise(PCC_E_STATE, "ohttp: chunked context not initialised");
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    const uint8_t *p = b.buf;
    size_t len = (size_t)b.len, off = 0;
    if ((list = PyList_New(0)) == NULL)
        goto out;
    for (;;) {
        size_t need = 0, missing = 0, used = 0, got = 0;
        PyObject *chunk = NULL;
        pcc_status st;
        if (rx->next(ctx, &need, &missing) && missing <= len - off &&
            (chunk = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need)) == NULL) {
            Py_CLEAR(list);
            goto out;
        }
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(lock, WAIT_LOCK);
        st = rx->open(ctx, chunk ? (uint8_t *)PyBytes_AS_STRING(chunk) : NULL, &got,
                      chunk ? need : 0, off < len ? p + off : NULL, len - off, &used);
        PyThread_release_lock(lock);
        Py_END_ALLOW_THREADS
        off += used;
        if (st != PCC_OK) {
            Py_XDECREF(chunk);
            Py_CLEAR(list);
            pcc_py_raise(st, chunked_error(st));
            goto out;
        }
        if (got > 0) {
            if (chunk == NULL || got != need) { /* the core wrote what it said it would */
                Py_XDECREF(chunk);
                Py_CLEAR(list);
                pcc_py_raise(PCC_E_CRYPTO, "ohttp: chunked");
                goto out;
            }
            int rc = PyList_Append(list, chunk);
            Py_DECREF(chunk);
            if (rc < 0) {
                Py_CLEAR(list);
                goto out;
            }
            continue;
        }
        Py_XDECREF(chunk);
        if (used == 0)
            break; /* input used up */
    }
out:
    PyBuffer_Release(&b);
    return list;
}

static PyObject *rx_finish(const chunked_rx *rx, void *ctx, PyThread_type_lock lock)
{
    PyObject *out;
    size_t got = 0;
    pcc_status st;
    if (ctx == NULL)
        return pcc_py_raise(PCC_E_STATE, "ohttp: chunked context not initialised");
    size_t need = rx->final_len(ctx);
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need)) == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(lock, WAIT_LOCK);
    st = rx->finish(ctx, (uint8_t *)PyBytes_AS_STRING(out), &got, need);
    PyThread_release_lock(lock);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK || got != need) {
        Py_DECREF(out);
        return pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO,
                            st == PCC_E_FORMAT ? "ohttp: chunked message truncated (no final chunk)"
                                               : chunked_error(st));
    }
    return out;
}

typedef struct {
    PyObject_HEAD
    pcc_ohttp_chunked_client *c;
    PyThread_type_lock lock;
} ChunkedClientObject;

static void chunked_client_dealloc(ChunkedClientObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_ohttp_chunked_client_free(self->c);
    if (self->lock)
        PyThread_free_lock(self->lock);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *chunked_client_seal(ChunkedClientObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"chunk", "final", NULL};
    Py_buffer chunk = {0};
    int final = 0;
    PyObject *out = NULL;
    size_t need = 0, wrote = 0;
    pcc_status st;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|p:seal", kwlist, &chunk, &final))
        return NULL;
    if (self->c == NULL) {
        pcc_py_raise(PCC_E_STATE, "ohttp: chunked context not initialised");
        goto out;
    }
    if ((st = pcc_ohttp_chunked_seal_len((size_t)chunk.len, final, &need)) != PCC_OK) {
        pcc_py_raise(st, "ohttp: chunk too large");
        goto out;
    }
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need)) == NULL)
        goto out;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    st = pcc_ohttp_chunked_client_seal(self->c, (uint8_t *)PyBytes_AS_STRING(out), &wrote, need,
                                       chunk.buf, (size_t)chunk.len, final);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK || wrote != need) {
        Py_CLEAR(out);
        pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO,
                     st == PCC_E_STATE     ? "ohttp: the request's final chunk was already sealed"
                     : st == PCC_E_INVALID ? "ohttp: a non-final chunk must not be empty"
                                           : "ohttp: seal chunk");
    }
out:
    PyBuffer_Release(&chunk);
    return out;
}

static PyObject *chunked_client_open(ChunkedClientObject *self, PyObject *arg)
{
    return rx_open(&CLIENT_RX, self->c, self->lock, arg);
}

static PyObject *chunked_client_finish(ChunkedClientObject *self, PyObject *unused)
{
    (void)unused;
    return rx_finish(&CLIENT_RX, self->c, self->lock);
}

static PyObject *chunked_client_suite(ChunkedClientObject *self, void *c)
{
    (void)c;
    if (self->c == NULL)
        Py_RETURN_NONE;
    pcc_hpke_suite s = pcc_ohttp_chunked_client_suite(self->c);
    return Py_BuildValue("(III)", (unsigned)s.kem, (unsigned)s.kdf, (unsigned)s.aead);
}

static PyMethodDef chunked_client_methods[] = {
    {"seal", (PyCFunction)(void (*)(void))chunked_client_seal, METH_VARARGS | METH_KEYWORDS,
     "seal(chunk, final=False) -> bytes: the next request chunk, length-prefixed."},
    {"open", (PyCFunction)chunked_client_open, METH_O,
     "open(data) -> [bytes]: response chunks completed by the next bytes of the response."},
    {"finish", (PyCFunction)chunked_client_finish, METH_NOARGS,
     "finish() -> bytes: the final response chunk, once the response stream has ended."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef chunked_client_getset[] = {
    {"suite", (getter)chunked_client_suite, NULL, "(kem, kdf, aead) of the exchange.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot chunked_client_slots[] = {
    {Py_tp_doc, "The client's state for one chunked OHTTP exchange (ohttp_chunked_client)."},
    {Py_tp_dealloc, chunked_client_dealloc},
    {Py_tp_methods, chunked_client_methods},
    {Py_tp_getset, chunked_client_getset},
    {0, NULL},
};

static PyType_Spec chunked_client_spec = {
    "pcc._core.OhttpChunkedClient", sizeof(ChunkedClientObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, chunked_client_slots,
};

static PyObject *py_chunked_client(PyObject *mod, PyObject *args)
{
    PyObject *t, *ikm_obj, *sk_e_obj = Py_None, *hdr = NULL, *obj = NULL, *result = NULL;
    Py_buffer ikm = {0};
    int kdf, aead;
    pcc_ohttp_key_config cfg;
    pcc_ohttp_suite suite;
    pcc_ohttp_chunked_client *c = NULL;
    const pcc_hpke_key *sk_e = NULL;
    uint8_t buf[PCC_OHTTP_HEADER_LEN + PCC_HPKE_MAX_ENC];
    size_t hdr_len = 0;
    pcc_status st;
    if (!PyArg_ParseTuple(args, "OiiO|O:ohttp_chunked_client", &t, &kdf, &aead, &ikm_obj,
                          &sk_e_obj))
        return NULL;
    if (client_args(mod, t, kdf, aead, ikm_obj, sk_e_obj, &cfg, &suite, &ikm, &sk_e) < 0)
        goto out;
    PyTypeObject *tp = pcc_py_module_type(mod, "OhttpChunkedClient");
    if (tp == NULL)
        goto out;
    obj = tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (obj == NULL)
        goto out;
    if ((((ChunkedClientObject *)obj)->lock = PyThread_allocate_lock()) == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    Py_BEGIN_ALLOW_THREADS
    if (sk_e != NULL)
        st = pcc_ohttp_chunked_client_new_ephemeral(&c, buf, &hdr_len, sizeof buf, &cfg, suite, sk_e);
    else
        st = pcc_ohttp_chunked_client_new(&c, buf, &hdr_len, sizeof buf, &cfg, suite,
                                          ikm.obj ? ikm.buf : NULL, ikm.obj ? (size_t)ikm.len : 0);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_INVALID ? "ohttp: ephemeral key or ikm_e does not fit the KEM"
                                             : "ohttp: chunked request setup");
        goto out;
    }
    ((ChunkedClientObject *)obj)->c = c;
    if ((hdr = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)hdr_len)) == NULL)
        goto out;
    result = PyTuple_Pack(2, hdr, obj);
out:
    Py_XDECREF(hdr);
    Py_XDECREF(obj);
    if (ikm.obj)
        PyBuffer_Release(&ikm);
    return result;
}

typedef struct {
    PyObject_HEAD
    pcc_ohttp_chunked_gateway_ctx *g;
    PyThread_type_lock lock;
    PyObject *gateway; /* the OhttpGateway the context borrows from */
} ChunkedGatewayObject;

static int chunked_gateway_traverse(ChunkedGatewayObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->gateway);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int chunked_gateway_clear(ChunkedGatewayObject *self)
{
    pcc_ohttp_chunked_gateway_ctx_free(self->g); /* before the gateway it borrows */
    self->g = NULL;
    Py_CLEAR(self->gateway);
    return 0;
}

static void chunked_gateway_dealloc(ChunkedGatewayObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    chunked_gateway_clear(self);
    if (self->lock)
        PyThread_free_lock(self->lock);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *chunked_gateway_open(ChunkedGatewayObject *self, PyObject *arg)
{
    return rx_open(&GATEWAY_RX, self->g, self->lock, arg);
}

static PyObject *chunked_gateway_finish(ChunkedGatewayObject *self, PyObject *unused)
{
    (void)unused;
    return rx_finish(&GATEWAY_RX, self->g, self->lock);
}

static PyObject *chunked_gateway_seal(ChunkedGatewayObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"chunk", "final", "nonce", NULL};
    Py_buffer chunk = {0}, nonce = {0};
    PyObject *nonce_obj = Py_None, *out = NULL;
    int final = 0;
    size_t need = 0, wrote = 0;
    pcc_status st;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|pO:seal", kwlist, &chunk, &final, &nonce_obj))
        return NULL;
    if (self->g == NULL) {
        pcc_py_raise(PCC_E_STATE, "ohttp: chunked context not initialised");
        goto out;
    }
    if (nonce_obj != Py_None && PyObject_GetBuffer(nonce_obj, &nonce, PyBUF_SIMPLE) < 0)
        goto out;
    if ((st = pcc_ohttp_chunked_gateway_seal_len(self->g, (size_t)chunk.len, final, &need)) != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_STATE ? "ohttp: the request header has not been read"
                                           : "ohttp: chunk too large");
        goto out;
    }
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)need)) == NULL)
        goto out;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    if (nonce.obj) /* known-answer tests only: pcc.ohttp._testing_chunked_seal */
        st = pcc_ohttp_testing_chunked_gateway_seal_nonce(
            self->g, (uint8_t *)PyBytes_AS_STRING(out), &wrote, need, chunk.buf,
            (size_t)chunk.len, final, nonce.buf, (size_t)nonce.len);
    else
        st = pcc_ohttp_chunked_gateway_seal(self->g, (uint8_t *)PyBytes_AS_STRING(out), &wrote,
                                            need, chunk.buf, (size_t)chunk.len, final);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK || wrote != need) {
        Py_CLEAR(out);
        pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO,
                     st == PCC_E_STATE ? "ohttp: the response's final chunk was already sealed"
                     : st == PCC_E_INVALID
                         ? "ohttp: a non-final chunk must not be empty; a nonce is max(Nn, Nk) "
                           "bytes and only for the first chunk"
                         : "ohttp: seal chunk");
    }
out:
    PyBuffer_Release(&chunk);
    if (nonce.obj)
        PyBuffer_Release(&nonce);
    return out;
}

static PyObject *chunked_gateway_key_id(ChunkedGatewayObject *self, void *c)
{
    (void)c;
    uint8_t key_id;
    pcc_hpke_suite s;
    if (self->g == NULL || !pcc_ohttp_chunked_gateway_header(self->g, &key_id, &s))
        Py_RETURN_NONE;
    return PyLong_FromLong(key_id);
}

static PyObject *chunked_gateway_suite(ChunkedGatewayObject *self, void *c)
{
    (void)c;
    uint8_t key_id;
    pcc_hpke_suite s;
    if (self->g == NULL || !pcc_ohttp_chunked_gateway_header(self->g, &key_id, &s))
        Py_RETURN_NONE;
    return Py_BuildValue("(III)", (unsigned)s.kem, (unsigned)s.kdf, (unsigned)s.aead);
}

static PyMethodDef chunked_gateway_methods[] = {
    {"open", (PyCFunction)chunked_gateway_open, METH_O,
     "open(data) -> [bytes]: request chunks completed by the next bytes of the request."},
    {"finish", (PyCFunction)chunked_gateway_finish, METH_NOARGS,
     "finish() -> bytes: the final request chunk, once the request stream has ended."},
    {"seal", (PyCFunction)(void (*)(void))chunked_gateway_seal, METH_VARARGS | METH_KEYWORDS,
     "seal(chunk, final=False, nonce=None) -> bytes: the next response chunk (the first one "
     "preceded by the response nonce)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef chunked_gateway_getset[] = {
    {"key_id", (getter)chunked_gateway_key_id, NULL, "Key identifier (None before the header).", NULL},
    {"suite", (getter)chunked_gateway_suite, NULL, "(kem, kdf, aead) (None before the header).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot chunked_gateway_slots[] = {
    {Py_tp_doc, "The gateway's state for one chunked OHTTP exchange (OhttpGateway.chunked)."},
    {Py_tp_dealloc, chunked_gateway_dealloc},
    {Py_tp_traverse, chunked_gateway_traverse},
    {Py_tp_clear, chunked_gateway_clear},
    {Py_tp_methods, chunked_gateway_methods},
    {Py_tp_getset, chunked_gateway_getset},
    {0, NULL},
};

static PyType_Spec chunked_gateway_spec = {
    "pcc._core.OhttpChunkedGatewayContext", sizeof(ChunkedGatewayObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    chunked_gateway_slots,
};

/* ---- OhttpGateway ---- */

typedef struct {
    PyObject_HEAD
    pcc_ohttp_gateway *gw;
    PyObject *keys; /* tuple of the private key objects the gateway borrows from */
} GatewayObject;

static int gateway_traverse(GatewayObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->keys);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int gateway_clear(GatewayObject *self)
{
    /* the C gateway borrows the keys: free it before dropping them */
    pcc_ohttp_gateway_free(self->gw);
    self->gw = NULL;
    Py_CLEAR(self->keys);
    return 0;
}

static void gateway_dealloc(GatewayObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    gateway_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int gateway_init(GatewayObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"keys", NULL};
    PyObject *keys, *seq = NULL, *held = NULL;
    pcc_ohttp_gateway *gw = NULL;
    int rc = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:OhttpGateway", kwlist, &keys))
        return -1;
    if (self->gw != NULL) {
        PyErr_SetString(PyExc_TypeError, "OhttpGateway already initialised");
        return -1;
    }
    if ((seq = PySequence_Fast(keys, "ohttp: keys must be a sequence of (config, private_key)")) == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1 || n > PCC_OHTTP_MAX_CONFIGS) {
        pcc_py_raise(n < 1 ? PCC_E_INVALID : PCC_E_LIMIT, "ohttp: a gateway has 1..64 keys");
        goto out;
    }
    if ((held = PyTuple_New(n)) == NULL)
        goto out;
    pcc_status st = pcc_ohttp_gateway_new(&gw);
    if (st != PCC_OK) {
        pcc_py_raise(st, NULL);
        goto out;
    }
    PyObject *m = PyType_GetModule(Py_TYPE(self));
    if (m == NULL)
        goto out;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        pcc_ohttp_key_config cfg;
        const pcc_hpke_key *sk;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "ohttp: each key is a (config, private_key) tuple");
            goto out;
        }
        if (config_from_tuple(PyTuple_GET_ITEM(item, 0), &cfg) < 0 ||
            pcc_py_hpke_key(m, PyTuple_GET_ITEM(item, 1), &sk) < 0)
            goto out;
        if ((st = pcc_ohttp_gateway_add_key(gw, &cfg, sk)) != PCC_OK) {
            pcc_py_raise(st, st == PCC_E_UNSUPPORTED ? "ohttp: KEM not supported"
                                                     : "ohttp: private key does not match its key "
                                                       "configuration, or duplicate key_id");
            goto out;
        }
        PyTuple_SET_ITEM(held, i, Py_NewRef(PyTuple_GET_ITEM(item, 1)));
    }
    self->gw = gw;
    self->keys = held;
    gw = NULL;
    held = NULL;
    rc = 0;
out:
    pcc_ohttp_gateway_free(gw);
    Py_XDECREF(held);
    Py_DECREF(seq);
    return rc;
}

static const char *decap_error(pcc_status st)
{
    switch (st) {
    case PCC_E_FORMAT: return "ohttp: encapsulated request truncated or malformed";
    case PCC_E_UNKNOWN_KEY: return "ohttp: unknown key identifier";
    case PCC_E_UNSUPPORTED: return "ohttp: KEM, KDF or AEAD not offered for this key";
    case PCC_E_LIMIT: return "ohttp: request too large";
    default: return "ohttp: decapsulate";
    }
}

static PyObject *gateway_decapsulate(GatewayObject *self, PyObject *arg)
{
    Py_buffer b;
    PyObject *out = NULL, *ctx_obj = NULL, *result = NULL;
    pcc_ohttp_response_ctx *ctx = NULL;
    size_t pt_len = 0, nenc = 0, npk, nsk, exact = 0;
    pcc_status st;
    if (self->gw == NULL)
        return pcc_py_raise(PCC_E_STATE, "ohttp: gateway not initialised");
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    const uint8_t *p = b.buf;
    size_t len = (size_t)b.len;
    /* size the output exactly from the header's KEM, so no plaintext is left in a shrunk copy */
    if (len >= PCC_OHTTP_HEADER_LEN &&
        pcc_hpke_kem_sizes((uint16_t)(p[1] << 8 | p[2]), &nenc, &npk, &nsk) == PCC_OK &&
        len >= PCC_OHTTP_HEADER_LEN + nenc + PCC_HPKE_TAG_LEN)
        exact = len - PCC_OHTTP_HEADER_LEN - nenc - PCC_HPKE_TAG_LEN;
    if (exact > PCC_OHTTP_MAX_MESSAGE)
        exact = 0; /* the C core reports the limit */
    PyTypeObject *tp = pcc_py_module_type(PyType_GetModule(Py_TYPE(self)), "OhttpResponseContext");
    if (tp == NULL)
        goto out;
    ctx_obj = tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (ctx_obj == NULL)
        goto out;
    if ((((ResponseObject *)ctx_obj)->lock = PyThread_allocate_lock()) == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)exact)) == NULL)
        goto out;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_ohttp_gateway_decapsulate(self->gw, &ctx, (uint8_t *)PyBytes_AS_STRING(out), &pt_len,
                                       exact, p, len);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK || pt_len != exact) {
        pcc_ohttp_response_ctx_free(ctx);
        pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO, decap_error(st));
        goto out;
    }
    ((ResponseObject *)ctx_obj)->ctx = ctx;
    result = PyTuple_Pack(2, out, ctx_obj);
out:
    Py_XDECREF(out);
    Py_XDECREF(ctx_obj);
    PyBuffer_Release(&b);
    return result;
}

static PyObject *gateway_chunked(GatewayObject *self, PyObject *unused)
{
    (void)unused;
    ChunkedGatewayObject *obj = NULL;
    pcc_status st;
    if (self->gw == NULL)
        return pcc_py_raise(PCC_E_STATE, "ohttp: gateway not initialised");
    PyTypeObject *tp = pcc_py_module_type(PyType_GetModule(Py_TYPE(self)), "OhttpChunkedGatewayContext");
    if (tp == NULL)
        return NULL;
    obj = (ChunkedGatewayObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (obj == NULL)
        return NULL;
    if ((obj->lock = PyThread_allocate_lock()) == NULL) {
        Py_DECREF(obj);
        return PyErr_NoMemory();
    }
    if ((st = pcc_ohttp_chunked_gateway_ctx_new(&obj->g, self->gw)) != PCC_OK) {
        Py_DECREF(obj);
        return pcc_py_raise(st, NULL);
    }
    obj->gateway = Py_NewRef((PyObject *)self);
    return (PyObject *)obj;
}

static PyMethodDef gateway_methods[] = {
    {"decapsulate", (PyCFunction)gateway_decapsulate, METH_O,
     "decapsulate(enc_request) -> (request bytes, OhttpResponseContext)."},
    {"chunked", (PyCFunction)gateway_chunked, METH_NOARGS,
     "chunked() -> OhttpChunkedGatewayContext for one chunked request."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot gateway_slots[] = {
    {Py_tp_doc, "OhttpGateway(keys): an OHTTP gateway holding [(config tuple, private key), ...]."},
    {Py_tp_init, gateway_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, gateway_dealloc},
    {Py_tp_traverse, gateway_traverse},
    {Py_tp_clear, gateway_clear},
    {Py_tp_methods, gateway_methods},
    {0, NULL},
};

static PyType_Spec gateway_spec = {
    "pcc._core.OhttpGateway", sizeof(GatewayObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    gateway_slots,
};

/* _testing_ohttp_encapsulate_response(rctx, response, nonce) -> bytes: known-answer tests only
 * (RFC 9458 Appendix A prints the response nonce). See the WARNING on
 * pcc_ohttp_testing_response_encapsulate_nonce. */
static PyObject *py_testing_encapsulate_response(PyObject *mod, PyObject *args)
{
    PyObject *ctx_obj, *out = NULL;
    Py_buffer resp = {0}, nonce = {0};
    PyTypeObject *tp = pcc_py_module_type(mod, "OhttpResponseContext");
    if (tp == NULL)
        return NULL;
    if (PyArg_ParseTuple(args, "O!y*y*:_testing_ohttp_encapsulate_response", tp, &ctx_obj, &resp,
                         &nonce)) {
        out = response_run((ResponseObject *)ctx_obj, &resp, &nonce);
        PyBuffer_Release(&resp);
        PyBuffer_Release(&nonce);
    }
    Py_DECREF(tp);
    return out;
}

static PyMethodDef ohttp_funcs[] = {
    {"ohttp_key_config_encode", py_key_config_encode, METH_O,
     "ohttp_key_config_encode((key_id, kem, public_key, suites)) -> bytes"},
    {"ohttp_key_config_decode", py_key_config_decode, METH_O,
     "ohttp_key_config_decode(data) -> (key_id, kem, public_key, suites)"},
    {"ohttp_key_configs_encode", py_key_configs_encode, METH_O,
     "ohttp_key_configs_encode([config tuple, ...]) -> application/ohttp-keys bytes"},
    {"ohttp_key_configs_decode", py_key_configs_decode, METH_O,
     "ohttp_key_configs_decode(data) -> [config tuple, ...] (unsupported KEMs skipped)"},
    {"ohttp_select_suite", py_select_suite, METH_VARARGS,
     "ohttp_select_suite(config, kdf, aead) -> (kdf, aead); 0 means any"},
    {"ohttp_encapsulate_request", py_encapsulate_request, METH_VARARGS,
     "ohttp_encapsulate_request(config, request, kdf, aead, ikm_e, sk_e=None) -> "
     "(bytes, OhttpClientContext); kdf/aead 0 means the first usable suite; ikm_e or sk_e pins "
     "the ephemeral key (tests only)"},
    {"_testing_ohttp_encapsulate_response", py_testing_encapsulate_response, METH_VARARGS,
     "_testing_ohttp_encapsulate_response(rctx, response, nonce) -> bytes: known-answer tests "
     "only (a fixed nonce repeats key and nonce if a request is replayed)."},
    {"ohttp_chunked_client", py_chunked_client, METH_VARARGS,
     "ohttp_chunked_client(config, kdf, aead, ikm_e, sk_e=None) -> (header bytes, "
     "OhttpChunkedClient); kdf/aead 0 means the first usable suite"},
    {NULL, NULL, 0, NULL},
};

int pcc_py_ohttp_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &client_spec, NULL) == NULL ||
        pcc_py_add_type(m, &response_spec, NULL) == NULL ||
        pcc_py_add_type(m, &gateway_spec, NULL) == NULL ||
        pcc_py_add_type(m, &chunked_client_spec, NULL) == NULL ||
        pcc_py_add_type(m, &chunked_gateway_spec, NULL) == NULL)
        return -1;
    if (PyModule_AddIntConstant(m, "OHTTP_CHUNKED_CHUNK", PCC_OHTTP_CHUNKED_CHUNK) < 0 ||
        PyModule_AddIntConstant(m, "OHTTP_CHUNKED_MAX_CHUNK", PCC_OHTTP_CHUNKED_MAX_CHUNK) < 0)
        return -1;
    return PyModule_AddFunctions(m, ohttp_funcs);
}
