#define _GNU_SOURCE
#include "CRingIOSystem.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>

_Static_assert(RINGIO_EPOLLIN == EPOLLIN && RINGIO_EPOLLPRI == EPOLLPRI && RINGIO_EPOLLOUT == EPOLLOUT && RINGIO_EPOLLERR == EPOLLERR &&
               RINGIO_EPOLLHUP == EPOLLHUP && RINGIO_EPOLLRDHUP == EPOLLRDHUP, "epoll constants differ");

int ringio_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int ringio_epoll_add(int epoll_fd, int fd, uint32_t events, int edge, uint64_t token) {
    struct epoll_event event = {.events = events | (edge ? EPOLLET : 0), .data.u64 = token};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
}

int ringio_epoll_remove(int epoll_fd, int fd) { return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL); }

int ringio_epoll_wait(int epoll_fd, struct ringio_readiness *out, int capacity, int timeout_ms) {
    struct epoll_event events[256];
    if (capacity > 256) capacity = 256;
    int count = epoll_wait(epoll_fd, events, capacity, timeout_ms);
    for (int i = 0; i < count; i++) {
        out[i].events = events[i].events;
        out[i].token = events[i].data.u64;
    }
    return count;
}

int ringio_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

void ringio_name_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

int ringio_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : errno;
}

int ringio_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }

_Static_assert(RINGIO_SOCK_STREAM == SOCK_STREAM && RINGIO_SOCK_DGRAM == SOCK_DGRAM && RINGIO_SOCK_NONBLOCK == SOCK_NONBLOCK &&
                   RINGIO_SOCK_CLOEXEC == SOCK_CLOEXEC,
               "the RINGIO_SOCK_ constants must match this C library's");
_Static_assert(RINGIO_MSG_TRUNC == MSG_TRUNC && RINGIO_MSG_CTRUNC == MSG_CTRUNC && RINGIO_MSG_NOSIGNAL == MSG_NOSIGNAL &&
                   RINGIO_MSG_CMSG_CLOEXEC == MSG_CMSG_CLOEXEC,
               "message flag constants differ");

struct ringio_message {
    struct msghdr header;
    struct iovec vector;
    struct sockaddr_storage address;
    int max_descriptors;
    size_t control_capacity;
    _Alignas(struct cmsghdr) unsigned char control[];
};

struct ringio_message *ringio_message_create(int max_descriptors) {
    if (max_descriptors < 0) max_descriptors = 0;
    size_t control = max_descriptors > 0 ? CMSG_SPACE(sizeof(int) * (size_t)max_descriptors) : 0;
    struct ringio_message *message = calloc(1, sizeof(struct ringio_message) + control);
    if (message == NULL) return NULL;
    message->max_descriptors = max_descriptors;
    message->control_capacity = control;
    return message;
}

void ringio_message_destroy(struct ringio_message *message) { free(message); }

void *ringio_message_header(struct ringio_message *message) { return &message->header; }

void ringio_message_prepare_receive(struct ringio_message *message, void *buffer, size_t length) {
    memset(&message->header, 0, sizeof(message->header));
    message->vector.iov_base = buffer;
    message->vector.iov_len = length;
    message->header.msg_iov = &message->vector;
    message->header.msg_iovlen = 1;
    message->header.msg_name = &message->address;
    message->header.msg_namelen = sizeof(message->address);
    memset(&message->address, 0, sizeof(message->address));
    message->header.msg_control = message->control_capacity > 0 ? message->control : NULL;
    message->header.msg_controllen = message->control_capacity;
}

int ringio_message_prepare_send(struct ringio_message *message, const void *buffer, size_t length,
                                const void *address, uint32_t address_length, const int *descriptors, int count) {
    if (count > message->max_descriptors || address_length > sizeof(message->address)) return -1;
    memset(&message->header, 0, sizeof(message->header));
    message->vector.iov_base = (void *)buffer;
    message->vector.iov_len = length;
    message->header.msg_iov = &message->vector;
    message->header.msg_iovlen = 1;
    if (address != NULL && address_length > 0) {
        memcpy(&message->address, address, address_length);
        message->header.msg_name = &message->address;
        message->header.msg_namelen = address_length;
    }
    if (count > 0) {
        size_t space = CMSG_SPACE(sizeof(int) * (size_t)count);
        memset(message->control, 0, space);
        message->header.msg_control = message->control;
        message->header.msg_controllen = space;
        struct cmsghdr *control = CMSG_FIRSTHDR(&message->header);
        control->cmsg_level = SOL_SOCKET;
        control->cmsg_type = SCM_RIGHTS;
        control->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
        memcpy(CMSG_DATA(control), descriptors, sizeof(int) * (size_t)count);
    }
    return 0;
}

const void *ringio_message_address(struct ringio_message *message, uint32_t *length) {
    *length = message->header.msg_namelen;
    return &message->address;
}

int ringio_message_descriptors(struct ringio_message *message, int *out, int capacity) {
    int total = 0;
    if (message->header.msg_control == NULL) return 0;
    for (struct cmsghdr *control = CMSG_FIRSTHDR(&message->header); control != NULL;
         control = CMSG_NXTHDR(&message->header, control)) {
        if (control->cmsg_level != SOL_SOCKET || control->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (control->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(control);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (total < capacity) out[total] = fd; else close(fd);
            total++;
        }
    }
    return total;
}

int ringio_message_flags(struct ringio_message *message) { return message->header.msg_flags; }

long ringio_message_receive(int fd, struct ringio_message *message, int flags) {
    return recvmsg(fd, &message->header, flags | MSG_CMSG_CLOEXEC);
}

long ringio_message_send(int fd, struct ringio_message *message, int flags) {
    return sendmsg(fd, &message->header, flags);
}

int ringio_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}
