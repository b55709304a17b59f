#if os(Linux)
public import RingIOCore

/// A UDP socket: what `createUDPSocket` returns.
///
/// Without a target it receives from anyone (``receive(maxBytes:)`` returns each packet with its
/// sender) and sends wherever you say. With a target (a "connected" socket) ``send(_:)`` needs
/// no address and only the target's packets arrive. A zero-length datagram is an ordinary
/// packet. A datagram larger than the receive size is reported as `.messageTruncated`, never
/// silently cut.
///
/// `@unchecked Sendable` for the same reason as ``SocketStream``: its channel is used only on
/// `loop`'s thread, through `loop.confine`.
public final class UDPSocket: @unchecked Sendable {
    let loop: EventLoop
    private let channel: DatagramChannel
    private let context: String
    /// The address the socket is bound to.
    public let localAddress: SocketAddress
    /// The target of a connected socket (`nil` for an unconnected one).
    public let targetAddress: SocketAddress?

    init(loop: EventLoop, channel: DatagramChannel, localAddress: SocketAddress, targetAddress: SocketAddress?) {
        self.loop = loop
        self.channel = channel
        self.localAddress = localAddress
        self.targetAddress = targetAddress
        self.context = "UDP socket \(localAddress)" + (targetAddress.map { " → \($0)" } ?? "")
    }

    /// The most bytes a receive buffer needs: the longest UDP datagram, rounded up.
    static let largestDatagram = 65536

    /// The bound port.
    public var port: Int { Int(localAddress.port ?? 0) }

    /// Receives one datagram.
    ///
    /// - Parameter maxBytes: the largest datagram to accept (at least 1; default 65,536, enough for
    ///   any UDP datagram). A larger value means the same as 65,536: memory for the receive is
    ///   sized by the largest datagram UDP can carry, never by `maxBytes` alone.
    /// - Returns: the datagram's bytes and its sender.
    /// - Throws: ``RingIOError`` `.messageTruncated` when the datagram was longer than `maxBytes`
    ///   (`partialData` holds the first `maxBytes` bytes, `bytesTransferred` the full size);
    ///   `.connectionRefused` when an earlier datagram of a connected socket drew an ICMP "port
    ///   unreachable"; `.closedResource`, `.busyResource`, `.timedOut`; `CancellationError`.
    public func receive(maxBytes: Int = 65536) async throws -> (ByteBuffer, SocketAddress) {
        guard maxBytes > 0 else {
            throw RingIOError(.invalidArgument, "receive(maxBytes: \(maxBytes)) on \(context): maxBytes must be at least 1")
        }
        // No UDP datagram is longer than 65,535 bytes (IPv6 jumbograms aside, which Linux UDP
        // sockets do not receive), so a larger maxBytes truncates nothing: cap the buffer.
        let capacity = min(maxBytes, Self.largestDatagram)
        return try await loop.confine {
            let (bytes, sender, length) = try await channel.receive(maxBytes: capacity)
            let from = sender ?? targetAddress ?? .unix(path: "")
            if length > bytes.count {
                throw RingIOError(
                    .messageTruncated,
                    "receive on \(context): a datagram of \(length) bytes from \(from) was cut to \(bytes.count) bytes (maxBytes \(maxBytes))",
                    bytesTransferred: length, partialData: bytes)
            }
            return (bytes, from)
        }
    }

    /// The datagrams as they arrive, with their senders; the sequence ends when the socket is closed.
    public func receivePackets(maxBytes: Int = 65536) -> ReceivedDatagrams {
        ReceivedDatagrams(socket: self, maxBytes: maxBytes)
    }

    /// Sends one datagram to the target of a connected socket.
    ///
    /// - Throws: ``RingIOError`` `.invalidArgument` on a socket without a target (pass an address);
    ///   `.connectionRefused` after an ICMP "port unreachable"; the kernel's error (EMSGSIZE for more
    ///   than 65,507 bytes); `CancellationError`.
    public func send(_ bytes: some Collection<UInt8>) async throws {
        guard targetAddress != nil else {
            throw RingIOError(
                .invalidArgument,
                "send on \(context): the socket has no target; pass host and port, or create it with targetHost and targetPort")
        }
        try await loop.confine { try await channel.send(bytes, to: nil) }
    }

    /// Sends one datagram to `host`:`port` (an IP literal, or a name resolved off the loop).
    public func send(_ bytes: some Collection<UInt8>, host: String, port: Int) async throws {
        let destination = try await UDPSocketFactory.resolve(host: host, port: port, for: "send on \(context)")
        try await send(bytes, to: destination)
    }

    /// Sends one datagram to `address`.
    public func send(_ bytes: some Collection<UInt8>, to address: SocketAddress) async throws {
        let destination = address.mapped(toFamilyOf: localAddress)
        try await loop.confine { try await channel.send(bytes, to: destination) }
    }

    /// Sends the UTF-8 encoding of `string` to the target.
    public func send(_ string: String) async throws { try await send(string.utf8) }

    /// Sends the UTF-8 encoding of `string` to `address`.
    public func send(_ string: String, to address: SocketAddress) async throws { try await send(string.utf8, to: address) }

    /// Sends the UTF-8 encoding of `string` to `host`:`port`.
    public func send(_ string: String, host: String, port: Int) async throws { try await send(string.utf8, host: host, port: port) }

    /// Closes the socket. A task waiting in `receive` gets `.closedResource` (and
    /// `receivePackets` ends). Closing twice does nothing.
    public func close() async {
        _ = try? await loop.confine { await channel.close() }
    }

    /// Sets an integer socket option.
    public func setOption(_ option: SocketOption, to value: Int32) async throws {
        try await loop.confine {
            try SocketCalls.setOption(try openDescriptor(), level: option.level, name: option.name, value: value, describing: context)
        }
    }

    /// Reads an integer socket option.
    public func option(_ option: SocketOption) async throws -> Int32 {
        try await loop.confine { try SocketCalls.option(try openDescriptor(), level: option.level, name: option.name, describing: context) }
    }

    /// Whether a task is waiting in `receive` (tests use it to order tasks without sleeping).
    package var isReceiving: Bool {
        get async { (try? await loop.confine { channel.isReceiving }) ?? false }
    }

    private func openDescriptor() throws(RingIOError) -> Int32 {
        let fd = channel.descriptor
        guard fd >= 0 else { throw RingIOError(.closedResource, "socket option on \(context): the socket is closed") }
        return fd
    }
}

/// The datagrams of a ``UDPSocket``, as an `AsyncSequence` of (bytes, sender).
public struct ReceivedDatagrams: AsyncSequence, Sendable {
    public typealias Element = (ByteBuffer, SocketAddress)
    let socket: UDPSocket
    let maxBytes: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let socket: UDPSocket
        let maxBytes: Int
        var finished = false

        public mutating func next() async throws -> (ByteBuffer, SocketAddress)? {
            guard !finished else { return nil }
            do {
                return try await socket.receive(maxBytes: maxBytes)
            } catch let error as RingIOError where error.code == .closedResource {
                finished = true
                return nil
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(socket: socket, maxBytes: maxBytes)
    }
}
#endif
