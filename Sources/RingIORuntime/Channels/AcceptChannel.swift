#if os(Linux)
import Glibc
import RingIOCore

/// A listening socket on either backend. Loop-confined.
///
/// With multishot accept (io_uring, Linux 5.19+) one SQE keeps accepting; descriptors queue
/// here until `accept()` takes them. At most `queueLimit` wait: beyond that the multishot is
/// cancelled and re-armed once the queue drains, so the kernel's backlog does the waiting.
/// Without it, each `accept()` performs one ``Accept``. Errors go through ``AcceptBackoff``:
/// retried at once, after a growing pause, or thrown when the listener itself is unusable.
final class AcceptChannel: DescriptorOwner, CompletionHandler {
    private let loop: EventLoop
    private let backend: any IOBackend
    private let multishot: (any MultishotOperations)?
    private let context: String
    private var accepted: [Int32] = []
    /// An error a multishot accept reported, for the next `accept()` to handle.
    private var pendingError: Int32?
    private var armed: OperationID?
    /// A task waiting for the multishot's next connection, or in the backoff's pause.
    private var waiter: OperationID?
    private var acceptOperation: OperationID?
    private var closed = false
    private let queueLimit = 256
    private var backoff = AcceptBackoff()
    /// How many times `accept` waited out resource exhaustion (EMFILE and the like).
    var resourceWaits: Int { backoff.waits }

    /// Takes ownership of the listening socket `fd` once this returns; on a throw the caller
    /// still owns and closes it.
    init(loop: EventLoop, fd: Int32, context: String) throws(RingIOError) {
        self.loop = loop
        backend = loop.backend
        multishot = backend.multishot
        self.context = context
        super.init(descriptor: fd)
        try backend.attach(fd, to: self, describing: context)
        loop.track(fd)
    }

    /// Whether a task is waiting in `accept`.
    var isAccepting: Bool { waiter != nil || acceptOperation != nil }

    /// Waits for the next connection and returns its descriptor (close-on-exec; non-blocking
    /// when the backend wants non-blocking sockets).
    nonisolated(nonsending) func accept() async throws -> Int32 {
        guard !isAccepting else {
            throw RingIOError(.busyResource, "accept on \(context): another task is already accepting on this listener")
        }
        while true {
            guard !closed else { throw RingIOError(.closedResource, "accept on \(context): the listener is closed") }
            if !accepted.isEmpty {
                backoff.reset()
                let fd = accepted.removeFirst()
                loop.untrack(fd)
                return fd
            }
            if let error = pendingError {
                pendingError = nil
                try await recover(from: error)
                continue
            }
            if multishot?.acceptsMultishot == true {
                if armed == nil { armed = multishot?.startMultishotAccept(on: descriptor, self) }
                if armed != nil {
                    let completion = await loop.park { waiter = $0 }
                    waiter = nil
                    if let interruption = completion.interruption { throw interruption.error("accept on \(context)") }
                    continue
                }
            }
            var operation = Accept(descriptor: descriptor)
            let completion = await backend.perform(&operation, for: self) { acceptOperation = $0 }
            acceptOperation = nil
            if let interruption = completion.interruption {
                // A connection accepted as the interruption landed is kept for the next accept.
                if completion.result >= 0 {
                    if closed { SocketCalls.closeNow(completion.result) } else { queue(completion.result) }
                }
                throw interruption.error("accept on \(context)")
            }
            let result = completion.result >= 0 ? loop.injectedAcceptResult(replacing: completion.result) : completion.result
            if result < 0 {
                try await recover(from: -result)
                continue
            }
            backoff.reset()
            return result
        }
    }

    /// Handles accept error `code` as ``AcceptBackoff`` says: returns to try again (at once, or
    /// after the pause), throws when the listener is unusable or the pause was interrupted.
    private nonisolated(nonsending) func recover(from code: Int32) async throws {
        switch AcceptBackoff.classify(code) {
        case .retryNow:
            return
        case .fatal:
            throw RingIOError.system(errno: code, "accept on \(context)")
        case .retryAfterBackoff:
            defer { waiter = nil }
            try await backoff.wait(on: loop, after: code, context: context) { waiter = $0 }
        }
    }

    /// A completion of the multishot accept.
    func handleCompletion(result: Int32, flags: UInt32, more: Bool) {
        if !more { armed = nil }
        let result = result >= 0 ? loop.injectedAcceptResult(replacing: result) : result
        if result >= 0 {
            if closed {
                SocketCalls.closeNow(result)
            } else {
                queue(result)
                if accepted.count >= queueLimit, let armed { backend.cancel(armed) }
            }
        } else if result != -ECANCELED && result != -ECONNABORTED {
            pendingError = -result
        }
        if let waiter { loop.wake(waiter) }
    }

    /// Keeps an accepted descriptor for the next `accept()`; the loop owns it until then, so it
    /// is closed at shutdown if the listener never is.
    private func queue(_ fd: Int32) {
        accepted.append(fd)
        loop.track(fd)
    }

    /// Closes the listener; a task waiting in `accept` gets `.closedResource`.
    nonisolated(nonsending) func close() async {
        guard !closed else { return }
        closed = true
        if let armed { backend.cancel(armed) }
        for id in [waiter, acceptOperation].compactMap({ $0 }) { loop.interrupt(id, .closed) }
        for fd in accepted {
            // Never named by an SQE: nothing queued can still resolve the number.
            loop.untrack(fd)
            SocketCalls.closeNow(fd)
        }
        accepted.removeAll()
        let fd = descriptor
        descriptor = -1
        loop.untrack(fd)
        await backend.close(fd, owner: self)
    }
}
#endif
