#if os(Linux)
import RingIOCore

/// The connections a listener's ``SocketListener/serve(_:)`` is handling, and whether a graceful
/// shutdown was asked for: the state that `serve` and `shutdown(gracePeriod:)` share.
///
/// `@unchecked Sendable`: every field lives in `state`, read and written only under its lock;
/// continuations are resumed after the lock is released.
final class ServedConnections: @unchecked Sendable {
    private struct State {
        var serving = false
        var streams: [UInt64: SocketStream] = [:]
        var nextID: UInt64 = 0
        /// Set by a graceful shutdown: when open connections are closed (the earliest asked for).
        var deadline: ContinuousClock.Instant?
        /// Woken when the last open connection ends.
        var emptyWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Woken when `serve` returns (or when their task is cancelled).
        var finishedWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Lock(State())

    /// Set in the tasks `serve` runs handlers in, naming their listener's connections: a handler
    /// that shuts its own server down must not wait for `serve`, which waits for the handler.
    @TaskLocal static var handlerOf: ObjectIdentifier?

    /// Marks the start of `serve`.
    ///
    /// - Throws: `.busyResource` when another task is already serving this listener.
    func startServing(_ context: String) throws(RingIOError) {
        try state.withLock { (state: inout State) throws(RingIOError) in
            guard !state.serving else {
                throw RingIOError(.busyResource, "serve on \(context): another task is already serving this listener")
            }
            state.serving = true
        }
    }

    /// Marks the end of `serve` and wakes the tasks waiting in `waitUntilFinished`.
    func finishServing() {
        let waiters = state.withLock { state in
            state.serving = false
            defer { state.finishedWaiters = [:] }
            return Array(state.finishedWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Records a graceful shutdown that closes open connections `gracePeriod` from now (or
    /// earlier, if an earlier shutdown asked for that); returns whether `serve` is running.
    func requestGracefulShutdown(_ gracePeriod: Duration) -> Bool {
        let deadline = ContinuousClock.now + gracePeriod
        return state.withLock { state in
            state.deadline = min(state.deadline ?? deadline, deadline)
            return state.serving
        }
    }

    /// When a requested graceful shutdown closes the open connections, if one was requested.
    var deadline: ContinuousClock.Instant? { state.withLock { $0.deadline } }

    /// Records an accepted stream; `nil` if a graceful shutdown has begun (the caller closes it).
    func add(_ stream: SocketStream) -> UInt64? {
        state.withLock { state in
            guard state.deadline == nil else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.streams[id] = stream
            return id
        }
    }

    /// Forgets a stream whose handler has finished; wakes `waitUntilEmpty` after the last.
    func remove(_ id: UInt64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.streams[id] = nil
            guard state.streams.isEmpty else { return [] }
            defer { state.emptyWaiters = [:] }
            return Array(state.emptyWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The streams whose handlers are still running.
    var openStreams: [SocketStream] { state.withLock { Array($0.streams.values) } }

    /// Returns when no connection is open, or when the task is cancelled.
    func waitUntilEmpty() async {
        await wait(until: { $0.streams.isEmpty }, in: \.emptyWaiters)
    }

    /// Returns once `serve` has returned (at once if it is not running), or when the task is cancelled.
    func waitUntilFinished() async {
        await wait(until: { !$0.serving }, in: \.finishedWaiters)
    }

    /// Parks the task in `waiters` until `done` holds (whoever makes it hold resumes the
    /// waiters) or the task is cancelled.
    private func wait(
        until done: (State) -> Bool, in waiters: any WritableKeyPath<State, [UInt64: CheckedContinuation<Void, Never>]> & Sendable
    ) async {
        let key = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if done(state) || Task.isCancelled { return true }
                    state[keyPath: waiters][key] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0[keyPath: waiters].removeValue(forKey: key) }
            waiter?.resume()
        }
    }
}
#endif
