/* fuzz_merkle.c: libFuzzer harness for RFC 9162 proof verification, differential against the
 * tree itself.
 *
 * A tree of 300 leaves (leaf i = the 4 bytes of i, big-endian) is built once, with the roots of
 * every size. Input: byte 0 picks inclusion (even) or consistency (odd) and, with bit 1, "wide"
 * sizes; then two sizes (2 bytes each, or 8 bytes each when wide); the rest is the proof.
 * For sizes within the tree, verification against the true root must succeed exactly when the
 * proof is the tree's own proof (anything else would be a SHA-256 collision), and must fail with
 * PCC_E_FORMAT exactly when the proof is not a whole number of hashes. For wide sizes, with the
 * root taken from the input, it must only return a documented status. */
#include <stdint.h>
#include <string.h>

#include "pcc/merkle.h"

#define REQUIRE(c)                 \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

#define N 300
#define H PCC_MERKLE_HASH_LEN

static pcc_merkle_tree *g_tree;
static uint8_t g_roots[N + 1][H];
static uint8_t g_leaf[N][H];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    REQUIRE(pcc_merkle_tree_new(&g_tree, NULL) == PCC_OK);
    REQUIRE(pcc_merkle_tree_root(g_tree, 0, g_roots[0]) == PCC_OK);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t d[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        REQUIRE(pcc_merkle_tree_append(g_tree, d, 4, NULL) == PCC_OK);
        REQUIRE(pcc_merkle_leaf_hash(g_leaf[i], d, 4) == PCC_OK);
        REQUIRE(pcc_merkle_tree_root(g_tree, i + 1, g_roots[i + 1]) == PCC_OK);
    }
    return 0;
}

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t want[PCC_MERKLE_MAX_PROOF * H];
    size_t nw = 0;
    if (size < 1)
        return 0;
    int consistency = data[0] & 1, wide = (data[0] >> 1) & 1;
    size_t w = wide ? 8 : 2;
    if (size < 1 + 2 * w)
        return 0;
    uint64_t a = be(data + 1, w), b = be(data + 1 + w, w);
    const uint8_t *proof = data + 1 + 2 * w;
    size_t plen = size - 1 - 2 * w;
    pcc_status st;

    if (wide) {
        /* arbitrary 64-bit sizes; the first proof hash doubles as the root(s) */
        uint8_t r[H] = {0};
        if (plen >= H)
            memcpy(r, proof, H);
        st = consistency
                 ? pcc_merkle_verify_consistency(a, b, proof, plen, r, H, g_roots[N], H)
                 : pcc_merkle_verify_inclusion(g_leaf[0], H, a, b, proof, plen, r, H);
        REQUIRE(st == PCC_OK || st == PCC_E_VERIFY || st == PCC_E_FORMAT);
        REQUIRE((st == PCC_E_FORMAT) == (plen % H != 0));
        if (a > N || b > N) /* an accepted proof for an out-of-tree size would be a forgery */
            REQUIRE(st != PCC_OK || (consistency && a == b && a != 0 && plen == 0 &&
                                     memcmp(r, g_roots[N], H) == 0));
        return 0;
    }
    if (!consistency) {
        uint64_t index = a, sz = b;
        if (sz > N)
            return 0;
        const uint8_t *leaf = index < N ? g_leaf[index] : g_leaf[0];
        st = pcc_merkle_verify_inclusion(leaf, H, index, sz, proof, plen, g_roots[sz], H);
        REQUIRE(st == PCC_OK || st == PCC_E_VERIFY || st == PCC_E_FORMAT);
        if (plen % H != 0) {
            REQUIRE(st == PCC_E_FORMAT);
            return 0;
        }
        int real = index < sz &&
                   pcc_merkle_tree_inclusion_proof(g_tree, index, sz, want, &nw,
                                                   PCC_MERKLE_MAX_PROOF) == PCC_OK;
        int same = real && plen == nw * H && (plen == 0 || memcmp(proof, want, plen) == 0);
        REQUIRE((st == PCC_OK) == same);
    } else {
        uint64_t s1 = a, s2 = b;
        if (s1 > N || s2 > N)
            return 0;
        st = pcc_merkle_verify_consistency(s1, s2, proof, plen, g_roots[s1], H, g_roots[s2], H);
        REQUIRE(st == PCC_OK || st == PCC_E_VERIFY || st == PCC_E_FORMAT);
        if (plen % H != 0) {
            REQUIRE(st == PCC_E_FORMAT);
            return 0;
        }
        int real = s1 > 0 && s1 <= s2 &&
                   pcc_merkle_tree_consistency_proof(g_tree, s1, s2, want, &nw,
                                                     PCC_MERKLE_MAX_PROOF) == PCC_OK;
        int same = real && plen == nw * H && (plen == 0 || memcmp(proof, want, plen) == 0);
        REQUIRE((st == PCC_OK) == same);
    }
    return 0;
}
