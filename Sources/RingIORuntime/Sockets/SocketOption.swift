#if os(Linux)
import CRingIOSystem
import Glibc

/// A socket option that takes an integer: a level and a name, as for `setsockopt(2)`.
///
/// The common ones have names (`.tcpNoDelay`, `.receiveBufferSize`, ...); any other is
/// `SocketOption(level:name:)` with the constants from Glibc.
public struct SocketOption: Hashable, Sendable {
    /// The protocol level (`SOL_SOCKET`, `IPPROTO_TCP`, ...).
    public let level: Int32
    /// The option name (`SO_RCVBUF`, `TCP_NODELAY`, ...).
    public let name: Int32

    /// An option by level and name.
    public init(level: Int32, name: Int32) {
        self.level = level
        self.name = name
    }

    /// `TCP_NODELAY`: send small segments at once (on by default on RingIO's TCP streams).
    public static let tcpNoDelay = SocketOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY)
    /// `SO_RCVBUF`: the kernel's receive buffer size (Linux reports double what you set).
    public static let receiveBufferSize = SocketOption(level: SOL_SOCKET, name: SO_RCVBUF)
    /// `SO_SNDBUF`: the kernel's send buffer size (Linux reports double what you set).
    public static let sendBufferSize = SocketOption(level: SOL_SOCKET, name: SO_SNDBUF)
    /// `SO_KEEPALIVE`: send TCP keep-alive probes on an idle connection.
    public static let keepAlive = SocketOption(level: SOL_SOCKET, name: SO_KEEPALIVE)
    /// `SO_REUSEADDR`.
    public static let reuseAddress = SocketOption(level: SOL_SOCKET, name: SO_REUSEADDR)
    /// `SO_REUSEPORT`.
    public static let reusePort = SocketOption(level: SOL_SOCKET, name: SO_REUSEPORT)
}
#endif
