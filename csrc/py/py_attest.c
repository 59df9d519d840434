/* py_attest.c: pcc._core glue for attestation: P-384 identity keys, register extend, bundle
 * building, the client's trust anchors and bundle verification; plus the canonical msgpack
 * helper of csrc/wire (py_wire would be one function). */
#include "pymod.h"

#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pcc/attest.h"
#include "pcc/secure.h"
#include "pcc/wire.h"

/* ---- P384Key ------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pcc_p384_key *k;
} P384KeyObject;

static void pk_dealloc(P384KeyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_p384_key_free(self->k);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *pk_wrap(PyObject *m, pcc_p384_key *k)
{
    PyTypeObject *tp = pcc_py_module_type(m, "P384Key");
    P384KeyObject *o;
    if (tp == NULL) {
        pcc_p384_key_free(k);
        return NULL;
    }
    o = (P384KeyObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (o == NULL) {
        pcc_p384_key_free(k);
        return NULL;
    }
    o->k = k;
    return (PyObject *)o;
}

static PyObject *pk_spki(P384KeyObject *self, void *c)
{
    (void)c;
    return PyBytes_FromStringAndSize((const char *)pcc_p384_key_spki(self->k), PCC_ATTEST_SPKI_LEN);
}

static PyObject *pk_node_id(P384KeyObject *self, void *c)
{
    uint8_t id[PCC_ATTEST_NODE_ID];
    (void)c;
    pcc_p384_key_node_id(self->k, id);
    return PyBytes_FromStringAndSize((const char *)id, sizeof id);
}

static PyObject *pk_sign(P384KeyObject *self, PyObject *arg)
{
    Py_buffer msg;
    uint8_t sig[PCC_ATTEST_MAX_SIG];
    size_t n = 0;
    pcc_status st;
    if (PyObject_GetBuffer(arg, &msg, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_p384_key_sign(self->k, sig, &n, sizeof sig, msg.buf, (size_t)msg.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&msg);
    if (st != PCC_OK)
        return pcc_py_raise(st, "P-384 sign");
    return PyBytes_FromStringAndSize((const char *)sig, (Py_ssize_t)n);
}

static PyObject *pk_csr(P384KeyObject *self, PyObject *arg)
{
    Py_buffer serial;
    pcc_writer w;
    pcc_status st;
    PyObject *r = NULL;
    if (PyObject_GetBuffer(arg, &serial, PyBUF_SIMPLE) < 0)
        return NULL;
    pcc_writer_init_dynamic(&w, false, 1 << 16);
    st = pcc_p384_key_csr(self->k, serial.buf, (size_t)serial.len, &w);
    PyBuffer_Release(&serial);
    if (st != PCC_OK)
        pcc_py_raise(st, st == PCC_E_INVALID ? "serial must be 1..64 PrintableString characters"
                                             : "CSR");
    else
        r = PyBytes_FromStringAndSize((const char *)w.data, (Py_ssize_t)w.len);
    pcc_writer_cleanup(&w);
    return r;
}

/* export_private_der() -> PKCS#8 DER: the one way the private key leaves C, on request. */
static PyObject *pk_export(P384KeyObject *self, PyObject *unused)
{
    uint8_t *buf = pcc_secure_alloc(512);
    size_t n = 0;
    pcc_status st;
    PyObject *r = NULL;
    (void)unused;
    if (buf == NULL)
        return pcc_py_raise(PCC_E_NOMEM, NULL);
    st = pcc_p384_key_export_der(self->k, buf, &n, 512);
    if (st != PCC_OK)
        pcc_py_raise(st, "P-384 export");
    else
        r = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n);
    pcc_secure_free(buf);
    return r;
}

static PyObject *pk_repr(P384KeyObject *self)
{
    uint8_t id[PCC_ATTEST_NODE_ID];
    char hex[17];
    pcc_p384_key_node_id(self->k, id);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    return PyUnicode_FromFormat("<P384Key node_id=%s...>", hex);
}

static PyGetSetDef pk_getset[] = {
    {"spki", (getter)pk_spki, NULL, "DER SubjectPublicKeyInfo of the public key.", NULL},
    {"node_id", (getter)pk_node_id, NULL, "SHA-256 of the SPKI DER.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef pk_methods[] = {
    {"sign", (PyCFunction)pk_sign, METH_O, "sign(msg) -> DER ECDSA-SHA384 signature."},
    {"csr", (PyCFunction)pk_csr, METH_O, "csr(serial) -> DER PKCS#10 request (serialNumber)."},
    {"export_private_der", (PyCFunction)pk_export, METH_NOARGS,
     "export_private_der() -> PKCS#8 DER (exports the secret)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot pk_slots[] = {
    {Py_tp_dealloc, pk_dealloc},
    {Py_tp_repr, pk_repr},
    {Py_tp_getset, pk_getset},
    {Py_tp_methods, pk_methods},
    {Py_tp_doc, (void *)"An ECDSA P-384 key pair held in secure memory."},
    {0, NULL},
};

static PyType_Spec pk_spec = {
    "pcc._core.P384Key", sizeof(P384KeyObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, pk_slots,
};

static PyObject *py_p384_generate(PyObject *m, PyObject *unused)
{
    pcc_p384_key *k = NULL;
    pcc_status st;
    (void)unused;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_p384_key_generate(&k);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK)
        return pcc_py_raise(st, "P-384 key generation");
    return pk_wrap(m, k);
}

static PyObject *py_p384_from_der(PyObject *m, PyObject *arg)
{
    Py_buffer der;
    pcc_p384_key *k = NULL;
    pcc_status st;
    if (PyObject_GetBuffer(arg, &der, PyBUF_SIMPLE) < 0)
        return NULL;
    st = pcc_p384_key_from_der(&k, der.buf, (size_t)der.len);
    PyBuffer_Release(&der);
    if (st != PCC_OK)
        return pcc_py_raise(st, "not a P-384 private key (PKCS#8 or SEC 1 DER)");
    return pk_wrap(m, k);
}

static PyObject *py_p384_verify(PyObject *m, PyObject *args)
{
    Py_buffer spki, msg, sig;
    pcc_status st;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*y*y*", &spki, &msg, &sig))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_p384_verify(spki.buf, (size_t)spki.len, msg.buf, (size_t)msg.len, sig.buf,
                         (size_t)sig.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&spki);
    PyBuffer_Release(&msg);
    PyBuffer_Release(&sig);
    if (st != PCC_OK)
        return pcc_py_raise(st, "spki is not a P-384 public key");
    Py_RETURN_NONE;
}

/* ---- AttestTrust ------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    pcc_attest_trust *t;
} TrustObject;

static void tr_dealloc(TrustObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_attest_trust_free(self->t);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *tr_cache_clear(TrustObject *self, PyObject *unused)
{
    (void)unused;
    pcc_attest_trust_cache_clear(self->t);
    Py_RETURN_NONE;
}

static PyMethodDef tr_methods[] = {
    {"cache_clear", (PyCFunction)tr_cache_clear, METH_NOARGS, "Forget every cached chain."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot tr_slots[] = {
    {Py_tp_dealloc, tr_dealloc},
    {Py_tp_methods, tr_methods},
    {Py_tp_doc, (void *)"Pinned roots, log and witness keys, and a cache of verified chains."},
    {0, NULL},
};

static PyType_Spec tr_spec = {
    "pcc._core.AttestTrust", sizeof(TrustObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, tr_slots,
};

/* bytes_list fills ptrs/lens from a list of bytes (borrowed from the list, which must stay alive
 * and unchanged while they are used: the callers hold the list). Returns the count or -1. */
static Py_ssize_t bytes_list(PyObject *list, const char *what, size_t max, const uint8_t **ptrs,
                             size_t *lens)
{
    Py_ssize_t n;
    if (!PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "%s must be a list of bytes", what);
        return -1;
    }
    n = PyList_GET_SIZE(list);
    if ((size_t)n > max) {
        pcc_py_raise(PCC_E_INVALID, what);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyList_GET_ITEM(list, i);
        if (!PyBytes_Check(o)) {
            PyErr_Format(PyExc_TypeError, "%s must be a list of bytes", what);
            return -1;
        }
        ptrs[i] = (const uint8_t *)PyBytes_AS_STRING(o);
        lens[i] = (size_t)PyBytes_GET_SIZE(o);
    }
    return n;
}

/* attest_trust_new(roots, log_vkey, witness_vkeys, quorum, max_age_s, relax) */
static PyObject *py_trust_new(PyObject *m, PyObject *args)
{
    PyObject *roots, *wits;
    const char *log;
    Py_ssize_t log_len, nr, nw;
    int quorum;
    unsigned int relax;
    long long max_age;
    const uint8_t *rp[PCC_ATTEST_MAX_ROOTS], *wp[64];
    size_t rl[PCC_ATTEST_MAX_ROOTS], wl[64];
    const char *what = NULL;
    pcc_attest_trust *t = NULL;
    pcc_status st;
    PyTypeObject *tp;
    TrustObject *o;
    if (!PyArg_ParseTuple(args, "O!y#O!iLI", &PyList_Type, &roots, &log, &log_len, &PyList_Type,
                          &wits, &quorum, &max_age, &relax))
        return NULL;
    if (quorum < 1 || max_age < 0)
        return pcc_py_raise(PCC_E_INVALID, "quorum must be >= 1 and max_age_s >= 0");
    if ((nr = bytes_list(roots, "provisioning_roots must hold 1..16 certificates",
                         PCC_ATTEST_MAX_ROOTS, rp, rl)) < 0 ||
        (nw = bytes_list(wits, "at most 64 witness keys", 64, wp, wl)) < 0)
        return NULL;
    st = pcc_attest_trust_new(&t, &what, rp, rl, (size_t)nr, log, (size_t)log_len,
                              (const char *const *)wp, wl, (size_t)nw, (unsigned)quorum,
                              (uint64_t)max_age, relax);
    if (st != PCC_OK)
        return pcc_py_raise(st, what);
    if ((tp = pcc_py_module_type(m, "AttestTrust")) == NULL) {
        pcc_attest_trust_free(t);
        return NULL;
    }
    o = (TrustObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (o == NULL) {
        pcc_attest_trust_free(t);
        return NULL;
    }
    o->t = t;
    return (PyObject *)o;
}

/* attest_verify(trust, bundle, model|None, now) ->
 *   (passed, [(name, ok, detail)...], None | (node_id, hpke_pk, key_id, kem, kdf, aead,
 *    not_after, issued, log_index, backend)); the tpm check is listed only when it applied */
static PyObject *py_verify(PyObject *m, PyObject *args)
{
    PyObject *trust, *model_obj, *checks = NULL, *node = NULL, *r = NULL;
    Py_buffer bundle, model = {0};
    long long now;
    pcc_attest_report rep;
    pcc_status st;
    PyTypeObject *tp = pcc_py_module_type(m, "AttestTrust");
    if (tp == NULL)
        return NULL;
    if (!PyArg_ParseTuple(args, "O!y*OL", tp, &trust, &bundle, &model_obj, &now)) {
        Py_DECREF(tp);
        return NULL;
    }
    Py_DECREF(tp);
    if (model_obj != Py_None && PyObject_GetBuffer(model_obj, &model, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&bundle);
        return NULL;
    }
    if (now < 0) {
        PyBuffer_Release(&bundle);
        if (model.obj)
            PyBuffer_Release(&model);
        return pcc_py_raise(PCC_E_INVALID, "now must be a non-negative number of seconds");
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_attest_verify(((TrustObject *)trust)->t, bundle.buf, (size_t)bundle.len,
                           model.obj ? model.buf : NULL, model.obj ? (size_t)model.len : 0,
                           (uint64_t)now, &rep);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bundle);
    if (model.obj)
        PyBuffer_Release(&model);
    if (st != PCC_OK)
        return pcc_py_raise(st, "attestation verify");
    if ((checks = PyList_New(0)) == NULL)
        return NULL;
    for (size_t i = 0; i < rep.n_checks; i++) {
        if (i == PCC_CHECK_TPM && !rep.tpm_listed)
            continue; /* the tpm check does not apply to this bundle */
        PyObject *c = Py_BuildValue("(sOs)", pcc_attest_check_name((unsigned)i),
                                    rep.ok[i] ? Py_True : Py_False,
                                    rep.detail[i] ? rep.detail[i] : "");
        if (c == NULL || PyList_Append(checks, c) < 0) {
            Py_XDECREF(c);
            goto out;
        }
        Py_DECREF(c);
    }
    if (rep.body_decoded) {
        node = Py_BuildValue("(y#y#y#HHHKKKs)", rep.node_id, (Py_ssize_t)32, rep.hpke_pk,
                             (Py_ssize_t)32, rep.key_id, (Py_ssize_t)8, rep.kem, rep.kdf, rep.aead,
                             (unsigned long long)rep.not_after, (unsigned long long)rep.issued,
                             (unsigned long long)rep.log_index, rep.backend_tpm ? "tpm" : "sim");
        if (node == NULL)
            goto out;
    } else {
        node = Py_NewRef(Py_None);
    }
    r = Py_BuildValue("(OOO)", rep.passed ? Py_True : Py_False, checks, node);
out:
    Py_XDECREF(checks);
    Py_XDECREF(node);
    return r;
}

/* ---- registers, bundle building ----------------------------------------------------------- */

static PyObject *py_register_extend(PyObject *m, PyObject *args)
{
    Py_buffer reg, name, digest;
    uint8_t r[PCC_ATTEST_DIGEST];
    pcc_status st = PCC_E_INVALID;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*y*y*", &reg, &name, &digest))
        return NULL;
    if (reg.len == PCC_ATTEST_DIGEST && digest.len == PCC_ATTEST_DIGEST) {
        memcpy(r, reg.buf, PCC_ATTEST_DIGEST);
        st = pcc_attest_register_extend(r, name.buf, (size_t)name.len, digest.buf);
    }
    PyBuffer_Release(&reg);
    PyBuffer_Release(&name);
    PyBuffer_Release(&digest);
    if (st != PCC_OK)
        return pcc_py_raise(st, "register and digest must be 48 bytes");
    return PyBytes_FromStringAndSize((const char *)r, PCC_ATTEST_DIGEST);
}

/* attest_bundle_encode(key, serial, boot, issued, registers[3], events[(reg, name, sha384)],
 *   modes(restricted, ephemeral_data, debug, seccomp, landlock, netns),
 *   hpke(kem, kdf, aead, pk, key_id, not_after), models[bytes], release, tlog_proof, chain[bytes])
 * -> bundle bytes. Every bytes argument must be bytes (the wrapper converts). */
static PyObject *py_bundle_encode(PyObject *m, PyObject *args)
{
    PyObject *key, *regs, *events, *models, *chain, *r = NULL;
    const char *serial, *boot, *pk, *key_id, *release, *proof, *tpm = NULL;
    Py_ssize_t serial_len, boot_len, pk_len, key_id_len, release_len, proof_len, tpm_len = 0;
    long long issued, not_after;
    int restricted, ephemeral, debug, seccomp, landlock, netns;
    int kem, kdf, aead;
    pcc_attest_body b;
    pcc_attest_event *ev = NULL;
    pcc_attest_text *mt = NULL;
    const uint8_t *cp[PCC_ATTEST_MAX_CHAIN];
    size_t cl[PCC_ATTEST_MAX_CHAIN];
    Py_ssize_t n_chain, n_ev, n_models;
    pcc_writer w;
    pcc_status st;
    PyTypeObject *tp = pcc_py_module_type(m, "P384Key");
    if (tp == NULL)
        return NULL;
    memset(&b, 0, sizeof b);
    /* key: a P384Key, or (for the body alone) the 32-byte node id of a key held elsewhere */
    int ok = PyArg_ParseTuple(args, "Oy#y#LO!O!(pppppp)(iiiy#y#L)O!y#y#O|z#", &key, &serial,
                              &serial_len, &boot, &boot_len, &issued, &PyList_Type, &regs,
                              &PyList_Type, &events, &restricted, &ephemeral, &debug, &seccomp,
                              &landlock, &netns, &kem, &kdf, &aead, &pk, &pk_len, &key_id,
                              &key_id_len, &not_after, &PyList_Type, &models, &release,
                              &release_len, &proof, &proof_len, &chain, &tpm, &tpm_len);
    if (ok && !PyObject_TypeCheck(key, tp) &&
        !(PyBytes_Check(key) && PyBytes_GET_SIZE(key) == PCC_ATTEST_NODE_ID &&
          PyTuple_GET_SIZE(args) > 11 && PyTuple_GET_ITEM(args, 11) == Py_None)) {
        PyErr_SetString(PyExc_TypeError,
                        "key must be a P384Key (or a 32-byte node id when chain is None)");
        ok = 0;
    }
    Py_DECREF(tp);
    if (!ok)
        return NULL;
    /* overflow-checked conversions, then ranges: nothing wraps into a valid-looking value */
    if (issued < 0 || not_after < 0 || kem < 0 || kem > 0xffff || kdf < 0 || kdf > 0xffff ||
        aead < 0 || aead > 0xffff)
        return pcc_py_raise(PCC_E_INVALID, "issued and not_after must be >= 0, suite ids 16-bit");
    if (boot_len != 16 || pk_len != 32 || key_id_len != 8 || PyList_GET_SIZE(regs) != 3)
        return pcc_py_raise(PCC_E_INVALID,
                            "boot is 16 bytes, pk 32, key_id 8, and there are 3 registers");
    for (Py_ssize_t i = 0; i < 3; i++) {
        PyObject *o = PyList_GET_ITEM(regs, i);
        if (!PyBytes_Check(o) || PyBytes_GET_SIZE(o) != PCC_ATTEST_DIGEST)
            return pcc_py_raise(PCC_E_INVALID, "each register must be 48 bytes");
        memcpy(b.registers[i], PyBytes_AS_STRING(o), PCC_ATTEST_DIGEST);
    }
    n_chain = 0; /* chain None: the body alone */
    if (chain != Py_None && (n_chain = bytes_list(chain, "chain must hold 1..4 certificates",
                                                  PCC_ATTEST_MAX_CHAIN, cp, cl)) < 0)
        return NULL;
    n_ev = PyList_GET_SIZE(events);
    n_models = PyList_GET_SIZE(models);
    if (n_ev > PCC_ATTEST_MAX_EVENTS || n_models > PCC_ATTEST_MAX_MODELS)
        return pcc_py_raise(PCC_E_INVALID, "at most 256 events and 64 models");
    ev = PyMem_Calloc((size_t)n_ev + 1, sizeof *ev);
    mt = PyMem_Calloc((size_t)n_models + 1, sizeof *mt);
    if (ev == NULL || mt == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 0; i < n_ev; i++) {
        PyObject *e = PyList_GET_ITEM(events, i);
        const char *dg;
        Py_ssize_t name_len, dg_len;
        int reg;
        if (!PyTuple_Check(e) ||
            !PyArg_ParseTuple(e, "iy#y#", &reg, &ev[i].name, &name_len, &dg, &dg_len)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "events must be (reg, name, sha384) tuples");
            goto out;
        }
        if (dg_len != PCC_ATTEST_DIGEST || reg < 0 || reg >= PCC_ATTEST_REGISTERS) {
            pcc_py_raise(PCC_E_INVALID, "an event is (reg 0..2, name, 48-byte digest)");
            goto out;
        }
        ev[i].reg = (unsigned)reg;
        ev[i].name_len = (size_t)name_len;
        memcpy(ev[i].sha384, dg, PCC_ATTEST_DIGEST);
    }
    for (Py_ssize_t i = 0; i < n_models; i++) {
        PyObject *o = PyList_GET_ITEM(models, i);
        if (!PyBytes_Check(o)) {
            PyErr_SetString(PyExc_TypeError, "models must be a list of bytes");
            goto out;
        }
        mt[i].p = PyBytes_AS_STRING(o);
        mt[i].len = (size_t)PyBytes_GET_SIZE(o);
    }
    b.serial = serial;
    b.serial_len = (size_t)serial_len;
    memcpy(b.boot, boot, 16);
    b.issued = (uint64_t)issued;
    b.events = ev;
    b.n_events = (size_t)n_ev;
    b.restricted = restricted;
    b.ephemeral_data = ephemeral;
    b.debug = debug;
    b.seccomp = seccomp;
    b.landlock = landlock;
    b.netns = netns;
    b.kem = (uint16_t)kem;
    b.kdf = (uint16_t)kdf;
    b.aead = (uint16_t)aead;
    memcpy(b.hpke_pk, pk, 32);
    memcpy(b.key_id, key_id, 8);
    b.not_after = (uint64_t)not_after;
    b.models = mt;
    b.n_models = (size_t)n_models;
    b.release = (const uint8_t *)release;
    b.release_len = (size_t)release_len;
    b.tlog_proof = proof;
    b.tlog_proof_len = (size_t)proof_len;
    b.tpm = (const uint8_t *)tpm;
    b.tpm_len = (size_t)tpm_len;
    pcc_writer_init_dynamic(&w, false, PCC_ATTEST_MAX_BUNDLE + 1024);
    if (PyBytes_Check(key)) {
        b.node_id = (const uint8_t *)PyBytes_AS_STRING(key);
        st = pcc_attest_body_encode(&w, &b, NULL);
    } else if (chain == Py_None)
        st = pcc_attest_body_encode(&w, &b, ((P384KeyObject *)key)->k);
    else
        st = pcc_attest_bundle_encode(&w, &b, ((P384KeyObject *)key)->k, cp, cl,
                                      (size_t)n_chain);
    if (st != PCC_OK)
        pcc_py_raise(st, st == PCC_E_INVALID ? "a bundle field breaks the format's limits"
                                             : "bundle encode");
    else
        r = PyBytes_FromStringAndSize((const char *)w.data, (Py_ssize_t)w.len);
    pcc_writer_cleanup(&w);
out:
    PyMem_Free(ev);
    PyMem_Free(mt);
    return r;
}

/* wire_canonical(data, max_depth) -> the canonical msgpack (sorted keys, shortest forms). */
static PyObject *py_wire_canonical(PyObject *m, PyObject *args)
{
    Py_buffer data;
    unsigned int depth = 16;
    pcc_writer w;
    pcc_status st;
    PyObject *r = NULL;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*|I", &data, &depth))
        return NULL;
    pcc_wire_limits lim = {.max_depth = depth, .max_items = 1u << 20, .max_str = 1u << 24,
                           .max_bin = 1u << 24, .max_array = 1u << 20, .max_map = 4096,
                           .flags = 0};
    pcc_writer_init_dynamic(&w, false, (size_t)data.len + 64);
    st = pcc_wire_canonicalize(&w, data.buf, (size_t)data.len, &lim);
    PyBuffer_Release(&data);
    if (st != PCC_OK)
        pcc_py_raise(st, "not one strict msgpack value (text keys, no duplicates, no ext)");
    else
        r = PyBytes_FromStringAndSize((const char *)w.data, (Py_ssize_t)w.len);
    pcc_writer_cleanup(&w);
    return r;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* _bench_p384_verify(n, spki, msg, sig) -> seconds for n raw EVP_DigestVerify calls (the key
 * parsed once, a fresh context per call, as a bundle verification with a cached chain does). */
static PyObject *py_bench_p384(PyObject *m, PyObject *args)
{
    Py_ssize_t n;
    Py_buffer spki, msg, sig;
    EVP_PKEY *pk = NULL;
    const unsigned char *p;
    int ok = 0;
    double t0 = 0, t1 = 0;
    (void)m;
    if (!PyArg_ParseTuple(args, "ny*y*y*", &n, &spki, &msg, &sig))
        return NULL;
    p = spki.buf;
    pk = d2i_PUBKEY(NULL, &p, (long)spki.len);
    if (pk != NULL) {
        ok = 1;
        Py_BEGIN_ALLOW_THREADS
        t0 = mono();
        for (Py_ssize_t i = 0; i < n && ok; i++) {
            EVP_MD_CTX *c = EVP_MD_CTX_new();
            ok = c != NULL && EVP_DigestVerifyInit(c, NULL, EVP_sha384(), NULL, pk) == 1 &&
                 EVP_DigestVerify(c, sig.buf, (size_t)sig.len, msg.buf, (size_t)msg.len) == 1;
            EVP_MD_CTX_free(c);
        }
        t1 = mono();
        Py_END_ALLOW_THREADS
    }
    EVP_PKEY_free(pk);
    PyBuffer_Release(&spki);
    PyBuffer_Release(&msg);
    PyBuffer_Release(&sig);
    if (!ok)
        return pcc_py_raise(PCC_E_VERIFY, NULL);
    return PyFloat_FromDouble(t1 - t0);
}

static PyMethodDef attest_funcs[] = {
    {"p384_generate", py_p384_generate, METH_NOARGS, "p384_generate() -> P384Key."},
    {"p384_from_der", py_p384_from_der, METH_O, "p384_from_der(der) -> P384Key (PKCS#8/SEC 1)."},
    {"p384_verify", py_p384_verify, METH_VARARGS,
     "p384_verify(spki, msg, sig) -> None or VerifyError."},
    {"attest_trust_new", py_trust_new, METH_VARARGS,
     "attest_trust_new(roots, log_vkey, witness_vkeys, quorum, max_age_s, relax) -> AttestTrust."},
    {"attest_verify", py_verify, METH_VARARGS,
     "attest_verify(trust, bundle, model, now) -> (passed, checks, node fields or None)."},
    {"attest_register_extend", py_register_extend, METH_VARARGS,
     "attest_register_extend(register, name, digest) -> the new register."},
    {"attest_bundle_encode", py_bundle_encode, METH_VARARGS,
     "attest_bundle_encode(key, serial, boot, issued, registers, events, modes, hpke, models, "
     "release, tlog_proof, chain, tpm=None) -> bundle (chain None: the signed Body alone)."},
    {"wire_canonical", py_wire_canonical, METH_VARARGS,
     "wire_canonical(data, max_depth=16) -> canonical msgpack (sorted keys)."},
    {"_bench_p384_verify", py_bench_p384, METH_VARARGS,
     "_bench_p384_verify(n, spki, msg, sig) -> seconds for n raw ECDSA P-384 verifications."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_attest_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &pk_spec, NULL) == NULL || pcc_py_add_type(m, &tr_spec, NULL) == NULL)
        return -1;
    return PyModule_AddFunctions(m, attest_funcs);
}
