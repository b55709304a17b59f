#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// Conversions between `SocketAddress` and the C `sockaddr` structures.
extension SocketAddress {
    /// Parses an IP literal (`127.0.0.1`, `::1`, `fe80::1%2`); `nil` when `host` is not one.
    static func parsing(ip host: String, port: UInt16) -> SocketAddress? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            let b = withUnsafeBytes(of: v4) { Array($0) }
            return .ipv4((b[0], b[1], b[2], b[3]), port: port)
        }
        var name = Substring(host)
        var scope: UInt32 = 0
        if let percent = host.firstIndex(of: "%") {
            name = host[..<percent]
            let zone = String(host[host.index(after: percent)...])
            scope = UInt32(zone) ?? if_nametoindex(zone)
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(name), &v6) == 1 else { return nil }
        return .ipv6(Self.ipv6Bytes(v6), port: port, scopeID: scope)
    }

    private static func ipv6Bytes(_ address: in6_addr) -> IPv6Bytes {
        var bytes: IPv6Bytes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { target in
            withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
        }
        return bytes
    }

    /// Reads an address the kernel wrote (accept, getsockname, getpeername, getaddrinfo).
    init?(_ pointer: UnsafePointer<sockaddr>, length: socklen_t) {
        switch Int32(pointer.pointee.sa_family) {
        case AF_INET:
            let v4 = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in.self)
            let b = withUnsafeBytes(of: v4.sin_addr) { Array($0) }
            self = .ipv4((b[0], b[1], b[2], b[3]), port: UInt16(bigEndian: v4.sin_port))
        case AF_INET6:
            let v6 = UnsafeRawPointer(pointer).loadUnaligned(as: sockaddr_in6.self)
            self = .ipv6(Self.ipv6Bytes(v6.sin6_addr), port: UInt16(bigEndian: v6.sin6_port), scopeID: v6.sin6_scope_id)
        case AF_UNIX:
            let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
            let pathLength = Int(length) - pathOffset
            guard pathLength > 0 else {
                self = .unix(path: "")
                return
            }
            let raw = UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer) + pathOffset, count: pathLength)
            if raw[0] == 0 {
                self = .unix(path: "@" + String(decoding: raw.dropFirst(), as: UTF8.self))
            } else {
                self = .unix(path: String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self))
            }
        default:
            return nil
        }
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    var family: Int32 {
        switch self {
        case .ipv4: return AF_INET
        case .ipv6: return AF_INET6
        case .unix: return AF_UNIX
        }
    }

    /// Writes the C form of this address into `storage` and returns its length.
    func write(to storage: UnsafeMutablePointer<sockaddr_storage>) -> socklen_t {
        let raw = UnsafeMutableRawPointer(storage)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<sockaddr_storage>.size)
        switch self {
        case .ipv4(let bytes, let port):
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &v4.sin_addr) { target in withUnsafeBytes(of: bytes) { target.copyMemory(from: $0) } }
            raw.storeBytes(of: v4, as: sockaddr_in.self)
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        case .ipv6(let bytes, let port, let scope):
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            v6.sin6_scope_id = scope
            withUnsafeMutableBytes(of: &v6.sin6_addr) { target in withUnsafeBytes(of: bytes) { target.copyMemory(from: $0) } }
            raw.storeBytes(of: v6, as: sockaddr_in6.self)
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        case .unix(let path):
            var un = sockaddr_un()
            un.sun_family = sa_family_t(AF_UNIX)
            let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
            var bytes = Array(path.utf8)
            let abstract = bytes.first == UInt8(ascii: "@")
            if abstract { bytes[0] = 0 }
            let capacity = MemoryLayout.size(ofValue: un.sun_path)
            let count = min(bytes.count, capacity - (abstract ? 0 : 1))
            withUnsafeMutableBytes(of: &un.sun_path) { target in
                bytes.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
            }
            raw.storeBytes(of: un, as: sockaddr_un.self)
            return socklen_t(pathOffset + count + (abstract ? 0 : 1))
        }
    }

    /// Calls `body` with the C form of this address.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        var storage = sockaddr_storage()
        return try withUnsafeMutablePointer(to: &storage) { pointer in
            let length = write(to: pointer)
            return try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}
#endif
