internal import RingIORuntime
public import RingIOTLS

extension SocketStream {
    /// Starts TLS on this stream (opportunistic TLS, STARTTLS), on either side: a stream from
    /// `connectTCP`/`connectUNIX` is the client, one from `acceptConnections()` the server. The
    /// handshake runs before this returns; from then on every receive and send is encrypted,
    /// whether made on this stream or on the returned ``TLSStream`` (they are the same traffic),
    /// until the TLS stream is unwrapped.
    ///
    /// Bytes a receive already buffered (a peer that sent its ClientHello right behind the
    /// STARTTLS line) are handed to TLS, not lost.
    ///
    /// - Parameters:
    ///   - context: the TLS context (default: the one the stream was created with).
    ///   - serverHostname: for a client, the name sent as SNI and checked against the certificate
    ///     (default: the one given at connect time, else the peer's address). Give it for UNIX streams.
    ///   - standardCompatible: whether an EOF without close_notify is an error (default: as created, else `true`).
    /// - Returns: the TLS stream over this socket.
    /// - Throws: ``RingIOError`` `.tlsFailure` when TLS is already active or no context is known;
    ///   `.busyResource` while another task receives or sends; `.tlsHandshakeFailed` naming the
    ///   reason (the stream is then closed).
    @discardableResult
    public func startTLS(context: TLSContext? = nil, serverHostname: String? = nil, standardCompatible: Bool? = nil) async throws
        -> TLSStream
    {
        let stored = await storedTLSSetup
        guard let factory: any SecureLayerFactory = context ?? stored?.factory else {
            throw RingIOError(.tlsFailure, "startTLS: no TLS context; pass one, or create the stream with tlsContext:")
        }
        let hostname = serverHostname ?? stored?.serverHostname ?? (tlsRole == .client ? remoteAddress.host : nil)
        let setup = TLSSetup(
            factory: factory, role: tlsRole, serverHostname: tlsRole == .client ? hostname : nil,
            standardCompatible: standardCompatible ?? stored?.standardCompatible ?? true)
        return try await startTLS(setup).asTLSStream
    }

    /// The TLS stream this socket hands its traffic to: `nil` on a plain stream (and after that
    /// TLS stream was unwrapped). A listener's autostarting streams have one from accept on,
    /// while their handshake runs.
    public var tlsStream: TLSStream? {
        get async { await currentSecureStream?.asTLSStream }
    }

    /// The TLS stream of a socket that started TLS on its own (`connectTCP`'s or a listener's
    /// autostart). Throws `.brokenResource` when the loop has shut down (where ``tlsStream``
    /// answers `nil`), and `.tlsFailure` after closing the socket if it runs no TLS.
    func autostartedTLSStream(_ what: @autoclosure () -> String) async throws -> TLSStream {
        guard let tls = try await confinedSecureStream?.asTLSStream else {
            await close()
            throw RingIOError(.tlsFailure, "\(what()): the stream \(remoteAddress) runs no TLS")
        }
        return tls
    }
}

extension SecureStream {
    /// Every secure stream is a ``TLSStream``: ``TLSContext`` is the only factory.
    fileprivate var asTLSStream: TLSStream {
        guard let stream = self as? TLSStream else { preconditionFailure("a secure stream that is not a TLSStream: \(type(of: self))") }
        return stream
    }
}

extension TLSStream {
    /// Starts TLS over `stream` (AnyIO's `TLSStream.wrap`), which may be any byte stream: a TCP
    /// or UNIX stream, or one of your own. The handshake runs before this returns, as the role of
    /// `context` (a server or a client context). The TLS stream owns `stream` from then on;
    /// ``unwrap()`` gives it back.
    ///
    /// A plain ``SocketStream`` is upgraded in place, as by ``SocketStream/startTLS(context:serverHostname:standardCompatible:)``,
    /// and plays the side it was made for (connected: client, accepted: server), which `context`
    /// must match. A socket with TLS already on is wrapped through its TLS stream (TLS inside
    /// TLS). Any other stream has its TLS stream run on the current event loop.
    ///
    /// - Parameters:
    ///   - stream: the transport.
    ///   - context: the TLS context; its role is the side this end plays.
    ///   - serverHostname: for a client, the name sent as SNI and checked against the certificate.
    ///   - standardCompatible: whether an EOF without close_notify is an error, and `close()`
    ///     sends close_notify (default).
    /// - Throws: ``RingIOError`` `.tlsHandshakeFailed` naming the reason, `.tlsFailure` when the
    ///   context cannot make a session (a role that does not match the socket's); `stream` is
    ///   closed in both cases.
    public static func wrap(
        _ stream: any ByteStream, context: TLSContext, serverHostname: String? = nil, standardCompatible: Bool = true
    ) async throws -> TLSStream {
        if let socket = stream as? SocketStream {
            guard let outer = await socket.tlsStream else {
                return try await socket.startTLS(context: context, serverHostname: serverHostname, standardCompatible: standardCompatible)
            }
            return try await wrap(outer, context: context, serverHostname: serverHostname, standardCompatible: standardCompatible)
        }
        let loop = try Runtime.currentLoop()
        let description = "TLS over \(type(of: stream))"
        let tls = context.makeTLSStream(
            over: ByteStreamTransport(stream, loop: loop, description: description), in: loop,
            // TLS inside TLS: the inner stream's socket is this one's too.
            underlying: WrappedByteStream(stream, addresses: (stream as? TLSStream)?.addresses),
            role: context.role, serverHostname: context.role == .client ? serverHostname : nil,
            standardCompatible: standardCompatible, initialCiphertext: ByteBuffer(), description: description)
        _ = try await loop.confine { try await tls.handshake() }
        return tls
    }
}
