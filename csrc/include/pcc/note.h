/* pcc/note.h: C2SP signed notes (c2sp.org/signed-note) with Ed25519, checkpoints
 * (c2sp.org/tlog-checkpoint), Ed25519 cosignatures (c2sp.org/tlog-cosignature, cosignature/v1)
 * and transparency-log proofs (c2sp.org/tlog-proof).
 *
 * A signed note is text ending in a newline, a blank line, then one or more lines
 * "— <key name> base64(key ID[4] || signature)\n". Keys: type 0x01 signs the note text with
 * Ed25519; type 0x04 (a witness cosigner) signs "cosignature/v1\ntime <t>\n" || text and its
 * signature is timestamp[8] || Ed25519 signature. key ID = SHA-256(name || "\n" || type || pub)[:4].
 * Key text forms are Go's golang.org/x/mod/sumdb/note ones: vkey "name+hex8(id)+base64(type||pub)",
 * skey "PRIVATE+KEY+name+hex8(id)+base64(type||seed)".
 *
 * Every parser is strict and treats input as hostile (PCC_E_FORMAT): base64 must be canonical
 * (RFC 4648 §4, padded, zero pad bits); notes must be UTF-8 without control characters other
 * than newline. Seeds live in secure memory; signatures are deterministic (RFC 8032). */
#ifndef PCC_NOTE_H
#define PCC_NOTE_H

#include "pcc/buf.h"
#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_NOTE_ALG_ED25519 0x01   /* signed-note Ed25519 */
#define PCC_NOTE_ALG_COSIG_V1 0x04  /* tlog-cosignature Ed25519 cosignature/v1 */
#define PCC_NOTE_MAX_SIGS 100       /* signature lines per note, as Go's sumdb/note */
#define PCC_NOTE_MAX_LEN (1u << 20) /* bytes in a note or proof (PCC_E_LIMIT beyond) */
#define PCC_NOTE_MAX_PROOF_HASHES 64
#define PCC_NOTE_MAX_TIMESTAMP 0x7fffffffffffffffULL /* cosignature timestamps are < 2^63 */

/* ---- base64 and text rules ------------------------------------------------------------- */

/* pcc_note_b64_encode writes the padded standard base64 of in to out (room for max bytes; needs
 * 4 * ceil(len / 3)) and sets *out_len. No terminating NUL. */
PCC_API pcc_status pcc_note_b64_encode(char *out, size_t *out_len, size_t max, const uint8_t *in,
                                       size_t len) PCC_WUR;

/* pcc_note_b64_decode decodes canonical padded standard base64 (no whitespace, zero pad bits)
 * into out (room for max bytes) and sets *out_len. PCC_E_FORMAT for anything else. */
PCC_API pcc_status pcc_note_b64_decode(uint8_t *out, size_t *out_len, size_t max, const char *in,
                                       size_t len) PCC_WUR;

/* pcc_note_valid_name returns 1 if name is a valid key name: non-empty UTF-8 without '+',
 * Unicode white space (Go's unicode.IsSpace) or control characters; else 0. */
PCC_API int pcc_note_valid_name(const char *name, size_t len);

/* pcc_note_check_text returns PCC_OK if text is valid note text: non-empty, ending in '\n',
 * valid UTF-8, no control characters other than '\n' (else PCC_E_FORMAT; PCC_E_LIMIT when
 * longer than PCC_NOTE_MAX_LEN). */
PCC_API pcc_status pcc_note_check_text(const uint8_t *text, size_t len) PCC_WUR;

/* ---- keys ------------------------------------------------------------------------------ */

/* A named Ed25519 key of type 0x01 or 0x04, public (verifier) or with its seed (signer). */
typedef struct pcc_note_key pcc_note_key;

/* pcc_note_key_generate makes a fresh signer of type alg (0x01 or 0x04) named name. */
PCC_API pcc_status pcc_note_key_generate(pcc_note_key **out, const char *name, size_t name_len,
                                         uint8_t alg) PCC_WUR;

/* pcc_note_key_from_skey parses a Go-format skey and returns a signer of type alg. An alg 0x01
 * signer needs a type 0x01 skey; an alg 0x04 cosigner accepts a type 0x04 skey or, like
 * transparency-dev/formats, a type 0x01 one (same seed, key ID recomputed with 0x04). The key ID
 * in the text must match the key (computed with the skey's own type). Errors: PCC_E_FORMAT for
 * malformed text or a key ID mismatch, PCC_E_UNSUPPORTED for another type byte.
 * WARNING: skey is secret; the caller wipes its copy. */
PCC_API pcc_status pcc_note_key_from_skey(pcc_note_key **out, const char *skey, size_t len,
                                          uint8_t alg) PCC_WUR;

/* pcc_note_key_from_vkey parses a vkey of type 0x01 (note verifier) or 0x04 (cosignature
 * verifier). PCC_E_FORMAT for malformed text, a key that is not 32 bytes or a key ID that does
 * not match; PCC_E_UNSUPPORTED for another type byte. */
PCC_API pcc_status pcc_note_key_from_vkey(pcc_note_key **out, const char *vkey,
                                          size_t len) PCC_WUR;

/* pcc_note_key_free wipes and releases a key. Accepts NULL. */
PCC_API void pcc_note_key_free(pcc_note_key *k);

/* pcc_note_key_name returns the key name (not NUL-terminated) and sets *len. */
PCC_API const char *pcc_note_key_name(const pcc_note_key *k, size_t *len);

/* pcc_note_key_id returns the 32-bit key ID. */
PCC_API uint32_t pcc_note_key_id(const pcc_note_key *k);

/* pcc_note_key_alg returns the key type (0x01 or 0x04). */
PCC_API uint8_t pcc_note_key_alg(const pcc_note_key *k);

/* pcc_note_key_is_signer returns 1 if the key holds its private seed. */
PCC_API int pcc_note_key_is_signer(const pcc_note_key *k);

/* pcc_note_key_public copies the 32-byte Ed25519 public key to out. */
PCC_API void pcc_note_key_public(const pcc_note_key *k, uint8_t out[32]);

/* pcc_note_key_vkey writes the vkey text (no NUL) to out (room for max) and sets *out_len. */
PCC_API pcc_status pcc_note_key_vkey(const pcc_note_key *k, char *out, size_t *out_len,
                                     size_t max) PCC_WUR;

/* pcc_note_key_skey writes the skey text (no NUL) of a signer to out and sets *out_len
 * (PCC_E_STATE for a verifier). WARNING: the output is the private key; wipe it after use. */
PCC_API pcc_status pcc_note_key_skey(const pcc_note_key *k, char *out, size_t *out_len,
                                     size_t max) PCC_WUR;

/* ---- signing ----------------------------------------------------------------------------- */

/* pcc_note_sign_line signs text (valid note text, see pcc_note_check_text) with signer k and
 * appends its signature line "— name base64(...)\n" to w. A 0x04 cosigner signs
 * "cosignature/v1\ntime <timestamp>\n" || text; text must then be a checkpoint and timestamp at
 * most PCC_NOTE_MAX_TIMESTAMP (PCC_E_INVALID); 0x01 signers ignore timestamp. */
PCC_API pcc_status pcc_note_sign_line(const pcc_note_key *k, const uint8_t *text, size_t len,
                                      uint64_t timestamp, pcc_writer *w) PCC_WUR;

/* ---- plain Ed25519 ------------------------------------------------------------------------- */

/* pcc_note_key_sign_raw writes to sig the plain Ed25519 signature (RFC 8032 PureEdDSA) of the
 * bytes msg[0..len) by signer k, whatever its type (0x01 or 0x04). This is not a note
 * signature: no key ID, no text rules, no cosignature header; it is how a publisher signs a
 * binary log leaf. PCC_E_STATE for a verifier, PCC_E_INVALID for NULL arguments.
 * WARNING: Ed25519 over msg is exactly what a note signature is over note text, so signing a
 * message that is valid note text (or a "cosignature/v1" message, with a 0x04 key) this way
 * yields a valid note signature (cosignature) over it. Sign only messages that cannot be note
 * text, such as msgpack leaves (their first byte is not valid UTF-8), or use a separate key. */
PCC_API pcc_status pcc_note_key_sign_raw(const pcc_note_key *k, const uint8_t *msg, size_t len,
                                         uint8_t sig[64]) PCC_WUR;

/* pcc_note_key_verify_raw checks a plain Ed25519 signature (RFC 8032 PureEdDSA, as OpenSSL
 * verifies it; S must be below the group order) of msg[0..len) by key k (a verifier or a
 * signer, of either type). PCC_OK if it verifies, PCC_E_VERIFY if not (the OpenSSL error queue is
 * cleared), PCC_E_NOMEM, PCC_E_INVALID for NULL arguments. */
PCC_API pcc_status pcc_note_key_verify_raw(const pcc_note_key *k, const uint8_t *msg, size_t len,
                                           const uint8_t sig[64]) PCC_WUR;

/* ---- parsed notes ------------------------------------------------------------------------ */

typedef struct pcc_note pcc_note;

/* One signature line. name and sig point into the parsed note. */
typedef struct pcc_note_sig {
    const char *name;
    size_t name_len;
    uint32_t key_id;
    const uint8_t *sig; /* the bytes after the key ID */
    size_t sig_len;
} pcc_note_sig;

/* pcc_note_parse splits and checks a signed note without verifying it: valid UTF-8 without
 * control characters but '\n'; text up to the last blank line; then 1..PCC_NOTE_MAX_SIGS lines,
 * each "— " + valid name + " " + canonical base64 of at least 5 bytes + "\n" (PCC_E_FORMAT
 * otherwise; PCC_E_LIMIT beyond PCC_NOTE_MAX_LEN). The note copies msg. */
PCC_API pcc_status pcc_note_parse(pcc_note **out, const uint8_t *msg, size_t len) PCC_WUR;

/* pcc_note_free releases a parsed note. Accepts NULL. */
PCC_API void pcc_note_free(pcc_note *n);

/* pcc_note_text returns the note text (ends in '\n') and sets *len. */
PCC_API const uint8_t *pcc_note_text(const pcc_note *n, size_t *len);

/* pcc_note_sig_count returns the number of signature lines. */
PCC_API size_t pcc_note_sig_count(const pcc_note *n);

/* pcc_note_get_sig fills *out with signature line i (PCC_E_INVALID when out of range). */
PCC_API pcc_status pcc_note_get_sig(const pcc_note *n, size_t i, pcc_note_sig *out) PCC_WUR;

/* pcc_note_verify verifies a parsed note against known keys (verifiers or signers). A signature
 * line whose (name, key ID) matches no key is ignored. One that matches a key must verify, and
 * a key may sign only once; otherwise PCC_E_VERIFY. At least one signature must verify, else
 * PCC_E_VERIFY. Two different keys with the same name and ID are ambiguous: PCC_E_INVALID.
 * On PCC_OK, key_of_sig[i] (room for pcc_note_sig_count entries) is the index in keys of the
 * key that verified line i, or -1; time_of_sig[i] (may be NULL) is a cosignature's timestamp,
 * or UINT64_MAX for a plain signature or an ignored line. */
PCC_API pcc_status pcc_note_verify(const pcc_note *n, const pcc_note_key *const *keys,
                                   size_t n_keys, int *key_of_sig, uint64_t *time_of_sig) PCC_WUR;

/* ---- checkpoints ------------------------------------------------------------------------- */

/* A checkpoint body. origin and extensions point into the parsed text. */
typedef struct pcc_checkpoint {
    const char *origin;
    size_t origin_len;
    uint64_t size;
    uint8_t root[32];
    const char *extensions; /* zero or more non-empty lines, each ending in '\n' */
    size_t extensions_len;
} pcc_checkpoint;

/* pcc_note_checkpoint_parse parses a checkpoint body strictly: valid note text; a non-empty
 * origin line; the tree size in decimal without sign or leading zeros (but "0"), at most
 * 2^64 - 1; the root as canonical base64 of exactly 32 bytes; then only non-empty extension
 * lines. PCC_E_FORMAT otherwise. */
PCC_API pcc_status pcc_note_checkpoint_parse(pcc_checkpoint *cp, const char *text,
                                             size_t len) PCC_WUR;

/* pcc_note_checkpoint_format appends the body of cp to w; PCC_E_INVALID when the result would
 * not parse back (empty origin, a newline in it, an empty extension line, control characters). */
PCC_API pcc_status pcc_note_checkpoint_format(const pcc_checkpoint *cp, pcc_writer *w) PCC_WUR;

/* ---- tlog-proof -------------------------------------------------------------------------- */

#define PCC_NOTE_PROOF_HEADER "c2sp.org/tlog-proof@v1"

/* A parsed tlog-proof. extra_b64 and checkpoint point into the parsed text. */
typedef struct pcc_note_proof {
    uint64_t index;
    size_t n_hashes;
    uint8_t hashes[PCC_NOTE_MAX_PROOF_HASHES][32];
    int has_extra;
    const char *extra_b64; /* canonical base64 of the extra data (decode with b64_decode) */
    size_t extra_b64_len;
    const char *checkpoint; /* the signed checkpoint note, verbatim */
    size_t checkpoint_len;
} pcc_note_proof;

/* pcc_note_proof_parse parses a c2sp.org/tlog-proof@v1: the header line; an optional
 * "extra <base64>" line; "index <decimal, no leading zeros>"; at most 64 lines of base64 32-byte
 * hashes; an empty line; then a signed note whose text is a checkpoint (checked with
 * pcc_note_parse and pcc_note_checkpoint_parse, not verified). PCC_E_FORMAT otherwise. */
PCC_API pcc_status pcc_note_proof_parse(pcc_note_proof *p, const char *text, size_t len) PCC_WUR;

/* pcc_note_proof_format appends a tlog-proof to w: index, n_hashes 32-byte hashes, extra
 * (written only when has_extra; may be empty) and the signed checkpoint, which must parse as
 * pcc_note_proof_parse requires (PCC_E_INVALID otherwise). */
PCC_API pcc_status pcc_note_proof_format(uint64_t index, const uint8_t *hashes, size_t n_hashes,
                                         int has_extra, const uint8_t *extra, size_t extra_len,
                                         const char *checkpoint, size_t checkpoint_len,
                                         pcc_writer *w) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
