#if os(Linux)
import Glibc
import RingIOCore

/// The lifecycle of one operation, loop thread only: start it, suspend its task, complete or
/// interrupt it, and resume the task exactly once, after the slot is consistent.
extension EventLoop {
    /// Starts an operation and suspends until it completes, is cancelled, times out or is closed.
    ///
    /// `start` receives the operation's id and issues the work: an SQE (`inKernel: true`) or a
    /// registration with a channel that will call ``complete(_:with:)`` (`inKernel: false`).
    nonisolated(nonsending) func perform(inKernel: Bool, _ start: (OperationID) -> Void) async -> Completion {
        let id: OperationID
        switch admit(inKernel: inKernel) {
        case .refused(let completion): return completion
        case .admitted(let admitted): id = admitted
        }
        start(id)
        let completion = await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                if let early = table[id].suspend(continuation) { continuation.resume(returning: early) } else { suspensionCount &+= 1 }
            }
        } onCancel: {
            self.requestInterrupt(id, .cancelled)
        }
        // Every caller is confined (see `confine`); a task resumed elsewhere would race the loop.
        assert(inLoop, "an operation of event loop \(ObjectIdentifier(self)) resumed off the loop's thread")
        table.release(id)
        return completion
    }

    /// What ``admit(inKernel:)`` decided.
    enum Admission {
        case refused(Completion)
        case admitted(OperationID)
    }

    /// Allocates an operation's slot and arms the task's deadline for it, or refuses it (see
    /// ``refusalBeforeStart(deadline:)``). Synchronous and not inlined on purpose: the deadline
    /// is a `ContinuousClock.Instant`, a resilient type whose temporaries an async frame takes
    /// from the task allocator, opening a new slab (kept while the task lives) when the current
    /// one is full; an idle connection's waiting receive paid 1 KiB for that.
    @inline(never)
    func admit(inKernel: Bool) -> Admission {
        let deadline = Deadline.current
        if let refused = refusalBeforeStart(deadline: deadline) { return .refused(refused) }
        let id = table.allocate(inKernel: inKernel, hasDeadline: deadline != nil)
        if let deadline { timers.insert(id, deadline: deadline) }
        return .admitted(id)
    }

    /// The completion of an operation that must not start: the loop is stopping, the task is
    /// cancelled, or its `deadline` (the task's ``Deadline``) has passed. Both backends ask before an operation's first
    /// attempt, so an operation that could complete at once fails the same way on each.
    @inline(__always)
    func refusalBeforeStart(deadline: ContinuousClock.Instant?) -> Completion? {
        if isStopping { return Completion(result: -ECANCELED, flags: 0, interruption: .shutdown) }
        if Task.isCancelled { return Completion(result: -ECANCELED, flags: 0, interruption: .cancelled) }
        if let deadline, deadline <= .now { return Completion(result: -ETIME, flags: 0, interruption: .timedOut) }
        return nil
    }

    /// ``refusalBeforeStart(deadline:)`` with the task's deadline, for a caller that needs
    /// nothing else from it. Not inlined: in an async caller, reading the task-local deadline
    /// takes its temporaries from the task allocator; here they live on the thread's stack.
    @inline(never)
    func refusalBeforeStart() -> Completion? {
        refusalBeforeStart(deadline: Deadline.current)
    }

    /// Parks the task until ``wake(_:)``, an interruption or its deadline: an operation with no
    /// kernel work of its own (a task waiting for a channel's state to change).
    @inline(__always)
    nonisolated(nonsending) func park(_ register: (OperationID) -> Void) async -> Completion {
        await perform(inKernel: false, register)
    }

    /// Parks the caller until the `wake` closure handed to `register` is called, bounded by the
    /// caller's deadline and cancellation (see ``CiphertextTransport/park(_:_:)``).
    nonisolated(nonsending) func parkUntilWoken(_ what: String, _ register: (_ wake: @escaping () -> Void) -> Void) async throws {
        let completion = await park { id in
            register { [unowned self] in self.wake(id) }
        }
        if let interruption = completion.interruption { throw interruption.error(what) }
    }

    /// Wakes parked operation `id`. The completion carries no result: the woken task looks at
    /// the state it was waiting on.
    @inline(__always)
    func wake(_ id: OperationID) {
        complete(id, with: Completion(result: 0, flags: 0, interruption: nil))
    }

    /// Starts an operation that runs to its completion whatever happens to the caller: neither
    /// cancellation, nor a deadline, nor the loop stopping interrupts it or returns early.
    ///
    /// Closing a descriptor is such an operation: the number must stay taken until the kernel
    /// has seen every operation queued before the close, so the close cannot be skipped or made
    /// synchronous because its caller was cancelled or out of time. A stopping loop runs its
    /// turns until every operation has completed, so it waits for this one too.
    nonisolated(nonsending) func performToCompletion(inKernel: Bool, _ start: (OperationID) -> Void) async -> Completion {
        let id = table.allocate(inKernel: inKernel, uninterruptible: true)
        start(id)
        let completion = await withUnsafeContinuation { continuation in
            if let early = table[id].suspend(continuation) { continuation.resume(returning: early) } else { suspensionCount &+= 1 }
        }
        assert(inLoop, "an operation of event loop \(ObjectIdentifier(self)) resumed off the loop's thread")
        table.release(id)
        return completion
    }

    /// Starts a multishot operation whose completions go to `handler`; returns its id, or `nil`
    /// when the loop is stopping (nothing would cancel it).
    func startMultishot(_ handler: any CompletionHandler, _ start: (OperationID) -> Void) -> OperationID? {
        if isStopping { return nil }
        let id = table.allocateMultishot(handler)
        start(id)
        return id
    }

    /// Finishes operation `id` (if it is still waiting) and resumes its task.
    func complete(_ id: OperationID, with completion: Completion) {
        guard table.isCurrent(id) else { return }
        let (action, disarmsTimer) = table[id].complete(with: completion)
        if disarmsTimer {
            // Lazy: the entry stays in the heap until it comes due or the heap is rebuilt.
            let table = self.table
            timers.noteDisarmed { table.isCurrent($0) && table[$0].timerArmed }
        }
        if case .resume(let continuation, let completion) = action { continuation.resume(returning: completion) }
    }

    /// Interrupts a waiting operation: a parked one completes at once, a kernel one is cancelled
    /// and completes when the kernel says so.
    func interrupt(_ id: OperationID, _ reason: Interruption) {
        guard table.isCurrent(id) else { return }
        switch table[id].interrupt(reason) {
        case .cancelKernelRequest: backend.cancel(id)
        case .completeNow(let completion): complete(id, with: completion)
        case .ignore: break
        }
    }

    /// Interrupts, with `.timedOut`, every operation whose deadline has passed.
    func fireDueTimers() {
        guard let earliest = timers.earliest, earliest <= .now else { return }
        timers.popDue(now: .now, into: &dueTimers)
        for id in dueTimers where table.isCurrent(id) && table[id].deadlinePassed() {
            timers.noteFired()
            interrupt(id, .timedOut)
        }
        dueTimers.removeAll(keepingCapacity: true)
    }
}
#endif
