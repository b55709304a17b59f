#if os(Linux)
import CLiburing
import CRingIOSystem
import Glibc
import RingIOCore

/// The io_uring backend: one ring per event loop, completion-based.
///
/// Every operation is an SQE whose `user_data` is its ``OperationID``; the loop's turn submits
/// all queued SQEs with one `io_uring_enter` and dispatches the CQEs. Kernel features are probed
/// at start-up, each with a fallback: SINGLE_ISSUER + DEFER_TASKRUN (else COOP_TASKRUN, else
/// neither), multishot accept, and multishot recv fed by a provided buffer ring.
///
/// Loop-confined: created and used on its loop's thread only.
final class URingBackend: IOBackend {
    /// `user_data` of CQEs nobody waits for: cancel requests, and the timeout SQE liburing
    /// queues for a timed wait on kernels without IORING_FEAT_EXT_ARG (its LIBURING_UDATA_TIMEOUT
    /// is this value too).
    private static let ignoredToken: UInt64 = .max
    /// `user_data` of the read on the loop's wake-up eventfd.
    private static let wakeToken: UInt64 = .max - 1
    private static let cqeBatch: UInt32 = 256

    let kind = BackendKind.ioUring
    let wantsNonBlockingSockets = false
    private(set) var features: [String] = []
    /// `unowned(unsafe)`: the loop owns its backend and outlives it, and the hot path reads it
    /// several times per completion (each checked `unowned` read is an atomic retain and release).
    unowned(unsafe) let loop: EventLoop
    /// The ring. Allocated so its address is stable for liburing.
    private let ring: UnsafeMutablePointer<io_uring>
    private let cqes: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    /// Completions copied out of the completion queue, dispatched in order; `dispatching` is
    /// the batch being dispatched (swapped, so neither allocates in steady state).
    @exclusivity(unchecked) private var pending: [(UInt64, Int32, UInt32)] = []
    @exclusivity(unchecked) private var dispatching: [(UInt64, Int32, UInt32)] = []
    /// Where an operation prepared on a failed ring writes its SQE (never submitted).
    private let scratchSQE: UnsafeMutablePointer<io_uring_sqe>
    private let wakeBuffer: UnsafeMutablePointer<UInt64>
    /// The provided buffer ring fed to multishot recv, if the kernel supports it.
    let receiveBuffers: URingBufferRing?
    let acceptsMultishot: Bool
    /// Whether multishot recv is used; turned off if the kernel rejects it.
    @exclusivity(unchecked) var receivesMultishot: Bool
    @exclusivity(unchecked) private var closed = false
    /// What the tests observe: overflows and exhaustion seen so far.
    @exclusivity(unchecked) private(set) var counters = BackendCounters()

    /// Sets up a ring sized by `configuration` (validated by the caller) and probes the kernel.
    ///
    /// - Throws: `.backendUnavailable` when `io_uring_setup` fails (ENOSYS, EPERM from seccomp,
    ///   `io_uring_disabled`) or an operation RingIO needs is missing.
    init(loop: EventLoop, configuration: URingConfiguration = URingConfiguration()) throws(RingIOError) {
        let entries = UInt32(configuration.submissionEntries)
        let cqEntries = UInt32(configuration.completionEntries)
        self.loop = loop
        ring = .allocate(capacity: 1)
        ring.initialize(to: io_uring())
        cqes = .allocate(capacity: Int(Self.cqeBatch))
        scratchSQE = .allocate(capacity: 1)
        scratchSQE.initialize(to: io_uring_sqe())
        pending.reserveCapacity(Int(Self.cqeBatch))
        dispatching.reserveCapacity(Int(Self.cqeBatch))
        wakeBuffer = .allocate(capacity: 1)
        wakeBuffer.initialize(to: 0)

        var enabled: [String] = []
        var result: Int32 = -EINVAL
        // Newest first; each older kernel rejects an unknown flag with EINVAL and gets the next.
        let submitAll = UInt32(IORING_SETUP_SUBMIT_ALL)
        let attempts: [(UInt32, String)] = [
            (ringio_setup_single_issuer() | ringio_setup_defer_taskrun() | submitAll, "SINGLE_ISSUER+DEFER_TASKRUN"),
            (ringio_setup_coop_taskrun() | submitAll, "COOP_TASKRUN"),
            (submitAll, ""),
            (0, ""),
        ]
        for (flags, name) in attempts {
            var params = io_uring_params()
            params.flags = UInt32(IORING_SETUP_CQSIZE) | flags
            params.cq_entries = cqEntries
            result = io_uring_queue_init_params(entries, ring, &params)
            if result == 0 {
                if !name.isEmpty { enabled.append(name) }
                break
            }
            if result != -EINVAL { break }
        }
        guard result == 0 else {
            ring.deallocate()
            cqes.deallocate()
            scratchSQE.deallocate()
            wakeBuffer.deallocate()
            throw RingIOError(
                .backendUnavailable, "io_uring_setup failed: \(String(cString: strerror(-result))) (\(RingIOError.errnoName(-result)))",
                errno: -result)
        }

        if let missing = Self.missingOperation(ring) {
            io_uring_queue_exit(ring)
            ring.deallocate()
            cqes.deallocate()
            scratchSQE.deallocate()
            wakeBuffer.deallocate()
            throw RingIOError(.backendUnavailable, "the kernel's io_uring does not support \(missing)")
        }

        let version = Self.kernelVersion()
        acceptsMultishot = version >= (5, 19)
        if acceptsMultishot { enabled.append("multishot accept") }
        // Provided buffers serve multishot recv only, so the ring is registered only with it.
        receiveBuffers =
            version >= (6, 0)
            ? URingBufferRing(
                ring: ring, group: 0, entries: UInt32(configuration.receiveBufferCount), bufferSize: configuration.receiveBufferSize)
            : nil
        receivesMultishot = receiveBuffers != nil
        if receivesMultishot { enabled.append("multishot recv + provided buffer ring") }
        features = enabled
        armWakeRead()
    }

    // MARK: - Probe

    /// Why io_uring cannot run here (a ring is set up on the calling thread, probed and torn
    /// down again), or `nil` when it can.
    static func unavailableReason() -> String? {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        ring.initialize(to: io_uring())
        defer { ring.deallocate() }
        let result = io_uring_queue_init(8, ring, 0)
        guard result == 0 else {
            return "io_uring_setup failed: \(String(cString: strerror(-result))) (\(RingIOError.errnoName(-result)))"
        }
        defer { io_uring_queue_exit(ring) }
        return missingOperation(ring).map { "the kernel's io_uring does not support \($0)" }
    }

    private static func missingOperation(_ ring: UnsafeMutablePointer<io_uring>) -> String? {
        guard let probe = io_uring_get_probe_ring(ring) else { return "IORING_REGISTER_PROBE" }
        defer { io_uring_free_probe(probe) }
        let needed: [(io_uring_op, String)] = [
            (IORING_OP_ACCEPT, "IORING_OP_ACCEPT"), (IORING_OP_CONNECT, "IORING_OP_CONNECT"),
            (IORING_OP_RECV, "IORING_OP_RECV"), (IORING_OP_SEND, "IORING_OP_SEND"),
            (IORING_OP_CLOSE, "IORING_OP_CLOSE"), (IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"),
            (IORING_OP_TIMEOUT_REMOVE, "IORING_OP_TIMEOUT_REMOVE"), (IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"),
            (IORING_OP_READ, "IORING_OP_READ"),
        ]
        for (op, name) in needed where io_uring_opcode_supported(probe, Int32(op.rawValue)) == 0 {
            return name
        }
        return nil
    }

    private static func kernelVersion() -> (Int, Int) {
        var name = utsname()
        guard uname(&name) == 0 else { return (0, 0) }
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : (0, 0)
    }

    // MARK: - Submission

    /// The next free SQE, flushing the submission queue to the kernel if it is full.
    @inline(__always)
    func nextSQE() -> UnsafeMutablePointer<io_uring_sqe> {
        if let sqe = io_uring_get_sqe(ring) { return sqe }
        return sqeAfterMakingRoom()
    }

    /// The submission queue is full: submit it. The kernel may take nothing: EBUSY when
    /// completions are waiting for room in a full completion queue (kernels without
    /// IORING_FEAT_NODROP, or whose overflow list is backed up), EAGAIN when it is short of
    /// memory for requests. Then the completion queue is emptied into `pending` (dispatched in
    /// order later in this turn) to make room, and the submit is tried again; with no completion
    /// to move, it waits for one. Any other error (EBADR: the kernel dropped completions, or one
    /// that means the ring is unusable) fails the loop: the caller gets a scratch SQE nobody
    /// submits, and the loop is stopping.
    @inline(never)
    private func sqeAfterMakingRoom() -> UnsafeMutablePointer<io_uring_sqe> {
        while true {
            let injected = loop.faults.takeFullQueueSubmitResult()
            let result = injected ?? io_uring_submit(ring)
            if let sqe = io_uring_get_sqe(ring) { return sqe }
            counters.fullSubmissionQueueRetries += 1
            let passing = result >= 0 || result == -EBUSY || result == -EAGAIN || result == -EINTR
            if !passing || loop.hasFailed {
                ringFailed(result)
                scratchSQE.initialize(to: io_uring_sqe())
                return scratchSQE
            }
            if harvestCompletions() == 0 && injected == nil {
                var cqe: UnsafeMutablePointer<io_uring_cqe>?
                let waited = io_uring_wait_cqe(ring, &cqe)
                if waited < 0 && waited != -EINTR && waited != -EAGAIN && waited != -EBUSY && waited != -ETIME {
                    ringFailed(waited)
                }
            }
        }
    }

    /// Moves the completions in the completion queue into `pending`; returns how many.
    @discardableResult
    private func harvestCompletions() -> Int {
        var moved = 0
        while true {
            let count = io_uring_peek_batch_cqe(ring, cqes, Self.cqeBatch)
            if count == 0 { break }
            for index in 0..<Int(count) {
                guard let cqe = cqes[index] else { continue }
                if loop.faults.droppedCompletions > 0 && cqe.pointee.user_data < Self.wakeToken {
                    loop.faults.droppedCompletions -= 1
                    continue
                }
                pending.append((cqe.pointee.user_data, cqe.pointee.res, cqe.pointee.flags))
            }
            io_uring_cq_advance(ring, count)
            moved += Int(count)
            if count < Self.cqeBatch { break }
        }
        return moved
    }

    /// Dispatches `pending` in order, including completions moved there while dispatching.
    private func dispatchPending() {
        while !pending.isEmpty {
            swap(&pending, &dispatching)
            for (userData, result, flags) in dispatching { dispatch(userData: userData, result: result, flags: flags) }
            dispatching.removeAll(keepingCapacity: true)
        }
    }

    /// `io_uring_enter` failed with an error the loop cannot go on from: EBADR (the kernel could
    /// not allocate room for completions and dropped them, so some operations will never hear
    /// back) or one that means the ring itself is unusable. The loop stops (see
    /// `EventLoop.backendFailed`).
    private func ringFailed(_ result: Int32) {
        guard !loop.hasFailed else { return }
        counters.ringFailures += 1
        let what =
            result == -EBADR
            ? "io_uring dropped completions (EBADR: the kernel was out of memory for completions that did not fit)"
            : "io_uring_enter failed: \(String(cString: strerror(-result))) (\(RingIOError.errnoName(-result)))"
        loop.backendFailed(what)
    }

    // MARK: - Operations

    func attach(_ fd: Int32, to owner: DescriptorOwner, describing what: @autoclosure () -> String) throws(RingIOError) {
        // Completions need no registration: the SQE names the descriptor.
    }

    func detach(_ fd: Int32, from owner: DescriptorOwner) {}

    var multishot: (any MultishotOperations)? { acceptsMultishot || receiveBuffers != nil ? self : nil }

    var receivePool: ReceivePool? { nil }

    nonisolated(nonsending) func perform<Operation: KernelOperation>(
        _ operation: inout Operation, for owner: DescriptorOwner, register: (OperationID) -> Void
    ) async -> Completion {
        await loop.perform(inKernel: true) { id in
            let sqe = nextSQE()
            operation.prepare(sqe)
            io_uring_sqe_set_data64(sqe, id.userData)
            register(id)
        }
    }

    nonisolated(nonsending) func performToCompletion<Operation: KernelOperation>(_ operation: inout Operation) async -> Completion {
        await loop.performToCompletion(inKernel: true) { id in
            let sqe = nextSQE()
            operation.prepare(sqe)
            io_uring_sqe_set_data64(sqe, id.userData)
        }
    }

    /// Submits a multishot SQE prepared by `prepare`; its CQEs go to `handler`.
    private func startMultishot(_ handler: any CompletionHandler, _ prepare: (UnsafeMutablePointer<io_uring_sqe>) -> Void) -> OperationID? {
        loop.startMultishot(handler) { id in
            let sqe = nextSQE()
            prepare(sqe)
            io_uring_sqe_set_data64(sqe, id.userData)
        }
    }

    private func armWakeRead() {
        let sqe = nextSQE()
        io_uring_prep_read(sqe, loop.wakeFD, wakeBuffer, 8, 0)
        io_uring_sqe_set_data64(sqe, Self.wakeToken)
    }

    func cancel(_ id: OperationID) {
        let sqe = nextSQE()
        io_uring_prep_cancel64(sqe, id.userData, 0)
        io_uring_sqe_set_data64(sqe, Self.ignoredToken)
    }

    // MARK: - The turn

    func processEvents(_ wait: BackendWait) {
        if let receiveBuffers {
            receiveBuffers.reclaimReleased()
            counters.receiveBuffersHeld = receiveBuffers.lentCount
            counters.receiveBuffersHeldPeak = max(counters.receiveBuffersHeldPeak, receiveBuffers.lentCount)
        }
        noteCompletionQueueOverflow()
        // Completions moved out while the submission queue was full come first: they are older.
        dispatchPending()
        let result: Int32
        if let injected = loop.faults.takeEnterResult() {
            result = injected
        } else if loop.hasFailed {
            // A failed ring's waits fail at once: submit what is queued and look, waiting for
            // the ring's descriptor for at most 10 ms, so the stopping loop does not spin.
            var poll = pollfd(fd: ring.pointee.ring_fd, events: Int16(POLLIN), revents: 0)
            if case .now = wait {} else { _ = Glibc.poll(&poll, 1, 10) }
            result = io_uring_submit(ring)
        } else {
            switch wait {
            case .now:
                result = io_uring_submit_and_get_events(ring)
            case .untilEvent:
                result = io_uring_submit_and_wait(ring, 1)
            case .until(let deadline):
                // The timeout goes with the enter call itself (IORING_FEAT_EXT_ARG; liburing
                // queues a timeout SQE instead on kernels without it, whose completion carries
                // `ignoredToken`), so a deadline costs no SQE.
                let remaining = max(ContinuousClock.now.duration(to: deadline), .zero).components
                var timeout = __kernel_timespec(tv_sec: remaining.seconds, tv_nsec: remaining.attoseconds / 1_000_000_000)
                var cqe: UnsafeMutablePointer<io_uring_cqe>?
                result = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &timeout, nil)
            }
        }
        if result < 0 && result != -EINTR && result != -EAGAIN && result != -EBUSY && result != -ETIME {
            ringFailed(result)
        }
        // Copied out before dispatch, so a dispatch that meets a full submission queue can move
        // later completions out of the ring without seeing these again.
        while harvestCompletions() > 0 || !pending.isEmpty {
            dispatchPending()
        }
        // Overflow that built up during this turn's wait shows now, before the next enter flushes it.
        noteCompletionQueueOverflow()
    }

    /// Counts turns that find the kernel holding completions the full completion queue had no
    /// room for (IORING_SQ_CQ_OVERFLOW). Nothing is lost: peeking and `io_uring_enter` with
    /// GETEVENTS move them into the queue as it drains.
    private func noteCompletionQueueOverflow() {
        // The kernel writes the flags word concurrently; a plain load of an aligned UInt32 is
        // what liburing's IO_URING_READ_ONCE does too.
        if ring.pointee.sq.kflags.pointee & UInt32(IORING_SQ_CQ_OVERFLOW) != 0 {
            counters.completionQueueOverflows += 1
        }
    }

    private func dispatch(userData: UInt64, result: Int32, flags: UInt32) {
        switch userData {
        case Self.ignoredToken:
            return
        case Self.wakeToken:
            if !loop.isStopping || loop.table.activeCount > 0 { armWakeRead() }
            return
        default:
            break
        }
        let id = OperationID(userData: userData)
        guard loop.table.isCurrent(id) else {
            // A multishot recv given up (`abandonAll`) still names a provided buffer: taken and
            // dropped, it goes back to the ring at the next reclaim.
            _ = providedBuffer(flags: flags, length: 0)
            return
        }
        if loop.table[id].isMultishot {
            let handler = loop.table.handler(id)
            let more = flags & UInt32(IORING_CQE_F_MORE) != 0
            if !more { loop.table.release(id) }
            handler?.handleCompletion(result: result, flags: flags, more: more)
        } else {
            loop.complete(id, with: Completion(result: result, flags: flags, interruption: nil))
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        receiveBuffers?.unregister()
        io_uring_queue_exit(ring)
        ring.deallocate()
        cqes.deallocate()
        scratchSQE.deallocate()
        wakeBuffer.deallocate()
    }
}

extension URingBackend: MultishotOperations {
    func startMultishotAccept(on fd: Int32, _ handler: any CompletionHandler) -> OperationID? {
        startMultishot(handler) { Accept.prepareMultishot($0, descriptor: fd) }
    }

    func startMultishotReceive(on fd: Int32, for owner: DescriptorOwner, _ handler: any CompletionHandler) -> OperationID? {
        guard let group = receiveBuffers?.group else { return nil }
        return startMultishot(handler) { Recv.prepareMultishot($0, descriptor: fd, group: group) }
    }

    func providedBuffer(flags: UInt32, length: Int) -> ByteBuffer? {
        guard let receiveBuffers, flags & UInt32(IORING_CQE_F_BUFFER) != 0 else { return nil }
        return receiveBuffers.take(UInt16(flags >> UInt32(IORING_CQE_BUFFER_SHIFT)), length: length)
    }

    func noteReceiveBufferExhaustion() {
        counters.receiveBufferExhaustions += 1
    }
}

/// Lexicographic comparison of (major, minor) kernel versions.
private func >= (lhs: (Int, Int), rhs: (Int, Int)) -> Bool {
    lhs.0 != rhs.0 ? lhs.0 > rhs.0 : lhs.1 >= rhs.1
}
#endif
