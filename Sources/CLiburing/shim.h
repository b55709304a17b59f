// The C surface RingIO's io_uring backend uses: liburing, plus small helpers for SQE fields that
// sit in anonymous unions and for what liburing 2.3 lacks.
#ifndef RINGIO_CLIBURING_SHIM_H
#define RINGIO_CLIBURING_SHIM_H

// liburing.h defines _GNU_SOURCE and _XOPEN_SOURCE before it includes the C library's headers.
// Inside this module that would give those headers (fd_set, ...) other definitions than Swift's
// Glibc module has, and the compiler rejects the mismatch. Including them here first, with the
// default feature macros, keeps one definition; liburing.h's own includes are then no-ops.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include <liburing.h>

/// Makes a recv SQE pick its buffer from provided-buffer group `group` (IOSQE_BUFFER_SELECT;
/// buf_group sits in an anonymous union Swift cannot name).
static inline void ringio_sqe_select_buffer(struct io_uring_sqe *sqe, unsigned short group) {
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = group;
}

/// Registers a provided buffer ring whose memory the caller mmapped (liburing 2.3 has no
/// io_uring_setup_buf_ring). Returns 0 or a negative errno.
static inline int ringio_register_buf_ring(struct io_uring *ring, void *memory,
                                           unsigned entries, unsigned short group) {
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long)memory;
    reg.ring_entries = entries;
    reg.bgid = group;
    return io_uring_register_buf_ring(ring, &reg, 0);
}

/// The SQ/CQ setup flags, as plain values for Swift.
static inline unsigned ringio_setup_single_issuer(void) { return IORING_SETUP_SINGLE_ISSUER; }
static inline unsigned ringio_setup_defer_taskrun(void) { return IORING_SETUP_DEFER_TASKRUN; }
static inline unsigned ringio_setup_coop_taskrun(void) { return IORING_SETUP_COOP_TASKRUN; }

#endif
