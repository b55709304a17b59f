/// The address of a socket: IPv4 or IPv6 host and port, or a UNIX path.
///
/// ``host`` gives the textual form of the IP (`127.0.0.1`, `::1`) and ``port`` the port;
/// `description` gives `127.0.0.1:8080`, `[::1]:8080` or the path.
///
/// Frozen: no case is added before a major version (the socket families RingIO serves are these
/// three), so a `switch` over it may be exhaustive.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 address: four bytes in network order, and a port.
    case ipv4(IPv4Bytes, port: UInt16)
    /// An IPv6 address: sixteen bytes in network order, a port and a scope (interface) id.
    case ipv6(IPv6Bytes, port: UInt16, scopeID: UInt32)
    /// A UNIX domain socket path (a leading `@` marks a Linux abstract name).
    case unix(path: String)

    /// Four address bytes, in network order.
    public typealias IPv4Bytes = (UInt8, UInt8, UInt8, UInt8)
    /// Sixteen address bytes, in network order.
    public typealias IPv6Bytes = (
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
    )

    /// The IP address as text (`127.0.0.1`, `::1`), or the UNIX path.
    public var host: String {
        switch self {
        case .ipv4(let b, _):
            return "\(b.0).\(b.1).\(b.2).\(b.3)"
        case .ipv6(let b, _, let scope):
            let text = Self.formatIPv6(b)
            return scope == 0 ? text : "\(text)%\(scope)"
        case .unix(let path):
            return path
        }
    }

    /// The port, or `nil` for a UNIX address.
    public var port: UInt16? {
        switch self {
        case .ipv4(_, let port), .ipv6(_, let port, _): return port
        case .unix: return nil
        }
    }

    /// `host:port` for IPv4, `[host]:port` for IPv6, the path for UNIX.
    public var description: String {
        switch self {
        case .ipv4(_, let port): return "\(host):\(port)"
        case .ipv6(_, let port, _): return "[\(host)]:\(port)"
        case .unix(let path): return path
        }
    }

    /// The same address with another port (UNIX addresses are returned unchanged).
    public func withPort(_ port: UInt16) -> SocketAddress {
        switch self {
        case .ipv4(let b, _): return .ipv4(b, port: port)
        case .ipv6(let b, _, let scope): return .ipv6(b, port: port, scopeID: scope)
        case .unix: return self
        }
    }

    /// Whether this is an IPv6 address.
    public var isIPv6: Bool {
        if case .ipv6 = self { return true }
        return false
    }

    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 peers)
    /// as the plain IPv4 address; any other address unchanged.
    public var unmappingIPv4: SocketAddress {
        guard case .ipv6(let b, let port, _) = self,
            b.0 == 0, b.1 == 0, b.2 == 0, b.3 == 0, b.4 == 0, b.5 == 0, b.6 == 0, b.7 == 0,
            b.8 == 0, b.9 == 0, b.10 == 0xff, b.11 == 0xff
        else { return self }
        return .ipv4((b.12, b.13, b.14, b.15), port: port)
    }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.description == rhs.description
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(description)
    }

    /// RFC 5952 text: lower case, the longest run of two or more zero groups written as `::`.
    static func formatIPv6(_ b: IPv6Bytes) -> String {
        let bytes = unsafe withUnsafeBytes(of: b) { unsafe Array($0) }  // copied out within the call
        var groups = [UInt16]()
        groups.reserveCapacity(8)
        for i in 0..<8 { groups.append(UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1])) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xffff {
            return "::ffff:\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])"
        }
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            if groups[index] == 0 {
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > bestLength {
                    bestStart = index
                    bestLength = end - index
                }
                index = end
            } else {
                index += 1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}
