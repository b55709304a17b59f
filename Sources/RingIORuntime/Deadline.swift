import RingIOCore

/// The deadline that RingIO operations in the current task observe (see ``withTimeout(_:_:)``).
enum Deadline {
    @TaskLocal static var current: ContinuousClock.Instant?
}

/// Runs `body` with a deadline: every RingIO operation inside it (receive, send, accept,
/// connect; not name resolution, which `getaddrinfo` cannot interrupt) that is still waiting
/// when `duration` has passed fails with
/// ``RingIOError/Code/timedOut``. Nested timeouts keep the earliest deadline; child tasks inherit it.
///
/// ```swift
/// let line = try await withTimeout(.seconds(5)) {
///     try await stream.receiveUntil("\n", maxBytes: 1024)
/// }
/// ```
///
/// - Parameters:
///   - duration: how long from now the operations may wait.
///   - body: the work to bound.
/// - Returns: what `body` returns.
/// - Throws: what `body` throws; RingIO operations throw `.timedOut` once the deadline has passed.
public func withTimeout<T>(
    _ duration: Duration, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
) async throws -> T {
    try await withDeadline(ContinuousClock.now + duration, isolation: isolation, body)
}

/// Runs `body` with an absolute deadline; see ``withTimeout(_:_:)``.
public func withDeadline<T>(
    _ deadline: ContinuousClock.Instant, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
) async throws -> T {
    let effective = Deadline.current.map { min($0, deadline) } ?? deadline
    return try await Deadline.$current.withValue(effective, operation: body, isolation: isolation)
}

extension EventLoop: SerialContext {
    /// ``withTimeout(_:_:)`` for layers that reach the loop as a ``SerialContext`` (TLS streams).
    package nonisolated(nonsending) func withTimeLimit<T>(
        _ limit: Duration, _ body: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        let effective = Deadline.current.map { min($0, ContinuousClock.now + limit) } ?? ContinuousClock.now + limit
        return try await Deadline.$current.withValue(effective) { try await body() }
    }

    /// Starts `body` in a task of its own that prefers this loop, without the caller's deadline.
    package func spawn(_ body: @escaping @Sendable () async -> Void) {
        Task(executorPreference: self) { await Deadline.$current.withValue(nil) { await body() } }
    }
}
