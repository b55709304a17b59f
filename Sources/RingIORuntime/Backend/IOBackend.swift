import RingIOCore

/// Which kernel interface an event loop uses.
public enum BackendKind: String, Sendable, CustomStringConvertible, CaseIterable {
    /// Completion-based: operations are submitted to an io_uring and their completions reaped.
    case ioUring = "io_uring"
    /// Readiness-based: non-blocking system calls, with epoll telling when to retry.
    case epoll

    public var description: String { rawValue }
}

/// The contract between an ``EventLoop`` and the kernel interface under it.
///
/// A backend is created on, and used only from, its loop's thread. It turns the loop's requests
/// (wait for a completion, arm a timer, cancel an operation) into kernel work, and reports back
/// through the loop's operation table (`EventLoop.complete(_:with:)` and `interrupt`).
/// The socket types above never see which backend they run on: they talk to channels.
/// How long a turn may wait for events (SwiftNIO's selector strategies).
enum BackendWait {
    /// Not at all: look and return.
    case now
    /// Until an event, however long.
    case untilEvent
    /// Until an event or `deadline`, whichever comes first.
    case until(ContinuousClock.Instant)
}

protocol IOBackend: AnyObject {
    /// The backend's kind.
    var kind: BackendKind { get }
    /// Whether sockets for this backend must be non-blocking (readiness-based backends).
    var wantsNonBlockingSockets: Bool { get }
    /// The features in use, for the start-up log line (e.g. `DEFER_TASKRUN, multishot recv`).
    var features: [String] { get }

    /// A channel that receives and sends on the connected stream socket `fd` (taking ownership
    /// of it once this returns; on a throw the caller still owns and closes `fd`).
    ///
    /// - Parameter passesDescriptors: receive with recvmsg and keep SCM_RIGHTS descriptors (UNIX
    ///   sockets); such a channel never uses multishot recv, whose plain recv would drop them.
    func makeStreamChannel(fd: Int32, context: String, passesDescriptors: Bool) throws(RingIOError) -> any StreamChannel
    /// A channel that receives and sends datagrams on the UDP socket `fd` (taking ownership of it).
    func makeDatagramChannel(fd: Int32, context: String) throws(RingIOError) -> any DatagramChannel
    /// A channel that accepts on the listening socket `fd` (taking ownership of it).
    func makeAcceptChannel(fd: Int32, context: String) throws(RingIOError) -> any AcceptChannel
    /// Connects socket `fd` (created as ``wantsNonBlockingSockets`` says) to `address`; the
    /// completion's result is 0 or a negated errno.
    nonisolated(nonsending) func connect(fd: Int32, to address: SocketAddress) async -> Completion
    /// Closes `fd` after every operation already issued on it (a descriptor number lives until
    /// every operation naming it has completed), and waits for the close whatever the caller's
    /// cancellation or deadline: a close cannot be skipped.
    nonisolated(nonsending) func close(fd: Int32) async

    /// One turn's kernel work: submit what is queued, wait for events as `wait` allows, and
    /// dispatch them. Deadlines are the loop's: it passes the earliest as `.until`.
    func processEvents(_ wait: BackendWait)
    /// Stops the kernel work for operation `id` (it was cancelled, timed out or closed).
    func cancelKernelOperation(_ id: OperationID)
    /// Releases the backend's kernel resources; the loop thread calls it last.
    func close()
    /// Overflows and exhaustion the backend has handled (zero where they cannot happen).
    var counters: BackendCounters { get }
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

/// The backend side of a connected stream: receives chunks, sends bytes, closes.
protocol StreamChannel: CiphertextTransport {
    /// Sends every byte of `bytes`.
    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>) async throws
    /// Sends every byte of `buffer` (without copying where the backend can).
    nonisolated(nonsending) func send(_ buffer: ByteBuffer) async throws
    /// Sends every byte of `buffers`, in order, gathered into as few system calls as possible.
    nonisolated(nonsending) func send(_ buffers: [ByteBuffer]) async throws
    /// Sends every byte of `bytes`, with `descriptors` attached to the first ones (SCM_RIGHTS).
    ///
    /// - Throws: `.invalidArgument` on a channel made without descriptor passing or for empty `bytes`.
    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>, descriptors: [Int32]) async throws
    /// Removes and returns up to `max` of the descriptors received so far (the caller owns them).
    func takeReceivedDescriptors(max: Int) -> [Int32]
    /// Half-closes the sending direction.
    func sendEOF() throws
    /// Closes the socket; waiting tasks get `.closedResource`.
    nonisolated(nonsending) func close() async
    /// The socket descriptor (for socket options), or -1 once closed.
    var descriptor: Int32 { get }
    /// Whether a send is in progress.
    var isSending: Bool { get }
}

/// The backend side of a UDP socket.
protocol DatagramChannel: AnyObject {
    /// Receives one datagram into at most `maxBytes` bytes.
    ///
    /// - Returns: the bytes kept, the sender, and the datagram's full length (more than
    ///   `maxBytes` when it was truncated).
    nonisolated(nonsending) func receive(maxBytes: Int) async throws -> (ByteBuffer, SocketAddress?, Int)
    /// Sends one datagram to `address` (`nil`: the connected target).
    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>, to address: SocketAddress?) async throws
    /// Closes the socket; waiting tasks get `.closedResource`.
    nonisolated(nonsending) func close() async
    /// The socket descriptor, or -1 once closed.
    var descriptor: Int32 { get }
    /// Whether a task is waiting in `receive`.
    var isReceiving: Bool { get }
}

/// The backend side of a listening socket.
protocol AcceptChannel: AnyObject {
    /// Waits for the next connection and returns its descriptor (close-on-exec; non-blocking
    /// when the backend wants non-blocking sockets).
    nonisolated(nonsending) func accept() async throws -> Int32
    /// Closes the listener; a task waiting in `accept` gets `.closedResource`.
    nonisolated(nonsending) func close() async
    /// The socket descriptor, or -1 once closed.
    var descriptor: Int32 { get }
    /// Whether a task is waiting in `accept`.
    var isAccepting: Bool { get }
    /// How many times `accept` waited out resource exhaustion (EMFILE and the like).
    var resourceWaits: Int { get }
}
