/* py_sandbox.c: pcc._core glue for the worker sandbox (pcc/sandbox.h).
 *
 * sandbox_apply sandboxes the calling process for good; it exists for the tests, which call it
 * in a child process, and for a worker launched from Python. Workers on a node apply it in C
 * right after fork. */
#include "pymod.h"

#include <limits.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pcc/sandbox.h"

/* ---- SandboxFilter ---------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pcc_sandbox_filter *f;
} FilterObject;

static void filter_dealloc(FilterObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_sandbox_filter_free(self->f);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot filter_slots[] = {
    {Py_tp_doc, "SandboxFilter: the system-call allow-list compiled once for given channels."},
    {Py_tp_dealloc, filter_dealloc},
    {0, NULL},
};

static PyType_Spec filter_spec = {
    "pcc._core.SandboxFilter", sizeof(FilterObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, filter_slots,
};

/* fds_arg parses a sequence of at most PCC_SANDBOX_MAX_FDS descriptors. */
static int fds_arg(PyObject *fds_o, int *fds, size_t *n_fds)
{
    *n_fds = 0;
    if (fds_o == NULL)
        return 1;
    PyObject *fast = PySequence_Fast(fds_o, "fds must be a sequence of int");
    if (fast == NULL)
        return 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > PCC_SANDBOX_MAX_FDS) {
        Py_DECREF(fast);
        pcc_py_raise(PCC_E_INVALID, "at most 8 channel descriptors");
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long fd = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (fd == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return 0;
        }
        if (fd < 0 || fd > INT_MAX) {
            Py_DECREF(fast);
            pcc_py_raise(PCC_E_INVALID, "a channel descriptor is a non-negative int");
            return 0;
        }
        fds[(*n_fds)++] = (int)fd;
    }
    Py_DECREF(fast);
    return 1;
}

static PyObject *py_sandbox_filter_new(PyObject *m, PyObject *arg)
{
    int fds[PCC_SANDBOX_MAX_FDS];
    size_t n_fds = 0;
    pcc_sandbox_filter *f = NULL;
    if (!fds_arg(arg, fds, &n_fds))
        return NULL;
    pcc_status st = pcc_sandbox_filter_new(&f, fds, n_fds);
    if (st != PCC_OK)
        return pcc_py_raise(st, "could not compile the system-call filter");
    PyTypeObject *tp = pcc_py_module_type(m, "SandboxFilter");
    FilterObject *o = tp ? (FilterObject *)tp->tp_alloc(tp, 0) : NULL;
    Py_XDECREF(tp);
    if (o == NULL) {
        pcc_sandbox_filter_free(f);
        return NULL;
    }
    o->f = f;
    return (PyObject *)o;
}

static PyObject *py_sandbox_apply(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"layers", "optional", "fds", "nofile", "netns_fd", "filter", NULL};
    unsigned int layers = PCC_SANDBOX_ALL, optional = 0, nofile = 0;
    int netns_fd = -1;
    PyObject *fds_o = NULL, *filter_o = Py_None;
    const pcc_sandbox_filter *filter = NULL;
    int fds[PCC_SANDBOX_MAX_FDS];
    size_t n_fds = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|IIOIiO:sandbox_apply", kwlist, &layers, &optional,
                                     &fds_o, &nofile, &netns_fd, &filter_o))
        return NULL;
    if (!fds_arg(fds_o, fds, &n_fds))
        return NULL;
    if (filter_o != Py_None) {
        PyTypeObject *tp = pcc_py_module_type(m, "SandboxFilter");
        if (tp == NULL)
            return NULL;
        int ok = PyObject_TypeCheck(filter_o, tp);
        Py_DECREF(tp);
        if (!ok) {
            PyErr_SetString(PyExc_TypeError, "filter must be a SandboxFilter");
            return NULL;
        }
        filter = ((FilterObject *)filter_o)->f;
    }
    pcc_sandbox_policy p = {layers, optional, fds, n_fds, nofile, netns_fd >= 0, netns_fd,
                            filter};
    uint32_t applied = 0;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_sandbox_apply(&p, &applied);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        if (st == PCC_E_INVALID)
            return pcc_py_raise(st, "invalid sandbox policy");
        uint32_t missing = layers & ~optional & ~applied;
        const char *name = pcc_sandbox_layer_name(missing & (~missing + 1u));
        PyObject *msg = PyUnicode_FromFormat("sandbox layer %s could not be applied",
                                             name ? name : "?");
        if (msg == NULL)
            return NULL;
        pcc_py_raise(st, PyUnicode_AsUTF8(msg));
        Py_DECREF(msg);
        return NULL;
    }
    return PyLong_FromUnsignedLong(applied);
}

static PyObject *py_sandbox_netns_prepare(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    int fd = -1;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_sandbox_netns_prepare(&fd);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK)
        return pcc_py_raise(st, "could not make an empty network namespace");
    return PyLong_FromLong(fd);
}

static PyObject *py_sandbox_landlock_abi(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyLong_FromLong(pcc_sandbox_landlock_abi());
}

/* _bench_fork(n, layers, netns_fd=-1, prepared=False) -> [ns per run...]: fork a child that applies layers
 * (0: nothing) and exits, and wait for it; wall-clock nanoseconds of each of n runs. For
 * benchmarks/bench_node_crypto.py. */
static PyObject *py_bench_fork(PyObject *m, PyObject *args)
{
    (void)m;
    int n, netns_fd = -1, prepared = 0;
    unsigned int layers;
    pcc_sandbox_filter *bench_filter = NULL;
    if (!PyArg_ParseTuple(args, "iI|ip:_bench_fork", &n, &layers, &netns_fd, &prepared))
        return NULL;
    if (prepared && pcc_sandbox_filter_new(&bench_filter, NULL, 0) != PCC_OK)
        return pcc_py_raise(PCC_E_STATE, "filter");
    const pcc_sandbox_filter *use_filter = bench_filter;
    if (n < 1 || n > 100000)
        return pcc_py_raise(PCC_E_INVALID, "n out of range");
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        struct timespec t0, t1;
        int status = 0;
        pid_t pid;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        Py_BEGIN_ALLOW_THREADS
        pid = fork();
        if (pid == 0) {
            pcc_sandbox_policy p = {layers, 0, NULL, 0, 0, netns_fd >= 0, netns_fd, use_filter};
            uint32_t applied;
            _exit(layers == 0 || (pcc_sandbox_apply(&p, &applied) == PCC_OK && applied == layers)
                      ? 0 : 1);
        }
        if (pid > 0)
            (void)waitpid(pid, &status, 0);
        Py_END_ALLOW_THREADS
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            pcc_sandbox_filter_free(bench_filter);
            Py_DECREF(out);
            return pcc_py_raise(PCC_E_STATE, "the benchmark child failed");
        }
        long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
        PyObject *v = PyLong_FromLongLong(ns);
        if (v == NULL) {
            pcc_sandbox_filter_free(bench_filter);
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
    }
    pcc_sandbox_filter_free(bench_filter);
    return out;
}

static PyMethodDef sandbox_funcs[] = {
    {"_bench_fork", py_bench_fork, METH_VARARGS,
     "_bench_fork(n, layers, netns_fd=-1, prepared=False) -> list: ns per fork + sandbox + exit + "
     "wait (benchmarks); prepared: a filter compiled before the forks."},
    {"sandbox_apply", (PyCFunction)(void (*)(void))py_sandbox_apply, METH_VARARGS | METH_KEYWORDS,
     "sandbox_apply(layers=SANDBOX_ALL, optional=0, fds=(), nofile=0) -> int: sandbox the "
     "calling process for good; returns the layers applied. Only in a child process."},
    {"sandbox_filter_new", py_sandbox_filter_new, METH_O,
     "sandbox_filter_new(fds) -> SandboxFilter: the allow-list compiled once for channels fds."},
    {"sandbox_netns_prepare", py_sandbox_netns_prepare, METH_NOARGS,
     "sandbox_netns_prepare() -> int: a descriptor of a new, empty network namespace for "
     "workers to enter (sandbox_apply(netns_fd=...)); the caller closes it."},
    {"sandbox_landlock_abi", py_sandbox_landlock_abi, METH_NOARGS,
     "sandbox_landlock_abi() -> int: the kernel's Landlock ABI (0 without Landlock)."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_sandbox_exec(PyObject *m)
{
    static const struct {
        const char *name;
        unsigned long v;
    } consts[] = {
        {"SANDBOX_NETNS", PCC_SANDBOX_NETNS},
        {"SANDBOX_LANDLOCK", PCC_SANDBOX_LANDLOCK},
        {"SANDBOX_NO_NEW_PRIVS", PCC_SANDBOX_NO_NEW_PRIVS},
        {"SANDBOX_NOT_DUMPABLE", PCC_SANDBOX_NOT_DUMPABLE},
        {"SANDBOX_RLIMITS", PCC_SANDBOX_RLIMITS},
        {"SANDBOX_SECCOMP", PCC_SANDBOX_SECCOMP},
        {"SANDBOX_ALL", PCC_SANDBOX_ALL},
    };
    for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
        if (PyModule_AddIntConstant(m, consts[i].name, (long)consts[i].v) < 0)
            return -1;
    if (pcc_py_add_type(m, &filter_spec, NULL) == NULL)
        return -1;
    return PyModule_AddFunctions(m, sandbox_funcs);
}
