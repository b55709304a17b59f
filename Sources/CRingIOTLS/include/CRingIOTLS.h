// A thin C adapter over OpenSSL 3 for RingIO's TLS layer: an SSL_CTX wrapper and an SSL session
// over two in-memory BIOs. It includes no OpenSSL or system header, so Swift sees only opaque
// pointers and plain integers; the TLS state machine itself (handshake loop, ragged EOFs,
// close_notify) is written in Swift (Sources/RingIOTLS).
#ifndef RINGIO_CRINGIOTLS_H
#define RINGIO_CRINGIOTLS_H

#include <stddef.h>
#include <stdint.h>

struct ringio_tls_context;
struct ringio_tls_session;

/// Outcomes of handshake, read, write and shutdown steps.
enum {
    RINGIO_TLS_OK = 0,
    RINGIO_TLS_WANT_READ = 1,
    RINGIO_TLS_CLOSED = 2,  // the peer sent close_notify
    RINGIO_TLS_FAILED = -1,
};

/// TLS protocol versions, as in OpenSSL (0 = no bound).
enum { RINGIO_TLS1_2 = 0x0303, RINGIO_TLS1_3 = 0x0304 };

/// Channel-binding types.
enum { RINGIO_CB_TLS_UNIQUE = 1, RINGIO_CB_TLS_SERVER_END_POINT = 2, RINGIO_CB_TLS_EXPORTER = 3 };

/// A new context for a server (`server` non-zero) or a client; NULL and a message on failure.
struct ringio_tls_context *ringio_tls_context_create(int server, char *error, size_t error_capacity);
void ringio_tls_context_free(struct ringio_tls_context *context);
/// Each returns 0, or -1 with a message naming the problem in `error`.
int ringio_tls_context_use_certificate_chain(struct ringio_tls_context *context, const char *pem, size_t length, const char *path,
                                             char *error, size_t error_capacity);
int ringio_tls_context_use_private_key(struct ringio_tls_context *context, const char *pem, size_t length, const char *path,
                                       char *error, size_t error_capacity);
/// Trust anchors: the system store (`use_default`), a CA file or directory, or PEM text.
int ringio_tls_context_trust(struct ringio_tls_context *context, int use_default, const char *file, const char *directory,
                             const char *pem, size_t length, char *error, size_t error_capacity);
void ringio_tls_context_set_verify_peer(struct ringio_tls_context *context, int verify);
/// ALPN protocol names in wire format (length-prefixed); the server picks the first of its own
/// list that the client offers.
int ringio_tls_context_set_alpn(struct ringio_tls_context *context, const unsigned char *wire, size_t length);
int ringio_tls_context_set_versions(struct ringio_tls_context *context, int minimum, int maximum, char *error, size_t error_capacity);
/// Lets sessions of `context` renegotiate TLS 1.2 (refused by default).
void ringio_tls_context_allow_renegotiation(struct ringio_tls_context *context);
/// TLS 1.2 cipher list and/or TLS 1.3 cipher suites (NULL leaves the default).
int ringio_tls_context_set_ciphers(struct ringio_tls_context *context, const char *list, const char *suites, char *error,
                                   size_t error_capacity);

/// A session on `context`; a client sends `server_name` as SNI and, when verifying, checks the
/// certificate against it (a DNS name or an IP address).
struct ringio_tls_session *ringio_tls_session_create(struct ringio_tls_context *context, int server, const char *server_name,
                                                     char *error, size_t error_capacity);
void ringio_tls_session_free(struct ringio_tls_session *session);

/// Hands ciphertext received from the peer to the engine.
int ringio_tls_feed(struct ringio_tls_session *session, const void *bytes, size_t length);
/// How many ciphertext bytes wait to be sent to the peer, and takes up to `capacity` of them.
size_t ringio_tls_pending_output(struct ringio_tls_session *session);
size_t ringio_tls_take_output(struct ringio_tls_session *session, void *buffer, size_t capacity);
/// How many received ciphertext bytes the engine has not read yet, and takes up to `capacity` of
/// them (after the peer's close_notify: the bytes that follow it, for unwrapping).
size_t ringio_tls_pending_input(struct ringio_tls_session *session);
size_t ringio_tls_take_input(struct ringio_tls_session *session, void *buffer, size_t capacity);

/// One handshake step: OK when done, WANT_READ when it needs more ciphertext, FAILED with a
/// message (the verification result and OpenSSL's reason).
int ringio_tls_handshake(struct ringio_tls_session *session, char *error, size_t error_capacity);
/// Decrypts into `buffer`; `*count` receives the bytes. OK, WANT_READ, CLOSED or FAILED.
int ringio_tls_read(struct ringio_tls_session *session, void *buffer, size_t capacity, size_t *count, char *error,
                    size_t error_capacity);
/// Encrypts all `length` bytes (the ciphertext then waits in the output). OK or FAILED.
int ringio_tls_write(struct ringio_tls_session *session, const void *bytes, size_t length, char *error, size_t error_capacity);
/// Queues close_notify.
int ringio_tls_shutdown(struct ringio_tls_session *session);

/// Negotiated parameters; NULL/0 before the handshake.
const char *ringio_tls_version(struct ringio_tls_session *session);
const char *ringio_tls_cipher(struct ringio_tls_session *session);
/// The ALPN protocol chosen; `*length` 0 if none.
const unsigned char *ringio_tls_alpn(struct ringio_tls_session *session, size_t *length);
/// The peer's certificate in DER: the needed size when `buffer` is NULL, -1 when there is none.
long ringio_tls_peer_certificate(struct ringio_tls_session *session, unsigned char *buffer, size_t capacity);
/// Channel-binding data of `type`: its length (written to `buffer` up to `capacity`), or -1 when
/// the type does not apply (tls-unique under TLS 1.3, tls-server-end-point without a certificate).
long ringio_tls_channel_binding(struct ringio_tls_session *session, int type, unsigned char *buffer, size_t capacity);

#endif
