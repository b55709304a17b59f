#if os(Linux)
import Glibc

/// The lifecycle of one operation, as a value: every event is a method that changes the state
/// and returns what the loop must do, so each transition is tested without a ring or a socket.
///
/// ```
/// free ──start──▶ pending ──suspend──▶ awaiting ──complete──▶ completed ──release──▶ free
///                    │                                            ▲
///                    └───────────────complete (early)─────────────┘
/// free ──startMultishot──▶ multishot ──release (last completion)──▶ free
/// ```
///
/// An interruption (cancellation, deadline, close, shutdown) of an operation with kernel work
/// does not end it: it is recorded, the loop cancels the kernel request, and the operation is
/// *abandoned* until the kernel's completion arrives. Its task stays suspended meanwhile, so
/// the memory the kernel may still write (held by the suspended frame) stays valid: in Swift
/// the suspended frame is the lease, and no separate "ignored" state has to keep it.
struct OperationLifecycle {
    enum State {
        case free
        /// Started; its task has not suspended yet.
        case pending
        /// Its task is suspended on the continuation.
        case awaiting(UnsafeContinuation<Completion, Never>)
        /// Finished; its task resumes (or, when it finished before suspending, takes the
        /// completion as it suspends) and then releases the slot.
        case completed(Completion)
        /// A multishot operation: its completions go to a handler until the last one.
        case multishot
    }

    /// What the loop does after ``complete(with:)``.
    enum CompleteAction {
        /// Resume the task with the completion.
        case resume(UnsafeContinuation<Completion, Never>, Completion)
        /// Nothing: the task takes the completion when it suspends.
        case keepForSuspend
        /// Nothing: the operation was not waiting (a stale or second completion).
        case ignore
    }

    /// What the loop does after ``interrupt(_:)``.
    enum InterruptAction {
        /// Cancel the kernel request; the operation completes when the kernel says so.
        case cancelKernelRequest
        /// Complete the operation now with this (it has no kernel work to wait for).
        case completeNow(Completion)
        /// Nothing: not waiting, already interrupted, or uninterruptible.
        case ignore
    }

    private(set) var state = State.free
    /// Changes at every release, so a completion or cancel request for an earlier operation in
    /// this slot matches nothing.
    private(set) var generation: UInt32 = 0
    /// Whether a kernel request is outstanding.
    private(set) var inKernel = false
    /// Whether the operation's deadline is in the loop's timer heap and still counts.
    private(set) var timerArmed = false
    /// Why the operation was interrupted, if it was.
    private(set) var interruption: Interruption?
    /// Set for operations that run to their completion whatever happens (a close).
    private(set) var uninterruptible = false

    /// Whether the operation is waiting for its result (pending or awaiting).
    var isWaiting: Bool {
        switch state {
        case .pending, .awaiting: return true
        case .free, .completed, .multishot: return false
        }
    }

    /// Whether the operation was interrupted and waits only for the kernel to let go of it.
    var isAbandoned: Bool { isWaiting && interruption != nil && inKernel }

    var isMultishot: Bool {
        if case .multishot = state { return true }
        return false
    }

    var isFree: Bool {
        if case .free = state { return true }
        return false
    }

    /// free → pending.
    mutating func start(inKernel: Bool, hasDeadline: Bool, uninterruptible: Bool = false) {
        precondition(isFree, "start of an operation in a slot that is \(state)")
        state = .pending
        self.inKernel = inKernel
        self.timerArmed = hasDeadline
        self.uninterruptible = uninterruptible
    }

    /// free → multishot (its kernel request stays outstanding until the last completion).
    mutating func startMultishot() {
        precondition(isFree, "start of a multishot operation in a slot that is \(state)")
        state = .multishot
        inKernel = true
    }

    /// The task suspends: pending → awaiting; returns the completion when it finished first.
    mutating func suspend(_ continuation: UnsafeContinuation<Completion, Never>) -> Completion? {
        switch state {
        case .completed(let completion):
            return completion
        case .pending:
            state = .awaiting(continuation)
            return nil
        case .free, .awaiting, .multishot:
            preconditionFailure("an operation suspended twice, or in a slot that is \(state)")
        }
    }

    /// The result arrived (a CQE, a readiness wake, or an interruption's own completion):
    /// pending or awaiting → completed. An interruption recorded earlier wins over the result's,
    /// so the task learns why its operation ended early. `disarmsTimer` is set when the
    /// deadline was still armed: the loop notes it in its timer heap.
    mutating func complete(with completion: Completion) -> (action: CompleteAction, disarmsTimer: Bool) {
        guard isWaiting else { return (.ignore, false) }
        var completion = completion
        if let interruption { completion.interruption = interruption }
        let disarms = timerArmed
        timerArmed = false
        inKernel = false
        let previous = state
        state = .completed(completion)
        if case .awaiting(let continuation) = previous { return (.resume(continuation, completion), disarms) }
        return (.keepForSuspend, disarms)
    }

    /// Cancellation, a deadline, a close or the loop stopping: records why, once.
    mutating func interrupt(_ reason: Interruption) -> InterruptAction {
        guard isWaiting, interruption == nil, !uninterruptible else { return .ignore }
        interruption = reason
        if inKernel { return .cancelKernelRequest }
        return .completeNow(Completion(result: -ECANCELED, flags: 0, interruption: reason))
    }

    /// The deadline passed: whether the operation is to be interrupted with `.timedOut`.
    mutating func deadlinePassed() -> Bool {
        guard isWaiting, timerArmed else { return false }
        timerArmed = false
        return true
    }

    /// Any state → free, under a new generation.
    mutating func release() {
        generation = (generation &+ 1) & 0x7fff_ffff
        state = .free
        inKernel = false
        timerArmed = false
        interruption = nil
        uninterruptible = false
    }
}
#endif
