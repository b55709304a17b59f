import RingIO
import Testing

@Suite(.timeLimit(.minutes(2))) struct CancellationTests {
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

    /// A send the kernel would take at once still fails under a passed deadline or in a
    /// cancelled task, and sends nothing: the same on both backends (epoll could attempt it
    /// first and succeed).
    @Test(arguments: TestBackends.all)
    func aSendThatCouldCompleteAtOnceFailsUnderAPassedDeadlineOrCancellationAndSendsNothing(
        backend: BackendPreference
    ) async throws {
        try await withStreamPair(backend) { server, client in
            let late = await #expect(throws: RingIOError.self) {
                try await withDeadline(.now - .seconds(1)) { try await client.sendAll("late") }
            }
            #expect(late?.code == .timedOut)
            #expect(late?.bytesTransferred == 0)
            let cancelled = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await client.sendAll("cancelled")
            }
            await #expect(throws: CancellationError.self) { try await cancelled.value }
            try await client.sendAll("sent")
            #expect(text(try await server.receiveExactly(4)) == "sent")
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

extension CancellationTests {
    /// 500 receives waiting at once, all cancelled together: each ends with CancellationError,
    /// the loop stays responsive, and every stream still delivers what is sent afterwards.
    @Test(arguments: TestBackends.all)
    func aCancellationStormEndsEveryWaiterAndLosesNothing(backend: BackendPreference) async throws {
        try raiseDescriptorLimit(to: 4096)
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let pairs = try await connectedPairs(500, to: listener)
            let outcomes = await withTaskGroup(of: Bool.self) { group -> [Bool] in
                for pair in pairs {
                    group.addTask {
                        do {
                            _ = try await pair.server.receiveSome(maxBytes: 16)
                            return false
                        } catch is CancellationError {
                            return true
                        } catch {
                            return false
                        }
                    }
                }
                for pair in pairs { await eventually { await pair.server.isReceiving } }
                group.cancelAll()
                var outcomes: [Bool] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.count == 500)
            #expect(outcomes.allSatisfy { $0 }, "\(outcomes.filter { !$0 }.count) receives did not end with CancellationError")
            for (index, pair) in pairs.enumerated() { try await pair.client.sendAll("after \(index)") }
            for (index, pair) in pairs.enumerated() {
                let expected = "after \(index)"
                #expect(text(try await pair.server.receiveExactly(expected.utf8.count)) == expected)
            }
            await closeAll(pairs)
            await listener.close()
        }
    }

    /// A deadline as far away as `Duration` allows is simply never reached (it used to overflow
    /// epoll's millisecond arithmetic and crash the process).
    @Test(arguments: TestBackends.all)
    func theLongestTimeoutWaitsLikeNoTimeout(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let received = Task { try await withTimeout(.seconds(Int64.max)) { try await server.receiveExactly(4) } }
            await eventually { await server.isReceiving }
            try await client.sendAll("late")
            #expect(text(try await received.value) == "late")
        }
    }
}
