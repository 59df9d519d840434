/* test_provision.c: the provisioning CA without Python: root, key round trip, requests built
 * with OpenSSL here, every refusal. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ctest.h"
#include "pcc/provision.h"
#include "pcc/tpm.h"

#define NOW 1760000000LL

/* make_csr writes a DER request for a fresh key on curve (an OpenSSL group name), subject
 * serialNumber=serial (none when NULL), signed with md. Returns its length (0 on failure). */
static size_t make_csr(uint8_t *out, size_t max, const char *curve, const char *serial,
                       const EVP_MD *md)
{
    size_t n = 0;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    X509_REQ *r = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    if (k == NULL || r == NULL || name == NULL)
        goto out;
    if (serial != NULL &&
        X509_NAME_add_entry_by_NID(name, NID_serialNumber, MBSTRING_ASC,
                                   (const unsigned char *)serial, -1, -1, 0) != 1)
        goto out;
    if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
                                   (const unsigned char *)"node", -1, -1, 0) != 1 ||
        X509_REQ_set_subject_name(r, name) != 1 || X509_REQ_set_pubkey(r, k) != 1 ||
        X509_REQ_sign(r, k, md) <= 0)
        goto out;
    int len = i2d_X509_REQ(r, NULL);
    if (len <= 0 || (size_t)len > max)
        goto out;
    unsigned char *p = out;
    if (i2d_X509_REQ(r, &p) == len)
        n = (size_t)len;
out:
    EVP_PKEY_free(k);
    X509_REQ_free(r);
    X509_NAME_free(name);
    return n;
}

static void test_serial_ok(void)
{
    CHECK(pcc_provision_serial_ok("SN-0001", 7));
    CHECK(pcc_provision_serial_ok("a:b.c-9", 7));
    CHECK(!pcc_provision_serial_ok("", 0));
    CHECK(!pcc_provision_serial_ok("-x", 2));
    CHECK(!pcc_provision_serial_ok(".x", 2));
    CHECK(!pcc_provision_serial_ok("a b", 3));
    CHECK(!pcc_provision_serial_ok("a_b", 3));
    CHECK(!pcc_provision_serial_ok("a\0b", 3));
    char long_serial[PCC_PROVISION_MAX_SERIAL + 1];
    memset(long_serial, 'a', sizeof long_serial);
    CHECK(pcc_provision_serial_ok(long_serial, PCC_PROVISION_MAX_SERIAL));
    CHECK(!pcc_provision_serial_ok(long_serial, PCC_PROVISION_MAX_SERIAL + 1));
}

static void test_ca(void)
{
    pcc_provision_ca *ca = NULL, *ca2 = NULL, *other = NULL;
    uint8_t root[PCC_PROVISION_MAX_CERT], root2[PCC_PROVISION_MAX_CERT];
    uint8_t pem[PCC_PROVISION_MAX_KEY_PEM], cert[PCC_PROVISION_MAX_CERT], csr[2048];
    size_t root_len = 0, root2_len = 0, pem_len = 0, cert_len = 0, csr_len;
    char serial[PCC_PROVISION_MAX_SERIAL + 1], got[PCC_PROVISION_MAX_SERIAL + 1];
    const char *inventory[] = {"SN-0", "SN-1"};
    const char *others[] = {"SN-0", "SN-2"};

    CHECK_ST(pcc_provision_ca_generate(&ca, "", 0, NOW, 10), PCC_E_INVALID);
    CHECK_ST(pcc_provision_ca_generate(&ca, "a\nb", 3, NOW, 10), PCC_E_INVALID);
    CHECK_ST(pcc_provision_ca_generate(&ca, "\xff\xfe", 2, NOW, 10), PCC_E_INVALID);
    CHECK_ST(pcc_provision_ca_generate(&ca, "root", 4, NOW, 0), PCC_E_INVALID);
    CHECK_ST(pcc_provision_ca_generate(&ca, "root", 4, -1, 10), PCC_E_INVALID);
    CHECK_ST(pcc_provision_ca_generate(&ca, "root", 4, NOW, 3650), PCC_OK);
    CHECK_ST(pcc_provision_ca_generate(&other, "other", 5, NOW, 3650), PCC_OK);
    if (ca == NULL || other == NULL)
        goto out;
    CHECK_ST(pcc_provision_ca_root_der(ca, root, &root_len, sizeof root), PCC_OK);
    CHECK_ST(pcc_provision_ca_root_der(ca, root, &root_len, 10), PCC_E_LIMIT);
    CHECK_ST(pcc_provision_ca_root_der(ca, root, &root_len, sizeof root), PCC_OK);

    /* the root: self-signed, CA with pathlen 0 */
    const unsigned char *p = root;
    X509 *x = d2i_X509(NULL, &p, (long)root_len);
    CHECK(x != NULL);
    if (x != NULL) {
        CHECK(X509_check_ca(x) == 1);
        CHECK(X509_get_pathlen(x) == 0);
        CHECK(X509_verify(x, X509_get0_pubkey(x)) == 1);
        CHECK((X509_get_key_usage(x) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) ==
              (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    }

    /* key round trip; a key with another CA's root is refused; damaged PEM is refused */
    CHECK_ST(pcc_provision_ca_key_pem(ca, pem, &pem_len, sizeof pem), PCC_OK);
    CHECK(pem_len > 100 && memcmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    CHECK_ST(pcc_provision_ca_load(&ca2, pem, pem_len, root, root_len), PCC_OK);
    CHECK_ST(pcc_provision_ca_root_der(ca2, root2, &root2_len, sizeof root2), PCC_OK);
    CHECK(root2_len == root_len && memcmp(root, root2, root_len) == 0);
    pcc_provision_ca_free(ca2);
    ca2 = NULL;
    uint8_t other_root[PCC_PROVISION_MAX_CERT];
    size_t other_len = 0;
    CHECK_ST(pcc_provision_ca_root_der(other, other_root, &other_len, sizeof other_root), PCC_OK);
    CHECK_ST(pcc_provision_ca_load(&ca2, pem, pem_len, other_root, other_len), PCC_E_FORMAT);
    CHECK_ST(pcc_provision_ca_load(&ca2, pem, pem_len - 1, root, root_len), PCC_E_FORMAT);
    CHECK_ST(pcc_provision_ca_load(&ca2, pem, pem_len, root, root_len - 1), PCC_E_FORMAT);
    pem[40] = '*';
    CHECK_ST(pcc_provision_ca_load(&ca2, pem, pem_len, root, root_len), PCC_E_FORMAT);
    CHECK(ca2 == NULL);

    /* a good request */
    csr_len = make_csr(csr, sizeof csr, "P-384", "SN-1", EVP_sha384());
    CHECK(csr_len > 0);
    CHECK_ST(pcc_provision_csr_serial(serial, sizeof serial, csr, csr_len), PCC_OK);
    CHECK(strcmp(serial, "SN-1") == 0);
    CHECK_ST(pcc_provision_ca_issue(ca, cert, &cert_len, sizeof cert, got, sizeof got, csr,
                                    csr_len, inventory, 2, NOW, 30),
             PCC_OK);
    CHECK(strcmp(got, "SN-1") == 0);
    p = cert;
    X509 *c = d2i_X509(NULL, &p, (long)cert_len);
    CHECK(c != NULL && p == cert + cert_len);
    if (c != NULL && x != NULL) {
        CHECK(X509_verify(c, X509_get0_pubkey(x)) == 1);
        CHECK(X509_check_ca(c) == 0);
        CHECK(X509_get_key_usage(c) == KU_DIGITAL_SIGNATURE);
        CHECK(X509_check_issued(x, c) == X509_V_OK);
    }
    X509_free(c);
    /* a serial not in the inventory (still reported), an empty inventory, bad validity, room */
    got[0] = 'x';
    CHECK_ST(pcc_provision_ca_issue(ca, cert, &cert_len, sizeof cert, got, sizeof got, csr,
                                    csr_len, others, 2, NOW, 30),
             PCC_E_UNKNOWN_KEY);
    CHECK(strcmp(got, "SN-1") == 0);
    CHECK_ST(pcc_provision_ca_issue(ca, cert, &cert_len, sizeof cert, got, sizeof got, csr,
                                    csr_len, NULL, 0, NOW, 30),
             PCC_E_UNKNOWN_KEY);
    CHECK_ST(pcc_provision_ca_issue(ca, cert, &cert_len, sizeof cert, got, sizeof got, csr,
                                    csr_len, inventory, 2, NOW, 0),
             PCC_E_INVALID);
    CHECK_ST(pcc_provision_ca_issue(ca, cert, &cert_len, sizeof cert, got, 10, csr, csr_len,
                                    inventory, 2, NOW, 30),
             PCC_E_INVALID);
    CHECK_ST(pcc_provision_ca_issue(ca, cert, &cert_len, 100, got, sizeof got, csr, csr_len,
                                    inventory, 2, NOW, 30),
             PCC_E_LIMIT);
    /* framing */
    CHECK_ST(pcc_provision_csr_serial(serial, sizeof serial, csr, csr_len - 1), PCC_E_FORMAT);
    csr[csr_len] = 0;
    CHECK_ST(pcc_provision_csr_serial(serial, sizeof serial, csr, csr_len + 1), PCC_E_FORMAT);
    CHECK_ST(pcc_provision_csr_serial(serial, sizeof serial, csr, 0), PCC_E_FORMAT);
    CHECK_ST(pcc_provision_csr_serial(serial, 10, csr, csr_len), PCC_E_INVALID);
    /* a flipped byte in the signature */
    csr[csr_len - 3] ^= 1;
    pcc_status st = pcc_provision_csr_serial(serial, sizeof serial, csr, csr_len);
    CHECK(st == PCC_E_VERIFY || st == PCC_E_FORMAT);
    /* other curves, digests, no serial */
    csr_len = make_csr(csr, sizeof csr, "P-256", "SN-1", EVP_sha384());
    CHECK_ST(pcc_provision_csr_serial(serial, sizeof serial, csr, csr_len), PCC_E_UNSUPPORTED);
    csr_len = make_csr(csr, sizeof csr, "P-384", "SN-1", EVP_sha256());
    CHECK_ST(pcc_provision_csr_serial(serial, sizeof serial, csr, csr_len), PCC_E_UNSUPPORTED);
    csr_len = make_csr(csr, sizeof csr, "P-384", NULL, EVP_sha384());
    CHECK_ST(pcc_provision_csr_serial(serial, sizeof serial, csr, csr_len), PCC_E_FORMAT);
    csr_len = make_csr(csr, sizeof csr, "P-384", "bad serial", EVP_sha384());
    CHECK_ST(pcc_provision_csr_serial(serial, sizeof serial, csr, csr_len), PCC_E_FORMAT);
    X509_free(x);
out:
    pcc_provision_ca_free(ca);
    pcc_provision_ca_free(ca2);
    pcc_provision_ca_free(other);
}

/* spki_of writes the SPKI DER of a fresh key on curve; returns its length (0 on failure). */
static size_t spki_of(uint8_t *out, size_t max, const char *curve)
{
    size_t n = 0;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    int len = k != NULL ? i2d_PUBKEY(k, NULL) : 0;
    if (len > 0 && (size_t)len <= max) {
        unsigned char *p = out;
        if (i2d_PUBKEY(k, &p) == len)
            n = (size_t)len;
    }
    EVP_PKEY_free(k);
    return n;
}

static void test_issue_ak(void)
{
    pcc_provision_ca *ca = NULL;
    uint8_t cert[PCC_PROVISION_MAX_CERT], spki[256], p256[256], got[256], csr[2048];
    size_t cert_len = 0, got_len = 0;
    char serial[PCC_PROVISION_MAX_SERIAL + 1];
    const char *inventory[] = {"SN-0", "SN-TPM"};
    size_t spki_len = spki_of(spki, sizeof spki, "P-384");
    size_t p256_len = spki_of(p256, sizeof p256, "P-256");
    CHECK(spki_len == 120 && p256_len > 0);
    CHECK_ST(pcc_provision_ca_generate(&ca, "root", 4, NOW, 3650), PCC_OK);
    if (ca == NULL)
        return;
    /* the certificate carries tcg-kp-AIKCertificate and certifies exactly that key */
    CHECK_ST(pcc_provision_ca_issue_ak(ca, cert, &cert_len, sizeof cert, spki, spki_len,
                                       "SN-TPM", 6, inventory, 2, NOW, 30), PCC_OK);
    CHECK_ST(pcc_tpm_ak_cert_key(got, &got_len, sizeof got, cert, cert_len), PCC_OK);
    CHECK(got_len == spki_len && memcmp(got, spki, spki_len) == 0);
    CHECK(strcmp(PCC_PROVISION_AK_EKU_OID, PCC_TPM_AK_EKU_OID) == 0);
    /* a certificate from a request does not */
    size_t csr_len = make_csr(csr, sizeof csr, "P-384", "SN-0", EVP_sha384());
    CHECK_ST(pcc_provision_ca_issue(ca, cert, &cert_len, sizeof cert, serial, sizeof serial, csr,
                                    csr_len, inventory, 2, NOW, 30), PCC_OK);
    CHECK_ST(pcc_tpm_ak_cert_key(got, &got_len, sizeof got, cert, cert_len), PCC_E_VERIFY);
    /* refusals: serial outside the inventory, bad serial, other curve, garbage, trailing bytes */
    CHECK_ST(pcc_provision_ca_issue_ak(ca, cert, &cert_len, sizeof cert, spki, spki_len,
                                       "SN-9", 4, inventory, 2, NOW, 30), PCC_E_UNKNOWN_KEY);
    CHECK_ST(pcc_provision_ca_issue_ak(ca, cert, &cert_len, sizeof cert, spki, spki_len,
                                       "-bad", 4, inventory, 2, NOW, 30), PCC_E_INVALID);
    CHECK_ST(pcc_provision_ca_issue_ak(ca, cert, &cert_len, sizeof cert, p256, p256_len,
                                       "SN-TPM", 6, inventory, 2, NOW, 30), PCC_E_UNSUPPORTED);
    CHECK_ST(pcc_provision_ca_issue_ak(ca, cert, &cert_len, sizeof cert, spki, spki_len - 1,
                                       "SN-TPM", 6, inventory, 2, NOW, 30), PCC_E_FORMAT);
    spki[spki_len] = 0;
    CHECK_ST(pcc_provision_ca_issue_ak(ca, cert, &cert_len, sizeof cert, spki, spki_len + 1,
                                       "SN-TPM", 6, inventory, 2, NOW, 30), PCC_E_FORMAT);
    CHECK_ST(pcc_provision_ca_issue_ak(ca, cert, &cert_len, sizeof cert, spki, spki_len,
                                       "SN-TPM", 6, inventory, 2, NOW, 0), PCC_E_INVALID);
    pcc_provision_ca_free(ca);
}

int main(void)
{
    test_serial_ok();
    test_ca();
    test_issue_ak();
    return ctest_done("provision");
}
