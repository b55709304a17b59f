// A minimal liburing TCP echo server: the ceiling RingIO's io_uring backend is measured against.
// One ring, SINGLE_ISSUER + DEFER_TASKRUN when available, multishot accept, one recv and one
// send in flight per connection into a per-connection 64 KiB buffer, one io_uring_enter per loop.
// Usage: echo_uring PORT   (prints "listening on 127.0.0.1:PORT"; PORT 0 picks one)
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFFER = 65536, MAX_FD = 65536, ACCEPT = 1, RECV = 2, SEND = 3 };

struct connection {
    char buffer[BUFFER];
    int length;  // bytes received, being echoed
    int sent;
};

static struct connection *connections[MAX_FD];

static unsigned long long tag(int kind, int fd) { return ((unsigned long long)kind << 32) | (unsigned)fd; }

static struct io_uring_sqe *sqe_for(struct io_uring *ring) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (sqe == NULL) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

static void arm_recv(struct io_uring *ring, int fd) {
    struct io_uring_sqe *sqe = sqe_for(ring);
    io_uring_prep_recv(sqe, fd, connections[fd]->buffer, BUFFER, 0);
    io_uring_sqe_set_data64(sqe, tag(RECV, fd));
}

static void arm_send(struct io_uring *ring, int fd) {
    struct connection *c = connections[fd];
    struct io_uring_sqe *sqe = sqe_for(ring);
    io_uring_prep_send(sqe, fd, c->buffer + c->sent, c->length - c->sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag(SEND, fd));
}

static void arm_accept(struct io_uring *ring, int listener) {
    struct io_uring_sqe *sqe = sqe_for(ring);
    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, tag(ACCEPT, listener));
}

static void drop(int fd) {
    free(connections[fd]);
    connections[fd] = NULL;
    close(fd);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(listener, 4096) != 0) {
        perror("bind/listen");
        return 1;
    }
    socklen_t length = sizeof(address);
    getsockname(listener, (struct sockaddr *)&address, &length);

    struct io_uring ring;
    struct io_uring_params params = {0};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    params.cq_entries = 16384;
    if (io_uring_queue_init_params(4096, &ring, &params) != 0) {
        memset(&params, 0, sizeof(params));
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = 16384;
        if (io_uring_queue_init_params(4096, &ring, &params) != 0) {
            fprintf(stderr, "io_uring_queue_init failed\n");
            return 1;
        }
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);
    arm_accept(&ring, listener);

    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, count = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            count++;
            int kind = (int)(cqe->user_data >> 32);
            int fd = (int)(cqe->user_data & 0xffffffff);
            int result = cqe->res;
            if (kind == ACCEPT) {
                if (result >= 0 && result < MAX_FD) {
                    setsockopt(result, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    connections[result] = calloc(1, sizeof(struct connection));
                    arm_recv(&ring, result);
                } else if (result >= 0) {
                    close(result);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(&ring, listener);
            } else if (kind == RECV) {
                if (result <= 0) {
                    drop(fd);
                } else {
                    connections[fd]->length = result;
                    connections[fd]->sent = 0;
                    arm_send(&ring, fd);
                }
            } else if (kind == SEND) {
                if (result <= 0) {
                    drop(fd);
                } else {
                    struct connection *c = connections[fd];
                    c->sent += result;
                    if (c->sent < c->length) arm_send(&ring, fd); else arm_recv(&ring, fd);
                }
            }
        }
        io_uring_cq_advance(&ring, count);
    }
}
