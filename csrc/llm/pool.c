/* pool.c: work-sharing thread pool (see pool.h).
 *
 * A job is published as `work = seq << 32 | next_chunk`. A thread claims chunk i of job seq by
 * compare-and-swapping seq:i to seq:i+1, after reading the job's descriptor; the descriptors
 * alternate between two slots (job seq uses slot seq & 1), and a slot is rewritten only for job
 * seq + 2, which starts after job seq + 1, hence after job seq, has completed. A thread that read a
 * stale descriptor fails its CAS (seq moved on) and never runs it. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_NS 300000 /* spin this long for the next job before sleeping */

typedef struct job {
    _Atomic(pcc_pool_fn) fn;
    _Atomic(void *) ctx;
    _Atomic size_t n;
    _Atomic size_t completed;
} job;

typedef struct worker {
    struct pcc_pool *pool;
    int ith;
    pthread_t tid;
} worker;

struct pcc_pool {
    int n;
    _Atomic uint64_t work;  /* seq << 32 | next chunk */
    _Atomic int sleepers;   /* workers blocked on cond */
    _Atomic int stop;
    job jobs[2];
    pthread_mutex_t mu;
    pthread_cond_t cond;
    worker w[PCC_POOL_MAX_THREADS];
    int started;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* run_chunks claims and runs chunks of the job in `w` until none is left; returns the seq. */
static void run_chunks(pcc_pool *p, int ith, uint64_t w)
{
    for (;;) {
        const uint32_t seq = (uint32_t)(w >> 32);
        const job *jb = &p->jobs[seq & 1];
        const pcc_pool_fn fn = atomic_load_explicit(&jb->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&jb->ctx, memory_order_relaxed);
        const size_t n = atomic_load_explicit(&jb->n, memory_order_relaxed);
        const size_t i = (size_t)(w & 0xFFFFFFFFu);
        if (i >= n)
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->work, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_acquire)) {
            if ((uint32_t)(w >> 32) != seq)
                return; /* a newer job: the caller re-reads it */
            continue;   /* another thread took chunk i; w holds the fresh value */
        }
        fn(ctx, ith, i, n);
        atomic_fetch_add_explicit(&p->jobs[seq & 1].completed, 1, memory_order_acq_rel);
        w = atomic_load_explicit(&p->work, memory_order_acquire);
    }
}

/* Wait until the job seq differs from seen (or stop); returns the current work word. */
static uint64_t wait_job(pcc_pool *p, uint32_t seen)
{
    uint64_t t0 = 0;
    for (unsigned i = 0;; i++) {
        uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
        if ((uint32_t)(w >> 32) != seen || atomic_load(&p->stop))
            return w;
        CPU_RELAX();
        if ((i & 255) == 255) {
            uint64_t t = now_ns();
            if (t0 == 0)
                t0 = t;
            else if (t - t0 > SPIN_NS)
                break;
        }
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    uint64_t w;
    while ((uint32_t)((w = atomic_load(&p->work)) >> 32) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cond, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return w;
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    pcc_pool *p = wk->pool;
    uint32_t seen = 0;
    for (;;) {
        uint64_t w = wait_job(p, seen);
        if (atomic_load(&p->stop))
            break;
        seen = (uint32_t)(w >> 32);
        run_chunks(p, wk->ith, w);
    }
    return NULL;
}

pcc_status pcc_pool_new(pcc_pool **out, int nthreads)
{
    if (out == NULL || nthreads < 1 || nthreads > PCC_POOL_MAX_THREADS)
        return PCC_E_INVALID;
    *out = NULL;
    pcc_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return PCC_E_NOMEM;
    p->n = nthreads;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return PCC_E_NOMEM;
    }
    if (pthread_cond_init(&p->cond, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return PCC_E_NOMEM;
    }
    for (int i = 1; i < nthreads; i++) {
        p->w[i].pool = p;
        p->w[i].ith = i;
        if (pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i]) != 0) {
            pcc_pool_free(p);
            return PCC_E_NOMEM;
        }
        p->started = i;
    }
    *out = p;
    return PCC_OK;
}

int pcc_pool_size(const pcc_pool *p) { return p ? p->n : 1; }

void pcc_pool_run(pcc_pool *p, pcc_pool_fn fn, void *ctx, size_t n)
{
    if (n == 0)
        return;
    if (p->n == 1 || n == 1) {
        for (size_t i = 0; i < n; i++)
            fn(ctx, 0, i, n);
        return;
    }
    const uint32_t seq = (uint32_t)(atomic_load(&p->work) >> 32) + 1;
    job *jb = &p->jobs[seq & 1];
    atomic_store_explicit(&jb->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&jb->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&jb->n, n, memory_order_relaxed);
    atomic_store_explicit(&jb->completed, 0, memory_order_relaxed);
    const uint64_t w = (uint64_t)seq << 32;
    atomic_store(&p->work, w); /* seq_cst: publishes the descriptor, pairs with sleepers */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, 0, w);
    /* wait only for chunks other threads claimed and are still running */
    while (atomic_load_explicit(&jb->completed, memory_order_acquire) != n)
        CPU_RELAX();
}

void pcc_pool_free(pcc_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->w[i].tid, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
