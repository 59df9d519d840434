/* pcc/node.h: the node's two C loops (the enclave and the host) and every message between the
 * node's processes, in one table (the way OpenSSH's monitor lists its requests).
 *
 * Every message is a 4-byte big-endian length and one msgpack map (csrc/wire), parsed as hostile
 * by its receiver: exactly the keys shown, in any order, with the types and sizes shown, and
 * nothing else. A message that does not parse, or that the receiver's state does not allow, gets
 * {"op": "error", "error": "format" | "state" | "invalid" | "internal"} and changes nothing.
 * With backend tpm, a TPM that cannot be used makes enroll and extend answer "tpm_unreachable",
 * "tpm_no_sha384" (no active SHA-384 PCR bank) or "tpm_pcrs_not_zero" (the register PCRs were
 * extended since the TPM's last reset: a TPM used before, which the node refuses).
 *
 * service -> enclave (the control channel)                   allowed in state
 *   csr        {"op","serial": str}          -> {"op":"csr","csr": bin,"node_id": bin32}   BOOT
 *              (backend sim: a fresh P-384 identity key and a CSR naming the serial)
 *   enroll     {"op","serial": str}          -> {"op":"enroll","ak_public": bin,"ek_cert": bin,
 *                                                "node_id": bin32}                         BOOT
 *              (backend tpm: a fresh attestation key in the TPM, its TPMT_PUBLIC, the EK cert)
 *   activate   {"op","blob": bin,"secret": bin} -> {"op":"credential","credential": bin}
 *              (backend tpm: TPM2_ActivateCredential on the CA's challenge)   KEYED, once
 *   set_chain  {"op","chain": [bin, ...]}    -> {"op":"ok"}      KEYED (tpm: after activate)
 *              (tpm: the first certificate must certify the AK with tcg-kp-AIKCertificate)
 *   extend     {"op","reg": 0|2,"name": str,"sha384": bin48} -> {"op":"ok"}   before lock
 *   lock       {"op"}                        -> {"op":"ok"}   CHAINED, every register extended
 *                                                             and the sandbox modes known
 *   attest     {"op","release": bin,"tlog_proof": str,"models": [str]}
 *                                            -> {"op":"bundle","bundle": bin}              LOCKED
 *   rotate     {"op"}                        -> {"op":"key","key_id": bin8,"not_after": uint}
 *                                                                                          LOCKED
 * host -> enclave (the host channel)
 *   extend     {"op","reg": 1,"name": str,"sha384": bin48} -> {"op":"ok"}    before lock
 *              (the model register: the host hashes the very mapping its engine reads)
 *   modes      {"op","sandbox": uint}        -> {"op":"ok"}   once, before lock (the layers a
 *                                                             probe worker could apply)
 *   channel    {"op"} and one descriptor (SCM_RIGHTS), no reply                     LOCKED
 *              (a worker's end: the enclave answers exactly one unwrap on it, then closes it)
 * worker -> enclave (a worker channel): unwrap, see pcc/worker.h
 *
 * service -> host (the host's control channel)
 *   start      {"op","node_id": bin32}       after the host said ready (once)
 *   assign     {"op","id": uint,"slot": uint}   the service wrote request id's invoke to the
 *              pooled worker of that slot: the host gives the enclave its enclave channel
 *   invoke     {"op","id": uint,"model": str}   no pooled worker was free: answered by worker
 *              (one forked now), or by exit alone
 * host -> service
 *   ready      {"op","models": [{"name": str,"sha384": bin48}],"sandbox": uint,"pool": uint}
 *   idle       {"op","slot": uint,"model": str} and one descriptor: the service's end of the
 *              channel of a worker forked ahead (sandboxed, waiting); the service writes an
 *              invoke message (pcc/worker.h) on it, sends assign, and reads the answer from it
 *   gone       {"op","slot": uint}  that pooled worker died waiting: drop its channel
 *   worker     {"op","id": uint} and one descriptor: the channel of a worker forked for an
 *              invoke, used the same way
 *   exit       {"op","id": uint,"code": int}  a worker ended: PCC_WORKER_EXIT_*, 128 + signal,
 *              or PCC_NODE_EXIT_* when no worker could be assigned (then without a worker
 *              message before it)
 *
 * States of the enclave: BOOT -> KEYED (csr or enroll) -> CHAINED (set_chain) -> LOCKED (lock). Nothing
 * goes back; nothing is measured after lock. */
#ifndef PCC_NODE_H
#define PCC_NODE_H

#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_NODE_MSG_MAX (512u * 1024)    /* longest control message (a bundle and its proof) */
#define PCC_NODE_MAX_MODELS 8
#define PCC_NODE_MAX_KEYS 4               /* HPKE keys alive at once (current + rotated out) */
#define PCC_NODE_MAX_CHANNELS 256         /* worker channels waiting for their unwrap */
#define PCC_NODE_MAX_POOL 16              /* workers forked ahead, per model */
#define PCC_NODE_KEY_LIFETIME_MAX (48u * 3600)

/* Exit codes the host reports when it could not start a worker for an invoke. */
#define PCC_NODE_EXIT_OVERLOADED 200      /* max_workers already running */
#define PCC_NODE_EXIT_SPAWN 201           /* fork or channel set-up failed */
#define PCC_NODE_EXIT_MODEL 202           /* no such model */

typedef struct pcc_node_enclave_config {
    int ctrl_fd;            /* the control channel (the service) */
    int host_fd;            /* the host channel */
    uint64_t key_lifetime;  /* seconds an HPKE key lives (1 .. PCC_NODE_KEY_LIFETIME_MAX) */
    uint16_t aead;          /* the HPKE AEAD of node keys (0x0001 AES-128-GCM by default) */
    int debug;              /* nonzero: the bundle says debug (a node running probe workers) */
    const char *tpm_tcti;   /* NULL: backend sim; else backend tpm on the TPM this tpm2-tss TCTI
                             * string names ("device:/dev/tpmrm0", "swtpm:host=...,port=...") */
} pcc_node_enclave_config;

/* pcc_node_enclave_run is the whole life of the enclave process. Backend "sim": a fresh P-384
 * identity key per boot. Backend "tpm" (tpm_tcti set): the TPM is opened at start and its register
 * PCRs (SHA-384 PCRs 8, 9, 10) must be zero; the identity key is an attestation key created in the
 * TPM per boot, every extend also extends the register's PCR, bundles carry a quote bound to the
 * body and are signed by the AK; the TPM gets an orderly TPM2_Shutdown when the loop ends. HPKE
 * keys are in secure memory with either backend. It makes the process non-dumpable with no core
 * dumps, then serves the channels until the control channel closes. Returns the status that ended
 * it (PCC_OK when the service closed the channel). */
PCC_API pcc_status pcc_node_enclave_run(const pcc_node_enclave_config *cfg) PCC_WUR;

typedef struct pcc_node_model {
    const char *name;       /* what clients ask for */
    const char *path;       /* the GGUF file */
} pcc_node_model;

typedef struct pcc_node_host_config {
    int ctrl_fd;            /* to the service */
    int enclave_fd;         /* the host channel to the enclave */
    const pcc_node_model *models;
    size_t n_models;        /* 1 .. PCC_NODE_MAX_MODELS */
    uint32_t layers;        /* sandbox layers the workers apply (PCC_SANDBOX_ALL) */
    uint32_t optional;      /* layers allowed to be missing (a node told to run weaker) */
    size_t max_payload;     /* request payload limit, 0 for the default */
    unsigned max_workers;   /* workers serving at once (1 .. 1024) */
    uint32_t max_tokens;    /* a request asking for more gets the sealed error too_long */
    int probe;              /* tests only: workers run the sandbox probe instead of the model
                             * (the enclave must then be told debug, so no client accepts it) */
    unsigned pool;          /* workers forked ahead per model, waiting (0 .. PCC_NODE_MAX_POOL;
                             * 0: each invoke forks its worker) */
    unsigned threads;       /* engine threads of each worker (0 or 1: one; at most
                             * PCC_LLM_MAX_THREADS), started by the worker under its sandbox */
} pcc_node_host_config;

/* pcc_node_host_run is the whole life of the host process: non-dumpable, no core dumps; loads
 * each model read-only (one thread: each worker starts its own cfg->threads) and hashes it from its mapping, extends the model register
 * through the enclave, probes which sandbox layers a worker gets (a forked probe applies them),
 * reports ready, forks cfg->pool workers per model ahead, then assigns one waiting worker per
 * invoke (forking its replacement at once) until the control channel closes. */
PCC_API pcc_status pcc_node_host_run(const pcc_node_host_config *cfg) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
