import RingIOCore
import RingIOTLS

/// libFuzzer target `tls`: RingIO's TLS session (made by `TLSContext.makeLayer`, as `startTLS`
/// makes it) over a ``FuzzCiphertextTransport``, fed ciphertext the input controls during the
/// handshake and after it.
///
/// Input: see ``FuzzInput``. Flags:
/// - bit 0: the session under test is the server (0) or the client (1, verifying `localhost`);
/// - bit 1: raw (0): the payload is all the ciphertext the session receives; or with a peer (1):
///   a real OpenSSL peer plays the other side and the payload is a XOR mask over the peer's
///   ciphertext, so the session meets real messages with chosen bytes changed;
/// - bit 2: standard-compatible (a ragged EOF is an error);
/// - bit 3: the first ciphertext (a tape-chosen amount) is handed over as `initialCiphertext`;
/// - bits 4-5: the peer's highest version: 2 = TLS 1.2, 3 = TLS 1.3, else the newest.
///
/// The tape starts with a trick for the handshake (0: a send fails, 1: a receive fails), then
/// operations (see ``step(_:group:)``): receives, sends (also from a second task, interleaved
/// at every suspension, with sends that yield as a socket's do), close_notify, and for the peer:
/// application data, close_notify, TLS 1.3 key updates, TLS 1.2 renegotiation requests; and
/// injected garbage, cut records, failing sends and receives. At the end the session receives
/// until the stream ends.
///
/// Invariants (a violation traps): the handshake fails on raw fuzz bytes, with
/// `.tlsHandshakeFailed` (or the transport's own error), and succeeds with an untampered peer;
/// no plaintext is ever returned that the peer did not send, in its order, and none before the
/// handshake; the peer receives exactly what the session sent, in order; receive failures are
/// `.tlsFailure` (only when something was tampered with), `.brokenResource` (only for a ragged
/// EOF when standard-compatible), or the transport's error; end of stream only after the peer's
/// close_notify or at a transport EOF when not standard-compatible; a send that overlaps another
/// throws `.busyResource`, one after close_notify `.closedResource`; after a failed transport
/// write, every call fails with that error; an untampered session delivers everything the peer
/// sent; buffers the session returned never change while held; no task is left waiting (a flush
/// waiter never woken traps in ``InlineExecutor``).
/// ASan and LeakSanitizer check memory; libFuzzer's `-timeout` catches hangs.
final class TLSHarness {
    private let input: FuzzInput
    private let role: TLSRole
    private let standardCompatible: Bool
    private let transport: FuzzCiphertextTransport
    /// Plaintext the peer sent, and the part the session under test returned.
    private var peerSent: [UInt8] = []
    private var received: [UInt8] = []
    /// Plaintext the session under test sent.
    private var sent: [UInt8] = []
    /// How much of what the peer decrypted has been compared with ``sent``.
    private var peerChecked = 0
    /// Sends under way (a background send and this task's own may overlap).
    private var sendsUnderWay = 0
    /// Received buffers kept alive, with their offsets in what the peer sent (see ``holdAndRecheck(_:at:)``).
    private var held: [(ByteBuffer, Int)] = []
    private var receivedChunks = 0
    /// Whether a send failed with `.tlsFailure` or `.connectionReset`: no later send may succeed.
    private var sendFailedForGood = false
    private var peerSentCloseNotify = false
    private var sentCloseNotify = false
    private var renegotiated = false
    /// The most plaintext each side sends in one input: past the 64 KiB the session encrypts or
    /// decrypts at a time, but not so much that an input takes long.
    private static let sendLimit = 140_000
    /// Whether a receive failed with `.tlsFailure` (see ``KnownIssue/endOfStreamAfterFatalAlert``).
    private var receiveFailedInTLS = false

    init(_ input: FuzzInput) {
        self.input = input
        role = input.flags & 1 == 0 ? .server : .client
        standardCompatible = input.flags & 4 != 0
        var peer: FuzzPeer?
        if input.flags & 2 != 0 {
            let versions: [Int32] = [0, 0, 0x0303, 0x0304]
            let context = FuzzPKI.shared.peerContext(server: role == .client, maximumVersion: versions[Int(input.flags >> 4 & 3)])
            peer = FuzzPeer(context: context)
        }
        transport = FuzzCiphertextTransport(tape: input, peer: peer)
    }

    private var peer: FuzzPeer? { transport.peer }

    /// Whether nothing disturbed the session: no altered byte, no renegotiation, no transport failure.
    private var clean: Bool {
        peer != nil && !transport.tampered && !renegotiated && !transport.sendFailed && !transport.receiveFailed
    }

    nonisolated(nonsending) func run() async {
        let pki = FuzzPKI.shared
        var initial = ByteBuffer()
        if input.flags & 8 != 0 {
            transport.pump()
            if transport.pendingCount > 0 {
                do {
                    initial = try await transport.receiveChunk(maxBytes: max(1, min(input.count(), 1 << 20))) ?? ByteBuffer()
                } catch {
                    violated("the fuzz transport failed without a trick: \(error)")
                }
            }
        }
        switch input.byte() % 16 {
        case 0: transport.trick = .failSend
        case 1: transport.trick = .failReceive
        default: break
        }
        let layer: any SecureLayer
        do {
            layer = try (role == .server ? pki.serverContext : pki.clientContext).makeLayer(
                over: transport, role: role, serverHostname: role == .client ? "localhost" : nil,
                standardCompatible: standardCompatible, initialCiphertext: initial)
        } catch {
            violated("makeLayer failed: \(error)")
        }
        trace(
            "role \(role), peer \(peer != nil), standard-compatible \(standardCompatible), initial \(initial.count) bytes, trick \(transport.trick)"
        )
        do {
            let info = try await layer.handshake()
            trace("handshake: \(info.version) \(info.cipher)")
            check(peer != nil, "the TLS handshake succeeded on fuzz bytes alone (\(info))")
            check(info.role == role && !info.version.isEmpty && !info.cipher.isEmpty, "TLSInfo after the handshake: \(info)")
            check(info.standardCompatible == standardCompatible, "TLSInfo.standardCompatible")
            if role == .client { check(info.peerCertificate != nil, "a client's handshake ended without the server's certificate") }
        } catch {
            trace("handshake threw \(error)")
            let code = expect(error, [.tlsHandshakeFailed, .connectionReset], "handshake")
            check(!clean, "the handshake with an undisturbed peer failed: \(error)")
            if code == .connectionReset { check(transport.sendFailed || transport.receiveFailed, "handshake: .connectionReset") }
            await afterFailedHandshake(layer)
            return
        }
        // Operations run in this task; background sends run as child tasks of this group, on the
        // same InlineExecutor, so they interleave with the operations at every suspension.
        await withTaskGroup(of: Void.self) { group in
            var operations = 0
            while !input.isExhausted && operations < 128 {
                operations += 1
                await step(layer, group: &group)
                checkPeer()
            }
            await group.waitForAll()
        }
        checkPeer()
        transport.trick = .none
        await finish(layer)
    }

    // MARK: - After the handshake

    private nonisolated(nonsending) func step(_ layer: any SecureLayer, group: inout TaskGroup<Void>) async {
        let operation = input.byte() % 14
        trace("operation \(operation) (peer failed: \(peer?.failed ?? false), tampered: \(transport.tampered))")
        switch operation {
        case 0, 1: await receive(layer, maxBytes: max(1, input.count()))
        case 2: await send(layer, count: min(max(input.count(), 0), Self.sendLimit - sent.count))
        case 12:
            // A second task sends; it runs when this one next suspends (see case 13).
            let count = min(max(input.count(), 0), Self.sendLimit - sent.count)
            let shared = SameThread((self, layer))
            group.addTask { await shared.value.0.send(shared.value.1, count: count) }
        case 13: await Task.yield()
        case 3: peerSend(count: min(max(input.count(), 0), Self.sendLimit - peerSent.count))
        case 4:
            peer?.sendCloseNotify()
            peerSentCloseNotify = true
            transport.pump()
        case 5:
            _ = peer?.keyUpdate(request: input.byte() & 1 != 0)
            transport.pump()
        case 6:
            if peer?.renegotiate() == true { renegotiated = true }
            transport.pump()
        case 7: transport.inject((0..<min(max(input.count(), 0), 400)).map { _ in input.byte() })
        case 8: transport.cut(max(input.count(), 0))
        case 9: await sendCloseNotify(layer)
        case 10:
            let choice = input.byte()
            transport.trick = [.failSend, .failReceive, .slowSend(yields: Int(choice >> 2 & 3) + 1)][Int(choice % 3)]
        case 11: transport.pump()
        default: break
        }
    }

    private enum Outcome: Equatable {
        case bytes
        case end
        case failed(RingIOError.Code)
    }

    /// Whether the session is broken for good: a transport write failed, or a receive failed with
    /// `.tlsFailure` (a bad record, the peer's fatal alert). Every later call must then fail.
    private var broken: Bool { transport.sendFailed || receiveFailedInTLS }

    /// The codes a call on a broken session may throw: the failures that broke it.
    private var brokenCodes: [RingIOError.Code] {
        (transport.sendFailed ? [.connectionReset] : []) + (receiveFailedInTLS ? [.tlsFailure] : [])
    }

    @discardableResult
    private nonisolated(nonsending) func receive(_ layer: any SecureLayer, maxBytes: Int) async -> Outcome {
        let brokenBefore = broken
        do {
            let result = try await layer.receiveChunk(maxBytes: maxBytes)
            trace("receiveChunk(maxBytes: \(maxBytes)) -> \(result.map { "\($0.count) bytes" } ?? "nil")")
            guard let chunk = result else {
                if brokenBefore && receiveFailedInTLS && !transport.sendFailed {
                    // Before c65a20f the session reported a clean end after a fatal alert.
                    KnownIssue.endOfStreamAfterFatalAlert.report("standard-compatible: \(standardCompatible)")
                    return .end
                }
                check(!brokenBefore, "a receive on a broken session returned end of stream")
                check(
                    peerSentCloseNotify || (transport.reportedEnd && !standardCompatible),
                    "end of stream without close_notify (standard-compatible: \(standardCompatible), transport EOF: \(transport.reportedEnd))"
                )
                return .end
            }
            check(!brokenBefore, "a receive on a broken session returned \(chunk.count) bytes")
            check(!chunk.isEmpty && chunk.count <= maxBytes, "receiveChunk(maxBytes: \(maxBytes)) returned \(chunk.count) bytes")
            let start = received.count
            check(
                start + chunk.count <= peerSent.count && peerSent[start..<start + chunk.count].elementsEqual(chunk),
                "the session returned plaintext the peer did not send (\(chunk.count) bytes at \(start), \(peerSent.count) sent)")
            received.append(contentsOf: chunk)
            holdAndRecheck(chunk, at: start)
            return .bytes
        } catch {
            trace("receiveChunk(maxBytes: \(maxBytes)) threw \(error)")
            return .failed(receiveFailed(error, brokenBefore: brokenBefore))
        }
    }

    private func receiveFailed(_ error: any Error, brokenBefore: Bool) -> RingIOError.Code {
        let allowed = brokenCodes
        let code = expect(error, [.tlsFailure, .brokenResource, .connectionReset], "receive")
        if brokenBefore { check(allowed.contains(code), "a receive on a broken session threw \(code), not \(allowed)") }
        switch code {
        case .tlsFailure:
            check(!clean, "a receive failed on an undisturbed session: \(error)")
            receiveFailedInTLS = true
        case .brokenResource:
            check(standardCompatible && transport.reportedEnd, "receive: .brokenResource without a ragged EOF: \(error)")
        default: check(transport.sendFailed || transport.receiveFailed, "receive: .connectionReset the transport did not throw")
        }
        return code
    }

    /// Sends `count` bytes; with background sends, several of these may be under way at once.
    private nonisolated(nonsending) func send(_ layer: any SecureLayer, count: Int) async {
        // A background send runs later than it was asked for: other sends may have used the budget.
        let bytes = pattern(max(0, min(count, Self.sendLimit - sent.count)), offset: sent.count)
        let brokenBefore = broken
        let allowedIfBroken = brokenCodes
        let closedBefore = sentCloseNotify
        // Recorded first: the session encrypts them at once, and the peer may decrypt them while
        // this send is suspended, before it returns.
        sent.append(contentsOf: bytes)
        let start = sent.count - bytes.count
        sendsUnderWay += 1
        defer { sendsUnderWay -= 1 }
        trace("send \(bytes.count) bytes (\(sendsUnderWay) sends under way, \(sent.count) bytes sent in all)")
        do {
            try await layer.send(bytes)
            trace("send of \(bytes.count) bytes returned")
            check(!brokenBefore && !closedBefore, "send succeeded (broken: \(brokenBefore), after close_notify: \(closedBefore))")
            check(!sendFailedForGood, "a send succeeded after an earlier send failed with .tlsFailure or .connectionReset")
            if let peer, clean && sendsUnderWay == 1 && !peer.receivedCloseNotify {
                // The content is checked by checkPeer after the operation.
                check(peer.received.count == sent.count, "the peer decrypted \(peer.received.count) bytes, the session sent \(sent.count)")
            }
            return
        } catch {
            trace("send of \(bytes.count) bytes threw \(error)")
            let code = expect(error, [.closedResource, .busyResource, .connectionReset, .tlsFailure], "send")
            check(sent.count >= start + bytes.count && sent[start...].elementsEqual(bytes), "send: other sends recorded after this one")
            if brokenBefore {
                // Thrown at once: nothing of this send was written.
                check(allowedIfBroken.contains(code), "a send on a broken session threw \(code), not \(allowedIfBroken)")
                if (error as? RingIOError)?.bytesTransferred == nil {
                    KnownIssue.brokenSendWithoutBytesTransferred.report("\(error)")
                }
                sent.removeLast(bytes.count)
                return
            }
            switch code {
            case .busyResource, .closedResource:
                // Thrown before anything was written, and before this task could be suspended.
                sent.removeLast(bytes.count)
                if code == .busyResource {
                    check(sendsUnderWay > 1, "send: .busyResource with no other send under way")
                } else {
                    check(sentCloseNotify, "send: .closedResource before close_notify")
                }
            default:
                if code == .connectionReset {
                    check(transport.sendFailed, "send: .connectionReset the transport did not throw")
                } else if !closedBefore && sentCloseNotify {
                    trace(
                        "bytesTransferred \((error as? RingIOError)?.bytesTransferred ?? -1); the peer decrypted "
                            + "\(peer?.received.count ?? 0) bytes, then close_notify: \(peer?.receivedCloseNotify ?? false)")
                    KnownIssue.closeNotifyDuringSend.report("\(bytes.count) bytes, \(error)")
                } else {
                    check(!clean, "a send failed on an undisturbed session: \(error)")
                }
                // bytesTransferred counts the chunks known to be out: at least that much reached the peer.
                let transferred = (error as? RingIOError)?.bytesTransferred ?? -1
                check((0...bytes.count).contains(transferred), "send of \(bytes.count) bytes failed with bytesTransferred \(transferred)")
                if let peer, !peer.failed && !renegotiated {
                    check(
                        peer.received.count >= start + transferred,
                        "send: bytesTransferred \(transferred), but the peer decrypted only \(peer.received.count - start) of them")
                }
                // More than bytesTransferred may have gone out (another task's flush may have sent
                // this send's records before the session broke), so the bytes stay recorded; the
                // session sends nothing after this, so they cannot be mistaken for later ones.
                sendFailedForGood = true
            }
        }
    }

    private nonisolated(nonsending) func sendCloseNotify(_ layer: any SecureLayer) async {
        let brokenBefore = broken
        let allowedIfBroken = brokenCodes
        let alreadySent = sentCloseNotify
        let sendUnderWay = sendsUnderWay > 0
        // Set first, as the session does: a send that starts while this waits must fail.
        sentCloseNotify = true
        do {
            try await layer.sendCloseNotify()
            check(!brokenBefore || alreadySent, "sendCloseNotify succeeded on a broken session")
            check(!sendUnderWay || alreadySent, "sendCloseNotify went ahead while a send was under way")
        } catch {
            if let refused = error as? RingIOError, refused.code == .busyResource {
                // Refused so as not to cut the running send short; nothing was sent.
                check(sendUnderWay && !alreadySent, "sendCloseNotify: .busyResource with no send under way")
                sentCloseNotify = alreadySent
                return
            }
            let code = expect(error, [.connectionReset, .tlsFailure], "sendCloseNotify")
            if brokenBefore {
                check(allowedIfBroken.contains(code), "sendCloseNotify on a broken session threw \(code), not \(allowedIfBroken)")
            } else {
                // Broken while it waited for another task's flush.
                check(brokenCodes.contains(code), "sendCloseNotify threw \(code) (\(error)) on a session that is not broken")
            }
        }
    }

    private func peerSend(count: Int) {
        guard let peer, !peerSentCloseNotify else { return }
        let bytes = pattern(count, offset: peerSent.count &+ 101)
        if peer.send(bytes) { peerSent.append(contentsOf: bytes) }
        transport.pump()
    }

    /// Receives until the stream ends or fails; an undisturbed session must have delivered
    /// everything the peer sent by then.
    private nonisolated(nonsending) func finish(_ layer: any SecureLayer) async {
        // Each receive returns at least one byte of what the peer sent, or ends the loop.
        for _ in 0...(peerSent.count - received.count + 8) {
            let outcome = await receive(layer, maxBytes: 65536)
            if outcome == .bytes { continue }
            if clean {
                check(received == peerSent, "an undisturbed session ended (\(outcome)) after \(received.count) of \(peerSent.count) bytes")
                let expected: Outcome = peerSentCloseNotify || !standardCompatible ? .end : .failed(.brokenResource)
                check(outcome == expected, "an undisturbed session ended with \(outcome), expected \(expected)")
            }
            return
        }
        violated("the session kept returning bytes after the peer's \(peerSent.count) were all received")
    }

    private nonisolated(nonsending) func afterFailedHandshake(_ layer: any SecureLayer) async {
        do {
            if let chunk = try await layer.receiveChunk(maxBytes: 4096) {
                violated("a receive after a failed handshake returned \(chunk.count) bytes of plaintext")
            }
        } catch {
            _ = expect(error, [.tlsFailure, .brokenResource, .connectionReset], "receive after a failed handshake")
        }
        do {
            try await layer.send(pattern(100, offset: 0))
        } catch {
            _ = expect(error, [.tlsFailure, .connectionReset], "send after a failed handshake")
        }
    }

    // MARK: - Checks

    /// Keeps every other received buffer alive for a while (as an application that parses later
    /// would), and checks that no buffer still held has changed: a returned `ByteBuffer` is
    /// immutable, so the session must not reuse storage that a live buffer refers to.
    private func holdAndRecheck(_ chunk: ByteBuffer, at start: Int) {
        receivedChunks += 1
        if receivedChunks % 2 == 1 {
            held.append((chunk, start))
            if held.count > 8 { held.removeFirst() }
        }
        for (buffer, offset) in held {
            check(
                peerSent[offset..<offset + buffer.count].elementsEqual(buffer),
                "a received buffer still held changed (\(buffer.count) bytes from offset \(offset)): its storage was reused")
        }
    }

    /// The peer only ever decrypts what the session sent, in order.
    private func checkPeer() {
        guard let peer else { return }
        let start = peerChecked
        let end = peer.received.count
        check(
            end <= sent.count && sent[start..<end].elementsEqual(peer.received[start..<end]),
            "the peer decrypted bytes the session did not send (\(end) decrypted, \(sent.count) sent)")
        peerChecked = end
        if clean { check(!peer.failed, "the peer failed on what an undisturbed session sent") }
    }

    private func expect(_ error: any Error, _ codes: [RingIOError.Code], _ operation: String) -> RingIOError.Code {
        guard let error = error as? RingIOError else { violated("\(operation) threw \(error), not a RingIOError") }
        check(codes.contains(error.code), "\(operation) threw \(error.code) (\(error)); expected one of \(codes)")
        return error.code
    }

    private func pattern(_ count: Int, offset: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &+ offset) &* 7 &+ 3) }
    }
}

/// Hands a non-Sendable value to a child task of the same fuzz input. `@unchecked Sendable`: every
/// task of an input runs on the one ``InlineExecutor`` thread, so the tasks interleave only where
/// they suspend and never run in parallel.
private struct SameThread<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func tlsFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    InlineExecutor().run {
        await TLSHarness(FuzzInput(bytes)).run()
    }
    return 0
}
