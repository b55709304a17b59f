import Glibc
import RingIO
import RingIOTestSupport
import Testing

/// `sendAll(_ buffers: [ByteBuffer])`: several buffers in one gathered send.
@Suite(.timeLimit(.minutes(2))) struct VectoredSendTests {
    /// Buffers with distinct contents, so a reordering or a skipped piece shows.
    private static func pieces(count: Int, size: Int) -> [ByteBuffer] {
        (0..<count).map { index in ByteBuffer((0..<size).map { UInt8(truncatingIfNeeded: index &* 31 &+ $0) }) }
    }

    /// Large buffers, each filled with its own byte value (cheap to make in a debug build).
    private static func blocks(count: Int, size: Int) -> [ByteBuffer] {
        (0..<count).map { ByteBuffer([UInt8](repeating: UInt8(truncatingIfNeeded: $0 &+ 1), count: size)) }
    }

    private static func joined(_ buffers: [ByteBuffer]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(buffers.reduce(0) { $0 + $1.count })
        for buffer in buffers { buffer.withUnsafeBytes { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// Whether `chunk` equals `expected[offset...]` for its length (memcmp: fast in debug builds).
    private static func matches(_ chunk: ByteBuffer, _ expected: [UInt8], at offset: Int) -> Bool {
        guard offset + chunk.count <= expected.count else { return false }
        return chunk.withUnsafeBytes { got in
            expected.withUnsafeBytes { want in
                guard let gotBase = got.baseAddress, let wantBase = want.baseAddress else { return got.isEmpty }
                return memcmp(gotBase, wantBase + offset, got.count) == 0
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func severalBuffersArriveInOrderAsOneStream(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let body = ByteBuffer(Array(repeating: UInt8(ascii: "b"), count: 1000))
            // Empty buffers, a slice that starts inside its storage, and more buffers than one
            // system call carries (64).
            var buffers = [ByteBuffer("HEAD "), ByteBuffer(), body[10..<990], ByteBuffer()]
            buffers += Self.pieces(count: 150, size: 7)
            let expected = Self.joined(buffers)
            try await client.sendAll(buffers)
            let received = try await server.receiveExactly(expected.count)
            let intact = Self.matches(received, expected, at: 0)
            #expect(intact, "the bytes received differ from what was sent")
        }
    }

    @Test(arguments: TestBackends.all)
    func aVectoredSendLargerThanTheSocketBuffersCompletesAsThePeerReads(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            // 24 MiB does not fit in the kernel's buffers: the send is cut short many times, in
            // the middle of buffers and at their edges.
            let buffers = Self.blocks(count: 6, size: 4 << 20) + Self.pieces(count: 5, size: 3)
            let expected = Self.joined(buffers)
            async let sending: Void = client.sendAll(buffers)
            var received = 0
            while received < expected.count {
                let chunk = try await withTimeout(.seconds(10)) { try await server.receiveSome() }
                let intact = Self.matches(chunk, expected, at: received)
                #expect(intact, "the \(chunk.count) bytes received at offset \(received) differ from what was sent")
                received += chunk.count
            }
            try await sending
            #expect(received == expected.count)
        }
    }

    @Test(arguments: TestBackends.all)
    func aFailedVectoredSendCountsTheBytesOfEveryBufferItSent(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            let buffers = Self.blocks(count: 8, size: 4 << 20)
            // Nobody reads, so the send never ends; the deadline leaves the kernel ample time to
            // take its first bytes even on a loaded machine (50 ms once did not).
            let error = await #expect(throws: RingIOError.self) {
                try await withTimeout(.seconds(1)) { try await client.sendAll(buffers) }
            }
            #expect(error?.code == .timedOut)
            let reported = try #require(error?.bytesTransferred)
            #expect(reported > 0 && reported < 32 << 20)
            await client.close()
            let expected = Self.joined(buffers)
            var received = 0
            for try await chunk in server.receiveChunks() {
                let intact = Self.matches(chunk, expected, at: received)
                #expect(intact, "the \(chunk.count) bytes received at offset \(received) differ from what was sent")
                received += chunk.count
            }
            #expect(received == reported)
        }
    }

    @Test(arguments: TestBackends.all)
    func aVectoredSendOnAClosedStreamFailsWithClosedResource(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { _, client in
            await client.close()
            let error = await #expect(throws: RingIOError.self) { try await client.sendAll([ByteBuffer("x")]) }
            #expect(error?.code == .closedResource)
        }
    }

    @Test(arguments: TestBackends.all)
    func aVectoredSendOverTLSDeliversEveryBuffer(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { server, client in
            let buffers = [ByteBuffer("header\n")] + Self.pieces(count: 20, size: 5000)
            let expected = Self.joined(buffers)
            async let sending: Void = client.sendAll(buffers)
            let received = try await server.receiveExactly(expected.count)
            try await sending
            let intact = Self.matches(received, expected, at: 0)
            #expect(intact, "the bytes received differ from what was sent")
        }
    }
}
