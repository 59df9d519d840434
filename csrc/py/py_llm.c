/* py_llm.c: pcc._core glue for the inference engine. */
#include "pymod.h"

#include "py_llm_internal.h"

int pcc_py_llm_exec(PyObject *m)
{
    if (pcc_py_llm_kernels_add(m) < 0)
        return -1;
    return 0;
}
