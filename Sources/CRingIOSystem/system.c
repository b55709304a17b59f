#define _GNU_SOURCE
#include "CRingIOSystem.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>

_Static_assert(RINGIO_EPOLLIN == EPOLLIN && RINGIO_EPOLLOUT == EPOLLOUT && RINGIO_EPOLLERR == EPOLLERR &&
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
