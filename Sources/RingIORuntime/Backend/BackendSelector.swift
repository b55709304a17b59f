#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// Chooses a backend and starts event loops on it.
///
/// `.automatic` defers to `RINGIO_BACKEND` (`io_uring`, `epoll` or `auto`) when it is set, then
/// uses io_uring if a ring can be set up and the probe finds every operation RingIO needs, and
/// epoll otherwise (ENOSYS on old kernels, EPERM from a seccomp filter or
/// `kernel.io_uring_disabled`, missing operations). An explicit `.ioUring` that cannot start is
/// an error, never a silent fallback.
enum BackendSelector {
    /// What was chosen and why, for the runtime's property and start-up log line.
    struct Choice {
        var kind: BackendKind
        var reason: String
    }

    /// Starts a loop named `name` on the backend `preference` selects.
    ///
    /// - Parameters:
    ///   - index: the loop's index in its runtime.
    ///   - faults: failures to inject (tests; empty in normal use): io_uring start-up failing as
    ///     on a locked-down machine, the thread failing to start, and the loop's own faults.
    static func startLoop(
        name: String, index: Int = 0, preference: BackendPreference, cpu: Int?, uring: URingConfiguration = URingConfiguration(),
        faults: FaultInjection = FaultInjection()
    ) throws(RingIOError) -> (EventLoop, Choice) {
        let start = LoopStart(
            name: name, cpu: cpu, faults: faults,
            threadStartError: faults.threadStartFailure.flatMap { $0.loopIndex == index ? $0.errno : nil })
        let simulatedIOUringFailure = faults.ioUringStartFailure
        var preference = preference
        var source = "requested"
        if preference == .automatic, let value = environmentValue() {
            guard let fromEnvironment = BackendPreference(rawValue: value) else {
                throw RingIOError(
                    .invalidArgument,
                    "RINGIO_BACKEND is \"\(value)\"; use one of \(BackendPreference.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            preference = fromEnvironment
            source = "requested by RINGIO_BACKEND=\(value)"
        }
        switch preference {
        case .ioUring:
            do {
                return (
                    try startURing(start, configuration: uring, simulatedFailure: simulatedIOUringFailure),
                    Choice(kind: .ioUring, reason: source)
                )
            } catch let error where error.code == .backendUnavailable {
                throw RingIOError(
                    .backendUnavailable, "io_uring was \(source) but cannot start: \(error.message)", errno: error.errno, cause: error)
            }
        case .epoll:
            return (try startEpoll(start), Choice(kind: .epoll, reason: source))
        case .automatic:
            do {
                return (
                    try startURing(start, configuration: uring, simulatedFailure: simulatedIOUringFailure),
                    Choice(kind: .ioUring, reason: "chosen automatically: io_uring starts and supports every operation RingIO needs")
                )
            } catch let error where error.code == .backendUnavailable {
                let loop = try startEpoll(start)
                return (
                    loop,
                    Choice(
                        kind: .epoll, reason: "chosen automatically because io_uring cannot start: \(error.message)\(disabledNote(error))")
                )
            }
        }
    }

    /// What every loop start needs besides its backend.
    private struct LoopStart {
        var name: String
        var cpu: Int?
        var faults: FaultInjection
        var threadStartError: Int32?
    }

    private static func startURing(
        _ start: LoopStart, configuration: URingConfiguration, simulatedFailure: RingIOError?
    ) throws(RingIOError) -> EventLoop {
        if let simulatedFailure { throw simulatedFailure }
        return try EventLoop.start(
            name: start.name, kind: .ioUring, cpu: start.cpu, faults: start.faults, threadStartError: start.threadStartError
        ) { loop throws(RingIOError) in
            try URingBackend(loop: loop, configuration: configuration)
        }
    }

    private static func startEpoll(_ start: LoopStart) throws(RingIOError) -> EventLoop {
        try EventLoop.start(
            name: start.name, kind: .epoll, cpu: start.cpu, faults: start.faults, threadStartError: start.threadStartError
        ) { loop throws(RingIOError) in try EpollBackend(loop: loop) }
    }

    private static func environmentValue() -> String? {
        guard let value = getenv("RINGIO_BACKEND") else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// Names `kernel.io_uring_disabled` when it explains an EPERM.
    private static func disabledNote(_ error: RingIOError) -> String {
        guard error.errno == EPERM, let file = fopen("/proc/sys/kernel/io_uring_disabled", "r") else { return "" }
        defer { fclose(file) }
        var value: Int32 = 0
        guard readInteger(from: file, into: &value), value != 0 else { return "" }
        return " (kernel.io_uring_disabled = \(value))"
    }

    private static func readInteger(from file: UnsafeMutablePointer<FILE>, into value: inout Int32) -> Bool {
        var line = [CChar](repeating: 0, count: 16)
        guard fgets(&line, 16, file) != nil else { return false }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let parsed = Int32(text.filter(\.isNumber)) else { return false }
        value = parsed
        return true
    }
}
#endif
