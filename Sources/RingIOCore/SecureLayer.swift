/// Which side of a TLS handshake a stream plays.
public enum TLSRole: Sendable, Equatable {
    /// Sends the ClientHello and verifies the server (streams from `connectTCP`, `connectUNIX`).
    case client
    /// Answers with a certificate (streams from a listener's `acceptConnections()`).
    case server
}

/// The negotiated state of a stream's TLS session.
public struct TLSInfo: Sendable, Equatable {
    /// The protocol version, e.g. `TLSv1.3`.
    public let version: String
    /// The cipher suite, e.g. `TLS_AES_256_GCM_SHA384`.
    public let cipher: String
    /// The ALPN protocol both sides agreed on, if any.
    public let alpnProtocol: String?
    /// The peer's certificate in DER, if it sent one.
    public let peerCertificate: [UInt8]?
    /// This side's role.
    public let role: TLSRole
    /// The name the client verified the server against (client side only).
    public let serverHostname: String?
    /// Whether an EOF without close_notify is an error (see the guide's "ragged EOFs").
    public let standardCompatible: Bool
    /// `tls-unique` channel binding (RFC 5929); `nil` under TLS 1.3, where it is undefined.
    public let channelBindingTLSUnique: [UInt8]?
    /// `tls-server-end-point` channel binding (RFC 5929): a hash of the server's certificate.
    public let channelBindingTLSServerEndPoint: [UInt8]?
    /// `tls-exporter` channel binding (RFC 9266), the one to use with TLS 1.3.
    public let channelBindingTLSExporter: [UInt8]?

    /// Creates the description; TLS layers build it when a handshake completes.
    package init(
        version: String, cipher: String, alpnProtocol: String?, peerCertificate: [UInt8]?, role: TLSRole, serverHostname: String?,
        standardCompatible: Bool, channelBindingTLSUnique: [UInt8]?, channelBindingTLSServerEndPoint: [UInt8]?,
        channelBindingTLSExporter: [UInt8]?
    ) {
        self.version = version
        self.cipher = cipher
        self.alpnProtocol = alpnProtocol
        self.peerCertificate = peerCertificate
        self.role = role
        self.serverHostname = serverHostname
        self.standardCompatible = standardCompatible
        self.channelBindingTLSUnique = channelBindingTLSUnique
        self.channelBindingTLSServerEndPoint = channelBindingTLSServerEndPoint
        self.channelBindingTLSExporter = channelBindingTLSExporter
    }
}

/// The byte transport under a TLS session: ciphertext in and out (a socket channel, or another
/// byte stream).
package protocol CiphertextTransport: ByteChunkSource {
    /// Sends every byte of `buffer`.
    nonisolated(nonsending) func send(_ buffer: ByteBuffer) async throws
    /// Suspends the caller until the `wake` closure handed to `register` is called, or until the
    /// caller's deadline passes or its task is cancelled, whichever is first: a layer's task
    /// waits its turn this way, bounded like any other operation. `wake` may be called after
    /// the wait ended (it then does nothing).
    ///
    /// - Throws: ``RingIOError`` `.timedOut` (naming `what`), `.brokenResource` when the event
    ///   loop shuts down; `CancellationError`.
    nonisolated(nonsending) func park(_ what: String, _ register: (_ wake: @escaping () -> Void) -> Void) async throws
}

/// The serial context a stream layered over another runs in (an event loop): the layer's
/// state is touched only inside ``confine(_:)``, from one task at a time between suspensions.
package protocol SerialContext: AnyObject, Sendable {
    /// Runs `body` in this context (directly when the caller is already in it).
    ///
    /// - Throws: `.brokenResource` when the context has shut down; what `body` throws.
    nonisolated(nonsending) func confine<T>(_ body: nonisolated(nonsending) () async throws -> T) async throws -> T
    /// Runs `body` with its operations bounded to `limit` from now (RingIO's `withTimeout`).
    nonisolated(nonsending) func withTimeLimit<T>(_ limit: Duration, _ body: nonisolated(nonsending) () async throws -> T)
        async throws -> T
    /// Starts `body` in a task of its own in this context, without the caller's deadline.
    func spawn(_ body: @escaping @Sendable () async -> Void)
}

/// A TLS session: what ``SecureLayerFactory/makeLayer(over:role:serverHostname:standardCompatible:initialCiphertext:)``
/// makes (the fuzz target drives it directly).
package protocol SecureLayer: ByteChunkSource {
    /// Runs the handshake to completion.
    nonisolated(nonsending) func handshake() async throws -> TLSInfo
    /// Encrypts and sends every byte of `bytes`.
    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>) async throws
    /// Sends close_notify (once).
    nonisolated(nonsending) func sendCloseNotify() async throws
}

/// A secure stream over a socket stream's transport, to which the socket stream hands every
/// receive and send once TLS has started (STARTTLS, autostart). ``SocketStream`` calls these
/// while confined to its loop.
package protocol SecureStream: ByteStream {
    /// The negotiated parameters, once the handshake has completed.
    var info: TLSInfo? { get }
    /// Whether ``ByteStream`` traffic has gone back to the transport (after an unwrap).
    var isUnwrapped: Bool { get }
    /// How many receives and sends wait for the handshake.
    var handshakeWaiterCount: Int { get }
    /// Whether a task is inside a receive.
    var isReceiving: Bool { get }
    /// The plaintext received but not yet returned, and the capacity of the storage it keeps alive.
    var bufferedPlaintext: ByteBuffer { get }
    var bufferedMemory: (bytes: Int, capacity: Int) { get }
    /// Runs the handshake in the caller's task.
    nonisolated(nonsending) func handshake() async throws -> TLSInfo
    /// Runs the handshake in a task of its own, bounded by `timeLimit`; receives and sends wait for it.
    func startHandshakeInBackground(timeLimit: Duration?)
    /// The stream's operations for a caller already in its context (a socket stream on its
    /// loop): the same as the public ones, without confining again, and keeping the caller's
    /// isolation (so `bytes` need not be `Sendable`).
    nonisolated(nonsending) func confinedReceiveSome(maxBytes: Int) async throws -> ByteBuffer
    nonisolated(nonsending) func confinedReceiveExactly(_ count: Int) async throws -> ByteBuffer
    nonisolated(nonsending) func confinedReceiveUntil(_ delimiter: [UInt8], maxBytes: Int) async throws -> ByteBuffer
    nonisolated(nonsending) func confinedSend(_ bytes: some Collection<UInt8>) async throws
    nonisolated(nonsending) func confinedSendBuffers(_ buffers: [ByteBuffer]) async throws
    nonisolated(nonsending) func confinedSendEOF() async throws
    /// Ends the TLS session as ``ByteStream/close()`` does, without closing the transport, and
    /// lets go of it.
    nonisolated(nonsending) func closeSession() async
}

/// What a secure stream keeps of the stream it wraps: a way to close it and a way to give it
/// back once unwrapped. A socket stream lends its parts (its channel and receive buffer) and
/// only a weak reference to itself: the socket holds its secure stream, so a secure stream that
/// held the socket would keep both, and their loop, alive for good.
package protocol WrappedStream {
    /// Closes the wrapped stream and its transport.
    nonisolated(nonsending) func close() async
    /// The wrapped stream as a plain byte stream again, after an unwrap.
    func plainStream() -> any ByteStream
    /// The socket's two ends, when the wrapped stream is a socket (or a stream over one).
    var addresses: (local: SocketAddress, remote: SocketAddress)? { get }
}

/// Any byte stream that does not know the secure stream over it (so holding it makes no cycle).
package struct WrappedByteStream: WrappedStream {
    private let stream: any ByteStream
    package let addresses: (local: SocketAddress, remote: SocketAddress)?

    /// - Parameter addresses: the socket's ends when `stream` runs over one (a TLS stream).
    package init(_ stream: any ByteStream, addresses: (local: SocketAddress, remote: SocketAddress)? = nil) {
        self.stream = stream
        self.addresses = addresses
    }

    package nonisolated(nonsending) func close() async { await stream.close() }

    package func plainStream() -> any ByteStream { stream }
}

/// Makes TLS sessions and streams: a TLS context conforms.
package protocol SecureLayerFactory: AnyObject, Sendable {
    /// A session over `transport`, with `initialCiphertext` (bytes already received from the
    /// peer) fed to it first.
    func makeLayer(
        over transport: any CiphertextTransport, role: TLSRole, serverHostname: String?, standardCompatible: Bool,
        initialCiphertext: ByteBuffer
    ) throws -> any SecureLayer

    /// A secure stream whose session runs over `transport` in `context`; `underlying` is what it
    /// closes when closed and gives back when unwrapped. `description` names the
    /// stream in error messages. Creation failures surface from its handshake.
    func makeStream(
        over transport: any CiphertextTransport, in context: any SerialContext, underlying: any WrappedStream, role: TLSRole,
        serverHostname: String?, standardCompatible: Bool, initialCiphertext: ByteBuffer, description: String
    ) -> any SecureStream
}
