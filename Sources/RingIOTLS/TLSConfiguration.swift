public import RingIOCore

/// How a ``TLSContext`` is set up.
///
/// ```swift
/// // A server with a certificate and key from PEM files:
/// let server = try TLSContext(.server(certificateChain: .file("cert.pem"), privateKey: .file("key.pem")))
/// // A client that trusts a self-signed certificate:
/// let client = try TLSContext(.client(trustRoots: .file("cert.pem")))
/// ```
public struct TLSConfiguration: Sendable {
    /// PEM data: a file, or the text itself.
    public enum PEM: Sendable {
        /// A PEM file on disk.
        case file(String)
        /// PEM text in memory.
        case text(String)
    }

    /// Where trusted CA certificates come from.
    public enum TrustRoots: Sendable {
        /// The system's trust store (Debian: /etc/ssl/certs).
        case system
        /// A PEM file of CA certificates.
        case file(String)
        /// A directory of hashed CA certificates (as `c_rehash` makes).
        case directory(String)
        /// PEM text holding CA certificates.
        case text(String)
    }

    /// Protocol versions.
    public enum Version: Sendable, Comparable {
        case tls12
        case tls13
    }

    /// Whether contexts made from this are for clients or servers.
    public var role: TLSRole
    /// This side's certificate chain (the leaf first); required for servers.
    public var certificateChain: PEM?
    /// The private key of the leaf certificate.
    public var privateKey: PEM?
    /// Which CAs verify the peer's certificate.
    public var trustRoots: TrustRoots
    /// Whether to verify the peer: on by default for clients (certificate and host name), off
    /// for servers (set it to require client certificates).
    public var verifyPeer: Bool
    /// ALPN protocols to offer (client) or accept (server), most preferred first.
    public var applicationProtocols: [String]
    /// The lowest protocol version to negotiate (TLS 1.2 by default).
    public var minimumVersion: Version
    /// The highest protocol version to negotiate (`nil`: the newest OpenSSL knows).
    public var maximumVersion: Version?
    /// OpenSSL cipher list for TLS 1.2 (`nil`: OpenSSL's default).
    public var cipherList: String?
    /// OpenSSL cipher suites for TLS 1.3 (`nil`: OpenSSL's default).
    public var cipherSuites: String?
    /// Whether a TLS 1.2 peer may renegotiate (off by default; TLS 1.3 has no renegotiation).
    ///
    /// Off, a peer's renegotiation (a server's HelloRequest, a client's new ClientHello) is
    /// answered with a no_renegotiation alert and ends the session: the receive that meets it
    /// throws `.tlsFailure`. Renegotiation is refused because a send cannot go on while it runs
    /// (the engine waits for the peer's reply), because each attempt makes the engine write to a
    /// peer that need not read it, and because `tls-unique` and `tls-exporter` channel bindings
    /// are unsafe across it (RFC 9266). Turn it on only for a peer that needs it; a send made
    /// while a renegotiation runs then fails with `.tlsFailure`.
    public var allowsRenegotiation = false

    /// A client configuration: verifies the server against `trustRoots` and its host name.
    public static func client(
        trustRoots: TrustRoots = .system, certificateChain: PEM? = nil, privateKey: PEM? = nil, applicationProtocols: [String] = []
    ) -> TLSConfiguration {
        TLSConfiguration(
            role: .client, certificateChain: certificateChain, privateKey: privateKey, trustRoots: trustRoots, verifyPeer: true,
            applicationProtocols: applicationProtocols, minimumVersion: .tls12, maximumVersion: nil, cipherList: nil, cipherSuites: nil)
    }

    /// A server configuration with its certificate chain and key.
    public static func server(certificateChain: PEM, privateKey: PEM, applicationProtocols: [String] = []) -> TLSConfiguration {
        TLSConfiguration(
            role: .server, certificateChain: certificateChain, privateKey: privateKey, trustRoots: .system, verifyPeer: false,
            applicationProtocols: applicationProtocols, minimumVersion: .tls12, maximumVersion: nil, cipherList: nil, cipherSuites: nil)
    }
}
