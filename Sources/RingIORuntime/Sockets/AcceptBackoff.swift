#if os(Linux)
import CLiburing
import Glibc
import Logging
import RingIOCore

/// What a listener does when `accept` fails for lack of resources (EMFILE, ENFILE, ENOBUFS,
/// ENOMEM): log it once, wait 10 ms, then 20, ... up to 1 s between attempts, and carry on
/// when descriptors are free again. It never spins and never ends the accept loop for it.
/// The wait is a parked operation with a deadline, so closing the listener ends it at once.
struct AcceptBackoff {
    private static let first = Duration.milliseconds(10)
    private static let longest = Duration.seconds(1)
    private var delay = first
    /// How many times accept waited for resources (tests observe it).
    private(set) var waits = 0

    /// Whether `code` means "try again when resources are free".
    static func isExhaustion(_ code: Int32) -> Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }

    /// Waits before the next attempt; `register` receives the wait's id so `close` can end it.
    nonisolated(nonsending) mutating func wait(on loop: EventLoop, after code: Int32, context: String, register: (OperationID) -> Void)
        async throws
    {
        if delay == Self.first {
            Logger(label: "RingIO").warning(
                "accept on \(context): \(String(cString: strerror(code)).lowercased()) (\(RingIOError.errnoName(code))); retrying with backoff"
            )
        }
        let pause = delay
        delay = min(delay * 2, Self.longest)
        waits += 1
        if let outer = Deadline.current, outer <= .now + pause {
            // The caller's own deadline comes first: let its timeout surface.
            let completion = await loop.perform(inKernel: false, register)
            if let interruption = completion.interruption { throw interruption.error("accept on \(context)") }
            return
        }
        let completion = try await withDeadline(.now + pause) { await loop.perform(inKernel: false, register) }
        switch completion.interruption {
        case .timedOut?, nil: return
        case let interruption?: throw interruption.error("accept on \(context)")
        }
    }

    /// An accept succeeded: the next exhaustion starts again at the shortest wait.
    mutating func reset() { delay = Self.first }
}
#endif
