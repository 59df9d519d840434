/* py_gguf.h: Python glue for the GGUF loader and the tokenizer (csrc/py only).
 *
 * pcc_py_gguf_add is called from the llm module's exec function (pcc_py_llm_exec); it adds
 * _core.GGUFFile, _core.Tokenizer and _core.TokenDecoder to module m. The accessors let other
 * glue (the inference engine's Model) reach the C objects behind Python instances. */
#ifndef PCC_PY_GGUF_H
#define PCC_PY_GGUF_H

#include "pymod.h"

#include "pcc/gguf.h"
#include "pcc/tokenizer.h"

/* pcc_py_gguf_add adds GGUFFile, Tokenizer and TokenDecoder to m; 0, or -1 with an exception.
 * Calling it again on the same module does nothing. */
int pcc_py_gguf_add(PyObject *m);

/* pcc_py_gguf_ptr returns the open pcc_gguf behind obj, a _core.GGUFFile of module m (borrowed:
 * valid while obj is alive; hold a reference to obj for as long as you use it), or NULL with
 * TypeError set when obj is not one. */
const pcc_gguf *pcc_py_gguf_ptr(PyObject *m, PyObject *obj);

/* pcc_py_tokenizer_ptr returns the pcc_tokenizer behind obj, a _core.Tokenizer of module m
 * (borrowed, same lifetime rule), or NULL with TypeError set. */
const pcc_tokenizer *pcc_py_tokenizer_ptr(PyObject *m, PyObject *obj);

#endif
