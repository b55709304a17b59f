import RingIOCore
import RingIOTLS
import RingIOTestSupport
import Testing

/// The TLS session (OpenSSL over memory BIOs) between two in-memory transports: no socket, no
/// event loop, no kernel. Its states: handshaking, open, close_notify sent, broken for good.
@MainActor @Suite(.timeLimit(.minutes(1))) struct TLSSessionTests {
    /// A client and a server session over a connected in-memory pair, handshake not run.
    private struct Connection {
        let server: any SecureLayer
        let client: any SecureLayer
        let serverEnd: MemoryTransport
        let clientEnd: MemoryTransport
    }

    private func connection(serverStandardCompatible: Bool = true, clientStandardCompatible: Bool = true) throws -> Connection {
        let pki = try testPKI()
        let (serverEnd, clientEnd) = MemoryTransport.pair()
        let server = try pki.serverContext().makeLayer(
            over: serverEnd, role: .server, serverHostname: nil, standardCompatible: serverStandardCompatible,
            initialCiphertext: ByteBuffer())
        let client = try pki.clientContext().makeLayer(
            over: clientEnd, role: .client, serverHostname: "localhost", standardCompatible: clientStandardCompatible,
            initialCiphertext: ByteBuffer())
        return Connection(server: server, client: client, serverEnd: serverEnd, clientEnd: clientEnd)
    }

    /// Runs both handshakes at once; returns what each side negotiated.
    private func handshake(_ connection: Connection) async throws -> (server: TLSInfo, client: TLSInfo) {
        let server = Task { @MainActor in try await connection.server.handshake() }
        let client = Task { @MainActor in try await connection.client.handshake() }
        return (try await server.value, try await client.value)
    }

    private func text(_ buffer: ByteBuffer?) -> String? { buffer.map { String(decoding: $0, as: UTF8.self) } }

    @Test func aHandshakeCompletesAndDataCrossesBothWays() async throws {
        let connection = try connection()
        let (server, client) = try await handshake(connection)
        #expect(server.version == client.version && client.version == "TLSv1.3")
        #expect(client.peerCertificate != nil)
        try await connection.client.send(Array("ping".utf8))
        #expect(text(try await connection.server.receiveChunk(maxBytes: 100)) == "ping")
        try await connection.server.send(Array("pong".utf8))
        #expect(text(try await connection.client.receiveChunk(maxBytes: 100)) == "pong")
    }

    @Test func closeNotifyEndsThePeersStreamAndLaterSendsFail() async throws {
        let connection = try connection()
        _ = try await handshake(connection)
        try await connection.client.send(Array("last".utf8))
        try await connection.client.sendCloseNotify()
        try await connection.client.sendCloseNotify()  // once only
        #expect(text(try await connection.server.receiveChunk(maxBytes: 100)) == "last")
        #expect(try await connection.server.receiveChunk(maxBytes: 100) == nil)
        let error = await #expect(throws: RingIOError.self) { try await connection.client.send(Array("more".utf8)) }
        #expect(error?.code == .closedResource)
    }

    @Test func anEndWithoutCloseNotifyIsBrokenResourceOnlyWhenStandardCompatible() async throws {
        let strict = try connection()
        _ = try await handshake(strict)
        strict.clientEnd.finishSending()
        let error = await #expect(throws: RingIOError.self) { try await strict.server.receiveChunk(maxBytes: 100) }
        #expect(error?.code == .brokenResource)

        let lenient = try connection(serverStandardCompatible: false)
        _ = try await handshake(lenient)
        lenient.clientEnd.finishSending()
        #expect(try await lenient.server.receiveChunk(maxBytes: 100) == nil)
    }

    @Test func aPeerThatLeavesDuringTheHandshakeFailsItWithAReason() async throws {
        let connection = try connection()
        connection.clientEnd.finishSending()
        let error = await #expect(throws: RingIOError.self) { try await connection.server.handshake() }
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.message.contains("closed the connection during the handshake") == true)
    }

    @Test func aTamperedRecordBreaksTheSessionForGood() async throws {
        let connection = try connection()
        _ = try await handshake(connection)
        connection.clientEnd.alter = { bytes in
            var bytes = bytes
            bytes[bytes.count - 1] ^= 0x01
            return bytes
        }
        try await connection.client.send(Array("tampered".utf8))
        let first = await #expect(throws: RingIOError.self) { try await connection.server.receiveChunk(maxBytes: 100) }
        #expect(first?.code == .tlsFailure)
        // Nothing after it is trusted: the same failure again, whatever arrives.
        connection.clientEnd.alter = nil
        try? await connection.client.send(Array("clean".utf8))
        let second = await #expect(throws: RingIOError.self) { try await connection.server.receiveChunk(maxBytes: 100) }
        #expect(second?.message == first?.message)
    }

    @Test func aFailedTransportSendBreaksTheSessionForGood() async throws {
        let connection = try connection()
        _ = try await handshake(connection)
        connection.clientEnd.sendFailure = RingIOError(.connectionReset, "memory transport: reset by the test")
        let first = await #expect(throws: RingIOError.self) { try await connection.client.send(Array("lost".utf8)) }
        #expect(first?.code == .connectionReset)
        #expect(first?.bytesTransferred == 0)
        // The records would no longer line up: the session stays broken when the transport recovers.
        connection.clientEnd.sendFailure = nil
        let second = await #expect(throws: RingIOError.self) { try await connection.client.send(Array("after".utf8)) }
        #expect(second?.code == .connectionReset)
    }

    @Test func aSecondSenderAndCloseNotifyDuringASendAreBusy() async throws {
        let connection = try connection()
        _ = try await handshake(connection)
        connection.clientEnd.holdsSends = true
        let first = Task { @MainActor in try await connection.client.send(Array("first".utf8)) }
        while !connection.clientEnd.hasHeldSend { await Task.yield() }
        let second = await #expect(throws: RingIOError.self) { try await connection.client.send(Array("second".utf8)) }
        #expect(second?.code == .busyResource)
        let closing = await #expect(throws: RingIOError.self) { try await connection.client.sendCloseNotify() }
        #expect(closing?.code == .busyResource)
        connection.clientEnd.releaseSends()
        try await first.value
        #expect(text(try await connection.server.receiveChunk(maxBytes: 100)) == "first")
    }
}
