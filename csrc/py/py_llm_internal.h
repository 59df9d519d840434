/* py_llm_internal.h: pieces of the llm glue split over several files (csrc/py only). */
#ifndef PCC_PY_LLM_INTERNAL_H
#define PCC_PY_LLM_INTERNAL_H

#include "pymod.h"

/* pcc_py_llm_kernels_add adds the kernel test hooks (_llm_k_*) to module m; 0 or -1. */
int pcc_py_llm_kernels_add(PyObject *m);

#endif
