/* hpke_prim.c: the primitives HPKE is built from: HKDF (RFC 5869) on a cached HMAC, the labeled
 * KDF of RFC 9180 §4, and one-shot AEAD on cached EVP_CIPHER fetches.
 *
 * Fetching an algorithm in OpenSSL 3 costs a method-store lookup under a lock; it is done once
 * per process here (pthread_once) and the fetched objects are shared read-only. HMAC contexts
 * are duplicated from a per-digest template, so no call parses a digest name. */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "hpke_internal.h"
#include "pcc/secure.h"

static hpke_cache g_cache;
static int g_cache_ok;
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;

static void cache_init(void)
{
    static const char *mds[3] = {"SHA256", "SHA384", "SHA512"};
    g_cache.aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    g_cache.aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    g_cache.chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    g_cache.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (g_cache.aes128gcm == NULL || g_cache.aes256gcm == NULL || g_cache.chacha == NULL ||
        g_cache.hmac == NULL)
        return;
    for (int i = 0; i < 3; i++) {
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)mds[i], 0),
            OSSL_PARAM_construct_end(),
        };
        g_cache.hmac_tmpl[i] = EVP_MAC_CTX_new(g_cache.hmac);
        if (g_cache.hmac_tmpl[i] == NULL ||
            EVP_MAC_CTX_set_params(g_cache.hmac_tmpl[i], params) != 1)
            return;
    }
    g_cache_ok = 1;
}

const hpke_cache *hpke_cache_get(void)
{
    if (pthread_once(&g_cache_once, cache_init) != 0 || !g_cache_ok)
        return NULL;
    return &g_cache;
}

size_t hpke_kdf_nh(uint16_t kdf)
{
    switch (kdf) {
    case PCC_HPKE_KDF_HKDF_SHA256: return 32;
    case PCC_HPKE_KDF_HKDF_SHA384: return 48;
    case PCC_HPKE_KDF_HKDF_SHA512: return 64;
    default: return 0;
    }
}

EVP_MAC_CTX *hpke_mac_new(uint16_t kdf)
{
    const hpke_cache *c = hpke_cache_get();
    if (c == NULL || hpke_kdf_nh(kdf) == 0)
        return NULL;
    return EVP_MAC_CTX_dup(c->hmac_tmpl[kdf - PCC_HPKE_KDF_HKDF_SHA256]);
}

const EVP_CIPHER *hpke_aead_cipher(uint16_t aead)
{
    const hpke_cache *c = hpke_cache_get();
    if (c == NULL)
        return NULL;
    switch (aead) {
    case PCC_HPKE_AEAD_AES128GCM: return c->aes128gcm;
    case PCC_HPKE_AEAD_AES256GCM: return c->aes256gcm;
    case PCC_HPKE_AEAD_CHACHA20POLY1305: return c->chacha;
    default: return NULL;
    }
}

/* Labeled inputs up to this size are gathered into one buffer and fed to HMAC in one update
 * (each EVP_MAC_update is a provider dispatch; HPKE's labeled inputs are a few short pieces). */
#define GATHER_MAX 384

/* hmac_segs: out (nh bytes) = HMAC(key, concat(pre, segs, post)). pre/post may be empty. */
static pcc_status hmac_segs(EVP_MAC_CTX *mc, size_t nh, uint8_t *out, const uint8_t *key,
                            size_t key_len, const uint8_t *pre, size_t pre_len,
                            const hpke_seg *segs, size_t nsegs, const uint8_t *post,
                            size_t post_len)
{
    static const uint8_t empty[1] = {0};
    uint8_t buf[GATHER_MAX];
    size_t outl = 0, total = pre_len + post_len, n = 0;
    pcc_status st = PCC_E_CRYPTO;
    for (size_t i = 0; i < nsegs && total <= GATHER_MAX; i++)
        total = segs[i].n > GATHER_MAX ? GATHER_MAX + 1 : total + segs[i].n; /* no wrap */
    if (EVP_MAC_init(mc, key_len ? key : empty, key_len, NULL) != 1)
        return PCC_E_CRYPTO;
    if (total <= GATHER_MAX) {
        /* the pieces may be secret (DH output, PSK): buf is wiped below */
        if (pre_len) {
            memcpy(buf, pre, pre_len);
            n = pre_len;
        }
        for (size_t i = 0; i < nsegs; i++)
            if (segs[i].n) {
                memcpy(buf + n, segs[i].p, segs[i].n);
                n += segs[i].n;
            }
        if (post_len) {
            memcpy(buf + n, post, post_len);
            n += post_len;
        }
        if (n && EVP_MAC_update(mc, buf, n) != 1)
            goto out;
    } else {
        if (pre_len && EVP_MAC_update(mc, pre, pre_len) != 1)
            goto out;
        for (size_t i = 0; i < nsegs; i++)
            if (segs[i].n && EVP_MAC_update(mc, segs[i].p, segs[i].n) != 1)
                goto out;
        if (post_len && EVP_MAC_update(mc, post, post_len) != 1)
            goto out;
    }
    if (EVP_MAC_final(mc, out, &outl, nh) != 1 || outl != nh)
        goto out;
    st = PCC_OK;
out:
    pcc_wipe(buf, n);
    return st;
}

pcc_status hpke_extract(EVP_MAC_CTX *mc, size_t nh, uint8_t *prk, const uint8_t *salt,
                        size_t salt_len, const hpke_seg *segs, size_t nsegs)
{
    /* RFC 5869 §2.2: salt defaults to HashLen zeros (the same HMAC key as an empty one). */
    static const uint8_t zeros[HPKE_MAX_NH] = {0};
    if (salt_len == 0) {
        salt = zeros;
        salt_len = nh;
    }
    return hmac_segs(mc, nh, prk, salt, salt_len, NULL, 0, segs, nsegs, NULL, 0);
}

pcc_status hpke_expand(EVP_MAC_CTX *mc, size_t nh, uint8_t *okm, size_t L, const uint8_t *prk,
                       size_t prk_len, const hpke_seg *segs, size_t nsegs)
{
    /* RFC 5869 §2.3: T(i) = HMAC(PRK, T(i-1) | info | i), OKM = first L bytes of T(1)|T(2)|... */
    uint8_t t[HPKE_MAX_NH];
    size_t done = 0, tlen = 0;
    pcc_status st = PCC_OK;
    if (L > 255 * nh)
        return PCC_E_INVALID;
    for (unsigned i = 1; done < L; i++) {
        uint8_t ctr = (uint8_t)i;
        st = hmac_segs(mc, nh, t, prk, prk_len, t, tlen, segs, nsegs, &ctr, 1);
        if (st != PCC_OK)
            goto out;
        size_t take = L - done < nh ? L - done : nh;
        memcpy(okm + done, t, take);
        done += take;
        tlen = nh;
    }
out:
    pcc_wipe(t, sizeof t);
    if (st != PCC_OK)
        pcc_wipe(okm, L);
    return st;
}

#define HPKE_V1 "HPKE-v1"

pcc_status hpke_labeled_extract(EVP_MAC_CTX *mc, size_t nh, uint8_t *prk,
                                const uint8_t *suite_id, size_t suite_id_len,
                                const uint8_t *salt, size_t salt_len, const char *label,
                                const uint8_t *ikm, size_t ikm_len)
{
    /* labeled_ikm = concat("HPKE-v1", suite_id, label, ikm); return Extract(salt, labeled_ikm) */
    hpke_seg segs[4] = {
        {(const uint8_t *)HPKE_V1, sizeof HPKE_V1 - 1},
        {suite_id, suite_id_len},
        {(const uint8_t *)label, strlen(label)},
        {ikm, ikm_len},
    };
    return hpke_extract(mc, nh, prk, salt, salt_len, segs, 4);
}

pcc_status hpke_labeled_expand(EVP_MAC_CTX *mc, size_t nh, uint8_t *okm, size_t L,
                               const uint8_t *suite_id, size_t suite_id_len,
                               const uint8_t *prk, size_t prk_len, const char *label,
                               const uint8_t *info, size_t info_len)
{
    /* labeled_info = concat(I2OSP(L, 2), "HPKE-v1", suite_id, label, info);
     * return Expand(prk, labeled_info, L) */
    if (L > 0xFFFF)
        return PCC_E_INVALID;
    uint8_t l2[2] = {(uint8_t)(L >> 8), (uint8_t)L};
    hpke_seg segs[5] = {
        {l2, 2},
        {(const uint8_t *)HPKE_V1, sizeof HPKE_V1 - 1},
        {suite_id, suite_id_len},
        {(const uint8_t *)label, strlen(label)},
        {info, info_len},
    };
    return hpke_expand(mc, nh, okm, L, prk, prk_len, segs, 5);
}

pcc_status pcc_hkdf_extract(uint16_t kdf, uint8_t *prk, size_t *prk_len, size_t max_prk,
                            const uint8_t *salt, size_t salt_len,
                            const uint8_t *ikm, size_t ikm_len)
{
    size_t nh = hpke_kdf_nh(kdf);
    if (nh == 0)
        return PCC_E_UNSUPPORTED;
    if (prk == NULL || prk_len == NULL || (salt == NULL && salt_len) || (ikm == NULL && ikm_len))
        return PCC_E_INVALID;
    if (max_prk < nh)
        return PCC_E_LIMIT;
    EVP_MAC_CTX *mc = hpke_mac_new(kdf);
    if (mc == NULL)
        return PCC_E_CRYPTO;
    hpke_seg seg = {ikm, ikm_len};
    pcc_status st = hpke_extract(mc, nh, prk, salt, salt_len, &seg, 1);
    EVP_MAC_CTX_free(mc);
    *prk_len = st == PCC_OK ? nh : 0;
    return st;
}

pcc_status pcc_hkdf_expand(uint16_t kdf, uint8_t *okm, size_t okm_len,
                           const uint8_t *prk, size_t prk_len,
                           const uint8_t *info, size_t info_len)
{
    size_t nh = hpke_kdf_nh(kdf);
    if (nh == 0)
        return PCC_E_UNSUPPORTED;
    if ((okm == NULL && okm_len) || (prk == NULL && prk_len) || (info == NULL && info_len))
        return PCC_E_INVALID;
    if (okm_len > 255 * nh)
        return PCC_E_INVALID;
    EVP_MAC_CTX *mc = hpke_mac_new(kdf);
    if (mc == NULL)
        return PCC_E_CRYPTO;
    hpke_seg seg = {info, info_len};
    pcc_status st = hpke_expand(mc, nh, okm, okm_len, prk, prk_len, &seg, 1);
    EVP_MAC_CTX_free(mc);
    return st;
}

/* cipher_update feeds n bytes (any size_t) through EVP_CipherUpdate in int-sized chunks; out is
 * NULL for AAD. */
static int cipher_update(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t n)
{
    while (n > 0) {
        int chunk = n > (size_t)(1 << 30) ? (1 << 30) : (int)n;
        int outl = 0;
        if (EVP_CipherUpdate(c, out, &outl, in, chunk) != 1)
            return 0;
        if (out != NULL) {
            if (outl != chunk)
                return 0;
            out += chunk;
        }
        in += chunk;
        n -= (size_t)chunk;
    }
    return 1;
}

/* aead_check validates the common arguments and returns the cipher. */
static pcc_status aead_check(uint16_t aead, size_t key_len, size_t nonce_len,
                             const EVP_CIPHER **cipher)
{
    size_t nk, nn;
    if (aead == PCC_HPKE_AEAD_EXPORT_ONLY)
        return PCC_E_UNSUPPORTED;
    pcc_status st = pcc_hpke_aead_sizes(aead, &nk, &nn);
    if (st != PCC_OK)
        return st;
    if (key_len != nk || nonce_len != nn)
        return PCC_E_INVALID;
    *cipher = hpke_aead_cipher(aead);
    return *cipher == NULL ? PCC_E_CRYPTO : PCC_OK;
}

/* Message limits: AES-GCM 2^36 - 32 bytes (NIST SP 800-38D), ChaCha20-Poly1305 2^38 - 64. */
static int aead_len_ok(uint16_t aead, size_t n)
{
    uint64_t max = aead == PCC_HPKE_AEAD_CHACHA20POLY1305 ? (1ull << 38) - 64 : (1ull << 36) - 32;
    return (uint64_t)n <= max;
}

pcc_status pcc_aead_seal(uint16_t aead, const uint8_t *key, size_t key_len,
                         const uint8_t *nonce, size_t nonce_len,
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *pt, size_t pt_len,
                         uint8_t *ct, size_t *ct_len, size_t max_ct)
{
    const EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *c = NULL;
    pcc_status st = aead_check(aead, key_len, nonce_len, &cipher);
    if (st != PCC_OK)
        return st;
    if (key == NULL || nonce == NULL || ct == NULL || ct_len == NULL || (aad == NULL && aad_len) ||
        (pt == NULL && pt_len))
        return PCC_E_INVALID;
    *ct_len = 0;
    if (!aead_len_ok(aead, pt_len))
        return PCC_E_LIMIT;
    if (max_ct < pt_len + PCC_HPKE_TAG_LEN)
        return PCC_E_LIMIT;
    st = PCC_E_CRYPTO;
    if ((c = EVP_CIPHER_CTX_new()) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    int outl = 0;
    uint8_t fin[32];
    if (EVP_EncryptInit_ex2(c, cipher, key, nonce, NULL) != 1 ||
        !cipher_update(c, NULL, aad, aad_len) || !cipher_update(c, ct, pt, pt_len) ||
        EVP_EncryptFinal_ex(c, fin, &outl) != 1 || outl != 0 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, PCC_HPKE_TAG_LEN, ct + pt_len) != 1)
        goto out;
    *ct_len = pt_len + PCC_HPKE_TAG_LEN;
    st = PCC_OK;
out:
    EVP_CIPHER_CTX_free(c); /* the provider clears its key schedule */
    if (st != PCC_OK && max_ct >= pt_len + PCC_HPKE_TAG_LEN)
        pcc_wipe(ct, pt_len + PCC_HPKE_TAG_LEN);
    return st;
}

pcc_status pcc_aead_open(uint16_t aead, const uint8_t *key, size_t key_len,
                         const uint8_t *nonce, size_t nonce_len,
                         const uint8_t *aad, size_t aad_len,
                         const uint8_t *ct, size_t ct_len,
                         uint8_t *pt, size_t *pt_len, size_t max_pt)
{
    const EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *c = NULL;
    pcc_status st = aead_check(aead, key_len, nonce_len, &cipher);
    if (st != PCC_OK)
        return st;
    if (key == NULL || nonce == NULL || pt_len == NULL || (aad == NULL && aad_len) ||
        (ct == NULL && ct_len))
        return PCC_E_INVALID;
    *pt_len = 0;
    if (ct_len < PCC_HPKE_TAG_LEN)
        return PCC_E_DECRYPT; /* truncated: same answer as a bad tag */
    size_t n = ct_len - PCC_HPKE_TAG_LEN;
    if (pt == NULL && n)
        return PCC_E_INVALID;
    if (max_pt < n)
        return PCC_E_LIMIT;
    if (!aead_len_ok(aead, n))
        return PCC_E_DECRYPT;
    uint8_t tag[PCC_HPKE_TAG_LEN];
    memcpy(tag, ct + n, sizeof tag); /* before writing pt: pt may alias ct */
    st = PCC_E_CRYPTO;
    if ((c = EVP_CIPHER_CTX_new()) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    int outl = 0;
    uint8_t fin[32];
    if (EVP_DecryptInit_ex2(c, cipher, key, nonce, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, PCC_HPKE_TAG_LEN, tag) != 1 ||
        !cipher_update(c, NULL, aad, aad_len) || !cipher_update(c, pt, ct, n))
        goto out;
    if (EVP_DecryptFinal_ex(c, fin, &outl) != 1 || outl != 0) {
        ERR_clear_error();
        st = PCC_E_DECRYPT;
        goto out;
    }
    *pt_len = n;
    st = PCC_OK;
out:
    EVP_CIPHER_CTX_free(c);
    if (st != PCC_OK && n)
        pcc_wipe(pt, n); /* no unauthenticated plaintext survives */
    return st;
}
