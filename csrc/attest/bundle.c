/* bundle.c: attestation bundles: Body encoding and signing (the enclave), the client's trust
 * anchors with a cache of verified chains, and verification into a report of named checks.
 *
 * Verification order (each check runs only when the ones before it passed):
 *   format, chain, signature, [tpm], node_id, registers, release, transparency, freshness, modes,
 *   key, model.
 * `tpm` applies to a body with a tpm key (a TPM quote, checked with pcc/tpm.h), to a node
 * certificate issued to a TPM attestation key (such a key must not sign a body without a quote)
 * and to every bundle under a trust that requires a TPM; elsewhere it is not listed.
 * The body is decoded only after its signature verified; a signed body that fails strict
 * decoding is reported as a failed `format` check (and nothing else). Every reason is a static,
 * public sentence: nothing from the bundle is echoed. */
#include <pthread.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "attest_internal.h"
#include "pcc/merkle.h"
#include "pcc/note.h"
#include "pcc/tpm.h"
#include "pcc/wire.h"

#define MAX_WITNESSES 64
#define CACHE_SLOTS 32
#define MAX_SIG_LINES PCC_NOTE_MAX_SIGS

static const char *const CHECK_NAMES[PCC_CHECK_COUNT] = {
    "format", "chain",     "signature", "tpm", "node_id", "registers", "release",
    "transparency", "freshness", "modes", "key", "model",
};

const char *pcc_attest_check_name(unsigned check)
{
    return check < PCC_CHECK_COUNT ? CHECK_NAMES[check] : NULL;
}

/* ---- trust ------------------------------------------------------------------------------- */

typedef struct cache_slot {
    bool used;
    uint8_t key[32];
    pcc_attest_chain_ok ok;
} cache_slot;

struct pcc_attest_trust {
    X509_STORE *stores[PCC_ATTEST_MAX_ROOTS]; /* one pinned root each (see get_chain) */
    size_t n_stores;
    STACK_OF(X509) *roots;
    pcc_note_key *keys[1 + MAX_WITNESSES]; /* the log key, then the witnesses */
    size_t n_wit;
    unsigned quorum;
    uint64_t max_age;
    unsigned relax;
    pthread_mutex_t lock;
    cache_slot cache[CACHE_SLOTS];
    size_t next;
};

static X509 *load_cert(const uint8_t *data, size_t len)
{
    X509 *x = NULL;
    static const char pem[] = "-----BEGIN";
    if (data == NULL || len == 0 || len > 65536)
        return NULL;
    if (len >= sizeof pem - 1 && memcmp(data, pem, sizeof pem - 1) == 0) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        if (b != NULL)
            x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const uint8_t *p = data;
        x = d2i_X509(NULL, &p, (long)len);
        if (x != NULL && p != data + len) {
            X509_free(x);
            x = NULL;
        }
    }
    return x;
}

void pcc_attest_trust_free(pcc_attest_trust *t)
{
    if (t == NULL)
        return;
    pcc_attest_trust_cache_clear(t);
    pthread_mutex_destroy(&t->lock);
    for (size_t i = 0; i < t->n_stores; i++)
        X509_STORE_free(t->stores[i]);
    sk_X509_pop_free(t->roots, X509_free);
    for (size_t i = 0; i < 1 + t->n_wit; i++)
        pcc_note_key_free(t->keys[i]);
    OPENSSL_free(t);
}

void pcc_attest_trust_cache_clear(pcc_attest_trust *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        EVP_PKEY_free(t->cache[i].ok.leaf_key);
        memset(&t->cache[i], 0, sizeof t->cache[i]);
    }
    pthread_mutex_unlock(&t->lock);
}

pcc_status pcc_attest_trust_new(pcc_attest_trust **out, const char **what,
                                const uint8_t *const *roots, const size_t *root_lens,
                                size_t n_roots, const char *log_vkey, size_t log_vkey_len,
                                const char *const *witness_vkeys, const size_t *witness_lens,
                                size_t n_wit, unsigned quorum, uint64_t max_age_s, unsigned relax)
{
    pcc_attest_trust *t = NULL;
    pcc_status st = PCC_E_INVALID;
    const char *why = "trust";
    if (out == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (n_roots == 0 || n_roots > PCC_ATTEST_MAX_ROOTS || roots == NULL || root_lens == NULL) {
        why = "provisioning_roots must hold 1..16 certificates";
        goto out;
    }
    if (n_wit > MAX_WITNESSES || (n_wit > 0 && (witness_vkeys == NULL || witness_lens == NULL))) {
        why = "too many witness keys";
        goto out;
    }
    if (quorum == 0 || quorum > n_wit) {
        why = "quorum must be between 1 and the number of witness keys";
        goto out;
    }
    if (relax & ~(PCC_ATTEST_RELAX_SECCOMP | PCC_ATTEST_RELAX_LANDLOCK | PCC_ATTEST_RELAX_NETNS |
                  PCC_ATTEST_REQUIRE_TPM)) {
        why = "unknown relax flag";
        goto out;
    }
    if (log_vkey == NULL) {
        why = "log_vkey";
        goto out;
    }
    if ((t = OPENSSL_zalloc(sizeof *t)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        OPENSSL_free(t);
        t = NULL;
        st = PCC_E_NOMEM;
        goto out;
    }
    t->quorum = quorum;
    t->max_age = max_age_s;
    t->relax = relax;
    if ((t->roots = sk_X509_new_null()) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_roots; i++) {
        X509 *x = load_cert(roots[i], root_lens[i]);
        if (x == NULL || !pcc_attest_pkey_is_p384(X509_get0_pubkey(x))) {
            X509_free(x);
            why = "a provisioning root is not a P-384 certificate (PEM or DER)";
            goto out;
        }
        if (!sk_X509_push(t->roots, x)) {
            X509_free(x);
            st = PCC_E_NOMEM;
            goto out;
        }
        if ((t->stores[i] = X509_STORE_new()) == NULL) {
            st = PCC_E_NOMEM;
            goto out;
        }
        t->n_stores = i + 1;
        if (X509_STORE_add_cert(t->stores[i], x) != 1) {
            st = PCC_E_NOMEM;
            goto out;
        }
    }
    if (pcc_note_key_from_vkey(&t->keys[0], log_vkey, log_vkey_len) != PCC_OK ||
        pcc_note_key_alg(t->keys[0]) != PCC_NOTE_ALG_ED25519) {
        why = "log_vkey is not a valid Ed25519 note vkey";
        goto out;
    }
    for (size_t i = 0; i < n_wit; i++) {
        size_t nl, ml;
        if (pcc_note_key_from_vkey(&t->keys[1 + i], witness_vkeys[i], witness_lens[i]) != PCC_OK ||
            pcc_note_key_alg(t->keys[1 + i]) != PCC_NOTE_ALG_COSIG_V1) {
            t->n_wit = i + 1; /* free what was made */
            why = "a witness vkey is not a valid cosignature (type 0x04) vkey";
            goto out;
        }
        t->n_wit = i + 1;
        const char *name = pcc_note_key_name(t->keys[1 + i], &nl);
        for (size_t j = 0; j <= i; j++) {
            const char *other = pcc_note_key_name(t->keys[j], &ml);
            if (nl == ml && memcmp(name, other, nl) == 0) {
                why = "witness keys must have distinct names, unlike the log's";
                goto out;
            }
        }
    }
    st = PCC_OK;
    why = NULL;
out:
    ERR_clear_error();
    if (st != PCC_OK)
        pcc_attest_trust_free(t);
    else
        *out = t;
    if (what != NULL)
        *what = why;
    return st;
}

/* ---- encoding ------------------------------------------------------------------------------ */

/* what a tpm value may hold: Body's limits less the levels above it */
static const pcc_wire_limits TPM_LIMITS = {
    .max_depth = 7, .max_items = 4096, .max_str = PCC_ATTEST_MAX_PROOF,
    .max_bin = PCC_ATTEST_MAX_LEAF, .max_array = PCC_ATTEST_MAX_EVENTS, .max_map = 32,
    .flags = PCC_WIRE_NO_FLOAT,
};

static int name_ok(const char *s, size_t n, size_t max)
{
    return s != NULL && n >= 1 && n <= max && pcc_wire_utf8_valid(s, n);
}

#define PUT(expr)                      \
    do {                               \
        if ((st = (expr)) != PCC_OK)   \
            goto out;                  \
    } while (0)

pcc_status pcc_attest_body_encode(pcc_writer *w, const pcc_attest_body *b, const pcc_p384_key *key)
{
    pcc_status st = PCC_E_INVALID;
    uint8_t node_id[PCC_ATTEST_NODE_ID];
    size_t start;
    if (w == NULL || b == NULL || (key == NULL && b->node_id == NULL))
        return PCC_E_INVALID;
    start = w->len;
    if (!name_ok(b->serial, b->serial_len, PCC_ATTEST_MAX_NAME) ||
        b->n_events > PCC_ATTEST_MAX_EVENTS || (b->n_events > 0 && b->events == NULL) ||
        b->n_models > PCC_ATTEST_MAX_MODELS || (b->n_models > 0 && b->models == NULL) ||
        b->release == NULL || b->release_len == 0 || b->release_len > PCC_ATTEST_MAX_LEAF ||
        !name_ok(b->tlog_proof, b->tlog_proof_len, PCC_ATTEST_MAX_PROOF) ||
        b->issued > INT64_MAX || b->not_after > INT64_MAX)
        return PCC_E_INVALID;
    for (size_t i = 0; i < b->n_events; i++)
        if (b->events[i].reg >= PCC_ATTEST_REGISTERS ||
            !name_ok(b->events[i].name, b->events[i].name_len, PCC_ATTEST_MAX_NAME))
            return PCC_E_INVALID;
    for (size_t i = 0; i < b->n_models; i++)
        if (!name_ok(b->models[i].p, b->models[i].len, PCC_ATTEST_MAX_NAME))
            return PCC_E_INVALID;
    if (b->tpm != NULL) {
        uint8_t t0 = b->tpm_len ? b->tpm[0] : 0;
        int bin_or_map = (t0 >= 0xc4 && t0 <= 0xc6) || (t0 >= 0x80 && t0 <= 0x8f) ||
                         t0 == 0xde || t0 == 0xdf;
        if (!bin_or_map || pcc_wire_check(b->tpm, b->tpm_len, &TPM_LIMITS) != PCC_OK)
            return PCC_E_INVALID;
    }
    if (b->node_id != NULL)
        memcpy(node_id, b->node_id, sizeof node_id);
    else
        pcc_p384_key_node_id(key, node_id);
    /* keys in byte order: the canonical form */
    PUT(pcc_wire_put_map(w, b->tpm != NULL ? 13 : 12));
    PUT(pcc_wire_put_cstr(w, "boot"));
    PUT(pcc_wire_put_bin(w, b->boot, sizeof b->boot));
    PUT(pcc_wire_put_cstr(w, "events"));
    PUT(pcc_wire_put_array(w, b->n_events));
    for (size_t i = 0; i < b->n_events; i++) {
        PUT(pcc_wire_put_map(w, 3));
        PUT(pcc_wire_put_cstr(w, "name"));
        PUT(pcc_wire_put_str(w, b->events[i].name, b->events[i].name_len));
        PUT(pcc_wire_put_cstr(w, "reg"));
        PUT(pcc_wire_put_uint(w, b->events[i].reg));
        PUT(pcc_wire_put_cstr(w, "sha384"));
        PUT(pcc_wire_put_bin(w, b->events[i].sha384, PCC_ATTEST_DIGEST));
    }
    PUT(pcc_wire_put_cstr(w, "hpke"));
    PUT(pcc_wire_put_map(w, 6));
    PUT(pcc_wire_put_cstr(w, "aead"));
    PUT(pcc_wire_put_uint(w, b->aead));
    PUT(pcc_wire_put_cstr(w, "kdf"));
    PUT(pcc_wire_put_uint(w, b->kdf));
    PUT(pcc_wire_put_cstr(w, "kem"));
    PUT(pcc_wire_put_uint(w, b->kem));
    PUT(pcc_wire_put_cstr(w, "key_id"));
    PUT(pcc_wire_put_bin(w, b->key_id, sizeof b->key_id));
    PUT(pcc_wire_put_cstr(w, "not_after"));
    PUT(pcc_wire_put_uint(w, b->not_after));
    PUT(pcc_wire_put_cstr(w, "pk"));
    PUT(pcc_wire_put_bin(w, b->hpke_pk, sizeof b->hpke_pk));
    PUT(pcc_wire_put_cstr(w, "issued"));
    PUT(pcc_wire_put_uint(w, b->issued));
    PUT(pcc_wire_put_cstr(w, "models"));
    PUT(pcc_wire_put_array(w, b->n_models));
    for (size_t i = 0; i < b->n_models; i++)
        PUT(pcc_wire_put_str(w, b->models[i].p, b->models[i].len));
    PUT(pcc_wire_put_cstr(w, "modes"));
    PUT(pcc_wire_put_map(w, 4));
    PUT(pcc_wire_put_cstr(w, "debug"));
    PUT(pcc_wire_put_bool(w, b->debug));
    PUT(pcc_wire_put_cstr(w, "ephemeral_data"));
    PUT(pcc_wire_put_bool(w, b->ephemeral_data));
    PUT(pcc_wire_put_cstr(w, "restricted"));
    PUT(pcc_wire_put_bool(w, b->restricted));
    PUT(pcc_wire_put_cstr(w, "sandbox"));
    PUT(pcc_wire_put_map(w, 3));
    PUT(pcc_wire_put_cstr(w, "landlock"));
    PUT(pcc_wire_put_bool(w, b->landlock));
    PUT(pcc_wire_put_cstr(w, "netns"));
    PUT(pcc_wire_put_bool(w, b->netns));
    PUT(pcc_wire_put_cstr(w, "seccomp"));
    PUT(pcc_wire_put_bool(w, b->seccomp));
    PUT(pcc_wire_put_cstr(w, "node_id"));
    PUT(pcc_wire_put_bin(w, node_id, sizeof node_id));
    PUT(pcc_wire_put_cstr(w, "registers"));
    PUT(pcc_wire_put_array(w, PCC_ATTEST_REGISTERS));
    for (size_t i = 0; i < PCC_ATTEST_REGISTERS; i++)
        PUT(pcc_wire_put_bin(w, b->registers[i], PCC_ATTEST_DIGEST));
    PUT(pcc_wire_put_cstr(w, "release"));
    PUT(pcc_wire_put_bin(w, b->release, b->release_len));
    PUT(pcc_wire_put_cstr(w, "serial"));
    PUT(pcc_wire_put_str(w, b->serial, b->serial_len));
    PUT(pcc_wire_put_cstr(w, "tlog_proof"));
    PUT(pcc_wire_put_str(w, b->tlog_proof, b->tlog_proof_len));
    if (b->tpm != NULL) {
        PUT(pcc_wire_put_cstr(w, "tpm"));
        PUT(pcc_writer_bytes(w, b->tpm, b->tpm_len));
    }
    PUT(pcc_wire_put_cstr(w, "v"));
    PUT(pcc_wire_put_uint(w, 1));
out:
    if (st != PCC_OK)
        w->len = start; /* nothing half-written */
    return st;
}

pcc_status pcc_attest_bundle_assemble(pcc_writer *w, const uint8_t *body, size_t body_len,
                                      const uint8_t *sig, size_t sig_len,
                                      const uint8_t *const *chain, const size_t *chain_lens,
                                      size_t n_chain)
{
    size_t start;
    pcc_status st;
    if (w == NULL || body == NULL || body_len == 0 || body_len > PCC_ATTEST_MAX_BUNDLE ||
        sig == NULL || sig_len < 8 || sig_len > PCC_ATTEST_MAX_SIG || chain == NULL ||
        chain_lens == NULL || n_chain == 0 || n_chain > PCC_ATTEST_MAX_CHAIN)
        return PCC_E_INVALID;
    for (size_t i = 0; i < n_chain; i++)
        if (chain[i] == NULL || chain_lens[i] == 0 || chain_lens[i] > PCC_ATTEST_MAX_CERT)
            return PCC_E_INVALID;
    start = w->len;
    PUT(pcc_wire_put_map(w, 3));
    PUT(pcc_wire_put_cstr(w, "body"));
    PUT(pcc_wire_put_bin(w, body, body_len));
    PUT(pcc_wire_put_cstr(w, "chain"));
    PUT(pcc_wire_put_array(w, n_chain));
    for (size_t i = 0; i < n_chain; i++)
        PUT(pcc_wire_put_bin(w, chain[i], chain_lens[i]));
    PUT(pcc_wire_put_cstr(w, "sig"));
    PUT(pcc_wire_put_bin(w, sig, sig_len));
    if (w->len - start > PCC_ATTEST_MAX_BUNDLE)
        st = PCC_E_LIMIT;
out:
    if (st != PCC_OK)
        w->len = start; /* nothing half-written */
    return st;
}

pcc_status pcc_attest_bundle_encode(pcc_writer *w, const pcc_attest_body *b,
                                    const pcc_p384_key *key, const uint8_t *const *chain,
                                    const size_t *chain_lens, size_t n_chain)
{
    pcc_writer body;
    uint8_t sig[PCC_ATTEST_MAX_SIG];
    size_t sig_len = 0;
    pcc_status st;
    if (w == NULL || key == NULL || chain == NULL || chain_lens == NULL || n_chain == 0 ||
        n_chain > PCC_ATTEST_MAX_CHAIN)
        return PCC_E_INVALID;
    for (size_t i = 0; i < n_chain; i++)
        if (chain[i] == NULL || chain_lens[i] == 0 || chain_lens[i] > PCC_ATTEST_MAX_CERT)
            return PCC_E_INVALID;
    pcc_writer_init_dynamic(&body, false, PCC_ATTEST_MAX_BUNDLE);
    PUT(pcc_attest_body_encode(&body, b, key));
    PUT(pcc_p384_key_sign(key, sig, &sig_len, sizeof sig, body.data, body.len));
    st = pcc_attest_bundle_assemble(w, body.data, body.len, sig, sig_len, chain, chain_lens,
                                    n_chain);
out:
    pcc_writer_cleanup(&body);
    return st;
}

/* ---- verification -------------------------------------------------------------------------- */

static const pcc_wire_limits OUTER_LIMITS = {
    .max_depth = 2, .max_items = 32, .max_str = 16, .max_bin = PCC_ATTEST_MAX_BUNDLE,
    .max_array = PCC_ATTEST_MAX_CHAIN, .max_map = 8,
    .flags = PCC_WIRE_NO_FLOAT | PCC_WIRE_NO_NEGATIVE,
};

static const pcc_wire_limits BODY_LIMITS = {
    .max_depth = 8, .max_items = 8192, .max_str = PCC_ATTEST_MAX_PROOF,
    .max_bin = PCC_ATTEST_MAX_LEAF, .max_array = PCC_ATTEST_MAX_EVENTS, .max_map = 32,
    .flags = PCC_WIRE_NO_FLOAT,
};

#define LEAF_MAX_COMPONENTS 4096
static const pcc_wire_limits LEAF_LIMITS = {
    .max_depth = 3, .max_items = 8 * LEAF_MAX_COMPONENTS + 16, .max_str = 256, .max_bin = 48,
    .max_array = LEAF_MAX_COMPONENTS, .max_map = 8,
    .flags = PCC_WIRE_MINIMAL | PCC_WIRE_NO_FLOAT | PCC_WIRE_NO_NEGATIVE,
};

typedef struct body_view {
    const uint8_t *node_id;
    const uint8_t *registers[PCC_ATTEST_REGISTERS];
    const msgpack_object *events;
    size_t n_events;
    bool restricted, ephemeral_data, debug, seccomp, landlock, netns;
    uint64_t kem, kdf, aead, not_after, issued;
    const uint8_t *pk, *key_id;
    const msgpack_object *models;
    size_t n_models;
    const uint8_t *release;
    size_t release_len;
    const char *proof;
    size_t proof_len;
    const msgpack_object *tpm; /* NULL without a tpm key */
} body_view;

/* parse_body checks Body's schema exactly; *why names the broken part. */
static pcc_status parse_body(const msgpack_object *m, body_view *v, const char **why)
{
    static const char *const keys[] = {"v", "node_id", "serial", "boot", "issued", "registers",
                                       "events", "modes", "hpke", "models", "release",
                                       "tlog_proof"};
    static const char *const opt[] = {"tpm"};
    static const char *const ev_keys[] = {"reg", "name", "sha384"};
    static const char *const mode_keys[] = {"restricted", "ephemeral_data", "debug", "sandbox"};
    static const char *const sb_keys[] = {"seccomp", "landlock", "netns"};
    static const char *const hpke_keys[] = {"kem", "kdf", "aead", "pk", "key_id", "not_after"};
    const msgpack_object *o, *items;
    const uint8_t *b;
    const char *s;
    size_t n, len;
    uint64_t u;

#define REQ(expr, msg)            \
    do {                          \
        if ((expr) != PCC_OK) {   \
            *why = (msg);         \
            return PCC_E_FORMAT;  \
        }                         \
    } while (0)

    REQ(pcc_wire_map_keys(m, keys, 12, opt, 1), "body: the key set is not exactly Body's");
    REQ(pcc_wire_get_uint(pcc_wire_map_get(m, "v"), 1, &u), "body: v must be 1");
    if (u != 1) {
        *why = "body: v must be 1";
        return PCC_E_FORMAT;
    }
    REQ(pcc_wire_get_bin(pcc_wire_map_get(m, "node_id"), 32, 32, &v->node_id, &len),
        "body: node_id must be 32 bytes of bin");
    REQ(pcc_wire_get_str(pcc_wire_map_get(m, "serial"), 1, PCC_ATTEST_MAX_NAME, &s, &len),
        "body: serial must be a str of 1..256 bytes");
    REQ(pcc_wire_get_bin(pcc_wire_map_get(m, "boot"), 16, 16, &b, &len),
        "body: boot must be 16 bytes of bin");
    REQ(pcc_wire_get_uint(pcc_wire_map_get(m, "issued"), INT64_MAX, &v->issued),
        "body: issued must be an unsigned integer");
    REQ(pcc_wire_get_array(pcc_wire_map_get(m, "registers"), 3, 3, &items, &n),
        "body: registers must be an array of 3");
    for (size_t i = 0; i < PCC_ATTEST_REGISTERS; i++)
        REQ(pcc_wire_get_bin(&items[i], 48, 48, &v->registers[i], &len),
            "body: each register must be 48 bytes of bin");
    REQ(pcc_wire_get_array(pcc_wire_map_get(m, "events"), 0, PCC_ATTEST_MAX_EVENTS, &v->events,
                           &v->n_events),
        "body: events must be an array of at most 256");
    for (size_t i = 0; i < v->n_events; i++) {
        const msgpack_object *e = &v->events[i];
        REQ(pcc_wire_map_keys(e, ev_keys, 3, NULL, 0), "body: an event's keys are not reg/name/sha384");
        REQ(pcc_wire_get_uint(pcc_wire_map_get(e, "reg"), 2, &u), "body: an event's reg must be 0..2");
        REQ(pcc_wire_get_str(pcc_wire_map_get(e, "name"), 1, PCC_ATTEST_MAX_NAME, &s, &len),
            "body: an event's name must be a str of 1..256 bytes");
        REQ(pcc_wire_get_bin(pcc_wire_map_get(e, "sha384"), 48, 48, &b, &len),
            "body: an event's sha384 must be 48 bytes of bin");
    }
    o = pcc_wire_map_get(m, "modes");
    REQ(pcc_wire_map_keys(o, mode_keys, 4, NULL, 0), "body: modes has the wrong keys");
    REQ(pcc_wire_get_bool(pcc_wire_map_get(o, "restricted"), &v->restricted), "body: modes values must be booleans");
    REQ(pcc_wire_get_bool(pcc_wire_map_get(o, "ephemeral_data"), &v->ephemeral_data), "body: modes values must be booleans");
    REQ(pcc_wire_get_bool(pcc_wire_map_get(o, "debug"), &v->debug), "body: modes values must be booleans");
    o = pcc_wire_map_get(o, "sandbox");
    REQ(pcc_wire_map_keys(o, sb_keys, 3, NULL, 0), "body: modes.sandbox has the wrong keys");
    REQ(pcc_wire_get_bool(pcc_wire_map_get(o, "seccomp"), &v->seccomp), "body: sandbox values must be booleans");
    REQ(pcc_wire_get_bool(pcc_wire_map_get(o, "landlock"), &v->landlock), "body: sandbox values must be booleans");
    REQ(pcc_wire_get_bool(pcc_wire_map_get(o, "netns"), &v->netns), "body: sandbox values must be booleans");
    o = pcc_wire_map_get(m, "hpke");
    REQ(pcc_wire_map_keys(o, hpke_keys, 6, NULL, 0), "body: hpke has the wrong keys");
    REQ(pcc_wire_get_uint(pcc_wire_map_get(o, "kem"), 0xffff, &v->kem), "body: hpke ids must be 16-bit unsigned integers");
    REQ(pcc_wire_get_uint(pcc_wire_map_get(o, "kdf"), 0xffff, &v->kdf), "body: hpke ids must be 16-bit unsigned integers");
    REQ(pcc_wire_get_uint(pcc_wire_map_get(o, "aead"), 0xffff, &v->aead), "body: hpke ids must be 16-bit unsigned integers");
    REQ(pcc_wire_get_bin(pcc_wire_map_get(o, "pk"), 32, 32, &v->pk, &len), "body: hpke.pk must be 32 bytes of bin");
    REQ(pcc_wire_get_bin(pcc_wire_map_get(o, "key_id"), 8, 8, &v->key_id, &len), "body: hpke.key_id must be 8 bytes of bin");
    REQ(pcc_wire_get_uint(pcc_wire_map_get(o, "not_after"), INT64_MAX, &v->not_after),
        "body: hpke.not_after must be an unsigned integer");
    REQ(pcc_wire_get_array(pcc_wire_map_get(m, "models"), 0, PCC_ATTEST_MAX_MODELS, &v->models,
                           &v->n_models),
        "body: models must be an array of at most 64");
    for (size_t i = 0; i < v->n_models; i++)
        REQ(pcc_wire_get_str(&v->models[i], 1, PCC_ATTEST_MAX_NAME, &s, &len),
            "body: each model must be a str of 1..256 bytes");
    REQ(pcc_wire_get_bin(pcc_wire_map_get(m, "release"), 1, PCC_ATTEST_MAX_LEAF, &v->release,
                         &v->release_len),
        "body: release must be bin");
    REQ(pcc_wire_get_str(pcc_wire_map_get(m, "tlog_proof"), 1, PCC_ATTEST_MAX_PROOF, &v->proof,
                         &v->proof_len),
        "body: tlog_proof must be a str");
    /* tpm: only its type here; the `tpm` check parses it strictly */
    o = pcc_wire_map_get(m, "tpm");
    if (o != NULL && o->type != MSGPACK_OBJECT_BIN && o->type != MSGPACK_OBJECT_MAP) {
        *why = "body: tpm must be bin or a map";
        return PCC_E_FORMAT;
    }
    v->tpm = o;
#undef REQ
    return PCC_OK;
}

/* ---- release leaf ------------------------------------------------------------------------- */

typedef struct component {
    const char *name;
    size_t name_len;
    unsigned reg;
    const uint8_t *sha384;
} component;

static int plain_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

static int str_is(const msgpack_object *o, const char *want)
{
    size_t n = strlen(want);
    return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, want, n) == 0;
}

/* release_matches decodes the release leaf (as strictly as the log does) and compares its
 * (kind, name, sha384) set with the events'. */
static const char *release_matches(const body_view *v, pcc_status *err)
{
    static const char *const keys[] = {"type", "v", "name", "version", "created", "components"};
    static const char *const ckeys[] = {"name", "kind", "sha384"};
    static const char *const kinds[] = {"code", "model", "config"};
    static const char *const bad = "the release leaf is not a valid release";
    pcc_wire_doc *d = NULL;
    const msgpack_object *m, *items;
    const char *s;
    size_t n = 0, len;
    uint64_t u;
    component *comps = NULL;
    const char *why = bad;
    pcc_status st;

    *err = PCC_OK;
    if ((st = pcc_wire_decode(&d, v->release, v->release_len, &LEAF_LIMITS)) != PCC_OK) {
        if (st == PCC_E_NOMEM)
            *err = st;
        goto out;
    }
    m = pcc_wire_doc_root(d);
    if (pcc_wire_map_keys(m, keys, 6, NULL, 0) != PCC_OK || !str_is(pcc_wire_map_get(m, "type"), "release") ||
        pcc_wire_get_uint(pcc_wire_map_get(m, "v"), 1, &u) != PCC_OK || u != 1 ||
        pcc_wire_get_str(pcc_wire_map_get(m, "name"), 1, 256, &s, &len) != PCC_OK || !plain_text(s, len) ||
        pcc_wire_get_str(pcc_wire_map_get(m, "version"), 1, 256, &s, &len) != PCC_OK || !plain_text(s, len) ||
        pcc_wire_get_uint(pcc_wire_map_get(m, "created"), INT64_MAX, &u) != PCC_OK ||
        pcc_wire_get_array(pcc_wire_map_get(m, "components"), 1, LEAF_MAX_COMPONENTS, &items, &n) != PCC_OK)
        goto out;
    /* components are unique by name, and events are at most 256: more components cannot match */
    if (n > v->n_events) {
        why = "the release lists components the node did not measure";
        goto out;
    }
    if ((comps = calloc(n, sizeof *comps)) == NULL) {
        *err = PCC_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *c = &items[i];
        const msgpack_object *k;
        if (pcc_wire_map_keys(c, ckeys, 3, NULL, 0) != PCC_OK ||
            pcc_wire_get_str(pcc_wire_map_get(c, "name"), 1, 256, &comps[i].name, &comps[i].name_len) != PCC_OK ||
            !plain_text(comps[i].name, comps[i].name_len) ||
            pcc_wire_get_bin(pcc_wire_map_get(c, "sha384"), 48, 48, &comps[i].sha384, &len) != PCC_OK)
            goto out;
        k = pcc_wire_map_get(c, "kind");
        comps[i].reg = PCC_ATTEST_REGISTERS;
        for (unsigned r = 0; r < PCC_ATTEST_REGISTERS; r++)
            if (str_is(k, kinds[r]))
                comps[i].reg = r;
        if (comps[i].reg == PCC_ATTEST_REGISTERS)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (comps[j].name_len == comps[i].name_len &&
                memcmp(comps[j].name, comps[i].name, comps[i].name_len) == 0)
                goto out;
    }
    /* every event is a component, every component an event */
    why = "the measured components differ from the release";
    for (size_t e = 0; e < v->n_events; e++) {
        const msgpack_object *ev = &v->events[e];
        const msgpack_object *nm = pcc_wire_map_get(ev, "name");
        const msgpack_object *dg = pcc_wire_map_get(ev, "sha384");
        uint64_t reg = pcc_wire_map_get(ev, "reg")->via.u64;
        int found = 0;
        for (size_t i = 0; i < n && !found; i++)
            found = comps[i].reg == reg && comps[i].name_len == nm->via.str.size &&
                    memcmp(comps[i].name, nm->via.str.ptr, comps[i].name_len) == 0 &&
                    memcmp(comps[i].sha384, dg->via.bin.ptr, 48) == 0;
        if (!found)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t e = 0; e < v->n_events && !found; e++) {
            const msgpack_object *ev = &v->events[e];
            const msgpack_object *nm = pcc_wire_map_get(ev, "name");
            found = pcc_wire_map_get(ev, "reg")->via.u64 == comps[i].reg &&
                    nm->via.str.size == comps[i].name_len &&
                    memcmp(nm->via.str.ptr, comps[i].name, comps[i].name_len) == 0 &&
                    memcmp(pcc_wire_map_get(ev, "sha384")->via.bin.ptr, comps[i].sha384, 48) == 0;
        }
        if (!found)
            goto out;
    }
    why = NULL;
out:
    free(comps);
    pcc_wire_doc_free(d);
    return why;
}

/* ---- transparency ------------------------------------------------------------------------- */

typedef struct tlog_result {
    uint64_t index;
    size_t n_stamps;
    uint64_t stamps[MAX_WITNESSES]; /* cosignature times of distinct trusted witnesses */
} tlog_result;

/* check_tlog verifies the proof; returns NULL or the public reason. */
static const char *check_tlog(const pcc_attest_trust *t, const body_view *v, tlog_result *res,
                              pcc_status *err)
{
    pcc_note_proof *p = NULL;
    pcc_note *n = NULL;
    pcc_checkpoint cp;
    int key_of[MAX_SIG_LINES];
    uint64_t time_of[MAX_SIG_LINES];
    uint8_t leaf_hash[32];
    const uint8_t *text;
    size_t text_len, n_sigs, name_len;
    const char *why = "the release proof is malformed";
    pcc_status st;
    bool witness_seen[MAX_WITNESSES] = {0};

    *err = PCC_OK;
    memset(res, 0, sizeof *res);
    if ((p = malloc(sizeof *p)) == NULL) {
        *err = PCC_E_NOMEM;
        goto out;
    }
    if (pcc_note_proof_parse(p, v->proof, v->proof_len) != PCC_OK ||
        pcc_note_parse(&n, (const uint8_t *)p->checkpoint, p->checkpoint_len) != PCC_OK)
        goto out;
    n_sigs = pcc_note_sig_count(n);
    why = "the checkpoint is not signed by the pinned log";
    st = pcc_note_verify(n, (const pcc_note_key *const *)t->keys, 1 + t->n_wit, key_of, time_of);
    if (st == PCC_E_NOMEM) {
        *err = st;
        goto out;
    }
    if (st != PCC_OK) {
        /* a bad line costs only its own key: verify key by key */
        for (size_t s = 0; s < n_sigs; s++) {
            key_of[s] = -1;
            time_of[s] = UINT64_MAX;
        }
        for (size_t k = 0; k < 1 + t->n_wit; k++) {
            int ko[MAX_SIG_LINES];
            uint64_t to[MAX_SIG_LINES];
            if (pcc_note_verify(n, (const pcc_note_key *const *)&t->keys[k], 1, ko, to) != PCC_OK)
                continue;
            for (size_t s = 0; s < n_sigs; s++)
                if (ko[s] == 0) {
                    key_of[s] = (int)k;
                    time_of[s] = to[s];
                }
        }
    }
    int log_ok = 0;
    for (size_t s = 0; s < n_sigs; s++) {
        if (key_of[s] == 0)
            log_ok = 1;
        else if (key_of[s] > 0 && time_of[s] != UINT64_MAX && !witness_seen[key_of[s] - 1]) {
            witness_seen[key_of[s] - 1] = true;
            res->stamps[res->n_stamps++] = time_of[s];
        }
    }
    if (!log_ok)
        goto out;
    text = pcc_note_text(n, &text_len);
    why = "the checkpoint is malformed or from another log";
    if (pcc_note_checkpoint_parse(&cp, (const char *)text, text_len) != PCC_OK)
        goto out;
    const char *origin = pcc_note_key_name(t->keys[0], &name_len);
    if (cp.origin_len != name_len || memcmp(cp.origin, origin, name_len) != 0)
        goto out;
    why = "the release is not included in the log per the proof";
    if (pcc_merkle_leaf_hash(leaf_hash, v->release, v->release_len) != PCC_OK ||
        p->index >= cp.size ||
        pcc_merkle_verify_inclusion(leaf_hash, 32, p->index, cp.size, &p->hashes[0][0],
                                    p->n_hashes * 32, cp.root, 32) != PCC_OK)
        goto out;
    why = "too few pinned witnesses cosigned the checkpoint";
    if (res->n_stamps < t->quorum)
        goto out;
    res->index = p->index;
    why = NULL;
out:
    pcc_note_free(n);
    free(p);
    return why;
}

/* ---- the chain, cached ---------------------------------------------------------------------- */

static pcc_status chain_key(uint8_t key[32], const msgpack_object *items, size_t n)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    pcc_status st = PCC_E_CRYPTO;
    if (c == NULL)
        return PCC_E_NOMEM;
    if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
        goto out;
    for (size_t i = 0; i < n; i++) {
        uint8_t len[4];
        uint32_t l = items[i].via.bin.size;
        len[0] = (uint8_t)(l >> 24);
        len[1] = (uint8_t)(l >> 16);
        len[2] = (uint8_t)(l >> 8);
        len[3] = (uint8_t)l;
        if (EVP_DigestUpdate(c, len, 4) != 1 || EVP_DigestUpdate(c, items[i].via.bin.ptr, l) != 1)
            goto out;
    }
    if (EVP_DigestFinal_ex(c, key, NULL) == 1)
        st = PCC_OK;
out:
    EVP_MD_CTX_free(c);
    return st;
}

/* get_chain returns the verified chain (from the cache or fresh); on PCC_E_VERIFY *why is set.
 * On PCC_OK the caller owns out->leaf_key. */
static pcc_status get_chain(pcc_attest_trust *t, const msgpack_object *items, size_t n,
                            pcc_attest_chain_ok *out, const char **why)
{
    uint8_t key[32];
    const uint8_t *certs[PCC_ATTEST_MAX_CHAIN];
    size_t lens[PCC_ATTEST_MAX_CHAIN];
    pcc_status st;
    if ((st = chain_key(key, items, n)) != PCC_OK)
        return st;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        if (t->cache[i].used && memcmp(t->cache[i].key, key, 32) == 0 &&
            EVP_PKEY_up_ref(t->cache[i].ok.leaf_key) == 1) {
            *out = t->cache[i].ok;
            pthread_mutex_unlock(&t->lock);
            return PCC_OK;
        }
    }
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        certs[i] = (const uint8_t *)items[i].via.bin.ptr;
        lens[i] = items[i].via.bin.size;
    }
    /* One store per pinned root: OpenSSL picks an issuer by name (and key identifier when the
     * certificate has one) and does not try a second candidate, so two pinned roots with one
     * name would otherwise hide each other. A chain passes when it verifies under any root;
     * with one root (the usual case) this is a single attempt. */
    const char *first_why = NULL;
    st = PCC_E_VERIFY;
    for (size_t i = 0; i < t->n_stores; i++) {
        st = pcc_attest_chain_verify(t->stores[i], t->roots, certs, lens, n, out, why);
        if (st != PCC_E_VERIFY)
            break;
        if (first_why == NULL)
            first_why = *why;
    }
    if (st == PCC_E_VERIFY)
        *why = first_why ? first_why : "the certificate chain does not verify";
    if (st != PCC_OK)
        return st;
    pthread_mutex_lock(&t->lock);
    cache_slot *slot = &t->cache[t->next];
    t->next = (t->next + 1) % CACHE_SLOTS;
    EVP_PKEY_free(slot->ok.leaf_key);
    slot->used = false;
    if (EVP_PKEY_up_ref(out->leaf_key) == 1) {
        memcpy(slot->key, key, 32);
        slot->ok = *out;
        slot->used = true;
    } else {
        memset(&slot->ok, 0, sizeof slot->ok);
    }
    pthread_mutex_unlock(&t->lock);
    return PCC_OK;
}

/* ---- the tpm check ----------------------------------------------------------------------- */

/* body_without_tpm appends the canonical encoding (sorted keys, shortest forms) of the decoded
 * body m less its tpm key: what the quote's qualifying data hashes. */
static pcc_status body_without_tpm(pcc_writer *w, const msgpack_object *m)
{
    const msgpack_object_kv *kv = m->via.map.ptr;
    uint32_t n = m->via.map.size, order[32], k = 0;
    pcc_status st;
    if (n > 32)
        return PCC_E_FORMAT;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *key = &kv[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            return PCC_E_FORMAT;
        if (key->via.str.size == 3 && memcmp(key->via.str.ptr, "tpm", 3) == 0)
            continue;
        /* insertion sort by key bytes, shorter first on a common prefix */
        uint32_t j = k++;
        while (j > 0) {
            const msgpack_object *o = &kv[order[j - 1]].key;
            size_t l = o->via.str.size < key->via.str.size ? o->via.str.size : key->via.str.size;
            int c = memcmp(o->via.str.ptr, key->via.str.ptr, l);
            if (c < 0 || (c == 0 && o->via.str.size <= key->via.str.size))
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    if ((st = pcc_wire_put_map(w, k)) != PCC_OK)
        return st;
    for (uint32_t i = 0; i < k; i++)
        if ((st = pcc_wire_put_object(w, &kv[order[i]].key, true)) != PCC_OK ||
            (st = pcc_wire_put_object(w, &kv[order[i]].val, true)) != PCC_OK)
            return st;
    return PCC_OK;
}

/* check_tpm runs the `tpm` check on a body whose signature verified; NULL when it passes, else
 * the public reason. *err is set when the check could not run (out of memory). */
static const char *check_tpm(const pcc_attest_trust *t, const msgpack_object *body,
                             const body_view *v, const uint8_t *leaf, size_t leaf_len,
                             pcc_status *err)
{
    static const char *const keys[] = {"v", "pcrs", "attest", "sig"};
    uint8_t spki[PCC_TPM_SPKI_MAX], pcrs[3];
    size_t spki_len = 0, attest_len = 0, sig_len = 0, n = 0;
    const uint8_t *attest = NULL, *sig = NULL;
    const msgpack_object *items = NULL;
    pcc_tpm_event *events = NULL;
    pcc_writer w;
    uint64_t u;
    pcc_status e;
    const char *why;
    *err = PCC_OK;
    e = pcc_tpm_ak_cert_key(spki, &spki_len, sizeof spki, leaf, leaf_len);
    if (e == PCC_E_NOMEM) {
        *err = e;
        return "out of memory";
    }
    if (v->tpm == NULL) {
        if (t->relax & PCC_ATTEST_REQUIRE_TPM)
            return "a TPM quote is required";
        if (e != PCC_E_VERIFY)
            return "the node key is a TPM attestation key but the body carries no TPM quote";
        return NULL;
    }
    if (pcc_wire_map_keys(v->tpm, keys, 4, NULL, 0) != PCC_OK ||
        pcc_wire_get_uint(pcc_wire_map_get(v->tpm, "v"), 1, &u) != PCC_OK || u != 1)
        return "tpm: not exactly {v: 1, pcrs, attest, sig}";
    if (pcc_wire_get_array(pcc_wire_map_get(v->tpm, "pcrs"), 3, 3, &items, &n) != PCC_OK)
        return "tpm: pcrs must be 3 distinct PCR indices below 16";
    for (size_t i = 0; i < 3; i++) {
        if (pcc_wire_get_uint(&items[i], PCC_TPM_PCR_MAX - 1, &u) != PCC_OK)
            return "tpm: pcrs must be 3 distinct PCR indices below 16";
        pcrs[i] = (uint8_t)u;
    }
    if (pcrs[0] == pcrs[1] || pcrs[0] == pcrs[2] || pcrs[1] == pcrs[2])
        return "tpm: pcrs must be 3 distinct PCR indices below 16";
    if (pcc_wire_get_bin(pcc_wire_map_get(v->tpm, "attest"), 1, PCC_TPM_ATTEST_MAX, &attest,
                         &attest_len) != PCC_OK ||
        pcc_wire_get_bin(pcc_wire_map_get(v->tpm, "sig"), 1, PCC_TPM_SIG_MAX, &sig,
                         &sig_len) != PCC_OK)
        return "tpm: attest and sig must be bin of at most 1024 and 256 bytes";
    if (e != PCC_OK)
        return "the node certificate is not issued to a TPM attestation key";
    if (v->n_events > 0 &&
        (events = OPENSSL_malloc(v->n_events * sizeof *events)) == NULL) {
        *err = PCC_E_NOMEM;
        return "out of memory";
    }
    for (size_t i = 0; i < v->n_events; i++) {
        const msgpack_object *ev = &v->events[i];
        const msgpack_object *nm = pcc_wire_map_get(ev, "name");
        events[i].reg = (unsigned)pcc_wire_map_get(ev, "reg")->via.u64;
        events[i].name = (const uint8_t *)nm->via.str.ptr;
        events[i].name_len = nm->via.str.size;
        events[i].digest = (const uint8_t *)pcc_wire_map_get(ev, "sha384")->via.bin.ptr;
    }
    pcc_writer_init_dynamic(&w, false, PCC_ATTEST_MAX_BUNDLE);
    why = "the TPM quote does not verify for this body, these events and the node key";
    e = body_without_tpm(&w, body);
    if (e == PCC_E_NOMEM)
        *err = e;
    if (e == PCC_OK &&
        pcc_tpm_bundle_quote_verify(NULL, attest, attest_len, sig, sig_len, leaf, leaf_len, w.data,
                                    w.len, pcrs, events, v->n_events) == PCC_OK)
        why = NULL;
    pcc_writer_cleanup(&w);
    OPENSSL_free(events);
    return why;
}

/* ---- verify --------------------------------------------------------------------------------- */

static void passed(pcc_attest_report *r, pcc_attest_check c, const char *detail)
{
    r->ok[c] = true;
    r->detail[c] = detail;
    r->n_checks = (size_t)c + 1;
}

static void failed(pcc_attest_report *r, pcc_attest_check c, const char *detail)
{
    r->ok[c] = false;
    r->detail[c] = detail;
    r->n_checks = (size_t)c + 1;
    r->passed = false;
}

pcc_status pcc_attest_verify(pcc_attest_trust *t, const uint8_t *bundle, size_t len,
                             const char *model, size_t model_len, uint64_t now,
                             pcc_attest_report *rep)
{
    pcc_wire_doc *outer = NULL, *body_doc = NULL;
    const msgpack_object *m, *chain_items = NULL;
    const uint8_t *body = NULL, *sig = NULL;
    size_t body_len = 0, sig_len = 0, n_chain = 0;
    pcc_attest_chain_ok chain = {0};
    body_view v;
    tlog_result tl;
    const char *why = NULL;
    pcc_status st = PCC_OK, e;
    static const char *const outer_keys[] = {"body", "sig", "chain"};

    if (t == NULL || rep == NULL || (bundle == NULL && len > 0) || (model == NULL && model_len > 0))
        return PCC_E_INVALID;
    memset(rep, 0, sizeof *rep);
    memset(&v, 0, sizeof v);
    rep->passed = false;
    if (now > INT64_MAX)
        return PCC_E_INVALID;

    /* format: the outer map */
    if (len > PCC_ATTEST_MAX_BUNDLE) {
        failed(rep, PCC_CHECK_FORMAT, "the bundle is larger than 256 KiB");
        goto done;
    }
    e = pcc_wire_decode(&outer, bundle, len, &OUTER_LIMITS);
    if (e == PCC_E_NOMEM) {
        st = e;
        goto done;
    }
    m = pcc_wire_doc_root(outer);
    if (e != PCC_OK) {
        failed(rep, PCC_CHECK_FORMAT, "the bundle is not one strict msgpack map");
        goto done;
    }
    if (pcc_wire_map_keys(m, outer_keys, 3, NULL, 0) != PCC_OK) {
        failed(rep, PCC_CHECK_FORMAT, "the bundle's keys are not exactly body, sig, chain");
        goto done;
    }
    if (pcc_wire_get_bin(pcc_wire_map_get(m, "body"), 1, PCC_ATTEST_MAX_BUNDLE, &body, &body_len) != PCC_OK ||
        pcc_wire_get_bin(pcc_wire_map_get(m, "sig"), 8, PCC_ATTEST_MAX_SIG, &sig, &sig_len) != PCC_OK ||
        pcc_wire_get_array(pcc_wire_map_get(m, "chain"), 1, PCC_ATTEST_MAX_CHAIN, &chain_items, &n_chain) != PCC_OK) {
        failed(rep, PCC_CHECK_FORMAT, "body, sig or chain has the wrong type or size");
        goto done;
    }
    for (size_t i = 0; i < n_chain; i++) {
        if (chain_items[i].type != MSGPACK_OBJECT_BIN || chain_items[i].via.bin.size == 0 ||
            chain_items[i].via.bin.size > PCC_ATTEST_MAX_CERT) {
            failed(rep, PCC_CHECK_FORMAT, "chain entries must be certificates of 1..8192 bytes of bin");
            goto done;
        }
    }
    passed(rep, PCC_CHECK_FORMAT, "the bundle is a strict msgpack map of body, sig and chain");

    /* chain */
    e = get_chain(t, chain_items, n_chain, &chain, &why);
    if (e == PCC_E_VERIFY) {
        failed(rep, PCC_CHECK_CHAIN, why);
        goto done;
    }
    if (e != PCC_OK) {
        st = e;
        goto done;
    }
    if ((int64_t)now < chain.not_before) {
        failed(rep, PCC_CHECK_CHAIN, "a certificate in the chain is not yet valid");
        goto done;
    }
    if ((int64_t)now > chain.not_after) {
        failed(rep, PCC_CHECK_CHAIN, "a certificate in the chain has expired");
        goto done;
    }
    passed(rep, PCC_CHECK_CHAIN, "the node certificate chains to a pinned provisioning root");

    /* signature */
    e = pcc_attest_pkey_verify(chain.leaf_key, body, body_len, sig, sig_len);
    if (e == PCC_E_NOMEM) {
        st = e;
        goto done;
    }
    if (e != PCC_OK) {
        failed(rep, PCC_CHECK_SIGNATURE, "the signature over body does not verify with the node key");
        goto done;
    }
    passed(rep, PCC_CHECK_SIGNATURE, "body is signed by the certified node key");
    /* not listed unless it applies (see check_tpm) */
    passed(rep, PCC_CHECK_TPM, "the bundle carries no TPM quote and needs none");

    /* the signed body, strictly decoded (a failure is a format failure) */
    e = pcc_wire_decode(&body_doc, body, body_len, &BODY_LIMITS);
    if (e == PCC_E_NOMEM) {
        st = e;
        goto done;
    }
    why = "body: not one strict msgpack map (types, sizes, duplicate keys, trailing bytes)";
    if (e != PCC_OK || parse_body(pcc_wire_doc_root(body_doc), &v, &why) != PCC_OK) {
        memset(rep, 0, sizeof *rep);
        failed(rep, PCC_CHECK_FORMAT, why);
        goto done;
    }
    rep->body_decoded = true;
    memcpy(rep->node_id, v.node_id, 32);
    memcpy(rep->hpke_pk, v.pk, 32);
    memcpy(rep->key_id, v.key_id, 8);
    rep->kem = (uint16_t)v.kem;
    rep->kdf = (uint16_t)v.kdf;
    rep->aead = (uint16_t)v.aead;
    rep->not_after = v.not_after;
    rep->issued = v.issued;
    rep->backend_tpm = v.tpm != NULL;

    /* tpm */
    why = check_tpm(t, pcc_wire_doc_root(body_doc), &v,
                    (const uint8_t *)chain_items[0].via.bin.ptr, chain_items[0].via.bin.size, &e);
    if (e != PCC_OK) {
        st = e;
        goto done;
    }
    rep->tpm_listed = v.tpm != NULL || why != NULL;
    if (why != NULL) {
        failed(rep, PCC_CHECK_TPM, why);
        goto done;
    }
    if (v.tpm != NULL)
        passed(rep, PCC_CHECK_TPM, "a TPM attestation key quoted the registers' PCRs for this body");

    /* node_id */
    if (memcmp(v.node_id, chain.leaf_spki_sha256, 32) != 0) {
        failed(rep, PCC_CHECK_NODE_ID, "node_id is not the SHA-256 of the node key");
        goto done;
    }
    passed(rep, PCC_CHECK_NODE_ID, "node_id is the SHA-256 of the certified key");

    /* registers: replay the events */
    {
        uint8_t regs[PCC_ATTEST_REGISTERS][PCC_ATTEST_DIGEST];
        memset(regs, 0, sizeof regs);
        for (size_t i = 0; i < v.n_events; i++) {
            const msgpack_object *ev = &v.events[i];
            const msgpack_object *nm = pcc_wire_map_get(ev, "name");
            uint64_t reg = pcc_wire_map_get(ev, "reg")->via.u64;
            if ((e = pcc_attest_register_extend(regs[reg], nm->via.str.ptr, nm->via.str.size,
                                                (const uint8_t *)pcc_wire_map_get(ev, "sha384")->via.bin.ptr)) != PCC_OK) {
                st = e;
                goto done;
            }
        }
        for (size_t i = 0; i < PCC_ATTEST_REGISTERS; i++) {
            if (memcmp(regs[i], v.registers[i], PCC_ATTEST_DIGEST) != 0) {
                failed(rep, PCC_CHECK_REGISTERS, "replaying the events does not give the registers");
                goto done;
            }
        }
    }
    passed(rep, PCC_CHECK_REGISTERS, "replaying the events gives the registers");

    /* release */
    why = release_matches(&v, &e);
    if (e != PCC_OK) {
        st = e;
        goto done;
    }
    if (why != NULL) {
        failed(rep, PCC_CHECK_RELEASE, why);
        goto done;
    }
    passed(rep, PCC_CHECK_RELEASE, "the measured components are exactly the release's");

    /* transparency */
    why = check_tlog(t, &v, &tl, &e);
    if (e != PCC_OK) {
        st = e;
        goto done;
    }
    if (why != NULL) {
        failed(rep, PCC_CHECK_TRANSPARENCY, why);
        goto done;
    }
    rep->log_index = tl.index;
    passed(rep, PCC_CHECK_TRANSPARENCY, "the release is in the log under a witnessed checkpoint");

    /* freshness */
    {
        size_t fresh = 0;
        for (size_t i = 0; i < tl.n_stamps; i++) {
            if (tl.stamps[i] > now + PCC_ATTEST_CLOCK_SKEW) {
                failed(rep, PCC_CHECK_FRESHNESS, "a cosignature is dated more than 300 s ahead");
                goto done;
            }
            if (now < t->max_age || tl.stamps[i] >= now - t->max_age)
                fresh++;
        }
        if (fresh < t->quorum) {
            failed(rep, PCC_CHECK_FRESHNESS, "too few cosignatures are recent enough");
            goto done;
        }
        if (v.issued > now + PCC_ATTEST_CLOCK_SKEW) {
            failed(rep, PCC_CHECK_FRESHNESS, "the bundle is issued more than 300 s ahead");
            goto done;
        }
        if (now > PCC_ATTEST_MAX_ISSUED_AGE && v.issued < now - PCC_ATTEST_MAX_ISSUED_AGE) {
            failed(rep, PCC_CHECK_FRESHNESS, "the bundle was issued more than 48 h ago");
            goto done;
        }
    }
    passed(rep, PCC_CHECK_FRESHNESS, "the checkpoint and the bundle are recent");

    /* modes */
    if (!v.restricted || !v.ephemeral_data || v.debug) {
        failed(rep, PCC_CHECK_MODES, "the node is not restricted, not ephemeral, or in debug mode");
        goto done;
    }
    if ((!v.seccomp && !(t->relax & PCC_ATTEST_RELAX_SECCOMP)) ||
        (!v.landlock && !(t->relax & PCC_ATTEST_RELAX_LANDLOCK)) ||
        (!v.netns && !(t->relax & PCC_ATTEST_RELAX_NETNS))) {
        failed(rep, PCC_CHECK_MODES, "a sandbox layer is off");
        goto done;
    }
    passed(rep, PCC_CHECK_MODES,
           v.seccomp && v.landlock && v.netns ? "restricted, ephemeral, no debug, full sandbox"
                                              : "restricted, ephemeral, no debug, sandbox as relaxed");

    /* key */
    if (v.kem != 0x0020 || v.kdf != 0x0001 || v.aead < 0x0001 || v.aead > 0x0003) {
        failed(rep, PCC_CHECK_KEY, "the HPKE suite is not one clients accept");
        goto done;
    }
    if (v.not_after <= now) {
        failed(rep, PCC_CHECK_KEY, "the HPKE key has expired");
        goto done;
    }
    if (v.not_after > v.issued + PCC_ATTEST_MAX_KEY_LIFETIME) {
        failed(rep, PCC_CHECK_KEY, "the HPKE key lives more than 48 h past issued");
        goto done;
    }
    passed(rep, PCC_CHECK_KEY, "an accepted HPKE suite and a current key");

    /* model */
    if (model != NULL) {
        int found = 0;
        for (size_t i = 0; i < v.n_models && !found; i++)
            found = v.models[i].via.str.size == model_len &&
                    memcmp(v.models[i].via.str.ptr, model, model_len) == 0;
        if (!found) {
            failed(rep, PCC_CHECK_MODEL, "the node does not serve the requested model");
            goto done;
        }
        passed(rep, PCC_CHECK_MODEL, "the node serves the requested model");
    } else {
        passed(rep, PCC_CHECK_MODEL, "no model was requested");
    }
    rep->passed = true;
done:
    EVP_PKEY_free(chain.leaf_key);
    pcc_wire_doc_free(body_doc);
    pcc_wire_doc_free(outer);
    ERR_clear_error();
    if (st != PCC_OK)
        memset(rep, 0, sizeof *rep);
    return st;
}
