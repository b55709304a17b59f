import Logging
import RingIO
import RingIOServiceLifecycle
import RingIOTestSupport
import ServiceLifecycle
import Testing

@Suite(.timeLimit(.minutes(2))) struct StreamServerServiceTests {
    /// A graceful shutdown of the service group lets the open connection finish its exchange,
    /// then the service returns and the port is closed.
    @Test(arguments: [BackendPreference.ioUring, .epoll].filter { Runtime.unavailableReason($0) == nil })
    func gracefulShutdownDrainsTheOpenConnection(backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        let listener = try await runtime.run { try await createTCPServer(port: 0, host: "127.0.0.1") }
        let port = try #require(listener.port)
        let started = AsyncStream<Void>.makeStream()
        let service = StreamServerService(listener: listener, gracePeriod: .seconds(60)) { stream in
            started.continuation.yield()
            let line = try await stream.receiveUntil("\n", maxBytes: 100)
            try await stream.sendAll(Array(line) + Array(" served\n".utf8))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [service], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        try await runtime.run {
            let client = try await connectTCP(host: "127.0.0.1", port: port)
            var events = started.stream.makeAsyncIterator()
            await events.next()
            await group.triggerGracefulShutdown()
            // Wait (yielding, not sleeping) until the service has begun its graceful shutdown.
            while !listener.isShuttingDown { await Task.yield() }
            try await client.sendAll("request\n")
            #expect(String(decoding: try await client.receiveUntil("\n", maxBytes: 100), as: UTF8.self) == "request served")
            await client.close()
        }
        try await running.value
        try await runtime.run {
            let refused = await #expect(throws: RingIOError.self) { try await connectTCP(host: "127.0.0.1", port: port) }
            #expect(refused?.code == .connectionRefused)
        }
        await runtime.shutdown()
    }

    /// The same over TLS: a service over a `TLSListener` hands its handler established TLS
    /// streams, and its graceful shutdown lets the open one finish.
    @Test(arguments: [BackendPreference.ioUring, .epoll].filter { Runtime.unavailableReason($0) == nil })
    func aTLSListenerServiceDrainsItsOpenConnection(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        let runtime = try Runtime(backend: backend)
        let listener = try await runtime.run { try await createTCPServer(port: 0, host: "127.0.0.1", tlsContext: serverContext) }
        let port = try #require(listener.port)
        let started = AsyncStream<Void>.makeStream()
        let service = StreamServerService(listener: listener, gracePeriod: .seconds(60)) { stream in
            started.continuation.yield()
            let line = try await stream.receiveUntil("\n", maxBytes: 100)
            let version = await stream.tls?.version ?? "no TLS"
            try await stream.sendAll(Array(line) + Array(" served over \(version)\n".utf8))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [service], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        try await runtime.run {
            try await withTimeout(.seconds(30)) {
                let client = try await connectTCP(host: "localhost", port: port, tlsContext: clientContext)
                var events = started.stream.makeAsyncIterator()
                await events.next()
                await group.triggerGracefulShutdown()
                while !listener.isShuttingDown { await Task.yield() }
                try await client.sendAll("request\n")
                let reply = try await client.receiveUntil("\n", maxBytes: 100)
                #expect(String(decoding: reply, as: UTF8.self) == "request served over TLSv1.3")
                await client.close()
            }
        }
        try await running.value
        await runtime.shutdown()
    }
}
