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

/* response_keys derives the response AEAD key and nonce from the state and response_nonce. */
static pcc_status response_keys(const resp_state *s, const uint8_t *response_nonce,
                                uint8_t key[PCC_HPKE_MAX_KEY], size_t *nk,
                                uint8_t nonce[PCC_HPKE_MAX_NONCE], size_t *nn)
{
    uint8_t salt[PCC_HPKE_MAX_ENC + PCC_OHTTP_MAX_RESPONSE_NONCE];
    uint8_t prk[MAX_PRK];
    size_t prk_len = 0, nl;
    pcc_status st = aead_lens(s->suite.aead, nk, nn, &nl);
    if (st != PCC_OK)
        return st;
    if (s->secret_len != nl || s->enc_len > PCC_HPKE_MAX_ENC)
        return PCC_E_STATE;
    /* salt = concat(enc, response_nonce); prk = Extract(salt, secret) */
    memcpy(salt, s->enc, s->enc_len);
    memcpy(salt + s->enc_len, response_nonce, nl);
    st = pcc_hkdf_extract(s->suite.kdf, prk, &prk_len, sizeof prk, salt, s->enc_len + nl,
                          s->secret, s->secret_len);
    /* aead_key = Expand(prk, "key", Nk); aead_nonce = Expand(prk, "nonce", Nn) */
    if (st == PCC_OK)
        st = pcc_hkdf_expand(s->suite.kdf, key, *nk, prk, prk_len, (const uint8_t *)"key", 3);
    if (st == PCC_OK)
        st = pcc_hkdf_expand(s->suite.kdf, nonce, *nn, prk, prk_len, (const uint8_t *)"nonce", 5);
    pcc_wipe(prk, sizeof prk);
    pcc_wipe(salt, sizeof salt);
    if (st != PCC_OK) {
        pcc_wipe(key, PCC_HPKE_MAX_KEY);
        pcc_wipe(nonce, PCC_HPKE_MAX_NONCE);
    }
    return st;
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
