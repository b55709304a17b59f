#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// A listening socket on epoll: non-blocking `accept4`, parking on EAGAIN until the next edge.
/// Loop-confined.
final class EpollAcceptChannel: AcceptChannel, ReadinessHandler {
    private let backend: EpollBackend
    private(set) var descriptor: Int32
    private let context: String
    private var token = -1
    private var readable = true
    private var waiter: OperationID?
    private var closed = false
    private var backoff = AcceptBackoff()
    var resourceWaits: Int { backoff.waits }

    init(backend: EpollBackend, fd: Int32, context: String) throws(RingIOError) {
        self.backend = backend
        self.descriptor = fd
        self.context = context
        token = try backend.register(fd, self, describing: context)
        backend.loop.track(fd)
    }

    var isAccepting: Bool { waiter != nil }

    func handleReadiness(_ events: UInt32) {
        readable = true
        if let waiter { backend.loop.wake(waiter) }
    }

    nonisolated(nonsending) func accept() async throws -> Int32 {
        guard waiter == nil else {
            throw RingIOError(.busyResource, "accept on \(context): another task is already accepting on this listener")
        }
        while true {
            guard !closed else { throw RingIOError(.closedResource, "accept on \(context): the listener is closed") }
            if readable {
                var fd = ringio_accept4(descriptor, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                let code = fd >= 0 ? 0 : errno
                if fd >= 0 { fd = backend.loop.injectedAcceptResult(replacing: fd) }
                if fd >= 0 {
                    backoff.reset()
                    return fd
                }
                if code == EAGAIN || code == EWOULDBLOCK {
                    readable = false
                } else {
                    let failure = code == 0 ? -fd : code
                    switch AcceptBackoff.classify(failure) {
                    case .retryNow: continue
                    case .fatal: throw RingIOError.system(errno: failure, "accept on \(context)")
                    case .retryAfterBackoff:
                        try await backoff.wait(on: backend.loop, after: failure, context: context) { waiter = $0 }
                        waiter = nil
                        continue
                    }
                }
            }
            let completion = await backend.park { waiter = $0 }
            waiter = nil
            if let interruption = completion.interruption { throw interruption.error("accept on \(context)") }
        }
    }

    nonisolated(nonsending) func close() async {
        guard !closed else { return }
        closed = true
        if let waiter { backend.loop.interrupt(waiter, .closed) }
        let fd = descriptor
        descriptor = -1
        backend.deregister(fd, token: token)
        backend.loop.untrack(fd)
        await backend.close(fd: fd)
    }
}
#endif
