#if os(Linux)
import CRingIOSystem
import Glibc
import Logging
public import RingIOCore

/// Which backend a ``Runtime`` should use.
///
/// Frozen: no case is added before a major version, so a `switch` over it may be exhaustive (a
/// new kernel interface would come with a new major version, as it changes what a runtime can be).
public enum BackendPreference: String, Sendable, CaseIterable {
    /// io_uring where this machine can run it, else epoll. Defers to the environment variable
    /// `RINGIO_BACKEND` (`io_uring`, `epoll` or `auto`) when that is set.
    case automatic = "auto"
    /// io_uring, or fail with `.backendUnavailable` saying why not.
    case ioUring = "io_uring"
    /// The readiness-based epoll backend.
    case epoll
}

/// A set of event loops and the backend they run.
///
/// Most programs never create one: `run(backend:_:)` in the `RingIO` module makes one for its
/// body, and functions called outside any runtime use ``shared()``, created on first use.
/// Starting a runtime logs one line (swift-log, label `RingIO`, level info) naming the backend
/// and why it was chosen.
public final class Runtime: Sendable {
    /// The backend the loops run.
    public let backend: BackendKind
    /// Why this backend was chosen and which kernel features it uses, e.g.
    /// `epoll (chosen automatically because io_uring cannot start: ...)`.
    public let backendDescription: String
    /// The event loops.
    public let loops: [EventLoop]

    /// Starts a runtime.
    ///
    /// - Parameters:
    ///   - backend: which backend to use.
    ///   - loopCount: how many event loops (threads, each with its own ring) to start; a server
    ///     uses several by listening on each loop with `reusePort: true` (see `ringio echo-server --threads`).
    ///   - cpuAffinity: pin loop *i* to CPU `cpuAffinity + i` (modulo the CPU count); benchmarks
    ///     pin server and load apart.
    ///   - uring: ring and provided-buffer sizes for io_uring loops (ignored on epoll).
    /// - Throws: ``RingIOError`` `.backendUnavailable` when an explicitly requested backend
    ///   cannot start; `.invalidArgument` when `RINGIO_BACKEND` holds an unknown name,
    ///   `loopCount` is below 1 or a value of `uring` is out of range (the message names it).
    public convenience init(
        backend: BackendPreference = .automatic, loopCount: Int = 1, cpuAffinity: Int? = nil,
        uring: URingConfiguration = URingConfiguration()
    ) throws(RingIOError) {
        try self.init(backend: backend, loopCount: loopCount, cpuAffinity: cpuAffinity, uring: uring, faults: FaultInjection())
    }

    /// Starts a runtime with `faults` injected (tests): io_uring start-up failing as on a machine
    /// whose seccomp profile denies `io_uring_setup`, a loop thread failing to start, and
    /// failures inside each loop.
    package init(
        backend preference: BackendPreference, loopCount: Int = 1, cpuAffinity: Int?,
        uring: URingConfiguration = URingConfiguration(), faults: FaultInjection
    ) throws(RingIOError) {
        guard loopCount >= 1 else { throw RingIOError(.invalidArgument, "Runtime: loopCount \(loopCount) must be at least 1") }
        try uring.validate()
        let cpus = max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
        func cpu(_ index: Int) -> Int? { cpuAffinity.map { ($0 + index) % cpus } }
        let (loop, choice) = try BackendSelector.startLoop(
            name: "RingIO loop 0", preference: preference, cpu: cpu(0), uring: uring, faults: faults)
        var loops = [loop]
        // The other loops run the backend the first one settled on.
        let sameKind: BackendPreference = choice.kind == .ioUring ? .ioUring : .epoll
        for index in 1..<loopCount {
            do {
                loops.append(
                    try BackendSelector.startLoop(
                        name: "RingIO loop \(index)", index: index, preference: sameKind, cpu: cpu(index), uring: uring, faults: faults
                    ).0)
            } catch {
                // Nothing runs on them yet: stop them and wait for their threads before throwing,
                // so a failed `Runtime.init` leaves no thread or descriptor behind.
                for started in loops { started.stopAndJoin() }
                throw error
            }
        }
        self.loops = loops
        self.backend = choice.kind
        let features = loop.features.isEmpty ? "" : "; " + loop.features.joined(separator: ", ")
        self.backendDescription = "\(choice.kind) (\(choice.reason)\(features))"
        Logger(label: "RingIO").info(
            "RingIO runtime started",
            metadata: [
                "backend": "\(choice.kind)", "reason": "\(choice.reason)", "features": "\(loop.features)", "loops": "\(loopCount)",
            ])
    }

    /// Why `backend` cannot start on this machine, or `nil` when it can (checked without
    /// starting a runtime).
    package static func unavailableReason(_ backend: BackendPreference) -> String? {
        switch backend {
        case .ioUring: return URingBackend.unavailableReason()
        case .epoll, .automatic: return nil
        }
    }

    /// The loop new connections and listeners are placed on.
    public var loop: EventLoop { loops[0] }

    /// Runs `body` on this runtime's loop (as the task's executor preference).
    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(loop) { try await body() }
    }

    /// Stops every loop: operations still waiting fail with `.brokenResource`; returns when the
    /// loop threads have exited.
    ///
    /// It may be called from a task on one of the runtime's loops too (inside ``run(_:)`` or a
    /// connection handler): that task resumes on the global executor once the loops are gone.
    public func shutdown() async {
        for loop in loops { await loop.shutdown() }
    }

    private static let sharedRuntime = Lock<Runtime?>(nil)

    /// The process-wide runtime used when code runs outside any runtime's loop; created on
    /// first use with the automatic backend choice.
    public static func shared() throws(RingIOError) -> Runtime {
        try sharedRuntime.withLock { (runtime: inout Runtime?) throws(RingIOError) -> Runtime in
            if let runtime { return runtime }
            let created = try Runtime()
            runtime = created
            return created
        }
    }

    /// The loop of the calling thread if it is one, else the shared runtime's loop.
    package static func currentLoop() throws(RingIOError) -> EventLoop {
        if let loop = EventLoop.current { return loop }
        return try shared().loop
    }

    /// Every loop's ``EventLoop/statistics``, summed.
    package var statistics: LoopStatistics {
        get async {
            var total = LoopStatistics()
            for loop in loops { total += await loop.statistics }
            return total
        }
    }
}
#endif
