/* blindrsa.c: RSA blind signatures (RFC 9474) on OpenSSL 3 EVP.
 *
 * The signer's private operation is OpenSSL's RSA (CRT, constant-time exponentiation, with
 * OpenSSL's own base blinding) reached through EVP_PKEY_sign with RSA_NO_PADDING. EMSA-PSS
 * encoding is done here (RFC 8017 §9.1.1) because the client needs it on its own, before
 * blinding, and the tests need to fix the salt; verification is OpenSSL's RSASSA-PSS. */
#include "pcc/blindrsa.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "pcc/buf.h"
#include "pcc/secure.h"

#define HLEN 48 /* SHA-384 */

struct pcc_blindrsa_pk {
    EVP_PKEY *pkey; /* plain rsaEncryption public key built from (n, e) */
    BIGNUM *n;
    BIGNUM *e;
    BN_MONT_CTX *mont; /* read-only after creation */
    unsigned bits;
    size_t k;
    uint8_t n_bytes[PCC_BLINDRSA_MAX_MODULUS_LEN];
    uint8_t e_bytes[8];
    size_t e_len;
};

struct pcc_blindrsa_sk { /* in secure memory */
    EVP_PKEY *pkey;       /* OpenSSL frees its private BIGNUMs with BN_clear_free */
    pcc_blindrsa_pk *pk;  /* its public half, used to check every signature */
};

struct pcc_blindrsa_state { /* in secure memory */
    pcc_blindrsa_variant v;
    size_t k;
    uint8_t inv[PCC_BLINDRSA_MAX_MODULUS_LEN]; /* inv * R mod n (Montgomery form, R = 2^(64w)) */
};

static const struct {
    pcc_blindrsa_variant v;
    const char *name;
    size_t salt_len;
    int randomized;
} VARIANTS[] = {
    {PCC_BLINDRSA_SHA384_PSS_RANDOMIZED, "RSABSSA-SHA384-PSS-Randomized", PCC_BLINDRSA_SALT_LEN, 1},
    {PCC_BLINDRSA_SHA384_PSSZERO_RANDOMIZED, "RSABSSA-SHA384-PSSZERO-Randomized", 0, 1},
    {PCC_BLINDRSA_SHA384_PSS_DETERMINISTIC, "RSABSSA-SHA384-PSS-Deterministic", PCC_BLINDRSA_SALT_LEN, 0},
    {PCC_BLINDRSA_SHA384_PSSZERO_DETERMINISTIC, "RSABSSA-SHA384-PSSZERO-Deterministic", 0, 0},
};

/* AlgorithmIdentifier of rsaEncryption (NULL parameters). */
static const uint8_t ALG_RSA[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                  0x01, 0x01, 0x01, 0x05, 0x00};
/* AlgorithmIdentifier of id-RSASSA-PSS with RSASSA-PSS-params {sha384, mgf1(sha384), 48} and
 * absent hash parameters, exactly as RFC 9578 §6.5 encodes the token key. */
static const uint8_t ALG_PSS[] = {
    0x30, 0x3d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
    0x30, 0x30,
    0xa0, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
    0xa1, 0x1a, 0x30, 0x18, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
    0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
    0xa2, 0x03, 0x02, 0x01, 0x30};
/* The same with NULL hash parameters (earlier Privacy Pass drafts, OpenSSL's own encoder). */
static const uint8_t ALG_PSS_NULL[] = {
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
    0x30, 0x34,
    0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
    0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
    0xa2, 0x03, 0x02, 0x01, 0x30};

/* ---- variants ---- */

pcc_status pcc_blindrsa_variant_from_name(pcc_blindrsa_variant *out, const char *name,
                                          size_t name_len)
{
    if (out == NULL || (name == NULL && name_len != 0))
        return PCC_E_INVALID;
    for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0]; i++) {
        if (strlen(VARIANTS[i].name) == name_len && memcmp(VARIANTS[i].name, name, name_len) == 0) {
            *out = VARIANTS[i].v;
            return PCC_OK;
        }
    }
    return PCC_E_UNSUPPORTED;
}

const char *pcc_blindrsa_variant_name(pcc_blindrsa_variant v)
{
    for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0]; i++)
        if (VARIANTS[i].v == v)
            return VARIANTS[i].name;
    return NULL;
}

pcc_status pcc_blindrsa_variant_params(pcc_blindrsa_variant v, size_t *salt_len, int *randomized)
{
    for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0]; i++) {
        if (VARIANTS[i].v == v) {
            if (salt_len != NULL)
                *salt_len = VARIANTS[i].salt_len;
            if (randomized != NULL)
                *randomized = VARIANTS[i].randomized;
            return PCC_OK;
        }
    }
    return PCC_E_INVALID;
}

/* ---- small helpers ---- */

/* cmp_be compares two k-byte big-endian numbers (public values only). */
static int cmp_be(const uint8_t *a, const uint8_t *b, size_t k)
{
    return memcmp(a, b, k);
}

static const char *hash_name(pcc_blindrsa_hash h)
{
    switch (h) {
    case PCC_BLINDRSA_HASH_SHA1: return "SHA1";
    case PCC_BLINDRSA_HASH_SHA224: return "SHA224";
    case PCC_BLINDRSA_HASH_SHA256: return "SHA256";
    case PCC_BLINDRSA_HASH_SHA384: return "SHA384";
    case PCC_BLINDRSA_HASH_SHA512: return "SHA512";
    }
    return NULL;
}

/* DER: tag and definite length (lengths below 2^16 only: nothing here is larger). */
static pcc_status der_header(pcc_writer *w, uint8_t tag, size_t len)
{
    pcc_status st = pcc_writer_u8(w, tag);
    if (st != PCC_OK)
        return st;
    if (len < 0x80)
        return pcc_writer_u8(w, (uint8_t)len);
    if (len < 0x100) {
        if ((st = pcc_writer_u8(w, 0x81)) != PCC_OK)
            return st;
        return pcc_writer_u8(w, (uint8_t)len);
    }
    if (len < 0x10000) {
        if ((st = pcc_writer_u8(w, 0x82)) != PCC_OK)
            return st;
        return pcc_writer_u16(w, (uint16_t)len);
    }
    return PCC_E_LIMIT;
}

static size_t der_header_len(size_t len)
{
    return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

/* der_uint_content_len: content bytes of a DER INTEGER holding the unsigned big-endian v. */
static size_t der_uint_content_len(const uint8_t *v, size_t n)
{
    while (n > 1 && v[0] == 0) {
        v++;
        n--;
    }
    return n + ((v[0] & 0x80) ? 1 : 0);
}

static pcc_status der_uint(pcc_writer *w, const uint8_t *v, size_t n)
{
    while (n > 1 && v[0] == 0) {
        v++;
        n--;
    }
    size_t clen = n + ((v[0] & 0x80) ? 1 : 0);
    pcc_status st = der_header(w, 0x02, clen);
    if (st == PCC_OK && clen > n)
        st = pcc_writer_u8(w, 0x00);
    if (st == PCC_OK)
        st = pcc_writer_bytes(w, v, n);
    return st;
}

/* spki_encode writes SEQUENCE { alg, BIT STRING { 0, RSAPublicKey { n, e } } }. */
static pcc_status spki_encode(const pcc_blindrsa_pk *pk, const uint8_t *alg, size_t alg_len,
                              uint8_t *out, size_t *out_len, size_t max_out)
{
    size_t n_c = der_uint_content_len(pk->n_bytes, pk->k);
    size_t e_c = der_uint_content_len(pk->e_bytes, pk->e_len);
    size_t rsapub_c = der_header_len(n_c) + n_c + der_header_len(e_c) + e_c;
    size_t rsapub = der_header_len(rsapub_c) + rsapub_c;
    size_t bits_c = 1 + rsapub;
    size_t spki_c = alg_len + der_header_len(bits_c) + bits_c;
    pcc_writer w;
    pcc_writer_init_fixed(&w, out, max_out);
    pcc_status st = der_header(&w, 0x30, spki_c);
    if (st == PCC_OK)
        st = pcc_writer_bytes(&w, alg, alg_len);
    if (st == PCC_OK)
        st = der_header(&w, 0x03, bits_c);
    if (st == PCC_OK)
        st = pcc_writer_u8(&w, 0x00);
    if (st == PCC_OK)
        st = der_header(&w, 0x30, rsapub_c);
    if (st == PCC_OK)
        st = der_uint(&w, pk->n_bytes, pk->k);
    if (st == PCC_OK)
        st = der_uint(&w, pk->e_bytes, pk->e_len);
    if (st != PCC_OK)
        return st;
    *out_len = w.len;
    return PCC_OK;
}

/* ---- public keys ---- */

void pcc_blindrsa_pk_free(pcc_blindrsa_pk *pk)
{
    if (pk == NULL)
        return;
    EVP_PKEY_free(pk->pkey);
    BN_free(pk->n);
    BN_free(pk->e);
    BN_MONT_CTX_free(pk->mont);
    OPENSSL_clear_free(pk, sizeof *pk);
}

/* pk_from_numbers builds a public key from (n, e) after the size and exponent checks. */
static pcc_status pk_from_numbers(pcc_blindrsa_pk **out, const BIGNUM *n, const BIGNUM *e)
{
    pcc_status st = PCC_E_CRYPTO;
    pcc_blindrsa_pk *pk = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BN_CTX *bn_ctx = NULL;

    int bits = BN_num_bits(n);
    if (bits < PCC_BLINDRSA_MIN_BITS || bits > PCC_BLINDRSA_MAX_BITS)
        return PCC_E_UNSUPPORTED;
    if (!BN_is_odd(n) || BN_is_negative(n))
        return PCC_E_FORMAT;
    if (!BN_is_odd(e) || BN_is_negative(e) || BN_num_bits(e) > 64 || BN_num_bits(e) < 2)
        return PCC_E_UNSUPPORTED; /* e >= 3, odd, at most 64 bits */

    pk = OPENSSL_zalloc(sizeof *pk);
    if (pk == NULL)
        return PCC_E_NOMEM;
    pk->bits = (unsigned)bits;
    pk->k = ((size_t)bits + 7) / 8;
    pk->n = BN_dup(n);
    pk->e = BN_dup(e);
    pk->mont = BN_MONT_CTX_new();
    bn_ctx = BN_CTX_new();
    if (pk->n == NULL || pk->e == NULL || pk->mont == NULL || bn_ctx == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    if (BN_MONT_CTX_set(pk->mont, pk->n, bn_ctx) != 1)
        goto out;
    if (BN_bn2binpad(n, pk->n_bytes, (int)pk->k) != (int)pk->k)
        goto out;
    pk->e_len = (size_t)BN_num_bytes(e);
    if (BN_bn2binpad(e, pk->e_bytes, (int)pk->e_len) != (int)pk->e_len)
        goto out;

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || ctx == NULL)
        goto out;
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk->pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto out;
    *out = pk;
    pk = NULL;
    st = PCC_OK;
out:
    pcc_blindrsa_pk_free(pk);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_CTX_free(bn_ctx);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

/* pk_from_pkey takes (n, e) from any RSA or RSA-PSS EVP_PKEY. */
static pcc_status pk_from_pkey(pcc_blindrsa_pk **out, const EVP_PKEY *pkey)
{
    BIGNUM *n = NULL, *e = NULL;
    pcc_status st = PCC_E_FORMAT;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1)
        st = pk_from_numbers(out, n, e);
    BN_free(n);
    BN_free(e);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_blindrsa_pk_from_der(pcc_blindrsa_pk **out, const uint8_t *der, size_t der_len)
{
    if (out == NULL || der == NULL || der_len == 0)
        return PCC_E_INVALID;
    *out = NULL;
    if (der_len > PCC_BLINDRSA_MAX_SPKI_LEN + 64 || der_len > LONG_MAX)
        return PCC_E_FORMAT;

    pcc_status st = PCC_E_FORMAT;
    pcc_blindrsa_pk *pk = NULL;
    const unsigned char *p = der;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)der_len);
    uint8_t enc[PCC_BLINDRSA_MAX_SPKI_LEN];
    size_t enc_len = 0;

    if (pkey == NULL || p != der + der_len)
        goto out;
    int id = EVP_PKEY_get_base_id(pkey);
    if (id != EVP_PKEY_RSA && id != EVP_PKEY_RSA_PSS) {
        st = PCC_E_UNSUPPORTED;
        goto out;
    }
    if ((st = pk_from_pkey(&pk, pkey)) != PCC_OK)
        goto out;
    /* Accept exactly the canonical DER of the forms we know: re-encode and compare. */
    st = PCC_E_FORMAT;
    if (id == EVP_PKEY_RSA) {
        if (spki_encode(pk, ALG_RSA, sizeof ALG_RSA, enc, &enc_len, sizeof enc) == PCC_OK &&
            enc_len == der_len && memcmp(enc, der, der_len) == 0)
            st = PCC_OK;
    } else {
        st = PCC_E_UNSUPPORTED; /* RSASSA-PSS with parameters other than RFC 9578's */
        if (spki_encode(pk, ALG_PSS, sizeof ALG_PSS, enc, &enc_len, sizeof enc) == PCC_OK &&
            enc_len == der_len && memcmp(enc, der, der_len) == 0)
            st = PCC_OK;
        else if (spki_encode(pk, ALG_PSS_NULL, sizeof ALG_PSS_NULL, enc, &enc_len,
                             sizeof enc) == PCC_OK &&
                 enc_len == der_len && memcmp(enc, der, der_len) == 0)
            st = PCC_OK;
    }
    if (st == PCC_OK) {
        *out = pk;
        pk = NULL;
    }
out:
    EVP_PKEY_free(pkey);
    pcc_blindrsa_pk_free(pk);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_blindrsa_pk_to_der(const pcc_blindrsa_pk *pk, int pss_oid, uint8_t *out,
                                  size_t *out_len, size_t max_out)
{
    if (pk == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    if (pss_oid)
        return spki_encode(pk, ALG_PSS, sizeof ALG_PSS, out, out_len, max_out);
    return spki_encode(pk, ALG_RSA, sizeof ALG_RSA, out, out_len, max_out);
}

unsigned pcc_blindrsa_pk_bits(const pcc_blindrsa_pk *pk)
{
    return pk ? pk->bits : 0;
}

size_t pcc_blindrsa_pk_modulus_len(const pcc_blindrsa_pk *pk)
{
    return pk ? pk->k : 0;
}

pcc_status pcc_blindrsa_pk_numbers(const pcc_blindrsa_pk *pk, uint8_t *n, size_t *n_len,
                                   size_t max_n, uint8_t *e, size_t *e_len, size_t max_e)
{
    if (pk == NULL || n == NULL || n_len == NULL || e == NULL || e_len == NULL)
        return PCC_E_INVALID;
    if (max_n < pk->k || max_e < pk->e_len)
        return PCC_E_LIMIT;
    memcpy(n, pk->n_bytes, pk->k);
    *n_len = pk->k;
    memcpy(e, pk->e_bytes, pk->e_len);
    *e_len = pk->e_len;
    return PCC_OK;
}

/* ---- private keys ---- */

void pcc_blindrsa_sk_free(pcc_blindrsa_sk *sk)
{
    if (sk == NULL)
        return;
    EVP_PKEY_free(sk->pkey);
    pcc_blindrsa_pk_free(sk->pk);
    pcc_secure_free(sk);
}

/* sk_wrap takes ownership of pkey (a plain RSA key) and wraps it with its public half. */
static pcc_status sk_wrap(pcc_blindrsa_sk **out, EVP_PKEY *pkey)
{
    pcc_blindrsa_pk *pk = NULL;
    pcc_status st;
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        return PCC_E_UNSUPPORTED;
    }
    if ((st = pk_from_pkey(&pk, pkey)) != PCC_OK) {
        EVP_PKEY_free(pkey);
        return st;
    }
    pcc_blindrsa_sk *sk = pcc_secure_alloc(sizeof *sk);
    if (sk == NULL) {
        EVP_PKEY_free(pkey);
        pcc_blindrsa_pk_free(pk);
        return PCC_E_NOMEM;
    }
    sk->pkey = pkey;
    sk->pk = pk;
    *out = sk;
    return PCC_OK;
}

pcc_status pcc_blindrsa_sk_generate(pcc_blindrsa_sk **out, unsigned bits)
{
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (bits < PCC_BLINDRSA_MIN_BITS || bits > PCC_BLINDRSA_MAX_BITS)
        return PCC_E_UNSUPPORTED;
    pcc_status st = PCC_E_CRYPTO;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL)
        goto out;
    /* e defaults to 65537; two primes (CRT). */
    if (EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0 ||
        EVP_PKEY_generate(ctx, &pkey) != 1)
        goto out;
    st = sk_wrap(out, pkey);
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_blindrsa_sk_from_der(pcc_blindrsa_sk **out, const uint8_t *der, size_t der_len)
{
    if (out == NULL || der == NULL || der_len == 0)
        return PCC_E_INVALID;
    *out = NULL;
    if (der_len > 16384)
        return PCC_E_FORMAT;
    pcc_status st = PCC_E_FORMAT;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *p1 = NULL;
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der_len);
    if (p8 == NULL || p != der + der_len)
        goto out;
    pkey = EVP_PKCS82PKEY(p8);
    if (pkey == NULL)
        goto out;
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        st = PCC_E_UNSUPPORTED;
        goto out;
    }
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits < PCC_BLINDRSA_MIN_BITS || bits > PCC_BLINDRSA_MAX_BITS) {
        st = PCC_E_UNSUPPORTED;
        goto out;
    }
    /* CRT form required; then the full consistency check (primes, d, CRT values). */
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &p1) != 1)
        goto out;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    if (EVP_PKEY_pairwise_check(ctx) != 1)
        goto out;
    st = sk_wrap(out, pkey);
    pkey = NULL;
out:
    PKCS8_PRIV_KEY_INFO_free(p8); /* wipes the encoded key */
    BN_clear_free(p1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_blindrsa_sk_to_der(const pcc_blindrsa_sk *sk, uint8_t *out, size_t *out_len,
                                  size_t max_out)
{
    if (sk == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    pcc_status st = PCC_E_CRYPTO;
    unsigned char *data = NULL;
    size_t len = 0;
    OSSL_ENCODER_CTX *ectx =
        OSSL_ENCODER_CTX_new_for_pkey(sk->pkey, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo", NULL);
    if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0)
        goto out;
    if (OSSL_ENCODER_to_data(ectx, &data, &len) != 1)
        goto out;
    if (len > max_out) {
        st = PCC_E_LIMIT;
        goto out;
    }
    memcpy(out, data, len);
    *out_len = len;
    st = PCC_OK;
out:
    OPENSSL_clear_free(data, len);
    OSSL_ENCODER_CTX_free(ectx);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_blindrsa_sk_public(const pcc_blindrsa_sk *sk, pcc_blindrsa_pk **out)
{
    if (sk == NULL || out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    return pk_from_numbers(out, sk->pk->n, sk->pk->e);
}

unsigned pcc_blindrsa_sk_bits(const pcc_blindrsa_sk *sk)
{
    return sk ? sk->pk->bits : 0;
}

/* ---- RFC 9474 ---- */

pcc_status pcc_blindrsa_prepare(pcc_blindrsa_variant v, uint8_t *out, size_t *out_len,
                                size_t max_out, const uint8_t *msg, size_t msg_len,
                                const uint8_t *prefix, size_t prefix_len)
{
    int randomized;
    if (pcc_blindrsa_variant_params(v, NULL, &randomized) != PCC_OK || out_len == NULL ||
        (msg == NULL && msg_len != 0) || (out == NULL && max_out != 0))
        return PCC_E_INVALID;
    if (!randomized) {
        /* msg_prefix is empty: input_msg = msg */
        if (prefix != NULL)
            return PCC_E_INVALID;
        if (max_out < msg_len)
            return PCC_E_LIMIT;
        if (msg_len)
            memmove(out, msg, msg_len);
        *out_len = msg_len;
        return PCC_OK;
    }
    /* msg_prefix = random(32); input_msg = concat(msg_prefix, msg) */
    if (prefix != NULL && prefix_len != PCC_BLINDRSA_PREFIX_LEN)
        return PCC_E_INVALID;
    if (msg_len > SIZE_MAX - PCC_BLINDRSA_PREFIX_LEN || max_out < msg_len + PCC_BLINDRSA_PREFIX_LEN)
        return PCC_E_LIMIT;
    if (msg_len)
        memmove(out + PCC_BLINDRSA_PREFIX_LEN, msg, msg_len);
    if (prefix != NULL)
        memcpy(out, prefix, PCC_BLINDRSA_PREFIX_LEN);
    else if (RAND_bytes(out, PCC_BLINDRSA_PREFIX_LEN) != 1) {
        ERR_clear_error();
        return PCC_E_CRYPTO;
    }
    *out_len = msg_len + PCC_BLINDRSA_PREFIX_LEN;
    return PCC_OK;
}

/* sha384_md: SHA-384 fetched once for the process (an implicit fetch per digest init costs a
 * provider lookup each time). Falls back to EVP_sha384() if the explicit fetch fails. */
static EVP_MD *g_sha384;
static pthread_once_t g_sha384_once = PTHREAD_ONCE_INIT;

static void sha384_fetch(void) { g_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL); }

static const EVP_MD *sha384_md(void)
{
    if (pthread_once(&g_sha384_once, sha384_fetch) != 0 || g_sha384 == NULL)
        return EVP_sha384();
    return g_sha384;
}

/* mgf1_xor: out[0..len) ^= MGF1-SHA-384(seed, len) (RFC 8017 §B.2.1). */
static pcc_status mgf1_xor(EVP_MD_CTX *md_ctx, const EVP_MD *md, uint8_t *out, size_t len,
                           const uint8_t *seed, size_t seed_len)
{
    uint8_t t[EVP_MAX_MD_SIZE];
    unsigned int t_len = 0;
    pcc_status st = PCC_E_CRYPTO;
    for (uint32_t counter = 0, done = 0; done < len; counter++) {
        uint8_t c[4] = {(uint8_t)(counter >> 24), (uint8_t)(counter >> 16), (uint8_t)(counter >> 8),
                        (uint8_t)counter};
        if (EVP_DigestInit_ex(md_ctx, md, NULL) != 1 ||
            EVP_DigestUpdate(md_ctx, seed, seed_len) != 1 ||
            EVP_DigestUpdate(md_ctx, c, sizeof c) != 1 ||
            EVP_DigestFinal_ex(md_ctx, t, &t_len) != 1)
            goto out;
        for (uint32_t i = 0; i < t_len && done < len; i++, done++)
            out[done] ^= t[i];
    }
    st = PCC_OK;
out:
    pcc_wipe(t, sizeof t);
    return st;
}

/* emsa_pss_encode is EMSA-PSS-ENCODE(M, emBits) with SHA-384/MGF1-SHA-384 (RFC 8017 §9.1.1). */
static pcc_status emsa_pss_encode(uint8_t *em, size_t *em_len_out, size_t em_bits,
                                  const uint8_t *msg, size_t msg_len,
                                  const uint8_t *salt, size_t s_len)
{
    static const uint8_t zeros[8] = {0};
    const EVP_MD *md = sha384_md();
    uint8_t m_hash[HLEN], h[HLEN];
    unsigned int len = 0;
    pcc_status st = PCC_E_CRYPTO;
    size_t em_len = (em_bits + 7) / 8;
    EVP_MD_CTX *md_ctx = NULL;

    /* 3. If emLen < hLen + sLen + 2, output "encoding error" */
    if (em_len < HLEN + s_len + 2)
        return PCC_E_INVALID;
    md_ctx = EVP_MD_CTX_new();
    if (md_ctx == NULL)
        return PCC_E_NOMEM;
    /* 2. mHash = Hash(M) */
    if (EVP_DigestInit_ex(md_ctx, md, NULL) != 1 || EVP_DigestUpdate(md_ctx, msg, msg_len) != 1 ||
        EVP_DigestFinal_ex(md_ctx, m_hash, &len) != 1 || len != HLEN)
        goto out;
    /* 5-6. M' = (0x)00 00 00 00 00 00 00 00 || mHash || salt; H = Hash(M') */
    if (EVP_DigestInit_ex(md_ctx, md, NULL) != 1 || EVP_DigestUpdate(md_ctx, zeros, 8) != 1 ||
        EVP_DigestUpdate(md_ctx, m_hash, HLEN) != 1 ||
        (s_len && EVP_DigestUpdate(md_ctx, salt, s_len) != 1) ||
        EVP_DigestFinal_ex(md_ctx, h, &len) != 1 || len != HLEN)
        goto out;
    /* 7-8. DB = PS || 0x01 || salt, PS = emLen - sLen - hLen - 2 zero octets */
    size_t db_len = em_len - HLEN - 1;
    memset(em, 0, db_len - s_len - 1);
    em[db_len - s_len - 1] = 0x01;
    if (s_len)
        memcpy(em + db_len - s_len, salt, s_len);
    /* 9-10. maskedDB = DB \xor MGF(H, emLen - hLen - 1) */
    if ((st = mgf1_xor(md_ctx, md, em, db_len, h, HLEN)) != PCC_OK)
        goto out;
    /* 11. Set the leftmost 8emLen - emBits bits of the leftmost octet in maskedDB to zero */
    em[0] &= (uint8_t)(0xFF >> (8 * em_len - em_bits));
    /* 12. EM = maskedDB || H || 0xbc */
    memcpy(em + db_len, h, HLEN);
    em[em_len - 1] = 0xbc;
    *em_len_out = em_len;
    st = PCC_OK;
out:
    EVP_MD_CTX_free(md_ctx);
    pcc_wipe(m_hash, sizeof m_hash);
    pcc_wipe(h, sizeof h);
    return st;
}

void pcc_blindrsa_state_free(pcc_blindrsa_state *state)
{
    pcc_secure_free(state);
}

/* mont_mul: r = a * b mod n with Montgomery arithmetic (a, b < n). */
static int mont_mul(BIGNUM *r, const BIGNUM *a, const BIGNUM *b, const pcc_blindrsa_pk *pk,
                    BN_CTX *ctx)
{
    BN_CTX_start(ctx);
    BIGNUM *t = BN_CTX_get(ctx);
    int ok = t != NULL && BN_to_montgomery(t, a, pk->mont, ctx) == 1 &&
             BN_mod_mul_montgomery(r, t, b, pk->mont, ctx) == 1;
    BN_CTX_end(ctx);
    return ok;
}

pcc_status pcc_blindrsa_blind(pcc_blindrsa_state **state, uint8_t *blinded, size_t *blinded_len,
                              size_t max_blinded, pcc_blindrsa_variant v,
                              const pcc_blindrsa_pk *pk, const uint8_t *msg, size_t msg_len,
                              const uint8_t *salt, size_t salt_len, const uint8_t *r_in,
                              size_t r_len)
{
    size_t s_len;
    if (pcc_blindrsa_variant_params(v, &s_len, NULL) != PCC_OK || state == NULL ||
        blinded == NULL || blinded_len == NULL || pk == NULL || (msg == NULL && msg_len != 0))
        return PCC_E_INVALID;
    *state = NULL;
    size_t k = pk->k;
    if (max_blinded < k)
        return PCC_E_LIMIT;
    if (salt != NULL && salt_len != s_len)
        return PCC_E_INVALID;
    if (r_in != NULL && (r_len == 0 || r_len > k))
        return PCC_E_INVALID;

    pcc_status st = PCC_E_CRYPTO;
    uint8_t em[PCC_BLINDRSA_MAX_MODULUS_LEN];
    uint8_t salt_buf[PCC_BLINDRSA_SALT_LEN];
    size_t em_len = 0;
    pcc_blindrsa_state *s = NULL;
    BN_CTX *ctx = NULL;
    BIGNUM *m = NULL, *r = NULL, *inv = NULL, *x = NULL, *z = NULL, *g = NULL, *w = NULL;
    BIGNUM *winv = NULL;
    static const uint8_t empty = 0;

    /* 1. encoded_msg = EMSA-PSS-ENCODE(msg, bit_len(n) - 1) with SHA-384, MGF1, salt_len */
    if (s_len) {
        if (salt != NULL)
            memcpy(salt_buf, salt, s_len);
        else if (RAND_bytes(salt_buf, (int)s_len) != 1)
            goto out;
    }
    st = emsa_pss_encode(em, &em_len, pk->bits - 1, msg_len ? msg : &empty, msg_len, salt_buf,
                         s_len);
    if (st != PCC_OK)
        goto out;
    st = PCC_E_NOMEM;
    ctx = BN_CTX_secure_new();
    m = BN_secure_new();
    r = BN_secure_new();
    inv = BN_secure_new();
    x = BN_secure_new();
    z = BN_new();
    g = BN_new();
    w = BN_secure_new();
    winv = BN_secure_new();
    s = pcc_secure_alloc(sizeof *s);
    if (ctx == NULL || m == NULL || r == NULL || inv == NULL || x == NULL || z == NULL ||
        g == NULL || w == NULL || winv == NULL || s == NULL)
        goto out;
    BN_set_flags(r, BN_FLG_CONSTTIME);
    BN_set_flags(inv, BN_FLG_CONSTTIME);
    st = PCC_E_CRYPTO;
    /* 3. m = bytes_to_int(encoded_msg) */
    if (BN_bin2bn(em, (int)em_len, m) == NULL)
        goto out;
    /* 4-8. c = is_coprime(m, n) ("invalid input" if not); r = random_integer_uniform(1, n);
     * inv = inverse_mod(r, n). All three come from one inversion of w = m * r mod n: w is
     * invertible iff m and r both are, and then inv = w^-1 * m. Since r is uniform over the
     * units, so is w whatever m is: the inversion can run in (faster) variable time without
     * telling anything about m or r (blinded inversion). */
    int found = 0;
    for (int tries = 0; tries < 64 && !found; tries++) {
        if (r_in != NULL) {
            if (tries > 0)
                break;
            if (BN_bin2bn(r_in, (int)r_len, r) == NULL)
                goto out;
            if (BN_is_zero(r) || BN_cmp(r, pk->n) >= 0) {
                st = PCC_E_INVALID;
                goto out;
            }
        } else {
            if (BN_priv_rand_range_ex(r, pk->n, 0, ctx) != 1)
                goto out;
            if (BN_is_zero(r))
                continue;
        }
        if (!mont_mul(w, m, r, pk, ctx))
            goto out;
        if (BN_mod_inverse(winv, w, pk->n, ctx) != NULL) {
            found = 1;
            break;
        }
        ERR_clear_error();
        /* Rare path: a message not coprime to n (fails for every r) or an unlucky r? */
        if (BN_gcd(g, m, pk->n, ctx) != 1)
            goto out;
        if (!BN_is_one(g)) {
            st = PCC_E_INVALID;
            goto out;
        }
    }
    if (!found) {
        st = r_in != NULL ? PCC_E_INVALID : PCC_E_CRYPTO; /* bad test r / "blinding error" */
        goto out;
    }
    if (!mont_mul(inv, winv, m, pk, ctx))
        goto out;
    /* 9. x = RSAVP1(pk, r) = r^e mod n (constant time in r: BN_FLG_CONSTTIME) */
    if (BN_mod_exp_mont(x, r, pk->e, pk->n, ctx, pk->mont) != 1)
        goto out;
    /* 10-11. z = m * x mod n; blinded_msg = int_to_bytes(z, modulus_len) */
    if (!mont_mul(z, m, x, pk, ctx))
        goto out;
    if (BN_bn2binpad(z, blinded, (int)k) != (int)k)
        goto out;
    s->v = v;
    s->k = k;
    /* keep inv in Montgomery form, so finalize is one Montgomery product: z * invR / R */
    if (BN_to_montgomery(winv, inv, pk->mont, ctx) != 1 ||
        BN_bn2binpad(winv, s->inv, (int)k) != (int)k)
        goto out;
    *blinded_len = k;
    *state = s;
    s = NULL;
    st = PCC_OK;
out:
    pcc_wipe(em, sizeof em);
    pcc_wipe(salt_buf, sizeof salt_buf);
    BN_clear_free(m);
    BN_clear_free(r);
    BN_clear_free(inv);
    BN_clear_free(x);
    BN_clear_free(w);
    BN_clear_free(winv);
    BN_free(z);
    BN_free(g);
    BN_CTX_free(ctx);
    pcc_secure_free(s);
    if (st != PCC_OK) {
        pcc_wipe(blinded, k);
        ERR_clear_error();
    }
    return st;
}

/* rsavp1: out = in^e mod n, both k bytes; fails for in >= n. */
static pcc_status rsavp1(const pcc_blindrsa_pk *pk, const uint8_t *in, uint8_t *out)
{
    pcc_status st = PCC_E_CRYPTO;
    size_t out_len = pk->k;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk->pkey, NULL);
    if (ctx == NULL)
        return PCC_E_NOMEM;
    if (EVP_PKEY_encrypt_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0 ||
        EVP_PKEY_encrypt(ctx, out, &out_len, in, pk->k) != 1 || out_len != pk->k)
        goto out;
    st = PCC_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    return st;
}

pcc_status pcc_blindrsa_blind_sign(const pcc_blindrsa_sk *sk, pcc_blindrsa_variant v, uint8_t *out,
                                   size_t *out_len, size_t max_out, const uint8_t *blinded,
                                   size_t blinded_len)
{
    if (pcc_blindrsa_variant_params(v, NULL, NULL) != PCC_OK || sk == NULL || out == NULL ||
        out_len == NULL || (blinded == NULL && blinded_len != 0))
        return PCC_E_INVALID;
    const pcc_blindrsa_pk *pk = sk->pk;
    size_t k = pk->k;
    if (max_out < k)
        return PCC_E_LIMIT;
    /* 1. If len(blinded_msg) != modulus_len, raise an "unexpected input size" error */
    if (blinded_len != k)
        return PCC_E_FORMAT;
    /* RSASP1 step 1: m must be in [0, n - 1] ("message representative out of range") */
    if (cmp_be(blinded, pk->n_bytes, k) >= 0)
        return PCC_E_FORMAT;

    pcc_status st = PCC_E_CRYPTO;
    uint8_t s[PCC_BLINDRSA_MAX_MODULUS_LEN], m2[PCC_BLINDRSA_MAX_MODULUS_LEN];
    size_t s_len = k;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sk->pkey, NULL);
    if (ctx == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    /* 2-3. s = RSASP1(sk, m): OpenSSL's blinded CRT private operation */
    if (EVP_PKEY_sign_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0 ||
        EVP_PKEY_sign(ctx, s, &s_len, blinded, k) != 1 || s_len != k)
        goto out;
    /* 4-5. m' = RSAVP1(pk, s); if m != m', raise a "signing failure" error */
    if (rsavp1(pk, s, m2) != PCC_OK || CRYPTO_memcmp(m2, blinded, k) != 0)
        goto out;
    /* 6. blind_sig = int_to_bytes(s, modulus_len) */
    memcpy(out, s, k);
    *out_len = k;
    st = PCC_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    pcc_wipe(s, sizeof s);
    pcc_wipe(m2, sizeof m2);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

/* pss_verify_sha384: RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) with SHA-384 and MGF1-SHA-384 and a
 * salt of exactly s_len bytes, done here: RSAVP1 with the key's cached Montgomery context and
 * EMSA-PSS-VERIFY (§9.1.2), without building an OpenSSL signature context per call. Inputs are
 * public; sig is k bytes below n (checked by the caller). */
static pcc_status pss_verify_sha384(const pcc_blindrsa_pk *pk, size_t s_len, const uint8_t *msg,
                                    size_t msg_len, const uint8_t *sig)
{
    static const uint8_t zeros[8] = {0};
    const EVP_MD *md = sha384_md();
    size_t k = pk->k, em_bits = pk->bits - 1, em_len = (em_bits + 7) / 8;
    uint8_t buf[PCC_BLINDRSA_MAX_MODULUS_LEN], m_hash[HLEN], h2[HLEN];
    unsigned int len = 0;
    pcc_status st = PCC_E_CRYPTO;
    EVP_MD_CTX *md_ctx = NULL;
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *s = BN_new(), *m = BN_new();
    if (bn == NULL || s == NULL || m == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    /* 2. m = RSAVP1((n, e), s) = s^e mod n */
    if (BN_bin2bn(sig, (int)k, s) == NULL ||
        BN_mod_exp_mont(m, s, pk->e, pk->n, bn, pk->mont) != 1 ||
        BN_bn2binpad(m, buf, (int)k) != (int)k)
        goto out;
    st = PCC_E_VERIFY;
    /* EM = I2OSP(m, emLen): emLen is k - 1 when modBits = 8(k - 1) + 1 and m must fit */
    if (em_len < k && buf[0] != 0)
        goto out;
    const uint8_t *em = buf + (k - em_len);
    /* EMSA-PSS-VERIFY 3. emLen < hLen + sLen + 2: inconsistent */
    if (em_len < HLEN + s_len + 2)
        goto out;
    /* 4. the rightmost octet of EM must be 0xbc */
    if (em[em_len - 1] != 0xbc)
        goto out;
    /* 5-6. maskedDB, H; the leftmost 8emLen - emBits bits of maskedDB must be zero */
    size_t db_len = em_len - HLEN - 1;
    uint8_t top = (uint8_t)(0xFF >> (8 * em_len - em_bits));
    if ((em[0] & (uint8_t)~top) != 0)
        goto out;
    const uint8_t *h = em + db_len;
    /* 7-9. DB = maskedDB xor MGF(H, emLen - hLen - 1), top bits cleared (in place: buf is ours) */
    uint8_t *db = buf + (k - em_len);
    st = PCC_E_NOMEM;
    if ((md_ctx = EVP_MD_CTX_new()) == NULL)
        goto out;
    st = PCC_E_CRYPTO;
    if (mgf1_xor(md_ctx, md, db, db_len, h, HLEN) != PCC_OK)
        goto out;
    db[0] &= top;
    /* 10. PS (emLen - hLen - sLen - 2 octets) must be zero, followed by 0x01 */
    st = PCC_E_VERIFY;
    size_t ps_len = em_len - HLEN - s_len - 2;
    uint8_t acc = 0;
    for (size_t i = 0; i < ps_len; i++)
        acc |= db[i];
    if (acc != 0 || db[ps_len] != 0x01)
        goto out;
    /* 2 (of 9.1.2), 11-13. mHash = Hash(M); H' = Hash(0x00*8 || mHash || salt) */
    st = PCC_E_CRYPTO;
    if (EVP_DigestInit_ex(md_ctx, md, NULL) != 1 ||
        EVP_DigestUpdate(md_ctx, msg, msg_len) != 1 ||
        EVP_DigestFinal_ex(md_ctx, m_hash, &len) != 1 || len != HLEN ||
        EVP_DigestInit_ex(md_ctx, md, NULL) != 1 || EVP_DigestUpdate(md_ctx, zeros, 8) != 1 ||
        EVP_DigestUpdate(md_ctx, m_hash, HLEN) != 1 ||
        (s_len && EVP_DigestUpdate(md_ctx, db + db_len - s_len, s_len) != 1) ||
        EVP_DigestFinal_ex(md_ctx, h2, &len) != 1 || len != HLEN)
        goto out;
    /* 14. H == H' */
    st = CRYPTO_memcmp(h, h2, HLEN) == 0 ? PCC_OK : PCC_E_VERIFY;
out:
    EVP_MD_CTX_free(md_ctx);
    BN_CTX_free(bn);
    BN_free(s);
    BN_free(m);
    pcc_wipe(buf, sizeof buf);
    return st;
}

/* pss_verify: RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) through OpenSSL. */
static pcc_status pss_verify(const pcc_blindrsa_pk *pk, const char *md_name, const char *mgf_name,
                             size_t s_len, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                             size_t sig_len)
{
    static const uint8_t empty = 0;
    /* 1. Length checking: If the length of the signature S is not k octets, output "invalid
     * signature"; RSAVP1 also rejects a representative that is not below n. */
    if (sig == NULL || sig_len != pk->k || cmp_be(sig, pk->n_bytes, pk->k) >= 0)
        return PCC_E_VERIFY;
    if (s_len > pk->k)
        return PCC_E_INVALID;
    pcc_status st = PCC_E_CRYPTO;
    if (strcmp(md_name, "SHA384") == 0 && strcmp(mgf_name, "SHA384") == 0) {
        st = pss_verify_sha384(pk, s_len, msg_len ? msg : &empty, msg_len, sig);
        if (st != PCC_OK)
            ERR_clear_error();
        return st;
    }
    EVP_PKEY_CTX *pctx = NULL; /* owned by md_ctx */
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    if (md_ctx == NULL)
        return PCC_E_NOMEM;
    if (EVP_DigestVerifyInit_ex(md_ctx, &pctx, md_name, NULL, NULL, pk->pkey, NULL) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, mgf_name, NULL) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)s_len) <= 0)
        goto out;
    st = EVP_DigestVerify(md_ctx, sig, sig_len, msg_len ? msg : &empty, msg_len) == 1
             ? PCC_OK
             : PCC_E_VERIFY;
out:
    EVP_MD_CTX_free(md_ctx);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_blindrsa_finalize(uint8_t *sig, size_t *sig_len, size_t max_sig,
                                 pcc_blindrsa_variant v, const pcc_blindrsa_pk *pk,
                                 const uint8_t *msg, size_t msg_len, const uint8_t *blind_sig,
                                 size_t blind_sig_len, const pcc_blindrsa_state *state)
{
    size_t s_len;
    if (pcc_blindrsa_variant_params(v, &s_len, NULL) != PCC_OK || sig == NULL ||
        sig_len == NULL || pk == NULL || state == NULL || (msg == NULL && msg_len != 0) ||
        (blind_sig == NULL && blind_sig_len != 0))
        return PCC_E_INVALID;
    size_t k = pk->k;
    if (max_sig < k)
        return PCC_E_LIMIT;
    if (state->v != v || state->k != k)
        return PCC_E_INVALID;
    /* 1. If len(blind_sig) != modulus_len, raise an "unexpected input size" error */
    if (blind_sig_len != k)
        return PCC_E_FORMAT;
    /* A representative >= n is not a signature: fail closed. */
    if (cmp_be(blind_sig, pk->n_bytes, k) >= 0)
        return PCC_E_VERIFY;

    pcc_status st = PCC_E_NOMEM;
    uint8_t s_bytes[PCC_BLINDRSA_MAX_MODULUS_LEN];
    BN_CTX *ctx = BN_CTX_secure_new();
    BIGNUM *z = BN_new(), *inv = BN_secure_new(), *s = BN_new();
    if (ctx == NULL || z == NULL || inv == NULL || s == NULL)
        goto out;
    BN_set_flags(inv, BN_FLG_CONSTTIME);
    st = PCC_E_CRYPTO;
    /* 2-4. z = bytes_to_int(blind_sig); s = z * inv mod n (the state holds inv * R mod n, so one
     * Montgomery product z * invR / R gives it); sig = int_to_bytes(s, modulus_len) */
    if (BN_bin2bn(blind_sig, (int)k, z) == NULL || BN_bin2bn(state->inv, (int)k, inv) == NULL ||
        BN_mod_mul_montgomery(s, z, inv, pk->mont, ctx) != 1 ||
        BN_bn2binpad(s, s_bytes, (int)k) != (int)k)
        goto out;
    /* 5-6. result = RSASSA-PSS-VERIFY(pk, msg, sig); anything but valid: "invalid signature" */
    st = pss_verify(pk, "SHA384", "SHA384", s_len, msg, msg_len, s_bytes, k);
    if (st != PCC_OK) {
        st = PCC_E_VERIFY;
        goto out;
    }
    memcpy(sig, s_bytes, k);
    *sig_len = k;
out:
    pcc_wipe(s_bytes, sizeof s_bytes);
    BN_free(z);
    BN_clear_free(inv);
    BN_clear_free(s);
    BN_CTX_free(ctx);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_blindrsa_verify(pcc_blindrsa_variant v, const pcc_blindrsa_pk *pk,
                               const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                               size_t sig_len)
{
    size_t s_len;
    if (pcc_blindrsa_variant_params(v, &s_len, NULL) != PCC_OK || pk == NULL ||
        (msg == NULL && msg_len != 0))
        return PCC_E_INVALID;
    return pss_verify(pk, "SHA384", "SHA384", s_len, msg, msg_len, sig, sig_len);
}

pcc_status pcc_blindrsa_pss_verify(const pcc_blindrsa_pk *pk, pcc_blindrsa_hash hash,
                                   pcc_blindrsa_hash mgf1_hash, size_t salt_len,
                                   const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                                   size_t sig_len)
{
    const char *md = hash_name(hash), *mgf = hash_name(mgf1_hash);
    if (pk == NULL || (msg == NULL && msg_len != 0))
        return PCC_E_INVALID;
    if (md == NULL || mgf == NULL)
        return PCC_E_UNSUPPORTED;
    return pss_verify(pk, md, mgf, salt_len, msg, msg_len, sig, sig_len);
}

pcc_status pcc_blindrsa_bench_raw(const pcc_blindrsa_sk *sk, int private_op, size_t iters,
                                  uint64_t *total_ns)
{
    if (sk == NULL || total_ns == NULL || iters == 0)
        return PCC_E_INVALID;
    size_t k = sk->pk->k;
    uint8_t in[PCC_BLINDRSA_MAX_MODULUS_LEN], out[PCC_BLINDRSA_MAX_MODULUS_LEN];
    pcc_status st = PCC_E_CRYPTO;
    struct timespec t0, t1;
    EVP_PKEY_CTX *ctx =
        EVP_PKEY_CTX_new_from_pkey(NULL, private_op ? sk->pkey : sk->pk->pkey, NULL);
    if (ctx == NULL)
        return PCC_E_NOMEM;
    if (RAND_bytes(in, (int)k) != 1)
        goto out;
    in[0] = 0; /* below n */
    if ((private_op ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_encrypt_init(ctx)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0)
        goto out;
    /* thread CPU time: load from other processes on a shared machine does not count */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (size_t i = 0; i < iters; i++) {
        size_t out_len = k;
        int rc = private_op ? EVP_PKEY_sign(ctx, out, &out_len, in, k)
                            : EVP_PKEY_encrypt(ctx, out, &out_len, in, k);
        if (rc != 1)
            goto out;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    *total_ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
                (uint64_t)t0.tv_nsec;
    st = PCC_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    pcc_wipe(out, sizeof out);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}
