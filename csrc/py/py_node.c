/* py_node.c: pcc._core glue for the node's C loops (pcc/node.h). enclave_run and host_run take
 * over the process: they never return to Python, and the interpreter that called them stays
 * inert until the process _exits. */
#include "pymod.h"

#include <string.h>
#include <unistd.h>

#include "../node/chan_internal.h"
#include "pcc/node.h"
#include "pcc/sandbox.h"

/* enclave_run(ctrl_fd, host_fd, key_lifetime, aead=1, debug=False, tpm=None): never returns.
 * tpm: the TCTI string of the TPM (backend tpm); None for backend sim. */
static PyObject *py_enclave_run(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ctrl_fd", "host_fd", "key_lifetime", "aead", "debug", "tpm", NULL};
    int ctrl, host;
    unsigned long long life;
    int aead = 1, debug = 0;
    const char *tcti = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiK|ipz:enclave_run", kwlist, &ctrl, &host, &life,
                                     &aead, &debug, &tcti))
        return NULL;
    if (ctrl < 0 || host < 0 || life == 0 || life > PCC_NODE_KEY_LIFETIME_MAX || aead < 1 ||
        aead > 3 || (tcti != NULL && (tcti[0] == '\0' || strlen(tcti) > 1024)))
        return pcc_py_raise(PCC_E_INVALID, "enclave_run: descriptors, key lifetime, aead or tpm");
    pcc_node_enclave_config c = {ctrl, host, (uint64_t)life, (uint16_t)aead, debug, tcti};
    pcc_status st = pcc_node_enclave_run(&c);
    _exit(st == PCC_OK ? 0 : 1);
}

/* host_run(ctrl_fd, enclave_fd, models, layers, optional, max_payload, max_workers, max_tokens,
 * probe, pool, threads): never returns. models: a sequence of (name, path). */
static PyObject *py_host_run(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ctrl_fd", "enclave_fd", "models", "layers", "optional",
                             "max_payload", "max_workers", "max_tokens", "probe", "pool", "threads", NULL};
    int ctrl, enclave;
    PyObject *models_o, *fast = NULL;
    unsigned int layers = PCC_SANDBOX_ALL, optional = 0, max_workers = 4, max_tokens = 0, pool = 2;
    unsigned int threads = 1;
    int probe = 0;
    Py_ssize_t max_payload = 0;
    pcc_node_model models[PCC_NODE_MAX_MODELS];
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiO|IInIIpII:host_run", kwlist, &ctrl, &enclave,
                                     &models_o, &layers, &optional, &max_payload, &max_workers,
                                     &max_tokens, &probe, &pool, &threads))
        return NULL;
    if ((fast = PySequence_Fast(models_o, "models must be a sequence of (name, path)")) == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n < 1 || n > PCC_NODE_MAX_MODELS || max_payload < 0 || ctrl < 0 || enclave < 0) {
        Py_DECREF(fast);
        return pcc_py_raise(PCC_E_INVALID, "host_run: 1 to 8 models, descriptors, max_payload");
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *name, *path;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "ss", &name, &path)) {
            Py_DECREF(fast);
            return NULL;
        }
        models[i].name = name; /* borrowed from fast, which this process never releases */
        models[i].path = path;
    }
    pcc_node_host_config c = {ctrl, enclave, models, (size_t)n, layers, optional,
                              (size_t)max_payload, max_workers, max_tokens, probe, pool, threads};
    pcc_status st = pcc_node_host_run(&c);
    _exit(st == PCC_OK ? 0 : 1);
}

/* node_harden(): this process non-dumpable, without core files (the node's service). */
static PyObject *py_node_harden(PyObject *m, PyObject *unused)
{
    pcc_status st = pcc_chan_harden();
    if (st != PCC_OK)
        return pcc_py_raise(st, "node_harden");
    Py_RETURN_NONE;
}

static PyMethodDef node_funcs[] = {
    {"node_harden", py_node_harden, METH_NOARGS,
     "node_harden(): make this process non-dumpable, without core files."},
    {"enclave_run", (PyCFunction)(void (*)(void))py_enclave_run, METH_VARARGS | METH_KEYWORDS,
     "enclave_run(ctrl_fd, host_fd, key_lifetime, aead=1, debug=False, tpm=None): run the node's "
     "enclave loop in this process (backend tpm on the TPM named by the TCTI string tpm, else "
     "sim); never returns (the process exits when the control channel closes)."},
    {"host_run", (PyCFunction)(void (*)(void))py_host_run, METH_VARARGS | METH_KEYWORDS,
     "host_run(ctrl_fd, enclave_fd, models, layers, optional, max_payload, max_workers, "
     "max_tokens, probe, pool, threads): run the "
     "node's host loop in this process; never returns."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_node_exec(PyObject *m)
{
    static const struct {
        const char *name;
        long v;
    } consts[] = {
        {"NODE_EXIT_OVERLOADED", PCC_NODE_EXIT_OVERLOADED},
        {"NODE_EXIT_SPAWN", PCC_NODE_EXIT_SPAWN},
        {"NODE_EXIT_MODEL", PCC_NODE_EXIT_MODEL},
    };
    for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
        if (PyModule_AddIntConstant(m, consts[i].name, consts[i].v) < 0)
            return -1;
    return PyModule_AddFunctions(m, node_funcs);
}
