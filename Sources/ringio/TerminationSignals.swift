import Dispatch
import Glibc

/// Calls `stop` once when the process gets SIGINT or SIGTERM, so a server can close its
/// listener, let its handlers finish, shut its runtime down and exit 0 (a UNIX server's socket
/// file is removed when its listener closes). Keep the value alive while serving.
///
/// A C signal handler may only do async-signal-safe work, so it writes the signal number to a
/// pipe (the self-pipe trick); a Dispatch worker blocks reading that pipe and starts `stop`.
final class TerminationSignals: Sendable {
    /// The pipe the handler writes to: created before any handler is installed.
    private static let pipeEnds: (read: Int32, write: Int32) = {
        var ends: [Int32] = [-1, -1]
        // pipe(2) writes two descriptors into the two-element array it is lent; the handler
        // and the reader pass one-byte locals to write(2) and read(2).
        precondition(unsafe pipe(&ends) == 0, "pipe for signal handling failed: errno \(errno)")
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return (ends[0], ends[1])
    }()

    init(_ stop: @escaping @Sendable () async -> Void) {
        let ends = Self.pipeEnds
        for number in [SIGINT, SIGTERM] {
            _ = signal(number) { received in
                var byte = UInt8(truncatingIfNeeded: received)
                _ = unsafe write(TerminationSignals.pipeEnds.write, &byte, 1)
            }
        }
        DispatchQueue.global().async {
            var byte: UInt8 = 0
            while unsafe read(ends.read, &byte, 1) < 0 && errno == EINTR {}
            Task { await stop() }
        }
    }

    /// Restores the default actions (the server ended by itself).
    func cancel() {
        _ = signal(SIGINT, SIG_DFL)
        _ = signal(SIGTERM, SIG_DFL)
    }
}
