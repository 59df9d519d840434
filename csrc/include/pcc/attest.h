/* pcc/attest.h: node attestation. ECDSA P-384 identity keys, X.509 chains checked against pinned
 * provisioning roots only, measurement registers, and the attestation bundle: built and signed by
 * the enclave, verified by clients into a report of named checks.
 *
 * A bundle is the msgpack map {"body": bin, "sig": bin, "chain": [bin...]}: sig is the DER
 * ECDSA-P384-SHA384 signature of the exact body bytes by the node identity key, chain the node
 * certificate (DER) then any intermediates. body is a msgpack map (see docs/attestation.md):
 *   v 1, node_id bin32, serial str, boot bin16, issued uint, registers [bin48 x3],
 *   events [{reg, name, sha384}], modes {restricted, ephemeral_data, debug,
 *   sandbox {seccomp, landlock, netns}}, hpke {kem, kdf, aead, pk bin32, key_id bin8, not_after},
 *   models [str], release bin (a release log leaf), tlog_proof str (c2sp.org/tlog-proof@v1),
 *   and optionally tpm: {v 1, pcrs [3 PCR indices], attest bin, sig bin}, a TPM quote of the
 *   registers' PCRs bound to the body without that key (pcc/tpm.h; checked as `tpm`).
 * Register extend: R = SHA-384(R || SHA-384(name) || digest), from 48 zero bytes. */
#ifndef PCC_ATTEST_H
#define PCC_ATTEST_H

#include <stdbool.h>

#include "pcc/buf.h"
#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_ATTEST_DIGEST 48               /* SHA-384 */
#define PCC_ATTEST_NODE_ID 32              /* SHA-256 of the identity SPKI DER */
#define PCC_ATTEST_REGISTERS 3             /* 0 code, 1 model, 2 config */
#define PCC_ATTEST_SPKI_LEN 120            /* DER SubjectPublicKeyInfo of a P-384 key */
#define PCC_ATTEST_MAX_SIG 104             /* DER ECDSA P-384 signature, longest */
#define PCC_ATTEST_MAX_CHAIN 4             /* certificates in a bundle's chain */
#define PCC_ATTEST_MAX_CERT 8192           /* bytes in one certificate */
#define PCC_ATTEST_MAX_ROOTS 16            /* pinned provisioning roots */
#define PCC_ATTEST_MAX_BUNDLE (256u * 1024) /* bytes in a bundle */
#define PCC_ATTEST_MAX_EVENTS 256
#define PCC_ATTEST_MAX_MODELS 64
#define PCC_ATTEST_MAX_NAME 256            /* bytes in a serial, event or model name */
#define PCC_ATTEST_MAX_PROOF 32768         /* bytes in the tlog_proof text */
#define PCC_ATTEST_MAX_LEAF 65535          /* bytes in the release leaf */
#define PCC_ATTEST_MAX_SERIAL 64           /* bytes in a CSR serial (PrintableString) */
#define PCC_ATTEST_CLOCK_SKEW 300          /* seconds a timestamp may lie in the future */
#define PCC_ATTEST_MAX_ISSUED_AGE (48u * 3600) /* a bundle older than this is stale */
#define PCC_ATTEST_MAX_KEY_LIFETIME (48u * 3600) /* hpke.not_after - issued, at most */

/* Sandbox layers a Trust may allow off (relax flags). */
#define PCC_ATTEST_RELAX_SECCOMP 0x1u
#define PCC_ATTEST_RELAX_LANDLOCK 0x2u
#define PCC_ATTEST_RELAX_NETNS 0x4u
/* A policy flag passed with the relax flags: refuse bundles without a TPM quote (sim nodes). */
#define PCC_ATTEST_REQUIRE_TPM 0x100u

/* ---- ECDSA P-384 identity keys -------------------------------------------------------------- */

/* A P-384 key pair. The object is a secure small allocation; OpenSSL keeps the private scalar in
 * its secure heap (BN_secure) and clears it when the key is freed. */
typedef struct pcc_p384_key pcc_p384_key;

/* pcc_p384_key_generate makes a fresh key pair. */
PCC_API pcc_status pcc_p384_key_generate(pcc_p384_key **out) PCC_WUR;

/* pcc_p384_key_from_der loads a P-384 private key from PKCS#8 or SEC 1 DER (PCC_E_FORMAT for
 * anything else, a key on another curve included). WARNING: der is secret; wipe the copy. */
PCC_API pcc_status pcc_p384_key_from_der(pcc_p384_key **out, const uint8_t *der,
                                         size_t len) PCC_WUR;

/* pcc_p384_key_export_der writes the private key as unencrypted PKCS#8 DER to out (room for max;
 * 256 bytes suffice). WARNING: the output is the private key; wipe it after use. */
PCC_API pcc_status pcc_p384_key_export_der(const pcc_p384_key *k, uint8_t *out, size_t *out_len,
                                           size_t max) PCC_WUR;

/* pcc_p384_key_free releases a key. Accepts NULL. */
PCC_API void pcc_p384_key_free(pcc_p384_key *k);

/* pcc_p384_key_spki returns the DER SubjectPublicKeyInfo (PCC_ATTEST_SPKI_LEN bytes, named
 * curve, uncompressed point), valid while k lives. */
PCC_API const uint8_t *pcc_p384_key_spki(const pcc_p384_key *k);

/* pcc_p384_key_node_id copies SHA-256 of the SPKI DER (the node id) to out. */
PCC_API void pcc_p384_key_node_id(const pcc_p384_key *k, uint8_t out[PCC_ATTEST_NODE_ID]);

/* pcc_p384_key_sign writes the DER ECDSA-SHA384 signature of msg to sig (room for max;
 * PCC_ATTEST_MAX_SIG suffices) and sets *sig_len. */
PCC_API pcc_status pcc_p384_key_sign(const pcc_p384_key *k, uint8_t *sig, size_t *sig_len,
                                     size_t max, const uint8_t *msg, size_t len) PCC_WUR;

/* pcc_p384_key_csr appends to w a DER PKCS#10 request for k, signed with it (ECDSA-SHA384), whose
 * subject is the single attribute serialNumber (OID 2.5.4.5) = serial. serial is 1..64 bytes of
 * PrintableString characters (letters, digits, space and '()+,-./:=?'), else PCC_E_INVALID. */
PCC_API pcc_status pcc_p384_key_csr(const pcc_p384_key *k, const char *serial, size_t serial_len,
                                    pcc_writer *w) PCC_WUR;

/* pcc_p384_verify checks a DER ECDSA-SHA384 signature of msg by the P-384 key in spki (DER
 * SubjectPublicKeyInfo). PCC_OK, PCC_E_VERIFY (no detail), PCC_E_FORMAT when spki is not a P-384
 * key. */
PCC_API pcc_status pcc_p384_verify(const uint8_t *spki, size_t spki_len, const uint8_t *msg,
                                   size_t len, const uint8_t *sig, size_t sig_len) PCC_WUR;

/* ---- registers ------------------------------------------------------------------------------ */

/* pcc_attest_register_extend replaces reg by SHA-384(reg || SHA-384(name) || digest). */
PCC_API pcc_status pcc_attest_register_extend(uint8_t reg[PCC_ATTEST_DIGEST], const char *name,
                                              size_t name_len,
                                              const uint8_t digest[PCC_ATTEST_DIGEST]) PCC_WUR;

/* ---- building a bundle (the enclave) ---------------------------------------------------------- */

typedef struct pcc_attest_event {
    unsigned reg; /* 0 code, 1 model, 2 config */
    const char *name;
    size_t name_len;
    uint8_t sha384[PCC_ATTEST_DIGEST];
} pcc_attest_event;

typedef struct pcc_attest_text {
    const char *p;
    size_t len;
} pcc_attest_text;

/* Everything Body holds but node_id and v (taken from the key, or node_id below, and fixed). */
typedef struct pcc_attest_body {
    const char *serial;
    size_t serial_len;
    uint8_t boot[16];
    uint64_t issued;
    uint8_t registers[PCC_ATTEST_REGISTERS][PCC_ATTEST_DIGEST];
    const pcc_attest_event *events;
    size_t n_events;
    bool restricted, ephemeral_data, debug;
    bool seccomp, landlock, netns;
    uint16_t kem, kdf, aead;
    uint8_t hpke_pk[32];
    uint8_t key_id[8];
    uint64_t not_after;
    const pcc_attest_text *models;
    size_t n_models;
    const uint8_t *release;
    size_t release_len;
    const char *tlog_proof;
    size_t tlog_proof_len;
    const uint8_t *tpm; /* optional: one encoded msgpack bin or map, written as Body's "tpm" */
    size_t tpm_len;     /* 0 (and tpm NULL) for no "tpm" key */
    const uint8_t *node_id; /* optional: 32 bytes, SHA-256 of the SPKI of a key held elsewhere
                             * (a TPM attestation key); when set, pcc_attest_body_encode takes
                             * node_id from here and its key may be NULL */
} pcc_attest_body;

/* pcc_attest_body_encode appends the msgpack Body (keys sorted, shortest forms; node_id is
 * b->node_id when set, else SHA-256 of key's SPKI) to w. PCC_E_INVALID when a field breaks the limits a verifier applies
 * (names 1..256 bytes, at most 256 events and 64 models, register index above 2, a tpm value
 * that is not one strict msgpack bin or map, ...). Keys are sorted, so the encoding of a Body
 * with a tpm value, minus that key and value, is exactly the encoding without one (what a TPM
 * quote over the body binds). On failure w is as it was. */
PCC_API pcc_status pcc_attest_body_encode(pcc_writer *w, const pcc_attest_body *b,
                                          const pcc_p384_key *key) PCC_WUR;

/* pcc_attest_bundle_encode encodes Body as above, signs it with key and appends the bundle
 * {"body", "sig", "chain"} to w. chain holds n_chain DER certificates (node certificate first,
 * 1..PCC_ATTEST_MAX_CHAIN, each 1..PCC_ATTEST_MAX_CERT bytes); they are not checked here.
 * On failure w is as it was. */
PCC_API pcc_status pcc_attest_bundle_encode(pcc_writer *w, const pcc_attest_body *b,
                                            const pcc_p384_key *key,
                                            const uint8_t *const *chain, const size_t *chain_lens,
                                            size_t n_chain) PCC_WUR;

/* pcc_attest_bundle_assemble appends the bundle {"body", "sig", "chain"} for a body encoded and
 * signed elsewhere (a TPM-resident key signs with pcc_tpm_sign): body 1..PCC_ATTEST_MAX_BUNDLE
 * bytes, sig 8..PCC_ATTEST_MAX_SIG bytes, chain as for pcc_attest_bundle_encode. Nothing is
 * checked but sizes. On failure w is as it was. */
PCC_API pcc_status pcc_attest_bundle_assemble(pcc_writer *w, const uint8_t *body, size_t body_len,
                                              const uint8_t *sig, size_t sig_len,
                                              const uint8_t *const *chain,
                                              const size_t *chain_lens, size_t n_chain) PCC_WUR;

/* ---- verifying a bundle (clients) ------------------------------------------------------------ */

/* What a client pins: provisioning roots, the log key, witness keys and quorum, freshness. It
 * also caches chains that verified (keyed by their exact bytes; validity is still checked at
 * each call's `now`). Safe to share between threads. */
typedef struct pcc_attest_trust pcc_attest_trust;

/* pcc_attest_trust_new makes a trust from n_roots certificates (each DER or PEM; each must be a
 * P-384 certificate), the log's vkey, n_wit witness cosigner vkeys (type 0x04, distinct names),
 * quorum (1..n_wit), max_age_s (cosignatures older than this are stale) and PCC_ATTEST_RELAX_*
 * flags, optionally with PCC_ATTEST_REQUIRE_TPM. PCC_E_INVALID for anything wrong, with *what
 * (may be NULL) naming it. */
PCC_API pcc_status pcc_attest_trust_new(pcc_attest_trust **out, const char **what,
                                        const uint8_t *const *roots, const size_t *root_lens,
                                        size_t n_roots, const char *log_vkey, size_t log_vkey_len,
                                        const char *const *witness_vkeys,
                                        const size_t *witness_lens, size_t n_wit,
                                        unsigned quorum, uint64_t max_age_s,
                                        unsigned relax) PCC_WUR;

/* pcc_attest_trust_free releases a trust and its cache. Accepts NULL. */
PCC_API void pcc_attest_trust_free(pcc_attest_trust *t);

/* pcc_attest_trust_cache_clear forgets every cached chain (benchmarks, tests). */
PCC_API void pcc_attest_trust_cache_clear(pcc_attest_trust *t);

typedef enum pcc_attest_check {
    PCC_CHECK_FORMAT = 0,
    PCC_CHECK_CHAIN,
    PCC_CHECK_SIGNATURE,
    PCC_CHECK_TPM, /* listed only when it applies (tpm_listed) */
    PCC_CHECK_NODE_ID,
    PCC_CHECK_REGISTERS,
    PCC_CHECK_RELEASE,
    PCC_CHECK_TRANSPARENCY,
    PCC_CHECK_FRESHNESS,
    PCC_CHECK_MODES,
    PCC_CHECK_KEY,
    PCC_CHECK_MODEL,
    PCC_CHECK_COUNT
} pcc_attest_check;

/* The outcome of one verification. Checks run in pcc_attest_check order and stop at the first
 * failure: n_checks is one past the last check run; ok[i] and detail[i] (a static public
 * sentence) describe check i < n_checks. The `tpm` check applies only to a bundle whose body has
 * a tpm key, whose node certificate is issued to a TPM attestation key, or under a trust with
 * PCC_ATTEST_REQUIRE_TPM; otherwise tpm_listed is false and a report leaves it out (ok is true
 * there so that every check before the last one run passed). backend_tpm: the body has a tpm
 * key. The node fields are filled once the signed body has decoded
 * (body_decoded); nothing in a report is secret. */
typedef struct pcc_attest_report {
    bool passed;
    size_t n_checks;
    bool ok[PCC_CHECK_COUNT];
    const char *detail[PCC_CHECK_COUNT];
    bool body_decoded;
    bool tpm_listed;
    bool backend_tpm;
    uint8_t node_id[PCC_ATTEST_NODE_ID];
    uint8_t hpke_pk[32];
    uint8_t key_id[8];
    uint16_t kem, kdf, aead;
    uint64_t not_after;
    uint64_t issued;
    uint64_t log_index; /* of the release leaf, once transparency passed */
} pcc_attest_report;

/* pcc_attest_check_name returns the check's report name ("format", "chain", ...), or NULL. */
PCC_API const char *pcc_attest_check_name(unsigned check);

/* pcc_attest_verify verifies a bundle at time now (unix seconds) and fills *rep. model (len
 * model_len) is the model the client wants, or NULL for none. Returns PCC_OK whenever it could
 * judge the bundle, passed or not (rep->passed says which); PCC_E_NOMEM or PCC_E_CRYPTO when it
 * could not, PCC_E_INVALID for bad arguments. Hostile bundles never crash it. */
PCC_API pcc_status pcc_attest_verify(pcc_attest_trust *t, const uint8_t *bundle, size_t len,
                                     const char *model, size_t model_len, uint64_t now,
                                     pcc_attest_report *rep) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
