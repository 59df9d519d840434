/* py_gguf.c: pcc._core.GGUFFile, Tokenizer and TokenDecoder (glue for pcc/gguf.h and
 * pcc/tokenizer.h). Added to the module by pcc_py_gguf_add, which the llm glue calls. */
#include "py_gguf.h"

#include <string.h>

#include "pcc/buf.h"
#include "pcc/secure.h"

/* Encodes longer than this many bytes run without the GIL. */
#define RELEASE_GIL_BYTES 4096

/* ---------------------------------------------------------------- GGUFFile */

typedef struct {
    PyObject_HEAD
    pcc_gguf *g;
} GGUFFileObject;

static void gf_dealloc(GGUFFileObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_gguf_close(self->g);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *gf_wrap(PyTypeObject *cls, pcc_gguf *g)
{
    GGUFFileObject *self = (GGUFFileObject *)cls->tp_alloc(cls, 0);
    if (self == NULL) {
        pcc_gguf_close(g);
        return NULL;
    }
    self->g = g;
    return (PyObject *)self;
}

static PyObject *gf_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", NULL};
    PyObject *path = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&", kwlist, PyUnicode_FSConverter, &path))
        return NULL;
    pcc_gguf *g = NULL;
    pcc_status st;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    st = pcc_gguf_open(&g, p);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_INVALID ? "cannot open or map the GGUF file"
                                                    : "invalid GGUF file");
    return gf_wrap(cls, g);
}

static PyObject *gf_from_bytes(PyObject *cls, PyObject *arg)
{
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    pcc_gguf *g = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_gguf_open_memory(&g, b.buf, (size_t)b.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    if (st != PCC_OK)
        return pcc_py_raise(st, "invalid GGUF data");
    return gf_wrap((PyTypeObject *)cls, g);
}

/* value_to_py converts one validated value of type `type` read from r. */
static PyObject *value_to_py(pcc_reader *r, uint32_t type, unsigned depth)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    const uint8_t *p;
    pcc_status st = PCC_E_FORMAT;
    switch (type) {
    case PCC_GGUF_VAL_UINT8:
        if ((st = pcc_reader_u8(r, &u8)) == PCC_OK)
            return PyLong_FromUnsignedLong(u8);
        break;
    case PCC_GGUF_VAL_INT8:
        if ((st = pcc_reader_u8(r, &u8)) == PCC_OK)
            return PyLong_FromLong((int8_t)u8);
        break;
    case PCC_GGUF_VAL_UINT16:
        if ((st = pcc_reader_u16le(r, &u16)) == PCC_OK)
            return PyLong_FromUnsignedLong(u16);
        break;
    case PCC_GGUF_VAL_INT16:
        if ((st = pcc_reader_u16le(r, &u16)) == PCC_OK)
            return PyLong_FromLong((int16_t)u16);
        break;
    case PCC_GGUF_VAL_UINT32:
        if ((st = pcc_reader_u32le(r, &u32)) == PCC_OK)
            return PyLong_FromUnsignedLong(u32);
        break;
    case PCC_GGUF_VAL_INT32:
        if ((st = pcc_reader_u32le(r, &u32)) == PCC_OK)
            return PyLong_FromLong((int32_t)u32);
        break;
    case PCC_GGUF_VAL_UINT64:
        if ((st = pcc_reader_u64le(r, &u64)) == PCC_OK)
            return PyLong_FromUnsignedLongLong(u64);
        break;
    case PCC_GGUF_VAL_INT64:
        if ((st = pcc_reader_u64le(r, &u64)) == PCC_OK)
            return PyLong_FromLongLong((long long)(int64_t)u64);
        break;
    case PCC_GGUF_VAL_FLOAT32:
        if ((st = pcc_reader_u32le(r, &u32)) == PCC_OK) {
            float f;
            memcpy(&f, &u32, 4);
            return PyFloat_FromDouble(f);
        }
        break;
    case PCC_GGUF_VAL_FLOAT64:
        if ((st = pcc_reader_u64le(r, &u64)) == PCC_OK) {
            double d;
            memcpy(&d, &u64, 8);
            return PyFloat_FromDouble(d);
        }
        break;
    case PCC_GGUF_VAL_BOOL:
        if ((st = pcc_reader_u8(r, &u8)) == PCC_OK)
            return PyBool_FromLong(u8 != 0);
        break;
    case PCC_GGUF_VAL_STRING:
        if ((st = pcc_reader_u64le(r, &u64)) == PCC_OK && u64 <= pcc_reader_remaining(r) &&
            (st = pcc_reader_bytes(r, &p, (size_t)u64)) == PCC_OK) {
            /* text when it is UTF-8, bytes otherwise */
            PyObject *s = PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)u64, "strict");
            if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                PyErr_Clear();
                s = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)u64);
            }
            return s;
        }
        break;
    case PCC_GGUF_VAL_ARRAY: {
        if (depth >= PCC_GGUF_MAX_ARRAY_DEPTH)
            break;
        if ((st = pcc_reader_u32le(r, &u32)) != PCC_OK || (st = pcc_reader_u64le(r, &u64)) != PCC_OK)
            break;
        if (u64 > pcc_reader_remaining(r) || u64 > PY_SSIZE_T_MAX) {
            st = PCC_E_FORMAT;
            break;
        }
        PyObject *list = PyList_New((Py_ssize_t)u64);
        if (list == NULL)
            return NULL;
        for (uint64_t i = 0; i < u64; i++) {
            PyObject *v = value_to_py(r, u32, depth + 1);
            if (v == NULL) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i, v);
        }
        return list;
    }
    default:
        break;
    }
    (void)st;
    return pcc_py_raise(PCC_E_FORMAT, "corrupt GGUF metadata value");
}

static PyObject *kv_value(const pcc_gguf *g, size_t i)
{
    const uint8_t *raw;
    size_t len;
    if (pcc_gguf_kv_raw(g, i, &raw, &len) != PCC_OK)
        return pcc_py_raise(PCC_E_INVALID, "metadata index");
    pcc_reader r;
    pcc_reader_init(&r, raw, len);
    return value_to_py(&r, pcc_gguf_kv_type(g, i), 0);
}

static PyObject *gf_get(GGUFFileObject *self, PyObject *args)
{
    const char *key;
    PyObject *dflt = Py_None;
    if (!PyArg_ParseTuple(args, "s|O", &key, &dflt))
        return NULL;
    size_t i;
    if (pcc_gguf_find_key(self->g, key, &i) != PCC_OK)
        return Py_NewRef(dflt);
    return kv_value(self->g, i);
}

static PyObject *gf_value_type(GGUFFileObject *self, PyObject *arg)
{
    const char *key = PyUnicode_AsUTF8(arg);
    if (key == NULL)
        return NULL;
    size_t i;
    pcc_status st = pcc_gguf_find_key(self->g, key, &i);
    if (st != PCC_OK)
        return pcc_py_raise(st, "no such metadata key");
    uint32_t t = pcc_gguf_kv_type(self->g, i);
    if (t != PCC_GGUF_VAL_ARRAY)
        return Py_BuildValue("(iO)", (int)t, Py_None);
    uint32_t et;
    size_t n;
    if (pcc_gguf_get_arr(self->g, key, &et, &n) != PCC_OK)
        return pcc_py_raise(PCC_E_FORMAT, "metadata array");
    return Py_BuildValue("(iI)", (int)t, (unsigned)et);
}

static PyObject *gf_keys(GGUFFileObject *self, PyObject *unused)
{
    (void)unused;
    size_t n = pcc_gguf_kv_count(self->g);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *k = PyUnicode_FromString(pcc_gguf_kv_key(self->g, i));
        if (k == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, k);
    }
    return list;
}

static PyObject *gf_metadata(GGUFFileObject *self, void *c)
{
    (void)c;
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < pcc_gguf_kv_count(self->g); i++) {
        PyObject *v = kv_value(self->g, i);
        if (v == NULL || PyDict_SetItemString(d, pcc_gguf_kv_key(self->g, i), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyObject *tensor_info(const pcc_gguf_tensor *t)
{
    PyObject *shape = PyTuple_New(t->n_dims);
    if (shape == NULL)
        return NULL;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        PyObject *v = PyLong_FromUnsignedLongLong(t->ne[d]);
        if (v == NULL) {
            Py_DECREF(shape);
            return NULL;
        }
        PyTuple_SET_ITEM(shape, d, v);
    }
    return Py_BuildValue("{s:s,s:I,s:s,s:N,s:K,s:K}", "name", t->name, "type", (unsigned)t->type,
                         "type_name", pcc_gguf_type_name(t->type), "shape", shape, "offset",
                         (unsigned long long)t->offset, "nbytes", (unsigned long long)t->nbytes);
}

static PyObject *gf_tensors(GGUFFileObject *self, void *c)
{
    (void)c;
    size_t n = pcc_gguf_tensor_count(self->g);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *v = tensor_info(pcc_gguf_tensor_at(self->g, i));
        if (v == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    return list;
}

static PyObject *gf_tensor(GGUFFileObject *self, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL)
        return NULL;
    const pcc_gguf_tensor *t;
    pcc_status st = pcc_gguf_find_tensor(self->g, name, &t);
    if (st != PCC_OK)
        return pcc_py_raise(st, "no such tensor");
    return tensor_info(t);
}

static PyObject *gf_tensor_bytes(GGUFFileObject *self, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL)
        return NULL;
    const pcc_gguf_tensor *t;
    pcc_status st = pcc_gguf_find_tensor(self->g, name, &t);
    if (st != PCC_OK)
        return pcc_py_raise(st, "no such tensor");
    if (t->nbytes > PY_SSIZE_T_MAX)
        return pcc_py_raise(PCC_E_LIMIT, "tensor too large");
    return PyBytes_FromStringAndSize((const char *)t->data, (Py_ssize_t)t->nbytes);
}

static PyObject *gf_version(GGUFFileObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLong(pcc_gguf_version(self->g));
}

static PyObject *gf_alignment(GGUFFileObject *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(pcc_gguf_alignment(self->g));
}

static PyObject *gf_data_offset(GGUFFileObject *self, void *c)
{
    (void)c;
    return PyLong_FromUnsignedLongLong(pcc_gguf_data_offset(self->g));
}

static PyObject *gf_size(GGUFFileObject *self, void *c)
{
    (void)c;
    const uint8_t *p;
    size_t n;
    pcc_gguf_file(self->g, &p, &n);
    return PyLong_FromSize_t(n);
}

static PyObject *gf_type_info(PyObject *cls, PyObject *arg)
{
    (void)cls;
    unsigned long t = PyLong_AsUnsignedLong(arg);
    if (t == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    if (t > UINT32_MAX || pcc_gguf_type_name((uint32_t)t) == NULL)
        return pcc_py_raise(PCC_E_UNSUPPORTED, "unknown tensor type");
    return Py_BuildValue("(snn)", pcc_gguf_type_name((uint32_t)t),
                         (Py_ssize_t)pcc_gguf_block_size((uint32_t)t),
                         (Py_ssize_t)pcc_gguf_type_size((uint32_t)t));
}

static PyMethodDef gf_methods[] = {
    {"from_bytes", (PyCFunction)gf_from_bytes, METH_O | METH_CLASS,
     "from_bytes(data) -> GGUFFile: validate a GGUF image held in memory (copied)."},
    {"get", (PyCFunction)gf_get, METH_VARARGS,
     "get(key, default=None): the metadata value (int, float, bool, str, bytes or list)."},
    {"keys", (PyCFunction)gf_keys, METH_NOARGS, "keys() -> list[str] in file order."},
    {"value_type", (PyCFunction)gf_value_type, METH_O,
     "value_type(key) -> (type, element_type or None): GGUF value type ids."},
    {"tensor", (PyCFunction)gf_tensor, METH_O, "tensor(name) -> dict describing one tensor."},
    {"tensor_bytes", (PyCFunction)gf_tensor_bytes, METH_O,
     "tensor_bytes(name) -> bytes: a copy of the tensor's raw data."},
    {"type_info", (PyCFunction)gf_type_info, METH_O | METH_STATIC,
     "type_info(type) -> (name, block_size, type_size) for a ggml tensor type id."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef gf_getset[] = {
    {"version", (getter)gf_version, NULL, "GGUF version (3 or 2).", NULL},
    {"alignment", (getter)gf_alignment, NULL, "Data alignment in bytes.", NULL},
    {"data_offset", (getter)gf_data_offset, NULL, "File offset of the tensor data.", NULL},
    {"size", (getter)gf_size, NULL, "File size in bytes.", NULL},
    {"metadata", (getter)gf_metadata, NULL, "All metadata as a new dict.", NULL},
    {"tensors", (getter)gf_tensors, NULL,
     "List of dicts: name, type, type_name, shape (ne0 first), offset, nbytes.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot gf_slots[] = {
    {Py_tp_doc, "GGUFFile(path): a validated, read-only mapped GGUF v3/v2 file."},
    {Py_tp_new, gf_new},
    {Py_tp_dealloc, gf_dealloc},
    {Py_tp_methods, gf_methods},
    {Py_tp_getset, gf_getset},
    {0, NULL},
};

static PyType_Spec gf_spec = {
    "pcc._core.GGUFFile", sizeof(GGUFFileObject), 0, Py_TPFLAGS_DEFAULT, gf_slots,
};

/* ---------------------------------------------------------------- Tokenizer */

typedef struct {
    PyObject_HEAD
    pcc_tokenizer *t;
} TokenizerObject;

typedef struct {
    PyObject_HEAD
    PyObject *owner; /* the Tokenizer, kept alive */
    pcc_tokenizer_decoder *d;
    PyThread_type_lock lock;
} DecoderObject;

static void tk_dealloc(TokenizerObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_tokenizer_free(self->t);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *tk_new(PyTypeObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"gguf", NULL};
    PyObject *gobj;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O", kwlist, &gobj))
        return NULL;
    PyObject *m = PyType_GetModule(cls);
    if (m == NULL)
        return NULL;
    const pcc_gguf *g = pcc_py_gguf_ptr(m, gobj);
    if (g == NULL)
        return NULL;
    pcc_tokenizer *t = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tokenizer_new_from_gguf(&t, g);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK)
        return pcc_py_raise(st, "tokenizer metadata");
    TokenizerObject *self = (TokenizerObject *)cls->tp_alloc(cls, 0);
    if (self == NULL) {
        pcc_tokenizer_free(t);
        return NULL;
    }
    self->t = t;
    return (PyObject *)self;
}

/* text_arg gives the UTF-8 bytes of a str, or the bytes of a bytes-like object (into *view). */
static int text_arg(PyObject *obj, const char **s, size_t *len, Py_buffer *view, int *have_view)
{
    *have_view = 0;
    if (PyUnicode_Check(obj)) {
        Py_ssize_t n;
        *s = PyUnicode_AsUTF8AndSize(obj, &n);
        if (*s == NULL)
            return -1;
        *len = (size_t)n;
        return 0;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0)
        return -1;
    *have_view = 1;
    *s = view->buf;
    *len = (size_t)view->len;
    return 0;
}

static PyObject *tk_encode(TokenizerObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"text", "special", NULL};
    PyObject *text;
    int special = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &text, &special))
        return NULL;
    const char *s;
    size_t len;
    Py_buffer view;
    int have_view;
    if (text_arg(text, &s, &len, &view, &have_view) < 0)
        return NULL;
    PyObject *res = NULL;
    /* every id stands for at least one input byte */
    size_t cap = len + 1;
    int32_t *ids = PyMem_Malloc(cap * sizeof *ids);
    if (ids == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    size_t n = 0;
    pcc_status st;
    if (len > RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        st = pcc_tokenizer_encode(self->t, s, len, special != 0, ids, &n, cap);
        Py_END_ALLOW_THREADS
    } else {
        st = pcc_tokenizer_encode(self->t, s, len, special != 0, ids, &n, cap);
    }
    if (st != PCC_OK) {
        pcc_py_raise(st, "encode");
        goto out;
    }
    res = PyList_New((Py_ssize_t)n);
    if (res == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLong(ids[i]);
        if (v == NULL) {
            Py_CLEAR(res);
            goto out;
        }
        PyList_SET_ITEM(res, (Py_ssize_t)i, v);
    }
out:
    if (ids != NULL) {
        pcc_wipe(ids, cap * sizeof *ids);
        PyMem_Free(ids);
    }
    if (have_view)
        PyBuffer_Release(&view);
    return res;
}

/* ids_arg converts a sequence of ints to a PyMem array of int32 (ids out of int32 range become
 * -1, which the C layer rejects as out of range). */
static int32_t *ids_arg(PyObject *obj, size_t *n)
{
    PyObject *seq = PySequence_Fast(obj, "ids must be a sequence of int");
    if (seq == NULL)
        return NULL;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    int32_t *ids = PyMem_Malloc(((size_t)len + 1) * sizeof *ids);
    if (ids == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        int overflow;
        long v = PyLong_AsLongAndOverflow(PySequence_Fast_GET_ITEM(seq, i), &overflow);
        if (v == -1 && PyErr_Occurred()) {
            PyMem_Free(ids);
            Py_DECREF(seq);
            return NULL;
        }
        ids[i] = (overflow || v < INT32_MIN || v > INT32_MAX) ? -1 : (int32_t)v;
    }
    Py_DECREF(seq);
    *n = (size_t)len;
    return ids;
}

static PyObject *decode_impl(TokenizerObject *self, PyObject *args, PyObject *kw, int as_str)
{
    static char *kwlist[] = {"ids", "special", NULL};
    PyObject *obj;
    int special = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &obj, &special))
        return NULL;
    size_t n;
    int32_t *ids = ids_arg(obj, &n);
    if (ids == NULL)
        return NULL;
    PyObject *res = NULL;
    size_t need = 0;
    pcc_status st = pcc_tokenizer_decode(self->t, ids, n, special != 0, NULL, &need, 0);
    if (st != PCC_OK && st != PCC_E_LIMIT) {
        pcc_py_raise(st, "token id out of range");
        goto out;
    }
    uint8_t *buf = PyMem_Malloc(need + 1);
    if (buf == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    size_t got;
    st = pcc_tokenizer_decode(self->t, ids, n, special != 0, buf, &got, need);
    if (st != PCC_OK)
        pcc_py_raise(st, "decode");
    else if (as_str)
        res = PyUnicode_DecodeUTF8((const char *)buf, (Py_ssize_t)got, "replace");
    else
        res = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)got);
    pcc_wipe(buf, need + 1);
    PyMem_Free(buf);
out:
    PyMem_Free(ids);
    return res;
}

static PyObject *tk_decode(TokenizerObject *self, PyObject *args, PyObject *kw)
{
    return decode_impl(self, args, kw, 1);
}

static PyObject *tk_decode_bytes(TokenizerObject *self, PyObject *args, PyObject *kw)
{
    return decode_impl(self, args, kw, 0);
}

static int id_arg(PyObject *obj, int32_t *id)
{
    int overflow;
    long v = PyLong_AsLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *id = (overflow || v < INT32_MIN || v > INT32_MAX) ? -1 : (int32_t)v;
    return 0;
}

static PyObject *tk_token_to_piece(TokenizerObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"id", "special", NULL};
    PyObject *obj;
    int special = 1;
    int32_t id;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p", kwlist, &obj, &special) || id_arg(obj, &id) < 0)
        return NULL;
    size_t cap = pcc_tokenizer_max_piece_len(self->t) + 1, n;
    uint8_t *buf = PyMem_Malloc(cap);
    if (buf == NULL)
        return PyErr_NoMemory();
    pcc_status st = pcc_tokenizer_token_to_piece(self->t, id, special != 0, buf, &n, cap);
    PyObject *res = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n)
                                 : pcc_py_raise(st, "token id out of range");
    PyMem_Free(buf);
    return res;
}

static PyObject *tk_token_id(TokenizerObject *self, PyObject *arg)
{
    const char *s;
    size_t len;
    Py_buffer view;
    int have_view;
    if (text_arg(arg, &s, &len, &view, &have_view) < 0)
        return NULL;
    int32_t id;
    pcc_status st = pcc_tokenizer_token_id(self->t, s, len, &id);
    if (have_view)
        PyBuffer_Release(&view);
    if (st != PCC_OK)
        return pcc_py_raise(st, "no such token");
    return PyLong_FromLong(id);
}

static PyObject *tk_token_text(TokenizerObject *self, PyObject *arg)
{
    int32_t id;
    if (id_arg(arg, &id) < 0)
        return NULL;
    const char *s;
    size_t len;
    pcc_status st = pcc_tokenizer_token_text(self->t, id, &s, &len);
    if (st != PCC_OK)
        return pcc_py_raise(st, "token id out of range");
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "surrogateescape");
}

static PyObject *tk_token_type(TokenizerObject *self, PyObject *arg)
{
    int32_t id;
    if (id_arg(arg, &id) < 0)
        return NULL;
    int ty = pcc_tokenizer_token_type(self->t, id);
    if (ty < 0)
        return pcc_py_raise(PCC_E_INVALID, "token id out of range");
    return PyLong_FromLong(ty);
}

static PyObject *tk_is_eog(TokenizerObject *self, PyObject *arg)
{
    int32_t id;
    if (id_arg(arg, &id) < 0)
        return NULL;
    return PyBool_FromLong(pcc_tokenizer_is_eog(self->t, id));
}

static PyObject *opt_id(int32_t id)
{
    if (id < 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(id);
}

static PyObject *tk_bos(TokenizerObject *self, void *c)
{
    (void)c;
    return opt_id(pcc_tokenizer_bos(self->t));
}

static PyObject *tk_eos(TokenizerObject *self, void *c)
{
    (void)c;
    return opt_id(pcc_tokenizer_eos(self->t));
}

static PyObject *tk_pad(TokenizerObject *self, void *c)
{
    (void)c;
    return opt_id(pcc_tokenizer_pad(self->t));
}

static PyObject *tk_add_bos(TokenizerObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(pcc_tokenizer_add_bos(self->t));
}

static PyObject *tk_vocab_size(TokenizerObject *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(pcc_tokenizer_vocab_size(self->t));
}

static PyObject *tk_pre(TokenizerObject *self, void *c)
{
    (void)c;
    const int pre = pcc_tokenizer_pre(self->t);
    return PyUnicode_FromString(pre == PCC_TOKENIZER_PRE_SMOLLM ? "smollm" : pre == PCC_TOKENIZER_PRE_QWEN2 ? "qwen2" : "gpt2");
}

static PyObject *tk_max_piece(TokenizerObject *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(pcc_tokenizer_max_piece_len(self->t));
}

static PyObject *tk_decoder(TokenizerObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"special", NULL};
    int special = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &special))
        return NULL;
    PyObject *m = PyType_GetModule(Py_TYPE(self));
    if (m == NULL)
        return NULL;
    PyTypeObject *cls = pcc_py_module_type(m, "TokenDecoder");
    if (cls == NULL)
        return NULL;
    DecoderObject *d = (DecoderObject *)cls->tp_alloc(cls, 0);
    Py_DECREF(cls);
    if (d == NULL)
        return NULL;
    d->lock = PyThread_allocate_lock();
    if (d->lock == NULL) {
        Py_DECREF(d);
        return PyErr_NoMemory();
    }
    pcc_status st = pcc_tokenizer_decoder_new(&d->d, self->t, special != 0);
    if (st != PCC_OK) {
        Py_DECREF(d);
        return pcc_py_raise(st, "decoder");
    }
    d->owner = Py_NewRef((PyObject *)self);
    return (PyObject *)d;
}

static PyMethodDef tk_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))tk_encode, METH_VARARGS | METH_KEYWORDS,
     "encode(text, special=True) -> list[int]. text is str or bytes; with special, control tokens "
     "spelled in the text (<|im_start|>) become their ids. No BOS is added."},
    {"decode", (PyCFunction)(void (*)(void))tk_decode, METH_VARARGS | METH_KEYWORDS,
     "decode(ids, special=False) -> str (invalid UTF-8 replaced by U+FFFD)."},
    {"decode_bytes", (PyCFunction)(void (*)(void))tk_decode_bytes, METH_VARARGS | METH_KEYWORDS,
     "decode_bytes(ids, special=False) -> bytes, the exact inverse of encode."},
    {"token_to_piece", (PyCFunction)(void (*)(void))tk_token_to_piece, METH_VARARGS | METH_KEYWORDS,
     "token_to_piece(id, special=True) -> bytes of one token (maybe partial UTF-8)."},
    {"token_id", (PyCFunction)tk_token_id, METH_O,
     "token_id(text) -> id of the vocabulary entry spelled exactly text (UnknownKeyError)."},
    {"token_text", (PyCFunction)tk_token_text, METH_O,
     "token_text(id) -> the vocabulary text of id as stored (byte-level form, e.g. 'Ġthe')."},
    {"token_type", (PyCFunction)tk_token_type, METH_O, "token_type(id) -> GGUF token type (1 normal, 3 control, ...)."},
    {"is_eog", (PyCFunction)tk_is_eog, METH_O, "is_eog(id) -> True when id ends generation."},
    {"decoder", (PyCFunction)(void (*)(void))tk_decoder, METH_VARARGS | METH_KEYWORDS,
     "decoder(special=False) -> TokenDecoder, a streaming decoder emitting whole UTF-8 characters."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef tk_getset[] = {
    {"bos", (getter)tk_bos, NULL, "BOS id or None.", NULL},
    {"eos", (getter)tk_eos, NULL, "EOS id or None.", NULL},
    {"pad", (getter)tk_pad, NULL, "Padding id or None.", NULL},
    {"add_bos", (getter)tk_add_bos, NULL, "Whether callers should prepend BOS.", NULL},
    {"vocab_size", (getter)tk_vocab_size, NULL, "Number of tokens.", NULL},
    {"pre", (getter)tk_pre, NULL, "Pre-tokenizer in use: 'smollm' or 'gpt2'.", NULL},
    {"max_piece_len", (getter)tk_max_piece, NULL, "Longest decoded token in bytes.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot tk_slots[] = {
    {Py_tp_doc, "Tokenizer(gguf): GPT-2 byte-level BPE built from a GGUFFile's metadata."},
    {Py_tp_new, tk_new},
    {Py_tp_dealloc, tk_dealloc},
    {Py_tp_methods, tk_methods},
    {Py_tp_getset, tk_getset},
    {0, NULL},
};

static PyType_Spec tk_spec = {
    "pcc._core.Tokenizer", sizeof(TokenizerObject), 0, Py_TPFLAGS_DEFAULT, tk_slots,
};

/* ---------------------------------------------------------------- TokenDecoder */

static void dec_lock(DecoderObject *self)
{
    if (!PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
}

static void dec_dealloc(DecoderObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_tokenizer_decoder_free(self->d);
    if (self->lock != NULL)
        PyThread_free_lock(self->lock);
    Py_XDECREF(self->owner);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *dec_push(DecoderObject *self, PyObject *arg)
{
    int32_t id;
    if (id_arg(arg, &id) < 0)
        return NULL;
    const pcc_tokenizer *t = ((TokenizerObject *)self->owner)->t;
    size_t cap = pcc_tokenizer_max_piece_len(t) + 4, n;
    uint8_t *buf = PyMem_Malloc(cap);
    if (buf == NULL)
        return PyErr_NoMemory();
    dec_lock(self);
    pcc_status st = pcc_tokenizer_decoder_push(self->d, id, buf, &n, cap);
    PyThread_release_lock(self->lock);
    PyObject *res = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n)
                                 : pcc_py_raise(st, "token id out of range");
    pcc_wipe(buf, cap);
    PyMem_Free(buf);
    return res;
}

static PyObject *dec_flush(DecoderObject *self, PyObject *unused)
{
    (void)unused;
    uint8_t buf[4];
    size_t n;
    dec_lock(self);
    pcc_status st = pcc_tokenizer_decoder_flush(self->d, buf, &n, sizeof buf);
    PyThread_release_lock(self->lock);
    PyObject *res = st == PCC_OK ? PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n)
                                 : pcc_py_raise(st, "flush");
    pcc_wipe(buf, sizeof buf);
    return res;
}

static PyObject *dec_pending(DecoderObject *self, void *c)
{
    (void)c;
    return PyLong_FromSize_t(pcc_tokenizer_decoder_pending(self->d));
}

static PyMethodDef dec_methods[] = {
    {"push", (PyCFunction)dec_push, METH_O,
     "push(id) -> bytes: the bytes that form whole UTF-8 characters now (may be empty)."},
    {"flush", (PyCFunction)dec_flush, METH_NOARGS,
     "flush() -> bytes: whatever is held back (an incomplete sequence), and reset."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef dec_getset[] = {
    {"pending", (getter)dec_pending, NULL, "Bytes held back (0..3).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot dec_slots[] = {
    {Py_tp_doc, "TokenDecoder: streaming detokenizer (from Tokenizer.decoder())."},
    {Py_tp_dealloc, dec_dealloc},
    {Py_tp_methods, dec_methods},
    {Py_tp_getset, dec_getset},
    {0, NULL},
};

static PyType_Spec dec_spec = {
    "pcc._core.TokenDecoder", sizeof(DecoderObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, dec_slots,
};

/* ---------------------------------------------------------------- module */

static void *typed_ptr(PyObject *m, PyObject *obj, const char *name)
{
    PyTypeObject *cls = pcc_py_module_type(m, name);
    if (cls == NULL)
        return NULL;
    int ok = PyObject_TypeCheck(obj, cls);
    Py_DECREF(cls);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "expected pcc._core.%s, got %.100s", name,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return obj;
}

const pcc_gguf *pcc_py_gguf_ptr(PyObject *m, PyObject *obj)
{
    GGUFFileObject *o = typed_ptr(m, obj, "GGUFFile");
    return o ? o->g : NULL;
}

const pcc_tokenizer *pcc_py_tokenizer_ptr(PyObject *m, PyObject *obj)
{
    TokenizerObject *o = typed_ptr(m, obj, "Tokenizer");
    return o ? o->t : NULL;
}

int pcc_py_gguf_add(PyObject *m)
{
    /* idempotent: both the llm glue and (on the gguf branch) the temporary py_wire.c call it */
    int have = PyObject_HasAttrString(m, "GGUFFile");
    if (have)
        return 0;
    if (pcc_py_add_type(m, &gf_spec, NULL) == NULL || pcc_py_add_type(m, &tk_spec, NULL) == NULL ||
        pcc_py_add_type(m, &dec_spec, NULL) == NULL)
        return -1;
    return 0;
}
