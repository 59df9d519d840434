/* worker.c: a request worker (pcc/worker.h): sandbox first, then one request, then exit. */
#include "pcc/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "chan_internal.h"
#include "mp_internal.h"
#include "pcc/buf.h"
#include "pcc/llm.h"
#include "pcc/sandbox.h"
#include "pcc/secure.h"
#include "pcc/wire.h"

#define SMALL_MSG_MAX PCC_SECURE_SMALL_MAX /* unwrap and dk messages (one secure slot) */
#define TEXT_PER_CHUNK 16000 /* text bytes per answer chunk: room for the msgpack map */

/* ---- framed messages ------------------------------------------------------------------- */

static pcc_status write_full(int fd, const uint8_t *p, size_t n)
{
    return pcc_chan_write_all(fd, p, n, 0); /* write: the worker's filter allows no send */
}

static pcc_status read_full(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return PCC_E_STATE; /* EOF or error: the peer went away */
        p += r;
        n -= (size_t)r;
    }
    return PCC_OK;
}

/* msg_read reads one framed message into buf (max bytes). PCC_E_FORMAT for a length over max. */
static pcc_status msg_read(int fd, uint8_t *buf, size_t max, size_t *len)
{
    uint8_t h[4];
    pcc_status st = read_full(fd, h, 4);
    if (st != PCC_OK)
        return st;
    size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
    if (n == 0 || n > max)
        return PCC_E_FORMAT;
    *len = n;
    return read_full(fd, buf, n);
}

static pcc_status msg_write(int fd, const uint8_t *body, size_t len)
{
    uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                    (uint8_t)len};
    pcc_status st = write_full(fd, h, 4);
    return st == PCC_OK ? write_full(fd, body, len) : st;
}

static void mp_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    (void)msgpack_pack_str(pk, n);
    (void)msgpack_pack_str_body(pk, s, n);
}

static void mp_bin(msgpack_packer *pk, const uint8_t *b, size_t n)
{
    (void)msgpack_pack_bin(pk, n);
    (void)msgpack_pack_bin_body(pk, b, n);
}

static int bin_is(const msgpack_object *o, size_t len)
{
    return o->type == MSGPACK_OBJECT_BIN && (len == 0 || o->via.bin.size == len);
}

/* ---- the invoke message ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *key_id, *enc, *ct, *node, *nonce;
    size_t enc_len;
    pcc_request_chunk *chunks; /* malloc: ciphertext pointers */
    size_t n_chunks;
} invoke_msg;

static pcc_status invoke_parse(invoke_msg *m, msgpack_unpacked *u, const uint8_t *buf, size_t len,
                               int *decoded)
{
    static const char *const names[] = {"op", "key_id", "enc", "ct", "node", "nonce", "body"};
    const msgpack_object *v[7];
    pcc_status st = pcc_mp_decode(u, buf, len);
    if (st != PCC_OK)
        return st;
    *decoded = 1;
    if (pcc_mp_map_fields(&u->data, names, 7, v) != PCC_OK || !pcc_mp_str_is(v[0], "invoke") ||
        !bin_is(v[1], PCC_REQUEST_KEY_ID_LEN) || !bin_is(v[2], 0) || v[2]->via.bin.size == 0 ||
        !bin_is(v[3], PCC_REQUEST_WRAPPED_LEN) || !bin_is(v[4], PCC_REQUEST_NODE_ID_LEN) ||
        !bin_is(v[5], PCC_REQUEST_NONCE_LEN) || v[6]->type != MSGPACK_OBJECT_ARRAY ||
        v[6]->via.array.size == 0 || v[6]->via.array.size > PCC_REQUEST_MAX_CHUNKS)
        return PCC_E_FORMAT;
    m->key_id = (const uint8_t *)v[1]->via.bin.ptr;
    m->enc = (const uint8_t *)v[2]->via.bin.ptr;
    m->enc_len = v[2]->via.bin.size;
    m->ct = (const uint8_t *)v[3]->via.bin.ptr;
    m->node = (const uint8_t *)v[4]->via.bin.ptr;
    m->nonce = (const uint8_t *)v[5]->via.bin.ptr;
    m->n_chunks = v[6]->via.array.size;
    if ((m->chunks = calloc(m->n_chunks, sizeof *m->chunks)) == NULL)
        return PCC_E_NOMEM;
    for (size_t i = 0; i < m->n_chunks; i++) {
        const msgpack_object *c = &v[6]->via.array.ptr[i];
        if (!bin_is(c, 0))
            return PCC_E_FORMAT;
        m->chunks[i].data = (const uint8_t *)c->via.bin.ptr;
        m->chunks[i].len = c->via.bin.size;
    }
    return PCC_OK;
}

/* ---- unwrap ------------------------------------------------------------------------------ */

/* ask_enclave sends unwrap and turns the reply into DK. */
static pcc_status ask_enclave(int fd, const invoke_msg *m, pcc_request_key **dk)
{
    uint8_t out[SMALL_MSG_MAX];
    uint8_t *in = pcc_secure_small_alloc(SMALL_MSG_MAX); /* the reply holds DK */
    size_t in_len = 0;
    msgpack_unpacked u;
    int decoded = 0;
    pcc_writer w;
    pcc_status st;
    if (in == NULL)
        return PCC_E_NOMEM;
    msgpack_unpacked_init(&u);
    pcc_writer_init_fixed(&w, out, sizeof out);
    pcc_mp_sink s = {&w, PCC_OK};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s, pcc_mp_sink_write);
    (void)msgpack_pack_map(&pk, 4);
    mp_cstr(&pk, "op");
    mp_cstr(&pk, "unwrap");
    mp_cstr(&pk, "key_id");
    mp_bin(&pk, m->key_id, PCC_REQUEST_KEY_ID_LEN);
    mp_cstr(&pk, "enc");
    mp_bin(&pk, m->enc, m->enc_len);
    mp_cstr(&pk, "ct");
    mp_bin(&pk, m->ct, PCC_REQUEST_WRAPPED_LEN);
    if ((st = s.st) != PCC_OK || (st = msg_write(fd, w.data, w.len)) != PCC_OK ||
        (st = msg_read(fd, in, SMALL_MSG_MAX, &in_len)) != PCC_OK ||
        (st = pcc_mp_decode(&u, in, in_len)) != PCC_OK)
        goto out;
    decoded = 1;
    static const char *const names[] = {"op", "dk"};
    const msgpack_object *v[2];
    if (pcc_mp_map_fields(&u.data, names, 2, v) != PCC_OK || !pcc_mp_str_is(v[0], "dk") ||
        !bin_is(v[1], PCC_REQUEST_DK_LEN)) {
        st = PCC_E_DECRYPT; /* refused, or nonsense: no DK either way */
        goto out;
    }
    st = pcc_request_key_from_bytes(dk, (const uint8_t *)v[1]->via.bin.ptr, PCC_REQUEST_DK_LEN);
out:
    pcc_mp_release(&u, decoded);
    pcc_secure_small_free(in); /* wipes the DK bytes */
    return st;
}

/* reply_write writes one framed reply to the worker: on a socket without SIGPIPE (a worker that
 * went away is an error, not the end of the enclave), on anything else with write. */
static pcc_status reply_write(int fd, const uint8_t *body, size_t len)
{
    uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                    (uint8_t)len};
    pcc_status st = pcc_chan_write_all(fd, h, 4, 1);
    return st == PCC_OK ? pcc_chan_write_all(fd, body, len, 1) : st;
}

pcc_status pcc_worker_unwrap_answer(int fd, const uint8_t *msg, size_t len,
                                    const pcc_request_node_key *keys, size_t n_keys,
                                    const uint8_t *node_id, size_t node_id_len)
{
    static const char *const names[] = {"op", "key_id", "enc", "ct"};
    uint8_t *out = pcc_secure_small_alloc(SMALL_MSG_MAX); /* the reply holds DK */
    const msgpack_object *v[4];
    msgpack_unpacked u;
    int decoded = 0;
    pcc_request_key *dk = NULL;
    pcc_status st = PCC_E_FORMAT; /* a message over the cap, or not an unwrap */
    pcc_writer w;
    if (out == NULL)
        return PCC_E_NOMEM;
    msgpack_unpacked_init(&u);
    if (msg != NULL && (st = pcc_mp_decode(&u, msg, len)) == PCC_OK) {
        decoded = 1;
        if (pcc_mp_map_fields(&u.data, names, 4, v) != PCC_OK || !pcc_mp_str_is(v[0], "unwrap") ||
            !bin_is(v[1], 0) || !bin_is(v[2], 0) || !bin_is(v[3], 0))
            st = PCC_E_FORMAT;
        else
            st = pcc_request_key_unwrap(&dk, keys, n_keys, (const uint8_t *)v[1]->via.bin.ptr,
                                        v[1]->via.bin.size, (const uint8_t *)v[2]->via.bin.ptr,
                                        v[2]->via.bin.size, (const uint8_t *)v[3]->via.bin.ptr,
                                        v[3]->via.bin.size, node_id, node_id_len);
    }
    /* refused or not, the worker learns only dk or refused */
    pcc_writer_init_fixed(&w, out, SMALL_MSG_MAX);
    if (st == PCC_OK) {
        uint8_t raw[PCC_REQUEST_DK_LEN];
        size_t rl = 0;
        if ((st = pcc_request_key_bytes(dk, raw, &rl, sizeof raw)) == PCC_OK &&
            (st = pcc_wire_put_map(&w, 2)) == PCC_OK &&
            (st = pcc_wire_put_cstr(&w, "op")) == PCC_OK &&
            (st = pcc_wire_put_cstr(&w, "dk")) == PCC_OK &&
            (st = pcc_wire_put_cstr(&w, "dk")) == PCC_OK)
            st = pcc_wire_put_bin(&w, raw, rl);
        pcc_wipe(raw, sizeof raw);
    }
    if (st != PCC_OK) {
        pcc_writer_init_fixed(&w, out, SMALL_MSG_MAX);
        if (pcc_wire_put_map(&w, 1) != PCC_OK || pcc_wire_put_cstr(&w, "op") != PCC_OK ||
            pcc_wire_put_cstr(&w, "refused") != PCC_OK)
            w.len = 0;
    }
    /* a small reply to a socket nothing else writes to */
    if (w.len == 0 || reply_write(fd, w.data, w.len) != PCC_OK)
        st = PCC_E_STATE; /* the worker went away: it gets nothing */
    pcc_mp_release(&u, decoded);
    pcc_request_key_free(dk);
    pcc_secure_small_free(out); /* wipes the DK bytes */
    return st;
}

pcc_status pcc_worker_unwrap_reply(int fd, const pcc_request_node_key *keys, size_t n_keys,
                                   const uint8_t *node_id, size_t node_id_len)
{
    uint8_t in[SMALL_MSG_MAX];
    size_t in_len = 0;
    pcc_status st = msg_read(fd, in, sizeof in, &in_len);
    if (st == PCC_E_STATE)
        return st;
    /* PCC_E_FORMAT: a message over the cap, refused unread */
    return pcc_worker_unwrap_answer(fd, st == PCC_OK ? in : NULL, in_len, keys, n_keys, node_id,
                                    node_id_len);
}

/* ---- the answer ------------------------------------------------------------------------- */

/* The worker's stream to the service is the answer stream with spares mixed in: rnonce, then
 * records, each a 4-byte big-endian header and its bytes. A header without the top bit is an
 * answer frame's own length (the frame goes to the client as it is); one with the top bit set
 * (PCC_WORKER_SPARE) carries, in the low 31 bits, the length of a whole abort frame (its length
 * prefix and sealed chunk) for the next position that has no spare yet: spare k is for frame k.
 * The service keeps the spares and drops them, unless the worker ends before its final frame:
 * then the spare for the first frame not sent ends the client's stream with a sealed
 * {"error": "internal"}. Spare 0 follows rnonce in the same write; spare n + 1 is written before
 * frame n; no spare follows the final frame. */
typedef struct {
    int fd;
    pcc_answer_sealer *sealer;
    uint8_t *frame; /* secure: PCC_ANSWER_FINAL_FRAME_MAX */
    uint8_t *plain; /* secure: PCC_ANSWER_FINAL_CHUNK_MAX */
    uint8_t *spare; /* ciphertext only: a record header and an abort frame, then room for the
                     * frame it precedes (both go out in one write) */
    size_t sent;    /* bytes of the client's stream so far (rnonce and frames) */
    pcc_status io;  /* a failed write: stop */
} answer_sink;

/* encode_final writes the final chunk (done, or the error gen_st maps to) padded so that the
 * stream ends on a bucket when its frame follows sent bytes. */
static pcc_status encode_final(pcc_writer *w, pcc_status gen_st, uint64_t pt, uint64_t ct,
                               size_t sent)
{
    pcc_status st;
    if (gen_st == PCC_OK)
        st = pcc_answer_encode_done(w, pt, ct);
    else
        st = pcc_answer_encode_error(w, gen_st == PCC_E_INVALID || gen_st == PCC_E_FORMAT ||
                                                 gen_st == PCC_E_DECRYPT
                                             ? PCC_ANSWER_E_BAD_REQUEST
                                         : gen_st == PCC_E_LIMIT ? PCC_ANSWER_E_TOO_LONG
                                                                 : PCC_ANSWER_E_INTERNAL);
    return st == PCC_OK ? pcc_answer_pad(w, 0, sent) : st;
}

/* seal_spare seals the abort frame for the sealer's next position, as if it followed sent
 * bytes, into s->spare as a record; *len is the record's length. */
static pcc_status seal_spare(answer_sink *s, size_t sent, size_t *len)
{
    pcc_writer w;
    size_t fl = 0;
    pcc_writer_init_fixed(&w, s->plain, PCC_ANSWER_FINAL_CHUNK_MAX);
    pcc_status st = encode_final(&w, PCC_E_STATE, 0, 0, sent);
    if (st == PCC_OK)
        st = pcc_answer_sealer_spare(s->sealer, s->spare + 4, &fl, PCC_ANSWER_FINAL_FRAME_MAX,
                                     w.data, w.len);
    pcc_wipe(s->plain, w.len);
    if (st != PCC_OK)
        return st;
    uint32_t h = (uint32_t)fl | PCC_WORKER_SPARE;
    s->spare[0] = (uint8_t)(h >> 24);
    s->spare[1] = (uint8_t)(h >> 16);
    s->spare[2] = (uint8_t)(h >> 8);
    s->spare[3] = (uint8_t)h;
    *len = fl + 4;
    return PCC_OK;
}

/* sink_chunk seals one chunk and writes it, after the spare for the position that follows it
 * (none after the final chunk), in one write. */
static pcc_status sink_chunk(answer_sink *s, const uint8_t *pt, size_t len, int final)
{
    size_t fl = 0, sl = 0;
    pcc_status st = pcc_answer_sealer_frame(s->sealer, s->frame, &fl, PCC_ANSWER_FINAL_FRAME_MAX,
                                            pt, len, final);
    if (st == PCC_OK && !final)
        st = seal_spare(s, s->sent + fl, &sl);
    if (st == PCC_OK) {
        const uint8_t *out = s->frame;
        if (sl > 0) { /* the frame is ciphertext: it may leave secure memory */
            memcpy(s->spare + sl, s->frame, fl);
            out = s->spare;
        }
        if ((st = write_full(s->fd, out, sl + fl)) != PCC_OK)
            s->io = st;
    }
    if (st == PCC_OK)
        s->sent += fl;
    pcc_wipe(s->frame, fl);
    return st;
}

static pcc_status sink_text(void *sink, const char *text, size_t len)
{
    answer_sink *s = sink;
    while (len > 0) {
        size_t n = len;
        if (n > TEXT_PER_CHUNK) {
            n = TEXT_PER_CHUNK;
            while (n > 0 && ((uint8_t)text[n] & 0xc0) == 0x80)
                n--; /* cut before a continuation byte: each chunk stays valid UTF-8 */
        }
        pcc_writer w;
        pcc_writer_init_fixed(&w, s->plain, PCC_REQUEST_CHUNK_MAX);
        pcc_status st = pcc_answer_encode_text(&w, text, n);
        if (st == PCC_OK)
            st = sink_chunk(s, w.data, w.len, 0);
        pcc_wipe(s->plain, w.len);
        if (st != PCC_OK)
            return st;
        text += n;
        len -= n;
    }
    return PCC_OK;
}

static pcc_status sink_final(answer_sink *s, pcc_status gen_st, uint64_t pt, uint64_t ct)
{
    pcc_writer w;
    pcc_writer_init_fixed(&w, s->plain, PCC_ANSWER_FINAL_CHUNK_MAX);
    pcc_status st = encode_final(&w, gen_st, pt, ct, s->sent);
    if (st == PCC_OK)
        st = sink_chunk(s, w.data, w.len, 1);
    pcc_wipe(s->plain, w.len);
    return st;
}

/* ---- the worker ------------------------------------------------------------------------- */

int pcc_worker_serve(const pcc_worker_config *cfg)
{
    int code = PCC_WORKER_EXIT_INTERNAL;
    uint8_t *buf = NULL;
    size_t len = 0;
    msgpack_unpacked u;
    int decoded = 0;
    invoke_msg m = {0};
    pcc_request_key *dk = NULL;
    pcc_chat_request *req = NULL;
    answer_sink sink = {0};
    if (cfg == NULL)
        return PCC_WORKER_EXIT_INTERNAL;
    msgpack_unpacked_init(&u);

    /* 1. the sandbox, before a single byte of the request is read */
    int fds[2] = {cfg->chan_fd, cfg->enclave_fd};
    pcc_sandbox_policy pol = {cfg->sandbox_layers, cfg->sandbox_optional, fds, 2, 0,
                              cfg->join_netns, cfg->netns_fd, cfg->filter};
    uint32_t applied = 0;
    if (pcc_sandbox_apply(&pol, &applied) != PCC_OK) {
        code = PCC_WORKER_EXIT_SANDBOX;
        goto out;
    }

    /* the engine's threads, started here so that the sandbox binds them too (a filter or a
     * Landlock domain binds the threads a thread creates after it, never those already running) */
    if (cfg->engine != NULL && cfg->engine_threads > 1 &&
        pcc_llm_model_start_threads(cfg->engine, cfg->engine_threads) != PCC_OK)
        goto out;

    /* 2. the model's pages mapped into this process's page tables while it waits (a pooled
     * worker does this before any request exists; reads only, no system call) */
    if (cfg->warm != NULL) {
        const volatile uint8_t *w = cfg->warm;
        uint8_t acc = 0;
        for (size_t i = 0; i < cfg->warm_len; i += 4096)
            acc ^= w[i];
        __asm__ volatile("" : : "r"(acc));
    }

    /* 3. the invoke message (ciphertext only) */
    if ((buf = malloc(PCC_WORKER_MSG_MAX)) == NULL)
        goto out;
    pcc_status st = msg_read(cfg->chan_fd, buf, PCC_WORKER_MSG_MAX, &len);
    if (st != PCC_OK) {
        code = st == PCC_E_FORMAT ? PCC_WORKER_EXIT_INVOKE : PCC_WORKER_EXIT_IO;
        goto out;
    }
    if (invoke_parse(&m, &u, buf, len, &decoded) != PCC_OK ||
        memcmp(m.node, cfg->node_id, PCC_REQUEST_NODE_ID_LEN) != 0) {
        code = PCC_WORKER_EXIT_INVOKE;
        goto out;
    }

    /* 4. DK from the enclave */
    if ((st = ask_enclave(cfg->enclave_fd, &m, &dk)) != PCC_OK) {
        code = st == PCC_E_STATE ? PCC_WORKER_EXIT_IO : PCC_WORKER_EXIT_KEY;
        goto out;
    }

    /* 5. from here on every outcome is a sealed answer */
    sink.fd = cfg->chan_fd;
    sink.frame = pcc_secure_alloc(PCC_ANSWER_FINAL_FRAME_MAX);
    sink.plain = pcc_secure_alloc(PCC_ANSWER_FINAL_CHUNK_MAX);
    sink.spare = malloc(PCC_ANSWER_RNONCE_LEN + 4 + 2 * PCC_ANSWER_FINAL_FRAME_MAX);
    size_t rl = 0, sl = 0;
    /* rnonce and spare 0 in one write: once the client has a byte, the service holds an
     * abort frame for the next position */
    if (sink.frame == NULL || sink.plain == NULL || sink.spare == NULL ||
        pcc_answer_sealer_new(&sink.sealer, dk, cfg->node_id, PCC_REQUEST_NODE_ID_LEN) != PCC_OK ||
        pcc_answer_sealer_rnonce(sink.sealer, sink.frame, &rl, PCC_ANSWER_RNONCE_LEN) != PCC_OK ||
        seal_spare(&sink, rl, &sl) != PCC_OK)
        goto out;
    memmove(sink.spare + rl, sink.spare, sl);
    memcpy(sink.spare, sink.frame, rl);
    sink.sent = rl;
    if (write_full(cfg->chan_fd, sink.spare, rl + sl) != PCC_OK) {
        code = PCC_WORKER_EXIT_IO;
        goto out;
    }
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    uint64_t n_prompt = 0, n_gen = 0;
    st = pcc_request_open(&payload, &payload_len, dk, m.nonce, PCC_REQUEST_NONCE_LEN, m.chunks,
                          m.n_chunks, cfg->max_payload ? cfg->max_payload : PCC_REQUEST_PAYLOAD_MAX);
    if (st == PCC_OK)
        st = pcc_chat_request_parse_owned(&req, payload, payload_len);
    if (st == PCC_OK)
        st = cfg->gen.run != NULL ? cfg->gen.run(cfg->gen.ctx, req, sink_text, &sink, &n_prompt,
                                                 &n_gen)
                                  : PCC_E_STATE;
    if (sink.io != PCC_OK) {
        code = PCC_WORKER_EXIT_IO;
        goto out;
    }
    if (sink_final(&sink, st, n_prompt, n_gen) != PCC_OK) {
        code = sink.io != PCC_OK ? PCC_WORKER_EXIT_IO : PCC_WORKER_EXIT_INTERNAL;
        goto out;
    }
    code = PCC_WORKER_EXIT_OK;
out:
    pcc_chat_request_free(req);
    pcc_answer_sealer_free(sink.sealer);
    pcc_secure_free(sink.frame);
    pcc_secure_free(sink.plain);
    free(sink.spare);
    pcc_request_key_free(dk);
    pcc_mp_release(&u, decoded);
    free(m.chunks);
    free(buf);
    return code;
}

pcc_status pcc_worker_spawn(const pcc_worker_config *cfg, pid_t *pid)
{
    if (cfg == NULL || pid == NULL || cfg->chan_fd < 0 || cfg->enclave_fd < 0 ||
        cfg->chan_fd == cfg->enclave_fd)
        return PCC_E_INVALID;
    *pid = fork();
    if (*pid < 0)
        return PCC_E_STATE;
    if (*pid > 0)
        return PCC_OK;
    /* the child: its channels (and the prepared namespace) at fixed numbers, every other
     * descriptor above 2 closed */
    pcc_worker_config c = *cfg;
    int a = fcntl(cfg->chan_fd, F_DUPFD, 100), b = fcntl(cfg->enclave_fd, F_DUPFD, 100);
    int ns = cfg->join_netns ? fcntl(cfg->netns_fd, F_DUPFD, 100) : 0;
    if (a < 0 || b < 0 || ns < 0 || dup2(a, PCC_WORKER_CHAN_FD) < 0 ||
        dup2(b, PCC_WORKER_ENCLAVE_FD) < 0 ||
        (cfg->join_netns && dup2(ns, PCC_WORKER_NETNS_FD) < 0) ||
        close_range(cfg->join_netns ? PCC_WORKER_NETNS_FD + 1 : PCC_WORKER_ENCLAVE_FD + 1, ~0u,
                    0) != 0)
        _exit(PCC_WORKER_EXIT_IO);
    c.chan_fd = PCC_WORKER_CHAN_FD;
    c.enclave_fd = PCC_WORKER_ENCLAVE_FD;
    c.netns_fd = PCC_WORKER_NETNS_FD;
    _exit(pcc_worker_serve(&c));
}

/* ---- the engine as a generator ---------------------------------------------------------- */

/* utf8_repair copies n bytes of model output to out (room for 3 n) with every ill-formed
 * subsequence replaced by U+FFFD, one per maximal subpart (Unicode 15, §3.9 U+FFFD
 * substitution; what Python's "replace" decoder does), so that answer text is valid UTF-8. */
static size_t utf8_repair(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t c = in[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf; /* the range of the second byte */
        if (c < 0x80) {
            out[o++] = c;
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else {
            need = 0; /* never a lead byte */
        }
        size_t j = 1;
        while (need > 0 && j <= need && i + j < n) {
            uint8_t b = in[i + j];
            if (j == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80)
                break;
            j++;
        }
        if (need > 0 && j == need + 1) {
            memcpy(out + o, in + i, j);
            o += j;
        } else {
            out[o++] = 0xef; /* U+FFFD for the maximal subpart in[i .. i + j) */
            out[o++] = 0xbf;
            out[o++] = 0xbd;
        }
        i += j;
    }
    return o;
}

static pcc_status llm_run(void *ctx, const pcc_chat_request *req, pcc_worker_emit_fn emit,
                          void *sink, uint64_t *prompt_tokens, uint64_t *completion_tokens)
{
    pcc_llm_model *model = ctx;
    pcc_llm_message *msgs = NULL;
    pcc_llm_gen *g = NULL;
    uint8_t *piece = NULL, *text = NULL;
    pcc_chat_params cp;
    pcc_status st = pcc_chat_request_params(req, &cp);
    size_t n = pcc_chat_request_count(req);
    if (st != PCC_OK)
        return st;
    if ((msgs = calloc(n, sizeof *msgs)) == NULL)
        return PCC_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        pcc_chat_message cm;
        if ((st = pcc_chat_request_message(req, i, &cm)) != PCC_OK)
            goto out;
        msgs[i].role = cm.role;
        msgs[i].role_len = cm.role_len;
        msgs[i].content = cm.content;
        msgs[i].content_len = cm.content_len;
    }
    pcc_llm_params p = {0};
    p.max_tokens = cp.max_tokens;
    p.temperature = (float)cp.temperature;
    p.top_p = (float)cp.top_p;
    p.top_k = cp.top_k;
    if (cp.has_seed)
        p.seed = cp.seed;
    else if (RAND_bytes((unsigned char *)&p.seed, sizeof p.seed) != 1) {
        st = PCC_E_CRYPTO;
        goto out;
    }
    if ((st = pcc_llm_gen_new_chat(&g, model, msgs, n, &p)) != PCC_OK)
        goto out;
    size_t cap = pcc_llm_gen_max_piece(g);
    if ((piece = pcc_secure_alloc(cap)) == NULL || (text = pcc_secure_alloc(3 * cap)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    bool done = false;
    while (!done) {
        size_t got = 0;
        int32_t tok = -1;
        if ((st = pcc_llm_gen_next(g, piece, &got, cap, &tok, &done)) != PCC_OK)
            goto out;
        size_t tl = utf8_repair(piece, got, text);
        pcc_wipe(piece, got);
        if (tl > 0 && (st = emit(sink, (const char *)text, tl)) != PCC_OK)
            goto out;
        pcc_wipe(text, tl);
    }
    size_t np = 0, ng = 0;
    pcc_llm_gen_counts(g, &np, &ng);
    *prompt_tokens = np;
    *completion_tokens = ng;
out:
    pcc_secure_free(text);
    pcc_secure_free(piece);
    pcc_llm_gen_free(g);
    free(msgs);
    return st;
}

pcc_worker_generator pcc_worker_llm_generator(void *model)
{
    pcc_worker_generator g = {llm_run, model};
    return g;
}
