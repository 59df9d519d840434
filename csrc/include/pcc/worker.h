/* pcc/worker.h: a request worker: forked per request, sandboxed before it reads anything.
 *
 * Messages on the worker's channels (Unix socketpairs) are a 4-byte big-endian length and a
 * msgpack map, parsed as hostile on both sides. The whole table:
 *
 *   host    -> worker   invoke  {"op": "invoke", "key_id": bin8, "enc": bin, "ct": bin32,
 *                                "node": bin32, "nonce": bin12, "body": [bin, ...]}
 *   worker  -> enclave  unwrap  {"op": "unwrap", "key_id": bin8, "enc": bin, "ct": bin32}
 *   enclave -> worker   dk      {"op": "dk", "dk": bin16}   or   {"op": "refused"}
 *   worker  -> host     the answer stream (rnonce, then frames) with a spare abort frame for
 *                       the next position before each frame (PCC_WORKER_SPARE records, kept
 *                       by the service, sent in place of the frame if the worker dies first),
 *                       then the worker exits
 *
 * The enclave unwraps with its own node id, never one a worker names. Before the worker holds
 * DK it cannot seal an answer: it exits with a PCC_WORKER_EXIT_* code for the host to map. */
#ifndef PCC_WORKER_H
#define PCC_WORKER_H

#include <sys/types.h>

#include "pcc/chat.h"
#include "pcc/common.h"
#include "pcc/request.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_WORKER_MSG_MAX (2u << 20) /* the longest invoke message */
#define PCC_WORKER_CHAN_FD 3          /* where a spawned worker finds its host channel */
#define PCC_WORKER_ENCLAVE_FD 4       /* ... and its enclave channel */
#define PCC_WORKER_NETNS_FD 5         /* ... and the prepared namespace, when it joins one */
#define PCC_WORKER_SPARE 0x80000000u  /* a record header's flag: a spare abort frame (worker.c) */

/* Exit codes of a worker. */
enum {
    PCC_WORKER_EXIT_OK = 0,        /* an answer (possibly a sealed error) was written */
    PCC_WORKER_EXIT_SANDBOX = 10,  /* a required sandbox layer could not be applied */
    PCC_WORKER_EXIT_INVOKE = 11,   /* the invoke message was malformed or not for this node */
    PCC_WORKER_EXIT_KEY = 12,      /* the enclave refused to unwrap (unknown key, bad wrap) */
    PCC_WORKER_EXIT_IO = 13,       /* a channel failed */
    PCC_WORKER_EXIT_INTERNAL = 14
};

/* emit: writes one piece of answer text (complete UTF-8) as sealed frames. */
typedef pcc_status (*pcc_worker_emit_fn)(void *sink, const char *text, size_t len);

/* A text generator: runs req, calling emit for each piece, and reports token counts. Its
 * status becomes the answer's error code: PCC_E_INVALID -> bad_request, PCC_E_LIMIT ->
 * too_long, anything else -> internal. */
typedef struct pcc_worker_generator {
    pcc_status (*run)(void *ctx, const pcc_chat_request *req, pcc_worker_emit_fn emit,
                      void *sink, uint64_t *prompt_tokens, uint64_t *completion_tokens);
    void *ctx;
} pcc_worker_generator;

typedef struct pcc_worker_config {
    int chan_fd;                             /* to the host */
    int enclave_fd;                          /* to the enclave */
    uint8_t node_id[PCC_REQUEST_NODE_ID_LEN];
    size_t max_payload;                      /* 0: PCC_REQUEST_PAYLOAD_MAX */
    uint32_t sandbox_layers;                 /* PCC_SANDBOX_ALL on a node */
    uint32_t sandbox_optional;               /* layers allowed to be missing */
    int join_netns, netns_fd;                /* see pcc_sandbox_policy */
    const struct pcc_sandbox_filter *filter; /* compiled for the channels' numbers, or NULL */
    pcc_worker_generator gen;
    const void *warm;                        /* memory to touch once the sandbox is up (the */
    size_t warm_len;                         /* model's mapping), or NULL: page tables filled
                                              * before the invoke arrives */
    struct pcc_llm_model *engine;            /* the model gen computes with (loaded with one */
    int engine_threads;                      /* thread), or NULL; > 1: its pool of that many
                                              * threads is started once the sandbox is up */
} pcc_worker_config;

/* pcc_worker_serve is a worker's whole life after fork: sandbox, start the engine's threads (under
 * the sandbox: threads started before it would not be confined), touch warm, read one invoke, have the
 * enclave unwrap DK, decrypt and parse the payload, generate, write the sealed answer, wipe.
 * Returns a PCC_WORKER_EXIT_* code for _exit. The process must be single-threaded. */
PCC_API int pcc_worker_serve(const pcc_worker_config *cfg);

/* pcc_worker_spawn forks a worker: the child moves chan_fd and enclave_fd (and netns_fd) to
 * PCC_WORKER_CHAN_FD / _ENCLAVE_FD (/ _NETNS_FD), closes every other descriptor above 2, runs
 * pcc_worker_serve and _exits with its code. *pid is the child's. The caller keeps its copies of
 * the channel ends it handed over and should close them.
 * WARNING: call it from a single-threaded host: a lock another thread holds at fork (OpenSSL's,
 * libseccomp's) would stay held forever in the child. */
PCC_API pcc_status pcc_worker_spawn(const pcc_worker_config *cfg, pid_t *pid) PCC_WUR;

/* pcc_worker_unwrap_reply is the enclave's side of one unwrap: reads the message from fd, opens
 * the wrapped key with keys (pcc_request_key_unwrap, this node's node_id) and replies dk or
 * refused. Returns the unwrap's status (PCC_E_UNKNOWN_KEY, PCC_E_DECRYPT, PCC_E_FORMAT...) or
 * PCC_E_STATE when the channel fails. */
PCC_API pcc_status pcc_worker_unwrap_reply(int fd, const pcc_request_node_key *keys,
                                           size_t n_keys, const uint8_t *node_id,
                                           size_t node_id_len) PCC_WUR;

/* pcc_worker_unwrap_answer is the answer step of pcc_worker_unwrap_reply, for an enclave that
 * reads the message itself: msg[0..len) is one whole unwrap message (msg NULL: a message over
 * the cap, refused), answered on fd dk or refused. Same returns. */
PCC_API pcc_status pcc_worker_unwrap_answer(int fd, const uint8_t *msg, size_t len,
                                            const pcc_request_node_key *keys, size_t n_keys,
                                            const uint8_t *node_id, size_t node_id_len) PCC_WUR;

/* pcc_worker_llm_generator returns a generator that runs a chat on model (a pcc_llm_model *,
 * loaded by the host before fork). WARNING: the model's thread pool does not survive fork: load
 * it with one thread, and give it as the config's engine for the worker to start its threads. */
PCC_API pcc_worker_generator pcc_worker_llm_generator(void *model);

#ifdef __cplusplus
}
#endif
#endif
