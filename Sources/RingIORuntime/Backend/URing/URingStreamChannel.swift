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
/// next receives (32 of them) are one-off recvs into heap memory, then multishot is tried again:
/// with more busy streams than buffers, re-arming at once would only run out again.
///
/// Sending: `ByteBuffer`s are sent straight from their storage; other bytes are copied into
/// staging blocks of 64 KiB. Short sends are resubmitted until every byte is sent.
///
/// With descriptor passing (UNIX sockets) every receive is a one-shot IORING_OP_RECVMSG with
/// room for SCM_RIGHTS, and descriptors that arrive are queued until taken; multishot recv is
/// never armed, because its plain recv would make the kernel drop them.
///
/// Loop-confined.
final class URingStreamChannel: StreamChannel, CompletionHandler {
    private let backend: URingBackend
    @exclusivity(unchecked) private(set) var descriptor: Int32
    private let context: String
    /// What arrived and no receive has taken yet. Small chunks are copied out of their provided
    /// buffers (see ``ChunkQueue``), so a trickle of tiny segments pins no buffers of the ring.
    @exclusivity(unchecked) private var arrived = ChunkQueue()
    /// Past this many queued bytes the multishot recv is cancelled until a receive drains the
    /// queue, and what still arrives is copied out: one stream nobody reads holds at most about
    /// this much of the loop's provided buffers (64 KiB in buffers at least half full: 8 of them).
    static let arrivedLimit = 65536
    /// 0 after end of stream, an errno after a receive error.
    @exclusivity(unchecked) private var terminal: Int32?
    @exclusivity(unchecked) private var multishot: OperationID?
    /// Whether the armed multishot recv has been asked to stop (the queue passed its limit).
    @exclusivity(unchecked) private var multishotCancelled = false
    /// Receives left to do one-shot after the provided buffers ran out.
    @exclusivity(unchecked) private var oneShotReceives = 0
    private static let oneShotReceivesAfterExhaustion = 32
    /// How much the next one-shot receive asks for (without descriptor passing): 4 KiB, doubled
    /// after every receive that filled its buffer, up to 64 KiB, and back to 4 KiB after one
    /// that did not. A stream that is merely waiting holds 4 KiB; a stream under a flood of large
    /// messages soon takes each in one receive instead of sixteen.
    @exclusivity(unchecked) private var oneShotCapacity = URingStreamChannel.smallestOneShot
    private static let smallestOneShot = 4096
    private static let largestOneShot = 65536
    @exclusivity(unchecked) private var receiver: OperationID?
    @exclusivity(unchecked) private var oneShotReceive: OperationID?
    @exclusivity(unchecked) private var sendOperation: OperationID?
    @exclusivity(unchecked) private(set) var isSending = false
    @exclusivity(unchecked) private var closed = false
    /// recvmsg/sendmsg headers, present when the channel passes descriptors.
    private let receiveMessage: MessageBuffer?
    private let sendMessage: MessageBuffer?
    /// The iovecs of vectored sends, made on the first one.
    private lazy var gather = GatherVector()
    @exclusivity(unchecked) private var receivedDescriptors = DescriptorQueue()

    init(backend: URingBackend, fd: Int32, context: String, passesDescriptors: Bool) throws(RingIOError) {
        self.backend = backend
        self.descriptor = fd
        self.context = context
        receiveMessage = passesDescriptors ? try MessageBuffer(maxDescriptors: 64) : nil
        sendMessage = passesDescriptors ? try MessageBuffer(maxDescriptors: 64) : nil
        backend.loop.track(fd)
    }

    // MARK: Receiving

    nonisolated(nonsending) func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        while true {
            guard !closed else { throw RingIOError(.closedResource, "receive on \(context): the stream is closed") }
            if !arrived.isEmpty {
                let chunk = arrived.takeFromFirstChunk(maxBytes: maxBytes)
                // The rest waits for a later receive: if it is still here next turn, it leaves
                // the provided buffer.
                if !arrived.isEmpty { backend.settleNextTurn(self) }
                return chunk
            }
            if let terminal {
                if terminal == 0 { return nil }
                throw RingIOError.system(errno: terminal, "receive on \(context)")
            }
            if multishot == nil && backend.multishotReceive && oneShotReceives == 0 && receiveMessage == nil {
                armMultishot()
            }
            if multishot == nil {
                oneShotReceives = max(oneShotReceives - 1, 0)
                if let chunk = try await receiveOnce(maxBytes: maxBytes) { return chunk }
                continue
            }
            let completion = await backend.loop.park { receiver = $0 }
            receiver = nil
            if let interruption = completion.interruption { throw interruption.error("receive on \(context)") }
        }
    }

    private func armMultishot() {
        guard let buffers = backend.receiveBuffers else { return }
        let fd = descriptor
        multishotCancelled = false
        multishot = backend.startMultishot(self) { sqe in
            io_uring_prep_recv_multishot(sqe, fd, nil, 0, 0)
            ringio_sqe_select_buffer(sqe, buffers.group)
        }
    }

    /// One recv into fresh heap memory; sets `terminal` at end of stream or error. Without
    /// descriptor passing this runs only when provided buffers are short, so it asks for
    /// `oneShotCapacity`: with thousands of streams in that state, 64 KiB each would add up to a
    /// large peak, but 4 KiB each would cut large messages into many receives.
    private nonisolated(nonsending) func receiveOnce(maxBytes: Int) async throws -> ByteBuffer? {
        let capacity = min(maxBytes, receiveMessage == nil ? oneShotCapacity : 65536)
        let storage = ByteStorage(capacity: capacity)
        let fd = descriptor
        let message = receiveMessage
        let completion = await backend.perform(
            { sqe in
                if let message {
                    message.prepareReceive(into: storage.base, length: capacity)
                    let header = message.header.assumingMemoryBound(to: msghdr.self)
                    io_uring_prep_recvmsg(sqe, fd, header, UInt32(RINGIO_MSG_CMSG_CLOEXEC))
                } else {
                    io_uring_prep_recv(sqe, fd, storage.base, capacity, 0)
                }
            }, register: { oneShotReceive = $0 })
        oneShotReceive = nil
        if let message, completion.result > 0 {
            receivedDescriptors.append(message.receivedDescriptors())
            if closed { receivedDescriptors.closeAll() }
        }
        if completion.result > 0 {
            if receiveMessage == nil {
                oneShotCapacity =
                    Int(completion.result) == capacity ? min(oneShotCapacity * 2, Self.largestOneShot) : Self.smallestOneShot
            }
            let chunk = ByteBuffer(storage: storage, lower: 0, upper: Int(completion.result))
            if let interruption = completion.interruption {
                // Keep what arrived: the next receive returns it (unless the stream was closed).
                if !closed {
                    arrived.append(chunk)
                    arrived.settle()
                }
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
                if !closed {
                    if arrived.count >= Self.arrivedLimit {
                        // Nobody reads fast enough: stop taking buffers from the ring for this
                        // stream. What the kernel already produced is copied out of the ring.
                        arrived.append(chunk, copying: true)
                        if more, let multishot, !multishotCancelled {
                            multishotCancelled = true
                            backend.cancelKernelOperation(multishot)
                        }
                    } else {
                        arrived.append(chunk)
                        // Nobody waiting: if the bytes are still queued next turn (nobody took
                        // them when the tasks ran), they leave the ring's buffer. Settling at
                        // once would copy every message a busy task was about to take.
                        if receiver == nil { backend.settleNextTurn(self) }
                    }
                }
            }
        } else if result == 0 {
            terminal = 0
        } else if result == -ENOBUFS {
            backend.noteReceiveBufferExhaustion()
            oneShotReceives = Self.oneShotReceivesAfterExhaustion
        } else if result == -EINVAL && arrived.isEmpty && terminal == nil {
            // The kernel does not take multishot recv after all: use one-shot receives from now on.
            backend.multishotReceive = false
        } else if result != -ECANCELED {
            terminal = -result
        }
        if let receiver { backend.loop.wake(receiver) }
    }

    /// Copies a lone small chunk still waiting in the arrival queue out of its provided buffer
    /// (see `ChunkQueue.settle()`); the backend calls it at the start of the turn after the one
    /// the chunk arrived in.
    func settleArrivals() {
        arrived.settle()
    }

    // MARK: Sending

    nonisolated(nonsending) func send(_ buffer: ByteBuffer) async throws {
        try beginSend()
        defer { isSending = false }
        guard !buffer.isEmpty else { return }
        // `buffer` is held by this frame until the last CQE, so its storage stays put.
        try await sendFully(buffer.storageAddress, count: buffer.count, alreadySent: 0)
    }

    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>) async throws {
        if let buffer = bytes as? ByteBuffer { return try await send(buffer) }
        try beginSend()
        defer { isSending = false }
        let block = backend.sendStaging.acquire(for: bytes.count)
        defer { backend.sendStaging.release(block) }
        try await sendStaged(bytes, from: bytes.startIndex, through: block, alreadySent: 0)
    }

    nonisolated(nonsending) func send(_ buffers: [ByteBuffer]) async throws {
        try beginSend()
        defer { isSending = false }
        let vector = gather
        var position = GatherVector.Position()
        var sent = 0
        while true {
            let count = vector.prepare(buffers, from: position)
            if count == 0 { return }
            // A close may have run while this task waited for its last completion.
            guard !closed else { throw RingIOError(.closedResource, "send on \(context): the stream is closed", bytesTransferred: sent) }
            let fd = descriptor
            let header = vector.header
            let completion = await backend.perform(
                { sqe in io_uring_prep_sendmsg(sqe, fd, header, UInt32(MSG_NOSIGNAL)) }, register: { sendOperation = $0 })
            sendOperation = nil
            let taken = try bytesSent(by: completion, after: sent)
            sent += taken
            position.advance(by: taken, in: buffers)
        }
    }

    /// Copies `bytes[start...]` into `block` one block at a time and sends each copy fully.
    private nonisolated(nonsending) func sendStaged<Bytes: Collection<UInt8>>(
        _ bytes: Bytes, from start: Bytes.Index, through block: URingSendStaging.Block, alreadySent: Int
    ) async throws {
        var total = alreadySent
        var index = start
        while index != bytes.endIndex {
            let end = bytes.index(index, offsetBy: block.capacity, limitedBy: bytes.endIndex) ?? bytes.endIndex
            UnsafeMutableRawBufferPointer(start: block.base, count: block.capacity).copyBytes(from: bytes[index..<end])
            let count = bytes.distance(from: index, to: end)
            try await sendFully(block.base, count: count, alreadySent: total)
            total += count
            index = end
        }
    }

    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>, descriptors: [Int32]) async throws {
        guard let message = sendMessage else {
            throw RingIOError(.invalidArgument, "send with descriptors on \(context): only UNIX streams pass descriptors")
        }
        guard !bytes.isEmpty else {
            throw RingIOError(.invalidArgument, "send with descriptors on \(context): descriptors travel with at least one byte")
        }
        try beginSend()
        defer { isSending = false }
        let block = backend.sendStaging.acquire(for: bytes.count)
        defer { backend.sendStaging.release(block) }
        // The descriptors ride on the first block, sent with sendmsg; the rest follows as usual.
        let firstEnd = bytes.index(bytes.startIndex, offsetBy: block.capacity, limitedBy: bytes.endIndex) ?? bytes.endIndex
        let first = bytes[bytes.startIndex..<firstEnd]
        UnsafeMutableRawBufferPointer(start: block.base, count: block.capacity).copyBytes(from: first)
        let count = first.count
        try message.prepareSend(from: block.base, length: count, to: nil, descriptors: descriptors)
        let fd = descriptor
        let completion = await backend.perform(
            { sqe in
                io_uring_prep_sendmsg(sqe, fd, message.header.assumingMemoryBound(to: msghdr.self), UInt32(RINGIO_MSG_NOSIGNAL))
            }, register: { sendOperation = $0 })
        sendOperation = nil
        let sent = max(Int(completion.result), 0)
        if let interruption = completion.interruption { throw interruption.error("send on \(context)", bytesTransferred: sent) }
        if completion.result < 0 { throw RingIOError.system(errno: -completion.result, "send on \(context)", bytesTransferred: 0) }
        if sent < count { try await sendFully(block.base + sent, count: count - sent, alreadySent: sent) }
        try await sendStaged(bytes, from: firstEnd, through: block, alreadySent: count)
    }

    func takeReceivedDescriptors(max: Int) -> [Int32] {
        receivedDescriptors.take(max: max)
    }

    private func beginSend() throws {
        guard !closed else { throw RingIOError(.closedResource, "send on \(context): the stream is closed") }
        guard !isSending else { throw RingIOError(.busyResource, "send on \(context): another task is already sending on this stream") }
        isSending = true
    }

    /// Sends `count` bytes at `base`, resubmitting after short sends.
    private nonisolated(nonsending) func sendFully(_ base: UnsafeRawPointer, count: Int, alreadySent: Int) async throws {
        var sent = 0
        while sent < count {
            // A close may have run while this task waited for its last completion.
            guard !closed else {
                throw RingIOError(.closedResource, "send on \(context): the stream is closed", bytesTransferred: alreadySent + sent)
            }
            let fd = descriptor
            let offset = sent
            let completion = await backend.perform(
                { sqe in
                    io_uring_prep_send(sqe, fd, base + offset, count - offset, Int32(MSG_NOSIGNAL))
                }, register: { sendOperation = $0 })
            sendOperation = nil
            sent += try bytesSent(by: completion, after: alreadySent + sent)
        }
    }

    /// Reads a send's completion: the bytes the kernel took (at least one), or the error to
    /// throw, whose `bytesTransferred` is `before` plus what this send took.
    private func bytesSent(by completion: Completion, after before: Int) throws -> Int {
        let taken = max(Int(completion.result), 0)
        if let interruption = completion.interruption {
            throw interruption.error("send on \(context)", bytesTransferred: before + taken)
        }
        if completion.result < 0 {
            throw RingIOError.system(errno: -completion.result, "send on \(context)", bytesTransferred: before)
        }
        if completion.result == 0 {
            throw RingIOError(.connectionReset, "send on \(context): the kernel accepted no bytes", bytesTransferred: before)
        }
        return taken
    }

    func sendEOF() throws {
        guard !closed else { throw RingIOError(.closedResource, "sendEOF on \(context): the stream is closed") }
        try SocketCalls.shutdownWrite(descriptor, describing: context)
    }

    // MARK: Closing

    nonisolated(nonsending) func close() async {
        guard !closed else { return }
        closed = true
        if let multishot { backend.cancelKernelOperation(multishot) }
        for id in [receiver, oneShotReceive, sendOperation].compactMap({ $0 }) {
            backend.loop.interrupt(id, .closed)
        }
        arrived.removeAll()
        receivedDescriptors.closeAll()
        let fd = descriptor
        descriptor = -1
        backend.loop.untrack(fd)
        await backend.close(fd: fd)
    }

    nonisolated(nonsending) func park(_ what: String, _ register: (_ wake: @escaping () -> Void) -> Void) async throws {
        try await backend.loop.parkUntilWoken("\(what) on \(context)", register)
    }
}
#endif
