/* test_attest.c: P-384 identity keys, CSRs, register extend, and a whole attestation bundle built
 * and verified with the static library alone: a provisioning CA made here with OpenSSL, a log of
 * release leaves with two witnesses (pcc merkle and note code), then one bundle per failing
 * check for the checks that need no Python tooling. The Python tests cover every way to fail. */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ctest.h"
#include "pcc/attest.h"
#include "pcc/buf.h"
#include "pcc/merkle.h"
#include "pcc/note.h"
#include "pcc/wire.h"

#define NOW 1800000000ULL
#define DAY 86400

/* ---- keys, registers ---------------------------------------------------------------------- */

static void test_register_extend_kat(void)
{
    uint8_t reg[48] = {0}, abc[48];
    /* SHA-384("abc") (FIPS 180-2 example) */
    unhex(abc, sizeof abc, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"
                           "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
    CHECK_ST(pcc_attest_register_extend(reg, "pcc", 3, abc), PCC_OK);
    /* SHA-384(zeros(48) || SHA-384("pcc") || SHA-384("abc")), computed with hashlib */
    CHECK(hex_eq(reg, 48, "a3ae4327f71f64427ba80d36a9374a8e6ea077d7b5877aa5d91a46033d9c8a09"
                          "180f42e23b26dfcc3cc677c54a0414a0"));
    CHECK_ST(pcc_attest_register_extend(NULL, "pcc", 3, abc), PCC_E_INVALID);
}

static void test_keys(void)
{
    pcc_p384_key *k = NULL, *k2 = NULL;
    uint8_t sig[PCC_ATTEST_MAX_SIG], der[512], id[32];
    size_t sig_len = 0, der_len = 0;
    pcc_writer w;
    CHECK_ST(pcc_p384_key_generate(&k), PCC_OK);
    CHECK_ST(pcc_p384_key_sign(k, sig, &sig_len, sizeof sig, (const uint8_t *)"msg", 3), PCC_OK);
    CHECK_ST(pcc_p384_verify(pcc_p384_key_spki(k), PCC_ATTEST_SPKI_LEN, (const uint8_t *)"msg", 3,
                             sig, sig_len), PCC_OK);
    CHECK_ST(pcc_p384_verify(pcc_p384_key_spki(k), PCC_ATTEST_SPKI_LEN, (const uint8_t *)"msG", 3,
                             sig, sig_len), PCC_E_VERIFY);
    CHECK_ST(pcc_p384_verify(pcc_p384_key_spki(k), 10, (const uint8_t *)"msg", 3, sig, sig_len),
             PCC_E_FORMAT);
    CHECK_ST(pcc_p384_key_sign(k, sig, &sig_len, 8, (const uint8_t *)"msg", 3), PCC_E_LIMIT);
    /* export, import: same public key */
    CHECK_ST(pcc_p384_key_export_der(k, der, &der_len, sizeof der), PCC_OK);
    CHECK_ST(pcc_p384_key_from_der(&k2, der, der_len), PCC_OK);
    CHECK(k2 != NULL && memcmp(pcc_p384_key_spki(k), pcc_p384_key_spki(k2), PCC_ATTEST_SPKI_LEN) == 0);
    pcc_p384_key *k3 = k;
    CHECK_ST(pcc_p384_key_from_der(&k3, der, der_len - 1), PCC_E_FORMAT);
    CHECK(k3 == NULL);
    pcc_p384_key_node_id(k, id);
    /* CSR: parses, verifies with its own key, names the serial */
    pcc_writer_init_dynamic(&w, false, 4096);
    CHECK_ST(pcc_p384_key_csr(k, "SN-1", 4, &w), PCC_OK);
    const uint8_t *p = w.data;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)w.len);
    CHECK(req != NULL && p == w.data + w.len);
    if (req != NULL) {
        EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
        CHECK(X509_REQ_verify(req, pub) == 1);
        X509_NAME *name = X509_REQ_get_subject_name(req);
        int i = X509_NAME_get_index_by_NID(name, NID_serialNumber, -1);
        CHECK(i >= 0 && X509_NAME_entry_count(name) == 1);
        if (i >= 0) {
            ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
            CHECK(ASN1_STRING_length(s) == 4 && memcmp(ASN1_STRING_get0_data(s), "SN-1", 4) == 0);
        }
        X509_REQ_free(req);
    }
    pcc_writer_cleanup(&w);
    pcc_writer_init_dynamic(&w, false, 4096);
    CHECK_ST(pcc_p384_key_csr(k, "SN*1", 4, &w), PCC_E_INVALID);
    CHECK_ST(pcc_p384_key_csr(k, "", 0, &w), PCC_E_INVALID);
    pcc_writer_cleanup(&w);
    pcc_p384_key_free(k);
    pcc_p384_key_free(k2);
    pcc_p384_key_free(NULL);
}

/* ---- a provisioning CA -------------------------------------------------------------------- */

static EVP_PKEY *p384_pkey(void)
{
    return EVP_EC_gen("P-384");
}

static X509 *make_cert(EVP_PKEY *subject, EVP_PKEY *issuer, const char *cn, const char *issuer_cn,
                       const char *bc, const char *ku, long nb, long na)
{
    X509 *x = X509_new();
    X509_NAME *sn = X509_NAME_new(), *in = X509_NAME_new();
    X509V3_CTX ctx;
    X509_EXTENSION *e;
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_set_version(x, 2);
    X509_NAME_add_entry_by_txt(sn, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_ASC, (const unsigned char *)issuer_cn, -1, -1, 0);
    X509_set_subject_name(x, sn);
    X509_set_issuer_name(x, in);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)((long)NOW + nb));
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)((long)NOW + na));
    X509_set_pubkey(x, subject);
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, bc);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, ku);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    X509_sign(x, issuer, EVP_sha384());
    X509_NAME_free(sn);
    X509_NAME_free(in);
    return x;
}

static size_t to_der(X509 *x, uint8_t *out, size_t max)
{
    int n = i2d_X509(x, NULL);
    uint8_t *p = out;
    if (n <= 0 || (size_t)n > max)
        abort();
    i2d_X509(x, &p);
    return (size_t)n;
}

/* ---- a log -------------------------------------------------------------------------------------- */

typedef struct world {
    uint8_t root[2048], inter[2048], leaf[2048];
    size_t root_len, inter_len, leaf_len;
    pcc_p384_key *node;
    pcc_note_key *log, *wit[2];
    uint8_t release[512];
    size_t release_len;
    char proof[8192];
    size_t proof_len;
    uint8_t code[48], model[48], config[48];
} world;

static void release_leaf(world *wd)
{
    pcc_writer w;
    const char *names[3] = {"pcc", "smollm2", "node-config"};
    const char *kinds[3] = {"code", "model", "config"};
    const uint8_t *digests[3] = {wd->code, wd->model, wd->config};
    pcc_writer_init_fixed(&w, wd->release, sizeof wd->release);
    if (pcc_wire_put_map(&w, 6) || pcc_wire_put_cstr(&w, "type") ||
        pcc_wire_put_cstr(&w, "release") || pcc_wire_put_cstr(&w, "v") ||
        pcc_wire_put_uint(&w, 1) || pcc_wire_put_cstr(&w, "name") ||
        pcc_wire_put_cstr(&w, "pcc") || pcc_wire_put_cstr(&w, "version") ||
        pcc_wire_put_cstr(&w, "1.0") || pcc_wire_put_cstr(&w, "created") ||
        pcc_wire_put_uint(&w, NOW - DAY) || pcc_wire_put_cstr(&w, "components") ||
        pcc_wire_put_array(&w, 3))
        abort();
    for (int i = 0; i < 3; i++)
        if (pcc_wire_put_map(&w, 3) || pcc_wire_put_cstr(&w, "name") ||
            pcc_wire_put_cstr(&w, names[i]) || pcc_wire_put_cstr(&w, "kind") ||
            pcc_wire_put_cstr(&w, kinds[i]) || pcc_wire_put_cstr(&w, "sha384") ||
            pcc_wire_put_bin(&w, digests[i], 48))
            abort();
    wd->release_len = w.len;
}

static void make_log(world *wd, uint64_t stamp)
{
    pcc_merkle_tree *t = NULL;
    pcc_checkpoint cp;
    pcc_writer cpw, note, pw;
    uint8_t hashes[64 * 32];
    size_t n_hashes = 0;
    if (pcc_merkle_tree_new(&t, NULL) || pcc_merkle_tree_append(t, (const uint8_t *)"a", 1, NULL) ||
        pcc_merkle_tree_append(t, wd->release, wd->release_len, NULL) ||
        pcc_merkle_tree_append(t, (const uint8_t *)"c", 1, NULL))
        abort();
    memset(&cp, 0, sizeof cp);
    cp.origin = "log.example/c";
    cp.origin_len = strlen(cp.origin);
    cp.size = 3;
    if (pcc_merkle_tree_root(t, 3, cp.root) ||
        pcc_merkle_tree_inclusion_proof(t, 1, 3, hashes, &n_hashes, 64))
        abort();
    pcc_writer_init_dynamic(&cpw, false, 4096);
    pcc_writer_init_dynamic(&note, false, 8192);
    if (pcc_note_checkpoint_format(&cp, &cpw) || pcc_writer_bytes(&note, cpw.data, cpw.len) ||
        pcc_writer_u8(&note, '\n') || pcc_note_sign_line(wd->log, cpw.data, cpw.len, 0, &note) ||
        pcc_note_sign_line(wd->wit[0], cpw.data, cpw.len, stamp, &note) ||
        pcc_note_sign_line(wd->wit[1], cpw.data, cpw.len, stamp, &note))
        abort();
    pcc_writer_init_fixed(&pw, (uint8_t *)wd->proof, sizeof wd->proof);
    if (pcc_note_proof_format(1, hashes, n_hashes, 0, NULL, 0, (const char *)note.data, note.len,
                              &pw))
        abort();
    wd->proof_len = pw.len;
    pcc_writer_cleanup(&cpw);
    pcc_writer_cleanup(&note);
    pcc_merkle_tree_free(t);
}

static void make_world(world *wd)
{
    EVP_PKEY *root = p384_pkey(), *inter = p384_pkey(), *node_pub;
    const uint8_t *p;
    X509 *x;
    memset(wd, 0, sizeof *wd);
    if (pcc_p384_key_generate(&wd->node))
        abort();
    p = pcc_p384_key_spki(wd->node);
    node_pub = d2i_PUBKEY(NULL, &p, PCC_ATTEST_SPKI_LEN);
    x = make_cert(root, root, "root", "root", "critical,CA:TRUE,pathlen:1",
                  "critical,keyCertSign,cRLSign", -DAY, 365 * DAY);
    wd->root_len = to_der(x, wd->root, sizeof wd->root);
    X509_free(x);
    x = make_cert(inter, root, "inter", "root", "critical,CA:TRUE,pathlen:0",
                  "critical,keyCertSign,cRLSign", -DAY, 365 * DAY);
    wd->inter_len = to_der(x, wd->inter, sizeof wd->inter);
    X509_free(x);
    x = make_cert(node_pub, inter, "node", "inter", "critical,CA:FALSE",
                  "critical,digitalSignature", -DAY, 30 * DAY);
    wd->leaf_len = to_der(x, wd->leaf, sizeof wd->leaf);
    X509_free(x);
    EVP_PKEY_free(root);
    EVP_PKEY_free(inter);
    EVP_PKEY_free(node_pub);
    if (pcc_note_key_generate(&wd->log, "log.example/c", 13, PCC_NOTE_ALG_ED25519) ||
        pcc_note_key_generate(&wd->wit[0], "w0", 2, PCC_NOTE_ALG_COSIG_V1) ||
        pcc_note_key_generate(&wd->wit[1], "w1", 2, PCC_NOTE_ALG_COSIG_V1))
        abort();
    memset(wd->code, 1, 48);
    memset(wd->model, 2, 48);
    memset(wd->config, 3, 48);
    release_leaf(wd);
    make_log(wd, NOW - 600);
}

static void free_world(world *wd)
{
    pcc_p384_key_free(wd->node);
    pcc_note_key_free(wd->log);
    pcc_note_key_free(wd->wit[0]);
    pcc_note_key_free(wd->wit[1]);
}

static pcc_attest_trust *trust_of(world *wd, const uint8_t *root, size_t root_len, unsigned relax)
{
    char vk[3][256];
    size_t vl[3];
    pcc_attest_trust *t = NULL;
    const char *what = NULL;
    const uint8_t *roots[1] = {root};
    if (pcc_note_key_vkey(wd->log, vk[0], &vl[0], 256) ||
        pcc_note_key_vkey(wd->wit[0], vk[1], &vl[1], 256) ||
        pcc_note_key_vkey(wd->wit[1], vk[2], &vl[2], 256))
        abort();
    const char *wits[2] = {vk[1], vk[2]};
    CHECK_ST(pcc_attest_trust_new(&t, &what, roots, &root_len, 1, vk[0], vl[0], wits, &vl[1], 2, 2,
                                  DAY, relax), PCC_OK);
    return t;
}

typedef struct knobs {
    uint64_t issued, not_after;
    bool debug, seccomp;
    const char *model;
    int bad_register;
} knobs;

static void build(world *wd, const knobs *kn, pcc_writer *out)
{
    pcc_attest_event ev[3] = {
        {0, "pcc", 3, {0}}, {1, "smollm2", 7, {0}}, {2, "node-config", 11, {0}}};
    pcc_attest_text models[1] = {{kn->model, strlen(kn->model)}};
    pcc_attest_body b;
    memcpy(ev[0].sha384, wd->code, 48);
    memcpy(ev[1].sha384, wd->model, 48);
    memcpy(ev[2].sha384, wd->config, 48);
    memset(&b, 0, sizeof b);
    for (int i = 0; i < 3; i++)
        if (pcc_attest_register_extend(b.registers[ev[i].reg], ev[i].name, ev[i].name_len,
                                       ev[i].sha384))
            abort();
    if (kn->bad_register)
        b.registers[2][0] ^= 1;
    b.serial = "SN-1";
    b.serial_len = 4;
    b.issued = kn->issued;
    b.events = ev;
    b.n_events = 3;
    b.restricted = b.ephemeral_data = true;
    b.debug = kn->debug;
    b.seccomp = kn->seccomp;
    b.landlock = b.netns = true;
    b.kem = 0x20;
    b.kdf = 1;
    b.aead = 1;
    memset(b.hpke_pk, 9, 32);
    memset(b.key_id, 8, 8);
    b.not_after = kn->not_after;
    b.models = models;
    b.n_models = 1;
    b.release = wd->release;
    b.release_len = wd->release_len;
    b.tlog_proof = wd->proof;
    b.tlog_proof_len = wd->proof_len;
    const uint8_t *chain[2] = {wd->leaf, wd->inter};
    size_t lens[2] = {wd->leaf_len, wd->inter_len};
    pcc_writer_init_dynamic(out, false, PCC_ATTEST_MAX_BUNDLE);
    CHECK_ST(pcc_attest_bundle_encode(out, &b, wd->node, chain, lens, 2), PCC_OK);
}

static const char *verify(pcc_attest_trust *t, const uint8_t *b, size_t len, const char *model,
                          uint64_t now, pcc_attest_report *rep)
{
    CHECK_ST(pcc_attest_verify(t, b, len, model, model ? strlen(model) : 0, now, rep), PCC_OK);
    if (rep->passed)
        return NULL;
    return pcc_attest_check_name((unsigned)rep->n_checks - 1);
}

static int failed_at(const char *got, const char *want)
{
    return got != NULL && strcmp(got, want) == 0;
}

static void test_bundle(void)
{
    world wd;
    pcc_attest_report rep;
    pcc_writer b;
    knobs good = {NOW - 60, NOW + DAY, false, true, "smollm2", 0}, kn;
    uint8_t node_id[32];
    make_world(&wd);
    pcc_attest_trust *t = trust_of(&wd, wd.root, wd.root_len, 0);
    pcc_attest_trust *relaxed = trust_of(&wd, wd.root, wd.root_len, PCC_ATTEST_RELAX_SECCOMP);
    pcc_attest_trust *wrong_root = trust_of(&wd, wd.inter, wd.inter_len, 0);

    build(&wd, &good, &b);
    CHECK(verify(t, b.data, b.len, "smollm2", NOW, &rep) == NULL);
    CHECK(rep.passed && rep.n_checks == PCC_CHECK_COUNT && rep.body_decoded);
    CHECK(!rep.tpm_listed && !rep.backend_tpm && rep.ok[PCC_CHECK_TPM]);
    CHECK(strcmp(pcc_attest_check_name(PCC_CHECK_TPM), "tpm") == 0);
    pcc_p384_key_node_id(wd.node, node_id);
    CHECK(memcmp(rep.node_id, node_id, 32) == 0 && rep.log_index == 1);
    {
        /* a trust that requires a TPM refuses this sim bundle at the tpm check */
        pcc_attest_trust *need = trust_of(&wd, wd.root, wd.root_len, PCC_ATTEST_REQUIRE_TPM);
        CHECK(failed_at(verify(need, b.data, b.len, "smollm2", NOW, &rep), "tpm"));
        CHECK(rep.tpm_listed && !rep.backend_tpm && rep.n_checks == PCC_CHECK_TPM + 1);
        CHECK(strcmp(rep.detail[PCC_CHECK_TPM], "a TPM quote is required") == 0);
        pcc_attest_trust_free(need);
    }
    CHECK(verify(t, b.data, b.len, NULL, NOW, &rep) == NULL); /* cached chain now */
    CHECK(failed_at(verify(t, b.data, b.len, "llama", NOW, &rep), "model"));
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW + 40 * DAY, &rep), "chain"));
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW - 2 * DAY, &rep), "chain"));
    CHECK(failed_at(verify(wrong_root, b.data, b.len, NULL, NOW, &rep), "chain"));
    CHECK(failed_at(verify(t, b.data, b.len - 1, NULL, NOW, &rep), "format"));
    CHECK(failed_at(verify(t, b.data, 0, NULL, NOW, &rep), "format"));
    /* flip a byte of the signature (the last bytes of the bundle) */
    b.data[b.len - 1] ^= 1;
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW, &rep), "signature"));
    pcc_writer_cleanup(&b);

    /* a failed encode leaves the writer as it was */
    {
        pcc_writer f;
        uint8_t small[600];
        pcc_writer_init_fixed(&f, small, sizeof small);
        CHECK_ST(pcc_wire_put_nil(&f), PCC_OK);
        pcc_attest_body bb;
        memset(&bb, 0, sizeof bb);
        bb.serial = "S";
        bb.serial_len = 1;
        bb.release = wd.release;
        bb.release_len = wd.release_len;
        bb.tlog_proof = wd.proof;
        bb.tlog_proof_len = wd.proof_len;
        CHECK(pcc_attest_body_encode(&f, &bb, wd.node) != PCC_OK); /* the proof does not fit */
        CHECK(f.len == 1);
        bb.serial_len = 0;
        CHECK_ST(pcc_attest_body_encode(&f, &bb, wd.node), PCC_E_INVALID);
        CHECK(f.len == 1);
    }

    kn = good;
    kn.bad_register = 1;
    build(&wd, &kn, &b);
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW, &rep), "registers"));
    pcc_writer_cleanup(&b);

    kn = good;
    kn.debug = true;
    build(&wd, &kn, &b);
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW, &rep), "modes"));
    pcc_writer_cleanup(&b);

    kn = good;
    kn.seccomp = false;
    build(&wd, &kn, &b);
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW, &rep), "modes"));
    CHECK(verify(relaxed, b.data, b.len, NULL, NOW, &rep) == NULL);
    pcc_writer_cleanup(&b);

    kn = good;
    kn.not_after = NOW;
    build(&wd, &kn, &b);
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW, &rep), "key"));
    pcc_writer_cleanup(&b);

    kn = good;
    kn.issued = NOW + 301;
    kn.not_after = NOW + 400;
    build(&wd, &kn, &b);
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW, &rep), "freshness"));
    pcc_writer_cleanup(&b);

    make_log(&wd, NOW - 2 * DAY); /* stale cosignatures */
    build(&wd, &good, &b);
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW, &rep), "freshness"));
    pcc_writer_cleanup(&b);

    memset(wd.code, 7, 48); /* a component that is not the release's */
    make_log(&wd, NOW - 60);
    build(&wd, &good, &b);
    CHECK(failed_at(verify(t, b.data, b.len, NULL, NOW, &rep), "release"));
    pcc_writer_cleanup(&b);

    pcc_attest_trust_cache_clear(t);
    pcc_attest_trust_free(t);
    pcc_attest_trust_free(relaxed);
    pcc_attest_trust_free(wrong_root);
    pcc_attest_trust_free(NULL);
    free_world(&wd);
}

static void test_trust_arguments(void)
{
    world wd;
    pcc_attest_trust *t = NULL;
    const char *what = NULL;
    char vk[256];
    size_t vl;
    make_world(&wd);
    if (pcc_note_key_vkey(wd.log, vk, &vl, sizeof vk))
        abort();
    const uint8_t *roots[1] = {wd.root};
    const char *wits[1] = {vk};
    /* quorum above the witness count; the log key as a witness (not a cosigner) */
    CHECK_ST(pcc_attest_trust_new(&t, &what, roots, &wd.root_len, 1, vk, vl, wits, &vl, 1, 2, DAY,
                                  0), PCC_E_INVALID);
    CHECK(t == NULL && what != NULL);
    CHECK_ST(pcc_attest_trust_new(&t, &what, roots, &wd.root_len, 1, vk, vl, wits, &vl, 1, 1, DAY,
                                  0), PCC_E_INVALID);
    size_t bad_len = 10;
    CHECK_ST(pcc_attest_trust_new(&t, &what, roots, &bad_len, 1, vk, vl, wits, &vl, 1, 1, DAY, 0),
             PCC_E_INVALID);
    free_world(&wd);
}

int main(void)
{
    test_register_extend_kat();
    test_keys();
    test_bundle();
    test_trust_arguments();
    return ctest_done("test_attest");
}
