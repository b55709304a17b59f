#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// Opens TCP connections: resolves the host off the loop, then races the addresses as in
/// RFC 8305 ("happy eyeballs"): IPv6 and IPv4 interleaved, IPv6 first; the next attempt starts
/// when the previous one fails or after `happyEyeballsDelay`, whichever comes first; the first
/// connection wins and the others are cancelled (a late second success is closed).
package enum TCPConnector {
    /// - Parameter tls: TLS to start right after connecting (`autostart`), or to keep for `startTLS()`.
    package static func connect(
        on loop: EventLoop, host: String, port: Int, localHost: String?, localPort: Int?, happyEyeballsDelay: Duration,
        tls: (setup: TLSSetup, autostart: Bool)? = nil
    ) async throws -> SocketStream {
        let port = try validPort(port, for: "connectTCP")
        let target = "\(host):\(port)"
        var addresses: [SocketAddress]
        if let literal = SocketAddress.parsing(ip: host, port: port) {
            addresses = [literal]
        } else {
            addresses = interleaved(try await NameResolver.resolve(host: host, port: Int(port)))
        }
        var local: SocketAddress?
        if localHost != nil || localPort != nil {
            let bindPort = try validPort(localPort ?? 0, for: "connectTCP(localPort:)")
            let bindHost = localHost ?? ""
            if bindHost.isEmpty {
                local = nil
            } else if let parsed = SocketAddress.parsing(ip: bindHost, port: bindPort) {
                local = parsed
            } else {
                throw RingIOError(.invalidArgument, "connectTCP to \(target): localHost \"\(bindHost)\" is not an IP address")
            }
            if let local { addresses = addresses.filter { $0.family == local.family } }
            if local == nil && bindPort != 0 {
                local = .ipv6((0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), port: bindPort, scopeID: 0)
            }
            if addresses.isEmpty {
                throw RingIOError(
                    .invalidArgument, "connectTCP to \(target): no address of \(host) has the family of localHost \(bindHost)")
            }
        }
        let fd = try await race(addresses, local: local, target: target, loop: loop, delay: happyEyeballsDelay)
        let stream = try await makeStream(fd, loop: loop, fallbackRemote: addresses[0])
        guard let tls else { return stream }
        do {
            if tls.autostart {
                _ = try await stream.startTLS(tls.setup)
            } else {
                try await stream.prepareTLS(tls.setup, now: false)
            }
        } catch {
            // The caller never gets the stream, so nobody else would close it (closing twice,
            // after a failed handshake closed it already, does nothing).
            await stream.close()
            throw error
        }
        return stream
    }

    /// The stream for connected descriptor `fd`, which it owns from then on; `fd` is closed
    /// when the stream cannot be made (the loop has shut down, or the channel fails).
    static func makeStream(_ fd: Int32, loop: EventLoop, fallbackRemote: SocketAddress) async throws -> SocketStream {
        var handedOver = false
        do {
            return try await adopt(fd, loop: loop, fallbackRemote: fallbackRemote, handedOver: &handedOver)
        } catch {
            if !handedOver { SocketCalls.closeNow(fd) }
            throw error
        }
    }

    private static func adopt(
        _ fd: Int32, loop: EventLoop, fallbackRemote: SocketAddress, handedOver: inout Bool
    ) async throws -> SocketStream {
        try await loop.confine {
            handedOver = true
            let localAddress = SocketCalls.localAddress(fd) ?? .unix(path: "")
            let remoteAddress = SocketCalls.remoteAddress(fd) ?? fallbackRemote
            let channel: StreamChannel
            do {
                channel = try StreamChannel(
                    loop: loop, fd: fd, context: "TCP stream \(localAddress) ↔ \(remoteAddress)", passesDescriptors: false)
            } catch {
                SocketCalls.closeNow(fd)
                throw error
            }
            return SocketStream(
                loop: loop, channel: channel, localAddress: localAddress, remoteAddress: remoteAddress, kind: "TCP", tlsRole: .client)
        }
    }

    static func validPort(_ port: Int, for what: String) throws(RingIOError) -> UInt16 {
        guard let value = UInt16(exactly: port) else {
            throw RingIOError(.invalidArgument, "\(what): port \(port) is outside 0...65535")
        }
        return value
    }

    /// IPv6 and IPv4 alternating, starting with the family of the first result (RFC 8305 §4).
    static func interleaved(_ addresses: [SocketAddress]) -> [SocketAddress] {
        let v6 = addresses.filter(\.isIPv6)
        let v4 = addresses.filter { !$0.isIPv6 }
        var result: [SocketAddress] = []
        let (first, second) = v6.isEmpty ? (v4, v6) : (v6, v4)
        for index in 0..<max(first.count, second.count) {
            if index < first.count { result.append(first[index]) }
            if index < second.count { result.append(second[index]) }
        }
        return result
    }

    private enum Outcome: Sendable {
        case connected(Int, Int32)
        case failed(Int, RingIOError)
        case delayElapsed(after: Int)
    }

    private static func race(
        _ addresses: [SocketAddress], local: SocketAddress?, target: String, loop: EventLoop, delay: Duration
    ) async throws -> Int32 {
        if addresses.count == 1 {
            return try await attempt(addresses[0], local: local, loop: loop)
        }
        return try await withThrowingTaskGroup(of: Outcome.self) { group in
            var failures: [(Int, RingIOError)] = []
            var started = 0
            var running = 0
            func startNext() {
                let index = started
                let address = addresses[index]
                started += 1
                running += 1
                group.addTask {
                    do {
                        return .connected(index, try await attempt(address, local: local, loop: loop))
                    } catch let error as RingIOError {
                        return .failed(index, error)
                    } catch {
                        return .failed(index, RingIOError(.connectFailed, "connect to \(address): cancelled", cause: error))
                    }
                }
                if started < addresses.count {
                    group.addTask {
                        try? await Task.sleep(for: delay)
                        return .delayElapsed(after: index)
                    }
                }
            }
            startNext()
            while let outcome = try await group.next() {
                switch outcome {
                case .connected(_, let fd):
                    group.cancelAll()
                    // Attempts that connected anyway (they raced the cancellation) are closed.
                    while !group.isEmpty {
                        if case .connected(_, let extra)? = try? await group.next() { SocketCalls.closeNow(extra) }
                    }
                    return fd
                case .failed(let index, let error):
                    failures.append((index, error))
                    running -= 1
                    if started < addresses.count {
                        startNext()
                    } else if running == 0 {
                        group.cancelAll()
                        let errors = failures.sorted { $0.0 < $1.0 }.map(\.1)
                        let codes = Set(errors.map(\.code))
                        throw RingIOError(
                            codes.count == 1 ? errors[0].code : .connectFailed,
                            "connect to \(target): all \(errors.count) addresses failed", attempts: errors)
                    }
                case .delayElapsed(let index):
                    if index == started - 1 && started < addresses.count { startNext() }
                }
            }
            throw CancellationError()
        }
    }

    /// One connection attempt; returns the connected descriptor.
    private static func attempt(_ address: SocketAddress, local: SocketAddress?, loop: EventLoop) async throws -> Int32 {
        try await loop.confine {
            let backend = loop.backend
            let fd = try SocketCalls.socket(
                family: address.family, type: Int32(RINGIO_SOCK_STREAM), nonBlocking: backend.wantsNonBlockingSockets,
                describing: "connect to \(address)")
            do {
                if var local {
                    if local.isIPv6 != address.isIPv6, let port = local.port {
                        local = address.isIPv6 ? local : .ipv4((0, 0, 0, 0), port: port)
                    }
                    try SocketCalls.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1, describing: "connect to \(address)")
                    try SocketCalls.bind(fd, to: local)
                }
                try SocketCalls.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1, describing: "connect to \(address)")
                let completion = await loop.connect(fd, to: address)
                if let interruption = completion.interruption { throw interruption.error("connect to \(address)") }
                if completion.result < 0 { throw RingIOError.system(errno: -completion.result, "connect to \(address)") }
                return fd
            } catch {
                SocketCalls.closeNow(fd)
                throw error
            }
        }
    }
}
#endif
