/* pcc/provision.h: the provisioning CA. A P-384 root that certifies node identity keys.
 *
 * The root is a self-signed X.509 v3 certificate (basicConstraints CA:TRUE, pathlen 0, critical;
 * keyUsage keyCertSign and cRLSign, critical; subject and authority key identifiers; ECDSA with
 * SHA-384). Nodes send a PKCS#10 certificate request for a P-384 key whose subject names the
 * machine's hardware serial in a serialNumber attribute (OID 2.5.4.5); the CA checks the request's
 * self-signature and answers with a node certificate signed by the root key itself (no
 * intermediate): subject serialNumber=<serial>, not a CA, keyUsage digitalSignature (critical),
 * a random 128-bit serial number, key identifiers, ECDSA with SHA-384.
 *
 * The caller passes the inventory (the serials of the machines it certifies) to
 * pcc_provision_ca_issue, which refuses a request naming any other serial.
 *
 * The root private key lives in OpenSSL's secure heap inside an object in pcc secure memory; it
 * leaves the object only through pcc_provision_ca_key_pem (for saving). */
#ifndef PCC_PROVISION_H
#define PCC_PROVISION_H

#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_PROVISION_MAX_NAME 64      /* bytes of UTF-8 in the root's common name */
#define PCC_PROVISION_MAX_SERIAL 64    /* characters in a hardware serial */
#define PCC_PROVISION_MAX_CSR 8192     /* bytes of DER in a certificate request */
#define PCC_PROVISION_MAX_CERT 4096    /* bytes of DER in a certificate this module writes */
#define PCC_PROVISION_MAX_KEY_PEM 1024 /* bytes of the PEM PKCS#8 key file */
#define PCC_PROVISION_MAX_DAYS 36500   /* longest validity, in days */

/* A provisioning CA: the root key pair and its certificate. Immutable once made; safe to use from
 * several threads at once. */
typedef struct pcc_provision_ca pcc_provision_ca;

/* pcc_provision_serial_ok returns 1 if s (len bytes) is a valid hardware serial: 1 to
 * PCC_PROVISION_MAX_SERIAL characters from A-Z a-z 0-9 '-' '.' ':' (all of them allowed in an
 * X.520 PrintableString), not starting with '-' or '.'; 0 otherwise. */
PCC_API int pcc_provision_serial_ok(const char *s, size_t len);

/* pcc_provision_ca_generate makes a fresh P-384 root key and its self-signed certificate with
 * common name name (1..PCC_PROVISION_MAX_NAME bytes of UTF-8, no control characters), valid from
 * now (unix seconds) for days days (1..PCC_PROVISION_MAX_DAYS). PCC_E_INVALID for a bad name or
 * validity. Free with pcc_provision_ca_free. */
PCC_API pcc_status pcc_provision_ca_generate(pcc_provision_ca **out, const char *name,
                                             size_t name_len, int64_t now,
                                             uint32_t days) PCC_WUR;

/* pcc_provision_ca_load rebuilds a CA from its key (PEM "PRIVATE KEY", PKCS#8, as
 * pcc_provision_ca_key_pem writes it) and its root certificate (DER). PCC_E_FORMAT if either does
 * not parse, the key is not a valid P-384 key, the certificate is not a P-384 CA certificate, or
 * the two do not belong together. key_pem is only read (the caller wipes it). */
PCC_API pcc_status pcc_provision_ca_load(pcc_provision_ca **out, const uint8_t *key_pem,
                                         size_t key_pem_len, const uint8_t *cert_der,
                                         size_t cert_der_len) PCC_WUR;

/* pcc_provision_ca_root_der writes the root certificate (DER). */
PCC_API pcc_status pcc_provision_ca_root_der(const pcc_provision_ca *ca, uint8_t *out,
                                             size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_provision_ca_key_pem writes the root private key as PEM PKCS#8 ("PRIVATE KEY").
 * WARNING: exports the secret key; out should be secure memory, wiped after use. */
PCC_API pcc_status pcc_provision_ca_key_pem(const pcc_provision_ca *ca, uint8_t *out,
                                            size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_provision_csr_serial checks a certificate request (DER, at most PCC_PROVISION_MAX_CSR
 * bytes, one object filling the buffer, version 1) and writes the hardware serial its subject
 * names (NUL-terminated; max_out must be > PCC_PROVISION_MAX_SERIAL). Errors:
 * PCC_E_FORMAT garbage, trailing bytes, or a subject without exactly one valid serialNumber;
 * PCC_E_UNSUPPORTED a key that is not EC P-384 (named curve) or a signature that is not
 * ECDSA with SHA-384; PCC_E_VERIFY the self-signature does not verify. */
PCC_API pcc_status pcc_provision_csr_serial(char *out, size_t max_out, const uint8_t *csr,
                                            size_t csr_len) PCC_WUR;

/* pcc_provision_ca_issue checks csr as pcc_provision_csr_serial does, writes the serial it names
 * to serial_out (NUL-terminated, serial_max > PCC_PROVISION_MAX_SERIAL) and requires that serial
 * to be one of the inventory_len strings of inventory (PCC_E_UNKNOWN_KEY otherwise; serial_out
 * is still set, as it is public). It then writes a node certificate (DER) valid from now for days
 * days (1..PCC_PROVISION_MAX_DAYS), signed by the root. Extensions in the request are ignored:
 * the certificate carries only what this module sets. */
PCC_API pcc_status pcc_provision_ca_issue(const pcc_provision_ca *ca, uint8_t *out,
                                          size_t *out_len, size_t max_out, char *serial_out,
                                          size_t serial_max, const uint8_t *csr, size_t csr_len,
                                          const char *const *inventory, size_t inventory_len,
                                          int64_t now, uint32_t days) PCC_WUR;

/* PCC_PROVISION_AK_EKU_OID: tcg-kp-AIKCertificate, the extended key usage of a certificate issued
 * to a TPM attestation key (the same value as PCC_TPM_AK_EKU_OID in pcc/tpm.h). */
#define PCC_PROVISION_AK_EKU_OID "2.23.133.8.3"

/* pcc_provision_ca_issue_ak writes a node certificate (DER) for a TPM attestation key: spki (the
 * key as SubjectPublicKeyInfo DER, EC P-384) and the hardware serial serial (serial_len bytes,
 * pcc_provision_serial_ok, one of the inventory's), valid from now for days days, signed by the
 * root, with the extensions of pcc_provision_ca_issue plus extendedKeyUsage
 * tcg-kp-AIKCertificate. There is no request to check: call it ONLY after the credential
 * challenge proved that the key lives in a TPM whose EK certificate chains to a known
 * manufacturer (pcc/tpm.h: pcc_tpm_ek_cert_check, pcc_tpm_ak_check, pcc_tpm_make_credential).
 * PCC_E_INVALID for a bad serial or validity, PCC_E_FORMAT / PCC_E_UNSUPPORTED for a key that
 * does not decode / is not P-384, PCC_E_UNKNOWN_KEY for a serial not in the inventory. */
PCC_API pcc_status pcc_provision_ca_issue_ak(const pcc_provision_ca *ca, uint8_t *out,
                                             size_t *out_len, size_t max_out,
                                             const uint8_t *spki, size_t spki_len,
                                             const char *serial, size_t serial_len,
                                             const char *const *inventory, size_t inventory_len,
                                             int64_t now, uint32_t days) PCC_WUR;

/* pcc_provision_ca_free wipes and frees a CA. Accepts NULL. */
PCC_API void pcc_provision_ca_free(pcc_provision_ca *ca);

#ifdef __cplusplus
}
#endif
#endif
