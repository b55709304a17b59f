import CRingIOTLS
import RingIOCore

/// One TLS session over a ciphertext transport, running OpenSSL over in-memory BIOs: ciphertext
/// read from the transport is fed to the engine, and what the engine writes is sent on the
/// transport. The transport is a RingIO socket channel (io_uring or epoll) or another byte
/// stream, never `SSL_set_fd`. ``TLSStream`` is the stream around it.
///
/// Ragged EOF: a transport EOF without close_notify ends the stream cleanly when not
/// standard-compatible, and is `.brokenResource` ("possible truncation attack") when it is.
///
/// Not `Sendable`: it belongs to one stream and runs on that stream's event loop. Receiving and
/// sending may interleave there. Writes to the transport go one at a time, in order (a flush).
/// A sender, or close_notify, waits for an active flush to end before it hands its bytes to the
/// engine, parked on the transport: its own deadline and cancellation end the wait, and a sender
/// that gave up there has handed over nothing, so the session goes on. Every flush ends (its
/// write completes, fails, or is ended by the stream's close). A receiver that has something to
/// answer (a key update) sends it itself when no flush is active, and otherwise leaves it to the
/// active flush, which keeps going until the engine's output is empty; past ``outputLimit``
/// pending bytes it waits for that flush before it reads more, so a peer that keeps asking for
/// answers without reading them cannot grow the output. A failed write to the transport breaks
/// the session for good (its records would no longer line up), and every later call throws
/// that failure.
final class TLSSession: SecureLayer {
    private let context: TLSContext
    private let session: OpaquePointer
    private let transport: any CiphertextTransport
    private let role: TLSRole
    private let serverHostname: String?
    private let standardCompatible: Bool
    private var error = [CChar](repeating: 0, count: 512)
    /// Handshaking, open, close_notify sent or broken; who sends and who flushes.
    private var state = TLSSessionState()
    /// Tasks waiting for the active flush to end, each under a ticket so that one whose wait was
    /// interrupted removes itself: waits that time out do not pile up.
    private var flushWaiters: [(ticket: UInt64, wake: () -> Void)] = []
    private var nextTicket: UInt64 = 0
    /// The most ciphertext the receive path lets pile up behind an active flush before it waits
    /// for that flush (answers to key updates are tens of bytes each).
    static let outputLimit = 65536
    private static let recordChunk = 65536
    /// The most plaintext one TLS record carries (RFC 8446, 5.1); a read returns at most this.
    private static let maxPlaintextRecord = 16384
    /// The buffer the last receive returned, reused once nothing else refers to it (an echo, or a
    /// parser done with it): steady receiving allocates nothing.
    private var plaintext: ByteStorage?
    /// Whether the peer's close_notify has arrived (a receive then ends the stream).
    private(set) var receivedCloseNotify = false
    /// Whether a flush is writing to the transport (a close does not wait behind a stuck one).
    var isFlushing: Bool { state.flushing }

    init(
        context: TLSContext, rawContext: OpaquePointer, transport: any CiphertextTransport, role: TLSRole, serverHostname: String?,
        standardCompatible: Bool, initialCiphertext: ByteBuffer
    ) throws {
        guard let session = ringio_tls_session_create(rawContext, role == .server ? 1 : 0, serverHostname, &error, error.count) else {
            throw RingIOError(.tlsFailure, "startTLS: \(error.messageText)")
        }
        self.context = context
        self.session = session
        self.transport = transport
        self.role = role
        self.serverHostname = serverHostname
        self.standardCompatible = standardCompatible
        if !initialCiphertext.isEmpty { feed(initialCiphertext) }
    }

    deinit {
        ringio_tls_session_free(session)
    }

    // MARK: Handshake

    nonisolated(nonsending) func handshake() async throws -> TLSInfo {
        while true {
            let status = ringio_tls_handshake(session, &error, error.count)
            // Send what the engine produced (alerts included) before acting on the status; when
            // the handshake failed, its reason matters more than a failure to send the alert.
            if status == Int32(RINGIO_TLS_FAILED) {
                try? await flush()
            } else {
                try await flush()
            }
            switch Int(status) {
            case Int(RINGIO_TLS_OK):
                state.handshakeCompleted()
                return info()
            case Int(RINGIO_TLS_WANT_READ):
                guard let chunk = try await transport.receiveChunk(maxBytes: Self.recordChunk) else {
                    throw RingIOError(.tlsHandshakeFailed, "TLS handshake failed: the peer closed the connection during the handshake")
                }
                feed(chunk)
            default:
                // The session is not marked broken: what a later call meets is the engine's
                // own answer (the stream closes itself after a failed handshake anyway).
                throw RingIOError(.tlsHandshakeFailed, error.messageText)
            }
        }
    }

    private func info() -> TLSInfo {
        var alpnLength = 0
        let alpn = ringio_tls_alpn(session, &alpnLength).map {
            String(decoding: UnsafeBufferPointer(start: $0, count: alpnLength), as: UTF8.self)
        }
        return TLSInfo(
            version: ringio_tls_version(session).map { String(cString: $0) } ?? "",
            cipher: ringio_tls_cipher(session).map { String(cString: $0) } ?? "",
            alpnProtocol: alpnLength > 0 ? alpn : nil,
            peerCertificate: bytes { ringio_tls_peer_certificate(session, $0, $1) },
            role: role, serverHostname: role == .client ? serverHostname : nil, standardCompatible: standardCompatible,
            channelBindingTLSUnique: bytes { ringio_tls_channel_binding(session, Int32(RINGIO_CB_TLS_UNIQUE), $0, $1) },
            channelBindingTLSServerEndPoint: bytes { ringio_tls_channel_binding(session, Int32(RINGIO_CB_TLS_SERVER_END_POINT), $0, $1) },
            channelBindingTLSExporter: bytes { ringio_tls_channel_binding(session, Int32(RINGIO_CB_TLS_EXPORTER), $0, $1) })
    }

    /// Reads a variable-length value from a C call that returns its size (or -1 for none).
    private func bytes(_ read: (UnsafeMutablePointer<UInt8>?, Int) -> Int) -> [UInt8]? {
        let size = read(nil, 0)
        guard size >= 0 else { return nil }
        var result = [UInt8](repeating: 0, count: size)
        let written = result.withUnsafeMutableBufferPointer { read($0.baseAddress, size) }
        return written == size ? result : nil
    }

    // MARK: Receiving

    /// Where `flush` takes the engine's output, reused once the transport has sent it (it holds
    /// the buffer only until its send completes): steady sending allocates nothing either.
    private var ciphertext: ByteStorage?

    nonisolated(nonsending) func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        if let failure = state.failure { throw failure }
        let capacity = min(maxBytes, Self.maxPlaintextRecord)
        let storage = ByteStorage.reused(&plaintext, capacity: capacity, allocating: Self.maxPlaintextRecord)
        while true {
            var count = 0
            let status = ringio_tls_read(session, storage.base, capacity, &count, &error, error.count)
            switch Int(status) {
            case Int(RINGIO_TLS_OK):
                // Decrypted bytes are returned even if answering the peer (a key update) fails;
                // that failure breaks the session and surfaces on the next call.
                if ringio_tls_pending_output(session) > 0 { try? await flushAnswers() }
                return ByteBuffer(storage: storage, lower: 0, upper: count)
            case Int(RINGIO_TLS_CLOSED):
                receivedCloseNotify = true
                return nil
            case Int(RINGIO_TLS_WANT_READ):
                if ringio_tls_pending_output(session) > 0 { try await flushAnswers() }
                guard let chunk = try await transport.receiveChunk(maxBytes: Self.recordChunk) else {
                    if standardCompatible {
                        throw RingIOError(
                            .brokenResource,
                            "TLS receive: the peer closed the connection without close_notify (a possible truncation attack; "
                                + "use tlsStandardCompatible: false for protocols that end this way)")
                    }
                    return nil
                }
                feed(chunk)
            default:
                // A bad record, the peer's fatal alert or a refused renegotiation ends the
                // session: every later receive fails the same way (OpenSSL itself would report a
                // clean close next). The alert the engine wrote goes out if nothing else is
                // sending; it is not waited for.
                let failure = RingIOError(.tlsFailure, error.messageText)
                if !state.flushing, ringio_tls_pending_output(session) > 0 { try? await flush() }
                state.broke(failure)
                throw failure
            }
        }
    }

    /// Takes the ciphertext received but not read by the engine: after the peer's close_notify,
    /// the bytes that followed it on the transport (unwrapping hands them back).
    func takeUnreadCiphertext() -> ByteBuffer {
        let count = ringio_tls_pending_input(session)
        guard count > 0 else { return ByteBuffer() }
        let storage = ByteStorage(capacity: count)
        let taken = ringio_tls_take_input(session, storage.base, count)
        return ByteBuffer(storage: storage, lower: 0, upper: taken)
    }

    private func feed(_ chunk: ByteBuffer) {
        let result = chunk.withUnsafeBytes { ringio_tls_feed(session, $0.baseAddress, $0.count) }
        precondition(result == 0, "BIO_write to the input byte queue failed (out of memory)")
    }

    // MARK: Sending

    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>) async throws {
        if bytes.withContiguousStorageIfAvailable({ _ in true }) == nil {
            return try await send(Array(bytes))
        }
        try state.beginSend()
        defer { state.endSend() }
        var offset = 0
        let total = bytes.count
        while offset < total {
            let length = min(Self.recordChunk, total - offset)
            let start = offset
            do {
                try await waitForFlushToEnd("TLS send")
            } catch var failure as RingIOError {
                failure.bytesTransferred = offset
                throw failure
            }
            let status =
                bytes.withContiguousStorageIfAvailable { pointer in
                    ringio_tls_write(session, pointer.baseAddress.map { $0 + start }, length, &error, error.count)
                } ?? Int32(RINGIO_TLS_FAILED)
            guard status == Int32(RINGIO_TLS_OK) else { throw RingIOError(.tlsFailure, error.messageText, bytesTransferred: offset) }
            do {
                try await flush()
            } catch var failure as RingIOError {
                // Count plaintext, not ciphertext: the bytes of earlier chunks are known to be out.
                failure.bytesTransferred = offset
                throw failure
            }
            offset += length
        }
    }

    nonisolated(nonsending) func sendCloseNotify() async throws {
        // close_notify queued behind a send's first records would end the stream for the peer
        // in the middle of that send (a silent truncation): a send in progress makes it busy,
        // checked before and again after waiting for the active flush.
        guard !state.hasSentCloseNotify else { return }
        if state.sending { _ = try state.beginCloseNotify() }
        try await waitForFlushToEnd("TLS sendEOF")
        guard try state.beginCloseNotify() == .send else { return }
        _ = ringio_tls_shutdown(session)
        try await flush()
    }

    /// Waits, parked on the transport, until no flush is active; throws if the session broke
    /// meanwhile. The caller's deadline and cancellation end the wait.
    private nonisolated(nonsending) func waitForFlushToEnd(_ what: String) async throws {
        if let failure = state.failure { throw failure }
        while state.flushing {
            let ticket = nextTicket
            nextTicket &+= 1
            defer { flushWaiters.removeAll { $0.ticket == ticket } }
            try await transport.park("\(what) waiting for the TLS session's previous write") { flushWaiters.append((ticket, $0)) }
            if let failure = state.failure { throw failure }
        }
    }

    /// Sends what the receive path made the engine write (answers to the peer). Without an active
    /// flush the receiver sends it itself; with one, the active flush takes it, unless more than
    /// ``outputLimit`` bytes are waiting: then the receiver waits for that flush first.
    private nonisolated(nonsending) func flushAnswers() async throws {
        if state.flushing {
            guard ringio_tls_pending_output(session) > Self.outputLimit else { return }
            try await waitForFlushToEnd("TLS receive")
        }
        try await flush()
    }

    /// Sends everything the engine has written. Only one flush sends at a time, so records stay
    /// in order; callers make sure none is active (``waitForFlushToEnd(_:)``) before they call it.
    private nonisolated(nonsending) func flush() async throws {
        if let failure = state.failure { throw failure }
        state.beginFlush()
        defer {
            state.endFlush()
            // Every waiter re-checks: waking only one could wake one whose wait already ended.
            let waiting = flushWaiters
            flushWaiters = []
            for waiter in waiting { waiter.wake() }
        }
        while true {
            let pending = ringio_tls_pending_output(session)
            if pending == 0 { return }
            let storage = ByteStorage.reused(&ciphertext, capacity: pending, allocating: Self.maxPlaintextRecord + 256)
            let taken = ringio_tls_take_output(session, storage.base, pending)
            do {
                try await transport.send(ByteBuffer(storage: storage, lower: 0, upper: taken))
            } catch {
                state.broke(error)
                throw error
            }
        }
    }
}
