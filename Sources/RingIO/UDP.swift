internal import RingIORuntime

/// Creates a UDP socket (AnyIO's `create_udp_socket`).
///
/// With no arguments but a port (`createUDPSocket(port: 1234)`) it receives on every interface,
/// IPv6 and IPv4 where the machine has IPv6. The socket is always bound (to a free port when you
/// give none), so an unconnected socket can receive replies.
///
/// - Parameters:
///   - host: the local address to bind; `"::"` means IPv6 only.
///   - port: the local port; `nil` or 0 picks a free one (read it from ``UDPSocket/port``).
///   - targetHost: with `targetPort`, connects the socket: ``UDPSocket/send(_:)`` needs no address and
///     only the target's datagrams arrive.
///   - targetPort: the target's port.
///   - reuseAddress: set `SO_REUSEADDR` (several sockets on one port, e.g. for multicast).
///   - broadcast: set `SO_BROADCAST`.
/// - Throws: ``RingIOError`` `.invalidArgument` (only one of targetHost/targetPort, mismatched
///   families), `.nameResolutionFailed`, `.addressInUse`, or the kernel's error.
public func createUDPSocket(
    host: String? = nil, port: Int? = nil, targetHost: String? = nil, targetPort: Int? = nil,
    reuseAddress: Bool = false, broadcast: Bool = false
) async throws -> UDPSocket {
    try await UDPSocketFactory.create(
        on: try Runtime.currentLoop(), host: host, port: port, targetHost: targetHost, targetPort: targetPort,
        reuseAddress: reuseAddress, broadcast: broadcast)
}
