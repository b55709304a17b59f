// A minimal liburing TCP echo server: the ceiling RingIO's io_uring backend is measured against.
// One ring, SINGLE_ISSUER + DEFER_TASKRUN when available, multishot accept, one recv and one
// send in flight per connection into a per-connection 64 KiB buffer, one io_uring_enter per loop.
// Usage: echo_uring PORT [--zc BYTES] [--fixed]   (prints "listening on 127.0.0.1:PORT"; PORT 0
// picks one). Two switches measure io_uring techniques on this path:
//   --zc BYTES  sends of at least BYTES use IORING_OP_SEND_ZC (the recv waits for the notification)
//   --fixed     connections are direct descriptors (multishot accept into a registered file
//               table, IOSQE_FIXED_FILE on recv and send, close through the ring)
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

enum { BUFFER = 65536, MAX_FD = 65536, FIXED_TABLE = 16384, ACCEPT = 1, RECV = 2, SEND = 3, CLOSE = 4 };

struct connection {
    char buffer[BUFFER];
    int length;  // bytes received, being echoed
    int sent;
    int notifications;  // SEND_ZC notifications still to come: the buffer is the kernel's until then
};

static int zc_threshold = 0;  // 0: never SEND_ZC
static int fixed = 0;

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
    if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, tag(RECV, fd));
}

static void arm_send(struct io_uring *ring, int fd) {
    struct connection *c = connections[fd];
    struct io_uring_sqe *sqe = sqe_for(ring);
    int remaining = c->length - c->sent;
    if (zc_threshold > 0 && remaining >= zc_threshold) {
        io_uring_prep_send_zc(sqe, fd, c->buffer + c->sent, remaining, MSG_NOSIGNAL, 0);
    } else {
        io_uring_prep_send(sqe, fd, c->buffer + c->sent, remaining, MSG_NOSIGNAL);
    }
    if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, tag(SEND, fd));
}

static void arm_accept(struct io_uring *ring, int listener) {
    struct io_uring_sqe *sqe = sqe_for(ring);
    if (fixed) {
        io_uring_prep_multishot_accept_direct(sqe, listener, NULL, NULL, 0);
    } else {
        io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, 0);
    }
    io_uring_sqe_set_data64(sqe, tag(ACCEPT, listener));
}

static void drop(struct io_uring *ring, int fd) {
    free(connections[fd]);
    connections[fd] = NULL;
    if (fixed) {
        struct io_uring_sqe *sqe = sqe_for(ring);
        io_uring_prep_close_direct(sqe, fd);
        io_uring_sqe_set_data64(sqe, tag(CLOSE, fd));
    } else {
        close(fd);
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--zc") == 0 && i + 1 < argc) {
            zc_threshold = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--fixed") == 0) {
            fixed = 1;
        } else {
            fprintf(stderr, "usage: echo_uring PORT [--zc BYTES] [--fixed]\n");
            return 2;
        }
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Accepted sockets inherit TCP_NODELAY from the listener (direct descriptors cannot be set).
    setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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
    if (fixed && io_uring_register_files_sparse(&ring, FIXED_TABLE) != 0) {
        fprintf(stderr, "io_uring_register_files_sparse failed\n");
        return 1;
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
                    if (!fixed) setsockopt(result, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    connections[result] = calloc(1, sizeof(struct connection));
                    arm_recv(&ring, result);
                } else if (result >= 0 && !fixed) {
                    close(result);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept(&ring, listener);
            } else if (kind == RECV) {
                if (result <= 0) {
                    drop(&ring, fd);
                } else {
                    connections[fd]->length = result;
                    connections[fd]->sent = 0;
                    arm_send(&ring, fd);
                }
            } else if (kind == SEND) {
                struct connection *c = connections[fd];
                if (c == NULL) {
                    // A late SEND_ZC notification for a dropped connection.
                } else if (cqe->flags & IORING_CQE_F_NOTIF) {
                    // SEND_ZC: the kernel no longer reads the buffer.
                    if (--c->notifications == 0) {
                        if (c->length < 0) drop(&ring, fd);
                        else if (c->sent == c->length) arm_recv(&ring, fd);
                    }
                } else {
                    if (cqe->flags & IORING_CQE_F_MORE) c->notifications++;
                    if (result <= 0) {
                        c->length = -1;  // failed: dropped once the kernel is done with the buffer
                        if (c->notifications == 0) drop(&ring, fd);
                    } else {
                        c->sent += result;
                        if (c->sent < c->length) arm_send(&ring, fd);
                        else if (c->notifications == 0) arm_recv(&ring, fd);
                    }
                }
            }
        }
        io_uring_cq_advance(&ring, count);
    }
}
