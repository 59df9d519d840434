/* csrc/tpm/tpm_internal.h: helpers shared by the TPM quote checks and the tpm2-tss side. */
#ifndef PCC_TPM_INTERNAL_H
#define PCC_TPM_INTERNAL_H

#include <openssl/evp.h>

#include "pcc/common.h"

/* tpm_spki_write writes k's SubjectPublicKeyInfo (DER) into spki: PCC_E_LIMIT when it needs more
 * than max_spki bytes, PCC_E_CRYPTO when OpenSSL cannot encode it. */
pcc_status tpm_spki_write(const EVP_PKEY *k, uint8_t *spki, size_t *spki_len,
                          size_t max_spki) PCC_WUR;

#endif
