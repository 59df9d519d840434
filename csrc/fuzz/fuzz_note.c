/* fuzz_note.c: libFuzzer harness for C2SP signed notes, checkpoints and tlog-proof.
 *
 * Every input goes through all parsers:
 *   - note parse + open with fixed keys (the Go sumdb/note PeterNeumann verifier, a note signer
 *     and a cosigner made here): a note that opens verified every line its keys match;
 *   - checkpoint parse: what parses formats back to exactly the input;
 *   - tlog-proof parse: what parses formats back to exactly the input and parses again the same;
 *   - vkey parse: a key that parses prints a vkey that parses to the same key;
 *   - base64 decode: what decodes encodes back to the input.
 * Signing: inputs that are valid note text are signed by both signers (the cosigner only when
 * the text is a checkpoint), and the signed note must open with their verifiers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcc/buf.h"
#include "pcc/note.h"

#define REQUIRE(c)                 \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

static pcc_note_key *g_keys[5]; /* Peter (verifier), signer, its verifier, cosigner, its verifier */

static pcc_note_key *verifier_of(const pcc_note_key *k)
{
    char vkey[256];
    size_t n = 0;
    pcc_note_key *v = NULL;
    REQUIRE(pcc_note_key_vkey(k, vkey, &n, sizeof vkey) == PCC_OK);
    REQUIRE(pcc_note_key_from_vkey(&v, vkey, n) == PCC_OK);
    return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char peter[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    (void)argc, (void)argv;
    REQUIRE(pcc_note_key_from_vkey(&g_keys[0], peter, strlen(peter)) == PCC_OK);
    REQUIRE(pcc_note_key_generate(&g_keys[1], "fuzz.example/log", 16, PCC_NOTE_ALG_ED25519) ==
            PCC_OK);
    g_keys[2] = verifier_of(g_keys[1]);
    REQUIRE(pcc_note_key_generate(&g_keys[3], "fuzz.example/witness", 20,
                                  PCC_NOTE_ALG_COSIG_V1) == PCC_OK);
    g_keys[4] = verifier_of(g_keys[3]);
    return 0;
}

static void fuzz_open(const uint8_t *d, size_t n)
{
    pcc_note *note = NULL;
    int kos[PCC_NOTE_MAX_SIGS];
    uint64_t tos[PCC_NOTE_MAX_SIGS];
    pcc_status st = pcc_note_parse(&note, d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_LIMIT);
    if (st != PCC_OK) {
        REQUIRE(note == NULL);
        return;
    }
    size_t tl, ns = pcc_note_sig_count(note);
    const uint8_t *t = pcc_note_text(note, &tl);
    REQUIRE(tl > 0 && tl < n && t[tl - 1] == '\n' && ns >= 1 && ns <= PCC_NOTE_MAX_SIGS);
    REQUIRE(pcc_note_check_text(t, tl) == PCC_OK);
    for (size_t i = 0; i < ns; i++) {
        pcc_note_sig s;
        REQUIRE(pcc_note_get_sig(note, i, &s) == PCC_OK);
        REQUIRE(pcc_note_valid_name(s.name, s.name_len) && s.sig_len >= 1);
    }
    pcc_note_sig s;
    REQUIRE(pcc_note_get_sig(note, ns, &s) == PCC_E_INVALID);
    const pcc_note_key *keys[3] = {g_keys[0], g_keys[2], g_keys[4]};
    st = pcc_note_verify(note, keys, 3, kos, tos);
    REQUIRE(st == PCC_OK || st == PCC_E_VERIFY);
    if (st == PCC_OK) {
        size_t verified = 0;
        for (size_t i = 0; i < ns; i++) {
            REQUIRE(kos[i] >= -1 && kos[i] < 3);
            verified += kos[i] >= 0;
            REQUIRE((tos[i] != UINT64_MAX) == (kos[i] == 2));
        }
        REQUIRE(verified >= 1);
    }
    pcc_note_free(note);
}

static void fuzz_checkpoint(const uint8_t *d, size_t n)
{
    pcc_checkpoint cp;
    pcc_writer w;
    pcc_status st = pcc_note_checkpoint_parse(&cp, (const char *)d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_LIMIT || st == PCC_E_INVALID);
    if (st != PCC_OK)
        return;
    REQUIRE(cp.origin_len > 0);
    pcc_writer_init_dynamic(&w, false, PCC_NOTE_MAX_LEN);
    REQUIRE(pcc_note_checkpoint_format(&cp, &w) == PCC_OK);
    REQUIRE(w.len == n && memcmp(w.data, d, n) == 0);
    pcc_writer_cleanup(&w);
}

static void fuzz_proof(const uint8_t *d, size_t n)
{
    pcc_note_proof p, q;
    pcc_writer w;
    static uint8_t extra[PCC_NOTE_MAX_LEN / 4 * 3 + 3];
    size_t el = 0;
    pcc_status st = pcc_note_proof_parse(&p, (const char *)d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_LIMIT || st == PCC_E_INVALID);
    if (st != PCC_OK)
        return;
    REQUIRE(p.n_hashes <= PCC_NOTE_MAX_PROOF_HASHES);
    if (p.has_extra)
        REQUIRE(pcc_note_b64_decode(extra, &el, sizeof extra, p.extra_b64, p.extra_b64_len) ==
                PCC_OK);
    pcc_writer_init_dynamic(&w, false, 2 * PCC_NOTE_MAX_LEN);
    REQUIRE(pcc_note_proof_format(p.index, &p.hashes[0][0], p.n_hashes, p.has_extra, extra, el,
                                  p.checkpoint, p.checkpoint_len, &w) == PCC_OK);
    REQUIRE(w.len == n && memcmp(w.data, d, n) == 0);
    REQUIRE(pcc_note_proof_parse(&q, (const char *)w.data, w.len) == PCC_OK);
    REQUIRE(q.index == p.index && q.n_hashes == p.n_hashes &&
            memcmp(q.hashes, p.hashes, p.n_hashes * 32) == 0 && q.has_extra == p.has_extra);
    pcc_writer_cleanup(&w);
}

static void fuzz_vkey(const uint8_t *d, size_t n)
{
    pcc_note_key *k = NULL, *k2 = NULL;
    char *vkey;
    size_t vl = 0;
    uint8_t a[32], b[32];
    pcc_status st = pcc_note_key_from_vkey(&k, (const char *)d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_UNSUPPORTED || st == PCC_E_NOMEM);
    if (st != PCC_OK)
        return;
    vkey = malloc(n + 64); /* name + "+" + 8 hex + "+" + 44 base64 */
    REQUIRE(vkey != NULL);
    REQUIRE(pcc_note_key_vkey(k, vkey, &vl, n + 64) == PCC_OK);
    REQUIRE(pcc_note_key_from_vkey(&k2, vkey, vl) == PCC_OK);
    free(vkey);
    pcc_note_key_public(k, a);
    pcc_note_key_public(k2, b);
    REQUIRE(pcc_note_key_id(k) == pcc_note_key_id(k2) && memcmp(a, b, 32) == 0 &&
            pcc_note_key_alg(k) == pcc_note_key_alg(k2));
    pcc_note_key_free(k);
    pcc_note_key_free(k2);
}

static void fuzz_b64(const uint8_t *d, size_t n)
{
    uint8_t out[4096];
    char back[4096 / 3 * 4 + 8];
    size_t ol = 0, bl = 0;
    if (n > 4096)
        return;
    if (pcc_note_b64_decode(out, &ol, sizeof out, (const char *)d, n) != PCC_OK)
        return;
    REQUIRE(pcc_note_b64_encode(back, &bl, sizeof back, out, ol) == PCC_OK);
    REQUIRE(bl == n && memcmp(back, d, n) == 0); /* canonical only */
}

static void fuzz_sign(const uint8_t *d, size_t n)
{
    pcc_writer w;
    pcc_checkpoint cp;
    pcc_note *note = NULL;
    int kos[2];
    uint64_t tos[2];
    if (pcc_note_check_text(d, n) != PCC_OK)
        return;
    int is_cp = pcc_note_checkpoint_parse(&cp, (const char *)d, n) == PCC_OK;
    pcc_writer_init_dynamic(&w, false, PCC_NOTE_MAX_LEN + 1024);
    REQUIRE(pcc_writer_bytes(&w, d, n) == PCC_OK && pcc_writer_u8(&w, '\n') == PCC_OK);
    REQUIRE(pcc_note_sign_line(g_keys[1], d, n, 0, &w) == PCC_OK);
    pcc_status st = pcc_note_sign_line(g_keys[3], d, n, 1234567890, &w);
    REQUIRE(is_cp ? st == PCC_OK : st != PCC_OK);
    REQUIRE(pcc_note_parse(&note, w.data, w.len) == PCC_OK);
    /* the text is everything before the last blank line: it may have blank lines itself */
    size_t tl;
    (void)pcc_note_text(note, &tl);
    if (tl == n) {
        const pcc_note_key *keys[2] = {g_keys[2], g_keys[4]};
        REQUIRE(pcc_note_verify(note, keys, 2, kos, tos) == PCC_OK);
        REQUIRE(kos[0] == 0 && (!is_cp || (kos[1] == 1 && tos[1] == 1234567890)));
    }
    pcc_note_free(note);
    pcc_writer_cleanup(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_open(data, size);
    fuzz_checkpoint(data, size);
    fuzz_proof(data, size);
    fuzz_vkey(data, size);
    fuzz_b64(data, size);
    fuzz_sign(data, size);
    return 0;
}
