#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// Opens UNIX stream connections and listeners (paths, and Linux abstract names written `@name`).
package enum UNIXSockets {
    /// The longest path `sun_path` holds, without its terminating NUL.
    static let maxPathBytes = 107

    /// Checks `path` and returns its address.
    ///
    /// - Throws: `.invalidArgument` for an empty path, a NUL byte, or one too long for `sun_path`.
    static func address(of path: String, for what: String) throws(RingIOError) -> SocketAddress {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes != [UInt8(ascii: "@")] else {
            throw RingIOError(.invalidArgument, "\(what): the UNIX socket path is empty")
        }
        guard !bytes.contains(0) else {
            throw RingIOError(.invalidArgument, "\(what): the UNIX socket path \(path.debugDescription) contains a NUL byte")
        }
        guard bytes.count <= maxPathBytes else {
            throw RingIOError(
                .invalidArgument,
                "\(what): the UNIX socket path \(path.debugDescription) is \(bytes.count) bytes; at most \(maxPathBytes) fit in sun_path")
        }
        return .unix(path: path)
    }

    package static func connect(on loop: EventLoop, path: String) async throws -> SocketStream {
        let address = try address(of: path, for: "connectUNIX")
        return try await loop.confine {
            let backend = loop.backend
            let fd = try SocketCalls.socket(
                family: AF_UNIX, type: Int32(RINGIO_SOCK_STREAM), nonBlocking: backend.wantsNonBlockingSockets,
                describing: "connect to \(path)")
            do {
                let completion = await loop.connect(fd, to: address)
                if let interruption = completion.interruption { throw interruption.error("connect to \(path)") }
                if completion.result < 0 { throw RingIOError.system(errno: -completion.result, "connect to \(path)") }
                let local = SocketCalls.localAddress(fd) ?? .unix(path: "")
                let channel = try StreamChannel(loop: loop, fd: fd, context: "UNIX stream to \(path)", passesDescriptors: true)
                return SocketStream(
                    loop: loop, channel: channel, localAddress: local, remoteAddress: address, kind: "UNIX", tlsRole: .client)
            } catch {
                SocketCalls.closeNow(fd)
                throw error
            }
        }
    }

    package static func listen(
        on loop: EventLoop, path: String, mode: UInt32?, backlog: Int, replaceStaleSocket: Bool
    ) async throws -> SocketListener {
        let address = try address(of: path, for: "createUNIXServer")
        guard backlog > 0 else { throw RingIOError(.invalidArgument, "createUNIXServer: backlog \(backlog) must be at least 1") }
        let abstract = path.hasPrefix("@")
        return try await loop.confine {
            let fd = try SocketCalls.socket(
                family: AF_UNIX, type: Int32(RINGIO_SOCK_STREAM), nonBlocking: loop.backend.wantsNonBlockingSockets,
                describing: "UNIX listener on \(path)")
            do {
                try bindReplacingStale(fd, address, path: path, abstract: abstract, replace: replaceStaleSocket)
                let file = abstract ? nil : UNIXSocketFile(path: path)
                do {
                    if let mode, !abstract {
                        try Syscall.run("chmod \(path) to \(String(mode, radix: 8))") { chmod(path, mode_t(mode)) }
                    }
                    try SocketCalls.listen(fd, backlog: Int32(clamping: min(backlog, 65535)), describing: address)
                } catch {
                    // The file is ours and no server will accept on it: do not leave it as a stale socket.
                    file?.removeIfUnchanged()
                    throw error
                }
                let channel: AcceptChannel
                do {
                    channel = try AcceptChannel(loop: loop, fd: fd, context: "UNIX listener \(path)")
                } catch {
                    file?.removeIfUnchanged()
                    throw error
                }
                return SocketListener(loop: loop, channel: channel, localAddress: address, kind: "UNIX", socketFile: file)
            } catch {
                SocketCalls.closeNow(fd)
                throw error
            }
        }
    }

    /// Binds, telling a live server from a stale socket file when the path is taken.
    private static func bindReplacingStale(
        _ fd: Int32, _ address: SocketAddress, path: String, abstract: Bool, replace: Bool
    ) throws(RingIOError) {
        do {
            try SocketCalls.bind(fd, to: address)
            return
        } catch let error where error.code == .addressInUse && !abstract {
            switch probe(path) {
            case .live:
                throw RingIOError(.addressInUse, "createUNIXServer: a server is already listening on \(path)", errno: EADDRINUSE)
            case .notASocket:
                throw RingIOError(.addressInUse, "createUNIXServer: \(path) exists and is not a socket", errno: EADDRINUSE)
            case .stale where !replace:
                throw RingIOError(
                    .addressInUse,
                    "createUNIXServer: \(path) is a stale socket file (no server accepts on it); remove it or pass replaceStaleSocket: true",
                    errno: EADDRINUSE)
            case .unknown(let code):
                throw RingIOError(
                    .addressInUse,
                    "createUNIXServer: \(path) is in use and could not be checked: \(String(cString: strerror(code)).lowercased()) (\(RingIOError.errnoName(code)))",
                    errno: EADDRINUSE)
            case .stale, .gone:
                unlink(path)
                try SocketCalls.bind(fd, to: address)
            }
        }
    }

    private enum PathState {
        case live, stale, notASocket, gone
        /// The probe itself failed (EACCES, EPERM, EMFILE, ...).
        case unknown(Int32)
    }

    /// What is at `path`: a socket a server accepts on, a socket nobody accepts on, something else, or nothing.
    private static func probe(_ path: String) -> PathState {
        var status = stat()
        guard stat(path, &status) == 0 else { return .gone }
        guard status.st_mode & S_IFMT == S_IFSOCK else { return .notASocket }
        let fd = Glibc.socket(AF_UNIX, Int32(RINGIO_SOCK_STREAM) | Int32(RINGIO_SOCK_NONBLOCK) | Int32(RINGIO_SOCK_CLOEXEC), 0)
        guard fd >= 0 else { return .unknown(errno) }
        defer { SocketCalls.closeNow(fd) }
        let result = SocketAddress.unix(path: path).withSockAddr { Glibc.connect(fd, $0, $1) }
        if result == 0 { return .live }
        switch errno {
        case ECONNREFUSED: return .stale
        case ENOENT: return .gone
        case EAGAIN: return .live  // the server's backlog is full: it is alive
        case let code: return .unknown(code)
        }
    }
}
#endif
