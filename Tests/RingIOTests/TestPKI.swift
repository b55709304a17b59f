import RingIO
import RingIOTestSupport
import Testing

/// A TLS server on 127.0.0.1 with a client connected to it by the name `localhost`.
func withTLSPair(
    _ backend: BackendPreference, server serverContext: TLSContext, client clientContext: TLSContext,
    serverStandardCompatible: Bool = true, clientStandardCompatible: Bool = true,
    _ body: @Sendable (_ server: SocketStream, _ client: SocketStream) async throws -> Void
) async throws {
    try await withTestRuntime(backend) {
        let listener = try await createTCPServer(
            port: 0, host: "127.0.0.1", tlsContext: serverContext, tlsStandardCompatible: serverStandardCompatible)
        let port = try #require(listener.port)
        async let accepted = listener.accept()
        let client = try await connectTCP(
            host: "localhost", port: port, tlsContext: clientContext, tlsStandardCompatible: clientStandardCompatible)
        try await closingAfter(listener, server: try await accepted, client: client, body)
    }
}
