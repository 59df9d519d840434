/* fuzz_tpm.c: libFuzzer harness for the TPM structures a verifier or the provisioning CA parses.
 *
 * The first input byte picks the parser, the rest is the structure:
 *   0: TPMS_ATTEST: pcc_tpm_attest_parse, then pcc_tpm_quote_verify with the signature, key, PCR
 *      values and qualifying data of the swtpm vector (tests/vectors/tpm_swtpm_quote.json): only
 *      the vector's own attest bytes may verify;
 *   1: TPMT_SIGNATURE: pcc_tpm_sig_to_der, whose output must be a DER ECDSA-Sig-Value that fits;
 *   2: TPMT_PUBLIC: pcc_tpm_ak_check, whose accepted keys have a 34- or 50-byte name and an SPKI
 *      that parses back to a P-256/P-384 key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/x509.h>

#include "pcc/tpm.h"

#define REQUIRE(c)                 \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

static const char *AK_SPKI =
    "3076301006072a8648ce3d020106052b81040022036200046f453229d5fbf4b6d0bf6d56dfff8e8bec7492e5"
    "6474500be949eb78e5fcb323064fe0e968f16cf2f4c5f73c61b77d64fa20f55700faf41d7686e28c184345a5"
    "d2460021167289e8eed54cb484c4736ed5c7d4c2facef954eb2c5c467c378ed7";
static const char *QUALIFYING_DATA =
    "ffc7d8fc2b0c1069b0b3cabb59e0f56f331a7f008901348e4954ea20a362864942e05e5cb3efa9292fef743b"
    "3e0f7b72";
static const char *SIGNATURE =
    "0018000c003034bf6801e5b1badcf83d01e917a19779692e5f045cc1532f7d7500fad8d599d57d494da1aa2a"
    "cfa764e466d36dad69d50030d917190c766be87e8c59b5761e8136595a3ec2b479e1e093de244a765667c412"
    "a8355502bafef200f730fba52f1a3e98";
static const char *PCR8 =
    "9401f0d8dec84f9151e4f1f1d2b9a30ea054087efc2501a3d66ac5e4c062399fc3af54c2a22d7d3d30de0cb1"
    "5e06c02b";
static const char *PCR9 =
    "4017d128720c4645b4425091c2f005134d800c22265bea43573d5ab017a00f9dca37a8bbab33ee2e891e3cb6"
    "22d6f7aa";
static const char *PCR10 =
    "9510fd40b59b1691ec2842330e971836de27d67302e80df49e7a1c07a97dab1da66e44d1a0880a1151c4b374"
    "e71948b1";

static uint8_t g_sig[PCC_TPM_SIG_MAX], g_spki[PCC_TPM_SPKI_MAX], g_qd[48], g_values[3 * 48];
static size_t g_sig_len, g_spki_len;
static const uint8_t g_pcrs[3] = {8, 9, 10};

static size_t unhex(uint8_t *out, size_t max, const char *s)
{
    size_t n = strlen(s) / 2;
    REQUIRE(n <= max);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        REQUIRE(sscanf(s + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_sig_len = unhex(g_sig, sizeof g_sig, SIGNATURE);
    g_spki_len = unhex(g_spki, sizeof g_spki, AK_SPKI);
    (void)unhex(g_qd, sizeof g_qd, QUALIFYING_DATA);
    (void)unhex(g_values, 48, PCR8);
    (void)unhex(g_values + 48, 48, PCR9);
    (void)unhex(g_values + 96, 48, PCR10);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0]) {
    case 0: {
        pcc_tpm_quote_info q;
        if (pcc_tpm_attest_parse(&q, p, n) == PCC_OK) {
            REQUIRE(q.extra_data_len <= sizeof q.extra_data);
            REQUIRE(q.signer_name_len <= sizeof q.signer_name);
            REQUIRE(q.pcr_digest_len == 32 || q.pcr_digest_len == 48);
            REQUIRE(q.safe <= 1);
        }
        pcc_status st = pcc_tpm_quote_verify(&q, p, n, g_sig, g_sig_len, g_spki, g_spki_len, g_qd,
                                             sizeof g_qd, g_pcrs, g_values, 3);
        REQUIRE(st == PCC_OK || st == PCC_E_VERIFY || st == PCC_E_FORMAT);
        break;
    }
    case 1: {
        uint8_t der[PCC_TPM_SIG_DER_MAX + 64];
        size_t der_len = 0;
        uint16_t hash = 0;
        if (pcc_tpm_sig_to_der(der, &der_len, sizeof der, &hash, p, n) == PCC_OK) {
            const unsigned char *q = der;
            ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
            REQUIRE(s != NULL && q == der + der_len);
            REQUIRE(hash == PCC_TPM_ALG_SHA256 || hash == PCC_TPM_ALG_SHA384);
            ECDSA_SIG_free(s);
        }
        break;
    }
    case 2: {
        uint8_t spki[PCC_TPM_SPKI_MAX], name[PCC_TPM_NAME_MAX];
        size_t spki_len = 0, name_len = 0;
        if (pcc_tpm_ak_check(spki, &spki_len, sizeof spki, name, &name_len, sizeof name, p, n) ==
            PCC_OK) {
            const unsigned char *q = spki;
            EVP_PKEY *k = d2i_PUBKEY(NULL, &q, (long)spki_len);
            REQUIRE(k != NULL && q == spki + spki_len);
            REQUIRE(name_len == 34 || name_len == 50);
            EVP_PKEY_free(k);
        }
        break;
    }
    default:
        break;
    }
    return 0;
}
