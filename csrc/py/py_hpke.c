/* py_hpke.c: pcc._core glue for HPKE (RFC 9180) and the primitives it is built from.
 *
 * Types: HpkeKey (a KEM private key in secure memory) and HpkeContext (a sender or recipient
 * context). A context carries a PyThread lock, taken after the GIL is released, so one context
 * may be shared by threads; seal/open release the GIL for bulk data, setup always (it does the
 * scalar multiplications). The pcc.hpke module is the public API; these names are internal. */
#include "pymod.h"

#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "pcc/hpke.h"
#include "pcc/secure.h"

/* Messages at least this long are sealed/opened with the GIL released. */
#define HPKE_GIL_THRESHOLD 2048

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
    Py_buffer b;
    int have;
} optbuf;

/* optbuf_get exports o's buffer unless o is NULL or None. */
static int optbuf_get(PyObject *o, optbuf *ob)
{
    ob->have = 0;
    if (o == NULL || o == Py_None)
        return 0;
    if (PyObject_GetBuffer(o, &ob->b, PyBUF_SIMPLE) < 0)
        return -1;
    ob->have = 1;
    return 0;
}

static void optbuf_release(optbuf *ob)
{
    if (ob->have)
        PyBuffer_Release(&ob->b);
    ob->have = 0;
}

#define OB_PTR(ob) ((ob).have ? (const uint8_t *)(ob).b.buf : NULL)
#define OB_LEN(ob) ((ob).have ? (size_t)(ob).b.len : 0)
#define BUF_PTR(b) ((const uint8_t *)(b).buf)
#define BUF_LEN(b) ((size_t)(b).len)

/* id16 checks that v is an algorithm identifier (0..0xFFFF). */
static int id16(int v, uint16_t *out)
{
    if (v < 0 || v > 0xFFFF) {
        pcc_py_raise(PCC_E_INVALID, "algorithm identifier out of range");
        return 0;
    }
    *out = (uint16_t)v;
    return 1;
}

/* ---- HpkeKey ---------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pcc_hpke_key *key;
} KeyObject;

static void key_dealloc(KeyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_hpke_key_free(self->key);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *key_public_bytes(KeyObject *self, PyObject *unused)
{
    (void)unused;
    uint8_t pk[PCC_HPKE_MAX_PK];
    size_t n = 0;
    pcc_status st = pcc_hpke_key_public(self->key, pk, &n, sizeof pk);
    if (st != PCC_OK)
        return pcc_py_raise(st, "public key");
    return PyBytes_FromStringAndSize((const char *)pk, (Py_ssize_t)n);
}

static PyObject *key_private_bytes(KeyObject *self, PyObject *unused)
{
    (void)unused;
    uint8_t sk[PCC_HPKE_MAX_SK];
    size_t n = 0;
    pcc_status st = pcc_hpke_key_private(self->key, sk, &n, sizeof sk);
    PyObject *r = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)sk, (Py_ssize_t)n)
                               : pcc_py_raise(st, "private key");
    pcc_wipe(sk, sizeof sk);
    return r;
}

static PyObject *key_kem(KeyObject *self, void *c)
{
    (void)c;
    return PyLong_FromLong(pcc_hpke_key_kem(self->key));
}

static PyMethodDef key_methods[] = {
    {"public_bytes", (PyCFunction)key_public_bytes, METH_NOARGS,
     "public_bytes() -> bytes: SerializePublicKey(pk)."},
    {"private_bytes", (PyCFunction)key_private_bytes, METH_NOARGS,
     "private_bytes() -> bytes: SerializePrivateKey(sk). Exports a secret."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef key_getset[] = {
    {"kem", (getter)key_kem, NULL, "KEM identifier.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot key_slots[] = {
    {Py_tp_doc, "HpkeKey: an HPKE KEM private key held in secure memory (use pcc.hpke)."},
    {Py_tp_dealloc, key_dealloc},
    {Py_tp_methods, key_methods},
    {Py_tp_getset, key_getset},
    {0, NULL},
};

static PyType_Spec key_spec = {
    "pcc._core.HpkeKey", sizeof(KeyObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, key_slots,
};

/* key_wrap turns a C key into an HpkeKey (takes ownership; frees it on failure). */
static PyObject *key_wrap(PyObject *m, pcc_hpke_key *k)
{
    PyTypeObject *tp = pcc_py_module_type(m, "HpkeKey");
    if (tp == NULL) {
        pcc_hpke_key_free(k);
        return NULL;
    }
    KeyObject *o = (KeyObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (o == NULL) {
        pcc_hpke_key_free(k);
        return NULL;
    }
    o->key = k;
    return (PyObject *)o;
}

/* private_key_check is isinstance(o, pcc.hpke.PrivateKey): 1, 0, or -1 with an exception set.
 * A PrivateKey exists only once pcc.hpke is imported, so the module is looked up, never
 * imported, here. */
static int private_key_check(PyObject *o)
{
    PyObject *name = PyUnicode_FromString("pcc.hpke"), *mod, *cls;
    if (name == NULL)
        return -1;
    mod = PyImport_GetModule(name);
    Py_DECREF(name);
    if (mod == NULL)
        return PyErr_Occurred() ? -1 : 0;
    cls = PyObject_GetAttrString(mod, "PrivateKey");
    Py_DECREF(mod);
    if (cls == NULL)
        return -1;
    int r = PyType_Check(cls) ? PyObject_IsInstance(o, cls) : 0;
    Py_DECREF(cls);
    return r;
}

int pcc_py_hpke_key(PyObject *m, PyObject *o, const pcc_hpke_key **out)
{
    PyObject *inner = NULL;
    int rc = -1;
    PyTypeObject *tp = pcc_py_module_type(m, "HpkeKey");
    if (tp == NULL)
        return -1;
    if (!PyObject_TypeCheck(o, tp)) {
        /* pcc.hpke.PrivateKey keeps its HpkeKey in the attribute _key, set once (the class
         * refuses reassignment), so the C key borrowed here lives as long as o. */
        int w = private_key_check(o);
        if (w < 0)
            goto out;
        if (w == 1 && (inner = PyObject_GetAttrString(o, "_key")) == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                goto out;
            PyErr_Clear(); /* a PrivateKey never initialised: the TypeError below */
        }
        o = inner;
    }
    if (o == NULL || !PyObject_TypeCheck(o, tp) || ((KeyObject *)o)->key == NULL) {
        PyErr_SetString(PyExc_TypeError, "expected a pcc.hpke.PrivateKey");
        goto out;
    }
    *out = ((KeyObject *)o)->key;
    rc = 0;
out:
    Py_XDECREF(inner);
    Py_DECREF(tp);
    return rc;
}

/* key_arg returns the C key of a key argument (pcc_py_hpke_key; NULL for None when allowed). */
static int key_arg(PyObject *m, PyObject *o, const pcc_hpke_key **out, int allow_none)
{
    *out = NULL;
    if (o == NULL || o == Py_None) {
        if (allow_none)
            return 1;
        PyErr_SetString(PyExc_TypeError, "a pcc.hpke.PrivateKey is required");
        return 0;
    }
    return pcc_py_hpke_key(m, o, out) == 0;
}

static PyObject *py_key_generate(PyObject *m, PyObject *args)
{
    int kem_i;
    uint16_t kem;
    pcc_hpke_key *k = NULL;
    pcc_status st;
    if (!PyArg_ParseTuple(args, "i:hpke_key_generate", &kem_i) || !id16(kem_i, &kem))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_hpke_key_generate(&k, kem);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_UNSUPPORTED ? "unsupported KEM" : "key generation");
    return key_wrap(m, k);
}

typedef pcc_status (*key_maker)(pcc_hpke_key **, uint16_t, const uint8_t *, size_t);

/* key_from_input parses (kem, bytes) per fmt and makes a key with make outside the GIL;
 * invalid_msg names what PCC_E_INVALID / PCC_E_FORMAT mean for that input. */
static PyObject *key_from_input(PyObject *m, PyObject *args, const char *fmt, key_maker make,
                                const char *invalid_msg, const char *format_msg)
{
    int kem_i;
    uint16_t kem;
    Py_buffer in;
    pcc_hpke_key *k = NULL;
    pcc_status st;
    if (!PyArg_ParseTuple(args, fmt, &kem_i, &in))
        return NULL;
    if (!id16(kem_i, &kem)) {
        PyBuffer_Release(&in);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    st = make(&k, kem, BUF_PTR(in), BUF_LEN(in));
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_UNSUPPORTED ? "unsupported KEM"
                                : st == PCC_E_INVALID   ? invalid_msg
                                                        : format_msg);
    return key_wrap(m, k);
}

static PyObject *py_key_from_bytes(PyObject *m, PyObject *args)
{
    return key_from_input(m, args, "iy*:hpke_key_from_bytes", pcc_hpke_key_from_bytes,
                          "invalid private key encoding", "invalid private key encoding");
}

static PyObject *py_key_derive(PyObject *m, PyObject *args)
{
    return key_from_input(m, args, "iy*:hpke_key_derive", pcc_hpke_key_derive,
                          "ikm must be at least 32 bytes", "DeriveKeyPair");
}

/* ---- HpkeContext ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    pcc_hpke_ctx *ctx;
    PyThread_type_lock lock;
} CtxObject;

static void ctx_dealloc(CtxObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_hpke_ctx_free(self->ctx);
    if (self->lock != NULL)
        PyThread_free_lock(self->lock);
    tp->tp_free(self);
    Py_DECREF(tp);
}

enum { OP_SEAL, OP_OPEN, OP_GET_SEQ };

typedef struct {
    int kind;
    pcc_hpke_ctx *ctx;
    uint8_t *out;
    size_t out_len, max_out;
    const uint8_t *aad, *in;
    size_t aad_len, in_len;
    uint64_t seq; /* OP_GET_SEQ's result */
} ctx_op;

static pcc_status ctx_do(ctx_op *o)
{
    switch (o->kind) {
    case OP_SEAL:
        return pcc_hpke_seal(o->ctx, o->out, &o->out_len, o->max_out, o->aad, o->aad_len, o->in,
                             o->in_len);
    case OP_OPEN:
        return pcc_hpke_open(o->ctx, o->out, &o->out_len, o->max_out, o->aad, o->aad_len, o->in,
                             o->in_len);
    default:
        o->seq = pcc_hpke_ctx_seq(o->ctx);
        return PCC_OK;
    }
}

/* ctx_run runs o under the context's lock. Bulk work, or a lock held by another thread, is done
 * with the GIL released (lock taken after releasing it); short work whose lock is free keeps the
 * GIL, saving the release/reacquire. */
static pcc_status ctx_run(CtxObject *self, ctx_op *o, int bulk)
{
    pcc_status st;
    o->ctx = self->ctx;
    if (!bulk && PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
        st = ctx_do(o);
        PyThread_release_lock(self->lock);
        return st;
    }
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    st = ctx_do(o);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    return st;
}

static PyObject *ctx_crypt(CtxObject *self, PyObject *args, PyObject *kw, int kind)
{
    static char *kwlist[] = {"data", "aad", NULL};
    Py_buffer in, aad = {0};
    PyObject *out = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, kind == OP_SEAL ? "y*|y*:seal" : "y*|y*:open",
                                     kwlist, &in, &aad))
        return NULL;
    size_t n = BUF_LEN(in), outn;
    if (kind == OP_SEAL) {
        if (n > (size_t)PY_SSIZE_T_MAX - PCC_HPKE_TAG_LEN) {
            pcc_py_raise(PCC_E_LIMIT, "plaintext too long");
            goto out;
        }
        outn = n + PCC_HPKE_TAG_LEN;
    } else {
        outn = n >= PCC_HPKE_TAG_LEN ? n - PCC_HPKE_TAG_LEN : 0;
    }
    if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)outn)) == NULL)
        goto out;
    ctx_op o = {
        .kind = kind, .out = (uint8_t *)PyBytes_AS_STRING(out), .max_out = outn,
        .aad = aad.buf ? BUF_PTR(aad) : NULL, .aad_len = aad.buf ? BUF_LEN(aad) : 0,
        .in = BUF_PTR(in), .in_len = n,
    };
    pcc_status st = ctx_run(self, &o, n >= HPKE_GIL_THRESHOLD);
    if (st != PCC_OK) {
        Py_CLEAR(out);
        pcc_py_raise(st, st == PCC_E_STATE       ? "sequence number exhausted"
                         : st == PCC_E_UNSUPPORTED ? (kind == OP_SEAL
                                                          ? "seal needs a sender context with an AEAD"
                                                          : "open needs a recipient context with an AEAD")
                                                   : "hpke");
        goto out;
    }
    if (o.out_len != outn) {
        Py_CLEAR(out);
        pcc_py_raise(PCC_E_CRYPTO, NULL);
    }
out:
    PyBuffer_Release(&in);
    if (aad.obj != NULL || aad.buf != NULL)
        PyBuffer_Release(&aad);
    return out;
}

static PyObject *ctx_seal(CtxObject *self, PyObject *args, PyObject *kw)
{
    return ctx_crypt(self, args, kw, OP_SEAL);
}

static PyObject *ctx_open(CtxObject *self, PyObject *args, PyObject *kw)
{
    return ctx_crypt(self, args, kw, OP_OPEN);
}

static PyObject *ctx_export(CtxObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"exporter_context", "length", NULL};
    Py_buffer ec;
    Py_ssize_t L;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*n:export", kwlist, &ec, &L))
        return NULL;
    PyObject *out = NULL;
    if (L < 0) {
        pcc_py_raise(PCC_E_INVALID, "length must be non-negative");
        goto out;
    }
    /* Refuse before allocating: a huge L would otherwise cost that much memory (or raise a bare
     * MemoryError) before the C check below (L <= 255 * Nh, at most 255 * 64) refused it. */
    if (L > 255 * 64) {
        pcc_py_raise(PCC_E_INVALID, "export length exceeds 255 * Nh");
        goto out;
    }
    if ((out = PyBytes_FromStringAndSize(NULL, L)) == NULL)
        goto out;
    /* exporter_secret never changes after setup: no lock needed. */
    pcc_status st = pcc_hpke_export(self->ctx, (uint8_t *)PyBytes_AS_STRING(out), (size_t)L,
                                    BUF_PTR(ec), BUF_LEN(ec));
    if (st != PCC_OK) {
        Py_CLEAR(out);
        pcc_py_raise(st, st == PCC_E_INVALID ? "export length exceeds 255 * Nh" : "export");
    }
out:
    PyBuffer_Release(&ec);
    return out;
}

static PyObject *ctx_seq(CtxObject *self, void *c)
{
    (void)c;
    ctx_op o = {.kind = OP_GET_SEQ};
    (void)ctx_run(self, &o, 0);
    return PyLong_FromUnsignedLongLong(o.seq);
}

static PyObject *ctx_is_sender(CtxObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(pcc_hpke_ctx_is_sender(self->ctx));
}

static PyObject *ctx_suite(CtxObject *self, void *c)
{
    (void)c;
    pcc_hpke_suite s = pcc_hpke_ctx_suite(self->ctx);
    return Py_BuildValue("(iii)", (int)s.kem, (int)s.kdf, (int)s.aead);
}

static PyMethodDef ctx_methods[] = {
    {"seal", (PyCFunction)(void (*)(void))ctx_seal, METH_VARARGS | METH_KEYWORDS,
     "seal(data, aad=b'') -> ciphertext; advances the sequence number."},
    {"open", (PyCFunction)(void (*)(void))ctx_open, METH_VARARGS | METH_KEYWORDS,
     "open(data, aad=b'') -> plaintext; advances the sequence number on success."},
    {"export", (PyCFunction)(void (*)(void))ctx_export, METH_VARARGS | METH_KEYWORDS,
     "export(exporter_context, length) -> bytes (Context.Export)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ctx_getset[] = {
    {"seq", (getter)ctx_seq, NULL, "Sequence number of the next seal/open.", NULL},
    {"is_sender", (getter)ctx_is_sender, NULL, "True for a sender context.", NULL},
    {"suite", (getter)ctx_suite, NULL, "(kem, kdf, aead).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot ctx_slots[] = {
    {Py_tp_doc, "HpkeContext: an HPKE encryption context in secure memory (use pcc.hpke)."},
    {Py_tp_dealloc, ctx_dealloc},
    {Py_tp_methods, ctx_methods},
    {Py_tp_getset, ctx_getset},
    {0, NULL},
};

static PyType_Spec ctx_spec = {
    "pcc._core.HpkeContext", sizeof(CtxObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, ctx_slots,
};

/* ctx_wrap turns a C context into an HpkeContext (takes ownership; frees it on failure). */
static PyObject *ctx_wrap(PyObject *m, pcc_hpke_ctx *c)
{
    PyTypeObject *tp = pcc_py_module_type(m, "HpkeContext");
    CtxObject *o = NULL;
    if (tp == NULL)
        goto fail;
    o = (CtxObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (o == NULL)
        goto fail;
    if ((o->lock = PyThread_allocate_lock()) == NULL) {
        Py_DECREF(o);
        PyErr_NoMemory();
        goto fail;
    }
    o->ctx = c;
    return (PyObject *)o;
fail:
    pcc_hpke_ctx_free(c);
    return NULL;
}

/* ---- setup and single-shot -------------------------------------------------------------- */

static const char *setup_what(pcc_status st)
{
    switch (st) {
    case PCC_E_UNSUPPORTED: return "unsupported HPKE suite";
    case PCC_E_FORMAT: return "invalid enc or public key for this KEM";
    case PCC_E_INVALID:
        return "inconsistent mode inputs (psk and psk_id go together, psk >= 32 bytes, "
               "keys must match the suite's KEM)";
    default: return "hpke setup";
    }
}

static int suite_args(int kem, int kdf, int aead, pcc_hpke_suite *s)
{
    return id16(kem, &s->kem) && id16(kdf, &s->kdf) && id16(aead, &s->aead);
}

static PyObject *py_setup_sender(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"kem", "kdf", "aead", "pk_r", "info", "psk", "psk_id", "sk_s",
                             "ikm_e", "sk_e", NULL};
    int kem, kdf, aead;
    pcc_hpke_suite suite;
    Py_buffer pk_r;
    PyObject *info_o = NULL, *psk_o = NULL, *psk_id_o = NULL, *sk_s_o = NULL, *ikm_o = NULL;
    PyObject *sk_e_o = NULL;
    optbuf info = {0}, psk = {0}, psk_id = {0}, ikm = {0};
    const pcc_hpke_key *sk_s = NULL, *sk_e = NULL;
    PyObject *ret = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiiy*|OOOOOO:hpke_setup_sender", kwlist, &kem,
                                     &kdf, &aead, &pk_r, &info_o, &psk_o, &psk_id_o, &sk_s_o,
                                     &ikm_o, &sk_e_o))
        return NULL;
    if (!suite_args(kem, kdf, aead, &suite) || !key_arg(m, sk_s_o, &sk_s, 1) ||
        !key_arg(m, sk_e_o, &sk_e, 1) || optbuf_get(info_o, &info) < 0 ||
        optbuf_get(psk_o, &psk) < 0 || optbuf_get(psk_id_o, &psk_id) < 0 ||
        optbuf_get(ikm_o, &ikm) < 0)
        goto out;
    if (sk_e != NULL && ikm.have) {
        pcc_py_raise(PCC_E_INVALID, "give ikm_e or sk_e, not both");
        goto out;
    }
    uint8_t enc[PCC_HPKE_MAX_ENC];
    size_t enc_len = 0;
    pcc_hpke_ctx *c = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    if (sk_e != NULL)
        st = pcc_hpke_setup_sender_ephemeral(&c, enc, &enc_len, sizeof enc, suite, BUF_PTR(pk_r),
                                             BUF_LEN(pk_r), OB_PTR(info), OB_LEN(info),
                                             OB_PTR(psk), OB_LEN(psk), OB_PTR(psk_id),
                                             OB_LEN(psk_id), sk_s, sk_e);
    else
        st = pcc_hpke_setup_sender(&c, enc, &enc_len, sizeof enc, suite, BUF_PTR(pk_r),
                                   BUF_LEN(pk_r), OB_PTR(info), OB_LEN(info), OB_PTR(psk),
                                   OB_LEN(psk), OB_PTR(psk_id), OB_LEN(psk_id), sk_s, OB_PTR(ikm),
                                   OB_LEN(ikm));
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, setup_what(st));
        goto out;
    }
    PyObject *ctx = ctx_wrap(m, c);
    if (ctx == NULL)
        goto out;
    ret = Py_BuildValue("(y#N)", (const char *)enc, (Py_ssize_t)enc_len, ctx);
out:
    PyBuffer_Release(&pk_r);
    optbuf_release(&info);
    optbuf_release(&psk);
    optbuf_release(&psk_id);
    optbuf_release(&ikm);
    return ret;
}

static PyObject *py_setup_recipient(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"kem", "kdf", "aead", "enc", "sk_r", "info", "psk", "psk_id",
                             "pk_s", NULL};
    int kem, kdf, aead;
    pcc_hpke_suite suite;
    Py_buffer enc;
    PyObject *sk_r_o, *info_o = NULL, *psk_o = NULL, *psk_id_o = NULL, *pk_s_o = NULL;
    optbuf info = {0}, psk = {0}, psk_id = {0}, pk_s = {0};
    const pcc_hpke_key *sk_r = NULL;
    PyObject *ret = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiiy*O|OOOO:hpke_setup_recipient", kwlist, &kem,
                                     &kdf, &aead, &enc, &sk_r_o, &info_o, &psk_o, &psk_id_o,
                                     &pk_s_o))
        return NULL;
    if (!suite_args(kem, kdf, aead, &suite) || !key_arg(m, sk_r_o, &sk_r, 0) ||
        optbuf_get(info_o, &info) < 0 || optbuf_get(psk_o, &psk) < 0 ||
        optbuf_get(psk_id_o, &psk_id) < 0 || optbuf_get(pk_s_o, &pk_s) < 0)
        goto out;
    pcc_hpke_ctx *c = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_hpke_setup_recipient(&c, suite, BUF_PTR(enc), BUF_LEN(enc), sk_r, OB_PTR(info),
                                  OB_LEN(info), OB_PTR(psk), OB_LEN(psk), OB_PTR(psk_id),
                                  OB_LEN(psk_id), OB_PTR(pk_s), OB_LEN(pk_s));
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, setup_what(st));
        goto out;
    }
    ret = ctx_wrap(m, c);
out:
    PyBuffer_Release(&enc);
    optbuf_release(&info);
    optbuf_release(&psk);
    optbuf_release(&psk_id);
    optbuf_release(&pk_s);
    return ret;
}

/* py_seal_once: SetupS + Seal + free in one call with the GIL released once. */
static PyObject *py_seal_once(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"kem", "kdf", "aead", "pk_r", "pt", "info", "aad", "psk", "psk_id",
                             "sk_s", NULL};
    int kem, kdf, aead;
    pcc_hpke_suite suite;
    Py_buffer pk_r, pt;
    PyObject *info_o = NULL, *aad_o = NULL, *psk_o = NULL, *psk_id_o = NULL, *sk_s_o = NULL;
    optbuf info = {0}, aad = {0}, psk = {0}, psk_id = {0};
    const pcc_hpke_key *sk_s = NULL;
    PyObject *ct = NULL, *ret = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiiy*y*|OOOOO:hpke_seal", kwlist, &kem, &kdf,
                                     &aead, &pk_r, &pt, &info_o, &aad_o, &psk_o, &psk_id_o,
                                     &sk_s_o))
        return NULL;
    if (!suite_args(kem, kdf, aead, &suite) || !key_arg(m, sk_s_o, &sk_s, 1) ||
        optbuf_get(info_o, &info) < 0 || optbuf_get(aad_o, &aad) < 0 ||
        optbuf_get(psk_o, &psk) < 0 || optbuf_get(psk_id_o, &psk_id) < 0)
        goto out;
    if (BUF_LEN(pt) > (size_t)PY_SSIZE_T_MAX - PCC_HPKE_TAG_LEN) {
        pcc_py_raise(PCC_E_LIMIT, "plaintext too long");
        goto out;
    }
    size_t ctn = BUF_LEN(pt) + PCC_HPKE_TAG_LEN, got = 0;
    if ((ct = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)ctn)) == NULL)
        goto out;
    uint8_t enc[PCC_HPKE_MAX_ENC];
    size_t enc_len = 0;
    pcc_hpke_ctx *c = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_hpke_setup_sender(&c, enc, &enc_len, sizeof enc, suite, BUF_PTR(pk_r), BUF_LEN(pk_r),
                               OB_PTR(info), OB_LEN(info), OB_PTR(psk), OB_LEN(psk),
                               OB_PTR(psk_id), OB_LEN(psk_id), sk_s, NULL, 0);
    if (st == PCC_OK)
        st = pcc_hpke_seal(c, (uint8_t *)PyBytes_AS_STRING(ct), &got, ctn, OB_PTR(aad),
                           OB_LEN(aad), BUF_PTR(pt), BUF_LEN(pt));
    pcc_hpke_ctx_free(c);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_UNSUPPORTED && pcc_hpke_suite_check(suite) == PCC_OK
                             ? "export-only suite cannot seal"
                             : setup_what(st));
        goto out;
    }
    ret = Py_BuildValue("(y#O)", (const char *)enc, (Py_ssize_t)enc_len, ct);
out:
    Py_XDECREF(ct);
    PyBuffer_Release(&pk_r);
    PyBuffer_Release(&pt);
    optbuf_release(&info);
    optbuf_release(&aad);
    optbuf_release(&psk);
    optbuf_release(&psk_id);
    return ret;
}

/* py_open_once: SetupR + Open + free in one call with the GIL released once. */
static PyObject *py_open_once(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"kem", "kdf", "aead", "enc", "sk_r", "ct", "info", "aad", "psk",
                             "psk_id", "pk_s", NULL};
    int kem, kdf, aead;
    pcc_hpke_suite suite;
    Py_buffer enc, ctb;
    PyObject *sk_r_o, *info_o = NULL, *aad_o = NULL, *psk_o = NULL, *psk_id_o = NULL,
                      *pk_s_o = NULL;
    optbuf info = {0}, aad = {0}, psk = {0}, psk_id = {0}, pk_s = {0};
    const pcc_hpke_key *sk_r = NULL;
    PyObject *pt = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiiy*Oy*|OOOOO:hpke_open", kwlist, &kem, &kdf,
                                     &aead, &enc, &sk_r_o, &ctb, &info_o, &aad_o, &psk_o,
                                     &psk_id_o, &pk_s_o))
        return NULL;
    if (!suite_args(kem, kdf, aead, &suite) || !key_arg(m, sk_r_o, &sk_r, 0) ||
        optbuf_get(info_o, &info) < 0 || optbuf_get(aad_o, &aad) < 0 ||
        optbuf_get(psk_o, &psk) < 0 || optbuf_get(psk_id_o, &psk_id) < 0 ||
        optbuf_get(pk_s_o, &pk_s) < 0)
        goto out;
    size_t ptn = BUF_LEN(ctb) >= PCC_HPKE_TAG_LEN ? BUF_LEN(ctb) - PCC_HPKE_TAG_LEN : 0, got = 0;
    if ((pt = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)ptn)) == NULL)
        goto out;
    pcc_hpke_ctx *c = NULL;
    pcc_status st, st_setup;
    Py_BEGIN_ALLOW_THREADS
    st = st_setup = pcc_hpke_setup_recipient(&c, suite, BUF_PTR(enc), BUF_LEN(enc), sk_r,
                                             OB_PTR(info), OB_LEN(info), OB_PTR(psk),
                                             OB_LEN(psk), OB_PTR(psk_id), OB_LEN(psk_id),
                                             OB_PTR(pk_s), OB_LEN(pk_s));
    if (st == PCC_OK)
        st = pcc_hpke_open(c, (uint8_t *)PyBytes_AS_STRING(pt), &got, ptn, OB_PTR(aad),
                           OB_LEN(aad), BUF_PTR(ctb), BUF_LEN(ctb));
    pcc_hpke_ctx_free(c);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        Py_CLEAR(pt);
        pcc_py_raise(st, st_setup != PCC_OK ? setup_what(st)
                         : st == PCC_E_UNSUPPORTED ? "export-only suite cannot open"
                                                   : "hpke open");
    } else if (got != ptn) {
        Py_CLEAR(pt);
        pcc_py_raise(PCC_E_CRYPTO, NULL);
    }
out:
    PyBuffer_Release(&enc);
    PyBuffer_Release(&ctb);
    optbuf_release(&info);
    optbuf_release(&aad);
    optbuf_release(&psk);
    optbuf_release(&psk_id);
    optbuf_release(&pk_s);
    return pt;
}

static PyObject *py_kem_sizes(PyObject *m, PyObject *args)
{
    (void)m;
    int kem_i;
    uint16_t kem;
    size_t nenc, npk, nsk;
    if (!PyArg_ParseTuple(args, "i:hpke_kem_sizes", &kem_i) || !id16(kem_i, &kem))
        return NULL;
    pcc_status st = pcc_hpke_kem_sizes(kem, &nenc, &npk, &nsk);
    if (st != PCC_OK)
        return pcc_py_raise(st, "unsupported KEM");
    return Py_BuildValue("(nnn)", (Py_ssize_t)nenc, (Py_ssize_t)npk, (Py_ssize_t)nsk);
}

static PyObject *py_suite_supported(PyObject *m, PyObject *args)
{
    (void)m;
    int kem, kdf, aead;
    pcc_hpke_suite s;
    if (!PyArg_ParseTuple(args, "iii:hpke_suite_supported", &kem, &kdf, &aead) ||
        !suite_args(kem, kdf, aead, &s))
        return NULL;
    return PyBool_FromLong(pcc_hpke_suite_check(s) == PCC_OK);
}

/* ---- primitives (Wycheproof tests, OHTTP) ----------------------------------------------- */

static PyObject *py_hkdf_extract(PyObject *m, PyObject *args)
{
    (void)m;
    int kdf_i;
    uint16_t kdf;
    Py_buffer salt, ikm;
    uint8_t prk[64];
    size_t n = 0;
    if (!PyArg_ParseTuple(args, "iy*y*:hkdf_extract", &kdf_i, &salt, &ikm))
        return NULL;
    PyObject *r = NULL;
    if (id16(kdf_i, &kdf)) {
        pcc_status st = pcc_hkdf_extract(kdf, prk, &n, sizeof prk, BUF_PTR(salt), BUF_LEN(salt),
                                         BUF_PTR(ikm), BUF_LEN(ikm));
        r = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)prk, (Py_ssize_t)n)
                         : pcc_py_raise(st, "hkdf_extract");
    }
    pcc_wipe(prk, sizeof prk);
    PyBuffer_Release(&salt);
    PyBuffer_Release(&ikm);
    return r;
}

static PyObject *py_hkdf_expand(PyObject *m, PyObject *args)
{
    (void)m;
    int kdf_i;
    uint16_t kdf;
    Py_buffer prk, info;
    Py_ssize_t L;
    if (!PyArg_ParseTuple(args, "iy*y*n:hkdf_expand", &kdf_i, &prk, &info, &L))
        return NULL;
    PyObject *r = NULL;
    if (!id16(kdf_i, &kdf))
        goto out;
    if (L < 0) {
        pcc_py_raise(PCC_E_INVALID, "length must be non-negative");
        goto out;
    }
    if (L > 255 * 64) {
        pcc_py_raise(PCC_E_INVALID, "length exceeds 255 * HashLen");
        goto out;
    }
    if ((r = PyBytes_FromStringAndSize(NULL, L)) == NULL)
        goto out;
    pcc_status st = pcc_hkdf_expand(kdf, (uint8_t *)PyBytes_AS_STRING(r), (size_t)L,
                                    BUF_PTR(prk), BUF_LEN(prk), BUF_PTR(info), BUF_LEN(info));
    if (st != PCC_OK) {
        Py_CLEAR(r);
        pcc_py_raise(st, st == PCC_E_INVALID ? "length exceeds 255 * HashLen" : "hkdf_expand");
    }
out:
    PyBuffer_Release(&prk);
    PyBuffer_Release(&info);
    return r;
}

static PyObject *py_aead(PyObject *args, int seal)
{
    int aead_i;
    uint16_t aead;
    Py_buffer key, nonce, aad, in;
    if (!PyArg_ParseTuple(args, seal ? "iy*y*y*y*:aead_seal" : "iy*y*y*y*:aead_open", &aead_i,
                          &key, &nonce, &aad, &in))
        return NULL;
    PyObject *r = NULL;
    size_t n = BUF_LEN(in), outn, got = 0;
    pcc_status st;
    if (!id16(aead_i, &aead))
        goto out;
    if (seal && n > (size_t)PY_SSIZE_T_MAX - PCC_HPKE_TAG_LEN) {
        pcc_py_raise(PCC_E_LIMIT, "plaintext too long");
        goto out;
    }
    outn = seal ? n + PCC_HPKE_TAG_LEN : (n >= PCC_HPKE_TAG_LEN ? n - PCC_HPKE_TAG_LEN : 0);
    if ((r = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)outn)) == NULL)
        goto out;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(r);
    int bulk = n >= HPKE_GIL_THRESHOLD;
    PyThreadState *ts = bulk ? PyEval_SaveThread() : NULL;
    if (seal)
        st = pcc_aead_seal(aead, BUF_PTR(key), BUF_LEN(key), BUF_PTR(nonce), BUF_LEN(nonce),
                           BUF_PTR(aad), BUF_LEN(aad), BUF_PTR(in), n, o, &got, outn);
    else
        st = pcc_aead_open(aead, BUF_PTR(key), BUF_LEN(key), BUF_PTR(nonce), BUF_LEN(nonce),
                           BUF_PTR(aad), BUF_LEN(aad), BUF_PTR(in), n, o, &got, outn);
    if (ts != NULL)
        PyEval_RestoreThread(ts);
    if (st != PCC_OK || got != outn) {
        Py_CLEAR(r);
        pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO,
                     st == PCC_E_INVALID ? "wrong key or nonce length"
                     : st == PCC_E_UNSUPPORTED ? "unsupported AEAD" : "aead");
    }
out:
    PyBuffer_Release(&key);
    PyBuffer_Release(&nonce);
    PyBuffer_Release(&aad);
    PyBuffer_Release(&in);
    return r;
}

static PyObject *py_aead_seal(PyObject *m, PyObject *args)
{
    (void)m;
    return py_aead(args, 1);
}

static PyObject *py_aead_open(PyObject *m, PyObject *args)
{
    (void)m;
    return py_aead(args, 0);
}

static PyObject *py_x25519(PyObject *m, PyObject *args)
{
    (void)m;
    Py_buffer sk, pk;
    uint8_t out[32];
    if (!PyArg_ParseTuple(args, "y*y*:x25519", &sk, &pk))
        return NULL;
    pcc_status st = pcc_x25519(out, BUF_PTR(sk), BUF_LEN(sk), BUF_PTR(pk), BUF_LEN(pk));
    PyBuffer_Release(&sk);
    PyBuffer_Release(&pk);
    PyObject *r = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)out, 32)
                               : pcc_py_raise(st, "X25519: invalid key or all-zero shared secret");
    pcc_wipe(out, sizeof out);
    return r;
}

/* ---- benchmark helpers ------------------------------------------------------------------ */

/* now_ns reads the calling thread's CPU clock: on a shared machine, time spent descheduled
 * does not count, and everything timed here runs on the calling thread. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* bench_hmac: one HMAC-SHA256 on a reused context (what one HKDF extract, or an expand with
 * L <= Nh, costs). */
static int bench_hmac(EVP_MAC_CTX *mc, const uint8_t *key, size_t key_len, const uint8_t *msg,
                      size_t msg_len, uint8_t out[32])
{
    size_t outl = 0;
    return EVP_MAC_init(mc, key, key_len, NULL) == 1 && EVP_MAC_update(mc, msg, msg_len) == 1 &&
           EVP_MAC_final(mc, out, &outl, 32) == 1 && outl == 32;
}

/* Raw-primitive costs of one HPKE base-mode seal/open, X25519/HKDF-SHA256/AES-128-GCM, 1 KiB:
 * seal = X25519 keygen + read pkE + parse pkR + X25519 derive + 8 HMAC-SHA256 (2 for the KEM,
 * 3 extracts and 3 expands for the key schedule) + AES-128-GCM seal of 1 KiB;
 * open = parse pkE + X25519 derive + 8 HMAC + AES-128-GCM open. All through EVP with the
 * cipher and HMAC fetched once, as an expert would call OpenSSL directly. */
/* Message lengths of the 8 HMACs of a base-mode setup with empty info (labels included):
 * eae_prk, shared_secret, psk_id_hash, info_hash, secret, key, base_nonce, exp. */
static const size_t HMAC_MSG[8] = {51, 92, 28, 26, 23, 88, 95, 88};

typedef struct {
    int n;
    int ok;
    uint64_t seal_ns, open_ns;
} raw_bench;

static void raw_bench_run(raw_bench *b)
{
    EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *tmpl = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    EVP_PKEY_CTX *kg = NULL;
    EVP_PKEY *skr = NULL;
    uint8_t pkr[32], pke[32], dhv[32], prk[32], okm[32], key[16], nonce[12] = {0};
    uint8_t msg[200] = {0}, pt[1024] = {0}, ct[1024 + 16], back[1024];
    size_t n;
    b->ok = 0;
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (aes == NULL || tmpl == NULL || EVP_MAC_CTX_set_params(tmpl, params) != 1)
        goto out;
    if ((kg = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL)) == NULL ||
        EVP_PKEY_keygen_init(kg) != 1 || EVP_PKEY_keygen(kg, &skr) != 1)
        goto out;
    n = 32;
    if (EVP_PKEY_get_raw_public_key(skr, pkr, &n) != 1)
        goto out;
    memset(key, 7, sizeof key);

    uint64_t t0 = now_ns();
    for (int i = 0; i < b->n; i++) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
        EVP_PKEY *eph = NULL, *peer = NULL;
        EVP_PKEY_CTX *dc = NULL;
        EVP_MAC_CTX *mc = EVP_MAC_CTX_dup(tmpl);
        EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
        int ok = c && mc && cc && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_keygen(c, &eph) == 1;
        n = 32;
        ok = ok && EVP_PKEY_get_raw_public_key(eph, pke, &n) == 1;
        ok = ok && (peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, pkr, 32)) != NULL;
        ok = ok && (dc = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)) != NULL &&
             EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, peer) == 1;
        n = 32;
        ok = ok && EVP_PKEY_derive(dc, dhv, &n) == 1;
        memcpy(prk, dhv, 32);
        for (int h = 0; ok && h < 8; h++)
            ok = bench_hmac(mc, prk, 32, msg, HMAC_MSG[h], h ? okm : prk);
        int outl = 0;
        ok = ok && EVP_EncryptInit_ex2(cc, aes, key, nonce, NULL) == 1 &&
             EVP_EncryptUpdate(cc, ct, &outl, pt, (int)sizeof pt) == 1 &&
             EVP_EncryptFinal_ex(cc, ct + outl, &outl) == 1 &&
             EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_AEAD_GET_TAG, 16, ct + 1024) == 1;
        EVP_CIPHER_CTX_free(cc);
        EVP_MAC_CTX_free(mc);
        EVP_PKEY_CTX_free(dc);
        EVP_PKEY_free(peer);
        EVP_PKEY_free(eph);
        EVP_PKEY_CTX_free(c);
        if (!ok)
            goto out;
    }
    uint64_t t1 = now_ns();
    for (int i = 0; i < b->n; i++) {
        EVP_PKEY *peer = NULL;
        EVP_PKEY_CTX *dc = NULL;
        EVP_MAC_CTX *mc = EVP_MAC_CTX_dup(tmpl);
        EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
        int ok = mc && cc;
        ok = ok && (peer = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, pke, 32)) != NULL;
        ok = ok && (dc = EVP_PKEY_CTX_new_from_pkey(NULL, skr, NULL)) != NULL &&
             EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, peer) == 1;
        n = 32;
        ok = ok && EVP_PKEY_derive(dc, dhv, &n) == 1;
        memcpy(prk, dhv, 32);
        for (int h = 0; ok && h < 8; h++)
            ok = bench_hmac(mc, prk, 32, msg, HMAC_MSG[h], h ? okm : prk);
        int outl = 0;
        /* decrypt what the seal loop produced last (same key/nonce), tag checked */
        ok = ok && EVP_DecryptInit_ex2(cc, aes, key, nonce, NULL) == 1 &&
             EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_AEAD_SET_TAG, 16, ct + 1024) == 1 &&
             EVP_DecryptUpdate(cc, back, &outl, ct, 1024) == 1 &&
             EVP_DecryptFinal_ex(cc, back + outl, &outl) == 1;
        EVP_CIPHER_CTX_free(cc);
        EVP_MAC_CTX_free(mc);
        EVP_PKEY_CTX_free(dc);
        EVP_PKEY_free(peer);
        if (!ok)
            goto out;
    }
    uint64_t t2 = now_ns();
    b->seal_ns = t1 - t0;
    b->open_ns = t2 - t1;
    b->ok = 1;
out:
    pcc_wipe(dhv, sizeof dhv);
    pcc_wipe(prk, sizeof prk);
    pcc_wipe(okm, sizeof okm);
    EVP_PKEY_free(skr);
    EVP_PKEY_CTX_free(kg);
    EVP_MAC_CTX_free(tmpl);
    EVP_MAC_free(hmac);
    EVP_CIPHER_free(aes);
}

static PyObject *py_bench_raw(PyObject *m, PyObject *args)
{
    (void)m;
    raw_bench b = {0};
    if (!PyArg_ParseTuple(args, "i:_bench_raw_hpke_primitives", &b.n))
        return NULL;
    if (b.n <= 0)
        return pcc_py_raise(PCC_E_INVALID, "n must be positive");
    Py_BEGIN_ALLOW_THREADS
    raw_bench_run(&b);
    Py_END_ALLOW_THREADS
    if (!b.ok)
        return pcc_py_raise(PCC_E_CRYPTO, NULL);
    return Py_BuildValue("{s:K,s:K}", "seal_ns", (unsigned long long)b.seal_ns, "open_ns",
                         (unsigned long long)b.open_ns);
}

/* The same single-shot seal and open through the pcc C API, without Python in the loop. */
typedef struct {
    int n;
    pcc_status st;
    uint64_t seal_ns, open_ns;
} c_bench;

static void c_bench_run(c_bench *b)
{
    pcc_hpke_suite s = {PCC_HPKE_KEM_X25519_SHA256, PCC_HPKE_KDF_HKDF_SHA256,
                        PCC_HPKE_AEAD_AES128GCM};
    pcc_hpke_key *sk = NULL;
    uint8_t pk[32], enc[32], pt[1024] = {0}, ct[1024 + 16], back[1024];
    size_t n, enc_len = 0, got = 0;
    pcc_hpke_ctx *c = NULL;
    if ((b->st = pcc_hpke_key_generate(&sk, s.kem)) != PCC_OK ||
        (b->st = pcc_hpke_key_public(sk, pk, &n, sizeof pk)) != PCC_OK)
        goto out;
    uint64_t t0 = now_ns();
    for (int i = 0; i < b->n; i++) {
        if ((b->st = pcc_hpke_setup_sender(&c, enc, &enc_len, sizeof enc, s, pk, 32, NULL, 0,
                                           NULL, 0, NULL, 0, NULL, NULL, 0)) != PCC_OK)
            goto out;
        b->st = pcc_hpke_seal(c, ct, &got, sizeof ct, NULL, 0, pt, sizeof pt);
        pcc_hpke_ctx_free(c);
        c = NULL;
        if (b->st != PCC_OK)
            goto out;
    }
    uint64_t t1 = now_ns();
    for (int i = 0; i < b->n; i++) {
        if ((b->st = pcc_hpke_setup_recipient(&c, s, enc, enc_len, sk, NULL, 0, NULL, 0, NULL, 0,
                                              NULL, 0)) != PCC_OK)
            goto out;
        b->st = pcc_hpke_open(c, back, &got, sizeof back, NULL, 0, ct, sizeof ct);
        pcc_hpke_ctx_free(c);
        c = NULL;
        if (b->st != PCC_OK)
            goto out;
    }
    uint64_t t2 = now_ns();
    b->seal_ns = t1 - t0;
    b->open_ns = t2 - t1;
out:
    pcc_hpke_key_free(sk);
}

static PyObject *py_bench_c(PyObject *m, PyObject *args)
{
    (void)m;
    c_bench b = {0};
    if (!PyArg_ParseTuple(args, "i:_bench_hpke_c", &b.n))
        return NULL;
    if (b.n <= 0)
        return pcc_py_raise(PCC_E_INVALID, "n must be positive");
    Py_BEGIN_ALLOW_THREADS
    c_bench_run(&b);
    Py_END_ALLOW_THREADS
    if (b.st != PCC_OK)
        return pcc_py_raise(b.st, "bench");
    return Py_BuildValue("{s:K,s:K}", "seal_ns", (unsigned long long)b.seal_ns, "open_ns",
                         (unsigned long long)b.open_ns);
}

/* ---- testing ---------------------------------------------------------------------------- */

/* _testing_hpke_pair_at(kem, kdf, aead, sk_r, seq, info=None) -> (enc, sender, recipient): a new
 * base-mode sender to sk_r's public key (random ephemeral key) and its recipient, both starting at
 * sequence number seq (pcc_hpke_testing_ctx_start_at). The only way to reach a sequence number near
 * 2^64 from Python; it cannot rewind a context that exists or pin a sender's key, so it cannot make
 * a nonce repeat. */
static PyObject *py_testing_pair_at(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"kem", "kdf", "aead", "sk_r", "seq", "info", NULL};
    int kem, kdf, aead;
    pcc_hpke_suite suite;
    PyObject *sk_r_o, *seq_o, *info_o = NULL, *ret = NULL, *so = NULL, *ro = NULL;
    optbuf info = {0};
    const pcc_hpke_key *sk_r = NULL;
    pcc_hpke_ctx *s = NULL, *r = NULL;
    uint8_t enc[PCC_HPKE_MAX_ENC], pk[PCC_HPKE_MAX_PK];
    size_t enc_len = 0, pk_len = 0;
    pcc_status st;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiiOO!|O:_testing_hpke_pair_at", kwlist, &kem,
                                     &kdf, &aead, &sk_r_o, &PyLong_Type, &seq_o, &info_o))
        return NULL;
    unsigned long long seq = PyLong_AsUnsignedLongLong(seq_o);
    if (seq == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return pcc_py_raise(PCC_E_INVALID, "seq must be an integer in [0, 2**64)");
    }
    if (!suite_args(kem, kdf, aead, &suite) || !key_arg(m, sk_r_o, &sk_r, 0) ||
        optbuf_get(info_o, &info) < 0)
        goto out;
    if ((st = pcc_hpke_key_public(sk_r, pk, &pk_len, sizeof pk)) != PCC_OK ||
        (st = pcc_hpke_setup_sender(&s, enc, &enc_len, sizeof enc, suite, pk, pk_len,
                                    OB_PTR(info), OB_LEN(info), NULL, 0, NULL, 0, NULL, NULL,
                                    0)) != PCC_OK ||
        (st = pcc_hpke_setup_recipient(&r, suite, enc, enc_len, sk_r, OB_PTR(info),
                                       OB_LEN(info), NULL, 0, NULL, 0, NULL, 0)) != PCC_OK ||
        (st = pcc_hpke_testing_ctx_start_at(s, (uint64_t)seq)) != PCC_OK ||
        (st = pcc_hpke_testing_ctx_start_at(r, (uint64_t)seq)) != PCC_OK) {
        pcc_py_raise(st, setup_what(st));
        goto out;
    }
    so = ctx_wrap(m, s);
    s = NULL; /* ctx_wrap owns it now, or freed it */
    if (so == NULL)
        goto out;
    ro = ctx_wrap(m, r);
    r = NULL;
    if (ro == NULL)
        goto out;
    ret = Py_BuildValue("(y#OO)", (const char *)enc, (Py_ssize_t)enc_len, so, ro);
out:
    Py_XDECREF(so);
    Py_XDECREF(ro);
    pcc_hpke_ctx_free(s);
    pcc_hpke_ctx_free(r);
    optbuf_release(&info);
    return ret;
}

/* ---- module ----------------------------------------------------------------------------- */

#define KW METH_VARARGS | METH_KEYWORDS
#define KWF(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef hpke_funcs[] = {
    {"hpke_key_generate", py_key_generate, METH_VARARGS,
     "hpke_key_generate(kem) -> HpkeKey (GenerateKeyPair)."},
    {"hpke_key_from_bytes", py_key_from_bytes, METH_VARARGS,
     "hpke_key_from_bytes(kem, raw) -> HpkeKey (DeserializePrivateKey)."},
    {"hpke_key_derive", py_key_derive, METH_VARARGS,
     "hpke_key_derive(kem, ikm) -> HpkeKey (DeriveKeyPair)."},
    {"hpke_setup_sender", KWF(py_setup_sender), KW,
     "hpke_setup_sender(kem, kdf, aead, pk_r, info=None, psk=None, psk_id=None, sk_s=None, "
     "ikm_e=None, sk_e=None) -> (enc, HpkeContext); ikm_e / sk_e pin the ephemeral key (tests "
     "only)."},
    {"hpke_setup_recipient", KWF(py_setup_recipient), KW,
     "hpke_setup_recipient(kem, kdf, aead, enc, sk_r, info=None, psk=None, psk_id=None, "
     "pk_s=None) -> HpkeContext."},
    {"hpke_seal", KWF(py_seal_once), KW,
     "hpke_seal(kem, kdf, aead, pk_r, pt, info=None, aad=None, psk=None, psk_id=None, "
     "sk_s=None) -> (enc, ct): single-shot."},
    {"hpke_open", KWF(py_open_once), KW,
     "hpke_open(kem, kdf, aead, enc, sk_r, ct, info=None, aad=None, psk=None, psk_id=None, "
     "pk_s=None) -> pt: single-shot."},
    {"hpke_kem_sizes", py_kem_sizes, METH_VARARGS, "hpke_kem_sizes(kem) -> (Nenc, Npk, Nsk)."},
    {"hpke_suite_supported", py_suite_supported, METH_VARARGS,
     "hpke_suite_supported(kem, kdf, aead) -> bool."},
    {"hkdf_extract", py_hkdf_extract, METH_VARARGS,
     "hkdf_extract(kdf, salt, ikm) -> prk (HKDF-Extract, kdf = HPKE KDF id)."},
    {"hkdf_expand", py_hkdf_expand, METH_VARARGS,
     "hkdf_expand(kdf, prk, info, length) -> okm (HKDF-Expand)."},
    {"aead_seal", py_aead_seal, METH_VARARGS,
     "aead_seal(aead, key, nonce, aad, pt) -> ct || tag (aead = HPKE AEAD id)."},
    {"aead_open", py_aead_open, METH_VARARGS,
     "aead_open(aead, key, nonce, aad, ct) -> pt; DecryptError on failure."},
    {"x25519", py_x25519, METH_VARARGS,
     "x25519(private, public) -> shared (RFC 7748); FormatError for an all-zero result."},
    {"_testing_hpke_pair_at", KWF(py_testing_pair_at), KW,
     "_testing_hpke_pair_at(kem, kdf, aead, sk_r, seq, info=None) -> (enc, sender, recipient): "
     "tests only; a new pair whose sequence numbers start at seq."},
    {"_bench_raw_hpke_primitives", py_bench_raw, METH_VARARGS,
     "_bench_raw_hpke_primitives(n) -> {'seal_ns', 'open_ns'}: thread CPU time of n rounds of "
     "the raw EVP calls one base-mode X25519/SHA-256/AES-128-GCM 1 KiB seal and open are made of."},
    {"_bench_hpke_c", py_bench_c, METH_VARARGS,
     "_bench_hpke_c(n) -> {'seal_ns', 'open_ns'}: thread CPU time of n single-shot seals and "
     "opens of 1 KiB through the pcc C API (no Python in the loop)."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_hpke_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &key_spec, NULL) == NULL || pcc_py_add_type(m, &ctx_spec, NULL) == NULL)
        return -1;
    return PyModule_AddFunctions(m, hpke_funcs);
}
