/// The one error type RingIO throws (besides `CancellationError`).
///
/// Switch on ``code`` to handle a kind of failure; read ``description`` for a message that says
/// what happened and where (the address, the operation, the errno). New codes can be added
/// without breaking your `switch`, which must therefore have a `default` case.
///
/// ```swift
/// do {
///     let line = try await stream.receiveUntil("\n", maxBytes: 1024)
/// } catch let error as RingIOError where error.code == .delimiterNotFound {
///     // the peer sent a line longer than 1024 bytes
/// }
/// ```
public struct RingIOError: Error, Sendable, CustomStringConvertible {
    /// A kind of failure. Compare with `==` or match in a `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The peer finished sending (EOF) and nothing is buffered.
        public static let endOfStream = Code("end of stream")
        /// The stream ended before a `receiveExactly`/`receiveUntil` could complete; see ``RingIOError/partialData``.
        public static let incompleteRead = Code("incomplete read")
        /// `receiveUntil` did not find its delimiter within `maxBytes`.
        public static let delimiterNotFound = Code("delimiter not found")
        /// The resource was closed by this process (before or during the operation).
        public static let closedResource = Code("closed resource")
        /// The resource failed from outside (for example the event loop shut down under it).
        public static let brokenResource = Code("broken resource")
        /// Another task is already receiving from (or sending to, or accepting on) this resource.
        public static let busyResource = Code("busy resource")
        /// The peer refused the connection (ECONNREFUSED).
        public static let connectionRefused = Code("connection refused")
        /// The peer reset the connection (ECONNRESET, EPIPE).
        public static let connectionReset = Code("connection reset")
        /// The operation's deadline passed (see `withTimeout`), or the kernel timed out (ETIMEDOUT).
        public static let timedOut = Code("timed out")
        /// A host name could not be resolved to any address.
        public static let nameResolutionFailed = Code("name resolution failed")
        /// Every address a connect attempt tried failed; see ``RingIOError/attempts``.
        public static let connectFailed = Code("connect failed")
        /// The local address is already in use (EADDRINUSE).
        public static let addressInUse = Code("address in use")
        /// An argument was invalid (for example a negative byte count or an unparsable address).
        public static let invalidArgument = Code("invalid argument")
        /// A datagram was larger than the receive allowed; see ``RingIOError/partialData`` for the
        /// part that was kept and ``RingIOError/bytesTransferred`` for the datagram's full size.
        public static let messageTruncated = Code("message truncated")
        /// A TLS handshake failed: the peer's certificate did not verify (unknown CA, host name
        /// mismatch, expired), no protocol version or cipher is shared, or the peer does not speak TLS.
        public static let tlsHandshakeFailed = Code("TLS handshake failed")
        /// TLS failed after the handshake (a bad record, an alert from the peer), or a TLS operation
        /// was asked of a stream in the wrong state (TLS started twice, no TLS context).
        public static let tlsFailure = Code("TLS failure")
        /// Bytes expected to be UTF-8 text are not (see `ByteBuffer.utf8String()`); the bytes
        /// are in ``RingIOError/partialData``.
        public static let invalidText = Code("invalid text")
        /// The requested backend cannot run on this machine.
        public static let backendUnavailable = Code("backend unavailable")
        /// Any other operating-system error; see ``RingIOError/errno``.
        public static let system = Code("system error")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened, naming the operation and the address or path involved.
    public var message: String
    /// The operating system's error number, when the failure came from the kernel.
    public var errno: Int32?
    /// For a failed send: how many bytes were sent before the failure.
    public var bytesTransferred: Int?
    /// For ``Code/incompleteRead``: the bytes received before the stream ended. They also stay
    /// buffered in the stream, so a following receive returns them again.
    public var partialData: ByteBuffer?
    /// For ``Code/connectFailed``: one error per address that was tried, in the order tried.
    public var attempts: [RingIOError]
    /// The error this one was made from, when RingIO turned one failure into another that says
    /// more about where it happened: the start-up error behind `.backendUnavailable`, the
    /// `.timedOut` behind a listener's handshake timeout, the `CancellationError` behind a
    /// cancelled connection attempt. `nil` otherwise.
    public var cause: (any Error)?

    /// Creates an error. RingIO's own functions build these; you rarely need to.
    public init(
        _ code: Code, _ message: String, errno: Int32? = nil, bytesTransferred: Int? = nil,
        partialData: ByteBuffer? = nil, attempts: [RingIOError] = [], cause: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.errno = errno
        self.bytesTransferred = bytesTransferred
        self.partialData = partialData
        self.attempts = attempts
        self.cause = cause
    }

    public var description: String {
        var text = message
        if !attempts.isEmpty {
            text += " (" + attempts.map(\.description).joined(separator: "; ") + ")"
        }
        return text
    }
}
