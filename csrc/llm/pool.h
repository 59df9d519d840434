/* pool.h: a small spinning thread pool for the inference engine (csrc/llm only).
 *
 * pcc_pool_run(p, fn, ctx) calls fn(ctx, ith, nth) once on each of the nth threads (the caller
 * is thread 0) and returns when all are done. Workers spin briefly between jobs (an inference
 * step issues hundreds of small jobs) and then sleep on a condition variable. */
#ifndef PCC_LLM_POOL_H
#define PCC_LLM_POOL_H

#include "pcc/common.h"

typedef struct pcc_pool pcc_pool;
typedef void (*pcc_pool_fn)(void *ctx, int ith, int nth);

#define PCC_POOL_MAX_THREADS 64

/* pcc_pool_new starts nthreads - 1 workers (1 <= nthreads <= PCC_POOL_MAX_THREADS). */
pcc_status pcc_pool_new(pcc_pool **out, int nthreads) PCC_WUR;

/* pcc_pool_size returns the number of threads, the caller included. */
int pcc_pool_size(const pcc_pool *p);

/* pcc_pool_run runs fn on every thread and waits for all. Not reentrant: one caller at a time. */
void pcc_pool_run(pcc_pool *p, pcc_pool_fn fn, void *ctx);

/* pcc_pool_free stops and joins the workers. Accepts NULL. */
void pcc_pool_free(pcc_pool *p);

#endif
