/* sandbox.c: a request worker's sandbox (pcc/sandbox.h), one checked call per layer.
 *
 * The order matters: unshare(CLONE_NEWNET) and Landlock's restrict_self need their privileges
 * (CAP_SYS_ADMIN) before no_new_privs and seccomp take the rest away, and seccomp comes last
 * because the calls that set up the other layers are not on its list. */
#include "pcc/sandbox.h"

#include <errno.h>
#include <linux/landlock.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdint.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

/* ---- network namespace ------------------------------------------------------------------- */

/* A fresh network namespace has only a loopback interface, and it is down: no route anywhere.
 * Either a new one, or the empty one the host prepared (setns checks that the descriptor names
 * a network namespace). */
static pcc_status layer_netns(const pcc_sandbox_policy *p)
{
    int rc = p->join_netns ? setns(p->netns_fd, CLONE_NEWNET) : unshare(CLONE_NEWNET);
    if (rc != 0)
        return errno == ENOSYS ? PCC_E_UNSUPPORTED : PCC_E_STATE;
    return PCC_OK;
}

pcc_status pcc_sandbox_netns_prepare(int *fd)
{
    int ready[2] = {-1, -1}, done[2] = {-1, -1}, status = 0;
    char c = 0, path[64];
    pcc_status st = PCC_E_STATE;
    pid_t pid = -1;
    if (fd == NULL)
        return PCC_E_INVALID;
    *fd = -1;
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(done, O_CLOEXEC) != 0)
        goto out;
    /* a child makes the namespace, says so, and lives until the parent has opened it (the
     * namespace of a process that exited can no longer be opened) */
    if ((pid = fork()) == 0) {
        char ok = unshare(CLONE_NEWNET) == 0 ? 1 : 0;
        if (write(ready[1], &ok, 1) != 1 || !ok)
            _exit(1);
        (void)close(done[1]);
        (void)read(done[0], &c, 1); /* EOF once the parent closes its end */
        _exit(0);
    }
    if (pid < 0)
        goto out;
    if (read(ready[0], &c, 1) == 1 && c == 1) {
        (void)snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
        if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
            st = PCC_OK;
    }
out:
    for (int i = 0; i < 2; i++) {
        if (ready[i] >= 0)
            (void)close(ready[i]);
        if (done[i] >= 0)
            (void)close(done[i]);
    }
    if (pid > 0)
        (void)waitpid(pid, &status, 0);
    return st;
}

/* ---- Landlock ------------------------------------------------------------------------------ */

/* The kernel headers of older distributions lack the newer ABI's constants; the values are
 * fixed by the kernel's UAPI. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#define LL_NET_BIND_TCP (1ULL << 0)              /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; the size passed says which fields the kernel reads. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

int pcc_sandbox_landlock_abi(void)
{
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

/* A ruleset that handles every access right the kernel knows and grants none: opening,
 * creating, renaming, truncating any file or directory (even /dev/null, even through a
 * directory descriptor opened before), binding or connecting TCP, reaching abstract Unix sockets
 * or signalling processes outside the worker all fail with EACCES / EPERM. Descriptors already
 * open keep working. */
static pcc_status layer_landlock(const pcc_sandbox_policy *p)
{
    (void)p;
    int abi = pcc_sandbox_landlock_abi();
    if (abi < 1)
        return PCC_E_UNSUPPORTED;
    struct ll_ruleset_attr attr = {0};
    size_t size = sizeof attr.handled_access_fs;
    attr.handled_access_fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* the 13 rights of ABI 1 */
    if (abi >= 2)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 4) {
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        size = 2 * sizeof(uint64_t);
    }
    if (abi >= 5)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
        size = sizeof attr;
    }
    long fd = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (fd < 0)
        return PCC_E_STATE;
    long r = syscall(SYS_landlock_restrict_self, (int)fd, 0);
    (void)close((int)fd);
    return r == 0 ? PCC_OK : PCC_E_STATE;
}

/* ---- process attributes ----------------------------------------------------------------- */

/* No execve can grant privileges again (setuid bits, file capabilities): what seccomp and
 * Landlock need from an unprivileged process, and a floor for everything after. */
static pcc_status layer_no_new_privs(const pcc_sandbox_policy *p)
{
    (void)p;
    return prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) == 0 ? PCC_OK : PCC_E_STATE;
}

/* Not dumpable: no core file, and /proc/<pid>/mem, ptrace attach and the like are refused to
 * other processes of the same user. */
static pcc_status layer_not_dumpable(const pcc_sandbox_policy *p)
{
    (void)p;
    return prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) == 0 ? PCC_OK : PCC_E_STATE;
}

static pcc_status layer_rlimits(const pcc_sandbox_policy *p)
{
    rlim_t nofile = p->nofile ? p->nofile : PCC_SANDBOX_DEFAULT_NOFILE;
    struct rlimit core = {0, 0}, files = {nofile, nofile};
    if (setrlimit(RLIMIT_CORE, &core) != 0)
        return PCC_E_STATE;
    if (setrlimit(RLIMIT_NOFILE, &files) != 0)
        return PCC_E_STATE;
    return PCC_OK;
}

/* ---- seccomp ------------------------------------------------------------------------------ */

enum rule_kind {
    ALLOW,         /* any arguments */
    CHANNEL,       /* argument 0 is one of the worker's channels */
    NO_EXEC,       /* mprotect: the new protection is never executable */
    ANON_NO_EXEC,  /* mmap: anonymous and never executable (no file can be mapped) */
    THREAD,        /* clone: only with CLONE_THREAD, so a thread and never a process */
    READ_LIMITS,   /* prlimit64: this process, read only (no new limit) */
    FAIL_ENOSYS,   /* answered ENOSYS so that libc falls back to a call we can check */
    KILL           /* the process is killed on the spot */
};

#define RULE(name, kind, why) {SCMP_SYS(name), #name, kind, why}

/* The allow-list: exactly what a worker needs to read its request, run the model on threads,
 * and write its answer. Anything else fails with EPERM; the calls at the end kill the process. */
static const struct sc_rule {
    int nr;
    const char *name;
    enum rule_kind kind;
    const char *why;
} RULES[] = {
    /* the channels to the host and the enclave, and nothing else */
    RULE(read, CHANNEL, "the request and DK come in"),
    RULE(readv, CHANNEL, NULL),
    RULE(recvfrom, CHANNEL, "recv() is recvfrom on x86-64"),
    RULE(recvmsg, CHANNEL, NULL),
    RULE(write, CHANNEL, "answer frames go out"),
    RULE(writev, CHANNEL, NULL),
    RULE(sendto, CHANNEL, "send() is sendto on x86-64"),
    RULE(sendmsg, CHANNEL, NULL),
    RULE(ppoll, ALLOW, "waiting for the channels: polls only descriptors already open"),
    RULE(poll, ALLOW, NULL),
    RULE(close, ALLOW, NULL),
    /* memory */
    RULE(brk, ALLOW, "malloc"),
    RULE(mmap, ANON_NO_EXEC, "arenas, secure memory, thread stacks"),
    RULE(mprotect, NO_EXEC, "guard pages"),
    RULE(munmap, ALLOW, NULL),
    RULE(mremap, ALLOW, "realloc of large blocks"),
    RULE(madvise, ALLOW, "MADV_DONTDUMP on secrets, MADV_DONTNEED when a thread's stack is freed"),
    RULE(mlock, ALLOW, "secure memory stays out of swap"),
    RULE(munlock, ALLOW, NULL),
    /* threads (the engine's pool and OpenBLAS start theirs in the worker: fork keeps one) */
    RULE(clone, THREAD, "pthread_create; fork and vfork are refused"),
    RULE(clone3, FAIL_ENOSYS, "its flags sit behind a pointer seccomp cannot read"),
    RULE(futex, ALLOW, "mutexes, condition variables, pthread_join"),
    RULE(set_robust_list, ALLOW, "every new thread"),
    RULE(rseq, ALLOW, "every new thread registers its restartable sequence"),
    RULE(sched_yield, ALLOW, "pool threads spinning between jobs"),
    RULE(sched_getaffinity, ALLOW, "glibc counts CPUs with it when sysfs is out of reach"),
    RULE(rt_sigprocmask, ALLOW, "glibc masks signals around clone and in abort"),
    RULE(exit, ALLOW, "a thread ends"),
    RULE(exit_group, ALLOW, "the worker ends"),
    /* time, randomness, signals, identity */
    RULE(clock_gettime, ALLOW, "when the vDSO does not answer"),
    RULE(clock_nanosleep, ALLOW, NULL),
    RULE(nanosleep, ALLOW, NULL),
    RULE(gettimeofday, ALLOW, NULL),
    RULE(getrandom, ALLOW, "OpenSSL reseeds after fork; rnonce"),
    RULE(rt_sigreturn, ALLOW, NULL),
    RULE(restart_syscall, ALLOW, NULL),
    RULE(getpid, ALLOW, NULL),
    RULE(gettid, ALLOW, NULL),
    RULE(prlimit64, READ_LIMITS, "getrlimit; raising a limit again is refused"),
    /* fatal: running other code, reading or writing another process, leaving the namespace */
    RULE(execve, KILL, NULL),
    RULE(execveat, KILL, NULL),
    RULE(ptrace, KILL, NULL),
    RULE(process_vm_readv, KILL, NULL),
    RULE(process_vm_writev, KILL, NULL),
    RULE(setns, KILL, "back into the host's network namespace"),
    RULE(unshare, KILL, NULL),
    RULE(bpf, KILL, NULL),
    RULE(kexec_load, KILL, NULL),
    RULE(init_module, KILL, NULL),
    RULE(finit_module, KILL, NULL),
};

static int add_rule(scmp_filter_ctx ctx, const struct sc_rule *r, const int *fds, size_t n_fds)
{
    switch (r->kind) {
    case ALLOW:
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
    case CHANNEL:
        for (size_t i = 0; i < n_fds; i++) {
            int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                                      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fds[i]));
            if (rc != 0)
                return rc;
        }
        return 0;
    case NO_EXEC:
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                                SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    case ANON_NO_EXEC:
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 2,
                                SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
                                SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS));
    case THREAD:
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                                SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    case READ_LIMITS:
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 2, SCMP_A0(SCMP_CMP_EQ, 0),
                                SCMP_A2(SCMP_CMP_EQ, 0));
    case FAIL_ENOSYS:
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), r->nr, 0);
    case KILL:
        return seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, r->nr, 0);
    }
    return -EINVAL;
}

/* filter_build makes the libseccomp filter for these channel descriptors. */
static pcc_status filter_build(scmp_filter_ctx *out, const int *fds, size_t n_fds)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    *out = NULL;
    if (ctx == NULL)
        return PCC_E_NOMEM;
    /* a system call made through another ABI (int 0x80, x32) kills the process */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0)
        goto fail;
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++)
        if (add_rule(ctx, &RULES[i], fds, n_fds) != 0)
            goto fail;
    *out = ctx;
    return PCC_OK;
fail:
    seccomp_release(ctx);
    return PCC_E_STATE;
}

struct pcc_sandbox_filter {
    struct sock_fprog prog;
    int fds[PCC_SANDBOX_MAX_FDS];
    size_t n_fds;
};

pcc_status pcc_sandbox_filter_new(pcc_sandbox_filter **out, const int *fds, size_t n_fds)
{
    scmp_filter_ctx ctx = NULL;
    pcc_sandbox_filter *f = NULL;
    int mfd = -1;
    struct stat sb;
    if (out == NULL || (fds == NULL && n_fds) || n_fds > PCC_SANDBOX_MAX_FDS)
        return PCC_E_INVALID;
    *out = NULL;
    for (size_t i = 0; i < n_fds; i++)
        if (fds[i] < 0)
            return PCC_E_INVALID;
    pcc_status st = filter_build(&ctx, fds, n_fds);
    if (st != PCC_OK)
        return st;
    st = PCC_E_STATE;
    /* libseccomp 2.5 exports the program to a descriptor only: an anonymous memory file */
    if ((mfd = memfd_create("pcc-seccomp", MFD_CLOEXEC)) < 0 || seccomp_export_bpf(ctx, mfd) != 0 ||
        fstat(mfd, &sb) != 0 || sb.st_size <= 0 ||
        (size_t)sb.st_size % sizeof(struct sock_filter) != 0 ||
        (size_t)sb.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        goto out;
    if ((f = calloc(1, sizeof *f)) == NULL ||
        (f->prog.filter = malloc((size_t)sb.st_size)) == NULL) {
        st = PCC_E_NOMEM;
        goto out;
    }
    f->prog.len = (unsigned short)((size_t)sb.st_size / sizeof(struct sock_filter));
    if (pread(mfd, f->prog.filter, (size_t)sb.st_size, 0) != sb.st_size)
        goto out;
    memcpy(f->fds, fds, n_fds * sizeof *fds);
    f->n_fds = n_fds;
    *out = f;
    f = NULL;
    st = PCC_OK;
out:
    pcc_sandbox_filter_free(f);
    if (mfd >= 0)
        (void)close(mfd);
    seccomp_release(ctx);
    return st;
}

void pcc_sandbox_filter_free(pcc_sandbox_filter *f)
{
    if (f == NULL)
        return;
    free(f->prog.filter);
    free(f);
}

/* filter_matches: the prepared filter was made for exactly the policy's descriptors. */
static int filter_matches(const pcc_sandbox_filter *f, const pcc_sandbox_policy *p)
{
    if (f->n_fds != p->n_fds)
        return 0;
    for (size_t i = 0; i < p->n_fds; i++)
        if (f->fds[i] != p->fds[i])
            return 0;
    return 1;
}

static pcc_status layer_seccomp(const pcc_sandbox_policy *p)
{
    if (p->filter != NULL) {
        /* the program the host compiled once: loading it is one system call (no_new_privs
         * first, as libseccomp would do) */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p->filter->prog) != 0)
            return errno == EINVAL || errno == ENOSYS ? PCC_E_UNSUPPORTED : PCC_E_STATE;
        return PCC_OK;
    }
    scmp_filter_ctx ctx = NULL;
    pcc_status st = filter_build(&ctx, p->fds, p->n_fds);
    if (st != PCC_OK)
        return st;
    if (seccomp_load(ctx) != 0)
        st = errno == EINVAL ? PCC_E_UNSUPPORTED : PCC_E_STATE;
    seccomp_release(ctx);
    return st;
}

/* ---- all together ------------------------------------------------------------------------- */

static const struct {
    uint32_t bit;
    const char *name;
    pcc_status (*apply)(const pcc_sandbox_policy *);
} LAYERS[] = {
    {PCC_SANDBOX_NETNS, "netns", layer_netns},
    {PCC_SANDBOX_LANDLOCK, "landlock", layer_landlock},
    {PCC_SANDBOX_NO_NEW_PRIVS, "no_new_privs", layer_no_new_privs},
    {PCC_SANDBOX_NOT_DUMPABLE, "not_dumpable", layer_not_dumpable},
    {PCC_SANDBOX_RLIMITS, "rlimits", layer_rlimits},
    {PCC_SANDBOX_SECCOMP, "seccomp", layer_seccomp},
};

const char *pcc_sandbox_layer_name(uint32_t layer)
{
    for (size_t i = 0; i < sizeof LAYERS / sizeof LAYERS[0]; i++)
        if (LAYERS[i].bit == layer)
            return LAYERS[i].name;
    return NULL;
}

pcc_status pcc_sandbox_apply(const pcc_sandbox_policy *p, uint32_t *applied)
{
    if (p == NULL || applied == NULL || (p->layers & ~PCC_SANDBOX_ALL) != 0 ||
        (p->fds == NULL && p->n_fds) || p->n_fds > PCC_SANDBOX_MAX_FDS)
        return PCC_E_INVALID;
    for (size_t i = 0; i < p->n_fds; i++)
        if (p->fds[i] < 0)
            return PCC_E_INVALID;
    if (p->filter != NULL && !filter_matches(p->filter, p))
        return PCC_E_INVALID;
    *applied = 0;
    for (size_t i = 0; i < sizeof LAYERS / sizeof LAYERS[0]; i++) {
        if ((p->layers & LAYERS[i].bit) == 0)
            continue;
        pcc_status st = LAYERS[i].apply(p);
        if (st == PCC_OK)
            *applied |= LAYERS[i].bit;
        else if ((p->optional & LAYERS[i].bit) == 0)
            return st;
    }
    return PCC_OK;
}
