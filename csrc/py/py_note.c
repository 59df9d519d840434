/* py_note.c: pcc._core glue for C2SP signed notes, checkpoints, cosignatures and tlog-proof. */
#include "pymod.h"

#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "pcc/note.h"
#include "pcc/secure.h"

/* ---- NoteKey ------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    pcc_note_key *k;
} NoteKeyObject;

static void nk_dealloc(NoteKeyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_note_key_free(self->k);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* nk_wrap returns a new NoteKey owning k (freed on failure). */
static PyObject *nk_wrap(PyObject *m, pcc_note_key *k)
{
    PyTypeObject *tp = pcc_py_module_type(m, "NoteKey");
    NoteKeyObject *o;
    if (tp == NULL) {
        pcc_note_key_free(k);
        return NULL;
    }
    o = (NoteKeyObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (o == NULL) {
        pcc_note_key_free(k);
        return NULL;
    }
    o->k = k;
    return (PyObject *)o;
}

static PyObject *nk_name(NoteKeyObject *self, void *c)
{
    size_t len;
    const char *n = pcc_note_key_name(self->k, &len);
    (void)c;
    return PyUnicode_DecodeUTF8(n, (Py_ssize_t)len, "strict");
}

static PyObject *nk_key_id(NoteKeyObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLong(pcc_note_key_id(self->k));
}

static PyObject *nk_alg(NoteKeyObject *self, void *c)
{
    (void)c;
    return PyLong_FromLong(pcc_note_key_alg(self->k));
}

static PyObject *nk_is_signer(NoteKeyObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(pcc_note_key_is_signer(self->k));
}

static PyObject *nk_public_key(NoteKeyObject *self, void *c)
{
    uint8_t pub[32];
    (void)c;
    pcc_note_key_public(self->k, pub);
    return PyBytes_FromStringAndSize((const char *)pub, 32);
}

static PyObject *key_text(NoteKeyObject *self, int private_)
{
    size_t name_len, len = 0, max;
    char *buf;
    pcc_status st;
    PyObject *r = NULL;
    (void)pcc_note_key_name(self->k, &name_len);
    max = name_len + 80;
    buf = pcc_secure_alloc(max); /* the skey is secret: build it in secure memory */
    if (buf == NULL)
        return pcc_py_raise(PCC_E_NOMEM, NULL);
    st = private_ ? pcc_note_key_skey(self->k, buf, &len, max)
                  : pcc_note_key_vkey(self->k, buf, &len, max);
    if (st != PCC_OK)
        pcc_py_raise(st, st == PCC_E_STATE ? "a verifier has no private key" : "note key");
    else
        r = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)len, "strict");
    pcc_secure_free(buf);
    return r;
}

static PyObject *nk_vkey(NoteKeyObject *self, PyObject *unused)
{
    (void)unused;
    return key_text(self, 0);
}

static PyObject *nk_skey(NoteKeyObject *self, PyObject *unused)
{
    (void)unused;
    return key_text(self, 1);
}

static PyObject *nk_sign_line(NoteKeyObject *self, PyObject *args)
{
    Py_buffer text;
    unsigned long long ts = 0;
    pcc_writer w;
    pcc_status st;
    PyObject *r = NULL;
    if (!PyArg_ParseTuple(args, "y*|K", &text, &ts))
        return NULL;
    pcc_writer_init_dynamic(&w, false, 1 << 16);
    Py_BEGIN_ALLOW_THREADS
    st = pcc_note_sign_line(self->k, text.buf, (size_t)text.len, ts, &w);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&text);
    if (st != PCC_OK)
        pcc_py_raise(st, st == PCC_E_FORMAT  ? "text is not valid note text"
                         : st == PCC_E_STATE ? "a verifier cannot sign"
                         : st == PCC_E_INVALID ? "timestamp must be below 2^63"
                                               : "note sign");
    else
        r = PyUnicode_DecodeUTF8((const char *)w.data, (Py_ssize_t)w.len, "strict");
    pcc_writer_cleanup(&w);
    return r;
}

/* sign_raw(msg) -> the 64-byte plain Ed25519 signature of msg, written straight into bytes. */
static PyObject *nk_sign_raw(NoteKeyObject *self, PyObject *arg)
{
    Py_buffer msg;
    PyObject *sig;
    pcc_status st;
    if (PyObject_GetBuffer(arg, &msg, PyBUF_SIMPLE) < 0)
        return NULL;
    sig = PyBytes_FromStringAndSize(NULL, 64);
    if (sig == NULL) {
        PyBuffer_Release(&msg);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_note_key_sign_raw(self->k, msg.buf, (size_t)msg.len,
                               (uint8_t *)PyBytes_AS_STRING(sig));
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&msg);
    if (st != PCC_OK) {
        Py_DECREF(sig);
        return pcc_py_raise(st, st == PCC_E_STATE ? "a verifier cannot sign" : "raw sign");
    }
    return sig;
}

/* verify_raw(msg, sig) -> None, or VerifyError (also for a signature that is not 64 bytes). */
static PyObject *nk_verify_raw(NoteKeyObject *self, PyObject *args)
{
    Py_buffer msg, sig;
    pcc_status st = PCC_E_VERIFY;
    if (!PyArg_ParseTuple(args, "y*y*", &msg, &sig))
        return NULL;
    if (sig.len == 64) {
        Py_BEGIN_ALLOW_THREADS
        st = pcc_note_key_verify_raw(self->k, msg.buf, (size_t)msg.len, sig.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&msg);
    PyBuffer_Release(&sig);
    if (st != PCC_OK)
        return pcc_py_raise(st, "raw verify");
    Py_RETURN_NONE;
}

static PyMethodDef nk_methods[] = {
    {"vkey", (PyCFunction)nk_vkey, METH_NOARGS, "vkey() -> the verifier key text."},
    {"skey", (PyCFunction)nk_skey, METH_NOARGS,
     "skey() -> the private signer key text (exports the secret)."},
    {"sign_line", (PyCFunction)nk_sign_line, METH_VARARGS,
     "sign_line(text, timestamp=0) -> '— name base64\\n' signature line over text."},
    {"sign_raw", (PyCFunction)nk_sign_raw, METH_O,
     "sign_raw(msg) -> 64-byte plain Ed25519 signature of msg (not a note signature)."},
    {"verify_raw", (PyCFunction)nk_verify_raw, METH_VARARGS,
     "verify_raw(msg, sig) -> None; VerifyError unless sig is msg's plain Ed25519 signature."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef nk_getset[] = {
    {"name", (getter)nk_name, NULL, "Key name.", NULL},
    {"key_id", (getter)nk_key_id, NULL, "32-bit key ID.", NULL},
    {"alg", (getter)nk_alg, NULL, "Signature type (1: Ed25519, 4: cosignature/v1).", NULL},
    {"is_signer", (getter)nk_is_signer, NULL, "Whether the key can sign.", NULL},
    {"public_key", (getter)nk_public_key, NULL, "32-byte Ed25519 public key.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot nk_slots[] = {
    {Py_tp_doc, "A signed-note key (from note_key_generate/from_skey/from_vkey)."},
    {Py_tp_dealloc, nk_dealloc},
    {Py_tp_methods, nk_methods},
    {Py_tp_getset, nk_getset},
    {0, NULL},
};

static PyType_Spec nk_spec = {
    "pcc._core.NoteKey", sizeof(NoteKeyObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, nk_slots,
};

static const char *key_what(pcc_status st)
{
    switch (st) {
    case PCC_E_FORMAT: return "malformed key or key ID mismatch";
    case PCC_E_UNSUPPORTED: return "unsupported key type";
    case PCC_E_INVALID: return "invalid key name or type";
    default: return "note key";
    }
}

static PyObject *py_key_generate(PyObject *m, PyObject *args)
{
    Py_buffer name;
    int alg;
    pcc_note_key *k = NULL;
    pcc_status st;
    if (!PyArg_ParseTuple(args, "y*i", &name, &alg))
        return NULL;
    if (alg != PCC_NOTE_ALG_ED25519 && alg != PCC_NOTE_ALG_COSIG_V1) {
        PyBuffer_Release(&name);
        return pcc_py_raise(PCC_E_UNSUPPORTED, "unsupported key type");
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_note_key_generate(&k, name.buf, (size_t)name.len, (uint8_t)alg);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&name);
    if (st != PCC_OK)
        return pcc_py_raise(st, key_what(st));
    return nk_wrap(m, k);
}

/* py_key_from_skey takes the skey as a str (read in place: an ASCII str's UTF-8 form is its own
 * storage, so no copy of the key text is made; other strs get the UTF-8 copy CPython caches in
 * the str itself) or as a bytes-like object. The decoded seed only ever sits in a stack buffer
 * that is wiped, and in secure memory. */
static PyObject *py_key_from_skey(PyObject *m, PyObject *args)
{
    PyObject *o;
    Py_buffer skey = {0};
    const char *text;
    Py_ssize_t text_len;
    int alg;
    pcc_note_key *k = NULL;
    pcc_status st;
    if (!PyArg_ParseTuple(args, "Oi", &o, &alg))
        return NULL;
    if (alg != PCC_NOTE_ALG_ED25519 && alg != PCC_NOTE_ALG_COSIG_V1)
        return pcc_py_raise(PCC_E_UNSUPPORTED, "unsupported key type");
    if (PyUnicode_Check(o)) {
        if ((text = PyUnicode_AsUTF8AndSize(o, &text_len)) == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
                return NULL;
            PyErr_Clear();
            return pcc_py_raise(PCC_E_FORMAT, "skey is not valid UTF-8");
        }
    } else {
        if (PyObject_GetBuffer(o, &skey, PyBUF_SIMPLE) < 0)
            return NULL;
        text = skey.buf;
        text_len = skey.len;
    }
    st = pcc_note_key_from_skey(&k, text, (size_t)text_len, (uint8_t)alg);
    if (skey.obj != NULL)
        PyBuffer_Release(&skey);
    if (st != PCC_OK)
        return pcc_py_raise(st, key_what(st));
    return nk_wrap(m, k);
}

static PyObject *py_key_from_vkey(PyObject *m, PyObject *arg)
{
    Py_buffer vkey;
    pcc_note_key *k = NULL;
    pcc_status st;
    if (PyObject_GetBuffer(arg, &vkey, PyBUF_SIMPLE) < 0)
        return NULL;
    st = pcc_note_key_from_vkey(&k, vkey.buf, (size_t)vkey.len);
    PyBuffer_Release(&vkey);
    if (st != PCC_OK)
        return pcc_py_raise(st, key_what(st));
    return nk_wrap(m, k);
}

/* ---- notes -------------------------------------------------------------------------------- */

static PyObject *str_of(const void *p, size_t len)
{
    return PyUnicode_DecodeUTF8(p, (Py_ssize_t)len, "strict");
}

/* note_tuple returns (text, [(name, key_id, sig)]) for a parsed note. */
static PyObject *note_tuple(const pcc_note *n)
{
    size_t tl, ns = pcc_note_sig_count(n);
    const uint8_t *t = pcc_note_text(n, &tl);
    PyObject *sigs = PyList_New((Py_ssize_t)ns), *text;
    if (sigs == NULL)
        return NULL;
    for (size_t i = 0; i < ns; i++) {
        pcc_note_sig s;
        PyObject *e;
        if (pcc_note_get_sig(n, i, &s) != PCC_OK) {
            Py_DECREF(sigs);
            return pcc_py_raise(PCC_E_STATE, "note");
        }
        e = Py_BuildValue("(Nky#)", str_of(s.name, s.name_len), (unsigned long)s.key_id,
                          (const char *)s.sig, (Py_ssize_t)s.sig_len);
        if (e == NULL) {
            Py_DECREF(sigs);
            return NULL;
        }
        PyList_SET_ITEM(sigs, (Py_ssize_t)i, e);
    }
    text = str_of(t, tl);
    if (text == NULL) {
        Py_DECREF(sigs);
        return NULL;
    }
    return Py_BuildValue("(NN)", text, sigs);
}

static const char *note_what(pcc_status st)
{
    return st == PCC_E_LIMIT ? "note is too long" : "malformed note";
}

static PyObject *py_note_parse(PyObject *m, PyObject *arg)
{
    Py_buffer b;
    pcc_note *n = NULL;
    pcc_status st;
    PyObject *r;
    (void)m;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    st = pcc_note_parse(&n, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    if (st != PCC_OK)
        return pcc_py_raise(st, note_what(st));
    r = note_tuple(n);
    pcc_note_free(n);
    return r;
}

/* note_open(msg, keys) -> (text, sigs, key_index_per_sig, timestamp_per_sig) */
static PyObject *py_note_open(PyObject *m, PyObject *args)
{
    Py_buffer b;
    PyObject *keys, *seq = NULL, *r = NULL, *base = NULL, *kidx = NULL, *times = NULL;
    PyTypeObject *tp = NULL;
    pcc_note *n = NULL;
    const pcc_note_key **ks = NULL;
    int kos[PCC_NOTE_MAX_SIGS];
    uint64_t tos[PCC_NOTE_MAX_SIGS];
    Py_ssize_t nk;
    size_t ns;
    pcc_status st;

    if (!PyArg_ParseTuple(args, "y*O", &b, &keys))
        return NULL;
    seq = PySequence_Fast(keys, "verifiers must be a sequence of keys");
    if (seq == NULL)
        goto out;
    /* The C keys are borrowed from the NoteKey objects while the GIL is released for
     * verification; another thread could empty a list meanwhile and free them. A tuple holds
     * its own references (a list is copied, a tuple used as is). */
    Py_SETREF(seq, PySequence_Tuple(seq));
    if (seq == NULL)
        goto out;
    tp = pcc_py_module_type(m, "NoteKey");
    if (tp == NULL)
        goto out;
    nk = PySequence_Fast_GET_SIZE(seq);
    ks = PyMem_Calloc((size_t)nk + 1, sizeof *ks);
    if (ks == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < nk; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyObject_TypeCheck(o, tp)) {
            PyErr_SetString(PyExc_TypeError, "verifiers must be NoteKey objects");
            goto out;
        }
        ks[i] = ((NoteKeyObject *)o)->k;
    }
    st = pcc_note_parse(&n, b.buf, (size_t)b.len);
    if (st != PCC_OK) {
        pcc_py_raise(st, note_what(st));
        goto out;
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_note_verify(n, ks, (size_t)nk, kos, tos);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_INVALID ? "two verifiers share a name and key ID"
                                             : "note verify");
        goto out;
    }
    ns = pcc_note_sig_count(n);
    base = note_tuple(n);
    kidx = PyList_New((Py_ssize_t)ns);
    times = PyList_New((Py_ssize_t)ns);
    if (base == NULL || kidx == NULL || times == NULL)
        goto out;
    for (size_t i = 0; i < ns; i++) {
        PyObject *ki = PyLong_FromLong(kos[i]);
        PyObject *ti = tos[i] == UINT64_MAX ? Py_NewRef(Py_None)
                                            : PyLong_FromUnsignedLongLong(tos[i]);
        if (ki == NULL || ti == NULL) {
            Py_XDECREF(ki);
            Py_XDECREF(ti);
            goto out;
        }
        PyList_SET_ITEM(kidx, (Py_ssize_t)i, ki);
        PyList_SET_ITEM(times, (Py_ssize_t)i, ti);
    }
    r = Py_BuildValue("(OOOO)", PyTuple_GET_ITEM(base, 0), PyTuple_GET_ITEM(base, 1), kidx,
                      times);
out:
    Py_XDECREF(base);
    Py_XDECREF(kidx);
    Py_XDECREF(times);
    Py_XDECREF(tp);
    Py_XDECREF(seq);
    PyMem_Free(ks);
    pcc_note_free(n);
    PyBuffer_Release(&b);
    return r;
}

/* ---- checkpoints and proofs ------------------------------------------------------------------ */

static PyObject *py_checkpoint_parse(PyObject *m, PyObject *arg)
{
    Py_buffer b;
    pcc_checkpoint cp;
    pcc_status st;
    PyObject *r = NULL;
    (void)m;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    st = pcc_note_checkpoint_parse(&cp, b.buf, (size_t)b.len);
    if (st != PCC_OK)
        pcc_py_raise(st, st == PCC_E_LIMIT ? "checkpoint is too long" : "malformed checkpoint");
    else
        r = Py_BuildValue("(NKy#N)", str_of(cp.origin, cp.origin_len),
                          (unsigned long long)cp.size, (const char *)cp.root, (Py_ssize_t)32,
                          str_of(cp.extensions, cp.extensions_len));
    PyBuffer_Release(&b);
    return r;
}

static PyObject *py_checkpoint_format(PyObject *m, PyObject *args)
{
    Py_buffer origin, root, ext;
    unsigned long long size;
    pcc_checkpoint cp;
    pcc_writer w;
    pcc_status st;
    PyObject *r = NULL;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*Ky*y*", &origin, &size, &root, &ext))
        return NULL;
    if (root.len != 32) {
        st = PCC_E_INVALID;
    } else {
        cp.origin = origin.buf;
        cp.origin_len = (size_t)origin.len;
        cp.size = size;
        memcpy(cp.root, root.buf, 32);
        cp.extensions = ext.buf;
        cp.extensions_len = (size_t)ext.len;
        pcc_writer_init_dynamic(&w, false, PCC_NOTE_MAX_LEN);
        st = pcc_note_checkpoint_format(&cp, &w);
        if (st == PCC_OK)
            r = str_of(w.data, w.len);
        pcc_writer_cleanup(&w);
    }
    if (st != PCC_OK)
        pcc_py_raise(st, "checkpoint fields do not make a valid checkpoint");
    PyBuffer_Release(&origin);
    PyBuffer_Release(&root);
    PyBuffer_Release(&ext);
    return r;
}

static PyObject *py_proof_parse(PyObject *m, PyObject *arg)
{
    Py_buffer b;
    pcc_note_proof *p;
    pcc_status st;
    PyObject *r = NULL, *hashes = NULL, *extra = NULL;
    (void)m;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    p = PyMem_Malloc(sizeof *p);
    if (p == NULL) {
        PyBuffer_Release(&b);
        return PyErr_NoMemory();
    }
    st = pcc_note_proof_parse(p, b.buf, (size_t)b.len);
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_LIMIT ? "proof is too long" : "malformed tlog-proof");
        goto out;
    }
    hashes = PyList_New((Py_ssize_t)p->n_hashes);
    if (hashes == NULL)
        goto out;
    for (size_t i = 0; i < p->n_hashes; i++) {
        PyObject *h = PyBytes_FromStringAndSize((const char *)p->hashes[i], 32);
        if (h == NULL)
            goto out;
        PyList_SET_ITEM(hashes, (Py_ssize_t)i, h);
    }
    if (p->has_extra) {
        size_t n = 0;
        extra = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(p->extra_b64_len / 4 * 3));
        if (extra == NULL)
            goto out;
        if (pcc_note_b64_decode((uint8_t *)PyBytes_AS_STRING(extra), &n, p->extra_b64_len / 4 * 3,
                                p->extra_b64, p->extra_b64_len) != PCC_OK) {
            pcc_py_raise(PCC_E_FORMAT, "malformed tlog-proof");
            goto out;
        }
        if (_PyBytes_Resize(&extra, (Py_ssize_t)n) < 0)
            goto out;
    } else {
        extra = Py_NewRef(Py_None);
    }
    r = Py_BuildValue("(KOON)", (unsigned long long)p->index, hashes, extra,
                      str_of(p->checkpoint, p->checkpoint_len));
out:
    Py_XDECREF(hashes);
    Py_XDECREF(extra);
    PyMem_Free(p);
    PyBuffer_Release(&b);
    return r;
}

static PyObject *py_proof_format(PyObject *m, PyObject *args)
{
    unsigned long long index;
    PyObject *hashes, *extra_o, *r = NULL;
    Py_buffer cp, extra = {0};
    uint8_t *hb = NULL;
    Py_ssize_t nh = 0;
    PyObject *seq = NULL;
    pcc_writer w;
    pcc_status st;
    (void)m;
    if (!PyArg_ParseTuple(args, "KOy*O", &index, &hashes, &cp, &extra_o))
        return NULL;
    if (extra_o != Py_None && PyObject_GetBuffer(extra_o, &extra, PyBUF_SIMPLE) < 0)
        goto out;
    seq = PySequence_Fast(hashes, "hashes must be a sequence of 32-byte hashes");
    if (seq == NULL)
        goto out;
    nh = PySequence_Fast_GET_SIZE(seq);
    if (nh > PCC_NOTE_MAX_PROOF_HASHES) {
        pcc_py_raise(PCC_E_INVALID, "at most 64 proof hashes");
        goto out;
    }
    hb = PyMem_Malloc((size_t)nh * 32 + 1);
    if (hb == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < nh; i++) {
        Py_buffer h;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), &h, PyBUF_SIMPLE) < 0)
            goto out;
        if (h.len != 32) {
            PyBuffer_Release(&h);
            pcc_py_raise(PCC_E_INVALID, "proof hashes must be 32 bytes");
            goto out;
        }
        memcpy(hb + i * 32, h.buf, 32);
        PyBuffer_Release(&h);
    }
    pcc_writer_init_dynamic(&w, false, PCC_NOTE_MAX_LEN + 8192);
    st = pcc_note_proof_format(index, hb, (size_t)nh, extra_o != Py_None, extra.buf,
                               (size_t)extra.len, cp.buf, (size_t)cp.len, &w);
    if (st != PCC_OK)
        pcc_py_raise(st, st == PCC_E_INVALID ? "checkpoint is not a signed checkpoint note"
                                             : "tlog-proof");
    else
        r = str_of(w.data, w.len);
    pcc_writer_cleanup(&w);
out:
    Py_XDECREF(seq);
    PyMem_Free(hb);
    if (extra.obj != NULL)
        PyBuffer_Release(&extra);
    PyBuffer_Release(&cp);
    return r;
}

/* _bench_ed25519_verify(n, msg) -> seconds for n raw EVP_DigestVerify Ed25519 verifications
 * of msg (a fresh context per call, as a note verification does), with a fresh key. */
static PyObject *py_bench_ed25519_verify(PyObject *m, PyObject *args)
{
    Py_ssize_t n;
    Py_buffer msg;
    EVP_PKEY *key = NULL, *pub = NULL;
    EVP_PKEY_CTX *kctx = NULL;
    EVP_MD_CTX *sctx = NULL;
    uint8_t sig[64], raw[32];
    size_t sl = sizeof sig, rl = sizeof raw;
    int ok = 0;
    double t0 = 0, t1 = 0;
    struct timespec ts;
    (void)m;
    if (!PyArg_ParseTuple(args, "ny*", &n, &msg))
        return NULL;
    kctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
    sctx = EVP_MD_CTX_new();
    if (kctx == NULL || sctx == NULL || EVP_PKEY_keygen_init(kctx) != 1 ||
        EVP_PKEY_keygen(kctx, &key) != 1 ||
        EVP_DigestSignInit(sctx, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(sctx, sig, &sl, msg.buf, (size_t)msg.len) != 1 ||
        EVP_PKEY_get_raw_public_key(key, raw, &rl) != 1 ||
        (pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rl)) == NULL)
        goto out;
    ok = 1;
    Py_BEGIN_ALLOW_THREADS
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    for (Py_ssize_t i = 0; i < n && ok; i++) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        ok = c != NULL && EVP_DigestVerifyInit(c, NULL, NULL, NULL, pub) == 1 &&
             EVP_DigestVerify(c, sig, sl, msg.buf, (size_t)msg.len) == 1;
        EVP_MD_CTX_free(c);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t1 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    Py_END_ALLOW_THREADS
out:
    EVP_PKEY_free(key);
    EVP_PKEY_free(pub);
    EVP_PKEY_CTX_free(kctx);
    EVP_MD_CTX_free(sctx);
    PyBuffer_Release(&msg);
    if (!ok)
        return pcc_py_raise(PCC_E_CRYPTO, NULL);
    return PyFloat_FromDouble(t1 - t0);
}

static PyMethodDef note_funcs[] = {
    {"note_key_generate", py_key_generate, METH_VARARGS,
     "note_key_generate(name, alg) -> NoteKey signer of type alg (1 or 4)."},
    {"note_key_from_skey", py_key_from_skey, METH_VARARGS,
     "note_key_from_skey(skey, alg) -> NoteKey signer (alg 1: note signer, 4: cosigner)."},
    {"note_key_from_vkey", py_key_from_vkey, METH_O,
     "note_key_from_vkey(vkey) -> NoteKey verifier (type 1 or 4)."},
    {"note_parse", py_note_parse, METH_O,
     "note_parse(msg) -> (text, [(name, key_id, sig)]) without verifying."},
    {"note_open", py_note_open, METH_VARARGS,
     "note_open(msg, keys) -> (text, sigs, key index per sig or -1, timestamp per sig or None)."},
    {"checkpoint_parse", py_checkpoint_parse, METH_O,
     "checkpoint_parse(text) -> (origin, size, root, extension lines)."},
    {"checkpoint_format", py_checkpoint_format, METH_VARARGS,
     "checkpoint_format(origin, size, root, extension lines) -> text."},
    {"tlog_proof_parse", py_proof_parse, METH_O,
     "tlog_proof_parse(text) -> (index, hashes, extra or None, signed checkpoint)."},
    {"tlog_proof_format", py_proof_format, METH_VARARGS,
     "tlog_proof_format(index, hashes, signed checkpoint, extra or None) -> text."},
    {"_bench_ed25519_verify", py_bench_ed25519_verify, METH_VARARGS,
     "_bench_ed25519_verify(n, msg) -> seconds for n raw EVP_DigestVerify calls."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_note_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &nk_spec, NULL) == NULL)
        return -1;
    return PyModule_AddFunctions(m, note_funcs);
}
