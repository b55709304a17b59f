import RingIOCore

/// The ciphertext transport under the session under test: an in-memory "socket" that suspends
/// only when told to (``Trick/slowSend(yields:)``). What the session sends goes to the ``FuzzPeer`` (if any); what it receives is the
/// peer's output, XORed with the input's payload as a mask (byte *i* of the payload flips byte
/// *i* of the peer's ciphertext; without a peer, the payload is the ciphertext), in chunks whose
/// sizes the input chooses. When nothing is left to receive, the transport reports end of stream.
final class FuzzCiphertextTransport: CiphertextTransport {
    /// What the next call does instead of its normal work.
    enum Trick: Equatable {
        case none
        /// The next send throws `.connectionReset`.
        case failSend
        /// The next receive throws `.connectionReset`.
        case failReceive
        /// The next send yields this many times before it delivers, as a socket send waits for
        /// its completion: other tasks of the input run meanwhile.
        case slowSend(yields: Int)
    }

    private let tape: FuzzInput
    private let mask: [UInt8]
    let peer: FuzzPeer?
    private var inbox: [UInt8] = []
    private var inboxStart = 0
    /// Ciphertext bytes delivered to the session under test so far (the mask's position).
    private var maskPosition = 0
    var trick = Trick.none
    /// Whether any byte reached the session altered: a mask byte that was not 0, or injected garbage, or a cut.
    private(set) var tampered = false
    /// Whether a receive has returned `nil`.
    private(set) var reportedEnd = false
    /// Whether a send threw (the session is then broken for good).
    private(set) var sendFailed = false
    /// Whether a receive threw.
    private(set) var receiveFailed = false

    /// - Parameter peer: the other side; without one, the payload itself is the ciphertext.
    init(tape: FuzzInput, peer: FuzzPeer?) {
        self.tape = tape
        self.peer = peer
        if peer == nil {
            mask = []
            inbox = tape.payload
            tampered = true
        } else {
            mask = tape.payload
        }
    }

    var pendingCount: Int { inbox.count - inboxStart }

    nonisolated(nonsending) func send(_ buffer: ByteBuffer) async throws {
        check(!buffer.isEmpty, "the TLS session sent an empty buffer")
        switch trick {
        case .failSend:
            trick = .none
            sendFailed = true
            throw RingIOError(.connectionReset, "fuzz transport: send failed")
        case .slowSend(let yields):
            trick = .none
            for _ in 0..<yields { await Task.yield() }
        default:
            break
        }
        trace("transport: the session sent \(buffer.count) bytes")
        if let peer {
            peer.feed(buffer)
            pump()
        }
    }

    /// A sender that finds a (slowed) flush active waits here until the flush wakes it. No loop,
    /// no deadline: the fuzz run's tasks interleave only at the slowed send's yields.
    nonisolated(nonsending) func park(_ what: String, _ register: (_ wake: @escaping () -> Void) -> Void) async throws {
        trace("transport: \(what) parks")
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            register { continuation.resume() }
        }
    }

    nonisolated(nonsending) func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        check(maxBytes >= 1, "receiveChunk(maxBytes: \(maxBytes)) from the TLS session")
        if trick == .failReceive {
            trick = .none
            receiveFailed = true
            throw RingIOError(.connectionReset, "fuzz transport: receive failed")
        }
        if pendingCount == 0 { pump() }
        guard pendingCount > 0 else {
            trace("transport: end of stream")
            reportedEnd = true
            return nil
        }
        let count = min(tape.chunkSize(maxBytes: maxBytes), pendingCount)
        var chunk = Array(inbox[inboxStart..<inboxStart + count])
        inboxStart += count
        if inboxStart == inbox.count {
            inbox.removeAll(keepingCapacity: true)
            inboxStart = 0
        }
        for index in chunk.indices where maskPosition + index < mask.count {
            let flip = mask[maskPosition + index]
            if flip != 0 {
                chunk[index] ^= flip
                tampered = true
            }
        }
        maskPosition += count
        trace("transport: \(count) bytes to the session: \(chunk.prefix(16).map { String($0, radix: 16) })")
        return ByteBuffer(chunk)
    }

    /// Lets the peer process what it was sent, and queues what it answers.
    func pump() {
        guard let peer else { return }
        peer.advance()
        inbox.append(contentsOf: peer.takeOutput())
    }

    /// Appends bytes that no peer sent.
    func inject(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        inbox.append(contentsOf: bytes)
        tampered = true
    }

    /// Drops up to `count` bytes from the end of what waits to be received.
    func cut(_ count: Int) {
        let dropped = min(count, pendingCount)
        guard dropped > 0 else { return }
        inbox.removeLast(dropped)
        tampered = true
    }
}
