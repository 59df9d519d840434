/* fuzz_blindrsa.c: libFuzzer harness for RSA blind-signature key import (RFC 9474 / RFC 9578).
 *
 * Byte 0 picks the target: even = SubjectPublicKeyInfo import, odd = PKCS#8 private key import.
 * A public key that imports must have been canonical DER: the input is exactly its rsaEncryption
 * or its RFC 9578 RSASSA-PSS encoding, or (the one other form accepted) that PSS encoding with
 * NULL hash parameters, 4 bytes longer. Both encodings import back to the same (n, e), and a
 * signature check with an arbitrary signature answers PCC_E_VERIFY. A private key that imports
 * exports to a PKCS#8 that imports again with the same public half.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcc/blindrsa.h"

#define REQUIRE(c)                 \
    do {                           \
        if (!(c))                  \
            __builtin_trap();      \
    } while (0)

static void same_numbers(const pcc_blindrsa_pk *a, const pcc_blindrsa_pk *b)
{
    uint8_t na[PCC_BLINDRSA_MAX_MODULUS_LEN], nb[PCC_BLINDRSA_MAX_MODULUS_LEN], ea[8], eb[8];
    size_t nal = 0, nbl = 0, eal = 0, ebl = 0;
    REQUIRE(pcc_blindrsa_pk_numbers(a, na, &nal, sizeof na, ea, &eal, sizeof ea) == PCC_OK);
    REQUIRE(pcc_blindrsa_pk_numbers(b, nb, &nbl, sizeof nb, eb, &ebl, sizeof eb) == PCC_OK);
    REQUIRE(nal == nbl && eal == ebl && memcmp(na, nb, nal) == 0 && memcmp(ea, eb, eal) == 0);
}

static void fuzz_spki(const uint8_t *d, size_t n)
{
    pcc_blindrsa_pk *pk = NULL;
    pcc_status st = pcc_blindrsa_pk_from_der(&pk, d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_UNSUPPORTED || st == PCC_E_INVALID ||
            st == PCC_E_NOMEM);
    if (st != PCC_OK) {
        REQUIRE(pk == NULL);
        return;
    }
    unsigned bits = pcc_blindrsa_pk_bits(pk);
    size_t k = pcc_blindrsa_pk_modulus_len(pk);
    REQUIRE(bits >= PCC_BLINDRSA_MIN_BITS && bits <= PCC_BLINDRSA_MAX_BITS && k == (bits + 7) / 8);
    uint8_t enc[2][PCC_BLINDRSA_MAX_SPKI_LEN];
    size_t el[2] = {0, 0};
    int matched = 0;
    for (int pss = 0; pss < 2; pss++) {
        pcc_blindrsa_pk *back = NULL;
        REQUIRE(pcc_blindrsa_pk_to_der(pk, pss, enc[pss], &el[pss], sizeof enc[pss]) == PCC_OK);
        REQUIRE(pcc_blindrsa_pk_from_der(&back, enc[pss], el[pss]) == PCC_OK);
        same_numbers(pk, back);
        pcc_blindrsa_pk_free(back);
        matched |= el[pss] == n && memcmp(enc[pss], d, n) == 0;
    }
    /* the NULL-parameter PSS form is the PSS encoding with two 05 00 inserted */
    REQUIRE(matched || n == el[1] + 4);
    /* a signature check with an arbitrary signature never verifies */
    uint8_t sig[PCC_BLINDRSA_MAX_MODULUS_LEN] = {0};
    memcpy(sig, d, n < k ? n : k);
    sig[0] = 0; /* below n */
    REQUIRE(pcc_blindrsa_verify(PCC_BLINDRSA_SHA384_PSS_DETERMINISTIC, pk, d, n, sig, k) ==
            PCC_E_VERIFY);
    pcc_blindrsa_pk_free(pk);
}

static void fuzz_pkcs8(const uint8_t *d, size_t n)
{
    pcc_blindrsa_sk *sk = NULL, *sk2 = NULL;
    pcc_status st = pcc_blindrsa_sk_from_der(&sk, d, n);
    REQUIRE(st == PCC_OK || st == PCC_E_FORMAT || st == PCC_E_UNSUPPORTED || st == PCC_E_INVALID ||
            st == PCC_E_NOMEM);
    if (st != PCC_OK) {
        REQUIRE(sk == NULL);
        return;
    }
    uint8_t *der = malloc(PCC_BLINDRSA_MAX_PKCS8_LEN);
    size_t len = 0;
    pcc_blindrsa_pk *a = NULL, *b = NULL;
    REQUIRE(der != NULL);
    REQUIRE(pcc_blindrsa_sk_to_der(sk, der, &len, PCC_BLINDRSA_MAX_PKCS8_LEN) == PCC_OK);
    REQUIRE(pcc_blindrsa_sk_from_der(&sk2, der, len) == PCC_OK);
    REQUIRE(pcc_blindrsa_sk_public(sk, &a) == PCC_OK && pcc_blindrsa_sk_public(sk2, &b) == PCC_OK);
    same_numbers(a, b);
    pcc_blindrsa_pk_free(a);
    pcc_blindrsa_pk_free(b);
    pcc_blindrsa_sk_free(sk);
    pcc_blindrsa_sk_free(sk2);
    free(der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_pkcs8(data + 1, size - 1);
    else
        fuzz_spki(data + 1, size - 1);
    return 0;
}
