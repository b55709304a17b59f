import RingIOCore

/// Which kernel interface an event loop uses.
///
/// Frozen: no case is added before a major version, so a `switch` over it may be exhaustive.
public enum BackendKind: String, Sendable, CustomStringConvertible, CaseIterable {
    /// Completion-based: operations are submitted to an io_uring and their completions reaped.
    case ioUring = "io_uring"
    /// Readiness-based: non-blocking system calls, with epoll telling when to retry.
    case epoll

    public var description: String { rawValue }
}

/// How long a turn may wait for events (SwiftNIO's selector strategies).
enum BackendWait {
    /// Not at all: look and return.
    case now
    /// Until an event, however long.
    case untilEvent
    /// Until an event or `deadline`, whichever comes first.
    case until(ContinuousClock.Instant)
}

/// The contract between an ``EventLoop`` and the kernel interface under it.
///
/// A backend performs ``KernelOperation``s: io_uring submits each one's completion face as an
/// SQE; epoll attempts its readiness face and, when it would block, waits for the descriptor's
/// readiness and attempts again. Everything above (the stream, accept and datagram channels,
/// timers, the operation lifecycle) is written once, in backend-neutral code. What only io_uring
/// can do, multishot accept and multishot recv over its provided-buffer ring, is an optional
/// capability (``MultishotOperations``) that the channels use when present; without it (epoll,
/// or a kernel without a provided-buffer ring) they perform the one-shot forms.
///
/// A backend is created on, and used only from, its loop's thread.
protocol IOBackend: AnyObject {
    /// The backend's kind.
    var kind: BackendKind { get }
    /// The features in use, for the start-up log line (e.g. `DEFER_TASKRUN, multishot recv`).
    var features: [String] { get }

    /// Prepares `owner`'s descriptor `fd` for operations (epoll registers it, edge-triggered,
    /// and keeps its readiness in `owner.readiness`; io_uring needs nothing).
    func attach(_ fd: Int32, to owner: DescriptorOwner, describing what: @autoclosure () -> String) throws(RingIOError)
    /// Forgets `owner`'s descriptor `fd` before it is closed.
    func detach(_ fd: Int32, from owner: DescriptorOwner)
    /// Performs `operation` on behalf of `owner` and suspends until its result, an interruption
    /// (cancellation, deadline, close: see ``EventLoop/interrupt(_:_:)``) or the loop stopping.
    /// `register` receives the operation's id whenever the task suspends, so its owner can
    /// interrupt it; a readiness backend may complete without suspending.
    nonisolated(nonsending) func perform<Operation: KernelOperation>(
        _ operation: inout Operation, for owner: DescriptorOwner, register: (OperationID) -> Void
    ) async -> Completion
    /// Performs `operation` to its end whatever happens to the caller (a close: see
    /// ``EventLoop/performToCompletion(inKernel:_:)``).
    nonisolated(nonsending) func performToCompletion<Operation: KernelOperation>(_ operation: inout Operation) async -> Completion
    /// Stops the kernel work of operation `id` (it was cancelled, timed out or closed); it
    /// completes when the kernel says so.
    func cancel(_ id: OperationID)
    /// One turn's kernel work: submit what is queued, wait for events as `wait` allows, and
    /// dispatch them. Deadlines are the loop's: it passes the earliest as `.until`.
    func processEvents(_ wait: BackendWait)
    /// Releases the backend's kernel resources; the loop thread calls it last.
    func close()

    /// Multishot accept and receive, where the kernel has them (io_uring).
    var multishot: (any MultishotOperations)? { get }
    /// The memory readiness receives borrow for their system call (epoll); `nil` on a backend
    /// whose receives hold memory while they wait (io_uring: fresh memory per receive).
    var receivePool: ReceivePool? { get }
    /// Overflows and exhaustion the backend has handled (zero where they cannot happen).
    var counters: BackendCounters { get }
}

/// What a readiness backend records for one descriptor: whether it may be ready for input and
/// for output (edge-triggered: set by an event, cleared by an attempt that would block), and the
/// operation waiting for each.
struct Readiness {
    /// The backend's registration token, once attached.
    var token = -1
    /// Whether a read that comes back short may still leave bytes behind, so reads go on until
    /// EAGAIN: after an event said the peer hung up or the socket failed (EPOLLRDHUP, EPOLLHUP,
    /// EPOLLERR: no edge follows the end), or that TCP urgent data arrived (EPOLLPRI: recv
    /// stops short at the urgent mark, with the bytes behind it already queued).
    var readsUntilWouldBlock = false
    var input = true
    var output = true
    var inputWaiter: OperationID?
    var outputWaiter: OperationID?

    func isReady(for interest: Interest) -> Bool {
        switch interest {
        case .input: input
        case .output: output
        }
    }

    mutating func set(_ interest: Interest, ready: Bool) {
        switch interest {
        case .input: input = ready
        case .output: output = ready
        }
    }

    mutating func setWaiter(_ interest: Interest, _ id: OperationID?) {
        switch interest {
        case .input: inputWaiter = id
        case .output: outputWaiter = id
        }
    }
}

/// The owner of a descriptor that operations are performed on (a channel): a readiness
/// backend keeps the descriptor's ``Readiness`` in it, so watching a descriptor allocates nothing.
class DescriptorOwner {
    /// The descriptor, or -1 once its owner closed it.
    @exclusivity(unchecked) final var descriptor: Int32
    /// Kept by the readiness backend; a final stored field, so the backend's hot path reads it
    /// directly (no witness call, no existential, no exclusivity check).
    @exclusivity(unchecked) final var readiness = Readiness()

    init(descriptor: Int32) { self.descriptor = descriptor }
}

/// Operations that keep producing results until stopped, each result a completion for a
/// handler: io_uring's multishot accept and multishot recv into its provided buffers. Epoll has
/// none; the channels' one-shot forms stand in for them (the same code io_uring falls back to
/// after ENOBUFS or on a kernel without a buffer ring).
protocol MultishotOperations: AnyObject {
    /// Whether multishot accept can be armed.
    var acceptsMultishot: Bool { get }
    /// Whether multishot recv can be armed; turned off when the kernel rejects it.
    var receivesMultishot: Bool { get set }
    /// Arms a multishot accept on listener `fd`; `nil` when the loop is stopping.
    func startMultishotAccept(on fd: Int32, _ handler: any CompletionHandler) -> OperationID?
    /// Arms a multishot recv on `owner`'s stream `fd`; `nil` when the loop is stopping or there
    /// is no buffer ring. It ends with a completion whose `more` is false: end of stream, an
    /// error, or `-ECANCELED` after ``IOBackend/cancel(_:)``.
    func startMultishotReceive(on fd: Int32, for owner: DescriptorOwner, _ handler: any CompletionHandler) -> OperationID?
    /// Takes the bytes a multishot recv completion (`flags`) carries, `length` of them.
    func providedBuffer(flags: UInt32, length: Int) -> ByteBuffer?
    /// Counts a multishot recv that ended because every provided buffer was in use.
    func noteReceiveBufferExhaustion()
}

extension IOBackend {
    /// Whether sockets for this backend must be non-blocking (readiness-based backends).
    var wantsNonBlockingSockets: Bool { kind == .epoll }

    /// Forgets `fd` and closes it after every operation already issued on it (a descriptor
    /// number lives until every operation naming it has completed), whatever the caller's
    /// cancellation or deadline: a close cannot be skipped.
    nonisolated(nonsending) func close(_ fd: Int32, owner: DescriptorOwner) async {
        detach(fd, from: owner)
        var close = Close(descriptor: fd)
        _ = await performToCompletion(&close)
    }
}

extension IOBackend {
    var counters: BackendCounters { BackendCounters() }
}

/// Resource shortages a backend met and handled, counted so tests can show that a fault they
/// meant to inject really happened.
package struct BackendCounters: Sendable, Equatable {
    /// Turns that found completions waiting in the kernel because the completion queue was full.
    package var completionQueueOverflows = 0
    /// Multishot receives that ended because every provided buffer was in use (ENOBUFS).
    package var receiveBufferExhaustions = 0
    /// The most provided buffers still held (by streams' queues or their users) when the loop
    /// gave the released ones back to the kernel.
    package var receiveBuffersHeldPeak = 0
    /// The provided buffers held at the start of the loop's last turn.
    package var receiveBuffersHeld = 0
    /// Times a full submission queue was not taken by the kernel at once (io_uring).
    package var fullSubmissionQueueRetries = 0
    /// Times the backend failed for good and stopped its loop.
    package var ringFailures = 0

    package init() {}
}
