/* py_sandbox.c: pcc._core glue for the worker sandbox (pcc/sandbox.h).
 *
 * sandbox_apply sandboxes the calling process for good; it exists for the tests, which call it
 * in a child process, and for a worker launched from Python. Workers on a node apply it in C
 * right after fork. */
#include "pymod.h"

#include <limits.h>

#include "pcc/sandbox.h"

static PyObject *py_sandbox_apply(PyObject *m, PyObject *args, PyObject *kw)
{
    (void)m;
    static char *kwlist[] = {"layers", "optional", "fds", "nofile", NULL};
    unsigned int layers = PCC_SANDBOX_ALL, optional = 0, nofile = 0;
    PyObject *fds_o = NULL;
    int fds[PCC_SANDBOX_MAX_FDS];
    size_t n_fds = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|IIOI:sandbox_apply", kwlist, &layers, &optional,
                                     &fds_o, &nofile))
        return NULL;
    if (fds_o != NULL) {
        PyObject *fast = PySequence_Fast(fds_o, "fds must be a sequence of int");
        if (fast == NULL)
            return NULL;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
        if (n > PCC_SANDBOX_MAX_FDS) {
            Py_DECREF(fast);
            return pcc_py_raise(PCC_E_INVALID, "at most 8 channel descriptors");
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            long fd = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
            if (fd == -1 && PyErr_Occurred()) {
                Py_DECREF(fast);
                return NULL;
            }
            if (fd < 0 || fd > INT_MAX) {
                Py_DECREF(fast);
                return pcc_py_raise(PCC_E_INVALID, "a channel descriptor is a non-negative int");
            }
            fds[n_fds++] = (int)fd;
        }
        Py_DECREF(fast);
    }
    pcc_sandbox_policy p = {layers, optional, fds, n_fds, nofile};
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

static PyObject *py_sandbox_landlock_abi(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyLong_FromLong(pcc_sandbox_landlock_abi());
}

static PyMethodDef sandbox_funcs[] = {
    {"sandbox_apply", (PyCFunction)(void (*)(void))py_sandbox_apply, METH_VARARGS | METH_KEYWORDS,
     "sandbox_apply(layers=SANDBOX_ALL, optional=0, fds=(), nofile=0) -> int: sandbox the "
     "calling process for good; returns the layers applied. Only in a child process."},
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
    return PyModule_AddFunctions(m, sandbox_funcs);
}
