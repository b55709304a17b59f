import RingIO
import Testing

/// Faults particular to io_uring, forced with deliberately small rings: a completion queue that
/// overflows and a provided buffer ring that runs dry. Nothing may be lost either way.
@Suite(.timeLimit(.minutes(2))) struct URingFaultTests {
    static let ioUring: [BackendPreference] = TestBackends.all.filter { $0 == .ioUring }

    /// 64 connections echoing through a loop whose completion queue holds 4 entries: the kernel
    /// keeps the completions that do not fit and RingIO collects them; every byte comes back.
    @Test(arguments: Self.ioUring)
    func aCompletionQueueOverflowLosesNoCompletion(backend: BackendPreference) async throws {
        let tiny = URingConfiguration(submissionEntries: 4, completionEntries: 4)
        try await RingIO.run(backend: backend, uring: tiny) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let pairs = try await connectedPairs(64, to: listener)
            let message = patternBytes(1024)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, pair) in pairs.enumerated() {
                    group.addTask {
                        for _ in 0..<20 {
                            let received = try await pair.server.receiveExactly(message.count)
                            try await pair.server.sendAll(received)
                        }
                    }
                    group.addTask {
                        for round in 0..<20 {
                            var tagged = message
                            tagged[0] = UInt8(truncatingIfNeeded: index)
                            tagged[1] = UInt8(round)
                            try await pair.client.sendAll(tagged)
                            let echoed = try await pair.client.receiveExactly(message.count)
                            #expect(sameBytes(echoed, tagged))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let counters = await (try #require(EventLoop.current)).backendCounters
            #expect(counters.completionQueueOverflows > 0, "the 4-entry completion queue never overflowed, so the test proved nothing")
            await closeAll(pairs)
            await listener.close()
        }
    }

    /// 16 streams share 4 provided buffers of 512 bytes, and receive 8 KiB each while nobody
    /// reads: the buffers run out (ENOBUFS), the streams fall back to receives of their own,
    /// and every byte arrives in order; afterwards multishot receiving resumes.
    @Test(arguments: Self.ioUring)
    func providedBufferExhaustionLosesNoByte(backend: BackendPreference) async throws {
        let scarce = URingConfiguration(receiveBufferCount: 4, receiveBufferSize: 512)
        try await RingIO.run(backend: backend, uring: scarce) {
            let loop = try #require(EventLoop.current)
            guard loop.features.contains(where: { $0.contains("provided buffer ring") }) else {
                print("providedBufferExhaustionLosesNoByte: skipped, this kernel has no provided buffer ring (\(loop.features))")
                return
            }
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let pairs = try await connectedPairs(16, to: listener)
            let payload = patternBytes(8192 + 1)
            // Arm every stream's multishot receive with a first byte, then flood them all.
            for pair in pairs { try await pair.client.sendAll(payload[0..<1]) }
            for pair in pairs { _ = try await pair.server.receiveExactly(1) }
            for pair in pairs { try await pair.client.sendAll(payload[1...]) }
            for pair in pairs {
                let received = try await pair.server.receiveExactly(payload.count - 1)
                #expect(sameBytes(received, Array(payload[1...])))
            }
            #expect(await loop.backendCounters.receiveBufferExhaustions > 0, "the 4 provided buffers never ran out")
            for pair in pairs {
                try await pair.client.sendAll("still")
                #expect(text(try await pair.server.receiveExactly(5)) == "still")
            }
            await closeAll(pairs)
            await listener.close()
        }
    }

    /// 2,000 one-byte segments to a stream nobody reads. Each used to pin a 16 KiB provided
    /// buffer, so about 512 bytes emptied the loop's ring and every other stream fell back to
    /// one-shot receives. Now the trickle is copied out of the ring as it arrives: the other
    /// stream is served from the ring throughout, and every trickled byte is still there.
    @Test(arguments: Self.ioUring)
    func aStreamNobodyReadsCannotEmptyTheProvidedBufferRing(backend: BackendPreference) async throws {
        try await RingIO.run(backend: backend) {
            let loop = try #require(EventLoop.current)
            guard loop.features.contains(where: { $0.contains("provided buffer ring") }) else {
                print("aStreamNobodyReadsCannotEmptyTheProvidedBufferRing: skipped, no provided buffer ring (\(loop.features))")
                return
            }
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let pairs = try await connectedPairs(2, to: listener)
            let (idle, busy) = (pairs[0], pairs[1])
            // Arm the idle stream's multishot receive, then trickle into it without reading.
            try await idle.client.sendAll([0])
            #expect(try await idle.server.receiveExactly(1) == ByteBuffer([0]))
            let trickle = patternBytes(2000)
            for (index, byte) in trickle.enumerated() {
                try await idle.client.sendAll([byte])
                if index % 10 == 0 {
                    try await busy.client.sendAll("ping")
                    #expect(text(try await busy.server.receiveExactly(4)) == "ping")
                }
            }
            let counters = await loop.backendCounters
            #expect(counters.receiveBufferExhaustions == 0, "the trickle emptied the provided buffer ring")
            #expect(counters.receiveBuffersHeldPeak <= 16, "\(counters.receiveBuffersHeldPeak) provided buffers were held at once")
            let received = try await idle.server.receiveExactly(trickle.count)
            #expect(sameBytes(received, trickle))
            await closeAll(pairs)
            await listener.close()
        }
    }

    /// 100 idle clients each send one byte to a server that waits in `receiveUntil` for the
    /// rest of their lines, on a ring of 64 provided buffers. Each waiting byte used to keep its
    /// 16 KiB buffer, so the ring ran dry at the 65th client; now the bytes wait in the streams'
    /// own storage and the ring stays free for the streams that are busy.
    @Test(arguments: Self.ioUring)
    func serversWaitingForTheRestOfIdleClientsLinesCannotEmptyTheRing(backend: BackendPreference) async throws {
        try await RingIO.run(backend: backend, uring: URingConfiguration(receiveBufferCount: 64)) {
            let loop = try #require(EventLoop.current)
            guard loop.features.contains(where: { $0.contains("provided buffer ring") }) else {
                print("serversWaitingForTheRestOfIdleClientsLinesCannotEmptyTheRing: skipped, no provided buffer ring (\(loop.features))")
                return
            }
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let pairs = try await connectedPairs(100, to: listener)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for pair in pairs {
                    group.addTask {
                        let line = try await pair.server.receiveUntil("\n".utf8, maxBytes: 1024)
                        #expect(text(line) == "A")
                    }
                }
                for pair in pairs { try await pair.client.sendAll("A") }
                for pair in pairs { await eventually { await pair.server.bufferedMemory.bytes == 1 } }
                let counters = await loop.backendCounters
                #expect(counters.receiveBufferExhaustions == 0, "100 one-byte waits emptied a 64-buffer ring")
                #expect(counters.receiveBuffersHeld <= 8, "\(counters.receiveBuffersHeld) provided buffers held by 100 bytes")
                for pair in pairs { try await pair.client.sendAll("\n") }
                try await group.waitForAll()
            }
            await closeAll(pairs)
            await listener.close()
        }
    }

    /// 100 streams that received once (their multishot receive is armed), then one byte each
    /// while nobody reads them, on a ring of 64 buffers: a chunk still queued a turn after it
    /// arrived leaves its buffer, so the ring never runs dry, and every byte is still there.
    @Test(arguments: Self.ioUring)
    func bytesNobodyTakesLeaveTheRingAfterATurn(backend: BackendPreference) async throws {
        try await RingIO.run(backend: backend, uring: URingConfiguration(receiveBufferCount: 64)) {
            let loop = try #require(EventLoop.current)
            guard loop.features.contains(where: { $0.contains("provided buffer ring") }) else {
                print("bytesNobodyTakesLeaveTheRingAfterATurn: skipped, no provided buffer ring (\(loop.features))")
                return
            }
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let pairs = try await connectedPairs(101, to: listener)
            for pair in pairs {
                try await pair.client.sendAll("a")
                #expect(text(try await pair.server.receiveExactly(1)) == "a")
            }
            for pair in pairs.dropFirst() { try await pair.client.sendAll("b") }
            // A round trip on the first stream: the turns after the last byte have run.
            try await pairs[0].client.sendAll("c")
            #expect(text(try await pairs[0].server.receiveExactly(1)) == "c")
            let counters = await loop.backendCounters
            #expect(counters.receiveBufferExhaustions == 0, "100 unread bytes emptied a 64-buffer ring")
            #expect(counters.receiveBuffersHeldPeak <= 16, "\(counters.receiveBuffersHeldPeak) provided buffers held at once")
            for pair in pairs.dropFirst() { #expect(text(try await pair.server.receiveExactly(1)) == "b") }
            await closeAll(pairs)
            await listener.close()
        }
    }

    @Test func anOutOfRangeRingSizeIsRejectedByName() async throws {
        let error = #expect(throws: RingIOError.self) {
            _ = try Runtime(backend: .automatic, uring: URingConfiguration(receiveBufferCount: 100))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "URingConfiguration: receiveBufferCount 100 must be a power of two between 1 and 32768")
        let queue = #expect(throws: RingIOError.self) {
            _ = try Runtime(backend: .automatic, uring: URingConfiguration(submissionEntries: 64, completionEntries: 32))
        }
        #expect(queue?.message == "URingConfiguration: completionEntries 32 must be between submissionEntries (64) and 65536")
        let huge = #expect(throws: RingIOError.self) {
            _ = try Runtime(backend: .automatic, uring: URingConfiguration(receiveBufferCount: 32768, receiveBufferSize: 1_048_576))
        }
        #expect(huge?.message.contains("at most 1 GiB") == true)
    }
}
