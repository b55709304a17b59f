package import RingIOCore

/// One end of an in-memory ciphertext connection, for testing TLS without a socket: what one end
/// sends, the other receives, in order, each send as one chunk (split if a receive asks for
/// less). Tests can close the sending direction, make sends fail, hold them (a send that waits
/// like a full socket's), or alter the bytes on the way.
///
/// Not `Sendable`: both ends and the sessions over them belong to one actor (the tests run on
/// the main actor), like a stream and its TLS session belong to one event loop.
package final class MemoryTransport: CiphertextTransport {
    private weak var peer: MemoryTransport?
    private var inbox: [ByteBuffer] = []
    private var ended = false
    private var receiver: CheckedContinuation<Void, Never>?
    private var heldSenders: [CheckedContinuation<Void, Never>] = []

    /// When set, every send throws it (and sends nothing).
    package var sendFailure: RingIOError?
    /// When true, sends wait until ``releaseSends()``.
    package var holdsSends = false
    /// Changes the bytes of each send before the peer receives them.
    package var alter: (([UInt8]) -> [UInt8])?
    /// Bytes sent so far.
    package private(set) var sentBytes = 0
    /// Whether a send is waiting because sends are held.
    package var hasHeldSend: Bool { !heldSenders.isEmpty }

    private init() {}

    /// Two connected ends.
    package static func pair() -> (MemoryTransport, MemoryTransport) {
        let (a, b) = (MemoryTransport(), MemoryTransport())
        a.peer = b
        b.peer = a
        return (a, b)
    }

    package nonisolated(nonsending) func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        while inbox.isEmpty && !ended {
            await withCheckedContinuation { receiver = $0 }
        }
        guard !inbox.isEmpty else { return nil }
        let first = inbox[0]
        guard first.count > maxBytes else {
            inbox.removeFirst()
            return first
        }
        inbox[0] = first[maxBytes...]
        return first[0..<maxBytes]
    }

    package nonisolated(nonsending) func send(_ buffer: ByteBuffer) async throws {
        while holdsSends {
            await withCheckedContinuation { heldSenders.append($0) }
        }
        if let sendFailure { throw sendFailure }
        var bytes = Array(buffer)
        if let alter { bytes = alter(bytes) }
        sentBytes += buffer.count
        peer?.deliver(ByteBuffer(bytes))
    }

    /// Lets held sends go on.
    package func releaseSends() {
        holdsSends = false
        let waiting = heldSenders
        heldSenders = []
        for sender in waiting { sender.resume() }
    }

    /// Ends this side's sending direction: the peer's receives return `nil` once they have taken
    /// everything (a TCP FIN, without TLS close_notify unless the session sent one).
    package func finishSending() {
        peer?.end()
    }

    package nonisolated(nonsending) func park(_ what: String, _ register: (_ wake: @escaping () -> Void) -> Void) async throws {
        await withCheckedContinuation { continuation in
            let once = ResumeOnce(continuation)
            register { once.resume() }
        }
    }

    private func deliver(_ chunk: ByteBuffer) {
        inbox.append(chunk)
        wakeReceiver()
    }

    private func end() {
        ended = true
        wakeReceiver()
    }

    private func wakeReceiver() {
        let waiting = receiver
        receiver = nil
        waiting?.resume()
    }
}

/// Resumes a continuation the first time it is asked to; later calls do nothing (a transport's
/// `wake` may be called after the wait ended).
private final class ResumeOnce {
    private var continuation: CheckedContinuation<Void, Never>?

    init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = continuation }

    func resume() {
        let waiting = continuation
        continuation = nil
        waiting?.resume()
    }
}
