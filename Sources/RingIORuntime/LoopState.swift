/// The lifecycle of an event loop, as a value: the loop asks it what to do and executes the
/// answer (loop thread only; `LoopStateTests` checks every transition without a thread).
///
/// A loop runs until a stop is requested, then stops: its waiting operations are interrupted
/// with `.shutdown`, and it exits once none is left and no job is queued. When the backend fails
/// for good (io_uring dropped completions, `epoll_wait` cannot go on), it stops the same way but
/// with `.loopFailed`; since a dropped completion never comes, every operation still waiting a
/// second later is given up, and again every second, so the loop exits anyway. (Whether the
/// thread has exited is shared with other threads and lives in the loop's inbox.)
struct LoopState: Equatable {
    enum Phase: Equatable {
        case running
        case stopping
        /// The backend failed; `lastGivingUp` is when waiting operations were last given up
        /// (or the failure itself).
        case failed(lastGivingUp: ContinuousClock.Instant)
    }

    private(set) var phase = Phase.running

    /// How long operations of a failed loop may still wait for a completion before they are given up.
    static let givingUpInterval = Duration.seconds(1)

    /// Whether the loop is stopping (or failed, which stops it too): new operations fail at once.
    var isStopping: Bool {
        if case .running = phase { return false }
        return true
    }

    /// Whether the backend failed.
    var hasFailed: Bool {
        if case .failed = phase { return true }
        return false
    }

    /// A stop was requested: the interruption to give every waiting operation, or `nil` when the
    /// loop is already stopping.
    mutating func stopRequested() -> Interruption? {
        guard phase == .running else { return nil }
        phase = .stopping
        return .shutdown
    }

    /// What a backend failure at `now` means.
    enum Failure: Equatable {
        /// Stop: interrupt every waiting operation with `.loopFailed`.
        case beginStopping(Interruption)
        /// Already stopping: its operations keep their interruption; giving up applies from now.
        case alreadyStopping
        /// Already failed: nothing more to do.
        case alreadyFailed
    }

    /// The backend failed at `now`.
    mutating func backendFailed(at now: ContinuousClock.Instant) -> Failure {
        switch phase {
        case .failed:
            return .alreadyFailed
        case .stopping:
            phase = .failed(lastGivingUp: now)
            return .alreadyStopping
        case .running:
            phase = .failed(lastGivingUp: now)
            return .beginStopping(.loopFailed)
        }
    }

    /// Whether the operations still waiting at `now` must be given up (a failed loop, a second
    /// after the failure or the last time); the next time is a second later.
    mutating func shouldGiveUpWaiting(at now: ContinuousClock.Instant) -> Bool {
        guard case .failed(let last) = phase, last.duration(to: now) > Self.givingUpInterval else { return false }
        phase = .failed(lastGivingUp: now)
        return true
    }

    /// Whether the loop may exit now.
    func mayExit(activeOperations: Int, queuedJobs: Int) -> Bool {
        isStopping && activeOperations == 0 && queuedJobs == 0
    }
}
