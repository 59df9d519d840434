/* fuzz_bundle.c: libFuzzer harness for attestation bundles and the strict msgpack layer.
 *
 * The first input byte picks what the rest is:
 *   - even: a whole bundle, verified as a client would (pinned root, log and witness keys fixed
 *     here); it can only pass if it is a real bundle for these keys;
 *   - odd: a Body. The harness signs it with a fixed node key and wraps it with a chain issued
 *     here by a fixed root, so every input reaches the strict Body decoder and the checks after
 *     it (registers, release leaf, tlog-proof, freshness, modes, key, model).
 * Every input also goes through pcc_wire_canonicalize, whose output must decode again and be
 * its own canonical form. Invariants: verify never fails but for memory, reports 1..11 checks,
 * and a passing report has all 11.
 *
 * The keys are test keys published here on purpose (csrc/fuzz/make_corpus_bundle.py uses the
 * same ones to write seeds that pass). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pcc/attest.h"
#include "pcc/buf.h"
#include "pcc/wire.h"

#define REQUIRE(c)                 \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

#define FUZZ_NOW 1800000000ULL

static const char ROOT_PKCS8[] =
    "3081b6020100301006072a8648ce3d020106052b8104002204819e30819b020101043079ede74c89c134b345a5"
    "02b08e247d66769264ee7b470850f4fcbdf7e51408b6a161bfa2db58f8abc6b3a1e31beab2faa16403620004c9"
    "2164d452a8026210593d98d4ebcb2e287b1c818bce3630b4733df859a1a0cbe2538f3bfba1e2992da795d2a163"
    "0ef3b3e255fb9e0c805154ec39816917b33d9b2f3dfa01ac50aa3bcf316d0c3255db75488a70ecf97beb7c7a29"
    "ec10fd1390";
static const char NODE_PKCS8[] =
    "3081b6020100301006072a8648ce3d020106052b8104002204819e30819b020101043038b9c84eeb241d944275"
    "13af1ade9e1731aea9c562a2db809f8698fb071c2dc12c8bc3c5f9e13c73fb2c161397dba2d2a16403620004eb"
    "811be2efd6ffcbe513b05dcd2b85f7560e53326e4a78f6b080a6584921b3b3a2df8d65ae881ea9a50d87228be845"
    "4a87dfe38343e4ade1a6562134c5e28c473261a1e794d444fb709005b293acff8314db6582f94a41ce0d36b7ac29"
    "f1dac6";
static const char LOG_VKEY[] = "fuzz.example/log+3d50fca4+AWGaPQjVDm9ZyFUbnRShC5ZNTqVI5tcyiz2yfGM5Hnzd";
static const char W0_VKEY[] = "fuzz-w0+3b897954+BFE8buAHjxCTDHuvVTkH+D1tveL4Wohs0M6bXNdBQFbg";
static const char W1_VKEY[] = "fuzz-w1+cc0860e7+BGBg9uBCYZVlnMm/0QYVuFIiG4RcJJb9X/T6cZKg85qI";

static pcc_attest_trust *g_trust;
static pcc_p384_key *g_node;
static uint8_t g_leaf[2048], g_root[2048];
static size_t g_leaf_len, g_root_len;

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

static size_t cert(EVP_PKEY *subject, EVP_PKEY *issuer, const char *cn, const char *bc,
                   const char *ku, uint8_t *out, size_t max)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new(), *in = X509_NAME_new();
    X509V3_CTX ctx;
    X509_EXTENSION *e;
    uint8_t *p = out;
    REQUIRE(x && n && in);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_set_version(x, 2);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz root", -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, in);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(FUZZ_NOW - 86400));
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(FUZZ_NOW + 86400 * 365));
    X509_set_pubkey(x, subject);
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, bc);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, ku);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    REQUIRE(X509_sign(x, issuer, EVP_sha384()) > 0);
    int len = i2d_X509(x, NULL);
    REQUIRE(len > 0 && (size_t)len <= max);
    i2d_X509(x, &p);
    X509_free(x);
    X509_NAME_free(n);
    X509_NAME_free(in);
    return (size_t)len;
}

/* release the fixed keys at exit: the node key's EVP_PKEY is referenced only from secure
 * (mmap'ed) memory, which LeakSanitizer does not scan */
static void cleanup(void)
{
    pcc_attest_trust_free(g_trust);
    pcc_p384_key_free(g_node);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t der[256];
    size_t n = unhex(der, sizeof der, ROOT_PKCS8);
    const uint8_t *p = der;
    EVP_PKEY *root = d2i_AutoPrivateKey(NULL, &p, (long)n), *node_pub;
    (void)argc;
    (void)argv;
    REQUIRE(root != NULL);
    n = unhex(der, sizeof der, NODE_PKCS8);
    REQUIRE(pcc_p384_key_from_der(&g_node, der, n) == PCC_OK);
    p = pcc_p384_key_spki(g_node);
    node_pub = d2i_PUBKEY(NULL, &p, PCC_ATTEST_SPKI_LEN);
    REQUIRE(node_pub != NULL);
    g_root_len = cert(root, root, "fuzz root", "critical,CA:TRUE", "critical,keyCertSign",
                      g_root, sizeof g_root);
    g_leaf_len = cert(node_pub, root, "fuzz node", "critical,CA:FALSE",
                      "critical,digitalSignature", g_leaf, sizeof g_leaf);
    const uint8_t *roots[1] = {g_root};
    const char *wits[2] = {W0_VKEY, W1_VKEY};
    size_t wl[2] = {strlen(W0_VKEY), strlen(W1_VKEY)};
    REQUIRE(pcc_attest_trust_new(&g_trust, NULL, roots, &g_root_len, 1, LOG_VKEY,
                                 strlen(LOG_VKEY), wits, wl, 2, 2, 86400, 0) == PCC_OK);
    EVP_PKEY_free(root);
    EVP_PKEY_free(node_pub);
    atexit(cleanup);
    return 0;
}

static void check_report(const pcc_attest_report *r)
{
    REQUIRE(r->n_checks >= 1 && r->n_checks <= PCC_CHECK_COUNT);
    REQUIRE(!r->passed || r->n_checks == PCC_CHECK_COUNT);
    for (size_t i = 0; i + 1 < r->n_checks; i++)
        REQUIRE(r->ok[i]);
    REQUIRE(r->ok[r->n_checks - 1] == r->passed);
    for (size_t i = 0; i < r->n_checks; i++)
        REQUIRE(r->detail[i] != NULL);
}

static void fuzz_canonical(const uint8_t *data, size_t size)
{
    static const pcc_wire_limits lim = {.max_depth = 8, .max_items = 4096, .max_str = 65536,
                                        .max_bin = 65536, .max_array = 1024, .max_map = 64,
                                        .flags = 0};
    pcc_writer w, w2;
    pcc_writer_init_dynamic(&w, false, 1u << 20);
    pcc_writer_init_dynamic(&w2, false, 1u << 20);
    if (pcc_wire_canonicalize(&w, data, size, &lim) == PCC_OK) {
        REQUIRE(pcc_wire_canonicalize(&w2, w.data, w.len, &lim) == PCC_OK);
        REQUIRE(w.len == w2.len && memcmp(w.data, w2.data, w.len) == 0);
    }
    pcc_writer_cleanup(&w);
    pcc_writer_cleanup(&w2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pcc_attest_report rep;
    pcc_status st;
    if (size == 0)
        return 0;
    fuzz_canonical(data + 1, size - 1);
    if ((data[0] & 1) == 0) {
        st = pcc_attest_verify(g_trust, data + 1, size - 1, "fuzz-model", 10, FUZZ_NOW, &rep);
        REQUIRE(st == PCC_OK || st == PCC_E_NOMEM);
        if (st == PCC_OK)
            check_report(&rep);
        return 0;
    }
    /* sign the rest as a Body and wrap it */
    uint8_t sig[PCC_ATTEST_MAX_SIG];
    size_t sig_len = 0;
    pcc_writer w;
    if (size - 1 > PCC_ATTEST_MAX_BUNDLE / 2)
        return 0;
    REQUIRE(pcc_p384_key_sign(g_node, sig, &sig_len, sizeof sig, data + 1, size - 1) == PCC_OK);
    pcc_writer_init_dynamic(&w, false, PCC_ATTEST_MAX_BUNDLE);
    REQUIRE(pcc_wire_put_map(&w, 3) == PCC_OK && pcc_wire_put_cstr(&w, "body") == PCC_OK &&
            pcc_wire_put_bin(&w, data + 1, size - 1) == PCC_OK &&
            pcc_wire_put_cstr(&w, "sig") == PCC_OK && pcc_wire_put_bin(&w, sig, sig_len) == PCC_OK &&
            pcc_wire_put_cstr(&w, "chain") == PCC_OK && pcc_wire_put_array(&w, 1) == PCC_OK &&
            pcc_wire_put_bin(&w, g_leaf, g_leaf_len) == PCC_OK);
    st = pcc_attest_verify(g_trust, w.data, w.len, (data[0] & 2) ? "fuzz-model" : NULL,
                           (data[0] & 2) ? 10 : 0, FUZZ_NOW, &rep);
    REQUIRE(st == PCC_OK || st == PCC_E_NOMEM);
    if (st == PCC_OK) {
        check_report(&rep);
        /* the outer framing, chain and signature are the harness's own: always fine */
        REQUIRE(rep.n_checks > 3 || (rep.n_checks == 1 && !rep.passed));
    }
    pcc_writer_cleanup(&w);
    return 0;
}
