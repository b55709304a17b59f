import RingIOCore
import RingIOTLS
import RingIOTestSupport
import Testing

@testable import RingIORuntime

/// `TLSStream` over an in-memory stream pair: the stream's policy (handshake waits, failure,
/// close_notify on close, unwrap) with no socket and no ring. The streams run on an event loop
/// over the embedded backend (``EmbeddedBackend``), the serial context they have in production;
/// the tests call the streams' public functions (which confine themselves) or run package calls
/// inside `context.confine`.
@Suite(.timeLimit(.minutes(1))) struct TLSStreamOverMemoryTests {
    private let context: EventLoop

    init() throws {
        context = try EventLoop.start(name: "embedded TLS", kind: .ioUring) { EmbeddedBackend(loop: $0) }
    }

    /// Runs `body`, then stops the loop whatever happened.
    private func run(_ body: () async throws -> Void) async throws {
        let result: Result<Void, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        await context.shutdown()
        try result.get()
    }

    private struct Pair {
        let server: TLSStream
        let client: TLSStream
        let serverPlain: MemoryStream
        let clientPlain: MemoryStream
    }

    /// A server and a client TLS stream over a memory pair, handshakes not run.
    private func pair(clientContext: TLSContext? = nil) throws -> Pair {
        let pki = try testPKI()
        let (serverPlain, clientPlain) = MemoryStream.pair(in: context)
        let server = try pki.serverContext().makeTLSStream(
            over: serverPlain.transport, in: context, underlying: WrappedByteStream(serverPlain), role: .server,
            serverHostname: nil, standardCompatible: true, initialCiphertext: ByteBuffer(), description: "server over memory")
        let client = try (clientContext ?? pki.clientContext()).makeTLSStream(
            over: clientPlain.transport, in: context, underlying: WrappedByteStream(clientPlain), role: .client,
            serverHostname: "localhost", standardCompatible: true, initialCiphertext: ByteBuffer(), description: "client over memory")
        return Pair(server: server, client: client, serverPlain: serverPlain, clientPlain: clientPlain)
    }

    private func handshake(_ pair: Pair) async throws {
        async let server = context.confine { try await pair.server.handshake() }
        _ = try await context.confine { try await pair.client.handshake() }
        _ = try await server
    }

    private func text(_ buffer: ByteBuffer) -> String { String(decoding: buffer, as: UTF8.self) }

    @Test func aTLSStreamOverAMemoryStreamCarriesDataBothWays() async throws {
        try await run {
            let pair = try pair()
            try await handshake(pair)
            #expect(await pair.client.tls?.role == .client)
            try await pair.client.sendAll("ping\n")
            #expect(text(try await pair.server.receiveUntil("\n", maxBytes: 100)) == "ping")
            try await pair.server.sendAll("pong")
            #expect(text(try await pair.client.receiveExactly(4)) == "pong")
        }
    }

    /// A listener's autostart: the handshake runs in a task of its own; a receive made before it
    /// ends waits for it, then gets the first plaintext.
    @Test func aReceiveMadeDuringABackgroundHandshakeWaitsForIt() async throws {
        try await run {
            let pair = try pair()
            try await context.confine { pair.server.startHandshakeInBackground(timeLimit: nil) }
            async let received = pair.server.receiveSome()
            while try await context.confine({ pair.server.handshakeWaiterCount }) == 0 { await Task.yield() }
            _ = try await context.confine { try await pair.client.handshake() }
            try await pair.client.sendAll("after the handshake")
            #expect(text(try await received) == "after the handshake")
            #expect(try await context.confine { pair.server.handshakeWaiterCount } == 0)
        }
    }

    /// A client that does not trust the server's certificate: the handshake fails naming why,
    /// the stream it wraps is closed, and every later call throws the same failure.
    @Test func aFailedHandshakeClosesTheWrappedStreamAndLaterCallsThrowTheReason() async throws {
        try await run {
            let pair = try pair(clientContext: try TLSContext.client())
            async let server: TLSInfo? = try? context.confine { try await pair.server.handshake() }
            let failure = await #expect(throws: RingIOError.self) { _ = try await context.confine { try await pair.client.handshake() } }
            #expect(failure?.code == .tlsHandshakeFailed)
            #expect(failure?.message.contains("certificate") == true)
            _ = await server
            let later = await #expect(throws: RingIOError.self) { try await pair.client.sendAll("x") }
            #expect(later?.code == .tlsHandshakeFailed)
            let plain = await #expect(throws: RingIOError.self) { try await pair.clientPlain.sendAll("x") }
            #expect(plain?.code == .closedResource)
        }
    }

    /// Closing sends close_notify, so the peer's receive ends cleanly (not `.brokenResource`,
    /// which a standard-compatible stream reports for an EOF without it).
    @Test func closeSendsCloseNotifySoThePeerSeesACleanEnd() async throws {
        try await run {
            let pair = try pair()
            try await handshake(pair)
            try await pair.client.sendAll("bye")
            await pair.client.close()
            #expect(text(try await pair.server.receiveExactly(3)) == "bye")
            let end = await #expect(throws: RingIOError.self) { try await pair.server.receiveSome() }
            #expect(end?.code == .endOfStream)
        }
    }

    /// Unwrap on both sides: each gets its memory stream back, and bytes sent in the clear right
    /// after an unwrap arrive (part of them maybe as the other side's leftover).
    @Test func unwrapGivesBackTheWrappedStreamAndLosesNothingThatFollows() async throws {
        try await run {
            let pair = try pair()
            try await handshake(pair)
            try await pair.client.sendAll("secret")
            #expect(text(try await pair.server.receiveExactly(6)) == "secret")
            async let serverUnwrapped = pair.server.unwrap()
            let (clientStream, clientLeftover) = try await pair.client.unwrap()
            #expect(clientStream === pair.clientPlain)
            #expect(clientLeftover.isEmpty)
            try await clientStream.sendAll("plain again")
            let (serverStream, serverLeftover) = try await serverUnwrapped
            #expect(serverStream === pair.serverPlain)
            var afterTLS = text(serverLeftover)
            if afterTLS.utf8.count < 11 { afterTLS += text(try await serverStream.receiveExactly(11 - afterTLS.utf8.count)) }
            #expect(afterTLS == "plain again")
            let refused = await #expect(throws: RingIOError.self) { try await pair.client.receiveSome() }
            #expect(refused?.code == .closedResource)
        }
    }

    /// A standard-compatible stream whose transport ends without close_notify: a possible
    /// truncation attack, reported as `.brokenResource`; unwrap cannot complete either.
    @Test func anEOFWithoutCloseNotifyIsBrokenAndUnwrapRefusesIt() async throws {
        try await run {
            let pair = try pair()
            try await handshake(pair)
            pair.clientPlain.transport.finishSending()
            let broken = await #expect(throws: RingIOError.self) { _ = try await pair.server.unwrap() }
            #expect(broken?.code == .brokenResource)
        }
    }

    /// A record altered on the way (its last byte, inside the authentication tag) fails the
    /// receive that meets it with `.tlsFailure`: tampered plaintext is never returned.
    @Test func aTamperedRecordFailsTheReceiveThatMeetsIt() async throws {
        try await run {
            let pair = try pair()
            try await handshake(pair)
            try await context.confine {
                pair.clientPlain.transport.alter = { bytes in
                    var altered = bytes
                    altered[altered.count - 1] ^= 0x01
                    return altered
                }
            }
            try await pair.client.sendAll("tampered")
            let failure = await #expect(throws: RingIOError.self) { try await pair.server.receiveSome() }
            #expect(failure?.code == .tlsFailure)
        }
    }
}
