/* pcc/ohttp.h: Oblivious HTTP, RFC 9458: key configurations (application/ohttp-keys),
 * request encapsulation (message/ohttp-req) and response encapsulation (message/ohttp-res) for
 * binary HTTP messages, on the HPKE of pcc/hpke.h (mode base); and the chunked variant of
 * draft-ietf-ohai-chunked-ohttp (message/ohttp-chunked-req, message/ohttp-chunked-res), below.
 *
 * Client and response contexts hold only what the response step needs (suite, enc and the
 * exported secret) in secure memory; HPKE contexts live only inside one call. The errors say
 * which stage failed and nothing more: PCC_E_FORMAT (truncated or malformed), PCC_E_UNKNOWN_KEY
 * (key identifier not configured), PCC_E_UNSUPPORTED (KEM, KDF or AEAD not implemented or not
 * offered by the key configuration), PCC_E_DECRYPT (authentication failed, including an enc that
 * fails Decap). */
#ifndef PCC_OHTTP_H
#define PCC_OHTTP_H

#include <stdbool.h>

#include "pcc/common.h"
#include "pcc/hpke.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_OHTTP_MAX_SUITES 64           /* symmetric algorithms in one key configuration */
#define PCC_OHTTP_MAX_CONFIGS 64          /* key configurations in one application/ohttp-keys */
#define PCC_OHTTP_MAX_MESSAGE (64u << 20) /* plaintext request or response */
#define PCC_OHTTP_HEADER_LEN 7            /* key_id(1) kem_id(2) kdf_id(2) aead_id(2) */
#define PCC_OHTTP_MAX_RESPONSE_NONCE 32   /* max(Nn, Nk) of every AEAD here */
#define PCC_OHTTP_MAX_KEY_CONFIG \
    (1 + 2 + PCC_HPKE_MAX_PK + 2 + 4 * PCC_OHTTP_MAX_SUITES) /* encoded size bound */

/* One HPKE Symmetric Algorithms entry of a key configuration. */
typedef struct pcc_ohttp_suite {
    uint16_t kdf, aead;
} pcc_ohttp_suite;

/* A key configuration (RFC 9458 §3.1). Public data, a plain value. */
typedef struct pcc_ohttp_key_config {
    uint8_t key_id;
    uint16_t kem;
    uint8_t public_key[PCC_HPKE_MAX_PK];
    size_t public_key_len;
    size_t n_suites;
    pcc_ohttp_suite suites[PCC_OHTTP_MAX_SUITES];
} pcc_ohttp_key_config;

/* pcc_ohttp_key_config_check returns PCC_OK for a configuration that can be encoded: KEM
 * implemented (else PCC_E_UNSUPPORTED), public key of Npk bytes and 1..PCC_OHTTP_MAX_SUITES
 * suites (else PCC_E_INVALID). Suites with ids this library does not implement are allowed. */
PCC_API pcc_status pcc_ohttp_key_config_check(const pcc_ohttp_key_config *cfg) PCC_WUR;

/* pcc_ohttp_key_config_encode writes the Key Config encoding of cfg (checked as above). */
PCC_API pcc_status pcc_ohttp_key_config_encode(const pcc_ohttp_key_config *cfg, uint8_t *out,
                                               size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_ohttp_key_config_decode parses exactly one Key Config filling all of data.
 * PCC_E_UNSUPPORTED for a KEM this library does not implement (Npk unknown), PCC_E_FORMAT for a
 * malformed or truncated encoding or trailing bytes, PCC_E_LIMIT past PCC_OHTTP_MAX_SUITES. */
PCC_API pcc_status pcc_ohttp_key_config_decode(pcc_ohttp_key_config *cfg, const uint8_t *data,
                                               size_t len) PCC_WUR;

/* pcc_ohttp_key_configs_encode writes n configurations as application/ohttp-keys (each with a
 * 2-byte length prefix, RFC 9458 §3.2). n must be 1..PCC_OHTTP_MAX_CONFIGS. */
PCC_API pcc_status pcc_ohttp_key_configs_encode(const pcc_ohttp_key_config *cfgs, size_t n,
                                                uint8_t *out, size_t *out_len,
                                                size_t max_out) PCC_WUR;

/* pcc_ohttp_key_configs_decode parses application/ohttp-keys into out[0..*n_out). The whole
 * collection is rejected (PCC_E_FORMAT) if any part is incorrectly encoded (RFC 9458 §3.2: clients
 * MUST discard it) or it is empty. Configurations whose KEM is not implemented are skipped;
 * PCC_E_UNSUPPORTED if none is left. PCC_E_LIMIT for more than max_out entries. */
PCC_API pcc_status pcc_ohttp_key_configs_decode(pcc_ohttp_key_config *out, size_t *n_out,
                                                size_t max_out, const uint8_t *data,
                                                size_t len) PCC_WUR;

/* pcc_ohttp_select_suite picks the first suite of cfg that this library implements and that
 * matches kdf and aead (0 = any). PCC_E_UNSUPPORTED if there is none (or the KEM is not
 * implemented). */
PCC_API pcc_status pcc_ohttp_select_suite(const pcc_ohttp_key_config *cfg, uint16_t kdf,
                                          uint16_t aead, pcc_ohttp_suite *out) PCC_WUR;

/* ---- client ---- */

/* The client's state between a request and its response (secure memory). */
typedef struct pcc_ohttp_client_ctx pcc_ohttp_client_ctx;

/* pcc_ohttp_encapsulated_request_len gives the Encapsulated Request size for a request of
 * request_len bytes with this KEM: 7 + Nenc + request_len + 16. */
PCC_API pcc_status pcc_ohttp_encapsulated_request_len(uint16_t kem, size_t request_len,
                                                      size_t *out_len) PCC_WUR;

/* pcc_ohttp_encapsulate_request builds an Encapsulated Request (RFC 9458 §4.3) for request
 * with cfg and suite (which cfg must offer, else PCC_E_UNSUPPORTED), and a client context for
 * the response. ikm_e (tests only) makes the ephemeral key DeriveKeyPair(ikm_e). Caller frees
 * *ctx with pcc_ohttp_client_ctx_free. */
PCC_API pcc_status pcc_ohttp_encapsulate_request(pcc_ohttp_client_ctx **ctx, uint8_t *out,
                                                 size_t *out_len, size_t max_out,
                                                 const pcc_ohttp_key_config *cfg,
                                                 pcc_ohttp_suite suite, const uint8_t *request,
                                                 size_t request_len, const uint8_t *ikm_e,
                                                 size_t ikm_e_len) PCC_WUR;

/* pcc_ohttp_encapsulate_request_ephemeral is pcc_ohttp_encapsulate_request with the HPKE
 * ephemeral key pair given (a key of cfg->kem, else PCC_E_INVALID) instead of generated: tests
 * only, to replay RFC 9458 Appendix A, which prints skE.
 * WARNING: an ephemeral key used for two requests breaks their confidentiality. */
PCC_API pcc_status pcc_ohttp_encapsulate_request_ephemeral(pcc_ohttp_client_ctx **ctx,
                                                           uint8_t *out, size_t *out_len,
                                                           size_t max_out,
                                                           const pcc_ohttp_key_config *cfg,
                                                           pcc_ohttp_suite suite,
                                                           const uint8_t *request,
                                                           size_t request_len,
                                                           const pcc_hpke_key *ephemeral) PCC_WUR;

/* pcc_ohttp_client_decapsulate_response opens an Encapsulated Response (RFC 9458 §4.4) into
 * out (at most enc_response_len - max(Nn, Nk) - 16 bytes). PCC_E_FORMAT if it is shorter than the
 * nonce and tag, PCC_E_DECRYPT if it does not authenticate (out is wiped). The context may be
 * used again. */
PCC_API pcc_status pcc_ohttp_client_decapsulate_response(const pcc_ohttp_client_ctx *ctx,
                                                         uint8_t *out, size_t *out_len,
                                                         size_t max_out,
                                                         const uint8_t *enc_response,
                                                         size_t enc_response_len) PCC_WUR;

/* pcc_ohttp_client_ctx_suite gives the suite a client context uses. */
PCC_API pcc_hpke_suite pcc_ohttp_client_ctx_suite(const pcc_ohttp_client_ctx *ctx);

/* pcc_ohttp_client_ctx_free wipes and frees. Accepts NULL. */
PCC_API void pcc_ohttp_client_ctx_free(pcc_ohttp_client_ctx *ctx);

/* ---- gateway ---- */

/* A set of key configurations with their private keys. Immutable once keys are added, so
 * pcc_ohttp_gateway_decapsulate may run on several threads at once. */
typedef struct pcc_ohttp_gateway pcc_ohttp_gateway;

/* The gateway's state between a request and its response (secure memory). */
typedef struct pcc_ohttp_response_ctx pcc_ohttp_response_ctx;

/* pcc_ohttp_gateway_new makes an empty gateway. Caller frees with pcc_ohttp_gateway_free. */
PCC_API pcc_status pcc_ohttp_gateway_new(pcc_ohttp_gateway **out) PCC_WUR;

/* pcc_ohttp_gateway_add_key adds a configuration and its private key. PCC_E_INVALID if the key
 * does not match the configuration (KEM or public key) or the key id is already used,
 * PCC_E_LIMIT past PCC_OHTTP_MAX_CONFIGS.
 * WARNING: sk is borrowed, not copied: it must outlive the gateway. */
PCC_API pcc_status pcc_ohttp_gateway_add_key(pcc_ohttp_gateway *gw,
                                             const pcc_ohttp_key_config *cfg,
                                             const pcc_hpke_key *sk) PCC_WUR;

/* pcc_ohttp_gateway_decapsulate opens an Encapsulated Request into out (at most
 * enc_request_len - 7 - Nenc - 16 bytes; pcc_ohttp_decapsulated_max gives it) and makes a response
 * context. Errors in the order checked: PCC_E_FORMAT (shorter than the header), PCC_E_UNKNOWN_KEY,
 * PCC_E_UNSUPPORTED (KEM, KDF or AEAD not the key's or not offered), PCC_E_FORMAT (enc or tag
 * truncated), PCC_E_LIMIT, PCC_E_DECRYPT (Decap or Open failed; out is wiped). */
PCC_API pcc_status pcc_ohttp_gateway_decapsulate(const pcc_ohttp_gateway *gw,
                                                 pcc_ohttp_response_ctx **ctx, uint8_t *out,
                                                 size_t *out_len, size_t max_out,
                                                 const uint8_t *enc_request,
                                                 size_t enc_request_len) PCC_WUR;

/* pcc_ohttp_decapsulated_max gives an upper bound of the request plaintext size for an
 * Encapsulated Request of len bytes (0 when it is too short to hold one). */
PCC_API size_t pcc_ohttp_decapsulated_max(size_t enc_request_len);

/* pcc_ohttp_response_len gives the Encapsulated Response size for a response of response_len
 * bytes: max(Nn, Nk) + response_len + 16. */
PCC_API pcc_status pcc_ohttp_response_len(const pcc_ohttp_response_ctx *ctx, size_t response_len,
                                          size_t *out_len) PCC_WUR;

/* pcc_ohttp_response_nonce_len gives max(Nn, Nk) for the context's AEAD. */
PCC_API size_t pcc_ohttp_response_nonce_len(const pcc_ohttp_response_ctx *ctx);

/* pcc_ohttp_response_encapsulate builds the Encapsulated Response (RFC 9458 §4.4) with a fresh
 * random response nonce (the caller cannot choose it). A context encapsulates one response: a
 * second call is PCC_E_STATE, and the secret is wiped after the first. */
PCC_API pcc_status pcc_ohttp_response_encapsulate(pcc_ohttp_response_ctx *ctx, uint8_t *out,
                                                  size_t *out_len, size_t max_out,
                                                  const uint8_t *response,
                                                  size_t response_len) PCC_WUR;

/* pcc_ohttp_testing_response_encapsulate_nonce is pcc_ohttp_response_encapsulate with the
 * response nonce given (max(Nn, Nk) bytes, else PCC_E_INVALID), for known-answer tests
 * (RFC 9458 Appendix A) only.
 * WARNING: a replayed request gives the gateway the same secret again; answering both copies with
 * one fixed nonce encrypts two responses under the same AEAD key and nonce. Not exported from the
 * Python extension (no PCC_API); reached only through _core._testing_ohttp_encapsulate_response. */
pcc_status pcc_ohttp_testing_response_encapsulate_nonce(pcc_ohttp_response_ctx *ctx, uint8_t *out,
                                                        size_t *out_len, size_t max_out,
                                                        const uint8_t *response,
                                                        size_t response_len,
                                                        const uint8_t *nonce,
                                                        size_t nonce_len) PCC_WUR;

/* pcc_ohttp_response_ctx_key_id and _suite say which key and suite the request used. */
PCC_API uint8_t pcc_ohttp_response_ctx_key_id(const pcc_ohttp_response_ctx *ctx);
PCC_API pcc_hpke_suite pcc_ohttp_response_ctx_suite(const pcc_ohttp_response_ctx *ctx);

/* pcc_ohttp_response_ctx_free wipes and frees. Accepts NULL. */
PCC_API void pcc_ohttp_response_ctx_free(pcc_ohttp_response_ctx *ctx);

/* pcc_ohttp_gateway_free frees the gateway (not the borrowed keys). Accepts NULL. */
PCC_API void pcc_ohttp_gateway_free(pcc_ohttp_gateway *gw);


/* ---- chunked OHTTP (draft-ietf-ohai-chunked-ohttp) ----
 *
 * message/ohttp-chunked-req and message/ohttp-chunked-res: the request header (or the response
 * nonce) and then chunks, each a QUIC varint length and a sealed chunk; a zero length marks the
 * final chunk, which runs to the end of the stream and is sealed with the AAD "final". Both
 * sides work incrementally in both directions: senders seal chunks as they are produced, and
 * receivers take the stream in pieces of any size and open each chunk as soon as it is whole.
 *
 * Receiving (the _open / _next / _final_len / _finish calls of either side): _open consumes
 * input like zlib's inflate and returns after each of these events: a chunk was opened (its
 * plaintext in out, *out_len > 0), a chunk's length prefix was read, the preamble was read, or the
 * input is used up (*in_used == in_len). It never completes a chunk whose plaintext does not fit
 * in max_out: it stops just before that chunk's last byte, so a caller sizes its output with
 * _next (the plaintext size of the chunk being read and the bytes it still lacks) and calls
 * again. After the final chunk's zero length everything is held until the stream ends; then
 * _finish opens it (_final_len gives its plaintext size). A stream that ends without a final
 * chunk is truncated: _finish returns PCC_E_FORMAT. Errors: PCC_E_FORMAT (malformed or
 * truncated), PCC_E_LIMIT (a chunk longer than PCC_OHTTP_CHUNKED_MAX_CHUNK), PCC_E_DECRYPT (a
 * chunk fails to authenticate, a non-final chunk is empty, or the final chunk lacks its "final"
 * AAD: reordered, tampered, cut or extended), and for the gateway PCC_E_UNKNOWN_KEY and
 * PCC_E_UNSUPPORTED from the header. Every error but _finish's PCC_E_LIMIT is final: out is
 * wiped and every later call returns PCC_E_STATE. Only ciphertext is buffered (heap); plaintext
 * goes straight to out and keys stay in secure memory. */

#define PCC_OHTTP_CHUNKED_CHUNK 16384u           /* chunk size senders should use (draft §3) */
#define PCC_OHTTP_CHUNKED_MAX_CHUNK (256u << 10) /* largest chunk plaintext sealed or accepted */

/* pcc_ohttp_chunked_seal_len gives the bytes one sealed chunk of chunk_len plaintext bytes takes:
 * its minimal varint length (0 for the final chunk) and chunk_len + 16. PCC_E_LIMIT past
 * PCC_OHTTP_CHUNKED_MAX_CHUNK. */
PCC_API pcc_status pcc_ohttp_chunked_seal_len(size_t chunk_len, bool final,
                                              size_t *out_len) PCC_WUR;

/* The client's state for one chunked exchange: seals the request, opens the response. */
typedef struct pcc_ohttp_chunked_client pcc_ohttp_chunked_client;

/* pcc_ohttp_chunked_client_new sets up HPKE for cfg and suite (which cfg must offer, else
 * PCC_E_UNSUPPORTED) with info "message/bhttp chunked request" and writes the Chunked Request
 * Header (7 + Nenc bytes) to hdr. ikm_e (tests only) makes the ephemeral key DeriveKeyPair(ikm_e).
 * Caller frees *out with pcc_ohttp_chunked_client_free. */
PCC_API pcc_status pcc_ohttp_chunked_client_new(pcc_ohttp_chunked_client **out, uint8_t *hdr,
                                                size_t *hdr_len, size_t max_hdr,
                                                const pcc_ohttp_key_config *cfg,
                                                pcc_ohttp_suite suite, const uint8_t *ikm_e,
                                                size_t ikm_e_len) PCC_WUR;

/* pcc_ohttp_chunked_client_new_ephemeral is pcc_ohttp_chunked_client_new with the ephemeral key
 * pair given (tests only: replays the draft's example, which prints skE).
 * WARNING: an ephemeral key used for two requests breaks their confidentiality. */
PCC_API pcc_status pcc_ohttp_chunked_client_new_ephemeral(pcc_ohttp_chunked_client **out,
                                                          uint8_t *hdr, size_t *hdr_len,
                                                          size_t max_hdr,
                                                          const pcc_ohttp_key_config *cfg,
                                                          pcc_ohttp_suite suite,
                                                          const pcc_hpke_key *ephemeral) PCC_WUR;

/* pcc_ohttp_chunked_client_seal seals the next request chunk (pcc_ohttp_chunked_seal_len bytes):
 * a non-final chunk must hold at least one byte (else PCC_E_INVALID); final marks the last one,
 * after which sealing is PCC_E_STATE. */
PCC_API pcc_status pcc_ohttp_chunked_client_seal(pcc_ohttp_chunked_client *c, uint8_t *out,
                                                 size_t *out_len, size_t max_out,
                                                 const uint8_t *chunk, size_t chunk_len,
                                                 bool final) PCC_WUR;

/* pcc_ohttp_chunked_client_open takes the next bytes of the Chunked Encapsulated Response (see
 * "Receiving" above). */
PCC_API pcc_status pcc_ohttp_chunked_client_open(pcc_ohttp_chunked_client *c, uint8_t *out,
                                                 size_t *out_len, size_t max_out,
                                                 const uint8_t *in, size_t in_len,
                                                 size_t *in_used) PCC_WUR;

/* pcc_ohttp_chunked_client_next returns true while a non-final response chunk is being read,
 * with its plaintext size and the input bytes it still lacks. */
PCC_API bool pcc_ohttp_chunked_client_next(const pcc_ohttp_chunked_client *c, size_t *pt_len,
                                           size_t *missing);

/* pcc_ohttp_chunked_client_final_len gives the plaintext size of the final response chunk held
 * so far (0 before its indicator). */
PCC_API size_t pcc_ohttp_chunked_client_final_len(const pcc_ohttp_chunked_client *c);

/* pcc_ohttp_chunked_client_finish opens the final response chunk once the stream has ended. */
PCC_API pcc_status pcc_ohttp_chunked_client_finish(pcc_ohttp_chunked_client *c, uint8_t *out,
                                                   size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_ohttp_chunked_client_suite gives the suite the exchange uses. */
PCC_API pcc_hpke_suite pcc_ohttp_chunked_client_suite(const pcc_ohttp_chunked_client *c);

/* pcc_ohttp_chunked_client_free wipes and frees. Accepts NULL. */
PCC_API void pcc_ohttp_chunked_client_free(pcc_ohttp_chunked_client *c);

/* The gateway's state for one chunked exchange: opens the request, seals the response. */
typedef struct pcc_ohttp_chunked_gateway_ctx pcc_ohttp_chunked_gateway_ctx;

/* pcc_ohttp_chunked_gateway_ctx_new makes a context that reads a request with gw's keys.
 * WARNING: gw is borrowed: it must outlive the context. */
PCC_API pcc_status pcc_ohttp_chunked_gateway_ctx_new(pcc_ohttp_chunked_gateway_ctx **out,
                                                     const pcc_ohttp_gateway *gw) PCC_WUR;

/* pcc_ohttp_chunked_gateway_open takes the next bytes of the Chunked Encapsulated Request (see
 * "Receiving" above); the header's errors come in the order of pcc_ohttp_gateway_decapsulate. */
PCC_API pcc_status pcc_ohttp_chunked_gateway_open(pcc_ohttp_chunked_gateway_ctx *g, uint8_t *out,
                                                  size_t *out_len, size_t max_out,
                                                  const uint8_t *in, size_t in_len,
                                                  size_t *in_used) PCC_WUR;

/* pcc_ohttp_chunked_gateway_next, _final_len and _finish: as the client's, for the request. */
PCC_API bool pcc_ohttp_chunked_gateway_next(const pcc_ohttp_chunked_gateway_ctx *g,
                                            size_t *pt_len, size_t *missing);
PCC_API size_t pcc_ohttp_chunked_gateway_final_len(const pcc_ohttp_chunked_gateway_ctx *g);
PCC_API pcc_status pcc_ohttp_chunked_gateway_finish(pcc_ohttp_chunked_gateway_ctx *g,
                                                    uint8_t *out, size_t *out_len,
                                                    size_t max_out) PCC_WUR;

/* pcc_ohttp_chunked_gateway_header returns true once the request header has been read and
 * opened, with its key id and suite. */
PCC_API bool pcc_ohttp_chunked_gateway_header(const pcc_ohttp_chunked_gateway_ctx *g,
                                              uint8_t *key_id, pcc_hpke_suite *suite);

/* pcc_ohttp_chunked_gateway_nonce_len gives max(Nn, Nk) while the response has not started (the
 * next seal writes the response nonce first), 0 afterwards or before the header. */
PCC_API size_t pcc_ohttp_chunked_gateway_nonce_len(const pcc_ohttp_chunked_gateway_ctx *g);

/* pcc_ohttp_chunked_gateway_seal_len gives the bytes the next seal of chunk_len bytes writes
 * (the response nonce included on the first). PCC_E_STATE before the request header. */
PCC_API pcc_status pcc_ohttp_chunked_gateway_seal_len(const pcc_ohttp_chunked_gateway_ctx *g,
                                                      size_t chunk_len, bool final,
                                                      size_t *out_len) PCC_WUR;

/* pcc_ohttp_chunked_gateway_seal seals the next response chunk; the first call writes a random
 * response nonce before it (the caller cannot choose it). The response may start
 * as soon as the request header is read (PCC_E_STATE before). A non-final chunk must hold at
 * least one byte (PCC_E_INVALID); after the final chunk, or a failed seal once the response has
 * started, sealing is PCC_E_STATE. The response key is wiped after the final chunk. */
PCC_API pcc_status pcc_ohttp_chunked_gateway_seal(pcc_ohttp_chunked_gateway_ctx *g, uint8_t *out,
                                                  size_t *out_len, size_t max_out,
                                                  const uint8_t *chunk, size_t chunk_len,
                                                  bool final) PCC_WUR;

/* pcc_ohttp_testing_chunked_gateway_seal_nonce is pcc_ohttp_chunked_gateway_seal with the
 * response nonce given (max(Nn, Nk) bytes, only for the first chunk, else PCC_E_INVALID), for
 * known-answer tests. WARNING: never use it outside tests: a fixed nonce answering a replayed
 * request seals two responses under the same key and nonce. Not exported from the library. */
pcc_status pcc_ohttp_testing_chunked_gateway_seal_nonce(pcc_ohttp_chunked_gateway_ctx *g,
                                                        uint8_t *out, size_t *out_len,
                                                        size_t max_out, const uint8_t *chunk,
                                                        size_t chunk_len, bool final,
                                                        const uint8_t *nonce,
                                                        size_t nonce_len) PCC_WUR;

/* pcc_ohttp_chunked_gateway_ctx_free wipes and frees. Accepts NULL. */
PCC_API void pcc_ohttp_chunked_gateway_ctx_free(pcc_ohttp_chunked_gateway_ctx *g);

#ifdef __cplusplus
}
#endif
#endif
