internal import RingIORuntime
public import RingIOTLS

/// Opens a TCP connection (AnyIO's `connect_tcp`).
///
/// The host name is resolved without blocking the event loop; every address is tried, IPv6 and
/// IPv4 interleaved and raced as in RFC 8305. `TCP_NODELAY` is set on the stream.
///
/// - Parameters:
///   - host: a host name or an IP literal (`"localhost"`, `"127.0.0.1"`, `"::1"`).
///   - port: the port, 0...65535.
///   - localHost: an IP address to bind the local end to (also restricts the address family).
///   - localPort: a local port to bind to.
///   - happyEyeballsDelay: how long one attempt runs before the next address is tried as well.
///   - tlsContext: a client ``TLSContext``: TLS starts right after connecting (`autostartTLS`),
///     or later with ``SocketStream/startTLS(context:serverHostname:standardCompatible:)`` (STARTTLS).
///     Given a `TLSContext` that is not optional and no `autostartTLS`, Swift picks the overload
///     that returns a ``TLSStream``; this one keeps the ``SocketStream`` type (its ``SocketStream/tlsStream``
///     is the TLS stream once TLS runs), for callers that serve plain and TLS streams alike.
///   - autostartTLS: run the handshake before returning (default). Pass `false` for STARTTLS;
///     AnyIO 1.x defaults to `false`, RingIO to the safe choice.
///   - tlsStandardCompatible: treat an EOF without close_notify as an error (default), and send
///     close_notify on close. Pass `false` for protocols that skip the TLS closing handshake.
///   - serverHostname: the name sent as SNI and checked against the certificate (default: `host`).
/// - Returns: the connected stream.
/// - Throws: ``RingIOError``: `.nameResolutionFailed`; `.connectionRefused`, `.timedOut` and
///   others for a single address; when several addresses all fail, the code they share (or
///   `.connectFailed`) with one entry per address in `attempts`; `.invalidArgument`;
///   `.tlsHandshakeFailed` naming the reason (the stream is closed); `CancellationError`.
public func connectTCP(
    host: String, port: Int, localHost: String? = nil, localPort: Int? = nil,
    happyEyeballsDelay: Duration = .milliseconds(250), tlsContext: TLSContext? = nil, autostartTLS: Bool = true,
    tlsStandardCompatible: Bool = true, serverHostname: String? = nil
) async throws -> SocketStream {
    let tls = tlsContext.map { context in
        (
            setup: TLSSetup(
                factory: context, role: .client, serverHostname: serverHostname ?? host, standardCompatible: tlsStandardCompatible),
            autostart: autostartTLS
        )
    }
    return try await TCPConnector.connect(
        on: try Runtime.currentLoop(), host: host, port: port, localHost: localHost, localPort: localPort,
        happyEyeballsDelay: happyEyeballsDelay, tls: tls)
}

/// Opens a TCP connection and runs TLS over it (AnyIO 4's `connect_tcp(..., tls=True)`): the
/// handshake has completed when this returns.
///
/// The connection is made as by ``connectTCP(host:port:localHost:localPort:happyEyeballsDelay:tlsContext:autostartTLS:tlsStandardCompatible:serverHostname:)``;
/// use that one with `autostartTLS: false` to start TLS later on a plain stream (STARTTLS).
///
/// - Parameters:
///   - tlsContext: a client ``TLSContext``.
///   - tlsStandardCompatible: treat an EOF without close_notify as an error (default), and send
///     close_notify on close. Pass `false` for protocols that skip the TLS closing handshake.
///   - serverHostname: the name sent as SNI and checked against the certificate (default: `host`).
///   - host, port, localHost, localPort, happyEyeballsDelay: as for a plain connection.
/// - Returns: the TLS stream; ``TLSStream/remoteAddress`` and ``TLSStream/localAddress`` name
///   the connection's ends, and ``TLSStream/unwrap()`` gives back the plain ``SocketStream``.
///   Socket options (`setOption`) are on the socket stream: for a TLS connection that needs
///   them, pass the context as `TLSContext?` to get the ``SocketStream`` running TLS.
/// - Throws: what a plain connection throws; ``RingIOError`` `.tlsHandshakeFailed` naming the
///   reason (the connection is closed); `.brokenResource` when the runtime shut down meanwhile.
public func connectTCP(
    host: String, port: Int, localHost: String? = nil, localPort: Int? = nil,
    happyEyeballsDelay: Duration = .milliseconds(250), tlsContext: TLSContext, tlsStandardCompatible: Bool = true,
    serverHostname: String? = nil
) async throws -> TLSStream {
    let socket = try await connectTCP(
        host: host, port: port, localHost: localHost, localPort: localPort, happyEyeballsDelay: happyEyeballsDelay,
        tlsContext: Optional(tlsContext), autostartTLS: true, tlsStandardCompatible: tlsStandardCompatible,
        serverHostname: serverHostname)
    return try await socket.autostartedTLSStream("connectTCP to \(host):\(port)")
}

/// Creates a TCP listener (AnyIO's `create_tcp_server`).
///
/// - Parameters:
///   - port: the port; 0 picks a free one (read it back from ``SocketListener/port``).
///   - host: `nil` listens on every interface, dual-stack (IPv6 and IPv4) where IPv6 exists;
///     `"::"` listens on IPv6 only; an IP literal or a host name listens on that address.
///   - backlog: the kernel's queue of not-yet-accepted connections (at most 65,535).
///   - reuseAddress: set `SO_REUSEADDR`, so a restarted server can bind at once.
///   - reusePort: set `SO_REUSEPORT`, so several listeners can share the port.
///   - tlsContext: a server ``TLSContext`` for the accepted streams. Given a `TLSContext` that is
///     not optional and no `autostartTLS`, Swift picks the overload that returns a ``TLSListener``
///     (whose clients are ``TLSStream``s); this one yields ``SocketStream``s running TLS, for
///     servers that serve plain and TLS listeners with one handler.
///   - autostartTLS: run each client's handshake (default), right after accept in a task of its
///     own (the stream's first receive or send waits for it): a slow or failing client holds up
///     no one, and a failed handshake closes that client only, whose next receive or send throws
///     the reason. Pass `false` for STARTTLS (the stream's `startTLS()`).
///   - tlsStandardCompatible: treat a client's EOF without close_notify as an error (default).
///   - handshakeTimeout: how long an autostarted handshake may take (default 30 seconds, as
///     AnyIO's `TLSListener`). A client that connects and does not complete the handshake in
///     time has its connection closed; its stream's receive or send throws `.tlsHandshakeFailed`
///     naming the timeout. Other connections are not affected.
/// - Returns: the listener; iterate ``SocketListener/acceptConnections()`` for clients.
/// - Throws: ``RingIOError`` `.addressInUse`, `.invalidArgument`, `.nameResolutionFailed`, or the kernel's error.
public func createTCPServer(
    port: Int = 0, host: String? = nil, backlog: Int = 4096, reuseAddress: Bool = true, reusePort: Bool = false,
    tlsContext: TLSContext? = nil, autostartTLS: Bool = true, tlsStandardCompatible: Bool = true,
    handshakeTimeout: Duration = .seconds(30)
) async throws -> SocketListener {
    guard handshakeTimeout > .zero else {
        throw RingIOError(.invalidArgument, "createTCPServer: handshakeTimeout \(handshakeTimeout) must be positive")
    }
    let tls = tlsContext.map { context in
        (
            setup: TLSSetup(
                factory: context, role: .server, serverHostname: nil, standardCompatible: tlsStandardCompatible,
                handshakeTimeout: handshakeTimeout),
            autostart: autostartTLS
        )
    }
    return try await TCPListenerFactory.listen(
        on: try Runtime.currentLoop(), port: port, host: host, backlog: backlog, reuseAddress: reuseAddress,
        reusePort: reusePort, tls: tls)
}

/// Creates a TCP listener whose clients speak TLS (AnyIO 4's `TLSListener` over
/// `create_tcp_listener`): it yields ``TLSStream``s, each client's handshake run in a task of its
/// own as soon as it is accepted.
///
/// - Parameters:
///   - tlsContext: a server ``TLSContext``.
///   - tlsStandardCompatible: treat a client's EOF without close_notify as an error (default).
///   - handshakeTimeout: how long a client's handshake may take (default 30 seconds, as AnyIO's
///     `TLSListener`); a client that does not complete it in time is closed.
///   - port, host, backlog, reuseAddress, reusePort: as for a plain listener.
/// - Returns: the listener; ``TLSListener/serve(_:)`` hands each client to a handler once its
///   handshake has completed.
/// - Throws: what a plain listener's creation throws.
public func createTCPServer(
    port: Int = 0, host: String? = nil, backlog: Int = 4096, reuseAddress: Bool = true, reusePort: Bool = false,
    tlsContext: TLSContext, tlsStandardCompatible: Bool = true, handshakeTimeout: Duration = .seconds(30)
) async throws -> TLSListener {
    TLSListener(
        try await createTCPServer(
            port: port, host: host, backlog: backlog, reuseAddress: reuseAddress, reusePort: reusePort,
            tlsContext: Optional(tlsContext), autostartTLS: true, tlsStandardCompatible: tlsStandardCompatible,
            handshakeTimeout: handshakeTimeout))
}
