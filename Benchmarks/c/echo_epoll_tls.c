// A minimal epoll TLS echo server (OpenSSL): the ceiling RingIO's TLS echo is measured against.
// Non-blocking sockets, level-triggered epoll, one SSL per connection over its socket (SSL_set_fd),
// a per-connection 16 KiB buffer (one TLS record of plaintext), read-ahead on. Each connection waits for exactly
// one readiness at a time: EPOLLIN when OpenSSL wants to read (handshake or data), EPOLLOUT when
// it wants to write (handshake, or an echo that did not fit in the socket buffer); a connection
// with a pending echo reads nothing more until the echo is out. TLS 1.2 or 1.3 (1.3 by default).
// Usage: echo_epoll_tls PORT CERT KEY   (prints "listening on 127.0.0.1:PORT"; PORT 0 picks one)
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFFER = 16384, MAX_FD = 65536 };

struct connection {
    SSL *ssl;
    int handshaken;
    uint32_t interest;  // EPOLLIN or EPOLLOUT: what the connection waits for now
    int length;         // bytes of decrypted data still to echo (0: none pending)
    char buffer[BUFFER];
};

static struct connection *connections[MAX_FD];
static int epoll_fd;

static void drop(int fd) {
    struct connection *c = connections[fd];
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    SSL_free(c->ssl);
    free(c);
    connections[fd] = NULL;
    close(fd);
    ERR_clear_error();
}

static void wait_for(int fd, uint32_t interest) {
    struct connection *c = connections[fd];
    if (c->interest == interest) return;
    c->interest = interest;
    struct epoll_event change = {.events = interest, .data.fd = fd};
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &change);
}

/// Maps an SSL call's result to what to wait for: EPOLLIN or EPOLLOUT, or 0 when the connection
/// is finished (peer closed, or failed).
static uint32_t blocked_on(SSL *ssl, int result) {
    switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ: return EPOLLIN;
    case SSL_ERROR_WANT_WRITE: return EPOLLOUT;
    default: return 0;  // SSL_ERROR_ZERO_RETURN (close_notify), SSL_ERROR_SYSCALL, SSL_ERROR_SSL
    }
}

/// Advances one connection as far as it goes without blocking: the handshake, then echoing
/// (write what is pending, read the next record) until OpenSSL wants the socket.
static void serve(int fd) {
    struct connection *c = connections[fd];
    if (!c->handshaken) {
        ERR_clear_error();
        int result = SSL_accept(c->ssl);
        if (result != 1) {
            uint32_t interest = blocked_on(c->ssl, result);
            if (interest == 0) {
                drop(fd);
            } else {
                wait_for(fd, interest);
            }
            return;
        }
        c->handshaken = 1;
    }
    for (;;) {
        if (c->length > 0) {
            // A write that wanted the socket is retried with the same buffer and length.
            ERR_clear_error();
            int written = SSL_write(c->ssl, c->buffer, c->length);
            if (written <= 0) {
                uint32_t interest = blocked_on(c->ssl, written);
                if (interest == 0) {
                    drop(fd);
                } else {
                    wait_for(fd, interest);
                }
                return;
            }
            c->length = 0;
        }
        // Read until OpenSSL needs the socket: a decrypted record may hold more than one read
        // returns, and level-triggered epoll does not report bytes already inside OpenSSL.
        ERR_clear_error();
        int read = SSL_read(c->ssl, c->buffer, BUFFER);
        if (read <= 0) {
            uint32_t interest = blocked_on(c->ssl, read);
            if (interest == 0) {
                drop(fd);
            } else {
                wait_for(fd, interest);
            }
            return;
        }
        c->length = read;
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: echo_epoll_tls PORT CERT KEY\n");
        return 2;
    }
    int port = atoi(argv[1]);
    signal(SIGPIPE, SIG_IGN);  // OpenSSL writes to the socket with write(2), not MSG_NOSIGNAL

    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (context == NULL || !SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate_chain_file(context, argv[2]) != 1 ||
        SSL_CTX_use_PrivateKey_file(context, argv[3], SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(context) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    // Read ahead: one recv fills OpenSSL's buffer (several records, as a memory BIO fed by large
    // reads would) instead of two recvs per record. Safe with level-triggered epoll because serve()
    // reads until WANT_READ, after any pending echo has gone out.
    SSL_CTX_set_read_ahead(context, 1);

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
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);

    struct epoll_event events[512];
    for (;;) {
        int count = epoll_wait(epoll_fd, events, 512, -1);
        for (int i = 0; i < count; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int client;
                while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct connection *c = client < MAX_FD ? calloc(1, sizeof(struct connection)) : NULL;
                    SSL *ssl = c != NULL ? SSL_new(context) : NULL;
                    if (ssl == NULL || SSL_set_fd(ssl, client) != 1) {
                        SSL_free(ssl);
                        free(c);
                        close(client);
                        ERR_clear_error();
                        continue;
                    }
                    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    SSL_set_accept_state(ssl);
                    c->ssl = ssl;
                    c->interest = EPOLLIN;
                    connections[client] = c;
                    struct epoll_event add = {.events = EPOLLIN, .data.fd = client};
                    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &add);
                }
                continue;
            }
            // Readiness (or EPOLLHUP/EPOLLERR, which OpenSSL then reports as a failure).
            if (connections[fd] != NULL) serve(fd);
        }
    }
}
