// The C surface RingIO's backends use: liburing, plus small helpers for SQE fields that sit in
// anonymous unions, for liburing 2.3's missing helpers, and for headers Swift's Glibc module
// does not export.
#ifndef RINGIO_CLIBURING_SHIM_H
#define RINGIO_CLIBURING_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <liburing.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

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

/// An eventfd for waking a loop (sys/eventfd.h is not part of Swift's Glibc module).
static inline int ringio_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

/// Names the calling thread (visible in `top -H`, gdb and perf).
static inline void ringio_name_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

/// Pins the calling thread to CPU `cpu`. Returns 0 or an errno.
static inline int ringio_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : errno;
}

#endif
