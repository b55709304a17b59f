import RingIOCore

/// libFuzzer target `bytestream`: `BufferedReceiver` (receiveSome, receiveExactly, receiveUntil,
/// takeBufferedData, close) and the public sequences `receiveDelimitedChunks` and `receiveChunks`,
/// over a ``FuzzChunkSource`` that hands out the input's payload in chunks of the input's sizes.
///
/// Input: see ``FuzzInput``. Flags bit 0: chunks are slices of one shared buffer. The tape is a
/// list of operations with their arguments (see ``step()``); when it runs out, the rest of the
/// stream is drained with `receiveSome`.
///
/// Invariants checked after every operation (a violation traps, so libFuzzer reports it):
/// - conservation: every byte returned (and every delimiter consumed), followed by the bytes
///   still buffered, is exactly the prefix of the stream the source has handed out: nothing
///   lost, duplicated or reordered; at the end the whole stream has been returned;
/// - `receiveUntil` returns the bytes before the *first* delimiter at the read position, never
///   containing it, within `maxBytes` (unless the delimiter was already buffered), and receives
///   nothing when a delimiter is already buffered;
/// - failures are the documented codes in the documented states: `.delimiterNotFound` with at
///   least `maxBytes` buffered and no delimiter among them; `.incompleteRead` only at end of
///   stream, its `partialData` equal to the bytes left buffered; `.endOfStream` only with nothing
///   buffered at end of stream; `.invalidArgument` for a bad count; `.closedResource` after close;
///   `.busyResource` for a second receiver; a source's own error passed through with no byte lost;
/// - the receiver never asks its source for more than the operation may hold (see ``FuzzChunkSource``).
///
/// Known issues (found by this target, reproducers in Fuzz/crashes/) are tolerated unless built
/// with `-D RINGIO_FUZZ_STRICT` (`tools/fuzz --strict`); see ``KnownIssue``.
final class ByteStreamHarness {
    private let input: FuzzInput
    private let stream: [UInt8]
    private let receiver = BufferedReceiver(context: "fuzz stream")
    private let source: FuzzChunkSource
    /// The bytes taken from the stream so far: returned by a receive, or a consumed delimiter.
    private var consumed: [UInt8] = []
    /// Whether this harness closed the receiver (`closed` also counts a close by the source).
    private var closedByHarness = false
    private var closed: Bool { closedByHarness || source.closedReceiver }
    /// The source failures already seen as thrown errors.
    private var failuresSeen = 0

    init(_ input: FuzzInput) {
        self.input = input
        self.stream = input.payload
        self.source = FuzzChunkSource(stream: input.payload, tape: input, slices: input.flags & 1 != 0, receiver: receiver)
    }

    nonisolated(nonsending) func run() async {
        var operations = 0
        while !input.isExhausted && operations < 256 {
            operations += 1
            await step()
            checkState()
        }
        if !closed { await drain() }
    }

    // MARK: - Operations

    private nonisolated(nonsending) func step() async {
        let operation = input.byte() % 10
        trace(
            "operation \(operation): \(consumed.count) bytes returned, \(receiver.bufferedCount) buffered, \(source.delivered) handed out")
        switch operation {
        case 0, 1: await receiveSome(maxBytes: input.count())
        case 2, 3: await receiveExactly(input.count())
        case 4, 5: await receiveUntil(delimiter(), maxBytes: input.count())
        case 6: takeBufferedData()
        case 7: await delimitedChunks(delimiter(), maxBytes: input.count(), limit: Int(input.byte() % 8))
        case 8: await receivedChunks(maxBytes: input.count(), limit: Int(input.byte() % 8))
        default:
            switch input.byte() % 5 {
            case 0: source.trick = .reenter
            case 1: source.trick = .fail
            case 2: source.trick = .closeReceiver
            case 3: close()
            default:
                let expected = closed ? ByteBuffer() : ByteBuffer(stream[consumed.count..<source.delivered])
                check(receiver.bufferedData == expected, "bufferedData is not the bytes handed out and not yet returned")
            }
        }
    }

    private func delimiter() -> [UInt8] {
        let choice = input.byte()
        switch choice % 8 {
        case 0: return Array("\n".utf8)
        case 1: return Array("\r\n".utf8)
        case 2: return Array("\r\n\r\n".utf8)
        case 3: return [0]
        case 7 where choice >= 128: return []
        default: return (0...Int(input.byte() % 8)).map { _ in input.byte() }
        }
    }

    private nonisolated(nonsending) func receiveSome(maxBytes: Int) async {
        let before = snapshot()
        source.budget = .some(maxBytes: maxBytes)
        do {
            let result = try await receiver.receiveSome(maxBytes: maxBytes, from: source)
            check(maxBytes > 0 && !closed, "receiveSome(maxBytes: \(maxBytes)) succeeded (closed: \(closed))")
            check(!result.isEmpty && result.count <= maxBytes, "receiveSome(maxBytes: \(maxBytes)) returned \(result.count) bytes")
            check(
                source.calls == before.calls + (before.buffered > 0 ? 0 : 1),
                "receiveSome with \(before.buffered) bytes buffered made \(source.calls - before.calls) source calls")
            take(result, "receiveSome")
        } catch {
            switch expect(error, [.invalidArgument, .closedResource, .endOfStream, .connectionReset], "receiveSome") {
            case .invalidArgument: check(maxBytes <= 0, "receiveSome(maxBytes: \(maxBytes)): .invalidArgument")
            case .closedResource: expectClosed(before, "receiveSome")
            case .endOfStream:
                check(
                    before.buffered == 0 && source.reportedEnd && receiver.bufferedCount == 0,
                    "receiveSome: .endOfStream with \(before.buffered) bytes buffered")
            default: break
            }
        }
    }

    private nonisolated(nonsending) func receiveExactly(_ count: Int) async {
        let before = snapshot()
        source.budget = .total(count)
        do {
            let result = try await receiver.receiveExactly(count, from: source)
            check(count >= 0 && !closed, "receiveExactly(\(count)) succeeded (closed: \(closed))")
            check(result.count == count, "receiveExactly(\(count)) returned \(result.count) bytes")
            if before.buffered >= count { check(source.calls == before.calls, "receiveExactly(\(count)) received needlessly") }
            take(result, "receiveExactly")
        } catch {
            switch expect(error, [.invalidArgument, .closedResource, .incompleteRead, .connectionReset], "receiveExactly") {
            case .invalidArgument: check(count < 0, "receiveExactly(\(count)): .invalidArgument")
            case .closedResource: expectClosed(before, "receiveExactly")
            case .incompleteRead:
                check(source.reportedEnd && source.atEnd, "receiveExactly(\(count)): .incompleteRead before end of stream")
                check(receiver.bufferedCount < count, "receiveExactly(\(count)): .incompleteRead with enough bytes buffered")
                expectPartialData(error, "receiveExactly")
            default: break
            }
        }
    }

    private nonisolated(nonsending) func receiveUntil(_ delimiter: [UInt8], maxBytes: Int) async {
        let before = snapshot()
        source.budget = .total(maxBytes)
        do {
            let result = try await receiver.receiveUntil(delimiter, maxBytes: maxBytes, from: source)
            if delimiter.isEmpty {
                check(result.isEmpty && source.calls == before.calls, "receiveUntil with an empty delimiter consumed bytes")
                KnownIssue.emptyDelimiterAccepted.report("closed: \(closed), maxBytes: \(maxBytes)")
                return
            }
            check(maxBytes > 0 && !closed, "receiveUntil(maxBytes: \(maxBytes)) succeeded (closed: \(closed))")
            checkRecord(result, delimiter: delimiter, maxBytes: maxBytes, before: before, "receiveUntil")
        } catch {
            receiveUntilFailed(error, delimiter: delimiter, maxBytes: maxBytes, before: before, "receiveUntil")
        }
    }

    private func takeBufferedData() {
        let expected = receiver.bufferedData
        source.budget = .none
        let result = receiver.takeBufferedData()
        check(result == expected && receiver.bufferedCount == 0, "takeBufferedData returned other bytes than bufferedData")
        take(result, "takeBufferedData")
    }

    private func close() {
        receiver.close()
        closedByHarness = true
    }

    /// `receiveDelimitedChunks` for `limit` records (0: until the sequence ends).
    private nonisolated(nonsending) func delimitedChunks(_ delimiter: [UInt8], maxBytes: Int, limit: Int) async {
        let stream = FuzzByteStream(receiver: receiver, source: source)
        var iterator = stream.receiveDelimitedChunks(delimiter, maxBytes: maxBytes).makeAsyncIterator()
        var records = 0
        while limit == 0 || records < limit {
            let before = snapshot()
            do {
                guard let record = try await iterator.next() else {
                    check(!delimiter.isEmpty && maxBytes > 0 && !closed, "receiveDelimitedChunks ended (closed: \(closed))")
                    check(
                        source.reportedEnd && receiver.bufferedCount == 0,
                        "receiveDelimitedChunks ended with \(receiver.bufferedCount) bytes buffered or before end of stream")
                    return
                }
                records += 1
                if delimiter.isEmpty {
                    check(record.isEmpty && source.calls == before.calls, "an empty delimiter's record consumed bytes")
                    if records > self.stream.count + 1 {
                        // The sequence yields empty records and never ends (it would loop forever).
                        KnownIssue.emptyDelimiterSequenceNeverEnds.report("\(records) empty records, limit \(limit)")
                        return
                    }
                    continue
                }
                check(maxBytes > 0 && !closed, "receiveDelimitedChunks(maxBytes: \(maxBytes)) yielded (closed: \(closed))")
                checkRecord(record, delimiter: delimiter, maxBytes: maxBytes, before: before, "receiveDelimitedChunks")
            } catch {
                if let error = error as? RingIOError, error.code == .incompleteRead {
                    check(error.partialData?.isEmpty == false, "receiveDelimitedChunks threw .incompleteRead with nothing left over")
                }
                receiveUntilFailed(error, delimiter: delimiter, maxBytes: maxBytes, before: before, "receiveDelimitedChunks")
                return
            }
            checkState()
        }
    }

    /// `receiveChunks` for `limit` chunks (0: until the sequence ends).
    private nonisolated(nonsending) func receivedChunks(maxBytes: Int, limit: Int) async {
        let stream = FuzzByteStream(receiver: receiver, source: source)
        var iterator = stream.receiveChunks(maxBytes: maxBytes).makeAsyncIterator()
        var chunks = 0
        while limit == 0 || chunks < limit {
            let before = snapshot()
            do {
                guard let chunk = try await iterator.next() else {
                    check(maxBytes > 0 && !closed, "receiveChunks ended (closed: \(closed))")
                    check(source.reportedEnd && receiver.bufferedCount == 0, "receiveChunks ended before end of stream")
                    return
                }
                chunks += 1
                check(maxBytes > 0 && !closed && !chunk.isEmpty && chunk.count <= maxBytes, "receiveChunks(maxBytes: \(maxBytes))")
                take(chunk, "receiveChunks")
            } catch {
                switch expect(error, [.invalidArgument, .closedResource, .connectionReset], "receiveChunks") {
                case .invalidArgument: check(maxBytes <= 0, "receiveChunks(maxBytes: \(maxBytes)): .invalidArgument")
                case .closedResource: expectClosed(before, "receiveChunks")
                default: break
                }
                return
            }
            checkState()
        }
    }

    /// Receives the rest of the stream; afterwards every byte of it must have been returned once.
    private nonisolated(nonsending) func drain() async {
        source.budget = .unlimited
        source.trick = .none
        while true {
            do {
                take(try await receiver.receiveSome(maxBytes: 4096, from: source), "drain")
            } catch {
                _ = expect(error, [.endOfStream], "drain")
                break
            }
        }
        check(consumed == stream, "after the drain \(consumed.count) of \(stream.count) bytes were returned, or other bytes")
    }

    // MARK: - Checks

    private struct Snapshot {
        let position: Int
        let buffered: Int
        let delivered: Int
        let calls: Int
    }

    private func snapshot() -> Snapshot {
        Snapshot(position: consumed.count, buffered: receiver.bufferedCount, delivered: source.delivered, calls: source.calls)
    }

    /// Records `bytes` as taken from the stream, checking they are the stream's next bytes.
    private func take(_ bytes: some Collection<UInt8>, _ operation: String) {
        let start = consumed.count
        check(start + bytes.count <= source.delivered, "\(operation) returned bytes the source has not handed out")
        check(stream[start..<start + bytes.count].elementsEqual(bytes), "\(operation) returned bytes out of order at \(start)")
        consumed.append(contentsOf: bytes)
    }

    /// The conservation invariant, and that no receive is left marked as running.
    private func checkState() {
        check(!receiver.receiving, "a receive operation left the receiver marked busy")
        if closed {
            check(receiver.bufferedCount == 0 && receiver.bufferedData.isEmpty, "a closed receiver holds bytes")
            return
        }
        check(
            consumed.count + receiver.bufferedCount == source.delivered,
            "\(consumed.count) bytes returned + \(receiver.bufferedCount) buffered != \(source.delivered) handed out")
        let buffered = receiver.bufferedData
        check(
            buffered.count == receiver.bufferedCount,
            "bufferedData holds \(buffered.count) bytes, bufferedCount says \(receiver.bufferedCount)")
        check(stream[consumed.count..<source.delivered].elementsEqual(buffered), "the buffered bytes differ from the stream")
    }

    /// A successful `receiveUntil` (or delimited record): the bytes before the first delimiter.
    private func checkRecord(_ record: ByteBuffer, delimiter: [UInt8], maxBytes: Int, before: Snapshot, _ operation: String) {
        let start = before.position
        let end = start + record.count
        check(end + delimiter.count <= source.delivered, "\(operation): the delimiter was not received")
        check(stream[end..<end + delimiter.count].elementsEqual(delimiter), "\(operation): the record is not followed by the delimiter")
        check(
            firstIndex(of: delimiter, from: start) == end, "\(operation) returned \(record.count) bytes, past an earlier delimiter")
        check(
            record.count + delimiter.count <= max(maxBytes, before.buffered),
            "\(operation)(maxBytes: \(maxBytes)) returned \(record.count) bytes + a \(delimiter.count)-byte delimiter")
        if let buffered = firstIndex(of: delimiter, from: start), buffered + delimiter.count <= before.delivered {
            check(source.calls == before.calls, "\(operation) received although the delimiter was already buffered")
        }
        take(record, operation)
        take(delimiter, operation + " (delimiter)")
    }

    /// A failed `receiveUntil` (or delimited record).
    private func receiveUntilFailed(_ error: any Error, delimiter: [UInt8], maxBytes: Int, before: Snapshot, _ operation: String) {
        let code = expect(error, [.invalidArgument, .closedResource, .delimiterNotFound, .incompleteRead, .connectionReset], operation)
        switch code {
        case .invalidArgument: check(maxBytes <= 0 || delimiter.isEmpty, "\(operation)(maxBytes: \(maxBytes)): .invalidArgument")
        case .closedResource: expectClosed(before, operation)
        case .delimiterNotFound, .incompleteRead:
            check(!delimiter.isEmpty && !closed, "\(operation): \(code) with an empty delimiter or when closed")
            if let index = firstIndex(of: delimiter, from: before.position) {
                check(index + delimiter.count > source.delivered, "\(operation): \(code) with the delimiter buffered at \(index)")
            }
            if code == .delimiterNotFound {
                check(
                    receiver.bufferedCount >= maxBytes,
                    "\(operation)(maxBytes: \(maxBytes)): .delimiterNotFound with \(receiver.bufferedCount) bytes")
            } else {
                check(source.reportedEnd && source.atEnd, "\(operation): .incompleteRead before end of stream")
                check(receiver.bufferedCount < maxBytes, "\(operation): .incompleteRead instead of .delimiterNotFound")
                expectPartialData(error, operation)
            }
        default: break
        }
    }

    /// The error is a RingIOError with one of `codes`; returns its code.
    private func expect(_ error: any Error, _ codes: [RingIOError.Code], _ operation: String) -> RingIOError.Code {
        guard let error = error as? RingIOError else { violated("\(operation) threw \(error), not a RingIOError") }
        check(codes.contains(error.code), "\(operation) threw \(error.code) (\(error)); expected one of \(codes)")
        if error.code == .connectionReset {
            check(source.failures > failuresSeen, "\(operation) threw .connectionReset that the source did not")
            failuresSeen = source.failures
        }
        return error.code
    }

    private func expectClosed(_ before: Snapshot, _ operation: String) {
        check(closed, "\(operation) threw .closedResource on an open receiver")
        check(receiver.bufferedCount == 0, "\(operation): .closedResource with bytes still buffered")
    }

    /// `.incompleteRead` carries the bytes left buffered (they stay buffered too).
    private func expectPartialData(_ error: any Error, _ operation: String) {
        let partial = (error as? RingIOError)?.partialData
        check(partial == receiver.bufferedData, "\(operation): partialData \(String(describing: partial)) is not the buffered bytes")
    }

    /// The offset of the first `delimiter` in the stream at or after `start`.
    private func firstIndex(of delimiter: [UInt8], from start: Int) -> Int? {
        guard !delimiter.isEmpty, stream.count >= delimiter.count else { return nil }
        var index = start
        while index + delimiter.count <= stream.count {
            if stream[index..<index + delimiter.count].elementsEqual(delimiter) { return index }
            index += 1
        }
        return nil
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func byteStreamFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    InlineExecutor().run {
        await ByteStreamHarness(FuzzInput(bytes)).run()
    }
    return 0
}
