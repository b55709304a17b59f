import RingIO
import RingIOTestSupport
import Testing

/// Memory follows bytes, not chunks: whatever the peer's chunking, what a stream buffers keeps
/// alive at most 2 × the bytes it holds + 128 KiB of storage (see `ChunkQueue`).
@Suite(.timeLimit(.minutes(2))) struct MemoryBoundTests {
    private static func withinBound(_ memory: (bytes: Int, capacity: Int)) -> Bool {
        memory.capacity <= 2 * memory.bytes + 128 * 1024
    }

    /// Inside `receiveExactly(n > 64 KiB)`, 64 KiB and then one-byte chunks: `send` is called
    /// once per chunk, so each arrives as a segment (TCP) or a record (TLS) of its own. Each
    /// used to keep a 16 KiB provided buffer, a 64 KiB epoll block or a 16 KiB TLS record alive.
    private static func trickle(server: SocketStream, client: SocketStream, ones: Int) async throws {
        let total = 65536 + ones
        let bytes = patternBytes(total + 1)
        try await withThrowingTaskGroup(of: ByteBuffer.self) { group in
            group.addTask { try await server.receiveExactly(total + 1) }
            try await client.sendAll(bytes[0..<65536])
            for index in 65536..<total { try await client.sendAll(bytes[index..<index + 1]) }
            await eventually { await server.bufferedMemory.bytes == total }
            let memory = await server.bufferedMemory
            #expect(withinBound(memory), "\(memory.bytes) buffered bytes keep \(memory.capacity) bytes of storage alive")
            try await client.sendAll(bytes[total...])
            let received = try #require(try await group.next())
            #expect(sameBytes(received, bytes))
        }
    }

    @Test(arguments: TestBackends.all)
    func oneByteSegmentsAfter64KiBKeepTheBufferWithinTheBound(backend: BackendPreference) async throws {
        try await withStreamPair(backend) { server, client in
            try await Self.trickle(server: server, client: client, ones: 20_000)
        }
    }

    @Test(arguments: TestBackends.all)
    func oneByteTLSRecordsAfter64KiBKeepTheBufferWithinTheBound(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { server, client in
            try await Self.trickle(server: server, client: client, ones: 10_000)
        }
    }
}
