/* pool.c: spinning thread pool (see pool.h). */
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

typedef struct worker {
    struct pcc_pool *pool;
    int ith;
    pthread_t tid;
} worker;

struct pcc_pool {
    int n;
    _Atomic unsigned gen;     /* bumped once per job */
    _Atomic int done;         /* workers finished with the current job */
    _Atomic int sleepers;     /* workers blocked on cond */
    _Atomic int stop;
    pcc_pool_fn fn;
    void *ctx;
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

/* Wait until p->gen differs from seen; returns the new value. */
static unsigned wait_job(pcc_pool *p, unsigned seen)
{
    uint64_t t0 = 0;
    for (unsigned i = 0;; i++) {
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen || atomic_load(&p->stop))
            return g;
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
    unsigned g;
    while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cond, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pcc_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load(&p->stop))
            break;
        p->fn(p->ctx, w->ith, p->n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel);
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
            p->n = i; /* join only those started */
            pcc_pool_free(p);
            return PCC_E_NOMEM;
        }
        p->started = i;
    }
    *out = p;
    return PCC_OK;
}

int pcc_pool_size(const pcc_pool *p) { return p ? p->n : 1; }

void pcc_pool_run(pcc_pool *p, pcc_pool_fn fn, void *ctx)
{
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->done, 0);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: pairs with the sleepers increment */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    while (atomic_load_explicit(&p->done, memory_order_acquire) != p->n - 1)
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
