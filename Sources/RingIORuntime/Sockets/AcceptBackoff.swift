#if os(Linux)
import Glibc
import Logging
import RingIOCore

/// What a listener does when `accept` fails, for both backends.
///
/// Only a listener that is itself unusable ends accepting (``Failure/fatal``). A connection
/// that went away before it was accepted is skipped at once. Lack of resources (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM) and errors of one connection or of a passing condition (EPERM from a
/// firewall rule, EPROTO and the network errors accept(2) says to treat like EAGAIN) are logged
/// once per streak and retried after 10 ms, then 20, ... up to 1 s between attempts: it never
/// spins, and serving goes on when the condition passes. The wait is a parked operation with a
/// deadline, so closing the listener ends it at once.
struct AcceptBackoff {
    /// What an accept error means for the accept loop.
    enum Failure: Equatable {
        /// The client gave up before it was accepted (ECONNABORTED), or a signal came (EINTR).
        case retryNow
        /// Out of descriptors or memory, or an error of one connection or a passing one.
        case retryAfterBackoff
        /// The listener itself is unusable (EBADF, EINVAL: not listening, ENOTSOCK, EFAULT).
        case fatal
    }

    /// How the accept loop treats `code`.
    static func classify(_ code: Int32) -> Failure {
        switch code {
        case ECONNABORTED, EINTR: return .retryNow
        case EBADF, EINVAL, ENOTSOCK, EFAULT: return .fatal
        default: return .retryAfterBackoff
        }
    }

    private static let first = Duration.milliseconds(10)
    private static let longest = Duration.seconds(1)
    private var delay = first
    /// How many times accept waited for resources (tests observe it).
    private(set) var waits = 0

    /// Waits before the next attempt; `register` receives the wait's id so `close` can end it.
    nonisolated(nonsending) mutating func wait(on loop: EventLoop, after code: Int32, context: String, register: (OperationID) -> Void)
        async throws
    {
        if delay == Self.first {
            Logger(label: "RingIO").warning(
                "accept on \(context) failed: \(String(cString: strerror(code)).lowercased()) (\(RingIOError.errnoName(code))); retrying with backoff"
            )
        }
        let pause = delay
        delay = min(delay * 2, Self.longest)
        waits += 1
        if let outer = Deadline.current, outer <= .now + pause {
            // The caller's own deadline comes first: let its timeout surface.
            let completion = await loop.park(register)
            if let interruption = completion.interruption { throw interruption.error("accept on \(context)") }
            return
        }
        let completion = try await withDeadline(.now + pause) { await loop.park(register) }
        switch completion.interruption {
        case .timedOut?, nil: return
        case let interruption?: throw interruption.error("accept on \(context)")
        }
    }

    /// An accept succeeded: the next exhaustion starts again at the shortest wait.
    mutating func reset() { delay = Self.first }
}
#endif
