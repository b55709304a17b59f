internal import Logging
internal import RingIORuntime
public import RingIOTLS

/// A TCP listener whose clients speak TLS (AnyIO's `TLSListener`): what
/// `createTCPServer(tlsContext:)` returns. It yields ``TLSStream``s.
///
/// Each client's handshake starts as soon as it is accepted, in a task of its own, bounded by
/// the listener's `handshakeTimeout`: a slow or failing client holds up no one.
/// ``accept()`` and ``acceptConnections()`` give the stream at once (its first receive or send
/// waits for the handshake and throws its failure); ``serve(_:)`` calls the handler only once
/// the handshake has completed, so the handler can read ``TLSStream/tls`` (the ALPN protocol,
/// the client's certificate) before anything else.
public final class TLSListener: Sendable {
    /// The TCP listener underneath, whose streams run the TLS streams' traffic.
    let listener: SocketListener

    init(_ listener: SocketListener) {
        self.listener = listener
    }

    /// The address the listener is bound to.
    public var localAddress: SocketAddress { listener.localAddress }

    /// The port the listener is bound to (the one picked when created with port 0).
    public var port: Int? { listener.port }

    /// Waits for the next client; its handshake has started and may still be running. See
    /// ``SocketListener/accept()`` for the errors that do not end accepting.
    ///
    /// - Throws: what ``SocketListener/accept()`` throws.
    public func accept() async throws -> TLSStream {
        try await listener.accept().autostartedTLSStream("TLS listener \(localAddress)")
    }

    /// The clients, as they connect (see ``accept()``). The sequence ends when the listener is
    /// closed; other errors are thrown from it.
    public func acceptConnections() -> AcceptedTLSConnections {
        AcceptedTLSConnections(listener: listener)
    }

    /// Serves every client with `handler`, each in a child task of its own, until the listener
    /// is closed, as ``SocketListener/serve(_:)`` does (the same ending on ``close()``,
    /// ``shutdown(gracePeriod:)`` and cancellation).
    ///
    /// The handler gets a stream whose handshake has completed. A client whose handshake fails
    /// (or times out) is closed without a handler call, and the failure is logged (swift-log,
    /// label `RingIO`, level info: on a server facing the internet every scanner fails one).
    ///
    /// - Parameter handler: serves one client; `serve` closes its stream (sending close_notify)
    ///   when the handler returns or throws.
    /// - Throws: what ``SocketListener/serve(_:)`` throws.
    public func serve(_ handler: @escaping @Sendable (TLSStream) async throws -> Void) async throws {
        let name = "TLS listener \(localAddress)"
        try await listener.serve { socket in
            let tls = try await socket.autostartedTLSStream(name)
            do {
                _ = try await tls.waitUntilEstablished()
            } catch {
                // Closed while the handshake ran (a shutdown, the serve task cancelled): no failure.
                if SocketListener.endedByClosing(error) { return }
                Logger(label: "RingIO").info(
                    "TLS handshake failed",
                    metadata: ["listener": "\(name)", "peer": "\(socket.remoteAddress)", "error": "\(error)"])
                return
            }
            try await handler(tls)
        }
    }

    /// Whether a graceful shutdown has been asked for (tests order their steps with it).
    package var isShuttingDown: Bool { listener.isShuttingDown }

    /// How many connections `serve` is handling right now (tests order their steps with it).
    package var servedConnectionCount: Int { listener.servedConnectionCount }

    /// Stops serving gracefully; see ``SocketListener/shutdown(gracePeriod:)``.
    public func shutdown(gracePeriod: Duration) async {
        await listener.shutdown(gracePeriod: gracePeriod)
    }

    /// Stops listening; see ``SocketListener/close()``.
    public func close() async {
        await listener.close()
    }
}

/// The clients of a ``TLSListener``, as an `AsyncSequence`.
public struct AcceptedTLSConnections: AsyncSequence, Sendable {
    /// A client, its handshake started.
    public typealias Element = TLSStream
    let listener: SocketListener

    /// Iterates the clients of a ``TLSListener``.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var sockets: AcceptedConnections.AsyncIterator

        /// The next client, or `nil` once the listener is closed.
        public mutating func next() async throws -> TLSStream? {
            guard let socket = try await sockets.next() else { return nil }
            return try await socket.autostartedTLSStream("TLS listener")
        }
    }

    /// Makes the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(sockets: listener.acceptConnections().makeAsyncIterator())
    }
}
