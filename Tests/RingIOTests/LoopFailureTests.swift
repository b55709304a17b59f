import Glibc
import RingIO
import Testing

/// What used to crash the process, reachable from the public API or from kernel results: each
/// now works or fails with a named error. Kernel results that cannot be arranged on demand (a
/// submission queue the kernel refuses, dropped completions, pthread_create failing) are
/// injected with `FaultInjection` at the point where the kernel would report them.
@Suite(.timeLimit(.minutes(2))) struct LoopFailureTests {
    static let ioUring: [BackendPreference] = TestBackends.all.filter { $0 == .ioUring }

    /// `Runtime.shutdown()` from a task on the runtime's own loop used to stop the process on a
    /// precondition; now the loop stops and the task resumes once it has.
    @Test(arguments: TestBackends.all)
    func shutdownFromATaskOnTheLoopStopsTheRuntime(backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            await runtime.shutdown()
            let error = await #expect(throws: RingIOError.self) { _ = try await listener.accept() }
            #expect(error?.code == .brokenResource)
        }
    }

    /// The same from a connection handler inside `serve`: `serve` ends, nothing hangs.
    @Test(arguments: TestBackends.all)
    func shutdownFromAConnectionHandlerStopsTheRuntime(backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try? await listener.serve { _ in await runtime.shutdown() }
                }
                let client = try await connectTCP(host: "127.0.0.1", port: port)
                try await group.waitForAll()
                await client.close()
            }
        }
    }

    /// A loop thread that cannot start (pthread_create failing, as when the process is out of
    /// threads) used to stop the process on a precondition; now `Runtime` throws, naming it,
    /// and the loops already started are stopped.
    @Test(arguments: [0, 1])
    func aLoopThreadThatCannotStartIsAnError(failingLoop: Int) async throws {
        let error = #expect(throws: RingIOError.self) {
            _ = try Runtime(
                backend: .epoll, loopCount: 2, cpuAffinity: nil,
                faults: FaultInjection(threadStartFailure: (loopIndex: failingLoop, errno: EAGAIN)))
        }
        #expect(error?.errno == EAGAIN)
        let expected = "start the thread of RingIO loop \(failingLoop) (pthread_create): "
        #expect(error?.message.hasPrefix(expected) == true, "\(String(describing: error))")
    }

    /// A full submission queue the kernel will not take (EBUSY while completions wait for room,
    /// as older kernels report) used to stop the process on a precondition; now the completion
    /// queue is emptied to make room, the submit is retried, and nothing is lost.
    @Test(arguments: Self.ioUring)
    func aFullSubmissionQueueTheKernelRefusesLosesNoCompletion(backend: BackendPreference) async throws {
        let runtime = try Runtime(
            backend: backend, cpuAffinity: nil, uring: URingConfiguration(submissionEntries: 4, completionEntries: 8),
            faults: FaultInjection(fullQueueSubmitResults: Array(repeating: -EBUSY, count: 200)))
        try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let pairs = try await connectedPairs(16, to: listener)
            let message = patternBytes(512)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for pair in pairs {
                    group.addTask {
                        for _ in 0..<20 { try await pair.server.sendAll(try await pair.server.receiveExactly(message.count)) }
                    }
                    group.addTask {
                        for _ in 0..<20 {
                            try await pair.client.sendAll(message)
                            #expect(sameBytes(try await pair.client.receiveExactly(message.count), message))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let counters = await runtime.loop.backendCounters
            #expect(counters.fullSubmissionQueueRetries > 0, "the submission queue never filled, so the test proved nothing")
            await closeAll(pairs)
            await listener.close()
        }
        await runtime.shutdown()
    }

    /// The kernel interface failing for good (io_uring_enter: EBADR, completions dropped;
    /// epoll_wait: EBADF) used to stop the process on a precondition. Now the loop stops: a
    /// task waiting on it fails with `.brokenResource` saying why, and the runtime shuts down.
    @Test(arguments: TestBackends.all)
    func aFailedKernelInterfaceStopsTheLoopWithANamedError(backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        let loop = runtime.loop
        let client = try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let client = try await connectTCP(host: "127.0.0.1", port: try #require(listener.port))
            let server = try await listener.accept()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let error = await #expect(throws: RingIOError.self) { _ = try await server.receiveSome() }
                    #expect(error?.code == .brokenResource)
                    #expect(error?.message.contains("the event loop stopped because its kernel interface failed") == true)
                }
                await eventually { await server.isReceiving }
                try await loop.injectFaults { $0.enterResults = [backend == .ioUring ? -EBADR : -EBADF] }
                try await group.waitForAll()
            }
            return client
        }
        await runtime.shutdown()
        let error = await #expect(throws: RingIOError.self) { try await client.sendAll("after") }
        #expect(error?.code == .brokenResource)
    }

    /// Completions the kernel dropped before reporting EBADR: the operations that lost theirs
    /// would wait for ever, so the stopping loop gives them up after a second; every task ends.
    @Test(arguments: Self.ioUring)
    func operationsWhoseCompletionsWereDroppedAreGivenUp(backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        let loop = runtime.loop
        try await runtime.run {
            let receiver = try await createUDPSocket(host: "127.0.0.1", port: 0)
            let sender = try await createUDPSocket(host: "127.0.0.1", port: 0)
            let target = Int(try #require(receiver.localAddress.port))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try? await receiver.receive() }
                await eventually { await receiver.isReceiving }
                try await loop.injectFaults { $0.droppedCompletions = 1 }
                group.addTask { try? await sender.send("lost", host: "127.0.0.1", port: target) }
                // Whichever completion came first was dropped: the send's or the receive's.
                try await loop.injectFaults { $0.enterResults = [-EBADR] }
                try await group.waitForAll()
            }
        }
        await runtime.shutdown()
    }
}
