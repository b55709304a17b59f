public import RingIO
public import ServiceLifecycle

/// A RingIO server as a swift-service-lifecycle `Service`: it serves a listener's clients until
/// the service group shuts down gracefully (SIGTERM or SIGINT when the group is configured with
/// those signals), then stops accepting, lets open connections finish for up to `gracePeriod`,
/// and closes the rest.
///
/// ```swift
/// let runtime = try Runtime()
/// let listener = try await runtime.run { try await createTCPServer(port: 8080) }
/// let service = StreamServerService(listener: listener, gracePeriod: .seconds(10)) { stream in
///     for try await chunk in stream.receiveChunks() { try await stream.sendAll(chunk) }
/// }
/// let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
///
/// This type lives in its own product, `RingIOServiceLifecycle`, so the `RingIO` library does
/// not depend on swift-service-lifecycle.
public struct StreamServerService: Service {
    private let serve: @Sendable () async throws -> Void
    private let shutdown: @Sendable (Duration) async -> Void
    private let gracePeriod: Duration

    /// A service that serves `listener`'s clients with `handler`.
    ///
    /// - Parameters:
    ///   - listener: a listener from `createTCPServer` (without a TLS context, or with one passed
    ///     as `TLSContext?`) or `createUNIXServer`.
    ///   - gracePeriod: how long open connections may run after a graceful shutdown begins.
    ///   - handler: serves one client (see ``RingIO/SocketListener/serve(_:)``: the stream is
    ///     closed when it returns, and its errors end that connection only).
    public init(
        listener: SocketListener, gracePeriod: Duration = .seconds(10), handler: @escaping @Sendable (SocketStream) async throws -> Void
    ) {
        serve = { try await listener.serve(handler) }
        shutdown = { await listener.shutdown(gracePeriod: $0) }
        self.gracePeriod = gracePeriod
    }

    /// A service that serves a TLS listener's clients with `handler`, each once its handshake
    /// has completed (see ``RingIO/TLSListener/serve(_:)``).
    ///
    /// - Parameters:
    ///   - listener: a listener from `createTCPServer(tlsContext:)`.
    ///   - gracePeriod: how long open connections may run after a graceful shutdown begins.
    ///   - handler: serves one client; its stream is closed (with close_notify) when it returns.
    public init(
        listener: TLSListener, gracePeriod: Duration = .seconds(10), handler: @escaping @Sendable (TLSStream) async throws -> Void
    ) {
        serve = { try await listener.serve(handler) }
        shutdown = { await listener.shutdown(gracePeriod: $0) }
        self.gracePeriod = gracePeriod
    }

    /// Serves until a graceful shutdown has drained the connections, the listener is closed, or
    /// the task is cancelled (which closes every connection at once).
    ///
    /// - Throws: what ``RingIO/SocketListener/serve(_:)`` throws.
    public func run() async throws {
        let (serve, shutdown, gracePeriod) = (self.serve, self.shutdown, self.gracePeriod)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await serve() }
            group.addTask {
                // Ends with CancellationError when serving ends first; only a real graceful
                // shutdown request goes on to drain the connections.
                do { try await gracefulShutdown() } catch { return }
                await shutdown(gracePeriod)
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}
