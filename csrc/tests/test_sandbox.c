/* test_sandbox.c: the worker sandbox from C alone. A forked child applies the layers (the
 * seccomp program built in the child, then compiled once in the parent), tries what a worker
 * must not do and reports each errno over its channel, the one descriptor it may still write.
 * Needs root (a new network namespace); prints a skip line otherwise. Under AddressSanitizer the
 * seccomp layer is left out: the sanitizer's runtime makes calls of its own that it denies. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctest.h"
#include "pcc/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define LAYERS (PCC_SANDBOX_ALL & ~PCC_SANDBOX_SECCOMP)
#else
#define LAYERS PCC_SANDBOX_ALL
#endif

enum { R_APPLIED, R_OPEN, R_SOCKET, R_FORK, R_PIPE_WRITE, R_MMAP_EXEC, R_N };

static void child(int chan, int other_fd, const pcc_sandbox_filter *filter)
{
    int r[R_N];
    uint32_t applied = 0;
    int fds[1] = {chan};
    pcc_sandbox_policy p = {LAYERS, 0, fds, 1, 0, 0, -1, filter};
    r[R_APPLIED] = pcc_sandbox_apply(&p, &applied) == PCC_OK ? (int)applied : -1;
    errno = 0;
    r[R_OPEN] = open("/dev/null", O_RDONLY) < 0 ? errno : 0;
    errno = 0;
    r[R_SOCKET] = socket(AF_INET, SOCK_STREAM, 0) < 0 ? errno : 0;
    errno = 0;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    r[R_FORK] = pid < 0 ? errno : 0;
    errno = 0;
    r[R_PIPE_WRITE] = write(other_fd, "x", 1) < 0 ? errno : 0;
    errno = 0;
    void *x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r[R_MMAP_EXEC] = x == MAP_FAILED ? errno : 0;
    _exit(write(chan, r, sizeof r) == (ssize_t)sizeof r ? 0 : 3);
}

static void run(const pcc_sandbox_filter *filter)
{
    int sv[2], pipefd[2], r[R_N], status = 0;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && pipe(pipefd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        child(sv[1], pipefd[1], filter);
    }
    close(sv[1]);
    CHECK(read(sv[0], r, sizeof r) == (ssize_t)sizeof r);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(r[R_APPLIED] == (int)LAYERS);
#if defined(__SANITIZE_ADDRESS__)
    CHECK(r[R_OPEN] == EACCES);             /* Landlock */
    CHECK(r[R_SOCKET] == 0 || r[R_SOCKET] == EACCES);
#else
    CHECK(r[R_OPEN] == EPERM && r[R_SOCKET] == EPERM && r[R_FORK] == EPERM);
    CHECK(r[R_PIPE_WRITE] == EPERM && r[R_MMAP_EXEC] == EPERM);
#endif
    close(sv[0]);
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("test_sandbox: skipped (needs root)\n");
        return 0;
    }
    run(NULL);
    /* the channel will be descriptor sv[1] in the child: compile for the number it will have */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int want = sv[1];
    close(sv[0]);
    close(sv[1]);
    pcc_sandbox_filter *f = NULL;
    CHECK_ST(pcc_sandbox_filter_new(&f, &want, 1), PCC_OK);
    run(f);
    int other = want + 1;
    uint32_t applied = 7;
    pcc_sandbox_policy bad = {PCC_SANDBOX_SECCOMP, 0, &other, 1, 0, 0, -1, f};
    CHECK_ST(pcc_sandbox_apply(&bad, &applied), PCC_E_INVALID); /* refused before anything */
    pcc_sandbox_filter_free(f);
    CHECK(pcc_sandbox_landlock_abi() >= 1);
    CHECK(pcc_sandbox_layer_name(PCC_SANDBOX_NETNS) != NULL &&
          strcmp(pcc_sandbox_layer_name(PCC_SANDBOX_SECCOMP), "seccomp") == 0 &&
          pcc_sandbox_layer_name(0x40) == NULL);
    return ctest_done("test_sandbox");
}
