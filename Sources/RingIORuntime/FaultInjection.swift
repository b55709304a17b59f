#if os(Linux)
package import RingIOCore

/// Failures a test makes happen on demand, where the kernel produces them only under conditions
/// a test cannot arrange: io_uring denied by a seccomp profile, thread exhaustion, a submission
/// queue the kernel refuses to take, completions the kernel dropped, a connection that fails while
/// being accepted. Empty in normal use, and then it costs one empty-array check where it is read.
///
/// Each list is consumed in order, one entry per event. The loop-level lists are loop-confined:
/// set at start-up through `Runtime(…, faults:)`, or later on the loop with
/// `EventLoop.injectFaults(_:)`.
package struct FaultInjection: Sendable {
    /// io_uring start-up fails with this error (as on a machine whose seccomp profile denies
    /// `io_uring_setup`).
    package var ioUringStartFailure: RingIOError?
    /// `pthread_create` fails with this errno for the loop with this index.
    package var threadStartFailure: (loopIndex: Int, errno: Int32)?
    /// What the next accepts report instead of the connection they accepted (which is closed,
    /// as the kernel does with a connection that fails while it is accepted): negated errnos.
    package var acceptResults: [Int32] = []
    /// How many of the next accepted connections fail their set-up (as a `setsockopt` on a
    /// socket the peer already reset can).
    package var streamSetupFailures = 0
    /// io_uring: what the next `io_uring_submit` calls for a full submission queue return,
    /// instead of submitting (the SQEs stay queued): negated errnos such as `-EBUSY`.
    package var fullQueueSubmitResults: [Int32] = []
    /// What the next turns' wait returns instead of waiting: negated errnos, such as `-EBADR`
    /// for io_uring_enter (completions dropped) or `-EBADF` for epoll_wait.
    package var enterResults: [Int32] = []
    /// io_uring: how many of the next operations' completions to discard, as a kernel that ran
    /// out of memory for them does (before it reports EBADR).
    package var droppedCompletions = 0

    package init(
        ioUringStartFailure: RingIOError? = nil, threadStartFailure: (loopIndex: Int, errno: Int32)? = nil,
        acceptResults: [Int32] = [], streamSetupFailures: Int = 0, fullQueueSubmitResults: [Int32] = [], enterResults: [Int32] = []
    ) {
        self.streamSetupFailures = streamSetupFailures
        self.ioUringStartFailure = ioUringStartFailure
        self.threadStartFailure = threadStartFailure
        self.acceptResults = acceptResults
        self.fullQueueSubmitResults = fullQueueSubmitResults
        self.enterResults = enterResults
    }

    /// The next injected accept result, if any.
    mutating func takeAcceptResult() -> Int32? {
        acceptResults.isEmpty ? nil : acceptResults.removeFirst()
    }

    /// The next injected result for a full submission queue's submit, if any.
    mutating func takeFullQueueSubmitResult() -> Int32? {
        fullQueueSubmitResults.isEmpty ? nil : fullQueueSubmitResults.removeFirst()
    }

    /// The next injected `io_uring_enter` result, if any.
    mutating func takeEnterResult() -> Int32? {
        enterResults.isEmpty ? nil : enterResults.removeFirst()
    }
}

extension EventLoop {
    /// `fd`, an accepted connection, or the accept error a test injected in its place (the
    /// connection is then closed, as the kernel drops one that fails while it is accepted).
    @inline(__always)
    func injectedAcceptResult(replacing fd: Int32) -> Int32 {
        if faults.acceptResults.isEmpty { return fd }
        guard let injected = faults.takeAcceptResult() else { return fd }
        SocketCalls.closeNow(fd)
        return injected
    }

    /// Injects more faults on this loop (loop thread only; tests reach it through `confine`).
    package func injectFaults(_ change: @Sendable (inout FaultInjection) -> Void) async throws {
        try await confine { change(&faults) }
    }
}
#endif
