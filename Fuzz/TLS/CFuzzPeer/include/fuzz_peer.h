// The TLS peer of the `tls` fuzz target: an OpenSSL session over two memory BIOs, driven
// synchronously by the harness, that plays the other side of the session under test (a real
// handshake, application data, close_notify, key updates, renegotiation requests). It is the
// harness's own code, not RingIO's: it is built without coverage instrumentation, so libFuzzer
// steers by RingIO's edges only.
#ifndef FUZZ_PEER_H
#define FUZZ_PEER_H

#include <stddef.h>

struct fuzz_peer;
struct fuzz_peer_context;

/// Settings for peers (made once, shared by many): a server (`server` non-zero, with the
/// certificate and key files) or a client (which does not verify the server). `max_version` is 0
/// (the newest) or 0x0303/0x0304. NULL on failure.
struct fuzz_peer_context *fuzz_peer_context_create(int server, const char *certificate_file, const char *key_file, int max_version);
void fuzz_peer_context_free(struct fuzz_peer_context *context);

/// A peer session on `context`. NULL on failure.
struct fuzz_peer *fuzz_peer_create(struct fuzz_peer_context *context);
void fuzz_peer_free(struct fuzz_peer *peer);

/// Ciphertext from the session under test.
void fuzz_peer_feed(struct fuzz_peer *peer, const void *bytes, size_t length);
/// Ciphertext for the session under test: how much waits, and takes up to `capacity` of it.
size_t fuzz_peer_pending(struct fuzz_peer *peer);
size_t fuzz_peer_take(struct fuzz_peer *peer, void *buffer, size_t capacity);

/// One handshake step: 1 done, 0 waiting for ciphertext, -1 failed.
int fuzz_peer_handshake(struct fuzz_peer *peer);
/// Encrypts all of `bytes`: 0, or -1 on failure.
int fuzz_peer_write(struct fuzz_peer *peer, const void *bytes, size_t length);
/// Decrypts into `buffer`: the byte count (> 0), 0 when it waits for ciphertext, -1 on failure,
/// -2 when the session under test sent close_notify.
long fuzz_peer_read(struct fuzz_peer *peer, void *buffer, size_t capacity);
/// Queues close_notify.
void fuzz_peer_shutdown(struct fuzz_peer *peer);
/// TLS 1.3: queues a KeyUpdate (asking the other side to update too when `request` is non-zero).
/// 0, or -1 when not possible (TLS 1.2, or the session is not established).
int fuzz_peer_key_update(struct fuzz_peer *peer, int request);
/// TLS 1.2: starts a renegotiation (a HelloRequest from a server, a ClientHello from a client).
/// 0, or -1 when not possible.
int fuzz_peer_renegotiate(struct fuzz_peer *peer);
/// The negotiated version (0x0303, 0x0304), 0 before the handshake.
int fuzz_peer_version(struct fuzz_peer *peer);

#endif
