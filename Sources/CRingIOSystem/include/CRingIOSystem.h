// Linux calls RingIO uses that Swift's Glibc module does not export (epoll, eventfd) or that need
// _GNU_SOURCE (accept4, prctl, sched_setaffinity). They are defined in system.c; this header
// includes no system header, so it never disagrees with Glibc or liburing about shared types.
#ifndef RINGIO_CRINGIOSYSTEM_H
#define RINGIO_CRINGIOSYSTEM_H

#include <stdint.h>

/// One readiness event: the epoll mask and the token the descriptor was registered with.
struct ringio_readiness {
    uint32_t events;
    uint64_t token;
};

/// epoll mask bits, as plain constants.
enum {
    RINGIO_EPOLLIN = 0x001,
    RINGIO_EPOLLOUT = 0x004,
    RINGIO_EPOLLERR = 0x008,
    RINGIO_EPOLLHUP = 0x010,
    RINGIO_EPOLLRDHUP = 0x2000,
};

/// epoll_create1(EPOLL_CLOEXEC).
int ringio_epoll_create(void);
/// Adds `fd` with `events` (EPOLLET is added for edge triggering when `edge` is non-zero).
int ringio_epoll_add(int epoll_fd, int fd, uint32_t events, int edge, uint64_t token);
/// Removes `fd`.
int ringio_epoll_remove(int epoll_fd, int fd);
/// epoll_wait into `out`; returns the count, or -1 and errno.
int ringio_epoll_wait(int epoll_fd, struct ringio_readiness *out, int capacity, int timeout_ms);

/// An eventfd (close-on-exec, non-blocking) for waking a loop; -1 and errno on failure.
int ringio_eventfd(void);

/// Names the calling thread (visible in `top -H`, gdb and perf).
void ringio_name_thread(const char *name);

/// Pins the calling thread to CPU `cpu`. Returns 0 or an errno.
int ringio_pin_current_thread(int cpu);

/// accept4 without asking for the peer's address.
int ringio_accept4(int fd, int flags);

#endif
