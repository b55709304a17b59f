#if os(Linux)
import CLiburing
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
    /// - Parameter simulatedIOUringFailure: makes io_uring start-up fail with this error, as on a
    ///   locked-down machine (the forced-fallback tests use it; `nil` in normal use).
    static func startLoop(
        name: String, preference: BackendPreference, cpu: Int?, uring: URingConfiguration = URingConfiguration(),
        simulatedIOUringFailure: RingIOError? = nil
    ) throws(RingIOError) -> (EventLoop, Choice) {
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
                    try startURing(name: name, cpu: cpu, configuration: uring, simulatedFailure: simulatedIOUringFailure),
                    Choice(kind: .ioUring, reason: source)
                )
            } catch {
                throw RingIOError(.backendUnavailable, "io_uring was \(source) but cannot start: \(error.message)", errno: error.errno)
            }
        case .epoll:
            return (try startEpoll(name: name, cpu: cpu), Choice(kind: .epoll, reason: source))
        case .automatic:
            do {
                return (
                    try startURing(name: name, cpu: cpu, configuration: uring, simulatedFailure: simulatedIOUringFailure),
                    Choice(kind: .ioUring, reason: "chosen automatically: io_uring starts and supports every operation RingIO needs")
                )
            } catch let error where error.code == .backendUnavailable {
                let loop = try startEpoll(name: name, cpu: cpu)
                return (
                    loop,
                    Choice(
                        kind: .epoll, reason: "chosen automatically because io_uring cannot start: \(error.message)\(disabledNote(error))")
                )
            }
        }
    }

    private static func startURing(
        name: String, cpu: Int?, configuration: URingConfiguration, simulatedFailure: RingIOError?
    ) throws(RingIOError) -> EventLoop {
        if let simulatedFailure { throw simulatedFailure }
        return try EventLoop.start(name: name, kind: .ioUring, cpu: cpu) { loop throws(RingIOError) in
            try URingBackend(loop: loop, configuration: configuration)
        }
    }

    private static func startEpoll(name: String, cpu: Int?) throws(RingIOError) -> EventLoop {
        try EventLoop.start(name: name, kind: .epoll, cpu: cpu) { loop throws(RingIOError) in try EpollBackend(loop: loop) }
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
