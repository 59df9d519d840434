/* test_hpke.c: HPKE (RFC 9180) against the static library (no Python). Known answers from
 * RFC 9180 Appendix A (tests/vectors/hpke_rfc9180.json): DHKEM(X25519) base mode with
 * AES-128-GCM (A.1.1), DHKEM(X25519) auth_psk mode with ChaCha20-Poly1305 (A.2.4) and
 * DHKEM(P-256) base mode with AES-128-GCM (A.3.1): keys derived from ikm, enc from the pinned
 * ephemeral key, the first two ciphertexts, two exports, then the recipient opens them. */
#include "ctest.h"
#include "pcc/hpke.h"

typedef struct {
    const char *name;
    uint8_t mode;
    pcc_hpke_suite suite;
    const char *info, *ikm_r, *ikm_s, *ikm_e, *sk_r, *pk_r, *pk_s, *enc, *psk, *psk_id;
    const char *aad[2], *ct[2];
    const char *exp_ctx[2], *exp[2];
} hpke_kat;

static const char PT[] = "4265617574792069732074727574682c20747275746820626561757479";

static const hpke_kat KATS[] = {
    {"A.1.1 base X25519 AES-128-GCM", PCC_HPKE_MODE_BASE,
     {PCC_HPKE_KEM_X25519_SHA256, PCC_HPKE_KDF_HKDF_SHA256, PCC_HPKE_AEAD_AES128GCM},
     "4f6465206f6e2061204772656369616e2055726e",
     "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037", NULL,
     "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
     "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
     "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d", NULL,
     "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431", NULL, NULL,
     {"436f756e742d30", "436f756e742d31"},
     {"f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a",
      "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84"},
     {"", "00"},
     {"3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee",
      "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"}},
    {"A.2.4 auth_psk X25519 ChaCha20-Poly1305", PCC_HPKE_MODE_AUTH_PSK,
     {PCC_HPKE_KEM_X25519_SHA256, PCC_HPKE_KDF_HKDF_SHA256, PCC_HPKE_AEAD_CHACHA20POLY1305},
     "4f6465206f6e2061204772656369616e2055726e",
     "f3304ddcf15848488271f12b75ecaf72301faabf6ad283654a14c398832eb184",
     "20ade1d5203de1aadfb261c4700b6432e260d0d317be6ebbb8d7fffb1f86ad9d",
     "49d6eac8c6c558c953a0a252929a818745bb08cd3d29e15f9f5db5eb2e7d4b84",
     "7b36a42822e75bf3362dfabbe474b3016236408becb83b859a6909e22803cb0c",
     "a5099431c35c491ec62ca91df1525d6349cb8aa170c51f9581f8627be6334851",
     "3ac5bd4dd66ff9f2740bef0d6ccb66daa77bff7849d7895182b07fb74d087c45",
     "656a2e00dc9990fd189e6e473459392df556e9a2758754a09db3f51179a3fc02",
     "0247fd33b913760fa1fa51e1892d9f307fbe65eb171e8132c2af18555a738b82",
     "456e6e796e20447572696e206172616e204d6f726961",
     {"436f756e742d30", "436f756e742d31"},
     {"9aa52e29274fc6172e38a4461361d2342585d3aeec67fb3b721ecd63f059577c7fe886be0ede01456ebc67d597",
      "59460bacdbe7a920ef2806a74937d5a691d6d5062d7daafcad7db7e4d8c649adffe575c1889c5c2e3a49af8e3e"},
     {"", "00"},
     {"c23ebd4e7a0ad06a5dddf779f65004ce9481069ce0f0e6dd51a04539ddcbd5cd",
      "ed7ff5ca40a3d84561067ebc8e01702bc36cf1eb99d42a92004642b9dfaadd37"}},
    {"A.3.1 base P-256 AES-128-GCM", PCC_HPKE_MODE_BASE,
     {PCC_HPKE_KEM_P256_SHA256, PCC_HPKE_KDF_HKDF_SHA256, PCC_HPKE_AEAD_AES128GCM},
     "4f6465206f6e2061204772656369616e2055726e",
     "668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550", NULL,
     "4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e",
     "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
     "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f6"
     "2fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
     NULL,
     "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f95"
     "1c0900be863c403ce65c9bfcb9382657222d18c4",
     NULL, NULL,
     {"436f756e742d30", "436f756e742d31"},
     {"5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434",
      "fa6f037b47fc21826b610172ca9637e82d6e5801eb31cbd3748271affd4ecb06646e0329cbdf3c3cd655b28e82"},
     {"", "00"},
     {"5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d",
      "6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796"}},
};

/* b is a byte string decoded from a test vector (NULL hex: absent). */
typedef struct {
    uint8_t p[128];
    size_t n;
    int have;
} bytes;

static bytes B(const char *hex)
{
    bytes b = {{0}, 0, hex != NULL};
    if (hex != NULL)
        b.n = unhex(b.p, sizeof b.p, hex);
    return b;
}

#define P(b) ((b).have ? (b).p : NULL)

static void run_kat(const hpke_kat *k)
{
    pcc_hpke_key *sk_r = NULL, *sk_r2 = NULL, *sk_s = NULL;
    pcc_hpke_ctx *s = NULL, *r = NULL;
    uint8_t enc[PCC_HPKE_MAX_ENC], pk[PCC_HPKE_MAX_PK], raw[PCC_HPKE_MAX_SK], ct[128], pt[128];
    uint8_t exp[32];
    size_t enc_len = 0, pk_len = 0, raw_len = 0, ct_len = 0, pt_len = 0;
    bytes info = B(k->info), ikm_r = B(k->ikm_r), ikm_s = B(k->ikm_s), ikm_e = B(k->ikm_e);
    bytes psk = B(k->psk), psk_id = B(k->psk_id), pk_s = B(k->pk_s), m = B(PT);
    int auth = k->mode == PCC_HPKE_MODE_AUTH || k->mode == PCC_HPKE_MODE_AUTH_PSK;

    fprintf(stderr, "  hpke %s\n", k->name);
    /* skR, pkR = DeriveKeyPair(ikmR); the serialized forms are the vector's */
    CHECK_ST(pcc_hpke_key_derive(&sk_r, k->suite.kem, ikm_r.p, ikm_r.n), PCC_OK);
    if (auth)
        CHECK_ST(pcc_hpke_key_derive(&sk_s, k->suite.kem, ikm_s.p, ikm_s.n), PCC_OK);
    if (sk_r == NULL || (auth && sk_s == NULL))
        goto out;
    CHECK_ST(pcc_hpke_key_private(sk_r, raw, &raw_len, sizeof raw), PCC_OK);
    CHECK(hex_eq(raw, raw_len, k->sk_r));
    CHECK_ST(pcc_hpke_key_public(sk_r, pk, &pk_len, sizeof pk), PCC_OK);
    CHECK(hex_eq(pk, pk_len, k->pk_r));
    if (auth) {
        uint8_t pks[PCC_HPKE_MAX_PK];
        size_t n = 0;
        CHECK_ST(pcc_hpke_key_public(sk_s, pks, &n, sizeof pks), PCC_OK);
        CHECK(hex_eq(pks, n, k->pk_s));
    }

    /* sender with the pinned ephemeral key: enc, the first two ciphertexts, the exports */
    CHECK_ST(pcc_hpke_setup_sender(&s, enc, &enc_len, sizeof enc, k->suite, pk, pk_len, info.p,
                                   info.n, P(psk), psk.n, P(psk_id), psk_id.n, sk_s, ikm_e.p,
                                   ikm_e.n),
             PCC_OK);
    if (s == NULL)
        goto out;
    CHECK(hex_eq(enc, enc_len, k->enc));
    for (int i = 0; i < 2; i++) {
        bytes aad = B(k->aad[i]);
        CHECK(pcc_hpke_ctx_seq(s) == (uint64_t)i);
        CHECK_ST(pcc_hpke_seal(s, ct, &ct_len, sizeof ct, aad.p, aad.n, m.p, m.n), PCC_OK);
        CHECK(hex_eq(ct, ct_len, k->ct[i]));
    }
    for (int i = 0; i < 2; i++) {
        bytes ec = B(k->exp_ctx[i]);
        CHECK_ST(pcc_hpke_export(s, exp, sizeof exp, ec.p, ec.n), PCC_OK);
        CHECK(hex_eq(exp, sizeof exp, k->exp[i]));
    }
    CHECK_ST(pcc_hpke_open(s, pt, &pt_len, sizeof pt, NULL, 0, ct, ct_len), PCC_E_UNSUPPORTED);

    /* recipient from the serialized private key: opens both, in order, and exports the same */
    unhex(raw, sizeof raw, k->sk_r);
    CHECK_ST(pcc_hpke_key_from_bytes(&sk_r2, k->suite.kem, raw, sizeof raw), PCC_OK);
    if (sk_r2 == NULL)
        goto out;
    CHECK_ST(pcc_hpke_setup_recipient(&r, k->suite, enc, enc_len, sk_r2, info.p, info.n, P(psk),
                                      psk.n, P(psk_id), psk_id.n, P(pk_s), pk_s.n),
             PCC_OK);
    if (r == NULL)
        goto out;
    for (int i = 0; i < 2; i++) {
        bytes aad = B(k->aad[i]), c = B(k->ct[i]);
        /* a flipped tag bit fails, writes nothing that survives and leaves seq alone */
        c.p[c.n - 1] ^= 1;
        CHECK_ST(pcc_hpke_open(r, pt, &pt_len, sizeof pt, aad.p, aad.n, c.p, c.n), PCC_E_DECRYPT);
        CHECK(pt_len == 0 && pcc_hpke_ctx_seq(r) == (uint64_t)i);
        c.p[c.n - 1] ^= 1;
        CHECK_ST(pcc_hpke_open(r, pt, &pt_len, sizeof pt, aad.p, aad.n, c.p, c.n), PCC_OK);
        CHECK(pt_len == m.n && memcmp(pt, m.p, m.n) == 0);
    }
    bytes ec = B(k->exp_ctx[1]);
    CHECK_ST(pcc_hpke_export(r, exp, sizeof exp, ec.p, ec.n), PCC_OK);
    CHECK(hex_eq(exp, sizeof exp, k->exp[1]));
    pcc_hpke_ctx_free(r);
    r = NULL;

    /* a different info (or a missing PSK) derives other keys: the first ciphertext fails */
    {
        bytes c = B(k->ct[0]), aad = B(k->aad[0]);
        CHECK_ST(pcc_hpke_setup_recipient(&r, k->suite, enc, enc_len, sk_r2, info.p, info.n - 1,
                                          P(psk), psk.n, P(psk_id), psk_id.n, P(pk_s), pk_s.n),
                 PCC_OK);
        if (r != NULL)
            CHECK_ST(pcc_hpke_open(r, pt, &pt_len, sizeof pt, aad.p, aad.n, c.p, c.n),
                     PCC_E_DECRYPT);
        pcc_hpke_ctx_free(r);
        r = NULL;
    }
    if (psk.have)
        CHECK_ST(pcc_hpke_setup_recipient(&r, k->suite, enc, enc_len, sk_r2, info.p, info.n,
                                          psk.p, psk.n, NULL, 0, P(pk_s), pk_s.n),
                 PCC_E_INVALID); /* psk without psk_id */
out:
    pcc_hpke_ctx_free(s);
    pcc_hpke_ctx_free(r);
    pcc_hpke_key_free(sk_r);
    pcc_hpke_key_free(sk_r2);
    pcc_hpke_key_free(sk_s);
}

/* Fresh keys and a fresh ephemeral key: a round trip in every mode of every KEM. */
static void test_round_trips(void)
{
    static const uint16_t kems[2] = {PCC_HPKE_KEM_X25519_SHA256, PCC_HPKE_KEM_P256_SHA256};
    uint8_t psk[32] = {1, 2, 3}, enc[PCC_HPKE_MAX_ENC], pk[PCC_HPKE_MAX_PK], spk[PCC_HPKE_MAX_PK];
    uint8_t ct[64], pt[64];
    for (int ki = 0; ki < 2; ki++) {
        pcc_hpke_key *r = NULL, *snd = NULL;
        size_t pk_len = 0, spk_len = 0;
        CHECK_ST(pcc_hpke_key_generate(&r, kems[ki]), PCC_OK);
        CHECK_ST(pcc_hpke_key_generate(&snd, kems[ki]), PCC_OK);
        if (r == NULL || snd == NULL) {
            pcc_hpke_key_free(r);
            pcc_hpke_key_free(snd);
            continue;
        }
        CHECK_ST(pcc_hpke_key_public(r, pk, &pk_len, sizeof pk), PCC_OK);
        CHECK_ST(pcc_hpke_key_public(snd, spk, &spk_len, sizeof spk), PCC_OK);
        for (int mode = 0; mode < 4; mode++) {
            int use_psk = mode & 1, use_auth = mode & 2;
            pcc_hpke_suite suite = {kems[ki], PCC_HPKE_KDF_HKDF_SHA384,
                                    PCC_HPKE_AEAD_AES256GCM};
            pcc_hpke_ctx *s = NULL, *o = NULL;
            size_t enc_len = 0, n = 0, m = 0;
            CHECK_ST(pcc_hpke_setup_sender(&s, enc, &enc_len, sizeof enc, suite, pk, pk_len,
                                           (const uint8_t *)"info", 4, use_psk ? psk : NULL,
                                           use_psk ? sizeof psk : 0,
                                           use_psk ? (const uint8_t *)"id" : NULL,
                                           use_psk ? 2 : 0, use_auth ? snd : NULL, NULL, 0),
                     PCC_OK);
            CHECK_ST(pcc_hpke_setup_recipient(&o, suite, enc, enc_len, r,
                                              (const uint8_t *)"info", 4, use_psk ? psk : NULL,
                                              use_psk ? sizeof psk : 0,
                                              use_psk ? (const uint8_t *)"id" : NULL,
                                              use_psk ? 2 : 0, use_auth ? spk : NULL,
                                              use_auth ? spk_len : 0),
                     PCC_OK);
            if (s != NULL && o != NULL) {
                CHECK_ST(pcc_hpke_seal(s, ct, &n, sizeof ct, NULL, 0,
                                       (const uint8_t *)"prompt", 6),
                         PCC_OK);
                CHECK_ST(pcc_hpke_open(o, pt, &m, sizeof pt, NULL, 0, ct, n), PCC_OK);
                CHECK(m == 6 && memcmp(pt, "prompt", 6) == 0);
            }
            pcc_hpke_ctx_free(s);
            pcc_hpke_ctx_free(o);
        }
        pcc_hpke_key_free(r);
        pcc_hpke_key_free(snd);
    }
}

/* Hostile enc values: wrong length, a P-256 point off the curve, an X25519 low-order point. */
static void test_bad_enc(void)
{
    pcc_hpke_key *x = NULL, *p = NULL;
    pcc_hpke_ctx *c = NULL;
    uint8_t enc[65] = {0};
    pcc_hpke_suite sx = {PCC_HPKE_KEM_X25519_SHA256, 1, 1}, sp = {PCC_HPKE_KEM_P256_SHA256, 1, 1};
    CHECK_ST(pcc_hpke_key_generate(&x, sx.kem), PCC_OK);
    CHECK_ST(pcc_hpke_key_generate(&p, sp.kem), PCC_OK);
    if (x != NULL) {
        CHECK_ST(pcc_hpke_setup_recipient(&c, sx, enc, 31, x, NULL, 0, NULL, 0, NULL, 0, NULL, 0),
                 PCC_E_FORMAT);
        /* the all-zero u-coordinate has small order: DH output zero */
        CHECK_ST(pcc_hpke_setup_recipient(&c, sx, enc, 32, x, NULL, 0, NULL, 0, NULL, 0, NULL, 0),
                 PCC_E_FORMAT);
        CHECK(c == NULL);
    }
    if (p != NULL) {
        enc[0] = 0x04;
        enc[64] = 1; /* (0, 1) is not on P-256 */
        CHECK_ST(pcc_hpke_setup_recipient(&c, sp, enc, 65, p, NULL, 0, NULL, 0, NULL, 0, NULL, 0),
                 PCC_E_FORMAT);
        enc[0] = 0x02; /* compressed points are not SerializePublicKey output */
        CHECK_ST(pcc_hpke_setup_recipient(&c, sp, enc, 33, p, NULL, 0, NULL, 0, NULL, 0, NULL, 0),
                 PCC_E_FORMAT);
        CHECK(c == NULL);
    }
    pcc_hpke_key_free(x);
    pcc_hpke_key_free(p);
}

/* pcc_hpke_testing_ctx_start_at moves only fresh contexts, never a sender with a chosen key. */
static void test_start_at(void)
{
    pcc_hpke_key *k = NULL;
    pcc_hpke_ctx *s = NULL, *pinned = NULL, *r = NULL;
    pcc_hpke_suite su = {PCC_HPKE_KEM_X25519_SHA256, 1, 1};
    uint8_t pk[32], enc[32], ikm[32] = {1}, ct[32], pt[16];
    size_t pk_len = 0, enc_len = 0, ct_len = 0, pt_len = 0;
    CHECK_ST(pcc_hpke_key_generate(&k, su.kem), PCC_OK);
    if (k == NULL)
        return;
    CHECK_ST(pcc_hpke_key_public(k, pk, &pk_len, sizeof pk), PCC_OK);
    CHECK_ST(pcc_hpke_setup_sender(&pinned, enc, &enc_len, sizeof enc, su, pk, pk_len, NULL, 0,
                                   NULL, 0, NULL, 0, NULL, ikm, sizeof ikm), PCC_OK);
    CHECK_ST(pcc_hpke_testing_ctx_start_at(pinned, 5), PCC_E_STATE);
    CHECK(pcc_hpke_ctx_seq(pinned) == 0);
    CHECK_ST(pcc_hpke_setup_sender(&s, enc, &enc_len, sizeof enc, su, pk, pk_len, NULL, 0, NULL,
                                   0, NULL, 0, NULL, NULL, 0), PCC_OK);
    CHECK_ST(pcc_hpke_setup_recipient(&r, su, enc, enc_len, k, NULL, 0, NULL, 0, NULL, 0, NULL, 0),
             PCC_OK);
    CHECK_ST(pcc_hpke_testing_ctx_start_at(s, UINT64_MAX - 1), PCC_OK);
    CHECK_ST(pcc_hpke_testing_ctx_start_at(r, UINT64_MAX - 1), PCC_OK);
    CHECK_ST(pcc_hpke_testing_ctx_start_at(s, 0), PCC_E_STATE); /* no way back */
    CHECK_ST(pcc_hpke_seal(s, ct, &ct_len, sizeof ct, NULL, 0, (const uint8_t *)"m", 1), PCC_OK);
    CHECK_ST(pcc_hpke_seal(s, ct, &ct_len, sizeof ct, NULL, 0, (const uint8_t *)"m", 1),
             PCC_E_STATE);
    CHECK_ST(pcc_hpke_open(r, pt, &pt_len, sizeof pt, NULL, 0, ct, 17), PCC_OK);
    CHECK(pt_len == 1 && pt[0] == 'm');
    CHECK_ST(pcc_hpke_testing_ctx_start_at(NULL, 1), PCC_E_INVALID);
    pcc_hpke_ctx_free(s);
    pcc_hpke_ctx_free(r);
    pcc_hpke_ctx_free(pinned);
    pcc_hpke_key_free(k);
}

int main(void)
{
    for (size_t i = 0; i < sizeof KATS / sizeof KATS[0]; i++)
        run_kat(&KATS[i]);
    test_round_trips();
    test_bad_enc();
    test_start_at();
    return ctest_done("hpke");
}
