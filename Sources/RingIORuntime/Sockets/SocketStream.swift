#if os(Linux)
public import RingIOCore

/// A connected stream socket (TCP or UNIX, plain or TLS): what `connectTCP` and `connectUNIX`
/// return and what a listener's `acceptConnections()` yields.
///
/// Any task may call its functions; each runs on the stream's event loop (hopping there first
/// when called from elsewhere). One task may receive and one may send at a time.
///
/// Once TLS is started (`startTLS`, or autostart), the same functions hand every receive and send
/// to the TLS stream over this socket (a `TLSStream`, which `startTLS` also returns), until
/// that stream is unwrapped.
///
/// `@unchecked Sendable`: all mutable state (the receive buffer, the channel, the TLS stream) is
/// touched only on `loop`'s thread, and every function reaches it through `loop.confine`.
public final class SocketStream: ByteStream, @unchecked Sendable {
    let loop: EventLoop
    private let channel: StreamChannel
    private let receiver: BufferedReceiver
    /// The TLS stream every receive and send goes through once TLS has started.
    @exclusivity(unchecked) private var secure: (any SecureStream)?
    /// What `startTLS()` uses when it is given no context.
    @exclusivity(unchecked) private var tlsSetup: TLSSetup?
    /// The TLS role this stream plays: client for connected streams, server for accepted ones.
    package let tlsRole: TLSRole
    /// The local end's address.
    public let localAddress: SocketAddress
    /// The peer's address.
    public let remoteAddress: SocketAddress

    convenience init(
        loop: EventLoop, channel: StreamChannel, localAddress: SocketAddress, remoteAddress: SocketAddress, kind: String,
        tlsRole: TLSRole
    ) {
        self.init(
            loop: loop, channel: channel, receiver: BufferedReceiver(context: "\(kind) stream \(localAddress) ↔ \(remoteAddress)"),
            localAddress: localAddress, remoteAddress: remoteAddress, tlsRole: tlsRole)
    }

    /// A stream over a channel and receive buffer that may have served another stream before
    /// (an unwrapped TLS stream's, once its socket stream is gone).
    init(
        loop: EventLoop, channel: StreamChannel, receiver: BufferedReceiver, localAddress: SocketAddress,
        remoteAddress: SocketAddress, tlsRole: TLSRole
    ) {
        self.loop = loop
        self.channel = channel
        self.receiver = receiver
        self.tlsRole = tlsRole
        self.localAddress = localAddress
        self.remoteAddress = remoteAddress
    }

    /// Returns the buffered bytes if there are any, else waits for the next bytes to arrive.
    ///
    /// The result may share memory with the loop's receive pool (no copy); keeping it is safe.
    ///
    /// - Parameter maxBytes: the most bytes to return (at least 1; default 65,536).
    /// - Throws: ``RingIOError`` `.endOfStream` when the peer has finished sending and nothing is
    ///   buffered; `.closedResource`, `.connectionReset`, `.busyResource`, `.timedOut`; `CancellationError`.
    public func receiveSome(maxBytes: Int = 65536) async throws -> ByteBuffer {
        try await loop.confine {
            if let secure = secureStream() { return try await secure.confinedReceiveSome(maxBytes: maxBytes) }
            return try await receiver.receiveSome(maxBytes: maxBytes, from: channel)
        }
    }

    /// The TLS stream, while TLS is on: on the hot path of a plain stream, one load.
    @inline(__always)
    private func secureStream() -> (any SecureStream)? {
        guard let secure else { return nil }
        return secure.isUnwrapped ? unwrapped() : secure
    }

    /// The TLS stream was unwrapped: this stream is plain again.
    private func unwrapped() -> (any SecureStream)? {
        secure = nil
        return nil
    }

    /// Returns exactly `count` bytes; see ``ByteStream/receiveExactly(_:)``.
    public func receiveExactly(_ count: Int) async throws -> ByteBuffer {
        try await loop.confine {
            if let secure = secureStream() { return try await secure.confinedReceiveExactly(count) }
            return try await receiver.receiveExactly(count, from: channel)
        }
    }

    /// Returns the bytes before the first `delimiter`; see ``ByteStream/receiveUntil(_:maxBytes:)``.
    public func receiveUntil(_ delimiter: some Collection<UInt8>, maxBytes: Int) async throws -> ByteBuffer {
        try await loop.confine {
            if let secure = secureStream() { return try await secure.confinedReceiveUntil(Array(delimiter), maxBytes: maxBytes) }
            return try await receiver.receiveUntil(delimiter, maxBytes: maxBytes, from: channel)
        }
    }

    /// Sends every byte of `bytes`. Bytes that are not a ``ByteBuffer`` are copied into the
    /// loop's send blocks (64 KiB at a time) while the kernel reads them.
    ///
    /// - Throws: ``RingIOError`` (`.connectionReset`, `.closedResource`, `.busyResource`,
    ///   `.timedOut`, ...) with `bytesTransferred` set; `CancellationError`.
    public func sendAll(_ bytes: some Collection<UInt8>) async throws {
        try await loop.confine {
            if let secure = secureStream() { return try await secure.confinedSend(bytes) }
            try await channel.send(bytes)
        }
    }

    /// Sends `buffer` without copying it (on a TLS stream: encrypted, so copied by encryption).
    public func sendAll(_ buffer: ByteBuffer) async throws {
        try await loop.confine {
            if let secure = secureStream() { return try await secure.confinedSend(buffer) }
            try await channel.send(buffer)
        }
    }

    /// Sends every byte of `buffers`, in order, as if they were one buffer: a vectored send, so a
    /// header and a body (or many small pieces) go out in one system call without being copied
    /// together first. On a TLS stream each buffer is encrypted in turn.
    ///
    /// ```swift
    /// try await stream.sendAll([header, body])
    /// ```
    ///
    /// - Throws: ``RingIOError`` (`.connectionReset`, `.closedResource`, `.busyResource`,
    ///   `.timedOut`, ...) with `bytesTransferred` counting the bytes of all `buffers` sent before
    ///   the failure; `CancellationError`.
    public func sendAll(_ buffers: [ByteBuffer]) async throws {
        try await loop.confine {
            if let secure = secureStream() { return try await secure.confinedSendBuffers(buffers) }
            try await channel.send(buffers)
        }
    }

    /// Sends the UTF-8 encoding of `string`.
    public func sendAll(_ string: String) async throws {
        try await sendAll(string.utf8)
    }

    /// Half-closes the stream: the peer reads end of stream; this side can still receive. On a
    /// TLS stream this sends close_notify (TLS has no other half close).
    public func sendEOF() async throws {
        try await loop.confine {
            if let secure = secureStream() { return try await secure.confinedSendEOF() }
            try channel.sendEOF()
        }
    }

    /// Closes the stream. On a standard-compatible TLS stream it first sends close_notify
    /// (waiting at most 5 seconds, and not for the peer's reply). Tasks waiting in a receive or
    /// send get `.closedResource`; later calls get `.closedResource` too. Closing twice does nothing.
    public func close() async {
        _ = try? await loop.confine {
            if let secure = secureStream() { await secure.closeSession() }
            await Self.closeTransport(receiver, channel)
        }
    }

    /// Closes the socket under any TLS: its receive buffer, then its channel.
    nonisolated(nonsending) static func closeTransport(_ receiver: BufferedReceiver, _ channel: StreamChannel) async {
        receiver.close()
        await channel.close()
    }

    // MARK: TLS

    /// Starts TLS on this stream (STARTTLS): runs the handshake now, as `setup.role`. Bytes
    /// already buffered by a receive are handed to TLS, not lost.
    ///
    /// - Returns: the TLS stream, to which this stream hands every receive and send from now on.
    /// - Throws: ``RingIOError`` `.tlsFailure` if TLS is already active or starting; `.busyResource`
    ///   while another task receives or sends; `.tlsHandshakeFailed` (the stream is then closed).
    package func startTLS(_ setup: TLSSetup) async throws -> any SecureStream {
        try await loop.confine {
            guard secureStream() == nil else {
                throw RingIOError(.tlsFailure, "startTLS on \(receiver.context): TLS is already active on this stream")
            }
            guard !receiver.receiving && !channel.isSending else {
                throw RingIOError(.busyResource, "startTLS on \(receiver.context): another task is receiving or sending on this stream")
            }
            let secure = makeSecureStream(setup)
            _ = try await secure.handshake()
            return secure
        }
    }

    /// Arranges TLS: `now` starts the handshake in a task of its own (servers with autostart;
    /// receives and sends wait for it); otherwise `setup` is remembered for a later `startTLS()`.
    package func prepareTLS(_ setup: TLSSetup, now: Bool) async throws {
        try await loop.confine { configureTLS(setup, now: now) }
    }

    /// ``prepareTLS(_:now:)`` for callers already on the loop.
    func configureTLS(_ setup: TLSSetup, now: Bool) {
        guard now else {
            tlsSetup = setup
            return
        }
        makeSecureStream(setup).startHandshakeInBackground(timeLimit: setup.handshakeTimeout)
    }

    /// The TLS stream over this socket, taking the bytes already buffered as its first ciphertext.
    private func makeSecureStream(_ setup: TLSSetup) -> any SecureStream {
        tlsSetup = setup
        let secure = setup.factory.makeStream(
            over: channel, in: loop,
            underlying: WrappedSocket(
                self, loop: loop, channel: channel, receiver: receiver, localAddress: localAddress, remoteAddress: remoteAddress,
                tlsRole: tlsRole),
            role: setup.role, serverHostname: setup.serverHostname,
            standardCompatible: setup.standardCompatible, initialCiphertext: receiver.takeBufferedData(),
            description: receiver.context)
        self.secure = secure
        return secure
    }

    /// How many receives and sends wait for this stream's handshake (tests check that waits
    /// that timed out are not kept).
    package var tlsHandshakeWaiterCount: Int {
        get async { (try? await loop.confine { secure?.handshakeWaiterCount ?? 0 }) ?? 0 }
    }

    /// The TLS setup a later `startTLS()` without arguments uses (from `connectTCP(tlsContext:)`
    /// or the listener's context).
    package var storedTLSSetup: TLSSetup? {
        get async { (try? await loop.confine { tlsSetup }) ?? nil }
    }

    /// The TLS stream this socket hands its traffic to, if TLS has started.
    package var currentSecureStream: (any SecureStream)? {
        get async { (try? await confinedSecureStream) ?? nil }
    }

    /// ``currentSecureStream``, throwing `.brokenResource` when the loop has shut down.
    package var confinedSecureStream: (any SecureStream)? {
        get async throws { try await loop.confine { secureStream() } }
    }

    /// The negotiated TLS parameters, or `nil` before TLS started (or while its handshake is pending).
    public var tls: TLSInfo? {
        get async { (try? await loop.confine { secureStream()?.info }) ?? nil }
    }

    /// The bytes received but not yet returned by a receive (a copy when they span chunks).
    public var bufferedData: ByteBuffer {
        get async {
            (try? await loop.confine { secureStream()?.bufferedPlaintext ?? receiver.bufferedData }) ?? ByteBuffer()
        }
    }

    /// How many received bytes are buffered, and the capacity of the storage they keep alive
    /// (tests check that memory follows bytes with it).
    package var bufferedMemory: (bytes: Int, capacity: Int) {
        get async {
            (try? await loop.confine { secureStream()?.bufferedMemory ?? (receiver.bufferedCount, receiver.bufferedCapacity) })
                ?? (0, 0)
        }
    }

    /// Sets an integer socket option.
    ///
    /// - Throws: ``RingIOError`` `.closedResource` after `close()`, or the kernel's error.
    public func setOption(_ option: SocketOption, to value: Int32) async throws {
        try await loop.confine {
            try SocketCalls.setOption(
                try openDescriptor(), level: option.level, name: option.name, value: value, describing: receiver.context)
        }
    }

    /// Reads an integer socket option.
    public func option(_ option: SocketOption) async throws -> Int32 {
        try await loop.confine {
            try SocketCalls.option(try openDescriptor(), level: option.level, name: option.name, describing: receiver.context)
        }
    }

    // MARK: UNIX streams

    /// Sends `bytes` with `descriptors` attached (SCM_RIGHTS): the peer receives duplicates of
    /// them with ``receiveDescriptors(maxBytes:maxDescriptors:)``. The caller keeps its own
    /// descriptors open (close them when you no longer need them).
    ///
    /// - Parameters:
    ///   - bytes: at least one byte (descriptors travel with data); all of it is sent.
    ///   - descriptors: at most 64 open descriptors.
    /// - Throws: ``RingIOError`` `.invalidArgument` on a TCP stream, for empty `bytes` or more
    ///   than 64 descriptors; the errors of ``sendAll(_:)-(some Collection<UInt8>)``.
    public func sendAll(_ bytes: some Collection<UInt8>, descriptors: [Int32]) async throws {
        try await loop.confine {
            guard secureStream() == nil else {
                throw RingIOError(.invalidArgument, "send with descriptors on \(receiver.context): descriptors cannot travel over TLS")
            }
            try await channel.send(bytes, descriptors: descriptors)
        }
    }

    /// Sends the UTF-8 encoding of `string` with `descriptors` attached; see ``sendAll(_:descriptors:)-(some Collection<UInt8>,_)``.
    public func sendAll(_ string: String, descriptors: [Int32]) async throws {
        try await sendAll(string.utf8, descriptors: descriptors)
    }

    /// Receives like ``receiveSome(maxBytes:)`` and also returns the descriptors that arrived
    /// with these or earlier bytes (UNIX streams; at most `maxDescriptors`, the rest stay queued).
    /// You own the returned descriptors and must close them; descriptors never taken are closed
    /// with the stream.
    ///
    /// - Throws: as ``receiveSome(maxBytes:)``.
    public func receiveDescriptors(maxBytes: Int = 65536, maxDescriptors: Int = 16) async throws -> (ByteBuffer, [Int32]) {
        try await loop.confine {
            guard secureStream() == nil else {
                throw RingIOError(.invalidArgument, "receiveDescriptors on \(receiver.context): descriptors cannot travel over TLS")
            }
            let bytes = try await receiver.receiveSome(maxBytes: maxBytes, from: channel)
            return (bytes, channel.takeReceivedDescriptors(max: maxDescriptors))
        }
    }

    /// The connected peer's process, user and group ids (`SO_PEERCRED`), as the kernel recorded
    /// them when the connection was made. UNIX streams only.
    ///
    /// - Throws: ``RingIOError`` `.invalidArgument` on a TCP stream; `.closedResource` after `close()`.
    public var peerCredentials: PeerCredentials {
        get async throws {
            guard case .unix = localAddress else {
                throw RingIOError(.invalidArgument, "peerCredentials on \(receiver.context): only UNIX streams have peer credentials")
            }
            return try await loop.confine { try PeerCredentials(of: try openDescriptor(), describing: receiver.context) }
        }
    }

    /// Whether a task is inside a receive on this stream (tests use it to order tasks without sleeping).
    package var isReceiving: Bool {
        get async { (try? await loop.confine { receiver.receiving || secure?.isReceiving == true }) ?? false }
    }

    /// Whether a task is inside a send on this stream.
    package var isSending: Bool {
        get async { (try? await loop.confine { channel.isSending }) ?? false }
    }

    private func openDescriptor() throws(RingIOError) -> Int32 {
        let fd = channel.descriptor
        guard fd >= 0 else { throw RingIOError(.closedResource, "socket option on \(receiver.context): the stream is closed") }
        return fd
    }
}
#endif
