/* pccreq.c: request key wrapping, request chunks and answer frames (pcc/request.h).
 *
 * Chunks of both directions are AES-128-GCM with nonce = base XOR counter (the counter a 96-bit
 * big-endian integer; here a uint64_t in the low 8 bytes) and aad "final" on the last one only.
 * The answer key schedule is one HKDF-SHA256 extract (salt rnonce, ikm DK) and two expands. */
#include "pcc/request.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "pcc/secure.h"

static const uint8_t REQ_KEY_INFO[] = "pcc request key v1";
static const uint8_t RESP_KEY_INFO[] = "pcc response key v1";
static const uint8_t RESP_NONCE_INFO[] = "pcc response nonce v1";
static const uint8_t FINAL_AAD[] = "final";
#define LABEL_LEN(l) (sizeof(l) - 1)
#define INFO_MAX 64 /* longest label + node id */

struct pcc_request_key {
    uint8_t dk[PCC_REQUEST_DK_LEN];
};

/* chunk_nonce: base XOR the counter as a 96-bit big-endian integer. */
static void chunk_nonce(uint8_t out[PCC_REQUEST_NONCE_LEN], const uint8_t base[PCC_REQUEST_NONCE_LEN],
                        uint64_t counter)
{
    memcpy(out, base, PCC_REQUEST_NONCE_LEN);
    for (size_t i = 0; i < 8; i++)
        out[PCC_REQUEST_NONCE_LEN - 1 - i] ^= (uint8_t)(counter >> (8 * i));
}

/* label_info writes label || node_id into info (at most INFO_MAX bytes). */
static size_t label_info(uint8_t info[INFO_MAX], const uint8_t *label, size_t label_len,
                         const uint8_t *node_id)
{
    memcpy(info, label, label_len);
    memcpy(info + label_len, node_id, PCC_REQUEST_NODE_ID_LEN);
    return label_len + PCC_REQUEST_NODE_ID_LEN;
}

static int node_id_ok(const uint8_t *node_id, size_t len)
{
    return node_id != NULL && len == PCC_REQUEST_NODE_ID_LEN;
}

/* ---- the request key ------------------------------------------------------------------ */

static pcc_status key_alloc(pcc_request_key **out)
{
    if (out == NULL)
        return PCC_E_INVALID;
    *out = pcc_secure_small_alloc(sizeof **out);
    return *out == NULL ? PCC_E_NOMEM : PCC_OK;
}

pcc_status pcc_request_key_generate(pcc_request_key **out)
{
    pcc_status st = key_alloc(out);
    if (st != PCC_OK)
        return st;
    if (RAND_priv_bytes((*out)->dk, PCC_REQUEST_DK_LEN) != 1) {
        pcc_request_key_free(*out);
        *out = NULL;
        return PCC_E_CRYPTO;
    }
    return PCC_OK;
}

pcc_status pcc_request_key_from_bytes(pcc_request_key **out, const uint8_t *raw, size_t raw_len)
{
    if (raw == NULL || raw_len != PCC_REQUEST_DK_LEN)
        return PCC_E_INVALID;
    pcc_status st = key_alloc(out);
    if (st == PCC_OK)
        memcpy((*out)->dk, raw, PCC_REQUEST_DK_LEN);
    return st;
}

pcc_status pcc_request_key_bytes(const pcc_request_key *dk, uint8_t *out, size_t *out_len,
                                 size_t max_out)
{
    if (dk == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    if (max_out < PCC_REQUEST_DK_LEN)
        return PCC_E_LIMIT;
    memcpy(out, dk->dk, PCC_REQUEST_DK_LEN);
    *out_len = PCC_REQUEST_DK_LEN;
    return PCC_OK;
}

void pcc_request_key_free(pcc_request_key *dk) { pcc_secure_small_free(dk); }

static pcc_status wrap(const pcc_request_key *dk, pcc_hpke_suite suite, const uint8_t *pk,
                       size_t pk_len, const uint8_t *node_id, size_t node_id_len,
                       const uint8_t *ikm_e, size_t ikm_e_len, uint8_t *enc, size_t *enc_len,
                       size_t max_enc, uint8_t *ct, size_t *ct_len, size_t max_ct)
{
    pcc_hpke_ctx *ctx = NULL;
    uint8_t info[INFO_MAX];
    if (dk == NULL || pk == NULL || enc == NULL || enc_len == NULL || ct == NULL ||
        ct_len == NULL || !node_id_ok(node_id, node_id_len))
        return PCC_E_INVALID;
    if (suite.aead == PCC_HPKE_AEAD_EXPORT_ONLY)
        return PCC_E_UNSUPPORTED;
    size_t info_len = label_info(info, REQ_KEY_INFO, LABEL_LEN(REQ_KEY_INFO), node_id);
    /* enc, ctx = SetupBaseS(pkR, info); ct = ctx.Seal("", DK) */
    pcc_status st = pcc_hpke_setup_sender(&ctx, enc, enc_len, max_enc, suite, pk, pk_len, info,
                                          info_len, NULL, 0, NULL, 0, NULL, ikm_e, ikm_e_len);
    if (st == PCC_OK)
        st = pcc_hpke_seal(ctx, ct, ct_len, max_ct, NULL, 0, dk->dk, PCC_REQUEST_DK_LEN);
    pcc_hpke_ctx_free(ctx);
    return st;
}

pcc_status pcc_request_key_wrap(const pcc_request_key *dk, pcc_hpke_suite suite,
                                const uint8_t *pk, size_t pk_len,
                                const uint8_t *node_id, size_t node_id_len,
                                uint8_t *enc, size_t *enc_len, size_t max_enc,
                                uint8_t *ct, size_t *ct_len, size_t max_ct)
{
    return wrap(dk, suite, pk, pk_len, node_id, node_id_len, NULL, 0, enc, enc_len, max_enc, ct,
                ct_len, max_ct);
}

pcc_status pcc_request_key_wrap_deterministic(const pcc_request_key *dk, pcc_hpke_suite suite,
                                              const uint8_t *pk, size_t pk_len,
                                              const uint8_t *node_id, size_t node_id_len,
                                              const uint8_t *ikm_e, size_t ikm_e_len,
                                              uint8_t *enc, size_t *enc_len, size_t max_enc,
                                              uint8_t *ct, size_t *ct_len, size_t max_ct)
{
    if (ikm_e == NULL || ikm_e_len == 0)
        return PCC_E_INVALID;
    return wrap(dk, suite, pk, pk_len, node_id, node_id_len, ikm_e, ikm_e_len, enc, enc_len,
                max_enc, ct, ct_len, max_ct);
}

pcc_status pcc_request_key_unwrap(pcc_request_key **out, const pcc_request_node_key *keys,
                                  size_t n_keys, const uint8_t *key_id, size_t key_id_len,
                                  const uint8_t *enc, size_t enc_len,
                                  const uint8_t *ct, size_t ct_len,
                                  const uint8_t *node_id, size_t node_id_len)
{
    pcc_hpke_ctx *ctx = NULL;
    pcc_request_key *dk = NULL;
    uint8_t info[INFO_MAX];
    size_t n = 0;
    if (out == NULL || (keys == NULL && n_keys) || key_id == NULL || enc == NULL || ct == NULL ||
        !node_id_ok(node_id, node_id_len))
        return PCC_E_INVALID;
    *out = NULL;
    if (key_id_len != PCC_REQUEST_KEY_ID_LEN || ct_len != PCC_REQUEST_WRAPPED_LEN)
        return PCC_E_FORMAT;
    const pcc_request_node_key *k = NULL;
    for (size_t i = 0; i < n_keys; i++) {
        /* key ids are public (they are in the bundle): a plain compare */
        if (keys[i].key != NULL && memcmp(keys[i].key_id, key_id, PCC_REQUEST_KEY_ID_LEN) == 0) {
            k = &keys[i];
            break;
        }
    }
    if (k == NULL)
        return PCC_E_UNKNOWN_KEY;
    size_t info_len = label_info(info, REQ_KEY_INFO, LABEL_LEN(REQ_KEY_INFO), node_id);
    pcc_status st = key_alloc(&dk);
    if (st != PCC_OK)
        goto out;
    /* ctx = SetupBaseR(enc, skR, info); DK = ctx.Open("", ct) */
    st = pcc_hpke_setup_recipient(&ctx, k->suite, enc, enc_len, k->key, info, info_len, NULL, 0,
                                  NULL, 0, NULL, 0);
    if (st == PCC_E_FORMAT)
        goto out; /* enc of the wrong size or not a point: public facts */
    if (st != PCC_OK)
        goto out;
    st = pcc_hpke_open(ctx, dk->dk, &n, sizeof dk->dk, NULL, 0, ct, ct_len);
    if (st == PCC_OK && n != PCC_REQUEST_DK_LEN)
        st = PCC_E_DECRYPT;
out:
    pcc_hpke_ctx_free(ctx);
    if (st != PCC_OK) {
        pcc_request_key_free(dk);
        return st;
    }
    *out = dk;
    return PCC_OK;
}

/* ---- request chunks -------------------------------------------------------------------- */

struct pcc_request_sealer {
    uint8_t dk[PCC_REQUEST_DK_LEN];
    uint8_t nonce[PCC_REQUEST_NONCE_LEN];
    uint64_t counter;
    int done;
};

static pcc_status sealer_new(pcc_request_sealer **out, const pcc_request_key *dk,
                             const uint8_t *nonce)
{
    if (out == NULL || dk == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    pcc_request_sealer *s = pcc_secure_small_alloc(sizeof *s);
    if (s == NULL)
        return PCC_E_NOMEM;
    memcpy(s->dk, dk->dk, PCC_REQUEST_DK_LEN);
    if (nonce != NULL) {
        memcpy(s->nonce, nonce, PCC_REQUEST_NONCE_LEN);
    } else if (RAND_bytes(s->nonce, PCC_REQUEST_NONCE_LEN) != 1) {
        pcc_request_sealer_free(s);
        return PCC_E_CRYPTO;
    }
    *out = s;
    return PCC_OK;
}

pcc_status pcc_request_sealer_new(pcc_request_sealer **out, const pcc_request_key *dk)
{
    return sealer_new(out, dk, NULL);
}

pcc_status pcc_request_sealer_new_deterministic(pcc_request_sealer **out,
                                                const pcc_request_key *dk,
                                                const uint8_t *nonce, size_t nonce_len)
{
    if (nonce == NULL || nonce_len != PCC_REQUEST_NONCE_LEN)
        return PCC_E_INVALID;
    return sealer_new(out, dk, nonce);
}

pcc_status pcc_request_sealer_nonce(const pcc_request_sealer *s, uint8_t *out, size_t *out_len,
                                    size_t max_out)
{
    if (s == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    if (max_out < PCC_REQUEST_NONCE_LEN)
        return PCC_E_LIMIT;
    memcpy(out, s->nonce, PCC_REQUEST_NONCE_LEN);
    *out_len = PCC_REQUEST_NONCE_LEN;
    return PCC_OK;
}

/* seal_chunk is one AES-128-GCM chunk at the counter, advancing it. */
static pcc_status seal_chunk(const uint8_t *key, const uint8_t *base, uint64_t *counter,
                             int *done, uint8_t *ct, size_t *ct_len, size_t max_ct,
                             const uint8_t *pt, size_t pt_len, int final, size_t final_max)
{
    uint8_t nonce[PCC_REQUEST_NONCE_LEN];
    if (*done || *counter == UINT64_MAX)
        return PCC_E_STATE;
    if (pt_len > (final ? final_max : PCC_REQUEST_CHUNK_MAX))
        return PCC_E_LIMIT;
    chunk_nonce(nonce, base, *counter);
    pcc_status st = pcc_aead_seal(PCC_HPKE_AEAD_AES128GCM, key, PCC_REQUEST_DK_LEN, nonce,
                                  sizeof nonce, final ? FINAL_AAD : NULL,
                                  final ? LABEL_LEN(FINAL_AAD) : 0, pt, pt_len, ct, ct_len, max_ct);
    if (st != PCC_OK)
        return st;
    (*counter)++;
    if (final)
        *done = 1;
    return PCC_OK;
}

pcc_status pcc_request_sealer_seal(pcc_request_sealer *s, uint8_t *ct, size_t *ct_len,
                                   size_t max_ct, const uint8_t *pt, size_t pt_len, int final)
{
    if (s == NULL || ct == NULL || ct_len == NULL || (pt == NULL && pt_len))
        return PCC_E_INVALID;
    return seal_chunk(s->dk, s->nonce, &s->counter, &s->done, ct, ct_len, max_ct, pt, pt_len,
                      final, PCC_REQUEST_CHUNK_MAX);
}

void pcc_request_sealer_free(pcc_request_sealer *s) { pcc_secure_small_free(s); }

pcc_status pcc_request_open(uint8_t **payload, size_t *payload_len, const pcc_request_key *dk,
                            const uint8_t *nonce, size_t nonce_len,
                            const pcc_request_chunk *chunks, size_t n, size_t max_payload)
{
    uint8_t *pt = NULL;
    size_t total = 0, off = 0;
    pcc_status st;
    if (payload == NULL || payload_len == NULL || dk == NULL || nonce == NULL ||
        (chunks == NULL && n))
        return PCC_E_INVALID;
    *payload = NULL;
    *payload_len = 0;
    if (nonce_len != PCC_REQUEST_NONCE_LEN || n == 0)
        return PCC_E_FORMAT;
    if (n > PCC_REQUEST_MAX_CHUNKS)
        return PCC_E_LIMIT;
    /* sizes are public: check them all before decrypting anything */
    for (size_t i = 0; i < n; i++) {
        if (chunks[i].data == NULL || chunks[i].len < PCC_REQUEST_TAG_LEN)
            return PCC_E_FORMAT;
        if (chunks[i].len > PCC_REQUEST_SEALED_MAX)
            return PCC_E_LIMIT;
        total += chunks[i].len - PCC_REQUEST_TAG_LEN; /* n * 16 KiB cannot overflow */
    }
    if (total == 0)
        return PCC_E_FORMAT;
    if (total > max_payload)
        return PCC_E_LIMIT;
    if ((pt = pcc_secure_alloc(total)) == NULL)
        return PCC_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint8_t cn[PCC_REQUEST_NONCE_LEN];
        size_t got = 0;
        int final = i + 1 == n;
        chunk_nonce(cn, nonce, (uint64_t)i);
        st = pcc_aead_open(PCC_HPKE_AEAD_AES128GCM, dk->dk, PCC_REQUEST_DK_LEN, cn, sizeof cn,
                           final ? FINAL_AAD : NULL, final ? LABEL_LEN(FINAL_AAD) : 0,
                           chunks[i].data, chunks[i].len, pt + off, &got, total - off);
        if (st != PCC_OK)
            goto out;
        off += got;
    }
    st = PCC_OK;
out:
    if (st != PCC_OK) {
        pcc_secure_free(pt); /* wipes what earlier chunks gave */
        return st;
    }
    *payload = pt;
    *payload_len = total;
    return PCC_OK;
}

/* ---- the answer ------------------------------------------------------------------------- */

typedef struct {
    uint8_t rk[PCC_REQUEST_DK_LEN];
    uint8_t nonce[PCC_REQUEST_NONCE_LEN];
} answer_keys;

/* answer_derive: PRK = Extract(salt = rnonce, ikm = DK); RK = Expand(PRK, "pcc response key v1"
 * || node_id, 16); nonce = Expand(PRK, "pcc response nonce v1" || node_id, 12). */
static pcc_status answer_derive(answer_keys *k, const uint8_t *dk, const uint8_t *rnonce,
                                const uint8_t *node_id)
{
    uint8_t prk[32], info[INFO_MAX];
    size_t prk_len = 0, info_len;
    pcc_status st = pcc_hkdf_extract(PCC_HPKE_KDF_HKDF_SHA256, prk, &prk_len, sizeof prk, rnonce,
                                     PCC_ANSWER_RNONCE_LEN, dk, PCC_REQUEST_DK_LEN);
    if (st != PCC_OK)
        goto out;
    info_len = label_info(info, RESP_KEY_INFO, LABEL_LEN(RESP_KEY_INFO), node_id);
    st = pcc_hkdf_expand(PCC_HPKE_KDF_HKDF_SHA256, k->rk, sizeof k->rk, prk, prk_len, info,
                         info_len);
    if (st != PCC_OK)
        goto out;
    info_len = label_info(info, RESP_NONCE_INFO, LABEL_LEN(RESP_NONCE_INFO), node_id);
    st = pcc_hkdf_expand(PCC_HPKE_KDF_HKDF_SHA256, k->nonce, sizeof k->nonce, prk, prk_len, info,
                         info_len);
out:
    pcc_wipe(prk, sizeof prk);
    return st;
}

struct pcc_answer_sealer {
    answer_keys k;
    uint8_t rnonce[PCC_ANSWER_RNONCE_LEN];
    uint64_t counter;
    int done;
};

static pcc_status answer_sealer_new(pcc_answer_sealer **out, const pcc_request_key *dk,
                                    const uint8_t *node_id, size_t node_id_len,
                                    const uint8_t *rnonce)
{
    if (out == NULL || dk == NULL || !node_id_ok(node_id, node_id_len))
        return PCC_E_INVALID;
    *out = NULL;
    pcc_answer_sealer *s = pcc_secure_small_alloc(sizeof *s);
    if (s == NULL)
        return PCC_E_NOMEM;
    pcc_status st = PCC_E_CRYPTO;
    if (rnonce != NULL)
        memcpy(s->rnonce, rnonce, PCC_ANSWER_RNONCE_LEN);
    else if (RAND_bytes(s->rnonce, PCC_ANSWER_RNONCE_LEN) != 1)
        goto out;
    st = answer_derive(&s->k, dk->dk, s->rnonce, node_id);
out:
    if (st != PCC_OK) {
        pcc_answer_sealer_free(s);
        return st;
    }
    *out = s;
    return PCC_OK;
}

pcc_status pcc_answer_sealer_new(pcc_answer_sealer **out, const pcc_request_key *dk,
                                 const uint8_t *node_id, size_t node_id_len)
{
    return answer_sealer_new(out, dk, node_id, node_id_len, NULL);
}

pcc_status pcc_answer_sealer_new_deterministic(pcc_answer_sealer **out,
                                               const pcc_request_key *dk,
                                               const uint8_t *node_id, size_t node_id_len,
                                               const uint8_t *rnonce, size_t rnonce_len)
{
    if (rnonce == NULL || rnonce_len != PCC_ANSWER_RNONCE_LEN)
        return PCC_E_INVALID;
    return answer_sealer_new(out, dk, node_id, node_id_len, rnonce);
}

pcc_status pcc_answer_sealer_rnonce(const pcc_answer_sealer *s, uint8_t *out, size_t *out_len,
                                    size_t max_out)
{
    if (s == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    if (max_out < PCC_ANSWER_RNONCE_LEN)
        return PCC_E_LIMIT;
    memcpy(out, s->rnonce, PCC_ANSWER_RNONCE_LEN);
    *out_len = PCC_ANSWER_RNONCE_LEN;
    return PCC_OK;
}

/* frame_header writes the 4-byte big-endian length of the ct_len-byte frame sealed at out + 4
 * and sets *out_len to the whole record's length. */
static pcc_status frame_header(uint8_t *out, size_t ct_len, size_t *out_len)
{
    out[0] = (uint8_t)(ct_len >> 24);
    out[1] = (uint8_t)(ct_len >> 16);
    out[2] = (uint8_t)(ct_len >> 8);
    out[3] = (uint8_t)ct_len;
    *out_len = ct_len + 4;
    return PCC_OK;
}

pcc_status pcc_answer_sealer_frame(pcc_answer_sealer *s, uint8_t *out, size_t *out_len,
                                   size_t max_out, const uint8_t *pt, size_t pt_len, int final)
{
    size_t ct_len = 0;
    if (s == NULL || out == NULL || out_len == NULL || (pt == NULL && pt_len))
        return PCC_E_INVALID;
    *out_len = 0;
    if (max_out < 4)
        return PCC_E_LIMIT;
    pcc_status st = seal_chunk(s->k.rk, s->k.nonce, &s->counter, &s->done, out + 4, &ct_len,
                               max_out - 4, pt, pt_len, final, PCC_ANSWER_FINAL_CHUNK_MAX);
    return st == PCC_OK ? frame_header(out, ct_len, out_len) : st;
}

/* abort_nonce: the nonce of an abort frame at counter (counter + 2^64 as the 96-bit counter). */
static void abort_nonce(uint8_t out[PCC_REQUEST_NONCE_LEN], const uint8_t base[PCC_REQUEST_NONCE_LEN],
                        uint64_t counter)
{
    chunk_nonce(out, base, counter);
    out[PCC_REQUEST_NONCE_LEN - 9] ^= 0x01;
}

pcc_status pcc_answer_sealer_spare(const pcc_answer_sealer *s, uint8_t *out, size_t *out_len,
                                   size_t max_out, const uint8_t *pt, size_t pt_len)
{
    uint8_t nonce[PCC_REQUEST_NONCE_LEN];
    size_t ct_len = 0;
    if (s == NULL || out == NULL || out_len == NULL || (pt == NULL && pt_len))
        return PCC_E_INVALID;
    *out_len = 0;
    if (s->done || s->counter == UINT64_MAX)
        return PCC_E_STATE;
    if (max_out < 4 || pt_len > PCC_ANSWER_FINAL_CHUNK_MAX)
        return PCC_E_LIMIT;
    abort_nonce(nonce, s->k.nonce, s->counter);
    pcc_status st = pcc_aead_seal(PCC_HPKE_AEAD_AES128GCM, s->k.rk, PCC_REQUEST_DK_LEN, nonce,
                                  sizeof nonce, FINAL_AAD, LABEL_LEN(FINAL_AAD), pt, pt_len,
                                  out + 4, &ct_len, max_out - 4);
    return st == PCC_OK ? frame_header(out, ct_len, out_len) : st;
}

void pcc_answer_sealer_free(pcc_answer_sealer *s) { pcc_secure_small_free(s); }

enum { OPEN_RNONCE, OPEN_FRAMES, OPEN_DONE, OPEN_FAILED };

typedef struct {
    uint8_t dk[PCC_REQUEST_DK_LEN];
    uint8_t node_id[PCC_REQUEST_NODE_ID_LEN];
    answer_keys k;
} opener_secrets;

struct pcc_answer_opener {
    opener_secrets *sec; /* secure memory */
    int state;
    uint64_t counter;
    size_t have;                      /* bytes buffered in buf */
    uint8_t buf[PCC_ANSWER_FINAL_FRAME_MAX]; /* ciphertext only: rnonce or one frame */
};

pcc_status pcc_answer_opener_new(pcc_answer_opener **out, const pcc_request_key *dk,
                                 const uint8_t *node_id, size_t node_id_len)
{
    if (out == NULL || dk == NULL || !node_id_ok(node_id, node_id_len))
        return PCC_E_INVALID;
    *out = NULL;
    pcc_answer_opener *o = calloc(1, sizeof *o);
    if (o == NULL)
        return PCC_E_NOMEM;
    if ((o->sec = pcc_secure_small_alloc(sizeof *o->sec)) == NULL) {
        free(o);
        return PCC_E_NOMEM;
    }
    memcpy(o->sec->dk, dk->dk, PCC_REQUEST_DK_LEN);
    memcpy(o->sec->node_id, node_id, PCC_REQUEST_NODE_ID_LEN);
    o->state = OPEN_RNONCE;
    *out = o;
    return PCC_OK;
}

/* opener_want is how many buffered bytes complete the current unit (rnonce or frame). */
static size_t opener_want(const pcc_answer_opener *o)
{
    if (o->state == OPEN_RNONCE)
        return PCC_ANSWER_RNONCE_LEN;
    if (o->have < 4)
        return 4;
    size_t len = ((size_t)o->buf[0] << 24) | ((size_t)o->buf[1] << 16) |
                 ((size_t)o->buf[2] << 8) | o->buf[3];
    return 4 + len; /* checked against the bounds in push before it is buffered */
}

pcc_status pcc_answer_opener_push(pcc_answer_opener *o, const uint8_t *data, size_t len,
                                  size_t *consumed)
{
    if (o == NULL || consumed == NULL || (data == NULL && len))
        return PCC_E_INVALID;
    *consumed = 0;
    if (o->state == OPEN_FAILED)
        return PCC_E_STATE;
    if (o->state == OPEN_DONE) {
        if (len == 0)
            return PCC_OK;
        o->state = OPEN_FAILED;
        return PCC_E_FORMAT; /* nothing may follow the final frame */
    }
    while (*consumed < len) {
        size_t want = opener_want(o);
        if (o->have >= want)
            break; /* a complete unit waits for pcc_answer_opener_next */
        size_t take = want - o->have;
        if (take > len - *consumed)
            take = len - *consumed;
        memcpy(o->buf + o->have, data + *consumed, take);
        o->have += take;
        *consumed += take;
        if (o->state == OPEN_FRAMES && o->have == 4) {
            size_t flen = opener_want(o) - 4;
            if (flen < PCC_REQUEST_TAG_LEN ||
                flen > PCC_ANSWER_FINAL_CHUNK_MAX + PCC_REQUEST_TAG_LEN) {
                o->state = OPEN_FAILED;
                return PCC_E_FORMAT;
            }
        }
    }
    return PCC_OK;
}

pcc_status pcc_answer_opener_next(pcc_answer_opener *o, uint8_t *pt, size_t *pt_len,
                                  size_t max_pt, int *have, int *final)
{
    if (o == NULL || pt == NULL || pt_len == NULL || have == NULL || final == NULL)
        return PCC_E_INVALID;
    *have = 0;
    *final = 0;
    *pt_len = 0;
    if (o->state == OPEN_FAILED)
        return PCC_E_STATE;
    if (o->state == OPEN_RNONCE) {
        if (o->have < PCC_ANSWER_RNONCE_LEN)
            return PCC_OK;
        pcc_status st = answer_derive(&o->sec->k, o->sec->dk, o->buf, o->sec->node_id);
        if (st != PCC_OK) {
            o->state = OPEN_FAILED;
            return st;
        }
        o->have = 0;
        o->state = OPEN_FRAMES;
    }
    if (o->state != OPEN_FRAMES || o->have < 4 || o->have < opener_want(o))
        return PCC_OK;
    size_t flen = o->have - 4;
    if (max_pt < flen - PCC_REQUEST_TAG_LEN)
        return PCC_E_LIMIT; /* the caller's buffer: try again with a larger one */
    if (o->counter == UINT64_MAX) {
        o->state = OPEN_FAILED;
        return PCC_E_STATE;
    }
    /* The frame does not say whether it is the last: try aad "" and then aad "final". */
    uint8_t cn[PCC_REQUEST_NONCE_LEN];
    chunk_nonce(cn, o->sec->k.nonce, o->counter);
    int is_final = 0;
    pcc_status st = pcc_aead_open(PCC_HPKE_AEAD_AES128GCM, o->sec->k.rk, PCC_REQUEST_DK_LEN, cn,
                                  sizeof cn, NULL, 0, o->buf + 4, flen, pt, pt_len, max_pt);
    if (st == PCC_E_DECRYPT) {
        is_final = 1;
        st = pcc_aead_open(PCC_HPKE_AEAD_AES128GCM, o->sec->k.rk, PCC_REQUEST_DK_LEN, cn,
                           sizeof cn, FINAL_AAD, LABEL_LEN(FINAL_AAD), o->buf + 4, flen, pt,
                           pt_len, max_pt);
    }
    if (st == PCC_E_DECRYPT) { /* an abort frame: the node's worker died at this position */
        abort_nonce(cn, o->sec->k.nonce, o->counter);
        st = pcc_aead_open(PCC_HPKE_AEAD_AES128GCM, o->sec->k.rk, PCC_REQUEST_DK_LEN, cn,
                           sizeof cn, FINAL_AAD, LABEL_LEN(FINAL_AAD), o->buf + 4, flen, pt,
                           pt_len, max_pt);
    }
    if (st == PCC_OK && !is_final && flen > PCC_REQUEST_SEALED_MAX) {
        pcc_wipe(pt, *pt_len);
        *pt_len = 0;
        st = PCC_E_FORMAT; /* only the final chunk may be longer than 16 KiB */
    }
    if (st != PCC_OK) {
        o->state = OPEN_FAILED;
        return st;
    }
    o->counter++;
    o->have = 0;
    *have = 1;
    *final = is_final;
    if (is_final)
        o->state = OPEN_DONE;
    return PCC_OK;
}

pcc_status pcc_answer_opener_finish(const pcc_answer_opener *o)
{
    if (o == NULL)
        return PCC_E_INVALID;
    if (o->state == OPEN_FAILED)
        return PCC_E_STATE;
    return o->state == OPEN_DONE ? PCC_OK : PCC_E_FORMAT;
}

void pcc_answer_opener_free(pcc_answer_opener *o)
{
    if (o == NULL)
        return;
    pcc_secure_small_free(o->sec);
    pcc_wipe(o, sizeof *o);
    free(o);
}
