#if os(Linux)
import Dispatch
import CLiburing
import CRingIOSystem
import Glibc
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
    @exclusivity(unchecked) private(set) var isStopping = false

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
        running.reserveCapacity(256)
        remoteJobs.reserveCapacity(256)
    }

    /// Starts a loop on a new thread with a backend made by `makeBackend` (run on that thread,
    /// as io_uring's SINGLE_ISSUER requires).
    static func start(
        name: String, kind: BackendKind, cpu: Int? = nil, makeBackend: @escaping @Sendable (EventLoop) throws(RingIOError) -> any IOBackend
    ) throws(RingIOError) -> EventLoop {
        let wakeFD = ringio_eventfd()
        guard wakeFD >= 0 else { throw RingIOError.system(errno: errno, "create the event loop's wake-up eventfd") }
        let loop = EventLoop(kind: kind, wakeFD: wakeFD)
        let ready = DispatchSemaphore(value: 0)
        let failure = StartupFailure()
        let handle = LoopThread.spawn(name: name) {
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
    nonisolated(nonsending) func confine<T>(_ body: nonisolated(nonsending) () async throws -> T) async throws -> T {
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
            return try await body()
        }
    }

    /// Whether the current task has this loop as its executor preference, so its continuations
    /// resume here.
    @inline(__always)
    private var isPreferredByCurrentTask: Bool {
        withUnsafeCurrentTask { $0?.unownedTaskExecutor == asUnownedTaskExecutor() }
    }

    /// Overflows and exhaustion the backend has met so far (tests check that an injected fault
    /// really happened).
    package var backendCounters: BackendCounters {
        get async { (try? await confine { backend.counters }) ?? BackendCounters() }
    }

    // MARK: - Descriptors the loop owns

    /// Descriptors of open channels; closed at shutdown if their owners never closed them.
    @exclusivity(unchecked) private var openDescriptors: Set<Int32> = []

    /// Records that a channel on this loop owns `fd` (loop thread only).
    func adopt(_ fd: Int32) { openDescriptors.insert(fd) }

    /// Records that `fd` was closed by its channel (loop thread only).
    func release(_ fd: Int32) { openDescriptors.remove(fd) }

    private func closeForgottenDescriptors() {
        for fd in openDescriptors { SocketCalls.closeNow(fd) }
        openDescriptors.removeAll()
    }

    private func wakeUp() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    // MARK: - Operations (loop thread only)

    /// Starts an operation and suspends until it completes, is cancelled, times out or is closed.
    ///
    /// `start` receives the operation's id and issues the work: an SQE (`inKernel: true`) or a
    /// registration with a channel that will call ``complete(_:with:)`` (`inKernel: false`).
    nonisolated(nonsending) func perform(inKernel: Bool, _ start: (OperationID) -> Void) async -> Completion {
        if isStopping { return Completion(result: -ECANCELED, flags: 0, interruption: .shutdown) }
        if Task.isCancelled { return Completion(result: -ECANCELED, flags: 0, interruption: .cancelled) }
        let id = table.allocate()
        if let deadline = Deadline.current {
            if deadline <= .now {
                table.release(id)
                return Completion(result: -ETIME, flags: 0, interruption: .timedOut)
            }
            table[id].timerArmed = true
            backend.armTimer(id, deadline: deadline)
        }
        table[id].inKernel = inKernel
        start(id)
        let completion = await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                if let early = table[id].early {
                    continuation.resume(returning: early)
                } else {
                    table[id].continuation = continuation
                }
            }
        } onCancel: {
            self.requestInterrupt(id, .cancelled)
        }
        // Every caller is confined (see `confine`); a task resumed elsewhere would race the loop.
        assert(inLoop, "an operation of event loop \(ObjectIdentifier(self)) resumed off the loop's thread")
        table.release(id)
        return completion
    }

    /// Starts an operation that runs to its completion whatever happens to the caller: neither
    /// cancellation, nor a deadline, nor the loop stopping interrupts it or returns early.
    ///
    /// Closing a descriptor is such an operation: the number must stay taken until the kernel
    /// has seen every operation queued before the close, so the close cannot be skipped or made
    /// synchronous because its caller was cancelled or out of time. A stopping loop runs its
    /// turns until every operation has completed, so it waits for this one too.
    nonisolated(nonsending) func performToCompletion(inKernel: Bool, _ start: (OperationID) -> Void) async -> Completion {
        let id = table.allocate()
        table[id].inKernel = inKernel
        table[id].uninterruptible = true
        start(id)
        let completion = await withUnsafeContinuation { continuation in
            if let early = table[id].early {
                continuation.resume(returning: early)
            } else {
                table[id].continuation = continuation
            }
        }
        assert(inLoop, "an operation of event loop \(ObjectIdentifier(self)) resumed off the loop's thread")
        table.release(id)
        return completion
    }

    /// Parks the caller until the `wake` closure handed to `register` is called, bounded by the
    /// caller's deadline and cancellation (see ``CiphertextTransport/park(_:_:)``).
    nonisolated(nonsending) func parkUntilWoken(_ what: String, _ register: (_ wake: @escaping () -> Void) -> Void) async throws {
        let completion = await perform(inKernel: false) { id in
            register { [unowned self] in self.complete(id, with: Completion(result: 0, flags: 0, interruption: nil)) }
        }
        if let interruption = completion.interruption { throw interruption.error(what) }
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
        guard table.isCurrent(id), table[id].state == .waiting else { return }
        if table[id].timerArmed {
            table[id].timerArmed = false
            backend.disarmTimer(id)
        }
        var completion = completion
        if let interruption = table[id].interruption { completion.interruption = interruption }
        table[id].state = .completed
        table[id].inKernel = false
        if let continuation = table[id].continuation {
            table[id].continuation = nil
            continuation.resume(returning: completion)
        } else {
            table[id].early = completion
        }
    }

    /// Interrupts a waiting operation: a parked one completes at once, a kernel one is cancelled
    /// and completes when the kernel says so.
    func interrupt(_ id: OperationID, _ reason: Interruption) {
        guard table.isCurrent(id), table[id].state == .waiting, table[id].interruption == nil, !table[id].uninterruptible else { return }
        table[id].interruption = reason
        if table[id].inKernel {
            backend.cancelKernelOperation(id)
        } else {
            complete(id, with: Completion(result: -ECANCELED, flags: 0, interruption: reason))
        }
    }

    /// Called by the backend when the deadline timer of `id` fired.
    func timerFired(_ id: OperationID) {
        guard table.isCurrent(id), table[id].state == .waiting, table[id].timerArmed else { return }
        table[id].timerArmed = false
        interrupt(id, .timedOut)
    }

    /// Asks the loop to interrupt `id`; safe from any thread (cancellation handlers run anywhere).
    private func requestInterrupt(_ id: OperationID, _ reason: Interruption) {
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
            if stopRequested && !isStopping { beginStopping() }

            runJobs()

            if isStopping && table.activeCount == 0 && jobs.isEmpty { return }
            var blocking = jobs.isEmpty
            if blocking {
                blocking = inbox.withLock { inbox -> Bool in
                    guard inbox.jobs.isEmpty, inbox.interrupts.isEmpty, inbox.stopRequested == isStopping else { return false }
                    inbox.sleeping = true
                    return true
                }
            }
            backend.processEvents(blocking: blocking)
            if blocking { inbox.withLock { $0.sleeping = false } }
            table.recycleRetired()
        }
    }

    private func runJobs() {
        swap(&jobs, &running)
        for job in running {
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
        running.removeAll(keepingCapacity: true)
    }

    private func beginStopping() {
        isStopping = true
        for id in table.activeIDs() {
            if table[id].state == .multishot {
                backend.cancelKernelOperation(id)
            } else {
                interrupt(id, .shutdown)
            }
        }
    }

    /// Stops the loop: operations still waiting fail with `.brokenResource`, then the thread exits.
    /// Returns when the thread has exited. Must not be called from the loop's own thread.
    func shutdown() async {
        precondition(!inLoop, "EventLoop.shutdown() called on the loop's own thread; it would wait for itself")
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

/// The event loop of the current thread, kept in thread-specific storage.
enum CurrentLoop {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let result = pthread_key_create(&key, nil)
        precondition(result == 0, "pthread_key_create failed with error \(result)")
        return key
    }()

    static func set(_ loop: EventLoop) {
        _ = pthread_setspecific(key, Unmanaged.passUnretained(loop).toOpaque())
    }

    static func clear() {
        _ = pthread_setspecific(key, nil)
    }

    static func get() -> EventLoop? {
        guard let pointer = pthread_getspecific(key) else { return nil }
        // The loop object outlives its thread: the thread's closure holds it until it returns.
        return Unmanaged<EventLoop>.fromOpaque(pointer).takeUnretainedValue()
    }
}

extension Interruption {
    /// The error a task sees when its operation was interrupted.
    func error(_ what: @autoclosure () -> String, bytesTransferred: Int? = nil) -> any Error {
        switch self {
        case .cancelled:
            return CancellationError()
        case .timedOut:
            return RingIOError(.timedOut, "\(what()): the deadline passed", bytesTransferred: bytesTransferred)
        case .closed:
            return RingIOError(.closedResource, "\(what()): the resource was closed", bytesTransferred: bytesTransferred)
        case .shutdown:
            return RingIOError(.brokenResource, "\(what()): the event loop shut down", bytesTransferred: bytesTransferred)
        }
    }
}
#endif
