/* ohttp.c: Oblivious HTTP, RFC 9458, on pcc/hpke.h. */
#include "pcc/ohttp.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "pcc/buf.h"
#include "pcc/secure.h"


static const char REQUEST_LABEL[] = "message/bhttp request";   /* RFC 9458 §4.3 */
static const char RESPONSE_LABEL[] = "message/bhttp response"; /* RFC 9458 §4.4 */
#define REQUEST_LABEL_LEN (sizeof REQUEST_LABEL - 1)
#define RESPONSE_LABEL_LEN (sizeof RESPONSE_LABEL - 1)
#define INFO_LEN (REQUEST_LABEL_LEN + 1 + PCC_OHTTP_HEADER_LEN)
#define MAX_PRK 64 /* Nh of HKDF-SHA512 */

/* What the response step needs, shared by the client and the gateway side. */
typedef struct resp_state {
    pcc_hpke_suite suite;
    uint8_t key_id;
    uint8_t enc[PCC_HPKE_MAX_ENC];
    size_t enc_len;
    uint8_t secret[PCC_OHTTP_MAX_RESPONSE_NONCE]; /* Export("message/bhttp response", max(Nn,Nk)) */
    size_t secret_len;
    bool used;
} resp_state;

struct pcc_ohttp_client_ctx {
    resp_state s;
};

struct pcc_ohttp_response_ctx {
    resp_state s;
};

/* Contexts are small secure objects (pcc_secure_small_alloc: slots of locked, guard-paged slabs,
 * wiped on free) rather than one pcc_secure_alloc mapping each: a mapping per request cost
 * several system calls. */
_Static_assert(sizeof(resp_state) <= PCC_SECURE_SMALL_MAX,
               "OHTTP context must fit a secure small object");

typedef struct gw_entry {
    pcc_ohttp_key_config cfg;
    const pcc_hpke_key *sk; /* borrowed */
} gw_entry;

struct pcc_ohttp_gateway {
    size_t n;
    gw_entry e[PCC_OHTTP_MAX_CONFIGS];
};

/* ---- helpers ---- */

/* aead_usable: implemented with this KEM and KDF, and not export-only (OHTTP seals). */
static bool suite_usable(uint16_t kem, uint16_t kdf, uint16_t aead)
{
    pcc_hpke_suite s = {kem, kdf, aead};
    return aead != PCC_HPKE_AEAD_EXPORT_ONLY && pcc_hpke_suite_check(s) == PCC_OK;
}

static bool offered(const pcc_ohttp_key_config *cfg, uint16_t kdf, uint16_t aead)
{
    for (size_t i = 0; i < cfg->n_suites; i++)
        if (cfg->suites[i].kdf == kdf && cfg->suites[i].aead == aead)
            return true;
    return false;
}

/* nonce_len is max(Nn, Nk) of the AEAD (RFC 9458 §4.2), with Nk and Nn. */
static pcc_status aead_lens(uint16_t aead, size_t *nk, size_t *nn, size_t *nonce_len)
{
    if (pcc_hpke_aead_sizes(aead, nk, nn) != PCC_OK || *nk == 0 || *nn == 0 ||
        *nk > PCC_HPKE_MAX_KEY || *nn > PCC_HPKE_MAX_NONCE)
        return PCC_E_UNSUPPORTED;
    *nonce_len = *nk > *nn ? *nk : *nn;
    return *nonce_len <= PCC_OHTTP_MAX_RESPONSE_NONCE ? PCC_OK : PCC_E_UNSUPPORTED;
}

static void put_header(uint8_t hdr[PCC_OHTTP_HEADER_LEN], uint8_t key_id, pcc_hpke_suite s)
{
    /* hdr = concat(encode(1, key_id), encode(2, kem_id), encode(2, kdf_id), encode(2, aead_id)) */
    hdr[0] = key_id;
    hdr[1] = (uint8_t)(s.kem >> 8);
    hdr[2] = (uint8_t)s.kem;
    hdr[3] = (uint8_t)(s.kdf >> 8);
    hdr[4] = (uint8_t)s.kdf;
    hdr[5] = (uint8_t)(s.aead >> 8);
    hdr[6] = (uint8_t)s.aead;
}

static void make_info(uint8_t info[INFO_LEN], const uint8_t hdr[PCC_OHTTP_HEADER_LEN])
{
    /* info = concat(encode_str("message/bhttp request"), encode(1, 0), hdr) */
    memcpy(info, REQUEST_LABEL, REQUEST_LABEL_LEN);
    info[REQUEST_LABEL_LEN] = 0;
    memcpy(info + REQUEST_LABEL_LEN + 1, hdr, PCC_OHTTP_HEADER_LEN);
}

/* export_secret fills s->secret from an HPKE context. */
static pcc_status export_secret(resp_state *s, const pcc_hpke_ctx *hctx)
{
    size_t nk, nn, nl;
    pcc_status st = aead_lens(s->suite.aead, &nk, &nn, &nl);
    if (st != PCC_OK)
        return st;
    /* secret = context.Export("message/bhttp response", max(Nn, Nk)) */
    st = pcc_hpke_export(hctx, s->secret, nl, (const uint8_t *)RESPONSE_LABEL, RESPONSE_LABEL_LEN);
    if (st != PCC_OK)
        return st;
    s->secret_len = nl;
    return PCC_OK;
}

/* derive_response_keys derives the response AEAD key and nonce from the exported secret, enc
 * and response_nonce (RFC 9458 §4.4; the chunked variant differs only in the secret's label). */
static pcc_status derive_response_keys(pcc_hpke_suite suite, const uint8_t *enc, size_t enc_len,
                                       const uint8_t *secret, size_t secret_len,
                                       const uint8_t *response_nonce,
                                       uint8_t key[PCC_HPKE_MAX_KEY], size_t *nk,
                                       uint8_t nonce[PCC_HPKE_MAX_NONCE], size_t *nn)
{
    uint8_t salt[PCC_HPKE_MAX_ENC + PCC_OHTTP_MAX_RESPONSE_NONCE];
    uint8_t prk[MAX_PRK];
    size_t prk_len = 0, nl;
    pcc_status st = aead_lens(suite.aead, nk, nn, &nl);
    if (st != PCC_OK)
        return st;
    if (secret_len != nl || enc_len > PCC_HPKE_MAX_ENC)
        return PCC_E_STATE;
    /* salt = concat(enc, response_nonce); prk = Extract(salt, secret) */
    memcpy(salt, enc, enc_len);
    memcpy(salt + enc_len, response_nonce, nl);
    st = pcc_hkdf_extract(suite.kdf, prk, &prk_len, sizeof prk, salt, enc_len + nl, secret,
                          secret_len);
    /* aead_key = Expand(prk, "key", Nk); aead_nonce = Expand(prk, "nonce", Nn) */
    if (st == PCC_OK)
        st = pcc_hkdf_expand(suite.kdf, key, *nk, prk, prk_len, (const uint8_t *)"key", 3);
    if (st == PCC_OK)
        st = pcc_hkdf_expand(suite.kdf, nonce, *nn, prk, prk_len, (const uint8_t *)"nonce", 5);
    pcc_wipe(prk, sizeof prk);
    pcc_wipe(salt, sizeof salt);
    if (st != PCC_OK) {
        pcc_wipe(key, PCC_HPKE_MAX_KEY);
        pcc_wipe(nonce, PCC_HPKE_MAX_NONCE);
    }
    return st;
}

/* response_keys derives the response AEAD key and nonce from the state and response_nonce. */
static pcc_status response_keys(const resp_state *s, const uint8_t *response_nonce,
                                uint8_t key[PCC_HPKE_MAX_KEY], size_t *nk,
                                uint8_t nonce[PCC_HPKE_MAX_NONCE], size_t *nn)
{
    return derive_response_keys(s->suite, s->enc, s->enc_len, s->secret, s->secret_len,
                                response_nonce, key, nk, nonce, nn);
}

/* ---- key configurations ---- */

pcc_status pcc_ohttp_key_config_check(const pcc_ohttp_key_config *cfg)
{
    size_t nenc, npk, nsk;
    if (pcc_hpke_kem_sizes(cfg->kem, &nenc, &npk, &nsk) != PCC_OK)
        return PCC_E_UNSUPPORTED;
    if (cfg->public_key_len != npk || npk > PCC_HPKE_MAX_PK)
        return PCC_E_INVALID;
    if (cfg->n_suites == 0 || cfg->n_suites > PCC_OHTTP_MAX_SUITES)
        return PCC_E_INVALID;
    return PCC_OK;
}

static pcc_status write_config(pcc_writer *w, const pcc_ohttp_key_config *cfg)
{
    /* Key Config { Key Identifier (8), HPKE KEM ID (16), HPKE Public Key (Npk * 8),
     *              HPKE Symmetric Algorithms Length (16) = 4..65532,
     *              HPKE Symmetric Algorithms (32) ... } */
    pcc_status st = pcc_ohttp_key_config_check(cfg);
    if (st == PCC_OK)
        st = pcc_writer_u8(w, cfg->key_id);
    if (st == PCC_OK)
        st = pcc_writer_u16(w, cfg->kem);
    if (st == PCC_OK)
        st = pcc_writer_bytes(w, cfg->public_key, cfg->public_key_len);
    if (st == PCC_OK)
        st = pcc_writer_u16(w, (uint16_t)(4 * cfg->n_suites));
    for (size_t i = 0; i < cfg->n_suites && st == PCC_OK; i++) {
        st = pcc_writer_u16(w, cfg->suites[i].kdf);
        if (st == PCC_OK)
            st = pcc_writer_u16(w, cfg->suites[i].aead);
    }
    return st;
}

static size_t config_len(const pcc_ohttp_key_config *cfg)
{
    return 1 + 2 + cfg->public_key_len + 2 + 4 * cfg->n_suites;
}

pcc_status pcc_ohttp_key_config_encode(const pcc_ohttp_key_config *cfg, uint8_t *out,
                                       size_t *out_len, size_t max_out)
{
    pcc_writer w;
    pcc_writer_init_fixed(&w, out, max_out);
    pcc_status st = write_config(&w, cfg);
    if (st != PCC_OK)
        return st;
    *out_len = w.len;
    return PCC_OK;
}

/* read_config parses one Key Config from r. */
static pcc_status read_config(pcc_reader *r, pcc_ohttp_key_config *cfg)
{
    size_t nenc, npk, nsk;
    uint16_t alen;
    memset(cfg, 0, sizeof *cfg);
    if (pcc_reader_u8(r, &cfg->key_id) != PCC_OK || pcc_reader_u16(r, &cfg->kem) != PCC_OK)
        return PCC_E_FORMAT;
    if (pcc_hpke_kem_sizes(cfg->kem, &nenc, &npk, &nsk) != PCC_OK || npk > PCC_HPKE_MAX_PK)
        return PCC_E_UNSUPPORTED; /* Npk unknown: the rest cannot be parsed */
    if (pcc_reader_copy(r, cfg->public_key, npk) != PCC_OK || pcc_reader_u16(r, &alen) != PCC_OK)
        return PCC_E_FORMAT;
    cfg->public_key_len = npk;
    if (alen < 4 || alen % 4 != 0 || alen > pcc_reader_remaining(r))
        return PCC_E_FORMAT;
    if (alen / 4 > PCC_OHTTP_MAX_SUITES)
        return PCC_E_LIMIT;
    cfg->n_suites = alen / 4u;
    for (size_t i = 0; i < cfg->n_suites; i++)
        if (pcc_reader_u16(r, &cfg->suites[i].kdf) != PCC_OK ||
            pcc_reader_u16(r, &cfg->suites[i].aead) != PCC_OK)
            return PCC_E_FORMAT;
    return PCC_OK;
}

pcc_status pcc_ohttp_key_config_decode(pcc_ohttp_key_config *cfg, const uint8_t *data, size_t len)
{
    pcc_reader r;
    pcc_reader_init(&r, data, len);
    pcc_status st = read_config(&r, cfg);
    if (st == PCC_OK && pcc_reader_remaining(&r) != 0)
        st = PCC_E_FORMAT;
    if (st != PCC_OK)
        memset(cfg, 0, sizeof *cfg);
    return st;
}

pcc_status pcc_ohttp_key_configs_encode(const pcc_ohttp_key_config *cfgs, size_t n, uint8_t *out,
                                        size_t *out_len, size_t max_out)
{
    if (n == 0 || n > PCC_OHTTP_MAX_CONFIGS)
        return PCC_E_INVALID;
    pcc_writer w;
    pcc_writer_init_fixed(&w, out, max_out);
    pcc_status st = PCC_OK;
    for (size_t i = 0; i < n && st == PCC_OK; i++) {
        /* each configuration is prefixed with its length as a 2-byte integer (§3.2) */
        st = pcc_ohttp_key_config_check(&cfgs[i]);
        if (st == PCC_OK)
            st = pcc_writer_u16(&w, (uint16_t)config_len(&cfgs[i]));
        if (st == PCC_OK)
            st = write_config(&w, &cfgs[i]);
    }
    if (st != PCC_OK)
        return st;
    *out_len = w.len;
    return PCC_OK;
}

pcc_status pcc_ohttp_key_configs_decode(pcc_ohttp_key_config *out, size_t *n_out, size_t max_out,
                                        const uint8_t *data, size_t len)
{
    pcc_reader r;
    size_t n = 0, seen = 0;
    pcc_status st = PCC_OK;
    pcc_reader_init(&r, data, len);
    *n_out = 0;
    if (len == 0)
        return PCC_E_FORMAT; /* one or more configurations */
    while (pcc_reader_remaining(&r) > 0) {
        uint16_t l;
        const uint8_t *p;
        pcc_reader sub;
        pcc_ohttp_key_config tmp;
        if (pcc_reader_u16(&r, &l) != PCC_OK || pcc_reader_bytes(&r, &p, l) != PCC_OK || l < 3) {
            st = PCC_E_FORMAT;
            break;
        }
        if (++seen > PCC_OHTTP_MAX_CONFIGS) {
            st = PCC_E_LIMIT;
            break;
        }
        pcc_reader_init(&sub, p, l);
        st = read_config(&sub, &tmp);
        if (st == PCC_E_UNSUPPORTED) { /* a KEM we do not implement: skip it whole */
            st = PCC_OK;
            continue;
        }
        if (st == PCC_OK && pcc_reader_remaining(&sub) != 0)
            st = PCC_E_FORMAT;
        if (st == PCC_OK && n >= max_out)
            st = PCC_E_LIMIT;
        if (st != PCC_OK)
            break;
        out[n++] = tmp;
    }
    if (st == PCC_OK && n == 0)
        st = PCC_E_UNSUPPORTED;
    if (st != PCC_OK) {
        if (n)
            memset(out, 0, n * sizeof *out);
        return st; /* RFC 9458 §3.2: discard an incorrectly encoded collection entirely */
    }
    *n_out = n;
    return PCC_OK;
}

pcc_status pcc_ohttp_select_suite(const pcc_ohttp_key_config *cfg, uint16_t kdf, uint16_t aead,
                                  pcc_ohttp_suite *out)
{
    for (size_t i = 0; i < cfg->n_suites && i < PCC_OHTTP_MAX_SUITES; i++) {
        pcc_ohttp_suite s = cfg->suites[i];
        if ((kdf == 0 || s.kdf == kdf) && (aead == 0 || s.aead == aead) &&
            suite_usable(cfg->kem, s.kdf, s.aead)) {
            *out = s;
            return PCC_OK;
        }
    }
    return PCC_E_UNSUPPORTED;
}

/* ---- client ---- */

pcc_status pcc_ohttp_encapsulated_request_len(uint16_t kem, size_t request_len, size_t *out_len)
{
    size_t nenc, npk, nsk;
    if (pcc_hpke_kem_sizes(kem, &nenc, &npk, &nsk) != PCC_OK)
        return PCC_E_UNSUPPORTED;
    if (request_len > PCC_OHTTP_MAX_MESSAGE)
        return PCC_E_LIMIT;
    *out_len = PCC_OHTTP_HEADER_LEN + nenc + request_len + PCC_HPKE_TAG_LEN;
    return PCC_OK;
}

/* encapsulate_request is pcc_ohttp_encapsulate_request with the ephemeral key chosen by one of
 * ikm_e (DeriveKeyPair) or sk_e (given), or generated when both are NULL. */
static pcc_status encapsulate_request(pcc_ohttp_client_ctx **ctx, uint8_t *out, size_t *out_len,
                                      size_t max_out, const pcc_ohttp_key_config *cfg,
                                      pcc_ohttp_suite suite, const uint8_t *request,
                                      size_t request_len, const uint8_t *ikm_e, size_t ikm_e_len,
                                      const pcc_hpke_key *sk_e)
{
    pcc_hpke_ctx *hctx = NULL;
    pcc_ohttp_client_ctx *c = NULL;
    uint8_t hdr[PCC_OHTTP_HEADER_LEN], info[INFO_LEN];
    size_t need, enc_len = 0, ct_len = 0;
    pcc_status st;
    *ctx = NULL;
    if ((st = pcc_ohttp_key_config_check(cfg)) != PCC_OK)
        return st;
    if (!offered(cfg, suite.kdf, suite.aead) || !suite_usable(cfg->kem, suite.kdf, suite.aead))
        return PCC_E_UNSUPPORTED;
    if (request == NULL && request_len)
        return PCC_E_INVALID;
    if ((st = pcc_ohttp_encapsulated_request_len(cfg->kem, request_len, &need)) != PCC_OK)
        return st;
    if (out == NULL || max_out < need)
        return PCC_E_LIMIT;
    if ((c = pcc_secure_small_alloc(sizeof *c)) == NULL)
        return PCC_E_NOMEM;
    c->s.suite = (pcc_hpke_suite){cfg->kem, suite.kdf, suite.aead};
    c->s.key_id = cfg->key_id;
    put_header(hdr, cfg->key_id, c->s.suite);
    make_info(info, hdr);
    /* enc, sctxt = SetupBaseS(pkR, info) */
    if (sk_e != NULL)
        st = pcc_hpke_setup_sender_ephemeral(&hctx, c->s.enc, &enc_len, sizeof c->s.enc,
                                             c->s.suite, cfg->public_key, cfg->public_key_len,
                                             info, sizeof info, NULL, 0, NULL, 0, NULL, sk_e);
    else
        st = pcc_hpke_setup_sender(&hctx, c->s.enc, &enc_len, sizeof c->s.enc, c->s.suite,
                                   cfg->public_key, cfg->public_key_len, info, sizeof info, NULL,
                                   0, NULL, 0, NULL, ikm_e, ikm_e_len);
    if (st != PCC_OK)
        goto out;
    c->s.enc_len = enc_len;
    if (PCC_OHTTP_HEADER_LEN + enc_len + request_len + PCC_HPKE_TAG_LEN != need) {
        st = PCC_E_CRYPTO;
        goto out;
    }
    /* ct = sctxt.Seal("", request); enc_request = concat(hdr, enc, ct) */
    memcpy(out, hdr, sizeof hdr);
    memcpy(out + sizeof hdr, c->s.enc, enc_len);
    st = pcc_hpke_seal(hctx, out + sizeof hdr + enc_len, &ct_len, max_out - sizeof hdr - enc_len,
                       NULL, 0, request, request_len);
    if (st != PCC_OK)
        goto out;
    if ((st = export_secret(&c->s, hctx)) != PCC_OK)
        goto out;
    *out_len = sizeof hdr + enc_len + ct_len;
    *ctx = c;
    c = NULL;
out:
    pcc_hpke_ctx_free(hctx);
    pcc_secure_small_free(c);
    if (st != PCC_OK)
        pcc_wipe(out, max_out);
    return st;
}

pcc_status pcc_ohttp_encapsulate_request(pcc_ohttp_client_ctx **ctx, uint8_t *out,
                                         size_t *out_len, size_t max_out,
                                         const pcc_ohttp_key_config *cfg, pcc_ohttp_suite suite,
                                         const uint8_t *request, size_t request_len,
                                         const uint8_t *ikm_e, size_t ikm_e_len)
{
    return encapsulate_request(ctx, out, out_len, max_out, cfg, suite, request, request_len, ikm_e,
                               ikm_e_len, NULL);
}

pcc_status pcc_ohttp_encapsulate_request_ephemeral(pcc_ohttp_client_ctx **ctx, uint8_t *out,
                                                   size_t *out_len, size_t max_out,
                                                   const pcc_ohttp_key_config *cfg,
                                                   pcc_ohttp_suite suite, const uint8_t *request,
                                                   size_t request_len,
                                                   const pcc_hpke_key *ephemeral)
{
    if (ephemeral == NULL) {
        *ctx = NULL;
        return PCC_E_INVALID;
    }
    return encapsulate_request(ctx, out, out_len, max_out, cfg, suite, request, request_len, NULL,
                               0, ephemeral);
}

pcc_status pcc_ohttp_client_decapsulate_response(const pcc_ohttp_client_ctx *ctx, uint8_t *out,
                                                 size_t *out_len, size_t max_out,
                                                 const uint8_t *enc_response,
                                                 size_t enc_response_len)
{
    uint8_t key[PCC_HPKE_MAX_KEY], nonce[PCC_HPKE_MAX_NONCE];
    size_t nk, nn, nl, pt_len = 0;
    pcc_status st = aead_lens(ctx->s.suite.aead, &nk, &nn, &nl);
    if (st != PCC_OK)
        return st;
    /* Encapsulated Response { Nonce (8 * max(Nn, Nk)), AEAD-Protected Response (..) } */
    if (enc_response == NULL || enc_response_len < nl + PCC_HPKE_TAG_LEN)
        return PCC_E_FORMAT;
    size_t ct_len = enc_response_len - nl;
    if (ct_len - PCC_HPKE_TAG_LEN > PCC_OHTTP_MAX_MESSAGE)
        return PCC_E_LIMIT;
    if ((out == NULL && ct_len > PCC_HPKE_TAG_LEN) || max_out < ct_len - PCC_HPKE_TAG_LEN)
        return PCC_E_LIMIT;
    if ((st = response_keys(&ctx->s, enc_response, key, &nk, nonce, &nn)) != PCC_OK)
        return st;
    /* response, error = Open(aead_key, aead_nonce, "", ct) */
    st = pcc_aead_open(ctx->s.suite.aead, key, nk, nonce, nn, NULL, 0, enc_response + nl, ct_len,
                       out, &pt_len, max_out);
    pcc_wipe(key, sizeof key);
    pcc_wipe(nonce, sizeof nonce);
    if (st != PCC_OK) {
        if (out != NULL)
            pcc_wipe(out, max_out);
        return st == PCC_E_NOMEM ? st : PCC_E_DECRYPT;
    }
    *out_len = pt_len;
    return PCC_OK;
}

pcc_hpke_suite pcc_ohttp_client_ctx_suite(const pcc_ohttp_client_ctx *ctx) { return ctx->s.suite; }

void pcc_ohttp_client_ctx_free(pcc_ohttp_client_ctx *ctx) { pcc_secure_small_free(ctx); }

/* ---- gateway ---- */

pcc_status pcc_ohttp_gateway_new(pcc_ohttp_gateway **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? PCC_OK : PCC_E_NOMEM;
}

void pcc_ohttp_gateway_free(pcc_ohttp_gateway *gw) { free(gw); }

pcc_status pcc_ohttp_gateway_add_key(pcc_ohttp_gateway *gw, const pcc_ohttp_key_config *cfg,
                                     const pcc_hpke_key *sk)
{
    uint8_t pk[PCC_HPKE_MAX_PK];
    size_t pk_len = 0;
    pcc_status st = pcc_ohttp_key_config_check(cfg);
    if (st != PCC_OK)
        return st;
    if (sk == NULL || pcc_hpke_key_kem(sk) != cfg->kem)
        return PCC_E_INVALID;
    if ((st = pcc_hpke_key_public(sk, pk, &pk_len, sizeof pk)) != PCC_OK)
        return st;
    if (pk_len != cfg->public_key_len || memcmp(pk, cfg->public_key, pk_len) != 0)
        return PCC_E_INVALID; /* the configuration does not publish this key */
    for (size_t i = 0; i < gw->n; i++)
        if (gw->e[i].cfg.key_id == cfg->key_id)
            return PCC_E_INVALID;
    if (gw->n >= PCC_OHTTP_MAX_CONFIGS)
        return PCC_E_LIMIT;
    gw->e[gw->n].cfg = *cfg;
    gw->e[gw->n].sk = sk;
    gw->n++;
    return PCC_OK;
}

size_t pcc_ohttp_decapsulated_max(size_t enc_request_len)
{
    size_t min = PCC_OHTTP_HEADER_LEN + 32 + PCC_HPKE_TAG_LEN; /* smallest Nenc here is 32 */
    return enc_request_len < min ? 0 : enc_request_len - min;
}

pcc_status pcc_ohttp_gateway_decapsulate(const pcc_ohttp_gateway *gw, pcc_ohttp_response_ctx **ctx,
                                         uint8_t *out, size_t *out_len, size_t max_out,
                                         const uint8_t *enc_request, size_t enc_request_len)
{
    pcc_reader r;
    pcc_hpke_suite suite;
    uint8_t key_id, hdr[PCC_OHTTP_HEADER_LEN], info[INFO_LEN];
    const uint8_t *enc, *ct;
    size_t nenc, npk, nsk, ct_len, pt_len = 0;
    pcc_hpke_ctx *hctx = NULL;
    pcc_ohttp_response_ctx *c = NULL;
    const gw_entry *e = NULL;
    pcc_status st;
    *ctx = NULL;
    /* key_id, kem_id, kdf_id, aead_id, enc, ct = parse(enc_request) */
    pcc_reader_init(&r, enc_request, enc_request_len);
    if (pcc_reader_u8(&r, &key_id) != PCC_OK || pcc_reader_u16(&r, &suite.kem) != PCC_OK ||
        pcc_reader_u16(&r, &suite.kdf) != PCC_OK || pcc_reader_u16(&r, &suite.aead) != PCC_OK)
        return PCC_E_FORMAT;
    for (size_t i = 0; i < gw->n && e == NULL; i++)
        if (gw->e[i].cfg.key_id == key_id)
            e = &gw->e[i];
    if (e == NULL)
        return PCC_E_UNKNOWN_KEY;
    /* "If key_id does not identify a key matching the type of kem_id" / "If kdf_id and aead_id
     * identify a combination ... the gateway is unwilling to use with skR": an error each. */
    if (suite.kem != e->cfg.kem || !offered(&e->cfg, suite.kdf, suite.aead) ||
        !suite_usable(suite.kem, suite.kdf, suite.aead))
        return PCC_E_UNSUPPORTED;
    if (pcc_hpke_kem_sizes(suite.kem, &nenc, &npk, &nsk) != PCC_OK)
        return PCC_E_UNSUPPORTED;
    if (pcc_reader_bytes(&r, &enc, nenc) != PCC_OK || pcc_reader_remaining(&r) < PCC_HPKE_TAG_LEN)
        return PCC_E_FORMAT;
    ct_len = pcc_reader_remaining(&r);
    if (pcc_reader_bytes(&r, &ct, ct_len) != PCC_OK)
        return PCC_E_FORMAT;
    if (ct_len - PCC_HPKE_TAG_LEN > PCC_OHTTP_MAX_MESSAGE)
        return PCC_E_LIMIT;
    if ((out == NULL && ct_len > PCC_HPKE_TAG_LEN) || max_out < ct_len - PCC_HPKE_TAG_LEN)
        return PCC_E_LIMIT;
    if ((c = pcc_secure_small_alloc(sizeof *c)) == NULL)
        return PCC_E_NOMEM;
    c->s.suite = suite;
    c->s.key_id = key_id;
    memcpy(c->s.enc, enc, nenc);
    c->s.enc_len = nenc;
    /* info = concat(encode_str("message/bhttp request"), encode(1, 0), encode(1, key_id),
     *               encode(2, kem_id), encode(2, kdf_id), encode(2, aead_id)) */
    put_header(hdr, key_id, suite);
    make_info(info, hdr);
    /* rctxt = SetupBaseR(enc, skR, info) */
    st = pcc_hpke_setup_recipient(&hctx, suite, enc, nenc, e->sk, info, sizeof info, NULL, 0,
                                  NULL, 0, NULL, 0);
    if (st != PCC_OK) {
        st = st == PCC_E_NOMEM ? st : PCC_E_DECRYPT; /* a bad enc is tampering, like a bad tag */
        goto out;
    }
    /* request, error = rctxt.Open("", ct) */
    st = pcc_hpke_open(hctx, out, &pt_len, max_out, NULL, 0, ct, ct_len);
    if (st != PCC_OK) {
        st = st == PCC_E_NOMEM ? st : PCC_E_DECRYPT;
        goto out;
    }
    if ((st = export_secret(&c->s, hctx)) != PCC_OK)
        goto out;
    *out_len = pt_len;
    *ctx = c;
    c = NULL;
out:
    pcc_hpke_ctx_free(hctx);
    pcc_secure_small_free(c);
    if (st != PCC_OK && out != NULL)
        pcc_wipe(out, max_out);
    return st;
}

size_t pcc_ohttp_response_nonce_len(const pcc_ohttp_response_ctx *ctx)
{
    size_t nk, nn, nl;
    return aead_lens(ctx->s.suite.aead, &nk, &nn, &nl) == PCC_OK ? nl : 0;
}

pcc_status pcc_ohttp_response_len(const pcc_ohttp_response_ctx *ctx, size_t response_len,
                                  size_t *out_len)
{
    size_t nl = pcc_ohttp_response_nonce_len(ctx);
    if (nl == 0)
        return PCC_E_UNSUPPORTED;
    if (response_len > PCC_OHTTP_MAX_MESSAGE)
        return PCC_E_LIMIT;
    *out_len = nl + response_len + PCC_HPKE_TAG_LEN;
    return PCC_OK;
}

/* response_encapsulate is pcc_ohttp_response_encapsulate with the response nonce either drawn
 * at random (nonce NULL) or given by the known-answer test entry point. */
static pcc_status response_encapsulate(pcc_ohttp_response_ctx *ctx, uint8_t *out,
                                       size_t *out_len, size_t max_out, const uint8_t *response,
                                       size_t response_len, const uint8_t *nonce,
                                       size_t nonce_len)
{
    uint8_t key[PCC_HPKE_MAX_KEY], aead_nonce[PCC_HPKE_MAX_NONCE];
    size_t nk, nn, need, ct_len = 0;
    size_t nl = pcc_ohttp_response_nonce_len(ctx);
    pcc_status st;
    if (ctx->s.used)
        return PCC_E_STATE; /* one response per request: never reuse the secret */
    if ((nonce != NULL && nonce_len != nl) || (response == NULL && response_len))
        return PCC_E_INVALID;
    if ((st = pcc_ohttp_response_len(ctx, response_len, &need)) != PCC_OK)
        return st;
    if (out == NULL || max_out < need)
        return PCC_E_LIMIT;
    /* response_nonce = random(max(Nn, Nk)) */
    if (nonce != NULL)
        memcpy(out, nonce, nl);
    else if (RAND_bytes(out, (int)nl) != 1)
        return PCC_E_CRYPTO;
    if ((st = response_keys(&ctx->s, out, key, &nk, aead_nonce, &nn)) != PCC_OK)
        goto out;
    /* ct = Seal(aead_key, aead_nonce, "", response); enc_response = concat(response_nonce, ct) */
    st = pcc_aead_seal(ctx->s.suite.aead, key, nk, aead_nonce, nn, NULL, 0, response,
                       response_len, out + nl, &ct_len, max_out - nl);
    if (st != PCC_OK)
        goto out;
    *out_len = nl + ct_len;
    ctx->s.used = true;
    pcc_wipe(ctx->s.secret, sizeof ctx->s.secret);
out:
    pcc_wipe(key, sizeof key);
    pcc_wipe(aead_nonce, sizeof aead_nonce);
    if (st != PCC_OK)
        pcc_wipe(out, max_out);
    return st;
}

pcc_status pcc_ohttp_response_encapsulate(pcc_ohttp_response_ctx *ctx, uint8_t *out,
                                          size_t *out_len, size_t max_out,
                                          const uint8_t *response, size_t response_len)
{
    if (ctx == NULL || out_len == NULL)
        return PCC_E_INVALID;
    return response_encapsulate(ctx, out, out_len, max_out, response, response_len, NULL, 0);
}

pcc_status pcc_ohttp_testing_response_encapsulate_nonce(pcc_ohttp_response_ctx *ctx, uint8_t *out,
                                                        size_t *out_len, size_t max_out,
                                                        const uint8_t *response,
                                                        size_t response_len,
                                                        const uint8_t *nonce, size_t nonce_len)
{
    if (ctx == NULL || out_len == NULL || nonce == NULL)
        return PCC_E_INVALID;
    return response_encapsulate(ctx, out, out_len, max_out, response, response_len, nonce,
                                nonce_len);
}

uint8_t pcc_ohttp_response_ctx_key_id(const pcc_ohttp_response_ctx *ctx) { return ctx->s.key_id; }

pcc_hpke_suite pcc_ohttp_response_ctx_suite(const pcc_ohttp_response_ctx *ctx)
{
    return ctx->s.suite;
}

void pcc_ohttp_response_ctx_free(pcc_ohttp_response_ctx *ctx) { pcc_secure_small_free(ctx); }

/* ==== Chunked OHTTP (draft-ietf-ohai-chunked-ohttp) ====
 *
 * Both directions are a preamble (the request header, or the response nonce) followed by
 * chunks, each a QUIC varint length and a sealed chunk; a zero length marks the final chunk,
 * which runs to the end of the stream and is sealed with the AAD "final". One reader parses
 * either direction incrementally; the two sides differ in what the preamble sets up and in how
 * a chunk is opened (the HPKE context for requests, the exported response key and a counter in
 * the nonce for responses). */

static const char CHUNKED_REQUEST_LABEL[] = "message/bhttp chunked request";
static const char CHUNKED_RESPONSE_LABEL[] = "message/bhttp chunked response";
#define CHUNKED_REQUEST_LABEL_LEN (sizeof CHUNKED_REQUEST_LABEL - 1)
#define CHUNKED_RESPONSE_LABEL_LEN (sizeof CHUNKED_RESPONSE_LABEL - 1)
#define CHUNKED_INFO_LEN (CHUNKED_REQUEST_LABEL_LEN + 1 + PCC_OHTTP_HEADER_LEN)
static const uint8_t FINAL_AAD[5] = {'f', 'i', 'n', 'a', 'l'}; /* 0x66696e616c */
#define MAX_SEALED_CHUNK (PCC_OHTTP_CHUNKED_MAX_CHUNK + PCC_HPKE_TAG_LEN)

/* The secrets of one chunked exchange, a secure small object. */
typedef struct chunked_keys {
    pcc_hpke_suite suite;
    uint8_t key_id;
    uint8_t enc[PCC_HPKE_MAX_ENC];
    size_t enc_len;
    uint8_t secret[PCC_OHTTP_MAX_RESPONSE_NONCE]; /* Export("message/bhttp chunked response") */
    size_t secret_len;
    uint8_t key[PCC_HPKE_MAX_KEY]; /* response aead_key, once the response nonce is known */
    size_t nk;
    uint8_t nonce[PCC_HPKE_MAX_NONCE]; /* response aead_nonce */
    size_t nn;
    uint64_t counter; /* response chunks sealed or opened so far */
    bool keyed;
} chunked_keys;

_Static_assert(sizeof(chunked_keys) <= PCC_SECURE_SMALL_MAX,
               "chunked OHTTP keys must fit a secure small object");

enum { RD_PREAMBLE, RD_LENGTH, RD_BODY, RD_FINAL, RD_DONE, RD_FAILED };
typedef enum { EV_NONE, EV_PREAMBLE, EV_LENGTH, EV_CHUNK } rd_event;

/* The incremental parser of one direction. Only ciphertext passes through it. */
typedef struct chunk_reader {
    int state;
    uint8_t pre[PCC_OHTTP_HEADER_LEN + PCC_HPKE_MAX_ENC]; /* header and enc, or response nonce */
    size_t pre_len, pre_need;
    uint8_t vint[8];
    size_t vint_len, vint_need;
    size_t body_len; /* sealed length of the chunk being read */
    uint8_t *buf;    /* its bytes so far, or the final chunk's (heap) */
    size_t buf_len, buf_cap;
} chunk_reader;

struct pcc_ohttp_chunked_client {
    chunked_keys *k;
    pcc_hpke_ctx *hctx; /* sender context for the request chunks */
    bool sealed_final;
    chunk_reader rd; /* the response */
};

struct pcc_ohttp_chunked_gateway_ctx {
    const pcc_ohttp_gateway *gw; /* borrowed */
    chunked_keys *k;
    pcc_hpke_ctx *hctx; /* recipient context for the request chunks */
    bool header_done, started, sealed_final;
    chunk_reader rd; /* the request */
};

static void reader_reset_buf(chunk_reader *rd)
{
    if (rd->buf != NULL) {
        pcc_wipe(rd->buf, rd->buf_cap);
        free(rd->buf);
    }
    rd->buf = NULL;
    rd->buf_len = rd->buf_cap = 0;
}

static void reader_fail(chunk_reader *rd)
{
    reader_reset_buf(rd);
    rd->state = RD_FAILED;
}

static pcc_status reader_reserve(chunk_reader *rd, size_t need)
{
    if (need <= rd->buf_cap)
        return PCC_OK;
    size_t cap = rd->buf_cap ? rd->buf_cap : 256;
    while (cap < need)
        cap = cap > MAX_SEALED_CHUNK / 2 ? MAX_SEALED_CHUNK : cap * 2;
    uint8_t *p = malloc(cap);
    if (p == NULL)
        return PCC_E_NOMEM;
    if (rd->buf_len)
        memcpy(p, rd->buf, rd->buf_len);
    size_t len = rd->buf_len;
    reader_reset_buf(rd);
    rd->buf = p;
    rd->buf_len = len;
    rd->buf_cap = cap;
    return PCC_OK;
}

/* reader_feed consumes in until an event: EV_PREAMBLE (pre_need bytes of preamble held), EV_LENGTH
 * (a non-final chunk's length read), EV_CHUNK (a non-final chunk whole: *ct, *ct_len point into
 * in or the reader's buffer) or EV_NONE (in used up, or the next byte would complete a chunk whose
 * plaintext does not fit max_out). After the final chunk indicator everything is buffered. */
static pcc_status reader_feed(chunk_reader *rd, const uint8_t *in, size_t in_len, size_t max_out,
                              size_t *used, rd_event *ev, const uint8_t **ct, size_t *ct_len)
{
    size_t u = 0;
    pcc_status st = PCC_OK;
    *ev = EV_NONE;
    while (u < in_len && *ev == EV_NONE && st == PCC_OK) {
        size_t avail = in_len - u;
        switch (rd->state) {
        case RD_PREAMBLE: {
            size_t take = rd->pre_need - rd->pre_len;
            take = take < avail ? take : avail;
            memcpy(rd->pre + rd->pre_len, in + u, take);
            rd->pre_len += take;
            u += take;
            if (rd->pre_len == rd->pre_need)
                *ev = EV_PREAMBLE;
            break;
        }
        case RD_LENGTH: {
            /* Length (i): the two high bits of the first byte give the varint's size */
            if (rd->vint_len == 0)
                rd->vint_need = (size_t)1 << (in[u] >> 6);
            rd->vint[rd->vint_len++] = in[u++];
            if (rd->vint_len < rd->vint_need)
                break;
            uint64_t v = rd->vint[0] & 0x3f;
            for (size_t i = 1; i < rd->vint_len; i++)
                v = v << 8 | rd->vint[i];
            rd->vint_len = 0;
            if (v == 0) { /* Final Chunk Indicator (i) = 0: the rest of the stream is the chunk */
                rd->state = RD_FINAL;
                rd->buf_len = 0;
            } else if (v < PCC_HPKE_TAG_LEN) {
                st = PCC_E_FORMAT; /* shorter than the AEAD tag */
            } else if (v == PCC_HPKE_TAG_LEN) {
                /* "A receiver MUST treat the receipt of a chunk that contains no data as
                 * equivalent to a decryption error, unless that chunk is the final chunk." */
                st = PCC_E_DECRYPT;
            } else if (v > MAX_SEALED_CHUNK) {
                st = PCC_E_LIMIT;
            } else {
                rd->body_len = (size_t)v;
                rd->buf_len = 0;
                rd->state = RD_BODY;
                *ev = EV_LENGTH;
            }
            break;
        }
        case RD_BODY: {
            size_t missing = rd->body_len - rd->buf_len;
            bool fits = rd->body_len - PCC_HPKE_TAG_LEN <= max_out;
            if (rd->buf_len == 0 && avail >= missing && fits) { /* whole in the input: no copy */
                *ct = in + u;
                *ct_len = rd->body_len;
                u += missing;
                rd->state = RD_LENGTH;
                *ev = EV_CHUNK;
                break;
            }
            size_t take = missing < avail ? missing : avail;
            if (take == missing && !fits)
                take--; /* wait for room before completing the chunk */
            if (take == 0) {
                *used = u;
                return PCC_OK;
            }
            if ((st = reader_reserve(rd, rd->body_len)) != PCC_OK)
                break;
            memcpy(rd->buf + rd->buf_len, in + u, take);
            rd->buf_len += take;
            u += take;
            if (rd->buf_len == rd->body_len) {
                *ct = rd->buf;
                *ct_len = rd->body_len;
                rd->state = RD_LENGTH;
                *ev = EV_CHUNK;
            }
            break;
        }
        case RD_FINAL:
            if (avail > MAX_SEALED_CHUNK - rd->buf_len) {
                st = PCC_E_LIMIT;
                break;
            }
            if ((st = reader_reserve(rd, rd->buf_len + avail)) != PCC_OK)
                break;
            memcpy(rd->buf + rd->buf_len, in + u, avail);
            rd->buf_len += avail;
            u += avail;
            break;
        default:
            st = PCC_E_STATE;
            break;
        }
    }
    *used = u;
    return st;
}

static bool reader_next(const chunk_reader *rd, size_t *pt_len, size_t *missing)
{
    if (rd->state != RD_BODY)
        return false;
    *pt_len = rd->body_len - PCC_HPKE_TAG_LEN;
    *missing = rd->body_len - rd->buf_len;
    return true;
}

static size_t reader_final_len(const chunk_reader *rd)
{
    return rd->state == RD_FINAL && rd->buf_len >= PCC_HPKE_TAG_LEN
               ? rd->buf_len - PCC_HPKE_TAG_LEN
               : 0;
}

/* The side-specific steps the reader drives. */
typedef struct chunk_ops {
    pcc_status (*preamble)(void *side);
    pcc_status (*open)(void *side, uint8_t *out, size_t *out_len, size_t max_out,
                       const uint8_t *ct, size_t ct_len, bool final);
} chunk_ops;

/* reader_open runs reader_feed and the side's steps until a chunk is opened, a length prefix is
 * read (so the caller can size its output), the preamble is complete, or in is used up. Any
 * error poisons the reader. */
static pcc_status reader_open(chunk_reader *rd, const chunk_ops *ops, void *side, uint8_t *out,
                              size_t *out_len, size_t max_out, const uint8_t *in, size_t in_len,
                              size_t *in_used)
{
    size_t off = 0;
    pcc_status st = PCC_OK;
    *out_len = 0;
    *in_used = 0;
    if (rd->state == RD_FAILED || rd->state == RD_DONE)
        return PCC_E_STATE;
    if ((in == NULL && in_len) || (out == NULL && max_out))
        return PCC_E_INVALID;
    while (off < in_len) {
        size_t u = 0, ct_len = 0;
        const uint8_t *ct = NULL;
        rd_event ev;
        st = reader_feed(rd, in + off, in_len - off, max_out, &u, &ev, &ct, &ct_len);
        off += u;
        if (st != PCC_OK || ev == EV_NONE || ev == EV_LENGTH)
            break;
        if (ev == EV_PREAMBLE) {
            if ((st = ops->preamble(side)) != PCC_OK || rd->state != RD_PREAMBLE)
                break;
            continue;
        }
        st = ops->open(side, out, out_len, max_out, ct, ct_len, false);
        if (st == PCC_OK && *out_len == 0)
            st = PCC_E_DECRYPT; /* cannot happen: a non-final chunk holds at least one byte */
        if (rd->buf_len) {
            pcc_wipe(rd->buf, rd->buf_len);
            rd->buf_len = 0;
        }
        break;
    }
    *in_used = off;
    if (st != PCC_OK) {
        reader_fail(rd);
        if (out != NULL)
            pcc_wipe(out, max_out);
        *out_len = 0;
    }
    return st;
}

/* reader_finish opens the final chunk once the stream has ended. */
static pcc_status reader_finish(chunk_reader *rd, const chunk_ops *ops, void *side, uint8_t *out,
                                size_t *out_len, size_t max_out)
{
    pcc_status st;
    *out_len = 0;
    if (rd->state == RD_FAILED || rd->state == RD_DONE)
        return PCC_E_STATE;
    if (out == NULL && max_out)
        return PCC_E_INVALID;
    if (rd->state != RD_FINAL || rd->buf_len < PCC_HPKE_TAG_LEN) {
        st = PCC_E_FORMAT; /* truncated: no final chunk, or one shorter than its tag */
    } else if (rd->buf_len - PCC_HPKE_TAG_LEN > max_out) {
        return PCC_E_LIMIT; /* not fatal: call again with room */
    } else {
        st = ops->open(side, out, out_len, max_out, rd->buf, rd->buf_len, true);
    }
    if (st != PCC_OK) {
        reader_fail(rd);
        if (out != NULL)
            pcc_wipe(out, max_out);
        *out_len = 0;
        return st;
    }
    reader_reset_buf(rd);
    rd->state = RD_DONE;
    return PCC_OK;
}

/* write_chunk_prefix writes varint_encode(len(sealed_chunk)), or varint_encode(0) for the final
 * chunk. */
static pcc_status write_chunk_prefix(pcc_writer *w, size_t sealed_len, bool final)
{
    return pcc_writer_varint(w, final ? 0 : (uint64_t)sealed_len);
}

pcc_status pcc_ohttp_chunked_seal_len(size_t chunk_len, bool final, size_t *out_len)
{
    if (chunk_len > PCC_OHTTP_CHUNKED_MAX_CHUNK)
        return PCC_E_LIMIT;
    size_t sealed = chunk_len + PCC_HPKE_TAG_LEN;
    size_t prefix = final ? 1 : sealed < 64 ? 1 : sealed < 16384 ? 2 : sealed < (1u << 30) ? 4 : 8;
    *out_len = prefix + sealed;
    return PCC_OK;
}

/* response_chunk_nonce: chunk_nonce = aead_nonce XOR encode(Nn, counter) */
static void response_chunk_nonce(const chunked_keys *k, uint8_t nonce[PCC_HPKE_MAX_NONCE])
{
    memcpy(nonce, k->nonce, k->nn);
    for (size_t i = 0; i < 8 && i < k->nn; i++)
        nonce[k->nn - 1 - i] ^= (uint8_t)(k->counter >> (8 * i));
}

static pcc_status chunked_export(chunked_keys *k, const pcc_hpke_ctx *hctx)
{
    size_t nk, nn, nl;
    pcc_status st = aead_lens(k->suite.aead, &nk, &nn, &nl);
    if (st != PCC_OK)
        return st;
    /* secret = context.Export("message/bhttp chunked response", entropy_len) */
    st = pcc_hpke_export(hctx, k->secret, nl, (const uint8_t *)CHUNKED_RESPONSE_LABEL,
                         CHUNKED_RESPONSE_LABEL_LEN);
    if (st == PCC_OK)
        k->secret_len = nl;
    return st;
}

static pcc_status chunked_key_response(chunked_keys *k, const uint8_t *response_nonce)
{
    pcc_status st = derive_response_keys(k->suite, k->enc, k->enc_len, k->secret, k->secret_len,
                                         response_nonce, k->key, &k->nk, k->nonce, &k->nn);
    if (st != PCC_OK)
        return st;
    pcc_wipe(k->secret, sizeof k->secret); /* the key and nonce are all the chunks need */
    k->keyed = true;
    k->counter = 0;
    return PCC_OK;
}

static void make_chunked_info(uint8_t info[CHUNKED_INFO_LEN],
                              const uint8_t hdr[PCC_OHTTP_HEADER_LEN])
{
    /* info = concat(encode_str("message/bhttp chunked request"), encode(1, 0), hdr) */
    memcpy(info, CHUNKED_REQUEST_LABEL, CHUNKED_REQUEST_LABEL_LEN);
    info[CHUNKED_REQUEST_LABEL_LEN] = 0;
    memcpy(info + CHUNKED_REQUEST_LABEL_LEN + 1, hdr, PCC_OHTTP_HEADER_LEN);
}

/* ---- chunked client ---- */

static pcc_status client_preamble(void *side)
{
    pcc_ohttp_chunked_client *c = side;
    pcc_status st = chunked_key_response(c->k, c->rd.pre);
    if (st == PCC_OK)
        c->rd.state = RD_LENGTH;
    return st;
}

static pcc_status client_open_chunk(void *side, uint8_t *out, size_t *out_len, size_t max_out,
                                    const uint8_t *ct, size_t ct_len, bool final)
{
    pcc_ohttp_chunked_client *c = side;
    chunked_keys *k = c->k;
    uint8_t nonce[PCC_HPKE_MAX_NONCE];
    if (!k->keyed || k->counter == UINT64_MAX)
        return PCC_E_STATE;
    /* chunk_nonce = aead_nonce XOR encode(Nn, counter);
     * chunk = Open(aead_key, chunk_nonce, final ? "final" : "", sealed_chunk) */
    response_chunk_nonce(k, nonce);
    pcc_status st = pcc_aead_open(k->suite.aead, k->key, k->nk, nonce, k->nn,
                                  final ? FINAL_AAD : NULL, final ? sizeof FINAL_AAD : 0, ct,
                                  ct_len, out, out_len, max_out);
    pcc_wipe(nonce, sizeof nonce);
    if (st != PCC_OK)
        return st == PCC_E_NOMEM ? st : PCC_E_DECRYPT;
    k->counter++;
    return PCC_OK;
}

static const chunk_ops CLIENT_OPS = {client_preamble, client_open_chunk};

static pcc_status chunked_client_new(pcc_ohttp_chunked_client **out, uint8_t *hdr_out,
                                     size_t *hdr_len, size_t max_hdr,
                                     const pcc_ohttp_key_config *cfg, pcc_ohttp_suite suite,
                                     const uint8_t *ikm_e, size_t ikm_e_len,
                                     const pcc_hpke_key *sk_e)
{
    pcc_ohttp_chunked_client *c = NULL;
    uint8_t hdr[PCC_OHTTP_HEADER_LEN], info[CHUNKED_INFO_LEN];
    size_t nenc, npk, nsk, enc_len = 0, nk, nn, nl;
    pcc_status st;
    *out = NULL;
    if ((st = pcc_ohttp_key_config_check(cfg)) != PCC_OK)
        return st;
    if (!offered(cfg, suite.kdf, suite.aead) || !suite_usable(cfg->kem, suite.kdf, suite.aead) ||
        aead_lens(suite.aead, &nk, &nn, &nl) != PCC_OK ||
        pcc_hpke_kem_sizes(cfg->kem, &nenc, &npk, &nsk) != PCC_OK)
        return PCC_E_UNSUPPORTED;
    if (hdr_out == NULL || max_hdr < PCC_OHTTP_HEADER_LEN + nenc)
        return PCC_E_LIMIT;
    if ((c = calloc(1, sizeof *c)) == NULL)
        return PCC_E_NOMEM;
    if ((c->k = pcc_secure_small_alloc(sizeof *c->k)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    c->k->suite = (pcc_hpke_suite){cfg->kem, suite.kdf, suite.aead};
    c->k->key_id = cfg->key_id;
    put_header(hdr, cfg->key_id, c->k->suite);
    make_chunked_info(info, hdr);
    /* enc, sctxt = SetupBaseS(pkR, info); enc_request_hdr = concat(hdr, enc) */
    if (sk_e != NULL)
        st = pcc_hpke_setup_sender_ephemeral(&c->hctx, c->k->enc, &enc_len, sizeof c->k->enc,
                                             c->k->suite, cfg->public_key, cfg->public_key_len,
                                             info, sizeof info, NULL, 0, NULL, 0, NULL, sk_e);
    else
        st = pcc_hpke_setup_sender(&c->hctx, c->k->enc, &enc_len, sizeof c->k->enc, c->k->suite,
                                   cfg->public_key, cfg->public_key_len, info, sizeof info, NULL,
                                   0, NULL, 0, NULL, ikm_e, ikm_e_len);
    if (st != PCC_OK)
        goto out;
    if (enc_len != nenc) {
        st = PCC_E_CRYPTO;
        goto out;
    }
    c->k->enc_len = enc_len;
    if ((st = chunked_export(c->k, c->hctx)) != PCC_OK)
        goto out;
    c->rd.state = RD_PREAMBLE;
    c->rd.pre_need = nl; /* Response Nonce (8 * max(Nn, Nk)) */
    memcpy(hdr_out, hdr, sizeof hdr);
    memcpy(hdr_out + sizeof hdr, c->k->enc, enc_len);
    *hdr_len = sizeof hdr + enc_len;
    *out = c;
    c = NULL;
out:
    pcc_ohttp_chunked_client_free(c);
    return st;
}

pcc_status pcc_ohttp_chunked_client_new(pcc_ohttp_chunked_client **out, uint8_t *hdr,
                                        size_t *hdr_len, size_t max_hdr,
                                        const pcc_ohttp_key_config *cfg, pcc_ohttp_suite suite,
                                        const uint8_t *ikm_e, size_t ikm_e_len)
{
    return chunked_client_new(out, hdr, hdr_len, max_hdr, cfg, suite, ikm_e, ikm_e_len, NULL);
}

pcc_status pcc_ohttp_chunked_client_new_ephemeral(pcc_ohttp_chunked_client **out, uint8_t *hdr,
                                                  size_t *hdr_len, size_t max_hdr,
                                                  const pcc_ohttp_key_config *cfg,
                                                  pcc_ohttp_suite suite,
                                                  const pcc_hpke_key *ephemeral)
{
    if (ephemeral == NULL) {
        *out = NULL;
        return PCC_E_INVALID;
    }
    return chunked_client_new(out, hdr, hdr_len, max_hdr, cfg, suite, NULL, 0, ephemeral);
}

pcc_status pcc_ohttp_chunked_client_seal(pcc_ohttp_chunked_client *c, uint8_t *out,
                                         size_t *out_len, size_t max_out, const uint8_t *chunk,
                                         size_t chunk_len, bool final)
{
    pcc_writer w;
    size_t need, ct_len = 0;
    pcc_status st;
    if (c->sealed_final)
        return PCC_E_STATE;
    if ((chunk == NULL && chunk_len) || (!final && chunk_len == 0))
        return PCC_E_INVALID; /* "A non-final chunk MUST NOT contain a zero-length plaintext." */
    if ((st = pcc_ohttp_chunked_seal_len(chunk_len, final, &need)) != PCC_OK)
        return st;
    if (out == NULL || max_out < need)
        return PCC_E_LIMIT;
    pcc_writer_init_fixed(&w, out, max_out);
    if ((st = write_chunk_prefix(&w, chunk_len + PCC_HPKE_TAG_LEN, final)) != PCC_OK)
        return st;
    /* sealed_chunk = sctxt.Seal("", chunk), or sctxt.Seal("final", chunk) for the last one */
    st = pcc_hpke_seal(c->hctx, out + w.len, &ct_len, max_out - w.len, final ? FINAL_AAD : NULL,
                       final ? sizeof FINAL_AAD : 0, chunk, chunk_len);
    if (st != PCC_OK) {
        pcc_wipe(out, max_out);
        return st;
    }
    *out_len = w.len + ct_len;
    if (final)
        c->sealed_final = true;
    return PCC_OK;
}

pcc_status pcc_ohttp_chunked_client_open(pcc_ohttp_chunked_client *c, uint8_t *out,
                                         size_t *out_len, size_t max_out, const uint8_t *in,
                                         size_t in_len, size_t *in_used)
{
    return reader_open(&c->rd, &CLIENT_OPS, c, out, out_len, max_out, in, in_len, in_used);
}

bool pcc_ohttp_chunked_client_next(const pcc_ohttp_chunked_client *c, size_t *pt_len,
                                   size_t *missing)
{
    return reader_next(&c->rd, pt_len, missing);
}

size_t pcc_ohttp_chunked_client_final_len(const pcc_ohttp_chunked_client *c)
{
    return reader_final_len(&c->rd);
}

pcc_status pcc_ohttp_chunked_client_finish(pcc_ohttp_chunked_client *c, uint8_t *out,
                                           size_t *out_len, size_t max_out)
{
    return reader_finish(&c->rd, &CLIENT_OPS, c, out, out_len, max_out);
}

pcc_hpke_suite pcc_ohttp_chunked_client_suite(const pcc_ohttp_chunked_client *c)
{
    return c->k->suite;
}

void pcc_ohttp_chunked_client_free(pcc_ohttp_chunked_client *c)
{
    if (c == NULL)
        return;
    pcc_hpke_ctx_free(c->hctx);
    pcc_secure_small_free(c->k);
    reader_reset_buf(&c->rd);
    pcc_wipe(c, sizeof *c);
    free(c);
}

/* ---- chunked gateway ---- */

static pcc_status gateway_preamble(void *side)
{
    pcc_ohttp_chunked_gateway_ctx *g = side;
    chunk_reader *rd = &g->rd;
    pcc_hpke_suite suite;
    uint8_t info[CHUNKED_INFO_LEN];
    size_t nenc, npk, nsk;
    const gw_entry *e = NULL;
    pcc_status st;
    /* Chunked Request Header { Key Identifier (8), HPKE KEM ID (16), HPKE KDF ID (16),
     *                          HPKE AEAD ID (16), KEM Encapsulated Key (8 * Nenc) } */
    uint8_t key_id = rd->pre[0];
    suite.kem = (uint16_t)(rd->pre[1] << 8 | rd->pre[2]);
    suite.kdf = (uint16_t)(rd->pre[3] << 8 | rd->pre[4]);
    suite.aead = (uint16_t)(rd->pre[5] << 8 | rd->pre[6]);
    for (size_t i = 0; i < g->gw->n && e == NULL; i++)
        if (g->gw->e[i].cfg.key_id == key_id)
            e = &g->gw->e[i];
    if (e == NULL)
        return PCC_E_UNKNOWN_KEY;
    if (suite.kem != e->cfg.kem || !offered(&e->cfg, suite.kdf, suite.aead) ||
        !suite_usable(suite.kem, suite.kdf, suite.aead) ||
        pcc_hpke_kem_sizes(suite.kem, &nenc, &npk, &nsk) != PCC_OK ||
        PCC_OHTTP_HEADER_LEN + nenc > sizeof rd->pre)
        return PCC_E_UNSUPPORTED;
    if (rd->pre_len == PCC_OHTTP_HEADER_LEN) { /* now that the KEM is known: read enc */
        rd->pre_need = PCC_OHTTP_HEADER_LEN + nenc;
        return PCC_OK;
    }
    g->k->suite = suite;
    g->k->key_id = key_id;
    memcpy(g->k->enc, rd->pre + PCC_OHTTP_HEADER_LEN, nenc);
    g->k->enc_len = nenc;
    make_chunked_info(info, rd->pre);
    /* rctxt = SetupBaseR(enc, skR, info) */
    st = pcc_hpke_setup_recipient(&g->hctx, suite, g->k->enc, nenc, e->sk, info, sizeof info,
                                  NULL, 0, NULL, 0, NULL, 0);
    if (st != PCC_OK)
        return st == PCC_E_NOMEM ? st : PCC_E_DECRYPT; /* a bad enc is tampering */
    if ((st = chunked_export(g->k, g->hctx)) != PCC_OK)
        return st;
    g->header_done = true;
    rd->state = RD_LENGTH;
    return PCC_OK;
}

static pcc_status gateway_open_chunk(void *side, uint8_t *out, size_t *out_len, size_t max_out,
                                     const uint8_t *ct, size_t ct_len, bool final)
{
    pcc_ohttp_chunked_gateway_ctx *g = side;
    /* chunk, error = rctxt.Open(final ? "final" : "", sealed_chunk) */
    pcc_status st = pcc_hpke_open(g->hctx, out, out_len, max_out, final ? FINAL_AAD : NULL,
                                  final ? sizeof FINAL_AAD : 0, ct, ct_len);
    return st == PCC_OK || st == PCC_E_NOMEM ? st : PCC_E_DECRYPT;
}

static const chunk_ops GATEWAY_OPS = {gateway_preamble, gateway_open_chunk};

pcc_status pcc_ohttp_chunked_gateway_ctx_new(pcc_ohttp_chunked_gateway_ctx **out,
                                             const pcc_ohttp_gateway *gw)
{
    pcc_ohttp_chunked_gateway_ctx *g;
    *out = NULL;
    if (gw == NULL)
        return PCC_E_INVALID;
    if ((g = calloc(1, sizeof *g)) == NULL)
        return PCC_E_NOMEM;
    if ((g->k = pcc_secure_small_alloc(sizeof *g->k)) == NULL) {
        free(g);
        return PCC_E_NOMEM;
    }
    g->gw = gw;
    g->rd.state = RD_PREAMBLE;
    g->rd.pre_need = PCC_OHTTP_HEADER_LEN;
    *out = g;
    return PCC_OK;
}

pcc_status pcc_ohttp_chunked_gateway_open(pcc_ohttp_chunked_gateway_ctx *g, uint8_t *out,
                                          size_t *out_len, size_t max_out, const uint8_t *in,
                                          size_t in_len, size_t *in_used)
{
    return reader_open(&g->rd, &GATEWAY_OPS, g, out, out_len, max_out, in, in_len, in_used);
}

bool pcc_ohttp_chunked_gateway_next(const pcc_ohttp_chunked_gateway_ctx *g, size_t *pt_len,
                                    size_t *missing)
{
    return reader_next(&g->rd, pt_len, missing);
}

size_t pcc_ohttp_chunked_gateway_final_len(const pcc_ohttp_chunked_gateway_ctx *g)
{
    return reader_final_len(&g->rd);
}

pcc_status pcc_ohttp_chunked_gateway_finish(pcc_ohttp_chunked_gateway_ctx *g, uint8_t *out,
                                            size_t *out_len, size_t max_out)
{
    return reader_finish(&g->rd, &GATEWAY_OPS, g, out, out_len, max_out);
}

bool pcc_ohttp_chunked_gateway_header(const pcc_ohttp_chunked_gateway_ctx *g, uint8_t *key_id,
                                      pcc_hpke_suite *suite)
{
    if (!g->header_done)
        return false;
    *key_id = g->k->key_id;
    *suite = g->k->suite;
    return true;
}

size_t pcc_ohttp_chunked_gateway_nonce_len(const pcc_ohttp_chunked_gateway_ctx *g)
{
    size_t nk, nn, nl;
    if (!g->header_done || g->started)
        return 0;
    return aead_lens(g->k->suite.aead, &nk, &nn, &nl) == PCC_OK ? nl : 0;
}

pcc_status pcc_ohttp_chunked_gateway_seal_len(const pcc_ohttp_chunked_gateway_ctx *g,
                                              size_t chunk_len, bool final, size_t *out_len)
{
    size_t n;
    if (!g->header_done)
        return PCC_E_STATE;
    pcc_status st = pcc_ohttp_chunked_seal_len(chunk_len, final, &n);
    if (st != PCC_OK)
        return st;
    *out_len = pcc_ohttp_chunked_gateway_nonce_len(g) + n;
    return PCC_OK;
}

static pcc_status chunked_gateway_seal(pcc_ohttp_chunked_gateway_ctx *g, uint8_t *out,
                                       size_t *out_len, size_t max_out, const uint8_t *chunk,
                                       size_t chunk_len, bool final, const uint8_t *nonce,
                                       size_t nonce_len)
{
    uint8_t chunk_nonce[PCC_HPKE_MAX_NONCE];
    pcc_writer w;
    size_t need, ct_len = 0, nl;
    chunked_keys *k = g->k;
    pcc_status st;
    if (!g->header_done || g->sealed_final || g->rd.state == RD_FAILED)
        return PCC_E_STATE;
    nl = pcc_ohttp_chunked_gateway_nonce_len(g);
    if ((chunk == NULL && chunk_len) || (!final && chunk_len == 0) ||
        (nonce != NULL && (nl == 0 || nonce_len != nl)))
        return PCC_E_INVALID;
    if ((st = pcc_ohttp_chunked_gateway_seal_len(g, chunk_len, final, &need)) != PCC_OK)
        return st;
    if (out == NULL || max_out < need)
        return PCC_E_LIMIT;
    if (k->counter == UINT64_MAX) /* far below 256^Nn: a wrapped nonce is never reached */
        return PCC_E_STATE;
    pcc_writer_init_fixed(&w, out, max_out);
    if (!g->started) {
        /* response_nonce = random(max(Nn, Nk)), sent first */
        if (nonce != NULL)
            memcpy(out, nonce, nl);
        else if (RAND_bytes(out, (int)nl) != 1)
            return PCC_E_CRYPTO;
        if ((st = chunked_key_response(k, out)) != PCC_OK)
            goto out;
        w.len = nl;
        g->started = true;
    }
    if ((st = write_chunk_prefix(&w, chunk_len + PCC_HPKE_TAG_LEN, final)) != PCC_OK)
        goto out;
    /* chunk_nonce = aead_nonce XOR encode(Nn, counter);
     * sealed_chunk = Seal(aead_key, chunk_nonce, final ? "final" : "", chunk); counter++ */
    response_chunk_nonce(k, chunk_nonce);
    st = pcc_aead_seal(k->suite.aead, k->key, k->nk, chunk_nonce, k->nn,
                       final ? FINAL_AAD : NULL, final ? sizeof FINAL_AAD : 0, chunk, chunk_len,
                       out + w.len, &ct_len, max_out - w.len);
    if (st != PCC_OK)
        goto out;
    k->counter++;
    *out_len = w.len + ct_len;
    if (final) {
        g->sealed_final = true;
        pcc_wipe(k->key, sizeof k->key);
        pcc_wipe(k->nonce, sizeof k->nonce);
        k->keyed = false;
    }
out:
    pcc_wipe(chunk_nonce, sizeof chunk_nonce);
    if (st != PCC_OK) {
        pcc_wipe(out, max_out);
        /* a response that started cannot restart with another nonce: give up on it */
        if (g->started)
            g->sealed_final = true;
    }
    return st;
}

pcc_status pcc_ohttp_chunked_gateway_seal(pcc_ohttp_chunked_gateway_ctx *g, uint8_t *out,
                                          size_t *out_len, size_t max_out, const uint8_t *chunk,
                                          size_t chunk_len, bool final)
{
    return chunked_gateway_seal(g, out, out_len, max_out, chunk, chunk_len, final, NULL, 0);
}

pcc_status pcc_ohttp_testing_chunked_gateway_seal_nonce(pcc_ohttp_chunked_gateway_ctx *g,
                                                        uint8_t *out, size_t *out_len,
                                                        size_t max_out, const uint8_t *chunk,
                                                        size_t chunk_len, bool final,
                                                        const uint8_t *nonce, size_t nonce_len)
{
    if (nonce == NULL)
        return PCC_E_INVALID;
    return chunked_gateway_seal(g, out, out_len, max_out, chunk, chunk_len, final, nonce,
                                nonce_len);
}

void pcc_ohttp_chunked_gateway_ctx_free(pcc_ohttp_chunked_gateway_ctx *g)
{
    if (g == NULL)
        return;
    pcc_hpke_ctx_free(g->hctx);
    pcc_secure_small_free(g->k);
    reader_reset_buf(&g->rd);
    pcc_wipe(g, sizeof *g);
    free(g);
}
