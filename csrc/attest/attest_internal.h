/* attest_internal.h: helpers shared by csrc/attest/ files (not API). */
#ifndef PCC_ATTEST_INTERNAL_H
#define PCC_ATTEST_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pcc/attest.h"

/* pcc_attest_pkey_is_p384 returns 1 for an EC key on secp384r1. */
int pcc_attest_pkey_is_p384(const EVP_PKEY *pk);

/* pcc_attest_pkey_verify checks a DER ECDSA-SHA384 signature of msg by pk (PCC_E_VERIFY). */
pcc_status pcc_attest_pkey_verify(EVP_PKEY *pk, const uint8_t *msg, size_t len,
                                  const uint8_t *sig, size_t sig_len);

/* pcc_p384_key_pkey returns the key's EVP_PKEY (borrowed). */
EVP_PKEY *pcc_p384_key_pkey(const pcc_p384_key *k);

/* A chain that verified: the leaf's key (a reference the holder frees), SHA-256 of its SPKI DER
 * and the window in which every certificate of the built chain is valid. */
typedef struct pcc_attest_chain_ok {
    EVP_PKEY *leaf_key;
    uint8_t leaf_spki_sha256[32];
    int64_t not_before; /* latest notBefore of the chain */
    int64_t not_after;  /* earliest notAfter of the chain */
} pcc_attest_chain_ok;

/* pcc_attest_chain_verify checks certs[0] (the leaf) and intermediates against roots (a store of
 * pinned roots only) with every rule of the chain check except validity time, which the caller
 * checks against out->not_before/not_after. Returns PCC_OK, PCC_E_VERIFY with *reason set to a
 * static public sentence, or PCC_E_NOMEM. */
pcc_status pcc_attest_chain_verify(X509_STORE *roots, STACK_OF(X509) *root_list,
                                   const uint8_t *const *certs, const size_t *lens, size_t n,
                                   pcc_attest_chain_ok *out, const char **reason);

/* pcc_attest_cert_is_p384 returns 1 when the certificate's key is P-384 and it is signed with
 * ecdsa-with-SHA384. */
int pcc_attest_cert_is_p384(X509 *x);

#endif
