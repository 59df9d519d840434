/* ecx_secure.h: X25519 and Ed25519 private keys whose OpenSSL copy lives in the secure heap. */
#ifndef PCC_ECX_SECURE_H
#define PCC_ECX_SECURE_H

#include <openssl/evp.h>

#include "pcc/common.h"

/* pcc_ecx_private_new makes an EVP_PKEY for the 32-byte raw private key raw of type alg
 * ("X25519" or "ED25519") whose private key OpenSSL holds in its secure heap (set up with
 * pcc_secure_openssl_init if nobody has yet). Returns PCC_E_NOMEM when the secure heap cannot be
 * set up or is full, PCC_E_CRYPTO otherwise on failure. */
pcc_status pcc_ecx_private_new(EVP_PKEY **out, const char *alg, const uint8_t raw[32]) PCC_WUR;

/* pcc_ossl_secure_ready sets up the secure heap (for keys OpenSSL generates itself and for
 * BN_secure_new scalars); PCC_E_NOMEM if it cannot. */
pcc_status pcc_ossl_secure_ready(void) PCC_WUR;

#endif
