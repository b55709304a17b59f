// A minimal epoll TCP echo server: the ceiling RingIO's epoll backend is measured against.
// Non-blocking sockets, level-triggered epoll, a per-connection 64 KiB buffer; a connection whose
// echo does not fit in the socket buffer waits for EPOLLOUT before reading again.
// Usage: echo_epoll PORT   (prints "listening on 127.0.0.1:PORT"; PORT 0 picks one)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFFER = 65536, MAX_FD = 65536 };

struct connection {
    char buffer[BUFFER];
    int length;
    int sent;
};

static struct connection *connections[MAX_FD];

static void drop(int epoll, int fd) {
    epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL);
    free(connections[fd]);
    connections[fd] = NULL;
    close(fd);
}

/// Sends what is pending; returns 1 when all went out, 0 when it must wait, -1 on error.
static int flush(int fd) {
    struct connection *c = connections[fd];
    while (c->sent < c->length) {
        ssize_t n = send(fd, c->buffer + c->sent, c->length - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(listener, 4096) != 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t length = sizeof(address);
    getsockname(listener, (struct sockaddr *)&address, &length);
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);

    struct epoll_event events[512];
    for (;;) {
        int count = epoll_wait(epoll, events, 512, -1);
        for (int i = 0; i < count; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int client;
                while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (client >= MAX_FD) {
                        close(client);
                        continue;
                    }
                    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    connections[client] = calloc(1, sizeof(struct connection));
                    struct epoll_event add = {.events = EPOLLIN, .data.fd = client};
                    epoll_ctl(epoll, EPOLL_CTL_ADD, client, &add);
                }
                continue;
            }
            struct connection *c = connections[fd];
            if (c == NULL) continue;
            if (events[i].events & EPOLLOUT) {
                int status = flush(fd);
                if (status < 0) {
                    drop(epoll, fd);
                } else if (status == 1) {
                    struct epoll_event change = {.events = EPOLLIN, .data.fd = fd};
                    epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &change);
                }
                continue;
            }
            ssize_t n = recv(fd, c->buffer, BUFFER, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                drop(epoll, fd);
                continue;
            }
            if (n < 0) continue;
            c->length = (int)n;
            c->sent = 0;
            int status = flush(fd);
            if (status < 0) {
                drop(epoll, fd);
            } else if (status == 0) {
                struct epoll_event change = {.events = EPOLLOUT, .data.fd = fd};
                epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &change);
            }
        }
    }
}
