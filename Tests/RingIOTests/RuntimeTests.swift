import Glibc
import RingIO
import Testing

@Suite(.timeLimit(.minutes(2))) struct RuntimeTests {
    @Test(arguments: TestBackends.all)
    func runReturnsWhatTheBodyReturns(backend: BackendPreference) async throws {
        let result = try await RingIO.run(backend: backend) { 42 }
        #expect(result == 42)
    }

    @Test(arguments: TestBackends.all)
    func theBodyAndItsChildTasksRunOnTheLoopThread(backend: BackendPreference) async throws {
        try await RingIO.run(backend: backend) {
            #expect(EventLoop.current != nil)
            let loop = EventLoop.current
            await withTaskGroup(of: Bool.self) { group in
                group.addTask { EventLoop.current === loop }
                for await onLoop in group { #expect(onLoop) }
            }
        }
    }

    @Test func theRuntimeSaysWhichBackendItRunsAndWhy() async throws {
        let runtime = try Runtime(backend: .automatic)
        #expect(runtime.backendDescription.hasPrefix("\(runtime.backend) ("))
        #expect(runtime.backendDescription.contains("automatically") || runtime.backendDescription.contains("RINGIO_BACKEND"))
        await runtime.shutdown()
    }

    @Test(arguments: TestBackends.all)
    func shutdownFailsOperationsStillWaiting(backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        let (listener, client) = try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            return (listener, try await connectTCP(host: "127.0.0.1", port: try #require(listener.port)))
        }
        let waiting = Task { try await runtime.run { try await client.receiveSome(maxBytes: 1) } }
        await eventually { await client.isReceiving }
        await runtime.shutdown()
        let error = await #expect(throws: RingIOError.self) { try await waiting.value }
        #expect(error?.code == .brokenResource)
        let afterwards = await #expect(throws: RingIOError.self) { try await client.sendAll("late") }
        #expect(afterwards?.code == .brokenResource)
        let acceptAfterwards = await #expect(throws: RingIOError.self) { try await listener.accept() }
        #expect(acceptAfterwards?.code == .brokenResource)
        await client.close()
        await listener.close()
    }
}

/// The loop statistics `ringio bench` reports: a wait counts one suspension, a receive served from
/// the buffer none, and a call from a task that does not prefer the loop one hop.
@Suite(.timeLimit(.minutes(2))) struct LoopStatisticsTests {
    @Test(arguments: TestBackends.all)
    func aWaitingReceiveSuspendsOnceAndABufferedOneNotAtAll(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let loop = try Runtime.currentLoop()
            let before = await loop.statistics
            async let received = server.receiveExactly(1)
            await eventually { await server.isReceiving }
            try await client.sendAll("xyz")
            #expect(text(try await received) == "x")
            #expect((await loop.statistics - before).suspensions >= 1)
            // "yz" arrived with "x" (one send, one segment): it is buffered, in the stream or in
            // the socket, and the next receive takes it without waiting.
            let buffered = await loop.statistics
            #expect(text(try await server.receiveExactly(2)) == "yz")
            #expect(await loop.statistics - buffered == LoopStatistics())
        }
    }

    @Test(arguments: TestBackends.all)
    func aCallFromATaskThatDoesNotPreferTheLoopIsOneHop(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let loop = try Runtime.currentLoop()
            let before = await loop.statistics
            try await Task.detached { try await client.sendAll("a") }.value
            let after = await loop.statistics
            // The detached send hopped once; the two reads of the statistics hop too, as they
            // run off the loop. Reading them from the loop's own task does not.
            #expect((after - before).hops >= 1)
            let onLoop = await loop.statistics
            _ = try await server.receiveExactly(1)
            #expect((await loop.statistics - onLoop).hops == 0)
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct BackendSelectionTests {
    /// What io_uring_setup reports under a seccomp profile that denies it.
    private let denied = RingIOError(.backendUnavailable, "io_uring_setup failed: operation not permitted (EPERM)", errno: 1)

    @Test func automaticSelectionFallsBackToEpollWhenIOUringCannotStart() async throws {
        let runtime = try Runtime(backend: .automatic, cpuAffinity: nil, faults: FaultInjection(ioUringStartFailure: denied))
        #expect(runtime.backend == .epoll)
        #expect(runtime.backendDescription.contains("io_uring cannot start: io_uring_setup failed: operation not permitted (EPERM)"))
        let echoed = try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let client = try await connectTCP(host: "127.0.0.1", port: try #require(listener.port))
            let server = try await listener.accept()
            try await client.sendAll("via epoll")
            let received = try await server.receiveExactly(9)
            await client.close()
            await server.close()
            await listener.close()
            return text(received)
        }
        #expect(echoed == "via epoll")
        await runtime.shutdown()
    }

    @Test func anExplicitIOUringRequestThatCannotStartIsAnError() throws {
        let error = #expect(throws: RingIOError.self) {
            _ = try Runtime(backend: .ioUring, cpuAffinity: nil, faults: FaultInjection(ioUringStartFailure: denied))
        }
        #expect(error?.code == .backendUnavailable)
        #expect(error?.message == "io_uring was requested but cannot start: io_uring_setup failed: operation not permitted (EPERM)")
        let cause = error?.cause as? RingIOError
        #expect(cause?.errno == EPERM, "the start-up failure is kept as the cause")
    }

    @Test func epollCanBeRequestedExplicitly() async throws {
        let runtime = try Runtime(backend: .epoll)
        #expect(runtime.backend == .epoll)
        #expect(runtime.backendDescription.hasPrefix("epoll (requested"))
        await runtime.shutdown()
    }
}

/// Calls RingIO from an actor's own executor, off every loop.
private actor LineClient {
    private var lines: [String] = []

    func exchange(port: Int, _ line: String) async throws -> [String] {
        let client = try await connectTCP(host: "127.0.0.1", port: port)
        try await client.sendAll(line + "\n")
        lines.append(text(try await client.receiveUntil("\n", maxBytes: 100)))
        await client.close()
        return lines
    }
}

extension RuntimeTests {
    /// Stream operations run on the caller's executor until they reach the loop: from an actor
    /// they must still hop to the loop (not run the loop's work on the actor), and come back.
    @Test(arguments: TestBackends.all)
    func streamsCanBeUsedFromAnActor(backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        let listener = try await runtime.run { try await createTCPServer(port: 0, host: "127.0.0.1") }
        let serving = Task {
            try await runtime.run {
                try await listener.serve { try await $0.sendAll(try await $0.receiveUntil("\n", maxBytes: 100) + Array("\n".utf8)) }
            }
        }
        let client = LineClient()
        #expect(try await client.exchange(port: try #require(listener.port), "one") == ["one"])
        #expect(try await client.exchange(port: try #require(listener.port), "two") == ["one", "two"])
        await listener.close()
        try await serving.value
        await runtime.shutdown()
    }
}
