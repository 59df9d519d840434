/* py_bhttp.c: pcc._core glue for Binary HTTP (RFC 9292). The pcc.bhttp wrapper normalises
 * arguments (names and values as bytes, fields as lists of pairs) before calling these. */
#include "pymod.h"

#include "pcc/bhttp.h"

/* add_fields appends every (name, value) pair of the sequence fields to a section. */
static int add_fields(pcc_bhttp_msg *m, pcc_bhttp_section s, size_t info_index, PyObject *fields,
                      const char *what)
{
    PyObject *seq = PySequence_Fast(fields, "field lines must be a sequence of (name, value)");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
        char *name, *value;
        Py_ssize_t nl, vl;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyBytes_Check(PyTuple_GET_ITEM(pair, 0)) || !PyBytes_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "a field line must be a (bytes, bytes) tuple");
            goto fail;
        }
        if (PyBytes_AsStringAndSize(PyTuple_GET_ITEM(pair, 0), &name, &nl) < 0 ||
            PyBytes_AsStringAndSize(PyTuple_GET_ITEM(pair, 1), &value, &vl) < 0)
            goto fail;
        pcc_status st = pcc_bhttp_msg_add_field(m, s, info_index, (const uint8_t *)name,
                                                (size_t)nl, (const uint8_t *)value, (size_t)vl);
        if (st != PCC_OK) {
            pcc_py_raise(st, st == PCC_E_INVALID
                                 ? what /* names the section; never echoes the value */
                                 : "bhttp: field section exceeds a limit");
            goto fail;
        }
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    return -1;
}

/* finish sets content and trailers, then encodes m into a new bytes object. */
static PyObject *finish(pcc_bhttp_msg *m, PyObject *headers, Py_buffer *content,
                        PyObject *trailers, int known_length, Py_ssize_t padding, int truncate)
{
    pcc_status st;
    size_t len, wrote;
    PyObject *out = NULL;
    if (padding < 0)
        return pcc_py_raise(PCC_E_INVALID, "bhttp: padding must be >= 0");
    if (add_fields(m, PCC_BHTTP_HEADERS, 0, headers,
                   "bhttp: header field name must be a lower-case token and the value free of "
                   "NUL, CR and LF") < 0 ||
        add_fields(m, PCC_BHTTP_TRAILERS, 0, trailers,
                   "bhttp: trailer field name must be a lower-case token and the value free of "
                   "NUL, CR and LF") < 0)
        return NULL;
    if ((st = pcc_bhttp_msg_set_content(m, content->buf, (size_t)content->len)) != PCC_OK)
        return pcc_py_raise(st, "bhttp: content too large");
    unsigned flags = (known_length ? 0u : PCC_BHTTP_INDETERMINATE) | (truncate ? PCC_BHTTP_TRUNCATE : 0u);
    if ((st = pcc_bhttp_msg_encoded_len(m, flags, (size_t)padding, &len)) != PCC_OK)
        return pcc_py_raise(st, "bhttp: encoded message exceeds the size limit");
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
    if (out == NULL)
        return NULL;
    st = pcc_bhttp_msg_encode(m, flags, (size_t)padding, (uint8_t *)PyBytes_AS_STRING(out), &wrote, len);
    if (st != PCC_OK || wrote != len) {
        Py_DECREF(out);
        return pcc_py_raise(st != PCC_OK ? st : PCC_E_CRYPTO, "bhttp: encode");
    }
    return out;
}

static PyObject *py_encode_request(PyObject *mod, PyObject *args)
{
    (void)mod;
    Py_buffer ctl[4] = {{0}}, content = {0};
    PyObject *headers, *trailers, *out = NULL;
    int known, truncate;
    Py_ssize_t padding;
    pcc_bhttp_msg *m = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*y*Oy*Opnp:bhttp_encode_request", &ctl[0], &ctl[1], &ctl[2],
                          &ctl[3], &headers, &content, &trailers, &known, &padding, &truncate))
        return NULL;
    pcc_status st = pcc_bhttp_request_new(&m, ctl[0].buf, (size_t)ctl[0].len, ctl[1].buf,
                                          (size_t)ctl[1].len, ctl[2].buf, (size_t)ctl[2].len,
                                          ctl[3].buf, (size_t)ctl[3].len);
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_INVALID
                             ? "bhttp: method must be a token, scheme a URI scheme, authority and "
                               "path visible ASCII"
                             : "bhttp: control data too long");
        goto out;
    }
    out = finish(m, headers, &content, trailers, known, padding, truncate);
out:
    pcc_bhttp_msg_free(m);
    for (int i = 0; i < 4; i++)
        PyBuffer_Release(&ctl[i]);
    PyBuffer_Release(&content);
    return out;
}

static PyObject *py_encode_response(PyObject *mod, PyObject *args)
{
    (void)mod;
    int status, known, truncate;
    PyObject *informational, *headers, *trailers, *out = NULL, *seq = NULL;
    Py_buffer content = {0};
    Py_ssize_t padding;
    pcc_bhttp_msg *m = NULL;
    if (!PyArg_ParseTuple(args, "iOOy*Opnp:bhttp_encode_response", &status, &informational,
                          &headers, &content, &trailers, &known, &padding, &truncate))
        return NULL;
    pcc_status st = pcc_bhttp_response_new(&m, status < 0 || status > 0xFFFF ? 0 : (uint16_t)status);
    if (st != PCC_OK) {
        pcc_py_raise(st, "bhttp: final status must be 200..599");
        goto out;
    }
    seq = PySequence_Fast(informational, "informational must be a sequence of (status, fields)");
    if (seq == NULL)
        goto out;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 ||
            !PyLong_Check(PyTuple_GET_ITEM(item, 0))) {
            PyErr_SetString(PyExc_TypeError, "an informational response is (status, fields)");
            goto out;
        }
        long s = PyLong_AsLong(PyTuple_GET_ITEM(item, 0));
        if (s == -1 && PyErr_Occurred())
            goto out;
        st = pcc_bhttp_msg_add_informational(m, s < 0 || s > 0xFFFF ? 0 : (uint16_t)s);
        if (st != PCC_OK) {
            pcc_py_raise(st, st == PCC_E_LIMIT ? "bhttp: too many informational responses"
                                               : "bhttp: informational status must be 100..199");
            goto out;
        }
        if (add_fields(m, PCC_BHTTP_INFORMATIONAL, (size_t)i, PyTuple_GET_ITEM(item, 1),
                       "bhttp: informational field name must be a lower-case token and the value "
                       "free of NUL, CR and LF") < 0)
            goto out;
    }
    out = finish(m, headers, &content, trailers, known, padding, truncate);
out:
    Py_XDECREF(seq);
    pcc_bhttp_msg_free(m);
    PyBuffer_Release(&content);
    return out;
}

static PyObject *bytes_of(const uint8_t *p, size_t n)
{
    return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
}

/* fields_list returns a section as a list of (name, value) bytes tuples. */
static PyObject *fields_list(const pcc_bhttp_msg *m, pcc_bhttp_section s, size_t info_index)
{
    size_t n = pcc_bhttp_msg_field_count(m, s, info_index);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *name, *value;
        size_t nl, vl;
        if (pcc_bhttp_msg_field(m, s, info_index, i, &name, &nl, &value, &vl) != PCC_OK) {
            Py_DECREF(list);
            return pcc_py_raise(PCC_E_STATE, "bhttp: field index");
        }
        PyObject *t = Py_BuildValue("(y#y#)", (const char *)name, (Py_ssize_t)nl,
                                    (const char *)value, (Py_ssize_t)vl);
        if (t == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

/* bhttp_decode(data) -> (is_request, framing, (method, scheme, authority, path) | None, status,
 *                        [(status, fields)], headers, content, trailers) */
static PyObject *py_decode(PyObject *mod, PyObject *arg)
{
    (void)mod;
    Py_buffer b;
    pcc_bhttp_msg *m = NULL;
    PyObject *ctl = NULL, *info = NULL, *headers = NULL, *trailers = NULL, *content = NULL;
    PyObject *out = NULL;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    pcc_status st = pcc_bhttp_decode(&m, b.buf, (size_t)b.len);
    PyBuffer_Release(&b);
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_LIMIT ? "bhttp: message exceeds a limit"
                                                  : "bhttp: malformed message");
    if (pcc_bhttp_msg_is_request(m)) {
        const uint8_t *p[4];
        size_t n[4];
        for (unsigned i = 0; i < 4; i++)
            pcc_bhttp_msg_control(m, i, &p[i], &n[i]);
        ctl = Py_BuildValue("(y#y#y#y#)", (const char *)p[0], (Py_ssize_t)n[0], (const char *)p[1],
                            (Py_ssize_t)n[1], (const char *)p[2], (Py_ssize_t)n[2],
                            (const char *)p[3], (Py_ssize_t)n[3]);
    } else {
        ctl = Py_NewRef(Py_None);
    }
    if (ctl == NULL)
        goto out;
    size_t ni = pcc_bhttp_msg_informational_count(m);
    if ((info = PyList_New((Py_ssize_t)ni)) == NULL)
        goto out;
    for (size_t i = 0; i < ni; i++) {
        PyObject *f = fields_list(m, PCC_BHTTP_INFORMATIONAL, i);
        if (f == NULL)
            goto out;
        PyObject *t = Py_BuildValue("(iN)", (int)pcc_bhttp_msg_informational_status(m, i), f);
        if (t == NULL)
            goto out;
        PyList_SET_ITEM(info, (Py_ssize_t)i, t);
    }
    if ((headers = fields_list(m, PCC_BHTTP_HEADERS, 0)) == NULL ||
        (trailers = fields_list(m, PCC_BHTTP_TRAILERS, 0)) == NULL)
        goto out;
    const uint8_t *c;
    size_t cl;
    pcc_bhttp_msg_content(m, &c, &cl);
    if ((content = bytes_of(c, cl)) == NULL)
        goto out;
    out = Py_BuildValue("(OIOiOOOO)", pcc_bhttp_msg_is_request(m) ? Py_True : Py_False,
                        pcc_bhttp_msg_framing(m), ctl, (int)pcc_bhttp_msg_status(m), info,
                        headers, content, trailers);
out:
    Py_XDECREF(ctl);
    Py_XDECREF(info);
    Py_XDECREF(headers);
    Py_XDECREF(trailers);
    Py_XDECREF(content);
    pcc_bhttp_msg_free(m);
    return out;
}

/* ---- BhttpResponseStream: incremental decoding of an indeterminate-length response ---- */

/* head_tuple gives (status, informational, headers) of a decoded head. */
static PyObject *head_tuple(const pcc_bhttp_msg *m)
{
    size_t ni = pcc_bhttp_msg_informational_count(m);
    PyObject *info = PyList_New((Py_ssize_t)ni), *headers;
    if (info == NULL)
        return NULL;
    for (size_t i = 0; i < ni; i++) {
        PyObject *f = fields_list(m, PCC_BHTTP_INFORMATIONAL, i);
        PyObject *t = f ? Py_BuildValue("(iN)", (int)pcc_bhttp_msg_informational_status(m, i), f) : NULL;
        if (t == NULL) {
            Py_DECREF(info);
            return NULL;
        }
        PyList_SET_ITEM(info, (Py_ssize_t)i, t);
    }
    if ((headers = fields_list(m, PCC_BHTTP_HEADERS, 0)) == NULL) {
        Py_DECREF(info);
        return NULL;
    }
    return Py_BuildValue("(iNN)", (int)pcc_bhttp_msg_status(m), info, headers);
}

typedef struct {
    PyObject_HEAD
    pcc_bhttp_stream *s;
} StreamObject;

static void stream_dealloc(StreamObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_bhttp_stream_free(self->s);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *stream_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args) || (kw && PyDict_GET_SIZE(kw))) {
        PyErr_SetString(PyExc_TypeError, "BhttpResponseStream() takes no arguments");
        return NULL;
    }
    StreamObject *self = (StreamObject *)tp->tp_alloc(tp, 0);
    if (self == NULL)
        return NULL;
    pcc_status st = pcc_bhttp_stream_new(&self->s);
    if (st != PCC_OK) {
        Py_DECREF(self);
        return pcc_py_raise(st, NULL);
    }
    return (PyObject *)self;
}

static const char *stream_error(pcc_status st)
{
    return st == PCC_E_LIMIT   ? "bhttp: message exceeds a limit"
           : st == PCC_E_STATE ? "bhttp: the response already ended or failed"
                               : "bhttp: malformed or truncated response";
}

static PyObject *stream_feed(StreamObject *self, PyObject *arg)
{
    Py_buffer b;
    PyObject *head = NULL, *trailers = NULL, *parts = NULL, *content = NULL, *out = NULL;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    const uint8_t *p = b.buf;
    size_t len = (size_t)b.len, off = 0, total = 0;
    if ((parts = PyList_New(0)) == NULL)
        goto out;
    for (;;) {
        size_t used = 0, cl = 0;
        unsigned ev = PCC_BHTTP_EV_NONE;
        const uint8_t *c = NULL;
        pcc_status st = pcc_bhttp_stream_feed(self->s, off < len ? p + off : NULL, len - off, &used,
                                              &ev, &c, &cl);
        off += used;
        if (st != PCC_OK) {
            pcc_py_raise(st, stream_error(st));
            goto out;
        }
        if (ev == PCC_BHTTP_EV_NONE)
            break;
        if (ev == PCC_BHTTP_EV_HEAD && (head = head_tuple(pcc_bhttp_stream_head(self->s))) == NULL)
            goto out;
        if (ev == PCC_BHTTP_EV_TRAILERS &&
            (trailers = fields_list(pcc_bhttp_stream_trailers(self->s), PCC_BHTTP_TRAILERS, 0)) == NULL)
            goto out;
        if (ev == PCC_BHTTP_EV_CONTENT) {
            PyObject *piece = PyMemoryView_FromMemory((char *)c, (Py_ssize_t)cl, PyBUF_READ);
            int rc = piece ? PyList_Append(parts, piece) : -1;
            Py_XDECREF(piece);
            if (rc < 0)
                goto out;
            total += cl;
        }
    }
    /* the content pieces point into the caller's buffer: join them into one exact-size bytes */
    if ((content = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total)) == NULL)
        goto out;
    {
        char *dst = PyBytes_AS_STRING(content);
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parts); i++) {
            Py_buffer pb;
            if (PyObject_GetBuffer(PyList_GET_ITEM(parts, i), &pb, PyBUF_SIMPLE) < 0)
                goto out;
            memcpy(dst, pb.buf, (size_t)pb.len);
            dst += pb.len;
            PyBuffer_Release(&pb);
        }
    }
    out = Py_BuildValue("(OOO)", head ? head : Py_None, content, trailers ? trailers : Py_None);
out:
    if (parts != NULL) { /* release the views before the caller's buffer */
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parts); i++) {
            PyObject *v = PyList_GET_ITEM(parts, i);
            if (PyMemoryView_Check(v) && PyObject_CallMethod(v, "release", NULL) == NULL)
                PyErr_Clear();
        }
    }
    Py_XDECREF(parts);
    Py_XDECREF(head);
    Py_XDECREF(trailers);
    Py_XDECREF(content);
    PyBuffer_Release(&b);
    return out;
}

static PyObject *stream_finish(StreamObject *self, PyObject *unused)
{
    (void)unused;
    bool head_now = false;
    pcc_status st = pcc_bhttp_stream_finish(self->s, &head_now);
    if (st != PCC_OK)
        return pcc_py_raise(st, stream_error(st));
    if (head_now)
        return head_tuple(pcc_bhttp_stream_head(self->s));
    Py_RETURN_NONE;
}

static PyMethodDef stream_methods[] = {
    {"feed", (PyCFunction)stream_feed, METH_O,
     "feed(data) -> (head | None, content bytes, trailers | None); head is (status, "
     "informational, headers), given once when it becomes whole."},
    {"finish", (PyCFunction)stream_finish, METH_NOARGS,
     "finish() -> head | None: end of the stream (the head if it only became whole now)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot stream_slots[] = {
    {Py_tp_doc, "BhttpResponseStream(): decodes an indeterminate-length response in pieces."},
    {Py_tp_new, stream_new},
    {Py_tp_dealloc, stream_dealloc},
    {Py_tp_methods, stream_methods},
    {0, NULL},
};

static PyType_Spec stream_spec = {
    "pcc._core.BhttpResponseStream", sizeof(StreamObject), 0, Py_TPFLAGS_DEFAULT, stream_slots,
};

static PyMethodDef bhttp_funcs[] = {
    {"bhttp_encode_request", py_encode_request, METH_VARARGS,
     "bhttp_encode_request(method, scheme, authority, path, headers, content, trailers, "
     "known_length, padding, truncate) -> bytes"},
    {"bhttp_encode_response", py_encode_response, METH_VARARGS,
     "bhttp_encode_response(status, informational, headers, content, trailers, known_length, "
     "padding, truncate) -> bytes"},
    {"bhttp_decode", py_decode, METH_O,
     "bhttp_decode(data) -> (is_request, framing, control | None, status, informational, "
     "headers, content, trailers)"},
    {NULL, NULL, 0, NULL},
};

int pcc_py_bhttp_exec(PyObject *m)
{
    if (PyModule_AddFunctions(m, bhttp_funcs) < 0 || pcc_py_add_type(m, &stream_spec, NULL) == NULL)
        return -1;
    if (PyModule_AddIntConstant(m, "BHTTP_MAX_MESSAGE", PCC_BHTTP_MAX_MESSAGE) < 0 ||
        PyModule_AddIntConstant(m, "BHTTP_MAX_FIELDS", PCC_BHTTP_MAX_FIELDS) < 0 ||
        PyModule_AddIntConstant(m, "BHTTP_MAX_FIELD_SECTION", PCC_BHTTP_MAX_FIELD_SECTION) < 0 ||
        PyModule_AddIntConstant(m, "BHTTP_MAX_CONTROL", PCC_BHTTP_MAX_CONTROL) < 0 ||
        PyModule_AddIntConstant(m, "BHTTP_MAX_INFORMATIONAL", PCC_BHTTP_MAX_INFORMATIONAL) < 0)
        return -1;
    return 0;
}
