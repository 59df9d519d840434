/* pcc/hpke.h: Hybrid Public Key Encryption, RFC 9180 (all modes, KEMs X25519 and P-256,
 * HKDF-SHA256/384/512, AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, export-only).
 * All key material and contexts live in secure memory. */
#ifndef PCC_HPKE_H
#define PCC_HPKE_H

#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_HPKE_KEM_P256_SHA256 0x0010
#define PCC_HPKE_KEM_X25519_SHA256 0x0020
#define PCC_HPKE_KDF_HKDF_SHA256 0x0001
#define PCC_HPKE_KDF_HKDF_SHA384 0x0002
#define PCC_HPKE_KDF_HKDF_SHA512 0x0003
#define PCC_HPKE_AEAD_AES128GCM 0x0001
#define PCC_HPKE_AEAD_AES256GCM 0x0002
#define PCC_HPKE_AEAD_CHACHA20POLY1305 0x0003
#define PCC_HPKE_AEAD_EXPORT_ONLY 0xFFFF

#define PCC_HPKE_MODE_BASE 0x00
#define PCC_HPKE_MODE_PSK 0x01
#define PCC_HPKE_MODE_AUTH 0x02
#define PCC_HPKE_MODE_AUTH_PSK 0x03

#define PCC_HPKE_MAX_ENC 65      /* Nenc of P-256 (uncompressed point) */
#define PCC_HPKE_MAX_PK 65       /* Npk */
#define PCC_HPKE_MAX_SK 32       /* Nsk */
#define PCC_HPKE_TAG_LEN 16      /* Nt of every AEAD here */
#define PCC_HPKE_MAX_NONCE 12    /* Nn */
#define PCC_HPKE_MAX_KEY 32      /* Nk */

typedef struct pcc_hpke_suite {
    uint16_t kem, kdf, aead;
} pcc_hpke_suite;

/* pcc_hpke_suite_check returns PCC_OK if every id is implemented, PCC_E_UNSUPPORTED otherwise. */
PCC_API pcc_status pcc_hpke_suite_check(pcc_hpke_suite suite) PCC_WUR;

/* pcc_hpke_kem_sizes gives Nenc, Npk and Nsk for a KEM (PCC_E_UNSUPPORTED if unknown). */
PCC_API pcc_status pcc_hpke_kem_sizes(uint16_t kem, size_t *nenc, size_t *npk, size_t *nsk) PCC_WUR;

/* pcc_hpke_aead_sizes gives Nk and Nn for an AEAD (0, 0 for export-only). */
PCC_API pcc_status pcc_hpke_aead_sizes(uint16_t aead, size_t *nk, size_t *nn) PCC_WUR;

/* A KEM private key (opaque, in secure memory). */
typedef struct pcc_hpke_key pcc_hpke_key;

/* pcc_hpke_key_generate makes a fresh key pair for kem. Caller frees with pcc_hpke_key_free. */
PCC_API pcc_status pcc_hpke_key_generate(pcc_hpke_key **out, uint16_t kem) PCC_WUR;
/* pcc_hpke_key_derive is DeriveKeyPair(ikm) of RFC 9180 §7.1.3. */
PCC_API pcc_status pcc_hpke_key_derive(pcc_hpke_key **out, uint16_t kem, const uint8_t *ikm,
                                       size_t ikm_len) PCC_WUR;
/* pcc_hpke_key_from_bytes is DeserializePrivateKey (PCC_E_FORMAT for an invalid scalar). */
PCC_API pcc_status pcc_hpke_key_from_bytes(pcc_hpke_key **out, uint16_t kem, const uint8_t *sk,
                                           size_t sk_len) PCC_WUR;
/* pcc_hpke_key_public writes SerializePublicKey(pk) (Npk bytes). */
PCC_API pcc_status pcc_hpke_key_public(const pcc_hpke_key *key, uint8_t *out, size_t *out_len,
                                       size_t max_out) PCC_WUR;
/* pcc_hpke_key_private writes SerializePrivateKey(sk) (Nsk bytes).
 * WARNING: exports a secret; only for callers that asked for it. */
PCC_API pcc_status pcc_hpke_key_private(const pcc_hpke_key *key, uint8_t *out, size_t *out_len,
                                        size_t max_out) PCC_WUR;
PCC_API uint16_t pcc_hpke_key_kem(const pcc_hpke_key *key);
/* pcc_hpke_key_free wipes and frees a key. Accepts NULL. */
PCC_API void pcc_hpke_key_free(pcc_hpke_key *key);

/* An HPKE encryption context (sender or recipient), in secure memory. Not thread-safe: the
 * caller serialises use (the Python layer holds a lock). */
typedef struct pcc_hpke_ctx pcc_hpke_ctx;

/* pcc_hpke_setup_sender: SetupBaseS/PSKS/AuthS/AuthPSKS, chosen by which optional inputs are
 * given (psk+psk_id non-empty -> psk; sender_key non-NULL -> auth). ikm_e, when non-NULL, makes
 * the ephemeral key deterministic (tests only). Writes enc (Nenc bytes). */
PCC_API pcc_status pcc_hpke_setup_sender(pcc_hpke_ctx **out, uint8_t *enc, size_t *enc_len,
                                         size_t max_enc, pcc_hpke_suite suite,
                                         const uint8_t *pk_r, size_t pk_r_len,
                                         const uint8_t *info, size_t info_len,
                                         const uint8_t *psk, size_t psk_len,
                                         const uint8_t *psk_id, size_t psk_id_len,
                                         const pcc_hpke_key *sender_key,
                                         const uint8_t *ikm_e, size_t ikm_e_len) PCC_WUR;

/* pcc_hpke_setup_sender_ephemeral: as pcc_hpke_setup_sender, with the ephemeral key pair given
 * instead of generated (tests only: replays examples that print skEm, RFC 9458 App. A).
 * ephemeral must be a key of suite.kem (PCC_E_INVALID otherwise); it is only read.
 * WARNING: an ephemeral key used for two messages breaks their confidentiality; never call this
 * outside known-answer tests. */
PCC_API pcc_status pcc_hpke_setup_sender_ephemeral(pcc_hpke_ctx **out, uint8_t *enc,
                                                   size_t *enc_len, size_t max_enc,
                                                   pcc_hpke_suite suite,
                                                   const uint8_t *pk_r, size_t pk_r_len,
                                                   const uint8_t *info, size_t info_len,
                                                   const uint8_t *psk, size_t psk_len,
                                                   const uint8_t *psk_id, size_t psk_id_len,
                                                   const pcc_hpke_key *sender_key,
                                                   const pcc_hpke_key *ephemeral) PCC_WUR;

/* pcc_hpke_setup_recipient: SetupBaseR/PSKR/AuthR/AuthPSKR (pk_s non-NULL -> auth). */
PCC_API pcc_status pcc_hpke_setup_recipient(pcc_hpke_ctx **out, pcc_hpke_suite suite,
                                            const uint8_t *enc, size_t enc_len,
                                            const pcc_hpke_key *sk_r,
                                            const uint8_t *info, size_t info_len,
                                            const uint8_t *psk, size_t psk_len,
                                            const uint8_t *psk_id, size_t psk_id_len,
                                            const uint8_t *pk_s, size_t pk_s_len) PCC_WUR;

/* pcc_hpke_seal encrypts pt (ct = pt_len + 16 bytes) and increments the sequence number;
 * PCC_E_STATE once the sequence number would overflow, PCC_E_UNSUPPORTED for export-only, or
 * for a recipient context. */
PCC_API pcc_status pcc_hpke_seal(pcc_hpke_ctx *ctx, uint8_t *ct, size_t *ct_len, size_t max_ct,
                                 const uint8_t *aad, size_t aad_len,
                                 const uint8_t *pt, size_t pt_len) PCC_WUR;
/* pcc_hpke_open decrypts; PCC_E_DECRYPT on any authentication failure (nothing written that
 * survives: out is wiped on failure). The sequence number advances only on success. */
PCC_API pcc_status pcc_hpke_open(pcc_hpke_ctx *ctx, uint8_t *pt, size_t *pt_len, size_t max_pt,
                                 const uint8_t *aad, size_t aad_len,
                                 const uint8_t *ct, size_t ct_len) PCC_WUR;
/* pcc_hpke_export is Context.Export(exporter_context, L); L <= 255 * Nh. */
PCC_API pcc_status pcc_hpke_export(const pcc_hpke_ctx *ctx, uint8_t *out, size_t out_len,
                                   const uint8_t *exporter_context, size_t ec_len) PCC_WUR;
/* pcc_hpke_ctx_suite returns the suite a context was set up with. */
PCC_API pcc_hpke_suite pcc_hpke_ctx_suite(const pcc_hpke_ctx *ctx);
/* pcc_hpke_testing_ctx_start_at makes a fresh context's next sequence number seq, for tests of
 * the sequence number's end (2^64 - 1) without sealing 2^64 messages. It refuses (PCC_E_STATE) a
 * context that has already sealed or opened a message, and a sender context whose ephemeral key
 * the caller chose (ikm_e, pcc_hpke_setup_sender_ephemeral): a sender it accepts has a new random
 * key, so it can never repeat a nonce, and nothing moves a sequence number back. Not exported
 * from the Python extension (no PCC_API); reached only through _core._testing_hpke_pair_at. */
pcc_status pcc_hpke_testing_ctx_start_at(pcc_hpke_ctx *ctx, uint64_t seq) PCC_WUR;
/* pcc_hpke_ctx_seq returns the sequence number of the next seal or open (0 for NULL). */
PCC_API uint64_t pcc_hpke_ctx_seq(const pcc_hpke_ctx *ctx);
/* pcc_hpke_ctx_is_sender returns 1 for a context made by pcc_hpke_setup_sender, 0 otherwise. */
PCC_API int pcc_hpke_ctx_is_sender(const pcc_hpke_ctx *ctx);
/* pcc_hpke_ctx_free wipes and frees. Accepts NULL. */
PCC_API void pcc_hpke_ctx_free(pcc_hpke_ctx *ctx);

/* Primitives HPKE is built from, exposed for Wycheproof tests and for OHTTP.
 * pcc_hkdf_extract/expand with kdf = PCC_HPKE_KDF_*. */
PCC_API pcc_status pcc_hkdf_extract(uint16_t kdf, uint8_t *prk, size_t *prk_len, size_t max_prk,
                                    const uint8_t *salt, size_t salt_len,
                                    const uint8_t *ikm, size_t ikm_len) PCC_WUR;
PCC_API pcc_status pcc_hkdf_expand(uint16_t kdf, uint8_t *okm, size_t okm_len,
                                   const uint8_t *prk, size_t prk_len,
                                   const uint8_t *info, size_t info_len) PCC_WUR;
/* pcc_aead_seal/open: one-shot AEAD with aead = PCC_HPKE_AEAD_* (not export-only), 16-byte tag
 * appended. */
PCC_API pcc_status pcc_aead_seal(uint16_t aead, const uint8_t *key, size_t key_len,
                                 const uint8_t *nonce, size_t nonce_len,
                                 const uint8_t *aad, size_t aad_len,
                                 const uint8_t *pt, size_t pt_len,
                                 uint8_t *ct, size_t *ct_len, size_t max_ct) PCC_WUR;
PCC_API pcc_status pcc_aead_open(uint16_t aead, const uint8_t *key, size_t key_len,
                                 const uint8_t *nonce, size_t nonce_len,
                                 const uint8_t *aad, size_t aad_len,
                                 const uint8_t *ct, size_t ct_len,
                                 uint8_t *pt, size_t *pt_len, size_t max_pt) PCC_WUR;

/* pcc_x25519 is X25519(sk, pk) of RFC 7748 on raw 32-byte strings (Wycheproof tests);
 * PCC_E_FORMAT for a wrong length or an all-zero result (a low-order public key). */
PCC_API pcc_status pcc_x25519(uint8_t out[32], const uint8_t *sk, size_t sk_len,
                              const uint8_t *pk, size_t pk_len) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
