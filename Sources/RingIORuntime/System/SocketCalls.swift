#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// The direct (non-ring) socket calls: creating, configuring, binding and naming sockets.
/// They never block; the blocking ones (accept, connect, receive, send, close) go through a backend.
enum SocketCalls {
    /// Creates a close-on-exec socket, non-blocking if the backend wants that (epoll does;
    /// io_uring does not: it waits inside the kernel).
    static func socket(family: Int32, type: Int32, nonBlocking: Bool, describing what: @autoclosure () -> String) throws(RingIOError)
        -> Int32
    {
        let flags = (nonBlocking ? Int32(RINGIO_SOCK_NONBLOCK) : 0) | Int32(RINGIO_SOCK_CLOEXEC)
        return try Syscall.run("create socket for \(what())") { Glibc.socket(family, type | flags, 0) }
    }

    /// Sets an integer socket option.
    static func setOption(_ fd: Int32, level: Int32, name: Int32, value: Int32, describing what: @autoclosure () -> String)
        throws(RingIOError)
    {
        var value = value
        try Syscall.run("setsockopt(\(level), \(name)) on \(what())") {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Reads an integer socket option.
    static func option(_ fd: Int32, level: Int32, name: Int32, describing what: @autoclosure () -> String) throws(RingIOError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        try Syscall.run("getsockopt(\(level), \(name)) on \(what())") { getsockopt(fd, level, name, &value, &length) }
        return value
    }

    static func bind(_ fd: Int32, to address: SocketAddress) throws(RingIOError) {
        try Syscall.run("bind to \(address)") { address.withSockAddr { Glibc.bind(fd, $0, $1) } }
    }

    static func listen(_ fd: Int32, backlog: Int32, describing address: SocketAddress) throws(RingIOError) {
        try Syscall.run("listen on \(address)") { Glibc.listen(fd, backlog) }
    }

    /// The address the socket is bound to, or `nil` if the kernel cannot say.
    static func localAddress(_ fd: Int32) -> SocketAddress? {
        name(fd, getsockname)
    }

    /// The address of the connected peer, or `nil` if not connected.
    static func remoteAddress(_ fd: Int32) -> SocketAddress? {
        name(fd, getpeername)
    }

    private static func name(
        _ fd: Int32, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                guard call(fd, address, &length) == 0 else { return nil }
                return SocketAddress(address, length: length)?.unmappingIPv4
            }
        }
    }

    /// Half-closes the sending direction.
    static func shutdownWrite(_ fd: Int32, describing what: @autoclosure () -> String) throws(RingIOError) {
        try Syscall.run("sendEOF on \(what())") { shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Closes a descriptor that no kernel operation uses any more (error paths, before registration).
    static func closeNow(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Whether this host can create IPv6 sockets.
    static let ipv6Available: Bool = {
        let fd = Glibc.socket(AF_INET6, Int32(RINGIO_SOCK_STREAM) | Int32(RINGIO_SOCK_CLOEXEC), 0)
        guard fd >= 0 else { return false }
        _ = Glibc.close(fd)
        return true
    }()
}
#endif
