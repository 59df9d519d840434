/* hpke_internal.h: private helpers shared by hpke_prim.c, hpke_kem.c and hpke.c (not installed). */
#ifndef PCC_HPKE_INTERNAL_H
#define PCC_HPKE_INTERNAL_H

#include <openssl/evp.h>

#include "pcc/hpke.h"

#define HPKE_MAX_NH 64      /* Nh of HKDF-SHA512 */
#define HPKE_MAX_DH 64      /* two DH outputs (auth modes) of 32 bytes */
#define HPKE_NSECRET 32     /* Nsecret of both KEMs */
#define HPKE_MAX_KEMCTX (PCC_HPKE_MAX_ENC + 2 * PCC_HPKE_MAX_PK)

/* A byte string segment: labeled inputs are fed to HMAC as a list of segments, never copied. */
typedef struct hpke_seg {
    const uint8_t *p;
    size_t n;
} hpke_seg;

/* Objects fetched once per process (pthread_once) and shared read-only by every call. */
typedef struct hpke_cache {
    EVP_CIPHER *aes128gcm, *aes256gcm, *chacha;
    EVP_MAC *hmac;
    EVP_MAC_CTX *hmac_tmpl[3]; /* HMAC with SHA-256, SHA-384, SHA-512 set; dup'ed per use */
} hpke_cache;

/* hpke_cache_get returns the process-wide cache, or NULL if a fetch failed. */
const hpke_cache *hpke_cache_get(void);

/* hpke_kdf_nh returns Nh for a KDF id, 0 if unknown. */
size_t hpke_kdf_nh(uint16_t kdf);

/* hpke_mac_new returns a fresh HMAC context for kdf (caller frees with EVP_MAC_CTX_free). */
EVP_MAC_CTX *hpke_mac_new(uint16_t kdf);

/* hpke_extract: prk = HMAC(salt, concat(segs)), Nh bytes. An empty salt means Nh zero bytes. */
pcc_status hpke_extract(EVP_MAC_CTX *mc, size_t nh, uint8_t *prk, const uint8_t *salt,
                        size_t salt_len, const hpke_seg *segs, size_t nsegs);

/* hpke_expand: okm = HKDF-Expand(prk, concat(segs), L), L <= 255 * Nh. */
pcc_status hpke_expand(EVP_MAC_CTX *mc, size_t nh, uint8_t *okm, size_t L, const uint8_t *prk,
                       size_t prk_len, const hpke_seg *segs, size_t nsegs);

/* hpke_labeled_extract is LabeledExtract(salt, label, ikm) of RFC 9180 §4. */
pcc_status hpke_labeled_extract(EVP_MAC_CTX *mc, size_t nh, uint8_t *prk,
                                const uint8_t *suite_id, size_t suite_id_len,
                                const uint8_t *salt, size_t salt_len, const char *label,
                                const uint8_t *ikm, size_t ikm_len);

/* hpke_labeled_expand is LabeledExpand(prk, label, info, L) of RFC 9180 §4. */
pcc_status hpke_labeled_expand(EVP_MAC_CTX *mc, size_t nh, uint8_t *okm, size_t L,
                               const uint8_t *suite_id, size_t suite_id_len,
                               const uint8_t *prk, size_t prk_len, const char *label,
                               const uint8_t *info, size_t info_len);

/* hpke_aead_cipher returns the cached cipher for an AEAD id (NULL for export-only or unknown). */
const EVP_CIPHER *hpke_aead_cipher(uint16_t aead);

/* KEM operations (hpke_kem.c). mc is an HMAC-SHA256 context (the KDF of both KEMs). */

/* hpke_kem_encap is Encap/AuthEncap: writes shared_secret (32 bytes) and enc. sk_s is NULL for
 * the non-auth modes; sk_e is the ephemeral key pair, or NULL to generate a fresh one (the
 * normal case; a given one is for known-answer tests). */
pcc_status hpke_kem_encap(EVP_MAC_CTX *mc, uint16_t kem, uint8_t *shared_secret, uint8_t *enc,
                          size_t *enc_len, const uint8_t *pk_r, size_t pk_r_len,
                          const pcc_hpke_key *sk_s, const pcc_hpke_key *sk_e);

/* hpke_kem_decap is Decap/AuthDecap. pk_s is NULL for the non-auth modes. */
pcc_status hpke_kem_decap(EVP_MAC_CTX *mc, uint16_t kem, uint8_t *shared_secret,
                          const uint8_t *enc, size_t enc_len, const pcc_hpke_key *sk_r,
                          const uint8_t *pk_s, size_t pk_s_len);

#endif
