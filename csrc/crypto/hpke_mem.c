/* hpke_mem.c: secure slots for HPKE keys and contexts.
 *
 * A pcc_secure_alloc costs several system calls (mmap, two mprotect, mlock, madvise, then
 * munlock, munmap) plus page faults: about 20 us here, more than an X25519 scalar multiplication
 * on some machines, and an HPKE single-shot seal needs one context. So keys and contexts take a
 * fixed-size slot in a slab: one pcc_secure_alloc block (guard pages around it, mlock'ed,
 * MADV_DONTDUMP) cut into 64 slots. Each slot starts with a random canary checked on free (a
 * smashed canary aborts, as pcc_secure_free does) and is wiped when freed; a slab whose slots are
 * all free is returned to the system unless it is the last one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hpke_internal.h"
#include "pcc/secure.h"

/* Under AddressSanitizer the slab is poisoned except for the objects handed out (exactly their
 * requested size), so an overflow of a key or context into its neighbour, or a use after
 * hpke_slot_free, is reported there and then; the mapping is unpoisoned before it is returned
 * (its shadow must not outlive it). Without ASan these are no-ops. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HPKE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(HPKE_ASAN)
#define HPKE_ASAN 1
#endif
#ifdef HPKE_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define SLOTS 64
#define SLOT_SIZE HPKE_SLOT_SIZE
#define SLOT_HDR 16 /* canary (8) | slab pointer (8) */

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

void *hpke_slot_alloc(size_t n)
{
    slab *s, *fresh = NULL;
    if (n == 0 || n > SLOT_SIZE - SLOT_HDR)
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
    memcpy(slot, &g_canary, 8);
    memcpy(slot + 8, &s, sizeof s);
    POISON(slot, SLOT_HDR);
    UNPOISON(slot + SLOT_HDR, n);
    return slot + SLOT_HDR; /* zero: fresh mapping, or wiped by hpke_slot_free */
}

void hpke_slot_free(void *p)
{
    if (p == NULL)
        return;
    uint8_t *slot = (uint8_t *)p - SLOT_HDR;
    slab *s, *prev = NULL, *release = NULL;
    UNPOISON(slot, SLOT_SIZE);
    if (CRYPTO_memcmp(slot, &g_canary, 8) != 0) {
        fputs("pcc: hpke secure slot canary smashed; aborting\n", stderr);
        abort();
    }
    memcpy(&s, slot + 8, sizeof s);
    pcc_wipe(p, SLOT_SIZE - SLOT_HDR);
    pthread_mutex_lock(&g_mu);
    slab *it = g_slabs;
    for (; it != NULL && it != s; prev = it, it = it->next)
        ;
    size_t off = it ? (size_t)(slot - it->mem) : 0;
    if (it == NULL || slot < it->mem || off >= SLOTS * SLOT_SIZE || off % SLOT_SIZE != 0 ||
        !(it->used & (1ull << (off / SLOT_SIZE)))) {
        pthread_mutex_unlock(&g_mu);
        fputs("pcc: hpke secure slot freed twice or corrupted; aborting\n", stderr);
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
