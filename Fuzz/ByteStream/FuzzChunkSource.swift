import RingIOCore

/// An in-memory ``ByteChunkSource`` that hands out a fixed byte stream in chunks whose sizes the
/// fuzz input chooses, then reports end of stream (again on every later call). It never suspends.
///
/// It also checks the receiver's side of the protocol on every call: `maxBytes` is at least 1,
/// and the receiver never asks for more than the current operation may buffer (``budget``). On
/// request it plays a second task that tries to receive while a receive is under way, a failing
/// transport, or a stream closed while a receive waits.
final class FuzzChunkSource: ByteChunkSource {
    /// How much the receive operation under way may ask for.
    enum Budget {
        /// No limit (the final drain).
        case unlimited
        /// `receiveSome(maxBytes:)`: one call, only when nothing is buffered, for at most `maxBytes`.
        case some(maxBytes: Int)
        /// `receiveExactly(count)` and `receiveUntil(maxBytes:)`: buffered bytes plus the request stay within the limit.
        case total(Int)
        /// An operation that must not receive at all (`takeBufferedData`).
        case none
    }

    /// What the next call does besides (or instead of) handing out a chunk.
    enum Trick {
        case none
        /// Plays a second task: every receive call on the receiver must fail with `.busyResource`.
        case reenter
        /// Throws `.connectionReset`, as a failing socket does.
        case fail
        /// Closes the receiver and throws `.closedResource`, as a stream closed during a receive does.
        case closeReceiver
    }

    let stream: [UInt8]
    private let streamBuffer: ByteBuffer
    private let tape: FuzzInput
    private let slices: Bool
    /// The receiver under test, for the budget and re-entry checks.
    unowned var receiver: BufferedReceiver
    var budget = Budget.unlimited
    var trick = Trick.none
    /// Bytes of `stream` handed out so far.
    private(set) var delivered = 0
    /// Calls to ``receiveChunk(maxBytes:)`` so far.
    private(set) var calls = 0
    /// Whether a call has returned `nil` (end of stream).
    private(set) var reportedEnd = false
    /// How many times ``Trick/fail`` threw.
    private(set) var failures = 0
    /// Whether ``Trick/closeReceiver`` closed the receiver.
    private(set) var closedReceiver = false

    /// - Parameter slices: hand out slices of one buffer holding the whole stream (storage shared
    ///   and offset, as pool-backed chunks are) instead of a fresh buffer per chunk.
    init(stream: [UInt8], tape: FuzzInput, slices: Bool, receiver: BufferedReceiver) {
        self.stream = stream
        self.streamBuffer = ByteBuffer(stream)
        self.tape = tape
        self.slices = slices
        self.receiver = receiver
    }

    var atEnd: Bool { delivered == stream.count }

    nonisolated(nonsending) func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        calls += 1
        check(maxBytes >= 1, "receiveChunk(maxBytes: \(maxBytes)): the receiver must ask for at least 1 byte")
        check(receiver.receiving, "receiveChunk called outside a receive operation")
        switch budget {
        case .unlimited:
            break
        case .some(let limit):
            check(receiver.bufferedCount == 0, "receiveSome received with \(receiver.bufferedCount) bytes buffered")
            check(maxBytes <= limit, "receiveSome(maxBytes: \(limit)) asked the source for \(maxBytes) bytes")
        case .total(let limit):
            check(
                receiver.bufferedCount + maxBytes <= limit,
                "asked for \(maxBytes) bytes with \(receiver.bufferedCount) buffered, beyond the operation's limit \(limit)")
        case .none:
            violated("an operation that must not receive asked the source for \(maxBytes) bytes")
        }

        let trick = self.trick
        self.trick = .none
        switch trick {
        case .none:
            break
        case .reenter:
            await expectBusy()
        case .fail:
            failures += 1
            throw RingIOError(.connectionReset, "fuzz source: connection reset")
        case .closeReceiver:
            closedReceiver = true
            receiver.close()
            throw RingIOError(.closedResource, "fuzz source: the stream was closed during the receive")
        }

        if atEnd {
            reportedEnd = true
            return nil
        }
        let count = min(tape.chunkSize(maxBytes: maxBytes), stream.count - delivered)
        let start = delivered
        delivered += count
        return slices ? streamBuffer[start..<start + count] : ByteBuffer(stream[start..<start + count])
    }

    /// A second task's receives while one is under way: each must throw `.busyResource` and change nothing.
    private nonisolated(nonsending) func expectBusy() async {
        await expectBusy("receiveSome") { try await $0.receiveSome(maxBytes: 1, from: $1) }
        await expectBusy("receiveExactly") { try await $0.receiveExactly(0, from: $1) }
        await expectBusy("receiveUntil") { try await $0.receiveUntil([10], maxBytes: 1, from: $1) }
    }

    private nonisolated(nonsending) func expectBusy(
        _ operation: String, _ body: nonisolated(nonsending) (BufferedReceiver, FuzzChunkSource) async throws -> ByteBuffer
    ) async {
        let buffered = receiver.bufferedCount
        let callsBefore = calls
        do {
            let result = try await body(receiver, self)
            violated("a nested \(operation) during a receive returned \(result) instead of throwing .busyResource")
        } catch let error as RingIOError {
            check(error.code == .busyResource, "a nested \(operation) threw \(error.code), not .busyResource")
        } catch {
            violated("a nested \(operation) threw \(error), not a RingIOError")
        }
        check(receiver.receiving, "a nested \(operation) cleared the first receive's busy flag")
        check(receiver.bufferedCount == buffered && calls == callsBefore, "a nested \(operation) changed the buffer")
    }
}
