/* py_provision.c: pcc._core glue for the provisioning CA. Use pcc.provision.
 *
 * The root key never becomes a Python object: it is read from a file descriptor into secure
 * memory (provision_ca_load) and written to one from secure memory (ProvisionCA.write_key). */
#include "pymod.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pcc/provision.h"
#include "pcc/secure.h"

typedef struct {
    PyObject_HEAD
    pcc_provision_ca *ca;
} CaObject;

static const char CSR_FORMAT[] =
    "malformed certificate request: expected one DER PKCS#10 request (version 1) whose subject "
    "has exactly one serialNumber of 1-64 characters A-Z a-z 0-9 - . :";
static const char CSR_UNSUPPORTED[] =
    "unsupported certificate request: the key must be EC P-384 (named curve) and the signature "
    "ECDSA with SHA-384";

static PyObject *raise_csr(pcc_status st)
{
    return pcc_py_raise(st, st == PCC_E_FORMAT        ? CSR_FORMAT
                            : st == PCC_E_UNSUPPORTED ? CSR_UNSUPPORTED
                                                      : "certificate request");
}

static PyObject *wrap_ca(PyObject *m, pcc_provision_ca *ca)
{
    PyTypeObject *tp = pcc_py_module_type(m, "ProvisionCA");
    if (tp == NULL) {
        pcc_provision_ca_free(ca);
        return NULL;
    }
    CaObject *o = (CaObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (o == NULL) {
        pcc_provision_ca_free(ca);
        return NULL;
    }
    o->ca = ca;
    return (PyObject *)o;
}

/* validity: now (unix seconds) and days from Python ints, checked. */
static int validity(PyObject *now_obj, PyObject *days_obj, int64_t *now, uint32_t *days)
{
    long long n = PyLong_AsLongLong(now_obj);
    if (n == -1 && PyErr_Occurred())
        return -1;
    long long d = PyLong_AsLongLong(days_obj);
    if (d == -1 && PyErr_Occurred())
        return -1;
    if (d < 1 || d > PCC_PROVISION_MAX_DAYS) {
        pcc_py_raise(PCC_E_INVALID, "days must be between 1 and 36500");
        return -1;
    }
    if (n < 0 || n > 253402300799LL - d * 86400) {
        pcc_py_raise(PCC_E_INVALID, "now must be unix seconds such that now + days is before 10000");
        return -1;
    }
    *now = (int64_t)n;
    *days = (uint32_t)d;
    return 0;
}

/* ---- ProvisionCA ---- */

static void ca_dealloc(CaObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_provision_ca_free(self->ca);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *ca_root_der(CaObject *self, PyObject *unused)
{
    (void)unused;
    uint8_t buf[PCC_PROVISION_MAX_CERT];
    size_t len = 0;
    pcc_status st = pcc_provision_ca_root_der(self->ca, buf, &len, sizeof buf);
    if (st != PCC_OK)
        return pcc_py_raise(st, "root certificate encoding");
    return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
}

static PyObject *ca_write_key(CaObject *self, PyObject *arg)
{
    int fd = PyObject_AsFileDescriptor(arg);
    if (fd < 0)
        return NULL;
    uint8_t *buf = pcc_secure_alloc(PCC_PROVISION_MAX_KEY_PEM);
    if (buf == NULL)
        return pcc_py_raise(PCC_E_NOMEM, NULL);
    size_t len = 0;
    int err = 0;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_provision_ca_key_pem(self->ca, buf, &len, PCC_PROVISION_MAX_KEY_PEM);
    size_t done = 0;
    while (st == PCC_OK && done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            break;
        }
        done += (size_t)w;
    }
    Py_END_ALLOW_THREADS
    pcc_secure_free(buf);
    if (st != PCC_OK)
        return pcc_py_raise(st, "root key encoding");
    if (err != 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* inventory borrows the serials of inv_obj (a sequence of str) as UTF-8 for one call: *inv
 * receives the tuple that keeps them alive (the caller releases it, and frees the array), *n
 * their count. NULL with an exception set on error. */
static const char **inventory(PyObject *inv_obj, PyObject **inv, Py_ssize_t *n)
{
    const char **serials;
    if ((*inv = PySequence_Tuple(inv_obj)) == NULL)
        return NULL;
    *n = PyTuple_GET_SIZE(*inv);
    if ((serials = PyMem_Calloc((size_t)*n + 1, sizeof *serials)) == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        PyObject *item = PyTuple_GET_ITEM(*inv, i);
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "inventory must hold str serials");
            PyMem_Free(serials);
            return NULL;
        }
        if ((serials[i] = PyUnicode_AsUTF8(item)) == NULL) {
            PyMem_Free(serials);
            return NULL;
        }
    }
    return serials;
}

static PyObject *ca_issue(CaObject *self, PyObject *args)
{
    Py_buffer csr;
    PyObject *inv_obj, *now_obj, *days_obj;
    if (!PyArg_ParseTuple(args, "y*OOO", &csr, &inv_obj, &now_obj, &days_obj))
        return NULL;
    PyObject *res = NULL, *inv = NULL;
    const char **serials = NULL;
    int64_t now;
    uint32_t days;
    if (validity(now_obj, days_obj, &now, &days) < 0)
        goto out;
    Py_ssize_t n = 0;
    if ((serials = inventory(inv_obj, &inv, &n)) == NULL)
        goto out;
    uint8_t buf[PCC_PROVISION_MAX_CERT];
    char serial[PCC_PROVISION_MAX_SERIAL + 1];
    size_t len = 0;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_provision_ca_issue(self->ca, buf, &len, sizeof buf, serial, sizeof serial,
                                (const uint8_t *)csr.buf, (size_t)csr.len, serials, (size_t)n,
                                now, days);
    Py_END_ALLOW_THREADS
    if (st == PCC_OK) {
        res = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
    } else if (st == PCC_E_UNKNOWN_KEY) {
        char msg[PCC_PROVISION_MAX_SERIAL + 96];
        snprintf(msg, sizeof msg, "serial '%s' is not in the CA's inventory (add it with "
                 "`pcc ca add-serial`)", serial);
        pcc_py_raise(st, msg);
    } else {
        raise_csr(st);
    }
out:
    PyMem_Free(serials);
    Py_XDECREF(inv);
    PyBuffer_Release(&csr);
    return res;
}

/* issue_ak(spki, serial, inventory, now, days): the serial must be in inventory; the Python
 * caller runs the credential challenge first */
static PyObject *ca_issue_ak(CaObject *self, PyObject *args)
{
    Py_buffer spki;
    const char *serial;
    Py_ssize_t serial_len;
    PyObject *inv_obj, *now_obj, *days_obj;
    if (!PyArg_ParseTuple(args, "y*s#OOO", &spki, &serial, &serial_len, &inv_obj, &now_obj,
                          &days_obj))
        return NULL;
    PyObject *res = NULL, *inv = NULL;
    const char **serials = NULL;
    int64_t now;
    uint32_t days;
    if (validity(now_obj, days_obj, &now, &days) < 0)
        goto out;
    Py_ssize_t n = 0;
    if ((serials = inventory(inv_obj, &inv, &n)) == NULL)
        goto out;
    uint8_t buf[PCC_PROVISION_MAX_CERT];
    size_t len = 0;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_provision_ca_issue_ak(self->ca, buf, &len, sizeof buf, (const uint8_t *)spki.buf,
                                   (size_t)spki.len, serial, (size_t)serial_len, serials,
                                   (size_t)n, now, days);
    Py_END_ALLOW_THREADS
    if (st == PCC_OK)
        res = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)len);
    else if (st == PCC_E_UNKNOWN_KEY)
        pcc_py_raise(st, "the serial is not in the CA's inventory (add it with "
                         "`pcc ca add-serial`)");
    else if (st == PCC_E_INVALID)
        pcc_py_raise(st, "invalid serial or validity");
    else
        pcc_py_raise(st, "the attestation key is not an EC P-384 SubjectPublicKeyInfo");
out:
    PyMem_Free(serials);
    Py_XDECREF(inv);
    PyBuffer_Release(&spki);
    return res;
}

static PyMethodDef ca_methods[] = {
    {"root_der", (PyCFunction)ca_root_der, METH_NOARGS, "root_der() -> root certificate DER."},
    {"write_key", (PyCFunction)ca_write_key, METH_O,
     "write_key(fd) -> None: write the root key (PEM PKCS#8) to a file descriptor. "
     "WARNING: exports the secret key."},
    {"issue", (PyCFunction)ca_issue, METH_VARARGS,
     "issue(csr_der, inventory, now, days) -> node certificate DER (the request's serial must be "
     "in inventory, a sequence of str; UnknownKeyError otherwise)."},
    {"issue_ak", (PyCFunction)ca_issue_ak, METH_VARARGS,
     "issue_ak(spki, serial, inventory, now, days) -> node certificate DER for a TPM "
     "attestation key, with the tcg-kp-AIKCertificate extended key usage (only after the "
     "credential challenge succeeded)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot ca_slots[] = {
    {Py_tp_doc, "A provisioning CA (root key in secure memory). Use pcc.provision.CA."},
    {Py_tp_dealloc, ca_dealloc},
    {Py_tp_methods, ca_methods},
    {0, NULL},
};

static PyType_Spec ca_spec = {
    "pcc._core.ProvisionCA", sizeof(CaObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, ca_slots,
};

/* ---- module functions ---- */

static PyObject *py_ca_generate(PyObject *m, PyObject *args)
{
    const char *name;
    Py_ssize_t name_len;
    PyObject *now_obj, *days_obj;
    if (!PyArg_ParseTuple(args, "s#OO", &name, &name_len, &now_obj, &days_obj))
        return NULL;
    int64_t now;
    uint32_t days;
    if (validity(now_obj, days_obj, &now, &days) < 0)
        return NULL;
    pcc_provision_ca *ca = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_provision_ca_generate(&ca, name, (size_t)name_len, now, days);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_INVALID
                                    ? "name must be 1-64 bytes of UTF-8 without control characters"
                                    : "CA generation");
    return wrap_ca(m, ca);
}

static PyObject *py_ca_load(PyObject *m, PyObject *args)
{
    PyObject *fd_obj;
    Py_buffer cert;
    if (!PyArg_ParseTuple(args, "Oy*", &fd_obj, &cert))
        return NULL;
    PyObject *res = NULL;
    uint8_t *buf = NULL;
    int fd = PyObject_AsFileDescriptor(fd_obj);
    if (fd < 0)
        goto out;
    /* one byte more than the limit, to tell a full file from an oversized one */
    if ((buf = pcc_secure_alloc(PCC_PROVISION_MAX_KEY_PEM + 1)) == NULL) {
        pcc_py_raise(PCC_E_NOMEM, NULL);
        goto out;
    }
    size_t len = 0;
    int err = 0;
    pcc_provision_ca *ca = NULL;
    pcc_status st = PCC_OK;
    Py_BEGIN_ALLOW_THREADS
    while (len <= PCC_PROVISION_MAX_KEY_PEM) {
        ssize_t r = read(fd, buf + len, PCC_PROVISION_MAX_KEY_PEM + 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (err == 0)
        st = len > PCC_PROVISION_MAX_KEY_PEM
                 ? PCC_E_FORMAT
                 : pcc_provision_ca_load(&ca, buf, len, (const uint8_t *)cert.buf,
                                         (size_t)cert.len);
    Py_END_ALLOW_THREADS
    if (err != 0) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        goto out;
    }
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_FORMAT
                             ? "root key or certificate is damaged or they do not belong together "
                               "(expected a PEM PKCS#8 P-384 key and its self-signed CA "
                               "certificate)"
                             : "CA load");
        goto out;
    }
    res = wrap_ca(m, ca);
out:
    pcc_secure_free(buf);
    PyBuffer_Release(&cert);
    return res;
}

static PyObject *py_csr_serial(PyObject *m, PyObject *args)
{
    (void)m;
    Py_buffer csr;
    if (!PyArg_ParseTuple(args, "y*", &csr))
        return NULL;
    char serial[PCC_PROVISION_MAX_SERIAL + 1];
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_provision_csr_serial(serial, sizeof serial, (const uint8_t *)csr.buf,
                                  (size_t)csr.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&csr);
    if (st != PCC_OK)
        return raise_csr(st);
    return PyUnicode_DecodeASCII(serial, (Py_ssize_t)strlen(serial), "strict");
}

static PyObject *py_serial_ok(PyObject *m, PyObject *arg)
{
    (void)m;
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &len);
    if (s == NULL)
        return NULL;
    return PyBool_FromLong(pcc_provision_serial_ok(s, (size_t)len));
}

static PyMethodDef provision_funcs[] = {
    {"provision_ca_generate", py_ca_generate, METH_VARARGS,
     "provision_ca_generate(name, now, days) -> ProvisionCA (a fresh P-384 root)."},
    {"provision_ca_load", py_ca_load, METH_VARARGS,
     "provision_ca_load(key_fd, root_der) -> ProvisionCA (the key is read from key_fd)."},
    {"provision_csr_serial", py_csr_serial, METH_VARARGS,
     "provision_csr_serial(csr_der) -> serial named by a checked certificate request."},
    {"provision_serial_ok", py_serial_ok, METH_O,
     "provision_serial_ok(serial) -> whether serial is a valid hardware serial."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_provision_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &ca_spec, NULL) == NULL)
        return -1;
    if (PyModule_AddFunctions(m, provision_funcs) < 0)
        return -1;
    if (PyModule_AddIntConstant(m, "PROVISION_MAX_SERIAL", PCC_PROVISION_MAX_SERIAL) < 0 ||
        PyModule_AddIntConstant(m, "PROVISION_MAX_DAYS", PCC_PROVISION_MAX_DAYS) < 0 ||
        PyModule_AddIntConstant(m, "PROVISION_MAX_CSR", PCC_PROVISION_MAX_CSR) < 0)
        return -1;
    return 0;
}
