/* ecx_secure.c: import X25519/Ed25519 private keys so that OpenSSL's copy is in its secure heap.
 *
 * OpenSSL 3.0 imports a raw ECX private key (EVP_PKEY_new_raw_private_key, EVP_PKEY_fromdata)
 * through OSSL_PARAM_get_octet_string, which copies the 32 bytes into a plain OPENSSL_malloc
 * buffer even when the secure heap is set up: ordinary heap, neither locked nor excluded from
 * core dumps, for as long as the key lives. Duplicating the key (EVP_PKEY_dup, which for ECX
 * keys allocates the private key with OPENSSL_secure_zalloc) moves it into the secure heap; the
 * imported original is freed at once, and OpenSSL cleanses its private key on free
 * (OPENSSL_secure_clear_free, which wipes plain allocations too). So the ordinary-heap copy
 * exists only for the duration of this call. */
#include "ecx_secure.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "pcc/secure.h"

pcc_status pcc_ossl_secure_ready(void)
{
    if (CRYPTO_secure_malloc_initialized())
        return PCC_OK;
    return pcc_secure_openssl_init(PCC_SECURE_OPENSSL_HEAP);
}

pcc_status pcc_ecx_private_new(EVP_PKEY **out, const char *alg, const uint8_t raw[32])
{
    EVP_PKEY *imported = NULL;
    pcc_status st;
    *out = NULL;
    if ((st = pcc_ossl_secure_ready()) != PCC_OK)
        return st; /* never fall back to ordinary memory */
    /* The import also derives the public key (one scalar multiplication, on the stack). */
    if ((imported = EVP_PKEY_new_raw_private_key_ex(NULL, alg, NULL, raw, 32)) == NULL)
        return PCC_E_CRYPTO;
    if ((*out = EVP_PKEY_dup(imported)) == NULL) {
        ERR_clear_error();
        st = PCC_E_NOMEM; /* the secure heap is full */
    }
    EVP_PKEY_free(imported); /* cleanses the ordinary-heap copy */
    return st;
}
