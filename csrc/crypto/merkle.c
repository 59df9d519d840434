/* merkle.c: RFC 9162 Merkle tree hashing, an append-only tree (compact range + node store),
 * proof plans and proof verification (ported from transparency-dev/merkle proof/verify.go). */
#include "pcc/merkle.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define HLEN PCC_MERKLE_HASH_LEN

/* ---- hashing ---------------------------------------------------------------------------- */

/* SHA-256 is fetched once per process; every hasher reuses it (no implicit fetch per hash). */
static EVP_MD *g_sha256;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void) { g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); }

static const EVP_MD *sha256_md(void)
{
    if (pthread_once(&g_sha256_once, sha256_fetch) != 0)
        return NULL;
    return g_sha256;
}

typedef struct hasher {
    EVP_MD_CTX *ctx;
    const EVP_MD *md;
} hasher;

static pcc_status hasher_init(hasher *h)
{
    h->md = sha256_md();
    h->ctx = NULL;
    if (h->md == NULL)
        return PCC_E_CRYPTO;
    h->ctx = EVP_MD_CTX_new();
    return h->ctx != NULL ? PCC_OK : PCC_E_NOMEM;
}

static void hasher_cleanup(hasher *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

/* hash3 writes SHA-256(prefix || a || b) to out (prefix < 0: no prefix byte). */
static pcc_status hash3(hasher *h, uint8_t out[HLEN], int prefix, const uint8_t *a, size_t alen,
                        const uint8_t *b, size_t blen)
{
    unsigned int n = 0;
    uint8_t p = (uint8_t)prefix;
    if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1)
        return PCC_E_CRYPTO;
    if (prefix >= 0 && EVP_DigestUpdate(h->ctx, &p, 1) != 1)
        return PCC_E_CRYPTO;
    if (alen > 0 && EVP_DigestUpdate(h->ctx, a, alen) != 1)
        return PCC_E_CRYPTO;
    if (blen > 0 && EVP_DigestUpdate(h->ctx, b, blen) != 1)
        return PCC_E_CRYPTO;
    if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != HLEN)
        return PCC_E_CRYPTO;
    return PCC_OK;
}

/* node32 writes SHA-256(0x01 || left || right) for two 32-byte hashes; out may alias either. */
static pcc_status node32(hasher *h, uint8_t out[HLEN], const uint8_t left[HLEN],
                         const uint8_t right[HLEN])
{
    uint8_t buf[1 + 2 * HLEN];
    unsigned int n = 0;
    buf[0] = 0x01;
    memcpy(buf + 1, left, HLEN);
    memcpy(buf + 1 + HLEN, right, HLEN);
    if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1 ||
        EVP_DigestUpdate(h->ctx, buf, sizeof buf) != 1 ||
        EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != HLEN)
        return PCC_E_CRYPTO;
    return PCC_OK;
}

static pcc_status leaf32(hasher *h, uint8_t out[HLEN], const uint8_t *data, size_t len)
{
    return hash3(h, out, 0x00, data, len, NULL, 0);
}

pcc_status pcc_merkle_leaf_hash(uint8_t out[HLEN], const uint8_t *data, size_t len)
{
    hasher h;
    pcc_status st = hasher_init(&h);
    if (st == PCC_OK)
        st = leaf32(&h, out, data, len);
    hasher_cleanup(&h);
    return st;
}

pcc_status pcc_merkle_leaf_hashes(uint8_t *out, const uint8_t *const *data, const size_t *lens,
                                  size_t n)
{
    hasher h;
    pcc_status st;
    if ((out == NULL || data == NULL || lens == NULL) && n > 0)
        return PCC_E_INVALID;
    if ((st = hasher_init(&h)) != PCC_OK)
        return st;
    for (size_t i = 0; i < n && st == PCC_OK; i++)
        st = data[i] == NULL && lens[i] > 0 ? PCC_E_INVALID
                                            : leaf32(&h, out + i * HLEN, data[i], lens[i]);
    hasher_cleanup(&h);
    return st;
}

pcc_status pcc_merkle_node_hash(uint8_t out[HLEN], const uint8_t *left, size_t left_len,
                                const uint8_t *right, size_t right_len)
{
    hasher h;
    pcc_status st = hasher_init(&h);
    if (st == PCC_OK)
        st = hash3(&h, out, 0x01, left, left_len, right, right_len);
    hasher_cleanup(&h);
    return st;
}

pcc_status pcc_merkle_empty_root(uint8_t out[HLEN])
{
    hasher h;
    pcc_status st = hasher_init(&h);
    if (st == PCC_OK)
        st = hash3(&h, out, -1, NULL, 0, NULL, 0);
    hasher_cleanup(&h);
    return st;
}

/* ---- bit helpers ------------------------------------------------------------------------ */

static unsigned bitlen64(uint64_t x) { return x ? 64u - (unsigned)__builtin_clzll(x) : 0u; }
static unsigned popcount64(uint64_t x) { return (unsigned)__builtin_popcountll(x); }
static unsigned ctz64(uint64_t x) { return x ? (unsigned)__builtin_ctzll(x) : 64u; }
/* x >> s that is 0 for s >= 64 (Go semantics; C leaves it undefined). */
static uint64_t shr64(uint64_t x, unsigned s) { return s >= 64 ? 0 : x >> s; }

/* largest power of two strictly below n (n >= 2): RFC 9162's split point k. */
static uint64_t split_point(uint64_t n) { return (uint64_t)1 << (bitlen64(n - 1) - 1); }

/* ---- verification (transparency-dev/merkle proof/verify.go) ----------------------------- */

/* decomp_incl_proof: the inclusion proof for index in a tree of size splits where the paths to
 * index and to size-1 diverge: `inner` hashes below that point, `border` hashes above it. */
static void decomp_incl_proof(uint64_t index, uint64_t size, unsigned *inner, unsigned *border)
{
    *inner = bitlen64(index ^ (size - 1));
    *border = popcount64(shr64(index, *inner));
}

/* chain_inner hashes seed up along index's path with the inner proof hashes. */
static pcc_status chain_inner(hasher *h, uint8_t seed[HLEN], const uint8_t *proof, unsigned n,
                              uint64_t index)
{
    pcc_status st = PCC_OK;
    for (unsigned i = 0; i < n && st == PCC_OK; i++) {
        const uint8_t *p = proof + (size_t)i * HLEN;
        st = ((index >> i) & 1) == 0 ? node32(h, seed, seed, p) : node32(h, seed, p, seed);
    }
    return st;
}

/* chain_inner_right is chain_inner taking only the hashes left of the path: the result is the
 * hash of the earlier (smaller) version of the subtree. */
static pcc_status chain_inner_right(hasher *h, uint8_t seed[HLEN], const uint8_t *proof,
                                    unsigned n, uint64_t index)
{
    pcc_status st = PCC_OK;
    for (unsigned i = 0; i < n && st == PCC_OK; i++)
        if (((index >> i) & 1) == 1)
            st = node32(h, seed, proof + (size_t)i * HLEN, seed);
    return st;
}

/* chain_border_right chains hashes along the right border: all of them are left siblings. */
static pcc_status chain_border_right(hasher *h, uint8_t seed[HLEN], const uint8_t *proof,
                                     unsigned n)
{
    pcc_status st = PCC_OK;
    for (unsigned i = 0; i < n && st == PCC_OK; i++)
        st = node32(h, seed, proof + (size_t)i * HLEN, seed);
    return st;
}

pcc_status pcc_merkle_verify_inclusion(const uint8_t *leaf_hash, size_t leaf_hash_len,
                                       uint64_t index, uint64_t size, const uint8_t *proof,
                                       size_t proof_len, const uint8_t *root, size_t root_len)
{
    hasher h = {0};
    uint8_t calc[HLEN];
    unsigned inner, border;
    pcc_status st;

    if (leaf_hash == NULL || root == NULL || (proof == NULL && proof_len > 0))
        return PCC_E_INVALID;
    if (leaf_hash_len != HLEN || root_len != HLEN || proof_len % HLEN != 0)
        return PCC_E_FORMAT;
    /* RootFromInclusionProof: index < size ... */
    if (index >= size)
        return PCC_E_VERIFY;
    /* ... and exactly inner + border hashes. */
    decomp_incl_proof(index, size, &inner, &border);
    if (proof_len / HLEN != (size_t)inner + border)
        return PCC_E_VERIFY;

    if ((st = hasher_init(&h)) != PCC_OK)
        goto out;
    memcpy(calc, leaf_hash, HLEN);
    if ((st = chain_inner(&h, calc, proof, inner, index)) != PCC_OK ||
        (st = chain_border_right(&h, calc, proof + (size_t)inner * HLEN, border)) != PCC_OK)
        goto out;
    st = CRYPTO_memcmp(calc, root, HLEN) == 0 ? PCC_OK : PCC_E_VERIFY;
out:
    hasher_cleanup(&h);
    return st;
}

pcc_status pcc_merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t *proof,
                                         size_t proof_len, const uint8_t *root1, size_t root1_len,
                                         const uint8_t *root2, size_t root2_len)
{
    hasher h = {0};
    uint8_t seed[HLEN], hash1[HLEN], hash2[HLEN];
    const uint8_t *p;
    unsigned inner, border, shift, start;
    size_t n;
    uint64_t mask;
    pcc_status st;

    if (root1 == NULL || root2 == NULL || (proof == NULL && proof_len > 0))
        return PCC_E_INVALID;
    if (root1_len != HLEN || root2_len != HLEN || proof_len % HLEN != 0)
        return PCC_E_FORMAT;
    n = proof_len / HLEN;
    /* RootFromConsistencyProof's cases, in its order. */
    if (size2 < size1)
        return PCC_E_VERIFY;
    if (size1 == 0) /* a consistency proof from the empty tree is meaningless */
        return PCC_E_VERIFY;
    if (size1 == size2) {
        if (n > 0)
            return PCC_E_VERIFY;
        return CRYPTO_memcmp(root1, root2, HLEN) == 0 ? PCC_OK : PCC_E_VERIFY;
    }
    if (n == 0)
        return PCC_E_VERIFY;

    decomp_incl_proof(size1 - 1, size2, &inner, &border);
    shift = ctz64(size1);
    if (shift >= inner) /* cannot happen for size1 < size2; kept as a bound */
        return PCC_E_VERIFY;
    inner -= shift;
    /* The proof starts with the hash of the subtree of size 2^shift that ends at size1 ... */
    start = 1;
    if (size1 == (uint64_t)1 << shift) { /* ... unless size1 is that very subtree: root1. */
        memcpy(seed, root1, HLEN);
        start = 0;
    } else {
        memcpy(seed, proof, HLEN);
    }
    if (n != (size_t)start + inner + border)
        return PCC_E_VERIFY;
    p = proof + (size_t)start * HLEN;
    /* The rest is a suffix of the inclusion proof of leaf size1-1 in the tree of size2. */
    mask = (size1 - 1) >> shift;

    if ((st = hasher_init(&h)) != PCC_OK)
        goto out;
    /* The first root. */
    memcpy(hash1, seed, HLEN);
    if ((st = chain_inner_right(&h, hash1, p, inner, mask)) != PCC_OK ||
        (st = chain_border_right(&h, hash1, p + (size_t)inner * HLEN, border)) != PCC_OK)
        goto out;
    if (CRYPTO_memcmp(hash1, root1, HLEN) != 0) {
        st = PCC_E_VERIFY;
        goto out;
    }
    /* The second root. */
    memcpy(hash2, seed, HLEN);
    if ((st = chain_inner(&h, hash2, p, inner, mask)) != PCC_OK ||
        (st = chain_border_right(&h, hash2, p + (size_t)inner * HLEN, border)) != PCC_OK)
        goto out;
    st = CRYPTO_memcmp(hash2, root2, HLEN) == 0 ? PCC_OK : PCC_E_VERIFY;
out:
    hasher_cleanup(&h);
    return st;
}

/* ---- plans -------------------------------------------------------------------------------- */

typedef struct range {
    uint64_t begin, end;
} range;

/* plan_add_range appends one output hash: MTH(D[begin:end]) for a range whose begin is a
 * multiple of the smallest power of two >= end - begin (true of every range a root or an RFC
 * 9162 proof names). Its nodes are the full subtrees covering it, largest first. */
static pcc_status plan_add_range(pcc_merkle_plan *p, uint64_t begin, uint64_t end)
{
    size_t cnt = 0;
    if (p->n_hashes >= PCC_MERKLE_MAX_PROOF)
        return PCC_E_LIMIT;
    while (begin < end) {
        unsigned lv = bitlen64(end - begin) - 1;
        if (p->n_nodes >= PCC_MERKLE_MAX_PLAN_NODES)
            return PCC_E_LIMIT;
        p->nodes[p->n_nodes].level = lv;
        p->nodes[p->n_nodes].index = begin >> lv;
        p->n_nodes++;
        cnt++;
        begin += (uint64_t)1 << lv;
    }
    p->node_count[p->n_hashes++] = (uint8_t)cnt;
    return PCC_OK;
}

static void plan_reset(pcc_merkle_plan *p)
{
    p->n_hashes = 0;
    p->n_nodes = 0;
}

void pcc_merkle_plan_root(pcc_merkle_plan *p, uint64_t size)
{
    plan_reset(p);
    (void)plan_add_range(p, 0, size); /* popcount(size) <= 64 nodes: cannot fail */
}

pcc_status pcc_merkle_plan_inclusion(pcc_merkle_plan *p, uint64_t index, uint64_t size)
{
    range r[64];
    size_t n = 0;
    uint64_t lo = 0, hi = size;
    pcc_status st = PCC_OK;

    plan_reset(p);
    if (index >= size)
        return PCC_E_INVALID;
    /* PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])     if m < k
     *               = PATH(m - k, D[k:n]) : MTH(D[0:k]) if m >= k   (RFC 9162 §2.1.3.1) */
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        if (index < lo + k) {
            r[n++] = (range){lo + k, hi};
            hi = lo + k;
        } else {
            r[n++] = (range){lo, lo + k};
            lo += k;
        }
    }
    /* The recursion emits the deepest sibling first. */
    while (n > 0 && st == PCC_OK) {
        n--;
        st = plan_add_range(p, r[n].begin, r[n].end);
    }
    return st;
}

pcc_status pcc_merkle_plan_consistency(pcc_merkle_plan *p, uint64_t size1, uint64_t size2)
{
    range r[66];
    size_t n = 0;
    uint64_t lo = 0, hi = size2;
    int whole = 1;
    pcc_status st = PCC_OK;

    plan_reset(p);
    if (size1 == 0 || size1 > size2)
        return PCC_E_INVALID;
    /* SUBPROOF(m, D[n], b) = [] if m = n and b; [MTH(D[n])] if m = n and not b;
     *   SUBPROOF(m, D[0:k], b) : MTH(D[k:n])         if m <= k
     *   SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) if m > k        (RFC 9162 §2.1.4.1) */
    while (size1 != hi) {
        uint64_t k = split_point(hi - lo);
        if (size1 <= lo + k) {
            r[n++] = (range){lo + k, hi};
            hi = lo + k;
        } else {
            r[n++] = (range){lo, lo + k};
            lo += k;
            whole = 0;
        }
    }
    if (!whole)
        r[n++] = (range){lo, hi};
    while (n > 0 && st == PCC_OK) {
        n--;
        st = plan_add_range(p, r[n].begin, r[n].end);
    }
    return st;
}

static pcc_status fold(hasher *h, const pcc_merkle_plan *p, const uint8_t *nodes, uint8_t *out)
{
    size_t at = 0;
    pcc_status st = PCC_OK;
    for (size_t j = 0; j < p->n_hashes && st == PCC_OK; j++) {
        size_t cnt = p->node_count[j];
        uint8_t *o = out + j * HLEN;
        if (cnt == 0) {
            st = hash3(h, o, -1, NULL, 0, NULL, 0);
            continue;
        }
        memcpy(o, nodes + (at + cnt - 1) * HLEN, HLEN);
        for (size_t i = cnt - 1; i > 0 && st == PCC_OK; i--)
            st = node32(h, o, nodes + (at + i - 1) * HLEN, o);
        at += cnt;
    }
    return st;
}

pcc_status pcc_merkle_plan_fold(const pcc_merkle_plan *p, const uint8_t *node_hashes,
                                uint8_t *out)
{
    hasher h;
    pcc_status st;
    if (p == NULL || out == NULL || (node_hashes == NULL && p->n_nodes > 0))
        return PCC_E_INVALID;
    if ((st = hasher_init(&h)) == PCC_OK)
        st = fold(&h, p, node_hashes, out);
    hasher_cleanup(&h);
    return st;
}

/* ---- the built-in in-memory store ---------------------------------------------------------- */

typedef struct memlevel {
    uint8_t (*h)[HLEN];
    uint64_t n, cap;
} memlevel;

typedef struct memstore {
    memlevel lv[PCC_MERKLE_MAX_LEVELS];
} memstore;

static pcc_status mem_get(void *ctx, unsigned level, uint64_t index, uint8_t out[HLEN])
{
    memstore *m = ctx;
    if (level >= PCC_MERKLE_MAX_LEVELS || index >= m->lv[level].n)
        return PCC_E_STATE;
    memcpy(out, m->lv[level].h[index], HLEN);
    return PCC_OK;
}

static pcc_status mem_put(void *ctx, unsigned level, uint64_t index, const uint8_t hash[HLEN])
{
    memstore *m = ctx;
    memlevel *l;
    if (level >= PCC_MERKLE_MAX_LEVELS)
        return PCC_E_INVALID;
    l = &m->lv[level];
    if (index > l->n)
        return PCC_E_STATE; /* nodes arrive in order: a gap is a caller bug */
    if (index == l->cap) {
        uint64_t ncap = l->cap ? l->cap * 2 : 64;
        void *nh;
        if (ncap < l->cap || ncap > SIZE_MAX / HLEN)
            return PCC_E_LIMIT;
        nh = realloc(l->h, (size_t)ncap * HLEN);
        if (nh == NULL)
            return PCC_E_NOMEM;
        l->h = nh;
        l->cap = ncap;
    }
    memcpy(l->h[index], hash, HLEN);
    if (index == l->n)
        l->n++;
    return PCC_OK;
}

static void mem_free(memstore *m)
{
    if (m == NULL)
        return;
    for (unsigned i = 0; i < PCC_MERKLE_MAX_LEVELS; i++)
        free(m->lv[i].h);
    free(m);
}

/* ---- the tree ------------------------------------------------------------------------------ */

struct pcc_merkle_tree {
    pcc_merkle_store store;
    memstore *mem; /* the built-in store, or NULL for an external one */
    hasher h;
    uint64_t size;
    unsigned n_edge; /* == popcount(size) */
    uint8_t edge[PCC_MERKLE_MAX_LEVELS][HLEN];
};

pcc_status pcc_merkle_tree_new(pcc_merkle_tree **out, const pcc_merkle_store *store)
{
    pcc_merkle_tree *t;
    pcc_status st;
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (store != NULL && (store->get == NULL || store->put == NULL))
        return PCC_E_INVALID;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return PCC_E_NOMEM;
    if (store == NULL) {
        t->mem = calloc(1, sizeof *t->mem);
        if (t->mem == NULL) {
            st = PCC_E_NOMEM;
            goto fail;
        }
        t->store = (pcc_merkle_store){t->mem, mem_get, mem_put};
    } else {
        t->store = *store;
    }
    if ((st = hasher_init(&t->h)) != PCC_OK)
        goto fail;
    *out = t;
    return PCC_OK;
fail:
    pcc_merkle_tree_free(t);
    return st;
}

void pcc_merkle_tree_free(pcc_merkle_tree *t)
{
    if (t == NULL)
        return;
    hasher_cleanup(&t->h);
    mem_free(t->mem);
    free(t);
}

uint64_t pcc_merkle_tree_size(const pcc_merkle_tree *t) { return t ? t->size : 0; }

/* push appends a leaf hash: store the leaf, merge it with the equal-sized subtrees at the right
 * end of the compact range (one per trailing 1 bit of the index), storing each new node. The
 * range is updated only once every put has succeeded, so a failure leaves the tree as it was. */
static pcc_status push(pcc_merkle_tree *t, const uint8_t leaf[HLEN], uint64_t *index)
{
    uint8_t cur[HLEN];
    uint64_t i = t->size, idx = i;
    unsigned c = t->n_edge, level = 0;
    pcc_status st;

    if (i == UINT64_MAX)
        return PCC_E_LIMIT;
    memcpy(cur, leaf, HLEN);
    if ((st = t->store.put(t->store.ctx, 0, i, cur)) != PCC_OK)
        return st;
    while (idx & 1) {
        c--;
        if ((st = node32(&t->h, cur, t->edge[c], cur)) != PCC_OK)
            return st;
        idx >>= 1;
        level++;
        if ((st = t->store.put(t->store.ctx, level, idx, cur)) != PCC_OK)
            return st;
    }
    memcpy(t->edge[c], cur, HLEN);
    t->n_edge = c + 1;
    t->size = i + 1;
    if (index != NULL)
        *index = i;
    return PCC_OK;
}

pcc_status pcc_merkle_tree_append(pcc_merkle_tree *t, const uint8_t *data, size_t len,
                                  uint64_t *index)
{
    uint8_t leaf[HLEN];
    pcc_status st;
    if (t == NULL || (data == NULL && len > 0))
        return PCC_E_INVALID;
    if ((st = leaf32(&t->h, leaf, data, len)) != PCC_OK)
        return st;
    return push(t, leaf, index);
}

pcc_status pcc_merkle_tree_append_hash(pcc_merkle_tree *t, const uint8_t leaf_hash[HLEN],
                                       uint64_t *index)
{
    if (t == NULL || leaf_hash == NULL)
        return PCC_E_INVALID;
    return push(t, leaf_hash, index);
}

pcc_status pcc_merkle_tree_append_hashes(pcc_merkle_tree *t, const uint8_t *leaf_hashes,
                                         size_t n, uint64_t *first)
{
    uint64_t size0;
    unsigned n_edge0;
    uint8_t edge0[PCC_MERKLE_MAX_LEVELS][HLEN];
    pcc_status st = PCC_OK;

    if (t == NULL || (leaf_hashes == NULL && n > 0))
        return PCC_E_INVALID;
    size0 = t->size;
    if ((uint64_t)n > UINT64_MAX - size0)
        return PCC_E_LIMIT;
    n_edge0 = t->n_edge;
    memcpy(edge0, t->edge, sizeof edge0);
    for (size_t i = 0; i < n && st == PCC_OK; i++)
        st = push(t, leaf_hashes + i * HLEN, NULL);
    if (st != PCC_OK) {
        /* Roll back: the compact range from the snapshot, the in-memory store by length. */
        t->size = size0;
        t->n_edge = n_edge0;
        memcpy(t->edge, edge0, sizeof edge0);
        if (t->mem != NULL)
            for (unsigned l = 0; l < PCC_MERKLE_MAX_LEVELS; l++)
                if (t->mem->lv[l].n > (size0 >> l))
                    t->mem->lv[l].n = size0 >> l;
        return st;
    }
    if (first != NULL)
        *first = size0;
    return PCC_OK;
}

pcc_status pcc_merkle_tree_restore(pcc_merkle_tree *t, uint64_t size, const uint8_t *edge,
                                   size_t edge_len)
{
    unsigned n;
    if (t == NULL || (edge == NULL && edge_len > 0))
        return PCC_E_INVALID;
    if (t->mem != NULL)
        return PCC_E_STATE;
    n = popcount64(size);
    if (edge_len != (size_t)n * HLEN)
        return PCC_E_INVALID;
    if (n > 0)
        memcpy(t->edge, edge, edge_len);
    t->n_edge = n;
    t->size = size;
    return PCC_OK;
}

pcc_status pcc_merkle_tree_compact_range(const pcc_merkle_tree *t, uint64_t *size,
                                         uint8_t *edge, size_t *edge_len, size_t max_len)
{
    size_t n;
    if (t == NULL || size == NULL || edge_len == NULL || (edge == NULL && max_len > 0))
        return PCC_E_INVALID;
    n = (size_t)t->n_edge * HLEN;
    if (n > max_len)
        return PCC_E_LIMIT;
    if (n > 0)
        memcpy(edge, t->edge, n);
    *size = t->size;
    *edge_len = n;
    return PCC_OK;
}

pcc_status pcc_merkle_tree_open(pcc_merkle_tree **out, const pcc_merkle_store *store,
                                uint64_t size)
{
    pcc_merkle_plan p;
    uint8_t edge[PCC_MERKLE_MAX_LEVELS * HLEN];
    pcc_status st;
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (store == NULL)
        return PCC_E_INVALID;
    if ((st = pcc_merkle_tree_new(out, store)) != PCC_OK)
        return st;
    pcc_merkle_plan_root(&p, size);
    for (size_t i = 0; i < p.n_nodes && st == PCC_OK; i++)
        st = store->get(store->ctx, p.nodes[i].level, p.nodes[i].index, edge + i * HLEN);
    if (st == PCC_OK)
        st = pcc_merkle_tree_restore(*out, size, edge, p.n_nodes * HLEN);
    if (st != PCC_OK) {
        pcc_merkle_tree_free(*out);
        *out = NULL;
    }
    return st;
}

/* run_plan reads a plan's nodes from the store and folds them into out. */
static pcc_status run_plan(pcc_merkle_tree *t, const pcc_merkle_plan *p, uint8_t *out)
{
    uint8_t nodes[PCC_MERKLE_MAX_PLAN_NODES * HLEN];
    pcc_status st = PCC_OK;
    for (size_t i = 0; i < p->n_nodes && st == PCC_OK; i++)
        st = t->store.get(t->store.ctx, p->nodes[i].level, p->nodes[i].index, nodes + i * HLEN);
    if (st == PCC_OK)
        st = fold(&t->h, p, nodes, out);
    return st;
}

pcc_status pcc_merkle_tree_root(pcc_merkle_tree *t, uint64_t size, uint8_t out[HLEN])
{
    pcc_merkle_plan p;
    if (t == NULL || out == NULL || size > t->size)
        return PCC_E_INVALID;
    if (size == t->size) {
        pcc_status st = PCC_OK;
        if (t->n_edge == 0)
            return hash3(&t->h, out, -1, NULL, 0, NULL, 0);
        memcpy(out, t->edge[t->n_edge - 1], HLEN);
        for (unsigned i = t->n_edge - 1; i > 0 && st == PCC_OK; i--)
            st = node32(&t->h, out, t->edge[i - 1], out);
        return st;
    }
    pcc_merkle_plan_root(&p, size);
    return run_plan(t, &p, out);
}

pcc_status pcc_merkle_tree_node(pcc_merkle_tree *t, unsigned level, uint64_t index,
                                uint8_t out[HLEN])
{
    if (t == NULL || out == NULL || level >= PCC_MERKLE_MAX_LEVELS ||
        index >= (t->size >> level))
        return PCC_E_INVALID;
    return t->store.get(t->store.ctx, level, index, out);
}

static pcc_status run_proof(pcc_merkle_tree *t, const pcc_merkle_plan *p, uint8_t *proof,
                            size_t *n_hashes, size_t max_hashes)
{
    uint8_t buf[PCC_MERKLE_MAX_PROOF * HLEN];
    pcc_status st;
    if (p->n_hashes > max_hashes)
        return PCC_E_LIMIT;
    if ((st = run_plan(t, p, buf)) != PCC_OK)
        return st;
    if (p->n_hashes > 0)
        memcpy(proof, buf, p->n_hashes * HLEN);
    *n_hashes = p->n_hashes;
    return PCC_OK;
}

pcc_status pcc_merkle_tree_inclusion_proof(pcc_merkle_tree *t, uint64_t index, uint64_t size,
                                           uint8_t *proof, size_t *n_hashes, size_t max_hashes)
{
    pcc_merkle_plan p;
    pcc_status st;
    if (t == NULL || n_hashes == NULL || (proof == NULL && max_hashes > 0) || size > t->size)
        return PCC_E_INVALID;
    if ((st = pcc_merkle_plan_inclusion(&p, index, size)) != PCC_OK)
        return st;
    return run_proof(t, &p, proof, n_hashes, max_hashes);
}

pcc_status pcc_merkle_tree_consistency_proof(pcc_merkle_tree *t, uint64_t size1, uint64_t size2,
                                             uint8_t *proof, size_t *n_hashes, size_t max_hashes)
{
    pcc_merkle_plan p;
    pcc_status st;
    if (t == NULL || n_hashes == NULL || (proof == NULL && max_hashes > 0) || size2 > t->size)
        return PCC_E_INVALID;
    if ((st = pcc_merkle_plan_consistency(&p, size1, size2)) != PCC_OK)
        return st;
    return run_proof(t, &p, proof, n_hashes, max_hashes);
}
