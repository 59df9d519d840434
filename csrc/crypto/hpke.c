/* hpke.c: HPKE key schedule and encryption contexts, RFC 9180 §5 (modes base, psk, auth,
 * auth_psk), with the KEMs of hpke_kem.c and the primitives of hpke_prim.c.
 *
 * A context holds key, base_nonce and exporter_secret in a small secure object
 * (pcc_secure_small_alloc). The sequence number is a 64-bit counter: a context seals (or opens) at
 * most 2^64 - 1 messages, after which it answers PCC_E_STATE (RFC 9180 §5.2 allows 2^96 - 1 with
 * Nn = 12; the bound here is lower and checked before anything is encrypted). */
#include <string.h>

#include "hpke_internal.h"
#include "pcc/secure.h"

/* RFC 9180 §5.1.2 and §9.5: a PSK MUST have at least 32 bytes of entropy; shorter ones are
 * refused outright. */
#define HPKE_MIN_PSK 32

struct pcc_hpke_ctx {
    pcc_hpke_suite suite;
    uint8_t mode;
    uint8_t is_sender;
    uint8_t pinned_eph; /* sender whose ephemeral key the caller chose (ikm_e / ephemeral) */
    size_t nk, nn, nh;
    uint64_t seq;
    uint8_t suite_id[10];
    uint8_t key[PCC_HPKE_MAX_KEY];
    uint8_t base_nonce[PCC_HPKE_MAX_NONCE];
    uint8_t exporter_secret[HPKE_MAX_NH];
};
_Static_assert(sizeof(struct pcc_hpke_ctx) <= PCC_SECURE_SMALL_MAX,
               "context must fit a secure small object");

pcc_status pcc_hpke_aead_sizes(uint16_t aead, size_t *nk, size_t *nn)
{
    size_t k, n = 12;
    switch (aead) {
    case PCC_HPKE_AEAD_AES128GCM: k = 16; break;
    case PCC_HPKE_AEAD_AES256GCM: k = 32; break;
    case PCC_HPKE_AEAD_CHACHA20POLY1305: k = 32; break;
    case PCC_HPKE_AEAD_EXPORT_ONLY: k = 0; n = 0; break;
    default: return PCC_E_UNSUPPORTED;
    }
    if (nk)
        *nk = k;
    if (nn)
        *nn = n;
    return PCC_OK;
}

pcc_status pcc_hpke_suite_check(pcc_hpke_suite suite)
{
    if (pcc_hpke_kem_sizes(suite.kem, NULL, NULL, NULL) != PCC_OK ||
        hpke_kdf_nh(suite.kdf) == 0 || pcc_hpke_aead_sizes(suite.aead, NULL, NULL) != PCC_OK)
        return PCC_E_UNSUPPORTED;
    return PCC_OK;
}

/* psk_mode is VerifyPSKInputs for a mode chosen from the inputs: 1 when a PSK is given, 0 when
 * none, PCC_E_INVALID (as a negative number) for inconsistent inputs. */
static int psk_mode(const uint8_t *psk, size_t psk_len, const uint8_t *psk_id, size_t psk_id_len)
{
    int got_psk = psk != NULL && psk_len > 0;
    int got_psk_id = psk_id != NULL && psk_id_len > 0;
    /* if got_psk != got_psk_id: raise Exception("Inconsistent PSK inputs") */
    if (got_psk != got_psk_id)
        return -1;
    if (got_psk && psk_len < HPKE_MIN_PSK)
        return -1;
    return got_psk;
}

/* ctx_new allocates a context for suite and fills the sizes and suite_id. */
static pcc_hpke_ctx *ctx_new(pcc_hpke_suite suite, uint8_t mode, int is_sender)
{
    size_t nk, nn;
    if (pcc_hpke_aead_sizes(suite.aead, &nk, &nn) != PCC_OK)
        return NULL;
    pcc_hpke_ctx *c = pcc_secure_small_alloc(sizeof *c);
    if (c == NULL)
        return NULL;
    c->nk = nk;
    c->nn = nn;
    c->suite = suite;
    c->mode = mode;
    c->is_sender = (uint8_t)is_sender;
    c->nh = hpke_kdf_nh(suite.kdf);
    /* suite_id = concat("HPKE", I2OSP(kem_id, 2), I2OSP(kdf_id, 2), I2OSP(aead_id, 2)) */
    uint8_t sid[10] = {'H', 'P', 'K', 'E', (uint8_t)(suite.kem >> 8), (uint8_t)suite.kem,
                       (uint8_t)(suite.kdf >> 8), (uint8_t)suite.kdf,
                       (uint8_t)(suite.aead >> 8), (uint8_t)suite.aead};
    memcpy(c->suite_id, sid, sizeof sid);
    return c;
}

/* key_schedule is KeySchedule<ROLE>(mode, shared_secret, info, psk, psk_id) of §5.1. */
static pcc_status key_schedule(EVP_MAC_CTX *mc, pcc_hpke_ctx *c, const uint8_t *shared_secret,
                               const uint8_t *info, size_t info_len, const uint8_t *psk,
                               size_t psk_len, const uint8_t *psk_id, size_t psk_id_len)
{
    const uint8_t *sid = c->suite_id;
    size_t nh = c->nh;
    uint8_t ksc[1 + 2 * HPKE_MAX_NH];
    uint8_t secret[HPKE_MAX_NH];
    pcc_status st;
    size_t ksc_len = 1 + 2 * nh;
    /* key_schedule_context = concat(mode, psk_id_hash, info_hash) */
    ksc[0] = c->mode;
    /* psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id) */
    if ((st = hpke_labeled_extract(mc, nh, ksc + 1, sid, 10, NULL, 0, "psk_id_hash", psk_id,
                                   psk_id_len)) != PCC_OK)
        goto out;
    /* info_hash = LabeledExtract("", "info_hash", info) */
    if ((st = hpke_labeled_extract(mc, nh, ksc + 1 + nh, sid, 10, NULL, 0, "info_hash", info,
                                   info_len)) != PCC_OK)
        goto out;
    /* secret = LabeledExtract(shared_secret, "secret", psk) */
    if ((st = hpke_labeled_extract(mc, nh, secret, sid, 10, shared_secret, HPKE_NSECRET, "secret",
                                   psk, psk_len)) != PCC_OK)
        goto out;
    /* key = LabeledExpand(secret, "key", key_schedule_context, Nk)
     * base_nonce = LabeledExpand(secret, "base_nonce", key_schedule_context, Nn)
     * (neither for export-only: Nk = Nn = 0) */
    if (c->nk != 0) {
        if ((st = hpke_labeled_expand(mc, nh, c->key, c->nk, sid, 10, secret, nh, "key", ksc,
                                      ksc_len)) != PCC_OK ||
            (st = hpke_labeled_expand(mc, nh, c->base_nonce, c->nn, sid, 10, secret, nh,
                                      "base_nonce", ksc, ksc_len)) != PCC_OK)
            goto out;
    }
    /* exporter_secret = LabeledExpand(secret, "exp", key_schedule_context, Nh) */
    st = hpke_labeled_expand(mc, nh, c->exporter_secret, nh, sid, 10, secret, nh, "exp", ksc,
                             ksc_len);
out:
    pcc_wipe(secret, sizeof secret);
    pcc_wipe(ksc, sizeof ksc);
    return st;
}

/* macs_new makes the HMAC contexts of a setup: one for the KEM (SHA-256), shared with the key
 * schedule when the suite's KDF is also HKDF-SHA256. */
static pcc_status macs_new(uint16_t kdf, EVP_MAC_CTX **kem_mc, EVP_MAC_CTX **ks_mc)
{
    *kem_mc = hpke_mac_new(PCC_HPKE_KDF_HKDF_SHA256);
    *ks_mc = kdf == PCC_HPKE_KDF_HKDF_SHA256 ? *kem_mc : hpke_mac_new(kdf);
    return *kem_mc != NULL && *ks_mc != NULL ? PCC_OK : PCC_E_CRYPTO;
}

static void macs_free(EVP_MAC_CTX *kem_mc, EVP_MAC_CTX *ks_mc)
{
    if (ks_mc != kem_mc)
        EVP_MAC_CTX_free(ks_mc);
    EVP_MAC_CTX_free(kem_mc);
}

/* clear_sender_outputs resets a setup's outputs on an early failure. */
static void clear_sender_outputs(pcc_hpke_ctx **out, size_t *enc_len)
{
    if (out != NULL)
        *out = NULL;
    if (enc_len != NULL)
        *enc_len = 0;
}

/* setup_sender is SetupBaseS/PSKS/AuthS/AuthPSKS with the ephemeral key pair sk_e, or a freshly
 * generated one when sk_e is NULL. Shared by pcc_hpke_setup_sender and
 * pcc_hpke_setup_sender_ephemeral. */
static pcc_status setup_sender(pcc_hpke_ctx **out, uint8_t *enc, size_t *enc_len, size_t max_enc,
                               pcc_hpke_suite suite, const uint8_t *pk_r, size_t pk_r_len,
                               const uint8_t *info, size_t info_len, const uint8_t *psk,
                               size_t psk_len, const uint8_t *psk_id, size_t psk_id_len,
                               const pcc_hpke_key *sender_key, const pcc_hpke_key *sk_e)
{
    uint8_t shared_secret[HPKE_NSECRET];
    EVP_MAC_CTX *kem_mc = NULL, *ks_mc = NULL;
    pcc_hpke_ctx *c = NULL;
    size_t nenc = 0, n = 0;
    pcc_status st;

    if (out == NULL || enc == NULL || enc_len == NULL || (info == NULL && info_len))
        return PCC_E_INVALID;
    *out = NULL;
    *enc_len = 0;
    if ((st = pcc_hpke_suite_check(suite)) != PCC_OK)
        return st;
    if ((st = pcc_hpke_kem_sizes(suite.kem, &nenc, NULL, NULL)) != PCC_OK)
        return st;
    if (max_enc < nenc)
        return PCC_E_LIMIT;
    int pm = psk_mode(psk, psk_len, psk_id, psk_id_len);
    if (pm < 0)
        return PCC_E_INVALID;
    if ((sender_key != NULL && pcc_hpke_key_kem(sender_key) != suite.kem) ||
        (sk_e != NULL && pcc_hpke_key_kem(sk_e) != suite.kem))
        return PCC_E_INVALID;
    uint8_t mode = (uint8_t)(pm | (sender_key != NULL ? PCC_HPKE_MODE_AUTH : 0));
    if ((st = macs_new(suite.kdf, &kem_mc, &ks_mc)) != PCC_OK)
        goto out;
    /* shared_secret, enc = Encap(pkR)  |  AuthEncap(pkR, skS) */
    if ((st = hpke_kem_encap(kem_mc, suite.kem, shared_secret, enc, &n, pk_r, pk_r_len,
                             sender_key, sk_e)) != PCC_OK)
        goto out;
    if ((c = ctx_new(suite, mode, 1)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    c->pinned_eph = sk_e != NULL;
    if ((st = key_schedule(ks_mc, c, shared_secret, info, info_len, psk, psk_len, psk_id,
                           psk_id_len)) != PCC_OK)
        goto out;
    *enc_len = n;
    *out = c;
    c = NULL;
out:
    pcc_hpke_ctx_free(c);
    macs_free(kem_mc, ks_mc);
    pcc_wipe(shared_secret, sizeof shared_secret);
    return st;
}

pcc_status pcc_hpke_setup_sender(pcc_hpke_ctx **out, uint8_t *enc, size_t *enc_len,
                                 size_t max_enc, pcc_hpke_suite suite,
                                 const uint8_t *pk_r, size_t pk_r_len,
                                 const uint8_t *info, size_t info_len,
                                 const uint8_t *psk, size_t psk_len,
                                 const uint8_t *psk_id, size_t psk_id_len,
                                 const pcc_hpke_key *sender_key,
                                 const uint8_t *ikm_e, size_t ikm_e_len)
{
    pcc_hpke_key *sk_e = NULL;
    pcc_status st;
    /* skE, pkE = DeriveKeyPair(ikmE) when the caller pins the ephemeral key (tests only) */
    if (ikm_e != NULL && (st = pcc_hpke_key_derive(&sk_e, suite.kem, ikm_e, ikm_e_len)) != PCC_OK) {
        clear_sender_outputs(out, enc_len);
        return st;
    }
    st = setup_sender(out, enc, enc_len, max_enc, suite, pk_r, pk_r_len, info, info_len, psk,
                      psk_len, psk_id, psk_id_len, sender_key, sk_e);
    pcc_hpke_key_free(sk_e);
    return st;
}

pcc_status pcc_hpke_setup_sender_ephemeral(pcc_hpke_ctx **out, uint8_t *enc, size_t *enc_len,
                                           size_t max_enc, pcc_hpke_suite suite,
                                           const uint8_t *pk_r, size_t pk_r_len,
                                           const uint8_t *info, size_t info_len,
                                           const uint8_t *psk, size_t psk_len,
                                           const uint8_t *psk_id, size_t psk_id_len,
                                           const pcc_hpke_key *sender_key,
                                           const pcc_hpke_key *ephemeral)
{
    if (ephemeral == NULL) {
        clear_sender_outputs(out, enc_len);
        return PCC_E_INVALID;
    }
    return setup_sender(out, enc, enc_len, max_enc, suite, pk_r, pk_r_len, info, info_len, psk,
                        psk_len, psk_id, psk_id_len, sender_key, ephemeral);
}

pcc_status pcc_hpke_setup_recipient(pcc_hpke_ctx **out, pcc_hpke_suite suite,
                                    const uint8_t *enc, size_t enc_len,
                                    const pcc_hpke_key *sk_r,
                                    const uint8_t *info, size_t info_len,
                                    const uint8_t *psk, size_t psk_len,
                                    const uint8_t *psk_id, size_t psk_id_len,
                                    const uint8_t *pk_s, size_t pk_s_len)
{
    uint8_t shared_secret[HPKE_NSECRET];
    EVP_MAC_CTX *kem_mc = NULL, *ks_mc = NULL;
    pcc_hpke_ctx *c = NULL;
    pcc_status st;

    if (out == NULL || sk_r == NULL || (info == NULL && info_len) || (enc == NULL && enc_len))
        return PCC_E_INVALID;
    *out = NULL;
    if ((st = pcc_hpke_suite_check(suite)) != PCC_OK)
        return st;
    if (pcc_hpke_key_kem(sk_r) != suite.kem)
        return PCC_E_INVALID;
    int pm = psk_mode(psk, psk_len, psk_id, psk_id_len);
    if (pm < 0)
        return PCC_E_INVALID;
    uint8_t mode = (uint8_t)(pm | (pk_s != NULL ? PCC_HPKE_MODE_AUTH : 0));
    if ((st = macs_new(suite.kdf, &kem_mc, &ks_mc)) != PCC_OK)
        goto out;
    /* shared_secret = Decap(enc, skR)  |  AuthDecap(enc, skR, pkS) */
    if ((st = hpke_kem_decap(kem_mc, suite.kem, shared_secret, enc, enc_len, sk_r, pk_s,
                             pk_s_len)) != PCC_OK)
        goto out;
    if ((c = ctx_new(suite, mode, 0)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    if ((st = key_schedule(ks_mc, c, shared_secret, info, info_len, psk, psk_len, psk_id,
                           psk_id_len)) != PCC_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    pcc_hpke_ctx_free(c);
    macs_free(kem_mc, ks_mc);
    pcc_wipe(shared_secret, sizeof shared_secret);
    return st;
}

/* compute_nonce: seq_bytes = I2OSP(seq, Nn); return xor(base_nonce, seq_bytes) */
static void compute_nonce(const pcc_hpke_ctx *c, uint8_t *nonce)
{
    memcpy(nonce, c->base_nonce, c->nn);
    uint64_t s = c->seq;
    for (size_t i = 0; i < 8 && i < c->nn; i++) {
        nonce[c->nn - 1 - i] ^= (uint8_t)s;
        s >>= 8;
    }
}

pcc_status pcc_hpke_seal(pcc_hpke_ctx *ctx, uint8_t *ct, size_t *ct_len, size_t max_ct,
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *pt, size_t pt_len)
{
    uint8_t nonce[PCC_HPKE_MAX_NONCE];
    if (ctx == NULL || ct_len == NULL)
        return PCC_E_INVALID;
    *ct_len = 0;
    if (!ctx->is_sender || ctx->nk == 0)
        return PCC_E_UNSUPPORTED;
    /* IncrementSeq: if self.seq >= (1 << (8*Nn)) - 1: raise MessageLimitReachedError
     * (checked before sealing, with the 64-bit bound). */
    if (ctx->seq == UINT64_MAX)
        return PCC_E_STATE;
    compute_nonce(ctx, nonce);
    /* ct = Seal(self.key, self.ComputeNonce(self.seq), aad, pt) */
    pcc_status st = pcc_aead_seal(ctx->suite.aead, ctx->key, ctx->nk, nonce, ctx->nn, aad,
                                  aad_len, pt, pt_len, ct, ct_len, max_ct);
    pcc_wipe(nonce, sizeof nonce);
    if (st == PCC_OK)
        ctx->seq++;
    return st;
}

pcc_status pcc_hpke_open(pcc_hpke_ctx *ctx, uint8_t *pt, size_t *pt_len, size_t max_pt,
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *ct, size_t ct_len)
{
    uint8_t nonce[PCC_HPKE_MAX_NONCE];
    if (ctx == NULL || pt_len == NULL)
        return PCC_E_INVALID;
    *pt_len = 0;
    if (ctx->is_sender || ctx->nk == 0)
        return PCC_E_UNSUPPORTED;
    if (ctx->seq == UINT64_MAX)
        return PCC_E_STATE;
    compute_nonce(ctx, nonce);
    /* pt = Open(self.key, self.ComputeNonce(self.seq), aad, ct); the sequence number advances
     * only when it authenticates. */
    pcc_status st = pcc_aead_open(ctx->suite.aead, ctx->key, ctx->nk, nonce, ctx->nn, aad,
                                  aad_len, ct, ct_len, pt, pt_len, max_pt);
    pcc_wipe(nonce, sizeof nonce);
    if (st == PCC_OK)
        ctx->seq++;
    return st;
}

pcc_status pcc_hpke_export(const pcc_hpke_ctx *ctx, uint8_t *out, size_t out_len,
                           const uint8_t *exporter_context, size_t ec_len)
{
    if (ctx == NULL || (out == NULL && out_len) || (exporter_context == NULL && ec_len))
        return PCC_E_INVALID;
    if (out_len > 255 * ctx->nh)
        return PCC_E_INVALID;
    if (out_len == 0)
        return PCC_OK;
    EVP_MAC_CTX *mc = hpke_mac_new(ctx->suite.kdf);
    if (mc == NULL)
        return PCC_E_CRYPTO;
    /* return LabeledExpand(self.exporter_secret, "sec", exporter_context, L) */
    pcc_status st = hpke_labeled_expand(mc, ctx->nh, out, out_len, ctx->suite_id, 10,
                                        ctx->exporter_secret, ctx->nh, "sec", exporter_context,
                                        ec_len);
    EVP_MAC_CTX_free(mc);
    return st;
}

pcc_hpke_suite pcc_hpke_ctx_suite(const pcc_hpke_ctx *ctx)
{
    pcc_hpke_suite none = {0, 0, 0};
    return ctx ? ctx->suite : none;
}

uint64_t pcc_hpke_ctx_seq(const pcc_hpke_ctx *ctx) { return ctx ? ctx->seq : 0; }

int pcc_hpke_ctx_is_sender(const pcc_hpke_ctx *ctx) { return ctx ? ctx->is_sender : 0; }

pcc_status pcc_hpke_testing_ctx_start_at(pcc_hpke_ctx *ctx, uint64_t seq)
{
    if (ctx == NULL)
        return PCC_E_INVALID;
    /* Only a context that has sealed or opened nothing yet, and for a sender only one whose
     * ephemeral key was drawn at random: its key is new, so no (key, nonce) pair it makes from
     * seq on can have been used before, and it cannot be moved back afterwards. */
    if (ctx->seq != 0 || (ctx->is_sender && ctx->pinned_eph))
        return PCC_E_STATE;
    ctx->seq = seq;
    return PCC_OK;
}

void pcc_hpke_ctx_free(pcc_hpke_ctx *ctx) { pcc_secure_small_free(ctx); }
