/* chain.c: X.509 chain verification against pinned provisioning roots only (RFC 5280 §6 by
 * OpenSSL's X509_verify_cert, plus this project's own rules checked explicitly after it).
 *
 * The store holds the pinned roots and nothing else (no default paths, no partial chains), so a
 * chain verifies only when it ends at one of them. Certificates in the bundle that are byte for
 * byte a pinned root are dropped before building (a root copy is ignored); any other certificate
 * is only ever an untrusted intermediate. Then, on the chain OpenSSL built:
 * - every certificate has a P-384 key and is signed with ecdsa-with-SHA384;
 * - every certificate above the leaf has basicConstraints with cA TRUE, and a pathLenConstraint
 *   (when present) at least the number of intermediates below it;
 * - the leaf is not a CA and has keyUsage with digitalSignature.
 * Validity times are returned as a window so that a cached result can be checked at any `now`
 * by the caller exactly as a fresh one. */
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest_internal.h"

int pcc_attest_cert_is_p384(X509 *x)
{
    return X509_get_signature_nid(x) == NID_ecdsa_with_SHA384 &&
           pcc_attest_pkey_is_p384(X509_get0_pubkey(x));
}

/* unix_time converts an ASN1_TIME to seconds since the epoch. */
static int unix_time(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    time_t s = timegm(&tm);
    if (s == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
        return 0;
    *out = (int64_t)s;
    return 1;
}

static const char *reason_of(int err)
{
    switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return "the chain does not reach a pinned provisioning root";
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
        return "a certificate signature does not verify";
    case X509_V_ERR_INVALID_CA:
        return "an issuing certificate is not a CA";
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        return "a CA's path length constraint is exceeded";
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return "the chain is too long";
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
        return "a certificate has an unknown critical extension";
    default:
        return "the certificate chain does not verify";
    }
}

pcc_status pcc_attest_chain_verify(X509_STORE *roots, STACK_OF(X509) *root_list,
                                   const uint8_t *const *certs, const size_t *lens, size_t n,
                                   pcc_attest_chain_ok *out, const char **reason)
{
    X509 *parsed[PCC_ATTEST_MAX_CHAIN] = {0};
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *chain;
    uint8_t *spki = NULL;
    int spki_len;
    pcc_status st = PCC_E_VERIFY;

    memset(out, 0, sizeof *out);
    *reason = "the certificate chain does not verify";
    if (n == 0 || n > PCC_ATTEST_MAX_CHAIN)
        return PCC_E_VERIFY;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = certs[i];
        parsed[i] = d2i_X509(NULL, &p, (long)lens[i]);
        if (parsed[i] == NULL || p != certs[i] + lens[i]) {
            *reason = "a certificate is not valid DER";
            goto out;
        }
        if (!pcc_attest_cert_is_p384(parsed[i])) {
            *reason = "a certificate is not ECDSA P-384 with SHA-384";
            goto out;
        }
    }
    if ((untrusted = sk_X509_new_null()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    for (size_t i = 1; i < n; i++) {
        int is_root = 0;
        for (int r = 0; r < sk_X509_num(root_list) && !is_root; r++)
            is_root = X509_cmp(parsed[i], sk_X509_value(root_list, r)) == 0;
        if (!is_root && !sk_X509_push(untrusted, parsed[i])) {
            st = PCC_E_NOMEM;
            goto out;
        }
    }
    if (X509_STORE_CTX_init(ctx, roots, parsed[0], untrusted) != 1) {
        st = PCC_E_NOMEM;
        goto out;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME);
    X509_VERIFY_PARAM_set_depth(param, PCC_ATTEST_MAX_CHAIN);
    if (X509_verify_cert(ctx) != 1) {
        *reason = reason_of(X509_STORE_CTX_get_error(ctx));
        goto out;
    }
    chain = X509_STORE_CTX_get0_chain(ctx);
    int len = sk_X509_num(chain);
    out->not_before = INT64_MIN;
    out->not_after = INT64_MAX;
    for (int i = 0; i < len; i++) {
        X509 *x = sk_X509_value(chain, i);
        uint32_t flags = X509_get_extension_flags(x);
        int64_t nb, na;
        if (!pcc_attest_cert_is_p384(x)) {
            *reason = "a certificate is not ECDSA P-384 with SHA-384";
            goto out;
        }
        if (i == 0) {
            if (flags & EXFLAG_CA) {
                *reason = "the node certificate is a CA";
                goto out;
            }
            if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE)) {
                *reason = "the node certificate lacks keyUsage digitalSignature";
                goto out;
            }
        } else {
            long plen = X509_get_pathlen(x);
            if (!(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA)) {
                *reason = "an issuing certificate is not a CA";
                goto out;
            }
            if (plen >= 0 && plen < i - 1) {
                *reason = "a CA's path length constraint is exceeded";
                goto out;
            }
        }
        if (!unix_time(X509_get0_notBefore(x), &nb) || !unix_time(X509_get0_notAfter(x), &na)) {
            *reason = "a certificate has an unreadable validity period";
            goto out;
        }
        if (nb > out->not_before)
            out->not_before = nb;
        if (na < out->not_after)
            out->not_after = na;
    }
    if ((spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(parsed[0]), &spki)) <= 0 ||
        SHA256(spki, (size_t)spki_len, out->leaf_spki_sha256) == NULL) {
        st = PCC_E_CRYPTO;
        goto out;
    }
    out->leaf_key = X509_get0_pubkey(parsed[0]);
    if (out->leaf_key == NULL || EVP_PKEY_up_ref(out->leaf_key) != 1) {
        out->leaf_key = NULL;
        st = PCC_E_CRYPTO;
        goto out;
    }
    *reason = NULL;
    st = PCC_OK;
out:
    OPENSSL_free(spki);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    for (size_t i = 0; i < n; i++)
        X509_free(parsed[i]);
    ERR_clear_error();
    return st;
}
