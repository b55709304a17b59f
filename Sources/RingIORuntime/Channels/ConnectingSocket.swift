#if os(Linux)
import Glibc
import RingIOCore

/// A socket between its creation and the end of its connect: it owns the descriptor's
/// readiness for the ``Connect`` operation, then hands the descriptor on.
private final class ConnectingSocket: DescriptorOwner {}

extension EventLoop {
    /// Connects socket `fd` (created as the backend's `wantsNonBlockingSockets` says) to
    /// `address`; the completion's result is 0 or a negated errno, or it carries the interruption
    /// (cancellation, deadline, shutdown). The caller keeps `fd` either way.
    nonisolated(nonsending) func connect(_ fd: Int32, to address: SocketAddress) async -> Completion {
        let socket = ConnectingSocket(descriptor: fd)
        do {
            try backend.attach(fd, to: socket, describing: "socket connecting to \(address)")
        } catch {
            return Completion(result: -(error.errno ?? ENOMEM), flags: 0, interruption: nil)
        }
        defer { backend.detach(fd, from: socket) }
        var pause = Duration.milliseconds(1)
        while true {
            var operation = Connect(fd, to: address)
            let completion = await backend.perform(&operation, for: socket) { _ in }
            guard completion.interruption == nil, completion.result == -EAGAIN else { return completion }
            // A UNIX listener's backlog is full; readiness does not report when it drains, so
            // retry after a short, growing pause (bounded by the caller's deadline).
            if let deadline = Deadline.current, deadline <= .now {
                return Completion(result: -ETIME, flags: 0, interruption: .timedOut)
            }
            do {
                try await Task.sleep(for: pause)
            } catch {
                return Completion(result: -ECANCELED, flags: 0, interruption: .cancelled)
            }
            // The sleep is not a loop operation: make sure the loop is still there.
            guard inLoop, !isStopping else { return Completion(result: -ECANCELED, flags: 0, interruption: .shutdown) }
            pause = min(pause * 2, .milliseconds(50))
        }
    }
}
#endif
