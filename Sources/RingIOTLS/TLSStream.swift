public import RingIOCore

/// A TLS stream over another byte stream (AnyIO's `TLSStream`): what `connectTCP(tlsContext:)`,
/// a `TLSListener`, `TLSStream.wrap` and `SocketStream.startTLS()` give. Plaintext goes in and out of
/// its functions; ciphertext goes over the stream it wraps, which it owns from then on.
///
/// Policy lives here, whatever the transport: on `close()` a standard-compatible stream sends
/// close_notify first (waiting at most 5 seconds for it to go out, not for the peer's reply); a
/// transport EOF without the peer's close_notify is `.brokenResource` when standard-compatible
/// (a possible truncation attack) and a clean end of stream otherwise; a failed handshake closes
/// the transport, and every later call throws the reason. ``unwrap()`` ends TLS with a
/// close_notify exchange and gives the transport back.
///
/// Receives and sends made while the handshake runs (a listener's autostart runs it in a task
/// of its own) wait for it, bounded by their own deadline and cancellation.
///
/// `@unchecked Sendable`: all mutable state (the session, the receive buffer, the phase) is
/// touched only inside `context.confine`, the serial context of the stream it wraps (its event
/// loop), and every function reaches it that way.
public final class TLSStream: SecureStream, @unchecked Sendable {
    private let context: any SerialContext
    private let transport: any CiphertextTransport
    /// What this stream keeps of the stream it wraps, until it is closed or given back (see
    /// ``WrappedStream``: never the socket stream itself, which holds this one).
    @exclusivity(unchecked) private var underlying: (any WrappedStream)?
    private let receiver: BufferedReceiver
    private let standardCompatible: Bool
    /// `nil` when it could not be made; the phase is then failed, with the reason.
    private let session: TLSSession?
    @exclusivity(unchecked) private var state = TLSStreamState()
    /// Receives and sends waiting for the handshake, each under a ticket so that one whose wait
    /// was interrupted removes itself: waits that time out do not pile up.
    @exclusivity(unchecked) private var waiters: [(ticket: UInt64, wake: () -> Void)] = []
    @exclusivity(unchecked) private var nextTicket: UInt64 = 0
    /// The two ends of the socket under this stream (under the stream it wraps, for TLS inside
    /// TLS); `nil` over a stream that is not a socket.
    package let addresses: (local: SocketAddress, remote: SocketAddress)?
    /// The local end of the socket under this stream; `nil` over a stream that is not a socket.
    public var localAddress: SocketAddress? { addresses?.local }
    /// The peer's end of the socket under this stream; `nil` over a stream that is not a socket.
    public var remoteAddress: SocketAddress? { addresses?.remote }
    /// How long close() waits for close_notify to go out.
    private static let closeNotifyLimit = Duration.seconds(5)

    init(
        session: Result<TLSSession, any Error>, over transport: any CiphertextTransport, in context: any SerialContext,
        underlying: any WrappedStream, standardCompatible: Bool, description: String
    ) {
        self.context = context
        self.transport = transport
        self.underlying = underlying
        addresses = underlying.addresses
        self.standardCompatible = standardCompatible
        receiver = BufferedReceiver(context: description)
        switch session {
        case .success(let session):
            self.session = session
        case .failure(let error):
            self.session = nil
            state.failed(error)
        }
    }

    // MARK: Handshake

    /// Runs the handshake in the caller's task. On failure the transport is closed: its bytes can
    /// no longer be trusted.
    ///
    /// - Throws: ``RingIOError`` `.tlsHandshakeFailed` naming the reason, `.tlsFailure` when the
    ///   session could not be made; the transport's errors.
    package nonisolated(nonsending) func handshake() async throws -> TLSInfo {
        try await handshake(describing: { $0 })
    }

    /// `describe` rewrites the failure that later calls see (a timeout becomes the listener's
    /// handshake timeout); the caller gets the failure itself.
    private nonisolated(nonsending) func handshake(describing describe: (any Error) -> any Error) async throws -> TLSInfo {
        do {
            try state.beginHandshake()
        } catch {
            // The session could not be made: the stream fails as after a failed handshake, and
            // the stream it wraps is closed (its bytes were handed to this stream already).
            await closeAll()
            throw error
        }
        defer { wakeWaiters() }
        guard let session else { preconditionFailure("a TLS stream without a session began its handshake") }
        do {
            let info = try await session.handshake()
            state.handshakeCompleted(info)
            return info
        } catch {
            state.failed(Self.forLaterCalls(describe(error)))
            await closeAll()
            throw error
        }
    }

    /// The failure a later receive or send throws: what the handshake sent or received is not
    /// theirs to count.
    private static func forLaterCalls(_ error: any Error) -> any Error {
        guard var error = error as? RingIOError else { return error }
        error.bytesTransferred = nil
        error.partialData = nil
        return error
    }

    package func startHandshakeInBackground(timeLimit: Duration?) {
        let description = receiver.context
        context.spawn { [self] in
            _ = try? await context.confine {
                guard let timeLimit else { return try await handshake() }
                return try await context.withTimeLimit(timeLimit) {
                    try await handshake { error in
                        // The waiting receive or send learns why its stream was closed.
                        guard let error = error as? RingIOError, error.code == .timedOut else { return error }
                        return RingIOError(
                            .tlsHandshakeFailed,
                            "TLS handshake on \(description): the peer did not complete it within the listener's "
                                + "handshakeTimeout (\(timeLimit))", cause: error)
                    }
                }
            }
        }
    }

    /// The session, once the handshake has completed; waits for a handshake that is running.
    @inline(__always)
    private nonisolated(nonsending) func established(_ what: String) async throws -> TLSSession {
        if case .proceed = state.access(""), let session { return session }
        return try await waitForHandshake(what)
    }

    private nonisolated(nonsending) func waitForHandshake(_ what: String) async throws -> TLSSession {
        while true {
            switch state.access("\(what) on \(receiver.context)") {
            case .proceed:
                guard let session else { preconditionFailure("an established TLS stream without a session") }
                return session
            case .fail(let error):
                throw error
            case .wait:
                let ticket = nextTicket
                nextTicket &+= 1
                defer { waiters.removeAll { $0.ticket == ticket } }
                try await transport.park("\(what) waiting for the TLS handshake") { waiters.append((ticket, $0)) }
            }
        }
    }

    /// Waits until the handshake has completed (a listener's autostart runs it in a task of its
    /// own), bounded by the caller's deadline and cancellation.
    ///
    /// - Returns: the negotiated parameters.
    /// - Throws: the handshake's failure; `.closedResource` when the stream was closed or unwrapped.
    package func waitUntilEstablished() async throws -> TLSInfo {
        try await context.confine {
            _ = try await established("handshake")
            guard let info = state.info else {
                throw RingIOError(.closedResource, "handshake on \(receiver.context): the TLS stream was unwrapped")
            }
            return info
        }
    }

    private func wakeWaiters() {
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.wake() }
    }

    // MARK: Receiving

    /// Returns the buffered plaintext if there is any, else waits for the next record.
    ///
    /// - Parameter maxBytes: the most bytes to return (at least 1; default 65,536).
    /// - Throws: ``RingIOError`` `.endOfStream` after the peer's close_notify (or a ragged EOF
    ///   when not standard-compatible); `.brokenResource` for a ragged EOF when standard-compatible;
    ///   `.tlsFailure` for a bad record or the peer's alert; the transport's errors; `CancellationError`.
    public func receiveSome(maxBytes: Int = 65536) async throws -> ByteBuffer {
        try await context.confine { try await confinedReceiveSome(maxBytes: maxBytes) }
    }

    /// Returns exactly `count` bytes; see ``ByteStream/receiveExactly(_:)``.
    public func receiveExactly(_ count: Int) async throws -> ByteBuffer {
        try await context.confine { try await confinedReceiveExactly(count) }
    }

    /// Returns the bytes before the first `delimiter`; see ``ByteStream/receiveUntil(_:maxBytes:)``.
    public func receiveUntil(_ delimiter: some Collection<UInt8>, maxBytes: Int) async throws -> ByteBuffer {
        let delimiter = Array(delimiter)
        return try await context.confine { try await confinedReceiveUntil(delimiter, maxBytes: maxBytes) }
    }

    // The confined forms: each operation is written once, here; the public functions above run
    // it inside `context.confine`, and a socket stream, already on its loop, calls it directly.

    package nonisolated(nonsending) func confinedReceiveSome(maxBytes: Int) async throws -> ByteBuffer {
        try await receiver.receiveSome(maxBytes: maxBytes, from: try await established("receiveSome"))
    }

    package nonisolated(nonsending) func confinedReceiveExactly(_ count: Int) async throws -> ByteBuffer {
        try await receiver.receiveExactly(count, from: try await established("receiveExactly"))
    }

    package nonisolated(nonsending) func confinedReceiveUntil(_ delimiter: [UInt8], maxBytes: Int) async throws -> ByteBuffer {
        try await receiver.receiveUntil(delimiter, maxBytes: maxBytes, from: try await established("receiveUntil"))
    }

    // MARK: Sending

    /// Encrypts and sends every byte of `bytes`.
    ///
    /// - Throws: ``RingIOError`` with `bytesTransferred` counting the plaintext known to be out:
    ///   `.closedResource` after `sendEOF()`, `.busyResource` while another task sends,
    ///   `.tlsFailure`, the transport's errors; `CancellationError`.
    public func sendAll(_ bytes: some Collection<UInt8>) async throws {
        try await context.confine { try await confinedSend(bytes) }
    }

    /// Encrypts and sends `buffer`.
    public func sendAll(_ buffer: ByteBuffer) async throws {
        try await context.confine { try await confinedSend(buffer) }
    }

    /// Sends every byte of `buffers`, in order, each encrypted in turn.
    ///
    /// - Throws: as ``sendAll(_:)-(ByteBuffer)``, with `bytesTransferred` counting the bytes of
    ///   all `buffers` sent before the failure.
    public func sendAll(_ buffers: [ByteBuffer]) async throws {
        try await context.confine { try await confinedSendBuffers(buffers) }
    }

    /// Sends the UTF-8 encoding of `string`.
    public func sendAll(_ string: String) async throws {
        try await sendAll(string.utf8)
    }

    /// Sends close_notify: TLS has no other half close. Receiving goes on; later sends throw
    /// `.closedResource`.
    public func sendEOF() async throws {
        try await context.confine { try await confinedSendEOF() }
    }

    package nonisolated(nonsending) func confinedSend(_ bytes: some Collection<UInt8>) async throws {
        try await established("sendAll").send(bytes)
    }

    package nonisolated(nonsending) func confinedSendBuffers(_ buffers: [ByteBuffer]) async throws {
        let session = try await established("sendAll")
        var sent = 0
        for buffer in buffers {
            do {
                try await session.send(buffer)
            } catch var error as RingIOError {
                error.bytesTransferred = sent + (error.bytesTransferred ?? 0)
                throw error
            }
            sent += buffer.count
        }
    }

    package nonisolated(nonsending) func confinedSendEOF() async throws {
        try await established("sendEOF").sendCloseNotify()
    }

    // MARK: Closing and unwrapping

    /// Closes the TLS stream and the stream it wraps. A standard-compatible stream sends
    /// close_notify first (waiting at most 5 seconds, and not for the peer's reply), unless a
    /// write is stuck (a peer that does not read). Closing twice does nothing.
    public func close() async {
        _ = try? await context.confine { await closeAll() }
    }

    /// Ends the session, then closes what it wraps.
    private nonisolated(nonsending) func closeAll() async {
        let wrapped = underlying
        await closeSession()
        await wrapped?.close()
    }

    package nonisolated(nonsending) func closeSession() async {
        if standardCompatible, state.info != nil, let session, !session.isFlushing {
            _ = try? await context.withTimeLimit(Self.closeNotifyLimit) { try await session.sendCloseNotify() }
        }
        receiver.close()
        underlying = nil
    }

    /// Ends TLS and gives back the stream it wraps (AnyIO's `TLSStream.unwrap`): sends
    /// close_notify (if not sent yet), waits for the peer's, and returns the transport with the
    /// bytes that arrived after the peer's close_notify (the start of what follows TLS on the
    /// connection). This stream's calls throw `.closedResource` from then on.
    ///
    /// ```swift
    /// let (plain, leftover) = try await tls.unwrap()
    /// ```
    ///
    /// - Throws: ``RingIOError`` `.busyResource` while another task receives or sends;
    ///   `.tlsFailure` when plaintext is buffered or arrives before the peer's close_notify (it
    ///   stays buffered: receive it, then unwrap again); `.brokenResource` when the transport
    ///   ends without the peer's close_notify; the transport's errors.
    public func unwrap() async throws -> (stream: any ByteStream, leftover: ByteBuffer) {
        try await context.confine {
            let session = try await established("unwrap")
            let what = "unwrap on \(receiver.context)"
            guard let wrapped = underlying else { throw RingIOError(.closedResource, "\(what): the TLS stream is closed") }
            guard !receiver.receiving else {
                throw RingIOError(.busyResource, "\(what): another task is receiving from this stream")
            }
            guard receiver.bufferedCount == 0 else {
                throw RingIOError(
                    .tlsFailure, "\(what): \(receiver.bufferedCount) bytes received over TLS are not read yet; receive them first")
            }
            try await session.sendCloseNotify()
            do {
                let early = try await receiver.receiveSome(maxBytes: 65536, from: session)
                receiver.append(early)
                throw RingIOError(
                    .tlsFailure, "\(what): the peer sent \(early.count) bytes before its close_notify; receive them, then unwrap again")
            } catch let error as RingIOError where error.code == .endOfStream {
                guard session.receivedCloseNotify else {
                    throw RingIOError(.brokenResource, "\(what): the peer closed the connection without close_notify")
                }
            }
            state.unwrapped()
            receiver.close()
            underlying = nil
            return (wrapped.plainStream(), session.takeUnreadCiphertext())
        }
    }

    // MARK: State

    /// The negotiated TLS parameters; `nil` while the handshake is pending, after it failed, and
    /// after ``unwrap()``.
    public var tls: TLSInfo? {
        get async { (try? await context.confine { state.info }) ?? nil }
    }

    /// The plaintext received but not yet returned by a receive (a copy when it spans records).
    public var bufferedData: ByteBuffer {
        get async { (try? await context.confine { receiver.bufferedData }) ?? ByteBuffer() }
    }

    package var info: TLSInfo? { state.info }
    package var isUnwrapped: Bool { state.isUnwrapped }
    package var handshakeWaiterCount: Int { waiters.count }
    package var isReceiving: Bool { receiver.receiving }
    package var bufferedPlaintext: ByteBuffer { receiver.bufferedData }
    package var bufferedMemory: (bytes: Int, capacity: Int) { (receiver.bufferedCount, receiver.bufferedCapacity) }
}
