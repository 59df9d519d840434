/* ca.c: the provisioning CA (P-384 root, node certificates from PKCS#10 requests).
 *
 * Everything is built with OpenSSL's X509 / X509_REQ objects; extensions are made from their
 * ASN.1 structures (no configuration strings). Certificates this module signs are verified with
 * the root key before they are returned (fail closed). */
#include "pcc/provision.h"

#include <limits.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pcc/secure.h"

#define SKI_LEN 20                          /* SHA-1 of the subjectPublicKey bits (RFC 5280) */
#define MAX_TIME 253402300799LL             /* 9999-12-31T23:59:59Z, the last GeneralizedTime */
#define PEM_HEAD "-----BEGIN PRIVATE KEY-----\n"
#define PEM_TAIL "-----END PRIVATE KEY-----\n"
#define PEM_LINE 64                         /* base64 characters per line (48 bytes) */

struct pcc_provision_ca { /* in pcc secure memory */
    EVP_PKEY *pkey;       /* root key; OpenSSL keeps the scalar in its secure heap */
    X509 *root;           /* root certificate */
    uint8_t ski[SKI_LEN]; /* root key identifier, the authority key id of what it signs */
    size_t ski_len;
};

_Static_assert(sizeof(struct pcc_provision_ca) <= PCC_SECURE_SMALL_MAX,
               "the CA must fit a secure small object");

int pcc_provision_serial_ok(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > PCC_PROVISION_MAX_SERIAL || s[0] == '-' || s[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == ':';
        if (!ok)
            return 0;
    }
    return 1;
}

/* name_ok: 1..PCC_PROVISION_MAX_NAME bytes with no C0 control character and no DEL (UTF-8
 * validity is checked by OpenSSL when the name is converted). */
static int name_ok(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > PCC_PROVISION_MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F)
            return 0;
    }
    return 1;
}

/* pubkey_check: the SubjectPublicKeyInfo is id-ecPublicKey with the named curve secp384r1 (an OID
 * parameter, not explicit curve parameters) and decodes to a valid point. PCC_E_UNSUPPORTED for
 * another algorithm or curve, PCC_E_FORMAT for a key that does not decode. */
static pcc_status pubkey_check(const X509_PUBKEY *xpk, EVP_PKEY *pk)
{
    ASN1_OBJECT *alg = NULL;
    X509_ALGOR *algor = NULL;
    const void *pval = NULL;
    int ptype = 0;
    if (xpk == NULL || X509_PUBKEY_get0_param(&alg, NULL, NULL, &algor, xpk) != 1)
        return PCC_E_FORMAT;
    if (OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey)
        return PCC_E_UNSUPPORTED;
    X509_ALGOR_get0(NULL, &ptype, &pval, algor);
    if (ptype != V_ASN1_OBJECT || OBJ_obj2nid((const ASN1_OBJECT *)pval) != NID_secp384r1)
        return PCC_E_UNSUPPORTED;
    if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC || EVP_PKEY_get_bits(pk) != 384)
        return PCC_E_FORMAT;
    /* P-384 has cofactor 1: a point on the curve that is not the point at infinity is in the
     * prime-order group, so the quick check (no multiplication by the order) is complete. */
    pcc_status st = PCC_E_FORMAT;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (c == NULL)
        return PCC_E_NOMEM;
    if (EVP_PKEY_public_check_quick(c) == 1)
        st = PCC_OK;
    EVP_PKEY_CTX_free(c);
    return st;
}

/* key_id: RFC 5280 §4.2.1.2 method 1, SHA-1 of the subjectPublicKey BIT STRING's value. */
static pcc_status key_id(uint8_t out[SKI_LEN], const X509_PUBKEY *xpk)
{
    const unsigned char *pk = NULL;
    int pk_len = 0;
    unsigned int n = 0;
    if (X509_PUBKEY_get0_param(NULL, &pk, &pk_len, NULL, xpk) != 1 || pk_len <= 0)
        return PCC_E_FORMAT;
    if (EVP_Digest(pk, (size_t)pk_len, out, &n, EVP_sha1(), NULL) != 1 || n != SKI_LEN)
        return PCC_E_CRYPTO;
    return PCC_OK;
}

/* add_ext adds one extension from its ASN.1 structure (X509_add1_ext_i2d returns 1 on success). */
static pcc_status add_ext(X509 *x, int nid, void *value, int critical)
{
    return X509_add1_ext_i2d(x, nid, value, critical, X509V3_ADD_DEFAULT) == 1 ? PCC_OK
                                                                               : PCC_E_CRYPTO;
}

/* add_extensions: basicConstraints and keyUsage (both critical), then the key identifiers. */
static pcc_status add_extensions(X509 *x, int is_ca, const uint8_t *ski, size_t ski_len,
                                 const uint8_t *aki, size_t aki_len)
{
    pcc_status st = PCC_E_NOMEM;
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    ASN1_OCTET_STRING *skid = ASN1_OCTET_STRING_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    ASN1_OCTET_STRING *akid_os = ASN1_OCTET_STRING_new();
    if (bc == NULL || ku == NULL || skid == NULL || akid == NULL || akid_os == NULL)
        goto out;
    if (is_ca) {
        bc->ca = 0xFF;                       /* DER TRUE */
        if ((bc->pathlen = ASN1_INTEGER_new()) == NULL || ASN1_INTEGER_set(bc->pathlen, 0) != 1)
            goto out;
        /* keyUsage bits: 5 keyCertSign, 6 cRLSign */
        if (ASN1_BIT_STRING_set_bit(ku, 5, 1) != 1 || ASN1_BIT_STRING_set_bit(ku, 6, 1) != 1)
            goto out;
    } else {
        bc->ca = 0;                          /* cA FALSE (the DEFAULT, so not encoded) */
        if (ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1) /* 0 digitalSignature */
            goto out;
    }
    if (ASN1_OCTET_STRING_set(skid, ski, (int)ski_len) != 1 ||
        ASN1_OCTET_STRING_set(akid_os, aki, (int)aki_len) != 1)
        goto out;
    akid->keyid = akid_os;
    akid_os = NULL;
    if ((st = add_ext(x, NID_basic_constraints, bc, 1)) != PCC_OK ||
        (st = add_ext(x, NID_key_usage, ku, 1)) != PCC_OK ||
        (st = add_ext(x, NID_subject_key_identifier, skid, 0)) != PCC_OK ||
        (st = add_ext(x, NID_authority_key_identifier, akid, 0)) != PCC_OK)
        goto out;
    st = PCC_OK;
out:
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    ASN1_OCTET_STRING_free(skid);
    AUTHORITY_KEYID_free(akid);
    ASN1_OCTET_STRING_free(akid_os);
    return st;
}

/* cert_new: a v3 certificate with a random 128-bit serial number (top bit set, so always 128
 * bits), the given names, validity [now, now + days] and public key. */
static pcc_status cert_new(X509 **out, const X509_NAME *subject, const X509_NAME *issuer,
                           int64_t now, uint32_t days, EVP_PKEY *pub)
{
    pcc_status st = PCC_E_NOMEM;
    BIGNUM *bn = NULL;
    X509 *x = X509_new();
    time_t t = (time_t)now;
    if (x == NULL || (bn = BN_new()) == NULL)
        goto out;
    st = PCC_E_CRYPTO;
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        BN_rand(bn, 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
        X509_set_subject_name(x, subject) != 1 || X509_set_issuer_name(x, issuer) != 1 ||
        X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &t) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &t) == NULL ||
        X509_set_pubkey(x, pub) != 1)
        goto out;
    *out = x;
    x = NULL;
    st = PCC_OK;
out:
    X509_free(x);
    BN_free(bn);
    return st;
}

/* sign_and_write: sign x with the root key (ECDSA, SHA-384), check the signature with the root
 * key, and write its DER to out. */
static pcc_status sign_and_write(X509 *x, EVP_PKEY *key, uint8_t *out, size_t *out_len,
                                 size_t max_out)
{
    if (X509_sign(x, key, EVP_sha384()) <= 0)
        return PCC_E_CRYPTO;
    if (X509_verify(x, key) != 1)
        return PCC_E_CRYPTO;
    int n = i2d_X509(x, NULL);
    if (n <= 0)
        return PCC_E_CRYPTO;
    if ((size_t)n > max_out)
        return PCC_E_LIMIT;
    unsigned char *p = out;
    if (i2d_X509(x, &p) != n)
        return PCC_E_CRYPTO;
    *out_len = (size_t)n;
    return PCC_OK;
}

static pcc_status validity_ok(int64_t now, uint32_t days)
{
    if (now < 0 || now > MAX_TIME || days == 0 || days > PCC_PROVISION_MAX_DAYS ||
        now + (int64_t)days * 86400 > MAX_TIME)
        return PCC_E_INVALID;
    return PCC_OK;
}

static pcc_provision_ca *ca_alloc(void)
{
    return pcc_secure_small_alloc(sizeof(pcc_provision_ca));
}

void pcc_provision_ca_free(pcc_provision_ca *ca)
{
    if (ca == NULL)
        return;
    EVP_PKEY_free(ca->pkey); /* OpenSSL clears the private scalar */
    X509_free(ca->root);
    pcc_secure_small_free(ca);
}

pcc_status pcc_provision_ca_generate(pcc_provision_ca **out, const char *name, size_t name_len,
                                     int64_t now, uint32_t days)
{
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (!name_ok(name, name_len) || validity_ok(now, days) != PCC_OK)
        return PCC_E_INVALID;
    pcc_status st = PCC_E_NOMEM;
    X509_NAME *n = NULL;
    X509 *x = NULL;
    pcc_provision_ca *ca = ca_alloc();
    if (ca == NULL || (n = X509_NAME_new()) == NULL)
        goto out;
    st = PCC_E_INVALID; /* the only way this fails for a checked name: not UTF-8 */
    if (X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (const unsigned char *)name,
                                   (int)name_len, -1, 0) != 1)
        goto out;
    st = PCC_E_CRYPTO;
    if ((ca->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384")) == NULL)
        goto out;
    if ((st = cert_new(&x, n, n, now, days, ca->pkey)) != PCC_OK)
        goto out;
    if ((st = key_id(ca->ski, X509_get_X509_PUBKEY(x))) != PCC_OK)
        goto out;
    ca->ski_len = SKI_LEN;
    if ((st = add_extensions(x, 1, ca->ski, SKI_LEN, ca->ski, SKI_LEN)) != PCC_OK)
        goto out;
    st = PCC_E_CRYPTO;
    if (X509_sign(x, ca->pkey, EVP_sha384()) <= 0 || X509_verify(x, ca->pkey) != 1)
        goto out;
    ca->root = x;
    x = NULL;
    *out = ca;
    ca = NULL;
    st = PCC_OK;
out:
    X509_NAME_free(n);
    X509_free(x);
    pcc_provision_ca_free(ca);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

/* pem_decode: the body of a "PRIVATE KEY" PEM (header line, base64 lines, footer line, nothing
 * else) into der (secure memory of at least key_pem_len bytes). */
static pcc_status pem_decode(uint8_t *der, size_t *der_len, const uint8_t *pem, size_t len,
                             uint8_t *b64)
{
    size_t hl = sizeof PEM_HEAD - 1, tl = sizeof PEM_TAIL - 1;
    if (len < hl + tl || memcmp(pem, PEM_HEAD, hl) != 0 ||
        memcmp(pem + len - tl, PEM_TAIL, tl) != 0)
        return PCC_E_FORMAT;
    size_t n = 0;
    size_t line = 0;
    for (size_t i = hl; i < len - tl; i++) {
        uint8_t c = pem[i];
        if (c == '\n') {
            if (line == 0 || line > PEM_LINE)
                return PCC_E_FORMAT;
            line = 0;
            continue;
        }
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/' || c == '=';
        if (!ok)
            return PCC_E_FORMAT;
        b64[n++] = c;
        line++;
    }
    if (line != 0 || n == 0 || n % 4 != 0 || n > INT_MAX)
        return PCC_E_FORMAT;
    size_t pad = (size_t)(b64[n - 1] == '=') + (size_t)(b64[n - 2] == '=');
    for (size_t i = 0; i < n - pad; i++)
        if (b64[i] == '=')
            return PCC_E_FORMAT;
    int m = EVP_DecodeBlock(der, b64, (int)n);
    if (m < 0 || (size_t)m < pad)
        return PCC_E_FORMAT;
    *der_len = (size_t)m - pad;
    return PCC_OK;
}

pcc_status pcc_provision_ca_load(pcc_provision_ca **out, const uint8_t *key_pem,
                                 size_t key_pem_len, const uint8_t *cert_der, size_t cert_der_len)
{
    if (out == NULL || key_pem == NULL || cert_der == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (key_pem_len == 0 || key_pem_len > PCC_PROVISION_MAX_KEY_PEM || cert_der_len == 0 ||
        cert_der_len > PCC_PROVISION_MAX_CERT)
        return PCC_E_FORMAT;
    pcc_status st = PCC_E_NOMEM;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    EVP_PKEY_CTX *c = NULL;
    X509 *x = NULL;
    size_t der_len = 0;
    uint8_t *b64 = pcc_secure_alloc(key_pem_len);
    uint8_t *der = pcc_secure_alloc(key_pem_len);
    pcc_provision_ca *ca = ca_alloc();
    if (b64 == NULL || der == NULL || ca == NULL)
        goto out;
    if ((st = pem_decode(der, &der_len, key_pem, key_pem_len, b64)) != PCC_OK)
        goto out;
    st = PCC_E_FORMAT;
    const unsigned char *p = der;
    if ((p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der_len)) == NULL || p != der + der_len)
        goto out;
    if ((ca->pkey = EVP_PKCS82PKEY(p8)) == NULL ||
        EVP_PKEY_get_base_id(ca->pkey) != EVP_PKEY_EC || EVP_PKEY_get_bits(ca->pkey) != 384)
        goto out;
    char group[32];
    size_t group_len = 0;
    if (EVP_PKEY_get_utf8_string_param(ca->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &group_len) != 1 ||
        strcmp(group, "secp384r1") != 0)
        goto out;
    if ((c = EVP_PKEY_CTX_new_from_pkey(NULL, ca->pkey, NULL)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    if (EVP_PKEY_pairwise_check(c) != 1)
        goto out;
    /* the certificate: one DER object, a P-384 CA certificate for this very key, self-signed */
    p = cert_der;
    if ((x = d2i_X509(NULL, &p, (long)cert_der_len)) == NULL || p != cert_der + cert_der_len)
        goto out;
    if ((st = pubkey_check(X509_get_X509_PUBKEY(x), X509_get0_pubkey(x))) != PCC_OK) {
        st = PCC_E_FORMAT;
        goto out;
    }
    st = PCC_E_FORMAT;
    if (X509_check_private_key(x, ca->pkey) != 1 || X509_check_ca(x) != 1 ||
        X509_verify(x, ca->pkey) != 1)
        goto out;
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(x);
    if (skid != NULL && ASN1_STRING_length(skid) > 0 && ASN1_STRING_length(skid) <= SKI_LEN) {
        ca->ski_len = (size_t)ASN1_STRING_length(skid);
        memcpy(ca->ski, ASN1_STRING_get0_data(skid), ca->ski_len);
    } else {
        if ((st = key_id(ca->ski, X509_get_X509_PUBKEY(x))) != PCC_OK)
            goto out;
        ca->ski_len = SKI_LEN;
    }
    ca->root = x;
    x = NULL;
    *out = ca;
    ca = NULL;
    st = PCC_OK;
out:
    PKCS8_PRIV_KEY_INFO_free(p8); /* clears the encoded key */
    EVP_PKEY_CTX_free(c);
    X509_free(x);
    pcc_provision_ca_free(ca);
    pcc_secure_free(der);
    pcc_secure_free(b64);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_provision_ca_root_der(const pcc_provision_ca *ca, uint8_t *out, size_t *out_len,
                                     size_t max_out)
{
    if (ca == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    int n = i2d_X509(ca->root, NULL);
    if (n <= 0)
        return PCC_E_CRYPTO;
    if ((size_t)n > max_out)
        return PCC_E_LIMIT;
    unsigned char *p = out;
    if (i2d_X509(ca->root, &p) != n)
        return PCC_E_CRYPTO;
    *out_len = (size_t)n;
    return PCC_OK;
}

pcc_status pcc_provision_ca_key_pem(const pcc_provision_ca *ca, uint8_t *out, size_t *out_len,
                                    size_t max_out)
{
    if (ca == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    pcc_status st = PCC_E_CRYPTO;
    uint8_t *der = NULL;
    int n = 0;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(ca->pkey);
    if (p8 == NULL || (n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL)) <= 0)
        goto out;
    if ((der = pcc_secure_alloc((size_t)n)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    unsigned char *p = der;
    if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != n)
        goto out;
    size_t hl = sizeof PEM_HEAD - 1, tl = sizeof PEM_TAIL - 1;
    size_t lines = ((size_t)n + 47) / 48;
    size_t need = hl + tl + ((size_t)n + 2) / 3 * 4 + lines;
    if (need > max_out) {
        st = PCC_E_LIMIT;
        goto out;
    }
    size_t w = 0;
    memcpy(out, PEM_HEAD, hl);
    w = hl;
    for (size_t i = 0; i < (size_t)n; i += 48) {
        size_t chunk = (size_t)n - i < 48 ? (size_t)n - i : 48;
        int e = EVP_EncodeBlock(out + w, der + i, (int)chunk);
        if (e <= 0)
            goto out;
        w += (size_t)e;
        out[w++] = '\n';
    }
    memcpy(out + w, PEM_TAIL, tl);
    w += tl;
    *out_len = w;
    st = PCC_OK;
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    pcc_secure_free(der);
    if (st != PCC_OK) {
        pcc_wipe(out, max_out);
        ERR_clear_error();
    }
    return st;
}

/* csr_parse: decode and check a request (see pcc_provision_csr_serial); on success *out owns the
 * request and serial holds its NUL-terminated serial. */
static pcc_status csr_parse(X509_REQ **out, char serial[PCC_PROVISION_MAX_SERIAL + 1],
                            const uint8_t *csr, size_t csr_len)
{
    if (csr == NULL || csr_len == 0 || csr_len > PCC_PROVISION_MAX_CSR)
        return PCC_E_FORMAT;
    pcc_status st = PCC_E_FORMAT;
    const unsigned char *p = csr;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)csr_len);
    if (req == NULL || p != csr + csr_len || X509_REQ_get_version(req) != 0)
        goto out;
    /* the key: EC P-384, named curve, a valid point */
    if ((st = pubkey_check(X509_REQ_get_X509_PUBKEY(req), X509_REQ_get0_pubkey(req))) != PCC_OK)
        goto out;
    /* the signature: ECDSA with SHA-384 over the request info, by that key */
    const ASN1_BIT_STRING *sig = NULL;
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *alg_obj = NULL;
    X509_REQ_get0_signature(req, &sig, &alg);
    X509_ALGOR_get0(&alg_obj, NULL, NULL, alg);
    if (OBJ_obj2nid(alg_obj) != NID_ecdsa_with_SHA384) {
        st = PCC_E_UNSUPPORTED;
        goto out;
    }
    if (X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1) {
        st = PCC_E_VERIFY;
        goto out;
    }
    /* the subject: exactly one serialNumber, a PrintableString (or UTF8String) of serial
     * characters */
    st = PCC_E_FORMAT;
    const X509_NAME *name = X509_REQ_get_subject_name(req);
    int idx = X509_NAME_get_index_by_NID(name, NID_serialNumber, -1);
    if (idx < 0 || X509_NAME_get_index_by_NID(name, NID_serialNumber, idx) >= 0)
        goto out;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    int type = ASN1_STRING_type(s);
    int len = ASN1_STRING_length(s);
    if ((type != V_ASN1_PRINTABLESTRING && type != V_ASN1_UTF8STRING) || len <= 0 ||
        len > PCC_PROVISION_MAX_SERIAL)
        goto out;
    const char *data = (const char *)ASN1_STRING_get0_data(s);
    if (!pcc_provision_serial_ok(data, (size_t)len))
        goto out;
    memcpy(serial, data, (size_t)len);
    serial[len] = '\0';
    *out = req;
    req = NULL;
    st = PCC_OK;
out:
    X509_REQ_free(req);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_provision_csr_serial(char *out, size_t max_out, const uint8_t *csr, size_t csr_len)
{
    if (out == NULL || max_out <= PCC_PROVISION_MAX_SERIAL)
        return PCC_E_INVALID;
    X509_REQ *req = NULL;
    char serial[PCC_PROVISION_MAX_SERIAL + 1];
    pcc_status st = csr_parse(&req, serial, csr, csr_len);
    if (st == PCC_OK)
        memcpy(out, serial, strlen(serial) + 1);
    X509_REQ_free(req);
    return st;
}

/* issue_node: the node certificate for pkey (already checked) naming serial, signed by the root;
 * with ak_eku, the extendedKeyUsage tcg-kp-AIKCertificate as well. */
static pcc_status issue_node(const pcc_provision_ca *ca, uint8_t *out, size_t *out_len,
                             size_t max_out, const char *serial, EVP_PKEY *pkey, int64_t now,
                             uint32_t days, int ak_eku)
{
    X509_NAME *subject = NULL;
    X509 *x = NULL;
    EXTENDED_KEY_USAGE *eku = NULL;
    ASN1_OBJECT *oid = NULL;
    uint8_t ski[SKI_LEN];
    pcc_status st = PCC_E_NOMEM;
    if ((subject = X509_NAME_new()) == NULL)
        goto out;
    st = PCC_E_CRYPTO;
    if (X509_NAME_add_entry_by_NID(subject, NID_serialNumber, V_ASN1_PRINTABLESTRING,
                                   (const unsigned char *)serial, (int)strlen(serial), -1,
                                   0) != 1)
        goto out;
    if ((st = cert_new(&x, subject, X509_get_subject_name(ca->root), now, days, pkey)) !=
            PCC_OK ||
        (st = key_id(ski, X509_get_X509_PUBKEY(x))) != PCC_OK ||
        (st = add_extensions(x, 0, ski, SKI_LEN, ca->ski, ca->ski_len)) != PCC_OK)
        goto out;
    if (ak_eku) {
        st = PCC_E_NOMEM;
        if ((eku = sk_ASN1_OBJECT_new_null()) == NULL ||
            (oid = OBJ_txt2obj(PCC_PROVISION_AK_EKU_OID, 1)) == NULL ||
            !sk_ASN1_OBJECT_push(eku, oid))
            goto out;
        oid = NULL; /* eku owns it */
        if ((st = add_ext(x, NID_ext_key_usage, eku, 0)) != PCC_OK)
            goto out;
    }
    st = sign_and_write(x, ca->pkey, out, out_len, max_out);
out:
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    ASN1_OBJECT_free(oid);
    X509_NAME_free(subject);
    X509_free(x);
    return st;
}

static pcc_status in_inventory(const char *serial, const char *const *inventory, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (inventory[i] != NULL && strcmp(inventory[i], serial) == 0)
            return PCC_OK;
    return PCC_E_UNKNOWN_KEY;
}

pcc_status pcc_provision_ca_issue(const pcc_provision_ca *ca, uint8_t *out, size_t *out_len,
                                  size_t max_out, char *serial_out, size_t serial_max,
                                  const uint8_t *csr, size_t csr_len,
                                  const char *const *inventory, size_t inventory_len,
                                  int64_t now, uint32_t days)
{
    if (ca == NULL || out == NULL || out_len == NULL || serial_out == NULL ||
        serial_max <= PCC_PROVISION_MAX_SERIAL || (inventory == NULL && inventory_len != 0) ||
        validity_ok(now, days) != PCC_OK)
        return PCC_E_INVALID;
    serial_out[0] = '\0';
    X509_REQ *req = NULL;
    char serial[PCC_PROVISION_MAX_SERIAL + 1];
    pcc_status st = csr_parse(&req, serial, csr, csr_len);
    if (st != PCC_OK)
        goto out;
    memcpy(serial_out, serial, strlen(serial) + 1);
    if ((st = in_inventory(serial, inventory, inventory_len)) != PCC_OK)
        goto out;
    st = issue_node(ca, out, out_len, max_out, serial, X509_REQ_get0_pubkey(req), now, days, 0);
out:
    X509_REQ_free(req);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_provision_ca_issue_ak(const pcc_provision_ca *ca, uint8_t *out, size_t *out_len,
                                     size_t max_out, const uint8_t *spki, size_t spki_len,
                                     const char *serial, size_t serial_len,
                                     const char *const *inventory, size_t inventory_len,
                                     int64_t now, uint32_t days)
{
    if (ca == NULL || out == NULL || out_len == NULL || spki == NULL || serial == NULL ||
        (inventory == NULL && inventory_len != 0) || validity_ok(now, days) != PCC_OK)
        return PCC_E_INVALID;
    if (!pcc_provision_serial_ok(serial, serial_len))
        return PCC_E_INVALID;
    char name[PCC_PROVISION_MAX_SERIAL + 1];
    memcpy(name, serial, serial_len);
    name[serial_len] = '\0';
    X509_PUBKEY *xpk = NULL;
    pcc_status st = PCC_E_FORMAT;
    const unsigned char *p = spki;
    if (spki_len == 0 || spki_len > 1024 ||
        (xpk = d2i_X509_PUBKEY(NULL, &p, (long)spki_len)) == NULL || p != spki + spki_len)
        goto out;
    if ((st = pubkey_check(xpk, X509_PUBKEY_get0(xpk))) != PCC_OK)
        goto out;
    if ((st = in_inventory(name, inventory, inventory_len)) != PCC_OK)
        goto out;
    st = issue_node(ca, out, out_len, max_out, name, X509_PUBKEY_get0(xpk), now, days, 1);
out:
    X509_PUBKEY_free(xpk);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}
