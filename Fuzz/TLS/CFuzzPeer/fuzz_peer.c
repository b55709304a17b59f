#include "fuzz_peer.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>

struct fuzz_peer_context {
    SSL_CTX *context;
    int server;
};

struct fuzz_peer {
    SSL *ssl;
    BIO *input;
    BIO *output;
};

struct fuzz_peer_context *fuzz_peer_context_create(int server, const char *certificate_file, const char *key_file, int max_version) {
    struct fuzz_peer_context *context = calloc(1, sizeof(*context));
    if (context == NULL) return NULL;
    context->server = server;
    context->context = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (context->context == NULL) goto fail;
    SSL_CTX_set_min_proto_version(context->context, TLS1_2_VERSION);
    if (max_version != 0) SSL_CTX_set_max_proto_version(context->context, max_version);
    SSL_CTX_set_verify(context->context, SSL_VERIFY_NONE, NULL);
    // Tickets stay on: besides being post-handshake messages for the session under test, they
    // keep a TLS 1.2 server from caching each session under an ID (TLS 1.3 tickets are stateless),
    // so a shared server context does not grow from input to input.
    if (server && (SSL_CTX_use_certificate_chain_file(context->context, certificate_file) != 1 ||
                   SSL_CTX_use_PrivateKey_file(context->context, key_file, SSL_FILETYPE_PEM) != 1)) {
        goto fail;
    }
    return context;
fail:
    ERR_clear_error();
    fuzz_peer_context_free(context);
    return NULL;
}

void fuzz_peer_context_free(struct fuzz_peer_context *context) {
    if (context == NULL) return;
    SSL_CTX_free(context->context);
    free(context);
}

struct fuzz_peer *fuzz_peer_create(struct fuzz_peer_context *context) {
    struct fuzz_peer *peer = calloc(1, sizeof(*peer));
    if (peer == NULL) return NULL;
    peer->ssl = SSL_new(context->context);
    peer->input = BIO_new(BIO_s_mem());
    peer->output = BIO_new(BIO_s_mem());
    if (peer->ssl == NULL || peer->input == NULL || peer->output == NULL) {
        BIO_free(peer->input);
        BIO_free(peer->output);
        SSL_free(peer->ssl);
        free(peer);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(peer->input, -1);
    SSL_set_bio(peer->ssl, peer->input, peer->output);
    if (context->server) {
        SSL_set_accept_state(peer->ssl);
    } else {
        SSL_set_connect_state(peer->ssl);
        SSL_set_tlsext_host_name(peer->ssl, "localhost");
    }
    return peer;
}

void fuzz_peer_free(struct fuzz_peer *peer) {
    if (peer == NULL) return;
    SSL_free(peer->ssl);  // frees both BIOs
    free(peer);
}

void fuzz_peer_feed(struct fuzz_peer *peer, const void *bytes, size_t length) {
    if (length > 0) BIO_write(peer->input, bytes, (int)length);
}

size_t fuzz_peer_pending(struct fuzz_peer *peer) { return BIO_ctrl_pending(peer->output); }

size_t fuzz_peer_take(struct fuzz_peer *peer, void *buffer, size_t capacity) {
    int count = BIO_read(peer->output, buffer, (int)capacity);
    return count > 0 ? (size_t)count : 0;
}

/// 0 for "wants more ciphertext", -1 for a failure (the error queue is cleared either way).
static int outcome(struct fuzz_peer *peer, int result) {
    int code = SSL_get_error(peer->ssl, result);
    ERR_clear_error();
    switch (code) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return -2;
    default:
        return -1;
    }
}

int fuzz_peer_handshake(struct fuzz_peer *peer) {
    int result = SSL_do_handshake(peer->ssl);
    if (result == 1) return 1;
    int status = outcome(peer, result);
    return status == 0 ? 0 : -1;
}

int fuzz_peer_write(struct fuzz_peer *peer, const void *bytes, size_t length) {
    size_t done = 0;
    while (done < length) {
        size_t written = 0;
        if (SSL_write_ex(peer->ssl, (const unsigned char *)bytes + done, length - done, &written) != 1) {
            ERR_clear_error();
            return -1;
        }
        done += written;
    }
    return 0;
}

long fuzz_peer_read(struct fuzz_peer *peer, void *buffer, size_t capacity) {
    size_t count = 0;
    if (SSL_read_ex(peer->ssl, buffer, capacity, &count) == 1) return (long)count;
    return outcome(peer, 0);
}

void fuzz_peer_shutdown(struct fuzz_peer *peer) {
    SSL_shutdown(peer->ssl);
    ERR_clear_error();
}

int fuzz_peer_key_update(struct fuzz_peer *peer, int request) {
    if (SSL_version(peer->ssl) < TLS1_3_VERSION || !SSL_is_init_finished(peer->ssl)) return -1;
    if (SSL_key_update(peer->ssl, request ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {
        ERR_clear_error();
        return -1;
    }
    // SSL_do_handshake sends the queued KeyUpdate at once.
    int result = SSL_do_handshake(peer->ssl);
    ERR_clear_error();
    return result == 1 ? 0 : -1;
}

int fuzz_peer_renegotiate(struct fuzz_peer *peer) {
    if (SSL_version(peer->ssl) >= TLS1_3_VERSION || !SSL_is_init_finished(peer->ssl)) return -1;
    if (SSL_renegotiate(peer->ssl) != 1) {
        ERR_clear_error();
        return -1;
    }
    SSL_do_handshake(peer->ssl);  // sends the HelloRequest or ClientHello; the rest waits for the other side
    ERR_clear_error();
    return 0;
}

int fuzz_peer_version(struct fuzz_peer *peer) { return SSL_is_init_finished(peer->ssl) ? SSL_version(peer->ssl) : 0; }
