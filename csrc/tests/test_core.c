/* test_core.c: C-level tests of the core (no Python): bounded reader/writer and secure memory.
 * Built against build/libpcc.a by `make ctest` (and with sanitizers by `make asan`). */
#include <stdio.h>
#include <string.h>

#include "pcc/buf.h"
#include "pcc/hpke.h"
#include "pcc/secure.h"

static int failures;

/* Under ASan the allocator poisons everything but live objects; the canary checks below read
 * around objects on purpose. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(TEST_ASAN)
#define TEST_ASAN 1
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#define PEEK(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define PEEK(p, n) ((void)(p), (void)(n))
#endif

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

/* RFC 9000 Appendix A.1 sample variable-length integer decodings. */
static void test_varint(void)
{
    static const struct {
        uint8_t b[8];
        size_t n;
        uint64_t v;
    } kat[] = {
        {{0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}, 8, 151288809941952652ULL},
        {{0x9d, 0x7f, 0x3e, 0x7d}, 4, 494878333ULL},
        {{0x7b, 0xbd}, 2, 15293},
        {{0x25}, 1, 37},
        {{0x40, 0x25}, 2, 37},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        pcc_reader r;
        uint64_t v = 0;
        pcc_reader_init(&r, kat[i].b, kat[i].n);
        CHECK(pcc_reader_varint(&r, &v) == PCC_OK);
        CHECK(v == kat[i].v);
        CHECK(pcc_reader_remaining(&r) == 0);
        /* every truncation fails and leaves the reader where it was */
        for (size_t cut = 0; cut < kat[i].n; cut++) {
            pcc_reader_init(&r, kat[i].b, cut);
            CHECK(pcc_reader_varint(&r, &v) == PCC_E_FORMAT);
            CHECK(r.off == 0);
        }
    }
    /* minimal re-encoding */
    uint8_t out[8];
    pcc_writer w;
    pcc_writer_init_fixed(&w, out, sizeof out);
    CHECK(pcc_writer_varint(&w, 15293) == PCC_OK);
    CHECK(w.len == 2 && out[0] == 0x7b && out[1] == 0xbd);
    CHECK(pcc_writer_varint(&w, 1ULL << 62) == PCC_E_INVALID);
}

static void test_reader_bounds(void)
{
    const uint8_t d[5] = {1, 2, 3, 4, 5};
    pcc_reader r;
    uint32_t v32;
    uint16_t v16;
    const uint8_t *p;
    pcc_reader_init(&r, d, sizeof d);
    CHECK(pcc_reader_u32(&r, &v32) == PCC_OK && v32 == 0x01020304);
    CHECK(pcc_reader_u16(&r, &v16) == PCC_E_FORMAT && r.off == 4);
    CHECK(pcc_reader_bytes(&r, &p, 2) == PCC_E_FORMAT);
    CHECK(pcc_reader_bytes(&r, &p, 1) == PCC_OK && *p == 5);
    pcc_reader_init(&r, d, sizeof d);
    CHECK(pcc_reader_u32le(&r, &v32) == PCC_OK && v32 == 0x04030201);
    CHECK(pcc_reader_bytes(&r, &p, SIZE_MAX) == PCC_E_FORMAT);
}

static void test_writer(void)
{
    uint8_t buf[4];
    pcc_writer w;
    pcc_writer_init_fixed(&w, buf, sizeof buf);
    CHECK(pcc_writer_u16(&w, 0xABCD) == PCC_OK);
    CHECK(pcc_writer_u32(&w, 1) == PCC_E_LIMIT && w.len == 2);
    for (int secure = 0; secure < 2; secure++) {
        pcc_writer_init_dynamic(&w, secure != 0, 1 << 20);
        for (int i = 0; i < 10000; i++)
            CHECK(pcc_writer_u8(&w, (uint8_t)i) == PCC_OK);
        CHECK(w.len == 10000 && w.data[9999] == (uint8_t)9999);
        CHECK(pcc_writer_zeros(&w, (size_t)1 << 21) == PCC_E_LIMIT);
        pcc_writer_cleanup(&w);
        CHECK(w.data == NULL);
    }
}

static void test_secure(void)
{
    uint8_t *p = pcc_secure_alloc(100);
    CHECK(p != NULL);
    CHECK(pcc_secure_size(p) == 100);
    for (int i = 0; i < 100; i++)
        CHECK(p[i] == 0);
    memset(p, 0x5a, 100);
    pcc_secure_free(p);
    CHECK(pcc_secure_alloc(0) == NULL);
    CHECK(pcc_secure_alloc(SIZE_MAX) == NULL);
    pcc_arena *a = NULL;
    CHECK(pcc_arena_new(&a, 10000) == PCC_OK);
    uint8_t *x = pcc_arena_alloc(a, 5000, 64);
    CHECK(x != NULL && ((uintptr_t)x & 63) == 0);
    memset(x, 0x77, 5000);
    CHECK(pcc_arena_alloc(a, pcc_arena_capacity(a), 1) == NULL);
    pcc_arena_reset(a);
    const uint8_t *base = pcc_arena_base(a);
    for (size_t i = 0; i < 5000; i++)
        CHECK(base[i] == 0);
    pcc_arena_free(a);
    CHECK(pcc_ct_equal("abc", "abc", 3) == 1 && pcc_ct_equal("abc", "abd", 3) == 0);
}

static void test_secure_small(void)
{
    enum { N = 300 }; /* several slabs of 64 */
    static uint8_t *v[N];
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)i % PCC_SECURE_SMALL_MAX;
        v[i] = pcc_secure_small_alloc(n);
        CHECK(v[i] != NULL && ((uintptr_t)v[i] & 15) == 0);
        if (v[i] == NULL)
            continue;
        for (size_t k = 0; k < n; k++)
            CHECK(v[i][k] == 0);
        memset(v[i], 0xA0 + (i & 15), n);
    }
    for (int i = 0; i < N; i++) /* objects are distinct and kept their contents */
        if (v[i] != NULL)
            CHECK(v[i][0] == (uint8_t)(0xA0 + (i & 15)));
    for (int i = 0; i < N; i += 2)
        pcc_secure_small_free(v[i]);
    for (int i = 0; i < N; i += 2) { /* reuse the freed slots: wiped, so zero */
        v[i] = pcc_secure_small_alloc(PCC_SECURE_SMALL_MAX);
        CHECK(v[i] != NULL);
        if (v[i] == NULL)
            continue;
        for (size_t k = 0; k < PCC_SECURE_SMALL_MAX; k++)
            CHECK(v[i][k] == 0);
        memset(v[i], 0x5a, PCC_SECURE_SMALL_MAX);
    }
    for (int i = 0; i < N; i++)
        pcc_secure_small_free(v[i]);
    /* A slot freed and taken again at once (the lowest free slot) reads zero. */
    uint8_t *a = pcc_secure_small_alloc(32);
    CHECK(a != NULL);
    if (a != NULL)
        memset(a, 0xFF, 32);
    pcc_secure_small_free(a);
    uint8_t *b = pcc_secure_small_alloc(32);
    CHECK(b != NULL && b == a);
    for (size_t k = 0; b != NULL && k < 32; k++)
        CHECK(b[k] == 0);
    pcc_secure_small_free(b);
    pcc_secure_small_free(NULL);
    /* Canaries differ between neighbouring slots and between two uses of one slot. */
    uint8_t *c = pcc_secure_small_alloc(40), *d = pcc_secure_small_alloc(40);
    CHECK(c != NULL && d != NULL && d == c + PCC_SECURE_SMALL_SLOT);
    if (c != NULL && d != NULL) {
        uint8_t front_c[16], rear_c[8];
        PEEK(c - 16, 2 * PCC_SECURE_SMALL_SLOT);
        memcpy(front_c, c - 16, 16);
        memcpy(rear_c, c + 40, 8);
        CHECK(memcmp(c - 16, d - 16, 16) != 0);
        CHECK(memcmp(c + 40, d + 40, 8) != 0);
        CHECK(memcmp(c + 48, d + 48, 8) != 0); /* slack patterns too */
        memset(c, 0xEE, 40); /* the object itself may be written up to its size */
        pcc_secure_small_free(c);
        uint8_t *e = pcc_secure_small_alloc(40);
        CHECK(e == c);
        if (e != NULL) {
            PEEK(e - 16, PCC_SECURE_SMALL_SLOT);
            CHECK(memcmp(e - 16, front_c, 16) != 0 && memcmp(e + 40, rear_c, 8) != 0);
            for (size_t k = 0; k < 40; k++)
                CHECK(e[k] == 0);
        }
        pcc_secure_small_free(e);
    }
    pcc_secure_small_free(d);
    CHECK(pcc_secure_small_alloc(0) == NULL);
    CHECK(pcc_secure_small_alloc(PCC_SECURE_SMALL_MAX + 1) == NULL);
    CHECK(pcc_secure_small_alloc(SIZE_MAX) == NULL);
}

/* OpenSSL's secure heap: size checks, first size wins, and an imported X25519 key's OpenSSL copy
 * is counted in it (and released with the key). */
static void test_openssl_heap(void)
{
    static const uint8_t sk[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    pcc_hpke_key *k = NULL;
    CHECK(pcc_secure_openssl_init(0) == PCC_E_INVALID);
    CHECK(pcc_secure_openssl_init(4095) == PCC_E_INVALID);
    CHECK(pcc_secure_openssl_init(3u << 12) == PCC_E_INVALID); /* not a power of two */
    CHECK(pcc_secure_openssl_init((size_t)1 << 16) == PCC_OK);
    CHECK(pcc_secure_openssl_init((size_t)1 << 20) == PCC_OK); /* already set up: no change */
    size_t before = pcc_secure_openssl_used();
    CHECK(pcc_hpke_key_from_bytes(&k, PCC_HPKE_KEM_X25519_SHA256, sk, sizeof sk) == PCC_OK);
    CHECK(pcc_secure_openssl_used() >= before + 32);
    pcc_hpke_key_free(k);
    CHECK(pcc_secure_openssl_used() == before);
}

int main(void)
{
    test_varint();
    test_reader_bounds();
    test_writer();
    test_secure();
    test_secure_small();
    test_openssl_heap();
    if (failures) {
        printf("core: %d failed\n", failures);
        return 1;
    }
    printf("core: all passed\n");
    return 0;
}
