/* pcc/secure.h: memory for secrets. Guarded allocations, arenas, wipe, constant-time compare. */
#ifndef PCC_SECURE_H
#define PCC_SECURE_H

#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* pcc_secure_alloc returns n bytes (zeroed) between two PROT_NONE guard pages, with a canary
 * before the data, locked with mlock (a failed mlock warns once on stderr) and excluded from core
 * dumps (MADV_DONTDUMP). The data ends flush against the upper guard page, so writing one byte
 * past the end faults. Returns NULL if n == 0, on overflow or when out of memory.
 * WARNING: free only with pcc_secure_free. */
PCC_API void *pcc_secure_alloc(size_t n) PCC_WUR;

/* pcc_secure_free checks the canary (a smashed canary aborts: the one allowed abort), wipes the
 * data, unlocks and unmaps it. Accepts NULL. */
PCC_API void pcc_secure_free(void *p);

/* pcc_secure_size returns the usable size of a pcc_secure_alloc block (0 for NULL). */
PCC_API size_t pcc_secure_size(const void *p);

/* PCC_SECURE_SMALL_MAX is the largest object pcc_secure_small_alloc hands out (a slot is this
 * plus a 16-byte front canary and 16 bytes for the rear canary and slack: 272 bytes). */
#define PCC_SECURE_SMALL_MAX 240
/* PCC_SECURE_SMALL_SLOT is the distance between neighbouring small objects. */
#define PCC_SECURE_SMALL_SLOT (PCC_SECURE_SMALL_MAX + 32)

/* pcc_secure_small_alloc returns n bytes (zeroed, 16-byte aligned) for a small secret object (a
 * key, an HPKE or OHTTP context) without a system call per object: a fixed-size slot in a slab of
 * 64 taken from pcc_secure_alloc (so guard-paged, mlock'ed and MADV_DONTDUMP as a whole; there are
 * no guard pages between slots). Each slot has a 16-byte canary just before the object and an
 * 8-byte canary just after it, the rest of the slot (slack) is filled with a pattern, and a free
 * slot is filled with another: all four are derived per slot and per use from a secret key (none
 * is stored), so they differ between slots and between uses of one slot. Allocation checks that
 * the slot and its free neighbours still hold their free pattern (an overflow into free memory
 * aborts) and zeroes the object. Under AddressSanitizer everything but the live objects is
 * poisoned. Safe across threads and fork. Returns NULL if n == 0, n > PCC_SECURE_SMALL_MAX or
 * when out of memory.
 * WARNING: free only with pcc_secure_small_free, never with pcc_secure_free or free. A read past
 * the object is not detected: it reads the canary and slack, then the next slot. */
PCC_API void *pcc_secure_small_alloc(size_t n) PCC_WUR;

/* pcc_secure_small_free checks both canaries, the slack pattern and the free neighbours' patterns
 * (any damage, a double free or a pointer that is not a live slot aborts, as pcc_secure_free's
 * canary does), wipes the slot, refills it with its free pattern and releases it; a slab left
 * empty is returned to the system unless it is the last one. Accepts NULL. */
PCC_API void pcc_secure_small_free(void *p);

/* PCC_SECURE_OPENSSL_HEAP is the size pcc gives OpenSSL's secure heap when it sets it up: 1 MiB. */
#define PCC_SECURE_OPENSSL_HEAP ((size_t)1 << 20)

/* pcc_secure_openssl_init sets up OpenSSL's secure heap (CRYPTO_secure_malloc_init) with size
 * bytes (a power of two, at least 4096) in 32-byte units, once per process. OpenSSL keeps the
 * secrets it allocates with OPENSSL_secure_malloc there (X25519/Ed25519 private keys that pcc
 * imports, BIGNUMs from BN_secure_new: P-256 scalars, RSA private keys): one guarded mapping,
 * mlock'ed and MADV_DONTDUMP, wiped on free. The first call that succeeds fixes the size; later
 * calls, and calls after another library set the heap up, return PCC_OK and change nothing. A
 * failed mlock warns once on stderr (the heap still works, unlocked). Returns PCC_E_INVALID for a
 * bad size, PCC_E_NOMEM when OpenSSL cannot map it (then nothing is set up and pcc's X25519 and
 * Ed25519 private key imports fail with PCC_E_NOMEM rather than fall back to ordinary memory).
 * When the heap is full, OpenSSL's secure allocations fail (NULL): key imports return
 * PCC_E_NOMEM; other OpenSSL secure users in the process fail too. pcc's key functions call this
 * with PCC_SECURE_OPENSSL_HEAP; call it earlier, before any thread uses OpenSSL, to choose
 * another size. */
PCC_API pcc_status pcc_secure_openssl_init(size_t size) PCC_WUR;

/* pcc_secure_openssl_used returns the bytes of OpenSSL's secure heap in use (0 if none). */
PCC_API size_t pcc_secure_openssl_used(void);

/* pcc_wipe zeroes n bytes in a way the compiler cannot elide. */
PCC_API void pcc_wipe(void *p, size_t n);

/* pcc_ct_equal returns 1 if a and b hold the same n bytes, 0 otherwise, in time that depends only
 * on n. */
PCC_API int pcc_ct_equal(const void *a, const void *b, size_t n);

/* pcc_arena: one guarded, locked mapping for many large buffers with one lifetime (a generation's
 * KV cache and activations). Allocation is a bump pointer; reset and free wipe what was used. */
typedef struct pcc_arena pcc_arena;

/* pcc_arena_new makes an arena able to hold capacity bytes (rounded up to pages). */
PCC_API pcc_status pcc_arena_new(pcc_arena **out, size_t capacity) PCC_WUR;

/* pcc_arena_alloc returns n zeroed bytes aligned to align (a power of two, at most 4096), or NULL
 * when the arena is full or the arguments are invalid. The memory belongs to the arena. */
PCC_API void *pcc_arena_alloc(pcc_arena *a, size_t n, size_t align) PCC_WUR;

/* pcc_arena_used returns the bytes handed out so far (high-water mark since the last reset). */
PCC_API size_t pcc_arena_used(const pcc_arena *a);

/* pcc_arena_capacity returns the usable size of the arena. */
PCC_API size_t pcc_arena_capacity(const pcc_arena *a);

/* pcc_arena_base returns the start of the arena's usable memory (for tests that inspect a wipe). */
PCC_API const void *pcc_arena_base(const pcc_arena *a);

/* pcc_arena_reset wipes everything handed out and makes the whole arena free again. */
PCC_API void pcc_arena_reset(pcc_arena *a);

/* pcc_arena_free wipes and unmaps the arena. Accepts NULL. */
PCC_API void pcc_arena_free(pcc_arena *a);

#ifdef __cplusplus
}
#endif
#endif
