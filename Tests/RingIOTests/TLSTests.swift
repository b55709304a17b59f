import RingIO
import RingIOTestSupport
import Testing

@Suite(.timeLimit(.minutes(2))) struct TLSTests {
    @Test(arguments: TestBackends.all)
    func aHandshakeOnConnectNegotiatesAndBothSidesAgree(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { server, client in
            try await client.sendAll("ping\n")
            let line = try await server.receiveUntil("\n", maxBytes: 100)
            #expect(text(line) == "ping")
            try await server.sendAll("pong\n")
            let reply = try await client.receiveUntil("\n", maxBytes: 100)
            #expect(text(reply) == "pong")
            let serverInfo = try #require(await server.tls)
            let clientInfo = try #require(await client.tls)
            #expect(serverInfo.version.hasPrefix("TLSv1."))
            #expect(serverInfo.version == clientInfo.version)
            #expect(serverInfo.cipher == clientInfo.cipher)
            #expect(serverInfo.role == .server && clientInfo.role == .client)
            #expect(clientInfo.serverHostname == "localhost" && serverInfo.serverHostname == nil)
            #expect(clientInfo.peerCertificate != nil)
            #expect(serverInfo.peerCertificate == nil)
            #expect(serverInfo.channelBindingTLSServerEndPoint == clientInfo.channelBindingTLSServerEndPoint)
            #expect(serverInfo.channelBindingTLSServerEndPoint?.count == 32)
            #expect(serverInfo.channelBindingTLSExporter == clientInfo.channelBindingTLSExporter)
        }
    }

    @Test(arguments: TestBackends.all)
    func tlsUniqueIsEqualOnBothSidesUnderTLS12(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(maximumVersion: .tls12), client: try pki.clientContext()) {
            server, client in
            try await client.sendAll("x")
            _ = try await server.receiveExactly(1)
            let serverInfo = try #require(await server.tls)
            let clientInfo = try #require(await client.tls)
            #expect(clientInfo.version == "TLSv1.2")
            #expect(serverInfo.channelBindingTLSUnique != nil)
            #expect(serverInfo.channelBindingTLSUnique == clientInfo.channelBindingTLSUnique)
        }
    }

    @Test(arguments: TestBackends.all)
    func alpnPicksTheServersFirstChoiceTheClientOffers(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(
            backend, server: try pki.serverContext(alpn: ["dummy2", "dummy3"]), client: try pki.clientContext(alpn: ["dummy1", "dummy2"])
        ) { server, client in
            try await client.sendAll("x")
            _ = try await server.receiveExactly(1)
            #expect(await server.tls?.alpnProtocol == "dummy2")
            #expect(await client.tls?.alpnProtocol == "dummy2")
        }
    }

    @Test(arguments: TestBackends.all)
    func sixtyFourMiBCrossEachWayIntact(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { server, client in
            let payload = patternBytes(64 << 20)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.sendAll(payload) }
                group.addTask { try await server.sendAll(payload) }
                let atServer = try await server.receiveExactly(payload.count)
                let atClient = try await client.receiveExactly(payload.count)
                #expect(sameBytes(atServer, payload))
                #expect(sameBytes(atClient, payload))
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func theBufferedReceiveLogicWorksOverTLS(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { server, client in
            try await client.sendAll("blah\nfoobar")
            let line = try await server.receiveUntil("\n", maxBytes: 100)
            let foob = try await server.receiveExactly(4)
            let ar = try await server.receiveExactly(2)
            #expect([text(line), text(foob), text(ar)] == ["blah", "foob", "ar"])
        }
    }

    @Test(arguments: TestBackends.all)
    func concurrentHandshakesAllSucceed(backend: BackendPreference) async throws {
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
                                    let line = try await client.receiveUntil("\n", maxBytes: 100)
                                    try await client.sendAll(Array(line) + Array("\n".utf8))
                                }
                            }
                        }
                    }
                }
                let correct = try await withThrowingTaskGroup(of: Bool.self) { clients in
                    for index in 0..<50 {
                        clients.addTask {
                            let client = try await connectTCP(host: "localhost", port: port, tlsContext: clientContext)
                            return try await client.closeAfter { client in
                                try await client.sendAll("tls \(index)\n")
                                return text(try await client.receiveUntil("\n", maxBytes: 100)) == "tls \(index)"
                            }
                        }
                    }
                    var count = 0
                    for try await ok in clients where ok { count += 1 }
                    return count
                }
                #expect(correct == 50)
                await listener.close()
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func startTLSTwiceIsAClearError(backend: BackendPreference) async throws {
        let pki = try testPKI()
        try await withTLSPair(backend, server: try pki.serverContext(), client: try pki.clientContext()) { _, client in
            let error = await #expect(throws: RingIOError.self) { try await client.startTLS() }
            #expect(error?.code == .tlsFailure)
            #expect(error?.message.contains("already active") == true)
        }
    }
}
