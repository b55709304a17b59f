#if os(Linux)
import RingIOCore

/// What a TLS stream keeps of the socket stream it wraps: the socket's channel and receive
/// buffer, and the socket itself only weakly. The socket holds its TLS stream, so a TLS stream
/// that held the socket would keep both, and their loop, alive for good; with these parts the
/// TLS stream can still close the socket, and give back a plain stream over the same
/// connection when unwrapped (the socket itself while it is alive).
final class WrappedSocket: WrappedStream {
    private weak var socket: SocketStream?
    private let loop: EventLoop
    private let channel: StreamChannel
    private let receiver: BufferedReceiver
    private let localAddress: SocketAddress
    private let remoteAddress: SocketAddress
    private let tlsRole: TLSRole

    init(
        _ socket: SocketStream, loop: EventLoop, channel: StreamChannel, receiver: BufferedReceiver, localAddress: SocketAddress,
        remoteAddress: SocketAddress, tlsRole: TLSRole
    ) {
        self.socket = socket
        self.loop = loop
        self.channel = channel
        self.receiver = receiver
        self.localAddress = localAddress
        self.remoteAddress = remoteAddress
        self.tlsRole = tlsRole
    }

    nonisolated(nonsending) func close() async {
        _ = try? await loop.confine { await SocketStream.closeTransport(receiver, channel) }
    }

    var addresses: (local: SocketAddress, remote: SocketAddress)? { (localAddress, remoteAddress) }

    func plainStream() -> any ByteStream {
        socket
            ?? SocketStream(
                loop: loop, channel: channel, receiver: receiver, localAddress: localAddress, remoteAddress: remoteAddress,
                tlsRole: tlsRole)
    }
}
#endif
