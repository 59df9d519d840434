/* pcc/tpm.h: TPM 2.0 attestation. Quote verification, attestation-key checks, software
 * MakeCredential and EK certificate checks need only OpenSSL (clients and the provisioning CA use
 * them); pcc_tpm (the node's side) talks to a TPM through tpm2-tss.
 *
 * Register rule on a TPM. The PCRs of the SHA-384 bank hold the registers. A measurement event
 * (name, digest) is extended as
 *     PCR_Extend(pcr, e)  with  e = SHA-384(SHA-384(name_utf8) || digest)
 * so the PCR becomes SHA-384(PCR || e); replaying the events from 48 zero bytes recomputes it. */
#ifndef PCC_TPM_H
#define PCC_TPM_H

#include <stdbool.h>

#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_TPM_ALG_SHA256 0x000B
#define PCC_TPM_ALG_SHA384 0x000C
#define PCC_TPM_PCR_SIZE 48        /* a SHA-384 PCR */
#define PCC_TPM_PCR_MAX 16         /* registers live in PCRs 0..15 (not resettable) */
#define PCC_TPM_ATTEST_MAX 1024    /* largest TPMS_ATTEST accepted */
#define PCC_TPM_SIG_MAX 256        /* largest marshalled TPMT_SIGNATURE accepted */
#define PCC_TPM_PUBLIC_MAX 1024    /* largest marshalled TPMT_PUBLIC accepted */
#define PCC_TPM_NAME_MAX 66        /* nameAlg (2) + a digest of up to 64 bytes */
#define PCC_TPM_SPKI_MAX 160       /* SPKI DER of a P-384 key is 120 bytes */
#define PCC_TPM_EXTRA_MAX 64       /* qualifying data (TPM2B_DATA) */
#define PCC_TPM_CRED_MAX 32        /* credential handed to MakeCredential (EK nameAlg SHA-256) */
#define PCC_TPM_ID_OBJECT_MAX 128  /* TPM2B_DIGEST(hmac) || encrypted credential */
#define PCC_TPM_SECRET_MAX 512     /* RSA-OAEP encrypted seed (up to 4096-bit EKs) */
#define PCC_TPM_CERT_MAX 4096      /* EK certificate read from NV */
#define PCC_TPM_SIG_DER_MAX 112    /* DER ECDSA-Sig-Value over P-384 */

/* pcc_tpm_quote_info: the fields of a parsed TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE. */
typedef struct pcc_tpm_quote_info {
    uint8_t signer_name[PCC_TPM_NAME_MAX]; /* qualifiedSigner */
    size_t signer_name_len;
    uint8_t extra_data[PCC_TPM_EXTRA_MAX]; /* the qualifying data the quote was asked for */
    size_t extra_data_len;
    uint64_t clock;
    uint32_t reset_count;
    uint32_t restart_count;
    uint8_t safe;
    uint64_t firmware_version;
    uint16_t pcr_bank;  /* hash of the one selected bank */
    uint32_t pcr_mask;  /* bit i set = PCR i selected */
    uint8_t pcr_digest[64];
    size_t pcr_digest_len;
} pcc_tpm_quote_info;

/* pcc_tpm_attest_parse parses a TPMS_ATTEST (the bytes inside the TPM2B_ATTEST that TPM2_Quote
 * returns) as hostile input: magic TPM_GENERATED_VALUE, type TPM_ST_ATTEST_QUOTE, every size
 * against what remains, exactly one PCR bank of a known hash with a selection of at most 3 bytes,
 * pcrDigest as long as that hash, no trailing bytes. Returns PCC_E_FORMAT otherwise.
 * WARNING: parsing proves nothing; pcc_tpm_quote_verify checks the signature first. */
PCC_API pcc_status pcc_tpm_attest_parse(pcc_tpm_quote_info *out, const uint8_t *attest,
                                        size_t attest_len) PCC_WUR;

/* pcc_tpm_sig_to_der converts a marshalled TPMT_SIGNATURE (ECDSA with SHA-256 or SHA-384) to a
 * DER ECDSA-Sig-Value and sets *hash_alg to its hash. PCC_E_FORMAT for anything else. */
PCC_API pcc_status pcc_tpm_sig_to_der(uint8_t *der, size_t *der_len, size_t max_der,
                                      uint16_t *hash_alg, const uint8_t *sig,
                                      size_t sig_len) PCC_WUR;

/* pcc_tpm_event_data writes e = SHA-384(SHA-384(name) || digest), the data one measurement event
 * extends into its PCR. */
PCC_API pcc_status pcc_tpm_event_data(uint8_t out[PCC_TPM_PCR_SIZE], const uint8_t *name,
                                      size_t name_len,
                                      const uint8_t digest[PCC_TPM_PCR_SIZE]) PCC_WUR;

/* pcc_tpm_pcr_extend_sw does in software what PCR_Extend does to a SHA-384 PCR:
 * pcr = SHA-384(pcr || data). */
PCC_API pcc_status pcc_tpm_pcr_extend_sw(uint8_t pcr[PCC_TPM_PCR_SIZE],
                                         const uint8_t data[PCC_TPM_PCR_SIZE]) PCC_WUR;

/* pcc_tpm_quote_verify accepts a quote only if all of these hold, in this order:
 *  - sig (a marshalled TPMT_SIGNATURE, ECDSA with SHA-384 or SHA-256) verifies over attest under
 *    spki_der (SubjectPublicKeyInfo DER of a P-384 or P-256 key);
 *  - attest parses (pcc_tpm_attest_parse);
 *  - extraData equals extra (public value, plain compare);
 *  - the selection is exactly the SHA-384 bank with exactly the PCRs pcrs[0..n) (distinct, each
 *    below PCC_TPM_PCR_MAX; order does not matter);
 *  - pcrDigest equals H(values of those PCRs in ascending PCR order), H the signature's hash, where
 *    values[i] (48 bytes) is the expected value of PCR pcrs[i].
 * Returns PCC_OK, PCC_E_FORMAT (a malformed signature or attest), PCC_E_INVALID (bad arguments)
 * or PCC_E_VERIFY (no detail). info, when not NULL, receives the parsed fields on success. */
PCC_API pcc_status pcc_tpm_quote_verify(pcc_tpm_quote_info *info, const uint8_t *attest,
                                        size_t attest_len, const uint8_t *sig, size_t sig_len,
                                        const uint8_t *spki_der, size_t spki_len,
                                        const uint8_t *extra, size_t extra_len,
                                        const uint8_t *pcrs, const uint8_t *values,
                                        size_t n) PCC_WUR;

/* pcc_tpm_event: one measurement event of an attestation body (borrowed pointers). */
typedef struct pcc_tpm_event {
    unsigned reg;            /* register index */
    const uint8_t *name;     /* event name, UTF-8 */
    size_t name_len;
    const uint8_t *digest;   /* 48 bytes (SHA-384) */
} pcc_tpm_event;

/* pcc_tpm_replay writes the n_regs PCR values (48 bytes each, register order) that events give
 * under the TPM rule, each starting at 48 zero bytes. PCC_E_FORMAT if an event names a register
 * >= n_regs. */
PCC_API pcc_status pcc_tpm_replay(uint8_t *values, size_t n_regs, const pcc_tpm_event *events,
                                  size_t n_events) PCC_WUR;

/* pcc_tpm_bundle_quote_verify is the `tpm` check of an attestation bundle whose body carries
 * "tpm": {"v": 1, "pcrs": [p0, p1, p2], "attest": bin, "sig": bin}. The caller has verified the
 * chain and parsed that map (v == 1) and passes pcrs (PCR of register r at pcrs[r]), attest and
 * sig; node_cert is the leaf certificate (DER), which must carry the PCC_TPM_AK_EKU_OID extended
 * key usage (pcc_tpm_ak_cert_key); body_without_tpm is the exact encoding of the body without its
 * tpm key (the quote's qualifying data is its SHA-384); events are the body's events. Runs
 * pcc_tpm_quote_verify against the replayed PCR values. PCC_E_INVALID for duplicate PCRs or PCRs
 * >= 16, PCC_E_FORMAT for malformed structures or events, PCC_E_VERIFY otherwise. */
PCC_API pcc_status pcc_tpm_bundle_quote_verify(pcc_tpm_quote_info *info, const uint8_t *attest,
                                               size_t attest_len, const uint8_t *sig,
                                               size_t sig_len, const uint8_t *node_cert,
                                               size_t node_cert_len,
                                               const uint8_t *body_without_tpm, size_t body_len,
                                               const uint8_t pcrs[3],
                                               const pcc_tpm_event *events,
                                               size_t n_events) PCC_WUR;

/* pcc_tpm_ak_check parses pub, a marshalled TPMT_PUBLIC (the contents of a TPM2B_PUBLIC), and
 * accepts it only as an attestation key that cannot leave its TPM: type ECC, curve P-384 or P-256,
 * nameAlg SHA-256 or SHA-384, attributes fixedTPM, fixedParent, sensitiveDataOrigin, restricted
 * and sign set and decrypt clear, no symmetric algorithm, scheme ECDSA with SHA-256/384, no KDF,
 * the point on the curve. Writes the key as SPKI DER and its TPM name (nameAlg || H(pub)).
 * PCC_E_FORMAT for a malformed structure, PCC_E_VERIFY for a well-formed key that is no AK. */
PCC_API pcc_status pcc_tpm_ak_check(uint8_t *spki, size_t *spki_len, size_t max_spki,
                                    uint8_t *name, size_t *name_len, size_t max_name,
                                    const uint8_t *pub, size_t pub_len) PCC_WUR;

/* pcc_tpm_make_credential is TPM2_MakeCredential in software (TPM 2.0 Part 1, 24): it wraps
 * credential (1..32 bytes) so that only the TPM holding the private part of the endorsement key
 * ek_spki (RSA 2048 with the standard EK template: nameAlg SHA-256, AES-128-CFB) can recover it,
 * and only for the loaded object whose name is name. Writes the TPM2B_ID_OBJECT contents
 * (TPM2B_DIGEST integrityHMAC || encIdentity) to blob and the TPM2B_ENCRYPTED_SECRET contents
 * (the RSA-OAEP encrypted seed, label "IDENTITY") to secret. The seed is wiped. */
PCC_API pcc_status pcc_tpm_make_credential(uint8_t *blob, size_t *blob_len, size_t max_blob,
                                           uint8_t *secret, size_t *secret_len,
                                           size_t max_secret, const uint8_t *ek_spki,
                                           size_t ek_spki_len, const uint8_t *credential,
                                           size_t cred_len, const uint8_t *name,
                                           size_t name_len) PCC_WUR;

/* pcc_tpm_ek_cert_check verifies an EK certificate (DER) against manufacturer roots (a PEM
 * bundle of one or more certificates) with optional intermediates (a PEM bundle, may be empty),
 * at unix time now, and writes the certified public key as SPKI DER. Only the manufacturer roots
 * are trust anchors. PCC_E_FORMAT for unparsable input, PCC_E_VERIFY if the chain does not check
 * out. */
PCC_API pcc_status pcc_tpm_ek_cert_check(uint8_t *spki, size_t *spki_len, size_t max_spki,
                                         const uint8_t *cert_der, size_t cert_len,
                                         const char *roots_pem, size_t roots_len,
                                         const char *inter_pem, size_t inter_len,
                                         int64_t now) PCC_WUR;

/* PCC_TPM_AK_EKU_OID: tcg-kp-AIKCertificate (TCG EK Credential Profile), the extended key usage
 * the provisioning CA puts in a node certificate only after the credential challenge proved the
 * key is a TPM attestation key. A quote means something only when signed by such a key: a
 * software key could sign any TPMS_ATTEST it likes. */
#define PCC_TPM_AK_EKU_OID "2.23.133.8.3"

/* pcc_tpm_ak_cert_key writes the public key (SPKI DER) of a node certificate (DER) if the
 * certificate's extendedKeyUsage lists PCC_TPM_AK_EKU_OID: the key to check quotes with.
 * PCC_E_VERIFY if it does not, PCC_E_FORMAT if the certificate or the extension does not
 * parse. It checks nothing else (the chain is the caller's). */
PCC_API pcc_status pcc_tpm_ak_cert_key(uint8_t *spki, size_t *spki_len, size_t max_spki,
                                       const uint8_t *cert_der, size_t cert_len) PCC_WUR;

/* ---- The node's side: a TPM through tpm2-tss ------------------------------------------------ */

/* pcc_tpm: a connection to one TPM and the attestation key created in it. Not thread-safe. */
typedef struct pcc_tpm pcc_tpm;

/* pcc_tpm_open connects through the TCTI named by tcti ("swtpm:host=127.0.0.1,port=2321",
 * "device:/dev/tpmrm0", ...), running TPM2_Startup(CLEAR) if the TPM has not been started.
 * PCC_E_STATE if the TPM cannot be reached. */
PCC_API pcc_status pcc_tpm_open(pcc_tpm **out, const char *tcti) PCC_WUR;

/* pcc_tpm_free flushes the keys it loaded and closes the connection. Accepts NULL. */
PCC_API void pcc_tpm_free(pcc_tpm *t);

/* pcc_tpm_shutdown flushes the keys this connection loaded and sends TPM2_Shutdown(CLEAR): an
 * orderly shutdown, so that the TPM does not count the next reset as a dictionary-attack failure
 * (a TPM that sees a few disorderly resets locks out keys with a password, the AK among them).
 * The TPM keeps answering commands until it is reset; the connection stays open. */
PCC_API pcc_status pcc_tpm_shutdown(pcc_tpm *t) PCC_WUR;

/* pcc_tpm_last_rc returns the TPM/TSS response code of the last failed call (0 if none): a public
 * value for error messages. */
PCC_API uint32_t pcc_tpm_last_rc(const pcc_tpm *t);

/* pcc_tpm_ak_create creates the attestation key as a primary key of the owner hierarchy: ECC
 * P-384, ECDSA with SHA-384, fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth |
 * restricted | sign. Its private part is generated in the TPM and no command releases it.
 * unique (up to 48 bytes, may be empty) enters the template, so a new value gives a new key and
 * the same value the same key again. Replaces a key created before. */
PCC_API pcc_status pcc_tpm_ak_create(pcc_tpm *t, const uint8_t *unique,
                                     size_t unique_len) PCC_WUR;

/* pcc_tpm_ak_public writes the attestation key's TPMT_PUBLIC as TPM2_ReadPublic returns it
 * (marshalled; pcc_tpm_ak_check turns it into SPKI DER). PCC_E_STATE before pcc_tpm_ak_create. */
PCC_API pcc_status pcc_tpm_ak_public(pcc_tpm *t, uint8_t *out, size_t *out_len,
                                     size_t max_out) PCC_WUR;

/* pcc_tpm_pcr_extend extends data (48 bytes) into SHA-384 PCR pcr (< PCC_TPM_PCR_MAX). */
PCC_API pcc_status pcc_tpm_pcr_extend(pcc_tpm *t, unsigned pcr,
                                      const uint8_t data[PCC_TPM_PCR_SIZE]) PCC_WUR;

/* pcc_tpm_pcr_read reads SHA-384 PCR pcr (< 24). PCC_E_UNSUPPORTED if the bank is not active. */
PCC_API pcc_status pcc_tpm_pcr_read(pcc_tpm *t, unsigned pcr,
                                    uint8_t out[PCC_TPM_PCR_SIZE]) PCC_WUR;

/* pcc_tpm_quote quotes the SHA-384 PCRs pcrs[0..n) (distinct, < PCC_TPM_PCR_MAX) with the
 * attestation key and qualifying data extra (at most 64 bytes). Writes the TPMS_ATTEST and the
 * marshalled TPMT_SIGNATURE. */
PCC_API pcc_status pcc_tpm_quote(pcc_tpm *t, uint8_t *attest, size_t *attest_len,
                                 size_t max_attest, uint8_t *sig, size_t *sig_len, size_t max_sig,
                                 const uint8_t *extra, size_t extra_len, const uint8_t *pcrs,
                                 size_t n) PCC_WUR;

/* pcc_tpm_sign signs msg with the attestation key (ECDSA P-384, SHA-384) and writes a DER
 * ECDSA-Sig-Value. The TPM hashes msg itself (a hash sequence) and signs only because its own
 * ticket says msg does not start with TPM_GENERATED_VALUE: a restricted key cannot be made to
 * sign something that looks like a quote. */
PCC_API pcc_status pcc_tpm_sign(pcc_tpm *t, uint8_t *der, size_t *der_len, size_t max_der,
                                const uint8_t *msg, size_t msg_len) PCC_WUR;

/* pcc_tpm_ek_cert reads the RSA 2048 EK certificate (DER) from NV index 0x01c00002. */
PCC_API pcc_status pcc_tpm_ek_cert(pcc_tpm *t, uint8_t *out, size_t *out_len,
                                   size_t max_out) PCC_WUR;

/* pcc_tpm_ek_public creates the RSA 2048 EK from the standard template (a primary key of the
 * endorsement hierarchy) and writes its public key as SPKI DER. */
PCC_API pcc_status pcc_tpm_ek_public(pcc_tpm *t, uint8_t *spki, size_t *spki_len,
                                     size_t max_spki) PCC_WUR;

/* pcc_tpm_activate_credential runs TPM2_ActivateCredential for the attestation key under the EK
 * (authorised by PolicySecret(endorsement)) and writes the recovered credential. PCC_E_VERIFY if
 * the TPM refuses it (made for another TPM or another key). */
PCC_API pcc_status pcc_tpm_activate_credential(pcc_tpm *t, uint8_t *cred, size_t *cred_len,
                                               size_t max_cred, const uint8_t *blob,
                                               size_t blob_len, const uint8_t *secret,
                                               size_t secret_len) PCC_WUR;

/* pcc_tpm_ak_duplicate asks the TPM to duplicate (export) the attestation key, authorised by a
 * PolicyCommandCode(TPM2_CC_Duplicate) session, and returns the TPM's answer: PCC_E_VERIFY when it
 * refuses (pcc_tpm_last_rc says why: the AK has no authPolicy that allows duplication, and its
 * fixedParent attribute would forbid it even with one). Tests use it. */
PCC_API pcc_status pcc_tpm_ak_duplicate(pcc_tpm *t) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
