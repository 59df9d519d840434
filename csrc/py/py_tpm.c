/* py_tpm.c: pcc._core glue for the TPM 2.0 backend: the Tpm connection (node side, tpm2-tss) and
 * the OpenSSL-only checks (quote verification, attestation-key check, MakeCredential, EK
 * certificate chain). */
#include "pymod.h"

#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pcc/secure.h"
#include "pcc/tpm.h"

/* ---- Tpm ------------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    pcc_tpm *t;
    PyThread_type_lock lock; /* taken with the GIL released; guards t */
} TpmObject;

static void tpm_dealloc(TpmObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_tpm_free(self->t);
    if (self->lock != NULL)
        PyThread_free_lock(self->lock);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* tpm_raise raises for st, naming the operation and the TPM's response code when there is one. */
static PyObject *tpm_raise(TpmObject *self, pcc_status st, const char *what)
{
    char msg[160];
    uint32_t rc = self->t != NULL ? pcc_tpm_last_rc(self->t) : 0;
    if (rc != 0)
        snprintf(msg, sizeof msg, "TPM %s failed (response code 0x%x)", what, (unsigned)rc);
    else
        snprintf(msg, sizeof msg, "TPM %s failed", what);
    return pcc_py_raise(st, msg);
}

/* lock_tpm releases the GIL while waiting for the object's lock; returns -1 (exception set) if the
 * connection is closed. Callers run the TPM call between Py_BEGIN/END_ALLOW_THREADS and then
 * unlock. */
static int lock_tpm(TpmObject *self)
{
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    Py_END_ALLOW_THREADS
    if (self->t == NULL) {
        PyThread_release_lock(self->lock);
        pcc_py_raise(PCC_E_STATE, "the TPM connection is closed");
        return -1;
    }
    return 0;
}

static PyObject *py_tpm_open(PyObject *m, PyObject *arg)
{
    const char *tcti;
    pcc_tpm *t = NULL;
    pcc_status st;
    PyTypeObject *tp;
    TpmObject *o;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "tcti must be a str");
        return NULL;
    }
    if ((tcti = PyUnicode_AsUTF8(arg)) == NULL)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_open(&t, tcti);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK)
        return pcc_py_raise(st, "cannot reach the TPM through this TCTI");
    if ((tp = pcc_py_module_type(m, "Tpm")) == NULL) {
        pcc_tpm_free(t);
        return NULL;
    }
    o = (TpmObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (o == NULL) {
        pcc_tpm_free(t);
        return NULL;
    }
    o->t = t;
    if ((o->lock = PyThread_allocate_lock()) == NULL) {
        Py_DECREF(o);
        return PyErr_NoMemory();
    }
    return (PyObject *)o;
}

static PyObject *tpm_close(TpmObject *self, PyObject *unused)
{
    pcc_tpm *t;
    (void)unused;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    t = self->t;
    self->t = NULL;
    pcc_tpm_free(t);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *tpm_ak_create(TpmObject *self, PyObject *arg)
{
    Py_buffer u;
    pcc_status st;
    if (PyObject_GetBuffer(arg, &u, PyBUF_SIMPLE) < 0)
        return NULL;
    if (lock_tpm(self) < 0) {
        PyBuffer_Release(&u);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_ak_create(self->t, u.buf, (size_t)u.len);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    PyBuffer_Release(&u);
    if (st == PCC_E_INVALID)
        return pcc_py_raise(st, "unique must be at most 48 bytes");
    if (st != PCC_OK)
        return tpm_raise(self, st, "CreatePrimary (attestation key)");
    Py_RETURN_NONE;
}

static PyObject *tpm_ak_public(TpmObject *self, PyObject *unused)
{
    uint8_t buf[PCC_TPM_PUBLIC_MAX];
    size_t len = 0;
    pcc_status st;
    (void)unused;
    if (lock_tpm(self) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_ak_public(self->t, buf, &len, sizeof buf);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    if (st == PCC_E_STATE)
        return pcc_py_raise(st, "no attestation key: call ak_create first");
    if (st != PCC_OK)
        return tpm_raise(self, st, "ReadPublic");
    return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
}

static PyObject *tpm_pcr_extend(TpmObject *self, PyObject *args)
{
    unsigned int pcr;
    Py_buffer d;
    pcc_status st;
    if (!PyArg_ParseTuple(args, "Iy*", &pcr, &d))
        return NULL;
    if (d.len != PCC_TPM_PCR_SIZE || pcr >= PCC_TPM_PCR_MAX) {
        PyBuffer_Release(&d);
        return pcc_py_raise(PCC_E_INVALID, "extend needs a PCR below 16 and 48 bytes of data");
    }
    if (lock_tpm(self) < 0) {
        PyBuffer_Release(&d);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_pcr_extend(self->t, pcr, d.buf);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    PyBuffer_Release(&d);
    if (st != PCC_OK)
        return tpm_raise(self, st, "PCR_Extend");
    Py_RETURN_NONE;
}

static PyObject *tpm_pcr_read(TpmObject *self, PyObject *arg)
{
    uint8_t v[PCC_TPM_PCR_SIZE];
    unsigned long pcr = PyLong_AsUnsignedLong(arg);
    pcc_status st;
    if (pcr == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    if (pcr >= 24)
        return pcc_py_raise(PCC_E_INVALID, "PCR index must be below 24");
    if (lock_tpm(self) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_pcr_read(self->t, (unsigned)pcr, v);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    if (st == PCC_E_UNSUPPORTED)
        return pcc_py_raise(st, "the TPM's SHA-384 PCR bank is not active");
    if (st != PCC_OK)
        return tpm_raise(self, st, "PCR_Read");
    return PyBytes_FromStringAndSize((const char *)v, sizeof v);
}

static PyObject *tpm_quote(TpmObject *self, PyObject *args)
{
    Py_buffer extra, pcrs;
    uint8_t attest[PCC_TPM_ATTEST_MAX], sig[PCC_TPM_SIG_MAX];
    size_t attest_len = 0, sig_len = 0;
    pcc_status st;
    if (!PyArg_ParseTuple(args, "y*y*", &extra, &pcrs))
        return NULL;
    if (extra.len > PCC_TPM_EXTRA_MAX || pcrs.len < 1 || pcrs.len > PCC_TPM_PCR_MAX) {
        PyBuffer_Release(&extra);
        PyBuffer_Release(&pcrs);
        return pcc_py_raise(PCC_E_INVALID,
                            "quote needs at most 64 bytes of qualifying data and 1 to 16 PCRs");
    }
    if (lock_tpm(self) < 0) {
        PyBuffer_Release(&extra);
        PyBuffer_Release(&pcrs);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_quote(self->t, attest, &attest_len, sizeof attest, sig, &sig_len, sizeof sig,
                       extra.buf, (size_t)extra.len, pcrs.buf, (size_t)pcrs.len);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    PyBuffer_Release(&extra);
    PyBuffer_Release(&pcrs);
    if (st == PCC_E_INVALID)
        return pcc_py_raise(st, "PCRs must be distinct and below 16");
    if (st == PCC_E_STATE)
        return pcc_py_raise(st, "no attestation key: call ak_create first");
    if (st != PCC_OK)
        return tpm_raise(self, st, "Quote");
    return Py_BuildValue("(y#y#)", attest, (Py_ssize_t)attest_len, sig, (Py_ssize_t)sig_len);
}

static PyObject *tpm_sign(TpmObject *self, PyObject *arg)
{
    Py_buffer msg;
    uint8_t der[PCC_TPM_SIG_DER_MAX];
    size_t der_len = 0;
    pcc_status st;
    if (PyObject_GetBuffer(arg, &msg, PyBUF_SIMPLE) < 0)
        return NULL;
    if (lock_tpm(self) < 0) {
        PyBuffer_Release(&msg);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_sign(self->t, der, &der_len, sizeof der, msg.buf, (size_t)msg.len);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    PyBuffer_Release(&msg);
    if (st == PCC_E_STATE)
        return pcc_py_raise(st, "no attestation key: call ak_create first");
    if (st == PCC_E_VERIFY)
        return pcc_py_raise(PCC_E_STATE, "the TPM refused to sign this message with the "
                                         "attestation key (it starts like TPM-generated data)");
    if (st != PCC_OK)
        return tpm_raise(self, st, "Sign");
    return PyBytes_FromStringAndSize((const char *)der, (Py_ssize_t)der_len);
}

static PyObject *tpm_ek_cert(TpmObject *self, PyObject *unused)
{
    uint8_t *buf;
    size_t len = 0;
    pcc_status st;
    PyObject *r;
    (void)unused;
    if ((buf = PyMem_Malloc(PCC_TPM_CERT_MAX)) == NULL)
        return PyErr_NoMemory();
    if (lock_tpm(self) < 0) {
        PyMem_Free(buf);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_ek_cert(self->t, buf, &len, PCC_TPM_CERT_MAX);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    r = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len)
                     : tpm_raise(self, st, "NV_Read (EK certificate)");
    PyMem_Free(buf);
    return r;
}

static PyObject *tpm_ek_public(TpmObject *self, PyObject *unused)
{
    uint8_t spki[512];
    size_t len = 0;
    pcc_status st;
    (void)unused;
    if (lock_tpm(self) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_ek_public(self->t, spki, &len, sizeof spki);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    if (st != PCC_OK)
        return tpm_raise(self, st, "CreatePrimary (endorsement key)");
    return PyBytes_FromStringAndSize((const char *)spki, (Py_ssize_t)len);
}

static PyObject *tpm_activate_credential(TpmObject *self, PyObject *args)
{
    Py_buffer blob, secret;
    uint8_t cred[64];
    size_t len = 0;
    pcc_status st;
    PyObject *r;
    if (!PyArg_ParseTuple(args, "y*y*", &blob, &secret))
        return NULL;
    if (lock_tpm(self) < 0) {
        PyBuffer_Release(&blob);
        PyBuffer_Release(&secret);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_activate_credential(self->t, cred, &len, sizeof cred, blob.buf,
                                     (size_t)blob.len, secret.buf, (size_t)secret.len);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    PyBuffer_Release(&blob);
    PyBuffer_Release(&secret);
    if (st == PCC_E_FORMAT)
        r = pcc_py_raise(st, "credential blob or secret has a bad size");
    else if (st == PCC_E_STATE)
        r = pcc_py_raise(st, "no attestation key: call ak_create first");
    else if (st != PCC_OK)
        r = tpm_raise(self, st, "ActivateCredential");
    else
        r = PyBytes_FromStringAndSize((const char *)cred, (Py_ssize_t)len);
    pcc_wipe(cred, sizeof cred);
    return r;
}

static PyObject *tpm_ak_duplicate(TpmObject *self, PyObject *unused)
{
    pcc_status st;
    (void)unused;
    if (lock_tpm(self) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_ak_duplicate(self->t);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    if (st == PCC_E_STATE)
        return pcc_py_raise(st, "no attestation key: call ak_create first");
    if (st != PCC_OK)
        return tpm_raise(self, st, "Duplicate");
    Py_RETURN_NONE;
}

static PyObject *tpm_shutdown(TpmObject *self, PyObject *unused)
{
    pcc_status st;
    (void)unused;
    if (lock_tpm(self) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_shutdown(self->t);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(self->lock);
    if (st != PCC_OK)
        return tpm_raise(self, st, "Shutdown");
    Py_RETURN_NONE;
}

static PyObject *tpm_last_rc(TpmObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLong(self->t != NULL ? pcc_tpm_last_rc(self->t) : 0);
}

static PyMethodDef tpm_methods[] = {
    {"close", (PyCFunction)tpm_close, METH_NOARGS, "close() -> flush the keys, disconnect."},
    {"ak_create", (PyCFunction)tpm_ak_create, METH_O,
     "ak_create(unique) -> create the attestation key (primary, owner hierarchy, P-384)."},
    {"ak_public", (PyCFunction)tpm_ak_public, METH_NOARGS,
     "ak_public() -> the attestation key's marshalled TPMT_PUBLIC."},
    {"pcr_extend", (PyCFunction)tpm_pcr_extend, METH_VARARGS,
     "pcr_extend(pcr, data48) -> PCR_Extend on the SHA-384 bank."},
    {"pcr_read", (PyCFunction)tpm_pcr_read, METH_O, "pcr_read(pcr) -> 48-byte SHA-384 PCR."},
    {"quote", (PyCFunction)tpm_quote, METH_VARARGS,
     "quote(extra, pcrs) -> (TPMS_ATTEST, marshalled TPMT_SIGNATURE)."},
    {"sign", (PyCFunction)tpm_sign, METH_O,
     "sign(msg) -> DER ECDSA P-384/SHA-384 signature by the attestation key."},
    {"ek_cert", (PyCFunction)tpm_ek_cert, METH_NOARGS,
     "ek_cert() -> the RSA EK certificate (DER) from NV 0x01c00002."},
    {"ek_public", (PyCFunction)tpm_ek_public, METH_NOARGS,
     "ek_public() -> SPKI DER of the RSA 2048 EK (default template)."},
    {"activate_credential", (PyCFunction)tpm_activate_credential, METH_VARARGS,
     "activate_credential(blob, secret) -> the credential (VerifyError if the TPM refuses)."},
    {"ak_duplicate", (PyCFunction)tpm_ak_duplicate, METH_NOARGS,
     "ak_duplicate() -> None if the TPM exported the key; VerifyError when it refuses."},
    {"shutdown", (PyCFunction)tpm_shutdown, METH_NOARGS,
     "shutdown() -> flush the keys, TPM2_Shutdown(CLEAR) (an orderly shutdown)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef tpm_getset[] = {
    {"last_rc", (getter)tpm_last_rc, NULL, "Response code of the last failed TPM call.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot tpm_slots[] = {
    {Py_tp_doc, "A connection to a TPM 2.0 (from tpm_open)."},
    {Py_tp_dealloc, tpm_dealloc},
    {Py_tp_methods, tpm_methods},
    {Py_tp_getset, tpm_getset},
    {0, NULL},
};

static PyType_Spec tpm_spec = {
    "pcc._core.Tpm", sizeof(TpmObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, tpm_slots,
};

/* ---- checks without a TPM ------------------------------------------------------------------- */

static PyObject *info_tuple(const pcc_tpm_quote_info *q)
{
    return Py_BuildValue("{s:y#,s:y#,s:K,s:k,s:k,s:O,s:K,s:H,s:k,s:y#}", "signer_name",
                         q->signer_name, (Py_ssize_t)q->signer_name_len, "extra_data",
                         q->extra_data, (Py_ssize_t)q->extra_data_len, "clock",
                         (unsigned long long)q->clock, "reset_count",
                         (unsigned long)q->reset_count, "restart_count",
                         (unsigned long)q->restart_count, "safe", q->safe ? Py_True : Py_False,
                         "firmware_version", (unsigned long long)q->firmware_version, "pcr_bank",
                         (unsigned short)q->pcr_bank, "pcr_mask", (unsigned long)q->pcr_mask,
                         "pcr_digest", q->pcr_digest, (Py_ssize_t)q->pcr_digest_len);
}

static PyObject *py_attest_parse(PyObject *m, PyObject *arg)
{
    Py_buffer a;
    pcc_tpm_quote_info q;
    pcc_status st;
    (void)m;
    if (PyObject_GetBuffer(arg, &a, PyBUF_SIMPLE) < 0)
        return NULL;
    st = pcc_tpm_attest_parse(&q, a.buf, (size_t)a.len);
    PyBuffer_Release(&a);
    if (st != PCC_OK)
        return pcc_py_raise(st, "not a well-formed TPMS_ATTEST quote");
    return info_tuple(&q);
}

static PyObject *py_quote_verify(PyObject *m, PyObject *args)
{
    Py_buffer attest, sig, spki, extra, pcrs, values;
    pcc_tpm_quote_info q;
    pcc_status st = PCC_E_INVALID;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*", &attest, &sig, &spki, &extra, &pcrs, &values))
        return NULL;
    if (pcrs.len >= 1 && values.len == pcrs.len * PCC_TPM_PCR_SIZE) {
        Py_BEGIN_ALLOW_THREADS
        st = pcc_tpm_quote_verify(&q, attest.buf, (size_t)attest.len, sig.buf, (size_t)sig.len,
                                  spki.buf, (size_t)spki.len, extra.buf, (size_t)extra.len,
                                  pcrs.buf, values.buf, (size_t)pcrs.len);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&attest);
    PyBuffer_Release(&sig);
    PyBuffer_Release(&spki);
    PyBuffer_Release(&extra);
    PyBuffer_Release(&pcrs);
    PyBuffer_Release(&values);
    if (st == PCC_E_INVALID)
        return pcc_py_raise(st, "quote verify needs an EC P-256/P-384 SPKI, 1 to 16 distinct "
                                "PCRs below 16 and 48 bytes of expected value per PCR");
    if (st == PCC_E_FORMAT)
        return pcc_py_raise(st, "malformed TPM quote or signature");
    if (st != PCC_OK)
        return pcc_py_raise(st, NULL);
    return info_tuple(&q);
}

static PyObject *py_ak_check(PyObject *m, PyObject *arg)
{
    Py_buffer pub;
    uint8_t spki[PCC_TPM_SPKI_MAX], name[PCC_TPM_NAME_MAX];
    size_t spki_len = 0, name_len = 0;
    pcc_status st;
    (void)m;
    if (PyObject_GetBuffer(arg, &pub, PyBUF_SIMPLE) < 0)
        return NULL;
    st = pcc_tpm_ak_check(spki, &spki_len, sizeof spki, name, &name_len, sizeof name, pub.buf,
                          (size_t)pub.len);
    PyBuffer_Release(&pub);
    if (st == PCC_E_FORMAT)
        return pcc_py_raise(st, "not a well-formed TPMT_PUBLIC");
    if (st == PCC_E_VERIFY)
        return pcc_py_raise(st, NULL);
    if (st != PCC_OK)
        return pcc_py_raise(st, "attestation key check");
    return Py_BuildValue("(y#y#)", spki, (Py_ssize_t)spki_len, name, (Py_ssize_t)name_len);
}

static PyObject *py_make_credential(PyObject *m, PyObject *args)
{
    Py_buffer ek, cred, name;
    uint8_t blob[PCC_TPM_ID_OBJECT_MAX], secret[PCC_TPM_SECRET_MAX];
    size_t blob_len = 0, secret_len = 0;
    pcc_status st;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*y*y*", &ek, &cred, &name))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_make_credential(blob, &blob_len, sizeof blob, secret, &secret_len, sizeof secret,
                                 ek.buf, (size_t)ek.len, cred.buf, (size_t)cred.len, name.buf,
                                 (size_t)name.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&ek);
    PyBuffer_Release(&cred);
    PyBuffer_Release(&name);
    if (st == PCC_E_INVALID)
        return pcc_py_raise(st, "make_credential needs a 1..32-byte credential and a TPM name");
    if (st == PCC_E_FORMAT)
        return pcc_py_raise(st, "the EK public key is not a well-formed SPKI");
    if (st == PCC_E_UNSUPPORTED)
        return pcc_py_raise(st, "only RSA 2048 endorsement keys are supported");
    if (st != PCC_OK)
        return pcc_py_raise(st, "make_credential");
    return Py_BuildValue("(y#y#)", blob, (Py_ssize_t)blob_len, secret, (Py_ssize_t)secret_len);
}

static PyObject *py_ek_cert_check(PyObject *m, PyObject *args)
{
    Py_buffer cert, roots, inter;
    long long now;
    uint8_t spki[1024];
    size_t len = 0;
    pcc_status st;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*y*y*L", &cert, &roots, &inter, &now))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tpm_ek_cert_check(spki, &len, sizeof spki, cert.buf, (size_t)cert.len, roots.buf,
                               (size_t)roots.len, inter.buf, (size_t)inter.len, (int64_t)now);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&cert);
    PyBuffer_Release(&roots);
    PyBuffer_Release(&inter);
    if (st == PCC_E_FORMAT)
        return pcc_py_raise(st, "EK certificate or manufacturer roots are not well-formed");
    if (st == PCC_E_INVALID)
        return pcc_py_raise(st, "at least one manufacturer root is needed");
    if (st != PCC_OK)
        return pcc_py_raise(st, NULL);
    return PyBytes_FromStringAndSize((const char *)spki, (Py_ssize_t)len);
}

static PyObject *py_event_data(PyObject *m, PyObject *args)
{
    Py_buffer name, dig;
    uint8_t out[PCC_TPM_PCR_SIZE];
    pcc_status st = PCC_E_INVALID;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*y*", &name, &dig))
        return NULL;
    if (dig.len == PCC_TPM_PCR_SIZE)
        st = pcc_tpm_event_data(out, name.buf, (size_t)name.len, dig.buf);
    PyBuffer_Release(&name);
    PyBuffer_Release(&dig);
    if (st != PCC_OK)
        return pcc_py_raise(st, "event digest must be 48 bytes");
    return PyBytes_FromStringAndSize((const char *)out, sizeof out);
}

static PyObject *py_ak_cert_key(PyObject *m, PyObject *arg)
{
    Py_buffer cert;
    uint8_t spki[1024];
    size_t len = 0;
    pcc_status st;
    (void)m;
    if (PyObject_GetBuffer(arg, &cert, PyBUF_SIMPLE) < 0)
        return NULL;
    st = pcc_tpm_ak_cert_key(spki, &len, sizeof spki, cert.buf, (size_t)cert.len);
    PyBuffer_Release(&cert);
    if (st == PCC_E_VERIFY)
        return pcc_py_raise(st, NULL);
    if (st != PCC_OK)
        return pcc_py_raise(st, "not a well-formed certificate");
    return PyBytes_FromStringAndSize((const char *)spki, (Py_ssize_t)len);
}

/* _bench_tpm_raw_verify(n, spki, msg, der_sig) -> seconds (wall) for n raw EVP_DigestVerify
 * ECDSA/SHA-384 verifications of msg under the key, loaded once: the baseline of verify_quote. */
static PyObject *py_bench_raw_verify(PyObject *m, PyObject *args)
{
    Py_ssize_t n;
    Py_buffer spki, msg, sig;
    EVP_PKEY *key = NULL;
    const unsigned char *p;
    int ok = 0;
    double t0 = 0, t1 = 0;
    struct timespec ts;
    (void)m;
    if (!PyArg_ParseTuple(args, "ny*y*y*", &n, &spki, &msg, &sig))
        return NULL;
    p = spki.buf;
    key = d2i_PUBKEY(NULL, &p, (long)spki.len);
    ok = key != NULL;
    Py_BEGIN_ALLOW_THREADS
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    for (Py_ssize_t i = 0; i < n && ok; i++) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        ok = c != NULL && EVP_DigestVerifyInit(c, NULL, EVP_sha384(), NULL, key) == 1 &&
             EVP_DigestVerify(c, sig.buf, (size_t)sig.len, msg.buf, (size_t)msg.len) == 1;
        EVP_MD_CTX_free(c);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t1 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    Py_END_ALLOW_THREADS
    EVP_PKEY_free(key);
    PyBuffer_Release(&spki);
    PyBuffer_Release(&msg);
    PyBuffer_Release(&sig);
    if (!ok)
        return pcc_py_raise(PCC_E_CRYPTO, NULL);
    return PyFloat_FromDouble(t1 - t0);
}

static PyMethodDef tpm_funcs[] = {
    {"tpm_open", py_tpm_open, METH_O, "tpm_open(tcti) -> Tpm connected through that TCTI."},
    {"tpm_attest_parse", py_attest_parse, METH_O,
     "tpm_attest_parse(attest) -> dict of a TPMS_ATTEST quote's fields (no verification)."},
    {"tpm_quote_verify", py_quote_verify, METH_VARARGS,
     "tpm_quote_verify(attest, sig, spki, extra, pcrs, values) -> dict; VerifyError otherwise."},
    {"tpm_ak_check", py_ak_check, METH_O,
     "tpm_ak_check(tpmt_public) -> (spki_der, name) if it is a non-exportable restricted "
     "signing key."},
    {"tpm_make_credential", py_make_credential, METH_VARARGS,
     "tpm_make_credential(ek_spki, credential, name) -> (credential_blob, secret)."},
    {"tpm_ek_cert_check", py_ek_cert_check, METH_VARARGS,
     "tpm_ek_cert_check(cert_der, roots_pem, intermediates_pem, now) -> EK SPKI DER."},
    {"tpm_event_data", py_event_data, METH_VARARGS,
     "tpm_event_data(name, digest48) -> SHA-384(SHA-384(name) || digest)."},
    {"tpm_ak_cert_key", py_ak_cert_key, METH_O,
     "tpm_ak_cert_key(cert_der) -> SPKI DER if the certificate has the TPM AK extended key usage."},
    {"_bench_tpm_raw_verify", py_bench_raw_verify, METH_VARARGS,
     "_bench_tpm_raw_verify(n, spki, msg, der_sig) -> seconds for n raw ECDSA/SHA-384 verifies."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_tpm_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &tpm_spec, NULL) == NULL ||
        PyModule_AddStringConstant(m, "TPM_AK_EKU_OID", PCC_TPM_AK_EKU_OID) < 0)
        return -1;
    return PyModule_AddFunctions(m, tpm_funcs);
}
