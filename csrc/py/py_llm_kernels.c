/* py_llm_kernels.c: test hooks exposing the inference kernels (pcc._core._llm_k_*), so tests
 * compare every variant with its scalar twin and with NumPy. Not a public API. */
#include "pymod.h"

#include <string.h>

#include "pcc/llm_kernels.h"

#include "py_llm_internal.h"

static const pcc_kernels *get_variant(int v)
{
    const pcc_kernels *k = pcc_kernels_get(v);
    if (k == NULL)
        pcc_py_raise(PCC_E_UNSUPPORTED, "kernel variant not supported on this CPU");
    return k;
}

static const pcc_type_traits *get_type(const pcc_kernels *k, int t)
{
    if (t < 0 || t >= PCC_DT_COUNT || k->types[t].name == NULL) {
        pcc_py_raise(PCC_E_UNSUPPORTED, "unknown tensor type");
        return NULL;
    }
    return &k->types[t];
}

/* _llm_k_variants() -> list of supported variant ids */
static PyObject *k_variants(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    PyObject *l = PyList_New(0);
    if (l == NULL)
        return NULL;
    for (int v = 0; v < PCC_KV_COUNT; v++) {
        if (!pcc_kernels_supported(v))
            continue;
        PyObject *i = PyLong_FromLong(v);
        if (i == NULL || PyList_Append(l, i) < 0) {
            Py_XDECREF(i);
            Py_DECREF(l);
            return NULL;
        }
        Py_DECREF(i);
    }
    return l;
}

/* _llm_k_best() -> id of the variant PCC_KV_BEST picks */
static PyObject *k_best(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyLong_FromLong(pcc_kernels_get(PCC_KV_BEST)->variant);
}

/* _llm_k_from_float(variant, type, x_f32) -> bytes */
static PyObject *k_from_float(PyObject *m, PyObject *args)
{
    int v, t;
    Py_buffer x;
    PyObject *res = NULL;
    if (!PyArg_ParseTuple(args, "iiy*", &v, &t, &x))
        return NULL;
    const pcc_kernels *k = get_variant(v);
    const pcc_type_traits *tt = k ? get_type(k, t) : NULL;
    if (tt == NULL)
        goto out;
    if (tt->from_float == NULL) {
        pcc_py_raise(PCC_E_UNSUPPORTED, "no from_float for this type");
        goto out;
    }
    size_t n = (size_t)x.len / sizeof(float);
    size_t sz = pcc_type_size((pcc_dtype)t, n);
    if (x.len % 4 != 0 || n == 0 || sz == 0) {
        pcc_py_raise(PCC_E_INVALID, "length is not a whole number of blocks");
        goto out;
    }
    res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)sz);
    if (res != NULL)
        tt->from_float((const float *)x.buf, PyBytes_AS_STRING(res), n);
out:
    PyBuffer_Release(&x);
    return res;
}

/* _llm_k_to_float(variant, type, data, n) -> bytes (n float32) */
static PyObject *k_to_float(PyObject *m, PyObject *args)
{
    int v, t;
    Py_ssize_t n;
    Py_buffer x;
    PyObject *res = NULL;
    if (!PyArg_ParseTuple(args, "iiy*n", &v, &t, &x, &n))
        return NULL;
    const pcc_kernels *k = get_variant(v);
    const pcc_type_traits *tt = k ? get_type(k, t) : NULL;
    if (tt == NULL)
        goto out;
    size_t sz = n > 0 ? pcc_type_size((pcc_dtype)t, (size_t)n) : 0;
    if (sz == 0 || (size_t)x.len < sz) {
        pcc_py_raise(PCC_E_INVALID, "data too short or n not a whole number of blocks");
        goto out;
    }
    res = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(float));
    if (res != NULL)
        tt->to_float(x.buf, (float *)PyBytes_AS_STRING(res), (size_t)n);
out:
    PyBuffer_Release(&x);
    return res;
}

/* _llm_k_dotrows(variant, wtype, w, nrows, n, x, batch=False) -> bytes (nrows float32); x in the
 * dot type. nrows == 0 calls the single dot() kernel once instead (result: 1 float); batch calls
 * dotrows_batch (F32/F16: llama.cpp's summation order inside a batch). */
static PyObject *k_dotrows(PyObject *m, PyObject *args)
{
    int v, t, batch = 0;
    Py_ssize_t nr, n;
    Py_buffer w, x;
    PyObject *res = NULL;
    if (!PyArg_ParseTuple(args, "iiy*nny*|p", &v, &t, &w, &nr, &n, &x, &batch))
        return NULL;
    const pcc_kernels *k = get_variant(v);
    const pcc_type_traits *tt = k ? get_type(k, t) : NULL;
    if (tt == NULL)
        goto out;
    if (tt->dot == NULL || (batch && tt->dotrows_batch == NULL)) {
        pcc_py_raise(PCC_E_UNSUPPORTED, "no dot product for this type");
        goto out;
    }
    size_t row = n > 0 ? pcc_type_size((pcc_dtype)t, (size_t)n) : 0;
    size_t xrow = n > 0 ? pcc_type_size(tt->dot_type, (size_t)n) : 0;
    size_t rows = nr == 0 ? 1 : (size_t)nr;
    if (nr < 0 || row == 0 || xrow == 0 || (size_t)w.len < row * rows || (size_t)x.len < xrow) {
        pcc_py_raise(PCC_E_INVALID, "bad sizes");
        goto out;
    }
    res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(rows * sizeof(float)));
    if (res == NULL)
        goto out;
    float *s = (float *)PyBytes_AS_STRING(res);
    if (batch)
        tt->dotrows_batch((size_t)n, rows, s, w.buf, row, x.buf);
    else if (nr == 0)
        tt->dot((size_t)n, s, w.buf, x.buf);
    else
        tt->dotrows((size_t)n, rows, s, w.buf, row, x.buf);
out:
    PyBuffer_Release(&w);
    PyBuffer_Release(&x);
    return res;
}

/* _llm_k_dotrows_multi(variant, wtype, w, nrows, n, x, nx, batch=False) -> bytes (nx x nrows
 * float32): dotrows_multi on nx vectors stored one after another in x (where the variant has no
 * such kernel: dotrows or dotrows_batch per vector). */
static PyObject *k_dotrows_multi(PyObject *m, PyObject *args)
{
    int v, t, batch = 0;
    Py_ssize_t nr, n, nx;
    Py_buffer w, x;
    PyObject *res = NULL;
    if (!PyArg_ParseTuple(args, "iiy*nny*n|p", &v, &t, &w, &nr, &n, &x, &nx, &batch))
        return NULL;
    const pcc_kernels *k = get_variant(v);
    const pcc_type_traits *tt = k ? get_type(k, t) : NULL;
    if (tt == NULL)
        goto out;
    if (tt->dotrows == NULL || (batch && tt->dotrows_batch == NULL)) {
        pcc_py_raise(PCC_E_UNSUPPORTED, "no dot product for this type");
        goto out;
    }
    size_t row = n > 0 ? pcc_type_size((pcc_dtype)t, (size_t)n) : 0;
    size_t xrow = n > 0 ? pcc_type_size(tt->dot_type, (size_t)n) : 0;
    if (nr <= 0 || nx <= 0 || nx > 64 || row == 0 || xrow == 0 || (size_t)w.len / row < (size_t)nr ||
        (size_t)x.len / xrow < (size_t)nx) {
        pcc_py_raise(PCC_E_INVALID, "bad sizes");
        goto out;
    }
    res = PyBytes_FromStringAndSize(NULL, nx * nr * (Py_ssize_t)sizeof(float));
    if (res == NULL)
        goto out;
    float *s = (float *)PyBytes_AS_STRING(res);
    if (tt->dotrows_multi != NULL) {
        tt->dotrows_multi((size_t)n, (size_t)nr, (size_t)nx, s, (size_t)nr, w.buf, row, x.buf, xrow, batch);
    } else {
        for (Py_ssize_t j = 0; j < nx; j++)
            (batch ? tt->dotrows_batch : tt->dotrows)((size_t)n, (size_t)nr, s + j * nr, w.buf, row,
                                                      (const uint8_t *)x.buf + (size_t)j * xrow);
    }
out:
    PyBuffer_Release(&w);
    PyBuffer_Release(&x);
    return res;
}

/* _llm_k_gemm(variant, wtype, w, nrows, n, x, ntok) -> bytes (ntok x nrows float32): the prefill
 * kernel (or dotrows per vector when the type has none); x holds ntok rows in the dot type. */
static PyObject *k_gemm(PyObject *m, PyObject *args)
{
    int v, t;
    Py_ssize_t nr, n, nt;
    Py_buffer w, x;
    PyObject *res = NULL;
    if (!PyArg_ParseTuple(args, "iiy*nny*n", &v, &t, &w, &nr, &n, &x, &nt))
        return NULL;
    const pcc_kernels *k = get_variant(v);
    const pcc_type_traits *tt = k ? get_type(k, t) : NULL;
    if (tt == NULL)
        goto out;
    if (tt->dotrows == NULL) {
        pcc_py_raise(PCC_E_UNSUPPORTED, "no dot product for this type");
        goto out;
    }
    size_t row = n > 0 ? pcc_type_size((pcc_dtype)t, (size_t)n) : 0;
    size_t xrow = n > 0 ? pcc_type_size(tt->dot_type, (size_t)n) : 0;
    if (nr <= 0 || nt <= 0 || row == 0 || xrow == 0 || (size_t)w.len < row * (size_t)nr ||
        (size_t)x.len < xrow * (size_t)nt) {
        pcc_py_raise(PCC_E_INVALID, "bad sizes");
        goto out;
    }
    res = PyBytes_FromStringAndSize(NULL, nt * nr * (Py_ssize_t)sizeof(float));
    if (res == NULL)
        goto out;
    float *y = (float *)PyBytes_AS_STRING(res);
    if (tt->gemm != NULL)
        tt->gemm((size_t)n, (size_t)nr, (size_t)nt, y, (size_t)nr, w.buf, row, x.buf, xrow);
    else
        for (Py_ssize_t i = 0; i < nt; i++)
            tt->dotrows((size_t)n, (size_t)nr, y + i * nr, w.buf, row,
                        (const uint8_t *)x.buf + (size_t)i * xrow);
out:
    PyBuffer_Release(&w);
    PyBuffer_Release(&x);
    return res;
}

static int f32_arg(Py_buffer *b, size_t n_expect, const char *what)
{
    if (b->len % 4 != 0 || (n_expect != 0 && (size_t)b->len != n_expect * 4) || b->len == 0) {
        pcc_py_raise(PCC_E_INVALID, what);
        return -1;
    }
    return 0;
}

/* _llm_k_rms_norm(variant, x, w, eps) -> bytes */
static PyObject *k_rms_norm(PyObject *m, PyObject *args)
{
    int v;
    Py_buffer x, w;
    float eps;
    PyObject *res = NULL;
    if (!PyArg_ParseTuple(args, "iy*y*f", &v, &x, &w, &eps))
        return NULL;
    const pcc_kernels *k = get_variant(v);
    if (k == NULL || f32_arg(&x, 0, "x") < 0 || f32_arg(&w, (size_t)x.len / 4, "w") < 0)
        goto out;
    res = PyBytes_FromStringAndSize(NULL, x.len);
    if (res != NULL)
        k->rms_norm((float *)PyBytes_AS_STRING(res), x.buf, w.buf, (size_t)x.len / 4, eps);
out:
    PyBuffer_Release(&x);
    PyBuffer_Release(&w);
    return res;
}

/* _llm_k_softmax(variant, x) -> bytes */
static PyObject *k_softmax(PyObject *m, PyObject *args)
{
    int v;
    Py_buffer x;
    PyObject *res = NULL;
    if (!PyArg_ParseTuple(args, "iy*", &v, &x))
        return NULL;
    const pcc_kernels *k = get_variant(v);
    if (k == NULL || f32_arg(&x, 0, "x") < 0)
        goto out;
    res = PyBytes_FromStringAndSize(x.buf, x.len);
    if (res != NULL)
        k->softmax((float *)PyBytes_AS_STRING(res), (size_t)x.len / 4);
out:
    PyBuffer_Release(&x);
    return res;
}

/* _llm_k_swiglu(variant, g, u) -> bytes */
static PyObject *k_swiglu(PyObject *m, PyObject *args)
{
    int v;
    Py_buffer g, u;
    PyObject *res = NULL;
    if (!PyArg_ParseTuple(args, "iy*y*", &v, &g, &u))
        return NULL;
    const pcc_kernels *k = get_variant(v);
    if (k == NULL || f32_arg(&g, 0, "g") < 0 || f32_arg(&u, (size_t)g.len / 4, "u") < 0)
        goto out;
    res = PyBytes_FromStringAndSize(NULL, g.len);
    if (res != NULL)
        k->swiglu((float *)PyBytes_AS_STRING(res), g.buf, u.buf, (size_t)g.len / 4);
out:
    PyBuffer_Release(&g);
    PyBuffer_Release(&u);
    return res;
}

/* _llm_k_rope(x, n_heads, head_dim, n_rot, pos, base) -> bytes */
static PyObject *k_rope(PyObject *m, PyObject *args)
{
    Py_buffer x;
    Py_ssize_t nh, hd, nrot;
    float pos, base;
    PyObject *res = NULL;
    float *cs = NULL;
    if (!PyArg_ParseTuple(args, "y*nnnff", &x, &nh, &hd, &nrot, &pos, &base))
        return NULL;
    if (nh <= 0 || hd <= 0 || nrot <= 0 || nrot > hd || nrot % 2 != 0 || hd > 4096 ||
        f32_arg(&x, (size_t)(nh * hd), "x must hold n_heads * head_dim floats") < 0) {
        if (!PyErr_Occurred())
            pcc_py_raise(PCC_E_INVALID, "bad rope sizes");
        goto out;
    }
    cs = PyMem_Malloc((size_t)nrot * sizeof(float));
    if (cs == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    pcc_rope_cache(cs, pos, (size_t)nrot, base);
    res = PyBytes_FromStringAndSize(x.buf, x.len);
    if (res != NULL) {
        pcc_rope((float *)PyBytes_AS_STRING(res), (size_t)nh, (size_t)hd, (size_t)nrot, cs);
    }
out:
    PyMem_Free(cs);
    PyBuffer_Release(&x);
    return res;
}

/* _llm_k_fp16(data_f32) -> bytes of f16 (reference conversion) */
static PyObject *k_fp16(PyObject *m, PyObject *args)
{
    Py_buffer x;
    PyObject *res = NULL;
    if (!PyArg_ParseTuple(args, "y*", &x))
        return NULL;
    if (f32_arg(&x, 0, "x") < 0)
        goto out;
    size_t n = (size_t)x.len / 4;
    res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 2));
    if (res != NULL) {
        uint16_t *o = (uint16_t *)PyBytes_AS_STRING(res);
        for (size_t i = 0; i < n; i++)
            o[i] = pcc_fp32_to_fp16(((const float *)x.buf)[i]);
    }
out:
    PyBuffer_Release(&x);
    return res;
}

static PyMethodDef k_methods[] = {
    {"_llm_k_variants", k_variants, METH_NOARGS, "Test hook: kernel variants this CPU runs."},
    {"_llm_k_best", k_best, METH_NOARGS, "Test hook: the variant the engine uses."},
    {"_llm_k_from_float", k_from_float, METH_VARARGS, "Test hook: quantize floats."},
    {"_llm_k_to_float", k_to_float, METH_VARARGS, "Test hook: dequantize."},
    {"_llm_k_dotrows", k_dotrows, METH_VARARGS, "Test hook: row dot products."},
    {"_llm_k_gemm", k_gemm, METH_VARARGS, "Test hook: batched (prefill) products."},
    {"_llm_k_dotrows_multi", k_dotrows_multi, METH_VARARGS, "Test hook: rows x several vectors."},
    {"_llm_k_rms_norm", k_rms_norm, METH_VARARGS, "Test hook: RMS norm."},
    {"_llm_k_softmax", k_softmax, METH_VARARGS, "Test hook: softmax."},
    {"_llm_k_swiglu", k_swiglu, METH_VARARGS, "Test hook: SwiGLU."},
    {"_llm_k_rope", k_rope, METH_VARARGS, "Test hook: rotary embedding."},
    {"_llm_k_fp16", k_fp16, METH_VARARGS, "Test hook: float32 -> float16 bits."},
    {NULL, NULL, 0, NULL},
};

int pcc_py_llm_kernels_add(PyObject *m) { return PyModule_AddFunctions(m, k_methods); }
