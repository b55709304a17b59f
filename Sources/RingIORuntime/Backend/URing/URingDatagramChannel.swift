#if os(Linux)
import CLiburing
import CRingIOSystem
import Glibc
import RingIOCore

/// A UDP socket on io_uring: one IORING_OP_RECVMSG per receive (with MSG_TRUNC, so the result
/// is the datagram's full length and truncation is reported, not hidden) and one
/// IORING_OP_SENDMSG per send. Multishot recvmsg is not used: its provided buffers (16 KiB) could
/// not hold a 65,507-byte datagram. Loop-confined.
final class URingDatagramChannel: DatagramChannel {
    private let backend: URingBackend
    private(set) var descriptor: Int32
    private let context: String
    private let receiveMessage: MessageBuffer
    private let sendMessage: MessageBuffer
    private var receiveOperation: OperationID?
    private var sendOperation: OperationID?
    private var sending = false
    /// A datagram that arrived while its receive was being interrupted; the next receive returns it.
    private var stashed: (ByteBuffer, SocketAddress?, Int)?
    private var closed = false

    init(backend: URingBackend, fd: Int32, context: String) throws(RingIOError) {
        self.backend = backend
        self.descriptor = fd
        self.context = context
        receiveMessage = try MessageBuffer(maxDescriptors: 0)
        sendMessage = try MessageBuffer(maxDescriptors: 0)
        backend.loop.track(fd)
    }

    var isReceiving: Bool { receiveOperation != nil }

    nonisolated(nonsending) func receive(maxBytes: Int) async throws -> (ByteBuffer, SocketAddress?, Int) {
        guard !closed else { throw RingIOError(.closedResource, "receive on \(context): the socket is closed") }
        guard receiveOperation == nil else {
            throw RingIOError(.busyResource, "receive on \(context): another task is already receiving on this socket")
        }
        if let (bytes, sender, length) = stashed {
            stashed = nil
            return (bytes.count > maxBytes ? bytes[0..<maxBytes] : bytes, sender, length)
        }
        let storage = ByteStorage(capacity: maxBytes)
        let fd = descriptor
        let message = receiveMessage
        let completion = await backend.perform(
            { sqe in
                message.prepareReceive(into: storage.base, length: maxBytes)
                io_uring_prep_recvmsg(sqe, fd, message.header.assumingMemoryBound(to: msghdr.self), UInt32(RINGIO_MSG_TRUNC))
            }, register: { receiveOperation = $0 })
        receiveOperation = nil
        var datagram: (ByteBuffer, SocketAddress?, Int)?
        if completion.result >= 0 {
            let length = Int(completion.result)
            datagram = (ByteBuffer(storage: storage, lower: 0, upper: min(length, maxBytes)), message.senderAddress, length)
        }
        if let interruption = completion.interruption {
            if !closed { stashed = datagram }
            throw interruption.error("receive on \(context)")
        }
        guard let datagram else { throw RingIOError.system(errno: -completion.result, "receive on \(context)") }
        return datagram
    }

    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>, to address: SocketAddress?) async throws {
        guard !closed else { throw RingIOError(.closedResource, "send on \(context): the socket is closed") }
        guard !sending else { throw RingIOError(.busyResource, "send on \(context): another task is already sending on this socket") }
        sending = true
        defer { sending = false }
        if let buffer = bytes as? ByteBuffer {
            // The frame holds `buffer` until the CQE, so its storage stays put.
            return try await sendDatagram(buffer.storageAddress, count: buffer.count, to: address)
        }
        let count = bytes.count
        guard count <= URingSendStaging.largeSize else {
            throw RingIOError(.invalidArgument, "send on \(context): a datagram of \(count) bytes is larger than UDP allows (65,507)")
        }
        let block = backend.sendStaging.acquire(for: count)
        defer { backend.sendStaging.release(block) }
        UnsafeMutableRawBufferPointer(start: block.base, count: block.capacity).copyBytes(from: bytes)
        try await sendDatagram(block.base, count: count, to: address)
    }

    private nonisolated(nonsending) func sendDatagram(_ base: UnsafeRawPointer, count: Int, to address: SocketAddress?) async throws {
        try sendMessage.prepareSend(from: base, length: count, to: address, descriptors: [])
        let fd = descriptor
        let message = sendMessage
        let completion = await backend.perform(
            { sqe in
                io_uring_prep_sendmsg(sqe, fd, message.header.assumingMemoryBound(to: msghdr.self), UInt32(RINGIO_MSG_NOSIGNAL))
            }, register: { sendOperation = $0 })
        sendOperation = nil
        let target = address.map { " to \($0)" } ?? ""
        if let interruption = completion.interruption { throw interruption.error("send on \(context)\(target)") }
        if completion.result < 0 { throw RingIOError.system(errno: -completion.result, "send on \(context)\(target)") }
    }

    nonisolated(nonsending) func close() async {
        guard !closed else { return }
        closed = true
        stashed = nil
        for id in [receiveOperation, sendOperation].compactMap({ $0 }) { backend.loop.interrupt(id, .closed) }
        let fd = descriptor
        descriptor = -1
        backend.loop.untrack(fd)
        await backend.close(fd: fd)
    }
}
#endif
