import RingIOCore

/// The sizes of an io_uring event loop's kernel resources.
///
/// The defaults suit servers with tens of thousands of connections. Smaller values save memory
/// on small machines; the reliability tests shrink them to force completion-queue overflow and
/// provided-buffer exhaustion, which RingIO handles without losing a byte. The epoll backend
/// ignores this configuration.
public struct URingConfiguration: Sendable, Equatable {
    /// Submission queue entries (the kernel rounds up to a power of two); 1 to 32,768. When more
    /// operations are queued in one turn, the loop submits the full queue and goes on.
    public var submissionEntries: Int
    /// Completion queue entries; at least `submissionEntries`, at most 65,536. When more
    /// completions arrive than fit, the kernel holds the surplus and RingIO collects it.
    public var completionEntries: Int
    /// Provided receive buffers shared by all streams of a loop (multishot recv); a power of two,
    /// 1 to 32,768. When every buffer is held by received data not yet consumed, streams receive
    /// into memory of their own until buffers come back.
    public var receiveBufferCount: Int
    /// The size of each provided receive buffer, in bytes; 512 to 1,048,576.
    public var receiveBufferSize: Int

    /// A configuration; every parameter defaults to the value RingIO uses when none is given.
    public init(
        submissionEntries: Int = 1024, completionEntries: Int = 8192, receiveBufferCount: Int = 512,
        receiveBufferSize: Int = 16384
    ) {
        self.submissionEntries = submissionEntries
        self.completionEntries = completionEntries
        self.receiveBufferCount = receiveBufferCount
        self.receiveBufferSize = receiveBufferSize
    }

    /// Checks every value, naming the first one out of range.
    ///
    /// - Throws: ``RingIOError`` `.invalidArgument`.
    func validate() throws(RingIOError) {
        func fail(_ what: String) -> RingIOError { RingIOError(.invalidArgument, "URingConfiguration: \(what)") }
        guard (1...32768).contains(submissionEntries) else {
            throw fail("submissionEntries \(submissionEntries) must be between 1 and 32768")
        }
        guard (submissionEntries...65536).contains(completionEntries) else {
            throw fail("completionEntries \(completionEntries) must be between submissionEntries (\(submissionEntries)) and 65536")
        }
        guard (1...32768).contains(receiveBufferCount) && receiveBufferCount & (receiveBufferCount - 1) == 0 else {
            throw fail("receiveBufferCount \(receiveBufferCount) must be a power of two between 1 and 32768")
        }
        guard (512...1_048_576).contains(receiveBufferSize) else {
            throw fail("receiveBufferSize \(receiveBufferSize) must be between 512 and 1048576 bytes")
        }
        // The buffers are allocated and touched at start-up, so their total is bounded too.
        guard receiveBufferCount * receiveBufferSize <= 1 << 30 else {
            throw fail(
                "receiveBufferCount × receiveBufferSize is \(receiveBufferCount * receiveBufferSize) bytes; at most 1 GiB (1073741824) per loop"
            )
        }
    }
}
