import RingIO
import Testing

/// A descriptor number lives until every operation naming it has completed: a close from a
/// cancelled task or under an expired deadline is still an ordered, awaited close.
@Suite(.timeLimit(.minutes(2))) struct CloseOrderingTests {
    /// The interleaving an outside review reproduced, all in one loop turn: task W prepares a send
    /// on stream S (descriptor N), task C closes S under an expired deadline and then makes a UDP
    /// socket connected to an unrelated target. Had N been freed at once, the UDP socket would get
    /// N and W's queued send would go out on it, as a datagram to the target.
    @Test(arguments: TestBackends.all)
    func aCloseUnderAnExpiredDeadlineNeverLetsAQueuedSendReachTheSocketThatReusesItsNumber(
        backend: BackendPreference
    ) async throws {
        try await withTestRuntime(backend) {
            let target = try await createUDPSocket(host: "127.0.0.1", port: 0)
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            for round in 0..<100 {
                let stream = try await connectTCP(host: "127.0.0.1", port: port)
                let accepted = try await listener.accept()
                // Both tasks prefer this loop and are enqueued now, so they run one after the
                // other in the next turn's jobs, before that turn submits anything to the kernel.
                let writer = Task { try? await stream.sendAll("secret \(round)") }
                let closer = Task {
                    try? await withDeadline(.now - .seconds(1)) { await stream.close() }
                    let udp = try await createUDPSocket(host: "127.0.0.1", targetHost: "127.0.0.1", targetPort: target.port)
                    try await udp.send("sentinel \(round)")
                    return udp
                }
                let (first, _) = try await target.receive()
                #expect(text(first) == "sentinel \(round)", "round \(round): the UDP target got another stream's bytes first")
                await writer.value
                await (try closer.value).close()
                await accepted.close()
            }
            await listener.close()
            await target.close()
        }
    }

    /// The same close from a cancelled task: cancellation does not skip it either.
    @Test(arguments: TestBackends.all)
    func aCloseFromACancelledTaskNeverLetsAQueuedSendReachTheSocketThatReusesItsNumber(
        backend: BackendPreference
    ) async throws {
        try await withTestRuntime(backend) {
            let target = try await createUDPSocket(host: "127.0.0.1", port: 0)
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            for round in 0..<100 {
                let stream = try await connectTCP(host: "127.0.0.1", port: port)
                let accepted = try await listener.accept()
                let writer = Task { try? await stream.sendAll("secret \(round)") }
                let closer = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    await stream.close()
                    // A cancelled task can still make sockets: only waiting operations stop.
                    return try await createUDPSocket(host: "127.0.0.1", targetHost: "127.0.0.1", targetPort: target.port)
                }
                let udp = try await closer.value
                try await udp.send("sentinel \(round)")
                let (first, _) = try await target.receive()
                #expect(text(first) == "sentinel \(round)", "round \(round): the UDP target got another stream's bytes first")
                await writer.value
                await udp.close()
                await accepted.close()
            }
            await listener.close()
            await target.close()
        }
    }

    /// A peer that stops reading, then resets: one event wakes the stream's receiver and its
    /// stuck sender in the same turn. The receiver closes the stream on the reset before the
    /// sender's task runs; the sender then fails, and attempts nothing on the descriptor number
    /// (closed, or already another socket's).
    @Test(arguments: TestBackends.all)
    func aSenderWokenInTheTurnItsStreamIsClosedNeverTouchesTheDescriptorNumber(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            // A byte the client never reads makes its close send RST instead of FIN.
            try await server.sendAll("u")
            // Child tasks run on the stream's loop (they inherit the test's executor preference),
            // so the receiver's close runs in the turn that wakes both, before the sender resumes.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    _ = try? await server.receiveSome()
                    await server.close()
                }
                group.addTask {
                    // Far more than loopback buffers hold: the send waits for room.
                    let error = await #expect(throws: RingIOError.self) {
                        try await server.sendAll(ByteBuffer([UInt8](repeating: 0, count: 32 << 20)))
                    }
                    #expect(error?.code == .closedResource || error?.code == .connectionReset, "\(String(describing: error))")
                }
                await eventually { await server.isReceiving }
                await eventually { await server.isSending }
                await client.close()
                try await group.waitForAll()
            }
        }
    }
}
