/* py_blindrsa.c: pcc._core glue for RSA blind signatures (RFC 9474). Use pcc.blindrsa. */
#include "pymod.h"

#include <string.h>

#include "pcc/blindrsa.h"
#include "pcc/secure.h"

typedef struct {
    PyObject_HEAD
    pcc_blindrsa_sk *sk;
} SkObject;

typedef struct {
    PyObject_HEAD
    pcc_blindrsa_pk *pk;
} PkObject;

typedef struct {
    PyObject_HEAD
    pcc_blindrsa_state *st;
} StateObject;

/* new_wrapper allocates an instance of the _core type called name (module m). */
static PyObject *new_wrapper(PyObject *m, const char *name)
{
    PyTypeObject *tp = pcc_py_module_type(m, name);
    if (tp == NULL)
        return NULL;
    PyObject *o = tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    return o;
}

/* check_type: 1 if o is an instance of the _core type called name, else 0 with TypeError. */
static int check_type(PyObject *m, PyObject *o, const char *name)
{
    PyTypeObject *tp = pcc_py_module_type(m, name);
    if (tp == NULL)
        return 0;
    int ok = PyObject_TypeCheck(o, tp);
    Py_DECREF(tp);
    if (!ok)
        PyErr_Format(PyExc_TypeError, "expected pcc._core.%s", name);
    return ok;
}

static PyObject *wrap_pk(PyObject *m, pcc_blindrsa_pk *pk)
{
    PkObject *o = (PkObject *)new_wrapper(m, "BlindRSAPublicKey");
    if (o == NULL) {
        pcc_blindrsa_pk_free(pk);
        return NULL;
    }
    o->pk = pk;
    return (PyObject *)o;
}

static PyObject *wrap_sk(PyObject *m, pcc_blindrsa_sk *sk)
{
    SkObject *o = (SkObject *)new_wrapper(m, "BlindRSAPrivateKey");
    if (o == NULL) {
        pcc_blindrsa_sk_free(sk);
        return NULL;
    }
    o->sk = sk;
    return (PyObject *)o;
}

/* ---- BlindRSAPrivateKey ---- */

static void sk_dealloc(SkObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_blindrsa_sk_free(self->sk);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *sk_public_key(SkObject *self, PyObject *unused)
{
    (void)unused;
    pcc_blindrsa_pk *pk = NULL;
    pcc_status st = pcc_blindrsa_sk_public(self->sk, &pk);
    if (st != PCC_OK)
        return pcc_py_raise(st, "public key");
    return wrap_pk(PyType_GetModule(Py_TYPE(self)), pk);
}

static PyObject *sk_to_der(SkObject *self, PyObject *unused)
{
    (void)unused;
    uint8_t *buf = pcc_secure_alloc(PCC_BLINDRSA_MAX_PKCS8_LEN);
    size_t len = 0;
    if (buf == NULL)
        return pcc_py_raise(PCC_E_NOMEM, NULL);
    pcc_status st = pcc_blindrsa_sk_to_der(self->sk, buf, &len, PCC_BLINDRSA_MAX_PKCS8_LEN);
    PyObject *res = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len)
                                 : pcc_py_raise(st, "private key export");
    pcc_secure_free(buf);
    return res;
}

static PyObject *sk_blind_sign(SkObject *self, PyObject *args)
{
    int v;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "iy*", &v, &b))
        return NULL;
    size_t k = (pcc_blindrsa_sk_bits(self->sk) + 7) / 8;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)k);
    if (out == NULL) {
        PyBuffer_Release(&b);
        return NULL;
    }
    size_t out_len = 0;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_blindrsa_blind_sign(self->sk, (pcc_blindrsa_variant)v,
                                 (uint8_t *)PyBytes_AS_STRING(out), &out_len, k,
                                 (const uint8_t *)b.buf, (size_t)b.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    if (st != PCC_OK) {
        Py_DECREF(out);
        return pcc_py_raise(st, st == PCC_E_FORMAT
                                    ? "blinded message must be modulus_len bytes and below n"
                                    : "blind_sign");
    }
    return out;
}

static PyObject *sk_bits(SkObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLong(pcc_blindrsa_sk_bits(self->sk));
}

static PyMethodDef sk_methods[] = {
    {"public_key", (PyCFunction)sk_public_key, METH_NOARGS, "public_key() -> BlindRSAPublicKey."},
    {"to_der", (PyCFunction)sk_to_der, METH_NOARGS,
     "to_der() -> PKCS#8 DER bytes. WARNING: exports the secret key."},
    {"blind_sign", (PyCFunction)sk_blind_sign, METH_VARARGS,
     "blind_sign(variant_id, blinded) -> blind_sig (RFC 9474 BlindSign; releases the GIL)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sk_getset[] = {
    {"bits", (getter)sk_bits, NULL, "Modulus size in bits.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot sk_slots[] = {
    {Py_tp_doc, "An RSA private key for blind signing (secure memory). Use pcc.blindrsa."},
    {Py_tp_dealloc, sk_dealloc},
    {Py_tp_methods, sk_methods},
    {Py_tp_getset, sk_getset},
    {0, NULL},
};

static PyType_Spec sk_spec = {
    "pcc._core.BlindRSAPrivateKey", sizeof(SkObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, sk_slots,
};

/* ---- BlindRSAPublicKey ---- */

static void pk_dealloc(PkObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_blindrsa_pk_free(self->pk);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *pk_to_der(PkObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"pss_oid", NULL};
    int pss_oid = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &pss_oid))
        return NULL;
    uint8_t buf[PCC_BLINDRSA_MAX_SPKI_LEN];
    size_t len = 0;
    pcc_status st = pcc_blindrsa_pk_to_der(self->pk, pss_oid, buf, &len, sizeof buf);
    if (st != PCC_OK)
        return pcc_py_raise(st, "public key encoding");
    return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
}

static PyObject *pk_numbers(PkObject *self, PyObject *unused)
{
    (void)unused;
    uint8_t n[PCC_BLINDRSA_MAX_MODULUS_LEN], e[8];
    size_t n_len = 0, e_len = 0;
    pcc_status st = pcc_blindrsa_pk_numbers(self->pk, n, &n_len, sizeof n, e, &e_len, sizeof e);
    if (st != PCC_OK)
        return pcc_py_raise(st, "public key numbers");
    return Py_BuildValue("(y#y#)", (const char *)n, (Py_ssize_t)n_len, (const char *)e,
                         (Py_ssize_t)e_len);
}

static PyObject *pk_bits(PkObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLong(pcc_blindrsa_pk_bits(self->pk));
}

static PyObject *pk_modulus_len(PkObject *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(pcc_blindrsa_pk_modulus_len(self->pk));
}

static PyMethodDef pk_methods[] = {
    {"to_der", (PyCFunction)(void (*)(void))pk_to_der, METH_VARARGS | METH_KEYWORDS,
     "to_der(pss_oid=False) -> SubjectPublicKeyInfo DER (rsaEncryption or RFC 9578 RSASSA-PSS)."},
    {"numbers", (PyCFunction)pk_numbers, METH_NOARGS, "numbers() -> (n, e) as big-endian bytes."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pk_getset[] = {
    {"bits", (getter)pk_bits, NULL, "Modulus size in bits.", NULL},
    {"modulus_len", (getter)pk_modulus_len, NULL, "Modulus size in bytes (signature length).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot pk_slots[] = {
    {Py_tp_doc, "An RSA public key for blind signatures. Use pcc.blindrsa."},
    {Py_tp_dealloc, pk_dealloc},
    {Py_tp_methods, pk_methods},
    {Py_tp_getset, pk_getset},
    {0, NULL},
};

static PyType_Spec pk_spec = {
    "pcc._core.BlindRSAPublicKey", sizeof(PkObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, pk_slots,
};

/* ---- BlindRSAState ---- */

static void state_dealloc(StateObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_blindrsa_state_free(self->st);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot state_slots[] = {
    {Py_tp_doc, "A client's blinding state (the inverse blinding factor, in secure memory)."},
    {Py_tp_dealloc, state_dealloc},
    {0, NULL},
};

static PyType_Spec state_spec = {
    "pcc._core.BlindRSAState", sizeof(StateObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, state_slots,
};

/* ---- module functions ---- */

static PyObject *py_variant(PyObject *m, PyObject *arg)
{
    (void)m;
    Py_ssize_t len;
    const char *name = PyUnicode_AsUTF8AndSize(arg, &len);
    if (name == NULL)
        return NULL;
    pcc_blindrsa_variant v;
    size_t salt_len;
    int randomized;
    pcc_status st = pcc_blindrsa_variant_from_name(&v, name, (size_t)len);
    if (st == PCC_OK)
        st = pcc_blindrsa_variant_params(v, &salt_len, &randomized);
    if (st != PCC_OK)
        return pcc_py_raise(st, "unknown RSABSSA variant");
    return Py_BuildValue("(inO)", (int)v, (Py_ssize_t)salt_len, randomized ? Py_True : Py_False);
}

static PyObject *py_sk_generate(PyObject *m, PyObject *args)
{
    long bits;
    if (!PyArg_ParseTuple(args, "l", &bits))
        return NULL;
    if (bits < PCC_BLINDRSA_MIN_BITS || bits > PCC_BLINDRSA_MAX_BITS)
        return pcc_py_raise(PCC_E_UNSUPPORTED, "RSA key size must be 2048 to 4096 bits");
    pcc_blindrsa_sk *sk = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_blindrsa_sk_generate(&sk, (unsigned)bits);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK)
        return pcc_py_raise(st, "RSA key generation");
    return wrap_sk(m, sk);
}

static PyObject *py_sk_from_der(PyObject *m, PyObject *args)
{
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b))
        return NULL;
    pcc_blindrsa_sk *sk = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_blindrsa_sk_from_der(&sk, (const uint8_t *)b.buf, (size_t)b.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_UNSUPPORTED
                                    ? "only 2048- to 4096-bit rsaEncryption PKCS#8 keys"
                                    : "malformed or inconsistent PKCS#8 RSA private key");
    return wrap_sk(m, sk);
}

static PyObject *py_pk_from_der(PyObject *m, PyObject *args)
{
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b))
        return NULL;
    pcc_blindrsa_pk *pk = NULL;
    pcc_status st = pcc_blindrsa_pk_from_der(&pk, (const uint8_t *)b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_UNSUPPORTED
                                    ? "unsupported RSA public key (size, exponent or PSS parameters)"
                                    : "malformed SubjectPublicKeyInfo");
    return wrap_pk(m, pk);
}

static PyObject *py_prepare(PyObject *m, PyObject *args)
{
    (void)m;
    int v;
    Py_buffer msg, prefix = {0};
    PyObject *prefix_obj = Py_None;
    if (!PyArg_ParseTuple(args, "iy*|O", &v, &msg, &prefix_obj))
        return NULL;
    size_t salt_len;
    int randomized;
    PyObject *out = NULL;
    pcc_status st = pcc_blindrsa_variant_params((pcc_blindrsa_variant)v, &salt_len, &randomized);
    if (st != PCC_OK) {
        pcc_py_raise(st, "unknown variant");
        goto out;
    }
    if (prefix_obj != Py_None && PyObject_GetBuffer(prefix_obj, &prefix, PyBUF_SIMPLE) < 0)
        goto out;
    if ((size_t)msg.len > (size_t)PY_SSIZE_T_MAX - PCC_BLINDRSA_PREFIX_LEN) {
        pcc_py_raise(PCC_E_LIMIT, "message too long");
        goto out;
    }
    size_t n = (size_t)msg.len + (randomized ? PCC_BLINDRSA_PREFIX_LEN : 0);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (out == NULL)
        goto out;
    size_t out_len = 0;
    st = pcc_blindrsa_prepare((pcc_blindrsa_variant)v, (uint8_t *)PyBytes_AS_STRING(out), &out_len,
                              n, (const uint8_t *)msg.buf, (size_t)msg.len,
                              prefix.obj ? (const uint8_t *)prefix.buf : NULL,
                              prefix.obj ? (size_t)prefix.len : 0);
    if (st != PCC_OK || out_len != n) {
        Py_CLEAR(out);
        pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO,
                     randomized ? "prefix must be 32 bytes"
                                : "Deterministic variants take no prefix");
    }
out:
    PyBuffer_Release(&msg);
    if (prefix.obj)
        PyBuffer_Release(&prefix);
    return out;
}

static PyObject *py_blind(PyObject *m, PyObject *args)
{
    int v;
    PyObject *pk_obj, *salt_obj = Py_None, *r_obj = Py_None;
    Py_buffer msg, salt = {0}, r = {0};
    PyObject *out = NULL, *state = NULL, *res = NULL;
    if (!PyArg_ParseTuple(args, "iOy*|OO", &v, &pk_obj, &msg, &salt_obj, &r_obj))
        return NULL;
    if (!check_type(m, pk_obj, "BlindRSAPublicKey"))
        goto out;
    if (salt_obj != Py_None && PyObject_GetBuffer(salt_obj, &salt, PyBUF_SIMPLE) < 0)
        goto out;
    if (r_obj != Py_None && PyObject_GetBuffer(r_obj, &r, PyBUF_SIMPLE) < 0)
        goto out;
    const pcc_blindrsa_pk *pk = ((PkObject *)pk_obj)->pk;
    size_t k = pcc_blindrsa_pk_modulus_len(pk);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)k);
    state = new_wrapper(m, "BlindRSAState");
    if (out == NULL || state == NULL)
        goto out;
    size_t out_len = 0;
    pcc_blindrsa_state *bs = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_blindrsa_blind(&bs, (uint8_t *)PyBytes_AS_STRING(out), &out_len, k,
                            (pcc_blindrsa_variant)v, pk, (const uint8_t *)msg.buf, (size_t)msg.len,
                            salt.obj ? (const uint8_t *)salt.buf : NULL,
                            salt.obj ? (size_t)salt.len : 0,
                            r.obj ? (const uint8_t *)r.buf : NULL, r.obj ? (size_t)r.len : 0);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_INVALID
                             ? "invalid blinding input (variant, salt length, r, or message not "
                               "coprime to n)"
                             : "blind");
        goto out;
    }
    ((StateObject *)state)->st = bs;
    res = PyTuple_Pack(2, out, state);
out:
    Py_XDECREF(out);
    Py_XDECREF(state);
    PyBuffer_Release(&msg);
    if (salt.obj)
        PyBuffer_Release(&salt);
    if (r.obj)
        PyBuffer_Release(&r);
    return res;
}

static PyObject *py_finalize(PyObject *m, PyObject *args)
{
    int v;
    PyObject *pk_obj, *state_obj, *out = NULL;
    Py_buffer msg, bsig;
    if (!PyArg_ParseTuple(args, "iOy*y*O", &v, &pk_obj, &msg, &bsig, &state_obj))
        return NULL;
    if (!check_type(m, pk_obj, "BlindRSAPublicKey") || !check_type(m, state_obj, "BlindRSAState"))
        goto out;
    const pcc_blindrsa_pk *pk = ((PkObject *)pk_obj)->pk;
    const pcc_blindrsa_state *bs = ((StateObject *)state_obj)->st;
    size_t k = pcc_blindrsa_pk_modulus_len(pk);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)k);
    if (out == NULL)
        goto out;
    size_t out_len = 0;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_blindrsa_finalize((uint8_t *)PyBytes_AS_STRING(out), &out_len, k,
                               (pcc_blindrsa_variant)v, pk, (const uint8_t *)msg.buf,
                               (size_t)msg.len, (const uint8_t *)bsig.buf, (size_t)bsig.len, bs);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        Py_CLEAR(out);
        pcc_py_raise(st, st == PCC_E_FORMAT ? "blind signature must be modulus_len bytes"
                         : st == PCC_E_INVALID ? "blinding state belongs to another variant or key"
                                               : "finalize");
    }
out:
    PyBuffer_Release(&msg);
    PyBuffer_Release(&bsig);
    return out;
}

static PyObject *py_verify(PyObject *m, PyObject *args)
{
    int v;
    PyObject *pk_obj;
    Py_buffer msg, sig;
    if (!PyArg_ParseTuple(args, "iOy*y*", &v, &pk_obj, &msg, &sig))
        return NULL;
    pcc_status st = PCC_E_INVALID;
    int ok = check_type(m, pk_obj, "BlindRSAPublicKey");
    if (ok) {
        const pcc_blindrsa_pk *pk = ((PkObject *)pk_obj)->pk;
        Py_BEGIN_ALLOW_THREADS
        st = pcc_blindrsa_verify((pcc_blindrsa_variant)v, pk, (const uint8_t *)msg.buf,
                                 (size_t)msg.len, (const uint8_t *)sig.buf, (size_t)sig.len);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&msg);
    PyBuffer_Release(&sig);
    if (!ok)
        return NULL;
    if (st != PCC_OK)
        return pcc_py_raise(st, "verify");
    Py_RETURN_NONE;
}

static PyObject *py_pss_verify(PyObject *m, PyObject *args)
{
    PyObject *pk_obj;
    Py_buffer msg, sig;
    int hash, mgf1_hash;
    Py_ssize_t salt_len;
    if (!PyArg_ParseTuple(args, "Oy*y*iin", &pk_obj, &msg, &sig, &hash, &mgf1_hash, &salt_len))
        return NULL;
    pcc_status st = PCC_E_INVALID;
    int ok = check_type(m, pk_obj, "BlindRSAPublicKey");
    if (ok && salt_len >= 0) {
        const pcc_blindrsa_pk *pk = ((PkObject *)pk_obj)->pk;
        Py_BEGIN_ALLOW_THREADS
        st = pcc_blindrsa_pss_verify(pk, (pcc_blindrsa_hash)hash, (pcc_blindrsa_hash)mgf1_hash,
                                     (size_t)salt_len, (const uint8_t *)msg.buf, (size_t)msg.len,
                                     (const uint8_t *)sig.buf, (size_t)sig.len);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&msg);
    PyBuffer_Release(&sig);
    if (!ok)
        return NULL;
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_UNSUPPORTED ? "unknown hash" : "bad salt length");
    Py_RETURN_NONE;
}

static PyObject *py_bench_raw(PyObject *m, PyObject *args)
{
    PyObject *sk_obj;
    int private_op;
    Py_ssize_t iters;
    if (!PyArg_ParseTuple(args, "Opn", &sk_obj, &private_op, &iters))
        return NULL;
    if (!check_type(m, sk_obj, "BlindRSAPrivateKey"))
        return NULL;
    if (iters <= 0)
        return pcc_py_raise(PCC_E_INVALID, "iters must be positive");
    uint64_t ns = 0;
    pcc_status st;
    const pcc_blindrsa_sk *sk = ((SkObject *)sk_obj)->sk;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_blindrsa_bench_raw(sk, private_op, (size_t)iters, &ns);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK)
        return pcc_py_raise(st, "raw RSA benchmark");
    return PyLong_FromUnsignedLongLong((unsigned long long)ns);
}

static PyMethodDef blindrsa_funcs[] = {
    {"blindrsa_variant", py_variant, METH_O,
     "blindrsa_variant(name) -> (variant_id, salt_len, randomized)."},
    {"blindrsa_sk_generate", py_sk_generate, METH_VARARGS,
     "blindrsa_sk_generate(bits) -> BlindRSAPrivateKey (releases the GIL)."},
    {"blindrsa_sk_from_der", py_sk_from_der, METH_VARARGS,
     "blindrsa_sk_from_der(pkcs8_der) -> BlindRSAPrivateKey."},
    {"blindrsa_pk_from_der", py_pk_from_der, METH_VARARGS,
     "blindrsa_pk_from_der(spki_der) -> BlindRSAPublicKey."},
    {"blindrsa_prepare", py_prepare, METH_VARARGS,
     "blindrsa_prepare(variant_id, msg, prefix=None) -> prepared message."},
    {"blindrsa_blind", py_blind, METH_VARARGS,
     "blindrsa_blind(variant_id, pk, prepared, salt=None, r=None) -> (blinded, BlindRSAState)."},
    {"blindrsa_finalize", py_finalize, METH_VARARGS,
     "blindrsa_finalize(variant_id, pk, prepared, blind_sig, state) -> signature."},
    {"blindrsa_verify", py_verify, METH_VARARGS,
     "blindrsa_verify(variant_id, pk, prepared, sig) -> None or VerifyError."},
    {"blindrsa_pss_verify", py_pss_verify, METH_VARARGS,
     "blindrsa_pss_verify(pk, msg, sig, hash_id, mgf1_hash_id, salt_len) -> None or VerifyError."},
    {"_bench_rsa_raw", py_bench_raw, METH_VARARGS,
     "_bench_rsa_raw(sk, private, iters) -> total nanoseconds of iters raw RSA operations."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_blindrsa_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &sk_spec, NULL) == NULL || pcc_py_add_type(m, &pk_spec, NULL) == NULL ||
        pcc_py_add_type(m, &state_spec, NULL) == NULL)
        return -1;
    if (PyModule_AddFunctions(m, blindrsa_funcs) < 0)
        return -1;
    static const struct {
        const char *name;
        long value;
    } consts[] = {
        {"BLINDRSA_HASH_SHA1", PCC_BLINDRSA_HASH_SHA1},
        {"BLINDRSA_HASH_SHA224", PCC_BLINDRSA_HASH_SHA224},
        {"BLINDRSA_HASH_SHA256", PCC_BLINDRSA_HASH_SHA256},
        {"BLINDRSA_HASH_SHA384", PCC_BLINDRSA_HASH_SHA384},
        {"BLINDRSA_HASH_SHA512", PCC_BLINDRSA_HASH_SHA512},
        {"BLINDRSA_MIN_BITS", PCC_BLINDRSA_MIN_BITS},
        {"BLINDRSA_MAX_BITS", PCC_BLINDRSA_MAX_BITS},
    };
    for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
        if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0)
            return -1;
    return 0;
}
