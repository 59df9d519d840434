/* py_wire.c: TEMPORARY registration of the GGUF/tokenizer glue on the `gguf` branch only.
 * The `infer` branch's pcc_py_llm_exec calls pcc_py_gguf_add; the lead removes this file when
 * the branches merge (the real wire glue takes the name). */
#include "py_gguf.h"

int pcc_py_wire_exec(PyObject *m) { return pcc_py_gguf_add(m); }
