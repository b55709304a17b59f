#if os(Linux)
import Dispatch
import CRingIOSystem
import Glibc
import Logging
import RingIOCore

/// One thread, one backend, one job queue: the executor that RingIO's tasks run on.
///
/// An event loop is a `TaskExecutor`. Tasks that prefer it (everything inside `run { }`, and
/// every socket operation, which hops here first) run on its thread, so a completion resumes its
/// task without a thread hop. A *turn* runs the queued jobs, hands the queued submissions to the
/// kernel in one call, waits if there is nothing else to do, and dispatches what completed.
///
/// You normally get loops from a ``Runtime``; they live until the runtime shuts down.
///
/// `@unchecked Sendable`: the fields marked "loop thread only" are read and written only on the
/// loop's own thread (every entry point checks `inLoop` or hops there by enqueueing a job);
/// everything other threads touch is in `inbox`, behind a mutex, or written once before the
/// start-up semaphore is signalled and never again.
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    // MARK: Loop thread only
    let table = OperationTable()
    @exclusivity(unchecked) private var jobs: [UnownedJob] = []
    @exclusivity(unchecked) private var running: [UnownedJob] = []
    /// Swapped with the inbox's job array each turn, so neither side allocates (its own storage,
    /// never shared with another array, so the inbox's appends do not copy on write).
    @exclusivity(unchecked) private var remoteJobs: [UnownedJob] = []
    @exclusivity(unchecked) private var spareInterrupts: [(OperationID, Interruption)] = []
    @exclusivity(unchecked) private var backendStorage: (any IOBackend)?
    /// Running, stopping or failed (see ``LoopState``).
    @exclusivity(unchecked) private var state = LoopState()
    /// Deadlines of waiting operations, earliest first: one heap per loop, for both backends,
    /// which are told only how long a turn may wait.
    @exclusivity(unchecked) var timers = TimerHeap()
    @exclusivity(unchecked) var dueTimers: [OperationID] = []
    /// Failures tests inject (see ``FaultInjection``); empty in normal use.
    @exclusivity(unchecked) var faults = FaultInjection()
    /// Blocks that sends copy bytes they cannot pin into (see ``SendStaging``).
    let sendStaging = SendStaging()
    /// Streams whose arrival queue got a chunk nobody took at once; settled at the start of the
    /// next turn, after the tasks had their chance to take it (``StreamChannel/settleArrivals()``).
    @exclusivity(unchecked) private var unsettled: [StreamChannel] = []

    // MARK: Written once during start-up
    /// The eventfd other threads write to wake the loop.
    let wakeFD: Int32
    /// The kind of backend the loop runs.
    public let backendKind: BackendKind
    private var backendFeatures: [String] = []

    // MARK: Shared with other threads
    private struct Inbox {
        var jobs: [UnownedJob] = []
        var interrupts: [(OperationID, Interruption)] = []
        var sleeping = false
        var stopRequested = false
        var exited = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
        var joinHandle: pthread_t?
    }
    private let inbox = Lock(Inbox())

    deinit {
        // Closed here, not when the thread exits: another thread may still be writing to it in
        // `wakeUp()`, and it holds a reference to this loop while it does.
        _ = Glibc.close(wakeFD)
    }

    private init(kind: BackendKind, wakeFD: Int32) {
        self.backendKind = kind
        self.wakeFD = wakeFD
        jobs.reserveCapacity(256)
        unsettled.reserveCapacity(256)
        running.reserveCapacity(256)
        remoteJobs.reserveCapacity(256)
    }

    /// Starts a loop on a new thread with a backend made by `makeBackend` (run on that thread,
    /// as io_uring's SINGLE_ISSUER requires).
    ///
    /// - Parameters:
    ///   - faults: failures to inject on this loop (tests); `threadStartError` makes starting its
    ///     thread fail as if `pthread_create` returned it.
    static func start(
        name: String, kind: BackendKind, cpu: Int? = nil, faults: FaultInjection = FaultInjection(), threadStartError: Int32? = nil,
        makeBackend: @escaping @Sendable (EventLoop) throws(RingIOError) -> any IOBackend
    ) throws(RingIOError) -> EventLoop {
        let wakeFD = ringio_eventfd()
        guard wakeFD >= 0 else { throw RingIOError.system(errno: errno, "create the event loop's wake-up eventfd") }
        let loop = EventLoop(kind: kind, wakeFD: wakeFD)
        loop.faults = faults
        let ready = DispatchSemaphore(value: 0)
        let failure = StartupFailure()
        // On failure the eventfd is closed by `deinit`, once, when `loop` goes.
        let handle = try LoopThread.spawn(name: name, simulatedError: threadStartError) {
            LoopThread.nameCurrent(name)
            if let cpu { _ = ringio_pin_current_thread(Int32(cpu)) }
            loop.threadMain(makeBackend: makeBackend, ready: ready, failure: failure)
        }
        loop.inbox.withLock { $0.joinHandle = handle }
        ready.wait()
        if let error = failure.error.withLock({ $0 }) {
            // The eventfd is closed by `deinit`, once, when the last reference to `loop` goes.
            LoopThread.join(handle)
            throw error
        }
        return loop
    }

    /// The features of the backend in use, e.g. `["DEFER_TASKRUN", "multishot accept"]`.
    public var features: [String] { backendFeatures }

    /// Whether the caller runs on this loop's thread.
    @inline(__always)
    public var inLoop: Bool { CurrentLoop.get() === self }

    /// The loop whose thread the caller is on, if any.
    public static var current: EventLoop? { CurrentLoop.get() }

    /// The backend; valid on the loop thread once started.
    var backend: any IOBackend {
        guard let backendStorage else { preconditionFailure("EventLoop.backend used before start-up finished or off the loop thread") }
        return backendStorage
    }

    // MARK: - Executor

    /// Queues `job` to run on the loop's thread.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if inLoop {
            jobs.append(job)
            return
        }
        let (wake, exited) = inbox.withLock { inbox -> (Bool, Bool) in
            if inbox.exited { return (false, true) }
            inbox.jobs.append(job)
            let wake = inbox.sleeping
            inbox.sleeping = false
            return (wake, false)
        }
        if wake { wakeUp() }
        if exited {
            // The loop is gone; let the task finish (its I/O fails with `.brokenResource`) elsewhere.
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        }
    }

    /// Runs `body` on this loop: directly when the task is on it and will come back to it after
    /// every suspension, else with the loop as the task's executor preference for the duration
    /// of `body`.
    ///
    /// - Throws: `.brokenResource` when the loop has shut down (its sockets cannot be used).
    ///
    /// It runs on the caller's executor (`nonisolated(nonsending)`), so a caller already confined
    /// to this loop, the common case, pays no executor switch.
    ///
    /// Being on the loop's thread is not enough: a task without the loop as its preference can
    /// run there for a while (a default actor it called was draining on the loop's thread, and
    /// the runtime kept the thread for the nonisolated code after it), but its continuations
    /// resume on the global executor. Loop-confined state touched from there would race with the
    /// loop; a listener stuck in its EMFILE backoff was the symptom.
    @inline(__always)
    package nonisolated(nonsending) func confine<T>(_ body: nonisolated(nonsending) () async throws -> T) async throws -> T {
        if inLoop && isPreferredByCurrentTask { return try await body() }
        // Unchecked, and sound: `body` runs inside `hop`, in this same task, while the caller is
        // suspended awaiting it, so nothing runs concurrently with it. `confine` is internal, and
        // no caller passes a closure that touches an actor's state.
        nonisolated(unsafe) let unchecked = body
        return try await hop(unchecked)
    }

    /// `confine` from elsewhere: `@concurrent`, so the preference's body runs on this loop even
    /// when the caller is isolated to an actor (whose isolation a nonsending function inherits).
    @concurrent
    private func hop<T>(_ body: nonisolated(nonsending) () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(self) {
            // After the loop exits, jobs sent to it run elsewhere: refuse rather than touch its state.
            guard inLoop else { throw RingIOError(.brokenResource, "the event loop has shut down") }
            hopCount &+= 1
            return try await body()
        }
    }

    /// Whether the current task has this loop as its executor preference, so its continuations
    /// resume here.
    @inline(__always)
    private var isPreferredByCurrentTask: Bool {
        withUnsafeCurrentTask { $0?.unownedTaskExecutor == asUnownedTaskExecutor() }
    }

    /// How many times a task suspended waiting for one of this loop's operations (a completion
    /// or a wake-up; an operation that completed at once does not count), and how many times a
    /// call hopped onto the loop from another executor: two costs per request that `ringio bench`
    /// reports. Loop-confined.
    @exclusivity(unchecked) var suspensionCount = 0
    @exclusivity(unchecked) var hopCount = 0

    /// ``suspensionCount`` and ``hopCount`` so far.
    package var statistics: LoopStatistics {
        get async { (try? await confine { LoopStatistics(suspensions: suspensionCount, hops: hopCount) }) ?? LoopStatistics() }
    }

    /// Overflows and exhaustion the backend has met so far (tests check that an injected fault
    /// really happened).
    package var backendCounters: BackendCounters {
        get async { (try? await confine { backend.counters }) ?? BackendCounters() }
    }

    /// Asks for `channel`'s arrival queue to be settled at the start of the next turn.
    func settleNextTurn(_ channel: StreamChannel) {
        unsettled.append(channel)
    }

    // MARK: - Descriptors the loop owns

    /// Descriptors of open channels; closed at shutdown if their owners never closed them.
    @exclusivity(unchecked) private var openDescriptors: Set<Int32> = []

    /// Records that a channel on this loop owns `fd` (loop thread only).
    func track(_ fd: Int32) { openDescriptors.insert(fd) }

    /// Records that `fd` was closed by its channel (loop thread only).
    func untrack(_ fd: Int32) { openDescriptors.remove(fd) }

    private func closeForgottenDescriptors() {
        for fd in openDescriptors { SocketCalls.closeNow(fd) }
        openDescriptors.removeAll()
    }

    private func wakeUp() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    /// Asks the loop to interrupt `id`; safe from any thread (cancellation handlers run anywhere).
    func requestInterrupt(_ id: OperationID, _ reason: Interruption) {
        let wake = inbox.withLock { inbox -> Bool in
            inbox.interrupts.append((id, reason))
            let wake = inbox.sleeping
            inbox.sleeping = false
            return wake
        }
        if wake { wakeUp() }
    }

    // MARK: - The loop

    private func threadMain(
        makeBackend: (EventLoop) throws(RingIOError) -> any IOBackend, ready: DispatchSemaphore, failure: StartupFailure
    ) {
        CurrentLoop.set(self)
        do {
            let backend = try makeBackend(self)
            backendStorage = backend
            backendFeatures = backend.features
        } catch {
            failure.error.withLock { $0 = error }
            ready.signal()
            return
        }
        ready.signal()
        runTurns()
        closeForgottenDescriptors()
        backend.close()
        backendStorage = nil
        unsettled.removeAll()
        sendStaging.releaseAll()
        CurrentLoop.clear()
        let waiters = inbox.withLock { inbox -> [CheckedContinuation<Void, Never>] in
            inbox.exited = true
            let waiters = inbox.exitWaiters
            inbox.exitWaiters = []
            return waiters
        }
        let leftovers = inbox.withLock { inbox -> [UnownedJob] in
            let jobs = inbox.jobs
            inbox.jobs = []
            return jobs
        }
        for job in leftovers { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
        for waiter in waiters { waiter.resume() }
    }

    private func runTurns() {
        while true {
            let stopRequested = inbox.withLock { inbox -> Bool in
                swap(&inbox.jobs, &remoteJobs)
                swap(&inbox.interrupts, &spareInterrupts)
                return inbox.stopRequested
            }
            jobs.append(contentsOf: remoteJobs)
            remoteJobs.removeAll(keepingCapacity: true)
            for (id, reason) in spareInterrupts { interrupt(id, reason) }
            spareInterrupts.removeAll(keepingCapacity: true)
            if stopRequested, let reason = state.stopRequested() { interruptAll(reason) }

            runJobs()

            if state.mayExit(activeOperations: table.activeCount, queuedJobs: jobs.count) { return }
            if jobs.isEmpty && state.hasFailed && state.shouldGiveUpWaiting(at: .now) {
                // Completions the kernel dropped will never come: give those operations up (the
                // kernel is done with an operation whose completion it posted, even if it then
                // dropped it). Their tasks run in the next turns, and the loop exits as usual.
                abandonAll(.loopFailed)
            }
            var blocking = jobs.isEmpty
            if blocking {
                blocking = inbox.withLock { inbox -> Bool in
                    guard inbox.jobs.isEmpty, inbox.interrupts.isEmpty, inbox.stopRequested == state.isStopping else { return false }
                    inbox.sleeping = true
                    return true
                }
            }
            let wait: BackendWait
            if !blocking {
                wait = .now
            } else if let earliest = timers.earliest {
                wait = earliest <= .now ? .now : .until(earliest)
            } else {
                wait = .untilEvent
            }
            if !unsettled.isEmpty {
                for channel in unsettled { channel.settleArrivals() }
                unsettled.removeAll(keepingCapacity: true)
            }
            backend.processEvents(wait)
            if blocking { inbox.withLock { $0.sleeping = false } }
            fireDueTimers()
        }
    }

    private func runJobs() {
        swap(&jobs, &running)
        for job in running {
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
        running.removeAll(keepingCapacity: true)
    }

    /// Interrupts every waiting operation with `reason` and cancels every multishot.
    private func interruptAll(_ reason: Interruption) {
        for id in table.activeIDs() {
            if table[id].isMultishot {
                backend.cancel(id)
            } else {
                interrupt(id, reason)
            }
        }
    }

    /// The backend cannot go on (io_uring reported dropped completions, or a wait failed with an
    /// error that leaves the loop blind): log it, fail every waiting operation with
    /// `.brokenResource`, and stop the loop as a shutdown does. An operation the kernel will
    /// never report on is given up after a second, so the loop still exits.
    func backendFailed(_ reason: String) {
        let failure = state.backendFailed(at: .now)
        guard failure != .alreadyFailed else { return }
        Logger(label: "RingIO").error(
            "event loop failed; its operations fail with brokenResource and the loop stops", metadata: ["reason": "\(reason)"])
        inbox.withLock { $0.stopRequested = true }
        if case .beginStopping(let interruption) = failure { interruptAll(interruption) }
    }

    /// Resumes every operation still waiting with `interruption`; a multishot handler gets a
    /// last completion (`-ECANCELED`).
    private func abandonAll(_ interruption: Interruption) {
        for id in table.activeIDs() where table.isCurrent(id) {
            if table[id].isMultishot {
                let handler = table.handler(id)
                table.release(id)
                handler?.handleCompletion(result: -ECANCELED, flags: 0, more: false)
            } else if table[id].isWaiting {
                complete(id, with: Completion(result: -ECANCELED, flags: 0, interruption: interruption))
            }
        }
    }

    /// Whether the backend failed (it then waits briefly, never blocking, while the loop stops).
    var hasFailed: Bool { state.hasFailed }

    /// Whether the loop is stopping: new operations fail at once with `.shutdown`.
    var isStopping: Bool { state.isStopping }

    /// Stops a loop nothing runs on yet and blocks until its thread has exited (a runtime whose
    /// start failed part-way). Never call it from a loop's thread.
    func stopAndJoin() {
        let wake = inbox.withLock { inbox -> Bool in
            inbox.stopRequested = true
            let wake = inbox.sleeping
            inbox.sleeping = false
            return wake
        }
        if wake { wakeUp() }
        let handle = inbox.withLock { inbox -> pthread_t? in
            let handle = inbox.joinHandle
            inbox.joinHandle = nil
            return handle
        }
        if let handle { LoopThread.join(handle) }
    }

    /// Stops the loop: operations still waiting fail with `.brokenResource`, then the thread exits.
    /// Returns when the thread has exited.
    ///
    /// From a task on this loop it works too: the task is resumed after the loop has exited, on
    /// the global executor (jobs for an exited loop run there), and joins the thread from there.
    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (wake, done) = inbox.withLock { inbox -> (Bool, Bool) in
                if inbox.exited { return (false, true) }
                inbox.stopRequested = true
                inbox.exitWaiters.append(continuation)
                let wake = inbox.sleeping
                inbox.sleeping = false
                return (wake, false)
            }
            if wake { wakeUp() }
            if done { continuation.resume() }
        }
        let handle = inbox.withLock { inbox -> pthread_t? in
            let handle = inbox.joinHandle
            inbox.joinHandle = nil
            return handle
        }
        if let handle { LoopThread.join(handle) }
    }
}

/// Carries a start-up error from the new loop thread to the thread that started it.
private final class StartupFailure: Sendable {
    let error = Lock<RingIOError?>(nil)
}

#endif
