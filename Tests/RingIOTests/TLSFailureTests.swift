import RingIO
import RingIOTestSupport
import Testing

/// Connects a client with `client` to a TLS server with `server` and returns the client's error.
private func handshakeError(
    _ backend: BackendPreference, server: TLSContext, client: TLSContext, host: String = "localhost"
) async throws -> RingIOError? {
    try await withTestRuntime(backend) {
        let listener = try await createTCPServer(port: 0, host: "127.0.0.1", tlsContext: server, handshakeTimeout: testHandshakeTimeout)
        let port = try #require(listener.port)
        let serving = Task {
            for try await stream in listener.acceptConnections() {
                _ = try? await stream.receiveSome()
                await stream.close()
            }
        }
        defer { serving.cancel() }
        do {
            let stream = try await connectTCP(host: host, port: port, tlsContext: client)
            await stream.close()
            await listener.close()
            return nil
        } catch let error as RingIOError {
            await listener.close()
            return error
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct TLSFailureTests {
    @Test(arguments: TestBackends.all)
    func aCertificateFromAnUnknownCAIsRejected(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let error = try await handshakeError(backend, server: try pki.serverContext("selfsigned"), client: try pki.clientContext())
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("certificate verify failed: self-signed certificate") == true)
    }

    @Test(arguments: TestBackends.all)
    func theSystemTrustStoreDoesNotTrustTheTestCA(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let error = try await handshakeError(backend, server: try pki.serverContext(), client: try TLSContext.client())
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("unable to get local issuer certificate") == true)
    }

    @Test(arguments: TestBackends.all)
    func aHostNameMismatchIsRejected(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let error = try await handshakeError(backend, server: try pki.serverContext("otherhost"), client: try pki.clientContext())
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("hostname mismatch") == true)
    }

    @Test(arguments: TestBackends.all)
    func anIPAddressIsCheckedAgainstTheCertificatesIPs(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let accepted = try await handshakeError(
            backend, server: try pki.serverContext(), client: try pki.clientContext(), host: "127.0.0.1")
        #expect(accepted == nil)
        let rejected = try await handshakeError(
            backend, server: try pki.serverContext("otherhost"), client: try pki.clientContext(), host: "127.0.0.1")
        #expect(rejected?.message.contains("IP address mismatch") == true)
    }

    @Test(arguments: TestBackends.all)
    func anExpiredCertificateIsRejected(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let error = try await handshakeError(backend, server: try pki.serverContext("expired"), client: try pki.clientContext())
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("certificate has expired") == true)
    }

    @Test(arguments: TestBackends.all)
    func noSharedProtocolVersionIsRejected(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let error = try await handshakeError(
            backend, server: try pki.serverContext(maximumVersion: .tls12), client: try pki.clientContext(minimumVersion: .tls13))
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("protocol version") == true || error?.message.contains("unsupported protocol") == true)
    }

    @Test(arguments: TestBackends.all)
    func aPlainTextServerIsNotMistakenForTLS(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            let serving = Task {
                let stream = try await listener.accept()
                try await stream.sendAll("220 plain text greeting, not TLS\r\n")
                _ = try? await stream.receiveSome()
                await stream.close()
            }
            let error = await #expect(throws: RingIOError.self) {
                try await connectTCP(host: "localhost", port: port, tlsContext: clientContext)
            }
            #expect(error?.code == .tlsHandshakeFailed)
            #expect(error?.message.contains("wrong version number") == true || error?.message.contains("packet length too long") == true)
            _ = await serving.result
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func garbageInsteadOfAClientHelloDropsThatClientOnly(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        let clientContext = try pki.clientContext()
        try await withTestRuntime(backend) {
            let listener = try await tlsTestListener(serverContext)
            let port = try #require(listener.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await withThrowingDiscardingTaskGroup { handlers in
                        for try await client in listener.acceptConnections() {
                            handlers.addTask {
                                try? await client.closeAfter { client in
                                    try await client.sendAll(Array(try await client.receiveSome()))
                                }
                            }
                        }
                    }
                }
                let garbage = try await connectTCP(host: "127.0.0.1", port: port)
                try await garbage.sendAll("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                // The server answers with an alert (or closes); it never answers in plain text.
                let answer = try? await garbage.receiveSome()
                #expect(answer.map { $0.first == 0x15 } ?? true)
                await garbage.close()
                let good = try await connectTCP(host: "localhost", port: port, tlsContext: clientContext)
                try await good.sendAll("still serving")
                let echoed = try await good.receiveExactly(13)
                #expect(text(echoed) == "still serving")
                await good.close()
                await listener.close()
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func aServerContextCannotStartAClient(backend: BackendPreference) async throws {
        let pki = try testPKI()
        let serverContext = try pki.serverContext()
        try await withStreamPair(backend) { _, client in
            let error = await #expect(throws: RingIOError.self) { try await client.startTLS(context: serverContext) }
            #expect(error?.code == .tlsFailure)
        }
        let missing = #expect(throws: RingIOError.self) {
            try TLSContext.server(certificateFile: "/nonexistent.pem", keyFile: "/nonexistent.key")
        }
        #expect(missing?.message.contains("/nonexistent.pem") == true)
    }
}
