/* p384.c: ECDSA P-384 / SHA-384 node identity keys (FIPS 186-5), their CSRs (RFC 2986) and
 * signature verification against a DER SubjectPublicKeyInfo.
 *
 * The key object is a secure small allocation holding the EVP_PKEY and its public encodings;
 * OpenSSL keeps the private scalar in a BN_secure (its secure heap, which pcc._core initialises)
 * and clears it when the EVP_PKEY is freed. Signatures are DER ECDSA-Sig-Value (RFC 5480 §2.2 /
 * RFC 3279); OpenSSL refuses non-DER encodings on verify. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "attest_internal.h"
#include "pcc/secure.h"

struct pcc_p384_key {
    EVP_PKEY *pkey;
    uint8_t spki[PCC_ATTEST_SPKI_LEN];
    uint8_t node_id[PCC_ATTEST_NODE_ID];
};
_Static_assert(sizeof(struct pcc_p384_key) <= PCC_SECURE_SMALL_MAX,
               "key must fit a secure small object");

int pcc_attest_pkey_is_p384(const EVP_PKEY *pk)
{
    char group[32];
    size_t n = 0;
    if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC)
        return 0;
    if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &n) != 1)
        return 0;
    return strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0;
}

/* finish fills the public encodings of a key that holds k->pkey. */
static pcc_status finish(pcc_p384_key *k)
{
    uint8_t *p = k->spki;
    if (!pcc_attest_pkey_is_p384(k->pkey))
        return PCC_E_FORMAT;
    if (i2d_PUBKEY(k->pkey, NULL) != PCC_ATTEST_SPKI_LEN || i2d_PUBKEY(k->pkey, &p) != PCC_ATTEST_SPKI_LEN)
        return PCC_E_CRYPTO;
    if (SHA256(k->spki, PCC_ATTEST_SPKI_LEN, k->node_id) == NULL)
        return PCC_E_CRYPTO;
    return PCC_OK;
}

void pcc_p384_key_free(pcc_p384_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey); /* clears the secure scalar */
    pcc_secure_small_free(k);
}

pcc_status pcc_p384_key_generate(pcc_p384_key **out)
{
    EVP_PKEY_CTX *c = NULL;
    pcc_p384_key *k = NULL;
    pcc_status st = PCC_E_CRYPTO;
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if ((k = pcc_secure_small_alloc(sizeof *k)) == NULL)
        return PCC_E_NOMEM;
    if ((c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-384", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_CTX_set_params(c, params) != 1 ||
        EVP_PKEY_keygen(c, &k->pkey) != 1)
        goto out;
    st = finish(k);
out:
    EVP_PKEY_CTX_free(c);
    ERR_clear_error();
    if (st != PCC_OK)
        pcc_p384_key_free(k);
    else
        *out = k;
    return st;
}

pcc_status pcc_p384_key_from_der(pcc_p384_key **out, const uint8_t *der, size_t len)
{
    pcc_p384_key *k = NULL;
    const uint8_t *p = der;
    pcc_status st = PCC_E_FORMAT;
    if (out == NULL || der == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (len == 0 || len > 4096)
        return PCC_E_FORMAT;
    if ((k = pcc_secure_small_alloc(sizeof *k)) == NULL)
        return PCC_E_NOMEM;
    /* PKCS#8 PrivateKeyInfo or SEC 1 ECPrivateKey, and nothing after it */
    k->pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
    if (k->pkey == NULL || p != der + len)
        goto out;
    st = finish(k);
out:
    ERR_clear_error();
    if (st != PCC_OK)
        pcc_p384_key_free(k);
    else
        *out = k;
    return st;
}

pcc_status pcc_p384_key_export_der(const pcc_p384_key *k, uint8_t *out, size_t *out_len,
                                   size_t max)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    uint8_t *der = NULL;
    int n = 0;
    pcc_status st = PCC_E_CRYPTO;
    if (k == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    if ((p8 = EVP_PKEY2PKCS8(k->pkey)) == NULL || (n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0)
        goto out;
    if ((size_t)n > max) {
        st = PCC_E_LIMIT;
        goto out;
    }
    memcpy(out, der, (size_t)n);
    *out_len = (size_t)n;
    st = PCC_OK;
out:
    if (der != NULL && n > 0)
        OPENSSL_clear_free(der, (size_t)n);
    PKCS8_PRIV_KEY_INFO_free(p8); /* frees its copy with a clearing free */
    ERR_clear_error();
    return st;
}

const uint8_t *pcc_p384_key_spki(const pcc_p384_key *k) { return k ? k->spki : NULL; }

void pcc_p384_key_node_id(const pcc_p384_key *k, uint8_t out[PCC_ATTEST_NODE_ID])
{
    if (k != NULL && out != NULL)
        memcpy(out, k->node_id, PCC_ATTEST_NODE_ID);
}

EVP_PKEY *pcc_p384_key_pkey(const pcc_p384_key *k) { return k ? k->pkey : NULL; }

pcc_status pcc_p384_key_sign(const pcc_p384_key *k, uint8_t *sig, size_t *sig_len, size_t max,
                             const uint8_t *msg, size_t len)
{
    EVP_MD_CTX *c = NULL;
    uint8_t buf[PCC_ATTEST_MAX_SIG + 16];
    size_t n = sizeof buf;
    pcc_status st = PCC_E_CRYPTO;
    if (k == NULL || sig == NULL || sig_len == NULL || (msg == NULL && len > 0))
        return PCC_E_INVALID;
    if ((c = EVP_MD_CTX_new()) == NULL)
        return PCC_E_NOMEM;
    if (EVP_DigestSignInit_ex(c, NULL, "SHA384", NULL, NULL, k->pkey, NULL) != 1 ||
        EVP_DigestSign(c, buf, &n, msg, len) != 1 || n > PCC_ATTEST_MAX_SIG)
        goto out;
    if (n > max) {
        st = PCC_E_LIMIT;
        goto out;
    }
    memcpy(sig, buf, n);
    *sig_len = n;
    st = PCC_OK;
out:
    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return st;
}

pcc_status pcc_attest_pkey_verify(EVP_PKEY *pk, const uint8_t *msg, size_t len,
                                  const uint8_t *sig, size_t sig_len)
{
    EVP_MD_CTX *c;
    int r;
    if (sig_len == 0 || sig_len > PCC_ATTEST_MAX_SIG)
        return PCC_E_VERIFY;
    if ((c = EVP_MD_CTX_new()) == NULL)
        return PCC_E_NOMEM;
    r = EVP_DigestVerifyInit_ex(c, NULL, "SHA384", NULL, NULL, pk, NULL);
    if (r == 1)
        r = EVP_DigestVerify(c, sig, sig_len, msg, len);
    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return r == 1 ? PCC_OK : PCC_E_VERIFY;
}

pcc_status pcc_p384_verify(const uint8_t *spki, size_t spki_len, const uint8_t *msg, size_t len,
                           const uint8_t *sig, size_t sig_len)
{
    const uint8_t *p = spki;
    EVP_PKEY *pk;
    pcc_status st;
    if (spki == NULL || (msg == NULL && len > 0) || (sig == NULL && sig_len > 0))
        return PCC_E_INVALID;
    if (spki_len == 0 || spki_len > 4096)
        return PCC_E_FORMAT;
    pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
    if (pk == NULL || p != spki + spki_len || !pcc_attest_pkey_is_p384(pk)) {
        EVP_PKEY_free(pk);
        ERR_clear_error();
        return PCC_E_FORMAT;
    }
    st = pcc_attest_pkey_verify(pk, msg, len, sig, sig_len);
    EVP_PKEY_free(pk);
    return st;
}

/* printable: X.520 PrintableString characters. */
static int printable(const char *s, size_t n)
{
    static const char extra[] = " '()+,-./:=?";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr(extra, c) != NULL)))
            return 0;
    }
    return 1;
}

pcc_status pcc_p384_key_csr(const pcc_p384_key *k, const char *serial, size_t serial_len,
                            pcc_writer *w)
{
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    uint8_t *der = NULL;
    int n = 0;
    pcc_status st = PCC_E_CRYPTO;
    if (k == NULL || w == NULL || serial == NULL)
        return PCC_E_INVALID;
    if (serial_len == 0 || serial_len > PCC_ATTEST_MAX_SERIAL || !printable(serial, serial_len))
        return PCC_E_INVALID;
    if ((req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    if (X509_NAME_add_entry_by_NID(name, NID_serialNumber, V_ASN1_PRINTABLESTRING,
                                   (const unsigned char *)serial, (int)serial_len, -1, 0) != 1 ||
        X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_subject_name(req, name) != 1 ||
        X509_REQ_set_pubkey(req, k->pkey) != 1 || X509_REQ_sign(req, k->pkey, EVP_sha384()) <= 0)
        goto out;
    if ((n = i2d_X509_REQ(req, &der)) <= 0)
        goto out;
    st = pcc_writer_bytes(w, der, (size_t)n);
out:
    OPENSSL_free(der);
    X509_NAME_free(name);
    X509_REQ_free(req);
    ERR_clear_error();
    return st;
}

pcc_status pcc_attest_register_extend(uint8_t reg[PCC_ATTEST_DIGEST], const char *name,
                                      size_t name_len, const uint8_t digest[PCC_ATTEST_DIGEST])
{
    uint8_t buf[3 * PCC_ATTEST_DIGEST];
    if (reg == NULL || digest == NULL || (name == NULL && name_len > 0))
        return PCC_E_INVALID;
    /* R = SHA-384(R || SHA-384(name) || digest) */
    memcpy(buf, reg, PCC_ATTEST_DIGEST);
    if (SHA384((const unsigned char *)(name ? name : ""), name_len, buf + PCC_ATTEST_DIGEST) == NULL)
        return PCC_E_CRYPTO;
    memcpy(buf + 2 * PCC_ATTEST_DIGEST, digest, PCC_ATTEST_DIGEST);
    if (SHA384(buf, sizeof buf, reg) == NULL)
        return PCC_E_CRYPTO;
    return PCC_OK;
}
