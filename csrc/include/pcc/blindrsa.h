/* pcc/blindrsa.h: RSA blind signatures, RFC 9474 (RSABSSA-SHA384-{PSS,PSSZERO}-{Randomized,
 * Deterministic}), for moduli of 2048 to 4096 bits, plus a generic RSASSA-PSS verifier (RFC 8017
 * §8.1.2) used by the Wycheproof tests.
 *
 * Private keys, blinding factors (r, inv) and the blinding state live in secure memory; the
 * signer's private operation is OpenSSL's blinded, constant-time RSA (CRT) and every signature
 * this module produces is checked with the public key before it is returned (fail closed). */
#ifndef PCC_BLINDRSA_H
#define PCC_BLINDRSA_H

#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The four RFC 9474 §5 variants. All use SHA-384 and MGF1-SHA-384. */
typedef enum pcc_blindrsa_variant {
    PCC_BLINDRSA_SHA384_PSS_RANDOMIZED = 1,        /* sLen 48, 32-byte random msg_prefix */
    PCC_BLINDRSA_SHA384_PSSZERO_RANDOMIZED = 2,    /* sLen 0, 32-byte random msg_prefix */
    PCC_BLINDRSA_SHA384_PSS_DETERMINISTIC = 3,     /* sLen 48, no prefix */
    PCC_BLINDRSA_SHA384_PSSZERO_DETERMINISTIC = 4  /* sLen 0, no prefix */
} pcc_blindrsa_variant;

/* Hash functions for pcc_blindrsa_pss_verify (message hash and MGF1 hash). */
typedef enum pcc_blindrsa_hash {
    PCC_BLINDRSA_HASH_SHA1 = 1,
    PCC_BLINDRSA_HASH_SHA224 = 2,
    PCC_BLINDRSA_HASH_SHA256 = 3,
    PCC_BLINDRSA_HASH_SHA384 = 4,
    PCC_BLINDRSA_HASH_SHA512 = 5
} pcc_blindrsa_hash;

#define PCC_BLINDRSA_MIN_BITS 2048
#define PCC_BLINDRSA_MAX_BITS 4096
#define PCC_BLINDRSA_MAX_MODULUS_LEN 512 /* bytes, for 4096-bit keys */
#define PCC_BLINDRSA_PREFIX_LEN 32       /* msg_prefix of the Randomized variants */
#define PCC_BLINDRSA_SALT_LEN 48         /* sLen of the PSS variants (PSSZERO: 0) */
/* Largest SPKI this module writes or reads (4096-bit key, RSASSA-PSS OID with NULL params). */
#define PCC_BLINDRSA_MAX_SPKI_LEN 620
/* Largest PKCS#8 this module writes (4096-bit two-prime key, exponent up to 64 bits). */
#define PCC_BLINDRSA_MAX_PKCS8_LEN 2600

/* pcc_blindrsa_variant_from_name maps "RSABSSA-SHA384-PSS-Randomized" (and the other three names
 * of RFC 9474 §5, exact spelling) to a variant; PCC_E_UNSUPPORTED for anything else. */
PCC_API pcc_status pcc_blindrsa_variant_from_name(pcc_blindrsa_variant *out, const char *name,
                                                  size_t name_len) PCC_WUR;
/* pcc_blindrsa_variant_name returns the RFC name of v, or NULL if v is not a variant. */
PCC_API const char *pcc_blindrsa_variant_name(pcc_blindrsa_variant v);
/* pcc_blindrsa_variant_params gives the salt length (48 or 0) and whether v is Randomized. */
PCC_API pcc_status pcc_blindrsa_variant_params(pcc_blindrsa_variant v, size_t *salt_len,
                                               int *randomized) PCC_WUR;

/* ---- keys ---- */

/* A public key (n, e), 2048 to 4096 bits. Immutable, safe to share between threads. */
typedef struct pcc_blindrsa_pk pcc_blindrsa_pk;
/* A private key (CRT form) in secure memory. Immutable, safe to share between threads. */
typedef struct pcc_blindrsa_sk pcc_blindrsa_sk;

/* pcc_blindrsa_sk_generate makes a fresh key of bits bits (2048..4096, e = 65537) with OpenSSL's
 * EVP key generation; PCC_E_UNSUPPORTED for other sizes. Free with pcc_blindrsa_sk_free. */
PCC_API pcc_status pcc_blindrsa_sk_generate(pcc_blindrsa_sk **out, unsigned bits) PCC_WUR;
/* pcc_blindrsa_sk_from_der imports a DER PKCS#8 PrivateKeyInfo with the rsaEncryption OID
 * (two-prime CRT key). The whole input must be one DER object (PCC_E_FORMAT otherwise, also for
 * an inconsistent key); PCC_E_UNSUPPORTED for another key type or size. */
PCC_API pcc_status pcc_blindrsa_sk_from_der(pcc_blindrsa_sk **out, const uint8_t *der,
                                            size_t der_len) PCC_WUR;
/* pcc_blindrsa_sk_to_der writes the key as DER PKCS#8 PrivateKeyInfo (rsaEncryption).
 * WARNING: exports the secret key; out should be secure memory or wiped after use. */
PCC_API pcc_status pcc_blindrsa_sk_to_der(const pcc_blindrsa_sk *sk, uint8_t *out,
                                          size_t *out_len, size_t max_out) PCC_WUR;
/* pcc_blindrsa_sk_public returns a new public key object for sk's (n, e). */
PCC_API pcc_status pcc_blindrsa_sk_public(const pcc_blindrsa_sk *sk,
                                          pcc_blindrsa_pk **out) PCC_WUR;
/* pcc_blindrsa_sk_bits returns the modulus size in bits. */
PCC_API unsigned pcc_blindrsa_sk_bits(const pcc_blindrsa_sk *sk);
/* pcc_blindrsa_sk_free wipes and frees a key. Accepts NULL. */
PCC_API void pcc_blindrsa_sk_free(pcc_blindrsa_sk *sk);

/* pcc_blindrsa_pk_from_der imports a DER SubjectPublicKeyInfo with either the rsaEncryption OID
 * (NULL parameters) or the id-RSASSA-PSS OID with the RFC 9578 §6.5 parameters (SHA-384,
 * MGF1-SHA-384, saltLength 48; hash AlgorithmIdentifiers with absent parameters as RFC 9578
 * writes them, or with NULL parameters as earlier drafts and OpenSSL write them). The input must
 * be exactly that DER (PCC_E_FORMAT otherwise); PCC_E_UNSUPPORTED for other PSS parameters,
 * another key type, a size outside 2048..4096 bits, or an exponent that is even, below 3 or over
 * 64 bits. */
PCC_API pcc_status pcc_blindrsa_pk_from_der(pcc_blindrsa_pk **out, const uint8_t *der,
                                            size_t der_len) PCC_WUR;
/* pcc_blindrsa_pk_to_der writes the SPKI: rsaEncryption when pss_oid is 0, otherwise
 * id-RSASSA-PSS with exactly the RFC 9578 §6.5 parameters (the Privacy Pass token key). */
PCC_API pcc_status pcc_blindrsa_pk_to_der(const pcc_blindrsa_pk *pk, int pss_oid, uint8_t *out,
                                          size_t *out_len, size_t max_out) PCC_WUR;
/* pcc_blindrsa_pk_bits returns the modulus size in bits. */
PCC_API unsigned pcc_blindrsa_pk_bits(const pcc_blindrsa_pk *pk);
/* pcc_blindrsa_pk_modulus_len returns k, the modulus length in bytes (= Nk of signatures). */
PCC_API size_t pcc_blindrsa_pk_modulus_len(const pcc_blindrsa_pk *pk);
/* pcc_blindrsa_pk_numbers copies n (k bytes, big-endian) and e (minimal big-endian) out. */
PCC_API pcc_status pcc_blindrsa_pk_numbers(const pcc_blindrsa_pk *pk, uint8_t *n, size_t *n_len,
                                           size_t max_n, uint8_t *e, size_t *e_len,
                                           size_t max_e) PCC_WUR;
/* pcc_blindrsa_pk_free frees a public key. Accepts NULL. */
PCC_API void pcc_blindrsa_pk_free(pcc_blindrsa_pk *pk);

/* ---- protocol (RFC 9474 §4) ---- */

/* pcc_blindrsa_prepare is Prepare (§4.1): for Randomized variants out = msg_prefix || msg with a
 * fresh 32-byte prefix (or the given one, which must be 32 bytes: tests only); for Deterministic
 * variants out = msg and prefix must be NULL. out needs msg_len + 32 bytes at most. */
PCC_API pcc_status pcc_blindrsa_prepare(pcc_blindrsa_variant v, uint8_t *out, size_t *out_len,
                                        size_t max_out, const uint8_t *msg, size_t msg_len,
                                        const uint8_t *prefix, size_t prefix_len) PCC_WUR;

/* The client's blinding state: the inverse inv of the blinding factor, in secure memory, bound
 * to a variant and modulus length. */
typedef struct pcc_blindrsa_state pcc_blindrsa_state;

/* pcc_blindrsa_blind is Blind (§4.2) on a prepared message: EMSA-PSS-ENCODE (SHA-384,
 * MGF1-SHA-384, sLen per variant, emBits = modBits - 1), then m * r^e mod n with r uniform in
 * [1, n) and coprime to n. Writes blinded (k bytes) and a new *state (free with
 * pcc_blindrsa_state_free). PCC_E_INVALID if the encoded message is not coprime to n.
 * WARNING: salt (sLen bytes) and r (at most k bytes, 1 <= r < n, invertible) fix the random
 * choices for known-answer tests only; pass NULL in real use. */
PCC_API pcc_status pcc_blindrsa_blind(pcc_blindrsa_state **state, uint8_t *blinded,
                                      size_t *blinded_len, size_t max_blinded,
                                      pcc_blindrsa_variant v, const pcc_blindrsa_pk *pk,
                                      const uint8_t *msg, size_t msg_len,
                                      const uint8_t *salt, size_t salt_len,
                                      const uint8_t *r, size_t r_len) PCC_WUR;
/* pcc_blindrsa_state_free wipes and frees a blinding state. Accepts NULL. */
PCC_API void pcc_blindrsa_state_free(pcc_blindrsa_state *state);

/* pcc_blindrsa_blind_sign is BlindSign (§4.3): s = RSASP1(sk, m) with OpenSSL's blinded CRT
 * private operation, then RSAVP1(pk, s) must give m back (PCC_E_CRYPTO otherwise, nothing
 * written). PCC_E_FORMAT if blinded is not k bytes or is >= n. Writes k bytes. */
PCC_API pcc_status pcc_blindrsa_blind_sign(const pcc_blindrsa_sk *sk, pcc_blindrsa_variant v,
                                           uint8_t *out, size_t *out_len, size_t max_out,
                                           const uint8_t *blinded, size_t blinded_len) PCC_WUR;

/* pcc_blindrsa_finalize is Finalize (§4.4): s = z * inv mod n, then RSASSA-PSS-VERIFY of the
 * prepared msg; writes the signature (k bytes) only if it verifies, PCC_E_VERIFY otherwise
 * (also for blind_sig >= n). PCC_E_FORMAT if blind_sig is not k bytes; PCC_E_INVALID if state was
 * made for another variant or modulus size. */
PCC_API pcc_status pcc_blindrsa_finalize(uint8_t *sig, size_t *sig_len, size_t max_sig,
                                         pcc_blindrsa_variant v, const pcc_blindrsa_pk *pk,
                                         const uint8_t *msg, size_t msg_len,
                                         const uint8_t *blind_sig, size_t blind_sig_len,
                                         const pcc_blindrsa_state *state) PCC_WUR;

/* pcc_blindrsa_verify is RSASSA-PSS-VERIFY (SHA-384, MGF1-SHA-384, sLen per variant) of the
 * prepared message; PCC_OK or PCC_E_VERIFY (also for a signature that is not k bytes or >= n). */
PCC_API pcc_status pcc_blindrsa_verify(pcc_blindrsa_variant v, const pcc_blindrsa_pk *pk,
                                       const uint8_t *msg, size_t msg_len,
                                       const uint8_t *sig, size_t sig_len) PCC_WUR;

/* pcc_blindrsa_pss_verify is RSASSA-PSS-VERIFY with any hash, MGF1 hash and salt length
 * (0..k): PCC_OK or PCC_E_VERIFY; PCC_E_UNSUPPORTED for an unknown hash id, PCC_E_INVALID for an
 * impossible salt length. */
PCC_API pcc_status pcc_blindrsa_pss_verify(const pcc_blindrsa_pk *pk, pcc_blindrsa_hash hash,
                                           pcc_blindrsa_hash mgf1_hash, size_t salt_len,
                                           const uint8_t *msg, size_t msg_len,
                                           const uint8_t *sig, size_t sig_len) PCC_WUR;

/* pcc_blindrsa_bench_raw times iters raw RSA operations on one random modulus-size input: the
 * private operation (EVP_PKEY_sign, RSA_NO_PADDING, one reused context) when private_op is
 * non-zero, else the public one (EVP_PKEY_encrypt, RSA_NO_PADDING). Writes the total thread CPU
 * time (CLOCK_THREAD_CPUTIME_ID) in nanoseconds. For benchmarks: the baseline the protocol operations are compared with. */
PCC_API pcc_status pcc_blindrsa_bench_raw(const pcc_blindrsa_sk *sk, int private_op,
                                          size_t iters, uint64_t *total_ns) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
