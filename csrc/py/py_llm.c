/* py_llm.c: pcc._core glue for the inference engine: LlmModel and LlmGeneration.
 *
 * The GIL is released for model load, tokenization, prefill and every decode step; a per-model
 * lock (taken after the GIL is released) serialises compute on one model, whose thread pool and
 * scratch are shared by its generations. Prompt text stays in the caller's str; ids, activations
 * and the KV cache live in the generation's arena; each text piece is copied once, from a secure
 * buffer, into the str handed back.
 */
#include "pymod.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcc/llm.h"
#include "pcc/llm_kernels.h"
#include "pcc/secure.h"

#include "py_llm_internal.h"

#if defined(__has_include)
#if __has_include("py_gguf.h")
#include "py_gguf.h"
#define PCC_HAVE_PY_GGUF 1
#endif
#endif

typedef struct {
    PyObject_HEAD
    pcc_llm_model *m;
    PyThread_type_lock lock;
} ModelObject;

typedef struct {
    PyObject_HEAD
    ModelObject *model; /* strong reference */
    pcc_llm_gen *g;
    uint8_t *buf; /* secure, pcc_llm_gen_max_piece bytes */
    size_t buf_cap;
} GenObject;

/* ---- helpers ------------------------------------------------------------------------------- */

static int model_live(ModelObject *self)
{
    if (self->m == NULL) {
        pcc_py_raise(PCC_E_STATE, "model is closed");
        return 0;
    }
    return 1;
}

static void lock_model(ModelObject *self) { PyThread_acquire_lock(self->lock, WAIT_LOCK); }
static void unlock_model(ModelObject *self) { PyThread_release_lock(self->lock); }

/* ids_from_seq converts a sequence of ints to a PyMem array (caller frees). */
static int32_t *ids_from_seq(PyObject *seq, Py_ssize_t *n_out)
{
    PyObject *fast = PySequence_Fast(seq, "ids must be a sequence of int");
    if (fast == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    int32_t *ids = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (ids == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyLong_Check(o)) {
            PyErr_SetString(PyExc_TypeError, "ids must be ints");
            goto fail;
        }
        long v = PyLong_AsLong(o);
        if (v == -1 && PyErr_Occurred())
            goto fail;
        if (v < 0 || v > INT32_MAX) {
            pcc_py_raise(PCC_E_INVALID, "token id out of range");
            goto fail;
        }
        ids[i] = (int32_t)v;
    }
    Py_DECREF(fast);
    *n_out = n;
    return ids;
fail:
    Py_DECREF(fast);
    PyMem_Free(ids);
    return NULL;
}

/* ---- LlmModel ------------------------------------------------------------------------------ */

static int model_init(ModelObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "threads", "kernels", "kv_f32", "prefill", NULL};
    PyObject *path_obj;
    int threads = 0, kernels = PCC_KV_BEST, kv_f32 = 0, prefill = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|iipi", kwlist, PyUnicode_FSConverter, &path_obj,
                                     &threads, &kernels, &kv_f32, &prefill))
        return -1;
    if (self->m != NULL) {
        Py_DECREF(path_obj);
        PyErr_SetString(PyExc_TypeError, "LlmModel already initialised");
        return -1;
    }
    if (threads < 0 || threads > PCC_LLM_MAX_THREADS) {
        Py_DECREF(path_obj);
        pcc_py_raise(PCC_E_INVALID, "threads out of range");
        return -1;
    }
    pcc_llm_options opt = {threads, kernels, kv_f32 != 0, prefill};
    const char *path = PyBytes_AS_STRING(path_obj);
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = pcc_llm_model_load(&self->m, path, &opt);
    Py_END_ALLOW_THREADS
    Py_DECREF(path_obj);
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_INVALID ? "cannot open model file or bad option"
                         : st == PCC_E_UNSUPPORTED ? "model architecture, tensor type or kernels not supported"
                                                   : "invalid model file");
        return -1;
    }
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        pcc_llm_model_free(self->m);
        self->m = NULL;
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void model_dealloc(ModelObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_llm_model_free(self->m);
    if (self->lock)
        PyThread_free_lock(self->lock);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* tokenize(text, special) -> list[int] */
static PyObject *model_tokenize(ModelObject *self, PyObject *args)
{
    const char *text;
    Py_ssize_t len;
    int special = 1;
    if (!PyArg_ParseTuple(args, "s#|p", &text, &len, &special) || !model_live(self))
        return NULL;
    size_t cap = (size_t)len + 1, n = 0;
    int32_t *ids = pcc_secure_alloc(cap * sizeof(int32_t));
    if (ids == NULL)
        return pcc_py_raise(PCC_E_NOMEM, NULL);
    pcc_status st;
    const pcc_tokenizer *tok = pcc_llm_model_tokenizer(self->m);
    Py_BEGIN_ALLOW_THREADS
    st = pcc_tokenizer_encode(tok, text, (size_t)len, special != 0, ids, &n, cap);
    Py_END_ALLOW_THREADS
    PyObject *res = NULL;
    if (st != PCC_OK) {
        pcc_py_raise(st, "tokenize failed");
        goto out;
    }
    res = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; res != NULL && i < n; i++) {
        PyObject *v = PyLong_FromLong(ids[i]);
        if (v == NULL) {
            Py_CLEAR(res);
            break;
        }
        PyList_SET_ITEM(res, (Py_ssize_t)i, v);
    }
out:
    pcc_secure_free(ids);
    return res;
}

/* detokenize(ids, special=False) -> str */
static PyObject *model_detokenize(ModelObject *self, PyObject *args)
{
    PyObject *seq;
    int special = 0;
    if (!PyArg_ParseTuple(args, "O|p", &seq, &special) || !model_live(self))
        return NULL;
    Py_ssize_t n;
    int32_t *ids = ids_from_seq(seq, &n);
    if (ids == NULL)
        return NULL;
    const pcc_tokenizer *tok = pcc_llm_model_tokenizer(self->m);
    size_t need = 0;
    PyObject *res = NULL;
    uint8_t *out = NULL;
    pcc_status st = pcc_tokenizer_decode(tok, ids, (size_t)n, special != 0, NULL, &need, 0);
    if (st != PCC_OK && st != PCC_E_LIMIT) {
        pcc_py_raise(st, "token id out of range");
        goto done;
    }
    out = pcc_secure_alloc(need + 1);
    if (out == NULL) {
        pcc_py_raise(PCC_E_NOMEM, NULL);
        goto done;
    }
    size_t got = 0;
    st = pcc_tokenizer_decode(tok, ids, (size_t)n, special != 0, out, &got, need + 1);
    if (st != PCC_OK) {
        pcc_py_raise(st, "detokenize failed");
        goto done;
    }
    res = PyUnicode_DecodeUTF8((const char *)out, (Py_ssize_t)got, "replace");
done:
    pcc_secure_free(out);
    PyMem_Free(ids);
    return res;
}

/* logits_into(ids, out, all, decode_from=len(ids)) : out is a writable float32 buffer */
static PyObject *model_logits_into(ModelObject *self, PyObject *args)
{
    PyObject *seq;
    Py_buffer out;
    int all = 0;
    Py_ssize_t decode_from = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "Ow*|pn", &seq, &out, &all, &decode_from))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n;
    int32_t *ids = NULL;
    if (!model_live(self))
        goto done;
    if (out.len % 4 != 0) {
        pcc_py_raise(PCC_E_INVALID, "out must be a float32 buffer");
        goto done;
    }
    if (decode_from < 0) {
        pcc_py_raise(PCC_E_INVALID, "decode_from must not be negative");
        goto done;
    }
    ids = ids_from_seq(seq, &n);
    if (ids == NULL)
        goto done;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    lock_model(self);
    st = pcc_llm_logits(self->m, ids, (size_t)n, (size_t)decode_from, all != 0, out.buf,
                        (size_t)out.len / 4);
    unlock_model(self);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_LIMIT ? "too many tokens for the context"
                                           : "bad token id, empty input or short output");
        goto done;
    }
    ret = Py_NewRef(Py_None);
done:
    PyMem_Free(ids);
    PyBuffer_Release(&out);
    return ret;
}

static int dict_set(PyObject *d, const char *k, PyObject *v)
{
    if (v == NULL)
        return -1;
    int r = PyDict_SetItemString(d, k, v);
    Py_DECREF(v);
    return r;
}

/* info() -> dict */
static PyObject *model_info(ModelObject *self, PyObject *unused)
{
    (void)unused;
    if (!model_live(self))
        return NULL;
    const pcc_llm_config *c = pcc_llm_model_config(self->m);
    const pcc_gguf *g = pcc_llm_model_gguf(self->m);
    PyObject *d = PyDict_New(), *types = PyDict_New();
    if (d == NULL || types == NULL)
        goto fail;
    const char *name = "";
    size_t name_len = 0;
    if (pcc_gguf_get_str(g, "general.name", &name, &name_len) != PCC_OK)
        name_len = 0;
    for (size_t i = 0; i < pcc_gguf_tensor_count(g); i++) {
        const pcc_gguf_tensor *t = pcc_gguf_tensor_at(g, i);
        const char *tn = pcc_gguf_type_name(t->type);
        PyObject *cur = PyDict_GetItemString(types, tn ? tn : "?");
        long v = cur ? PyLong_AsLong(cur) + 1 : 1;
        if (dict_set(types, tn ? tn : "?", PyLong_FromLong(v)) < 0)
            goto fail;
    }
    static const char *const arch_names[] = {"llama", "qwen2", "qwen3"};
    const char *arch = (size_t)c->arch < sizeof arch_names / sizeof arch_names[0] ? arch_names[c->arch] : "?";
    if (dict_set(d, "architecture", PyUnicode_FromString(arch)) < 0 ||
        dict_set(d, "name", PyUnicode_DecodeUTF8(name, (Py_ssize_t)name_len, "replace")) < 0 ||
        dict_set(d, "n_layers", PyLong_FromUnsignedLong(c->n_layers)) < 0 ||
        dict_set(d, "dim", PyLong_FromUnsignedLong(c->dim)) < 0 ||
        dict_set(d, "hidden_dim", PyLong_FromUnsignedLong(c->hidden_dim)) < 0 ||
        dict_set(d, "n_heads", PyLong_FromUnsignedLong(c->n_heads)) < 0 ||
        dict_set(d, "n_kv_heads", PyLong_FromUnsignedLong(c->n_kv_heads)) < 0 ||
        dict_set(d, "head_dim", PyLong_FromUnsignedLong(c->head_dim)) < 0 ||
        dict_set(d, "n_rot", PyLong_FromUnsignedLong(c->n_rot)) < 0 ||
        dict_set(d, "vocab_size", PyLong_FromUnsignedLong(c->vocab_size)) < 0 ||
        dict_set(d, "n_ctx_train", PyLong_FromUnsignedLong(c->n_ctx_train)) < 0 ||
        dict_set(d, "rope_base", PyFloat_FromDouble(c->rope_base)) < 0 ||
        dict_set(d, "norm_eps", PyFloat_FromDouble(c->norm_eps)) < 0 ||
        dict_set(d, "tied_output", PyBool_FromLong(c->tied_output)) < 0 ||
        dict_set(d, "weight_bytes", PyLong_FromUnsignedLongLong(pcc_llm_model_weight_bytes(self->m))) < 0 ||
        dict_set(d, "threads", PyLong_FromLong(pcc_llm_model_threads(self->m))) < 0 ||
        dict_set(d, "kernels", PyUnicode_FromString(pcc_llm_model_kernels(self->m))) < 0)
        goto fail;
    if (PyDict_SetItemString(d, "tensor_types", types) < 0)
        goto fail;
    Py_DECREF(types);
    return d;
fail:
    Py_XDECREF(d);
    Py_XDECREF(types);
    return NULL;
}

/* messages_from_seq converts [(role, content), ...] to pcc_llm_message (pointers into the strs,
 * which the sequence keeps alive). */
static pcc_llm_message *messages_from_seq(PyObject *fast, Py_ssize_t *n_out)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n == 0 || n > PCC_LLM_MAX_MESSAGES) {
        pcc_py_raise(PCC_E_INVALID, "messages must hold 1 to 1024 entries");
        return NULL;
    }
    pcc_llm_message *msgs = PyMem_Calloc((size_t)n, sizeof *msgs);
    if (msgs == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 2 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(it, 0)) || !PyUnicode_Check(PyTuple_GET_ITEM(it, 1))) {
            PyErr_SetString(PyExc_TypeError, "messages must be (role, content) str pairs");
            PyMem_Free(msgs);
            return NULL;
        }
        Py_ssize_t rl, cl;
        msgs[i].role = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(it, 0), &rl);
        msgs[i].content = msgs[i].role ? PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(it, 1), &cl) : NULL;
        if (msgs[i].role == NULL || msgs[i].content == NULL) {
            PyMem_Free(msgs);
            return NULL;
        }
        msgs[i].role_len = (size_t)rl;
        msgs[i].content_len = (size_t)cl;
    }
    *n_out = n;
    return msgs;
}

/* chat_render(messages) -> str */
static PyObject *model_chat_render(ModelObject *self, PyObject *args)
{
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "O", &seq) || !model_live(self))
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "messages must be a sequence");
    if (fast == NULL)
        return NULL;
    Py_ssize_t n;
    PyObject *res = NULL;
    char *out = NULL;
    pcc_llm_message *msgs = messages_from_seq(fast, &n);
    if (msgs == NULL)
        goto done;
    size_t need = 0;
    pcc_status st = pcc_llm_chat_render(self->m, msgs, (size_t)n, NULL, &need, 0);
    if (st != PCC_OK && st != PCC_E_LIMIT) {
        pcc_py_raise(st, "bad chat messages");
        goto done;
    }
    out = pcc_secure_alloc(need + 1);
    if (out == NULL) {
        pcc_py_raise(PCC_E_NOMEM, NULL);
        goto done;
    }
    st = pcc_llm_chat_render(self->m, msgs, (size_t)n, out, &need, need + 1);
    if (st != PCC_OK) {
        pcc_py_raise(st, "bad chat messages");
        goto done;
    }
    res = PyUnicode_DecodeUTF8(out, (Py_ssize_t)need, "replace");
done:
    pcc_secure_free(out);
    PyMem_Free(msgs);
    Py_DECREF(fast);
    return res;
}

static GenObject *gen_wrap(ModelObject *self, pcc_llm_gen *g)
{
    PyTypeObject *tp = pcc_py_module_type(PyType_GetModule(Py_TYPE(self)), "LlmGeneration");
    if (tp == NULL) {
        pcc_llm_gen_free(g);
        return NULL;
    }
    GenObject *o = (GenObject *)tp->tp_alloc(tp, 0);
    Py_DECREF(tp);
    if (o == NULL) {
        pcc_llm_gen_free(g);
        return NULL;
    }
    o->buf_cap = pcc_llm_gen_max_piece(g);
    o->buf = pcc_secure_alloc(o->buf_cap);
    o->g = g;
    o->model = (ModelObject *)Py_NewRef(self);
    if (o->buf == NULL) {
        Py_DECREF(o);
        return (GenObject *)pcc_py_raise(PCC_E_NOMEM, NULL);
    }
    return o;
}

/* generate(prompt=None, messages=None, ids=None, max_tokens, temperature, top_p, top_k, seed,
 *          stop=()) -> LlmGeneration */
static PyObject *model_generate(ModelObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"prompt", "messages", "ids", "max_tokens", "temperature", "top_p",
                             "top_k", "seed", "stop", NULL};
    PyObject *prompt = Py_None, *messages = Py_None, *ids_obj = Py_None, *stop = Py_None;
    unsigned int max_tokens = 256, top_k = 0;
    float temperature = 0.0f, top_p = 1.0f;
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOIffIKO", kwlist, &prompt, &messages, &ids_obj,
                                     &max_tokens, &temperature, &top_p, &top_k, &seed, &stop))
        return NULL;
    if (!model_live(self))
        return NULL;
    int given = (prompt != Py_None) + (messages != Py_None) + (ids_obj != Py_None);
    if (given != 1) {
        PyErr_SetString(PyExc_TypeError, "give exactly one of prompt, messages, ids");
        return NULL;
    }
    PyObject *ret = NULL, *stop_fast = NULL, *msg_fast = NULL;
    const char *stops[PCC_LLM_MAX_STOP];
    size_t stop_lens[PCC_LLM_MAX_STOP];
    pcc_llm_message *msgs = NULL;
    int32_t *ids = NULL;
    Py_ssize_t n_msgs = 0, n_ids = 0, n_stop = 0;
    if (stop != Py_None) {
        stop_fast = PySequence_Fast(stop, "stop must be a sequence of str");
        if (stop_fast == NULL)
            goto done;
        n_stop = PySequence_Fast_GET_SIZE(stop_fast);
        if (n_stop > PCC_LLM_MAX_STOP) {
            pcc_py_raise(PCC_E_LIMIT, "too many stop strings (at most 16)");
            goto done;
        }
        for (Py_ssize_t i = 0; i < n_stop; i++) {
            PyObject *s = PySequence_Fast_GET_ITEM(stop_fast, i);
            Py_ssize_t l;
            if (!PyUnicode_Check(s)) {
                PyErr_SetString(PyExc_TypeError, "stop strings must be str");
                goto done;
            }
            stops[i] = PyUnicode_AsUTF8AndSize(s, &l);
            if (stops[i] == NULL)
                goto done;
            stop_lens[i] = (size_t)l;
        }
    }
    const char *text = NULL;
    Py_ssize_t text_len = 0;
    if (prompt != Py_None) {
        if (!PyUnicode_Check(prompt)) {
            PyErr_SetString(PyExc_TypeError, "prompt must be str");
            goto done;
        }
        text = PyUnicode_AsUTF8AndSize(prompt, &text_len);
        if (text == NULL)
            goto done;
    } else if (messages != Py_None) {
        msg_fast = PySequence_Fast(messages, "messages must be a sequence");
        if (msg_fast == NULL || (msgs = messages_from_seq(msg_fast, &n_msgs)) == NULL)
            goto done;
    } else {
        ids = ids_from_seq(ids_obj, &n_ids);
        if (ids == NULL)
            goto done;
    }
    pcc_llm_params p = {max_tokens, temperature, top_p, top_k, seed, (size_t)n_stop, stops, stop_lens};
    pcc_llm_gen *g = NULL;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    if (text != NULL)
        st = pcc_llm_gen_new_text(&g, self->m, text, (size_t)text_len, &p);
    else if (msgs != NULL)
        st = pcc_llm_gen_new_chat(&g, self->m, msgs, (size_t)n_msgs, &p);
    else
        st = pcc_llm_gen_new_tokens(&g, self->m, ids, (size_t)n_ids, &p);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK) {
        pcc_py_raise(st, st == PCC_E_LIMIT ? "prompt too long for the context, or a stop string too long"
                         : st == PCC_E_UNSUPPORTED ? "this model has no chat template"
                                                   : "bad generation parameters, prompt or messages");
        goto done;
    }
    ret = (PyObject *)gen_wrap(self, g);
done:
    PyMem_Free(ids);
    PyMem_Free(msgs);
    Py_XDECREF(msg_fast);
    Py_XDECREF(stop_fast);
    return ret;
}

/* _test_generate_file(path, max_tokens) -> (n_prompt, n_generated, arena_was_zero)
 * Test hook: reads a prompt from a file straight into secure memory (never a Python object),
 * generates greedily, discards the text, closes the generation and checks its arena is zero. */
static PyObject *model_test_generate_file(ModelObject *self, PyObject *args)
{
    PyObject *path_obj;
    unsigned int max_tokens;
    if (!PyArg_ParseTuple(args, "O&I", PyUnicode_FSConverter, &path_obj, &max_tokens))
        return NULL;
    if (!model_live(self)) {
        Py_DECREF(path_obj);
        return NULL;
    }
    pcc_status st = PCC_OK;
    char *text = NULL;
    uint8_t *piece = NULL;
    size_t len = 0, n_prompt = 0, n_gen = 0;
    bool zero = false;
    const char *path = PyBytes_AS_STRING(path_obj);
    Py_BEGIN_ALLOW_THREADS
    lock_model(self);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size <= 0 || sb.st_size > (1 << 20)) {
        st = PCC_E_INVALID;
    } else {
        text = pcc_secure_alloc((size_t)sb.st_size);
        if (text == NULL)
            st = PCC_E_NOMEM;
        while (st == PCC_OK && len < (size_t)sb.st_size) {
            ssize_t r = read(fd, text + len, (size_t)sb.st_size - len);
            if (r <= 0)
                st = PCC_E_INVALID;
            else
                len += (size_t)r;
        }
    }
    if (fd >= 0)
        close(fd);
    pcc_llm_gen *g = NULL;
    pcc_llm_params p = {max_tokens, 0.0f, 1.0f, 0, 0, 0, NULL, NULL};
    if (st == PCC_OK)
        st = pcc_llm_gen_new_text(&g, self->m, text, len, &p);
    pcc_secure_free(text);
    if (st == PCC_OK) {
        size_t cap = pcc_llm_gen_max_piece(g);
        piece = pcc_secure_alloc(cap);
        bool done = false;
        while (st == PCC_OK && piece != NULL && !done) {
            size_t got;
            int32_t tok;
            st = pcc_llm_gen_next(g, piece, &got, cap, &tok, &done);
        }
        pcc_secure_free(piece);
        pcc_llm_gen_counts(g, &n_prompt, &n_gen);
        pcc_llm_gen_close(g);
        zero = pcc_llm_gen_arena_is_zero(g);
        pcc_llm_gen_free(g);
    }
    unlock_model(self);
    Py_END_ALLOW_THREADS
    Py_DECREF(path_obj);
    if (st != PCC_OK)
        return pcc_py_raise(st, "test generation failed");
    return Py_BuildValue("nnO", (Py_ssize_t)n_prompt, (Py_ssize_t)n_gen, zero ? Py_True : Py_False);
}

static PyObject *model_get_weight_bytes(ModelObject *self, void *c)
{
    (void)c;
    if (!model_live(self))
        return NULL;
    return PyLong_FromUnsignedLongLong(pcc_llm_model_weight_bytes(self->m));
}

static PyMethodDef model_methods[] = {
    {"tokenize", (PyCFunction)model_tokenize, METH_VARARGS, "tokenize(text, special=True) -> list[int]"},
    {"detokenize", (PyCFunction)model_detokenize, METH_VARARGS, "detokenize(ids, special=False) -> str"},
    {"logits_into", (PyCFunction)model_logits_into, METH_VARARGS,
     "logits_into(ids, out, all=False, decode_from=len(ids)): write float32 logits into a "
     "writable buffer; ids from decode_from on run one per pass"},
    {"info", (PyCFunction)model_info, METH_NOARGS, "info() -> dict"},
    {"chat_render", (PyCFunction)model_chat_render, METH_VARARGS, "chat_render([(role, content)]) -> str"},
    {"generate", (PyCFunction)(void (*)(void))model_generate, METH_VARARGS | METH_KEYWORDS,
     "generate(prompt=None, messages=None, ids=None, max_tokens=256, temperature=0.0, top_p=1.0, "
     "top_k=0, seed=0, stop=None) -> LlmGeneration"},
    {"_test_generate_file", (PyCFunction)model_test_generate_file, METH_VARARGS,
     "Test hook: generate from a prompt file read in C; -> (n_prompt, n_generated, arena_zero)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef model_getset[] = {
    {"weight_bytes", (getter)model_get_weight_bytes, NULL, "Weight bytes read per decoded token.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot model_slots[] = {
    {Py_tp_doc, "LlmModel(path, threads=0, kernels=-1, kv_f32=False, prefill=0): a loaded GGUF model."},
    {Py_tp_init, model_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, model_dealloc},
    {Py_tp_methods, model_methods},
    {Py_tp_getset, model_getset},
    {0, NULL},
};

static PyType_Spec model_spec = {
    "pcc._core.LlmModel", sizeof(ModelObject), 0, Py_TPFLAGS_DEFAULT, model_slots,
};

/* ---- LlmGeneration ------------------------------------------------------------------------- */

static void gen_dealloc(GenObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    pcc_llm_gen_free(self->g);
    pcc_secure_free(self->buf);
    Py_XDECREF(self->model);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* next() -> (str piece, int token, bool done) */
static PyObject *gen_next(GenObject *self, PyObject *unused)
{
    (void)unused;
    if (self->g == NULL || self->model == NULL)
        return pcc_py_raise(PCC_E_STATE, "generation is closed");
    size_t got = 0;
    int32_t tok = -1;
    bool done = false;
    pcc_status st;
    Py_BEGIN_ALLOW_THREADS
    lock_model(self->model);
    st = pcc_llm_gen_next(self->g, self->buf, &got, self->buf_cap, &tok, &done);
    unlock_model(self->model);
    Py_END_ALLOW_THREADS
    if (st != PCC_OK)
        return pcc_py_raise(st, st == PCC_E_STATE ? "generation has finished" : "generation failed");
    PyObject *piece = PyUnicode_DecodeUTF8((const char *)self->buf, (Py_ssize_t)got, "replace");
    pcc_wipe(self->buf, got);
    if (piece == NULL)
        return NULL;
    return Py_BuildValue("NiO", piece, (int)tok, done ? Py_True : Py_False);
}

static PyObject *gen_close(GenObject *self, PyObject *unused)
{
    (void)unused;
    if (self->g != NULL) {
        Py_BEGIN_ALLOW_THREADS
        lock_model(self->model);
        pcc_llm_gen_close(self->g);
        unlock_model(self->model);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyObject *gen_arena_is_zero(GenObject *self, PyObject *unused)
{
    (void)unused;
    if (self->g == NULL)
        return pcc_py_raise(PCC_E_STATE, "generation is freed");
    return PyBool_FromLong(pcc_llm_gen_arena_is_zero(self->g));
}

static PyObject *gen_get_finish(GenObject *self, void *c)
{
    (void)c;
    switch (pcc_llm_gen_finish(self->g)) {
    case PCC_LLM_STOP: return PyUnicode_FromString("stop");
    case PCC_LLM_LENGTH: return PyUnicode_FromString("length");
    default: Py_RETURN_NONE;
    }
}

static PyObject *gen_get_counts(GenObject *self, void *c)
{
    size_t np = 0, ng = 0;
    pcc_llm_gen_counts(self->g, &np, &ng);
    return PyLong_FromSize_t(c ? ng : np);
}

static PyMethodDef gen_methods[] = {
    {"next", (PyCFunction)gen_next, METH_NOARGS, "next() -> (text, token, done): one step."},
    {"close", (PyCFunction)gen_close, METH_NOARGS, "Wipe the generation's memory now."},
    {"_arena_is_zero", (PyCFunction)gen_arena_is_zero, METH_NOARGS, "Test hook: arena reads all zero."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef gen_getset[] = {
    {"finish_reason", (getter)gen_get_finish, NULL, "'stop', 'length' or None while running.", NULL},
    {"n_prompt", (getter)gen_get_counts, NULL, "Prompt tokens.", NULL},
    {"n_generated", (getter)gen_get_counts, NULL, "Generated tokens.", (void *)1},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot gen_slots[] = {
    {Py_tp_doc, "LlmGeneration: one streaming generation (made by LlmModel.generate)."},
    {Py_tp_dealloc, gen_dealloc},
    {Py_tp_methods, gen_methods},
    {Py_tp_getset, gen_getset},
    {0, NULL},
};

static PyType_Spec gen_spec = {
    "pcc._core.LlmGeneration", sizeof(GenObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    gen_slots,
};

int pcc_py_llm_exec(PyObject *m)
{
    if (pcc_py_add_type(m, &model_spec, NULL) == NULL || pcc_py_add_type(m, &gen_spec, NULL) == NULL)
        return -1;
    if (pcc_py_llm_kernels_add(m) < 0)
        return -1;
#ifdef PCC_HAVE_PY_GGUF
    if (pcc_py_gguf_add(m) < 0)
        return -1;
#endif
    return 0;
}
