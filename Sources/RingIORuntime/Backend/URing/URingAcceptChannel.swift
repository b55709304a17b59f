#if os(Linux)
import CLiburing
import CRingIOSystem
import Glibc
import RingIOCore

/// A listening socket on io_uring.
///
/// With multishot accept (Linux 5.19+) one SQE keeps accepting; descriptors queue here until
/// `accept()` takes them. At most `queueLimit` wait: beyond that the multishot is cancelled and
/// re-armed once the queue drains, so the kernel's backlog does the waiting. Without multishot,
/// each `accept()` submits one IORING_OP_ACCEPT. Loop-confined.
final class URingAcceptChannel: AcceptChannel, CompletionHandler {
    private let backend: URingBackend
    private(set) var descriptor: Int32
    private let context: String
    private var accepted: [Int32] = []
    private var pendingError: Int32?
    private var multishot: OperationID?
    private var waiter: OperationID?
    private var singleAccept: OperationID?
    private var closed = false
    private let queueLimit = 256
    private var backoff = AcceptBackoff()
    var resourceWaits: Int { backoff.waits }

    init(backend: URingBackend, fd: Int32, context: String) {
        self.backend = backend
        self.descriptor = fd
        self.context = context
        backend.loop.track(fd)
    }

    var isAccepting: Bool { waiter != nil || singleAccept != nil }

    nonisolated(nonsending) func accept() async throws -> Int32 {
        guard waiter == nil && singleAccept == nil else {
            throw RingIOError(.busyResource, "accept on \(context): another task is already accepting on this listener")
        }
        while true {
            guard !closed else { throw RingIOError(.closedResource, "accept on \(context): the listener is closed") }
            if !accepted.isEmpty {
                backoff.reset()
                let fd = accepted.removeFirst()
                backend.loop.untrack(fd)
                return fd
            }
            if let error = pendingError {
                pendingError = nil
                switch AcceptBackoff.classify(error) {
                case .retryNow: continue
                case .fatal: throw RingIOError.system(errno: error, "accept on \(context)")
                case .retryAfterBackoff:
                    try await backoff.wait(on: backend.loop, after: error, context: context) { waiter = $0 }
                    waiter = nil
                    continue
                }
            }
            if !backend.multishotAccept { return try await acceptOnce() }
            if multishot == nil { arm() }
            if multishot == nil { return try await acceptOnce() }
            let completion = await backend.loop.park { waiter = $0 }
            waiter = nil
            if let interruption = completion.interruption { throw interruption.error("accept on \(context)") }
        }
    }

    private func arm() {
        let fd = descriptor
        multishot = backend.startMultishot(self) { sqe in
            io_uring_prep_multishot_accept(sqe, fd, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        }
    }

    private nonisolated(nonsending) func acceptOnce() async throws -> Int32 {
        while true {
            guard !closed else { throw RingIOError(.closedResource, "accept on \(context): the listener is closed") }
            let fd = descriptor
            let completion = await backend.perform(
                { sqe in
                    io_uring_prep_accept(sqe, fd, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
                }, register: { singleAccept = $0 })
            singleAccept = nil
            var result = completion.result
            if completion.interruption == nil { result = backend.loop.injectedAcceptResult(replacing: result) }
            if let interruption = completion.interruption {
                // A connection accepted as the interruption landed is kept for the next accept.
                if completion.result >= 0 {
                    if closed { SocketCalls.closeNow(completion.result) } else { queue(completion.result) }
                }
                throw interruption.error("accept on \(context)")
            }
            if result < 0 {
                switch AcceptBackoff.classify(-result) {
                case .retryNow: continue
                case .fatal: throw RingIOError.system(errno: -result, "accept on \(context)")
                case .retryAfterBackoff:
                    try await backoff.wait(on: backend.loop, after: -result, context: context) { singleAccept = $0 }
                    singleAccept = nil
                    guard !closed else { throw RingIOError(.closedResource, "accept on \(context): the listener is closed") }
                    continue
                }
            }
            backoff.reset()
            return result
        }
    }

    func handleCompletion(result: Int32, flags: UInt32, more: Bool) {
        if !more { multishot = nil }
        let result = result >= 0 ? backend.loop.injectedAcceptResult(replacing: result) : result
        if result >= 0 {
            if closed {
                SocketCalls.closeNow(result)
            } else {
                queue(result)
                if accepted.count >= queueLimit, let multishot { backend.cancelKernelOperation(multishot) }
            }
        } else if result != -ECANCELED && result != -ECONNABORTED {
            pendingError = -result
        }
        if let waiter { backend.loop.wake(waiter) }
    }

    /// Keeps an accepted descriptor for the next `accept()`; the loop owns it until then, so it
    /// is closed at shutdown if the listener never is.
    private func queue(_ fd: Int32) {
        accepted.append(fd)
        backend.loop.track(fd)
    }

    nonisolated(nonsending) func close() async {
        guard !closed else { return }
        closed = true
        if let multishot { backend.cancelKernelOperation(multishot) }
        for id in [waiter, singleAccept].compactMap({ $0 }) { backend.loop.interrupt(id, .closed) }
        for fd in accepted {
            // Never named by an SQE: nothing queued can still resolve the number.
            backend.loop.untrack(fd)
            SocketCalls.closeNow(fd)
        }
        accepted.removeAll()
        let fd = descriptor
        descriptor = -1
        backend.loop.untrack(fd)
        await backend.close(fd: fd)
    }
}
#endif
