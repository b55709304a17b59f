import Glibc
import RingIO
import Testing

@Suite(.timeLimit(.minutes(2))) struct TCPStreamTests {
    @Test(arguments: TestBackends.all)
    func receiveSomeReturnsWhatThePeerSent(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("hello")
            let atServer = try await server.receiveSome(maxBytes: 100)
            #expect(text(atServer) == "hello")
            try await server.sendAll(Array("olleh".utf8))
            let atClient = try await client.receiveExactly(5)
            #expect(text(atClient) == "olleh")
        }
    }

    @Test(arguments: TestBackends.all)
    func tcpNoDelayIsOnAtBothEnds(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let serverNoDelay = try await server.option(.tcpNoDelay)
            #expect(serverNoDelay != 0)
            let clientNoDelay = try await client.option(.tcpNoDelay)
            #expect(clientNoDelay != 0)
        }
    }

    @Test(arguments: TestBackends.all)
    func socketOptionsRoundTrip(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.setOption(.receiveBufferSize, to: 80000)
            let clientBuffer = try await client.option(.receiveBufferSize)
            #expect([80000, 160000].contains(clientBuffer))
            try await server.setOption(.receiveBufferSize, to: 80000)
            let serverBuffer = try await server.option(.receiveBufferSize)
            #expect([80000, 160000].contains(serverBuffer))
        }
    }

    @Test(arguments: TestBackends.all)
    func addressesNameBothEnds(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            #expect(client.remoteAddress == server.localAddress)
            #expect(server.remoteAddress == client.localAddress)
            #expect(client.remoteAddress.host == "127.0.0.1")
        }
    }

    @Test(arguments: TestBackends.all)
    func delimitedReceivesReassembleFragments(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            for fragment in ["bl", "ah", "\r", "\nfoo", "bar\r\n"] {
                try await client.sendAll(fragment)
            }
            try await client.sendEOF()
            var lines: [String] = []
            for try await line in server.receiveDelimitedChunks("\r\n", maxBytes: 8) {
                lines.append(text(line))
            }
            #expect(lines == ["blah", "foobar"])
        }
    }

    @Test(arguments: TestBackends.all)
    func receiveChunksEndsAtEndOfStream(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("blah")
            try await client.sendEOF()
            var received = ""
            for try await chunk in server.receiveChunks(maxBytes: 2) {
                #expect(chunk.count <= 2)
                received += text(chunk)
            }
            #expect(received == "blah")
        }
    }

    @Test(arguments: TestBackends.all)
    func delimitedChunksWithATrailingPartialRecordThrowIncompleteRead(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("one\ntwo")
            try await client.sendEOF()
            var lines: [String] = []
            let error = await #expect(throws: RingIOError.self) {
                for try await line in server.receiveDelimitedChunks("\n", maxBytes: 100) { lines.append(text(line)) }
            }
            #expect(lines == ["one"])
            #expect(error?.code == .incompleteRead)
            let rest = try await server.receiveSome(maxBytes: 10)
            #expect(text(rest) == "two")
        }
    }

    @Test(arguments: TestBackends.all)
    func aLineLongerThanMaxBytesIsDelimiterNotFound(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("blah\n")
            let error = await #expect(throws: RingIOError.self) { try await server.receiveUntil("\n", maxBytes: 3) }
            #expect(error?.code == .delimiterNotFound)
            #expect(error?.description.hasSuffix("first 3 bytes") == true)
        }
    }

    @Test(arguments: TestBackends.all)
    func shortSendsOfA64MiBPayloadArriveIntact(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let payload = patternBytes(64 << 20)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.sendAll(payload) }
                let received = try await server.receiveExactly(payload.count)
                #expect(sameBytes(received, payload))
                try await group.waitForAll()
            }
            await client.close()
            let end = await #expect(throws: RingIOError.self) { try await server.receiveExactly(1) }
            #expect(end?.code == .incompleteRead)
        }
    }

    @Test(arguments: TestBackends.all)
    func endOfStreamMidReceiveExactlyKeepsTheBytes(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("bla")
            await client.close()
            let error = await #expect(throws: RingIOError.self) { try await server.receiveExactly(5) }
            #expect(error?.code == .incompleteRead)
            #expect(error?.partialData.map(text) == "bla")
            let rest = try await server.receiveSome(maxBytes: 10)
            #expect(text(rest) == "bla")
            let end = await #expect(throws: RingIOError.self) { try await server.receiveSome(maxBytes: 10) }
            #expect(end?.code == .endOfStream)
        }
    }

    @Test(arguments: TestBackends.all)
    func sendEOFHalfClosesAndTheOtherDirectionKeepsWorking(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("request")
            try await client.sendEOF()
            let request = try await server.receiveExactly(7)
            #expect(text(request) == "request")
            let end = await #expect(throws: RingIOError.self) { try await server.receiveSome(maxBytes: 10) }
            #expect(end?.code == .endOfStream)
            try await server.sendAll("response")
            let response = try await client.receiveExactly(8)
            #expect(text(response) == "response")
        }
    }

    @Test(arguments: TestBackends.all)
    func aSecondConcurrentReceiverIsBusy(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await server.receiveExactly(1) }
                await eventually { await server.isReceiving }
                let error = await #expect(throws: RingIOError.self) { try await server.receiveSome(maxBytes: 1) }
                #expect(error?.code == .busyResource)
                try await client.sendAll("x")
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func aSecondConcurrentSenderIsBusy(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The peer does not read, so this send fills the socket buffers and waits.
                group.addTask { try await client.sendAll([UInt8](repeating: 1, count: 32 << 20)) }
                await eventually { await client.isSending }
                let error = await #expect(throws: RingIOError.self) { try await client.sendAll("x") }
                #expect(error?.code == .busyResource)
                _ = try await server.receiveExactly(32 << 20)
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func closingWakesAWaitingReceiverWithClosedResource(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, _ in
            try await withThrowingTaskGroup(of: RingIOError.Code?.self) { group in
                group.addTask {
                    do {
                        _ = try await server.receiveSome(maxBytes: 10)
                        return nil
                    } catch let error as RingIOError {
                        return error.code
                    }
                }
                await eventually { await server.isReceiving }
                await server.close()
                let code = try await group.next()
                #expect(code == .closedResource)
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func closingDropsBufferedBytesAndLaterReceivesFail(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("line\nleftover")
            let line = try await server.receiveUntil("\n", maxBytes: 100)
            #expect(text(line) == "line")
            await server.close()
            let error = await #expect(throws: RingIOError.self) { try await server.receiveSome(maxBytes: 100) }
            #expect(error?.code == .closedResource)
        }
    }

    @Test(arguments: TestBackends.all)
    func closingInsideAnExpiredDeadlineStillClosesTheSocket(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await withDeadline(.now - .seconds(1)) { await client.close() }
            let end = await #expect(throws: RingIOError.self) { try await server.receiveSome(maxBytes: 10) }
            #expect(end?.code == .endOfStream)
        }
    }

    @Test(arguments: TestBackends.all)
    func operationsAfterCloseThrowClosedResource(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { _, client in
            await client.close()
            await client.close()
            let receive = await #expect(throws: RingIOError.self) { try await client.receiveSome(maxBytes: 1) }
            #expect(receive?.code == .closedResource)
            let send = await #expect(throws: RingIOError.self) { try await client.sendAll("x") }
            #expect(send?.code == .closedResource)
            let option = await #expect(throws: RingIOError.self) { try await client.option(.tcpNoDelay) }
            #expect(option?.code == .closedResource)
        }
    }

    @Test(arguments: TestBackends.all)
    func sendingToAResetPeerFailsWithConnectionResetAndCountsBytes(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            // Unread data at close (or arriving after it) makes the kernel answer with RST.
            try await client.sendAll("unread")
            await server.close()
            let error = await #expect(throws: RingIOError.self) {
                while true { try await client.sendAll([UInt8](repeating: 0, count: 1 << 20)) }
            }
            #expect(error?.code == .connectionReset)
            #expect(error?.bytesTransferred != nil)
        }
    }

    @Test(arguments: TestBackends.all)
    func aResetInTheMiddleOfAReceiveKeepsTheBytesThatCame(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            // A byte the client never reads makes its close send RST instead of FIN.
            try await server.sendAll("u")
            let waiting = Task { try await server.receiveExactly(100) }
            await eventually { await server.isReceiving }
            try await client.sendAll("0123456789")
            await client.close()
            let error = await #expect(throws: RingIOError.self) { try await waiting.value }
            #expect(error?.code == .connectionReset)
            // The ten bytes that arrived before the reset are still there.
            #expect(text(await server.bufferedData) == "0123456789")
            #expect(text(try await server.receiveSome()) == "0123456789")
            let after = await #expect(throws: RingIOError.self) { try await server.receiveSome() }
            #expect(after?.code == .connectionReset)
        }
    }

    @Test(arguments: TestBackends.all)
    func anOversizedLineStaysReadableAfterDelimiterNotFound(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let line = String(repeating: "x", count: 5000)
            try await client.sendAll(line + "\nnext\n")
            let error = await #expect(throws: RingIOError.self) { try await server.receiveUntil("\n", maxBytes: 1024) }
            #expect(error?.code == .delimiterNotFound)
            // Nothing is consumed: a larger limit reads the whole line, then the next one.
            #expect(text(try await server.receiveUntil("\n", maxBytes: 10_000)) == line)
            #expect(text(try await server.receiveUntil("\n", maxBytes: 10)) == "next")
        }
    }

    @Test(arguments: TestBackends.all)
    func delimitedChunksWithAnEmptyDelimiterFailInsteadOfLoopingForever(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await client.sendAll("a\nb\n")
            let error = await #expect(throws: RingIOError.self) {
                for try await _ in server.receiveDelimitedChunks("", maxBytes: 10) {}
            }
            #expect(error?.code == .invalidArgument)
            #expect(text(try await server.receiveUntil("\n", maxBytes: 10)) == "a")
        }
    }

    /// Bytes and the FIN right behind them, already queued before the first receive: everything
    /// arrives, then end of stream. Epoll stops reading at a short read unless an event said the
    /// peer hung up, so these sizes straddle its 64 KiB read (short, exactly full, one over).
    @Test(arguments: TestBackends.all)
    func bytesFollowedAtOnceByTheFinAreAllReceivedThenEndOfStream(backend: BackendPreference) async throws {
        for count in [1, 100, 65535, 65536, 65537, 300_000] {
            try await withStreamPair(backend) { server, client in
                let sent = patternBytes(count)
                try await client.sendAll(sent)
                try await client.sendEOF()
                var received: [UInt8] = []
                while true {
                    do {
                        received.append(contentsOf: try await server.receiveSome())
                    } catch let error as RingIOError where error.code == .endOfStream {
                        break
                    }
                }
                #expect(received == sent, "\(count) bytes sent, \(received.count) received")
            }
        }
    }

    /// recv stops short at TCP's urgent mark although the bytes behind it have arrived, and no
    /// new edge comes for them: a readiness backend that took the short read for "drained" would
    /// never receive them. The three segments are sent from the loop's own thread, so the loop
    /// sees them in one event.
    @Test(arguments: TestBackends.all)
    func theBytesBehindTCPUrgentDataAreReceived(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let fd = try blockingLoopbackClient(port: try #require(listener.port))
            defer { Glibc.close(fd) }
            let server = try await listener.accept()
            let receiving = Task { try await withTimeout(.seconds(10)) { try await server.receiveExactly(7) } }
            await eventually { await server.isReceiving }
            for (bytes, flags) in [("abc", 0), ("!", 0x01 /* MSG_OOB */), ("defg", 0)] {
                let sent = Array(bytes.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(flags)) }
                try #require(sent == bytes.utf8.count, "send: \(String(cString: strerror(errno)))")
            }
            let received = try await receiving.value
            #expect(text(received) == "abcdefg", "the urgent byte is out of band; the rest arrives in order")
            await server.close()
            await listener.close()
        }
    }
}

/// A blocking IPv4 TCP socket connected to 127.0.0.1:`port`, for sending from the test's thread
/// exactly when it wants.
private func blockingLoopbackClient(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        let reason = String(cString: strerror(errno))
        Glibc.close(fd)
        throw RingIOError(.connectFailed, "connect to 127.0.0.1:\(port): \(reason)")
    }
    return fd
}
