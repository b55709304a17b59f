// A TCP echo load generator (epoll, one thread): the same load for every server measured.
//
//   loadgen --port P [--host 127.0.0.1] [--connections 64] [--size 64] [--duration 5]
//           [--rate MSGS_PER_S] [--idle N] [--tls]
//
// Without --rate each connection keeps one message in flight (closed loop: throughput). With
// --rate the messages are scheduled at a fixed total rate, spread round-robin over the
// connections, and latency counts from each message's scheduled time (open loop: no coordinated
// omission). --idle opens N more connections that stay silent (plain TCP, even with --tls).
// --tls speaks TLS (OpenSSL, no certificate verification) on the active connections: every
// handshake completes, non-blocking, before the measurement starts. Prints one line:
//   messages=N seconds=S msgs_per_s=R p50_us=A p99_us=B p999_us=C errors=E
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { QUEUE = 1024 };

struct connection {
    int fd;
    size_t received;          // bytes of the current echo received so far
    double scheduled[QUEUE];  // send (or scheduled) times of messages in flight, oldest first
    int head, count;
    size_t unsent;            // bytes of queued messages not yet written (socket buffer full)
    SSL *ssl;                 // with --tls; NULL for plain TCP
    int handshaken;           // with --tls: the handshake has completed
    int write_wants_read;     // with --tls: the last SSL_write waits for the socket to be readable
    int read_wants_write;     // with --tls: the last SSL_read waits for the socket to be writable
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int compare(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static char *message;
static size_t size = 64;

/// Writes queued bytes; returns -1 on a connection error.
static int pump(struct connection *c) {
    while (c->unsent > 0) {
        size_t chunk = c->unsent < size ? c->unsent : size;
        size_t offset = size - (c->unsent % size == 0 ? size : c->unsent % size);
        if (chunk > size - offset) chunk = size - offset;
        if (c->ssl != NULL) {
            // A write that wants the socket is retried with the same pointer and length: offset
            // and chunk do not change while more messages are queued behind it.
            ERR_clear_error();
            int written = SSL_write(c->ssl, message + offset, (int)chunk);
            if (written > 0) {
                c->unsent -= (size_t)written;
                continue;
            }
            int error = SSL_get_error(c->ssl, written);
            c->write_wants_read = error == SSL_ERROR_WANT_READ;
            if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return 0;
            return -1;
        }
        ssize_t n = send(c->fd, message + offset, chunk, MSG_NOSIGNAL);
        if (n > 0) {
            c->unsent -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    return 0;
}

/// Reads into `sink`: returns the bytes read, 0 when the socket has no more for now, -1 on a
/// connection error (end of stream included).
static ssize_t receive(struct connection *c, char *sink) {
    if (c->ssl != NULL) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, sink, 1 << 20);
        if (n > 0) return n;
        int error = SSL_get_error(c->ssl, n);
        c->read_wants_write = error == SSL_ERROR_WANT_WRITE;
        return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE ? 0 : -1;
    }
    ssize_t n = recv(c->fd, sink, 1 << 20, 0);
    if (n > 0) return n;
    return n == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
}

/// Advances one TLS handshake; returns 1 when it has completed, 0 when it waits for the socket,
/// -1 when it failed.
static int handshake(struct connection *c) {
    ERR_clear_error();
    int result = SSL_connect(c->ssl);
    if (result == 1) {
        c->handshaken = 1;
        return 1;
    }
    int error = SSL_get_error(c->ssl, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return 0;
    ERR_print_errors_fp(stderr);
    return -1;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0, connections = 64, idle = 0, tls = 0;
    double duration = 5, rate = 0;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--tls")) {
            tls = 1;
            i--;  // a flag: no value follows
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "loadgen: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--connections")) connections = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) size = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration")) duration = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle")) idle = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "loadgen: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (port <= 0 || connections <= 0 || size == 0) {
        fprintf(stderr, "usage: loadgen --port P [--connections N] [--size B] [--duration S] [--rate R] [--idle N] [--tls]\n");
        return 2;
    }
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);

    message = malloc(size);
    memset(message, 'x', size);
    char *sink = malloc(1 << 20);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &address.sin_addr);
    int one = 1;
    for (int i = 0; i < idle; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
            perror("loadgen: idle connect");
            return 1;
        }
    }
    SSL_CTX *context = NULL;
    if (tls) {
        signal(SIGPIPE, SIG_IGN);  // OpenSSL writes to the socket with write(2), not MSG_NOSIGNAL
        context = SSL_CTX_new(TLS_client_method());
        if (context == NULL) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
        // Read ahead: one recv fills OpenSSL's buffer (several records) instead of two per record
        // (header, then body). Safe with edge-triggered epoll: every read loop runs to WANT_READ.
        SSL_CTX_set_read_ahead(context, 1);
    }
    int epoll = epoll_create1(0);
    struct connection *all = calloc((size_t)connections, sizeof(struct connection));
    for (int i = 0; i < connections; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
            perror("loadgen: connect");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        int flags = 1;
        ioctl(fd, FIONBIO, &flags);
        all[i].fd = fd;
        struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)i};
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
        if (tls) {
            SSL *ssl = SSL_new(context);
            if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
                ERR_print_errors_fp(stderr);
                return 1;
            }
            SSL_set_connect_state(ssl);
            SSL_set_tlsext_host_name(ssl, "localhost");
            SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
            all[i].ssl = ssl;
            if (handshake(&all[i]) < 0) {  // sends the ClientHello
                fprintf(stderr, "loadgen: TLS handshake failed\n");
                return 1;
            }
        }
    }
    if (tls) {
        // Every handshake completes before the measurement starts (edge-triggered: retry each
        // unfinished handshake on any readiness of its socket).
        int handshaken = 0;
        for (int i = 0; i < connections; i++) handshaken += all[i].handshaken;
        double deadline = now() + 60;
        struct epoll_event ready[512];
        while (handshaken < connections) {
            if (now() > deadline) {
                fprintf(stderr, "loadgen: %d of %d TLS handshakes did not complete in 60 s\n", connections - handshaken,
                        connections);
                return 1;
            }
            int count = epoll_wait(epoll, ready, 512, 100);
            for (int e = 0; e < count; e++) {
                struct connection *c = &all[ready[e].data.u32];
                if (c->handshaken) continue;
                int status = handshake(c);
                if (status < 0) {
                    fprintf(stderr, "loadgen: TLS handshake failed\n");
                    return 1;
                }
                handshaken += status;
            }
        }
    }

    size_t capacity = 1 << 22, samples = 0;
    float *latencies = malloc(capacity * sizeof(float));
    long errors = 0;
    double start = now(), end = start + duration, interval = rate > 0 ? 1.0 / rate : 0, next = start;
    long scheduled = 0;
    if (rate <= 0) {
        for (int i = 0; i < connections; i++) {
            all[i].scheduled[0] = now();
            all[i].count = 1;
            all[i].unsent = size;
            if (pump(&all[i]) < 0) errors++;
        }
    }
    struct epoll_event events[512];
    for (;;) {
        double t = now();
        if (t >= end) break;
        if (rate > 0) {
            while (next <= t) {
                struct connection *c = &all[scheduled % connections];
                scheduled++;
                if (c->count < QUEUE) {
                    c->scheduled[(c->head + c->count) % QUEUE] = next;
                    c->count++;
                    c->unsent += size;
                    if (pump(c) < 0) errors++;
                } else {
                    errors++;
                }
                next = start + (double)scheduled * interval;
            }
        }
        int timeout = 0;
        if (rate > 0) {
            double wait = next - now();
            timeout = wait > 0 ? (int)(wait * 1000) : 0;
        } else {
            timeout = 100;
        }
        int count = epoll_wait(epoll, events, 512, timeout);
        for (int e = 0; e < count; e++) {
            struct connection *c = &all[events[e].data.u32];
            // (write_wants_read and read_wants_write stay 0 without --tls.)
            if ((events[e].events & EPOLLOUT) || (c->write_wants_read && (events[e].events & EPOLLIN))) {
                if (pump(c) < 0) errors++;
            }
            if (!(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->read_wants_write) continue;
            for (;;) {
                ssize_t n = receive(c, sink);
                if (n <= 0) {
                    if (n < 0) errors++;
                    break;
                }
                c->received += (size_t)n;
                double arrived = now();
                while (c->received >= size && c->count > 0) {
                    c->received -= size;
                    if (samples == capacity) {
                        capacity *= 2;
                        latencies = realloc(latencies, capacity * sizeof(float));
                    }
                    latencies[samples++] = (float)((arrived - c->scheduled[c->head]) * 1e6);
                    c->head = (c->head + 1) % QUEUE;
                    c->count--;
                    if (rate <= 0 && arrived < end) {
                        c->scheduled[(c->head + c->count) % QUEUE] = now();
                        c->count++;
                        c->unsent += size;
                        if (pump(c) < 0) errors++;
                    }
                }
            }
        }
    }
    double seconds = now() - start;
    qsort(latencies, samples, sizeof(float), compare);
    float p50 = samples ? latencies[samples / 2] : 0;
    float p99 = samples ? latencies[(size_t)((double)samples * 0.99)] : 0;
    float p999 = samples ? latencies[(size_t)((double)samples * 0.999)] : 0;
    printf("messages=%zu seconds=%.3f msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f errors=%ld\n", samples, seconds,
           (double)samples / seconds, p50, p99, p999, errors);
    return 0;
}
