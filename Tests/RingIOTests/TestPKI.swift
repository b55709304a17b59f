import RingIO
import RingIOTestSupport
import Testing

/// The handshake timeout of the tests' TLS listeners (tests of the timeout set their own). Under
/// ThreadSanitizer the whole test process has been seen to stand still for about 30 seconds,
/// every loop thread waiting inside the Swift runtime's generic-metadata initialisation, and a
/// listener's 30-second default then failed handshakes whose peers had done nothing wrong.
let testHandshakeTimeout = Duration.seconds(100)

/// A TLS listener on 127.0.0.1 (any free port) with the tests' handshake timeout.
func tlsTestListener(_ context: TLSContext) async throws -> TLSListener {
    try await createTCPServer(port: 0, host: "127.0.0.1", tlsContext: context, handshakeTimeout: testHandshakeTimeout)
}

/// A TLS server on 127.0.0.1 with a client connected to it by the name `localhost`, both as
/// socket streams running TLS (the optional-context API; TLSStreamTests covers the TLS streams
/// that `connectTCP(tlsContext:)` and a `TLSListener` give).
func withTLSPair(
    _ backend: BackendPreference, server serverContext: TLSContext, client clientContext: TLSContext,
    serverStandardCompatible: Bool = true, clientStandardCompatible: Bool = true,
    _ body: @Sendable (_ server: SocketStream, _ client: SocketStream) async throws -> Void
) async throws {
    try await withTestRuntime(backend) {
        let listener = try await createTCPServer(
            port: 0, host: "127.0.0.1", tlsContext: Optional(serverContext), tlsStandardCompatible: serverStandardCompatible,
            handshakeTimeout: testHandshakeTimeout)
        let port = try #require(listener.port)
        async let accepted = listener.accept()
        let client = try await connectTCP(
            host: "localhost", port: port, tlsContext: Optional(clientContext), tlsStandardCompatible: clientStandardCompatible)
        try await closingAfter(listener, server: try await accepted, client: client, body)
    }
}
