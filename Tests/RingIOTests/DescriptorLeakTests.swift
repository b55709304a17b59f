import Glibc
import RingIO
import RingIOTestSupport
import Testing

@testable import RingIORuntime

/// Counts this process's descriptors, so it runs alone: `tools/test` runs it in its own
/// `swift test` invocation (other suites open sockets in parallel).
@Suite(.serialized, .timeLimit(.minutes(3))) struct DescriptorLeakTests {
    @Test(.enabled(if: TestEnvironment.isolatedRun), arguments: TestBackends.all)
    func tenThousandConnectCloseCyclesLeakNoDescriptor(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let before = openDescriptorCount()
            for _ in 0..<10_000 {
                let client = try await connectTCP(host: "127.0.0.1", port: port)
                let accepted = try await listener.accept()
                await client.close()
                await accepted.close()
            }
            #expect(openDescriptorCount() == before)
            await listener.close()
        }
    }
}

extension DescriptorLeakTests {
    @Test(.enabled(if: TestEnvironment.isolatedRun), arguments: TestBackends.all)
    func shutdownClosesSocketsNobodyClosed(backend: BackendPreference) async throws {
        let before = openDescriptorCount()
        try await runAndForgetToClose(backend)
        // The runtime object is gone too, so its eventfd is closed as well.
        #expect(openDescriptorCount() == before)
    }

    private func runAndForgetToClose(_ backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let client = try await connectTCP(host: "127.0.0.1", port: try #require(listener.port))
            let accepted = try await listener.accept()
            try await client.sendAll("never read")
            _ = accepted
        }
        await runtime.shutdown()
    }
}

enum TestEnvironment {
    /// Set by `tools/test` when it runs the descriptor-counting suite on its own.
    static let isolatedRun = getenvString("RINGIO_ISOLATED_TESTS") == "1"

    private static func getenvString(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}

extension DescriptorLeakTests {
    /// With the descriptor limit reached, the listener waits (with backoff) instead of failing
    /// or spinning, and accepts the waiting client once a descriptor is free.
    @Test(.enabled(if: TestEnvironment.isolatedRun), arguments: TestBackends.all)
    func acceptWaitsOutDescriptorExhaustionAndResumes(backend: BackendPreference) async throws {
        var original = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &original)
        let saved = original
        defer { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &original) }
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            var limit = saved
            // Room for exactly five more descriptors: two clients and their accepted ends, and a
            // third client whose accepted end does not fit.
            limit.rlim_cur = rlim_t(descriptorLimitLeaving(free: 5))
            try #require(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
            let accepted = AcceptedLog()
            let serving = Task {
                for try await stream in listener.acceptConnections() { await accepted.add(stream) }
            }
            let first = try await connectTCP(host: "127.0.0.1", port: port)
            let second = try await connectTCP(host: "127.0.0.1", port: port)
            await eventually { await accepted.count == 2 }
            let third = try await connectTCP(host: "127.0.0.1", port: port)
            // The third cannot be accepted while the limit is reached: the listener backs off.
            await eventually { await listener.resourceWaits > 0 }
            #expect(await accepted.count == 2)
            await first.close()
            await accepted.closeFirst()
            await eventually { await accepted.count == 3 }
            #expect(await accepted.count == 3)
            await listener.close()
            _ = try await serving.value
            await second.close()
            await third.close()
            await accepted.closeAll()
        }
    }
}

/// The RLIMIT_NOFILE value under which exactly `free` more descriptors can be opened.
private func descriptorLimitLeaving(free: Int) -> Int {
    var open = Set<Int>()
    if let directory = opendir("/proc/self/fd") {
        while let entry = readdir(directory) {
            let name = directoryEntryName(entry)
            if let number = Int(name) { open.insert(number) }
        }
        open.remove(Int(dirfd(directory)))
        closedir(directory)
    }
    var available = 0
    var candidate = 0
    while available < free {
        if !open.contains(candidate) { available += 1 }
        candidate += 1
    }
    return candidate
}

/// The streams an accept loop produced, for the exhaustion test.
private actor AcceptedLog {
    private var streams: [SocketStream] = []
    private var closedCount = 0
    var count: Int { streams.count }
    func add(_ stream: SocketStream) { streams.append(stream) }
    func closeFirst() async { await streams[0].close() }
    func closeAll() async { for stream in streams { await stream.close() } }
}

extension DescriptorLeakTests {
    /// A loop whose backend fails to start closes its wake-up eventfd exactly once: a second
    /// close would close whatever descriptor took the number in between.
    @Test(.enabled(if: TestEnvironment.isolatedRun))
    func aLoopThatFailsToStartClosesItsWakeDescriptorOnce() throws {
        let keeper = LoopKeeper()
        #expect(throws: RingIOError.self) {
            _ = try EventLoop.start(name: "failing loop", kind: .epoll) { loop throws(RingIOError) in
                keeper.loop = loop
                throw RingIOError(.backendUnavailable, "a backend that cannot start (simulated)")
            }
        }
        // Whatever takes the lowest free numbers now is another part of the program's descriptor.
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        keeper.loop = nil
        #expect(fcntl(ends[0], F_GETFD) >= 0, "descriptor \(ends[0]), opened after the failed start, was closed by the loop")
        #expect(fcntl(ends[1], F_GETFD) >= 0, "descriptor \(ends[1]), opened after the failed start, was closed by the loop")
        close(ends[0])
        close(ends[1])
    }
}

/// Holds a loop past its failed start. `@unchecked Sendable`: written on the loop's thread
/// before `EventLoop.start` returns (its semaphore orders the write), then only by the test.
private final class LoopKeeper: @unchecked Sendable {
    var loop: EventLoop?
}

extension DescriptorLeakTests {
    /// `connectTCP` connected, then the loop shut down before the stream was made: the
    /// descriptor used to stay open, owned by nobody. Now it is closed with the error.
    @Test(.enabled(if: TestEnvironment.isolatedRun), arguments: TestBackends.all)
    func aConnectedDescriptorWhoseStreamCannotBeMadeIsClosed(backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        await runtime.shutdown()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        let error = await #expect(throws: RingIOError.self) {
            _ = try await TCPConnector.makeStream(fd, loop: runtime.loop, fallbackRemote: .ipv4((127, 0, 0, 1), port: 1))
        }
        #expect(error?.code == .brokenResource)
        #expect(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "descriptor \(fd) is still open")
    }
}

extension DescriptorLeakTests {
    /// Connections a listener took from the kernel but nobody accepted yet (io_uring's
    /// multishot accept queues them) used to stay open at shutdown when the listener was never
    /// closed; now the loop closes them with the listener.
    @Test(.enabled(if: TestEnvironment.isolatedRun), arguments: TestBackends.all)
    func connectionsQueuedByAListenerNobodyClosedAreClosedAtShutdown(backend: BackendPreference) async throws {
        let before = openDescriptorCount()
        try await queueConnectionsAndForgetTheListener(backend)
        #expect(openDescriptorCount() == before)
    }

    private func queueConnectionsAndForgetTheListener(_ backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let first = try await connectTCP(host: "127.0.0.1", port: port)
            let accepted = try await listener.accept()
            let withoutQueued = openDescriptorCount()
            var clients: [SocketStream] = []
            for _ in 0..<3 { clients.append(try await connectTCP(host: "127.0.0.1", port: port)) }
            if backend == .ioUring {
                // The multishot accept takes them from the kernel into the listener's queue.
                await eventually { openDescriptorCount() >= withoutQueued + 6 }
            }
            for client in clients { await client.close() }
            await first.close()
            await accepted.close()
        }
        await runtime.shutdown()
    }
}

extension DescriptorLeakTests {
    /// A runtime whose second loop cannot start used to leave its first loop to a detached task,
    /// so its ring and eventfd were still open when `Runtime.init` threw. Now they are closed.
    @Test(.enabled(if: TestEnvironment.isolatedRun), arguments: TestBackends.all)
    func aRuntimeThatFailsToStartLeavesNoDescriptorBehind(backend: BackendPreference) async throws {
        let before = openDescriptorCount()
        #expect(throws: RingIOError.self) {
            _ = try Runtime(
                backend: backend, loopCount: 3, cpuAffinity: nil, faults: FaultInjection(threadStartFailure: (loopIndex: 2, errno: EAGAIN)))
        }
        #expect(openDescriptorCount() == before)
    }
}
