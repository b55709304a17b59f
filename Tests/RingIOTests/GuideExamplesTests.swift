import RingIO
import Testing

// The Swift code of docs/guide.md, verbatim (tools/check-guide-examples checks that every
// ```swift block of the guide appears here), run against each other on loopback.

// MARK: Guide: Working with TCP sockets — the client

func helloClient(host: String, port: Int) async throws -> String {
    try await RingIO.run {
        let client = try await connectTCP(host: host, port: port)
        return try await client.closeAfter { client in
            try await client.sendAll("Client\n")
            let response = try await client.receiveUntil("\n", maxBytes: 1024)
            return String(decoding: response, as: UTF8.self)
        }
    }
}

// MARK: Guide: Working with TCP sockets — the server

func serve(_ client: SocketStream) async throws {
    try await client.closeAfter { client in
        let name = try await client.receiveUntil("\n", maxBytes: 1024)
        try await client.sendAll("Hello, \(String(decoding: name, as: UTF8.self))\n")
    }
}

func helloServer(port: Int) async throws {
    try await RingIO.run {
        let server = try await createTCPServer(port: port)
        try await withThrowingDiscardingTaskGroup { group in
            for try await client in server.acceptConnections() {
                group.addTask { try? await serve(client) }
            }
        }
    }
}

// MARK: Guide: Timeouts and cancellation

func firstLine(of stream: SocketStream) async throws -> String? {
    do {
        let line = try await withTimeout(.seconds(5)) {
            try await stream.receiveUntil("\n", maxBytes: 1024)
        }
        return String(decoding: line, as: UTF8.self)
    } catch let error as RingIOError where error.code == .timedOut {
        return nil
    }
}

// MARK: Guide: Errors

func describeConnect(host: String, port: Int) async -> String {
    do {
        let stream = try await connectTCP(host: host, port: port)
        await stream.close()
        return "connected"
    } catch let error as RingIOError {
        switch error.code {
        case .connectionRefused:
            return "nobody listens on \(host):\(port)"
        case .nameResolutionFailed:
            return "no such host: \(host)"
        default:
            return "failed: \(error)"
        }
    } catch {
        return "failed: \(error)"
    }
}

@Suite struct GuideExamplesTests {
    @Test func theGuidesClientAndServerTalkToEachOther() async throws {
        let port = try await RingIO.run {
            let probe = try await createTCPServer(port: 0)
            let port = try #require(probe.port)
            await probe.close()
            return port
        }
        let server = Task { try await helloServer(port: port) }
        var answer = ""
        // The server task needs a moment to bind; retry while the port still refuses.
        while true {
            do {
                answer = try await helloClient(host: "localhost", port: port)
                break
            } catch let error as RingIOError where error.code == .connectionRefused {
                await Task.yield()
            }
        }
        #expect(answer == "Hello, Client")
        server.cancel()
        _ = await server.result
    }

    @Test func theGuidesTimeoutAndErrorExamplesBehaveAsDescribed() async throws {
        try await withStreamPair(.automatic) { server, client in
            try await client.sendAll("first\n")
            #expect(try await firstLine(of: server) == "first")
        }
        let refused = try await RingIO.run {
            let probe = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(probe.port)
            await probe.close()
            return await describeConnect(host: "127.0.0.1", port: port)
        }
        #expect(refused.hasPrefix("nobody listens on 127.0.0.1:"))
    }
}
