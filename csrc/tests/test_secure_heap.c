/* test_secure_heap.c: OpenSSL's secure heap when it is full. A program of its own, because the
 * heap's size is fixed once per process: here the smallest one, 4 KiB.
 * Built against build/libpcc.a by `make ctest`. */
#include <stdio.h>
#include <string.h>

#include "ctest.h"
#include "pcc/hpke.h"
#include "pcc/note.h"
#include "pcc/secure.h"

enum { MAX_KEYS = 512 };

int main(void)
{
    static pcc_hpke_key *keys[MAX_KEYS];
    uint8_t sk[32];
    size_t n = 0;
    pcc_status st = PCC_OK;
    pcc_note_key *nk = NULL;
    CHECK_ST(pcc_secure_openssl_init(4096), PCC_OK);
    /* one signer first: this thread's random generator takes its share of the heap for good */
    CHECK_ST(pcc_note_key_generate(&nk, "example.com/full", 16, PCC_NOTE_ALG_ED25519), PCC_OK);
    pcc_note_key_free(nk);
    nk = NULL;
    size_t base = pcc_secure_openssl_used();
    CHECK(base < 4096);
    /* X25519 keys from bytes until the heap is full: the import fails closed with PCC_E_NOMEM
     * instead of keeping the key in ordinary memory */
    while (n < MAX_KEYS) {
        memset(sk, 0, sizeof sk);
        sk[0] = (uint8_t)n;
        sk[1] = (uint8_t)(n >> 8);
        sk[31] = 0x40;
        st = pcc_hpke_key_from_bytes(&keys[n], PCC_HPKE_KEM_X25519_SHA256, sk, sizeof sk);
        if (st != PCC_OK)
            break;
        n++;
    }
    CHECK_ST(st, PCC_E_NOMEM);
    CHECK(n > 0 && n <= 4096 / 32);
    CHECK(keys[n] == NULL);
    /* an Ed25519 signer fails the same way */
    CHECK_ST(pcc_note_key_generate(&nk, "example.com/full", 16, PCC_NOTE_ALG_ED25519),
             PCC_E_NOMEM);
    CHECK(nk == NULL);
    /* and works again once keys are freed */
    for (size_t i = 0; i < n; i++)
        pcc_hpke_key_free(keys[i]);
    CHECK_ST(pcc_note_key_generate(&nk, "example.com/full", 16, PCC_NOTE_ALG_ED25519), PCC_OK);
    pcc_note_key_free(nk);
    CHECK_ST(pcc_hpke_key_from_bytes(&keys[0], PCC_HPKE_KEM_X25519_SHA256, sk, sizeof sk), PCC_OK);
    pcc_hpke_key_free(keys[0]);
    CHECK(pcc_secure_openssl_used() == base);
    return ctest_done("secure_heap");
}
