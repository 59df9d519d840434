/* pcc/sandbox.h: the layers a request worker puts around itself before it reads a request.
 *
 * In this order, each one explicit, checked call: a new network namespace (no interface up),
 * Landlock with no filesystem access (and, where the kernel has them, no TCP bind/connect, no
 * abstract Unix sockets or signals outside the worker), PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE 0,
 * RLIMIT_CORE 0 and a small RLIMIT_NOFILE, then a seccomp allow-list (libseccomp) of the system
 * calls inference needs, reading and writing only the worker's channels. Every layer is one-way:
 * nothing in the process can take it off again. */
#ifndef PCC_SANDBOX_H
#define PCC_SANDBOX_H

#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PCC_SANDBOX_NETNS 0x01u        /* unshare(CLONE_NEWNET) */
#define PCC_SANDBOX_LANDLOCK 0x02u     /* no filesystem access */
#define PCC_SANDBOX_NO_NEW_PRIVS 0x04u /* PR_SET_NO_NEW_PRIVS */
#define PCC_SANDBOX_NOT_DUMPABLE 0x08u /* PR_SET_DUMPABLE 0 */
#define PCC_SANDBOX_RLIMITS 0x10u      /* RLIMIT_CORE 0, RLIMIT_NOFILE small */
#define PCC_SANDBOX_SECCOMP 0x20u      /* the system-call allow-list */
#define PCC_SANDBOX_ALL 0x3fu

#define PCC_SANDBOX_MAX_FDS 8
#define PCC_SANDBOX_DEFAULT_NOFILE 16

/* A seccomp program compiled once (opaque): loading it in a worker is one system call, where
 * building it with libseccomp in every worker costs a few hundred microseconds. */
typedef struct pcc_sandbox_filter pcc_sandbox_filter;

/* What to apply. */
typedef struct pcc_sandbox_policy {
    uint32_t layers;   /* layers to apply: PCC_SANDBOX_ALL on a node */
    uint32_t optional; /* layers allowed to be missing (a node told to run weaker); 0 normally */
    const int *fds;    /* the worker's channels: the only descriptors it may read and write */
    size_t n_fds;      /* at most PCC_SANDBOX_MAX_FDS */
    unsigned nofile;   /* RLIMIT_NOFILE; 0 for PCC_SANDBOX_DEFAULT_NOFILE */
    int join_netns;    /* nonzero: enter netns_fd instead of creating a namespace */
    int netns_fd;      /* an empty namespace from pcc_sandbox_netns_prepare */
    const pcc_sandbox_filter *filter; /* NULL: build the filter here; else made for these fds */
} pcc_sandbox_policy;

/* pcc_sandbox_filter_new compiles the system-call allow-list for channel descriptors fds (the
 * numbers the workers will have) in the host, before any fork. Free with
 * pcc_sandbox_filter_free. A policy that uses it must name the same descriptors, in the same
 * order (PCC_E_INVALID otherwise). */
PCC_API pcc_status pcc_sandbox_filter_new(pcc_sandbox_filter **out, const int *fds,
                                          size_t n_fds) PCC_WUR;

/* pcc_sandbox_filter_free frees a compiled filter. Accepts NULL. */
PCC_API void pcc_sandbox_filter_free(pcc_sandbox_filter *f);

/* pcc_sandbox_apply applies the layers of p to the calling process, in the order above, and
 * sets *applied to those that took effect. A layer that fails is an error (PCC_E_UNSUPPORTED if
 * the kernel lacks it, PCC_E_STATE if the kernel refused it) unless it is in p->optional, in
 * which case it is left out of *applied and the next layer is tried.
 * The process must be single-threaded (a freshly forked worker): seccomp and Landlock bind the
 * calling thread and its future children only.
 * WARNING: irreversible. After a failure the process is partly sandboxed; it must _exit. */
PCC_API pcc_status pcc_sandbox_apply(const pcc_sandbox_policy *p, uint32_t *applied) PCC_WUR;

/* pcc_sandbox_netns_prepare makes an empty network namespace (only a loopback interface, down)
 * without entering it, and sets *fd to a descriptor that keeps it alive (O_CLOEXEC). A host makes
 * one at start-up; each worker then enters it (join_netns), which costs a few microseconds where
 * creating a namespace costs milliseconds. Workers cannot bring its interface up or create a
 * socket in it (seccomp), so sharing it gives them nothing. Needs CAP_SYS_ADMIN. */
PCC_API pcc_status pcc_sandbox_netns_prepare(int *fd) PCC_WUR;

/* pcc_sandbox_landlock_abi returns the kernel's Landlock ABI version (0 without Landlock). */
PCC_API int pcc_sandbox_landlock_abi(void);

/* pcc_sandbox_layer_name returns "netns", "landlock", "no_new_privs", "not_dumpable",
 * "rlimits" or "seccomp" for one layer bit, NULL otherwise. */
PCC_API const char *pcc_sandbox_layer_name(uint32_t layer);

#ifdef __cplusplus
}
#endif
#endif
