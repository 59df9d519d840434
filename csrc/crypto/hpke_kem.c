/* hpke_kem.c: DHKEM(X25519, HKDF-SHA256) and DHKEM(P-256, HKDF-SHA256), RFC 9180 §4.1 and §7.1.
 *
 * Keys live in small secure objects (pcc_secure_small_alloc) together with the EVP_PKEY built from
 * them once (building an X25519 key from raw bytes costs a scalar multiplication, so a recipient
 * key is parsed once, not per message). OpenSSL's own copy of the private key is in its secure
 * heap: X25519 through pcc_ecx_private_new (ecx_secure.c), P-256 as a BN_secure_new scalar.
 * Peer public keys are validated: wrong length, a compressed or non-0x04 P-256 encoding, a point
 * off the curve (the point at infinity has no 65-byte encoding) and an X25519 point of small
 * order (all-zero shared secret) all give PCC_E_FORMAT. */
#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "ecx_secure.h"
#include "hpke_internal.h"
#include "pcc/secure.h"

#define NDH 32 /* Ndh of both KEMs */
#define NSK 32

struct pcc_hpke_key {
    uint16_t kem;
    size_t pk_len;
    uint8_t sk[NSK];              /* SerializePrivateKey(skX) */
    uint8_t pk[PCC_HPKE_MAX_PK];  /* SerializePublicKey(pkX) */
    EVP_PKEY *pkey;               /* OpenSSL copy, freed (and cleared by OpenSSL) with the key */
};
_Static_assert(sizeof(struct pcc_hpke_key) <= PCC_SECURE_SMALL_MAX,
               "key must fit a secure small object");

/* P-256 group order n, big-endian (SEC 2). */
static const uint8_t P256_ORDER[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
};

static EC_GROUP *g_p256;
static pthread_once_t g_p256_once = PTHREAD_ONCE_INIT;

static void p256_init(void) { g_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1); }

static const EC_GROUP *p256_group(void)
{
    if (pthread_once(&g_p256_once, p256_init) != 0)
        return NULL;
    return g_p256;
}

pcc_status pcc_hpke_kem_sizes(uint16_t kem, size_t *nenc, size_t *npk, size_t *nsk)
{
    size_t n;
    switch (kem) {
    case PCC_HPKE_KEM_X25519_SHA256: n = 32; break;
    case PCC_HPKE_KEM_P256_SHA256: n = 65; break;
    default: return PCC_E_UNSUPPORTED;
    }
    if (nenc)
        *nenc = n;
    if (npk)
        *npk = n;
    if (nsk)
        *nsk = NSK;
    return PCC_OK;
}

/* ct_scalar_ok returns 1 when 0 < s < n for a 32-byte big-endian s, in constant time. */
static int ct_scalar_ok(const uint8_t s[32])
{
    unsigned borrow = 0, nz = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned d = (unsigned)s[i] - (unsigned)P256_ORDER[i] - borrow;
        borrow = (d >> 8) & 1u;
        nz |= s[i];
    }
    /* borrow == 1 iff s < n */
    return (int)(borrow & (unsigned)((nz + 0xFFu) >> 8));
}

/* ct_is_zero returns 1 if n bytes are all zero, in constant time. */
static int ct_is_zero(const uint8_t *p, size_t n)
{
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return (int)(((acc - 1u) >> 8) & 1u);
}

/* p256_pkey_from_pub parses an uncompressed P-256 point (on-curve check by OpenSSL). */
static pcc_status p256_pkey_from_pub(EVP_PKEY **out, const uint8_t *pk, size_t pk_len)
{
    EVP_PKEY_CTX *c = NULL;
    pcc_status st = PCC_E_FORMAT;
    *out = NULL;
    /* SerializePublicKey is the uncompressed SEC1 point: 0x04 || x || y. */
    if (pk_len != 65 || pk[0] != 0x04)
        return PCC_E_FORMAT;
    OSSL_PARAM params[3] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pk, pk_len),
        OSSL_PARAM_construct_end(),
    };
    if ((c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    if (EVP_PKEY_fromdata_init(c) != 1) {
        st = PCC_E_CRYPTO;
        goto out;
    }
    /* fromdata decodes with EC_POINT_oct2point, which rejects coordinates >= p and points off
     * the curve; EVP_PKEY_derive_set_peer runs the full public-key check again. */
    if (EVP_PKEY_fromdata(c, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        ERR_clear_error(); /* an expected rejection of hostile input, not a library fault */
        goto out;
    }
    st = PCC_OK;
out:
    EVP_PKEY_CTX_free(c);
    return st;
}

/* pkey_from_pub is DeserializePublicKey. */
static pcc_status pkey_from_pub(uint16_t kem, EVP_PKEY **out, const uint8_t *pk, size_t pk_len)
{
    *out = NULL;
    if (pk == NULL)
        return PCC_E_FORMAT;
    if (kem == PCC_HPKE_KEM_P256_SHA256)
        return p256_pkey_from_pub(out, pk, pk_len);
    if (pk_len != 32)
        return PCC_E_FORMAT;
    /* Any 32 bytes are an X25519 public key (RFC 7748 §5); small-order points show up as an
     * all-zero DH output. */
    *out = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, pk, pk_len);
    return *out ? PCC_OK : PCC_E_CRYPTO;
}

/* p256_pkey_from_priv builds the key pair for a scalar already checked to be in [1, n-1] and
 * writes the uncompressed public key (65 bytes). */
static pcc_status p256_pkey_from_priv(EVP_PKEY **out, uint8_t pk[65], const uint8_t sk[32])
{
    const EC_GROUP *g = p256_group();
    BN_CTX *bnc = NULL;
    BIGNUM *d = NULL;
    EC_POINT *q = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *c = NULL;
    pcc_status st = PCC_E_CRYPTO;
    *out = NULL;
    if (g == NULL)
        return PCC_E_CRYPTO;
    if ((st = pcc_ossl_secure_ready()) != PCC_OK)
        return st; /* BN_secure_new would fall back to the ordinary heap */
    st = PCC_E_CRYPTO;
    if ((bnc = BN_CTX_secure_new()) == NULL || (d = BN_secure_new()) == NULL ||
        (q = EC_POINT_new(g)) == NULL || (bld = OSSL_PARAM_BLD_new()) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    BN_set_flags(d, BN_FLG_CONSTTIME);
    if (BN_bin2bn(sk, 32, d) == NULL)
        goto out;
    /* pk(sk) = sk * G */
    if (EC_POINT_mul(g, q, d, NULL, NULL, bnc) != 1 ||
        EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pk, 65, bnc) != 65)
        goto out;
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pk, 65) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    if ((c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(c) != 1 || EVP_PKEY_fromdata(c, out, EVP_PKEY_KEYPAIR, params) != 1)
        goto out;
    st = PCC_OK;
out:
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(params); /* the secure part holding the scalar is cleared */
    OSSL_PARAM_BLD_free(bld);
    EC_POINT_free(q);
    BN_clear_free(d);
    BN_CTX_free(bnc);
    return st;
}

static pcc_hpke_key *key_alloc(uint16_t kem)
{
    pcc_hpke_key *k = pcc_secure_small_alloc(sizeof *k);
    if (k != NULL)
        k->kem = kem;
    return k;
}

void pcc_hpke_key_free(pcc_hpke_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pkey);
    pcc_secure_small_free(key); /* wipes sk */
}

uint16_t pcc_hpke_key_kem(const pcc_hpke_key *key) { return key ? key->kem : 0; }

/* key_from_sk is DeserializePrivateKey (plus the public key). */
static pcc_status key_from_sk(pcc_hpke_key **out, uint16_t kem, const uint8_t *sk, size_t sk_len)
{
    pcc_status st;
    pcc_hpke_key *k = NULL;
    *out = NULL;
    if ((st = pcc_hpke_kem_sizes(kem, NULL, NULL, NULL)) != PCC_OK)
        return st;
    if (sk == NULL || sk_len != NSK)
        return PCC_E_FORMAT;
    if (kem == PCC_HPKE_KEM_P256_SHA256 && !ct_scalar_ok(sk))
        return PCC_E_FORMAT; /* not in [1, n-1] */
    if ((k = key_alloc(kem)) == NULL)
        return PCC_E_NOMEM;
    memcpy(k->sk, sk, NSK);
    if (kem == PCC_HPKE_KEM_P256_SHA256) {
        if ((st = p256_pkey_from_priv(&k->pkey, k->pk, k->sk)) != PCC_OK)
            goto out;
        k->pk_len = 65;
    } else {
        /* OpenSSL clamps at use and derives the public key here (one scalar multiplication). */
        size_t n = 32;
        if ((st = pcc_ecx_private_new(&k->pkey, "X25519", k->sk)) != PCC_OK)
            goto out;
        st = PCC_E_CRYPTO;
        if (EVP_PKEY_get_raw_public_key(k->pkey, k->pk, &n) != 1 || n != 32)
            goto out;
        k->pk_len = 32;
    }
    st = PCC_OK;
out:
    if (st != PCC_OK)
        pcc_hpke_key_free(k);
    else
        *out = k;
    return st;
}

pcc_status pcc_hpke_key_from_bytes(pcc_hpke_key **out, uint16_t kem, const uint8_t *sk,
                                   size_t sk_len)
{
    if (out == NULL)
        return PCC_E_INVALID;
    return key_from_sk(out, kem, sk, sk_len);
}

/* keygen_pkey makes a fresh EVP_PKEY key pair for kem. */
static pcc_status keygen_pkey(uint16_t kem, EVP_PKEY **out)
{
    EVP_PKEY_CTX *c = NULL;
    pcc_status st = PCC_E_CRYPTO;
    *out = NULL;
    int p256 = kem == PCC_HPKE_KEM_P256_SHA256;
    /* OpenSSL generates the private key into its secure heap (OPENSSL_secure_zalloc for X25519,
     * BN_secure_new for P-256) once it is set up. */
    if ((st = pcc_ossl_secure_ready()) != PCC_OK)
        return st;
    st = PCC_E_CRYPTO;
    if ((c = EVP_PKEY_CTX_new_from_name(NULL, p256 ? "EC" : "X25519", NULL)) == NULL)
        return PCC_E_NOMEM;
    if (EVP_PKEY_keygen_init(c) != 1)
        goto out;
    if (p256) {
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0),
            OSSL_PARAM_construct_end(),
        };
        if (EVP_PKEY_CTX_set_params(c, params) != 1)
            goto out;
    }
    if (EVP_PKEY_keygen(c, out) != 1)
        goto out;
    st = PCC_OK;
out:
    EVP_PKEY_CTX_free(c);
    return st;
}

/* pkey_public writes SerializePublicKey of an EVP_PKEY (32 or 65 bytes). */
static pcc_status pkey_public(uint16_t kem, EVP_PKEY *pkey, uint8_t *pk, size_t *pk_len)
{
    size_t n = 0;
    if (kem == PCC_HPKE_KEM_P256_SHA256) {
        if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pk, 65,
                                            &n) != 1 || n != 65 || pk[0] != 0x04)
            return PCC_E_CRYPTO;
    } else {
        n = 32;
        if (EVP_PKEY_get_raw_public_key(pkey, pk, &n) != 1 || n != 32)
            return PCC_E_CRYPTO;
    }
    *pk_len = n;
    return PCC_OK;
}

pcc_status pcc_hpke_key_generate(pcc_hpke_key **out, uint16_t kem)
{
    pcc_status st;
    pcc_hpke_key *k = NULL;
    BIGNUM *d = NULL;
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if ((st = pcc_hpke_kem_sizes(kem, NULL, NULL, NULL)) != PCC_OK)
        return st;
    if ((k = key_alloc(kem)) == NULL)
        return PCC_E_NOMEM;
    if ((st = keygen_pkey(kem, &k->pkey)) != PCC_OK ||
        (st = pkey_public(kem, k->pkey, k->pk, &k->pk_len)) != PCC_OK)
        goto out;
    st = PCC_E_CRYPTO;
    if (kem == PCC_HPKE_KEM_P256_SHA256) {
        if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
            BN_bn2binpad(d, k->sk, NSK) != NSK)
            goto out;
    } else {
        size_t n = NSK;
        if (EVP_PKEY_get_raw_private_key(k->pkey, k->sk, &n) != 1 || n != NSK)
            goto out;
    }
    st = PCC_OK;
out:
    BN_clear_free(d);
    if (st != PCC_OK)
        pcc_hpke_key_free(k);
    else
        *out = k;
    return st;
}

pcc_status pcc_hpke_key_derive(pcc_hpke_key **out, uint16_t kem, const uint8_t *ikm,
                               size_t ikm_len)
{
    pcc_status st;
    uint8_t prk[32], sk[NSK];
    EVP_MAC_CTX *mc = NULL;
    if (out == NULL || (ikm == NULL && ikm_len))
        return PCC_E_INVALID;
    *out = NULL;
    if ((st = pcc_hpke_kem_sizes(kem, NULL, NULL, NULL)) != PCC_OK)
        return st;
    /* RFC 9180 §7.1.3: ikm SHOULD have at least Nsk bytes of entropy; refuse a shorter one. */
    if (ikm_len < NSK)
        return PCC_E_INVALID;
    const uint8_t suite_id[5] = {'K', 'E', 'M', (uint8_t)(kem >> 8), (uint8_t)kem};
    if ((mc = hpke_mac_new(PCC_HPKE_KDF_HKDF_SHA256)) == NULL)
        return PCC_E_CRYPTO;
    /* dkp_prk = LabeledExtract("", "dkp_prk", ikm) */
    st = hpke_labeled_extract(mc, 32, prk, suite_id, 5, NULL, 0, "dkp_prk", ikm, ikm_len);
    if (st != PCC_OK)
        goto out;
    if (kem == PCC_HPKE_KEM_X25519_SHA256) {
        /* sk = LabeledExpand(dkp_prk, "sk", "", Nsk) */
        st = hpke_labeled_expand(mc, 32, sk, NSK, suite_id, 5, prk, 32, "sk", NULL, 0);
    } else {
        /* while sk == 0 or sk >= order: if counter > 255: raise DeriveKeyPairError
         *   bytes = LabeledExpand(dkp_prk, "candidate", I2OSP(counter, 1), Nsk)
         *   bytes[0] = bytes[0] & bitmask  (0xFF for P-256); sk = OS2IP(bytes); counter += 1 */
        int found = 0;
        for (unsigned counter = 0; counter <= 255 && !found; counter++) {
            uint8_t ctr = (uint8_t)counter;
            st = hpke_labeled_expand(mc, 32, sk, NSK, suite_id, 5, prk, 32, "candidate", &ctr, 1);
            if (st != PCC_OK)
                goto out;
            sk[0] &= 0xFF;
            found = ct_scalar_ok(sk);
        }
        if (!found)
            st = PCC_E_CRYPTO; /* DeriveKeyPairError (probability about 2^-8192) */
    }
    if (st == PCC_OK)
        st = key_from_sk(out, kem, sk, NSK);
out:
    EVP_MAC_CTX_free(mc);
    pcc_wipe(prk, sizeof prk);
    pcc_wipe(sk, sizeof sk);
    return st;
}

pcc_status pcc_hpke_key_public(const pcc_hpke_key *key, uint8_t *out, size_t *out_len,
                               size_t max_out)
{
    if (key == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    if (max_out < key->pk_len)
        return PCC_E_LIMIT;
    memcpy(out, key->pk, key->pk_len);
    *out_len = key->pk_len;
    return PCC_OK;
}

pcc_status pcc_hpke_key_private(const pcc_hpke_key *key, uint8_t *out, size_t *out_len,
                                size_t max_out)
{
    if (key == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    if (max_out < NSK)
        return PCC_E_LIMIT;
    memcpy(out, key->sk, NSK);
    *out_len = NSK;
    return PCC_OK;
}

/* dh is DH(sk, pk): the X25519 output or the P-256 x-coordinate (Ndh = 32 bytes). */
static pcc_status dh(uint16_t kem, uint8_t out[NDH], EVP_PKEY *sk, EVP_PKEY *peer)
{
    EVP_PKEY_CTX *c = NULL;
    size_t len = NDH;
    pcc_status st = PCC_E_CRYPTO;
    if ((c = EVP_PKEY_CTX_new_from_pkey(NULL, sk, NULL)) == NULL)
        return PCC_E_NOMEM;
    if (EVP_PKEY_derive_init(c) != 1)
        goto out;
    /* set_peer runs EVP_PKEY_public_check on the peer (on-curve, not infinity for P-256). */
    if (EVP_PKEY_derive_set_peer(c, peer) != 1) {
        ERR_clear_error();
        st = PCC_E_FORMAT;
        goto out;
    }
    if (EVP_PKEY_derive(c, out, &len) != 1) {
        /* OpenSSL's X25519 fails exactly when the result is all zero (small-order point). */
        if (kem == PCC_HPKE_KEM_X25519_SHA256)
            ERR_clear_error();
        st = kem == PCC_HPKE_KEM_X25519_SHA256 ? PCC_E_FORMAT : PCC_E_CRYPTO;
        goto out;
    }
    if (len != NDH)
        goto out;
    /* RFC 9180 §7.1.4: the all-zero X25519 value MUST be rejected (checked again here). */
    if (ct_is_zero(out, NDH)) {
        st = PCC_E_FORMAT;
        goto out;
    }
    st = PCC_OK;
out:
    EVP_PKEY_CTX_free(c);
    if (st != PCC_OK)
        pcc_wipe(out, NDH);
    return st;
}

/* extract_and_expand: eae_prk = LabeledExtract("", "eae_prk", dh);
 * shared_secret = LabeledExpand(eae_prk, "shared_secret", kem_context, Nsecret) */
static pcc_status extract_and_expand(EVP_MAC_CTX *mc, uint16_t kem, uint8_t *shared_secret,
                                     const uint8_t *dhv, size_t dh_len, const uint8_t *kem_ctx,
                                     size_t kem_ctx_len)
{
    const uint8_t suite_id[5] = {'K', 'E', 'M', (uint8_t)(kem >> 8), (uint8_t)kem};
    uint8_t prk[32];
    pcc_status st = hpke_labeled_extract(mc, 32, prk, suite_id, 5, NULL, 0, "eae_prk", dhv, dh_len);
    if (st == PCC_OK)
        st = hpke_labeled_expand(mc, 32, shared_secret, HPKE_NSECRET, suite_id, 5, prk, 32,
                                 "shared_secret", kem_ctx, kem_ctx_len);
    pcc_wipe(prk, sizeof prk);
    return st;
}

pcc_status hpke_kem_encap(EVP_MAC_CTX *mc, uint16_t kem, uint8_t *shared_secret, uint8_t *enc,
                          size_t *enc_len, const uint8_t *pk_r, size_t pk_r_len,
                          const pcc_hpke_key *sk_s, const pcc_hpke_key *sk_e)
{
    EVP_PKEY *peer = NULL, *eph = NULL, *eph_own = NULL;
    uint8_t dhv[HPKE_MAX_DH];
    uint8_t kem_ctx[HPKE_MAX_KEMCTX];
    size_t n_enc = 0, kc = 0;
    pcc_status st;

    if ((sk_s != NULL && sk_s->kem != kem) || (sk_e != NULL && sk_e->kem != kem))
        return PCC_E_INVALID;
    /* pkR = DeserializePublicKey(pkRm) */
    if ((st = pkey_from_pub(kem, &peer, pk_r, pk_r_len)) != PCC_OK)
        goto out;
    /* skE, pkE = GenerateKeyPair()  (or the given pair, for known-answer tests);
     * enc = SerializePublicKey(pkE) */
    if (sk_e != NULL) {
        eph = sk_e->pkey;
        memcpy(enc, sk_e->pk, sk_e->pk_len);
        n_enc = sk_e->pk_len;
    } else {
        if ((st = keygen_pkey(kem, &eph_own)) != PCC_OK ||
            (st = pkey_public(kem, eph_own, enc, &n_enc)) != PCC_OK)
            goto out;
        eph = eph_own;
    }
    /* dh = DH(skE, pkR)  [|| DH(skS, pkR) for AuthEncap] */
    if ((st = dh(kem, dhv, eph, peer)) != PCC_OK)
        goto out;
    if (sk_s != NULL && (st = dh(kem, dhv + NDH, sk_s->pkey, peer)) != PCC_OK)
        goto out;
    /* kem_context = concat(enc, pkRm [, pkSm]) */
    memcpy(kem_ctx, enc, n_enc);
    kc = n_enc;
    memcpy(kem_ctx + kc, pk_r, pk_r_len);
    kc += pk_r_len;
    if (sk_s != NULL) {
        memcpy(kem_ctx + kc, sk_s->pk, sk_s->pk_len);
        kc += sk_s->pk_len;
    }
    st = extract_and_expand(mc, kem, shared_secret, dhv, sk_s ? 2 * NDH : NDH, kem_ctx, kc);
    if (st == PCC_OK)
        *enc_len = n_enc;
out:
    EVP_PKEY_free(eph_own);
    EVP_PKEY_free(peer);
    pcc_wipe(dhv, sizeof dhv);
    return st;
}

pcc_status hpke_kem_decap(EVP_MAC_CTX *mc, uint16_t kem, uint8_t *shared_secret,
                          const uint8_t *enc, size_t enc_len, const pcc_hpke_key *sk_r,
                          const uint8_t *pk_s, size_t pk_s_len)
{
    EVP_PKEY *pk_e = NULL, *pk_s_key = NULL;
    uint8_t dhv[HPKE_MAX_DH];
    uint8_t kem_ctx[HPKE_MAX_KEMCTX];
    size_t kc = 0;
    pcc_status st;

    if (sk_r == NULL || sk_r->kem != kem)
        return PCC_E_INVALID;
    /* pkE = DeserializePublicKey(enc) [; pkS = DeserializePublicKey(pkSm)] */
    if ((st = pkey_from_pub(kem, &pk_e, enc, enc_len)) != PCC_OK)
        goto out;
    if (pk_s != NULL && (st = pkey_from_pub(kem, &pk_s_key, pk_s, pk_s_len)) != PCC_OK)
        goto out;
    /* dh = DH(skR, pkE) [|| DH(skR, pkS)] */
    if ((st = dh(kem, dhv, sk_r->pkey, pk_e)) != PCC_OK)
        goto out;
    if (pk_s != NULL && (st = dh(kem, dhv + NDH, sk_r->pkey, pk_s_key)) != PCC_OK)
        goto out;
    /* kem_context = concat(enc, pkRm [, pkSm]) */
    memcpy(kem_ctx, enc, enc_len);
    kc = enc_len;
    memcpy(kem_ctx + kc, sk_r->pk, sk_r->pk_len);
    kc += sk_r->pk_len;
    if (pk_s != NULL) {
        memcpy(kem_ctx + kc, pk_s, pk_s_len);
        kc += pk_s_len;
    }
    st = extract_and_expand(mc, kem, shared_secret, dhv, pk_s ? 2 * NDH : NDH, kem_ctx, kc);
out:
    EVP_PKEY_free(pk_e);
    EVP_PKEY_free(pk_s_key);
    pcc_wipe(dhv, sizeof dhv);
    return st;
}

pcc_status pcc_x25519(uint8_t out[32], const uint8_t *sk, size_t sk_len, const uint8_t *pk,
                      size_t pk_len)
{
    EVP_PKEY *a = NULL, *b = NULL;
    pcc_status st;
    if (out == NULL || sk == NULL || pk == NULL)
        return PCC_E_INVALID;
    if (sk_len != 32 || pk_len != 32)
        return PCC_E_FORMAT;
    if ((st = pcc_ecx_private_new(&a, "X25519", sk)) != PCC_OK)
        goto out;
    if ((st = pkey_from_pub(PCC_HPKE_KEM_X25519_SHA256, &b, pk, pk_len)) != PCC_OK)
        goto out;
    st = dh(PCC_HPKE_KEM_X25519_SHA256, out, a, b);
out:
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    return st;
}
