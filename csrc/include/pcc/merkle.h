/* pcc/merkle.h: RFC 9162 (RFC 6962) Merkle tree hashing, an append-only tree with inclusion and
 * consistency proofs, and proof verification ported check for check from transparency-dev/merkle.
 *
 * Hashing (RFC 9162 §2.1.1): MTH({}) = SHA-256(""), leaf = SHA-256(0x00 || d),
 * node = SHA-256(0x01 || left || right). Proofs are lists of 32-byte hashes ordered from the leaf
 * (or the old tree) up to the root, laid out contiguously (n * 32 bytes).
 *
 * Nodes: the full (perfect) subtree at `level` L and `index` i covers leaves [i*2^L, (i+1)*2^L);
 * level 0 holds the leaf hashes. A tree of size n keeps its running root in a compact range (the
 * popcount(n) full subtrees that cover [0, n), largest first: O(log n) hashes) and writes every
 * full subtree it completes to a node store. Proofs and roots of past sizes are folded from
 * O(log n) stored nodes. Nothing here is secret. */
#ifndef PCC_MERKLE_H
#define PCC_MERKLE_H

#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_MERKLE_HASH_LEN 32
/* Longest proof for any 64-bit sizes: an inclusion proof has at most 64 hashes, a consistency
 * proof at most 65. */
#define PCC_MERKLE_MAX_PROOF 65
/* Most stored nodes any plan (root, inclusion or consistency proof) reads. */
#define PCC_MERKLE_MAX_PLAN_NODES 130
/* Levels of full subtrees in a tree of at most 2^64 - 1 leaves. */
#define PCC_MERKLE_MAX_LEVELS 64

/* pcc_merkle_leaf_hash writes SHA-256(0x00 || data) to out. data may be NULL when len is 0. */
PCC_API pcc_status pcc_merkle_leaf_hash(uint8_t out[PCC_MERKLE_HASH_LEN], const uint8_t *data,
                                        size_t len) PCC_WUR;

/* pcc_merkle_leaf_hashes writes the leaf hashes of n inputs (data[i], lens[i]) to out
 * (n * 32 bytes), with one hashing context for the whole batch. */
PCC_API pcc_status pcc_merkle_leaf_hashes(uint8_t *out, const uint8_t *const *data,
                                          const size_t *lens, size_t n) PCC_WUR;

/* pcc_merkle_node_hash writes SHA-256(0x01 || left || right) to out. Any lengths are hashed as
 * given (RFC 9162 only ever feeds 32-byte hashes; the known-answer tests do not). */
PCC_API pcc_status pcc_merkle_node_hash(uint8_t out[PCC_MERKLE_HASH_LEN], const uint8_t *left,
                                        size_t left_len, const uint8_t *right,
                                        size_t right_len) PCC_WUR;

/* pcc_merkle_empty_root writes MTH({}) = SHA-256("") to out. */
PCC_API pcc_status pcc_merkle_empty_root(uint8_t out[PCC_MERKLE_HASH_LEN]) PCC_WUR;

/* pcc_merkle_verify_inclusion checks that leaf_hash is the leaf at index of the tree of `size`
 * leaves whose root is `root`, given the proof (proof_len bytes: proof_len / 32 hashes, leaf to
 * root). Checks, in order: every hash is 32 bytes and proof_len is a multiple of 32 (else
 * PCC_E_FORMAT); index < size; the proof has exactly the length that (index, size) implies; the
 * root recomputed from the proof, bound to index and size, equals root (else PCC_E_VERIFY, with
 * no further detail). */
PCC_API pcc_status pcc_merkle_verify_inclusion(const uint8_t *leaf_hash, size_t leaf_hash_len,
                                               uint64_t index, uint64_t size,
                                               const uint8_t *proof, size_t proof_len,
                                               const uint8_t *root, size_t root_len) PCC_WUR;

/* pcc_merkle_verify_consistency checks that the tree of size1 leaves with root1 is a prefix of the
 * tree of size2 leaves with root2. Checks, in order: 32-byte roots and a proof_len that is a
 * multiple of 32 (else PCC_E_FORMAT); size1 <= size2; size1 > 0 (a proof from the empty tree
 * is meaningless, as in transparency-dev/merkle); size1 == size2 needs an empty proof and equal
 * roots; otherwise a non-empty proof of exactly the length (size1, size2) implies, from which
 * both root1 and root2 are recomputed and compared (else PCC_E_VERIFY, no detail). */
PCC_API pcc_status pcc_merkle_verify_consistency(uint64_t size1, uint64_t size2,
                                                 const uint8_t *proof, size_t proof_len,
                                                 const uint8_t *root1, size_t root1_len,
                                                 const uint8_t *root2, size_t root2_len) PCC_WUR;

/* A node store holds full-subtree hashes by (level, index). get copies a stored hash to out and
 * returns PCC_OK, or PCC_E_STATE when the node is not stored; put stores a hash (a tree only
 * puts each node once, in append order, but may put the same node again after a failed append).
 * Both may fail with any other status, which the tree passes on. ctx is owned by the caller. */
typedef struct pcc_merkle_store {
    void *ctx;
    pcc_status (*get)(void *ctx, unsigned level, uint64_t index,
                      uint8_t out[PCC_MERKLE_HASH_LEN]);
    pcc_status (*put)(void *ctx, unsigned level, uint64_t index,
                      const uint8_t hash[PCC_MERKLE_HASH_LEN]);
} pcc_merkle_store;

/* An append-only Merkle tree (opaque): a compact range plus a node store. */
typedef struct pcc_merkle_tree pcc_merkle_tree;

/* pcc_merkle_tree_new makes an empty tree. store NULL selects the built-in in-memory store (one
 * growable array of hashes per level, owned by the tree, about 64 bytes per leaf); otherwise
 * *store is copied and every completed full subtree is put to it. Free with
 * pcc_merkle_tree_free. */
PCC_API pcc_status pcc_merkle_tree_new(pcc_merkle_tree **out, const pcc_merkle_store *store) PCC_WUR;

/* pcc_merkle_tree_open makes a tree of `size` leaves over an external store that already holds
 * its nodes, reading the popcount(size) nodes of the compact range from it. */
PCC_API pcc_status pcc_merkle_tree_open(pcc_merkle_tree **out, const pcc_merkle_store *store,
                                        uint64_t size) PCC_WUR;

/* pcc_merkle_tree_free releases a tree and its in-memory store. Accepts NULL. */
PCC_API void pcc_merkle_tree_free(pcc_merkle_tree *t);

/* pcc_merkle_tree_size returns the number of leaves. */
PCC_API uint64_t pcc_merkle_tree_size(const pcc_merkle_tree *t);

/* pcc_merkle_tree_append hashes data as a leaf, appends it and sets *index (may be NULL) to its
 * position. On failure the tree is unchanged. PCC_E_LIMIT once the tree holds 2^64 - 1 leaves. */
PCC_API pcc_status pcc_merkle_tree_append(pcc_merkle_tree *t, const uint8_t *data, size_t len,
                                          uint64_t *index) PCC_WUR;

/* pcc_merkle_tree_append_hash appends a leaf given its leaf hash (32 bytes). */
PCC_API pcc_status pcc_merkle_tree_append_hash(pcc_merkle_tree *t,
                                               const uint8_t leaf_hash[PCC_MERKLE_HASH_LEN],
                                               uint64_t *index) PCC_WUR;

/* pcc_merkle_tree_append_hashes appends n leaves given their leaf hashes (n * 32 bytes) and sets
 * *first (may be NULL) to the index of the first. All or nothing: on failure the tree is as it
 * was (an external store may keep nodes it was given; they are put again on a retry). */
PCC_API pcc_status pcc_merkle_tree_append_hashes(pcc_merkle_tree *t, const uint8_t *leaf_hashes,
                                                 size_t n, uint64_t *first) PCC_WUR;

/* pcc_merkle_tree_restore replaces the state of a tree over an external store with `size` leaves
 * whose compact range is edge (edge_len bytes: the popcount(size) full subtrees covering
 * [0, size), largest first, as pcc_merkle_plan_root lists them). PCC_E_STATE for a tree with the
 * in-memory store; PCC_E_INVALID when edge_len does not match. Used to resume or roll back. */
PCC_API pcc_status pcc_merkle_tree_restore(pcc_merkle_tree *t, uint64_t size, const uint8_t *edge,
                                           size_t edge_len) PCC_WUR;

/* pcc_merkle_tree_compact_range copies the tree's size and compact range (the popcount(size)
 * full subtrees covering [0, size), largest first) to *size and edge (room for max_len bytes;
 * 64 * 32 always suffices), setting *edge_len. With pcc_merkle_tree_restore this snapshots and
 * rolls back a tree over an external store without reading the store. */
PCC_API pcc_status pcc_merkle_tree_compact_range(const pcc_merkle_tree *t, uint64_t *size,
                                                 uint8_t *edge, size_t *edge_len,
                                                 size_t max_len) PCC_WUR;

/* pcc_merkle_tree_root writes the root of the first `size` leaves (size <= tree size) to out;
 * the current root comes from the compact range, past ones from O(log n) stored nodes. */
PCC_API pcc_status pcc_merkle_tree_root(pcc_merkle_tree *t, uint64_t size,
                                        uint8_t out[PCC_MERKLE_HASH_LEN]) PCC_WUR;

/* pcc_merkle_tree_node copies the stored hash of the full subtree (level, index) to out;
 * PCC_E_INVALID unless that subtree is complete in the tree. */
PCC_API pcc_status pcc_merkle_tree_node(pcc_merkle_tree *t, unsigned level, uint64_t index,
                                        uint8_t out[PCC_MERKLE_HASH_LEN]) PCC_WUR;

/* pcc_merkle_tree_inclusion_proof writes the inclusion proof of leaf index in the tree of the
 * first `size` leaves (index < size <= tree size) to proof (room for max_hashes hashes; 64 is
 * always enough) and sets *n_hashes. */
PCC_API pcc_status pcc_merkle_tree_inclusion_proof(pcc_merkle_tree *t, uint64_t index,
                                                   uint64_t size, uint8_t *proof,
                                                   size_t *n_hashes, size_t max_hashes) PCC_WUR;

/* pcc_merkle_tree_consistency_proof writes the consistency proof from size1 to size2
 * (0 < size1 <= size2 <= tree size; empty when equal) to proof (room for max_hashes hashes;
 * PCC_MERKLE_MAX_PROOF is always enough) and sets *n_hashes. */
PCC_API pcc_status pcc_merkle_tree_consistency_proof(pcc_merkle_tree *t, uint64_t size1,
                                                     uint64_t size2, uint8_t *proof,
                                                     size_t *n_hashes, size_t max_hashes) PCC_WUR;

/* Plans, for stores the caller reads itself (a database): which stored nodes a root or proof
 * needs and how they fold into it. Output hash j (one for a root, one per proof entry) is the
 * right fold (node_hash(n_a, node_hash(n_b, ...))) of its node_count[j] consecutive nodes; zero
 * nodes give the empty root. */
typedef struct pcc_merkle_node_id {
    uint64_t index;
    unsigned level;
} pcc_merkle_node_id;

typedef struct pcc_merkle_plan {
    size_t n_hashes;
    size_t n_nodes;
    uint8_t node_count[PCC_MERKLE_MAX_PROOF];
    pcc_merkle_node_id nodes[PCC_MERKLE_MAX_PLAN_NODES];
} pcc_merkle_plan;

/* pcc_merkle_plan_root plans MTH of the first `size` leaves (one hash; popcount(size) nodes). */
PCC_API void pcc_merkle_plan_root(pcc_merkle_plan *p, uint64_t size);

/* pcc_merkle_plan_inclusion plans the inclusion proof of index in a tree of size leaves
 * (PCC_E_INVALID unless index < size). */
PCC_API pcc_status pcc_merkle_plan_inclusion(pcc_merkle_plan *p, uint64_t index,
                                             uint64_t size) PCC_WUR;

/* pcc_merkle_plan_consistency plans the consistency proof from size1 to size2 (PCC_E_INVALID
 * unless 0 < size1 <= size2). */
PCC_API pcc_status pcc_merkle_plan_consistency(pcc_merkle_plan *p, uint64_t size1,
                                               uint64_t size2) PCC_WUR;

/* pcc_merkle_plan_fold folds node_hashes (p->n_nodes * 32 bytes, in plan order) into out
 * (p->n_hashes * 32 bytes). */
PCC_API pcc_status pcc_merkle_plan_fold(const pcc_merkle_plan *p, const uint8_t *node_hashes,
                                        uint8_t *out) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
