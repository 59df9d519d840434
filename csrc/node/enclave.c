/* enclave.c: the enclave loop (pcc/node.h). It holds the node identity key, the HPKE private
 * keys and the measurement registers, and answers exactly the messages of the table in
 * pcc/node.h, each only in the state that allows it. Two backends: "sim" (a software identity key
 * certified from a CSR) and "tpm" (the TPM's attestation key, registers mirrored in PCRs, a quote
 * in the bundle: enclave_tpm.c). */
#include "pcc/node.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "chan_internal.h"
#include "enclave_tpm.h"
#include "mp_internal.h"
#include "pcc/attest.h"
#include "pcc/hpke.h"
#include "pcc/request.h"
#include "pcc/sandbox.h"
#include "pcc/secure.h"
#include "pcc/worker.h"

enum { BOOT, KEYED, CHAINED, LOCKED };

typedef struct {
    unsigned reg;
    char name[PCC_ATTEST_MAX_NAME];
    size_t name_len;
    uint8_t sha384[PCC_ATTEST_DIGEST];
} event;

typedef struct {
    uint8_t key_id[PCC_REQUEST_KEY_ID_LEN];
    pcc_hpke_key *key;
    uint8_t pk[32];
    uint64_t not_after;
} node_key;

typedef struct enclave enclave;

/* backend: what differs between "sim" and "tpm" once the identity exists. */
typedef struct backend {
    void (*start)(enclave *e);                     /* at enclave start: reach the hardware */
    pcc_status (*extend)(enclave *e, unsigned reg, const char *name, size_t name_len,
                         const uint8_t digest[PCC_ATTEST_DIGEST]);   /* besides the register */
    pcc_status (*bundle)(enclave *e, pcc_writer *w, pcc_attest_body *b,
                         const uint8_t *const *chain);               /* encode, sign, assemble */
    void (*stop)(enclave *e);                      /* at enclave end */
} backend;

struct enclave {
    const pcc_node_enclave_config *cfg;
    const backend *be;
    int state;
    pcc_p384_key *id;  /* sim: the identity key */
    enclave_tpm *tpm;  /* tpm: the TPM holding the identity key (the AK) */
    pcc_status tpm_st; /* tpm: why the TPM cannot be used (PCC_OK when it can) */
    int activated;     /* tpm: the CA's credential was recovered once */
    uint8_t node_id[PCC_ATTEST_NODE_ID];
    char serial[PCC_ATTEST_MAX_SERIAL];
    size_t serial_len;
    uint8_t boot[16];
    uint8_t reg[PCC_ATTEST_REGISTERS][PCC_ATTEST_DIGEST];
    event events[PCC_ATTEST_MAX_EVENTS];
    pcc_attest_event ev_view[PCC_ATTEST_MAX_EVENTS];
    size_t n_events;
    size_t reg_events[PCC_ATTEST_REGISTERS];
    uint8_t *chain[PCC_ATTEST_MAX_CHAIN];
    size_t chain_len[PCC_ATTEST_MAX_CHAIN];
    size_t n_chain;
    int modes_set;
    uint32_t sandbox;
    node_key keys[PCC_NODE_MAX_KEYS];
    size_t n_keys;
    int chans[PCC_NODE_MAX_CHANNELS];
    size_t n_chans;
    int host_fd; /* -1 once the host has gone */
};

static uint64_t now_s(void)
{
    return (uint64_t)time(NULL);
}

/* ---- keys ---------------------------------------------------------------------------------- */

static void key_drop(enclave *e, size_t i)
{
    pcc_hpke_key_free(e->keys[i].key);
    memmove(&e->keys[i], &e->keys[i + 1], (e->n_keys - i - 1) * sizeof e->keys[0]);
    e->n_keys--;
    memset(&e->keys[e->n_keys], 0, sizeof e->keys[0]);
}

/* keys_prune forgets every key past its not_after. */
static void keys_prune(enclave *e)
{
    uint64_t t = now_s();
    for (size_t i = 0; i < e->n_keys;) {
        if (e->keys[i].not_after < t)
            key_drop(e, i);
        else
            i++;
    }
}

/* key_new makes a fresh X25519 key (the oldest one goes when all slots are taken). */
static pcc_status key_new(enclave *e)
{
    node_key k = {0};
    size_t pl = 0;
    pcc_status st = pcc_hpke_key_generate(&k.key, 0x0020);
    if (st != PCC_OK)
        return st;
    if ((st = pcc_hpke_key_public(k.key, k.pk, &pl, sizeof k.pk)) != PCC_OK || pl != 32 ||
        RAND_bytes(k.key_id, sizeof k.key_id) != 1) {
        pcc_hpke_key_free(k.key);
        return st != PCC_OK ? st : PCC_E_CRYPTO;
    }
    k.not_after = now_s() + e->cfg->key_lifetime;
    if (e->n_keys == PCC_NODE_MAX_KEYS)
        key_drop(e, 0);
    e->keys[e->n_keys++] = k;
    return PCC_OK;
}

/* ---- replies --------------------------------------------------------------------------------- */

static pcc_status send_writer(int fd, pcc_writer *w, pcc_status st)
{
    if (st == PCC_OK)
        st = pcc_chan_send(fd, w->data, w->len, -1);
    else
        st = pcc_chan_reply_error(fd, "internal");
    pcc_writer_cleanup(w);
    return st;
}

static const char *error_name(pcc_status st)
{
    switch (st) {
    case PCC_E_STATE:
        return "state";
    case PCC_E_FORMAT:
    case PCC_E_LIMIT:
        return "format";
    case PCC_E_INVALID:
        return "invalid";
    default:
        return "internal";
    }
}

/* ---- backends -------------------------------------------------------------------------------- */

static void sim_start(enclave *e) { (void)e; }

static pcc_status sim_extend(enclave *e, unsigned reg, const char *name, size_t name_len,
                             const uint8_t digest[PCC_ATTEST_DIGEST])
{
    (void)e, (void)reg, (void)name, (void)name_len, (void)digest;
    return PCC_OK;
}

static pcc_status sim_bundle(enclave *e, pcc_writer *w, pcc_attest_body *b,
                             const uint8_t *const *chain)
{
    return pcc_attest_bundle_encode(w, b, e->id, chain, e->chain_len, e->n_chain);
}

static void sim_stop(enclave *e) { (void)e; }

static const backend SIM = {sim_start, sim_extend, sim_bundle, sim_stop};

static void tpm_start(enclave *e)
{
    e->tpm_st = enclave_tpm_open(&e->tpm, e->cfg->tpm_tcti);
}

static pcc_status tpm_extend(enclave *e, unsigned reg, const char *name, size_t name_len,
                             const uint8_t digest[PCC_ATTEST_DIGEST])
{
    return enclave_tpm_extend(e->tpm, reg, name, name_len, digest);
}

static pcc_status tpm_bundle(enclave *e, pcc_writer *w, pcc_attest_body *b,
                             const uint8_t *const *chain)
{
    b->node_id = e->node_id;
    return enclave_tpm_bundle(e->tpm, w, b, chain, e->chain_len, e->n_chain);
}

static void tpm_stop(enclave *e)
{
    enclave_tpm_close(e->tpm);
    e->tpm = NULL;
}

static const backend TPM = {tpm_start, tpm_extend, tpm_bundle, tpm_stop};

static int is_tpm(const enclave *e) { return e->be == &TPM; }

/* tpm_refuse answers a message that needs the TPM when the TPM could not be used, naming why
 * (a public fact about the machine): "tpm_unreachable", "tpm_no_sha384" (no active SHA-384 PCR
 * bank) or "tpm_pcrs_not_zero" (the register PCRs were extended since the TPM's reset). */
static pcc_status tpm_refuse(enclave *e, int fd)
{
    const char *why = e->tpm_st == PCC_E_VERIFY        ? "tpm_pcrs_not_zero"
                      : e->tpm_st == PCC_E_UNSUPPORTED ? "tpm_no_sha384"
                                                       : "tpm_unreachable";
    return pcc_chan_reply_error(fd, why);
}

/* ---- operations ------------------------------------------------------------------------------ */

static pcc_status op_csr(enclave *e, int fd, const msgpack_object *const *v)
{
    const char *s;
    size_t n;
    pcc_writer w;
    pcc_status st;
    if (e->state != BOOT)
        return PCC_E_STATE;
    if ((st = pcc_wire_get_str(v[0], 1, PCC_ATTEST_MAX_SERIAL, &s, &n)) != PCC_OK)
        return st;
    if (is_tpm(e))
        return PCC_E_INVALID; /* the TPM backend's identity comes from enroll */
    if ((st = pcc_p384_key_generate(&e->id)) != PCC_OK)
        return st;
    pcc_writer_init_dynamic(&w, false, 8192);
    /* the CSR names the serial; a serial the CSR refuses leaves the enclave in BOOT */
    pcc_writer csr;
    pcc_writer_init_dynamic(&csr, false, 4096);
    st = pcc_p384_key_csr(e->id, s, n, &csr);
    if (st != PCC_OK) {
        pcc_writer_cleanup(&csr);
        pcc_writer_cleanup(&w);
        pcc_p384_key_free(e->id);
        e->id = NULL;
        return PCC_E_INVALID;
    }
    memcpy(e->serial, s, n);
    e->serial_len = n;
    pcc_p384_key_node_id(e->id, e->node_id);
    if (RAND_bytes(e->boot, sizeof e->boot) != 1)
        st = PCC_E_CRYPTO;
    if (st == PCC_OK && (st = pcc_wire_put_map(&w, 3)) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "op")) == PCC_OK && (st = pcc_wire_put_cstr(&w, "csr")) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "csr")) == PCC_OK &&
        (st = pcc_wire_put_bin(&w, csr.data, csr.len)) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "node_id")) == PCC_OK)
        st = pcc_wire_put_bin(&w, e->node_id, sizeof e->node_id);
    pcc_writer_cleanup(&csr);
    if (st == PCC_OK)
        e->state = KEYED;
    return send_writer(fd, &w, st);
}

/* op_enroll (tpm): a fresh AK in the TPM for this boot, its public area and the EK certificate for
 * the CA's credential challenge. */
static pcc_status op_enroll(enclave *e, int fd, const msgpack_object *const *v)
{
    const char *s;
    size_t n, pub_len = 0, cert_len = 0;
    uint8_t pub[PCC_TPM_PUBLIC_MAX], cert[PCC_TPM_CERT_MAX];
    pcc_writer w;
    pcc_status st;
    if (e->state != BOOT)
        return PCC_E_STATE;
    if ((st = pcc_wire_get_str(v[0], 1, PCC_ATTEST_MAX_SERIAL, &s, &n)) != PCC_OK)
        return st;
    if (!is_tpm(e))
        return PCC_E_INVALID;
    if (e->tpm_st != PCC_OK)
        return tpm_refuse(e, fd);
    if (RAND_bytes(e->boot, sizeof e->boot) != 1)
        return PCC_E_CRYPTO;
    /* the boot identifier enters the AK's template: a new key every boot */
    if ((st = enclave_tpm_enroll(e->tpm, e->boot, sizeof e->boot, e->node_id, pub, &pub_len,
                                 sizeof pub, cert, &cert_len, sizeof cert)) != PCC_OK)
        return PCC_E_CRYPTO;
    memcpy(e->serial, s, n);
    e->serial_len = n;
    pcc_writer_init_dynamic(&w, false, 2 * PCC_TPM_CERT_MAX);
    if ((st = pcc_wire_put_map(&w, 4)) == PCC_OK && (st = pcc_wire_put_cstr(&w, "op")) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "enroll")) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "ak_public")) == PCC_OK &&
        (st = pcc_wire_put_bin(&w, pub, pub_len)) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "ek_cert")) == PCC_OK &&
        (st = pcc_wire_put_bin(&w, cert, cert_len)) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "node_id")) == PCC_OK)
        st = pcc_wire_put_bin(&w, e->node_id, sizeof e->node_id);
    if (st == PCC_OK)
        e->state = KEYED;
    return send_writer(fd, &w, st);
}

/* op_activate (tpm): TPM2_ActivateCredential on the CA's challenge, once. Only the TPM holding
 * the certified EK, with this very AK loaded, recovers the credential. */
static pcc_status op_activate(enclave *e, int fd, const msgpack_object *const *v)
{
    const uint8_t *blob, *secret;
    size_t bl, sl, cl = 0;
    uint8_t cred[PCC_TPM_CRED_MAX], b[64];
    pcc_writer w;
    pcc_status st;
    if (!is_tpm(e))
        return PCC_E_INVALID;
    if (e->state != KEYED || e->activated)
        return PCC_E_STATE;
    if ((st = pcc_wire_get_bin(v[0], 1, PCC_TPM_ID_OBJECT_MAX, &blob, &bl)) != PCC_OK ||
        (st = pcc_wire_get_bin(v[1], 1, PCC_TPM_SECRET_MAX, &secret, &sl)) != PCC_OK)
        return st;
    st = enclave_tpm_activate(e->tpm, blob, bl, secret, sl, cred, &cl, sizeof cred);
    if (st != PCC_OK)
        return st == PCC_E_VERIFY || st == PCC_E_FORMAT ? PCC_E_INVALID : PCC_E_CRYPTO;
    e->activated = 1;
    pcc_writer_init_fixed(&w, b, sizeof b);
    if ((st = pcc_wire_put_map(&w, 2)) == PCC_OK && (st = pcc_wire_put_cstr(&w, "op")) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "credential")) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "credential")) == PCC_OK)
        st = pcc_wire_put_bin(&w, cred, cl);
    pcc_wipe(cred, sizeof cred);
    st = send_writer(fd, &w, st);
    pcc_wipe(b, sizeof b);
    return st;
}

static pcc_status op_set_chain(enclave *e, int fd, const msgpack_object *const *v)
{
    const msgpack_object *items;
    size_t n;
    pcc_status st;
    if (e->state != KEYED || (is_tpm(e) && !e->activated))
        return PCC_E_STATE;
    if ((st = pcc_wire_get_array(v[0], 1, PCC_ATTEST_MAX_CHAIN, &items, &n)) != PCC_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t l;
        if ((st = pcc_wire_get_bin(&items[i], 1, PCC_ATTEST_MAX_CERT, &p, &l)) != PCC_OK)
            return st;
        /* tpm: the node certificate must be the AK's, marked as a TPM attestation key */
        if (i == 0 && is_tpm(e) && (st = enclave_tpm_check_cert(e->node_id, p, l)) != PCC_OK)
            return st;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p;
        size_t l;
        if (pcc_wire_get_bin(&items[i], 1, PCC_ATTEST_MAX_CERT, &p, &l) != PCC_OK)
            return PCC_E_FORMAT;
        if ((e->chain[i] = malloc(l)) == NULL)
            return PCC_E_NOMEM;
        memcpy(e->chain[i], p, l);
        e->chain_len[i] = l;
        e->n_chain = i + 1;
    }
    e->state = CHAINED;
    return pcc_chan_reply_ok(fd);
}

/* op_extend: from the control channel registers 0 and 2, from the host register 1. */
static pcc_status op_extend(enclave *e, int fd, const msgpack_object *const *v, int from_host)
{
    uint64_t reg;
    const char *name;
    const uint8_t *d;
    size_t nl, dl;
    pcc_status st;
    if (e->state == LOCKED)
        return PCC_E_STATE;
    if ((st = pcc_wire_get_uint(v[0], 2, &reg)) != PCC_OK ||
        (st = pcc_wire_get_str(v[1], 1, PCC_ATTEST_MAX_NAME, &name, &nl)) != PCC_OK ||
        (st = pcc_wire_get_bin(v[2], PCC_ATTEST_DIGEST, PCC_ATTEST_DIGEST, &d, &dl)) != PCC_OK)
        return st;
    if ((reg == 1) != (from_host != 0))
        return PCC_E_INVALID; /* the model register is the host's, the others the service's */
    if (e->n_events == PCC_ATTEST_MAX_EVENTS)
        return PCC_E_LIMIT;
    if (is_tpm(e) && e->tpm_st != PCC_OK)
        return tpm_refuse(e, fd); /* replied: the TPM cannot be used */
    /* the backend first (the TPM's PCR): if it fails, nothing changed */
    if ((st = e->be->extend(e, (unsigned)reg, name, nl, d)) != PCC_OK)
        return st == PCC_E_INVALID ? st : PCC_E_CRYPTO;
    if ((st = pcc_attest_register_extend(e->reg[reg], name, nl, d)) != PCC_OK)
        return st;
    event *ev = &e->events[e->n_events++];
    ev->reg = (unsigned)reg;
    memcpy(ev->name, name, nl);
    ev->name_len = nl;
    memcpy(ev->sha384, d, PCC_ATTEST_DIGEST);
    e->reg_events[reg]++;
    return pcc_chan_reply_ok(fd);
}

static pcc_status op_modes(enclave *e, int fd, const msgpack_object *const *v)
{
    uint64_t m;
    pcc_status st;
    if (e->state == LOCKED || e->modes_set)
        return PCC_E_STATE;
    if ((st = pcc_wire_get_uint(v[0], PCC_SANDBOX_ALL, &m)) != PCC_OK)
        return st;
    e->sandbox = (uint32_t)m;
    e->modes_set = 1;
    return pcc_chan_reply_ok(fd);
}

static pcc_status op_lock(enclave *e, int fd)
{
    pcc_status st;
    if (e->state != CHAINED || !e->modes_set || e->reg_events[0] == 0 ||
        e->reg_events[1] == 0 || e->reg_events[2] == 0)
        return PCC_E_STATE;
    if ((st = key_new(e)) != PCC_OK)
        return st;
    e->state = LOCKED;
    return pcc_chan_reply_ok(fd);
}

static pcc_status op_attest(enclave *e, int fd, const msgpack_object *const *v)
{
    const uint8_t *rel;
    const char *proof;
    const msgpack_object *mods;
    size_t rl, pl, nm;
    pcc_attest_text models[PCC_ATTEST_MAX_MODELS];
    pcc_status st;
    if (e->state != LOCKED)
        return PCC_E_STATE;
    if ((st = pcc_wire_get_bin(v[0], 1, PCC_ATTEST_MAX_LEAF, &rel, &rl)) != PCC_OK ||
        (st = pcc_wire_get_str(v[1], 1, PCC_ATTEST_MAX_PROOF, &proof, &pl)) != PCC_OK ||
        (st = pcc_wire_get_array(v[2], 1, PCC_ATTEST_MAX_MODELS, &mods, &nm)) != PCC_OK)
        return st;
    for (size_t i = 0; i < nm; i++)
        if ((st = pcc_wire_get_str(&mods[i], 1, PCC_ATTEST_MAX_NAME, &models[i].p,
                                   &models[i].len)) != PCC_OK)
            return st;
    keys_prune(e);
    if (e->n_keys == 0)
        return PCC_E_STATE; /* every key expired: rotate first */
    const node_key *k = &e->keys[e->n_keys - 1];
    for (size_t i = 0; i < e->n_events; i++) {
        e->ev_view[i].reg = e->events[i].reg;
        e->ev_view[i].name = e->events[i].name;
        e->ev_view[i].name_len = e->events[i].name_len;
        memcpy(e->ev_view[i].sha384, e->events[i].sha384, PCC_ATTEST_DIGEST);
    }
    pcc_attest_body b = {0};
    b.serial = e->serial;
    b.serial_len = e->serial_len;
    memcpy(b.boot, e->boot, sizeof b.boot);
    b.issued = now_s();
    memcpy(b.registers, e->reg, sizeof b.registers);
    b.events = e->ev_view;
    b.n_events = e->n_events;
    b.restricted = true;
    b.ephemeral_data = true;
    b.debug = e->cfg->debug != 0;
    b.seccomp = (e->sandbox & PCC_SANDBOX_SECCOMP) != 0;
    b.landlock = (e->sandbox & PCC_SANDBOX_LANDLOCK) != 0;
    b.netns = (e->sandbox & PCC_SANDBOX_NETNS) != 0;
    b.kem = 0x0020;
    b.kdf = 0x0001;
    b.aead = e->cfg->aead;
    memcpy(b.hpke_pk, k->pk, 32);
    memcpy(b.key_id, k->key_id, 8);
    b.not_after = k->not_after;
    b.models = models;
    b.n_models = nm;
    b.release = rel;
    b.release_len = rl;
    b.tlog_proof = proof;
    b.tlog_proof_len = pl;
    pcc_writer bw, w;
    pcc_writer_init_dynamic(&bw, false, PCC_ATTEST_MAX_BUNDLE);
    pcc_writer_init_dynamic(&w, false, PCC_NODE_MSG_MAX);
    const uint8_t *chain[PCC_ATTEST_MAX_CHAIN];
    for (size_t i = 0; i < e->n_chain; i++)
        chain[i] = e->chain[i];
    st = e->be->bundle(e, &bw, &b, chain);
    if (st == PCC_E_INVALID) {
        pcc_writer_cleanup(&bw);
        pcc_writer_cleanup(&w);
        return PCC_E_INVALID;
    }
    if (st == PCC_OK && (st = pcc_wire_put_map(&w, 2)) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "op")) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "bundle")) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "bundle")) == PCC_OK)
        st = pcc_wire_put_bin(&w, bw.data, bw.len);
    pcc_writer_cleanup(&bw);
    return send_writer(fd, &w, st);
}

static pcc_status op_rotate(enclave *e, int fd)
{
    uint8_t b[64];
    pcc_writer w;
    pcc_status st;
    if (e->state != LOCKED)
        return PCC_E_STATE;
    keys_prune(e);
    if ((st = key_new(e)) != PCC_OK)
        return st;
    const node_key *k = &e->keys[e->n_keys - 1];
    pcc_writer_init_fixed(&w, b, sizeof b);
    if ((st = pcc_wire_put_map(&w, 3)) == PCC_OK && (st = pcc_wire_put_cstr(&w, "op")) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "key")) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "key_id")) == PCC_OK &&
        (st = pcc_wire_put_bin(&w, k->key_id, 8)) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "not_after")) == PCC_OK)
        st = pcc_wire_put_uint(&w, k->not_after);
    return send_writer(fd, &w, st);
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static const char *const F_CSR[] = {"serial"};
static const char *const F_ACTIVATE[] = {"blob", "secret"};
static const char *const F_CHAIN[] = {"chain"};
static const char *const F_EXTEND[] = {"reg", "name", "sha384"};
static const char *const F_ATTEST[] = {"release", "tlog_proof", "models"};
static const char *const F_MODES[] = {"sandbox"};

/* handle serves one message from the control channel (from_host 0) or the host channel. A
 * failure to reply (the peer gone) is PCC_E_STATE with *gone set. */
static void handle(enclave *e, int fd, int from_host, const uint8_t *msg, size_t len,
                   int passed_fd, int *gone)
{
    pcc_wire_doc *doc = NULL;
    const msgpack_object *v[3];
    pcc_status st = PCC_E_FORMAT, io = PCC_OK;
    int replied = 0;
    if (pcc_wire_decode(&doc, msg, len, &(pcc_wire_limits){3, 512, 64 * 1024, 300 * 1024, 64, 8,
                                                           PCC_WIRE_NO_FLOAT}) != PCC_OK)
        goto reply;
    const msgpack_object *root = pcc_wire_doc_root(doc);
#define IS(op) pcc_chan_op_is(root, op)
#define FIELDS(op, f) pcc_chan_decode(&doc, msg, len, op, f, sizeof f / sizeof f[0], v)
    if (IS("extend")) {
        if ((st = FIELDS("extend", F_EXTEND)) == PCC_OK && (st = op_extend(e, fd, v, from_host)) == PCC_OK)
            replied = 1;
    } else if (from_host && IS("modes")) {
        if ((st = FIELDS("modes", F_MODES)) == PCC_OK && (st = op_modes(e, fd, v)) == PCC_OK)
            replied = 1;
    } else if (from_host && IS("channel")) {
        st = pcc_chan_decode(&doc, msg, len, "channel", NULL, 0, v);
        if (st == PCC_OK && passed_fd < 0)
            st = PCC_E_FORMAT;
        if (st == PCC_OK && e->state != LOCKED)
            st = PCC_E_STATE;
        if (st == PCC_OK && e->n_chans == PCC_NODE_MAX_CHANNELS)
            st = PCC_E_LIMIT;
        if (st == PCC_OK) {
            /* a worker gets a bounded time to ask: it cannot hold the enclave */
            struct timeval tv = {2, 0};
            (void)setsockopt(passed_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            (void)setsockopt(passed_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            e->chans[e->n_chans++] = passed_fd;
            passed_fd = -1;
        }
        replied = 1; /* no reply on channel, in any case */
    } else if (!from_host && IS("csr")) {
        if ((st = FIELDS("csr", F_CSR)) == PCC_OK && (st = op_csr(e, fd, v)) == PCC_OK)
            replied = 1;
    } else if (!from_host && IS("enroll")) {
        if ((st = FIELDS("enroll", F_CSR)) == PCC_OK && (st = op_enroll(e, fd, v)) == PCC_OK)
            replied = 1;
    } else if (!from_host && IS("activate")) {
        if ((st = FIELDS("activate", F_ACTIVATE)) == PCC_OK && (st = op_activate(e, fd, v)) == PCC_OK)
            replied = 1;
    } else if (!from_host && IS("set_chain")) {
        if ((st = FIELDS("set_chain", F_CHAIN)) == PCC_OK && (st = op_set_chain(e, fd, v)) == PCC_OK)
            replied = 1;
    } else if (!from_host && IS("lock")) {
        if ((st = pcc_chan_decode(&doc, msg, len, "lock", NULL, 0, v)) == PCC_OK &&
            (st = op_lock(e, fd)) == PCC_OK)
            replied = 1;
    } else if (!from_host && IS("attest")) {
        if ((st = FIELDS("attest", F_ATTEST)) == PCC_OK && (st = op_attest(e, fd, v)) == PCC_OK)
            replied = 1;
    } else if (!from_host && IS("rotate")) {
        if ((st = pcc_chan_decode(&doc, msg, len, "rotate", NULL, 0, v)) == PCC_OK &&
            (st = op_rotate(e, fd)) == PCC_OK)
            replied = 1;
    }
#undef IS
#undef FIELDS
reply:
    if (passed_fd >= 0)
        close(passed_fd); /* a descriptor nobody asked for */
    /* an operation that replied and then failed to write has st PCC_E_STATE from the send */
    if (!replied)
        io = pcc_chan_reply_error(fd, error_name(st));
    else if (st != PCC_OK)
        io = st;
    if (io != PCC_OK)
        *gone = 1;
    pcc_wire_doc_free(doc);
}

/* ---- the loop ------------------------------------------------------------------------------
 *
 * One poll() over every channel. Each channel has its own inbox: a message is read in pieces as
 * its bytes arrive (without blocking, never past the message's end, so a descriptor that comes
 * with a message stays with it), under a byte cap and a deadline, and handled once it is whole.
 * Complete messages are served in turn, so a channel that sends half a message and stops holds
 * only itself: it is dropped at its deadline and every other channel goes on being served. */

#define CTRL_DEADLINE_MS 30000u /* a control or host message must be whole this long after its
                                 * first byte (they are the node's own processes) */
#define WORKER_DEADLINE_MS 2000u /* a worker must have sent its whole unwrap this long after its
                                  * channel arrived */
#define WORKER_MSG_MAX PCC_SECURE_SMALL_MAX /* an unwrap message is a few hundred bytes */

typedef struct {
    uint8_t hdr[4];
    size_t hdr_got;
    uint8_t *buf;      /* room for cap bytes */
    size_t cap;
    size_t need, got;  /* the body's length (once the header is in) and what has arrived */
    int passed_fd;     /* a descriptor that came with this message, -1 if none */
    uint64_t deadline; /* monotonic ms by which the message must be whole; 0: none under way */
} inbox;

typedef struct {
    inbox in;
    uint8_t buf[WORKER_MSG_MAX];
} worker_chan;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void inbox_reset(inbox *in)
{
    if (in->passed_fd >= 0)
        close(in->passed_fd);
    in->passed_fd = -1;
    in->hdr_got = 0;
    in->need = 0;
    in->got = 0;
    in->deadline = 0;
}

/* inbox_read makes one non-blocking read towards the message under way on fd (the rest of its
 * header, or of its body) and sets *whole when the message is complete. A read with nothing to
 * give is PCC_OK. with_fds: keep one descriptor that comes with the message (any other is
 * closed). PCC_E_STATE at EOF or on an error, PCC_E_FORMAT for a length of 0 or over the cap. */
static pcc_status inbox_read(int fd, inbox *in, int with_fds, uint64_t deadline_ms, int *whole)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } cm;
    struct iovec iov;
    struct msghdr mh = {0};
    ssize_t r;
    *whole = 0;
    if (in->hdr_got < 4)
        iov = (struct iovec){in->hdr + in->hdr_got, 4 - in->hdr_got};
    else
        iov = (struct iovec){in->buf + in->got, in->need - in->got};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (with_fds) {
        memset(&cm, 0, sizeof cm);
        mh.msg_control = cm.buf;
        mh.msg_controllen = sizeof cm.buf;
    }
    do
        r = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return PCC_OK;
    if (with_fds && r >= 0)
        pcc_chan_keep_one_fd(&mh, &in->passed_fd);
    if (r <= 0)
        return PCC_E_STATE;
    if (in->deadline == 0)
        in->deadline = deadline_ms;
    if (in->hdr_got < 4) {
        in->hdr_got += (size_t)r;
        if (in->hdr_got < 4)
            return PCC_OK;
        size_t n = ((size_t)in->hdr[0] << 24) | ((size_t)in->hdr[1] << 16) |
                   ((size_t)in->hdr[2] << 8) | in->hdr[3];
        if (n == 0 || n > in->cap)
            return PCC_E_FORMAT;
        in->need = n;
        return PCC_OK;
    }
    in->got += (size_t)r;
    *whole = in->got == in->need;
    return PCC_OK;
}

/* worker_answer serves the one unwrap of a worker channel from its whole message (msg NULL: a
 * message over the cap): pcc_worker_unwrap_answer with this node's live keys and own id. The
 * worker learns only dk or refused; the enclave keeps serving whatever the outcome. */
static void worker_answer(enclave *e, int fd, const uint8_t *msg, size_t len)
{
    pcc_request_node_key nk[PCC_NODE_MAX_KEYS];
    keys_prune(e);
    for (size_t k = 0; k < e->n_keys; k++) {
        memcpy(nk[k].key_id, e->keys[k].key_id, 8);
        nk[k].key = e->keys[k].key;
        nk[k].suite = (pcc_hpke_suite){0x0020, 0x0001, e->cfg->aead};
    }
    pcc_status st = pcc_worker_unwrap_answer(fd, msg, len, nk, e->n_keys, e->node_id,
                                             sizeof e->node_id);
    (void)st; /* refused or gone: the channel is closed after it either way */
    pcc_wipe(nk, sizeof nk);
}

static int poll_timeout(uint64_t now, uint64_t deadline, int t)
{
    if (deadline == 0)
        return t;
    uint64_t left = deadline > now ? deadline - now : 0;
    if (left > 60000)
        left = 60000;
    return t < 0 || (int)left < t ? (int)left : t;
}

pcc_status pcc_node_enclave_run(const pcc_node_enclave_config *cfg)
{
    static enclave e;                                /* large (events); one per process */
    static worker_chan wc[PCC_NODE_MAX_CHANNELS];    /* inboxes of e.chans, index for index */
    inbox io[2];                                     /* 0 the control channel, 1 the host's */
    size_t known = 0;                                /* worker channels with an inbox */
    pcc_status st = PCC_OK;
    if (cfg == NULL || cfg->ctrl_fd < 0 || cfg->host_fd < 0 || cfg->key_lifetime == 0 ||
        (cfg->tpm_tcti != NULL && (cfg->tpm_tcti[0] == '\0' || strlen(cfg->tpm_tcti) > 1024)) ||
        cfg->key_lifetime > PCC_NODE_KEY_LIFETIME_MAX ||
        (cfg->aead != 1 && cfg->aead != 2 && cfg->aead != 3))
        return PCC_E_INVALID;
    if ((st = pcc_chan_harden()) != PCC_OK)
        return st;
    memset(&e, 0, sizeof e);
    memset(io, 0, sizeof io);
    e.cfg = cfg;
    e.host_fd = cfg->host_fd;
    e.be = cfg->tpm_tcti != NULL ? &TPM : &SIM;
    e.be->start(&e);
    for (int i = 0; i < 2; i++) {
        io[i].passed_fd = -1;
        io[i].cap = PCC_NODE_MSG_MAX;
        if ((io[i].buf = malloc(PCC_NODE_MSG_MAX)) == NULL) {
            st = PCC_E_NOMEM;
            goto done;
        }
    }
    for (;;) {
        struct pollfd p[2 + PCC_NODE_MAX_CHANNELS];
        uint64_t now = mono_ms();
        int timeout = -1;
        size_t n = 0;
        p[n++] = (struct pollfd){cfg->ctrl_fd, POLLIN, 0};
        p[n++] = (struct pollfd){e.host_fd, POLLIN, 0}; /* -1 is ignored by poll */
        for (size_t i = 0; i < 2; i++)
            timeout = poll_timeout(now, io[i].deadline, timeout);
        for (size_t i = 0; i < e.n_chans; i++) {
            p[n++] = (struct pollfd){e.chans[i], POLLIN, 0};
            timeout = poll_timeout(now, wc[i].in.deadline, timeout);
        }
        int r = poll(p, (nfds_t)n, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = PCC_E_STATE;
            break;
        }
        now = mono_ms();
        /* worker channels first: each answers one unwrap once its message is whole, or is
         * dropped at its deadline; then closed (newest index first so removal skips none) */
        for (size_t i = n; i-- > 2;) {
            size_t c = i - 2;
            inbox *in = &wc[c].in;
            int whole = 0, drop = 0;
            if (p[i].revents != 0) {
                pcc_status rs = inbox_read(e.chans[c], in, 0, in->deadline, &whole);
                if (rs == PCC_E_FORMAT)
                    worker_answer(&e, e.chans[c], NULL, 0); /* refused, as ever */
                if (whole)
                    worker_answer(&e, e.chans[c], in->buf, in->need);
                drop = rs != PCC_OK || whole;
            }
            if (!drop && now >= in->deadline)
                drop = 1; /* too slow: it loses its channel, and held nobody else */
            if (!drop)
                continue;
            close(e.chans[c]);
            e.n_chans--;
            e.chans[c] = e.chans[e.n_chans];
            if (c != e.n_chans) {
                wc[c].in = wc[e.n_chans].in;
                wc[c].in.buf = wc[c].buf;
                memcpy(wc[c].buf, wc[e.n_chans].buf, wc[e.n_chans].in.got);
            }
            known = e.n_chans;
        }
        for (int which = 0; which < 2; which++) {
            int fd = which == 0 ? cfg->ctrl_fd : e.host_fd;
            inbox *in = &io[which];
            int whole = 0, gone = 0;
            pcc_status rs = PCC_OK;
            if (fd < 0)
                continue;
            if (p[which].revents != 0)
                rs = inbox_read(fd, in, 1, now + CTRL_DEADLINE_MS, &whole);
            if (rs == PCC_OK && whole) {
                int passed = in->passed_fd;
                in->passed_fd = -1;     /* handle takes it (keeps it or closes it) */
                handle(&e, fd, which, in->buf, in->need, passed, &gone);
                inbox_reset(in);
                /* a channel handed over: its inbox, and its time to ask, start now */
                for (; known < e.n_chans; known++) {
                    wc[known].in = (inbox){.buf = wc[known].buf, .cap = WORKER_MSG_MAX,
                                           .passed_fd = -1, .deadline = now + WORKER_DEADLINE_MS};
                }
            } else if (rs == PCC_OK && in->deadline != 0 && now >= in->deadline) {
                rs = PCC_E_STATE; /* half a message for too long: the framing is broken */
            }
            if (rs != PCC_OK || gone) {
                if (which == 0)
                    goto done; /* the service is gone (or broke the framing): stop */
                inbox_reset(in);
                close(e.host_fd);
                e.host_fd = -1;
            }
        }
    }
done:
    for (size_t i = 0; i < e.n_chans; i++)
        close(e.chans[i]);
    while (e.n_keys > 0)
        key_drop(&e, e.n_keys - 1);
    for (size_t i = 0; i < e.n_chain; i++)
        free(e.chain[i]);
    e.be->stop(&e);
    pcc_p384_key_free(e.id);
    pcc_wipe(&e, sizeof e);
    for (int i = 0; i < 2; i++) {
        inbox_reset(&io[i]);
        free(io[i].buf);
    }
    pcc_wipe(wc, sizeof wc);
    return st;
}
