import Glibc
import RingIO
import Testing

/// `SocketListener.serve` and graceful shutdown: stop accepting, let open connections finish up
/// to a deadline, then close them.
@Suite(.timeLimit(.minutes(2))) struct ServeTests {
    /// Echoes one line per connection.
    private static let echoLine: @Sendable (SocketStream) async throws -> Void = { stream in
        let line = try await stream.receiveUntil("\n", maxBytes: 1024)
        try await stream.sendAll(Array(line) + Array("\n".utf8))
    }

    @Test(arguments: TestBackends.all)
    func serveHandlesEachClientAndClosesItsStream(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let serving = Task { try await listener.serve(Self.echoLine) }
            for index in 0..<3 {
                let client = try await connectTCP(host: "127.0.0.1", port: port)
                try await client.sendAll("hello \(index)\n")
                #expect(text(try await client.receiveUntil("\n", maxBytes: 100)) == "hello \(index)")
                // serve closed the stream when the handler returned.
                let end = await #expect(throws: RingIOError.self) { try await client.receiveSome() }
                #expect(end?.code == .endOfStream)
                await client.close()
            }
            await listener.close()
            try await serving.value
        }
    }

    /// One transient accept error (EPERM from a firewall rule, EPROTO, a network error), or one
    /// connection whose set-up failed, used to end `serve` and close every connection. Now
    /// each drops only its own connection, and the next client is served.
    @Test(arguments: TestBackends.all)
    func transientAcceptErrorsDropOnlyTheirOwnConnection(backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let serving = Task {
                try await listener.serve { stream in
                    while true { try await stream.sendAll(Array(try await stream.receiveUntil("\n", maxBytes: 1024)) + [10]) }
                }
            }
            let early = try await connectTCP(host: "127.0.0.1", port: port)
            try await early.sendAll("one\n")
            #expect(text(try await early.receiveUntil("\n", maxBytes: 100)) == "one")
            try await runtime.loop.injectFaults {
                $0.acceptResults = [-EPROTO, -EPERM, -ENETUNREACH, -ECONNABORTED, -EINTR]
                $0.streamSetupFailures = 1
            }
            // Five connections meet the injected accept errors, the sixth a failed set-up.
            for _ in 0..<6 {
                let dropped = try await connectTCP(host: "127.0.0.1", port: port)
                await #expect(throws: RingIOError.self) { try await dropped.receiveSome() }
                await dropped.close()
            }
            let client = try await connectTCP(host: "127.0.0.1", port: port)
            try await client.sendAll("still serving\n")
            #expect(text(try await client.receiveUntil("\n", maxBytes: 100)) == "still serving")
            try await early.sendAll("two\n")
            #expect(text(try await early.receiveUntil("\n", maxBytes: 100)) == "two")
            await client.close()
            await early.close()
            await listener.close()
            try await serving.value
        }
        await runtime.shutdown()
    }

    @Test(arguments: TestBackends.all)
    func aFailingHandlerEndsOnlyItsOwnConnection(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let serving = Task {
                try await listener.serve { stream in
                    let line = try await stream.receiveUntil("\n", maxBytes: 1024)
                    if text(line) == "bad" { throw RingIOError(.invalidArgument, "the test's handler rejects \"bad\"") }
                    try await stream.sendAll(Array(line) + Array("\n".utf8))
                }
            }
            let bad = try await connectTCP(host: "127.0.0.1", port: port)
            try await bad.sendAll("bad\n")
            let refused = await #expect(throws: RingIOError.self) { try await bad.receiveSome() }
            #expect(refused?.code == .endOfStream)
            let good = try await connectTCP(host: "127.0.0.1", port: port)
            try await good.sendAll("good\n")
            #expect(text(try await good.receiveUntil("\n", maxBytes: 100)) == "good")
            await bad.close()
            await good.close()
            await listener.close()
            try await serving.value
        }
    }

    @Test(arguments: TestBackends.all)
    func aSecondServeOnTheSameListenerIsBusy(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let serving = Task { try await listener.serve(Self.echoLine) }
            await eventually { await listener.isAccepting }
            let error = await #expect(throws: RingIOError.self) { try await listener.serve(Self.echoLine) }
            #expect(error?.code == .busyResource)
            await listener.close()
            try await serving.value
        }
    }

    /// A connection in the middle of its exchange finishes during the grace period; the listener
    /// stops accepting at once; shutdown returns when the last handler has returned.
    @Test(arguments: TestBackends.all)
    func gracefulShutdownLetsOpenConnectionsFinish(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let serving = Task { try await listener.serve(Self.echoLine) }
            let client = try await connectTCP(host: "127.0.0.1", port: port)
            await eventually { listener.servedConnectionCount == 1 }
            let stopping = Task { await listener.shutdown(gracePeriod: .seconds(60)) }
            await eventually { listener.isShuttingDown }
            // The open connection still gets its answer.
            try await client.sendAll("finish me\n")
            #expect(text(try await client.receiveUntil("\n", maxBytes: 100)) == "finish me")
            await stopping.value
            try await serving.value
            // Nobody listens any more.
            let refused = await #expect(throws: RingIOError.self) { try await connectTCP(host: "127.0.0.1", port: port) }
            #expect(refused?.code == .connectionRefused)
            await client.close()
        }
    }

    /// A connection still open when the grace period ends is closed: its handler's pending
    /// receive throws `.closedResource`, and the client sees the end of the stream.
    @Test(arguments: TestBackends.all)
    func connectionsStillOpenAfterTheGracePeriodAreClosed(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let handlerEnded = AsyncStream<RingIOError.Code?>.makeStream()
            let serving = Task {
                try await listener.serve { stream in
                    do {
                        _ = try await stream.receiveSome()
                        handlerEnded.continuation.yield(nil)
                    } catch let error as RingIOError {
                        handlerEnded.continuation.yield(error.code)
                    }
                }
            }
            let client = try await connectTCP(host: "127.0.0.1", port: port)
            await eventually { listener.servedConnectionCount == 1 }
            await listener.shutdown(gracePeriod: .milliseconds(50))
            try await serving.value
            var codes = handlerEnded.stream.makeAsyncIterator()
            #expect(await codes.next() == .closedResource)
            let end = await #expect(throws: RingIOError.self) { try await client.receiveSome() }
            #expect(end?.code == .endOfStream)
            await client.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func cancellingServeClosesEveryConnection(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let serving = Task { try await listener.serve { stream in _ = try await stream.receiveSome() } }
            let client = try await connectTCP(host: "127.0.0.1", port: port)
            await eventually { listener.servedConnectionCount == 1 }
            serving.cancel()
            await #expect(throws: CancellationError.self) { try await serving.value }
            let end = await #expect(throws: RingIOError.self) { try await client.receiveSome() }
            #expect(end?.code == .endOfStream)
            await client.close()
            await listener.close()
        }
    }

    /// A handler that shuts its own server down (a "quit" command) does not wait for `serve`,
    /// which waits for that handler: both return.
    @Test(arguments: TestBackends.all)
    func aHandlerCanShutItsOwnServerDown(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let serving = Task {
                try await listener.serve { stream in
                    _ = try await stream.receiveUntil("\n", maxBytes: 100)
                    await listener.shutdown(gracePeriod: .seconds(60))
                    try await stream.sendAll("bye\n")
                }
            }
            let client = try await connectTCP(host: "127.0.0.1", port: try #require(listener.port))
            try await client.sendAll("quit\n")
            #expect(text(try await client.receiveUntil("\n", maxBytes: 100)) == "bye")
            try await serving.value
            await client.close()
        }
    }

    /// A second, shorter shutdown shortens the grace period of one already under way.
    @Test(arguments: TestBackends.all)
    func aShorterSecondShutdownCutsTheGracePeriod(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let serving = Task { try await listener.serve { stream in _ = try await stream.receiveSome() } }
            let client = try await connectTCP(host: "127.0.0.1", port: try #require(listener.port))
            await eventually { listener.servedConnectionCount == 1 }
            let patient = Task { await listener.shutdown(gracePeriod: .seconds(3600)) }
            await eventually { listener.isShuttingDown }
            await listener.shutdown(gracePeriod: .zero)
            await patient.value
            try await serving.value
            let end = await #expect(throws: RingIOError.self) { try await client.receiveSome() }
            #expect(end?.code == .endOfStream)
            await client.close()
        }
    }
}
