/* host.c: the host loop (pcc/node.h). It maps each model once, read-only, hashes it from that
 * mapping into the model register (through the enclave), and keeps a small pool of workers per
 * model forked ahead (sandboxed, the model's pages touched, waiting on their channel). An invoke
 * takes the oldest pooled worker: the service gets the other end of its channel, the enclave the
 * other end of its enclave channel, and a replacement is forked at once. The host itself never
 * reads a request: the worker reads the invoke from the service's socket and writes its sealed
 * answer straight back on it. Each worker still serves one request and exits. */
#include "pcc/node.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "chan_internal.h"
#include "pcc/attest.h"
#include "pcc/gguf.h"
#include "pcc/llm.h"
#include "pcc/llm_kernels.h"
#include "pcc/sandbox.h"
#include "pcc/worker.h"

#define MAX_RUNNING 1024
/* When a replacement is forked. Forking and warming up a worker costs CPU that, on a small
 * machine, the worker just handed a request would miss for its first token: so a pool that still
 * holds a waiting worker is refilled when a serving worker ends, or REFILL_LATER_MS after the
 * assignment at the latest; an empty pool as soon as the host has been idle REFILL_SOON_MS. */
#define REFILL_SOON_MS 5
#define REFILL_LATER_MS 1000

typedef struct {
    pid_t pid;
    uint64_t id;
} running;

/* A worker forked ahead: sandboxed, its model's pages touched, blocked reading its channel. The
 * other end of that channel (svc) goes to the service at once (an idle message naming the
 * worker's slot), so that a request needs no round trip through the host before its invoke is
 * written; the host keeps the enclave's end of the worker's enclave channel (encl) and hands it
 * to the enclave only when the service assigns the slot a request, so the enclave's 2 s unwrap
 * deadline starts with the request, not with the fork. */
typedef struct {
    pid_t pid;
    int svc, encl;
    uint64_t slot;
} idle_worker;

static void idle_close(idle_worker *w)
{
    if (w->svc >= 0)
        close(w->svc);
    if (w->encl >= 0)
        close(w->encl);
    w->svc = w->encl = -1;
}

/* A generator that refuses requests over the node's max_tokens (sealed as too_long). */
typedef struct {
    pcc_worker_generator inner;
    uint32_t max_tokens;
} capped_gen;

static pcc_status capped_run(void *ctx, const pcc_chat_request *req, pcc_worker_emit_fn emit,
                             void *sink, uint64_t *prompt_tokens, uint64_t *completion_tokens)
{
    const capped_gen *c = ctx;
    pcc_chat_params p;
    pcc_status st = pcc_chat_request_params(req, &p);
    if (st != PCC_OK)
        return st;
    if (p.max_tokens > c->max_tokens)
        return PCC_E_LIMIT;
    return c->inner.run(c->inner.ctx, req, emit, sink, prompt_tokens, completion_tokens);
}

/* The sandbox probe (tests only, pcc_node_host_config.probe): run inside a real worker, after its
 * sandbox is up and it has unwrapped DK and decrypted the request, it tries what the sandbox must
 * stop and reports each errno as answer text ("name errno\n"), sealed like any answer. The first
 * message's content "execve" or "ptrace" tries that call instead, which the filter answers by
 * killing the worker. */
static pcc_status probe_run(void *ctx, const pcc_chat_request *req, pcc_worker_emit_fn emit,
                            void *sink, uint64_t *prompt_tokens, uint64_t *completion_tokens)
{
    pcc_chat_message m;
    char line[64];
    (void)ctx;
    pcc_status st = pcc_chat_request_message(req, 0, &m);
    if (st != PCC_OK)
        return st;
    if (m.content_len == 6 && memcmp(m.content, "execve", 6) == 0) {
        char *argv[] = {(char *)"/bin/true", NULL};
        execve("/bin/true", argv, argv + 1);
    } else if (m.content_len == 6 && memcmp(m.content, "ptrace", 6) == 0) {
        (void)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    }
    struct {
        const char *name;
        long r;
    } t[8];
    size_t n = 0;
#define TRY(nm, call)                                                                          \
    do {                                                                                       \
        errno = 0;                                                                             \
        long r_ = (long)(call);                                                                \
        t[n].name = nm;                                                                        \
        t[n++].r = r_ < 0 ? errno : 0;                                                         \
        if (r_ >= 0)                                                                           \
            close((int)r_);                                                                    \
    } while (0)
    TRY("open", open("/etc/hostname", O_RDONLY));
    TRY("create", open("/tmp/pcc-probe", O_CREAT | O_WRONLY, 0600));
    TRY("socket_inet", socket(AF_INET, SOCK_STREAM, 0));
    TRY("socket_unix", socket(AF_UNIX, SOCK_STREAM, 0));
    TRY("fork", syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
#undef TRY
    errno = 0;
    t[n].name = "write_stdout";
    t[n++].r = write(1, "x", 1) < 0 ? errno : 0;
    errno = 0;
    t[n].name = "write_stderr";
    t[n++].r = write(2, "x", 1) < 0 ? errno : 0;
    errno = 0;
    t[n].name = "kill_parent";
    t[n++].r = kill(getppid(), 0) < 0 ? errno : 0;
    for (size_t i = 0; i < n; i++) {
        int l = snprintf(line, sizeof line, "%s %ld\n", t[i].name, t[i].r);
        if (l < 0 || (st = emit(sink, line, (size_t)l)) != PCC_OK)
            return st;
    }
    *prompt_tokens = 0;
    *completion_tokens = n;
    return PCC_OK;
}

static pcc_status sha384(const uint8_t *p, size_t n, uint8_t out[PCC_ATTEST_DIGEST])
{
    unsigned int ol = 0;
    return EVP_Digest(p, n, out, &ol, EVP_sha384(), NULL) == 1 && ol == PCC_ATTEST_DIGEST
               ? PCC_OK
               : PCC_E_CRYPTO;
}

/* expect_ok reads one reply from the enclave and checks it is {"op":"ok"}. */
static pcc_status expect_ok(int fd, uint8_t *buf)
{
    size_t len = 0;
    int got = -1;
    pcc_wire_doc *doc = NULL;
    pcc_status st = pcc_chan_recv(fd, buf, PCC_NODE_MSG_MAX, &len, &got);
    if (got >= 0)
        close(got);
    if (st == PCC_OK)
        st = pcc_chan_decode(&doc, buf, len, "ok", NULL, 0, NULL);
    pcc_wire_doc_free(doc);
    return st == PCC_OK ? PCC_OK : PCC_E_STATE;
}

static pcc_status send_extend(int fd, const char *name, const uint8_t d[PCC_ATTEST_DIGEST],
                              uint8_t *buf)
{
    uint8_t b[512];
    pcc_writer w;
    pcc_writer_init_fixed(&w, b, sizeof b);
    pcc_status st;
    if ((st = pcc_wire_put_map(&w, 4)) != PCC_OK || (st = pcc_wire_put_cstr(&w, "op")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "extend")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "reg")) != PCC_OK || (st = pcc_wire_put_uint(&w, 1)) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "name")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, name)) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "sha384")) != PCC_OK ||
        (st = pcc_wire_put_bin(&w, d, PCC_ATTEST_DIGEST)) != PCC_OK ||
        (st = pcc_chan_send(fd, w.data, w.len, -1)) != PCC_OK)
        return st;
    return expect_ok(fd, buf);
}

static pcc_status send_modes(int fd, uint32_t mask, uint8_t *buf)
{
    uint8_t b[64];
    pcc_writer w;
    pcc_writer_init_fixed(&w, b, sizeof b);
    pcc_status st;
    if ((st = pcc_wire_put_map(&w, 2)) != PCC_OK || (st = pcc_wire_put_cstr(&w, "op")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "modes")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "sandbox")) != PCC_OK ||
        (st = pcc_wire_put_uint(&w, mask)) != PCC_OK ||
        (st = pcc_chan_send(fd, w.data, w.len, -1)) != PCC_OK)
        return st;
    return expect_ok(fd, buf);
}

/* send_worker hands the service its end of an assigned worker's channel. */
static pcc_status send_worker(int fd, uint64_t id, int chan)
{
    uint8_t b[64];
    pcc_writer w;
    pcc_writer_init_fixed(&w, b, sizeof b);
    pcc_status st;
    if ((st = pcc_wire_put_map(&w, 2)) != PCC_OK || (st = pcc_wire_put_cstr(&w, "op")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "worker")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "id")) != PCC_OK || (st = pcc_wire_put_uint(&w, id)) != PCC_OK)
        return st;
    return pcc_chan_send(fd, w.data, w.len, chan);
}

static pcc_status send_exit(int fd, uint64_t id, int code)
{
    uint8_t b[64];
    pcc_writer w;
    pcc_writer_init_fixed(&w, b, sizeof b);
    pcc_status st;
    if ((st = pcc_wire_put_map(&w, 3)) != PCC_OK || (st = pcc_wire_put_cstr(&w, "op")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "exit")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "id")) != PCC_OK || (st = pcc_wire_put_uint(&w, id)) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "code")) != PCC_OK ||
        (st = pcc_wire_put_int(&w, code)) != PCC_OK)
        return st;
    return pcc_chan_send(fd, w.data, w.len, -1);
}

/* probe forks a child that applies the layers exactly as a worker does and reports (as its exit
 * status) the mask that took effect. */
static pcc_status probe(uint32_t layers, uint32_t optional, uint32_t *applied)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        return PCC_E_STATE;
    pid_t pid = fork();
    if (pid == 0) {
        int fds[1] = {sp[0]};
        pcc_sandbox_policy pol = {layers, optional, fds, 1, 0, 0, -1, NULL};
        uint32_t got = 0;
        _exit(pcc_sandbox_apply(&pol, &got) == PCC_OK ? (int)got : 255);
    }
    close(sp[0]);
    close(sp[1]);
    if (pid < 0)
        return PCC_E_STATE;
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return PCC_E_STATE;
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) == 255)
        return PCC_E_UNSUPPORTED;
    *applied = (uint32_t)WEXITSTATUS(ws);
    return PCC_OK;
}

static pcc_status send_ready(int fd, const pcc_node_host_config *cfg,
                             uint8_t digests[][PCC_ATTEST_DIGEST], uint32_t mask)
{
    pcc_writer w;
    pcc_writer_init_dynamic(&w, false, 64 * 1024);
    pcc_status st;
    if ((st = pcc_wire_put_map(&w, 4)) != PCC_OK || (st = pcc_wire_put_cstr(&w, "op")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "ready")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "models")) != PCC_OK ||
        (st = pcc_wire_put_array(&w, cfg->n_models)) != PCC_OK)
        goto out;
    for (size_t i = 0; i < cfg->n_models; i++)
        if ((st = pcc_wire_put_map(&w, 2)) != PCC_OK ||
            (st = pcc_wire_put_cstr(&w, "name")) != PCC_OK ||
            (st = pcc_wire_put_cstr(&w, cfg->models[i].name)) != PCC_OK ||
            (st = pcc_wire_put_cstr(&w, "sha384")) != PCC_OK ||
            (st = pcc_wire_put_bin(&w, digests[i], PCC_ATTEST_DIGEST)) != PCC_OK)
            goto out;
    if ((st = pcc_wire_put_cstr(&w, "sandbox")) == PCC_OK &&
        (st = pcc_wire_put_uint(&w, mask)) == PCC_OK &&
        (st = pcc_wire_put_cstr(&w, "pool")) == PCC_OK &&
        (st = pcc_wire_put_uint(&w, cfg->pool)) == PCC_OK)
        st = pcc_chan_send(fd, w.data, w.len, -1);
out:
    pcc_writer_cleanup(&w);
    return st;
}

/* The host's state once it serves. */
typedef struct {
    const pcc_node_host_config *cfg;
    pcc_llm_model **models;
    capped_gen *gens;
    uint8_t node_id[PCC_ATTEST_NODE_ID];
    uint32_t applied;
    int nsfd;
    const pcc_sandbox_filter *filter;
    idle_worker pool[PCC_NODE_MAX_MODELS][PCC_NODE_MAX_POOL];
    size_t n_pool[PCC_NODE_MAX_MODELS];
    uint64_t next_slot;
    running *run;
    size_t n_run;
} host;

static const uint8_t CHAN_MSG[] = {0x81, 0xa2, 'o', 'p', 0xa7, 'c', 'h', 'a', 'n', 'n', 'e', 'l'};

/* send_slot tells the service about a pooled worker: idle {slot, model} with its channel, or
 * gone {slot} when it died waiting. */
static pcc_status send_slot(int fd, uint64_t slot, const char *model, int chan)
{
    uint8_t b[256];
    pcc_writer w;
    pcc_writer_init_fixed(&w, b, sizeof b);
    pcc_status st;
    if ((st = pcc_wire_put_map(&w, model ? 3 : 2)) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "op")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, model ? "idle" : "gone")) != PCC_OK ||
        (st = pcc_wire_put_cstr(&w, "slot")) != PCC_OK ||
        (st = pcc_wire_put_uint(&w, slot)) != PCC_OK)
        return st;
    if (model != NULL && ((st = pcc_wire_put_cstr(&w, "model")) != PCC_OK ||
                          (st = pcc_wire_put_cstr(&w, model)) != PCC_OK))
        return st;
    return pcc_chan_send(fd, w.data, w.len, chan);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* spawn_idle forks one sandboxed worker for model mi onto two fresh channels and keeps the
 * host's ends. The worker waits for its invoke; nothing about a request exists yet. */
static pcc_status spawn_idle(host *h, size_t mi, idle_worker *out)
{
    int a[2] = {-1, -1}, b[2] = {-1, -1};
    pcc_status st = PCC_E_STATE;
    out->pid = -1;
    out->svc = out->encl = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) != 0)
        goto out;
    pcc_worker_config wc = {0};
    wc.chan_fd = a[0];
    wc.enclave_fd = b[0];
    memcpy(wc.node_id, h->node_id, sizeof h->node_id);
    wc.max_payload = h->cfg->max_payload;
    wc.sandbox_layers = h->applied;
    wc.sandbox_optional = 0;
    wc.join_netns = h->nsfd >= 0;
    wc.netns_fd = h->nsfd;
    wc.filter = h->filter;
    wc.gen.run = h->cfg->probe ? probe_run : capped_run;
    wc.gen.ctx = &h->gens[mi];
    wc.engine = h->cfg->probe ? NULL : h->gens[mi].inner.ctx; /* the model, one thread */
    wc.engine_threads = (int)h->cfg->threads;
    /* wc.warm (touching the model's pages ahead) stays unset: measured, it cost more than it
     * saved. A replacement doing it right after a request competes with the next one (TTFT
     * 192 ms with it, 160 without, 156 with no pool at all: back-to-back 64-token requests on 2
     * loaded cores), while a worker faulting the model in during its first token showed no
     * loss. So workers are forked and sandboxed ahead and fault the model in as they compute. */
    if ((st = pcc_worker_spawn(&wc, &out->pid)) != PCC_OK)
        goto out;
    out->svc = a[1];
    out->encl = b[1];
    a[1] = b[1] = -1;
out:
    for (int i = 0; i < 2; i++) {
        if (a[i] >= 0)
            close(a[i]);
        if (b[i] >= 0)
            close(b[i]);
    }
    return st;
}

/* fill forks workers for model mi until its pool is full. A failed fork leaves it short; the
 * next request tries again (and, with an empty pool, forks on demand). When the host calls it:
 * see REFILL_*. */
static pcc_status fill(host *h, size_t mi)
{
    while (h->n_pool[mi] < h->cfg->pool) {
        idle_worker w;
        if (spawn_idle(h, mi, &w) != PCC_OK)
            return PCC_OK;
        w.slot = ++h->next_slot;
        pcc_status st = send_slot(h->cfg->ctrl_fd, w.slot, h->cfg->models[mi].name, w.svc);
        close(w.svc);
        w.svc = -1;
        h->pool[mi][h->n_pool[mi]++] = w;
        if (st != PCC_OK)
            return st;
    }
    return PCC_OK;
}

/* start_serving moves worker w to the running set under request id and gives the enclave its
 * enclave channel. Returns 0 or the PCC_NODE_EXIT_* code for the service. */
static int start_serving(host *h, idle_worker *w, uint64_t id)
{
    if (h->n_run >= h->cfg->max_workers) {
        (void)kill(w->pid, SIGKILL); /* it may hold an invoke already: it must not start */
        idle_close(w);
        return PCC_NODE_EXIT_OVERLOADED;
    }
    h->run[h->n_run].pid = w->pid;
    h->run[h->n_run].id = id;
    h->n_run++;
    if (pcc_chan_send(h->cfg->enclave_fd, CHAN_MSG, sizeof CHAN_MSG, w->encl) != PCC_OK)
        (void)kill(w->pid, SIGKILL); /* no enclave: the worker could never unwrap */
    idle_close(w);
    return 0;
}

/* assign_slot: the service has written request id to the pooled worker in slot. Returns 0 or
 * the PCC_NODE_EXIT_* code (the slot's worker died meanwhile: the service reads EOF). */
static int assign_slot(host *h, uint64_t slot, uint64_t id, size_t *mi_out)
{
    for (size_t mi = 0; mi < h->cfg->n_models; mi++)
        for (size_t i = 0; i < h->n_pool[mi]; i++)
            if (h->pool[mi][i].slot == slot) {
                idle_worker w = h->pool[mi][i];
                memmove(&h->pool[mi][i], &h->pool[mi][i + 1],
                        (h->n_pool[mi] - i - 1) * sizeof w);
                h->n_pool[mi]--;
                *mi_out = mi;
                return start_serving(h, &w, id);
            }
    return PCC_NODE_EXIT_SPAWN;
}

/* assign_new: no pooled worker was free for the service: fork one for model mi now and hand the
 * service its channel. *fatal on a broken control channel. */
static int assign_new(host *h, size_t mi, uint64_t id, pcc_status *fatal)
{
    idle_worker w;
    *fatal = PCC_OK;
    if (h->n_run >= h->cfg->max_workers)
        return PCC_NODE_EXIT_OVERLOADED;
    if (spawn_idle(h, mi, &w) != PCC_OK)
        return PCC_NODE_EXIT_SPAWN;
    /* the service first: it writes the invoke while the enclave takes the other channel */
    if ((*fatal = send_worker(h->cfg->ctrl_fd, id, w.svc)) != PCC_OK) {
        (void)kill(w.pid, SIGKILL);
        idle_close(&w);
        return 0;
    }
    return start_serving(h, &w, id);
}

/* reap collects ended workers: an assigned one is reported to the service, a pooled one that
 * died while waiting is dropped from its pool (refilled with the next request). */
static pcc_status reap(host *h)
{
    int ws;
    pid_t pid;
    while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
        int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        int found = 0;
        for (size_t i = 0; i < h->n_run && !found; i++)
            if (h->run[i].pid == pid) {
                uint64_t id = h->run[i].id;
                h->run[i] = h->run[--h->n_run];
                found = 1;
                pcc_status st = send_exit(h->cfg->ctrl_fd, id, code);
                if (st != PCC_OK)
                    return st;
            }
        for (size_t mi = 0; mi < h->cfg->n_models && !found; mi++)
            for (size_t i = 0; i < h->n_pool[mi]; i++)
                if (h->pool[mi][i].pid == pid) {
                    uint64_t slot = h->pool[mi][i].slot;
                    idle_close(&h->pool[mi][i]);
                    memmove(&h->pool[mi][i], &h->pool[mi][i + 1],
                            (h->n_pool[mi] - i - 1) * sizeof h->pool[mi][i]);
                    h->n_pool[mi]--;
                    found = 1;
                    pcc_status st = send_slot(h->cfg->ctrl_fd, slot, NULL, -1);
                    if (st != PCC_OK)
                        return st;
                    break;
                }
    }
    return PCC_OK;
}

pcc_status pcc_node_host_run(const pcc_node_host_config *cfg)
{
    pcc_llm_model *models[PCC_NODE_MAX_MODELS] = {0};
    capped_gen gens[PCC_NODE_MAX_MODELS];
    uint8_t digests[PCC_NODE_MAX_MODELS][PCC_ATTEST_DIGEST];
    pcc_sandbox_filter *filter = NULL;
    host *h = NULL;
    uint8_t *buf = NULL;
    int nsfd = -1, sigfd = -1;
    uint32_t applied = 0;
    pcc_status st;
    if (cfg == NULL || cfg->ctrl_fd < 0 || cfg->enclave_fd < 0 || cfg->n_models == 0 ||
        cfg->n_models > PCC_NODE_MAX_MODELS || cfg->max_workers == 0 ||
        cfg->max_workers > MAX_RUNNING || cfg->pool > PCC_NODE_MAX_POOL ||
        cfg->threads > PCC_LLM_MAX_THREADS ||
        (cfg->layers & ~PCC_SANDBOX_ALL) != 0)
        return PCC_E_INVALID;
    if ((st = pcc_chan_harden()) != PCC_OK)
        return st;
    if ((buf = malloc(PCC_NODE_MSG_MAX)) == NULL || (h = calloc(1, sizeof *h)) == NULL ||
        (h->run = calloc(MAX_RUNNING, sizeof *h->run)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    /* 1. models: mapped once, read-only; the digest is of that very mapping */
    for (size_t i = 0; i < cfg->n_models; i++) {
        pcc_llm_options opt = {0};
        const uint8_t *data;
        size_t len;
        opt.threads = 1; /* a pool would not survive fork: each worker starts its own */
        opt.kernels = PCC_KV_BEST;
        if ((st = pcc_llm_model_load(&models[i], cfg->models[i].path, &opt)) != PCC_OK)
            goto out;
        gens[i].inner = pcc_worker_llm_generator(models[i]);
        gens[i].max_tokens = cfg->max_tokens ? cfg->max_tokens : UINT32_MAX;
        pcc_gguf_file(pcc_llm_model_gguf(models[i]), &data, &len);
        if ((st = sha384(data, len, digests[i])) != PCC_OK ||
            (st = send_extend(cfg->enclave_fd, cfg->models[i].name, digests[i], buf)) != PCC_OK)
            goto out;
    }
    /* 2. the sandbox a worker gets, found by a probe that applies it */
    if ((st = probe(cfg->layers, cfg->optional, &applied)) != PCC_OK ||
        (st = send_modes(cfg->enclave_fd, applied, buf)) != PCC_OK)
        goto out;
    static const int worker_fds[2] = {PCC_WORKER_CHAN_FD, PCC_WORKER_ENCLAVE_FD};
    if ((applied & PCC_SANDBOX_SECCOMP) && (st = pcc_sandbox_filter_new(&filter, worker_fds, 2)) != PCC_OK)
        goto out;
    if ((applied & PCC_SANDBOX_NETNS) && pcc_sandbox_netns_prepare(&nsfd) != PCC_OK)
        nsfd = -1; /* each worker then makes its own namespace */
    if ((st = send_ready(cfg->ctrl_fd, cfg, digests, applied)) != PCC_OK)
        goto out;
    /* 3. start: the node id the workers check invokes against */
    {
        size_t len = 0;
        int got = -1;
        pcc_wire_doc *doc = NULL;
        const msgpack_object *v[1];
        static const char *const F_START[] = {"node_id"};
        const uint8_t *p;
        size_t pl;
        if ((st = pcc_chan_recv(cfg->ctrl_fd, buf, PCC_NODE_MSG_MAX, &len, &got)) != PCC_OK)
            goto out;
        if (got >= 0)
            close(got);
        st = pcc_chan_decode(&doc, buf, len, "start", F_START, 1, v);
        if (st == PCC_OK)
            st = pcc_wire_get_bin(v[0], PCC_ATTEST_NODE_ID, PCC_ATTEST_NODE_ID, &p, &pl);
        if (st == PCC_OK)
            memcpy(h->node_id, p, PCC_ATTEST_NODE_ID);
        pcc_wire_doc_free(doc);
        if (st != PCC_OK)
            goto out;
    }
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &ss, NULL) != 0 ||
        (sigfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        st = PCC_E_STATE;
        goto out;
    }
    h->cfg = cfg;
    h->models = models;
    h->gens = gens;
    h->applied = applied;
    h->nsfd = nsfd;
    h->filter = filter;
    /* 4. the pools, then one worker per request (and replacements, see REFILL_*) */
    for (size_t mi = 0; mi < cfg->n_models; mi++)
        if ((st = fill(h, mi)) != PCC_OK)
            goto out;
    int64_t refill_at = -1; /* when to refill the pools (ms, monotonic), -1: they are full */
    for (;;) {
        struct pollfd p[2] = {{cfg->ctrl_fd, POLLIN, 0}, {sigfd, POLLIN, 0}};
        int64_t now = now_ms();
        if (refill_at >= 0 && now >= refill_at) {
            for (size_t mi = 0; mi < cfg->n_models; mi++)
                if ((st = fill(h, mi)) != PCC_OK)
                    goto out;
            refill_at = -1;
        }
        int n = poll(p, 2, refill_at < 0 ? -1 : (int)(refill_at - now));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            st = PCC_E_STATE;
            goto out;
        }
        if (n == 0)
            continue;
        if (p[1].revents) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) > 0)
                ;
            size_t before = h->n_run;
            if ((st = reap(h)) != PCC_OK)
                goto out;
            if (h->n_run < before && refill_at >= 0) /* a serving worker ended: refill soon */
                refill_at = now_ms() + REFILL_SOON_MS;
        }
        if (p[0].revents == 0)
            continue;
        size_t len = 0;
        int chan = -1;
        if ((st = pcc_chan_recv(cfg->ctrl_fd, buf, PCC_NODE_MSG_MAX, &len, &chan)) != PCC_OK) {
            if (st == PCC_E_STATE)
                st = PCC_OK; /* the service closed the channel: stop */
            goto out;
        }
        if (chan >= 0)
            close(chan); /* neither message carries a descriptor */
        pcc_wire_doc *doc = NULL;
        const msgpack_object *v[2];
        static const char *const F_INVOKE[] = {"id", "model"};
        static const char *const F_ASSIGN[] = {"id", "slot"};
        uint64_t id = 0, slot = 0;
        const char *mn = NULL;
        size_t ml = 0, mi = 0;
        int is_assign = 0, code;
        st = pcc_chan_decode(&doc, buf, len, "invoke", F_INVOKE, 2, v);
        if (st == PCC_OK)
            st = pcc_wire_get_str(v[1], 1, PCC_ATTEST_MAX_NAME, &mn, &ml);
        else if (doc != NULL && (st = pcc_chan_decode(&doc, buf, len, "assign", F_ASSIGN, 2, v)) ==
                                    PCC_OK) {
            is_assign = 1;
            st = pcc_wire_get_uint(v[1], UINT64_MAX, &slot);
        }
        if (st == PCC_OK)
            st = pcc_wire_get_uint(v[0], UINT64_MAX, &id);
        if (st != PCC_OK || chan >= 0) {
            pcc_wire_doc_free(doc);
            st = PCC_E_FORMAT; /* the service broke the protocol: stop */
            goto out;
        }
        if (is_assign) {
            code = assign_slot(h, slot, id, &mi);
        } else {
            for (mi = 0; mi < cfg->n_models; mi++)
                if (strlen(cfg->models[mi].name) == ml &&
                    memcmp(cfg->models[mi].name, mn, ml) == 0)
                    break;
            code = mi == cfg->n_models ? PCC_NODE_EXIT_MODEL : assign_new(h, mi, id, &st);
        }
        pcc_wire_doc_free(doc);
        if (st != PCC_OK)
            goto out;
        if (code != 0 && (st = send_exit(cfg->ctrl_fd, id, code)) != PCC_OK)
            goto out;
        if (mi < cfg->n_models && h->n_pool[mi] < cfg->pool) {
            int64_t when = now_ms() + (h->n_pool[mi] == 0 ? REFILL_SOON_MS : REFILL_LATER_MS);
            if (refill_at < 0 || when < refill_at)
                refill_at = when;
        }
    }
out:
    if (h != NULL)
        for (size_t mi = 0; mi < PCC_NODE_MAX_MODELS; mi++)
            for (size_t i = 0; i < h->n_pool[mi]; i++)
                idle_close(&h->pool[mi][i]); /* the waiting workers read EOF and exit */
    if (sigfd >= 0)
        close(sigfd);
    if (nsfd >= 0)
        close(nsfd);
    pcc_sandbox_filter_free(filter);
    for (size_t i = 0; i < cfg->n_models; i++)
        pcc_llm_model_free(models[i]);
    if (h != NULL)
        free(h->run);
    free(h);
    free(buf);
    return st;
}
