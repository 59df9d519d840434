/* chan_internal.h: framed messages on the node's Unix sockets, optionally carrying one descriptor
 * (SCM_RIGHTS). Shared by enclave.c, host.c and worker.c (not installed). */
#ifndef PCC_NODE_CHAN_INTERNAL_H
#define PCC_NODE_CHAN_INTERNAL_H

#include <msgpack.h>
#include <sys/socket.h>

#include "pcc/buf.h"
#include "pcc/common.h"
#include "pcc/wire.h"

/* pcc_chan_write_all writes all n bytes of p to fd. nosignal: with send(MSG_NOSIGNAL), so that a
 * peer that went away is PCC_E_STATE rather than SIGPIPE (falling back to write when fd is not a
 * socket); else with write (the only way a sandboxed worker's system-call filter allows). */
pcc_status pcc_chan_write_all(int fd, const uint8_t *p, size_t n, int nosignal) PCC_WUR;

/* pcc_chan_send writes the 4-byte big-endian length of msg and msg to fd in one sendmsg (then
 * the rest), with pass_fd attached to the first byte when pass_fd >= 0. PCC_E_STATE when the
 * peer is gone. */
pcc_status pcc_chan_send(int fd, const uint8_t *msg, size_t len, int pass_fd) PCC_WUR;

/* pcc_chan_recv reads one framed message into buf (room for max). *got_fd receives a descriptor
 * that came with it (-1 if none; any extra is closed). PCC_E_STATE on EOF or error, PCC_E_FORMAT
 * for a zero or over-long length (the stream is then unusable). */
pcc_status pcc_chan_recv(int fd, uint8_t *buf, size_t max, size_t *len, int *got_fd) PCC_WUR;

/* pcc_chan_keep_one_fd goes through the SCM_RIGHTS descriptors received with mh: the first
 * goes to *keep if it is still -1, every other one is closed (one descriptor per message). */
void pcc_chan_keep_one_fd(struct msghdr *mh, int *keep);

/* pcc_chan_decode decodes msg as one map under the limits of node messages and checks that its
 * keys are exactly "op" and names[0..n) and that "op" is the string op. vals[i] receives names[i]. */
pcc_status pcc_chan_decode(pcc_wire_doc **doc, const uint8_t *msg, size_t len, const char *op,
                           const char *const *names, size_t n,
                           const msgpack_object **vals) PCC_WUR;

/* pcc_chan_op returns the "op" string of a decoded map (NULL when absent or not a str); sets
 * *n to its length. */
const char *pcc_chan_op(const msgpack_object *root, size_t *n);

/* pcc_chan_op_is is 1 when root's op equals s. */
int pcc_chan_op_is(const msgpack_object *root, const char *s);

/* pcc_chan_reply_error sends {"op":"error","error": what}. */
pcc_status pcc_chan_reply_error(int fd, const char *what) PCC_WUR;

/* pcc_chan_reply_ok sends {"op":"ok"}. */
pcc_status pcc_chan_reply_ok(int fd) PCC_WUR;

/* pcc_chan_harden makes the calling process non-dumpable with no core files. */
pcc_status pcc_chan_harden(void) PCC_WUR;

#endif
