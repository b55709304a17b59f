import RingIO
import RingIOTestSupport
import Testing

@Suite(.timeLimit(.minutes(2))) struct TLSShutdownTests {
    /// What the server's next `receiveExactly(2)` throws after the client closes, per AnyIO's
    /// ragged-EOF matrix: only a standard-compatible server facing a client that skipped
    /// close_notify sees an error other than a clean end of stream.
    @Test(arguments: TestBackends.all, [(true, true), (true, false), (false, true), (false, false)])
    func raggedEOFMatrix(backend: BackendPreference, standards: (server: Bool, client: Bool)) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(
                port: 0, host: "127.0.0.1", tlsContext: serverContext, tlsStandardCompatible: standards.server)
            let port = try #require(listener.port)
            async let accepted = listener.accept()
            let client = try await connectTCP(
                host: "localhost", port: port, tlsContext: clientContext, tlsStandardCompatible: standards.client)
            let server = try await accepted
            try await client.sendAll("hi")
            let greeting = try await server.receiveExactly(2)
            #expect(text(greeting) == "hi")
            // The client reads the reply (and the session tickets before it), so closing leaves no
            // unread bytes behind; unread bytes at close make the kernel send RST instead of FIN.
            try await server.sendAll("ok")
            let reply = try await client.receiveExactly(2)
            #expect(text(reply) == "ok")
            await client.close()
            let error = await #expect(throws: RingIOError.self) { try await server.receiveExactly(2) }
            if standards.server && !standards.client {
                #expect(error?.code == .brokenResource)
                #expect(error?.message.contains("without close_notify") == true)
            } else {
                #expect(error?.code == .incompleteRead)
            }
            await server.close()
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func sendEOFSendsCloseNotifyAndTheOtherDirectionGoesOn(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await tlsTestListener(serverContext)
            async let accepted = listener.accept()
            let client = try await connectTCP(host: "localhost", port: try #require(listener.port), tlsContext: clientContext)
            let server = try await accepted
            try await client.sendAll("request")
            try await client.sendEOF()
            var request = ""
            for try await chunk in server.receiveChunks() { request += text(chunk) }
            #expect(request == "request")
            try await server.sendAll("response")
            let response = try await client.receiveExactly(8)
            #expect(text(response) == "response")
            await client.close()
            await server.close()
            await listener.close()
        }
    }

    /// The guide's STARTTLS exchange, with the client's ClientHello arriving in the same read as
    /// its STARTTLS line: a proxy between client and server forwards them in one write.
    @Test(arguments: TestBackends.all)
    func startTLSKeepsAClientHelloThatArrivedWithTheStartTLSLine(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let server = try await createTCPServer(port: 0, host: "127.0.0.1", tlsContext: serverContext, autostartTLS: false)
            let proxy = try await createTCPServer(port: 0, host: "127.0.0.1")
            let serverPort = try #require(server.port)
            let lines = try await withThrowingTaskGroup(of: [String]?.self) { group in
                group.addTask {
                    let client = try await server.accept()
                    var lines: [String] = []
                    try await client.closeAfter { client in
                        for try await line in client.receiveDelimitedChunks("\n", maxBytes: 100) {
                            lines.append(text(line))
                            if text(line) == "STARTTLS" { try await client.startTLS() }
                            if text(line) == "QUIT" { break }
                        }
                    }
                    return lines
                }
                group.addTask {
                    let inbound = try await proxy.accept()
                    let outbound = try await connectTCP(host: "127.0.0.1", port: serverPort)
                    let head = try await inbound.receiveUntil("STARTTLS\n", maxBytes: 1000)
                    let hello = try await inbound.receiveSome()
                    try await outbound.sendAll(Array(head) + Array("STARTTLS\n".utf8) + Array(hello))
                    try await withThrowingTaskGroup(of: Void.self) { pipes in
                        pipes.addTask { for try await chunk in inbound.receiveChunks() { try await outbound.sendAll(chunk) } }
                        pipes.addTask { for try await chunk in outbound.receiveChunks() { try await inbound.sendAll(chunk) } }
                        try await pipes.next()
                        pipes.cancelAll()
                    }
                    await inbound.close()
                    await outbound.close()
                    return nil
                }
                let client = try await connectTCP(
                    host: "localhost", port: try #require(proxy.port), tlsContext: clientContext, autostartTLS: false)
                try await client.sendAll("DUMMY\n")
                try await client.sendAll("STARTTLS\n")
                try await client.startTLS()
                try await client.sendAll("ENCRYPTED\n")
                try await client.sendAll("QUIT\n")
                #expect(await client.tls?.version.hasPrefix("TLSv1.") == true)
                var lines: [String] = []
                while let result = try await group.next() {
                    if let result { lines = result }
                    await client.close()
                }
                return lines
            }
            #expect(lines == ["DUMMY", "STARTTLS", "ENCRYPTED", "QUIT"])
            await proxy.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func tlsRunsOverUNIXStreams(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        let name = uniqueAbstractName()
        try await withTestRuntime(backend) {
            let listener = try await createUNIXServer(path: name)
            async let accepted = listener.accept()
            let client = try await connectUNIX(path: name)
            let server = try await accepted
            async let serverSide = server.startTLS(context: serverContext)
            try await client.startTLS(context: clientContext, serverHostname: "localhost")
            _ = try await serverSide
            try await client.sendAll("over unix")
            let received = try await server.receiveExactly(9)
            #expect(text(received) == "over unix")
            #expect(await server.tls?.role == .server)
            await client.close()
            await server.close()
            await listener.close()
        }
    }
}
