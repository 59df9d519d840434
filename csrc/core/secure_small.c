/* secure_small.c: small secure objects (pcc_secure_small_alloc / pcc_secure_small_free).
 *
 * A pcc_secure_alloc costs several system calls (mmap, two mprotect, mlock, madvise, then munlock,
 * munmap) plus page faults: about 20 us here, more than an X25519 scalar multiplication on some
 * machines, and an HPKE single-shot seal needs one context. So small secret objects (HPKE keys and
 * contexts, OHTTP contexts) take a fixed-size slot in a slab: one pcc_secure_alloc block (guard
 * pages around it, mlock'ed, MADV_DONTDUMP) cut into 64 slots of 272 bytes.
 *
 * A live slot holding an object of n bytes:
 *
 *   [front canary 16][object n][rear canary 8][slack: pattern up to the slot's end]
 *
 * The front canary is SipHash-2-4, under a random process key, of the slot's address, the slot's
 * generation (incremented on every allocation and free) and a tag, so it differs per slot and per
 * use, and reading one tells nothing about another; the rear canary and the slack pattern are
 * mixed from it. A free slot is filled from end to end with its own pattern, derived the same
 * way. The expected values, the object's size and the generation are kept in the slab's
 * descriptor (ordinary heap, away from the slots), never next to the object, so an overflow can
 * neither read nor rewrite them.
 *
 * Checks, each a deliberate abort (as for pcc_secure_free's canary):
 * - free: the front canary (an underflow), the rear canary (an overflow), the slack (a write into
 *   the slot past the object, also one that skipped the rear canary), and the free neighbours.
 * - alloc: the slot taken and its free neighbours still hold their free pattern (an overflow of
 *   a live object into a free neighbour).
 * The object is zeroed on allocation (after its free pattern was checked) and the whole slot
 * wiped on free. What is not detected: a read past an object (there are no guard pages between
 * slots: the rear canary and slack are padding, then comes the neighbour's front canary and
 * object), and a write that lands on a live neighbour's object without touching any canary. */
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
#define FRONT 16 /* front canary, flush against the object */
#define REAR 8   /* rear canary, right after the object's last byte */
#define SLOT_SIZE PCC_SECURE_SMALL_SLOT
_Static_assert(SLOT_SIZE % 16 == 0, "slots keep 16-byte alignment");
_Static_assert(SLOT_SIZE - FRONT >= PCC_SECURE_SMALL_MAX + REAR, "room for the rear canary");

enum { TAG_FRONT0, TAG_FRONT1, TAG_FREE };

typedef struct slab {
    struct slab *next;
    uint8_t *mem;             /* SLOTS * SLOT_SIZE bytes from pcc_secure_alloc */
    uint64_t used;            /* bit i set: slot i handed out */
    uint32_t gen[SLOTS];      /* bumped on every allocation and free of the slot */
    uint16_t size[SLOTS];     /* object size of a live slot */
    uint64_t mark[SLOTS][2];  /* live: the front canary; free: [0] the free pattern */
} slab;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static slab *g_slabs;
static uint64_t g_key[2]; /* SipHash key of the canaries */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&g_mu); }
static void fork_parent(void) { pthread_mutex_unlock(&g_mu); }
static void fork_child(void) { pthread_mutex_unlock(&g_mu); }

static void slots_init(void)
{
    if (RAND_bytes((unsigned char *)g_key, sizeof g_key) != 1) {
        /* still catches linear overwrites, though the canaries become predictable */
        g_key[0] = 0x9e3779b97f4a7c15ull;
        g_key[1] = 0xbf58476d1ce4e5b9ull;
    }
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- SipHash-2-4 of one 16-byte message (slot address, generation, tag) ------------------ */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                  \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                     \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                     \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                  \
    } while (0)

static uint64_t slot_hash(const uint8_t *slot, uint32_t gen, uint32_t tag)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ g_key[0], v1 = 0x646f72616e646f6dull ^ g_key[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ g_key[0], v3 = 0x7465646279746573ull ^ g_key[1];
    const uint64_t m[2] = {(uint64_t)(uintptr_t)slot, (uint64_t)gen << 32 | tag};
    for (int i = 0; i < 2; i++) {
        v3 ^= m[i];
        SIPROUND;
        SIPROUND;
        v0 ^= m[i];
    }
    const uint64_t b = (uint64_t)16 << 56; /* message length in the last block */
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* fill writes the 8-byte value h repeated over n bytes (n need not be a multiple of 8). */
static void fill(uint8_t *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i += 8)
        memcpy(p + i, &h, n - i < 8 ? n - i : 8);
}

/* same returns 1 when n bytes at p are h repeated (eight bytes at a time; time depends only on
 * n). */
static int same(const uint8_t *p, size_t n, uint64_t h)
{
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        acc |= w ^ h;
    }
    if (i < n) {
        w = 0;
        uint64_t t = 0;
        memcpy(&w, p + i, n - i);
        memcpy(&t, &h, n - i);
        acc |= w ^ t;
    }
    return acc == 0;
}

static void die(const char *what)
{
    fprintf(stderr, "pcc: secure small object: %s; aborting\n", what);
    abort();
}

static uint8_t *slot_at(const slab *s, unsigned i) { return s->mem + (size_t)i * SLOT_SIZE; }

/* check_free aborts unless free slot i still holds its free pattern. Caller holds g_mu. */
static void check_free(const slab *s, unsigned i)
{
    uint8_t *slot = slot_at(s, i);
    UNPOISON(slot, SLOT_SIZE);
    int ok = same(slot, SLOT_SIZE, s->mark[i][0]);
    POISON(slot, SLOT_SIZE);
    if (!ok)
        die("a free slot was written (overflow from a neighbouring object)");
}

static void check_free_neighbours(const slab *s, unsigned i)
{
    if (i > 0 && !(s->used & (1ull << (i - 1))))
        check_free(s, i - 1);
    if (i + 1 < SLOTS && !(s->used & (1ull << (i + 1))))
        check_free(s, i + 1);
}

/* make_free bumps slot i's generation and fills it with its free pattern. Caller holds g_mu. */
static void make_free(slab *s, unsigned i)
{
    uint8_t *slot = slot_at(s, i);
    s->gen[i]++;
    s->mark[i][0] = slot_hash(slot, s->gen[i], TAG_FREE);
    s->mark[i][1] = 0;
    fill(slot, SLOT_SIZE, s->mark[i][0]);
}

/* rear_of and slack_of derive the rear canary and the slack pattern from the front canary. */
static uint64_t rear_of(const uint64_t f[2]) { return f[0] ^ ROTL(f[1], 29); }
static uint64_t slack_of(const uint64_t f[2])
{
    return f[1] ^ ROTL(f[0], 41) ^ 0xa5a5a5a5a5a5a5a5ull;
}

static slab *slab_new(void)
{
    slab *s = calloc(1, sizeof *s);
    if (s == NULL || (s->mem = pcc_secure_alloc(SLOTS * SLOT_SIZE)) == NULL) {
        free(s);
        return NULL;
    }
    for (unsigned i = 0; i < SLOTS; i++)
        make_free(s, i);
    POISON(s->mem, SLOTS * SLOT_SIZE);
    return s;
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
        if ((fresh = slab_new()) == NULL)
            return NULL;
        pthread_mutex_lock(&g_mu);
        fresh->next = g_slabs;
        g_slabs = fresh;
        s = fresh;
    }
    unsigned i = (unsigned)__builtin_ctzll(~s->used);
    check_free(s, i);
    check_free_neighbours(s, i);
    s->used |= 1ull << i;
    s->gen[i]++;
    s->size[i] = (uint16_t)n;
    uint8_t *slot = slot_at(s, i), *obj = slot + FRONT;
    uint64_t *f = s->mark[i];
    f[0] = slot_hash(slot, s->gen[i], TAG_FRONT0);
    f[1] = slot_hash(slot, s->gen[i], TAG_FRONT1);
    uint64_t rear = rear_of(f);
    UNPOISON(slot, SLOT_SIZE);
    memcpy(slot, f, FRONT);
    memset(obj, 0, n); /* the promise: zeroed */
    memcpy(obj + n, &rear, REAR);
    fill(obj + n + REAR, SLOT_SIZE - FRONT - n - REAR, slack_of(f));
    POISON(slot, SLOT_SIZE);
    UNPOISON(obj, n);
    pthread_mutex_unlock(&g_mu);
    return obj;
}

void pcc_secure_small_free(void *p)
{
    if (p == NULL)
        return;
    uint8_t *obj = p, *slot = obj - FRONT;
    slab *s, *prev = NULL, *release = NULL;
    pthread_mutex_lock(&g_mu);
    for (s = g_slabs; s != NULL; prev = s, s = s->next)
        if (slot >= s->mem && slot < s->mem + SLOTS * SLOT_SIZE)
            break;
    size_t off = s != NULL ? (size_t)(slot - s->mem) : 0;
    if (s == NULL || off % SLOT_SIZE != 0 || !(s->used & (1ull << (off / SLOT_SIZE)))) {
        pthread_mutex_unlock(&g_mu);
        die("freed twice, or not a pointer pcc_secure_small_alloc returned");
    }
    unsigned i = (unsigned)(off / SLOT_SIZE);
    size_t n = s->size[i];
    const uint64_t *f = s->mark[i];
    uint64_t rear = rear_of(f);
    UNPOISON(slot, SLOT_SIZE);
    int front_ok = CRYPTO_memcmp(slot, f, FRONT) == 0;
    int rear_ok = CRYPTO_memcmp(obj + n, &rear, REAR) == 0;
    int slack_ok = same(obj + n + REAR, SLOT_SIZE - FRONT - n - REAR, slack_of(f));
    pcc_wipe(slot, SLOT_SIZE);
    if (!front_ok)
        die("canary before the object smashed (underflow)");
    if (!rear_ok)
        die("canary after the object smashed (overflow)");
    if (!slack_ok)
        die("slack after the object written (overflow)");
    make_free(s, i);
    POISON(slot, SLOT_SIZE);
    s->used &= ~(1ull << i);
    check_free_neighbours(s, i);
    if (s->used == 0 && (prev != NULL || s->next != NULL)) {
        if (prev != NULL)
            prev->next = s->next;
        else
            g_slabs = s->next;
        release = s;
    }
    pthread_mutex_unlock(&g_mu);
    if (release != NULL) {
        UNPOISON(release->mem, SLOTS * SLOT_SIZE);
        pcc_secure_free(release->mem);
        free(release);
    }
}
