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
/// `epoll_wait`. The channels above it are the ones io_uring runs under: same code, same
/// errors, same cancellation. Loop-confined.
final class EpollBackend: IOBackend {
    let kind = BackendKind.epoll
    let features: [String] = ["edge-triggered epoll"]
    /// Receive memory shared by the loop's streams.
    private let pool = ReceivePool()
    var receivePool: ReceivePool? { pool }
    /// None: a receive reads when its task asks, into a pool block that is still in cache when
    /// the task uses it. Reading every ready stream at the event instead (emulated multishot)
    /// spread each turn's bytes over as many blocks as there were streams, and cost 8-19% of
    /// throughput at 512 connections.
    var multishot: (any MultishotOperations)? { nil }
    /// `unowned(unsafe)`: the loop owns its backend and outlives it, and the hot path reads it
    /// several times per event (each checked `unowned` read is an atomic retain and release).
    unowned(unsafe) let loop: EventLoop
    private let epollFD: Int32
    private let events: UnsafeMutablePointer<ringio_readiness>
    private static let eventBatch: Int32 = 256
    private static let wakeToken: UInt64 = .max
    @exclusivity(unchecked) private var owners: [(DescriptorOwner)?] = []
    @exclusivity(unchecked) private var freeTokens: [Int] = []
    @exclusivity(unchecked) private var closed = false

    /// Creates the epoll instance and registers the loop's wake-up eventfd.
    init(loop: EventLoop) throws(RingIOError) {
        self.loop = loop
        epollFD = ringio_epoll_create()
        guard epollFD >= 0 else { throw RingIOError.system(errno: errno, "epoll_create1") }
        events = .allocate(capacity: Int(Self.eventBatch))
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
        let interest = UInt32(RINGIO_EPOLLIN | RINGIO_EPOLLPRI | RINGIO_EPOLLOUT | RINGIO_EPOLLRDHUP)
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
    }

    /// Records an epoll event for the owner registered as `token` and wakes what waits for it.
    private func deliver(_ events: UInt32, to owner: DescriptorOwner) {
        if events & UInt32(RINGIO_EPOLLIN | RINGIO_EPOLLPRI | RINGIO_EPOLLRDHUP | RINGIO_EPOLLHUP | RINGIO_EPOLLERR) != 0 {
            owner.readiness.input = true
            if events & UInt32(RINGIO_EPOLLPRI | RINGIO_EPOLLRDHUP | RINGIO_EPOLLHUP | RINGIO_EPOLLERR) != 0 {
                owner.readiness.readsUntilWouldBlock = true
            }
            if let waiter = owner.readiness.inputWaiter { loop.wake(waiter) }
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
        if let refused = loop.refusalBeforeStart() { return refused }
        let interest = operation.interest
        while true {
            if owner.readiness.isReady(for: interest) {
                let result = operation.attempt()
                if !operation.wouldBlock(result) {
                    // Edge-triggered: a read that took everything the socket held ends this
                    // edge, and the next byte raises a new one, so the next receive waits for
                    // it instead of making a system call that would return EAGAIN (nginx and
                    // redis do the same). See `Readiness.readsUntilWouldBlock` for the exceptions.
                    if operation.emptiedDescriptor(result) && !owner.readiness.readsUntilWouldBlock {
                        owner.readiness.set(interest, ready: false)
                    }
                    return Completion(result: result, flags: 0, interruption: nil)
                }
                owner.readiness.set(interest, ready: false)
            }
            let completion = await loop.park { id in
                owner.readiness.setWaiter(interest, id)
                register(id)
            }
            owner.readiness.setWaiter(interest, nil)
            if completion.interruption != nil { return completion }
            // Woken by an event, but a close ran before this task did (its interrupt finds the
            // wait already over): the descriptor number is gone, and may already name another
            // socket. Nothing is attempted on it.
            guard owner.descriptor == operation.descriptor else {
                return Completion(result: -ECANCELED, flags: 0, interruption: .closed)
            }
        }
    }

    nonisolated(nonsending) func performToCompletion<Operation: KernelOperation>(_ operation: inout Operation) async -> Completion {
        // Nothing is queued in a kernel that could still name the descriptor: attempt it now.
        Completion(result: operation.attempt(), flags: 0, interruption: nil)
    }

    func processEvents(_ wait: BackendWait) {
        pool.collectReleased()
        let timeout: Int32
        switch wait {
        case .now: timeout = 0
        case .untilEvent: timeout = -1
        case .until(let deadline): timeout = Self.milliseconds(until: deadline)
        }
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
        // Nothing is in a kernel: every wait is parked, and `interrupt` ends it.
    }

    func close() {
        guard !closed else { return }
        closed = true
        // Channels and this backend refer to each other; drop the backend's side of the cycle.
        owners.removeAll()
        freeTokens.removeAll()
        Glibc.close(epollFD)
        events.deallocate()
    }
}

#endif
