#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// A UDP socket on epoll: non-blocking recvmsg (with MSG_TRUNC, so truncation is reported) and
/// sendmsg, parking on EAGAIN until the next edge. Loop-confined.
final class EpollDatagramChannel: DatagramChannel, ReadinessHandler {
    private let backend: EpollBackend
    private(set) var descriptor: Int32
    private let context: String
    private var token = -1
    private var readable = true
    private var writable = true
    private var receiver: OperationID?
    private var sender: OperationID?
    private var sending = false
    private var closed = false
    private let receiveMessage: MessageBuffer
    private let sendMessage: MessageBuffer

    init(backend: EpollBackend, fd: Int32, context: String) throws(RingIOError) {
        self.backend = backend
        self.descriptor = fd
        self.context = context
        receiveMessage = try MessageBuffer(maxDescriptors: 0)
        sendMessage = try MessageBuffer(maxDescriptors: 0)
        token = try backend.register(fd, self, describing: context)
        backend.loop.track(fd)
    }

    var isReceiving: Bool { receiver != nil }

    func handleReadiness(_ events: UInt32) {
        if events & UInt32(RINGIO_EPOLLIN | RINGIO_EPOLLERR | RINGIO_EPOLLHUP) != 0 {
            readable = true
            if let receiver { backend.loop.wake(receiver) }
        }
        if events & UInt32(RINGIO_EPOLLOUT | RINGIO_EPOLLERR | RINGIO_EPOLLHUP) != 0 {
            writable = true
            if let sender { backend.loop.wake(sender) }
        }
    }

    nonisolated(nonsending) func receive(maxBytes: Int) async throws -> (ByteBuffer, SocketAddress?, Int) {
        guard receiver == nil else {
            throw RingIOError(.busyResource, "receive on \(context): another task is already receiving on this socket")
        }
        let storage = ByteStorage(capacity: maxBytes)
        while true {
            guard !closed else { throw RingIOError(.closedResource, "receive on \(context): the socket is closed") }
            if readable {
                receiveMessage.prepareReceive(into: storage.base, length: maxBytes)
                let length = receiveMessage.receive(on: descriptor, flags: Int32(RINGIO_MSG_TRUNC))
                if length >= 0 {
                    return (ByteBuffer(storage: storage, lower: 0, upper: min(length, maxBytes)), receiveMessage.senderAddress, length)
                }
                let code = errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EWOULDBLOCK else { throw RingIOError.system(errno: code, "receive on \(context)") }
                readable = false
            }
            let completion = await backend.park { receiver = $0 }
            receiver = nil
            if let interruption = completion.interruption { throw interruption.error("receive on \(context)") }
        }
    }

    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>, to address: SocketAddress?) async throws {
        guard !sending else { throw RingIOError(.busyResource, "send on \(context): another task is already sending on this socket") }
        sending = true
        defer { sending = false }
        if bytes.withContiguousStorageIfAvailable({ _ in true }) == nil {
            try await send(contiguous: Array(bytes), to: address)
        } else {
            try await send(contiguous: bytes, to: address)
        }
    }

    private nonisolated(nonsending) func send(contiguous bytes: some Collection<UInt8>, to address: SocketAddress?) async throws {
        let target = address.map { " to \($0)" } ?? ""
        while true {
            guard !closed else { throw RingIOError(.closedResource, "send on \(context): the socket is closed") }
            if writable {
                let fd = descriptor
                let message = sendMessage
                var failure: (any Error)?
                let result =
                    bytes.withContiguousStorageIfAvailable { pointer -> Int in
                        do {
                            try message.prepareSend(
                                from: UnsafeRawPointer(pointer.baseAddress), length: pointer.count, to: address, descriptors: [])
                        } catch {
                            failure = error
                            return 0
                        }
                        return message.send(on: fd, flags: Int32(RINGIO_MSG_NOSIGNAL))
                    } ?? 0
                if let failure { throw failure }
                if result >= 0 { return }
                let code = errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EWOULDBLOCK else { throw RingIOError.system(errno: code, "send on \(context)\(target)") }
                writable = false
            }
            let completion = await backend.park { sender = $0 }
            sender = nil
            if let interruption = completion.interruption { throw interruption.error("send on \(context)\(target)") }
        }
    }

    nonisolated(nonsending) func close() async {
        guard !closed else { return }
        closed = true
        for id in [receiver, sender].compactMap({ $0 }) { backend.loop.interrupt(id, .closed) }
        let fd = descriptor
        descriptor = -1
        backend.deregister(fd, token: token)
        backend.loop.untrack(fd)
        await backend.close(fd: fd)
    }
}
#endif
