#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// A connected stream socket (TCP or UNIX) on either backend: what a ``SocketStream`` receives
/// from and sends through. Loop-confined.
///
/// Receiving follows ``ReceiveMode``. Multishot completions queue their provided buffers in
/// ``arrived`` until a receive takes them (zero copy); small chunks are copied out (see
/// ``ChunkQueue``), so a trickle of tiny segments pins no buffer of the ring, and past
/// ``arrivedLimit`` queued bytes the multishot is cancelled until a receive drains the queue.
/// One-shot receives use the backend's memory (``ReceiveMemory``). With descriptor passing
/// (UNIX sockets) every receive is a one-shot recvmsg with room for SCM_RIGHTS, and descriptors
/// that arrive are queued until taken: multishot recv is never armed, because its plain recv
/// would make the kernel drop them.
///
/// Sending: a `ByteBuffer` is sent straight from its storage, which the sending frame keeps
/// alive; other bytes are copied into the loop's ``SendStaging`` blocks, 64 KiB at a time.
/// Short sends are resubmitted until every byte is sent.
///
/// Closing: waiting operations are interrupted with `.closedResource`, and the descriptor is
/// closed after every operation naming it has completed (``IOBackend/close(_:owner:)``).
final class StreamChannel: DescriptorOwner, CiphertextTransport, CompletionHandler {
    private let loop: EventLoop
    private let backend: any IOBackend
    private let multishot: (any MultishotOperations)?
    private let context: String
    /// What arrived and no receive has taken yet.
    @exclusivity(unchecked) private var arrived = ChunkQueue()
    /// Past this many queued bytes the multishot recv is cancelled until a receive drains the
    /// queue, and what still arrives is copied out: one stream nobody reads holds at most about
    /// this much of the loop's provided buffers (64 KiB in buffers at least half full: 8 of them).
    static let arrivedLimit = 65536
    @exclusivity(unchecked) private var mode = ReceiveMode()
    /// A task waiting for the multishot recv's next completion.
    @exclusivity(unchecked) private var receiver: OperationID?
    @exclusivity(unchecked) private var receiveOperation: OperationID?
    @exclusivity(unchecked) private var sendOperation: OperationID?
    /// Whether a send is in progress.
    @exclusivity(unchecked) private(set) var isSending = false
    @exclusivity(unchecked) private var closed = false
    /// recvmsg/sendmsg headers, present when the channel passes descriptors.
    private let receiveMessage: MessageBuffer?
    private let sendMessage: MessageBuffer?
    /// The iovecs of vectored sends, made on the first one.
    private lazy var gather = GatherVector()
    @exclusivity(unchecked) private var receivedDescriptors = DescriptorQueue()

    /// Takes ownership of the connected socket `fd` once this returns; on a throw the caller
    /// still owns and closes it.
    ///
    /// - Parameter passesDescriptors: receive with recvmsg and keep SCM_RIGHTS descriptors (UNIX sockets).
    init(loop: EventLoop, fd: Int32, context: String, passesDescriptors: Bool) throws(RingIOError) {
        self.loop = loop
        backend = loop.backend
        multishot = backend.multishot
        self.context = context
        receiveMessage = passesDescriptors ? try MessageBuffer(maxDescriptors: 64) : nil
        sendMessage = passesDescriptors ? try MessageBuffer(maxDescriptors: 64) : nil
        super.init(descriptor: fd)
        try backend.attach(fd, to: self, describing: context)
        loop.track(fd)
    }

    // MARK: Receiving

    nonisolated(nonsending) func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        while true {
            switch try nextReceiveStep(maxBytes: maxBytes) {
            case .chunk(let chunk):
                return chunk
            case .endOfStream:
                return nil
            case .receiveOnce:
                if let chunk = try await receiveOnce(maxBytes: maxBytes) { return chunk }
            case .waitForArrival:
                let completion = await loop.park { receiver = $0 }
                receiver = nil
                if let interruption = completion.interruption { throw receiveError(interruption) }
            }
        }
    }

    /// What ``receiveChunk(maxBytes:)`` does next.
    private enum ReceiveStep {
        case chunk(ByteBuffer)
        case endOfStream
        case receiveOnce
        case waitForArrival
    }

    /// The synchronous part of a receive: a chunk that already arrived, the end of the stream, an
    /// error, or the wait to make (arming the multishot recv first when the mode says so).
    /// Out of line on purpose: its temporaries would otherwise sit in the async frame that every
    /// idle connection's receive keeps while it waits.
    @inline(never)
    private func nextReceiveStep(maxBytes: Int) throws -> ReceiveStep {
        while true {
            guard !closed else { throw receiveOnClosedError() }
            if !arrived.isEmpty {
                let chunk = arrived.takeFromFirstChunk(maxBytes: maxBytes)
                // The rest waits for a later receive: if it is still here next turn, it leaves
                // the provided buffer.
                if !arrived.isEmpty { loop.settleNextTurn(self) }
                return .chunk(chunk)
            }
            switch mode.next(canArmMultishot: receiveMessage == nil && multishot?.receivesMultishot == true) {
            case .endOfStream:
                return .endOfStream
            case .fail(let code):
                throw receiveError(errno: code)
            case .armMultishot:
                if let id = multishot?.startMultishotReceive(on: descriptor, for: self, self) {
                    mode.armed(id)
                    continue
                }
                return .receiveOnce
            case .receiveOnce:
                return .receiveOnce
            case .waitForArrival:
                return .waitForArrival
            }
        }
    }

    /// One receive of at most `maxBytes`; ends the stream's receiving (in ``mode``) at end of
    /// stream or an error and returns `nil` then.
    private nonisolated(nonsending) func receiveOnce(maxBytes: Int) async throws -> ByteBuffer? {
        let pool = backend.receivePool
        let memory = pool.map { ReceiveMemory.pooled($0) } ?? .fresh
        let fd = descriptor
        let completion: Completion
        let chunk: ByteBuffer?
        let capacity: Int
        if let message = receiveMessage {
            capacity = min(maxBytes, ReceivePool.blockSize)
            var operation = RecvMsg(fd, capacity: capacity, into: memory, message: message, flags: Int32(RINGIO_MSG_CMSG_CLOEXEC))
            completion = await backend.perform(&operation, for: self) { receiveOperation = $0 }
            chunk = operation.bytes(completion.result)
            if chunk != nil {
                receivedDescriptors.append(message.receivedDescriptors())
                if closed { receivedDescriptors.closeAll() }
            }
        } else {
            // Fresh memory is held while the receive waits in the kernel: with thousands of
            // streams in that state, 64 KiB each would add up to a large peak.
            capacity = min(maxBytes, pool == nil ? mode.oneShotCapacity : ReceivePool.blockSize)
            var operation = Recv(fd, capacity: capacity, into: memory)
            completion = await backend.perform(&operation, for: self) { receiveOperation = $0 }
            chunk = operation.bytes(completion.result)
        }
        receiveOperation = nil
        if let chunk {
            mode.receivedOnce(result: completion.result, capacity: capacity, adaptsCapacity: pool == nil && receiveMessage == nil)
            if let interruption = completion.interruption {
                // Keep what arrived: the next receive returns it (unless the stream was closed).
                if !closed {
                    arrived.append(chunk)
                    arrived.settle()
                }
                throw receiveError(interruption)
            }
            return chunk
        }
        if let interruption = completion.interruption { throw receiveError(interruption) }
        mode.receivedOnce(result: completion.result, capacity: capacity, adaptsCapacity: false)
        return nil
    }

    // A waiting receive's task frame holds room for every temporary of the function it is in,
    // used or not; building the errors' messages here keeps string interpolation out of the
    // frames that thousands of idle connections keep suspended.
    @inline(never)
    private func receiveError(_ interruption: Interruption) -> any Error {
        interruption.error("receive on \(context)")
    }

    @inline(never)
    private func receiveOnClosedError() -> RingIOError {
        RingIOError(.closedResource, "receive on \(context): the stream is closed")
    }

    @inline(never)
    private func receiveError(errno code: Int32) -> RingIOError {
        RingIOError.system(errno: code, "receive on \(context)")
    }

    /// A completion of the multishot recv.
    func handleCompletion(result: Int32, flags: UInt32, more: Bool) {
        // The provided buffer is taken even when the stream is closed, so it goes back to the ring.
        let chunk = result > 0 ? multishot?.providedBuffer(flags: flags, length: Int(result)) : nil
        let arrival = mode.multishotCompleted(result: result, more: more, queuedBytes: arrived.count, limit: Self.arrivedLimit)
        guard !closed else { return }
        switch arrival {
        case .queue:
            if let chunk {
                arrived.append(chunk)
                // Nobody waiting: if the bytes are still queued next turn (nobody took them
                // when the tasks ran), they leave the ring's buffer. Settling at once would copy
                // every message a busy task was about to take.
                if receiver == nil { loop.settleNextTurn(self) }
            }
        case .queueCopying(let stop):
            // Nobody reads fast enough: stop taking buffers from the ring for this stream.
            // What the kernel already produced is copied out of the ring.
            if let chunk { arrived.append(chunk, copying: true) }
            if let stop { backend.cancel(stop) }
        case .exhausted:
            multishot?.noteReceiveBufferExhaustion()
        case .unsupported:
            multishot?.receivesMultishot = false
        case .none:
            break
        }
        if let receiver { loop.wake(receiver) }
    }

    /// Copies a lone small chunk still waiting in the arrival queue out of its provided buffer
    /// (see `ChunkQueue.settle()`); the loop calls it at the start of the turn after the one the
    /// chunk arrived in.
    func settleArrivals() {
        arrived.settle()
    }

    /// Removes and returns up to `max` of the descriptors received so far (the caller owns them).
    func takeReceivedDescriptors(max: Int) -> [Int32] {
        receivedDescriptors.take(max: max)
    }

    // MARK: Sending

    /// Sends every byte of `buffer`, without copying.
    nonisolated(nonsending) func send(_ buffer: ByteBuffer) async throws {
        try beginSend()
        defer { isSending = false }
        guard !buffer.isEmpty else { return }
        // `buffer` is held by this frame until the last completion, so its storage stays put.
        try await sendFully(buffer.storageAddress, count: buffer.count, alreadySent: 0)
    }

    /// Sends every byte of `bytes` (a `ByteBuffer` without copying, anything else through staging).
    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>) async throws {
        if let buffer = bytes as? ByteBuffer { return try await send(buffer) }
        try beginSend()
        defer { isSending = false }
        let block = loop.sendStaging.acquire(for: bytes.count)
        defer { loop.sendStaging.release(block) }
        try await sendStaged(bytes, from: bytes.startIndex, through: block, alreadySent: 0)
    }

    /// Sends every byte of `buffers`, in order, gathered into as few system calls as possible.
    nonisolated(nonsending) func send(_ buffers: [ByteBuffer]) async throws {
        try beginSend()
        defer { isSending = false }
        let vector = gather
        var sent = 0
        var position = GatherVector.Position()
        while vector.prepare(buffers, from: position) > 0 {
            // A close may have run while this task waited for its last completion.
            guard !closed else { throw RingIOError(.closedResource, "send on \(context): the stream is closed", bytesTransferred: sent) }
            var operation = SendMsg(descriptor, header: vector.header)
            let completion = await backend.perform(&operation, for: self) { sendOperation = $0 }
            sendOperation = nil
            let taken = try bytesSent(by: completion, after: sent)
            sent += taken
            position.advance(by: taken, in: buffers)
        }
    }

    /// Sends every byte of `bytes`, with `descriptors` attached to the first ones (SCM_RIGHTS).
    ///
    /// - Throws: `.invalidArgument` on a channel made without descriptor passing or for empty `bytes`.
    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>, descriptors: [Int32]) async throws {
        guard let message = sendMessage else {
            throw RingIOError(.invalidArgument, "send with descriptors on \(context): only UNIX streams pass descriptors")
        }
        guard !bytes.isEmpty else {
            throw RingIOError(.invalidArgument, "send with descriptors on \(context): descriptors travel with at least one byte")
        }
        try beginSend()
        defer { isSending = false }
        let block = loop.sendStaging.acquire(for: bytes.count)
        defer { loop.sendStaging.release(block) }
        // The descriptors ride on the first block, sent with sendmsg; the rest follows as usual.
        let firstEnd = bytes.index(bytes.startIndex, offsetBy: block.capacity, limitedBy: bytes.endIndex) ?? bytes.endIndex
        let first = bytes[bytes.startIndex..<firstEnd]
        UnsafeMutableRawBufferPointer(start: block.base, count: block.capacity).copyBytes(from: first)
        let count = first.count
        try message.prepareSend(from: block.base, length: count, to: nil, descriptors: descriptors)
        var operation = SendMsg(descriptor, header: message.header)
        let completion = await backend.perform(&operation, for: self) { sendOperation = $0 }
        sendOperation = nil
        let sent = try bytesSent(by: completion, after: 0)
        if sent < count { try await sendFully(block.base + sent, count: count - sent, alreadySent: sent) }
        try await sendStaged(bytes, from: firstEnd, through: block, alreadySent: count)
    }

    /// Copies `bytes[start...]` into `block` one block at a time and sends each copy fully.
    private nonisolated(nonsending) func sendStaged<Bytes: Collection<UInt8>>(
        _ bytes: Bytes, from start: Bytes.Index, through block: SendStaging.Block, alreadySent: Int
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

    /// Claims the sending side; the caller clears `isSending` when done.
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
            var operation = Send(descriptor: descriptor, base: base + sent, count: count - sent)
            let completion = await backend.perform(&operation, for: self) { sendOperation = $0 }
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

    /// Half-closes the sending direction.
    func sendEOF() throws {
        guard !closed else { throw RingIOError(.closedResource, "sendEOF on \(context): the stream is closed") }
        try SocketCalls.shutdownWrite(descriptor, describing: context)
    }

    // MARK: Closing

    /// Closes the socket; waiting tasks get `.closedResource`. Closing twice does nothing.
    nonisolated(nonsending) func close() async {
        guard !closed else { return }
        closed = true
        if let multishot = mode.multishot { backend.cancel(multishot) }
        for id in [receiver, receiveOperation, sendOperation].compactMap({ $0 }) {
            loop.interrupt(id, .closed)
        }
        arrived.removeAll()
        receivedDescriptors.closeAll()
        let fd = descriptor
        descriptor = -1
        loop.untrack(fd)
        await backend.close(fd, owner: self)
    }

    nonisolated(nonsending) func park(_ what: String, _ register: (_ wake: @escaping () -> Void) -> Void) async throws {
        try await loop.parkUntilWoken("\(what) on \(context)", register)
    }
}
#endif
