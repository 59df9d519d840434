/* py_worker.c: pcc._core glue for request workers (pcc/worker.h).
 *
 * WorkerHost is a host's worker factory: it loads the model once (one thread: a pool does not
 * survive fork) and spawn() forks a sandboxed worker onto two channel descriptors. The worker is
 * C from fork to _exit; no Python runs in it. worker_unwrap_reply is the enclave's side of one
 * unwrap. */
#include "pymod.h"

#include <string.h>

#include "pcc/llm.h"
#include "pcc/llm_kernels.h"
#include "pcc/sandbox.h"
#include "pcc/worker.h"

typedef struct {
    PyObject_HEAD
    pcc_llm_model *model;
    pcc_sandbox_filter *filter;
    pcc_worker_config cfg;
} HostObject;

static void host_dealloc(HostObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_llm_model_free(self->model);
    pcc_sandbox_filter_free(self->filter);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *host_spawn(HostObject *self, PyObject *args)
{
    int chan, enclave;
    pid_t pid = -1;
    if (!PyArg_ParseTuple(args, "ii:spawn", &chan, &enclave))
        return NULL;
    pcc_worker_config c = self->cfg;
    c.chan_fd = chan;
    c.enclave_fd = enclave;
    pcc_status st;
    /* fork with the GIL held: the child never returns to Python */
    st = pcc_worker_spawn(&c, &pid);
    if (st != PCC_OK)
        return pcc_py_raise(st, "could not fork a worker");
    return PyLong_FromLong((long)pid);
}

static PyMethodDef host_methods[] = {
    {"spawn", (PyCFunction)host_spawn, METH_VARARGS,
     "spawn(chan_fd, enclave_fd) -> pid: fork a worker that serves one request."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot host_slots[] = {
    {Py_tp_doc, "WorkerHost: forks sandboxed request workers over a loaded model."},
    {Py_tp_dealloc, host_dealloc},
    {Py_tp_methods, host_methods},
    {0, NULL},
};

static PyType_Spec host_spec = {
    "pcc._core.WorkerHost", sizeof(HostObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, host_slots,
};

static PyObject *py_worker_host(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"model_path", "node_id", "layers", "optional", "netns_fd",
                             "max_payload", "threads", NULL};
    const char *path;
    Py_buffer node_id;
    unsigned int layers = PCC_SANDBOX_ALL, optional = 0;
    int netns_fd = -1, threads = 1;
    Py_ssize_t max_payload = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sy*|IIini:worker_host", kwlist, &path, &node_id,
                                     &layers, &optional, &netns_fd, &max_payload, &threads))
        return NULL;
    PyObject *r = NULL;
    pcc_llm_model *model = NULL;
    if (node_id.len != PCC_REQUEST_NODE_ID_LEN || max_payload < 0 ||
        (layers & ~PCC_SANDBOX_ALL) != 0 || threads < 1 || threads > PCC_LLM_MAX_THREADS) {
        pcc_py_raise(PCC_E_INVALID,
                     "node_id is 32 bytes; layers, max_payload and threads in range");
        goto out;
    }
    pcc_llm_options opt = {0};
    opt.threads = 1;
    opt.kernels = PCC_KV_BEST;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_llm_model_load(&model, path, &opt);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, "model");
        goto out;
    }
    PyTypeObject *tp = pcc_py_module_type(m, "WorkerHost");
    HostObject *h = tp ? (HostObject *)tp->tp_alloc(tp, 0) : NULL;
    Py_XDECREF(tp);
    if (h == NULL) {
        pcc_llm_model_free(model);
        goto out;
    }
    h->model = model;
    /* the allow-list, compiled once for the numbers every worker's channels get */
    static const int worker_fds[2] = {PCC_WORKER_CHAN_FD, PCC_WORKER_ENCLAVE_FD};
    if ((st = pcc_sandbox_filter_new(&h->filter, worker_fds, 2)) != PCC_OK) {
        Py_DECREF(h);
        pcc_py_raise(st, "could not compile the system-call filter");
        goto out;
    }
    h->cfg.filter = h->filter;
    memcpy(h->cfg.node_id, node_id.buf, PCC_REQUEST_NODE_ID_LEN);
    h->cfg.max_payload = (size_t)max_payload;
    h->cfg.sandbox_layers = layers;
    h->cfg.sandbox_optional = optional;
    h->cfg.join_netns = netns_fd >= 0;
    h->cfg.netns_fd = netns_fd;
    h->cfg.gen = pcc_worker_llm_generator(model);
    h->cfg.engine = model; /* loaded with one thread: each worker starts its own */
    h->cfg.engine_threads = threads;
    r = (PyObject *)h;
out:
    PyBuffer_Release(&node_id);
    return r;
}

static int suite_of(int kem, int kdf, int aead, pcc_hpke_suite *s)
{
    if (kem < 0 || kem > 0xFFFF || kdf < 0 || kdf > 0xFFFF || aead < 0 || aead > 0xFFFF) {
        pcc_py_raise(PCC_E_INVALID, "algorithm identifier out of range");
        return 0;
    }
    s->kem = (uint16_t)kem;
    s->kdf = (uint16_t)kdf;
    s->aead = (uint16_t)aead;
    return 1;
}

/* worker_unwrap_reply(fd, [(key_id, sk, kem, kdf, aead)...], node_id) */
static PyObject *py_worker_unwrap_reply(PyObject *m, PyObject *args)
{
    int fd;
    PyObject *keys_o, *fast = NULL, *r = NULL;
    Py_buffer node_id;
    pcc_request_node_key keys[4];
    if (!PyArg_ParseTuple(args, "iOy*:worker_unwrap_reply", &fd, &keys_o, &node_id))
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
            !suite_of(kem, kdf, aead, &keys[i].suite))
            goto out;
    }
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_worker_unwrap_reply(fd, keys, (size_t)n, node_id.buf, (size_t)node_id.len);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_UNKNOWN_KEY ? "unknown key id"
                         : st == PCC_E_STATE    ? "worker channel failed"
                                                : "unwrap refused");
        goto out;
    }
    r = Py_NewRef(Py_None);
out:
    Py_XDECREF(fast);
    PyBuffer_Release(&node_id);
    return r;
}

static PyMethodDef worker_funcs[] = {
    {"worker_host", (PyCFunction)(void (*)(void))py_worker_host, METH_VARARGS | METH_KEYWORDS,
     "worker_host(model_path, node_id, layers=SANDBOX_ALL, optional=0, netns_fd=-1, "
     "max_payload=0, threads=1) -> WorkerHost."},
    {"worker_unwrap_reply", py_worker_unwrap_reply, METH_VARARGS,
     "worker_unwrap_reply(fd, keys, node_id) -> None: the enclave's side of one unwrap."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_worker_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &host_spec, NULL) == NULL)
        return -1;
    if (PyModule_AddIntConstant(m, "WORKER_EXIT_SANDBOX", PCC_WORKER_EXIT_SANDBOX) < 0 ||
        PyModule_AddIntConstant(m, "WORKER_EXIT_INVOKE", PCC_WORKER_EXIT_INVOKE) < 0 ||
        PyModule_AddIntConstant(m, "WORKER_EXIT_KEY", PCC_WORKER_EXIT_KEY) < 0 ||
        PyModule_AddIntConstant(m, "WORKER_EXIT_IO", PCC_WORKER_EXIT_IO) < 0)
        return -1;
    return PyModule_AddFunctions(m, worker_funcs);
}
