import Glibc
import RingIO
import Testing

@Suite(.timeLimit(.minutes(2))) struct UDPTests {
    @Test(arguments: TestBackends.all)
    func aConnectedClientAndAnUnconnectedServerExchangeDatagrams(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let server = try await createUDPSocket(host: "127.0.0.1", port: 0)
            let client = try await createUDPSocket(targetHost: "127.0.0.1", targetPort: server.port)
            #expect(client.targetAddress == server.localAddress)
            try await client.send("FOOBAR")
            let (packet, sender) = try await server.receive(maxBytes: 100)
            #expect(text(packet) == "FOOBAR")
            #expect(sender == client.localAddress)
            try await server.send(Array(packet.reversed()), to: sender)
            let (reply, from) = try await client.receive(maxBytes: 100)
            #expect(text(reply) == "RABOOF")
            #expect(from == server.localAddress)
            await client.close()
            await server.close()
        }
    }

    /// `receive(maxBytes: Int.max)` used to ask for a buffer of that size and crash; a larger
    /// maxBytes than any datagram now means "any datagram", and the largest one arrives whole.
    @Test(arguments: TestBackends.all)
    func aHugeMaxBytesReceivesAnyDatagram(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let socket = try await createUDPSocket(host: "127.0.0.1")
            try await socket.send("small", host: "127.0.0.1", port: socket.port)
            #expect(text(try await socket.receive(maxBytes: Int.max).0) == "small")
            let largest = patternBytes(65507)
            try await socket.send(largest, host: "127.0.0.1", port: socket.port)
            #expect(sameBytes(try await socket.receive(maxBytes: 1 << 40).0, largest))
            await socket.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func anUnconnectedSocketSendsToAHostAndPort(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let socket = try await createUDPSocket(host: "127.0.0.1")
            try await socket.send("to myself", host: "127.0.0.1", port: socket.port)
            let (packet, sender) = try await socket.receive()
            #expect(text(packet) == "to myself")
            #expect(sender == socket.localAddress)
            let error = await #expect(throws: RingIOError.self) { try await socket.send("no target") }
            #expect(error?.code == .invalidArgument)
            await socket.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func aSocketWithOnlyAPortServesIPv4AndIPv6Senders(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let server = try await createUDPSocket(port: 0)
            var targets = ["127.0.0.1"]
            if ipv6LoopbackAvailable { targets.append("::1") }
            for target in targets {
                let client = try await createUDPSocket(targetHost: target, targetPort: server.port)
                try await client.send("Hi there!\n")
                let (packet, sender) = try await server.receive()
                #expect(text(packet) == "Hi there!\n")
                #expect(sender.host == target)
                try await server.send("Hello, " + text(packet), host: sender.host, port: Int(sender.port ?? 0))
                let (reply, _) = try await client.receive()
                #expect(text(reply) == "Hello, Hi there!\n")
                await client.close()
            }
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func aZeroLengthDatagramIsAnOrdinaryPacket(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let server = try await createUDPSocket(host: "127.0.0.1")
            let client = try await createUDPSocket(targetHost: "127.0.0.1", targetPort: server.port)
            try await client.send([UInt8]())
            try await client.send("after")
            var packets: [String] = []
            for try await (packet, _) in server.receivePackets(maxBytes: 100) {
                packets.append(text(packet))
                if packets.count == 2 { break }
            }
            #expect(packets == ["", "after"])
            await client.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func aDatagramLargerThanTheReceiveIsReportedAsTruncated(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let server = try await createUDPSocket(host: "127.0.0.1")
            let client = try await createUDPSocket(targetHost: "127.0.0.1", targetPort: server.port)
            try await client.send(patternBytes(100))
            try await client.send("next")
            let error = await #expect(throws: RingIOError.self) { try await server.receive(maxBytes: 10) }
            #expect(error?.code == .messageTruncated)
            #expect(error?.bytesTransferred == 100)
            #expect(error?.partialData.map(Array.init) == Array(patternBytes(10)))
            let (next, _) = try await server.receive(maxBytes: 10)
            #expect(text(next) == "next")
            await client.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func theLargestIPv4DatagramArrivesWhole(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let server = try await createUDPSocket(host: "127.0.0.1")
            try await server.setOption(.receiveBufferSize, to: 1 << 20)
            let client = try await createUDPSocket(targetHost: "127.0.0.1", targetPort: server.port)
            let payload = patternBytes(65_507)
            try await client.send(payload)
            let (packet, _) = try await server.receive()
            #expect(sameBytes(packet, payload))
            let tooLarge = await #expect(throws: RingIOError.self) { try await client.send(patternBytes(65_508)) }
            #expect(tooLarge != nil)
            await client.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func portUnreachableOnAConnectedSocketIsConnectionRefused(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let probe = try await createUDPSocket(host: "127.0.0.1")
            let closedPort = probe.port
            await probe.close()
            let client = try await createUDPSocket(targetHost: "127.0.0.1", targetPort: closedPort)
            try await client.send("anyone?")
            let error = await #expect(throws: RingIOError.self) { _ = try await client.receive() }
            #expect(error?.code == .connectionRefused)
            #expect(error?.message.contains("127.0.0.1:\(closedPort)") == true)
            await client.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func closingWakesTheReceiverAndEndsReceivePackets(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let socket = try await createUDPSocket(host: "127.0.0.1")
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    var count = 0
                    for try await _ in socket.receivePackets() { count += 1 }
                    return count
                }
                await eventually { await socket.isReceiving }
                await socket.close()
                let count = try await group.next()
                #expect(count == 0)
            }
            let error = await #expect(throws: RingIOError.self) { _ = try await socket.receive() }
            #expect(error?.code == .closedResource)
        }
    }

    @Test(arguments: TestBackends.all)
    func tenThousandPacedDatagramsArriveWithoutLoss(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let server = try await createUDPSocket(host: "127.0.0.1")
            let client = try await createUDPSocket(targetHost: "127.0.0.1", targetPort: server.port)
            // Paced by acknowledgement: 100 datagrams, then wait for the receiver's ack.
            let batch = 100
            let total = 10_000
            let received = try await withThrowingTaskGroup(of: Set<Int>.self) { group in
                group.addTask {
                    var seen = Set<Int>()
                    while seen.count < total {
                        let (packet, sender) = try await server.receive()
                        let number = Int(text(packet)) ?? -1
                        seen.insert(number)
                        if seen.count % batch == 0 { try await server.send("ack \(seen.count)", to: sender) }
                    }
                    return seen
                }
                for start in stride(from: 0, to: total, by: batch) {
                    for number in start..<(start + batch) { try await client.send("\(number)") }
                    _ = try await withTimeout(.seconds(30)) { try await client.receive() }
                }
                return try await group.next() ?? []
            }
            #expect(received == Set(0..<total))
            await client.close()
            await server.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func reuseAddressLetsTwoSocketsShareAPort(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let first = try await createUDPSocket(host: "127.0.0.1", reuseAddress: true)
            let second = try await createUDPSocket(host: "127.0.0.1", port: first.port, reuseAddress: true)
            #expect(second.port == first.port)
            #expect(try await second.option(.reuseAddress) != 0)
            await first.close()
            await second.close()
        }
    }

    @Test(arguments: TestBackends.all)
    func targetHostAndPortComeTogether(backend: BackendPreference) async throws {
        try await withTestRuntime(backend) {
            let error = await #expect(throws: RingIOError.self) { try await createUDPSocket(targetHost: "127.0.0.1") }
            #expect(error?.code == .invalidArgument)
        }
    }
}
