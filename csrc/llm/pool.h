/* pool.h: a small work-sharing thread pool for the inference engine (csrc/llm only).
 *
 * pcc_pool_run(p, fn, ctx, n) runs fn(ctx, ith, chunk, n) for every chunk 0 .. n-1 and returns
 * when all are done. Threads (the caller is thread 0) claim chunks one at a time from an atomic
 * counter, so a thread that is not running (more threads than free cores) only delays the chunk
 * it holds: the others take the rest. ith identifies the thread (0 .. size-1) for per-thread
 * scratch. Workers spin briefly between jobs (a forward pass issues hundreds of small jobs), then
 * sleep on a condition variable. */
#ifndef PCC_LLM_POOL_H
#define PCC_LLM_POOL_H

#include "pcc/common.h"

typedef struct pcc_pool pcc_pool;
typedef void (*pcc_pool_fn)(void *ctx, int ith, size_t chunk, size_t nchunks);

#define PCC_POOL_MAX_THREADS 64

/* pcc_pool_new starts nthreads - 1 workers (1 <= nthreads <= PCC_POOL_MAX_THREADS). */
pcc_status pcc_pool_new(pcc_pool **out, int nthreads) PCC_WUR;

/* pcc_pool_size returns the number of threads, the caller included. */
int pcc_pool_size(const pcc_pool *p);

/* pcc_pool_run runs the n chunks of a job and waits for all of them. Not reentrant: one caller
 * at a time. n must be below 2^32. */
void pcc_pool_run(pcc_pool *p, pcc_pool_fn fn, void *ctx, size_t n);

/* pcc_pool_free stops and joins the workers. Accepts NULL. */
void pcc_pool_free(pcc_pool *p);

#endif
