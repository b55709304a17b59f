#if os(Linux)
package import RingIOCore

/// How a stream starts TLS: the context (as a layer factory), its role, the host name a client
/// verifies, whether a ragged EOF is an error, and how long a background handshake may take.
package struct TLSSetup: Sendable {
    package let factory: any SecureLayerFactory
    package let role: TLSRole
    package let serverHostname: String?
    package let standardCompatible: Bool
    /// The time limit of a handshake run in the background (a listener's autostart): a peer that
    /// connects and never finishes it would otherwise hold its stream, and the handler waiting
    /// on it, forever. `nil` for handshakes run by a caller, which its own deadline bounds.
    package let handshakeTimeout: Duration?

    package init(
        factory: any SecureLayerFactory, role: TLSRole, serverHostname: String?, standardCompatible: Bool,
        handshakeTimeout: Duration? = nil
    ) {
        self.factory = factory
        self.role = role
        self.serverHostname = serverHostname
        self.standardCompatible = standardCompatible
        self.handshakeTimeout = handshakeTimeout
    }
}
#endif
