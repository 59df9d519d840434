/* note.c: C2SP signed notes, checkpoints, cosignature/v1 and tlog-proof (see pcc/note.h). */
#include "pcc/note.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ecx_secure.h"
#include "pcc/secure.h"

#define ED_LEN 32        /* Ed25519 public key and seed */
#define ED_SIG 64        /* Ed25519 signature */
#define TS_LEN 8         /* cosignature timestamp */
#define ID_LEN 4         /* key ID */
#define MAX_KEY_B64 8192 /* longest base64 key material accepted in a vkey or skey */

static const char SIG_PREFIX[] = "\xe2\x80\x94 "; /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN 4
static const char COSIG_HEADER[] = "cosignature/v1\ntime ";

/* ---- base64 (RFC 4648 §4, canonical only) ----------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

pcc_status pcc_note_b64_encode(char *out, size_t *out_len, size_t max, const uint8_t *in,
                               size_t len)
{
    size_t need, o = 0;
    if (out_len == NULL || (in == NULL && len > 0) || (out == NULL && max > 0))
        return PCC_E_INVALID;
    if (len > (SIZE_MAX / 4) * 3 - 2)
        return PCC_E_LIMIT;
    need = (len + 2) / 3 * 4;
    if (need > max)
        return PCC_E_LIMIT;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t rem = len - i;
        if (rem > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (rem > 2)
            v |= in[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = rem > 1 ? B64[(v >> 6) & 63] : '=';
        out[o++] = rem > 2 ? B64[v & 63] : '=';
    }
    *out_len = o;
    return PCC_OK;
}

/* b64_decode decodes canonical base64; out NULL only validates. Sets *out_len. */
static pcc_status b64_decode(uint8_t *out, size_t *out_len, size_t max, const char *in,
                             size_t len)
{
    size_t pad = 0, n, o = 0;
    if (len % 4 != 0)
        return PCC_E_FORMAT;
    if (len == 0) {
        *out_len = 0;
        return PCC_OK;
    }
    if (in[len - 1] == '=')
        pad++;
    if (in[len - 2] == '=')
        pad++;
    if (pad == 1 && in[len - 2] == '=')
        return PCC_E_FORMAT;
    n = len / 4 * 3 - pad;
    if (out != NULL && n > max)
        return PCC_E_FORMAT;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int last = i + 4 == len;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)in[i + (size_t)j];
            if (c == '=' && last && (size_t)j >= 4 - pad)
                v[j] = 0;
            else if ((v[j] = b64_val(c)) < 0)
                return PCC_E_FORMAT;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        if (last && pad == 2 && (w & 0xffff) != 0) /* pad bits must be zero */
            return PCC_E_FORMAT;
        if (last && pad == 1 && (w & 0xff) != 0)
            return PCC_E_FORMAT;
        size_t take = last ? 3 - pad : 3;
        if (out != NULL) {
            uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
            memcpy(out + o, b, take);
        }
        o += take;
    }
    *out_len = o;
    return PCC_OK;
}

pcc_status pcc_note_b64_decode(uint8_t *out, size_t *out_len, size_t max, const char *in,
                               size_t len)
{
    if (out_len == NULL || (in == NULL && len > 0))
        return PCC_E_INVALID;
    return b64_decode(out, out_len, max, in, len);
}

/* ---- UTF-8, names, text ------------------------------------------------------------------ */

/* utf8_next decodes the code point at s[0..len) strictly (no overlongs, surrogates or values
 * above U+10FFFF); returns its length, or 0 if invalid. */
static size_t utf8_next(const uint8_t *s, size_t len, uint32_t *cp)
{
    uint32_t c = s[0], min;
    size_t n;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xe0) == 0xc0) {
        n = 2, c &= 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, c &= 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* is_space is Go's unicode.IsSpace. */
static int is_space(uint32_t c)
{
    switch (c) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xa0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
        return 1;
    default:
        return c >= 0x2000 && c <= 0x200a;
    }
}

int pcc_note_valid_name(const char *name, size_t len)
{
    const uint8_t *s = (const uint8_t *)name;
    if (name == NULL || len == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t n = utf8_next(s + i, len - i, &c);
        if (n == 0 || c == '+' || c < 0x20 || is_space(c))
            return 0;
        i += n;
    }
    return 1;
}

/* check_chars: valid UTF-8 with no control character but '\n'. */
static pcc_status check_chars(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t n;
        if (s[i] >= 0x20 && s[i] < 0x80) { /* fast path: printable ASCII */
            i++;
            continue;
        }
        n = utf8_next(s + i, len - i, &c);
        if (n == 0 || (c < 0x20 && c != '\n'))
            return PCC_E_FORMAT;
        i += n;
    }
    return PCC_OK;
}

pcc_status pcc_note_check_text(const uint8_t *text, size_t len)
{
    if (text == NULL || len == 0)
        return PCC_E_FORMAT;
    if (len > PCC_NOTE_MAX_LEN)
        return PCC_E_LIMIT;
    if (text[len - 1] != '\n')
        return PCC_E_FORMAT;
    return check_chars(text, len);
}

/* parse_dec parses a decimal uint64 with no sign and no leading zeros (but "0"). */
static pcc_status parse_dec(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return PCC_E_FORMAT;
    for (size_t i = 0; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return PCC_E_FORMAT;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return PCC_E_FORMAT;
        v = v * 10 + d;
    }
    *out = v;
    return PCC_OK;
}

static pcc_status parse_hex32(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    if (n != 8)
        return PCC_E_FORMAT;
    for (size_t i = 0; i < 8; i++) {
        char c = s[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            return PCC_E_FORMAT;
        v = v << 4 | d;
    }
    *out = v;
    return PCC_OK;
}

static pcc_status w_str(pcc_writer *w, const char *s) { return pcc_writer_bytes(w, s, strlen(s)); }

static pcc_status w_dec(pcc_writer *w, uint64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRIu64, v);
    return pcc_writer_bytes(w, buf, (size_t)n);
}

static pcc_status w_b64(pcc_writer *w, const uint8_t *in, size_t len)
{
    size_t need = (len + 2) / 3 * 4, got = 0;
    pcc_status st = pcc_writer_reserve(w, need);
    if (st != PCC_OK)
        return st;
    st = pcc_note_b64_encode((char *)w->data + w->len, &got, need, in, len);
    if (st == PCC_OK)
        w->len += got;
    return st;
}

/* ---- keys -------------------------------------------------------------------------------- */

struct pcc_note_key {
    uint8_t alg;
    uint32_t id;
    char *name;
    size_t name_len;
    uint8_t pub[ED_LEN];
    uint8_t *seed;  /* secure memory; NULL for a verifier */
    EVP_PKEY *pkey; /* private for a signer, public for a verifier */
};

/* key_id: SHA-256(name || "\n" || key)[:4] big-endian, where key = type byte || material. */
static pcc_status key_id(uint32_t *id, const char *name, size_t name_len, const uint8_t *key,
                         size_t key_len)
{
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    pcc_status st = PCC_E_CRYPTO;
    if (ctx == NULL)
        return PCC_E_NOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, name, name_len) == 1 && EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
        EVP_DigestUpdate(ctx, key, key_len) == 1 && EVP_DigestFinal_ex(ctx, d, &n) == 1 &&
        n == 32) {
        *id = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
        st = PCC_OK;
    }
    EVP_MD_CTX_free(ctx);
    return st;
}

static pcc_status key_id_ed(uint32_t *id, const char *name, size_t name_len, uint8_t alg,
                            const uint8_t pub[ED_LEN])
{
    uint8_t k[1 + ED_LEN];
    k[0] = alg;
    memcpy(k + 1, pub, ED_LEN);
    return key_id(id, name, name_len, k, sizeof k);
}

void pcc_note_key_free(pcc_note_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    pcc_secure_free(k->seed);
    free(k->name);
    pcc_wipe(k, sizeof *k);
    free(k);
}

/* key_make builds a key of type alg from a seed (signer) or a public key (verifier). */
static pcc_status key_make(pcc_note_key **out, const char *name, size_t name_len, uint8_t alg,
                           const uint8_t *seed, const uint8_t *pub)
{
    pcc_note_key *k;
    pcc_status st;
    size_t pl = ED_LEN;
    *out = NULL;
    if (!pcc_note_valid_name(name, name_len))
        return PCC_E_FORMAT;
    if (alg != PCC_NOTE_ALG_ED25519 && alg != PCC_NOTE_ALG_COSIG_V1)
        return PCC_E_UNSUPPORTED;
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return PCC_E_NOMEM;
    k->alg = alg;
    k->name = malloc(name_len);
    if (k->name == NULL) {
        st = PCC_E_NOMEM;
        goto fail;
    }
    memcpy(k->name, name, name_len);
    k->name_len = name_len;
    if (seed != NULL) {
        k->seed = pcc_secure_alloc(ED_LEN);
        if (k->seed == NULL) {
            st = PCC_E_NOMEM;
            goto fail;
        }
        memcpy(k->seed, seed, ED_LEN);
        /* OpenSSL's copy of the seed goes to its secure heap (ecx_secure.c). */
        if ((st = pcc_ecx_private_new(&k->pkey, "ED25519", k->seed)) != PCC_OK)
            goto fail;
        if (EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &pl) != 1 || pl != ED_LEN) {
            st = PCC_E_CRYPTO;
            goto fail;
        }
    } else {
        memcpy(k->pub, pub, ED_LEN);
        k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->pub, ED_LEN);
        if (k->pkey == NULL) {
            st = PCC_E_FORMAT;
            goto fail;
        }
    }
    if ((st = key_id_ed(&k->id, name, name_len, alg, k->pub)) != PCC_OK)
        goto fail;
    *out = k;
    return PCC_OK;
fail:
    pcc_note_key_free(k);
    ERR_clear_error();
    return st;
}

pcc_status pcc_note_key_generate(pcc_note_key **out, const char *name, size_t name_len,
                                 uint8_t alg)
{
    uint8_t seed[ED_LEN];
    pcc_status st;
    if (out == NULL || name == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (!pcc_note_valid_name(name, name_len))
        return PCC_E_INVALID;
    if (RAND_priv_bytes(seed, sizeof seed) != 1)
        return PCC_E_CRYPTO;
    st = key_make(out, name, name_len, alg, seed, NULL);
    pcc_wipe(seed, sizeof seed);
    return st;
}

/* chop splits s at the first '+': *head = s[0..i), rest after it. Returns 0 if there is none. */
static int chop(const char **s, size_t *len, const char **head, size_t *head_len)
{
    const char *p = memchr(*s, '+', *len);
    if (p == NULL)
        return 0;
    *head = *s;
    *head_len = (size_t)(p - *s);
    *len -= *head_len + 1;
    *s = p + 1;
    return 1;
}

pcc_status pcc_note_key_from_skey(pcc_note_key **out, const char *skey, size_t len, uint8_t alg)
{
    const char *s = skey, *p1, *p2, *name, *hex;
    size_t l = len, p1l, p2l, name_len, hexl, kl = 0;
    uint8_t key[1 + ED_LEN + 16];
    uint32_t id, want;
    pcc_note_key *k = NULL;
    pcc_status st;

    if (out == NULL || skey == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    if (alg != PCC_NOTE_ALG_ED25519 && alg != PCC_NOTE_ALG_COSIG_V1)
        return PCC_E_UNSUPPORTED;
    /* PRIVATE+KEY+<name>+<hex8 id>+<base64(type || seed)> */
    if (!chop(&s, &l, &p1, &p1l) || !chop(&s, &l, &p2, &p2l) || !chop(&s, &l, &name, &name_len) ||
        !chop(&s, &l, &hex, &hexl) || p1l != 7 || memcmp(p1, "PRIVATE", 7) != 0 || p2l != 3 ||
        memcmp(p2, "KEY", 3) != 0 || !pcc_note_valid_name(name, name_len) ||
        parse_hex32(hex, hexl, &want) != PCC_OK || l > 4 * (sizeof key / 3 + 1))
        return PCC_E_FORMAT;
    st = b64_decode(key, &kl, sizeof key, s, l);
    if (st != PCC_OK || kl == 0) {
        st = PCC_E_FORMAT;
        goto out;
    }
    if (!(key[0] == PCC_NOTE_ALG_ED25519 ||
          (alg == PCC_NOTE_ALG_COSIG_V1 && key[0] == PCC_NOTE_ALG_COSIG_V1))) {
        st = PCC_E_UNSUPPORTED;
        goto out;
    }
    if (kl != 1 + ED_LEN) {
        st = PCC_E_FORMAT;
        goto out;
    }
    if ((st = key_make(&k, name, name_len, alg, key + 1, NULL)) != PCC_OK)
        goto out;
    /* The ID in the text is the key's ID under the skey's own type byte. */
    if ((st = key_id_ed(&id, name, name_len, key[0], k->pub)) != PCC_OK)
        goto out;
    if (id != want) {
        st = PCC_E_FORMAT;
        goto out;
    }
    *out = k;
    k = NULL;
out:
    pcc_note_key_free(k);
    pcc_wipe(key, sizeof key);
    return st;
}

pcc_status pcc_note_key_from_vkey(pcc_note_key **out, const char *vkey, size_t len)
{
    const char *s = vkey, *name, *hex;
    size_t l = len, name_len, hexl, kl = 0;
    uint8_t *key = NULL;
    uint32_t id, want;
    pcc_status st;

    if (out == NULL || vkey == NULL)
        return PCC_E_INVALID;
    *out = NULL;
    /* <name>+<hex8 id>+<base64(type || public key)>; the base64 may itself contain '+'. */
    if (!chop(&s, &l, &name, &name_len) || !chop(&s, &l, &hex, &hexl) ||
        !pcc_note_valid_name(name, name_len) || parse_hex32(hex, hexl, &want) != PCC_OK ||
        l == 0 || l > MAX_KEY_B64)
        return PCC_E_FORMAT;
    key = malloc(l);
    if (key == NULL)
        return PCC_E_NOMEM;
    if (b64_decode(key, &kl, l, s, l) != PCC_OK || kl == 0) {
        st = PCC_E_FORMAT;
        goto out;
    }
    /* As Go's note.NewVerifier: the ID, then the type, then the key length. */
    if ((st = key_id(&id, name, name_len, key, kl)) != PCC_OK)
        goto out;
    if (id != want) {
        st = PCC_E_FORMAT;
        goto out;
    }
    if (key[0] != PCC_NOTE_ALG_ED25519 && key[0] != PCC_NOTE_ALG_COSIG_V1) {
        st = PCC_E_UNSUPPORTED;
        goto out;
    }
    if (kl != 1 + ED_LEN) {
        st = PCC_E_FORMAT;
        goto out;
    }
    st = key_make(out, name, name_len, key[0], NULL, key + 1);
out:
    free(key);
    return st;
}

const char *pcc_note_key_name(const pcc_note_key *k, size_t *len)
{
    *len = k->name_len;
    return k->name;
}

uint32_t pcc_note_key_id(const pcc_note_key *k) { return k->id; }
uint8_t pcc_note_key_alg(const pcc_note_key *k) { return k->alg; }
int pcc_note_key_is_signer(const pcc_note_key *k) { return k->seed != NULL; }
void pcc_note_key_public(const pcc_note_key *k, uint8_t out[32]) { memcpy(out, k->pub, ED_LEN); }

/* key_text writes [PRIVATE+KEY+]name+hex8(id)+base64(type || material). */
static pcc_status key_text(const pcc_note_key *k, int private_, char *out, size_t *out_len,
                           size_t max)
{
    uint8_t raw[1 + ED_LEN];
    char hex[9];
    size_t need, b64len = 0, o = 0;
    pcc_status st;
    if (out == NULL || out_len == NULL)
        return PCC_E_INVALID;
    need = (private_ ? 12 : 0) + k->name_len + 1 + 8 + 1 + 44;
    if (need > max)
        return PCC_E_LIMIT;
    raw[0] = k->alg;
    memcpy(raw + 1, private_ ? k->seed : k->pub, ED_LEN);
    snprintf(hex, sizeof hex, "%08" PRIx32, k->id);
    if (private_) {
        memcpy(out, "PRIVATE+KEY+", 12);
        o = 12;
    }
    memcpy(out + o, k->name, k->name_len);
    o += k->name_len;
    out[o++] = '+';
    memcpy(out + o, hex, 8);
    o += 8;
    out[o++] = '+';
    st = pcc_note_b64_encode(out + o, &b64len, max - o, raw, sizeof raw);
    pcc_wipe(raw, sizeof raw);
    if (st != PCC_OK)
        return st;
    *out_len = o + b64len;
    return PCC_OK;
}

pcc_status pcc_note_key_vkey(const pcc_note_key *k, char *out, size_t *out_len, size_t max)
{
    if (k == NULL)
        return PCC_E_INVALID;
    return key_text(k, 0, out, out_len, max);
}

pcc_status pcc_note_key_skey(const pcc_note_key *k, char *out, size_t *out_len, size_t max)
{
    if (k == NULL)
        return PCC_E_INVALID;
    if (k->seed == NULL)
        return PCC_E_STATE;
    return key_text(k, 1, out, out_len, max);
}

/* ---- Ed25519 ----------------------------------------------------------------------------- */

/* ed_sign is the one Ed25519 signing path: note signatures, cosignatures and raw signatures. */
static pcc_status ed_sign(EVP_PKEY *pkey, const uint8_t *msg, size_t len, uint8_t sig[ED_SIG])
{
    size_t sl = ED_SIG;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    pcc_status st = PCC_OK;
    if (ctx == NULL)
        return PCC_E_NOMEM;
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &sl, msg, len) != 1 || sl != ED_SIG)
        st = PCC_E_CRYPTO;
    EVP_MD_CTX_free(ctx);
    return st;
}

/* ed_verify is the one Ed25519 verification path (notes, cosignatures, raw); it returns PCC_OK,
 * PCC_E_VERIFY for a bad signature (clearing the OpenSSL error queue), or PCC_E_NOMEM. */
static pcc_status ed_verify(EVP_PKEY *pkey, const uint8_t *msg, size_t len, const uint8_t *sig,
                            size_t sig_len)
{
    EVP_MD_CTX *ctx;
    pcc_status st = PCC_E_VERIFY;
    if (sig_len != ED_SIG)
        return PCC_E_VERIFY;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return PCC_E_NOMEM;
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
        EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1)
        st = PCC_OK;
    EVP_MD_CTX_free(ctx);
    if (st != PCC_OK)
        ERR_clear_error();
    return st;
}

pcc_status pcc_note_key_sign_raw(const pcc_note_key *k, const uint8_t *msg, size_t len,
                                 uint8_t sig[ED_SIG])
{
    if (k == NULL || sig == NULL || (msg == NULL && len > 0))
        return PCC_E_INVALID;
    if (k->seed == NULL)
        return PCC_E_STATE;
    return ed_sign(k->pkey, msg != NULL ? msg : (const uint8_t *)"", len, sig);
}

pcc_status pcc_note_key_verify_raw(const pcc_note_key *k, const uint8_t *msg, size_t len,
                                   const uint8_t sig[ED_SIG])
{
    if (k == NULL || sig == NULL || (msg == NULL && len > 0))
        return PCC_E_INVALID;
    return ed_verify(k->pkey, msg != NULL ? msg : (const uint8_t *)"", len, sig, ED_SIG);
}

/* cosig_message writes "cosignature/v1\ntime <t>\n" || text to a fresh dynamic writer. */
static pcc_status cosig_message(pcc_writer *m, uint64_t t, const uint8_t *text, size_t len)
{
    pcc_status st;
    pcc_writer_init_dynamic(m, false, PCC_NOTE_MAX_LEN + 64);
    if ((st = w_str(m, COSIG_HEADER)) != PCC_OK || (st = w_dec(m, t)) != PCC_OK ||
        (st = pcc_writer_u8(m, '\n')) != PCC_OK || (st = pcc_writer_bytes(m, text, len)) != PCC_OK)
        pcc_writer_cleanup(m);
    return st;
}

pcc_status pcc_note_sign_line(const pcc_note_key *k, const uint8_t *text, size_t len,
                              uint64_t timestamp, pcc_writer *w)
{
    uint8_t raw[ID_LEN + TS_LEN + ED_SIG];
    size_t raw_len = 0, w0;
    pcc_writer m = {0};
    pcc_checkpoint cp;
    pcc_status st;

    if (k == NULL || w == NULL)
        return PCC_E_INVALID;
    if (k->seed == NULL)
        return PCC_E_STATE;
    if ((st = pcc_note_check_text(text, len)) != PCC_OK)
        return st;
    raw[0] = (uint8_t)(k->id >> 24), raw[1] = (uint8_t)(k->id >> 16);
    raw[2] = (uint8_t)(k->id >> 8), raw[3] = (uint8_t)k->id;
    raw_len = ID_LEN;
    if (k->alg == PCC_NOTE_ALG_COSIG_V1) {
        /* timestamped_signature { u64 timestamp; opaque ed25519_signature[64]; } over
         * "cosignature/v1\ntime <t>\n" || checkpoint body (c2sp.org/tlog-cosignature). */
        if (timestamp > PCC_NOTE_MAX_TIMESTAMP)
            return PCC_E_INVALID;
        if ((st = pcc_note_checkpoint_parse(&cp, (const char *)text, len)) != PCC_OK)
            return st;
        for (int i = 0; i < TS_LEN; i++)
            raw[raw_len++] = (uint8_t)(timestamp >> (56 - 8 * i));
        if ((st = cosig_message(&m, timestamp, text, len)) != PCC_OK)
            return st;
        st = ed_sign(k->pkey, m.data, m.len, raw + raw_len);
        pcc_writer_cleanup(&m);
    } else {
        st = ed_sign(k->pkey, text, len, raw + raw_len);
    }
    if (st != PCC_OK)
        return st;
    raw_len += ED_SIG;
    /* — <name> base64(key ID || signature)\n */
    w0 = w->len;
    if ((st = pcc_writer_bytes(w, SIG_PREFIX, SIG_PREFIX_LEN)) != PCC_OK ||
        (st = pcc_writer_bytes(w, k->name, k->name_len)) != PCC_OK ||
        (st = pcc_writer_u8(w, ' ')) != PCC_OK || (st = w_b64(w, raw, raw_len)) != PCC_OK ||
        (st = pcc_writer_u8(w, '\n')) != PCC_OK)
        w->len = w0;
    return st;
}

/* ---- parsed notes ------------------------------------------------------------------------ */

typedef struct sigent {
    size_t name_off, name_len;
    uint32_t id;
    size_t sig_off, sig_len;
} sigent;

struct pcc_note {
    uint8_t *msg;
    size_t len, text_len, n_sigs;
    uint8_t *sigbuf;
    sigent sigs[PCC_NOTE_MAX_SIGS];
};

void pcc_note_free(pcc_note *n)
{
    if (n == NULL)
        return;
    free(n->msg);
    free(n->sigbuf);
    free(n);
}

pcc_status pcc_note_parse(pcc_note **out, const uint8_t *msg, size_t len)
{
    pcc_note *n = NULL;
    size_t split, at, used = 0;
    pcc_status st;

    if (out == NULL || (msg == NULL && len > 0))
        return PCC_E_INVALID;
    *out = NULL;
    if (len > PCC_NOTE_MAX_LEN)
        return PCC_E_LIMIT;
    /* Valid UTF-8, no control characters but newline. */
    if ((st = check_chars(msg, len)) != PCC_OK)
        return st;
    /* The text ends at the last blank line; signatures follow and end in a newline. */
    if (len < 2)
        return PCC_E_FORMAT;
    split = len - 1;
    while (split > 0 && !(msg[split - 1] == '\n' && msg[split] == '\n'))
        split--;
    if (split == 0)
        return PCC_E_FORMAT;
    split--; /* msg[split] and msg[split + 1] are the two newlines */
    if (split + 2 >= len || msg[len - 1] != '\n')
        return PCC_E_FORMAT;

    n = calloc(1, sizeof *n);
    if (n == NULL)
        return PCC_E_NOMEM;
    n->msg = malloc(len);
    n->sigbuf = malloc(len);
    if (n->msg == NULL || n->sigbuf == NULL) {
        st = PCC_E_NOMEM;
        goto fail;
    }
    memcpy(n->msg, msg, len);
    n->len = len;
    n->text_len = split + 1;

    for (at = split + 2; at < len;) {
        const uint8_t *nl = memchr(msg + at, '\n', len - at); /* found: msg ends in '\n' */
        size_t line_end = (size_t)(nl - msg), name_start, sp, dl = 0;
        const uint8_t *space;
        sigent *e;
        if (n->n_sigs == PCC_NOTE_MAX_SIGS) {
            st = PCC_E_FORMAT; /* too many signatures */
            goto fail;
        }
        /* — <name> <base64> */
        if (line_end - at < SIG_PREFIX_LEN || memcmp(msg + at, SIG_PREFIX, SIG_PREFIX_LEN) != 0) {
            st = PCC_E_FORMAT;
            goto fail;
        }
        name_start = at + SIG_PREFIX_LEN;
        space = memchr(msg + name_start, ' ', line_end - name_start);
        if (space == NULL) {
            st = PCC_E_FORMAT;
            goto fail;
        }
        sp = (size_t)(space - msg);
        e = &n->sigs[n->n_sigs];
        e->name_off = name_start;
        e->name_len = sp - name_start;
        if (!pcc_note_valid_name((const char *)msg + name_start, e->name_len) ||
            sp + 1 == line_end ||
            b64_decode(n->sigbuf + used, &dl, len - used, (const char *)msg + sp + 1,
                       line_end - sp - 1) != PCC_OK ||
            dl < ID_LEN + 1) {
            st = PCC_E_FORMAT;
            goto fail;
        }
        e->id = (uint32_t)n->sigbuf[used] << 24 | (uint32_t)n->sigbuf[used + 1] << 16 |
                (uint32_t)n->sigbuf[used + 2] << 8 | n->sigbuf[used + 3];
        e->sig_off = used + ID_LEN;
        e->sig_len = dl - ID_LEN;
        used += dl;
        n->n_sigs++;
        at = line_end + 1;
    }
    *out = n;
    return PCC_OK;
fail:
    pcc_note_free(n);
    return st;
}

const uint8_t *pcc_note_text(const pcc_note *n, size_t *len)
{
    *len = n->text_len;
    return n->msg;
}

size_t pcc_note_sig_count(const pcc_note *n) { return n->n_sigs; }

pcc_status pcc_note_get_sig(const pcc_note *n, size_t i, pcc_note_sig *out)
{
    const sigent *e;
    if (n == NULL || out == NULL || i >= n->n_sigs)
        return PCC_E_INVALID;
    e = &n->sigs[i];
    out->name = (const char *)n->msg + e->name_off;
    out->name_len = e->name_len;
    out->key_id = e->id;
    out->sig = n->sigbuf + e->sig_off;
    out->sig_len = e->sig_len;
    return PCC_OK;
}

static int same_name(const pcc_note_key *k, const char *name, size_t len)
{
    return k->name_len == len && memcmp(k->name, name, len) == 0;
}

pcc_status pcc_note_verify(const pcc_note *n, const pcc_note_key *const *keys, size_t n_keys,
                           int *key_of_sig, uint64_t *time_of_sig)
{
    int used[PCC_NOTE_MAX_SIGS];
    size_t n_used = 0, verified = 0;
    int is_cp = -1; /* lazily: is the text a checkpoint (cosignatures need one) */
    pcc_checkpoint cp;
    pcc_status st;

    if (n == NULL || key_of_sig == NULL || (keys == NULL && n_keys > 0) || n_keys > INT32_MAX)
        return PCC_E_INVALID;
    /* Two different keys under one (name, ID) would make the lookup ambiguous. */
    for (size_t i = 0; i < n_keys; i++) {
        if (keys[i] == NULL)
            return PCC_E_INVALID;
        for (size_t j = 0; j < i; j++)
            if (keys[j]->id == keys[i]->id &&
                same_name(keys[j], keys[i]->name, keys[i]->name_len) &&
                (keys[j]->alg != keys[i]->alg || memcmp(keys[j]->pub, keys[i]->pub, ED_LEN) != 0))
                return PCC_E_INVALID;
    }
    for (size_t s = 0; s < n->n_sigs; s++) {
        const sigent *e = &n->sigs[s];
        const char *name = (const char *)n->msg + e->name_off;
        const uint8_t *sig = n->sigbuf + e->sig_off;
        const pcc_note_key *k = NULL;
        int ki = -1;
        key_of_sig[s] = -1;
        if (time_of_sig != NULL)
            time_of_sig[s] = UINT64_MAX;
        for (size_t i = 0; i < n_keys && ki < 0; i++)
            if (keys[i]->id == e->id && same_name(keys[i], name, e->name_len))
                ki = (int)i;
        if (ki < 0)
            continue; /* unknown (name, ID): ignored */
        k = keys[ki];
        /* A known key signs once: a second line for it (even identical) is rejected. */
        for (size_t u = 0; u < n_used; u++)
            if (keys[used[u]]->id == k->id && same_name(keys[used[u]], k->name, k->name_len))
                return PCC_E_VERIFY;
        used[n_used++] = ki;
        if (k->alg == PCC_NOTE_ALG_COSIG_V1) {
            uint64_t t = 0;
            pcc_writer m;
            if (is_cp < 0)
                is_cp = pcc_note_checkpoint_parse(&cp, (const char *)n->msg, n->text_len) == PCC_OK;
            if (!is_cp || e->sig_len != TS_LEN + ED_SIG)
                return PCC_E_VERIFY;
            for (int i = 0; i < TS_LEN; i++)
                t = t << 8 | sig[i];
            if (t > PCC_NOTE_MAX_TIMESTAMP)
                return PCC_E_VERIFY;
            if ((st = cosig_message(&m, t, n->msg, n->text_len)) != PCC_OK)
                return st;
            st = ed_verify(k->pkey, m.data, m.len, sig + TS_LEN, ED_SIG);
            pcc_writer_cleanup(&m);
            if (st != PCC_OK)
                return st;
            if (time_of_sig != NULL)
                time_of_sig[s] = t;
        } else {
            if ((st = ed_verify(k->pkey, n->msg, n->text_len, sig, e->sig_len)) != PCC_OK)
                return st;
        }
        key_of_sig[s] = ki;
        verified++;
    }
    return verified > 0 ? PCC_OK : PCC_E_VERIFY;
}

/* ---- checkpoints ------------------------------------------------------------------------- */

pcc_status pcc_note_checkpoint_parse(pcc_checkpoint *cp, const char *text, size_t len)
{
    const char *p = text, *end = text + len, *nl1, *nl2, *nl3;
    size_t rl = 0;
    pcc_status st;
    if (cp == NULL || text == NULL)
        return PCC_E_INVALID;
    if ((st = pcc_note_check_text((const uint8_t *)text, len)) != PCC_OK)
        return st;
    /* origin: non-empty */
    nl1 = memchr(p, '\n', len);
    if (nl1 == NULL || nl1 == p)
        return PCC_E_FORMAT;
    /* tree size: decimal, no leading zeros */
    nl2 = memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1));
    if (nl2 == NULL || parse_dec(nl1 + 1, (size_t)(nl2 - nl1 - 1), &cp->size) != PCC_OK)
        return PCC_E_FORMAT;
    /* root hash: base64 of exactly 32 bytes */
    nl3 = memchr(nl2 + 1, '\n', (size_t)(end - nl2 - 1));
    if (nl3 == NULL || (size_t)(nl3 - nl2 - 1) != 44 ||
        b64_decode(cp->root, &rl, sizeof cp->root, nl2 + 1, 44) != PCC_OK || rl != 32)
        return PCC_E_FORMAT;
    /* extension lines: each non-empty */
    for (const char *q = nl3 + 1; q < end;) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        if (nl == q)
            return PCC_E_FORMAT;
        q = nl + 1;
    }
    cp->origin = p;
    cp->origin_len = (size_t)(nl1 - p);
    cp->extensions = nl3 + 1;
    cp->extensions_len = (size_t)(end - nl3 - 1);
    return PCC_OK;
}

pcc_status pcc_note_checkpoint_format(const pcc_checkpoint *cp, pcc_writer *w)
{
    size_t w0;
    pcc_checkpoint back;
    pcc_status st;
    if (cp == NULL || w == NULL || (cp->origin == NULL && cp->origin_len > 0) ||
        (cp->extensions == NULL && cp->extensions_len > 0))
        return PCC_E_INVALID;
    w0 = w->len;
    if ((st = pcc_writer_bytes(w, cp->origin, cp->origin_len)) != PCC_OK ||
        (st = pcc_writer_u8(w, '\n')) != PCC_OK || (st = w_dec(w, cp->size)) != PCC_OK ||
        (st = pcc_writer_u8(w, '\n')) != PCC_OK || (st = w_b64(w, cp->root, 32)) != PCC_OK ||
        (st = pcc_writer_u8(w, '\n')) != PCC_OK ||
        (st = pcc_writer_bytes(w, cp->extensions, cp->extensions_len)) != PCC_OK)
        goto fail;
    /* What we wrote must parse back to the same fields. */
    if (pcc_note_checkpoint_parse(&back, (const char *)w->data + w0, w->len - w0) != PCC_OK ||
        back.origin_len != cp->origin_len || back.extensions_len != cp->extensions_len) {
        st = PCC_E_INVALID;
        goto fail;
    }
    return PCC_OK;
fail:
    w->len = w0;
    return st;
}

/* ---- tlog-proof -------------------------------------------------------------------------- */

/* next_line returns the line at *at (without its '\n') and advances past it; 0 at the end. */
static int next_line(const char *s, size_t len, size_t *at, const char **line, size_t *line_len)
{
    const char *nl;
    if (*at >= len)
        return 0;
    nl = memchr(s + *at, '\n', len - *at);
    if (nl == NULL)
        return 0;
    *line = s + *at;
    *line_len = (size_t)(nl - *line);
    *at += *line_len + 1;
    return 1;
}

pcc_status pcc_note_proof_parse(pcc_note_proof *p, const char *text, size_t len)
{
    const char *line;
    size_t ll, at = 0, hl = 0;
    pcc_note *n = NULL;
    pcc_checkpoint cp;
    pcc_status st;
    const size_t hdr = sizeof PCC_NOTE_PROOF_HEADER - 1;

    if (p == NULL || text == NULL)
        return PCC_E_INVALID;
    memset(p, 0, sizeof *p);
    if ((st = pcc_note_check_text((const uint8_t *)text, len)) != PCC_OK)
        return st;
    /* c2sp.org/tlog-proof@v1 */
    if (!next_line(text, len, &at, &line, &ll) || ll != hdr ||
        memcmp(line, PCC_NOTE_PROOF_HEADER, hdr) != 0)
        return PCC_E_FORMAT;
    if (!next_line(text, len, &at, &line, &ll))
        return PCC_E_FORMAT;
    /* extra <base64>, optional */
    if (ll >= 6 && memcmp(line, "extra ", 6) == 0) {
        if (b64_decode(NULL, &hl, 0, line + 6, ll - 6) != PCC_OK)
            return PCC_E_FORMAT;
        p->has_extra = 1;
        p->extra_b64 = line + 6;
        p->extra_b64_len = ll - 6;
        if (!next_line(text, len, &at, &line, &ll))
            return PCC_E_FORMAT;
    }
    /* index <decimal> */
    if (ll < 7 || memcmp(line, "index ", 6) != 0 || parse_dec(line + 6, ll - 6, &p->index) != PCC_OK)
        return PCC_E_FORMAT;
    /* inclusion proof hashes, then an empty line */
    for (;;) {
        if (!next_line(text, len, &at, &line, &ll))
            return PCC_E_FORMAT;
        if (ll == 0)
            break;
        if (p->n_hashes == PCC_NOTE_MAX_PROOF_HASHES || ll != 44 ||
            b64_decode(p->hashes[p->n_hashes], &hl, 32, line, ll) != PCC_OK || hl != 32)
            return PCC_E_FORMAT;
        p->n_hashes++;
    }
    /* the signed checkpoint, verbatim */
    if (at >= len)
        return PCC_E_FORMAT;
    if ((st = pcc_note_parse(&n, (const uint8_t *)text + at, len - at)) != PCC_OK)
        return st;
    {
        size_t tl;
        const uint8_t *t = pcc_note_text(n, &tl);
        st = pcc_note_checkpoint_parse(&cp, (const char *)t, tl);
    }
    pcc_note_free(n);
    if (st != PCC_OK)
        return PCC_E_FORMAT;
    p->checkpoint = text + at;
    p->checkpoint_len = len - at;
    return PCC_OK;
}

pcc_status pcc_note_proof_format(uint64_t index, const uint8_t *hashes, size_t n_hashes,
                                 int has_extra, const uint8_t *extra, size_t extra_len,
                                 const char *checkpoint, size_t checkpoint_len, pcc_writer *w)
{
    size_t w0;
    pcc_note_proof back;
    pcc_status st = PCC_OK;
    if (w == NULL || (hashes == NULL && n_hashes > 0) || (extra == NULL && extra_len > 0) ||
        checkpoint == NULL)
        return PCC_E_INVALID;
    if (n_hashes > PCC_NOTE_MAX_PROOF_HASHES)
        return PCC_E_INVALID;
    w0 = w->len;
    if ((st = w_str(w, PCC_NOTE_PROOF_HEADER "\n")) != PCC_OK)
        goto fail;
    if (has_extra && ((st = w_str(w, "extra ")) != PCC_OK ||
                      (st = w_b64(w, extra, extra_len)) != PCC_OK ||
                      (st = pcc_writer_u8(w, '\n')) != PCC_OK))
        goto fail;
    if ((st = w_str(w, "index ")) != PCC_OK || (st = w_dec(w, index)) != PCC_OK ||
        (st = pcc_writer_u8(w, '\n')) != PCC_OK)
        goto fail;
    for (size_t i = 0; i < n_hashes; i++)
        if ((st = w_b64(w, hashes + i * 32, 32)) != PCC_OK ||
            (st = pcc_writer_u8(w, '\n')) != PCC_OK)
            goto fail;
    if ((st = pcc_writer_u8(w, '\n')) != PCC_OK ||
        (st = pcc_writer_bytes(w, checkpoint, checkpoint_len)) != PCC_OK)
        goto fail;
    if (pcc_note_proof_parse(&back, (const char *)w->data + w0, w->len - w0) != PCC_OK) {
        st = PCC_E_INVALID;
        goto fail;
    }
    return PCC_OK;
fail:
    w->len = w0;
    return st;
}
