/* module.c: the pcc._core extension module (multi-phase init). */
#include "pymod.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "pcc/secure.h"

PyObject *pcc_py_raise(pcc_status st, const char *what)
{
    static const struct {
        pcc_status st;
        const char *cls;
        const char *fixed; /* message that replaces `what`, for oracle-free errors */
    } map[] = {
        {PCC_E_INVALID, "InvalidArgument", NULL},
        {PCC_E_FORMAT, "FormatError", NULL},
        {PCC_E_VERIFY, "VerifyError", "verification failed"},
        {PCC_E_DECRYPT, "DecryptError", "decryption failed"},
        {PCC_E_NOMEM, "OutOfMemory", "out of memory"},
        {PCC_E_CRYPTO, "CryptoError", "cryptographic primitive failed"},
        {PCC_E_STATE, "StateError", NULL},
        {PCC_E_LIMIT, "LimitError", NULL},
        {PCC_E_UNSUPPORTED, "UnsupportedError", NULL},
        {PCC_E_UNKNOWN_KEY, "UnknownKeyError", NULL},
    };
    ERR_clear_error();
    const char *cls = "PccError";
    const char *msg = what ? what : pcc_status_name(st);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (map[i].st == st) {
            cls = map[i].cls;
            if (map[i].fixed)
                msg = map[i].fixed;
            break;
        }
    }
    PyObject *mod = PyImport_ImportModule("pcc.errors");
    if (mod == NULL)
        return NULL;
    PyObject *exc = PyObject_GetAttrString(mod, cls);
    Py_DECREF(mod);
    if (exc == NULL)
        return NULL;
    PyErr_SetString(exc, msg);
    Py_DECREF(exc);
    return NULL;
}

PyTypeObject *pcc_py_add_type(PyObject *m, PyType_Spec *spec, PyObject *base)
{
    PyObject *t = PyType_FromModuleAndSpec(m, spec, base);
    if (t == NULL)
        return NULL;
    if (PyModule_AddType(m, (PyTypeObject *)t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    Py_DECREF(t); /* the module holds it */
    return (PyTypeObject *)t;
}

PyTypeObject *pcc_py_module_type(PyObject *m, const char *name)
{
    PyObject *t = PyObject_GetAttrString(m, name);
    if (t != NULL && !PyType_Check(t)) {
        Py_DECREF(t);
        PyErr_Format(PyExc_TypeError, "pcc._core.%s is not a type", name);
        return NULL;
    }
    return (PyTypeObject *)t;
}

static int core_exec(PyObject *m)
{
    /* OpenSSL's secure heap (locked, guarded, wiped) holds OpenSSL's copies of X25519/Ed25519
     * private keys and BN_secure_new scalars (P-256, RSA). Set it up here, before other threads
     * use OpenSSL. If it cannot be, X25519/Ed25519 key imports fail with OutOfMemory later
     * rather than use ordinary memory; the rest of the module works. */
    if (pcc_secure_openssl_init(PCC_SECURE_OPENSSL_HEAP) != PCC_OK)
        (void)0; /* reported by the key functions that need it */
#define PCC_PY_CALL(name) \
    if (pcc_py_##name##_exec != NULL && pcc_py_##name##_exec(m) < 0) \
        return -1;
    PCC_PY_MODULES(PCC_PY_CALL)
#undef PCC_PY_CALL
    return 0;
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL},
};

static struct PyModuleDef core_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pcc._core",
    .m_doc = "pcc C core: cryptography, secure memory and inference (use the pcc wrappers).",
    .m_size = 0,
    .m_slots = core_slots,
};

PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&core_def); }
