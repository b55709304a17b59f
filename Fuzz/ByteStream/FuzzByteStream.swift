import RingIOCore

/// A ``ByteStream`` over the receiver and source under test, so the public sequences
/// (`receiveDelimitedChunks`, `receiveChunks`) run over them exactly as over a socket stream.
///
/// `@unchecked Sendable`: `ByteStream` requires it, but this stream lives inside one fuzz input's
/// task, which runs on the fuzzer's thread alone (see ``InlineExecutor``).
final class FuzzByteStream: ByteStream, @unchecked Sendable {
    private let receiver: BufferedReceiver
    private let source: FuzzChunkSource

    init(receiver: BufferedReceiver, source: FuzzChunkSource) {
        self.receiver = receiver
        self.source = source
    }

    func receiveSome(maxBytes: Int) async throws -> ByteBuffer {
        source.budget = .some(maxBytes: maxBytes)
        return try await receiver.receiveSome(maxBytes: maxBytes, from: source)
    }

    func receiveExactly(_ count: Int) async throws -> ByteBuffer {
        source.budget = .total(count)
        return try await receiver.receiveExactly(count, from: source)
    }

    func receiveUntil(_ delimiter: some Collection<UInt8>, maxBytes: Int) async throws -> ByteBuffer {
        source.budget = .total(maxBytes)
        return try await receiver.receiveUntil(delimiter, maxBytes: maxBytes, from: source)
    }

    func sendAll(_ bytes: some Collection<UInt8>) async throws {}

    func sendEOF() async throws {}

    func close() async {
        receiver.close()
    }
}
