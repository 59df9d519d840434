/* test_note.c: C2SP signed notes, checkpoints, cosignatures and tlog-proof against the static
 * library (no Python). Known answers from tests/vectors/signed_note_c2sp.json: Go's
 * golang.org/x/mod/sumdb/note PeterNeumann key pair and golden signature (Ed25519 is
 * deterministic, so signing reproduces it byte for byte), the C2SP signed-note example and the
 * tlog-checkpoint example. */
#include "ctest.h"
#include "pcc/buf.h"
#include "pcc/note.h"

#define EM "\xe2\x80\x94" /* U+2014 EM DASH */

static const char SKEY[] = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char VKEY[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char VKEY2[] = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
static const char TEXT[] = "If you think cryptography is the answer to your problem,\n"
                           "then you don't know what your problem is.\n";
static const char SIG_LINE[] = EM " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1"
                               "FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
static const char SIG_LINE2[] = EM " EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+"
                                "vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

static const char C2SP_VKEY[] = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
static const char C2SP_NOTE[] = "This is an example message.\n\n" EM " example.com/foo Uw2QOkn8srV1"
                                "yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuw"
                                "HjG1Yu72IneyaQM=\n";

static const char CHECKPOINT[] = "example.com/behind-the-sofa\n20852163\n"
                                 "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
static const char CHECKPOINT_ROOT[] =
    "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62";

/* open_note parses and verifies msg against keys; returns the status of the first failing step. */
static pcc_status open_note(const char *msg, size_t len, const pcc_note_key *const *keys,
                            size_t n_keys, int *kos, uint64_t *tos, size_t *n_sigs)
{
    pcc_note *n = NULL;
    pcc_status st = pcc_note_parse(&n, (const uint8_t *)msg, len);
    if (st == PCC_OK) {
        *n_sigs = pcc_note_sig_count(n);
        st = pcc_note_verify(n, keys, n_keys, kos, tos);
    }
    pcc_note_free(n);
    return st;
}

/* The Go key pair: the skey gives the vkey, the vkey gives the ID, signing gives the golden line. */
static void test_go_keys_and_signature(void)
{
    pcc_note_key *signer = NULL, *verifier = NULL;
    char buf[256];
    size_t len = 0;
    pcc_writer w;
    CHECK_ST(pcc_note_key_from_skey(&signer, SKEY, strlen(SKEY), PCC_NOTE_ALG_ED25519), PCC_OK);
    CHECK_ST(pcc_note_key_from_vkey(&verifier, VKEY, strlen(VKEY)), PCC_OK);
    if (signer == NULL || verifier == NULL)
        goto out;
    CHECK(pcc_note_key_id(verifier) == 0xc74f20a3u && pcc_note_key_id(signer) == 0xc74f20a3u);
    CHECK(pcc_note_key_is_signer(signer) && !pcc_note_key_is_signer(verifier));
    CHECK_ST(pcc_note_key_vkey(signer, buf, &len, sizeof buf), PCC_OK);
    CHECK(len == strlen(VKEY) && memcmp(buf, VKEY, len) == 0);
    CHECK_ST(pcc_note_key_skey(signer, buf, &len, sizeof buf), PCC_OK);
    CHECK(len == strlen(SKEY) && memcmp(buf, SKEY, len) == 0);
    CHECK_ST(pcc_note_key_skey(verifier, buf, &len, sizeof buf), PCC_E_STATE);

    pcc_writer_init_dynamic(&w, false, 4096);
    CHECK_ST(pcc_note_sign_line(signer, (const uint8_t *)TEXT, strlen(TEXT), 0, &w), PCC_OK);
    CHECK(w.len == strlen(SIG_LINE) && memcmp(w.data, SIG_LINE, w.len) == 0);
    CHECK_ST(pcc_note_sign_line(verifier, (const uint8_t *)TEXT, strlen(TEXT), 0, &w),
             PCC_E_STATE);
    CHECK_ST(pcc_note_sign_line(signer, (const uint8_t *)"no newline", 10, 0, &w), PCC_E_FORMAT);
    pcc_writer_cleanup(&w);
    /* a key ID that does not match the key is malformed */
    char bad[sizeof VKEY];
    memcpy(bad, VKEY, sizeof VKEY);
    bad[13] = bad[13] == '0' ? '1' : '0'; /* inside the hex ID */
    pcc_note_key *k = NULL;
    CHECK_ST(pcc_note_key_from_vkey(&k, bad, strlen(bad)), PCC_E_FORMAT);
    CHECK(k == NULL);
out:
    pcc_note_key_free(signer);
    pcc_note_key_free(verifier);
}

/* Sign/open round trip, the two-signature note, unknown signers ignored, tampering rejected. */
static void test_open(void)
{
    pcc_note_key *signer = NULL, *v1 = NULL, *v2 = NULL;
    char msg[1024];
    int kos[4];
    uint64_t tos[4];
    size_t ns = 0;
    pcc_writer w;
    CHECK_ST(pcc_note_key_from_skey(&signer, SKEY, strlen(SKEY), PCC_NOTE_ALG_ED25519), PCC_OK);
    CHECK_ST(pcc_note_key_from_vkey(&v1, VKEY, strlen(VKEY)), PCC_OK);
    CHECK_ST(pcc_note_key_from_vkey(&v2, VKEY2, strlen(VKEY2)), PCC_OK);
    if (signer == NULL || v1 == NULL || v2 == NULL)
        goto out;

    /* signed with the C signer, opened with the parsed verifier */
    pcc_writer_init_fixed(&w, (uint8_t *)msg, sizeof msg);
    CHECK_ST(pcc_writer_bytes(&w, TEXT, strlen(TEXT)), PCC_OK);
    CHECK_ST(pcc_writer_u8(&w, '\n'), PCC_OK);
    CHECK_ST(pcc_note_sign_line(signer, (const uint8_t *)TEXT, strlen(TEXT), 0, &w), PCC_OK);
    const pcc_note_key *one[1] = {v1};
    CHECK_ST(open_note(msg, w.len, one, 1, kos, tos, &ns), PCC_OK);
    CHECK(ns == 1 && kos[0] == 0 && tos[0] == UINT64_MAX);

    /* the Go two-signature note: with both keys both verify, with one the other is ignored */
    size_t n = (size_t)snprintf(msg, sizeof msg, "%s\n%s%s", TEXT, SIG_LINE, SIG_LINE2);
    const pcc_note_key *both[2] = {v1, v2};
    CHECK_ST(open_note(msg, n, both, 2, kos, tos, &ns), PCC_OK);
    CHECK(ns == 2 && kos[0] == 0 && kos[1] == 1);
    CHECK_ST(open_note(msg, n, one, 1, kos, tos, &ns), PCC_OK);
    CHECK(ns == 2 && kos[0] == 0 && kos[1] == -1);
    const pcc_note_key *other[1] = {v2};
    CHECK_ST(open_note(msg, n, other, 1, kos, tos, &ns), PCC_OK);
    CHECK(kos[0] == -1 && kos[1] == 0);
    CHECK_ST(open_note(msg, n, NULL, 0, kos, tos, &ns), PCC_E_VERIFY); /* nothing verified */

    /* one changed byte of text, or of a known signature, fails; a repeated line fails */
    msg[3] ^= 0x20;
    CHECK_ST(open_note(msg, n, one, 1, kos, tos, &ns), PCC_E_VERIFY);
    msg[3] ^= 0x20;
    size_t sig_at = strlen(TEXT) + 1 + strlen(EM " PeterNeumann ") + 10;
    msg[sig_at] = msg[sig_at] == 'A' ? 'B' : 'A';
    CHECK_ST(open_note(msg, n, one, 1, kos, tos, &ns), PCC_E_VERIFY);
    n = (size_t)snprintf(msg, sizeof msg, "%s\n%s%s", TEXT, SIG_LINE, SIG_LINE);
    CHECK_ST(open_note(msg, n, one, 1, kos, tos, &ns), PCC_E_VERIFY);
    /* malformed: no blank line, no signature, control character */
    CHECK_ST(open_note(TEXT, strlen(TEXT), one, 1, kos, tos, &ns), PCC_E_FORMAT);
    n = (size_t)snprintf(msg, sizeof msg, "%s\n", TEXT);
    CHECK_ST(open_note(msg, n, one, 1, kos, tos, &ns), PCC_E_FORMAT);
    n = (size_t)snprintf(msg, sizeof msg, "a\tb\n\n%s", SIG_LINE);
    CHECK_ST(open_note(msg, n, one, 1, kos, tos, &ns), PCC_E_FORMAT);
out:
    pcc_note_key_free(signer);
    pcc_note_key_free(v1);
    pcc_note_key_free(v2);
}

/* The C2SP signed-note example verifies with its published vkey. */
static void test_c2sp_example(void)
{
    pcc_note_key *v = NULL;
    int kos[1];
    size_t ns = 0;
    CHECK_ST(pcc_note_key_from_vkey(&v, C2SP_VKEY, strlen(C2SP_VKEY)), PCC_OK);
    if (v == NULL)
        return;
    CHECK(pcc_note_key_id(v) == 0x530d903au);
    const pcc_note_key *keys[1] = {v};
    CHECK_ST(open_note(C2SP_NOTE, strlen(C2SP_NOTE), keys, 1, kos, NULL, &ns), PCC_OK);
    CHECK(ns == 1 && kos[0] == 0);
    pcc_note_key_free(v);
}

/* The tlog-checkpoint example parses; a cosigner signs it with a timestamp that verifies. */
static void test_checkpoint_and_cosignature(void)
{
    pcc_checkpoint cp;
    pcc_note_key *cosigner = NULL, *pub = NULL;
    char msg[1024], vkey[256];
    size_t vlen = 0, ns = 0;
    int kos[2];
    uint64_t tos[2];
    pcc_writer w;
    CHECK_ST(pcc_note_checkpoint_parse(&cp, CHECKPOINT, strlen(CHECKPOINT)), PCC_OK);
    CHECK(cp.origin_len == strlen("example.com/behind-the-sofa") &&
          memcmp(cp.origin, "example.com/behind-the-sofa", cp.origin_len) == 0);
    CHECK(cp.size == 20852163u && hex_eq(cp.root, 32, CHECKPOINT_ROOT) && cp.extensions_len == 0);
    pcc_checkpoint bad;
    CHECK_ST(pcc_note_checkpoint_parse(&bad, "o\n020852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3"
                                             "j2jxq2I=\n", 57),
             PCC_E_FORMAT); /* leading zero */

    CHECK_ST(pcc_note_key_generate(&cosigner, "witness.example/w1", 18, PCC_NOTE_ALG_COSIG_V1),
             PCC_OK);
    if (cosigner == NULL)
        return;
    CHECK_ST(pcc_note_key_vkey(cosigner, vkey, &vlen, sizeof vkey), PCC_OK);
    CHECK_ST(pcc_note_key_from_vkey(&pub, vkey, vlen), PCC_OK);
    if (pub == NULL)
        goto out;
    CHECK(pcc_note_key_alg(pub) == PCC_NOTE_ALG_COSIG_V1);
    pcc_writer_init_fixed(&w, (uint8_t *)msg, sizeof msg);
    CHECK_ST(pcc_writer_bytes(&w, CHECKPOINT, strlen(CHECKPOINT)), PCC_OK);
    CHECK_ST(pcc_writer_u8(&w, '\n'), PCC_OK);
    CHECK_ST(pcc_note_sign_line(cosigner, (const uint8_t *)CHECKPOINT, strlen(CHECKPOINT),
                                1700000000u, &w),
             PCC_OK);
    const pcc_note_key *keys[1] = {pub};
    CHECK_ST(open_note(msg, w.len, keys, 1, kos, tos, &ns), PCC_OK);
    CHECK(ns == 1 && kos[0] == 0 && tos[0] == 1700000000u);
    /* a cosignature covers the timestamp: change one timestamp byte (base64 chars 7..16) */
    size_t at = strlen(CHECKPOINT) + 1 + strlen(EM " witness.example/w1 ") + 8;
    msg[at] = msg[at] == 'A' ? 'B' : 'A';
    CHECK_ST(open_note(msg, w.len, keys, 1, kos, tos, &ns), PCC_E_VERIFY);
    /* cosigners sign only checkpoints */
    pcc_writer_init_fixed(&w, (uint8_t *)msg, sizeof msg);
    CHECK_ST(pcc_note_sign_line(cosigner, (const uint8_t *)TEXT, strlen(TEXT), 1, &w),
             PCC_E_FORMAT);
out:
    pcc_note_key_free(cosigner);
    pcc_note_key_free(pub);
}

/* tlog-proof: format then parse gives the same index, hashes, extra and checkpoint. */
static void test_tlog_proof(void)
{
    char signed_cp[512];
    uint8_t hashes[2 * 32];
    pcc_note_proof p;
    pcc_writer w;
    int n = snprintf(signed_cp, sizeof signed_cp, "%s\n%s", CHECKPOINT,
                     EM " example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmR"
                        "DeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n");
    for (int i = 0; i < 64; i++)
        hashes[i] = (uint8_t)(i * 7);
    pcc_writer_init_dynamic(&w, false, 8192);
    CHECK_ST(pcc_note_proof_format(12345, hashes, 2, 1, (const uint8_t *)"xy", 2, signed_cp,
                                   (size_t)n, &w),
             PCC_OK);
    CHECK_ST(pcc_note_proof_parse(&p, (const char *)w.data, w.len), PCC_OK);
    CHECK(p.index == 12345 && p.n_hashes == 2 && memcmp(p.hashes, hashes, 64) == 0);
    CHECK(p.has_extra && p.extra_b64_len == 4 && memcmp(p.extra_b64, "eHk=", 4) == 0);
    CHECK(p.checkpoint_len == (size_t)n && memcmp(p.checkpoint, signed_cp, (size_t)n) == 0);
    /* the header is required; the checkpoint must be a signed note */
    CHECK_ST(pcc_note_proof_parse(&p, (const char *)w.data + 1, w.len - 1), PCC_E_FORMAT);
    pcc_writer_cleanup(&w);
    pcc_writer_init_dynamic(&w, false, 8192);
    CHECK_ST(pcc_note_proof_format(1, hashes, 0, 0, NULL, 0, CHECKPOINT, strlen(CHECKPOINT), &w),
             PCC_E_INVALID);
    pcc_writer_cleanup(&w);
}

int main(void)
{
    test_go_keys_and_signature();
    test_open();
    test_c2sp_example();
    test_checkpoint_and_cosignature();
    test_tlog_proof();
    return ctest_done("note");
}
