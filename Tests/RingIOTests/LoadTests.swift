import Glibc
import RingIO
import Testing

/// Load that a server meets in production: many connections at once, storms of connects and
/// accepts, clients that trickle bytes in.
///
/// Serialized: each storm holds 4,000 descriptors, so the four storm cases (two tests, two
/// backends) at once would need 16,000 under a limit of 8,192. (One unserialized run hung with
/// 1,520 accepted sockets never read; descriptor exhaustion in a client is the suspect.)
@Suite(.serialized, .timeLimit(.minutes(5))) struct LoadTests {
    /// 2,000 clients connect at the same instant, each sending its number and checking the echo.
    @Test(arguments: TestBackends.all)
    func aConnectStormIsServedCompletely(backend: BackendPreference) async throws {
        try raiseDescriptorLimit(to: 8192)
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1", backlog: 4096)
            let port = try #require(listener.port)
            let server = Task { try await Self.echoEachClientOnce(listener) }
            try await withThrowingDiscardingTaskGroup { group in
                for index in 0..<2000 {
                    group.addTask {
                        let client = try await connectTCP(host: "127.0.0.1", port: port)
                        let number = "\(100_000 + index)"
                        try await client.sendAll(number)
                        #expect(text(try await client.receiveExactly(6)) == number)
                        await client.close()
                    }
                }
            }
            await listener.close()
            #expect(try await server.value == 2000)
        }
    }

    /// 2,000 connections wait in the kernel's accept queue before the server accepts any; then
    /// they are accepted in one burst, and every one is served.
    @Test(arguments: TestBackends.all)
    func anAcceptStormDrainsTheWholeBacklog(backend: BackendPreference) async throws {
        try raiseDescriptorLimit(to: 8192)
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1", backlog: 4096)
            let port = try #require(listener.port)
            var clients: [SocketStream] = []
            for index in 0..<2000 {
                let client = try await connectTCP(host: "127.0.0.1", port: port)
                try await client.sendAll("\(100_000 + index)")
                clients.append(client)
            }
            let server = Task { try await Self.echoEachClientOnce(listener) }
            for (index, client) in clients.enumerated() {
                #expect(text(try await client.receiveExactly(6)) == "\(100_000 + index)")
                await client.close()
            }
            await listener.close()
            #expect(try await server.value == 2000)
        }
    }

    /// Accepts until the listener closes; echoes six bytes to each client. Returns how many it served.
    private static func echoEachClientOnce(_ listener: SocketListener) async throws -> Int {
        let served = ConnectionTally()
        try await withThrowingDiscardingTaskGroup { group in
            for try await stream in listener.acceptConnections() {
                group.addTask {
                    let number = try await stream.receiveExactly(6)
                    try await stream.sendAll(number)
                    served.opened()
                    served.closed()
                    await stream.close()
                }
            }
        }
        return served.figures.served
    }

    /// 100 clients send a 200-byte line one byte per send, all interleaved; the server reads
    /// lines with receiveUntil and gets every one intact.
    @Test(arguments: TestBackends.all)
    func clientsSendingOneByteAtATimeAreReassembled(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let pairs = try await connectedPairs(100, to: listener)
            try await withThrowingDiscardingTaskGroup { group in
                for (index, pair) in pairs.enumerated() {
                    let line = Array("client \(index): ".utf8) + Array(repeating: UInt8(ascii: "a") + UInt8(index % 26), count: 180)
                    group.addTask {
                        for byte in line + [UInt8(ascii: "\n")] {
                            try await pair.client.sendAll([byte])
                            await Task.yield()
                        }
                    }
                    group.addTask {
                        let received = try await pair.server.receiveUntil("\n", maxBytes: 1024)
                        #expect(sameBytes(received, line))
                    }
                }
            }
            await closeAll(pairs)
            await listener.close()
        }
    }
}

/// Counts connections open now, the most open at once, and those served (any thread).
///
/// Guarded by a pthread mutex, not the standard library's `Mutex`: ThreadSanitizer does not see
/// `Mutex`'s futex and reported this class's callers as racing (`tools/sanitize thread`).
/// `@unchecked Sendable`: `state` is touched only with `mutex` held.
final class ConnectionTally: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var state = (now: 0, most: 0, served: 0)

    init() {
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private func locked<T>(_ body: (inout (now: Int, most: Int, served: Int)) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state)
    }

    func opened() {
        locked {
            $0.now += 1
            $0.most = max($0.most, $0.now)
        }
    }

    func closed() {
        locked {
            $0.now -= 1
            $0.served += 1
        }
    }

    var figures: (now: Int, most: Int, served: Int) { locked { $0 } }
}
