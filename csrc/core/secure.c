/* secure.c: guarded allocations, arenas, wipe and constant-time compare.
 *
 * Layout of a guarded allocation (sizes in pages, data flush against the upper guard):
 *
 *   [guard][header page(s): header | ... | canary | data ......][guard]
 *
 * The header records the mapping and the user size; the canary sits immediately before the data
 * so an underflow smashes it; an overflow hits the upper guard page and faults.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pcc/secure.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CANARY_LEN 16u
#define HDR_MAGIC 0x70636373656375ULL /* "pccsecu" */

typedef struct sec_hdr {
    uint64_t magic;
    uint8_t *map;      /* start of the whole mapping (lower guard page) */
    size_t map_len;    /* bytes mapped, guards included */
    size_t inner_len;  /* bytes between the guards */
    size_t size;       /* user size */
} sec_hdr;

static uint8_t g_canary[CANARY_LEN];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static atomic_int g_mlock_warned;
static size_t g_page;

static void secure_init(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    g_page = pg > 0 ? (size_t)pg : 4096u;
    if (RAND_bytes(g_canary, (int)sizeof g_canary) != 1) {
        /* Fall back to a fixed, non-zero pattern: still detects linear overwrites. */
        for (size_t i = 0; i < CANARY_LEN; i++)
            g_canary[i] = (uint8_t)(0xA5u ^ (i * 29u));
    }
}

static size_t page_size(void)
{
    pthread_once(&g_once, secure_init);
    return g_page;
}

static pthread_mutex_t g_ossl_mu = PTHREAD_MUTEX_INITIALIZER;

pcc_status pcc_secure_openssl_init(size_t size)
{
    pcc_status st = PCC_OK;
    if (size < 4096 || (size & (size - 1)) != 0 || size > ((size_t)1 << 30))
        return PCC_E_INVALID;
    pthread_mutex_lock(&g_ossl_mu);
    if (!CRYPTO_secure_malloc_initialized()) {
        /* 1: mapped, locked and MADV_DONTDUMP; 2: mapped but mlock or madvise failed; 0: none */
        int r = CRYPTO_secure_malloc_init(size, 32);
        if (r == 0)
            st = PCC_E_NOMEM;
        else if (r == 2 && atomic_exchange(&g_mlock_warned, 1) == 0)
            fputs("pcc: warning: mlock of OpenSSL's secure heap failed; keys may be swapped "
                  "(raise RLIMIT_MEMLOCK)\n", stderr);
    }
    pthread_mutex_unlock(&g_ossl_mu);
    return st;
}

size_t pcc_secure_openssl_used(void)
{
    return CRYPTO_secure_malloc_initialized() ? CRYPTO_secure_used() : 0;
}

void pcc_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

int pcc_ct_equal(const void *a, const void *b, size_t n)
{
    if (n == 0)
        return 1;
    return CRYPTO_memcmp(a, b, n) == 0;
}

static void lock_region(void *p, size_t n)
{
    if (mlock(p, n) != 0) {
        if (atomic_exchange(&g_mlock_warned, 1) == 0)
            fputs("pcc: warning: mlock failed; secure memory may be swapped "
                  "(raise RLIMIT_MEMLOCK)\n", stderr);
    }
#ifdef MADV_DONTDUMP
    (void)madvise(p, n, MADV_DONTDUMP);
#endif
}

/* round_up returns x rounded up to a multiple of m (a power of two), or 0 on overflow. */
static size_t round_up(size_t x, size_t m)
{
    if (x > SIZE_MAX - (m - 1))
        return 0;
    return (x + m - 1) & ~(m - 1);
}

/* map_guarded maps inner bytes (a page multiple) between two guard pages. */
static uint8_t *map_guarded(size_t inner, size_t *map_len)
{
    size_t pg = page_size();
    if (inner > SIZE_MAX - 2 * pg)
        return NULL;
    size_t total = inner + 2 * pg;
    uint8_t *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (mprotect(map, pg, PROT_NONE) != 0 || mprotect(map + pg + inner, pg, PROT_NONE) != 0) {
        munmap(map, total);
        return NULL;
    }
    lock_region(map + pg, inner);
    *map_len = total;
    return map;
}

static void unmap_guarded(uint8_t *map, size_t map_len, size_t inner)
{
    size_t pg = page_size();
    pcc_wipe(map + pg, inner);
    (void)munlock(map + pg, inner);
    munmap(map, map_len);
}

static sec_hdr *hdr_of(const void *p)
{
    const uint8_t *data = p;
    /* The header is at the start of the inner region: page-align down from the canary. */
    uintptr_t c = (uintptr_t)(data - CANARY_LEN);
    uintptr_t inner = c & ~(uintptr_t)(page_size() - 1);
    /* If the header does not fit before the canary on this page, it is on the page before. */
    if (c - inner < sizeof(sec_hdr))
        inner -= page_size();
    return (sec_hdr *)inner;
}

void *pcc_secure_alloc(size_t n)
{
    size_t pg = page_size();
    if (n == 0 || n > SIZE_MAX / 2)
        return NULL;
    size_t need = sizeof(sec_hdr) + CANARY_LEN + n;
    size_t inner = round_up(need, pg);
    if (inner == 0)
        return NULL;
    size_t map_len = 0;
    uint8_t *map = map_guarded(inner, &map_len);
    if (map == NULL)
        return NULL;
    uint8_t *in = map + pg;
    uint8_t *data = in + inner - n;
    /* Place the header at the start of the page that holds the canary's first byte, or the page
     * before it when it would not fit: hdr_of() finds it the same way. */
    sec_hdr *h;
    uintptr_t c = (uintptr_t)(data - CANARY_LEN);
    uintptr_t hp = c & ~(uintptr_t)(pg - 1);
    if (c - hp < sizeof(sec_hdr))
        hp -= pg;
    h = (sec_hdr *)hp;
    h->magic = HDR_MAGIC;
    h->map = map;
    h->map_len = map_len;
    h->inner_len = inner;
    h->size = n;
    memcpy(data - CANARY_LEN, g_canary, CANARY_LEN);
    return data;
}

size_t pcc_secure_size(const void *p)
{
    if (p == NULL)
        return 0;
    return hdr_of(p)->size;
}

void pcc_secure_free(void *p)
{
    if (p == NULL)
        return;
    uint8_t *data = p;
    sec_hdr *h = hdr_of(p);
    if (h->magic != HDR_MAGIC || CRYPTO_memcmp(data - CANARY_LEN, g_canary, CANARY_LEN) != 0) {
        fputs("pcc: secure memory canary smashed; aborting\n", stderr);
        abort();
    }
    sec_hdr copy = *h;
    unmap_guarded(copy.map, copy.map_len, copy.inner_len);
}

struct pcc_arena {
    uint8_t *map;
    size_t map_len;
    uint8_t *base;
    size_t cap;
    size_t used;
};

pcc_status pcc_arena_new(pcc_arena **out, size_t capacity)
{
    if (out == NULL || capacity == 0)
        return PCC_E_INVALID;
    *out = NULL;
    size_t inner = round_up(capacity, page_size());
    if (inner == 0)
        return PCC_E_LIMIT;
    pcc_arena *a = calloc(1, sizeof *a);
    if (a == NULL)
        return PCC_E_NOMEM;
    a->map = map_guarded(inner, &a->map_len);
    if (a->map == NULL) {
        free(a);
        return PCC_E_NOMEM;
    }
    a->base = a->map + page_size();
    a->cap = inner;
    *out = a;
    return PCC_OK;
}

void *pcc_arena_alloc(pcc_arena *a, size_t n, size_t align)
{
    if (a == NULL || n == 0 || align == 0 || (align & (align - 1)) != 0 || align > 4096)
        return NULL;
    size_t off = round_up(a->used, align);
    if (off == 0 && a->used != 0)
        return NULL;
    if (off > a->cap || n > a->cap - off)
        return NULL;
    a->used = off + n;
    return a->base + off; /* zero: fresh mapping or wiped by reset */
}

size_t pcc_arena_used(const pcc_arena *a) { return a ? a->used : 0; }
size_t pcc_arena_capacity(const pcc_arena *a) { return a ? a->cap : 0; }
const void *pcc_arena_base(const pcc_arena *a) { return a ? a->base : NULL; }

void pcc_arena_reset(pcc_arena *a)
{
    if (a == NULL)
        return;
    pcc_wipe(a->base, a->used);
    a->used = 0;
}

void pcc_arena_free(pcc_arena *a)
{
    if (a == NULL)
        return;
    unmap_guarded(a->map, a->map_len, a->cap);
    free(a);
}
