/* enclave_tpm.c: the enclave's TPM backend (enclave_tpm.h), on the node's side of pcc/tpm.h.
 * The enclave process is the only one that opens the TPM; the AK it creates never leaves it. */
#include "enclave_tpm.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "pcc/wire.h"

static const uint8_t REG_PCRS[PCC_ATTEST_REGISTERS] = {ENCLAVE_TPM_PCR0, ENCLAVE_TPM_PCR1,
                                                       ENCLAVE_TPM_PCR2};

/* the largest "tpm" value: a map of four keys, TPMS_ATTEST and TPMT_SIGNATURE at their limits */
#define TPM_VALUE_MAX (PCC_TPM_ATTEST_MAX + PCC_TPM_SIG_MAX + 64)

struct enclave_tpm {
    pcc_tpm *t;
    int have_ak;
};

pcc_status enclave_tpm_open(enclave_tpm **out, const char *tcti)
{
    static const uint8_t zero[PCC_TPM_PCR_SIZE] = {0};
    uint8_t v[PCC_TPM_PCR_SIZE];
    enclave_tpm *t;
    pcc_status st;
    if (out == NULL || tcti == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if ((t = calloc(1, sizeof *t)) == NULL)
        return PCC_E_NOMEM;
    if ((st = pcc_tpm_open(&t->t, tcti)) != PCC_OK) {
        free(t);
        return PCC_E_STATE;
    }
    *out = t;
    /* a register PCR that is not zero was extended since the TPM's last reset: by an earlier
     * boot of this node or by anything else with access to the TPM. Quotes would then vouch for
     * values the events do not replay, so the node refuses to start. */
    for (size_t r = 0; r < PCC_ATTEST_REGISTERS; r++) {
        if ((st = pcc_tpm_pcr_read(t->t, REG_PCRS[r], v)) != PCC_OK)
            return st == PCC_E_UNSUPPORTED ? st : PCC_E_STATE;
        if (memcmp(v, zero, sizeof v) != 0)
            return PCC_E_VERIFY;
    }
    return PCC_OK;
}

void enclave_tpm_close(enclave_tpm *t)
{
    if (t == NULL)
        return;
    /* orderly: the TPM would take a reset without it for a dictionary attack. Nothing more can be
     * done when it fails (the TPM gone): the connection is closed either way. */
    pcc_status st = pcc_tpm_shutdown(t->t);
    (void)st;
    pcc_tpm_free(t->t);
    free(t);
}

pcc_status enclave_tpm_enroll(enclave_tpm *t, const uint8_t *unique, size_t unique_len,
                              uint8_t node_id[PCC_ATTEST_NODE_ID], uint8_t *ak_public,
                              size_t *ak_public_len, size_t max_public, uint8_t *ek_cert,
                              size_t *ek_cert_len, size_t max_cert)
{
    uint8_t spki[PCC_TPM_SPKI_MAX], name[PCC_TPM_NAME_MAX];
    size_t spki_len = 0, name_len = 0;
    unsigned int dl = 0;
    pcc_status st;
    if (t == NULL || node_id == NULL || ak_public == NULL || ak_public_len == NULL ||
        ek_cert == NULL || ek_cert_len == NULL)
        return PCC_E_INVALID;
    if ((st = pcc_tpm_ak_create(t->t, unique, unique_len)) != PCC_OK)
        return st;
    t->have_ak = 1;
    if ((st = pcc_tpm_ak_public(t->t, ak_public, ak_public_len, max_public)) != PCC_OK)
        return st;
    /* the CA runs the same check; a TPM that made something else is refused here already */
    if ((st = pcc_tpm_ak_check(spki, &spki_len, sizeof spki, name, &name_len, sizeof name,
                               ak_public, *ak_public_len)) != PCC_OK)
        return PCC_E_CRYPTO;
    if (EVP_Digest(spki, spki_len, node_id, &dl, EVP_sha256(), NULL) != 1 ||
        dl != PCC_ATTEST_NODE_ID)
        return PCC_E_CRYPTO;
    return pcc_tpm_ek_cert(t->t, ek_cert, ek_cert_len, max_cert);
}

pcc_status enclave_tpm_activate(enclave_tpm *t, const uint8_t *blob, size_t blob_len,
                                const uint8_t *secret, size_t secret_len, uint8_t *cred,
                                size_t *cred_len, size_t max_cred)
{
    if (t == NULL || !t->have_ak)
        return PCC_E_STATE;
    return pcc_tpm_activate_credential(t->t, cred, cred_len, max_cred, blob, blob_len, secret,
                                       secret_len);
}

pcc_status enclave_tpm_check_cert(const uint8_t node_id[PCC_ATTEST_NODE_ID], const uint8_t *cert,
                                  size_t cert_len)
{
    uint8_t spki[PCC_TPM_SPKI_MAX], id[PCC_ATTEST_NODE_ID];
    size_t spki_len = 0;
    unsigned int dl = 0;
    if (node_id == NULL || cert == NULL)
        return PCC_E_INVALID;
    if (pcc_tpm_ak_cert_key(spki, &spki_len, sizeof spki, cert, cert_len) != PCC_OK)
        return PCC_E_INVALID;
    if (EVP_Digest(spki, spki_len, id, &dl, EVP_sha256(), NULL) != 1 || dl != sizeof id)
        return PCC_E_CRYPTO;
    return memcmp(id, node_id, sizeof id) == 0 ? PCC_OK : PCC_E_INVALID; /* public values */
}

pcc_status enclave_tpm_extend(enclave_tpm *t, unsigned reg, const char *name, size_t name_len,
                              const uint8_t digest[PCC_ATTEST_DIGEST])
{
    uint8_t data[PCC_TPM_PCR_SIZE];
    pcc_status st;
    if (t == NULL || reg >= PCC_ATTEST_REGISTERS || name == NULL)
        return PCC_E_INVALID;
    if ((st = pcc_tpm_event_data(data, (const uint8_t *)name, name_len, digest)) != PCC_OK)
        return st;
    return pcc_tpm_pcr_extend(t->t, REG_PCRS[reg], data);
}

/* tpm_value writes {"attest": bin, "pcrs": [p0, p1, p2], "sig": bin, "v": 1} (keys sorted). */
static pcc_status tpm_value(pcc_writer *w, const uint8_t *attest, size_t attest_len,
                            const uint8_t *sig, size_t sig_len)
{
    pcc_status st;
    if ((st = pcc_wire_put_map(w, 4)) != PCC_OK || (st = pcc_wire_put_cstr(w, "attest")) != PCC_OK ||
        (st = pcc_wire_put_bin(w, attest, attest_len)) != PCC_OK ||
        (st = pcc_wire_put_cstr(w, "pcrs")) != PCC_OK ||
        (st = pcc_wire_put_array(w, PCC_ATTEST_REGISTERS)) != PCC_OK)
        return st;
    for (size_t r = 0; r < PCC_ATTEST_REGISTERS; r++)
        if ((st = pcc_wire_put_uint(w, REG_PCRS[r])) != PCC_OK)
            return st;
    if ((st = pcc_wire_put_cstr(w, "sig")) != PCC_OK ||
        (st = pcc_wire_put_bin(w, sig, sig_len)) != PCC_OK ||
        (st = pcc_wire_put_cstr(w, "v")) != PCC_OK)
        return st;
    return pcc_wire_put_uint(w, 1);
}

pcc_status enclave_tpm_bundle(enclave_tpm *t, pcc_writer *w, pcc_attest_body *b,
                              const uint8_t *const *chain, const size_t *chain_lens,
                              size_t n_chain)
{
    uint8_t qd[48], attest[PCC_TPM_ATTEST_MAX], sig[PCC_TPM_SIG_MAX];
    uint8_t value[TPM_VALUE_MAX], der[PCC_TPM_SIG_DER_MAX];
    size_t attest_len = 0, sig_len = 0, der_len = 0;
    unsigned int ql = 0;
    pcc_writer body, tv;
    pcc_status st;
    if (t == NULL || w == NULL || b == NULL || b->node_id == NULL)
        return PCC_E_INVALID;
    if (!t->have_ak)
        return PCC_E_STATE;
    pcc_writer_init_dynamic(&body, false, PCC_ATTEST_MAX_BUNDLE);
    pcc_writer_init_fixed(&tv, value, sizeof value);
    /* 1. the body without "tpm": what the quote binds */
    b->tpm = NULL;
    b->tpm_len = 0;
    if ((st = pcc_attest_body_encode(&body, b, NULL)) != PCC_OK)
        goto out;
    if (EVP_Digest(body.data, body.len, qd, &ql, EVP_sha384(), NULL) != 1 || ql != sizeof qd) {
        st = PCC_E_CRYPTO;
        goto out;
    }
    /* 2. the quote of the register PCRs, signed by the AK inside the TPM */
    if ((st = pcc_tpm_quote(t->t, attest, &attest_len, sizeof attest, sig, &sig_len, sizeof sig,
                            qd, sizeof qd, REG_PCRS, PCC_ATTEST_REGISTERS)) != PCC_OK)
        goto out;
    if ((st = tpm_value(&tv, attest, attest_len, sig, sig_len)) != PCC_OK)
        goto out;
    /* 3. the body with it, signed by the AK (the TPM hashes the body itself) */
    b->tpm = tv.data;
    b->tpm_len = tv.len;
    body.len = 0;
    if ((st = pcc_attest_body_encode(&body, b, NULL)) != PCC_OK)
        goto out;
    if ((st = pcc_tpm_sign(t->t, der, &der_len, sizeof der, body.data, body.len)) != PCC_OK)
        goto out;
    st = pcc_attest_bundle_assemble(w, body.data, body.len, der, der_len, chain, chain_lens,
                                    n_chain);
out:
    b->tpm = NULL;
    b->tpm_len = 0;
    pcc_writer_cleanup(&body);
    return st;
}
