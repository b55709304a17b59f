import RingIO
import Testing

@Suite struct RuntimeTests {
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

    @Test func theRuntimeSaysWhichBackendItRunsAndWhy() throws {
        let runtime = try Runtime(backend: .automatic)
        #expect(runtime.backend == .ioUring)
        #expect(runtime.backendDescription.hasPrefix("io_uring"))
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
        _ = listener
    }
}
