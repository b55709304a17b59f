#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// Creates TCP listeners: chooses the bind address, binds, listens and hands the socket to the backend.
package enum TCPListenerFactory {
    /// - Parameters:
    ///   - host: `nil` for every interface (dual-stack `[::]` with IPv4 mapped in, or `0.0.0.0`
    ///     without IPv6); `"::"` for IPv6 only; an IP literal; or a host name (its first address).
    ///   - tls: TLS for accepted streams: with autostart, each stream's handshake starts at accept
    ///     in a task of its own (its receives and sends wait for it); otherwise the setup is kept
    ///     for the stream's own `startTLS()`.
    package static func listen(
        on loop: EventLoop, port: Int, host: String?, backlog: Int, reuseAddress: Bool, reusePort: Bool,
        tls: (setup: TLSSetup, autostart: Bool)? = nil
    ) async throws -> SocketListener {
        let bindPort = try TCPConnector.validPort(port, for: "createTCPServer")
        guard backlog > 0 else { throw RingIOError(.invalidArgument, "createTCPServer: backlog \(backlog) must be at least 1") }
        let address: SocketAddress
        var v6Only: Int32? = nil
        switch host {
        case nil:
            if SocketCalls.ipv6Available {
                address = .ipv6((0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), port: bindPort, scopeID: 0)
                v6Only = 0
            } else {
                address = .ipv4((0, 0, 0, 0), port: bindPort)
            }
        case let host?:
            if let literal = SocketAddress.parsing(ip: host, port: bindPort) {
                address = literal
                if literal.isIPv6 { v6Only = host == "::" ? 1 : 0 }
            } else {
                guard let first = try await NameResolver.resolve(host: host, port: Int(bindPort)).first else {
                    throw RingIOError(.nameResolutionFailed, "createTCPServer: \"\(host)\" has no address")
                }
                address = first
            }
        }
        return try await loop.confine {
            let fd = try SocketCalls.socket(
                family: address.family, type: Int32(RINGIO_SOCK_STREAM), nonBlocking: loop.backend.wantsNonBlockingSockets,
                describing: "TCP listener on \(address)")
            do {
                if reuseAddress {
                    try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1, describing: "TCP listener on \(address)")
                }
                if reusePort {
                    try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, value: 1, describing: "TCP listener on \(address)")
                }
                if let v6Only {
                    try SocketCalls.setOption(
                        fd, level: Int32(IPPROTO_IPV6), name: IPV6_V6ONLY, value: v6Only, describing: "TCP listener on \(address)")
                }
                try SocketCalls.bind(fd, to: address)
                try SocketCalls.listen(fd, backlog: Int32(clamping: min(backlog, 65535)), describing: address)
            } catch {
                SocketCalls.closeNow(fd)
                throw error
            }
            let bound = SocketCalls.localAddress(fd) ?? address
            let channel: AcceptChannel
            do {
                channel = try AcceptChannel(loop: loop, fd: fd, context: "TCP listener \(bound)")
            } catch {
                SocketCalls.closeNow(fd)
                throw error
            }
            return SocketListener(loop: loop, channel: channel, localAddress: bound, kind: "TCP", tls: tls)
        }
    }
}
#endif
