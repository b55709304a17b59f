import Glibc
import Logging
import RingIO
import RingIOServiceLifecycle
import RingIOTestSupport
import ServiceLifecycle
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

func serve(_ client: some ByteStream) async throws {
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

// MARK: Guide: Serving clients and stopping gracefully

func greetingServer(_ server: SocketListener) async throws {
    try await server.serve { client in
        let name = try await client.receiveUntil("\n", maxBytes: 1024)
        try await client.sendAll("Hello, \(try name.utf8String())\n")
    }
}

// Compiled, not run here: it waits for SIGTERM or SIGINT. StreamServerServiceTests runs the same
// service with a triggered graceful shutdown, and tools/examples-smoke-test sends SIGTERM to ringio.
func greetingService(port: Int) async throws {
    let runtime = try Runtime()
    let server = try await runtime.run { try await createTCPServer(port: port) }
    let service = StreamServerService(listener: server, gracePeriod: .seconds(10)) { client in
        let name = try await client.receiveUntil("\n", maxBytes: 1024)
        try await client.sendAll("Hello, \(try name.utf8String())\n")
    }
    let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(
            services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "greeter")))
    try await group.run()
    await runtime.shutdown()
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

// MARK: Guide: Working with UNIX sockets

func helloUNIXClient(path: String) async throws -> String {
    try await RingIO.run {
        let client = try await connectUNIX(path: path)
        return try await client.closeAfter { client in
            try await client.sendAll("Client\n")
            let response = try await client.receiveUntil("\n", maxBytes: 1024)
            return String(decoding: response, as: UTF8.self)
        }
    }
}

func helloUNIXServer(path: String) async throws {
    try await RingIO.run {
        let server = try await createUNIXServer(path: path)
        try await withThrowingDiscardingTaskGroup { group in
            for try await client in server.acceptConnections() {
                group.addTask { try? await serve(client) }
            }
        }
    }
}

// MARK: Guide: Working with UDP sockets

func udpHelloServer(port: Int) async throws {
    try await RingIO.run {
        let socket = try await createUDPSocket(port: port)
        for try await (packet, sender) in socket.receivePackets(maxBytes: 1024) {
            try await socket.send(Array("Hello, ".utf8) + Array(packet), to: sender)
        }
    }
}

func udpSend(host: String, port: Int) async throws {
    try await RingIO.run {
        let socket = try await createUDPSocket(targetHost: host, targetPort: port)
        try await socket.send("Hi there!\n")
        await socket.close()
    }
}

// MARK: Guide: Working with TLS

func tlsHelloServer(port: Int, certificateFile: String, keyFile: String) async throws {
    let context = try TLSContext.server(certificateFile: certificateFile, keyFile: keyFile)
    try await RingIO.run {
        let server = try await createTCPServer(port: port, tlsContext: context)
        try await withThrowingDiscardingTaskGroup { group in
            for try await client in server.acceptConnections() {
                group.addTask { try? await serve(client) }
            }
        }
    }
}

func tlsHelloClient(port: Int, caFile: String) async throws -> String {
    let context = try TLSContext.client(caFile: caFile)
    return try await RingIO.run {
        let client = try await connectTCP(host: "localhost", port: port, tlsContext: context)
        return try await client.closeAfter { client in
            try await client.sendAll("Client\n")
            let response = try await client.receiveUntil("\n", maxBytes: 1024)
            return String(decoding: response, as: UTF8.self)
        }
    }
}

// MARK: Guide: Manually establishing TLS

func serveSTARTTLS(_ client: SocketStream) async throws {
    try await client.closeAfter { client in
        for try await line in client.receiveDelimitedChunks("\n", maxBytes: 100) {
            print("Received \"\(String(decoding: line, as: UTF8.self))\"")
            if line.elementsEqual("STARTTLS".utf8) {
                try await client.startTLS()
            } else if line.elementsEqual("QUIT".utf8) {
                return
            }
        }
    }
}

func startTLSServer(port: Int, certificateFile: String, keyFile: String) async throws {
    let context = try TLSContext.server(certificateFile: certificateFile, keyFile: keyFile)
    try await RingIO.run {
        let server = try await createTCPServer(port: port, tlsContext: context, autostartTLS: false)
        try await withThrowingDiscardingTaskGroup { group in
            for try await client in server.acceptConnections() {
                group.addTask { try? await serveSTARTTLS(client) }
            }
        }
    }
}

func startTLSClient(port: Int, caFile: String) async throws {
    let context = try TLSContext.client(caFile: caFile)
    try await RingIO.run {
        let client = try await connectTCP(host: "localhost", port: port, tlsContext: context, autostartTLS: false)
        try await client.closeAfter { client in
            try await client.sendAll("DUMMY\n")
            try await client.sendAll("STARTTLS\n")
            try await client.startTLS()
            // From this point on, all communication is encrypted.
            try await client.sendAll("ENCRYPTED\n")
            try await client.sendAll("QUIT\n")
        }
    }
}

// MARK: Guide: TLS streams — unwrapping

func endTLS(_ tls: TLSStream) async throws -> (any ByteStream, ByteBuffer) {
    let (plain, leftover) = try await tls.unwrap()
    // `plain` is the stream TLS ran over; `leftover` is what the peer sent after its close_notify.
    return (plain, leftover)
}

/// A free TCP port (bound, then closed).
private func freePort() async throws -> Int {
    try await RingIO.run {
        let probe = try await createTCPServer(port: 0)
        let port = try #require(probe.port)
        await probe.close()
        return port
    }
}

/// Runs `client` until the server started in the background accepts connections.
private func retryingWhileRefused<T>(_ client: () async throws -> T) async throws -> T {
    while true {
        do {
            return try await client()
        } catch let error as RingIOError where error.code == .connectionRefused {
            await Task.yield()
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct GuideExamplesTests {
    @Test(arguments: TestBackends.all)
    func theGuidesGreetingServerServesGreetsAndShutsDown(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let server = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(server.port)
            let serving = Task { try await greetingServer(server) }
            let client = try await connectTCP(host: "127.0.0.1", port: port)
            try await client.sendAll("Swift\n")
            #expect(text(try await client.receiveUntil("\n", maxBytes: 100)) == "Hello, Swift")
            let bad = try await connectTCP(host: "127.0.0.1", port: port)
            try await bad.sendAll([0x63, 0x61, 0x66, 0xC3, 0x0A])
            let refused = await #expect(throws: RingIOError.self) { try await bad.receiveSome() }
            #expect(refused?.code == .endOfStream)
            await server.shutdown(gracePeriod: .seconds(5))
            try await serving.value
            await client.close()
            await bad.close()
        }
    }

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

    @Test func theGuidesUNIXClientAndServerTalkToEachOther() async throws {
        let path = try temporaryDirectory() + "/guide.sock"
        let server = Task { try await helloUNIXServer(path: path) }
        var answer = ""
        // The server task needs a moment to bind; retry while the path does not exist yet.
        while true {
            do {
                answer = try await helloUNIXClient(path: path)
                break
            } catch let error as RingIOError where error.errno == ENOENT || error.code == .connectionRefused {
                await Task.yield()
            }
        }
        #expect(answer == "Hello, Client")
        server.cancel()
        _ = await server.result
    }

    @Test func theGuidesUDPServerAnswersTheGuidesClient() async throws {
        let port = try await RingIO.run {
            let probe = try await createUDPSocket(host: "127.0.0.1")
            let port = probe.port
            await probe.close()
            return port
        }
        let server = Task { try await udpHelloServer(port: port) }
        let answer = try await RingIO.run {
            let listener = try await createUDPSocket(host: "127.0.0.1")
            // Datagrams sent before the server binds are lost; resend until one is answered.
            while true {
                try await listener.send("Hi there!\n", host: "127.0.0.1", port: port)
                do {
                    let (reply, _) = try await withTimeout(.milliseconds(100)) { try await listener.receive() }
                    await listener.close()
                    return String(decoding: reply, as: UTF8.self)
                } catch let error as RingIOError where error.code == .timedOut || error.code == .connectionRefused {
                    continue
                }
            }
        }
        #expect(answer == "Hello, Hi there!\n")
        try await udpSend(host: "127.0.0.1", port: port)
        server.cancel()
        _ = await server.result
    }

    @Test func theGuidesTLSServerAndClientTalkToEachOther() async throws {
        let pki = try testPKI()
        let port = try await freePort()
        let server = Task {
            try await tlsHelloServer(port: port, certificateFile: pki.certificate("server"), keyFile: pki.key("server"))
        }
        let answer = try await retryingWhileRefused { try await tlsHelloClient(port: port, caFile: pki.caFile) }
        #expect(answer == "Hello, Client")
        server.cancel()
        _ = await server.result
    }

    @Test func theGuidesSTARTTLSServerAndClientTalkToEachOther() async throws {
        let pki = try testPKI()
        let port = try await freePort()
        let server = Task {
            try await startTLSServer(port: port, certificateFile: pki.certificate("server"), keyFile: pki.key("server"))
        }
        try await retryingWhileRefused { try await startTLSClient(port: port, caFile: pki.caFile) }
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
