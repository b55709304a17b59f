import RingIO
import Testing

@testable import RingIORuntime

@Suite(.timeLimit(.minutes(2))) struct ConnectTests {
    /// A task cancelled before it resolves a name used to run the lookup to its end anyway
    /// (the cancellation handler ran before there was anything to cancel) and get addresses.
    @Test func aTaskCancelledBeforeResolvingDoesNotResolve() async throws {
        let lookup = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await NameResolver.resolve(host: "localhost", port: 80)
        }
        await #expect(throws: CancellationError.self) { _ = try await lookup.value }
    }

    /// A port nothing listens on (bound, then closed).
    private func closedPort() async throws -> Int {
        let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
        let port = try #require(listener.port)
        await listener.close()
        return port
    }

    @Test(arguments: TestBackends.all)
    func connectingToAClosedPortIsRefusedAndNamesTheAddress(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let port = try await closedPort()
            let error = await #expect(throws: RingIOError.self) { try await connectTCP(host: "127.0.0.1", port: port) }
            #expect(error?.code == .connectionRefused)
            #expect(error?.errno == 111)
            #expect(error?.description == "connect to 127.0.0.1:\(port): connection refused (ECONNREFUSED)")
        }
    }

    @Test(arguments: TestBackends.all)
    func anUnresolvableNameFailsWithNameResolutionFailed(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let error = await #expect(throws: RingIOError.self) { try await connectTCP(host: "no-such-host.invalid", port: 80) }
            #expect(error?.code == .nameResolutionFailed)
            #expect(error?.description.contains("no-such-host.invalid") == true)
        }
    }

    @Test(arguments: TestBackends.all)
    func anOutOfRangePortIsAnInvalidArgument(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let error = await #expect(throws: RingIOError.self) { try await connectTCP(host: "127.0.0.1", port: 70000) }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test(arguments: TestBackends.all)
    func aHostNameReachesAnIPv4OnlyServer(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let client = try await connectTCP(host: "localhost", port: try #require(listener.port))
            let accepted = try await listener.accept()
            #expect(client.remoteAddress.host == "127.0.0.1")
            await client.close()
            await accepted.close()
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func theLocalAddressAndPortAreBound(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let localPort = try await closedPort()
            let client = try await connectTCP(
                host: "127.0.0.1", port: try #require(listener.port), localHost: "127.0.0.1", localPort: localPort)
            let accepted = try await listener.accept()
            #expect(accepted.remoteAddress == .ipv4((127, 0, 0, 1), port: UInt16(localPort)))
            #expect(client.localAddress.port == UInt16(localPort))
            await client.close()
            await accepted.close()
            await listener.close()
        }
    }

    @Test func addressesAreInterleavedIPv6First() {
        let v4a = SocketAddress.ipv4((10, 0, 0, 1), port: 1)
        let v4b = SocketAddress.ipv4((10, 0, 0, 2), port: 1)
        let v6a = SocketAddress.ipv6((0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), port: 1, scopeID: 0)
        let v6b = SocketAddress.ipv6((0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2), port: 1, scopeID: 0)
        #expect(TCPConnector.interleaved([v4a, v4b, v6a, v6b]) == [v6a, v4a, v6b, v4b])
        #expect(TCPConnector.interleaved([v4a, v6a, v4b]) == [v6a, v4a, v4b])
        #expect(TCPConnector.interleaved([v4a, v4b]) == [v4a, v4b])
    }
}
