import Glibc
import RingIO
import Testing

/// Counts this process's descriptors, so it runs alone: `tools/test` runs it in its own
/// `swift test` invocation (other suites open sockets in parallel).
@Suite(.serialized) struct DescriptorLeakTests {
    @Test(.enabled(if: TestEnvironment.isolatedRun), arguments: TestBackends.all)
    func tenThousandConnectCloseCyclesLeakNoDescriptor(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let before = openDescriptorCount()
            for _ in 0..<10_000 {
                let client = try await connectTCP(host: "127.0.0.1", port: port)
                let accepted = try await listener.accept()
                await client.close()
                await accepted.close()
            }
            #expect(openDescriptorCount() == before)
            await listener.close()
        }
    }
}

extension DescriptorLeakTests {
    @Test(.enabled(if: TestEnvironment.isolatedRun), arguments: TestBackends.all)
    func shutdownClosesSocketsNobodyClosed(backend: BackendPreference) async throws {
        let before = openDescriptorCount()
        try await runAndForgetToClose(backend)
        // The runtime object is gone too, so its eventfd is closed as well.
        #expect(openDescriptorCount() == before)
    }

    private func runAndForgetToClose(_ backend: BackendPreference) async throws {
        let runtime = try Runtime(backend: backend)
        try await runtime.run {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let client = try await connectTCP(host: "127.0.0.1", port: try #require(listener.port))
            let accepted = try await listener.accept()
            try await client.sendAll("never read")
            _ = accepted
        }
        await runtime.shutdown()
    }
}

enum TestEnvironment {
    /// Set by `tools/test` when it runs the descriptor-counting suite on its own.
    static let isolatedRun = getenvString("RINGIO_ISOLATED_TESTS") == "1"

    private static func getenvString(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}
