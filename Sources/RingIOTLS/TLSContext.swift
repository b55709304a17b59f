import CRingIOTLS
public import RingIOCore

/// A TLS configuration ready to use (OpenSSL's `SSL_CTX`): certificates, trust, versions,
/// ciphers, ALPN. Make one per configuration and share it between any number of connections and
/// threads.
///
/// `@unchecked Sendable`: the `SSL_CTX` is configured completely in `init` and only read
/// afterwards; OpenSSL allows a configured context to be shared by sessions on any thread.
public final class TLSContext: SecureLayerFactory, @unchecked Sendable {
    private let context: OpaquePointer
    /// Whether this context makes client or server sessions.
    public let role: TLSRole

    /// Creates a context.
    ///
    /// - Throws: ``RingIOError`` `.invalidArgument` naming what could not be loaded (a missing or
    ///   malformed PEM file, a key that does not match the certificate, an unknown cipher).
    public init(_ configuration: TLSConfiguration) throws {
        var error = [CChar](repeating: 0, count: 512)
        guard let context = ringio_tls_context_create(configuration.role == .server ? 1 : 0, &error, error.count) else {
            throw RingIOError(.invalidArgument, "TLSContext: \(error.messageText)")
        }
        self.context = context
        self.role = configuration.role
        func check(_ result: Int32) throws {
            if result != 0 { throw RingIOError(.invalidArgument, "TLSContext: \(error.messageText)") }
        }
        if let chain = configuration.certificateChain {
            try check(Self.withPEM(chain) { ringio_tls_context_use_certificate_chain(context, $0, $1, $2, &error, error.count) })
        }
        if let key = configuration.privateKey {
            try check(Self.withPEM(key) { ringio_tls_context_use_private_key(context, $0, $1, $2, &error, error.count) })
        }
        if (configuration.certificateChain == nil) != (configuration.privateKey == nil) {
            throw RingIOError(.invalidArgument, "TLSContext: give the certificate chain and its private key together")
        }
        if configuration.role == .server && configuration.certificateChain == nil {
            throw RingIOError(.invalidArgument, "TLSContext: a server needs a certificate chain and a private key")
        }
        if configuration.verifyPeer || configuration.role == .client {
            switch configuration.trustRoots {
            case .system:
                try check(ringio_tls_context_trust(context, 1, nil, nil, nil, 0, &error, error.count))
            case .file(let path):
                try check(ringio_tls_context_trust(context, 0, path, nil, nil, 0, &error, error.count))
            case .directory(let path):
                try check(ringio_tls_context_trust(context, 0, nil, path, nil, 0, &error, error.count))
            case .text(let pem):
                try check(ringio_tls_context_trust(context, 0, nil, nil, pem, pem.utf8.count, &error, error.count))
            }
        }
        ringio_tls_context_set_verify_peer(context, configuration.verifyPeer ? 1 : 0)
        if !configuration.applicationProtocols.isEmpty {
            var wire: [UInt8] = []
            for name in configuration.applicationProtocols {
                let bytes = Array(name.utf8)
                guard (1...255).contains(bytes.count) else {
                    throw RingIOError(.invalidArgument, "TLSContext: the ALPN name \(name.debugDescription) must be 1 to 255 bytes")
                }
                wire.append(UInt8(bytes.count))
                wire.append(contentsOf: bytes)
            }
            try check(ringio_tls_context_set_alpn(context, wire, wire.count))
        }
        let minimum = Self.wireVersion(configuration.minimumVersion)
        let maximum = configuration.maximumVersion.map(Self.wireVersion) ?? 0
        try check(ringio_tls_context_set_versions(context, minimum, maximum, &error, error.count))
        if configuration.allowsRenegotiation { ringio_tls_context_allow_renegotiation(context) }
        if configuration.cipherList != nil || configuration.cipherSuites != nil {
            try check(ringio_tls_context_set_ciphers(context, configuration.cipherList, configuration.cipherSuites, &error, error.count))
        }
    }

    deinit {
        ringio_tls_context_free(context)
    }

    /// A client context that trusts the system's CAs, or only `caFile` when given.
    public static func client(caFile: String? = nil, applicationProtocols: [String] = []) throws -> TLSContext {
        try TLSContext(.client(trustRoots: caFile.map { .file($0) } ?? .system, applicationProtocols: applicationProtocols))
    }

    /// A server context with a certificate chain and key from PEM files.
    public static func server(certificateFile: String, keyFile: String, applicationProtocols: [String] = []) throws -> TLSContext {
        try TLSContext(
            .server(certificateChain: .file(certificateFile), privateKey: .file(keyFile), applicationProtocols: applicationProtocols))
    }

    package func makeLayer(
        over transport: any CiphertextTransport, role: TLSRole, serverHostname: String?, standardCompatible: Bool,
        initialCiphertext: ByteBuffer
    ) throws -> any SecureLayer {
        try makeSession(
            over: transport, role: role, serverHostname: serverHostname, standardCompatible: standardCompatible,
            initialCiphertext: initialCiphertext)
    }

    private func makeSession(
        over transport: any CiphertextTransport, role: TLSRole, serverHostname: String?, standardCompatible: Bool,
        initialCiphertext: ByteBuffer
    ) throws -> TLSSession {
        guard role == self.role else {
            throw RingIOError(
                .tlsFailure,
                "startTLS: this stream plays the TLS \(role) but the context was made for a \(self.role); use TLSConfiguration.\(role)")
        }
        return try TLSSession(
            context: self, rawContext: context, transport: transport, role: role, serverHostname: serverHostname,
            standardCompatible: standardCompatible, initialCiphertext: initialCiphertext)
    }

    package func makeStream(
        over transport: any CiphertextTransport, in context: any SerialContext, underlying: any WrappedStream, role: TLSRole,
        serverHostname: String?, standardCompatible: Bool, initialCiphertext: ByteBuffer, description: String
    ) -> any SecureStream {
        makeTLSStream(
            over: transport, in: context, underlying: underlying, role: role, serverHostname: serverHostname,
            standardCompatible: standardCompatible, initialCiphertext: initialCiphertext, description: description)
    }

    /// ``makeStream(over:in:underlying:role:serverHostname:standardCompatible:initialCiphertext:description:)``
    /// with its concrete type. A role that does not match the context's fails the handshake.
    package func makeTLSStream(
        over transport: any CiphertextTransport, in context: any SerialContext, underlying: any WrappedStream, role: TLSRole,
        serverHostname: String?, standardCompatible: Bool, initialCiphertext: ByteBuffer, description: String
    ) -> TLSStream {
        let session = Result {
            try makeSession(
                over: transport, role: role, serverHostname: serverHostname, standardCompatible: standardCompatible,
                initialCiphertext: initialCiphertext)
        }
        return TLSStream(
            session: session, over: transport, in: context, underlying: underlying, standardCompatible: standardCompatible,
            description: description)
    }

    private static func wireVersion(_ version: TLSConfiguration.Version) -> Int32 {
        switch version {
        case .tls12: return Int32(RINGIO_TLS1_2)
        case .tls13: return Int32(RINGIO_TLS1_3)
        }
    }

    /// Calls `body` with (text, length, path) for the C loaders: text for `.text`, path for `.file`.
    private static func withPEM(_ pem: TLSConfiguration.PEM, _ body: (String?, Int, String?) -> Int32) -> Int32 {
        switch pem {
        case .file(let path): return body(nil, 0, path)
        case .text(let text): return body(text, text.utf8.count, nil)
        }
    }
}
