import Testing

@testable import RingIOCore

/// A chunk source that returns scripted chunks, then end of stream.
final class ScriptedSource: ByteChunkSource {
    private var chunks: [[UInt8]]
    private(set) var requests: [Int] = []

    init(_ chunks: [String]) {
        self.chunks = chunks.map { Array($0.utf8) }
    }

    func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        requests.append(maxBytes)
        guard !chunks.isEmpty else { return nil }
        let next = chunks.removeFirst()
        if next.count > maxBytes {
            chunks.insert(Array(next[maxBytes...]), at: 0)
            return ByteBuffer(next[..<maxBytes])
        }
        return ByteBuffer(next)
    }
}

private func text(_ buffer: ByteBuffer) -> String { String(decoding: buffer, as: UTF8.self) }

@Suite struct BufferedReceiverTests {
    @Test func delimiterSplitAcrossChunksIsFound() async throws {
        let source = ScriptedSource(["bl", "ah", "\r", "\nfoo", "bar\r\n"])
        let receiver = BufferedReceiver(context: "test")
        #expect(text(try await receiver.receiveUntil("\r\n".utf8, maxBytes: 8, from: source)) == "blah")
        #expect(text(try await receiver.receiveUntil("\r\n".utf8, maxBytes: 8, from: source)) == "foobar")
    }

    @Test func delimiterEndingExactlyAtMaxBytesIsAccepted() async throws {
        let receiver = BufferedReceiver(context: "test")
        #expect(text(try await receiver.receiveUntil("\n".utf8, maxBytes: 3, from: ScriptedSource(["ab\n"]))) == "ab")
    }

    @Test func delimiterOneBytePastMaxBytesFailsAndKeepsTheBytes() async throws {
        let receiver = BufferedReceiver(context: "test")
        let source = ScriptedSource(["cdef\n"])
        let error = await #expect(throws: RingIOError.self) {
            try await receiver.receiveUntil("\n".utf8, maxBytes: 3, from: source)
        }
        #expect(error?.code == .delimiterNotFound)
        #expect(error?.description.hasSuffix("first 3 bytes") == true)
        #expect(text(receiver.bufferedData) == "cde")
        #expect(source.requests == [3])
    }

    @Test func bufferedDelimiterBeyondMaxBytesIsStillReturned() async throws {
        let receiver = BufferedReceiver(context: "test")
        let source = ScriptedSource(["123456789\nrest"])
        _ = try await receiver.receiveExactly(1, from: source)
        receiver.append(ByteBuffer("23456789\nrest".utf8))
        // Only the one byte asked for was taken from the source; feed the rest as buffered data.
        let line = try await receiver.receiveUntil("\n".utf8, maxBytes: 3, from: ScriptedSource([]))
        #expect(text(line) == "23456789")
    }

    @Test func bytesAfterTheDelimiterStayBuffered() async throws {
        let receiver = BufferedReceiver(context: "test")
        let source = ScriptedSource(["blah\nfoobar"])
        #expect(text(try await receiver.receiveUntil("\n".utf8, maxBytes: 100, from: source)) == "blah")
        #expect(text(try await receiver.receiveExactly(4, from: source)) == "foob")
        #expect(text(try await receiver.receiveExactly(2, from: source)) == "ar")
    }

    @Test func receiveSomeIsServedFromTheBufferFirst() async throws {
        let receiver = BufferedReceiver(context: "test")
        let source = ScriptedSource(["abc"])
        #expect(text(try await receiver.receiveUntil("a".utf8, maxBytes: 10, from: source)) == "")
        #expect(text(try await receiver.receiveSome(maxBytes: 1, from: source)) == "b")
        #expect(source.requests.count == 1)
    }

    @Test func endOfStreamBeforeTheDelimiterIsAnIncompleteReadAndKeepsTheBytes() async throws {
        let receiver = BufferedReceiver(context: "test")
        let source = ScriptedSource(["abc"])
        let error = await #expect(throws: RingIOError.self) {
            try await receiver.receiveUntil("\n".utf8, maxBytes: 100, from: source)
        }
        #expect(error?.code == .incompleteRead)
        #expect(error.flatMap(\.partialData).map(text) == "abc")
        #expect(text(try await receiver.receiveSome(maxBytes: 10, from: source)) == "abc")
        let end = await #expect(throws: RingIOError.self) { try await receiver.receiveSome(maxBytes: 10, from: source) }
        #expect(end?.code == .endOfStream)
    }

    @Test func endOfStreamMidReceiveExactlyReportsWhatArrived() async throws {
        let receiver = BufferedReceiver(context: "test")
        let error = await #expect(throws: RingIOError.self) {
            try await receiver.receiveExactly(5, from: ScriptedSource(["bla"]))
        }
        #expect(error?.code == .incompleteRead)
        #expect(error.flatMap(\.partialData).map(text) == "bla")
        #expect(receiver.bufferedCount == 3)
    }

    @Test func receiveExactlySpanningChunksJoinsThem() async throws {
        let receiver = BufferedReceiver(context: "test")
        let source = ScriptedSource(["bla", "h\nb", "leh\n"])
        #expect(text(try await receiver.receiveExactly(5, from: source)) == "blah\n")
        #expect(text(try await receiver.receiveExactly(5, from: source)) == "bleh\n")
    }

    @Test func invalidSizesAreRejected() async throws {
        let receiver = BufferedReceiver(context: "test")
        let source = ScriptedSource(["x"])
        let some = await #expect(throws: RingIOError.self) { try await receiver.receiveSome(maxBytes: 0, from: source) }
        #expect(some?.code == .invalidArgument)
        let exactly = await #expect(throws: RingIOError.self) { try await receiver.receiveExactly(-1, from: source) }
        #expect(exactly?.code == .invalidArgument)
        #expect(try await receiver.receiveExactly(0, from: source).isEmpty)
    }

    @Test func multiByteDelimiterPrefixAtTheEndOfAChunkIsNotAFalseMatch() async throws {
        let receiver = BufferedReceiver(context: "test")
        let source = ScriptedSource(["ab\r", "x\r\n"])
        #expect(text(try await receiver.receiveUntil("\r\n".utf8, maxBytes: 100, from: source)) == "ab\rx")
    }

    @Test func anEmptyDelimiterIsRejectedAndConsumesNothing() async throws {
        let source = ScriptedSource(["abc\n"])
        let receiver = BufferedReceiver(context: "test")
        let error = await #expect(throws: RingIOError.self) { try await receiver.receiveUntil([UInt8](), maxBytes: 8, from: source) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "receiveUntil on test: the delimiter must not be empty")
        #expect(text(try await receiver.receiveUntil("\n".utf8, maxBytes: 8, from: source)) == "abc")
    }

    @Test func aTrickleOfTinyChunksIsCompactedAndNothingIsLost() async throws {
        let receiver = BufferedReceiver(context: "test")
        let line = (0..<300).map { _ in "x" }
        let source = ScriptedSource(line + ["\n"])
        #expect(text(try await receiver.receiveUntil("\n".utf8, maxBytes: 1024, from: source)) == String(repeating: "x", count: 300))
        for byte in "abcdefghijklmnopqrstuvwxyz".utf8 { receiver.append(ByteBuffer([byte])) }
        // 26 one-byte chunks would each pin a pool block; they are joined instead.
        #expect(receiver.bufferedChunkCount <= 9)
        #expect(text(receiver.bufferedData) == "abcdefghijklmnopqrstuvwxyz")
    }
}
