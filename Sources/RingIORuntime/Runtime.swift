#if os(Linux)
import CLiburing
import Glibc
public import RingIOCore
import Synchronization

/// Which backend a ``Runtime`` should use.
public enum BackendPreference: String, Sendable, CaseIterable {
    /// io_uring when this machine can run it, else the readiness-based fallback.
    case automatic = "auto"
    /// io_uring, or fail with `.backendUnavailable` saying why not.
    case ioUring = "io_uring"
}

/// A set of event loops (one today; one per core later) and the backend they run.
///
/// Most programs never create one: ``run(backend:_:)`` in the `RingIO` module makes one for
/// its body, and functions called outside any runtime use a shared one created on first use.
public final class Runtime: Sendable {
    /// The backend the loops run.
    public let backend: BackendKind
    /// Why this backend was chosen and which kernel features it uses.
    public let backendDescription: String
    /// The event loops.
    public let loops: [EventLoop]

    /// Starts a runtime.
    ///
    /// - Parameters:
    ///   - backend: which backend to use.
    ///   - cpuAffinity: a CPU to pin the loop thread to (benchmarks pin server and load apart).
    /// - Throws: ``RingIOError`` `.backendUnavailable` when the requested backend cannot start.
    public init(backend preference: BackendPreference = .automatic, cpuAffinity: Int? = nil) throws(RingIOError) {
        let loop = try EventLoop.start(name: "RingIO loop 0", kind: .ioUring, cpu: cpuAffinity) { loop throws(RingIOError) in
            try URingBackend(loop: loop)
        }
        self.loops = [loop]
        self.backend = .ioUring
        let features = loop.features.isEmpty ? "no optional features" : loop.features.joined(separator: ", ")
        let reason = preference == .automatic ? "chosen automatically" : "requested"
        self.backendDescription = "io_uring (\(reason); \(features))"
    }

    /// The loop new connections and listeners are placed on.
    public var loop: EventLoop { loops[0] }

    /// Runs `body` on this runtime's loop (as the task's executor preference).
    public func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(loop) { try await body() }
    }

    /// Stops every loop: operations still waiting fail with `.brokenResource`; returns when the
    /// loop threads have exited. Call it from outside the runtime's loops.
    public func shutdown() async {
        for loop in loops { await loop.shutdown() }
    }

    private static let sharedRuntime = Mutex<Runtime?>(nil)

    /// The process-wide runtime used when code runs outside any runtime's loop; created on first use.
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
}
#endif
