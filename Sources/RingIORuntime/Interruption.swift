#if os(Linux)
import RingIOCore

/// Why an operation ended before the kernel finished it.
enum Interruption: Sendable {
    case cancelled
    case timedOut
    case closed
    case shutdown
    /// The loop's backend failed for good (see `EventLoop.backendFailed`).
    case loopFailed
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
        case .loopFailed:
            return RingIOError(
                .brokenResource, "\(what()): the event loop stopped because its kernel interface failed (the log says why)",
                bytesTransferred: bytesTransferred)
        }
    }
}
#endif
