/* secure_small.c: small secure objects (pcc_secure_small_alloc / pcc_secure_small_free).
 *
 * A pcc_secure_alloc costs several system calls (mmap, two mprotect, mlock, madvise, then munlock,
 * munmap) plus page faults: about 20 us here, more than an X25519 scalar multiplication on some
 * machines, and an HPKE single-shot seal needs one context. So small secret objects (HPKE keys and
 * contexts, OHTTP contexts) take a fixed-size slot in a slab: one pcc_secure_alloc block (guard
 * pages around it, mlock'ed, MADV_DONTDUMP) cut into 64 slots. Each slot has a random canary just
 * before the object, checked on free (a smashed canary aborts, as pcc_secure_free does) and is
 * wiped when freed; a slab whose slots are all free is returned to the system unless it is the
 * last one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "pcc/secure.h"

/* Under AddressSanitizer the slab is poisoned except for the objects handed out (exactly their
 * requested size), so an overflow of a key or context into its neighbour, or a use after
 * pcc_secure_small_free, is reported there and then; the mapping is unpoisoned before it is
 * returned (its shadow must not outlive it). Without ASan these are no-ops. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PCC_POOL_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(PCC_POOL_ASAN)
#define PCC_POOL_ASAN 1
#endif
#ifdef PCC_POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define SLOTS 64
/* Slot header: slab pointer (8) | canary (8), the canary flush against the object so that an
 * underflow smashes it first. */
#define SLOT_HDR 16
#define SLOT_SIZE (PCC_SECURE_SMALL_MAX + SLOT_HDR)
_Static_assert(SLOT_SIZE % 16 == 0, "slots keep 16-byte alignment");

typedef struct slab {
    struct slab *next;
    uint8_t *mem;  /* SLOTS * SLOT_SIZE bytes from pcc_secure_alloc */
    uint64_t used; /* bit i set: slot i handed out */
} slab;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static slab *g_slabs;
static uint64_t g_canary;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&g_mu); }
static void fork_parent(void) { pthread_mutex_unlock(&g_mu); }
static void fork_child(void) { pthread_mutex_unlock(&g_mu); }

static void slots_init(void)
{
    if (RAND_bytes((unsigned char *)&g_canary, sizeof g_canary) != 1 || g_canary == 0)
        g_canary = 0x9e3779b97f4a7c15ull; /* still catches linear overwrites */
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void *pcc_secure_small_alloc(size_t n)
{
    slab *s, *fresh = NULL;
    if (n == 0 || n > PCC_SECURE_SMALL_MAX)
        return NULL;
    if (pthread_once(&g_once, slots_init) != 0)
        return NULL;
    pthread_mutex_lock(&g_mu);
    for (s = g_slabs; s != NULL && s->used == UINT64_MAX; s = s->next)
        ;
    if (s == NULL) {
        /* Grow outside the lock: the system calls are the slow part. */
        pthread_mutex_unlock(&g_mu);
        fresh = calloc(1, sizeof *fresh);
        if (fresh == NULL || (fresh->mem = pcc_secure_alloc(SLOTS * SLOT_SIZE)) == NULL) {
            free(fresh);
            return NULL;
        }
        POISON(fresh->mem, SLOTS * SLOT_SIZE);
        pthread_mutex_lock(&g_mu);
        fresh->next = g_slabs;
        g_slabs = fresh;
        s = fresh;
    }
    unsigned idx = (unsigned)__builtin_ctzll(~s->used);
    s->used |= 1ull << idx;
    pthread_mutex_unlock(&g_mu);
    uint8_t *slot = s->mem + (size_t)idx * SLOT_SIZE;
    UNPOISON(slot, SLOT_HDR);
    memcpy(slot, &s, sizeof s);
    memcpy(slot + 8, &g_canary, 8);
    POISON(slot, SLOT_HDR);
    UNPOISON(slot + SLOT_HDR, n);
    return slot + SLOT_HDR; /* zero: fresh mapping, or wiped by pcc_secure_small_free */
}

void pcc_secure_small_free(void *p)
{
    if (p == NULL)
        return;
    uint8_t *slot = (uint8_t *)p - SLOT_HDR;
    slab *s, *prev = NULL, *release = NULL;
    UNPOISON(slot, SLOT_SIZE);
    if (CRYPTO_memcmp(slot + 8, &g_canary, 8) != 0) {
        fputs("pcc: secure small-object canary smashed; aborting\n", stderr);
        abort();
    }
    memcpy(&s, slot, sizeof s);
    pcc_wipe(p, SLOT_SIZE - SLOT_HDR);
    pthread_mutex_lock(&g_mu);
    slab *it = g_slabs;
    for (; it != NULL && it != s; prev = it, it = it->next)
        ;
    size_t off = it ? (size_t)(slot - it->mem) : 0;
    if (it == NULL || slot < it->mem || off >= SLOTS * SLOT_SIZE || off % SLOT_SIZE != 0 ||
        !(it->used & (1ull << (off / SLOT_SIZE)))) {
        pthread_mutex_unlock(&g_mu);
        fputs("pcc: secure small object freed twice or corrupted; aborting\n", stderr);
        abort();
    }
    it->used &= ~(1ull << (off / SLOT_SIZE));
    pcc_wipe(slot, SLOT_HDR);
    POISON(slot, SLOT_SIZE);
    if (it->used == 0 && (prev != NULL || it->next != NULL)) {
        if (prev != NULL)
            prev->next = it->next;
        else
            g_slabs = it->next;
        release = it;
    }
    pthread_mutex_unlock(&g_mu);
    if (release != NULL) {
        UNPOISON(release->mem, SLOTS * SLOT_SIZE);
        pcc_secure_free(release->mem);
        free(release);
    }
}
