#include "CRingIOTLS.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ringio_tls_context {
    SSL_CTX *ctx;
    int server;
    unsigned char *alpn;
    size_t alpn_length;
};

struct ringio_tls_session {
    SSL *ssl;
    BIO *input;   // ciphertext from the peer
    BIO *output;  // ciphertext for the peer
    int server;
    // Set by the info callback when the peer starts a TLS 1.2 renegotiation that the context refuses.
    int renegotiation_refused;
    // Whether the first handshake has finished (a later handshake start is a renegotiation).
    int handshake_done;
};

// MARK: - Byte queue BIO

/// A BIO over a plain byte queue: ciphertext from the peer on the way in, ciphertext for the
/// peer on the way out. OpenSSL's memory BIO zeroes every byte it grows into before copying over
/// it and moves unread bytes to the front on every write after a read; this one does neither: a
/// write appends (moving unread bytes only when the tail runs out of room), a read consumes from
/// the front, and the queue starts over at the front whenever it empties. Reading from an empty
/// queue asks to retry (SSL_ERROR_WANT_READ), never reports end of file.
struct byte_queue {
    unsigned char *data;
    size_t capacity;
    size_t start;  // first unread byte
    size_t end;    // one past the last byte written
};

static int byte_queue_write(BIO *bio, const char *bytes, int length) {
    BIO_clear_retry_flags(bio);
    if (length <= 0) return 0;
    struct byte_queue *queue = BIO_get_data(bio);
    size_t needed = (size_t)length;
    if (queue->capacity - queue->end < needed) {
        size_t unread = queue->end - queue->start;
        if (queue->start > 0) {
            memmove(queue->data, queue->data + queue->start, unread);
            queue->start = 0;
            queue->end = unread;
        }
        if (queue->capacity - queue->end < needed) {
            size_t capacity = queue->capacity > 0 ? queue->capacity : 4096;
            while (capacity - queue->end < needed) capacity *= 2;
            unsigned char *grown = realloc(queue->data, capacity);
            if (grown == NULL) return -1;
            queue->data = grown;
            queue->capacity = capacity;
        }
    }
    memcpy(queue->data + queue->end, bytes, needed);
    queue->end += needed;
    return length;
}

static int byte_queue_read(BIO *bio, char *buffer, int capacity) {
    BIO_clear_retry_flags(bio);
    struct byte_queue *queue = BIO_get_data(bio);
    size_t unread = queue->end - queue->start;
    if (unread == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    if (capacity <= 0) return 0;
    size_t count = (size_t)capacity < unread ? (size_t)capacity : unread;
    memcpy(buffer, queue->data + queue->start, count);
    queue->start += count;
    if (queue->start == queue->end) queue->start = queue->end = 0;
    return (int)count;
}

static long byte_queue_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)number;
    (void)pointer;
    struct byte_queue *queue = BIO_get_data(bio);
    switch (command) {
    case BIO_CTRL_PENDING:
        return (long)(queue->end - queue->start);
    case BIO_CTRL_WPENDING:
        return 0;
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_RESET:
        queue->start = queue->end = 0;
        return 1;
    default:
        return 0;
    }
}

static int byte_queue_create(BIO *bio) {
    struct byte_queue *queue = calloc(1, sizeof(*queue));
    if (queue == NULL) return 0;
    BIO_set_data(bio, queue);
    BIO_set_init(bio, 1);
    return 1;
}

static int byte_queue_destroy(BIO *bio) {
    struct byte_queue *queue = BIO_get_data(bio);
    if (queue != NULL) {
        free(queue->data);
        free(queue);
        BIO_set_data(bio, NULL);
    }
    return 1;
}

static BIO_METHOD *byte_queue_method;
static pthread_once_t byte_queue_once = PTHREAD_ONCE_INIT;

static void byte_queue_make_method(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "RingIO byte queue");
    if (method == NULL) return;
    if (!BIO_meth_set_write(method, byte_queue_write) || !BIO_meth_set_read(method, byte_queue_read) ||
        !BIO_meth_set_ctrl(method, byte_queue_ctrl) || !BIO_meth_set_create(method, byte_queue_create) ||
        !BIO_meth_set_destroy(method, byte_queue_destroy)) {
        BIO_meth_free(method);
        return;
    }
    byte_queue_method = method;
}

/// A new byte queue BIO, or NULL when OpenSSL could not make one.
static BIO *byte_queue_new(void) {
    pthread_once(&byte_queue_once, byte_queue_make_method);
    return byte_queue_method != NULL ? BIO_new(byte_queue_method) : NULL;
}

/// Writes OpenSSL's queued error reasons (or `fallback`) to `error`, and clears the queue.
static void describe_error(const char *fallback, char *error, size_t capacity) {
    if (error == NULL || capacity == 0) {
        ERR_clear_error();
        return;
    }
    unsigned long code = ERR_get_error();
    if (code == 0) {
        snprintf(error, capacity, "%s", fallback);
    } else {
        char reason[256];
        ERR_error_string_n(code, reason, sizeof(reason));
        const char *text = ERR_reason_error_string(code);
        snprintf(error, capacity, "%s: %s", fallback, text != NULL ? text : reason);
    }
    ERR_clear_error();
}

/// A handshake that starts after the first one finished is a TLS 1.2 renegotiation (TLS 1.3's
/// post-handshake messages do not start one). When the context refuses renegotiation OpenSSL
/// answers with a no_renegotiation warning and carries on; the session is marked so that the
/// read fails instead, and a peer cannot make it queue one alert per attempt.
static void note_handshake_start(const SSL *ssl, int where, int value) {
    (void)value;
    if ((where & SSL_CB_HANDSHAKE_START) == 0) return;
    if ((SSL_get_options(ssl) & SSL_OP_NO_RENEGOTIATION) == 0) return;
    struct ringio_tls_session *session = SSL_get_app_data(ssl);
    if (session != NULL && session->handshake_done) session->renegotiation_refused = 1;
}

struct ringio_tls_context *ringio_tls_context_create(int server, char *error, size_t error_capacity) {
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        describe_error("SSL_CTX_new failed", error, error_capacity);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // Report an EOF without close_notify as an error; the Swift layer decides what it means.
    SSL_CTX_clear_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
    // No renegotiation: it would make SSL_write wait for reads, every attempt makes output for a
    // peer that may not read it, and RFC 9266 forbids tls-exporter with it. A context can opt in.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_info_callback(ctx, note_handshake_start);
    if (!server) SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    struct ringio_tls_context *context = calloc(1, sizeof(*context));
    if (context == NULL) {
        SSL_CTX_free(ctx);
        snprintf(error, error_capacity, "out of memory");
        return NULL;
    }
    context->ctx = ctx;
    context->server = server;
    return context;
}

void ringio_tls_context_free(struct ringio_tls_context *context) {
    if (context == NULL) return;
    SSL_CTX_free(context->ctx);
    free(context->alpn);
    free(context);
}

int ringio_tls_context_use_certificate_chain(struct ringio_tls_context *context, const char *pem, size_t length, const char *path,
                                             char *error, size_t error_capacity) {
    if (path != NULL) {
        if (SSL_CTX_use_certificate_chain_file(context->ctx, path) == 1) return 0;
        char what[512];
        snprintf(what, sizeof(what), "cannot load the certificate chain from %s", path);
        describe_error(what, error, error_capacity);
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
    int ok = leaf != NULL && SSL_CTX_use_certificate(context->ctx, leaf) == 1;
    X509_free(leaf);
    SSL_CTX_clear_chain_certs(context->ctx);
    X509 *extra;
    while (ok && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(context->ctx, extra) != 1) {
            X509_free(extra);
            ok = 0;
        }
    }
    BIO_free(bio);
    if (ok) {
        ERR_clear_error();  // the loop above ends on a "no start line" error
        return 0;
    }
    describe_error("cannot load the certificate chain from PEM text", error, error_capacity);
    return -1;
}

int ringio_tls_context_use_private_key(struct ringio_tls_context *context, const char *pem, size_t length, const char *path,
                                       char *error, size_t error_capacity) {
    int ok;
    if (path != NULL) {
        ok = SSL_CTX_use_PrivateKey_file(context->ctx, path, SSL_FILETYPE_PEM) == 1;
    } else {
        BIO *bio = BIO_new_mem_buf(pem, (int)length);
        EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        ok = key != NULL && SSL_CTX_use_PrivateKey(context->ctx, key) == 1;
        EVP_PKEY_free(key);
        BIO_free(bio);
    }
    if (ok && SSL_CTX_check_private_key(context->ctx) == 1) return 0;
    char what[512];
    if (!ok) {
        snprintf(what, sizeof(what), "cannot load the private key%s%s", path ? " from " : " from PEM text", path ? path : "");
    } else {
        snprintf(what, sizeof(what), "the private key does not match the certificate");
    }
    describe_error(what, error, error_capacity);
    return -1;
}

int ringio_tls_context_trust(struct ringio_tls_context *context, int use_default, const char *file, const char *directory,
                             const char *pem, size_t length, char *error, size_t error_capacity) {
    if (use_default && SSL_CTX_set_default_verify_paths(context->ctx) != 1) {
        describe_error("cannot load the system trust store", error, error_capacity);
        return -1;
    }
    if ((file != NULL || directory != NULL) && SSL_CTX_load_verify_locations(context->ctx, file, directory) != 1) {
        char what[512];
        snprintf(what, sizeof(what), "cannot load trusted certificates from %s", file ? file : directory);
        describe_error(what, error, error_capacity);
        return -1;
    }
    if (pem != NULL) {
        BIO *bio = BIO_new_mem_buf(pem, (int)length);
        X509_STORE *store = SSL_CTX_get_cert_store(context->ctx);
        int count = 0;
        X509 *certificate;
        while ((certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            X509_STORE_add_cert(store, certificate);
            X509_free(certificate);
            count++;
        }
        BIO_free(bio);
        ERR_clear_error();
        if (count == 0) {
            snprintf(error, error_capacity, "no certificate in the trusted PEM text");
            return -1;
        }
    }
    return 0;
}

void ringio_tls_context_set_verify_peer(struct ringio_tls_context *context, int verify) {
    int mode = SSL_VERIFY_NONE;
    if (verify) mode = SSL_VERIFY_PEER | (context->server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(context->ctx, mode, NULL);
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *out_length, const unsigned char *in, unsigned int in_length,
                       void *argument) {
    (void)ssl;
    struct ringio_tls_context *context = argument;
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, out_length, context->alpn, (unsigned int)context->alpn_length, in, in_length) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

int ringio_tls_context_set_alpn(struct ringio_tls_context *context, const unsigned char *wire, size_t length) {
    free(context->alpn);
    context->alpn = malloc(length);
    if (context->alpn == NULL) return -1;
    memcpy(context->alpn, wire, length);
    context->alpn_length = length;
    if (context->server) {
        SSL_CTX_set_alpn_select_cb(context->ctx, select_alpn, context);
        return 0;
    }
    return SSL_CTX_set_alpn_protos(context->ctx, wire, (unsigned int)length) == 0 ? 0 : -1;
}

int ringio_tls_context_set_versions(struct ringio_tls_context *context, int minimum, int maximum, char *error, size_t error_capacity) {
    if (SSL_CTX_set_min_proto_version(context->ctx, minimum) != 1 || SSL_CTX_set_max_proto_version(context->ctx, maximum) != 1) {
        describe_error("unsupported protocol version bounds", error, error_capacity);
        return -1;
    }
    return 0;
}

void ringio_tls_context_allow_renegotiation(struct ringio_tls_context *context) {
    SSL_CTX_clear_options(context->ctx, SSL_OP_NO_RENEGOTIATION);
    // OpenSSL 3 refuses a client's renegotiation on a server unless told otherwise.
    if (context->server) SSL_CTX_set_options(context->ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
}

int ringio_tls_context_set_ciphers(struct ringio_tls_context *context, const char *list, const char *suites, char *error,
                                   size_t error_capacity) {
    if (list != NULL && SSL_CTX_set_cipher_list(context->ctx, list) != 1) {
        describe_error("no usable TLS 1.2 cipher in the list", error, error_capacity);
        return -1;
    }
    if (suites != NULL && SSL_CTX_set_ciphersuites(context->ctx, suites) != 1) {
        describe_error("no usable TLS 1.3 cipher suite in the list", error, error_capacity);
        return -1;
    }
    return 0;
}

struct ringio_tls_session *ringio_tls_session_create(struct ringio_tls_context *context, int server, const char *server_name,
                                                     char *error, size_t error_capacity) {
    struct ringio_tls_session *session = calloc(1, sizeof(*session));
    if (session == NULL) {
        snprintf(error, error_capacity, "out of memory");
        return NULL;
    }
    session->ssl = SSL_new(context->ctx);
    session->input = byte_queue_new();
    session->output = byte_queue_new();
    if (session->ssl == NULL || session->input == NULL || session->output == NULL) {
        describe_error("cannot create a TLS session", error, error_capacity);
        SSL_free(session->ssl);
        BIO_free(session->input);
        BIO_free(session->output);
        free(session);
        return NULL;
    }
    SSL_set_bio(session->ssl, session->input, session->output);
    SSL_set_app_data(session->ssl, session);
    session->server = server;
    if (server) {
        SSL_set_accept_state(session->ssl);
    } else {
        SSL_set_connect_state(session->ssl);
        if (server_name != NULL && server_name[0] != '\0') {
            ASN1_OCTET_STRING *ip = a2i_IPADDRESS(server_name);
            if (ip != NULL) {
                ASN1_OCTET_STRING_free(ip);
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(session->ssl), server_name);
            } else {
                SSL_set_tlsext_host_name(session->ssl, server_name);
                SSL_set1_host(session->ssl, server_name);
            }
            ERR_clear_error();
        }
    }
    return session;
}

void ringio_tls_session_free(struct ringio_tls_session *session) {
    if (session == NULL) return;
    SSL_free(session->ssl);  // frees both BIOs
    free(session);
}

int ringio_tls_feed(struct ringio_tls_session *session, const void *bytes, size_t length) {
    if (length == 0) return 0;
    return BIO_write(session->input, bytes, (int)length) == (int)length ? 0 : -1;
}

size_t ringio_tls_pending_output(struct ringio_tls_session *session) { return BIO_ctrl_pending(session->output); }

size_t ringio_tls_pending_input(struct ringio_tls_session *session) { return BIO_ctrl_pending(session->input); }

size_t ringio_tls_take_input(struct ringio_tls_session *session, void *buffer, size_t capacity) {
    int count = BIO_read(session->input, buffer, (int)(capacity > 0x7fffffff ? 0x7fffffff : capacity));
    return count > 0 ? (size_t)count : 0;
}

size_t ringio_tls_take_output(struct ringio_tls_session *session, void *buffer, size_t capacity) {
    int count = BIO_read(session->output, buffer, (int)(capacity > 0x7fffffff ? 0x7fffffff : capacity));
    return count > 0 ? (size_t)count : 0;
}

/// Turns a failed SSL call into FAILED with a message, or WANT_READ/CLOSED.
static int classify(struct ringio_tls_session *session, int result, const char *what, char *error, size_t capacity) {
    int code = SSL_get_error(session->ssl, result);
    switch (code) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return RINGIO_TLS_WANT_READ;
    case SSL_ERROR_ZERO_RETURN:
        return RINGIO_TLS_CLOSED;
    default: {
        // The verification result explains a failure only while the handshake runs and the
        // peer is verified; otherwise (a bad record later, an unverified self-signed peer) it is stale.
        long verify = SSL_get_verify_result(session->ssl);
        int verifying = (SSL_get_verify_mode(session->ssl) & SSL_VERIFY_PEER) && !SSL_is_init_finished(session->ssl);
        if (verifying && verify != X509_V_OK) {
            snprintf(error, capacity, "%s: certificate verify failed: %s", what, X509_verify_cert_error_string(verify));
            ERR_clear_error();
        } else {
            describe_error(what, error, capacity);
        }
        return RINGIO_TLS_FAILED;
    }
    }
}

int ringio_tls_handshake(struct ringio_tls_session *session, char *error, size_t error_capacity) {
    int result = SSL_do_handshake(session->ssl);
    if (result == 1) {
        session->handshake_done = 1;
        return RINGIO_TLS_OK;
    }
    return classify(session, result, "TLS handshake failed", error, error_capacity);
}

int ringio_tls_read(struct ringio_tls_session *session, void *buffer, size_t capacity, size_t *count, char *error,
                    size_t error_capacity) {
    *count = 0;
    if (!session->renegotiation_refused) {
        int result = SSL_read_ex(session->ssl, buffer, capacity, count);
        // Bytes decrypted before a refused renegotiation are still returned; the next read fails.
        if (result == 1) return RINGIO_TLS_OK;
        if (!session->renegotiation_refused) return classify(session, result, "TLS receive failed", error, error_capacity);
    }
    ERR_clear_error();
    snprintf(error, error_capacity,
             "TLS receive failed: the peer tried to renegotiate TLS 1.2, which this side refuses (no_renegotiation; "
             "TLSConfiguration.allowsRenegotiation)");
    return RINGIO_TLS_FAILED;
}

int ringio_tls_write(struct ringio_tls_session *session, const void *bytes, size_t length, char *error, size_t error_capacity) {
    size_t done = 0;
    while (done < length) {
        size_t written = 0;
        int result = SSL_write_ex(session->ssl, (const unsigned char *)bytes + done, length - done, &written);
        if (result != 1) {
            int status = classify(session, result, "TLS send failed", error, error_capacity);
            if (status != RINGIO_TLS_FAILED) {
                snprintf(error, error_capacity, "TLS send failed: the session cannot send now (%s)",
                         status == RINGIO_TLS_CLOSED ? "the peer closed it" : "it waits for the peer");
            }
            return RINGIO_TLS_FAILED;
        }
        done += written;
    }
    return RINGIO_TLS_OK;
}

int ringio_tls_shutdown(struct ringio_tls_session *session) {
    int result = SSL_shutdown(session->ssl);
    ERR_clear_error();
    return result >= 0 ? RINGIO_TLS_OK : RINGIO_TLS_FAILED;
}

const char *ringio_tls_version(struct ringio_tls_session *session) {
    return SSL_is_init_finished(session->ssl) ? SSL_get_version(session->ssl) : NULL;
}

const char *ringio_tls_cipher(struct ringio_tls_session *session) {
    return SSL_is_init_finished(session->ssl) ? SSL_get_cipher_name(session->ssl) : NULL;
}

const unsigned char *ringio_tls_alpn(struct ringio_tls_session *session, size_t *length) {
    const unsigned char *data = NULL;
    unsigned int size = 0;
    SSL_get0_alpn_selected(session->ssl, &data, &size);
    *length = size;
    return data;
}

long ringio_tls_peer_certificate(struct ringio_tls_session *session, unsigned char *buffer, size_t capacity) {
    X509 *certificate = SSL_get1_peer_certificate(session->ssl);
    if (certificate == NULL) return -1;
    int size = i2d_X509(certificate, NULL);
    if (buffer != NULL && size > 0 && (size_t)size <= capacity) {
        unsigned char *cursor = buffer;
        i2d_X509(certificate, &cursor);
    }
    X509_free(certificate);
    return size;
}

long ringio_tls_channel_binding(struct ringio_tls_session *session, int type, unsigned char *buffer, size_t capacity) {
    unsigned char data[EVP_MAX_MD_SIZE > 64 ? EVP_MAX_MD_SIZE : 64];
    size_t length = 0;
    switch (type) {
    case RINGIO_CB_TLS_UNIQUE: {
        if (SSL_version(session->ssl) >= TLS1_3_VERSION) return -1;
        // The first Finished message of the handshake: the client's in a full handshake.
        int client_first = !SSL_session_reused(session->ssl);
        int ours_first = (client_first && !session->server) || (!client_first && session->server);
        length = ours_first ? SSL_get_finished(session->ssl, data, sizeof(data)) : SSL_get_peer_finished(session->ssl, data, sizeof(data));
        break;
    }
    case RINGIO_CB_TLS_SERVER_END_POINT: {
        X509 *certificate = session->server ? SSL_get_certificate(session->ssl) : SSL_get0_peer_certificate(session->ssl);
        if (certificate == NULL) return -1;
        int nid = 0;
        const EVP_MD *digest = NULL;
        if (X509_get_signature_info(certificate, &nid, NULL, NULL, NULL) == 1 && nid != NID_undef && nid != NID_md5 && nid != NID_sha1) {
            digest = EVP_get_digestbynid(nid);
        }
        if (digest == NULL) digest = EVP_sha256();  // RFC 5929 §4.1: MD5 and SHA-1 become SHA-256
        unsigned int size = 0;
        if (X509_digest(certificate, digest, data, &size) != 1) return -1;
        length = size;
        break;
    }
    case RINGIO_CB_TLS_EXPORTER: {
        static const char label[] = "EXPORTER-Channel-Binding";
        if (SSL_export_keying_material(session->ssl, data, 32, label, sizeof(label) - 1, NULL, 0, 1) != 1) return -1;
        length = 32;
        break;
    }
    default:
        return -1;
    }
    if (buffer != NULL) memcpy(buffer, data, length < capacity ? length : capacity);
    return (long)length;
}
