// Linux calls RingIO uses that Swift's Glibc module does not export (epoll, eventfd) or that need
// _GNU_SOURCE (accept4, prctl, sched_setaffinity). They are defined in system.c; this header
// includes no system header, so it never disagrees with Glibc or liburing about shared types.
#ifndef RINGIO_CRINGIOSYSTEM_H
#define RINGIO_CRINGIOSYSTEM_H

#include <stddef.h>
#include <stdint.h>

/// One readiness event: the epoll mask and the token the descriptor was registered with.
struct ringio_readiness {
    uint32_t events;
    uint64_t token;
};

/// epoll mask bits, as plain constants.
enum {
    RINGIO_EPOLLIN = 0x001,
    RINGIO_EPOLLPRI = 0x002,
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

/// A message buffer for recvmsg/sendmsg: the msghdr, one iovec, room for a socket address and
/// for SCM_RIGHTS control data, in one allocation that stays put while the kernel uses it.
struct ringio_message;

/// Allocates a message with room for `max_descriptors` passed descriptors; NULL if out of memory.
struct ringio_message *ringio_message_create(int max_descriptors);
void ringio_message_destroy(struct ringio_message *message);
/// The `struct msghdr *` to hand to recvmsg/sendmsg or an io_uring SQE.
void *ringio_message_header(struct ringio_message *message);
/// Points the message at `length` bytes at `buffer` for a receive (address and control room reset).
void ringio_message_prepare_receive(struct ringio_message *message, void *buffer, size_t length);
/// Points the message at `length` bytes for a send to `address` (NULL: the connected peer), with
/// `count` descriptors as SCM_RIGHTS. Returns 0, or -1 if there are more than the message holds.
int ringio_message_prepare_send(struct ringio_message *message, const void *buffer, size_t length,
                                const void *address, uint32_t address_length, const int *descriptors, int count);
/// After a receive: the sender's address (its length in `length`; 0 when there is none).
const void *ringio_message_address(struct ringio_message *message, uint32_t *length);
/// After a receive: the descriptors passed with it (at most `capacity` are written; every one
/// received is counted in the return value, and those beyond `capacity` are closed).
int ringio_message_descriptors(struct ringio_message *message, int *out, int capacity);
/// After a receive: msg_flags (MSG_TRUNC, MSG_CTRUNC).
int ringio_message_flags(struct ringio_message *message);
/// recvmsg/sendmsg on a non-blocking socket (epoll backend); -1 and errno on failure.
long ringio_message_receive(int fd, struct ringio_message *message, int flags);
long ringio_message_send(int fd, struct ringio_message *message, int flags);

/// MSG_TRUNC, MSG_CTRUNC, MSG_NOSIGNAL as plain values.
enum { RINGIO_MSG_TRUNC = 0x20, RINGIO_MSG_CTRUNC = 0x08, RINGIO_MSG_NOSIGNAL = 0x4000, RINGIO_MSG_CMSG_CLOEXEC = 0x40000000 };

/// SOCK_STREAM, SOCK_DGRAM, SOCK_NONBLOCK and SOCK_CLOEXEC as plain values: Swift sees the C
/// library's enum for them only through whichever module first included its header, which
/// depends on the build.
enum { RINGIO_SOCK_STREAM = 1, RINGIO_SOCK_DGRAM = 2, RINGIO_SOCK_NONBLOCK = 04000, RINGIO_SOCK_CLOEXEC = 02000000 };

/// SO_PEERCRED: the peer's process, user and group ids. Returns 0 or -1 and errno.
int ringio_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

#endif
