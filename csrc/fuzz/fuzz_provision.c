/* fuzz_provision.c: libFuzzer harness for the provisioning CA's parsers.
 *
 * The first byte picks the parser: 0 → the input is a certificate request: whatever
 * pcc_provision_csr_serial accepts must also be issued when its serial is in the inventory, and
 * the certificate must verify with the root key; 1 → the input is a key file (PEM) loaded with the harness's root
 * certificate: only the harness's own key may load. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "pcc/provision.h"

#define REQUIRE(c)                 \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

static pcc_provision_ca *g_ca;
static uint8_t g_root[PCC_PROVISION_MAX_CERT];
static size_t g_root_len;
static EVP_PKEY *g_root_pub;

/* The CA lives in pcc secure memory, which LeakSanitizer does not scan: free it at exit so the
 * OpenSSL objects it points to are not reported as leaks. */
static void cleanup(void)
{
    pcc_provision_ca_free(g_ca);
    EVP_PKEY_free(g_root_pub);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    atexit(cleanup);
    REQUIRE(pcc_provision_ca_generate(&g_ca, "fuzz root", 9, 1760000000, 3650) == PCC_OK);
    REQUIRE(pcc_provision_ca_root_der(g_ca, g_root, &g_root_len, sizeof g_root) == PCC_OK);
    const unsigned char *p = g_root;
    X509 *x = d2i_X509(NULL, &p, (long)g_root_len);
    REQUIRE(x != NULL);
    g_root_pub = X509_get_pubkey(x);
    X509_free(x);
    REQUIRE(g_root_pub != NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    if (data[0] == 0) {
        char serial[PCC_PROVISION_MAX_SERIAL + 1];
        if (pcc_provision_csr_serial(serial, sizeof serial, in, n) != PCC_OK)
            return 0;
        REQUIRE(pcc_provision_serial_ok(serial, strlen(serial)));
        uint8_t cert[PCC_PROVISION_MAX_CERT];
        size_t cert_len = 0;
        char got[PCC_PROVISION_MAX_SERIAL + 1];
        const char *inventory[] = {"SN-0", serial};
        REQUIRE(pcc_provision_ca_issue(g_ca, cert, &cert_len, sizeof cert, got, sizeof got, in,
                                       n, inventory, 2, 1760000000, 30) == PCC_OK);
        REQUIRE(strcmp(got, serial) == 0);
        const unsigned char *p = cert;
        X509 *c = d2i_X509(NULL, &p, (long)cert_len);
        REQUIRE(c != NULL && p == cert + cert_len);
        REQUIRE(X509_verify(c, g_root_pub) == 1);
        X509_free(c);
    } else if (data[0] == 1) {
        pcc_provision_ca *ca = NULL;
        if (pcc_provision_ca_load(&ca, in, n, g_root, g_root_len) == PCC_OK) {
            uint8_t root[PCC_PROVISION_MAX_CERT];
            size_t len = 0;
            REQUIRE(pcc_provision_ca_root_der(ca, root, &len, sizeof root) == PCC_OK);
            REQUIRE(len == g_root_len && memcmp(root, g_root, len) == 0);
            pcc_provision_ca_free(ca);
        }
    }
    return 0;
}
