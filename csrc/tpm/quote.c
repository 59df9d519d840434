/* quote.c: TPM 2.0 structures checked with OpenSSL alone: TPMS_ATTEST quotes and their
 * TPMT_SIGNATUREs, attestation-key public areas (TPMT_PUBLIC), software MakeCredential and EK
 * certificate chains. Everything here parses hostile input; nothing needs a TPM library.
 * Structure layouts follow TPM 2.0 Library Part 2 (Structures); marshalling is big-endian with
 * 16-bit sizes in front of every TPM2B. */
#include "pcc/tpm.h"
#include "tpm_internal.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "pcc/buf.h"
#include "pcc/secure.h"

#define TPM_GENERATED_VALUE 0xff544347u
#define TPM_ST_ATTEST_QUOTE 0x8018
#define TPM_ALG_SHA1 0x0004
#define TPM_ALG_SHA512 0x000D
#define TPM_ALG_NULL 0x0010
#define TPM_ALG_ECDSA 0x0018
#define TPM_ALG_ECDAA 0x001A
#define TPM_ALG_ECC 0x0023
#define TPM_ECC_NIST_P256 0x0003
#define TPM_ECC_NIST_P384 0x0004

/* TPMA_OBJECT bits */
#define TPMA_FIXEDTPM (1u << 1)
#define TPMA_FIXEDPARENT (1u << 4)
#define TPMA_SENSITIVEDATAORIGIN (1u << 5)
#define TPMA_RESTRICTED (1u << 16)
#define TPMA_DECRYPT (1u << 17)
#define TPMA_SIGN (1u << 18)

/* hash_len returns the digest size of a TPM hash algorithm, 0 if unknown. */
static size_t hash_len(uint16_t alg)
{
    switch (alg) {
    case TPM_ALG_SHA1: return 20;
    case PCC_TPM_ALG_SHA256: return 32;
    case PCC_TPM_ALG_SHA384: return 48;
    case TPM_ALG_SHA512: return 64;
    default: return 0;
    }
}

static const EVP_MD *hash_md(uint16_t alg)
{
    switch (alg) {
    case PCC_TPM_ALG_SHA256: return EVP_sha256();
    case PCC_TPM_ALG_SHA384: return EVP_sha384();
    default: return NULL;
    }
}

/* read_tpm2b reads a TPM2B: a 16-bit size (at most max) and that many bytes. */
static pcc_status read_tpm2b(pcc_reader *r, const uint8_t **p, size_t *len, size_t max)
{
    uint16_t n;
    pcc_status st = pcc_reader_u16(r, &n);
    if (st != PCC_OK)
        return st;
    if (n > max)
        return PCC_E_FORMAT;
    *len = n;
    return pcc_reader_bytes(r, p, n);
}

static pcc_status digest(uint8_t *out, uint16_t alg, const uint8_t *a, size_t a_len,
                         const uint8_t *b, size_t b_len)
{
    const EVP_MD *md = hash_md(alg);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    pcc_status st = PCC_E_CRYPTO;
    if (md == NULL || ctx == NULL)
        goto out;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, a, a_len) != 1 ||
        (b_len > 0 && EVP_DigestUpdate(ctx, b, b_len) != 1) ||
        EVP_DigestFinal_ex(ctx, out, NULL) != 1)
        goto out;
    st = PCC_OK;
out:
    EVP_MD_CTX_free(ctx);
    return st;
}

pcc_status pcc_tpm_event_data(uint8_t out[PCC_TPM_PCR_SIZE], const uint8_t *name,
                              size_t name_len, const uint8_t digest48[PCC_TPM_PCR_SIZE])
{
    uint8_t h[PCC_TPM_PCR_SIZE];
    pcc_status st;
    if (out == NULL || (name == NULL && name_len > 0) || digest48 == NULL)
        return PCC_E_INVALID;
    /* e = SHA-384(SHA-384(name) || digest) */
    st = digest(h, PCC_TPM_ALG_SHA384, name, name_len, NULL, 0);
    if (st == PCC_OK)
        st = digest(out, PCC_TPM_ALG_SHA384, h, sizeof h, digest48, PCC_TPM_PCR_SIZE);
    return st;
}

pcc_status pcc_tpm_pcr_extend_sw(uint8_t pcr[PCC_TPM_PCR_SIZE],
                                 const uint8_t data[PCC_TPM_PCR_SIZE])
{
    uint8_t next[PCC_TPM_PCR_SIZE];
    pcc_status st;
    if (pcr == NULL || data == NULL)
        return PCC_E_INVALID;
    /* PCR_new = SHA-384(PCR_old || data) */
    st = digest(next, PCC_TPM_ALG_SHA384, pcr, PCC_TPM_PCR_SIZE, data, PCC_TPM_PCR_SIZE);
    if (st == PCC_OK)
        memcpy(pcr, next, sizeof next);
    return st;
}

/* ---- TPMS_ATTEST ---------------------------------------------------------------------------- */

pcc_status pcc_tpm_attest_parse(pcc_tpm_quote_info *out, const uint8_t *attest, size_t attest_len)
{
    pcc_tpm_quote_info q;
    pcc_reader r;
    uint32_t magic, count;
    uint16_t type;
    uint8_t sel_size;
    const uint8_t *p;
    size_t n;
    pcc_status st;
    if (out == NULL || (attest == NULL && attest_len > 0))
        return PCC_E_INVALID;
    if (attest_len > PCC_TPM_ATTEST_MAX)
        return PCC_E_FORMAT;
    memset(&q, 0, sizeof q);
    pcc_reader_init(&r, attest, attest_len);
    if ((st = pcc_reader_u32(&r, &magic)) != PCC_OK || (st = pcc_reader_u16(&r, &type)) != PCC_OK)
        return st;
    if (magic != TPM_GENERATED_VALUE || type != TPM_ST_ATTEST_QUOTE)
        return PCC_E_FORMAT;
    /* qualifiedSigner TPM2B_NAME, extraData TPM2B_DATA */
    if ((st = read_tpm2b(&r, &p, &n, PCC_TPM_NAME_MAX)) != PCC_OK)
        return st;
    memcpy(q.signer_name, p, n);
    q.signer_name_len = n;
    if ((st = read_tpm2b(&r, &p, &n, PCC_TPM_EXTRA_MAX)) != PCC_OK)
        return st;
    memcpy(q.extra_data, p, n);
    q.extra_data_len = n;
    /* clockInfo TPMS_CLOCK_INFO, firmwareVersion */
    if ((st = pcc_reader_u64(&r, &q.clock)) != PCC_OK ||
        (st = pcc_reader_u32(&r, &q.reset_count)) != PCC_OK ||
        (st = pcc_reader_u32(&r, &q.restart_count)) != PCC_OK ||
        (st = pcc_reader_u8(&r, &q.safe)) != PCC_OK ||
        (st = pcc_reader_u64(&r, &q.firmware_version)) != PCC_OK)
        return st;
    if (q.safe > 1) /* TPMI_YES_NO */
        return PCC_E_FORMAT;
    /* TPMS_QUOTE_INFO: pcrSelect TPML_PCR_SELECTION (exactly one bank accepted), pcrDigest */
    if ((st = pcc_reader_u32(&r, &count)) != PCC_OK)
        return st;
    if (count != 1)
        return PCC_E_FORMAT;
    if ((st = pcc_reader_u16(&r, &q.pcr_bank)) != PCC_OK ||
        (st = pcc_reader_u8(&r, &sel_size)) != PCC_OK)
        return st;
    if (hash_len(q.pcr_bank) == 0 || sel_size < 1 || sel_size > 4)
        return PCC_E_FORMAT;
    if ((st = pcc_reader_bytes(&r, &p, sel_size)) != PCC_OK)
        return st;
    for (size_t i = 0; i < sel_size; i++)
        q.pcr_mask |= (uint32_t)p[i] << (8 * i);
    if ((st = read_tpm2b(&r, &p, &n, sizeof q.pcr_digest)) != PCC_OK)
        return st;
    if (n != 32 && n != 48) /* the digest of a SHA-256 or SHA-384 signing scheme */
        return PCC_E_FORMAT;
    memcpy(q.pcr_digest, p, n);
    q.pcr_digest_len = n;
    if (pcc_reader_remaining(&r) != 0)
        return PCC_E_FORMAT;
    *out = q;
    return PCC_OK;
}

/* ---- TPMT_SIGNATURE ------------------------------------------------------------------------- */

pcc_status pcc_tpm_sig_to_der(uint8_t *der, size_t *der_len, size_t max_der, uint16_t *hash_alg,
                              const uint8_t *sig, size_t sig_len)
{
    pcc_reader r;
    uint16_t alg, hash;
    const uint8_t *rp, *sp;
    size_t rn, sn;
    ECDSA_SIG *es = NULL;
    BIGNUM *br = NULL, *bs = NULL;
    unsigned char *w;
    int len;
    pcc_status st;
    if (der == NULL || der_len == NULL || hash_alg == NULL || (sig == NULL && sig_len > 0))
        return PCC_E_INVALID;
    if (sig_len > PCC_TPM_SIG_MAX)
        return PCC_E_FORMAT;
    pcc_reader_init(&r, sig, sig_len);
    if ((st = pcc_reader_u16(&r, &alg)) != PCC_OK || (st = pcc_reader_u16(&r, &hash)) != PCC_OK)
        return st;
    if (alg != TPM_ALG_ECDSA || hash_md(hash) == NULL)
        return PCC_E_FORMAT;
    /* signatureR, signatureS: TPM2B_ECC_PARAMETER */
    if ((st = read_tpm2b(&r, &rp, &rn, 66)) != PCC_OK || (st = read_tpm2b(&r, &sp, &sn, 66)) != PCC_OK)
        return st;
    if (rn == 0 || sn == 0 || pcc_reader_remaining(&r) != 0)
        return PCC_E_FORMAT;
    st = PCC_E_CRYPTO;
    if ((es = ECDSA_SIG_new()) == NULL || (br = BN_bin2bn(rp, (int)rn, NULL)) == NULL ||
        (bs = BN_bin2bn(sp, (int)sn, NULL)) == NULL)
        goto out;
    if (ECDSA_SIG_set0(es, br, bs) != 1)
        goto out;
    br = bs = NULL; /* owned by es */
    len = i2d_ECDSA_SIG(es, NULL);
    if (len <= 0)
        goto out;
    if ((size_t)len > max_der) {
        st = PCC_E_LIMIT;
        goto out;
    }
    w = der;
    if (i2d_ECDSA_SIG(es, &w) != len)
        goto out;
    *der_len = (size_t)len;
    *hash_alg = hash;
    st = PCC_OK;
out:
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(es);
    return st;
}

/* load_spki parses SPKI DER (all of it) into an EC key on P-256 or P-384; *curve_hash is the hash
 * that goes with that curve. */
static pcc_status load_spki(EVP_PKEY **out, uint16_t *curve_hash, const uint8_t *spki, size_t len)
{
    const unsigned char *p = spki;
    EVP_PKEY *k;
    char group[32];
    size_t glen = 0;
    if (len == 0 || len > 4096 || len > (size_t)LONG_MAX)
        return PCC_E_FORMAT;
    k = d2i_PUBKEY(NULL, &p, (long)len);
    if (k == NULL || p != spki + len) {
        EVP_PKEY_free(k);
        return PCC_E_FORMAT;
    }
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &glen) != 1) {
        EVP_PKEY_free(k);
        return PCC_E_FORMAT;
    }
    if (strcmp(group, "secp384r1") == 0)
        *curve_hash = PCC_TPM_ALG_SHA384;
    else if (strcmp(group, "prime256v1") == 0)
        *curve_hash = PCC_TPM_ALG_SHA256;
    else {
        EVP_PKEY_free(k);
        return PCC_E_FORMAT;
    }
    *out = k;
    return PCC_OK;
}

pcc_status pcc_tpm_quote_verify(pcc_tpm_quote_info *info, const uint8_t *attest,
                                size_t attest_len, const uint8_t *sig, size_t sig_len,
                                const uint8_t *spki_der, size_t spki_len, const uint8_t *extra,
                                size_t extra_len, const uint8_t *pcrs, const uint8_t *values,
                                size_t n)
{
    uint8_t der[PCC_TPM_SIG_DER_MAX + 32];
    size_t der_len = 0;
    uint16_t sig_hash = 0, curve_hash = 0;
    uint32_t mask = 0;
    pcc_tpm_quote_info q;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *ctx = NULL;
    EVP_MD_CTX *h = NULL;
    uint8_t want[64];
    pcc_status st;
    if ((attest == NULL && attest_len > 0) || (sig == NULL && sig_len > 0) || spki_der == NULL ||
        (extra == NULL && extra_len > 0) || n == 0 || n > PCC_TPM_PCR_MAX || pcrs == NULL ||
        values == NULL)
        return PCC_E_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (pcrs[i] >= PCC_TPM_PCR_MAX || (mask & (1u << pcrs[i])) != 0)
            return PCC_E_INVALID;
        mask |= 1u << pcrs[i];
    }
    if ((st = pcc_tpm_sig_to_der(der, &der_len, sizeof der, &sig_hash, sig, sig_len)) != PCC_OK)
        return st == PCC_E_LIMIT ? PCC_E_FORMAT : st;
    if ((st = load_spki(&key, &curve_hash, spki_der, spki_len)) != PCC_OK)
        return st == PCC_E_FORMAT ? PCC_E_INVALID : st;
    /* 1. the signature, over the exact attest bytes, before anything inside is trusted */
    st = PCC_E_CRYPTO;
    if ((ctx = EVP_MD_CTX_new()) == NULL)
        goto out;
    if (sig_hash != curve_hash) {
        st = PCC_E_VERIFY;
        goto out;
    }
    if (EVP_DigestVerifyInit(ctx, NULL, hash_md(sig_hash), NULL, key) != 1)
        goto out;
    if (EVP_DigestVerify(ctx, der, der_len, attest, attest_len) != 1) {
        st = PCC_E_VERIFY;
        goto out;
    }
    /* 2. the structure */
    if ((st = pcc_tpm_attest_parse(&q, attest, attest_len)) != PCC_OK)
        goto out;
    st = PCC_E_VERIFY;
    /* 3. qualifying data, bank and selection, digest of the expected values */
    if (q.extra_data_len != extra_len || (extra_len > 0 && memcmp(q.extra_data, extra, extra_len) != 0))
        goto out;
    if (q.pcr_bank != PCC_TPM_ALG_SHA384 || q.pcr_mask != mask)
        goto out;
    if (q.pcr_digest_len != hash_len(sig_hash))
        goto out;
    st = PCC_E_CRYPTO;
    if ((h = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(h, hash_md(sig_hash), NULL) != 1)
        goto out;
    for (unsigned pcr = 0; pcr < PCC_TPM_PCR_MAX; pcr++) { /* ascending PCR order */
        for (size_t i = 0; i < n; i++) {
            if (pcrs[i] == pcr &&
                EVP_DigestUpdate(h, values + i * PCC_TPM_PCR_SIZE, PCC_TPM_PCR_SIZE) != 1)
                goto out;
        }
    }
    if (EVP_DigestFinal_ex(h, want, NULL) != 1)
        goto out;
    st = memcmp(want, q.pcr_digest, q.pcr_digest_len) == 0 ? PCC_OK : PCC_E_VERIFY;
    if (st == PCC_OK && info != NULL)
        *info = q;
out:
    EVP_MD_CTX_free(h);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return st;
}

pcc_status pcc_tpm_replay(uint8_t *values, size_t n_regs, const pcc_tpm_event *events,
                          size_t n_events)
{
    uint8_t e[PCC_TPM_PCR_SIZE];
    pcc_status st;
    if (values == NULL || n_regs == 0 || n_regs > PCC_TPM_PCR_MAX || (events == NULL && n_events > 0))
        return PCC_E_INVALID;
    memset(values, 0, n_regs * PCC_TPM_PCR_SIZE);
    for (size_t i = 0; i < n_events; i++) {
        const pcc_tpm_event *ev = &events[i];
        if (ev->reg >= n_regs || ev->digest == NULL || (ev->name == NULL && ev->name_len > 0))
            return PCC_E_FORMAT;
        if ((st = pcc_tpm_event_data(e, ev->name, ev->name_len, ev->digest)) != PCC_OK ||
            (st = pcc_tpm_pcr_extend_sw(values + ev->reg * PCC_TPM_PCR_SIZE, e)) != PCC_OK)
            return st;
    }
    return PCC_OK;
}

pcc_status pcc_tpm_bundle_quote_verify(pcc_tpm_quote_info *info, const uint8_t *attest,
                                       size_t attest_len, const uint8_t *sig, size_t sig_len,
                                       const uint8_t *node_cert, size_t node_cert_len,
                                       const uint8_t *body_without_tpm, size_t body_len,
                                       const uint8_t pcrs[3], const pcc_tpm_event *events,
                                       size_t n_events)
{
    uint8_t values[3 * PCC_TPM_PCR_SIZE], qd[PCC_TPM_PCR_SIZE], spki_der[PCC_TPM_SPKI_MAX];
    size_t spki_len = 0;
    pcc_status st;
    if (pcrs == NULL || node_cert == NULL || (body_without_tpm == NULL && body_len > 0))
        return PCC_E_INVALID;
    /* only a key the CA certified as a TPM attestation key makes a quote mean anything */
    if ((st = pcc_tpm_ak_cert_key(spki_der, &spki_len, sizeof spki_der, node_cert,
                                  node_cert_len)) != PCC_OK)
        return st == PCC_E_LIMIT ? PCC_E_VERIFY : st;
    if ((st = pcc_tpm_replay(values, 3, events, n_events)) != PCC_OK)
        return st;
    /* qualifying data = SHA-384(body encoded without its tpm key) */
    if ((st = digest(qd, PCC_TPM_ALG_SHA384, body_without_tpm, body_len, NULL, 0)) != PCC_OK)
        return st;
    return pcc_tpm_quote_verify(info, attest, attest_len, sig, sig_len, spki_der, spki_len, qd,
                                sizeof qd, pcrs, values, 3);
}

/* ---- TPMT_PUBLIC of an attestation key ------------------------------------------------------ */

/* ec_spki writes the SPKI DER of the point (x, y) on the named curve; PCC_E_VERIFY if the point
 * is not on it. */
static pcc_status ec_spki(uint8_t *spki, size_t *spki_len, size_t max_spki, const char *group,
                          const uint8_t *x, const uint8_t *y, size_t clen)
{
    uint8_t point[1 + 2 * 66];
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *pc = NULL;
    EVP_PKEY *k = NULL;
    pcc_status st = PCC_E_CRYPTO;
    point[0] = 0x04;
    memcpy(point + 1, x, clen);
    memcpy(point + 1 + clen, y, clen);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * clen);
    params[2] = OSSL_PARAM_construct_end();
    if ((pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(pc) != 1)
        goto out;
    if (EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        st = PCC_E_VERIFY; /* not a point on the curve */
        goto out;
    }
    st = tpm_spki_write(k, spki, spki_len, max_spki);
out:
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(pc);
    return st;
}

pcc_status pcc_tpm_ak_check(uint8_t *spki, size_t *spki_len, size_t max_spki, uint8_t *name,
                            size_t *name_len, size_t max_name, const uint8_t *pub, size_t pub_len)
{
    pcc_reader r;
    uint16_t type, name_alg, sym, scheme, scheme_hash = TPM_ALG_NULL, curve, kdf, u16;
    uint32_t attrs;
    const uint8_t *p, *x, *y;
    size_t n, xn, yn, clen, hlen;
    pcc_status st;
    const uint32_t need = TPMA_FIXEDTPM | TPMA_FIXEDPARENT | TPMA_SENSITIVEDATAORIGIN |
                          TPMA_RESTRICTED | TPMA_SIGN;
    if (spki == NULL || spki_len == NULL || name == NULL || name_len == NULL ||
        (pub == NULL && pub_len > 0))
        return PCC_E_INVALID;
    if (pub_len > PCC_TPM_PUBLIC_MAX)
        return PCC_E_FORMAT;
    pcc_reader_init(&r, pub, pub_len);
    if ((st = pcc_reader_u16(&r, &type)) != PCC_OK || (st = pcc_reader_u16(&r, &name_alg)) != PCC_OK ||
        (st = pcc_reader_u32(&r, &attrs)) != PCC_OK)
        return st;
    if (type != TPM_ALG_ECC)
        return PCC_E_VERIFY; /* an RSA or symmetric object: not our AK (its parameters differ) */
    if ((st = read_tpm2b(&r, &p, &n, 64)) != PCC_OK) /* authPolicy */
        return st;
    /* TPMS_ECC_PARMS: symmetric, scheme, curveID, kdf */
    if ((st = pcc_reader_u16(&r, &sym)) != PCC_OK)
        return st;
    if (sym != TPM_ALG_NULL) {
        if ((st = pcc_reader_u16(&r, &u16)) != PCC_OK || (st = pcc_reader_u16(&r, &u16)) != PCC_OK)
            return st;
    }
    if ((st = pcc_reader_u16(&r, &scheme)) != PCC_OK)
        return st;
    if (scheme != TPM_ALG_NULL) {
        if ((st = pcc_reader_u16(&r, &scheme_hash)) != PCC_OK)
            return st;
        if (scheme == TPM_ALG_ECDAA && (st = pcc_reader_u16(&r, &u16)) != PCC_OK)
            return st;
    }
    if ((st = pcc_reader_u16(&r, &curve)) != PCC_OK || (st = pcc_reader_u16(&r, &kdf)) != PCC_OK)
        return st;
    if (kdf != TPM_ALG_NULL && (st = pcc_reader_u16(&r, &u16)) != PCC_OK)
        return st;
    /* unique: TPMS_ECC_POINT */
    if ((st = read_tpm2b(&r, &x, &xn, 66)) != PCC_OK || (st = read_tpm2b(&r, &y, &yn, 66)) != PCC_OK)
        return st;
    if (pcc_reader_remaining(&r) != 0)
        return PCC_E_FORMAT;
    /* the policy: a restricted signing key that never leaves its TPM */
    if ((attrs & need) != need || (attrs & TPMA_DECRYPT) != 0 || sym != TPM_ALG_NULL ||
        scheme != TPM_ALG_ECDSA || kdf != TPM_ALG_NULL || hash_md(name_alg) == NULL)
        return PCC_E_VERIFY;
    if (curve == TPM_ECC_NIST_P384 && scheme_hash == PCC_TPM_ALG_SHA384)
        clen = 48;
    else if (curve == TPM_ECC_NIST_P256 && scheme_hash == PCC_TPM_ALG_SHA256)
        clen = 32;
    else
        return PCC_E_VERIFY;
    if (xn != clen || yn != clen)
        return PCC_E_VERIFY;
    hlen = hash_len(name_alg);
    if (max_name < 2 + hlen)
        return PCC_E_LIMIT;
    st = ec_spki(spki, spki_len, max_spki, clen == 48 ? "P-384" : "P-256", x, y, clen);
    if (st != PCC_OK)
        return st;
    /* name = nameAlg || H_nameAlg(TPMT_PUBLIC) */
    name[0] = (uint8_t)(name_alg >> 8);
    name[1] = (uint8_t)name_alg;
    if ((st = digest(name + 2, name_alg, pub, pub_len, NULL, 0)) != PCC_OK)
        return st;
    *name_len = 2 + hlen;
    return PCC_OK;
}

/* ---- MakeCredential ------------------------------------------------------------------------- */

/* kdfa is KDFa of TPM 2.0 Part 1 11.4.10.2 with HMAC-SHA-256, for out_len <= 32 bytes:
 * K(1) = HMAC(key, [1]32 || label || 0x00 || contextU || contextV || [bits]32). */
static pcc_status kdfa_sha256(uint8_t *out, size_t out_len, const uint8_t *key, size_t key_len,
                              const char *label, const uint8_t *ctx_u, size_t ctx_u_len)
{
    uint8_t head[4] = {0, 0, 0, 1}, bits[4], full[32];
    uint32_t nbits = (uint32_t)(out_len * 8);
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *m = NULL;
    OSSL_PARAM params[2];
    size_t got = 0;
    pcc_status st = PCC_E_CRYPTO;
    bits[0] = (uint8_t)(nbits >> 24);
    bits[1] = (uint8_t)(nbits >> 16);
    bits[2] = (uint8_t)(nbits >> 8);
    bits[3] = (uint8_t)nbits;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL || (m = EVP_MAC_CTX_new(mac)) == NULL)
        goto out;
    if (EVP_MAC_init(m, key, key_len, params) != 1 || EVP_MAC_update(m, head, 4) != 1 ||
        EVP_MAC_update(m, (const uint8_t *)label, strlen(label) + 1) != 1 ||
        (ctx_u_len > 0 && EVP_MAC_update(m, ctx_u, ctx_u_len) != 1) ||
        EVP_MAC_update(m, bits, 4) != 1 || EVP_MAC_final(m, full, &got, sizeof full) != 1 ||
        got != 32)
        goto out;
    memcpy(out, full, out_len);
    st = PCC_OK;
out:
    pcc_wipe(full, sizeof full);
    EVP_MAC_CTX_free(m);
    EVP_MAC_free(mac);
    return st;
}

static pcc_status hmac_sha256(uint8_t out[32], const uint8_t *key, size_t key_len,
                              const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *m = NULL;
    OSSL_PARAM params[2];
    size_t got = 0;
    pcc_status st = PCC_E_CRYPTO;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL || (m = EVP_MAC_CTX_new(mac)) == NULL)
        goto out;
    if (EVP_MAC_init(m, key, key_len, params) != 1 || EVP_MAC_update(m, a, a_len) != 1 ||
        EVP_MAC_update(m, b, b_len) != 1 || EVP_MAC_final(m, out, &got, 32) != 1 || got != 32)
        goto out;
    st = PCC_OK;
out:
    EVP_MAC_CTX_free(m);
    EVP_MAC_free(mac);
    return st;
}

/* the secrets of one MakeCredential, in secure memory */
struct mc_secrets {
    uint8_t seed[32];
    uint8_t sym_key[16];
    uint8_t hmac_key[32];
    uint8_t plain[2 + PCC_TPM_CRED_MAX];
};

pcc_status pcc_tpm_make_credential(uint8_t *blob, size_t *blob_len, size_t max_blob,
                                   uint8_t *secret, size_t *secret_len, size_t max_secret,
                                   const uint8_t *ek_spki, size_t ek_spki_len,
                                   const uint8_t *credential, size_t cred_len,
                                   const uint8_t *name, size_t name_len)
{
    static const char label[] = "IDENTITY"; /* with its NUL: 9 bytes */
    struct mc_secrets *s = NULL;
    const unsigned char *p = ek_spki;
    EVP_PKEY *ek = NULL;
    EVP_PKEY_CTX *pc = NULL;
    EVP_CIPHER_CTX *cc = NULL;
    uint8_t iv[16] = {0}, enc_id[2 + PCC_TPM_CRED_MAX], hmac[32];
    unsigned char *lab = NULL;
    size_t enc_len = 2 + cred_len, out_len;
    uint16_t name_alg;
    int outl = 0, fin = 0;
    pcc_status st;
    if (blob == NULL || blob_len == NULL || secret == NULL || secret_len == NULL ||
        ek_spki == NULL || credential == NULL || name == NULL)
        return PCC_E_INVALID;
    if (cred_len == 0 || cred_len > PCC_TPM_CRED_MAX || name_len < 2)
        return PCC_E_INVALID;
    name_alg = (uint16_t)((name[0] << 8) | name[1]);
    if (hash_len(name_alg) == 0 || name_len != 2 + hash_len(name_alg))
        return PCC_E_INVALID;
    if (max_blob < 2 + 32 + enc_len)
        return PCC_E_LIMIT;
    if (ek_spki_len == 0 || ek_spki_len > 4096)
        return PCC_E_FORMAT;
    ek = d2i_PUBKEY(NULL, &p, (long)ek_spki_len);
    if (ek == NULL || p != ek_spki + ek_spki_len) {
        st = PCC_E_FORMAT;
        goto out;
    }
    if (EVP_PKEY_get_base_id(ek) != EVP_PKEY_RSA || EVP_PKEY_get_bits(ek) != 2048) {
        st = PCC_E_UNSUPPORTED;
        goto out;
    }
    if (max_secret < (size_t)EVP_PKEY_get_size(ek)) {
        st = PCC_E_LIMIT;
        goto out;
    }
    st = PCC_E_NOMEM;
    if ((s = pcc_secure_alloc(sizeof *s)) == NULL)
        goto out;
    st = PCC_E_CRYPTO;
    /* seed: random, as long as the EK's nameAlg digest (SHA-256) */
    if (RAND_priv_bytes(s->seed, sizeof s->seed) != 1)
        goto out;
    /* secret = RSA-OAEP-SHA256(EK, seed, label "IDENTITY\0") */
    if ((pc = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL)) == NULL ||
        EVP_PKEY_encrypt_init(pc) != 1 || EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) != 1)
        goto out;
    if ((lab = OPENSSL_memdup(label, sizeof label)) == NULL)
        goto out;
    if (EVP_PKEY_CTX_set0_rsa_oaep_label(pc, lab, (int)sizeof label) != 1)
        goto out;
    lab = NULL; /* owned by pc */
    out_len = max_secret;
    if (EVP_PKEY_encrypt(pc, secret, &out_len, s->seed, sizeof s->seed) != 1)
        goto out;
    /* symKey = KDFa(SHA-256, seed, "STORAGE", name, "", 128);
     * encIdentity = AES-128-CFB(symKey, IV = 0, TPM2B_DIGEST(credential)) */
    if ((st = kdfa_sha256(s->sym_key, sizeof s->sym_key, s->seed, sizeof s->seed, "STORAGE", name,
                          name_len)) != PCC_OK)
        goto out;
    st = PCC_E_CRYPTO;
    s->plain[0] = (uint8_t)(cred_len >> 8);
    s->plain[1] = (uint8_t)cred_len;
    memcpy(s->plain + 2, credential, cred_len);
    if ((cc = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_EncryptInit_ex(cc, EVP_aes_128_cfb128(), NULL, s->sym_key, iv) != 1 ||
        EVP_EncryptUpdate(cc, enc_id, &outl, s->plain, (int)enc_len) != 1 ||
        EVP_EncryptFinal_ex(cc, enc_id + outl, &fin) != 1 || (size_t)(outl + fin) != enc_len)
        goto out;
    /* HMACkey = KDFa(SHA-256, seed, "INTEGRITY", "", "", 256);
     * outerHMAC = HMAC-SHA-256(HMACkey, encIdentity || name) */
    if ((st = kdfa_sha256(s->hmac_key, sizeof s->hmac_key, s->seed, sizeof s->seed, "INTEGRITY",
                          NULL, 0)) != PCC_OK)
        goto out;
    if ((st = hmac_sha256(hmac, s->hmac_key, sizeof s->hmac_key, enc_id, enc_len, name,
                          name_len)) != PCC_OK)
        goto out;
    /* TPM2B_ID_OBJECT contents: TPM2B_DIGEST integrityHMAC || encIdentity */
    blob[0] = 0;
    blob[1] = 32;
    memcpy(blob + 2, hmac, 32);
    memcpy(blob + 34, enc_id, enc_len);
    *blob_len = 34 + enc_len;
    *secret_len = out_len;
    st = PCC_OK;
out:
    OPENSSL_free(lab);
    EVP_CIPHER_CTX_free(cc);
    EVP_PKEY_CTX_free(pc);
    EVP_PKEY_free(ek);
    pcc_secure_free(s);
    return st;
}

/* ---- EK certificates ------------------------------------------------------------------------ */

/* load_pem_certs adds every certificate of a PEM bundle to store (when not NULL) or stack. */
static pcc_status load_pem_certs(X509_STORE *store, STACK_OF(X509) *stack, const char *pem,
                                 size_t len)
{
    BIO *bio;
    X509 *c;
    int count = 0;
    pcc_status st = PCC_OK;
    if (len == 0)
        return PCC_OK;
    if (len > (1u << 20))
        return PCC_E_LIMIT;
    if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
        return PCC_E_NOMEM;
    while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        int ok = store != NULL ? X509_STORE_add_cert(store, c) : sk_X509_push(stack, c) > 0;
        if (store != NULL || !ok)
            X509_free(c); /* the store keeps its own reference; the stack took ours */
        if (!ok) {
            st = PCC_E_CRYPTO;
            break;
        }
        count++;
    }
    BIO_free(bio);
    if (st == PCC_OK && count == 0)
        st = PCC_E_FORMAT;
    return st;
}

pcc_status pcc_tpm_ek_cert_check(uint8_t *spki, size_t *spki_len, size_t max_spki,
                                 const uint8_t *cert_der, size_t cert_len, const char *roots_pem,
                                 size_t roots_len, const char *inter_pem, size_t inter_len,
                                 int64_t now)
{
    const unsigned char *p = cert_der;
    X509 *cert = NULL;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *inter = NULL;
    EVP_PKEY *pk;
    pcc_status st;
    if (spki == NULL || spki_len == NULL || cert_der == NULL || roots_pem == NULL ||
        (inter_pem == NULL && inter_len > 0) || roots_len == 0)
        return PCC_E_INVALID;
    if (cert_len == 0 || cert_len > PCC_TPM_CERT_MAX)
        return PCC_E_FORMAT;
    cert = d2i_X509(NULL, &p, (long)cert_len);
    if (cert == NULL || p != cert_der + cert_len) {
        st = PCC_E_FORMAT;
        goto out;
    }
    st = PCC_E_NOMEM;
    if ((store = X509_STORE_new()) == NULL || (inter = sk_X509_new_null()) == NULL ||
        (ctx = X509_STORE_CTX_new()) == NULL)
        goto out;
    if ((st = load_pem_certs(store, NULL, roots_pem, roots_len)) != PCC_OK)
        goto out;
    if ((st = load_pem_certs(NULL, inter, inter_pem, inter_len)) != PCC_OK)
        goto out;
    st = PCC_E_CRYPTO;
    if (X509_STORE_CTX_init(ctx, store, cert, inter) != 1)
        goto out;
    X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
    if (X509_verify_cert(ctx) != 1) {
        st = PCC_E_VERIFY;
        goto out;
    }
    if ((pk = X509_get0_pubkey(cert)) == NULL)
        goto out;
    st = tpm_spki_write(pk, spki, spki_len, max_spki);
out:
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(inter, X509_free);
    X509_STORE_free(store);
    X509_free(cert);
    return st;
}

pcc_status pcc_tpm_ak_cert_key(uint8_t *spki, size_t *spki_len, size_t max_spki,
                               const uint8_t *cert_der, size_t cert_len)
{
    const unsigned char *p = cert_der;
    X509 *cert = NULL;
    EXTENDED_KEY_USAGE *eku = NULL;
    ASN1_OBJECT *want = NULL;
    int crit = 0;
    pcc_status st;
    if (spki == NULL || spki_len == NULL || cert_der == NULL)
        return PCC_E_INVALID;
    if (cert_len == 0 || cert_len > 16384)
        return PCC_E_FORMAT;
    cert = d2i_X509(NULL, &p, (long)cert_len);
    if (cert == NULL || p != cert_der + cert_len) {
        st = PCC_E_FORMAT;
        goto out;
    }
    if ((want = OBJ_txt2obj(PCC_TPM_AK_EKU_OID, 1)) == NULL) {
        st = PCC_E_CRYPTO;
        goto out;
    }
    eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
    if (eku == NULL) {
        /* crit == -1: no extension; -2: more than one (malformed) */
        st = (crit == -2 || crit >= 0) ? PCC_E_FORMAT : PCC_E_VERIFY;
        goto out;
    }
    st = PCC_E_VERIFY;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
        if (o != NULL && OBJ_cmp(o, want) == 0) {
            st = PCC_OK;
            break;
        }
    }
    if (st != PCC_OK)
        goto out;
    st = PCC_E_CRYPTO;
    st = tpm_spki_write(X509_get0_pubkey(cert), spki, spki_len, max_spki);
out:
    EXTENDED_KEY_USAGE_free(eku);
    ASN1_OBJECT_free(want);
    X509_free(cert);
    return st;
}

pcc_status tpm_spki_write(const EVP_PKEY *k, uint8_t *spki, size_t *spki_len, size_t max_spki)
{
    int len = i2d_PUBKEY(k, NULL);
    uint8_t *w = spki;
    if (len <= 0)
        return PCC_E_CRYPTO;
    if ((size_t)len > max_spki)
        return PCC_E_LIMIT;
    if (i2d_PUBKEY(k, &w) != len)
        return PCC_E_CRYPTO;
    *spki_len = (size_t)len;
    return PCC_OK;
}
