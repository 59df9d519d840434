/* pymod.h: shared helpers for the pcc._core extension (csrc/py/ only). */
#ifndef PCC_PYMOD_H
#define PCC_PYMOD_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pcc/common.h"

/* pcc_py_raise sets the pcc.errors exception that matches st and returns NULL. what names the
 * operation or field for format/argument errors; decrypt and verify errors get a fixed message
 * with no detail. Always clears the OpenSSL error queue. */
PyObject *pcc_py_raise(pcc_status st, const char *what);

/* pcc_py_add_type creates a heap type from spec bound to module m, adds it to m under its short
 * name and returns a borrowed reference (NULL with an exception set on failure). */
PyTypeObject *pcc_py_add_type(PyObject *m, PyType_Spec *spec, PyObject *base);

/* pcc_py_get_type returns a new reference to the type named name in the pcc._core module that
 * defines cls (or module m when cls is NULL). */
PyTypeObject *pcc_py_module_type(PyObject *m, const char *name);

/* pcc_py_hpke_key sets *out to the C key held by o, a pcc._core.HpkeKey or a pcc.hpke.PrivateKey
 * wrapping one, and returns 0; otherwise it raises TypeError and returns -1. The key is borrowed:
 * it lives as long as o (py_hpke.c). The struct tag needs no include of pcc/hpke.h. */
struct pcc_hpke_key;
int pcc_py_hpke_key(PyObject *m, PyObject *o, const struct pcc_hpke_key **out);

/* Each csrc/py/py_<mod>.c defines int pcc_py_<mod>_exec(PyObject *m), returning 0 or -1 with an
 * exception set; module.c calls those that are linked in (weak references). */
#define PCC_PY_MODULES(X) \
    X(secure) X(hpke) X(bhttp) X(ohttp) X(blindrsa) X(tokens) X(merkle) X(note) \
    X(llm) X(attest) X(wire) X(tpm) X(provision) X(request) X(sandbox) X(worker) X(node)

#define PCC_PY_DECLARE(name) int pcc_py_##name##_exec(PyObject *m) __attribute__((weak));
PCC_PY_MODULES(PCC_PY_DECLARE)
#undef PCC_PY_DECLARE

#endif
