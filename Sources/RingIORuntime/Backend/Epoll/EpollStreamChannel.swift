#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// A connected stream socket on epoll: non-blocking `recv`/`send`, parking on EAGAIN until the
/// next edge. Receives go straight into the returned buffer's memory; sends go straight from the
/// caller's memory (no staging copy: the system call is synchronous). With descriptor passing
/// (UNIX sockets) receives use recvmsg and queue SCM_RIGHTS descriptors, and a send with
/// descriptors uses sendmsg until its first byte is out. Loop-confined.
final class EpollStreamChannel: StreamChannel, ReadinessHandler {
    private let backend: EpollBackend
    @exclusivity(unchecked) private(set) var descriptor: Int32
    private let context: String
    @exclusivity(unchecked) private var token = -1
    @exclusivity(unchecked) private var readable = true
    @exclusivity(unchecked) private var writable = true
    /// 0 after end of stream, an errno after a receive error.
    @exclusivity(unchecked) private var terminal: Int32?
    @exclusivity(unchecked) private var receiver: OperationID?
    @exclusivity(unchecked) private var sender: OperationID?
    @exclusivity(unchecked) private(set) var isSending = false
    @exclusivity(unchecked) private var closed = false
    private let receiveMessage: MessageBuffer?
    private let sendMessage: MessageBuffer?
    /// The iovecs of vectored sends, made on the first one.
    private lazy var gather = GatherVector()
    @exclusivity(unchecked) private var receivedDescriptors = DescriptorQueue()

    init(backend: EpollBackend, fd: Int32, context: String, passesDescriptors: Bool) throws(RingIOError) {
        self.backend = backend
        self.descriptor = fd
        self.context = context
        receiveMessage = passesDescriptors ? try MessageBuffer(maxDescriptors: 64) : nil
        sendMessage = passesDescriptors ? try MessageBuffer(maxDescriptors: 64) : nil
        token = try backend.register(fd, self, describing: context)
        backend.loop.track(fd)
    }

    func handleReadiness(_ events: UInt32) {
        if events & UInt32(RINGIO_EPOLLIN | RINGIO_EPOLLRDHUP | RINGIO_EPOLLHUP | RINGIO_EPOLLERR) != 0 {
            readable = true
            if let receiver { backend.loop.wake(receiver) }
        }
        if events & UInt32(RINGIO_EPOLLOUT | RINGIO_EPOLLHUP | RINGIO_EPOLLERR) != 0 {
            writable = true
            if let sender { backend.loop.wake(sender) }
        }
    }

    // MARK: Receiving

    nonisolated(nonsending) func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        while true {
            guard !closed else { throw RingIOError(.closedResource, "receive on \(context): the stream is closed") }
            if let terminal {
                if terminal == 0 { return nil }
                throw RingIOError.system(errno: terminal, "receive on \(context)")
            }
            if readable {
                let capacity = min(maxBytes, EpollReceivePool.blockSize)
                let (block, storage) = backend.receivePool.acquire()
                let count: Int
                if let message = receiveMessage {
                    message.prepareReceive(into: storage.base, length: capacity)
                    count = message.receive(on: descriptor, flags: Int32(RINGIO_MSG_CMSG_CLOEXEC))
                    if count > 0 { receivedDescriptors.append(message.receivedDescriptors()) }
                } else {
                    count = recv(descriptor, storage.base, capacity, 0)
                }
                if count > 0 {
                    backend.receivePool.lend(block)
                    return ByteBuffer(storage: storage, lower: 0, upper: count)
                }
                backend.receivePool.putBack(block)
                if count == 0 {
                    terminal = 0
                    return nil
                }
                let code = errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EWOULDBLOCK else {
                    terminal = code
                    throw RingIOError.system(errno: code, "receive on \(context)")
                }
                readable = false
            }
            let completion = await backend.park { receiver = $0 }
            receiver = nil
            if let interruption = completion.interruption { throw interruption.error("receive on \(context)") }
        }
    }

    func takeReceivedDescriptors(max: Int) -> [Int32] {
        receivedDescriptors.take(max: max)
    }

    // MARK: Sending

    nonisolated(nonsending) func send(_ buffer: ByteBuffer) async throws {
        try await send(contiguous: buffer, descriptors: [])
    }

    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>) async throws {
        if bytes.withContiguousStorageIfAvailable({ _ in true }) == nil {
            try await send(contiguous: Array(bytes), descriptors: [])
        } else {
            try await send(contiguous: bytes, descriptors: [])
        }
    }

    nonisolated(nonsending) func send(_ bytes: some Collection<UInt8>, descriptors: [Int32]) async throws {
        guard sendMessage != nil else {
            throw RingIOError(.invalidArgument, "send with descriptors on \(context): only UNIX streams pass descriptors")
        }
        guard !bytes.isEmpty else {
            throw RingIOError(.invalidArgument, "send with descriptors on \(context): descriptors travel with at least one byte")
        }
        if bytes.withContiguousStorageIfAvailable({ _ in true }) == nil {
            try await send(contiguous: Array(bytes), descriptors: descriptors)
        } else {
            try await send(contiguous: bytes, descriptors: descriptors)
        }
    }

    nonisolated(nonsending) func send(_ buffers: [ByteBuffer]) async throws {
        try beginSend()
        defer { isSending = false }
        let vector = gather
        var position = GatherVector.Position()
        var sent = 0
        while vector.prepare(buffers, from: position) > 0 {
            guard !closed else { throw RingIOError(.closedResource, "send on \(context): the stream is closed", bytesTransferred: sent) }
            if writable {
                let result = Glibc.sendmsg(descriptor, vector.header, Int32(MSG_NOSIGNAL))
                if try sendProgressed(result, sent: sent) {
                    if result > 0 {
                        sent += result
                        position.advance(by: result, in: buffers)
                    }
                    continue
                }
            }
            try await waitUntilWritable(sent: sent)
        }
    }

    /// Claims the sending side; the caller clears `isSending` when done.
    private func beginSend() throws {
        guard !closed else { throw RingIOError(.closedResource, "send on \(context): the stream is closed") }
        guard !isSending else { throw RingIOError(.busyResource, "send on \(context): another task is already sending on this stream") }
        isSending = true
    }

    /// Reads one non-blocking send call's result (with its errno): `true` when it sent bytes or
    /// was interrupted (call again), `false` when the socket buffer is full (wait for room).
    ///
    /// - Throws: the send's error, with the bytes sent so far.
    private func sendProgressed(_ result: Int, sent: Int) throws(RingIOError) -> Bool {
        if result > 0 { return true }
        let code = errno
        if result < 0 && code == EINTR { return true }
        if result == 0 || (code != EAGAIN && code != EWOULDBLOCK) {
            throw RingIOError.system(errno: result == 0 ? EPIPE : code, "send on \(context)", bytesTransferred: sent)
        }
        writable = false
        return false
    }

    /// Waits until the socket has room again.
    ///
    /// - Throws: `.closedResource` once the stream is closed; the interruption (deadline,
    ///   cancellation, shutdown) with the bytes sent so far.
    private nonisolated(nonsending) func waitUntilWritable(sent: Int) async throws {
        guard !closed else { throw RingIOError(.closedResource, "send on \(context): the stream is closed", bytesTransferred: sent) }
        let completion = await backend.park { sender = $0 }
        sender = nil
        if let interruption = completion.interruption {
            throw interruption.error("send on \(context)", bytesTransferred: sent)
        }
    }

    /// Sends contiguous `bytes` (with `descriptors` on the first bytes out), re-entering their
    /// storage after every wait: nothing is pinned across a suspension, so nothing is copied.
    private nonisolated(nonsending) func send(contiguous bytes: some Collection<UInt8>, descriptors: [Int32]) async throws {
        try beginSend()
        defer { isSending = false }
        let total = bytes.count
        var sent = 0
        var pendingDescriptors = descriptors
        while sent < total {
            guard !closed else { throw RingIOError(.closedResource, "send on \(context): the stream is closed", bytesTransferred: sent) }
            if writable {
                let fd = descriptor
                let offset = sent
                let message = sendMessage
                var failure: (any Error)?
                let result =
                    bytes.withContiguousStorageIfAvailable { pointer -> Int in
                        guard let base = pointer.baseAddress else { return 0 }
                        guard !pendingDescriptors.isEmpty, let message else {
                            return Glibc.send(fd, base + offset, total - offset, Int32(MSG_NOSIGNAL))
                        }
                        do {
                            try message.prepareSend(from: base + offset, length: total - offset, to: nil, descriptors: pendingDescriptors)
                        } catch {
                            failure = error
                            return 0
                        }
                        return message.send(on: fd, flags: Int32(RINGIO_MSG_NOSIGNAL))
                    } ?? 0
                if let failure { throw failure }
                if try sendProgressed(result, sent: sent) {
                    if result > 0 {
                        sent += result
                        pendingDescriptors = []
                    }
                    continue
                }
            }
            try await waitUntilWritable(sent: sent)
        }
    }

    func sendEOF() throws {
        guard !closed else { throw RingIOError(.closedResource, "sendEOF on \(context): the stream is closed") }
        try SocketCalls.shutdownWrite(descriptor, describing: context)
    }

    // MARK: Closing

    nonisolated(nonsending) func close() async {
        guard !closed else { return }
        closed = true
        for id in [receiver, sender].compactMap({ $0 }) { backend.loop.interrupt(id, .closed) }
        receivedDescriptors.closeAll()
        let fd = descriptor
        descriptor = -1
        backend.deregister(fd, token: token)
        backend.loop.untrack(fd)
        await backend.close(fd: fd)
    }

    nonisolated(nonsending) func park(_ what: String, _ register: (_ wake: @escaping () -> Void) -> Void) async throws {
        try await backend.loop.parkUntilWoken("\(what) on \(context)", register)
    }
}
#endif
