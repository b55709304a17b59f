#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// A UDP socket on either backend: one ``RecvMsg`` per receive (with MSG_TRUNC, so the result
/// is the datagram's full length and truncation is reported, not hidden) and one ``SendMsg`` per
/// send. Multishot recvmsg is not used: its provided buffers (16 KiB) could not hold a
/// 65,507-byte datagram. Loop-confined.
final class DatagramChannel: DescriptorOwner {
    private let loop: EventLoop
    private let backend: any IOBackend
    private let context: String
    private let receiveMessage: MessageBuffer
    private let sendMessage: MessageBuffer
    private var receiveOperation: OperationID?
    private var sendOperation: OperationID?
    /// Whether a task is in `receive`.
    private(set) var isReceiving = false
    private var sending = false
    /// A datagram that arrived while its receive was being interrupted; the next receive returns it.
    private var stashed: (ByteBuffer, SocketAddress?, Int)?
    private var closed = false

    /// Takes ownership of the UDP socket `fd` once this returns; on a throw the caller still
    /// owns and closes it.
    init(loop: EventLoop, fd: Int32, context: String) throws(RingIOError) {
        self.loop = loop
        backend = loop.backend
        self.context = context
        receiveMessage = try MessageBuffer(maxDescriptors: 0)
        sendMessage = try MessageBuffer(maxDescriptors: 0)
        super.init(descriptor: fd)
        try backend.attach(fd, to: self, describing: context)
        loop.track(fd)
    }

    /// Receives one datagram into at most `maxBytes` bytes.
    ///
    /// - Returns: the bytes kept, the sender, and the datagram's full length (more than
    ///   `maxBytes` when it was truncated).
    nonisolated(nonsending) func receive(maxBytes: Int) async throws -> (ByteBuffer, SocketAddress?, Int) {
        guard !closed else { throw RingIOError(.closedResource, "receive on \(context): the socket is closed") }
        guard !isReceiving else {
            throw RingIOError(.busyResource, "receive on \(context): another task is already receiving on this socket")
        }
        if let (bytes, sender, length) = stashed {
            stashed = nil
            return (bytes.count > maxBytes ? bytes[0..<maxBytes] : bytes, sender, length)
        }
        isReceiving = true
        defer { isReceiving = false }
        var operation = RecvMsg(
            descriptor, capacity: maxBytes, into: .fresh, message: receiveMessage, flags: Int32(RINGIO_MSG_TRUNC))
        let completion = await backend.perform(&operation, for: self) { receiveOperation = $0 }
        receiveOperation = nil
        var datagram: (ByteBuffer, SocketAddress?, Int)?
        if completion.result >= 0 {
            datagram = (operation.bytes(completion.result) ?? ByteBuffer(), receiveMessage.senderAddress, Int(completion.result))
        }
        if let interruption = completion.interruption {
            if !closed { stashed = datagram }
            throw interruption.error("receive on \(context)")
        }
        guard let datagram else { throw RingIOError.system(errno: -completion.result, "receive on \(context)") }
        return datagram
    }

    /// Sends one datagram to `address` (`nil`: the connected target).
    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>, to address: SocketAddress?) async throws {
        guard !closed else { throw RingIOError(.closedResource, "send on \(context): the socket is closed") }
        guard !sending else { throw RingIOError(.busyResource, "send on \(context): another task is already sending on this socket") }
        sending = true
        defer { sending = false }
        if let buffer = bytes as? ByteBuffer {
            // The frame holds `buffer` until the completion, so its storage stays put.
            return try await sendDatagram(buffer.storageAddress, count: buffer.count, to: address)
        }
        let count = bytes.count
        guard count <= SendStaging.largeSize else {
            throw RingIOError(.invalidArgument, "send on \(context): a datagram of \(count) bytes is larger than UDP allows (65,507)")
        }
        let block = loop.sendStaging.acquire(for: count)
        defer { loop.sendStaging.release(block) }
        UnsafeMutableRawBufferPointer(start: block.base, count: block.capacity).copyBytes(from: bytes)
        try await sendDatagram(block.base, count: count, to: address)
    }

    private nonisolated(nonsending) func sendDatagram(_ base: UnsafeRawPointer, count: Int, to address: SocketAddress?) async throws {
        try sendMessage.prepareSend(from: base, length: count, to: address, descriptors: [])
        var operation = SendMsg(descriptor, header: sendMessage.header)
        let completion = await backend.perform(&operation, for: self) { sendOperation = $0 }
        sendOperation = nil
        let target = address.map { " to \($0)" } ?? ""
        if let interruption = completion.interruption { throw interruption.error("send on \(context)\(target)") }
        if completion.result < 0 { throw RingIOError.system(errno: -completion.result, "send on \(context)\(target)") }
    }

    /// Closes the socket; waiting tasks get `.closedResource`.
    nonisolated(nonsending) func close() async {
        guard !closed else { return }
        closed = true
        stashed = nil
        for id in [receiveOperation, sendOperation].compactMap({ $0 }) { loop.interrupt(id, .closed) }
        let fd = descriptor
        descriptor = -1
        loop.untrack(fd)
        await backend.close(fd, owner: self)
    }
}
#endif
