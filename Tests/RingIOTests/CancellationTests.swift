import RingIO
import Testing

@Suite struct CancellationTests {
    @Test(arguments: TestBackends.all)
    func cancellingAPendingReceiveThrowsCancellationErrorAndLosesNothing(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let waiting = Task { try await server.receiveSome(maxBytes: 10) }
            await eventually { await server.isReceiving }
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            try await client.sendAll("after")
            let after = try await server.receiveExactly(5)
            #expect(text(after) == "after")
        }
    }

    @Test(arguments: TestBackends.all)
    func cancellingAPendingAcceptThrowsCancellationErrorAndTheListenerGoesOn(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let waiting = Task { try await listener.accept() }
            await eventually { await listener.isAccepting }
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            let client = try await connectTCP(host: "127.0.0.1", port: try #require(listener.port))
            let accepted = try await listener.accept()
            await accepted.close()
            await client.close()
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func aReceiveTimeoutThrowsTimedOutAndLaterBytesStillArrive(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let error = await #expect(throws: RingIOError.self) {
                try await withTimeout(.milliseconds(20)) { try await server.receiveSome(maxBytes: 10) }
            }
            #expect(error?.code == .timedOut)
            try await client.sendAll("late")
            let late = try await server.receiveExactly(4)
            #expect(text(late) == "late")
        }
    }

    @Test(arguments: TestBackends.all)
    func anAcceptTimeoutThrowsTimedOut(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let error = await #expect(throws: RingIOError.self) {
                try await withTimeout(.milliseconds(20)) { try await listener.accept() }
            }
            #expect(error?.code == .timedOut)
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func aSendTimeoutReportsExactlyHowMuchThePeerReceives(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let error = await #expect(throws: RingIOError.self) {
                try await withTimeout(.milliseconds(50)) { try await client.sendAll([UInt8](repeating: 7, count: 64 << 20)) }
            }
            #expect(error?.code == .timedOut)
            let reported = try #require(error?.bytesTransferred)
            #expect(reported < 64 << 20)
            await client.close()
            var received = 0
            for try await chunk in server.receiveChunks() { received += chunk.count }
            #expect(received == reported)
        }
    }

    @Test(arguments: TestBackends.all)
    func aDeadlineAlreadyPassedFailsWithoutWaiting(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("x")
            let error = await #expect(throws: RingIOError.self) {
                try await withDeadline(.now - .seconds(1)) { try await server.receiveExactly(2) }
            }
            #expect(error?.code == .timedOut)
        }
    }

    @Test(arguments: TestBackends.all)
    func anOperationThatFinishesBeforeItsDeadlineSucceeds(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("ok")
            let received = try await withTimeout(.seconds(30)) { try await server.receiveExactly(2) }
            #expect(text(received) == "ok")
        }
    }
}
