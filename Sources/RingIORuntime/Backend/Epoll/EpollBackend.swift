#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// The epoll backend: readiness-based, for machines where io_uring cannot run.
///
/// Every socket is non-blocking and registered once, edge-triggered, for input and output; its
/// readiness lives in its owner (``Readiness``). An operation first attempts its system call
/// (its readiness face); when that would block it parks (a table operation without kernel work)
/// until the descriptor's next edge, then attempts again. The loop's earliest deadline bounds
/// `epoll_wait`. The channels above are the io_uring backend's: same code, same errors, same
/// cancellation. Loop-confined.
final class EpollBackend: IOBackend {
    let kind = BackendKind.epoll
    let wantsNonBlockingSockets = true
    let features: [String] = ["edge-triggered epoll"]
    /// Receive memory shared by the loop's streams.
    private let pool = ReceivePool()
    var receivePool: ReceivePool? { pool }
    var multishot: (any MultishotOperations)? { self }
    unowned let loop: EventLoop
    private let epollFD: Int32
    private let events: UnsafeMutablePointer<ringio_readiness>
    private static let eventBatch: Int32 = 256
    private static let wakeToken: UInt64 = .max
    @exclusivity(unchecked) private var owners: [(DescriptorOwner)?] = []
    @exclusivity(unchecked) private var freeTokens: [Int] = []
    @exclusivity(unchecked) private var closed = false
    /// Owners whose emulated multishot receive was armed while their descriptor may be readable:
    /// read at the start of the next turn (not at once: the channel is still arming it).
    @exclusivity(unchecked) private var pendingReads: [DescriptorOwner] = []
    /// Emulated multishot receives asked to stop; their last completion (`-ECANCELED`) is
    /// delivered at the start of the next turn, as io_uring delivers its cancelled CQE.
    @exclusivity(unchecked) private var pendingCancels: [OperationID] = []
    /// Swapped with the pending lists while they are worked through (neither allocates).
    @exclusivity(unchecked) private var spareReads: [DescriptorOwner] = []
    @exclusivity(unchecked) private var spareCancels: [OperationID] = []
    /// The bytes of the emulated receive completion being delivered (`providedBuffer`).
    @exclusivity(unchecked) private var arrival: ByteBuffer?

    /// Creates the epoll instance and registers the loop's wake-up eventfd.
    init(loop: EventLoop) throws(RingIOError) {
        self.loop = loop
        epollFD = ringio_epoll_create()
        guard epollFD >= 0 else { throw RingIOError.system(errno: errno, "epoll_create1") }
        events = .allocate(capacity: Int(Self.eventBatch))
        pendingReads.reserveCapacity(256)
        spareReads.reserveCapacity(256)
        pendingCancels.reserveCapacity(64)
        spareCancels.reserveCapacity(64)
        guard ringio_epoll_add(epollFD, loop.wakeFD, UInt32(RINGIO_EPOLLIN), 0, Self.wakeToken) == 0 else {
            let error = RingIOError.system(errno: errno, "register the wake-up eventfd with epoll")
            Glibc.close(epollFD)
            events.deallocate()
            throw error
        }
    }

    // MARK: - Descriptors

    func attach(_ fd: Int32, to owner: DescriptorOwner, describing what: @autoclosure () -> String) throws(RingIOError) {
        let token: Int
        if let reused = freeTokens.popLast() {
            token = reused
            owners[token] = owner
        } else {
            token = owners.count
            owners.append(owner)
        }
        let interest = UInt32(RINGIO_EPOLLIN | RINGIO_EPOLLOUT | RINGIO_EPOLLRDHUP)
        guard ringio_epoll_add(epollFD, fd, interest, 1, UInt64(token)) == 0 else {
            let error = RingIOError.system(errno: errno, "register \(what()) with epoll")
            owners[token] = nil
            freeTokens.append(token)
            throw error
        }
        owner.readiness.token = token
    }

    func detach(_ fd: Int32, from owner: DescriptorOwner) {
        let token = owner.readiness.token
        guard token >= 0 else { return }
        _ = ringio_epoll_remove(epollFD, fd)
        owners[token] = nil
        freeTokens.append(token)
        owner.readiness.token = -1
        owner.readiness.receiving = nil
    }

    /// Records an epoll event for the owner registered as `token` and wakes what waits for it.
    private func deliver(_ events: UInt32, to owner: DescriptorOwner) {
        if events & UInt32(RINGIO_EPOLLIN | RINGIO_EPOLLRDHUP | RINGIO_EPOLLHUP | RINGIO_EPOLLERR) != 0 {
            owner.readiness.input = true
            if events & UInt32(RINGIO_EPOLLRDHUP | RINGIO_EPOLLHUP | RINGIO_EPOLLERR) != 0 { owner.readiness.hungUp = true }
            if let waiter = owner.readiness.inputWaiter { loop.wake(waiter) }
            if owner.readiness.receiving != nil { readArrivals(of: owner) }
        }
        if events & UInt32(RINGIO_EPOLLOUT | RINGIO_EPOLLHUP | RINGIO_EPOLLERR) != 0 {
            owner.readiness.output = true
            if let waiter = owner.readiness.outputWaiter { loop.wake(waiter) }
        }
    }

    // MARK: - Operations

    nonisolated(nonsending) func perform<Operation: KernelOperation>(
        _ operation: inout Operation, for owner: DescriptorOwner, register: (OperationID) -> Void
    ) async -> Completion {
        let interest = operation.interest
        while true {
            if owner.readiness.isReady(for: interest) {
                let result = operation.attempt()
                if !operation.wouldBlock(result) { return Completion(result: result, flags: 0, interruption: nil) }
                owner.readiness.set(interest, ready: false)
            }
            let completion = await loop.park { id in
                owner.readiness.setWaiter(interest, id)
                register(id)
            }
            owner.readiness.setWaiter(interest, nil)
            if completion.interruption != nil { return completion }
        }
    }

    nonisolated(nonsending) func performToCompletion<Operation: KernelOperation>(_ operation: inout Operation) async -> Completion {
        // Nothing is queued in a kernel that could still name the descriptor: attempt it now.
        Completion(result: operation.attempt(), flags: 0, interruption: nil)
    }

    func processEvents(_ wait: BackendWait) {
        pool.collectReleased()
        var timeout: Int32
        switch wait {
        case .now: timeout = 0
        case .untilEvent: timeout = -1
        case .until(let deadline): timeout = Self.milliseconds(until: deadline)
        }
        // What they deliver may wake tasks: then this turn only looks for events.
        if deliverPending() { timeout = 0 }
        var count: Int32
        if let injected = loop.faults.takeEnterResult() {
            count = -1
            errno = -injected
        } else {
            // A failed loop is stopping: it looks at most every 10 ms, and never sleeps for good.
            count = ringio_epoll_wait(epollFD, events, Self.eventBatch, loop.hasFailed ? (timeout < 0 ? 10 : min(timeout, 10)) : timeout)
            if count < 0 && loop.hasFailed { _ = Glibc.poll(nil, 0, 10) }
        }
        if count < 0 && errno != EINTR {
            // EBADF, EFAULT or EINVAL: the epoll descriptor or its memory is unusable; the loop
            // cannot see readiness any more, so it stops rather than spin or crash.
            let code = errno
            loop.backendFailed("epoll_wait failed: \(String(cString: strerror(code))) (\(RingIOError.errnoName(code)))")
        }
        for index in 0..<Int(max(count, 0)) {
            let event = events[index]
            let token = event.token
            if token == Self.wakeToken {
                var value: UInt64 = 0
                _ = Glibc.read(loop.wakeFD, &value, 8)
            } else if Int(token) < owners.count, let owner = owners[Int(token)] {
                deliver(event.events, to: owner)
            }
        }
    }

    /// epoll_wait's timeout for `deadline`: rounded up, so the loop never wakes just before it.
    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let remaining = ContinuousClock.now.duration(to: deadline).components
        // A deadline weeks away (`withTimeout(.seconds(Int64.max))`): wait as long as epoll can,
        // then look again; the milliseconds would overflow.
        if remaining.seconds >= Int64(Int32.max / 1000) { return Int32.max }
        let milliseconds = remaining.seconds * 1000 + (remaining.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(milliseconds, 0))
    }

    func cancel(_ id: OperationID) {
        // Nothing else is in a kernel: every other wait is parked, and `interrupt` ends it.
        guard loop.table.isCurrent(id), loop.table[id].isMultishot, !pendingCancels.contains(id) else { return }
        pendingCancels.append(id)
    }

    func close() {
        guard !closed else { return }
        closed = true
        // Channels and this backend refer to each other; drop the backend's side of the cycle.
        owners.removeAll()
        freeTokens.removeAll()
        pendingReads.removeAll()
        spareReads.removeAll()
        Glibc.close(epollFD)
        events.deallocate()
    }
}

// MARK: - Multishot receive, emulated

extension EpollBackend: MultishotOperations {
    var acceptsMultishot: Bool { false }

    var receivesMultishot: Bool {
        get { true }
        set {}
    }

    func startMultishotAccept(on fd: Int32, _ handler: any CompletionHandler) -> OperationID? { nil }

    func startMultishotReceive(on fd: Int32, for owner: DescriptorOwner, _ handler: any CompletionHandler) -> OperationID? {
        guard let id = loop.startMultishot(handler, { _ in }) else { return nil }
        owner.readiness.receiving = id
        if owner.readiness.input { pendingReads.append(owner) }
        return id
    }

    func providedBuffer(flags: UInt32, length: Int) -> ByteBuffer? {
        defer { arrival = nil }
        return arrival
    }

    func noteReceiveBufferExhaustion() {}

    /// Delivers the last completions of cancelled receives and reads for receives armed on a
    /// descriptor that may be readable; returns whether it delivered anything.
    fileprivate func deliverPending() -> Bool {
        guard !pendingCancels.isEmpty || !pendingReads.isEmpty else { return false }
        swap(&pendingCancels, &spareCancels)
        swap(&pendingReads, &spareReads)
        for id in spareCancels where loop.table.isCurrent(id) && loop.table[id].isMultishot {
            let handler = loop.table.handler(id)
            loop.table.release(id)
            handler?.handleCompletion(result: -ECANCELED, flags: 0, more: false)
        }
        for owner in spareReads { readArrivals(of: owner) }
        spareCancels.removeAll(keepingCapacity: true)
        spareReads.removeAll(keepingCapacity: true)
        return true
    }

    /// Reads what `owner`'s descriptor has for its armed receive, 64 KiB at a time into the
    /// receive pool, until a read comes back short, the stream ends, or the receive is stopped
    /// (its channel cancels it once its queue passes its limit, which bounds what one edge reads).
    ///
    /// A short read has taken everything the socket held when it ran, and any byte that arrives
    /// later raises a new edge, so reading on until EAGAIN would only cost a system call per
    /// message (nginx and redis stop there too). Once an event said the peer hung up or the
    /// socket failed, no edge will follow the end: then reads go on until they see it.
    fileprivate func readArrivals(of owner: DescriptorOwner) {
        guard let id = owner.readiness.receiving, owner.readiness.token >= 0 else { return }
        let fd = owner.descriptor
        while owner.readiness.input && loop.table.isCurrent(id) && !pendingCancels.contains(id) {
            let (block, storage) = pool.acquire()
            let result = Syscall.attempt("recv") { Glibc.recv(fd, storage.base, ReceivePool.blockSize, 0) }
            if result == -EAGAIN || result == -EWOULDBLOCK {
                pool.putBack(block)
                owner.readiness.input = false
                return
            }
            let more = result > 0
            if more {
                pool.lend(block)
                arrival = ByteBuffer(storage: storage, lower: 0, upper: Int(result))
            } else {
                pool.putBack(block)
            }
            let handler = loop.table.handler(id)
            if !more {
                owner.readiness.receiving = nil
                loop.table.release(id)
            }
            handler?.handleCompletion(result: result, flags: 0, more: more)
            arrival = nil
            if !more { return }
            if Int(result) < ReceivePool.blockSize && !owner.readiness.hungUp {
                owner.readiness.input = false
                return
            }
        }
    }
}
#endif
