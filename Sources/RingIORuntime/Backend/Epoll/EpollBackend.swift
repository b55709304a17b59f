#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// Something that wants to hear when its descriptor becomes readable or writable.
protocol ReadinessHandler: AnyObject {
    /// `events` is the epoll event mask (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR).
    func handleReadiness(_ events: UInt32)
}

/// The epoll backend: readiness-based, for machines where io_uring cannot run.
///
/// Every socket is non-blocking and registered once, edge-triggered, for input and output.
/// An operation first tries its system call; on EAGAIN it parks (a table operation without kernel
/// work) until the descriptor's next edge, then tries again. The loop's earliest deadline bounds
/// `epoll_wait`. The semantics the socket types see are the io_uring
/// backend's: same channels, same errors, same cancellation. Loop-confined.
final class EpollBackend: IOBackend {
    let kind = BackendKind.epoll
    let wantsNonBlockingSockets = true
    let features: [String] = ["edge-triggered epoll"]
    /// Receive memory shared by the loop's streams.
    let receivePool = EpollReceivePool()
    unowned let loop: EventLoop
    private let epollFD: Int32
    private let events: UnsafeMutablePointer<ringio_readiness>
    private static let eventBatch: Int32 = 256
    private static let wakeToken: UInt64 = .max
    @exclusivity(unchecked) private var handlers: [(any ReadinessHandler)?] = []
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

    // MARK: - Registration

    /// Registers `fd` (edge-triggered, input and output) for `handler`; returns the token to deregister with.
    func register(_ fd: Int32, _ handler: any ReadinessHandler, describing what: @autoclosure () -> String) throws(RingIOError) -> Int {
        let token: Int
        if let reused = freeTokens.popLast() {
            token = reused
            handlers[token] = handler
        } else {
            token = handlers.count
            handlers.append(handler)
        }
        let interest = UInt32(RINGIO_EPOLLIN | RINGIO_EPOLLOUT | RINGIO_EPOLLRDHUP)
        guard ringio_epoll_add(epollFD, fd, interest, 1, UInt64(token)) == 0 else {
            let error = RingIOError.system(errno: errno, "register \(what()) with epoll")
            handlers[token] = nil
            freeTokens.append(token)
            throw error
        }
        return token
    }

    /// Stops watching `fd`.
    func deregister(_ fd: Int32, token: Int) {
        _ = ringio_epoll_remove(epollFD, fd)
        handlers[token] = nil
        freeTokens.append(token)
    }

    /// Parks the calling task until `complete` or an interruption; `register` receives the id.
    nonisolated(nonsending) func park(_ register: (OperationID) -> Void) async -> Completion {
        await loop.park(register)
    }

    // MARK: - IOBackend

    func makeStreamChannel(fd: Int32, context: String, passesDescriptors: Bool) throws(RingIOError) -> any StreamChannel {
        try EpollStreamChannel(backend: self, fd: fd, context: context, passesDescriptors: passesDescriptors)
    }

    func makeDatagramChannel(fd: Int32, context: String) throws(RingIOError) -> any DatagramChannel {
        try EpollDatagramChannel(backend: self, fd: fd, context: context)
    }

    func makeAcceptChannel(fd: Int32, context: String) throws(RingIOError) -> any AcceptChannel {
        try EpollAcceptChannel(backend: self, fd: fd, context: context)
    }

    nonisolated(nonsending) func connect(fd: Int32, to address: SocketAddress) async -> Completion {
        var backoff = Duration.milliseconds(1)
        while true {
            let result = address.withSockAddr { Glibc.connect(fd, $0, $1) }
            if result == 0 { return Completion(result: 0, flags: 0, interruption: nil) }
            let code = errno
            switch code {
            case EINPROGRESS:
                return await finishConnect(fd)
            case EAGAIN:
                // A UNIX listener's backlog is full; readiness does not report when it drains,
                // so retry after a short, growing pause (bounded by the caller's deadline).
                if let deadline = Deadline.current, deadline <= .now {
                    return Completion(result: -ETIME, flags: 0, interruption: .timedOut)
                }
                do {
                    try await Task.sleep(for: backoff)
                } catch {
                    return Completion(result: -ECANCELED, flags: 0, interruption: .cancelled)
                }
                // The sleep is not a loop operation: make sure the loop is still there.
                guard loop.inLoop, !loop.isStopping else { return Completion(result: -ECANCELED, flags: 0, interruption: .shutdown) }
                backoff = min(backoff * 2, .milliseconds(50))
            default:
                return Completion(result: -code, flags: 0, interruption: nil)
            }
        }
    }

    /// Waits for an in-progress connect to finish and reads its outcome (SO_ERROR).
    private nonisolated(nonsending) func finishConnect(_ fd: Int32) async -> Completion {
        let waiter = ConnectWaiter(loop: loop)
        let token: Int
        do {
            token = try register(fd, waiter, describing: "connecting socket")
        } catch {
            return Completion(result: -(error.errno ?? ENOMEM), flags: 0, interruption: nil)
        }
        defer { deregister(fd, token: token) }
        while true {
            let completion = await park { waiter.id = $0 }
            waiter.id = nil
            if completion.interruption != nil { return completion }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length) == 0 else {
                return Completion(result: -errno, flags: 0, interruption: nil)
            }
            if socketError != 0 { return Completion(result: -socketError, flags: 0, interruption: nil) }
            if waiter.writable { return Completion(result: 0, flags: 0, interruption: nil) }
        }
    }

    nonisolated(nonsending) func close(fd: Int32) async {
        // Closing a socket does not block (RingIO sets no SO_LINGER), so it needs no readiness.
        SocketCalls.closeNow(fd)
    }

    func processEvents(_ wait: BackendWait) {
        receivePool.collectReleased()
        var timeout: Int32
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
            } else if Int(token) < handlers.count, let handler = handlers[Int(token)] {
                handler.handleReadiness(event.events)
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

    func cancelKernelOperation(_ id: OperationID) {
        // epoll has no operations in the kernel: every wait is parked and `interrupt` ends it.
    }

    func close() {
        guard !closed else { return }
        closed = true
        // Channels and this backend refer to each other; drop the backend's side of the cycle.
        handlers.removeAll()
        freeTokens.removeAll()
        Glibc.close(epollFD)
        events.deallocate()
    }
}

/// Waits for a non-blocking connect to finish (the socket turns writable or reports an error).
private final class ConnectWaiter: ReadinessHandler {
    unowned let loop: EventLoop
    var id: OperationID?
    var writable = false

    init(loop: EventLoop) { self.loop = loop }

    func handleReadiness(_ events: UInt32) {
        if events & (UInt32(RINGIO_EPOLLOUT) | UInt32(RINGIO_EPOLLERR) | UInt32(RINGIO_EPOLLHUP)) != 0 {
            writable = true
            if let id { loop.wake(id) }
        }
    }
}
#endif
