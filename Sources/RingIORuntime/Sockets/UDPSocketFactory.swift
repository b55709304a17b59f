#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// Creates UDP sockets: picks the family and local address, binds, and connects to a target.
package enum UDPSocketFactory {
    /// - Parameters:
    ///   - host: the local address to bind (`nil`: every interface, dual-stack where IPv6 exists,
    ///     or the target's family).
    ///   - port: the local port (`nil` or 0: any free port). The socket is always bound, so it can
    ///     receive replies.
    ///   - targetHost, targetPort: connect to this target (both must be given).
    package static func create(
        on loop: EventLoop, host: String?, port: Int?, targetHost: String?, targetPort: Int?, reuseAddress: Bool, broadcast: Bool
    ) async throws -> UDPSocket {
        if (targetHost == nil) != (targetPort == nil) {
            throw RingIOError(.invalidArgument, "createUDPSocket: give both targetHost and targetPort, or neither")
        }
        var target: SocketAddress?
        if let targetHost, let targetPort {
            target = try await resolve(host: targetHost, port: targetPort, for: "createUDPSocket")
        }
        let bindPort = try TCPConnector.validPort(port ?? 0, for: "createUDPSocket")
        var local: SocketAddress
        var v6Only: Int32?
        if let host {
            local = try await resolve(host: host, port: Int(bindPort), for: "createUDPSocket")
            if let target, target.isIPv6 != local.isIPv6 {
                throw RingIOError(
                    .invalidArgument, "createUDPSocket: local address \(local) and target \(target) are of different families")
            }
            if local.isIPv6 { v6Only = host == "::" ? 1 : 0 }
        } else if let target {
            local = target.isIPv6 ? .ipv6(anyIPv6, port: bindPort, scopeID: 0) : .ipv4((0, 0, 0, 0), port: bindPort)
        } else if SocketCalls.ipv6Available {
            local = .ipv6(anyIPv6, port: bindPort, scopeID: 0)
            v6Only = 0
        } else {
            local = .ipv4((0, 0, 0, 0), port: bindPort)
        }
        let localAddress = local
        let v6OnlySetting = v6Only
        return try await loop.confine {
            let fd = try SocketCalls.socket(
                family: localAddress.family, type: Int32(RINGIO_SOCK_DGRAM), nonBlocking: loop.backend.wantsNonBlockingSockets,
                describing: "UDP socket on \(localAddress)")
            do {
                let what = "UDP socket on \(localAddress)"
                if reuseAddress { try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1, describing: what) }
                if broadcast { try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_BROADCAST, value: 1, describing: what) }
                if let v6OnlySetting {
                    try SocketCalls.setOption(fd, level: Int32(IPPROTO_IPV6), name: IPV6_V6ONLY, value: v6OnlySetting, describing: what)
                }
                try SocketCalls.bind(fd, to: localAddress)
                if let target {
                    try Syscall.run("connect UDP socket to \(target)") { target.withSockAddr { Glibc.connect(fd, $0, $1) } }
                }
                let bound = SocketCalls.localAddress(fd) ?? localAddress
                let channel = try DatagramChannel(
                    loop: loop, fd: fd, context: "UDP socket \(bound)" + (target.map { " → \($0)" } ?? ""))
                return UDPSocket(loop: loop, channel: channel, localAddress: bound, targetAddress: target)
            } catch {
                SocketCalls.closeNow(fd)
                throw error
            }
        }
    }

    private static let anyIPv6: SocketAddress.IPv6Bytes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    /// An IP literal as is, or the first address a name resolves to.
    static func resolve(host: String, port: Int, for what: String) async throws -> SocketAddress {
        let checkedPort = try TCPConnector.validPort(port, for: what)
        if let literal = SocketAddress.parsing(ip: host, port: checkedPort) { return literal }
        guard let first = try await NameResolver.resolve(host: host, port: Int(checkedPort)).first else {
            throw RingIOError(.nameResolutionFailed, "\(what): \"\(host)\" has no address")
        }
        return first
    }
}

extension SocketAddress {
    /// This address in the form a socket bound to `local` can send to: an IPv4 address becomes
    /// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) for an IPv6 socket.
    func mapped(toFamilyOf local: SocketAddress) -> SocketAddress {
        guard local.isIPv6, case .ipv4(let b, let port) = self else { return self }
        return .ipv6((0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, b.0, b.1, b.2, b.3), port: port, scopeID: 0)
    }
}
#endif
