/* py_merkle.c: pcc._core glue for RFC 9162 Merkle trees (MerkleTree, merkle_* functions). */
#include "pymod.h"

#include <pythread.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "pcc/merkle.h"

#define HLEN PCC_MERKLE_HASH_LEN
#define CHUNK 512             /* leaves hashed per GIL release in append_many */
#define BIG_LEAF (64 * 1024)  /* a single leaf at least this long is hashed without the GIL */

/* ---- argument helpers ------------------------------------------------------------------- */

/* u64_conv is an "O&" converter for integers in [0, 2^64): TypeError for non-int,
 * InvalidArgument when out of range. */
static int u64_conv(PyObject *o, void *out)
{
    unsigned long long v;
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "expected an int, got %.100s", Py_TYPE(o)->tp_name);
        return 0;
    }
    v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return 0;
        PyErr_Clear();
        pcc_py_raise(PCC_E_INVALID, "integer out of range [0, 2^64)");
        return 0;
    }
    *(uint64_t *)out = (uint64_t)v;
    return 1;
}

/* opt_u64 reads an optional size: None (or absent) gives dflt. */
static int opt_u64(PyObject *o, uint64_t dflt, uint64_t *out)
{
    if (o == NULL || o == Py_None) {
        *out = dflt;
        return 1;
    }
    return u64_conv(o, out);
}

/* proof_collect copies a sequence of 32-byte bytes-like hashes into one PyMem buffer.
 * Returns 0 and sets *buf (PyMem_Free it; NULL when empty) and *n, or -1 with an exception:
 * TypeError for non-bytes items, FormatError for a hash that is not 32 bytes. */
static int proof_collect(PyObject *proof, uint8_t **buf, size_t *n)
{
    PyObject *seq = PySequence_Fast(proof, "proof must be a sequence of hashes");
    Py_ssize_t len;
    uint8_t *b = NULL;
    *buf = NULL;
    *n = 0;
    if (seq == NULL)
        return -1;
    len = PySequence_Fast_GET_SIZE(seq);
    if (len > 0) {
        b = PyMem_Malloc((size_t)len * HLEN);
        if (b == NULL) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_buffer v;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), &v, PyBUF_SIMPLE) < 0)
            goto fail;
        if (v.len != HLEN) {
            PyBuffer_Release(&v);
            pcc_py_raise(PCC_E_FORMAT, "proof hash must be 32 bytes");
            goto fail;
        }
        memcpy(b + (size_t)i * HLEN, v.buf, HLEN);
        PyBuffer_Release(&v);
    }
    Py_DECREF(seq);
    *buf = b;
    *n = (size_t)len;
    return 0;
fail:
    PyMem_Free(b);
    Py_DECREF(seq);
    return -1;
}

/* hash_list returns n 32-byte hashes from buf as a new list of bytes. */
static PyObject *hash_list(const uint8_t *buf, size_t n)
{
    PyObject *l = PyList_New((Py_ssize_t)n);
    if (l == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *h = PyBytes_FromStringAndSize((const char *)buf + i * HLEN, HLEN);
        if (h == NULL) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, h);
    }
    return l;
}

/* ---- the collector store: remembers every put, for a Python-side store ---------------------- */

typedef struct cnode {
    uint64_t index;
    unsigned level;
    uint8_t hash[HLEN];
} cnode;

typedef struct collector {
    cnode *v;
    size_t n, cap;
} collector;

static pcc_status col_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[HLEN])
{
    collector *c = ctx;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        cnode *nv;
        if (ncap < c->cap || ncap > SIZE_MAX / sizeof *nv)
            return PCC_E_LIMIT;
        nv = PyMem_RawRealloc(c->v, ncap * sizeof *nv); /* called without the GIL */
        if (nv == NULL)
            return PCC_E_NOMEM;
        c->v = nv;
        c->cap = ncap;
    }
    c->v[c->n].level = level;
    c->v[c->n].index = index;
    memcpy(c->v[c->n].hash, hash, HLEN);
    c->n++;
    return PCC_OK;
}

static pcc_status col_get(void *ctx, unsigned level, uint64_t index, uint8_t out[HLEN])
{
    (void)ctx, (void)level, (void)index, (void)out;
    return PCC_E_STATE; /* the Python store is read by the wrapper, never from C */
}

/* ---- MerkleTree ------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    pcc_merkle_tree *t;
    collector *col; /* non-NULL in collect mode */
    PyThread_type_lock lock;
} MerkleTreeObject;

static void mt_lock(MerkleTreeObject *self)
{
    if (!PyThread_acquire_lock(self->lock, 0)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->lock, 1);
        Py_END_ALLOW_THREADS
    }
}

static void mt_unlock(MerkleTreeObject *self) { PyThread_release_lock(self->lock); }

static int mt_init(MerkleTreeObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"collect", NULL};
    int collect = 0;
    pcc_status st;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &collect))
        return -1;
    if (self->t != NULL) {
        PyErr_SetString(PyExc_TypeError, "MerkleTree already initialised");
        return -1;
    }
    /* A failed __init__ may be retried: reuse what the first attempt allocated. */
    if (self->lock == NULL && (self->lock = PyThread_allocate_lock()) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (collect) {
        pcc_merkle_store s;
        self->col = PyMem_RawCalloc(1, sizeof *self->col);
        if (self->col == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s = (pcc_merkle_store){self->col, col_get, col_put};
        st = pcc_merkle_tree_new(&self->t, &s);
    } else {
        st = pcc_merkle_tree_new(&self->t, NULL);
    }
    if (st != PCC_OK) {
        PyMem_RawFree(self->col); /* collect mode is self->col != NULL: leave it unset */
        self->col = NULL;
        pcc_py_raise(st, "merkle tree");
        return -1;
    }
    return 0;
}

static void mt_dealloc(MerkleTreeObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_merkle_tree_free(self->t);
    if (self->col != NULL) {
        PyMem_RawFree(self->col->v);
        PyMem_RawFree(self->col);
    }
    if (self->lock != NULL)
        PyThread_free_lock(self->lock);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int mt_live(MerkleTreeObject *self)
{
    if (self->t == NULL) {
        pcc_py_raise(PCC_E_STATE, "MerkleTree is not initialised");
        return 0;
    }
    return 1;
}

static PyObject *mt_size(MerkleTreeObject *self, void *c)
{
    uint64_t n;
    (void)c;
    if (!mt_live(self))
        return NULL;
    mt_lock(self);
    n = pcc_merkle_tree_size(self->t);
    mt_unlock(self);
    return PyLong_FromUnsignedLongLong(n);
}

static PyObject *mt_append(MerkleTreeObject *self, PyObject *arg)
{
    Py_buffer b;
    uint64_t index = 0;
    pcc_status st;
    if (!mt_live(self) || PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    if (b.len >= BIG_LEAF) {
        uint8_t leaf[HLEN];
        Py_BEGIN_ALLOW_THREADS
        st = pcc_merkle_leaf_hash(leaf, b.buf, (size_t)b.len);
        if (st == PCC_OK) {
            PyThread_acquire_lock(self->lock, 1);
            st = pcc_merkle_tree_append_hash(self->t, leaf, &index);
            PyThread_release_lock(self->lock);
        }
        Py_END_ALLOW_THREADS
    } else {
        mt_lock(self);
        st = pcc_merkle_tree_append(self->t, b.buf, (size_t)b.len, &index);
        mt_unlock(self);
    }
    PyBuffer_Release(&b);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_LIMIT ? "tree is full" : "merkle append");
    return PyLong_FromUnsignedLongLong(index);
}

static PyObject *mt_append_hash(MerkleTreeObject *self, PyObject *arg)
{
    Py_buffer b;
    uint64_t index = 0;
    pcc_status st;
    if (!mt_live(self) || PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    if (b.len != HLEN) {
        PyBuffer_Release(&b);
        return pcc_py_raise(PCC_E_INVALID, "leaf hash must be 32 bytes");
    }
    mt_lock(self);
    st = pcc_merkle_tree_append_hash(self->t, b.buf, &index);
    mt_unlock(self);
    PyBuffer_Release(&b);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_LIMIT ? "tree is full" : "merkle append");
    return PyLong_FromUnsignedLongLong(index);
}

/* append_hashes_locked appends n leaf hashes without the GIL; returns the status. */
static pcc_status append_hashes_nogil(MerkleTreeObject *self, const uint8_t *hashes, size_t n,
                                      uint64_t *first)
{
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, 1);
    st = pcc_merkle_tree_append_hashes(self->t, hashes, n, first);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    return st;
}

static PyObject *mt_append_many(MerkleTreeObject *self, PyObject *arg)
{
    PyObject *seq, *res = NULL;
    Py_ssize_t n;
    uint8_t *hashes = NULL;
    Py_buffer *bufs = NULL;
    const uint8_t **ptrs = NULL;
    size_t *lens = NULL;
    uint64_t first = 0;
    pcc_status st = PCC_OK;

    if (!mt_live(self))
        return NULL;
    seq = PySequence_Fast(arg, "append_many needs an iterable of bytes-like leaves");
    if (seq == NULL)
        return NULL;
    /* The GIL is released between chunks, and another thread may then change a list (clear it
     * and the items read below are gone): work on a tuple, which owns its items (a list is
     * copied; a tuple is used as is). */
    Py_SETREF(seq, PySequence_Tuple(seq));
    if (seq == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n == 0) {
        Py_DECREF(seq);
        mt_lock(self);
        first = pcc_merkle_tree_size(self->t);
        mt_unlock(self);
        return PyLong_FromUnsignedLongLong(first);
    }
    hashes = PyMem_Malloc((size_t)n * HLEN);
    bufs = PyMem_Calloc(CHUNK, sizeof *bufs);
    ptrs = PyMem_Calloc(CHUNK, sizeof *ptrs);
    lens = PyMem_Calloc(CHUNK, sizeof *lens);
    if (hashes == NULL || bufs == NULL || ptrs == NULL || lens == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    /* Hash the leaves chunk by chunk without the GIL (the tree is not touched yet) ... */
    for (Py_ssize_t at = 0; at < n; at += CHUNK) {
        Py_ssize_t m = n - at < CHUNK ? n - at : CHUNK, got = 0;
        for (; got < m; got++) {
            if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, at + got), &bufs[got],
                                   PyBUF_SIMPLE) < 0)
                break;
            ptrs[got] = bufs[got].buf;
            lens[got] = (size_t)bufs[got].len;
        }
        if (got == m) {
            Py_BEGIN_ALLOW_THREADS
            st = pcc_merkle_leaf_hashes(hashes + (size_t)at * HLEN, ptrs, lens, (size_t)m);
            Py_END_ALLOW_THREADS
        }
        for (Py_ssize_t j = 0; j < got; j++)
            PyBuffer_Release(&bufs[j]);
        if (got != m)
            goto out;
        if (st != PCC_OK) {
            pcc_py_raise(st, "merkle leaf hash");
            goto out;
        }
    }
    /* ... then append them all at once, all or nothing. */
    st = append_hashes_nogil(self, hashes, (size_t)n, &first);
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_LIMIT ? "tree is full" : "merkle append");
        goto out;
    }
    res = PyLong_FromUnsignedLongLong(first);
out:
    PyMem_Free(hashes);
    PyMem_Free(bufs);
    PyMem_Free(ptrs);
    PyMem_Free(lens);
    Py_DECREF(seq);
    return res;
}

static PyObject *mt_append_hashes(MerkleTreeObject *self, PyObject *arg)
{
    uint8_t *hashes = NULL;
    size_t n = 0;
    uint64_t first = 0;
    pcc_status st;
    if (!mt_live(self))
        return NULL;
    if (proof_collect(arg, &hashes, &n) < 0) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) { /* FormatError: wrong length */
            PyErr_Clear();
            pcc_py_raise(PCC_E_INVALID, "leaf hash must be 32 bytes");
        }
        return NULL;
    }
    st = append_hashes_nogil(self, hashes, n, &first);
    PyMem_Free(hashes);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_LIMIT ? "tree is full" : "merkle append");
    return PyLong_FromUnsignedLongLong(first);
}

static PyObject *mt_root(MerkleTreeObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"size", NULL};
    PyObject *so = NULL;
    uint64_t size;
    uint8_t out[HLEN];
    pcc_status st;
    if (!mt_live(self) || !PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &so))
        return NULL;
    mt_lock(self);
    if (!opt_u64(so, pcc_merkle_tree_size(self->t), &size)) {
        mt_unlock(self);
        return NULL;
    }
    st = pcc_merkle_tree_root(self->t, size, out);
    mt_unlock(self);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_INVALID ? "size is larger than the tree" : "merkle root");
    return PyBytes_FromStringAndSize((const char *)out, HLEN);
}

/* args_u64_opt parses (a, b=None) from a vectorcall (METH_FASTCALL | METH_KEYWORDS): a is a
 * required u64 (u64_conv), *b the optional second argument (NULL when absent). The same errors
 * as PyArg_ParseTupleAndKeywords("O&|O"), without building an argument tuple per call. */
static int args_u64_opt(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                        const char *fname, const char *na, const char *nb, uint64_t *a,
                        PyObject **b)
{
    PyObject *oa = NULL, *ob = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    *b = NULL;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 2 arguments (%zd given)", fname,
                     nargs + nkw);
        return 0;
    }
    if (nargs >= 1)
        oa = args[0];
    if (nargs == 2)
        ob = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GET_ITEM(kwnames, i);
        PyObject **slot = PyUnicode_CompareWithASCIIString(k, na) == 0   ? &oa
                          : PyUnicode_CompareWithASCIIString(k, nb) == 0 ? &ob
                                                                          : NULL;
        if (slot == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, k);
            return 0;
        }
        if (*slot != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%U'", fname, k);
            return 0;
        }
        *slot = args[nargs + i];
    }
    if (oa == NULL) {
        PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, na);
        return 0;
    }
    if (!u64_conv(oa, a))
        return 0;
    *b = ob;
    return 1;
}

static PyObject *mt_inclusion_proof(MerkleTreeObject *self, PyObject *const *args,
                                    Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *so = NULL;
    uint64_t index, size;
    uint8_t proof[PCC_MERKLE_MAX_PROOF * HLEN];
    size_t n = 0;
    pcc_status st;
    if (!mt_live(self) ||
        !args_u64_opt(args, nargs, kwnames, "inclusion_proof", "index", "size", &index, &so))
        return NULL;
    mt_lock(self);
    if (!opt_u64(so, pcc_merkle_tree_size(self->t), &size)) {
        mt_unlock(self);
        return NULL;
    }
    st = pcc_merkle_tree_inclusion_proof(self->t, index, size, proof, &n, PCC_MERKLE_MAX_PROOF);
    mt_unlock(self);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_INVALID ? "need index < size <= tree size"
                                                    : "merkle inclusion proof");
    return hash_list(proof, n);
}

static PyObject *mt_consistency_proof(MerkleTreeObject *self, PyObject *const *args,
                                      Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *so = NULL;
    uint64_t size1, size2;
    uint8_t proof[PCC_MERKLE_MAX_PROOF * HLEN];
    size_t n = 0;
    pcc_status st;
    if (!mt_live(self) ||
        !args_u64_opt(args, nargs, kwnames, "consistency_proof", "size1", "size2", &size1, &so))
        return NULL;
    mt_lock(self);
    if (!opt_u64(so, pcc_merkle_tree_size(self->t), &size2)) {
        mt_unlock(self);
        return NULL;
    }
    st = pcc_merkle_tree_consistency_proof(self->t, size1, size2, proof, &n,
                                           PCC_MERKLE_MAX_PROOF);
    mt_unlock(self);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_INVALID ? "need 0 < size1 <= size2 <= tree size"
                                                    : "merkle consistency proof");
    return hash_list(proof, n);
}

static PyObject *mt_nodes(MerkleTreeObject *self, PyObject *args)
{
    unsigned int level;
    uint64_t start, end, size;
    PyObject *l;
    pcc_status st = PCC_OK;
    if (!mt_live(self) || !PyArg_ParseTuple(args, "IO&O&", &level, u64_conv, &start, u64_conv, &end))
        return NULL;
    mt_lock(self);
    size = pcc_merkle_tree_size(self->t);
    mt_unlock(self);
    if (end < start || level >= PCC_MERKLE_MAX_LEVELS || end > (size >> level))
        return pcc_py_raise(PCC_E_INVALID, "node is not a complete subtree of the tree");
    l = PyList_New((Py_ssize_t)(end - start));
    if (l == NULL)
        return NULL;
    mt_lock(self);
    for (uint64_t i = start; i < end && st == PCC_OK; i++) {
        uint8_t h[HLEN];
        PyObject *b;
        st = pcc_merkle_tree_node(self->t, level, i, h);
        if (st != PCC_OK)
            break;
        b = PyBytes_FromStringAndSize((const char *)h, HLEN);
        if (b == NULL) {
            mt_unlock(self);
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)(i - start), b);
    }
    mt_unlock(self);
    if (st != PCC_OK) {
        Py_DECREF(l);
        return pcc_py_raise(st, st == PCC_E_INVALID ? "node is not a complete subtree of the tree"
                                                    : "merkle node");
    }
    return l;
}

static PyObject *mt_restore(MerkleTreeObject *self, PyObject *args)
{
    uint64_t size;
    Py_buffer edge;
    pcc_status st;
    if (!mt_live(self) || !PyArg_ParseTuple(args, "O&y*", u64_conv, &size, &edge))
        return NULL;
    mt_lock(self);
    st = pcc_merkle_tree_restore(self->t, size, edge.buf, (size_t)edge.len);
    mt_unlock(self);
    PyBuffer_Release(&edge);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_STATE ? "restore needs an external store"
                                                  : "edge must hold popcount(size) hashes");
    Py_RETURN_NONE;
}

static PyObject *mt_compact_range(MerkleTreeObject *self, PyObject *unused)
{
    uint8_t edge[PCC_MERKLE_MAX_LEVELS * HLEN];
    uint64_t size = 0;
    size_t len = 0;
    pcc_status st;
    (void)unused;
    if (!mt_live(self))
        return NULL;
    mt_lock(self);
    st = pcc_merkle_tree_compact_range(self->t, &size, edge, &len, sizeof edge);
    mt_unlock(self);
    if (st != PCC_OK)
        return pcc_py_raise(st, "merkle compact range");
    return Py_BuildValue("(Ky#)", (unsigned long long)size, (const char *)edge, (Py_ssize_t)len);
}

static PyObject *mt_take_nodes(MerkleTreeObject *self, PyObject *unused)
{
    PyObject *l;
    (void)unused;
    if (!mt_live(self))
        return NULL;
    if (self->col == NULL)
        return pcc_py_raise(PCC_E_STATE, "take_nodes needs collect mode");
    mt_lock(self);
    l = PyList_New((Py_ssize_t)self->col->n);
    for (size_t i = 0; l != NULL && i < self->col->n; i++) {
        const cnode *c = &self->col->v[i];
        PyObject *t = Py_BuildValue("(IKy#)", c->level, (unsigned long long)c->index,
                                    (const char *)c->hash, (Py_ssize_t)HLEN);
        if (t == NULL) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, t);
    }
    self->col->n = 0;
    mt_unlock(self);
    return l;
}

static PyMethodDef mt_methods[] = {
    {"append", (PyCFunction)mt_append, METH_O, "append(data) -> index of the new leaf."},
    {"append_hash", (PyCFunction)mt_append_hash, METH_O,
     "append_hash(leaf_hash) -> index (leaf_hash = SHA-256(0x00 || data))."},
    {"append_many", (PyCFunction)mt_append_many, METH_O,
     "append_many(leaves) -> index of the first; all or nothing; hashes without the GIL."},
    {"append_hashes", (PyCFunction)mt_append_hashes, METH_O,
     "append_hashes(leaf_hashes) -> index of the first; all or nothing."},
    {"root", (PyCFunction)(void (*)(void))mt_root, METH_VARARGS | METH_KEYWORDS,
     "root(size=None) -> MTH of the first size leaves."},
    {"inclusion_proof", (PyCFunction)(void (*)(void))mt_inclusion_proof,
     METH_FASTCALL | METH_KEYWORDS, "inclusion_proof(index, size=None) -> list of hashes."},
    {"consistency_proof", (PyCFunction)(void (*)(void))mt_consistency_proof,
     METH_FASTCALL | METH_KEYWORDS, "consistency_proof(size1, size2=None) -> list of hashes."},
    {"nodes", (PyCFunction)mt_nodes, METH_VARARGS,
     "nodes(level, start, end) -> hashes of the complete subtrees (level, start..end-1)."},
    {"restore", (PyCFunction)mt_restore, METH_VARARGS,
     "restore(size, edge): set size and compact range (collect mode only)."},
    {"compact_range", (PyCFunction)mt_compact_range, METH_NOARGS,
     "compact_range() -> (size, edge): the right-edge subtree hashes, largest first."},
    {"take_nodes", (PyCFunction)mt_take_nodes, METH_NOARGS,
     "take_nodes() -> [(level, index, hash)] put since the last call (collect mode)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef mt_getset[] = {
    {"size", (getter)mt_size, NULL, "Number of leaves.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot mt_slots[] = {
    {Py_tp_doc, "MerkleTree(collect=False): RFC 9162 append-only tree with the in-memory node "
                "store, or (collect=True) one that hands every new node to take_nodes()."},
    {Py_tp_init, mt_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, mt_dealloc},
    {Py_tp_methods, mt_methods},
    {Py_tp_getset, mt_getset},
    {0, NULL},
};

static PyType_Spec mt_spec = {
    "pcc._core.MerkleTree", sizeof(MerkleTreeObject), 0, Py_TPFLAGS_DEFAULT, mt_slots,
};

/* ---- module functions ---------------------------------------------------------------------- */

static PyObject *py_leaf_hash(PyObject *m, PyObject *arg)
{
    Py_buffer b;
    uint8_t out[HLEN];
    pcc_status st;
    (void)m;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    if (b.len >= BIG_LEAF) {
        Py_BEGIN_ALLOW_THREADS
        st = pcc_merkle_leaf_hash(out, b.buf, (size_t)b.len);
        Py_END_ALLOW_THREADS
    } else {
        st = pcc_merkle_leaf_hash(out, b.buf, (size_t)b.len);
    }
    PyBuffer_Release(&b);
    if (st != PCC_OK)
        return pcc_py_raise(st, "merkle leaf hash");
    return PyBytes_FromStringAndSize((const char *)out, HLEN);
}

static PyObject *py_node_hash(PyObject *m, PyObject *args)
{
    Py_buffer l, r;
    uint8_t out[HLEN];
    pcc_status st;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*y*", &l, &r))
        return NULL;
    st = pcc_merkle_node_hash(out, l.buf, (size_t)l.len, r.buf, (size_t)r.len);
    PyBuffer_Release(&l);
    PyBuffer_Release(&r);
    if (st != PCC_OK)
        return pcc_py_raise(st, "merkle node hash");
    return PyBytes_FromStringAndSize((const char *)out, HLEN);
}

static const char *verify_what(pcc_status st)
{
    return st == PCC_E_FORMAT ? "hash must be 32 bytes" : "merkle verify";
}

static PyObject *py_verify_inclusion(PyObject *m, PyObject *args)
{
    Py_buffer leaf, root;
    uint64_t index, size;
    PyObject *proof;
    uint8_t *buf = NULL;
    size_t n = 0;
    pcc_status st;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*O&O&Oy*", &leaf, u64_conv, &index, u64_conv, &size, &proof,
                          &root))
        return NULL;
    if (proof_collect(proof, &buf, &n) < 0) {
        PyBuffer_Release(&leaf);
        PyBuffer_Release(&root);
        return NULL;
    }
    st = pcc_merkle_verify_inclusion(leaf.buf, (size_t)leaf.len, index, size, buf, n * HLEN,
                                     root.buf, (size_t)root.len);
    PyMem_Free(buf);
    PyBuffer_Release(&leaf);
    PyBuffer_Release(&root);
    if (st != PCC_OK)
        return pcc_py_raise(st, verify_what(st));
    Py_RETURN_NONE;
}

static PyObject *py_verify_consistency(PyObject *m, PyObject *args)
{
    Py_buffer r1, r2;
    uint64_t size1, size2;
    PyObject *proof;
    uint8_t *buf = NULL;
    size_t n = 0;
    pcc_status st;
    (void)m;
    if (!PyArg_ParseTuple(args, "O&O&Oy*y*", u64_conv, &size1, u64_conv, &size2, &proof, &r1,
                          &r2))
        return NULL;
    if (proof_collect(proof, &buf, &n) < 0) {
        PyBuffer_Release(&r1);
        PyBuffer_Release(&r2);
        return NULL;
    }
    st = pcc_merkle_verify_consistency(size1, size2, buf, n * HLEN, r1.buf, (size_t)r1.len,
                                       r2.buf, (size_t)r2.len);
    PyMem_Free(buf);
    PyBuffer_Release(&r1);
    PyBuffer_Release(&r2);
    if (st != PCC_OK)
        return pcc_py_raise(st, verify_what(st));
    Py_RETURN_NONE;
}

/* make_plan builds the plan of kind 0 (root of size a), 1 (inclusion of a in b) or
 * 2 (consistency from a to b); raises InvalidArgument on bad sizes. */
static int make_plan(pcc_merkle_plan *p, int kind, uint64_t a, uint64_t b)
{
    pcc_status st;
    switch (kind) {
    case 0:
        pcc_merkle_plan_root(p, a);
        return 0;
    case 1:
        st = pcc_merkle_plan_inclusion(p, a, b);
        break;
    case 2:
        st = pcc_merkle_plan_consistency(p, a, b);
        break;
    default:
        pcc_py_raise(PCC_E_INVALID, "plan kind must be 0, 1 or 2");
        return -1;
    }
    if (st != PCC_OK) {
        pcc_py_raise(st, kind == 1 ? "need index < size" : "need 0 < size1 <= size2");
        return -1;
    }
    return 0;
}

static PyObject *py_plan(PyObject *m, PyObject *args)
{
    int kind;
    uint64_t a, b = 0;
    pcc_merkle_plan p;
    PyObject *l;
    (void)m;
    if (!PyArg_ParseTuple(args, "iO&|O&", &kind, u64_conv, &a, u64_conv, &b))
        return NULL;
    if (make_plan(&p, kind, a, b) < 0)
        return NULL;
    l = PyList_New((Py_ssize_t)p.n_nodes);
    for (size_t i = 0; l != NULL && i < p.n_nodes; i++) {
        PyObject *t = Py_BuildValue("(IK)", p.nodes[i].level,
                                    (unsigned long long)p.nodes[i].index);
        if (t == NULL) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, t);
    }
    return l;
}

static PyObject *py_fold(PyObject *m, PyObject *args)
{
    int kind;
    uint64_t a, b;
    Py_buffer nodes;
    pcc_merkle_plan p;
    uint8_t out[PCC_MERKLE_MAX_PROOF * HLEN];
    pcc_status st;
    (void)m;
    if (!PyArg_ParseTuple(args, "iO&O&y*", &kind, u64_conv, &a, u64_conv, &b, &nodes))
        return NULL;
    if (make_plan(&p, kind, a, b) < 0) {
        PyBuffer_Release(&nodes);
        return NULL;
    }
    if ((size_t)nodes.len != p.n_nodes * HLEN) {
        PyBuffer_Release(&nodes);
        return pcc_py_raise(PCC_E_INVALID, "node hashes do not match the plan");
    }
    st = pcc_merkle_plan_fold(&p, nodes.buf, out);
    PyBuffer_Release(&nodes);
    if (st != PCC_OK)
        return pcc_py_raise(st, "merkle fold");
    return hash_list(out, p.n_hashes);
}

/* now_s reads the calling thread's CPU clock: time spent descheduled on a shared machine does
 * not count (bench_merkle times the Python side with time.thread_time to match). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* _bench_sha256(n, length): seconds for n one-shot EVP_Digest SHA-256 calls over length-byte
 * inputs (the raw cost Merkle hashing is built from). */
static PyObject *py_bench_sha256(PyObject *m, PyObject *args)
{
    Py_ssize_t n, len;
    uint8_t buf[1024], out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    EVP_MD *md;
    int ok = 1;
    double t0, t1;
    (void)m;
    if (!PyArg_ParseTuple(args, "nn", &n, &len))
        return NULL;
    if (n < 0 || len < 0 || len > (Py_ssize_t)sizeof buf)
        return pcc_py_raise(PCC_E_INVALID, "bad benchmark size");
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (md == NULL)
        return pcc_py_raise(PCC_E_CRYPTO, NULL);
    memset(buf, 0xa5, sizeof buf);
    Py_BEGIN_ALLOW_THREADS
    t0 = now_s();
    for (Py_ssize_t i = 0; i < n && ok; i++) {
        buf[0] = out[0]; /* chain, so no call can be skipped */
        ok = EVP_Digest(buf, (size_t)len, out, &outlen, md, NULL) == 1;
    }
    t1 = now_s();
    Py_END_ALLOW_THREADS
    EVP_MD_free(md);
    if (!ok)
        return pcc_py_raise(PCC_E_CRYPTO, NULL);
    return PyFloat_FromDouble(t1 - t0);
}

static PyMethodDef merkle_funcs[] = {
    {"merkle_leaf_hash", py_leaf_hash, METH_O, "merkle_leaf_hash(data) -> SHA-256(0x00 || data)."},
    {"merkle_node_hash", py_node_hash, METH_VARARGS,
     "merkle_node_hash(left, right) -> SHA-256(0x01 || left || right)."},
    {"merkle_verify_inclusion", py_verify_inclusion, METH_VARARGS,
     "merkle_verify_inclusion(leaf_hash, index, size, proof, root) -> None or VerifyError."},
    {"merkle_verify_consistency", py_verify_consistency, METH_VARARGS,
     "merkle_verify_consistency(size1, size2, proof, root1, root2) -> None or VerifyError."},
    {"merkle_plan", py_plan, METH_VARARGS,
     "merkle_plan(kind, a, b=0) -> [(level, index)] of the stored nodes a root (0), inclusion "
     "(1) or consistency (2) proof needs."},
    {"merkle_fold", py_fold, METH_VARARGS,
     "merkle_fold(kind, a, b, node_hashes) -> list of hashes (the root or the proof)."},
    {"_bench_sha256", py_bench_sha256, METH_VARARGS,
     "_bench_sha256(n, length) -> seconds for n EVP_Digest SHA-256 calls."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_merkle_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &mt_spec, NULL) == NULL)
        return -1;
    return PyModule_AddFunctions(m, merkle_funcs);
}
