internal import RingIORuntime
public import RingIOTLS

extension SocketStream {
    /// Starts TLS on this stream (opportunistic TLS, STARTTLS), on either side: a stream from
    /// `connectTCP`/`connectUNIX` is the client, one from `acceptConnections()` the server. The
    /// handshake runs before this returns; from then on every receive and send is encrypted.
    ///
    /// Bytes a receive already buffered (a peer that sent its ClientHello right behind the
    /// STARTTLS line) are handed to TLS, not lost.
    ///
    /// - Parameters:
    ///   - context: the TLS context (default: the one the stream was created with).
    ///   - serverHostname: for a client, the name sent as SNI and checked against the certificate
    ///     (default: the one given at connect time, else the peer's address). Give it for UNIX streams.
    ///   - standardCompatible: whether an EOF without close_notify is an error (default: as created, else `true`).
    /// - Throws: ``RingIOError`` `.tlsFailure` when TLS is already active or no context is known;
    ///   `.busyResource` while another task receives or sends; `.tlsHandshakeFailed` naming the
    ///   reason (the stream is then closed).
    public func startTLS(context: TLSContext? = nil, serverHostname: String? = nil, standardCompatible: Bool? = nil) async throws {
        let stored = await storedTLSSetup
        guard let factory: any SecureLayerFactory = context ?? stored?.factory else {
            throw RingIOError(.tlsFailure, "startTLS: no TLS context; pass one, or create the stream with tlsContext:")
        }
        let hostname = serverHostname ?? stored?.serverHostname ?? (tlsRole == .client ? remoteAddress.host : nil)
        let setup = TLSSetup(
            factory: factory, role: tlsRole, serverHostname: tlsRole == .client ? hostname : nil,
            standardCompatible: standardCompatible ?? stored?.standardCompatible ?? true)
        try await startTLS(setup)
    }
}
