/* esys.c: the node's side of the TPM backend, through tpm2-tss (ESAPI + TCTI loader): the
 * attestation key, SHA-384 PCRs, quotes, signatures, the EK and its certificate, credential
 * activation. Every TPM call is checked; its response code is kept for error messages. */
#include "pcc/tpm.h"
#include "tpm_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "pcc/secure.h"

#define EK_CERT_NV_RSA 0x01c00002u
#define NV_CHUNK 512

struct pcc_tpm {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR ak;
    ESYS_TR ek;
    uint32_t last_rc;
};

/* tpm_fail records rc and returns st. */
static pcc_status tpm_fail(pcc_tpm *t, TSS2_RC rc, pcc_status st)
{
    t->last_rc = rc;
    return st;
}

uint32_t pcc_tpm_last_rc(const pcc_tpm *t) { return t != NULL ? t->last_rc : 0; }

static void flush(pcc_tpm *t, ESYS_TR *h)
{
    if (*h != ESYS_TR_NONE) {
        (void)Esys_FlushContext(t->esys, *h);
        *h = ESYS_TR_NONE;
    }
}

pcc_status pcc_tpm_open(pcc_tpm **out, const char *tcti)
{
    pcc_tpm *t;
    TSS2_RC rc;
    if (out == NULL || tcti == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if ((t = calloc(1, sizeof *t)) == NULL)
        return PCC_E_NOMEM;
    t->ak = ESYS_TR_NONE;
    t->ek = ESYS_TR_NONE;
    rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
    if (rc != TSS2_RC_SUCCESS) {
        free(t);
        return PCC_E_STATE;
    }
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        Tss2_TctiLdr_Finalize(&t->tcti);
        free(t);
        return PCC_E_STATE;
    }
    rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) { /* already started is fine */
        pcc_tpm_free(t);
        return PCC_E_STATE;
    }
    *out = t;
    return PCC_OK;
}

void pcc_tpm_free(pcc_tpm *t)
{
    if (t == NULL)
        return;
    if (t->esys != NULL) {
        flush(t, &t->ak);
        flush(t, &t->ek);
        Esys_Finalize(&t->esys);
    }
    if (t->tcti != NULL)
        Tss2_TctiLdr_Finalize(&t->tcti);
    free(t);
}

pcc_status pcc_tpm_shutdown(pcc_tpm *t)
{
    TSS2_RC rc;
    if (t == NULL)
        return PCC_E_INVALID;
    flush(t, &t->ak);
    flush(t, &t->ek);
    rc = Esys_Shutdown(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(t, rc, PCC_E_STATE);
    return PCC_OK;
}

/* ---- attestation key ------------------------------------------------------------------------ */

pcc_status pcc_tpm_ak_create(pcc_tpm *t, const uint8_t *unique, size_t unique_len)
{
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION creation_pcr;
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_CREATION_DATA *cdata = NULL;
    TPM2B_DIGEST *chash = NULL;
    TPMT_TK_CREATION *ticket = NULL;
    ESYS_TR h = ESYS_TR_NONE;
    TSS2_RC rc;
    if (t == NULL || (unique == NULL && unique_len > 0))
        return PCC_E_INVALID;
    if (unique_len > 48)
        return PCC_E_INVALID;
    memset(&sens, 0, sizeof sens);
    memset(&tmpl, 0, sizeof tmpl);
    memset(&outside, 0, sizeof outside);
    memset(&creation_pcr, 0, sizeof creation_pcr);
    tmpl.publicArea.type = TPM2_ALG_ECC;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA384;
    /* generated inside, never duplicated, usable with an (empty) password, signs only what the TPM
     * produced itself or hashed itself */
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                       TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                       TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED |
                                       TPMA_OBJECT_SIGN_ENCRYPT;
    tmpl.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    tmpl.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    tmpl.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA384;
    tmpl.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
    tmpl.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    tmpl.publicArea.unique.ecc.x.size = (UINT16)unique_len;
    if (unique_len > 0)
        memcpy(tmpl.publicArea.unique.ecc.x.buffer, unique, unique_len);
    rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, &sens, &tmpl, &outside, &creation_pcr, &h, &pub, &cdata,
                            &chash, &ticket);
    Esys_Free(pub);
    Esys_Free(cdata);
    Esys_Free(chash);
    Esys_Free(ticket);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(t, rc, PCC_E_CRYPTO);
    flush(t, &t->ak);
    t->ak = h;
    return PCC_OK;
}

pcc_status pcc_tpm_ak_public(pcc_tpm *t, uint8_t *out, size_t *out_len, size_t max_out)
{
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_NAME *name = NULL, *qname = NULL;
    size_t off = 0;
    TSS2_RC rc;
    pcc_status st;
    if (t == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    if (t->ak == ESYS_TR_NONE)
        return PCC_E_STATE;
    rc = Esys_ReadPublic(t->esys, t->ak, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name,
                         &qname);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail(t, rc, PCC_E_CRYPTO);
        goto out;
    }
    rc = Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, out, max_out, &off);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail(t, rc, PCC_E_LIMIT);
        goto out;
    }
    *out_len = off;
    st = PCC_OK;
out:
    Esys_Free(pub);
    Esys_Free(name);
    Esys_Free(qname);
    return st;
}

/* ---- PCRs and quotes ------------------------------------------------------------------------ */

pcc_status pcc_tpm_pcr_extend(pcc_tpm *t, unsigned pcr, const uint8_t data[PCC_TPM_PCR_SIZE])
{
    TPML_DIGEST_VALUES v;
    TSS2_RC rc;
    if (t == NULL || data == NULL || pcr >= PCC_TPM_PCR_MAX)
        return PCC_E_INVALID;
    memset(&v, 0, sizeof v);
    v.count = 1;
    v.digests[0].hashAlg = TPM2_ALG_SHA384;
    memcpy(v.digests[0].digest.sha384, data, PCC_TPM_PCR_SIZE);
    rc = Esys_PCR_Extend(t->esys, (ESYS_TR)(ESYS_TR_PCR0 + pcr), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, &v);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(t, rc, PCC_E_CRYPTO);
    return PCC_OK;
}

static void sha384_selection(TPML_PCR_SELECTION *sel, uint32_t mask)
{
    memset(sel, 0, sizeof *sel);
    sel->count = 1;
    sel->pcrSelections[0].hash = TPM2_ALG_SHA384;
    sel->pcrSelections[0].sizeofSelect = 3;
    sel->pcrSelections[0].pcrSelect[0] = (BYTE)(mask & 0xff);
    sel->pcrSelections[0].pcrSelect[1] = (BYTE)((mask >> 8) & 0xff);
    sel->pcrSelections[0].pcrSelect[2] = (BYTE)((mask >> 16) & 0xff);
}

pcc_status pcc_tpm_pcr_read(pcc_tpm *t, unsigned pcr, uint8_t out[PCC_TPM_PCR_SIZE])
{
    TPML_PCR_SELECTION sel, *got_sel = NULL;
    TPML_DIGEST *values = NULL;
    UINT32 counter = 0;
    TSS2_RC rc;
    pcc_status st;
    if (t == NULL || out == NULL || pcr >= 24)
        return PCC_E_INVALID;
    sha384_selection(&sel, 1u << pcr);
    rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter,
                       &got_sel, &values);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail(t, rc, PCC_E_CRYPTO);
        goto out;
    }
    if (values->count != 1 || values->digests[0].size != PCC_TPM_PCR_SIZE) {
        st = PCC_E_UNSUPPORTED; /* the SHA-384 bank is not active */
        goto out;
    }
    memcpy(out, values->digests[0].buffer, PCC_TPM_PCR_SIZE);
    st = PCC_OK;
out:
    Esys_Free(got_sel);
    Esys_Free(values);
    return st;
}

pcc_status pcc_tpm_quote(pcc_tpm *t, uint8_t *attest, size_t *attest_len, size_t max_attest,
                         uint8_t *sig, size_t *sig_len, size_t max_sig, const uint8_t *extra,
                         size_t extra_len, const uint8_t *pcrs, size_t n)
{
    TPM2B_DATA q;
    TPMT_SIG_SCHEME scheme;
    TPML_PCR_SELECTION sel;
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *signature = NULL;
    uint32_t mask = 0;
    size_t off = 0;
    TSS2_RC rc;
    pcc_status st;
    if (t == NULL || attest == NULL || attest_len == NULL || sig == NULL || sig_len == NULL ||
        (extra == NULL && extra_len > 0) || pcrs == NULL || n == 0 || n > PCC_TPM_PCR_MAX)
        return PCC_E_INVALID;
    if (extra_len > sizeof q.buffer)
        return PCC_E_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (pcrs[i] >= PCC_TPM_PCR_MAX || (mask & (1u << pcrs[i])) != 0)
            return PCC_E_INVALID;
        mask |= 1u << pcrs[i];
    }
    if (t->ak == ESYS_TR_NONE)
        return PCC_E_STATE;
    memset(&q, 0, sizeof q);
    q.size = (UINT16)extra_len;
    if (extra_len > 0)
        memcpy(q.buffer, extra, extra_len);
    memset(&scheme, 0, sizeof scheme);
    scheme.scheme = TPM2_ALG_NULL; /* the key's own scheme: ECDSA with SHA-384 */
    sha384_selection(&sel, mask);
    rc = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &q, &scheme,
                    &sel, &quoted, &signature);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail(t, rc, PCC_E_CRYPTO);
        goto out;
    }
    if (quoted->size > max_attest) {
        st = PCC_E_LIMIT;
        goto out;
    }
    rc = Tss2_MU_TPMT_SIGNATURE_Marshal(signature, sig, max_sig, &off);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail(t, rc, PCC_E_LIMIT);
        goto out;
    }
    memcpy(attest, quoted->attestationData, quoted->size);
    *attest_len = quoted->size;
    *sig_len = off;
    st = PCC_OK;
out:
    Esys_Free(quoted);
    Esys_Free(signature);
    return st;
}

pcc_status pcc_tpm_sign(pcc_tpm *t, uint8_t *der, size_t *der_len, size_t max_der,
                        const uint8_t *msg, size_t msg_len)
{
    TPM2B_AUTH auth;
    TPM2B_MAX_BUFFER chunk;
    TPM2B_DIGEST *dig = NULL;
    TPMT_TK_HASHCHECK *ticket = NULL;
    TPMT_SIG_SCHEME scheme;
    TPMT_SIGNATURE *signature = NULL;
    ESYS_TR seq = ESYS_TR_NONE;
    uint8_t sig[PCC_TPM_SIG_MAX];
    size_t off = 0, pos = 0, take;
    uint16_t hash = 0;
    TSS2_RC rc;
    pcc_status st;
    if (t == NULL || der == NULL || der_len == NULL || (msg == NULL && msg_len > 0))
        return PCC_E_INVALID;
    if (t->ak == ESYS_TR_NONE)
        return PCC_E_STATE;
    memset(&auth, 0, sizeof auth);
    rc = Esys_HashSequenceStart(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &auth,
                                TPM2_ALG_SHA384, &seq);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(t, rc, PCC_E_CRYPTO);
    /* all but the last piece through SequenceUpdate; the last one through SequenceComplete,
     * which also returns the TPM's ticket that msg was hashed by it */
    while (msg_len - pos > sizeof chunk.buffer) {
        chunk.size = (UINT16)sizeof chunk.buffer;
        memcpy(chunk.buffer, msg + pos, sizeof chunk.buffer);
        pos += sizeof chunk.buffer;
        rc = Esys_SequenceUpdate(t->esys, seq, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                 &chunk);
        if (rc != TSS2_RC_SUCCESS) {
            st = tpm_fail(t, rc, PCC_E_CRYPTO);
            goto out;
        }
    }
    take = msg_len - pos;
    chunk.size = (UINT16)take;
    if (take > 0)
        memcpy(chunk.buffer, msg + pos, take);
    rc = Esys_SequenceComplete(t->esys, seq, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &chunk,
                               ESYS_TR_RH_OWNER, &dig, &ticket);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail(t, rc, PCC_E_CRYPTO);
        goto out;
    }
    seq = ESYS_TR_NONE; /* SequenceComplete flushed it */
    memset(&scheme, 0, sizeof scheme);
    scheme.scheme = TPM2_ALG_NULL;
    rc = Esys_Sign(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, dig, &scheme,
                   ticket, &signature);
    if (rc != TSS2_RC_SUCCESS) {
        /* TPM_RC_TICKET: msg starts with TPM_GENERATED_VALUE, which a restricted key refuses */
        st = tpm_fail(t, rc, PCC_E_VERIFY);
        goto out;
    }
    rc = Tss2_MU_TPMT_SIGNATURE_Marshal(signature, sig, sizeof sig, &off);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail(t, rc, PCC_E_CRYPTO);
        goto out;
    }
    st = pcc_tpm_sig_to_der(der, der_len, max_der, &hash, sig, off);
    if (st == PCC_OK && hash != PCC_TPM_ALG_SHA384)
        st = PCC_E_CRYPTO;
out:
    if (seq != ESYS_TR_NONE)
        flush(t, &seq);
    pcc_wipe(&chunk, sizeof chunk);
    Esys_Free(dig);
    Esys_Free(ticket);
    Esys_Free(signature);
    return st;
}

/* ---- endorsement key, its certificate, credential activation -------------------------------- */

pcc_status pcc_tpm_ek_cert(pcc_tpm *t, uint8_t *out, size_t *out_len, size_t max_out)
{
    ESYS_TR nv = ESYS_TR_NONE, auth;
    TPM2B_NV_PUBLIC *nvpub = NULL;
    TPM2B_NAME *nvname = NULL;
    TPM2B_MAX_NV_BUFFER *data = NULL;
    size_t size, pos = 0;
    TSS2_RC rc;
    pcc_status st;
    if (t == NULL || out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    rc = Esys_TR_FromTPMPublic(t->esys, EK_CERT_NV_RSA, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                               &nv);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(t, rc, PCC_E_STATE); /* no EK certificate provisioned */
    rc = Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nvpub,
                            &nvname);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail(t, rc, PCC_E_STATE);
        goto out;
    }
    size = nvpub->nvPublic.dataSize;
    if (size == 0 || size > PCC_TPM_CERT_MAX) {
        st = PCC_E_FORMAT;
        goto out;
    }
    if (size > max_out) {
        st = PCC_E_LIMIT;
        goto out;
    }
    if (nvpub->nvPublic.attributes & TPMA_NV_AUTHREAD)
        auth = nv;
    else if (nvpub->nvPublic.attributes & TPMA_NV_OWNERREAD)
        auth = ESYS_TR_RH_OWNER;
    else {
        st = PCC_E_STATE;
        goto out;
    }
    while (pos < size) {
        UINT16 n = (UINT16)(size - pos > NV_CHUNK ? NV_CHUNK : size - pos);
        rc = Esys_NV_Read(t->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n,
                          (UINT16)pos, &data);
        if (rc != TSS2_RC_SUCCESS) {
            st = tpm_fail(t, rc, PCC_E_CRYPTO);
            goto out;
        }
        if (data->size != n) {
            st = PCC_E_FORMAT;
            goto out;
        }
        memcpy(out + pos, data->buffer, n);
        pos += n;
        Esys_Free(data);
        data = NULL;
    }
    *out_len = size;
    st = PCC_OK;
out:
    Esys_Free(data);
    Esys_Free(nvpub);
    Esys_Free(nvname);
    (void)Esys_TR_Close(t->esys, &nv);
    return st;
}

/* ek_load creates the RSA 2048 EK from the TCG default template (EK Credential Profile, template
 * L-1) unless it is loaded already; *pub (optional) receives its public area. */
static pcc_status ek_load(pcc_tpm *t, TPM2B_PUBLIC **pub)
{
    static const uint8_t policy_a[32] = { /* PolicySecret(TPM_RH_ENDORSEMENT) */
        0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC,
        0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52,
        0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA};
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl, *out_pub = NULL;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION creation_pcr;
    TPM2B_CREATION_DATA *cdata = NULL;
    TPM2B_DIGEST *chash = NULL;
    TPMT_TK_CREATION *ticket = NULL;
    ESYS_TR h = ESYS_TR_NONE;
    TSS2_RC rc;
    memset(&sens, 0, sizeof sens);
    memset(&tmpl, 0, sizeof tmpl);
    memset(&outside, 0, sizeof outside);
    memset(&creation_pcr, 0, sizeof creation_pcr);
    tmpl.publicArea.type = TPM2_ALG_RSA;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                       TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                       TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED |
                                       TPMA_OBJECT_DECRYPT;
    tmpl.publicArea.authPolicy.size = sizeof policy_a;
    memcpy(tmpl.publicArea.authPolicy.buffer, policy_a, sizeof policy_a);
    tmpl.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
    tmpl.publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 128;
    tmpl.publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    tmpl.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    tmpl.publicArea.parameters.rsaDetail.keyBits = 2048;
    tmpl.publicArea.parameters.rsaDetail.exponent = 0;
    tmpl.publicArea.unique.rsa.size = 256; /* 256 zero bytes */
    if (t->ek != ESYS_TR_NONE && pub == NULL)
        return PCC_OK;
    rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, &sens, &tmpl, &outside, &creation_pcr, &h, &out_pub,
                            &cdata, &chash, &ticket);
    Esys_Free(cdata);
    Esys_Free(chash);
    Esys_Free(ticket);
    if (rc != TSS2_RC_SUCCESS) {
        Esys_Free(out_pub);
        return tpm_fail(t, rc, PCC_E_CRYPTO);
    }
    flush(t, &t->ek);
    t->ek = h;
    if (pub != NULL)
        *pub = out_pub;
    else
        Esys_Free(out_pub);
    return PCC_OK;
}

pcc_status pcc_tpm_ek_public(pcc_tpm *t, uint8_t *spki, size_t *spki_len, size_t max_spki)
{
    TPM2B_PUBLIC *pub = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pc = NULL;
    EVP_PKEY *k = NULL;
    BIGNUM *n = NULL, *e = NULL;
    pcc_status st;
    if (t == NULL || spki == NULL || spki_len == NULL)
        return PCC_E_INVALID;
    if ((st = ek_load(t, &pub)) != PCC_OK)
        return st;
    st = PCC_E_CRYPTO;
    if (pub->publicArea.unique.rsa.size != 256)
        goto out;
    if ((n = BN_bin2bn(pub->publicArea.unique.rsa.buffer, 256, NULL)) == NULL ||
        (e = BN_new()) == NULL || BN_set_word(e, 65537) != 1)
        goto out;
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    if ((pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(pc) != 1 ||
        EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto out;
    st = tpm_spki_write(k, spki, spki_len, max_spki);
out:
    EVP_PKEY_free(k);
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    Esys_Free(pub);
    return st;
}

/* policy_session starts a policy session (SHA-256) and, when secret_endorsement, satisfies
 * PolicySecret(TPM_RH_ENDORSEMENT) in it; otherwise PolicyCommandCode(cc). */
static pcc_status policy_session(pcc_tpm *t, ESYS_TR *sess, int secret_endorsement, TPM2_CC cc)
{
    TPMT_SYM_DEF sym;
    TPM2B_NONCE nonce_tpm, policy_ref;
    TPM2B_DIGEST cp_hash;
    TPM2B_TIMEOUT *timeout = NULL;
    TPMT_TK_AUTH *ticket = NULL;
    TSS2_RC rc;
    memset(&sym, 0, sizeof sym);
    sym.algorithm = TPM2_ALG_NULL;
    rc = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, sess);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(t, rc, PCC_E_CRYPTO);
    if (secret_endorsement) {
        memset(&nonce_tpm, 0, sizeof nonce_tpm);
        memset(&policy_ref, 0, sizeof policy_ref);
        memset(&cp_hash, 0, sizeof cp_hash);
        rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, *sess, ESYS_TR_PASSWORD,
                               ESYS_TR_NONE, ESYS_TR_NONE, &nonce_tpm, &cp_hash, &policy_ref, 0,
                               &timeout, &ticket);
        Esys_Free(timeout);
        Esys_Free(ticket);
    } else {
        rc = Esys_PolicyCommandCode(t->esys, *sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, cc);
    }
    if (rc != TSS2_RC_SUCCESS) {
        flush(t, sess);
        return tpm_fail(t, rc, PCC_E_CRYPTO);
    }
    return PCC_OK;
}

pcc_status pcc_tpm_activate_credential(pcc_tpm *t, uint8_t *cred, size_t *cred_len,
                                       size_t max_cred, const uint8_t *blob, size_t blob_len,
                                       const uint8_t *secret, size_t secret_len)
{
    TPM2B_ID_OBJECT id;
    TPM2B_ENCRYPTED_SECRET enc;
    TPM2B_DIGEST *info = NULL;
    ESYS_TR sess = ESYS_TR_NONE;
    TSS2_RC rc;
    pcc_status st;
    if (t == NULL || cred == NULL || cred_len == NULL || blob == NULL || secret == NULL)
        return PCC_E_INVALID;
    if (blob_len == 0 || blob_len > sizeof id.credential || secret_len == 0 ||
        secret_len > sizeof enc.secret)
        return PCC_E_FORMAT;
    if (t->ak == ESYS_TR_NONE)
        return PCC_E_STATE;
    if ((st = ek_load(t, NULL)) != PCC_OK)
        return st;
    memset(&id, 0, sizeof id);
    memset(&enc, 0, sizeof enc);
    id.size = (UINT16)blob_len;
    memcpy(id.credential, blob, blob_len);
    enc.size = (UINT16)secret_len;
    memcpy(enc.secret, secret, secret_len);
    if ((st = policy_session(t, &sess, 1, 0)) != PCC_OK)
        return st;
    /* the AK in the ADMIN role (its empty password), the EK in the USER role (its policy) */
    rc = Esys_ActivateCredential(t->esys, t->ak, t->ek, ESYS_TR_PASSWORD, sess, ESYS_TR_NONE, &id,
                                 &enc, &info);
    if (rc != TSS2_RC_SUCCESS) {
        st = tpm_fail(t, rc, PCC_E_VERIFY);
        goto out;
    }
    if (info->size > max_cred) {
        st = PCC_E_LIMIT;
        goto out;
    }
    memcpy(cred, info->buffer, info->size);
    *cred_len = info->size;
    st = PCC_OK;
out:
    flush(t, &sess);
    if (info != NULL) {
        pcc_wipe(info, sizeof *info);
        Esys_Free(info);
    }
    return st;
}

pcc_status pcc_tpm_ak_duplicate(pcc_tpm *t)
{
    TPM2B_DATA key_in;
    TPMT_SYM_DEF_OBJECT sym;
    TPM2B_DATA *key_out = NULL;
    TPM2B_PRIVATE *dup = NULL;
    TPM2B_ENCRYPTED_SECRET *seed = NULL;
    ESYS_TR sess = ESYS_TR_NONE;
    TSS2_RC rc;
    pcc_status st;
    if (t == NULL)
        return PCC_E_INVALID;
    if (t->ak == ESYS_TR_NONE)
        return PCC_E_STATE;
    if ((st = policy_session(t, &sess, 0, TPM2_CC_Duplicate)) != PCC_OK)
        return st;
    memset(&key_in, 0, sizeof key_in);
    memset(&sym, 0, sizeof sym);
    sym.algorithm = TPM2_ALG_NULL;
    rc = Esys_Duplicate(t->esys, t->ak, ESYS_TR_RH_NULL, sess, ESYS_TR_NONE, ESYS_TR_NONE, &key_in,
                        &sym, &key_out, &dup, &seed);
    st = rc == TSS2_RC_SUCCESS ? PCC_OK : tpm_fail(t, rc, PCC_E_VERIFY);
    flush(t, &sess);
    Esys_Free(key_out);
    Esys_Free(dup);
    Esys_Free(seed);
    return st;
}
