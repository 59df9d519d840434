/* test_tpm.c: the TPM checks that need no TPM, on a quote taken from swtpm (libtpms) and kept in
 * tests/vectors/tpm_swtpm_quote.json: quote verification and its negatives, the attestation-key
 * check, the event/extend rule, MakeCredential's argument checks, truncations of every length. */
#include <string.h>

#include "ctest.h"
#include "pcc/tpm.h"

static const char *AK_PUBLIC =
    "0023000c00050072000000100018000c0004001000306f453229d5fbf4b6d0bf6d56dfff8e8bec7492e56474"
    "500be949eb78e5fcb323064fe0e968f16cf2f4c5f73c61b77d640030fa20f55700faf41d7686e28c184345a5"
    "d2460021167289e8eed54cb484c4736ed5c7d4c2facef954eb2c5c467c378ed7";
static const char *AK_SPKI =
    "3076301006072a8648ce3d020106052b81040022036200046f453229d5fbf4b6d0bf6d56dfff8e8bec7492e5"
    "6474500be949eb78e5fcb323064fe0e968f16cf2f4c5f73c61b77d64fa20f55700faf41d7686e28c184345a5"
    "d2460021167289e8eed54cb484c4736ed5c7d4c2facef954eb2c5c467c378ed7";
static const char *AK_NAME =
    "000cb133fdaa87aefdc38866bd168dc87f4deb8c5a15fdf332aaefe4e14b14d47a8eba3f5fd177cf5bf98d6a"
    "43b17860123a";
static const char *QUALIFYING_DATA =
    "ffc7d8fc2b0c1069b0b3cabb59e0f56f331a7f008901348e4954ea20a362864942e05e5cb3efa9292fef743b"
    "3e0f7b72";
static const char *ATTEST =
    "ff54434780180032000c706370390d2ad47d8c585f5e2135ca4d81fca52afba867e6a701f573a26564cfd9ff"
    "87c5edee983c002315d8050fedbd0030ffc7d8fc2b0c1069b0b3cabb59e0f56f331a7f008901348e4954ea20"
    "a362864942e05e5cb3efa9292fef743b3e0f7b7200000000000004627e1ab6a03b6ff7f101a0314b722ae933"
    "7600000001000c030007000030856f1672cb140e90950fc7a9d31acc637e84a08b2123360a329fa38e0fe02e"
    "922f892709f07e43e8f8bfcd890845073c";
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
static const char *EV0_DIGEST =
    "03328eabde5b5950f18c029ccb6c86030adfba564291c4a134963634300b1eb213d2f319bb032274ce459610"
    "9f71e2ae";

static const char *EV1_HEX = "a0116bb39f3670144a1473f5176d7677c67554f1ee75b0354bc546121e83307d627f3aac6cf5c6b274a195119dd41319";
static const char *EV2_HEX = "37d7a199fa800dbef1b994f0aeaaef95504f851f594b54a5f833fe2ec755767dd9623685cc33a2860f953d7d0ef95a38";

static const char *AK_CERT =
    "3082018230820107a003020102020101300a06082a8648ce3d0403033020311e301c06035504030c15706363"
    "20746573742070726f766973696f6e696e67301e170d3236303130313030303030305a170d33363031303130"
    "30303030305a3011310f300d060355040513066e6f64652d313076301006072a8648ce3d020106052b810400"
    "22036200046f453229d5fbf4b6d0bf6d56dfff8e8bec7492e56474500be949eb78e5fcb323064fe0e968f16c"
    "f2f4c5f73c61b77d64fa20f55700faf41d7686e28c184345a5d2460021167289e8eed54cb484c4736ed5c7d4"
    "c2facef954eb2c5c467c378ed7a3243022300e0603551d0f0101ff04040302078030100603551d2504093007"
    "06056781050803300a06082a8648ce3d0403030369003066023100e035b0fd9ccf4e44c8142fd501e1bd70ae"
    "ba9a7901be292dfaeded6f2ee2384845f2e155c91cd5e7e17e44174b3c935f023100cae59bf46c895f7b0aa7"
    "f76bdfa78a567b785f21a8edb7906754273b5cc29c68968d6590d0d96425f41b53d00290d32b";
static const char *AK_CERT_WITHOUT_EKU =
    "3082016e3081f5a003020102020101300a06082a8648ce3d0403033020311e301c06035504030c1570636320"
    "746573742070726f766973696f6e696e67301e170d3236303130313030303030305a170d3336303130313030"
    "303030305a3011310f300d060355040513066e6f64652d313076301006072a8648ce3d020106052b81040022"
    "036200046f453229d5fbf4b6d0bf6d56dfff8e8bec7492e56474500be949eb78e5fcb323064fe0e968f16cf2"
    "f4c5f73c61b77d64fa20f55700faf41d7686e28c184345a5d2460021167289e8eed54cb484c4736ed5c7d4c2"
    "facef954eb2c5c467c378ed7a3123010300e0603551d0f0101ff040403020780300a06082a8648ce3d040303"
    "03680030650230638bc36475f8b26a44cf84f85583ea6ac54b0e98e96b8fde4869e47ba66b9f8aed682a3e93"
    "0f208210d42fc3dfd09890023100bab75ad0558ce7124ca4c23893340897c8edf274df59d88af3c4eb5b93f5"
    "e0d4f4e4f7573aec58c749bbd3cdd01b4081";

static uint8_t attest[PCC_TPM_ATTEST_MAX], sig[PCC_TPM_SIG_MAX], spki[PCC_TPM_SPKI_MAX];
static uint8_t qd[48], values[3 * 48], pub[PCC_TPM_PUBLIC_MAX];
static size_t attest_len, sig_len, spki_len, pub_len;
static const uint8_t pcrs[3] = {8, 9, 10};

static void load(void)
{
    attest_len = unhex(attest, sizeof attest, ATTEST);
    sig_len = unhex(sig, sizeof sig, SIGNATURE);
    spki_len = unhex(spki, sizeof spki, AK_SPKI);
    pub_len = unhex(pub, sizeof pub, AK_PUBLIC);
    (void)unhex(qd, sizeof qd, QUALIFYING_DATA);
    (void)unhex(values, 48, PCR8);
    (void)unhex(values + 48, 48, PCR9);
    (void)unhex(values + 96, 48, PCR10);
}

static pcc_status verify(const uint8_t *a, size_t a_len, const uint8_t *s, size_t s_len,
                         const uint8_t *extra, const uint8_t *p, const uint8_t *vals, size_t n)
{
    pcc_tpm_quote_info info;
    return pcc_tpm_quote_verify(&info, a, a_len, s, s_len, spki, spki_len, extra, 48, p, vals, n);
}

static void test_quote(void)
{
    pcc_tpm_quote_info info;
    uint8_t other[3 * 48], extra[48];
    const uint8_t shuffled[3] = {10, 8, 9};
    uint8_t shuffled_values[3 * 48];
    CHECK_ST(pcc_tpm_quote_verify(&info, attest, attest_len, sig, sig_len, spki, spki_len, qd, 48,
                                  pcrs, values, 3), PCC_OK);
    CHECK(info.pcr_bank == PCC_TPM_ALG_SHA384 && info.pcr_mask == 0x700);
    CHECK(info.extra_data_len == 48 && memcmp(info.extra_data, qd, 48) == 0);
    /* the order the caller lists PCRs in does not matter */
    memcpy(shuffled_values, values + 96, 48);
    memcpy(shuffled_values + 48, values, 96);
    CHECK_ST(verify(attest, attest_len, sig, sig_len, qd, shuffled, shuffled_values, 3), PCC_OK);
    /* other values, other data, fewer PCRs */
    memcpy(other, values, sizeof other);
    other[50] ^= 1;
    CHECK_ST(verify(attest, attest_len, sig, sig_len, qd, pcrs, other, 3), PCC_E_VERIFY);
    memcpy(extra, qd, 48);
    extra[0] ^= 1;
    CHECK_ST(verify(attest, attest_len, sig, sig_len, extra, pcrs, values, 3), PCC_E_VERIFY);
    CHECK_ST(verify(attest, attest_len, sig, sig_len, qd, pcrs, values, 2), PCC_E_VERIFY);
    /* bad arguments */
    const uint8_t dup[3] = {8, 8, 9}, high[3] = {8, 9, 16};
    CHECK_ST(verify(attest, attest_len, sig, sig_len, qd, dup, values, 3), PCC_E_INVALID);
    CHECK_ST(verify(attest, attest_len, sig, sig_len, qd, high, values, 3), PCC_E_INVALID);
    CHECK_ST(verify(attest, attest_len, sig, sig_len, qd, pcrs, values, 0), PCC_E_INVALID);
}

static void test_mutations(void)
{
    uint8_t buf[PCC_TPM_ATTEST_MAX + 1];
    /* every truncation of the attest and of the signature, every single-bit flip of the attest */
    for (size_t n = 0; n < attest_len; n++) {
        pcc_status st = verify(attest, n, sig, sig_len, qd, pcrs, values, 3);
        CHECK(st == PCC_E_VERIFY || st == PCC_E_FORMAT);
    }
    for (size_t n = 0; n < sig_len; n++) {
        pcc_status st = verify(attest, attest_len, sig, n, qd, pcrs, values, 3);
        CHECK(st == PCC_E_FORMAT || st == PCC_E_VERIFY);
    }
    for (size_t i = 0; i < attest_len * 8; i++) {
        memcpy(buf, attest, attest_len);
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        CHECK_ST(verify(buf, attest_len, sig, sig_len, qd, pcrs, values, 3), PCC_E_VERIFY);
    }
    memcpy(buf, attest, attest_len);
    buf[attest_len] = 0;
    CHECK_ST(verify(buf, attest_len + 1, sig, sig_len, qd, pcrs, values, 3), PCC_E_VERIFY);
    /* the parser alone: trailing bytes and truncations are format errors */
    pcc_tpm_quote_info info;
    CHECK_ST(pcc_tpm_attest_parse(&info, attest, attest_len), PCC_OK);
    CHECK_ST(pcc_tpm_attest_parse(&info, buf, attest_len + 1), PCC_E_FORMAT);
    for (size_t n = 0; n < attest_len; n++)
        CHECK_ST(pcc_tpm_attest_parse(&info, attest, n), PCC_E_FORMAT);
}

static void test_ak(void)
{
    uint8_t out[PCC_TPM_SPKI_MAX], name[PCC_TPM_NAME_MAX], buf[PCC_TPM_PUBLIC_MAX];
    size_t out_len = 0, name_len = 0;
    CHECK_ST(pcc_tpm_ak_check(out, &out_len, sizeof out, name, &name_len, sizeof name, pub,
                              pub_len), PCC_OK);
    CHECK(out_len == spki_len && memcmp(out, spki, spki_len) == 0);
    CHECK(hex_eq(name, name_len, AK_NAME));
    for (size_t n = 0; n < pub_len; n++)
        CHECK_ST(pcc_tpm_ak_check(out, &out_len, sizeof out, name, &name_len, sizeof name, pub, n),
                 PCC_E_FORMAT);
    memcpy(buf, pub, pub_len);
    buf[7] &= (uint8_t)~0x02; /* fixedTPM off */
    CHECK_ST(pcc_tpm_ak_check(out, &out_len, sizeof out, name, &name_len, sizeof name, buf,
                              pub_len), PCC_E_VERIFY);
    CHECK_ST(pcc_tpm_ak_check(out, &out_len, 10, name, &name_len, sizeof name, pub, pub_len),
             PCC_E_LIMIT);
}

static void test_rule(void)
{
    uint8_t digest[48], e[48], pcr[48] = {0};
    (void)unhex(digest, sizeof digest, EV0_DIGEST);
    CHECK_ST(pcc_tpm_event_data(e, (const uint8_t *)"pcc", 3, digest), PCC_OK);
    CHECK_ST(pcc_tpm_pcr_extend_sw(pcr, e), PCC_OK);
    CHECK(hex_eq(pcr, 48, PCR8)); /* one event in register 0 gave PCR 8 in the TPM */
}

static void test_make_credential_args(void)
{
    uint8_t blob[PCC_TPM_ID_OBJECT_MAX], secret[PCC_TPM_SECRET_MAX], name[50] = {0x00, 0x0c};
    size_t blob_len, secret_len;
    const uint8_t cred[1] = {1};
    /* the AK's SPKI is no RSA EK */
    CHECK_ST(pcc_tpm_make_credential(blob, &blob_len, sizeof blob, secret, &secret_len,
                                     sizeof secret, spki, spki_len, cred, 1, name, sizeof name),
             PCC_E_UNSUPPORTED);
    CHECK_ST(pcc_tpm_make_credential(blob, &blob_len, sizeof blob, secret, &secret_len,
                                     sizeof secret, spki, spki_len, cred, 0, name, sizeof name),
             PCC_E_INVALID);
    CHECK_ST(pcc_tpm_make_credential(blob, &blob_len, sizeof blob, secret, &secret_len,
                                     sizeof secret, spki, spki_len, cred, 1, name, 49),
             PCC_E_INVALID);
    CHECK_ST(pcc_tpm_make_credential(blob, &blob_len, sizeof blob, secret, &secret_len,
                                     sizeof secret, spki, 3, cred, 1, name, sizeof name),
             PCC_E_FORMAT);
}

static void test_bundle(void)
{
    static const char body[] = "pcc tpm test vector body"; /* SHA-384 of it is the vector's qd */
    uint8_t d0[48], d1[48], d2[48], values_out[3 * 48];
    pcc_tpm_event ev[3] = {
        {0, (const uint8_t *)"pcc", 3, d0},
        {1, (const uint8_t *)"smollm2", 7, d1},
        {2, (const uint8_t *)"node-config", 11, d2},
    };
    const uint8_t other_order[3] = {9, 8, 10};
    pcc_tpm_quote_info info;
    static uint8_t cert[2048], cert_plain[2048];
    size_t cert_len = unhex(cert, sizeof cert, AK_CERT);
    size_t plain_len = unhex(cert_plain, sizeof cert_plain, AK_CERT_WITHOUT_EKU);
    uint8_t key[PCC_TPM_SPKI_MAX];
    size_t key_len = 0;
    CHECK_ST(pcc_tpm_ak_cert_key(key, &key_len, sizeof key, cert, cert_len), PCC_OK);
    CHECK(key_len == spki_len && memcmp(key, spki, spki_len) == 0);
    CHECK_ST(pcc_tpm_ak_cert_key(key, &key_len, sizeof key, cert_plain, plain_len), PCC_E_VERIFY);
    CHECK_ST(pcc_tpm_ak_cert_key(key, &key_len, sizeof key, cert, cert_len - 1), PCC_E_FORMAT);
    /* the same quote, under a certificate without the AK usage: a software key could have made it */
    CHECK_ST(pcc_tpm_bundle_quote_verify(&info, attest, attest_len, sig, sig_len, cert_plain,
                                         plain_len, (const uint8_t *)body, strlen(body), pcrs, ev,
                                         3),
             PCC_E_VERIFY);
    (void)unhex(d0, 48, EV0_DIGEST);
    (void)unhex(d1, 48, EV1_HEX);
    (void)unhex(d2, 48, EV2_HEX);
    CHECK_ST(pcc_tpm_replay(values_out, 3, ev, 3), PCC_OK);
    CHECK(memcmp(values_out, values, sizeof values_out) == 0);
    CHECK_ST(pcc_tpm_bundle_quote_verify(&info, attest, attest_len, sig, sig_len, cert, cert_len,
                                         (const uint8_t *)body, strlen(body), pcrs, ev, 3),
             PCC_OK);
    /* another body, fewer events, the registers claimed in other PCRs */
    CHECK_ST(pcc_tpm_bundle_quote_verify(&info, attest, attest_len, sig, sig_len, cert, cert_len,
                                         (const uint8_t *)body, strlen(body) - 1, pcrs, ev, 3),
             PCC_E_VERIFY);
    CHECK_ST(pcc_tpm_bundle_quote_verify(&info, attest, attest_len, sig, sig_len, cert, cert_len,
                                         (const uint8_t *)body, strlen(body), pcrs, ev, 2),
             PCC_E_VERIFY);
    CHECK_ST(pcc_tpm_bundle_quote_verify(&info, attest, attest_len, sig, sig_len, cert, cert_len,
                                         (const uint8_t *)body, strlen(body), other_order, ev, 3),
             PCC_E_VERIFY);
    ev[2].reg = 3;
    CHECK_ST(pcc_tpm_replay(values_out, 3, ev, 3), PCC_E_FORMAT);
}

int main(void)
{
    load();
    test_quote();
    test_mutations();
    test_ak();
    test_rule();
    test_make_credential_args();
    test_bundle();
    return ctest_done("tpm");
}
