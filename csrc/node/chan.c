/* chan.c: framed msgpack messages between the node's processes (chan_internal.h). */
#include "chan_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pcc/node.h"

/* What a node message may hold: a bundle (256 KiB), a proof (32 KiB), a chain, a few names. */
static const pcc_wire_limits LIMITS = {
    .max_depth = 3, .max_items = 512, .max_str = 64 * 1024, .max_bin = 300 * 1024,
    .max_array = 64, .max_map = 8, .flags = PCC_WIRE_NO_FLOAT,
};

pcc_status pcc_chan_write_all(int fd, const uint8_t *p, size_t n, int nosignal)
{
    while (n > 0) {
        ssize_t w = nosignal ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
        if (w < 0 && errno == ENOTSOCK && nosignal) {
            nosignal = 0; /* a pipe or a file: no SIGPIPE to avoid the socket way */
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return PCC_E_STATE;
        p += w;
        n -= (size_t)w;
    }
    return PCC_OK;
}

static pcc_status write_all(int fd, const uint8_t *p, size_t n)
{
    return pcc_chan_write_all(fd, p, n, 1);
}

pcc_status pcc_chan_send(int fd, const uint8_t *msg, size_t len, int pass_fd)
{
    if (len == 0 || len > PCC_NODE_MSG_MAX)
        return PCC_E_INVALID;
    uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                    (uint8_t)len};
    if (pass_fd < 0)
        return write_all(fd, h, 4) == PCC_OK ? write_all(fd, msg, len) : PCC_E_STATE;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof cm);
    struct iovec iov = {h, 4};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof cm.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    ssize_t w;
    do
        w = sendmsg(fd, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w <= 0)
        return PCC_E_STATE;
    if ((size_t)w < 4 && write_all(fd, h + w, 4 - (size_t)w) != PCC_OK)
        return PCC_E_STATE;
    return write_all(fd, msg, len);
}

static pcc_status read_all(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return PCC_E_STATE;
        p += r;
        n -= (size_t)r;
    }
    return PCC_OK;
}

void pcc_chan_keep_one_fd(struct msghdr *mh, int *keep)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
            if (*keep < 0)
                *keep = f;
            else
                close(f); /* one descriptor per message, never more */
        }
    }
}

pcc_status pcc_chan_recv(int fd, uint8_t *buf, size_t max, size_t *len, int *got_fd)
{
    uint8_t h[4];
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } cm;
    struct iovec iov = {h, 4};
    struct msghdr mh = {0};
    ssize_t r;
    *got_fd = -1;
    *len = 0;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof cm.buf;
    do
        r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return PCC_E_STATE;
    pcc_chan_keep_one_fd(&mh, got_fd);
    pcc_status st = PCC_OK;
    if ((size_t)r < 4)
        st = read_all(fd, h + r, 4 - (size_t)r);
    size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
    if (st == PCC_OK && (n == 0 || n > max))
        st = PCC_E_FORMAT;
    if (st == PCC_OK)
        st = read_all(fd, buf, n);
    if (st != PCC_OK) {
        if (*got_fd >= 0)
            close(*got_fd);
        *got_fd = -1;
        return st;
    }
    *len = n;
    return PCC_OK;
}

const char *pcc_chan_op(const msgpack_object *root, size_t *n)
{
    const msgpack_object *o = pcc_wire_map_get(root, "op");
    const char *p = NULL;
    if (o == NULL || pcc_wire_get_str(o, 1, 32, &p, n) != PCC_OK)
        return NULL;
    return p;
}

int pcc_chan_op_is(const msgpack_object *root, const char *s)
{
    size_t n = 0;
    const char *p = pcc_chan_op(root, &n);
    return p != NULL && n == strlen(s) && memcmp(p, s, n) == 0;
}

pcc_status pcc_chan_decode(pcc_wire_doc **doc, const uint8_t *msg, size_t len, const char *op,
                           const char *const *names, size_t n, const msgpack_object **vals)
{
    const char *req[8];
    pcc_status st;
    if (n + 1 > 8)
        return PCC_E_INVALID;
    if (*doc == NULL && (st = pcc_wire_decode(doc, msg, len, &LIMITS)) != PCC_OK)
        return st;
    const msgpack_object *root = pcc_wire_doc_root(*doc);
    req[0] = "op";
    for (size_t i = 0; i < n; i++)
        req[i + 1] = names[i];
    if ((st = pcc_wire_map_keys(root, req, n + 1, NULL, 0)) != PCC_OK)
        return st;
    if (!pcc_chan_op_is(root, op))
        return PCC_E_FORMAT;
    for (size_t i = 0; i < n; i++)
        vals[i] = pcc_wire_map_get(root, names[i]);
    return PCC_OK;
}

static pcc_status reply_small(int fd, const char *op, const char *key, const char *val)
{
    uint8_t b[128];
    pcc_writer w;
    pcc_writer_init_fixed(&w, b, sizeof b);
    pcc_status st = pcc_wire_put_map(&w, key ? 2 : 1);
    if (st == PCC_OK)
        st = pcc_wire_put_cstr(&w, "op");
    if (st == PCC_OK)
        st = pcc_wire_put_cstr(&w, op);
    if (st == PCC_OK && key) {
        if ((st = pcc_wire_put_cstr(&w, key)) == PCC_OK)
            st = pcc_wire_put_cstr(&w, val);
    }
    return st == PCC_OK ? pcc_chan_send(fd, w.data, w.len, -1) : st;
}

pcc_status pcc_chan_reply_error(int fd, const char *what)
{
    return reply_small(fd, "error", "error", what);
}

pcc_status pcc_chan_reply_ok(int fd)
{
    return reply_small(fd, "ok", NULL, NULL);
}

pcc_status pcc_chan_harden(void)
{
    struct rlimit rl = {0, 0};
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &rl) != 0)
        return PCC_E_STATE;
    return PCC_OK;
}
