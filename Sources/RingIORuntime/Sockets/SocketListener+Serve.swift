#if os(Linux)
import Logging
import RingIOCore

extension SocketListener {
    /// Serves every client with `handler`, each in a child task of its own, until the listener
    /// is closed (AnyIO's `Listener.serve`).
    ///
    /// The handler owns its stream while it runs; `serve` closes the stream when the handler
    /// returns or throws. A handler's error ends that connection only: it is logged (swift-log,
    /// label `RingIO`, level warning) and the other connections go on. Handlers run on this
    /// listener's event loop.
    ///
    /// How it ends:
    /// - ``close()``: no new clients; `serve` returns once the running handlers have returned.
    /// - ``shutdown(gracePeriod:)``: no new clients; running handlers get up to the grace period
    ///   to finish, then their streams are closed (their pending receives and sends throw
    ///   `.closedResource`) and their tasks cancelled; `serve` returns when all have ended.
    /// - Cancelling the task that runs `serve`: every stream is closed, every handler cancelled,
    ///   and `serve` throws `CancellationError`.
    ///
    /// - Parameter handler: serves one client.
    /// - Throws: ``RingIOError`` `.busyResource` when another task is serving or accepting on
    ///   this listener, `.brokenResource` when the runtime has shut down, an accept error that is
    ///   not about resources (descriptor exhaustion is waited out, see ``accept()``);
    ///   `CancellationError`. Streams are closed before `serve` throws.
    public func serve(_ handler: @escaping @Sendable (SocketStream) async throws -> Void) async throws {
        try connections.startServing("\(kind) listener \(localAddress)")
        defer { connections.finishServing() }
        try await withTaskExecutorPreference(loop) {
            let failure = await acceptAndHandle(handler)
            if let failure { throw failure }
        }
    }

    /// Stops serving gracefully: stops accepting at once, gives the connections that are open
    /// up to `gracePeriod` to finish, then closes them. Returns once ``serve(_:)`` has returned
    /// (at once, after closing the listener, when nothing is serving).
    ///
    /// Clients that connect after this call are not served. Calling it again with a shorter
    /// grace period shortens it. Called from one of this listener's own handlers, it returns
    /// once the listener is closed, without waiting for `serve` (which waits for that handler).
    ///
    /// - Parameter gracePeriod: how long open connections may still run; `.zero` closes them at once.
    public func shutdown(gracePeriod: Duration) async {
        let serving = connections.requestGracefulShutdown(max(gracePeriod, .zero))
        await close()
        // A handler of this listener that shuts it down returns at once: `serve` waits for it.
        guard serving, ServedConnections.handlerOf != ObjectIdentifier(connections) else { return }
        await connections.waitUntilFinished()
    }

    /// Whether a graceful shutdown has been asked for (tests order their steps with it).
    package var isShuttingDown: Bool { connections.deadline != nil }

    /// How many connections `serve` is handling right now.
    package var servedConnectionCount: Int { connections.openStreams.count }

    /// The accept loop and the handlers' task group; returns the error that ended accepting, if
    /// it was not the listener closing.
    private func acceptAndHandle(_ handler: @escaping @Sendable (SocketStream) async throws -> Void) async -> (any Error)? {
        let connections = self.connections
        let context = "\(kind) listener \(localAddress)"
        return await withDiscardingTaskGroup { group -> (any Error)? in
            var failure: (any Error)?
            do {
                for try await stream in acceptConnections() {
                    guard let id = connections.add(stream) else {
                        // Accepted as the graceful shutdown began: not served.
                        await stream.close()
                        continue
                    }
                    let marker = ObjectIdentifier(connections)
                    group.addTask {
                        do {
                            try await ServedConnections.$handlerOf.withValue(marker) { try await handler(stream) }
                        } catch {
                            Self.logHandlerError(error, stream: stream, context: context)
                        }
                        await stream.close()
                        connections.remove(id)
                    }
                }
            } catch {
                failure = error
            }
            if failure == nil, connections.deadline != nil {
                await Self.waitUntilEmptyOrDeadline(connections)
            } else if failure == nil && !Task.isCancelled {
                // A plain close: the handlers finish in their own time.
                return nil
            }
            // Grace period over, cancelled, or accepting failed: end every connection.
            for stream in connections.openStreams { await stream.close() }
            group.cancelAll()
            return failure
        }
    }

    /// Returns when every connection has ended or the shutdown deadline has passed, whichever is
    /// first. The deadline is read again at least every 50 ms, so a later, shorter shutdown
    /// shortens the wait.
    private static func waitUntilEmptyOrDeadline(_ connections: ServedConnections) async {
        await withTaskGroup(of: Void.self) { race in
            race.addTask { await connections.waitUntilEmpty() }
            race.addTask {
                while let deadline = connections.deadline, deadline > .now, !Task.isCancelled {
                    try? await Task.sleep(until: min(deadline, .now + .milliseconds(50)), clock: .continuous)
                }
            }
            await race.next()
            race.cancelAll()
        }
    }

    /// Whether `error` only says that the connection was closed or its task cancelled (by a
    /// shutdown, or the serve task's cancellation): not a failure worth logging.
    package static func endedByClosing(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        if let error = error as? RingIOError, error.code == .closedResource { return true }
        return false
    }

    private static func logHandlerError(_ error: any Error, stream: SocketStream, context: String) {
        if endedByClosing(error) { return }
        Logger(label: "RingIO").warning(
            "connection handler failed", metadata: ["listener": "\(context)", "peer": "\(stream.remoteAddress)", "error": "\(error)"])
    }
}
#endif
