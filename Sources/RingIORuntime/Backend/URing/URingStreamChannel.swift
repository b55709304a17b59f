#if os(Linux)
import CLiburing
import CRingIOSystem
import Glibc
import RingIOCore

/// A connected stream socket on io_uring.
///
/// Receiving: a multishot recv stays armed while the stream is open; each completion carries a
/// provided buffer, queued here until a receive takes it (zero copy). A waiting receiver is a
/// parked operation completed by the next arrival. If the provided buffers run out (ENOBUFS) the
/// next receive is a one-off recv into heap memory, then multishot resumes.
///
/// Sending: `ByteBuffer`s are sent straight from their storage; other bytes are copied into
/// staging blocks of 64 KiB. Short sends are resubmitted until every byte is sent.
///
/// Loop-confined.
final class URingStreamChannel: StreamChannel, CompletionHandler {
    private let backend: URingBackend
    private(set) var descriptor: Int32
    private let context: String
    private var arrived: [ByteBuffer] = []
    private var arrivedHead = 0
    /// 0 after end of stream, an errno after a receive error.
    private var terminal: Int32?
    private var multishot: OperationID?
    private var useOneShotOnce = false
    private var receiver: OperationID?
    private var oneShotReceive: OperationID?
    private var sendOperation: OperationID?
    private(set) var isSending = false
    private var closed = false

    init(backend: URingBackend, fd: Int32, context: String) {
        self.backend = backend
        self.descriptor = fd
        self.context = context
        backend.loop.adopt(fd)
    }

    // MARK: Receiving

    func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        while true {
            guard !closed else { throw RingIOError(.closedResource, "receive on \(context): the stream is closed") }
            if arrivedHead < arrived.count { return popArrived(maxBytes: maxBytes) }
            if let terminal {
                if terminal == 0 { return nil }
                throw RingIOError.system(errno: terminal, "receive on \(context)")
            }
            if multishot == nil && backend.multishotReceive && !useOneShotOnce {
                armMultishot()
            }
            if multishot == nil {
                useOneShotOnce = false
                if let chunk = try await receiveOnce(maxBytes: maxBytes) { return chunk }
                continue
            }
            let completion = await backend.loop.perform(inKernel: false) { receiver = $0 }
            receiver = nil
            if let interruption = completion.interruption { throw interruption.error("receive on \(context)") }
        }
    }

    private func popArrived(maxBytes: Int) -> ByteBuffer {
        let first = arrived[arrivedHead]
        if first.count > maxBytes {
            arrived[arrivedHead] = first[maxBytes..<first.count]
            return first[0..<maxBytes]
        }
        arrivedHead += 1
        if arrivedHead == arrived.count {
            arrived.removeAll(keepingCapacity: true)
            arrivedHead = 0
        }
        return first
    }

    private func armMultishot() {
        guard let buffers = backend.receiveBuffers else { return }
        let fd = descriptor
        multishot = backend.startMultishot(self) { sqe in
            io_uring_prep_recv_multishot(sqe, fd, nil, 0, 0)
            ringio_sqe_select_buffer(sqe, buffers.group)
        }
    }

    /// One recv into fresh heap memory; sets `terminal` at end of stream or error.
    private func receiveOnce(maxBytes: Int) async throws -> ByteBuffer? {
        let capacity = min(maxBytes, 65536)
        let storage = ByteStorage(capacity: capacity)
        let fd = descriptor
        let completion = await backend.perform({ io_uring_prep_recv($0, fd, storage.base, capacity, 0) }, register: { oneShotReceive = $0 })
        oneShotReceive = nil
        if completion.result > 0 {
            let chunk = ByteBuffer(storage: storage, lower: 0, upper: Int(completion.result))
            if let interruption = completion.interruption {
                // Keep what arrived: the next receive returns it.
                arrived.append(chunk)
                throw interruption.error("receive on \(context)")
            }
            return chunk
        }
        if let interruption = completion.interruption { throw interruption.error("receive on \(context)") }
        terminal = completion.result == 0 ? 0 : -completion.result
        return nil
    }

    func handleCompletion(result: Int32, flags: UInt32, more: Bool) {
        if !more { multishot = nil }
        if result > 0 {
            if let buffers = backend.receiveBuffers, flags & UInt32(IORING_CQE_F_BUFFER) != 0 {
                let chunk = buffers.take(UInt16(flags >> UInt32(IORING_CQE_BUFFER_SHIFT)), length: Int(result))
                if !closed { arrived.append(chunk) }
            }
        } else if result == 0 {
            terminal = 0
        } else if result == -ENOBUFS {
            useOneShotOnce = true
        } else if result == -EINVAL && arrived.isEmpty && terminal == nil {
            // The kernel does not take multishot recv after all: use one-shot receives from now on.
            backend.multishotReceive = false
        } else if result != -ECANCELED {
            terminal = -result
        }
        if let receiver { backend.loop.complete(receiver, with: Completion(result: 0, flags: 0, interruption: nil)) }
    }

    // MARK: Sending

    func send(_ buffer: ByteBuffer) async throws {
        try beginSend()
        defer { isSending = false }
        guard !buffer.isEmpty else { return }
        // `buffer` is held by this frame until the last CQE, so its storage stays put.
        try await sendFully(buffer.storageAddress, count: buffer.count, alreadySent: 0)
    }

    func send(_ bytes: some Collection<UInt8>) async throws {
        if let buffer = bytes as? ByteBuffer { return try await send(buffer) }
        try beginSend()
        defer { isSending = false }
        let block = backend.sendStaging.acquire()
        defer { backend.sendStaging.release(block) }
        var total = 0
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let end = bytes.index(index, offsetBy: URingSendStaging.blockSize, limitedBy: bytes.endIndex) ?? bytes.endIndex
            let target = UnsafeMutableRawBufferPointer(start: block, count: URingSendStaging.blockSize)
            target.copyBytes(from: bytes[index..<end])
            let count = bytes.distance(from: index, to: end)
            try await sendFully(block, count: count, alreadySent: total)
            total += count
            index = end
        }
    }

    private func beginSend() throws {
        guard !closed else { throw RingIOError(.closedResource, "send on \(context): the stream is closed") }
        guard !isSending else { throw RingIOError(.busyResource, "send on \(context): another task is already sending on this stream") }
        isSending = true
    }

    /// Sends `count` bytes at `base`, resubmitting after short sends.
    private func sendFully(_ base: UnsafeRawPointer, count: Int, alreadySent: Int) async throws {
        var sent = 0
        let fd = descriptor
        while sent < count {
            let offset = sent
            let completion = await backend.perform(
                { sqe in
                    io_uring_prep_send(sqe, fd, base + offset, count - offset, Int32(MSG_NOSIGNAL))
                }, register: { sendOperation = $0 })
            sendOperation = nil
            if completion.result > 0 { sent += Int(completion.result) }
            if let interruption = completion.interruption {
                throw interruption.error("send on \(context)", bytesTransferred: alreadySent + sent)
            }
            if completion.result < 0 {
                throw RingIOError.system(errno: -completion.result, "send on \(context)", bytesTransferred: alreadySent + sent)
            }
            if completion.result == 0 {
                throw RingIOError(
                    .connectionReset, "send on \(context): the kernel accepted no bytes", bytesTransferred: alreadySent + sent)
            }
        }
    }

    func sendEOF() throws {
        guard !closed else { throw RingIOError(.closedResource, "sendEOF on \(context): the stream is closed") }
        try SocketCalls.shutdownWrite(descriptor, describing: context)
    }

    // MARK: Closing

    func close() async {
        guard !closed else { return }
        closed = true
        if let multishot { backend.cancelKernelOperation(multishot) }
        for id in [receiver, oneShotReceive, sendOperation].compactMap({ $0 }) {
            backend.loop.interrupt(id, .closed)
        }
        arrived.removeAll()
        arrivedHead = 0
        let fd = descriptor
        descriptor = -1
        backend.loop.release(fd)
        await backend.close(fd: fd)
    }
}
#endif
