import RingIO
import RingIOTestSupport
import Testing

@Suite(.timeLimit(.minutes(2))) struct TLSRobustnessTests {
    @Test(arguments: TestBackends.all)
    func closingWhileASendIsStuckReturnsAndFailsTheSender(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { _, client in
            try await withThrowingTaskGroup(of: RingIOError.Code?.self) { group in
                // The server never reads, so this send fills the socket buffers and waits.
                group.addTask {
                    do {
                        try await client.sendAll([UInt8](repeating: 1, count: 64 << 20))
                        return nil
                    } catch let error as RingIOError {
                        return error.code
                    }
                }
                await eventually { await client.isSending }
                await client.close()
                let code = try await group.next()
                #expect(code == .closedResource)
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func aClientThatNeverHandshakesIsBoundedByTheServersDeadline(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        try await withTestRuntime(backend) {
            let listener = try await tlsTestListener(serverContext)
            let silent = try await connectTCP(host: "127.0.0.1", port: try #require(listener.port))
            let stream = try await listener.accept()
            let error = await #expect(throws: RingIOError.self) {
                try await withTimeout(.milliseconds(50)) { try await stream.receiveSome() }
            }
            #expect(error?.code == .timedOut)
            await silent.close()
            await stream.close()
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func aSecondConcurrentTLSSenderIsBusy(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await tlsTestListener(serverContext)
            async let accepted = listener.accept()
            let client = try await connectTCP(host: "localhost", port: try #require(listener.port), tlsContext: Optional(clientContext))
            let server = try await accepted
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.sendAll([UInt8](repeating: 2, count: 32 << 20)) }
                await eventually { await client.isSending }
                let error = await #expect(throws: RingIOError.self) { try await client.sendAll("x") }
                #expect(error?.code == .busyResource)
                _ = try await server.receiveExactly(32 << 20)
                try await group.waitForAll()
            }
            await client.close()
            await server.close()
            await listener.close()
        }
    }

    /// sendEOF while another task's large send is under way would queue close_notify behind the
    /// send's first records and end the peer's stream early: it is refused instead (found by fuzzing).
    @Test(arguments: TestBackends.all)
    func sendEOFDuringASendIsBusyAndCutsNothingShort(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { server, client in
            let payload = patternBytes(8 << 20)
            let sending = Task { try await client.sendAll(payload) }
            await eventually { await client.isSending }
            let refused = await #expect(throws: RingIOError.self) { try await client.sendEOF() }
            #expect(refused?.code == .busyResource)
            // Every byte of the send still arrives; then sendEOF goes through.
            #expect(sameBytes(try await server.receiveExactly(payload.count), payload))
            try await sending.value
            try await client.sendEOF()
            let end = await #expect(throws: RingIOError.self) { try await server.receiveSome() }
            #expect(end?.code == .endOfStream)
        }
    }

    /// A client that connects and never sends a ClientHello is closed once the listener's
    /// handshakeTimeout has passed; a client served meanwhile goes on, and later ones are served.
    @Test(arguments: TestBackends.all)
    func aClientThatNeverHandshakesIsClosedAfterTheHandshakeTimeout(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(
                // Long enough for the real clients' handshakes on a loaded machine under a
                // sanitizer, far shorter than the watchdogs.
                port: 0, host: "127.0.0.1", tlsContext: serverContext, handshakeTimeout: .seconds(3))
            let port = try #require(listener.port)
            let serving = Task {
                try await listener.serve { stream in
                    while true {
                        let line = try await stream.receiveUntil("\n", maxBytes: 100)
                        try await stream.sendAll(text(line) + "\n")
                    }
                }
            }
            func echo(_ client: some ByteStream, _ line: String) async throws -> String {
                try await withTimeout(.seconds(20)) {
                    try await client.sendAll(line + "\n")
                    return text(try await client.receiveUntil("\n", maxBytes: 100))
                }
            }
            let served = try await connectTCP(host: "localhost", port: port, tlsContext: clientContext)
            #expect(try await echo(served, "before") == "before")
            // Plain TCP: it never starts the handshake. The 20 s limit is a watchdog, far beyond 3 s.
            let silent = try await connectTCP(host: "127.0.0.1", port: port)
            let end = await #expect(throws: RingIOError.self) {
                try await withTimeout(.seconds(20)) { try await silent.receiveSome() }
            }
            try #require(
                end?.code == .endOfStream || end?.code == .connectionReset,
                "the silent client's connection was not closed by the server: \(String(describing: end))")
            // Its connection is gone from the server; the one being served is not.
            await eventually { listener.servedConnectionCount == 1 }
            #expect(try await echo(served, "after") == "after")
            let later = try await connectTCP(host: "localhost", port: port, tlsContext: clientContext)
            #expect(try await echo(later, "later") == "later")
            await silent.close()
            await served.close()
            await later.close()
            await listener.close()
            try await serving.value
        }
    }

    /// Receives that time out while the handshake is still running leave no waiter behind.
    @Test(arguments: TestBackends.all)
    func handshakeWaitsThatTimeOutAreNotKept(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(
                port: 0, host: "127.0.0.1", tlsContext: Optional(serverContext), handshakeTimeout: testHandshakeTimeout)
            let silent = try await connectTCP(host: "127.0.0.1", port: try #require(listener.port))
            let stream = try await listener.accept()
            for _ in 0..<20 {
                let error = await #expect(throws: RingIOError.self) {
                    try await withTimeout(.milliseconds(5)) { try await stream.receiveSome() }
                }
                #expect(error?.code == .timedOut)
            }
            #expect(await stream.tlsHandshakeWaiterCount == 0)
            await silent.close()
            await stream.close()
            await listener.close()
        }
    }
}
