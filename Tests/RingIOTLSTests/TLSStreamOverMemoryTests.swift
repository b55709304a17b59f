import RingIOCore
import RingIOTLS
import RingIOTestSupport
import Testing

/// `TLSStream` over an in-memory stream pair: the stream's policy (handshake waits, failure,
/// close_notify on close, unwrap) without a socket, an event loop or a kernel.
@MainActor @Suite(.timeLimit(.minutes(1))) struct TLSStreamOverMemoryTests {
    private struct Pair {
        let server: TLSStream
        let client: TLSStream
        let serverPlain: MemoryStream
        let clientPlain: MemoryStream
    }

    /// A server and a client TLS stream over a memory pair, handshakes not run.
    private func pair(clientContext: TLSContext? = nil) throws -> Pair {
        let pki = try testPKI()
        let (serverPlain, clientPlain) = MemoryStream.pair()
        let server = try pki.serverContext().makeTLSStream(
            over: serverPlain.transport, in: MainActorContext.shared, underlying: WrappedByteStream(serverPlain), role: .server,
            serverHostname: nil, standardCompatible: true, initialCiphertext: ByteBuffer(), description: "server over memory")
        let client = try (clientContext ?? pki.clientContext()).makeTLSStream(
            over: clientPlain.transport, in: MainActorContext.shared, underlying: WrappedByteStream(clientPlain), role: .client,
            serverHostname: "localhost", standardCompatible: true, initialCiphertext: ByteBuffer(), description: "client over memory")
        return Pair(server: server, client: client, serverPlain: serverPlain, clientPlain: clientPlain)
    }

    private func handshake(_ pair: Pair) async throws {
        let server = Task { @MainActor in try await pair.server.handshake() }
        _ = try await pair.client.handshake()
        _ = try await server.value
    }

    private func text(_ buffer: ByteBuffer) -> String { String(decoding: buffer, as: UTF8.self) }

    @Test func aTLSStreamOverAMemoryStreamCarriesDataBothWays() async throws {
        let pair = try pair()
        try await handshake(pair)
        #expect(await pair.client.tls?.role == .client)
        try await pair.client.sendAll("ping\n")
        #expect(text(try await pair.server.receiveUntil("\n", maxBytes: 100)) == "ping")
        try await pair.server.sendAll("pong")
        #expect(text(try await pair.client.receiveExactly(4)) == "pong")
    }

    /// A listener's autostart: the handshake runs in a task of its own; a receive made before it
    /// ends waits for it, then gets the first plaintext.
    @Test func aReceiveMadeDuringABackgroundHandshakeWaitsForIt() async throws {
        let pair = try pair()
        pair.server.startHandshakeInBackground(timeLimit: nil)
        let received = Task { @MainActor in try await pair.server.receiveSome() }
        while pair.server.handshakeWaiterCount == 0 { await Task.yield() }
        _ = try await pair.client.handshake()
        try await pair.client.sendAll("after the handshake")
        #expect(text(try await received.value) == "after the handshake")
        #expect(pair.server.handshakeWaiterCount == 0)
    }

    /// A client that does not trust the server's certificate: the handshake fails naming why,
    /// the stream it wraps is closed, and every later call throws the same failure.
    @Test func aFailedHandshakeClosesTheWrappedStreamAndLaterCallsThrowTheReason() async throws {
        let pair = try pair(clientContext: try TLSContext.client())
        let server = Task { @MainActor in try? await pair.server.handshake() }
        let failure = await #expect(throws: RingIOError.self) { _ = try await pair.client.handshake() }
        #expect(failure?.code == .tlsHandshakeFailed)
        #expect(failure?.message.contains("certificate") == true)
        _ = await server.value
        let later = await #expect(throws: RingIOError.self) { try await pair.client.sendAll("x") }
        #expect(later?.code == .tlsHandshakeFailed)
        let plain = await #expect(throws: RingIOError.self) { try await pair.clientPlain.sendAll("x") }
        #expect(plain?.code == .closedResource)
    }

    /// Closing sends close_notify, so the peer's receive ends cleanly (not `.brokenResource`,
    /// which a standard-compatible stream reports for an EOF without it).
    @Test func closeSendsCloseNotifySoThePeerSeesACleanEnd() async throws {
        let pair = try pair()
        try await handshake(pair)
        try await pair.client.sendAll("bye")
        await pair.client.close()
        #expect(text(try await pair.server.receiveExactly(3)) == "bye")
        let end = await #expect(throws: RingIOError.self) { try await pair.server.receiveSome() }
        #expect(end?.code == .endOfStream)
    }

    /// Unwrap on both sides: each gets its memory stream back, and bytes sent in the clear right
    /// after an unwrap arrive (part of them maybe as the other side's leftover).
    @Test func unwrapGivesBackTheWrappedStreamAndLosesNothingThatFollows() async throws {
        let pair = try pair()
        try await handshake(pair)
        try await pair.client.sendAll("secret")
        #expect(text(try await pair.server.receiveExactly(6)) == "secret")
        let serverUnwrapped = Task { @MainActor in try await pair.server.unwrap() }
        let (clientStream, clientLeftover) = try await pair.client.unwrap()
        #expect(clientStream === pair.clientPlain)
        #expect(clientLeftover.isEmpty)
        try await clientStream.sendAll("plain again")
        let (serverStream, serverLeftover) = try await serverUnwrapped.value
        #expect(serverStream === pair.serverPlain)
        var afterTLS = text(serverLeftover)
        if afterTLS.utf8.count < 11 { afterTLS += text(try await serverStream.receiveExactly(11 - afterTLS.utf8.count)) }
        #expect(afterTLS == "plain again")
        let refused = await #expect(throws: RingIOError.self) { try await pair.client.receiveSome() }
        #expect(refused?.code == .closedResource)
    }

    /// A standard-compatible stream whose transport ends without close_notify: a possible
    /// truncation attack, reported as `.brokenResource`; unwrap cannot complete either.
    @Test func anEOFWithoutCloseNotifyIsBrokenAndUnwrapRefusesIt() async throws {
        let pair = try pair()
        try await handshake(pair)
        pair.clientPlain.transport.finishSending()
        let broken = await #expect(throws: RingIOError.self) { _ = try await pair.server.unwrap() }
        #expect(broken?.code == .brokenResource)
    }
}
