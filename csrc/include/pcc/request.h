/* pcc/request.h: the cryptography of a private inference request and its answer.
 *
 * A client draws a 16-byte request key (DK), seals DK with HPKE base mode to each chosen node
 * (info = "pcc request key v1" || node_id, aad empty) and encrypts the request payload in chunks
 * of at most 16 KiB with AES-128-GCM under DK: nonce = base nonce XOR counter (a 96-bit
 * big-endian counter from 0), aad empty except for the last chunk, whose aad is "final".
 *
 * The node answers with rnonce (16 random bytes) followed by frames, each a 4-byte big-endian
 * length and one sealed chunk, under RK = HKDF-SHA256(salt = rnonce, ikm = DK,
 * info = "pcc response key v1" || node_id, L = 16) and the base nonce from the same HKDF with
 * info "pcc response nonce v1" || node_id, L = 12; the counter and "final" rules are those of the
 * request. Nothing may follow the final frame. Only the final chunk may exceed 16 KiB (up to
 * PCC_ANSWER_FINAL_CHUNK_MAX: it carries the size padding).
 *
 * An abort frame is a final frame sealed with the nonce of counter + 2^64 (base nonce XOR that
 * 96-bit counter) instead of counter: a worker seals one ahead for the next position, holding
 * {"error": "internal"}, and hands it over as ciphertext; if the worker dies, that frame ends the
 * stream. Its nonce is never that of a real frame, so a spare seen and discarded reveals nothing
 * about the frame that took its position.
 *
 * Every key, DK and plaintext lives in secure memory (pcc/secure.h). */
#ifndef PCC_REQUEST_H
#define PCC_REQUEST_H

#include "pcc/common.h"
#include "pcc/hpke.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_REQUEST_DK_LEN 16          /* the request key: an AES-128-GCM key */
#define PCC_REQUEST_NONCE_LEN 12       /* the request's base nonce */
#define PCC_REQUEST_NODE_ID_LEN 32     /* SHA-256 of the node's identity SPKI */
#define PCC_REQUEST_KEY_ID_LEN 8       /* an HPKE key's identifier in the node's bundle */
#define PCC_REQUEST_WRAPPED_LEN 32     /* HPKE ciphertext of DK: 16 + tag */
#define PCC_REQUEST_CHUNK_MAX 16384    /* plaintext bytes per chunk, request and answer */
#define PCC_REQUEST_TAG_LEN 16
#define PCC_REQUEST_SEALED_MAX (PCC_REQUEST_CHUNK_MAX + PCC_REQUEST_TAG_LEN)
#define PCC_REQUEST_MAX_CHUNKS 4096    /* chunks one request may carry */
#define PCC_REQUEST_PAYLOAD_MAX (1u << 20) /* default payload limit of a node (1 MiB) */
#define PCC_ANSWER_RNONCE_LEN 16
#define PCC_ANSWER_FRAME_MAX (4 + PCC_REQUEST_SEALED_MAX)
/* The final answer chunk may be longer than the others: it carries the size padding that ends
 * the stream on a bucket (up to 64 KiB of zeros and the done or error map). */
#define PCC_ANSWER_FINAL_CHUNK_MAX (65536 + 1024)
#define PCC_ANSWER_FINAL_FRAME_MAX (4 + PCC_ANSWER_FINAL_CHUNK_MAX + PCC_REQUEST_TAG_LEN)

/* ---- the request key ------------------------------------------------------------------ */

/* A request key DK (opaque, in secure memory). */
typedef struct pcc_request_key pcc_request_key;

/* pcc_request_key_generate draws a fresh DK from OpenSSL's private DRBG. Free with
 * pcc_request_key_free. */
PCC_API pcc_status pcc_request_key_generate(pcc_request_key **out) PCC_WUR;

/* pcc_request_key_from_bytes makes a DK from 16 raw bytes: how a worker takes the DK the enclave
 * unwrapped for it over its channel, and how known-answer tests pin one. The input is only read;
 * the caller wipes its copy. */
PCC_API pcc_status pcc_request_key_from_bytes(pcc_request_key **out, const uint8_t *raw,
                                              size_t raw_len) PCC_WUR;

/* pcc_request_key_bytes writes the 16 bytes of DK.
 * WARNING: exports a secret; only the enclave calls it, to hand DK to one worker's channel. */
PCC_API pcc_status pcc_request_key_bytes(const pcc_request_key *dk, uint8_t *out,
                                         size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_request_key_free wipes and frees DK. Accepts NULL. */
PCC_API void pcc_request_key_free(pcc_request_key *dk);

/* pcc_request_key_wrap seals DK to one node: HPKE base mode with suite (any suite pcc_hpke
 * implements except export-only AEAD) to public key pk, info "pcc request key v1" || node_id,
 * aad empty. Writes enc (Nenc bytes) and ct (PCC_REQUEST_WRAPPED_LEN bytes). */
PCC_API pcc_status pcc_request_key_wrap(const pcc_request_key *dk, pcc_hpke_suite suite,
                                        const uint8_t *pk, size_t pk_len,
                                        const uint8_t *node_id, size_t node_id_len,
                                        uint8_t *enc, size_t *enc_len, size_t max_enc,
                                        uint8_t *ct, size_t *ct_len, size_t max_ct) PCC_WUR;

/* pcc_request_key_wrap_deterministic is pcc_request_key_wrap with the HPKE ephemeral key derived
 * from ikm_e (known-answer tests only).
 * WARNING: the same ikm_e for two different keys or nodes reuses an AEAD key and nonce; never
 * call this outside tests. */
PCC_API pcc_status pcc_request_key_wrap_deterministic(const pcc_request_key *dk,
                                                      pcc_hpke_suite suite,
                                                      const uint8_t *pk, size_t pk_len,
                                                      const uint8_t *node_id, size_t node_id_len,
                                                      const uint8_t *ikm_e, size_t ikm_e_len,
                                                      uint8_t *enc, size_t *enc_len,
                                                      size_t max_enc, uint8_t *ct,
                                                      size_t *ct_len, size_t max_ct) PCC_WUR;

/* One HPKE private key a node offers, named by its key_id (the enclave keeps the current key and
 * the one it rotated out until that one expires). The key is borrowed. */
typedef struct pcc_request_node_key {
    uint8_t key_id[PCC_REQUEST_KEY_ID_LEN];
    const pcc_hpke_key *key;
    pcc_hpke_suite suite;
} pcc_request_node_key;

/* pcc_request_key_unwrap opens a wrapped DK (what the enclave's unwrap runs): finds key_id among
 * keys (PCC_E_UNKNOWN_KEY if absent), then opens ct with enc under that key and the info of this
 * node_id. PCC_E_DECRYPT for any failure to open (wrong node, tampering), PCC_E_FORMAT for sizes
 * that cannot be right. */
PCC_API pcc_status pcc_request_key_unwrap(pcc_request_key **out,
                                          const pcc_request_node_key *keys, size_t n_keys,
                                          const uint8_t *key_id, size_t key_id_len,
                                          const uint8_t *enc, size_t enc_len,
                                          const uint8_t *ct, size_t ct_len,
                                          const uint8_t *node_id, size_t node_id_len) PCC_WUR;

/* ---- request chunks -------------------------------------------------------------------- */

/* A client's request sealer: DK, the base nonce and the chunk counter (opaque, secure memory). */
typedef struct pcc_request_sealer pcc_request_sealer;

/* pcc_request_sealer_new starts sealing a payload under dk with a fresh random base nonce. dk is
 * copied; the caller may free it. */
PCC_API pcc_status pcc_request_sealer_new(pcc_request_sealer **out,
                                          const pcc_request_key *dk) PCC_WUR;

/* pcc_request_sealer_new_deterministic is pcc_request_sealer_new with the base nonce given
 * (known-answer tests only).
 * WARNING: a nonce used twice under one DK breaks AES-GCM; never call this outside tests. */
PCC_API pcc_status pcc_request_sealer_new_deterministic(pcc_request_sealer **out,
                                                        const pcc_request_key *dk,
                                                        const uint8_t *nonce,
                                                        size_t nonce_len) PCC_WUR;

/* pcc_request_sealer_nonce writes the base nonce (12 bytes, public: it travels as "nonce"). */
PCC_API pcc_status pcc_request_sealer_nonce(const pcc_request_sealer *s, uint8_t *out,
                                            size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_request_sealer_seal seals the next chunk (pt_len <= PCC_REQUEST_CHUNK_MAX) into ct
 * (pt_len + 16 bytes); final != 0 marks the last chunk, after which every call is PCC_E_STATE. */
PCC_API pcc_status pcc_request_sealer_seal(pcc_request_sealer *s, uint8_t *ct, size_t *ct_len,
                                           size_t max_ct, const uint8_t *pt, size_t pt_len,
                                           int final) PCC_WUR;

/* pcc_request_sealer_free wipes and frees. Accepts NULL. */
PCC_API void pcc_request_sealer_free(pcc_request_sealer *s);

/* A sealed chunk as the node receives it (borrowed bytes). */
typedef struct pcc_request_chunk {
    const uint8_t *data;
    size_t len;
} pcc_request_chunk;

/* pcc_request_open decrypts a whole request payload on the node: chunk i is opened with nonce
 * XOR i and aad empty, the last one with aad "final". Checks before any decryption: 1 <= n <=
 * PCC_REQUEST_MAX_CHUNKS, every chunk 16 .. PCC_REQUEST_SEALED_MAX bytes, and the payload
 * (the sum of the plaintexts) non-empty and at most max_payload bytes (PCC_E_LIMIT beyond).
 * On success *payload is a pcc_secure_alloc block of *payload_len bytes that the caller frees
 * with pcc_secure_free. PCC_E_DECRYPT, with nothing returned, if any chunk fails to open (a
 * wrong key, tampered, reordered, dropped, extra or unfinished chunks). */
PCC_API pcc_status pcc_request_open(uint8_t **payload, size_t *payload_len,
                                    const pcc_request_key *dk,
                                    const uint8_t *nonce, size_t nonce_len,
                                    const pcc_request_chunk *chunks, size_t n,
                                    size_t max_payload) PCC_WUR;

/* ---- the answer ------------------------------------------------------------------------- */

/* A node's answer sealer: RK, the base nonce, the counter (opaque, secure memory). */
typedef struct pcc_answer_sealer pcc_answer_sealer;

/* pcc_answer_sealer_new draws rnonce and derives RK and the base nonce for node_id from dk (dk
 * is only read). */
PCC_API pcc_status pcc_answer_sealer_new(pcc_answer_sealer **out, const pcc_request_key *dk,
                                         const uint8_t *node_id, size_t node_id_len) PCC_WUR;

/* pcc_answer_sealer_new_deterministic: as pcc_answer_sealer_new with rnonce given (known-answer
 * tests only).
 * WARNING: an rnonce used twice under one DK and node reuses RK and its nonces; tests only. */
PCC_API pcc_status pcc_answer_sealer_new_deterministic(pcc_answer_sealer **out,
                                                       const pcc_request_key *dk,
                                                       const uint8_t *node_id,
                                                       size_t node_id_len,
                                                       const uint8_t *rnonce,
                                                       size_t rnonce_len) PCC_WUR;

/* pcc_answer_sealer_rnonce writes rnonce (16 bytes): the first bytes of the answer stream. */
PCC_API pcc_status pcc_answer_sealer_rnonce(const pcc_answer_sealer *s, uint8_t *out,
                                            size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_answer_sealer_frame writes the next frame, the 4-byte big-endian length of the sealed
 * chunk and the sealed chunk (pt_len <= PCC_REQUEST_CHUNK_MAX; out needs pt_len + 20 bytes);
 * final != 0 marks the last one, after which every call is PCC_E_STATE. */
PCC_API pcc_status pcc_answer_sealer_frame(pcc_answer_sealer *s, uint8_t *out, size_t *out_len,
                                           size_t max_out, const uint8_t *pt, size_t pt_len,
                                           int final) PCC_WUR;

/* pcc_answer_sealer_spare writes an abort frame (length and sealed chunk) for the position of
 * the next frame, without advancing the counter: what a node sends in place of that frame if the
 * writer dies first. At most one spare per position: the caller seals it once. */
PCC_API pcc_status pcc_answer_sealer_spare(const pcc_answer_sealer *s, uint8_t *out,
                                           size_t *out_len, size_t max_out, const uint8_t *pt,
                                           size_t pt_len) PCC_WUR;

/* pcc_answer_sealer_free wipes and frees. Accepts NULL. */
PCC_API void pcc_answer_sealer_free(pcc_answer_sealer *s);

/* A client's incremental answer opener (opaque). It holds at most one frame of ciphertext. */
typedef struct pcc_answer_opener pcc_answer_opener;

/* pcc_answer_opener_new prepares to read the answer of node_id to a request sealed under dk
 * (dk is copied). */
PCC_API pcc_status pcc_answer_opener_new(pcc_answer_opener **out, const pcc_request_key *dk,
                                         const uint8_t *node_id, size_t node_id_len) PCC_WUR;

/* pcc_answer_opener_push takes stream bytes, as many as fit before the next complete frame
 * (*consumed, possibly fewer than len); call pcc_answer_opener_next until it has nothing, then
 * push the rest. PCC_E_FORMAT for bytes after the final frame. */
PCC_API pcc_status pcc_answer_opener_push(pcc_answer_opener *o, const uint8_t *data, size_t len,
                                          size_t *consumed) PCC_WUR;

/* pcc_answer_opener_next opens the next complete frame, if there is one: *have = 1, the
 * plaintext in pt (max_pt >= PCC_REQUEST_CHUNK_MAX always suffices) and *final = 1 for the final
 * chunk; *have = 0 when more bytes are needed. A frame that fails to open (tampered, reordered,
 * dropped) is PCC_E_DECRYPT, a length out of range PCC_E_FORMAT; either failure is permanent:
 * every later call returns PCC_E_STATE. */
PCC_API pcc_status pcc_answer_opener_next(pcc_answer_opener *o, uint8_t *pt, size_t *pt_len,
                                          size_t max_pt, int *have, int *final) PCC_WUR;

/* pcc_answer_opener_finish is called at the end of the stream: PCC_OK if the final frame was
 * opened and no byte is left over, PCC_E_FORMAT if the answer was truncated, PCC_E_STATE after a
 * failure. */
PCC_API pcc_status pcc_answer_opener_finish(const pcc_answer_opener *o) PCC_WUR;

/* pcc_answer_opener_free wipes and frees. Accepts NULL. */
PCC_API void pcc_answer_opener_free(pcc_answer_opener *o);

#ifdef __cplusplus
}
#endif
#endif
