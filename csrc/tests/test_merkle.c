/* test_merkle.c: RFC 9162 Merkle hashing, tree and proof verification against the static library
 * (no Python). Known answers: the standard 8 leaves of transparency-dev/merkle testonly
 * (tests/vectors/merkle_rfc9162.json): their roots for every size, the RFC 6962 hasher vectors,
 * and the official inclusion and consistency proof tables. */
#include "ctest.h"
#include "pcc/merkle.h"

#define H PCC_MERKLE_HASH_LEN

static const char *const LEAVES[8] = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};

/* roots_by_tree_size[0..8] */
static const char *const ROOTS[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static const char *const LEAF_HASHES[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
};

/* A proof from the official tables: up to 3 hashes. */
typedef struct {
    uint64_t a, b; /* (leaf index, tree size) or (size1, size2) */
    size_t n;
    const char *h[3];
} proof_kat;

static const proof_kat INCLUSION[] = {
    {0, 1, 0, {NULL}},
    {0, 8, 3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8, 3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5, 3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static const proof_kat CONSISTENCY[] = {
    {1, 1, 0, {NULL}},
    {1, 8, 3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8, 3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5, 2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6, 7, 3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

static size_t proof_bytes(uint8_t *out, const proof_kat *k)
{
    for (size_t i = 0; i < k->n; i++)
        unhex(out + i * H, H, k->h[i]);
    return k->n * H;
}

static void test_hasher(void)
{
    uint8_t out[H], l[4], r[4], d[16];
    CHECK_ST(pcc_merkle_empty_root(out), PCC_OK);
    CHECK(hex_eq(out, H, ROOTS[0]));
    CHECK_ST(pcc_merkle_leaf_hash(out, NULL, 0), PCC_OK);
    CHECK(hex_eq(out, H, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
    size_t n = unhex(d, sizeof d, "4c313233343536"); /* "L123456" */
    CHECK_ST(pcc_merkle_leaf_hash(out, d, n), PCC_OK);
    CHECK(hex_eq(out, H, "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"));
    unhex(l, sizeof l, "4e313233"); /* "N123", "N456": not 32-byte hashes, hashed as given */
    unhex(r, sizeof r, "4e343536");
    CHECK_ST(pcc_merkle_node_hash(out, l, 4, r, 4), PCC_OK);
    CHECK(hex_eq(out, H, "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"));
}

/* The batch leaf hasher agrees with the one-shot one on the 8 leaves. */
static void test_leaf_hashes(void)
{
    uint8_t data[8][16], out[8 * H];
    const uint8_t *ptrs[8];
    size_t lens[8];
    for (int i = 0; i < 8; i++) {
        lens[i] = unhex(data[i], sizeof data[i], LEAVES[i]);
        ptrs[i] = data[i];
    }
    CHECK_ST(pcc_merkle_leaf_hashes(out, ptrs, lens, 8), PCC_OK);
    for (int i = 0; i < 8; i++)
        CHECK(hex_eq(out + i * H, H, LEAF_HASHES[i]));
}

/* Append the 8 leaves one by one; the current and every past root match, and the tree produces
 * the official proofs. */
static void test_tree(void)
{
    pcc_merkle_tree *t = NULL;
    uint8_t root[H], proof[PCC_MERKLE_MAX_PROOF * H], want[3 * H];
    size_t n;
    CHECK_ST(pcc_merkle_tree_new(&t, NULL), PCC_OK);
    if (t == NULL)
        return;
    CHECK_ST(pcc_merkle_tree_root(t, 0, root), PCC_OK);
    CHECK(hex_eq(root, H, ROOTS[0]));
    for (uint64_t i = 0; i < 8; i++) {
        uint8_t d[16];
        uint64_t idx = 99;
        size_t len = unhex(d, sizeof d, LEAVES[i]);
        CHECK_ST(pcc_merkle_tree_append(t, d, len, &idx), PCC_OK);
        CHECK(idx == i);
        CHECK_ST(pcc_merkle_tree_root(t, i + 1, root), PCC_OK);
        CHECK(hex_eq(root, H, ROOTS[i + 1]));
    }
    CHECK(pcc_merkle_tree_size(t) == 8);
    for (uint64_t s = 0; s <= 8; s++) { /* past roots come from the node store */
        CHECK_ST(pcc_merkle_tree_root(t, s, root), PCC_OK);
        CHECK(hex_eq(root, H, ROOTS[s]));
    }
    CHECK_ST(pcc_merkle_tree_root(t, 9, root), PCC_E_INVALID);
    for (size_t k = 0; k < sizeof INCLUSION / sizeof INCLUSION[0]; k++) {
        const proof_kat *v = &INCLUSION[k];
        n = 99;
        CHECK_ST(pcc_merkle_tree_inclusion_proof(t, v->a, v->b, proof, &n, PCC_MERKLE_MAX_PROOF),
                 PCC_OK);
        CHECK(n == v->n && memcmp(proof, want, proof_bytes(want, v)) == 0);
    }
    for (size_t k = 0; k < sizeof CONSISTENCY / sizeof CONSISTENCY[0]; k++) {
        const proof_kat *v = &CONSISTENCY[k];
        n = 99;
        CHECK_ST(pcc_merkle_tree_consistency_proof(t, v->a, v->b, proof, &n,
                                                   PCC_MERKLE_MAX_PROOF),
                 PCC_OK);
        CHECK(n == v->n && memcmp(proof, want, proof_bytes(want, v)) == 0);
    }
    CHECK_ST(pcc_merkle_tree_inclusion_proof(t, 8, 8, proof, &n, PCC_MERKLE_MAX_PROOF),
             PCC_E_INVALID);
    CHECK_ST(pcc_merkle_tree_consistency_proof(t, 0, 8, proof, &n, PCC_MERKLE_MAX_PROOF),
             PCC_E_INVALID);
    pcc_merkle_tree_free(t);
}

static void test_verify_inclusion(void)
{
    uint8_t leaf[H], root[H], proof[3 * H];
    for (size_t k = 0; k < sizeof INCLUSION / sizeof INCLUSION[0]; k++) {
        const proof_kat *v = &INCLUSION[k];
        size_t plen = proof_bytes(proof, v);
        unhex(leaf, H, LEAF_HASHES[v->a]);
        unhex(root, H, ROOTS[v->b]);
        CHECK_ST(pcc_merkle_verify_inclusion(leaf, H, v->a, v->b, proof, plen, root, H), PCC_OK);
        /* one bit off anywhere, a wrong index or size, a short proof: each fails */
        leaf[0] ^= 1;
        CHECK_ST(pcc_merkle_verify_inclusion(leaf, H, v->a, v->b, proof, plen, root, H),
                 PCC_E_VERIFY);
        leaf[0] ^= 1;
        root[31] ^= 0x80;
        CHECK_ST(pcc_merkle_verify_inclusion(leaf, H, v->a, v->b, proof, plen, root, H),
                 PCC_E_VERIFY);
        root[31] ^= 0x80;
        for (size_t i = 0; i < plen; i += 13) {
            proof[i] ^= 4;
            CHECK_ST(pcc_merkle_verify_inclusion(leaf, H, v->a, v->b, proof, plen, root, H),
                     PCC_E_VERIFY);
            proof[i] ^= 4;
        }
        CHECK_ST(pcc_merkle_verify_inclusion(leaf, H, v->b, v->b, proof, plen, root, H),
                 PCC_E_VERIFY);
        if (plen > 0)
            CHECK_ST(pcc_merkle_verify_inclusion(leaf, H, v->a, v->b, proof, plen - H, root, H),
                     PCC_E_VERIFY);
        /* malformed lengths are format errors, before anything is hashed */
        CHECK_ST(pcc_merkle_verify_inclusion(leaf, H - 1, v->a, v->b, proof, plen, root, H),
                 PCC_E_FORMAT);
        CHECK_ST(pcc_merkle_verify_inclusion(leaf, H, v->a, v->b, proof, plen + 1, root, H),
                 PCC_E_FORMAT);
    }
    /* index 2^64 - 2 of a tree of 2^64 - 1 leaves: the proof length is checked, not trusted */
    unhex(leaf, H, LEAF_HASHES[0]);
    unhex(root, H, ROOTS[8]);
    CHECK_ST(pcc_merkle_verify_inclusion(leaf, H, UINT64_MAX - 1, UINT64_MAX, proof, 3 * H, root,
                                         H),
             PCC_E_VERIFY);
}

static void test_verify_consistency(void)
{
    uint8_t r1[H], r2[H], proof[3 * H];
    for (size_t k = 0; k < sizeof CONSISTENCY / sizeof CONSISTENCY[0]; k++) {
        const proof_kat *v = &CONSISTENCY[k];
        size_t plen = proof_bytes(proof, v);
        unhex(r1, H, ROOTS[v->a]);
        unhex(r2, H, ROOTS[v->b]);
        CHECK_ST(pcc_merkle_verify_consistency(v->a, v->b, proof, plen, r1, H, r2, H), PCC_OK);
        r2[0] ^= 1;
        CHECK_ST(pcc_merkle_verify_consistency(v->a, v->b, proof, plen, r1, H, r2, H),
                 PCC_E_VERIFY);
        r2[0] ^= 1;
        r1[5] ^= 1;
        CHECK_ST(pcc_merkle_verify_consistency(v->a, v->b, proof, plen, r1, H, r2, H),
                 PCC_E_VERIFY);
        r1[5] ^= 1;
        for (size_t i = 0; i < plen; i += 11) {
            proof[i] ^= 0x10;
            CHECK_ST(pcc_merkle_verify_consistency(v->a, v->b, proof, plen, r1, H, r2, H),
                     PCC_E_VERIFY);
            proof[i] ^= 0x10;
        }
        /* sizes swapped (when they differ), from the empty tree, a proof too long */
        if (v->a != v->b)
            CHECK_ST(pcc_merkle_verify_consistency(v->b, v->a, proof, plen, r2, H, r1, H),
                     PCC_E_VERIFY);
        CHECK_ST(pcc_merkle_verify_consistency(0, v->b, proof, plen, r1, H, r2, H), PCC_E_VERIFY);
        if (plen < 3 * H) {
            memset(proof + plen, 0, H);
            CHECK_ST(pcc_merkle_verify_consistency(v->a, v->b, proof, plen + H, r1, H, r2, H),
                     PCC_E_VERIFY);
        }
        CHECK_ST(pcc_merkle_verify_consistency(v->a, v->b, proof, plen, r1, H - 1, r2, H),
                 PCC_E_FORMAT);
    }
}

/* An external store: a plan for a root reads popcount(size) nodes and folds them to the root. */
static void test_plan(void)
{
    pcc_merkle_tree *t = NULL;
    pcc_merkle_plan p;
    uint8_t nodes[PCC_MERKLE_MAX_PLAN_NODES * H], out[PCC_MERKLE_MAX_PROOF * H];
    CHECK_ST(pcc_merkle_tree_new(&t, NULL), PCC_OK);
    if (t == NULL)
        return;
    for (int i = 0; i < 8; i++) {
        uint8_t d[16];
        size_t len = unhex(d, sizeof d, LEAVES[i]);
        CHECK_ST(pcc_merkle_tree_append(t, d, len, NULL), PCC_OK);
    }
    for (uint64_t s = 0; s <= 8; s++) {
        pcc_merkle_plan_root(&p, s);
        CHECK(p.n_hashes == 1 && p.n_nodes == (size_t)__builtin_popcountll(s));
        for (size_t i = 0; i < p.n_nodes; i++)
            CHECK_ST(pcc_merkle_tree_node(t, p.nodes[i].level, p.nodes[i].index, nodes + i * H),
                     PCC_OK);
        CHECK_ST(pcc_merkle_plan_fold(&p, nodes, out), PCC_OK);
        CHECK(hex_eq(out, H, ROOTS[s]));
    }
    CHECK_ST(pcc_merkle_plan_inclusion(&p, 8, 8), PCC_E_INVALID);
    CHECK_ST(pcc_merkle_plan_consistency(&p, 0, 8), PCC_E_INVALID);
    pcc_merkle_tree_free(t);
}

int main(void)
{
    test_hasher();
    test_leaf_hashes();
    test_tree();
    test_verify_inclusion();
    test_verify_consistency();
    test_plan();
    return ctest_done("merkle");
}
