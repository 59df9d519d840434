/* enclave_tpm.h: the enclave's TPM backend (csrc/node/enclave_tpm.c). The identity key is the
 * TPM's attestation key (AK), created in the TPM per boot and never exported; every register
 * extend also extends the register's SHA-384 PCR; a bundle carries a quote of those PCRs bound to
 * the body and is signed by the AK. The HPKE keys stay in the enclave's secure memory. */
#ifndef PCC_ENCLAVE_TPM_H
#define PCC_ENCLAVE_TPM_H

#include "pcc/attest.h"
#include "pcc/buf.h"
#include "pcc/common.h"
#include "pcc/tpm.h"

/* The PCRs that hold registers 0 (code), 1 (model) and 2 (config): pcc.tpm.DEFAULT_PCRS. */
#define ENCLAVE_TPM_PCR0 8
#define ENCLAVE_TPM_PCR1 9
#define ENCLAVE_TPM_PCR2 10

typedef struct enclave_tpm enclave_tpm;

/* enclave_tpm_open connects to the TPM named by tcti and checks that the three register PCRs are
 * zero (the TPM was reset since anything extended them). *out is set whenever the TPM answered,
 * even when the check fails (so that enclave_tpm_close can shut it down in order). Returns
 * PCC_E_STATE when the TPM cannot be reached, PCC_E_UNSUPPORTED without an active SHA-384 bank,
 * PCC_E_VERIFY when a register PCR is not zero. */
pcc_status enclave_tpm_open(enclave_tpm **out, const char *tcti) PCC_WUR;

/* enclave_tpm_close sends TPM2_Shutdown(CLEAR), flushes and disconnects. Accepts NULL. */
void enclave_tpm_close(enclave_tpm *t);

/* enclave_tpm_enroll creates the AK (unique: the boot identifier, so a fresh key per boot),
 * checks it has the attributes of a non-exportable AK, and writes its node id (SHA-256 of its
 * SPKI DER), its marshalled TPMT_PUBLIC and the EK certificate (DER) for the CA's challenge. */
pcc_status enclave_tpm_enroll(enclave_tpm *t, const uint8_t *unique, size_t unique_len,
                              uint8_t node_id[PCC_ATTEST_NODE_ID], uint8_t *ak_public,
                              size_t *ak_public_len, size_t max_public, uint8_t *ek_cert,
                              size_t *ek_cert_len, size_t max_cert) PCC_WUR;

/* enclave_tpm_activate runs TPM2_ActivateCredential for the AK on the CA's blob and secret.
 * PCC_E_VERIFY when the TPM refuses (a challenge made for another TPM or another key). */
pcc_status enclave_tpm_activate(enclave_tpm *t, const uint8_t *blob, size_t blob_len,
                                const uint8_t *secret, size_t secret_len, uint8_t *cred,
                                size_t *cred_len, size_t max_cred) PCC_WUR;

/* enclave_tpm_check_cert accepts the node certificate (DER) only if it certifies the AK as a TPM
 * attestation key: the tcg-kp-AIKCertificate usage, and SHA-256 of its key equal to node_id. So
 * the enclave never signs a bundle whose chain a verifier's tpm check would refuse.
 * PCC_E_INVALID otherwise. */
pcc_status enclave_tpm_check_cert(const uint8_t node_id[PCC_ATTEST_NODE_ID], const uint8_t *cert,
                                  size_t cert_len) PCC_WUR;

/* enclave_tpm_extend extends the event (name, digest) of register reg (0..2) into its PCR with
 * the data SHA-384(SHA-384(name) || digest). */
pcc_status enclave_tpm_extend(enclave_tpm *t, unsigned reg, const char *name, size_t name_len,
                              const uint8_t digest[PCC_ATTEST_DIGEST]) PCC_WUR;

/* enclave_tpm_bundle appends the bundle for b (node_id and tpm are set here): the body without
 * "tpm", a quote of the register PCRs whose qualifying data is its SHA-384, the body with the
 * quote as "tpm", the AK's signature over that body, and the chain. PCC_E_INVALID when a field of
 * b breaks the body's limits. On failure w is as it was. */
pcc_status enclave_tpm_bundle(enclave_tpm *t, pcc_writer *w, pcc_attest_body *b,
                              const uint8_t *const *chain, const size_t *chain_lens,
                              size_t n_chain) PCC_WUR;

#endif
