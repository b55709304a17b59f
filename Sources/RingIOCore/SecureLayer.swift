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

/// The byte transport under a security layer: ciphertext in and out (a socket channel).
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

/// A security layer (TLS) that a stream routes its bytes through once started.
package protocol SecureLayer: ByteChunkSource {
    /// Runs the handshake to completion.
    nonisolated(nonsending) func handshake() async throws -> TLSInfo
    /// Encrypts and sends every byte of `bytes`.
    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>) async throws
    /// Sends close_notify (once).
    nonisolated(nonsending) func sendCloseNotify() async throws
}

/// Makes security layers: a TLS context conforms.
package protocol SecureLayerFactory: AnyObject, Sendable {
    /// A layer over `transport`, with `initialCiphertext` (bytes already received from the peer)
    /// fed to it first.
    func makeLayer(
        over transport: any CiphertextTransport, role: TLSRole, serverHostname: String?, standardCompatible: Bool,
        initialCiphertext: ByteBuffer
    ) throws -> any SecureLayer
}
