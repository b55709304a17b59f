import CLiburing
import Glibc
import RingIOCore

@testable import RingIORuntime

/// A backend with no kernel under it, for testing channels deterministically: it takes each
/// operation's completion face (the SQE it prepares) and plays the kernel's part itself. A
/// receive takes the bytes a test fed to its descriptor, a send records the bytes it was given
/// (at most `sendLimit` per call, for short sends), a close succeeds; a multishot recv delivers
/// fed bytes in chunks of at most `chunkSize`. Everything happens in `processEvents`, on the loop
/// thread, in the next turn after an operation was submitted, as io_uring's completions do;
/// `cancel` completes an operation with `-ECANCELED` in the next turn.
///
/// Descriptors are plain numbers nobody opened: nothing ever reaches a system call with them.
final class EmbeddedBackend: IOBackend, MultishotOperations {
    unowned let loop: EventLoop
    let kind = BackendKind.ioUring
    let features = ["embedded"]
    var multishot: (any MultishotOperations)? { self }
    var receivePool: ReceivePool? { nil }
    let acceptsMultishot = false
    var receivesMultishot = true

    /// Bytes a receive on each descriptor will find, and whether its peer finished after them.
    var incoming: [Int32: [UInt8]] = [:]
    var finished: Set<Int32> = []
    /// What sends gave each descriptor.
    var sent: [Int32: [UInt8]] = [:]
    /// The most bytes one send takes (short sends), or `nil` for all.
    var sendLimit: Int?
    /// The largest chunk a multishot recv delivers.
    var chunkSize = 16384
    /// The opcodes of every operation performed, in order (`IORING_OP_RECV`, ...).
    var performed: [UInt8] = []
    /// Multishot receives armed and cancel requests made, by operation.
    var armed: [(id: OperationID, fd: Int32)] = []
    var cancels: [OperationID] = []

    private var inFlight: [(id: OperationID, sqe: io_uring_sqe)] = []
    private var cancelling: [OperationID] = []
    private var arrival: ByteBuffer?

    init(loop: EventLoop) { self.loop = loop }

    /// Runs `body` on a new loop over an embedded backend, with a stream channel on descriptor
    /// `descriptor` (closed afterwards), then stops the loop.
    static func withStreamChannel(
        _ body: (_ channel: StreamChannel, _ kernel: EmbeddedBackend) async throws -> Void
    ) async throws {
        let loop = try EventLoop.start(name: "embedded", kind: .ioUring) { EmbeddedBackend(loop: $0) }
        let result: Result<Void, any Error>
        do {
            result = .success(
                try await loop.confine {
                    guard let kernel = loop.backend as? EmbeddedBackend else {
                        throw RingIOError(.invalidArgument, "the loop's backend is not the embedded one")
                    }
                    let channel = try StreamChannel(loop: loop, fd: descriptor, context: "embedded stream", passesDescriptors: false)
                    let result: Result<Void, any Error>
                    do { result = .success(try await body(channel, kernel)) } catch { result = .failure(error) }
                    await channel.close()
                    try result.get()
                })
        } catch {
            result = .failure(error)
        }
        await loop.shutdown()
        try result.get()
    }

    /// The descriptor number the embedded stream channel uses (nobody opened it).
    static let descriptor: Int32 = 1_000_000

    func attach(_ fd: Int32, to owner: DescriptorOwner, describing what: @autoclosure () -> String) throws(RingIOError) {}
    func detach(_ fd: Int32, from owner: DescriptorOwner) {}

    nonisolated(nonsending) func perform<Operation: KernelOperation>(
        _ operation: inout Operation, for owner: DescriptorOwner, register: (OperationID) -> Void
    ) async -> Completion {
        await loop.perform(inKernel: true) { id in
            var sqe = io_uring_sqe()
            operation.prepare(&sqe)
            performed.append(sqe.opcode)
            inFlight.append((id, sqe))
            register(id)
        }
    }

    nonisolated(nonsending) func performToCompletion<Operation: KernelOperation>(_ operation: inout Operation) async -> Completion {
        await loop.performToCompletion(inKernel: true) { id in
            var sqe = io_uring_sqe()
            operation.prepare(&sqe)
            performed.append(sqe.opcode)
            inFlight.append((id, sqe))
        }
    }

    func cancel(_ id: OperationID) {
        cancels.append(id)
        cancelling.append(id)
    }

    func startMultishotAccept(on fd: Int32, _ handler: any CompletionHandler) -> OperationID? { nil }

    func startMultishotReceive(on fd: Int32, for owner: DescriptorOwner, _ handler: any CompletionHandler) -> OperationID? {
        guard let id = loop.startMultishot(handler, { _ in }) else { return nil }
        armed.append((id, fd))
        return id
    }

    func providedBuffer(flags: UInt32, length: Int) -> ByteBuffer? {
        defer { arrival = nil }
        return arrival
    }

    func noteReceiveBufferExhaustion() {}

    func close() {}

    /// Ends the multishot recv armed on `fd` with `result` (`-ENOBUFS`, an errno, or 0).
    func endMultishot(on fd: Int32, with result: Int32) {
        guard let index = armed.lastIndex(where: { $0.fd == fd }), loop.table.isCurrent(armed[index].id) else { return }
        let id = armed[index].id
        let handler = loop.table.handler(id)
        loop.table.release(id)
        handler?.handleCompletion(result: result, flags: 0, more: false)
    }

    func processEvents(_ wait: BackendWait) {
        var progressed = false
        for id in cancelling {
            if let index = inFlight.firstIndex(where: { $0.id == id }) {
                inFlight.remove(at: index)
                loop.complete(id, with: Completion(result: -ECANCELED, flags: 0, interruption: nil))
                progressed = true
            } else if loop.table.isCurrent(id) && loop.table[id].isMultishot {
                let handler = loop.table.handler(id)
                loop.table.release(id)
                handler?.handleCompletion(result: -ECANCELED, flags: 0, more: false)
                progressed = true
            }
        }
        cancelling.removeAll()
        var waiting: [(id: OperationID, sqe: io_uring_sqe)] = []
        for (id, sqe) in inFlight {
            if let result = run(sqe) {
                loop.complete(id, with: Completion(result: result, flags: 0, interruption: nil))
                progressed = true
            } else {
                waiting.append((id, sqe))
            }
        }
        inFlight = waiting
        for (id, fd) in armed where loop.table.isCurrent(id) {
            while var bytes = incoming[fd], !bytes.isEmpty, loop.table.isCurrent(id) {
                let count = min(bytes.count, chunkSize)
                arrival = ByteBuffer(bytes.prefix(count))
                bytes.removeFirst(count)
                incoming[fd] = bytes
                loop.table.handler(id)?.handleCompletion(result: Int32(count), flags: 0, more: true)
                arrival = nil
                progressed = true
            }
            if finished.contains(fd), incoming[fd, default: []].isEmpty, loop.table.isCurrent(id) {
                let handler = loop.table.handler(id)
                loop.table.release(id)
                handler?.handleCompletion(result: 0, flags: 0, more: false)
                progressed = true
            }
        }
        guard !progressed else { return }
        var timeout: Int32
        switch wait {
        case .now: timeout = 0
        case .untilEvent: timeout = -1
        case .until(let deadline):
            let remaining = ContinuousClock.now.duration(to: deadline).components
            timeout = Int32(clamping: max(remaining.seconds * 1000 + remaining.attoseconds / 1_000_000_000_000_000 + 1, 0))
        }
        var poll = pollfd(fd: loop.wakeFD, events: Int16(POLLIN), revents: 0)
        if Glibc.poll(&poll, 1, timeout) > 0 {
            var value: UInt64 = 0
            _ = Glibc.read(loop.wakeFD, &value, 8)
        }
    }

    /// Plays the kernel for one SQE: its result, or `nil` while it must wait (a receive with
    /// nothing to take).
    private func run(_ sqe: io_uring_sqe) -> Int32? {
        let fd = sqe.fd
        switch UInt32(sqe.opcode) {
        case IORING_OP_RECV.rawValue:
            guard var bytes = incoming[fd], !bytes.isEmpty else { return finished.contains(fd) ? 0 : nil }
            let count = min(bytes.count, Int(sqe.len))
            guard let base = UnsafeMutableRawPointer(bitPattern: UInt(sqe.addr)) else { return -EFAULT }
            UnsafeMutableRawBufferPointer(start: base, count: count).copyBytes(from: bytes.prefix(count))
            bytes.removeFirst(count)
            incoming[fd] = bytes
            return Int32(count)
        case IORING_OP_SEND.rawValue:
            let count = min(Int(sqe.len), sendLimit ?? Int.max)
            guard let base = UnsafeRawPointer(bitPattern: UInt(sqe.addr)) else { return -EFAULT }
            sent[fd, default: []].append(contentsOf: UnsafeRawBufferPointer(start: base, count: count))
            return Int32(count)
        case IORING_OP_SENDMSG.rawValue:
            guard let header = UnsafePointer<msghdr>(bitPattern: UInt(sqe.addr)) else { return -EFAULT }
            var budget = sendLimit ?? Int.max
            var total = 0
            for index in 0..<Int(header.pointee.msg_iovlen) where budget > 0 {
                let vector = header.pointee.msg_iov[index]
                let count = min(vector.iov_len, budget)
                sent[fd, default: []].append(contentsOf: UnsafeRawBufferPointer(start: vector.iov_base, count: count))
                budget -= count
                total += count
            }
            return Int32(total)
        case IORING_OP_CLOSE.rawValue:
            return 0
        default:
            return -EINVAL
        }
    }
}
