import Glibc
import RingIO
import Testing

@Suite(.timeLimit(.minutes(2))) struct TCPListenerTests {
    @Test(arguments: TestBackends.all)
    func portZeroReportsTheBoundPort(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            #expect(port > 0)
            #expect(listener.localAddress == .ipv4((127, 0, 0, 1), port: UInt16(port)))
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func theDefaultListenerServesIPv4AndIPv6(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0)
            let port = try #require(listener.port)
            let v4 = try await connectTCP(host: "127.0.0.1", port: port)
            let acceptedV4 = try await listener.accept()
            #expect(acceptedV4.remoteAddress.host == "127.0.0.1")
            await v4.close()
            await acceptedV4.close()
            if ipv6LoopbackAvailable {
                let v6 = try await connectTCP(host: "::1", port: port)
                let acceptedV6 = try await listener.accept()
                #expect(acceptedV6.remoteAddress.host == "::1")
                await v6.close()
                await acceptedV6.close()
            }
            await listener.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func doubleColonListensOnIPv6Only(backend: BackendPreference) async throws {
        try #require(ipv6LoopbackAvailable)
        try await withTestRuntime(backend) {
            // The IPv4 port stays free only if the "::" listener is IPv6-only (a dual-stack one
            // would hold it); connecting would race other tests that bind IPv4 ports. Another
            // test's socket may have taken that IPv4 port meanwhile (an outgoing connection's
            // local port), so a few fresh ports are tried: a dual-stack listener fails them all.
            var refusals: [RingIOError] = []
            for _ in 0..<5 {
                let v6Only = try await createTCPServer(port: 0, host: "::")
                let port = try #require(v6Only.port)
                do {
                    let v4 = try await createTCPServer(port: port, host: "127.0.0.1")
                    #expect(v4.port == port)
                    await v4.close()
                    await v6Only.close()
                    break
                } catch let error as RingIOError where error.code == .addressInUse {
                    refusals.append(error)
                    await v6Only.close()
                }
            }
            #expect(refusals.count < 5, "the IPv4 port of a \"::\" listener was taken every time: \(refusals)")
            let dualStack = try await createTCPServer(port: 0)
            let taken = await #expect(throws: RingIOError.self) {
                try await createTCPServer(port: try #require(dualStack.port), host: "127.0.0.1")
            }
            #expect(taken?.code == .addressInUse)
            await dualStack.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func closingTheListenerEndsAcceptConnections(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(listener.port)
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    var served = 0
                    for try await client in listener.acceptConnections() {
                        let line = try await client.receiveUntil("\n", maxBytes: 100)
                        served += 1
                        await client.close()
                        if text(line) == "last" { await listener.close() }
                    }
                    return served
                }
                for line in ["first", "last"] {
                    let client = try await connectTCP(host: "127.0.0.1", port: port)
                    try await client.sendAll(line + "\n")
                    _ = try? await client.receiveSome(maxBytes: 1)
                    await client.close()
                }
                let served = try await group.next()
                #expect(served == 2)
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func aClosedListenerYieldsNothing(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            await listener.close()
            var count = 0
            for try await _ in listener.acceptConnections() { count += 1 }
            #expect(count == 0)
        }
    }

    @Test(arguments: TestBackends.all)
    func aSecondConcurrentAcceptIsBusy(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let error = await #expect(throws: RingIOError.self) { try await listener.accept() }
                    #expect(error?.code == .closedResource)
                }
                await eventually { await listener.isAccepting }
                let error = await #expect(throws: RingIOError.self) { try await listener.accept() }
                #expect(error?.code == .busyResource)
                await listener.close()
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func bindingAPortInUseFailsWithAddressInUse(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let first = try await createTCPServer(port: 0, host: "127.0.0.1")
            let port = try #require(first.port)
            let error = await #expect(throws: RingIOError.self) { try await createTCPServer(port: port, host: "127.0.0.1") }
            #expect(error?.code == .addressInUse)
            #expect(error?.description.contains("127.0.0.1:\(port)") == true)
            await first.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func aThousandConcurrentConnectionsAreServed(backend: BackendPreference) async throws {
        try raiseDescriptorLimit(to: 8192)
        try await withTestRuntime(backend) {
            let listener = try await createTCPServer(port: 0, host: "127.0.0.1", backlog: 2048)
            let port = try #require(listener.port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await withThrowingDiscardingTaskGroup { handlers in
                        for try await client in listener.acceptConnections() {
                            handlers.addTask {
                                try await client.closeAfter { client in
                                    let line = try await client.receiveUntil("\n", maxBytes: 100)
                                    try await client.sendAll(Array(line) + Array("\n".utf8))
                                }
                            }
                        }
                    }
                }
                let answers = try await withThrowingTaskGroup(of: Bool.self) { clients in
                    for index in 0..<1000 {
                        clients.addTask {
                            let client = try await connectTCP(host: "127.0.0.1", port: port)
                            return try await client.closeAfter { client in
                                try await client.sendAll("client \(index)\n")
                                return text(try await client.receiveUntil("\n", maxBytes: 100)) == "client \(index)"
                            }
                        }
                    }
                    var correct = 0
                    for try await ok in clients where ok { correct += 1 }
                    return correct
                }
                #expect(answers == 1000)
                await listener.close()
                try await group.waitForAll()
            }
        }
    }
}
