/* py_secure.c: minimal access to secure memory, for tests (pcc._core.SecureBuffer, Arena,
 * _small_slot_smash_test). */
#include "pymod.h"

#include <string.h>
#include <time.h>

#include "pcc/secure.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PY_SECURE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(PY_SECURE_ASAN)
#define PY_SECURE_ASAN 1
#endif
#ifdef PY_SECURE_ASAN
#include <sanitizer/asan_interface.h>
#endif

typedef struct {
    PyObject_HEAD
    uint8_t *p;
    size_t n;
} SecureBufferObject;

static int sb_init(SecureBufferObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"size", NULL};
    Py_ssize_t n;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "n", kwlist, &n))
        return -1;
    if (self->p != NULL) {
        PyErr_SetString(PyExc_TypeError, "SecureBuffer already initialised");
        return -1;
    }
    if (n <= 0) {
        pcc_py_raise(PCC_E_INVALID, "size must be positive");
        return -1;
    }
    self->p = pcc_secure_alloc((size_t)n);
    if (self->p == NULL) {
        pcc_py_raise(PCC_E_NOMEM, NULL);
        return -1;
    }
    self->n = (size_t)n;
    return 0;
}

static void sb_dealloc(SecureBufferObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_secure_free(self->p);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int sb_live(SecureBufferObject *self)
{
    if (self->p == NULL) {
        pcc_py_raise(PCC_E_STATE, "SecureBuffer is freed");
        return 0;
    }
    return 1;
}

static PyObject *sb_write(SecureBufferObject *self, PyObject *args)
{
    Py_ssize_t off;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "ny*", &off, &b))
        return NULL;
    if (!sb_live(self) || off < 0 || (size_t)off > self->n || (size_t)b.len > self->n - (size_t)off) {
        PyBuffer_Release(&b);
        return PyErr_Occurred() ? NULL : pcc_py_raise(PCC_E_LIMIT, "write out of bounds");
    }
    memcpy(self->p + off, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    Py_RETURN_NONE;
}

static PyObject *sb_read(SecureBufferObject *self, PyObject *args)
{
    Py_ssize_t off, n;
    if (!PyArg_ParseTuple(args, "nn", &off, &n))
        return NULL;
    if (!sb_live(self))
        return NULL;
    if (off < 0 || n < 0 || (size_t)off > self->n || (size_t)n > self->n - (size_t)off)
        return pcc_py_raise(PCC_E_LIMIT, "read out of bounds");
    return PyBytes_FromStringAndSize((const char *)self->p + off, n);
}

/* _unchecked_write writes without bounds checks (tests use it to hit guard pages and canaries). */
static PyObject *sb_unchecked_write(SecureBufferObject *self, PyObject *args)
{
    Py_ssize_t off;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "ny*", &off, &b))
        return NULL;
    if (!sb_live(self)) {
        PyBuffer_Release(&b);
        return NULL;
    }
    volatile uint8_t *dst = self->p + off;
    for (Py_ssize_t i = 0; i < b.len; i++)
        dst[i] = ((const uint8_t *)b.buf)[i];
    PyBuffer_Release(&b);
    Py_RETURN_NONE;
}

static PyObject *sb_free(SecureBufferObject *self, PyObject *unused)
{
    (void)unused;
    pcc_secure_free(self->p);
    self->p = NULL;
    self->n = 0;
    Py_RETURN_NONE;
}

static PyObject *sb_address(SecureBufferObject *self, void *c)
{
    (void)c;
    return PyLong_FromVoidPtr(self->p);
}

static PyObject *sb_len_get(SecureBufferObject *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(self->n);
}

static PyMethodDef sb_methods[] = {
    {"write", (PyCFunction)sb_write, METH_VARARGS, "write(offset, data): copy data in (bounds-checked)."},
    {"read", (PyCFunction)sb_read, METH_VARARGS, "read(offset, n) -> bytes (bounds-checked; test use only)."},
    {"_unchecked_write", (PyCFunction)sb_unchecked_write, METH_VARARGS, "Test hook: write with no bounds check."},
    {"free", (PyCFunction)sb_free, METH_NOARGS, "Wipe and release now."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sb_getset[] = {
    {"address", (getter)sb_address, NULL, "Address of the data (0 once freed).", NULL},
    {"size", (getter)sb_len_get, NULL, "Usable size in bytes.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot sb_slots[] = {
    {Py_tp_doc, "SecureBuffer(size): a guarded, locked, wiped-on-free allocation (for tests)."},
    {Py_tp_init, sb_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, sb_dealloc},
    {Py_tp_methods, sb_methods},
    {Py_tp_getset, sb_getset},
    {0, NULL},
};

static PyType_Spec sb_spec = {
    "pcc._core.SecureBuffer", sizeof(SecureBufferObject), 0, Py_TPFLAGS_DEFAULT, sb_slots,
};

typedef struct {
    PyObject_HEAD
    pcc_arena *a;
} ArenaObject;

static int ar_init(ArenaObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"capacity", NULL};
    Py_ssize_t n;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "n", kwlist, &n))
        return -1;
    if (self->a != NULL) {
        PyErr_SetString(PyExc_TypeError, "Arena already initialised");
        return -1;
    }
    if (n <= 0) {
        pcc_py_raise(PCC_E_INVALID, "capacity must be positive");
        return -1;
    }
    pcc_status st = pcc_arena_new(&self->a, (size_t)n);
    if (st != PCC_OK) {
        pcc_py_raise(st, "arena");
        return -1;
    }
    return 0;
}

static void ar_dealloc(ArenaObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_arena_free(self->a);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *ar_alloc(ArenaObject *self, PyObject *args)
{
    Py_ssize_t n, align = 16;
    if (!PyArg_ParseTuple(args, "n|n", &n, &align))
        return NULL;
    if (self->a == NULL || n <= 0 || align <= 0 || (align & (align - 1)) != 0 || align > 4096)
        return pcc_py_raise(PCC_E_INVALID, "bad arena allocation");
    uint8_t *p = pcc_arena_alloc(self->a, (size_t)n, (size_t)align);
    if (p == NULL)
        return pcc_py_raise(PCC_E_LIMIT, "arena full");
    return PyLong_FromSize_t((size_t)(p - (const uint8_t *)pcc_arena_base(self->a)));
}

static PyObject *ar_write(ArenaObject *self, PyObject *args)
{
    Py_ssize_t off;
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "ny*", &off, &b))
        return NULL;
    size_t used = pcc_arena_used(self->a);
    if (off < 0 || (size_t)off > used || (size_t)b.len > used - (size_t)off) {
        PyBuffer_Release(&b);
        return pcc_py_raise(PCC_E_LIMIT, "write outside allocated arena memory");
    }
    memcpy((uint8_t *)pcc_arena_base(self->a) + off, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    Py_RETURN_NONE;
}

static PyObject *ar_read(ArenaObject *self, PyObject *args)
{
    Py_ssize_t off, n;
    if (!PyArg_ParseTuple(args, "nn", &off, &n))
        return NULL;
    size_t cap = pcc_arena_capacity(self->a);
    if (off < 0 || n < 0 || (size_t)off > cap || (size_t)n > cap - (size_t)off)
        return pcc_py_raise(PCC_E_LIMIT, "read out of bounds");
    return PyBytes_FromStringAndSize((const char *)pcc_arena_base(self->a) + off, n);
}

static PyObject *ar_reset(ArenaObject *self, PyObject *unused)
{
    (void)unused;
    pcc_arena_reset(self->a);
    Py_RETURN_NONE;
}

static PyObject *ar_used(ArenaObject *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(pcc_arena_used(self->a));
}

static PyObject *ar_cap(ArenaObject *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(pcc_arena_capacity(self->a));
}

static PyMethodDef ar_methods[] = {
    {"alloc", (PyCFunction)ar_alloc, METH_VARARGS, "alloc(n, align=16) -> offset of n zeroed bytes."},
    {"write", (PyCFunction)ar_write, METH_VARARGS, "write(offset, data) within allocated memory."},
    {"read", (PyCFunction)ar_read, METH_VARARGS, "read(offset, n) -> bytes (test use only)."},
    {"reset", (PyCFunction)ar_reset, METH_NOARGS, "Wipe everything allocated and start over."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ar_getset[] = {
    {"used", (getter)ar_used, NULL, "Bytes handed out.", NULL},
    {"capacity", (getter)ar_cap, NULL, "Usable bytes.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot ar_slots[] = {
    {Py_tp_doc, "Arena(capacity): a guarded, locked bump allocator wiped on reset and free."},
    {Py_tp_init, ar_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, ar_dealloc},
    {Py_tp_methods, ar_methods},
    {Py_tp_getset, ar_getset},
    {0, NULL},
};

static PyType_Spec ar_spec = {
    "pcc._core.Arena", sizeof(ArenaObject), 0, Py_TPFLAGS_DEFAULT, ar_slots,
};

static PyObject *py_ct_equal(PyObject *m, PyObject *args)
{
    (void)m;
    Py_buffer a, b;
    if (!PyArg_ParseTuple(args, "y*y*", &a, &b))
        return NULL;
    int eq = a.len == b.len && pcc_ct_equal(a.buf, b.buf, (size_t)a.len);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return PyBool_FromLong(eq);
}

static PyObject *py_wipe(PyObject *m, PyObject *arg)
{
    (void)m;
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_WRITABLE) < 0) {
        /* a read-only buffer (bytes) is a wrong type here, not a buffer-protocol failure */
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "wipe needs a writable buffer (bytearray, "
                                             "writable memoryview), not a read-only one");
        }
        return NULL;
    }
    pcc_wipe(b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    Py_RETURN_NONE;
}

/* smash_byte flips one byte at p (unpoisoned under ASan, so that pcc's own check is what fires). */
static void smash_byte(uint8_t *p)
{
    volatile uint8_t *b = p;
#ifdef PY_SECURE_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, 1);
#endif
    *b ^= 0x5a;
}

/* Test hook: damage a small secure object's slot in one way and take the step that must detect
 * it (and abort). where: "front" (the byte before the object), "rear" (the byte after it),
 * "slack" (a byte past the rear canary), "free-alloc" / "free-free" (a byte in the middle of the
 * free slot after it, then an allocation that takes that slot, or the free of the object).
 * Returns only if the check is broken (or, for the free-* cases, if no free neighbour could be
 * arranged: RuntimeError). */
static PyObject *py_small_slot_smash_test(PyObject *m, PyObject *args)
{
    (void)m;
    const char *where = "front";
    if (!PyArg_ParseTuple(args, "|s:_small_slot_smash_test", &where))
        return NULL;
    int front = !strcmp(where, "front"), rear = !strcmp(where, "rear");
    int slack = !strcmp(where, "slack"), fa = !strcmp(where, "free-alloc");
    int ff = !strcmp(where, "free-free");
    if (!(front || rear || slack || fa || ff))
        return pcc_py_raise(PCC_E_INVALID, "where: front, rear, slack, free-alloc or free-free");
    uint8_t *p = pcc_secure_small_alloc(32);
    if (p == NULL)
        return pcc_py_raise(PCC_E_NOMEM, NULL);
    if (front || rear || slack) {
        smash_byte(front ? p - 1 : rear ? p + 32 : p + 32 + 8 + 3);
        pcc_secure_small_free(p);
        Py_RETURN_NONE;
    }
    uint8_t *q = pcc_secure_small_alloc(32);
    if (q != p + PCC_SECURE_SMALL_SLOT) {
        pcc_secure_small_free(q);
        pcc_secure_small_free(p);
        PyErr_SetString(PyExc_RuntimeError, "no free slot next to the object");
        return NULL;
    }
    pcc_secure_small_free(q); /* the neighbour is free now */
    smash_byte(p + PCC_SECURE_SMALL_SLOT + 100);
    if (fa) {
        uint8_t *r = pcc_secure_small_alloc(32); /* takes the damaged slot: must abort */
        pcc_secure_small_free(r);
    }
    pcc_secure_small_free(p);
    Py_RETURN_NONE;
}

/* thread_ns reads the calling thread's CPU clock. */
static uint64_t thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* _bench_secure_alloc(n) -> {"small_ns", "guarded_ns"}: thread CPU time of n allocate / write /
 * free rounds of a 200-byte object, from pcc_secure_small_alloc and from pcc_secure_alloc (its
 * own guard pages: what a guard page per small object would cost). */
static PyObject *py_bench_secure_alloc(PyObject *m, PyObject *arg)
{
    (void)m;
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 1 || n > 10000000)
        return pcc_py_raise(PCC_E_INVALID, "n must be 1..10000000");
    uint64_t t0, small_ns = 0, guarded_ns = 0;
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    t0 = thread_ns();
    for (long i = 0; i < n && ok; i++) {
        uint8_t *p = pcc_secure_small_alloc(200);
        ok = p != NULL;
        if (ok)
            p[0] = (uint8_t)i;
        pcc_secure_small_free(p);
    }
    small_ns = thread_ns() - t0;
    t0 = thread_ns();
    for (long i = 0; i < n && ok; i++) {
        uint8_t *p = pcc_secure_alloc(200);
        ok = p != NULL;
        if (ok)
            p[0] = (uint8_t)i;
        pcc_secure_free(p);
    }
    guarded_ns = thread_ns() - t0;
    Py_END_ALLOW_THREADS
    if (!ok)
        return pcc_py_raise(PCC_E_NOMEM, NULL);
    return Py_BuildValue("{s:K,s:K}", "small_ns", (unsigned long long)small_ns, "guarded_ns",
                         (unsigned long long)guarded_ns);
}

static PyMethodDef secure_funcs[] = {
    {"ct_equal", py_ct_equal, METH_VARARGS, "ct_equal(a, b) -> bool, constant time in the length."},
    {"wipe", py_wipe, METH_O, "wipe(buffer): zero a writable buffer (bytearray, memoryview)."},
    {"_bench_secure_alloc", py_bench_secure_alloc, METH_O,
     "_bench_secure_alloc(n) -> {'small_ns', 'guarded_ns'}: thread CPU time of n "
     "allocate/write/free rounds of a 200-byte object, small slot vs pcc_secure_alloc."},
    {"_small_slot_smash_test", py_small_slot_smash_test, METH_VARARGS,
     "_small_slot_smash_test(where='front'): test hook; damages a small secure object's slot "
     "(front, rear, slack, free-alloc, free-free) and aborts the process when pcc detects it."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_secure_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &sb_spec, NULL) == NULL || pcc_py_add_type(m, &ar_spec, NULL) == NULL)
        return -1;
    return PyModule_AddFunctions(m, secure_funcs);
}
