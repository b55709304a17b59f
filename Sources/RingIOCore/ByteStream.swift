/// A bidirectional byte stream: TCP and UNIX socket streams and TLS streams conform.
///
/// The receive functions share one buffer: bytes received beyond what a call returns stay
/// buffered for the next call. All functions may be called from any task; each stream allows one
/// receiving task and one sending task at a time (a second gets ``RingIOError/Code/busyResource``).
public protocol ByteStream: AnyObject, Sendable {
    /// Returns the buffered bytes if there are any, else waits for the next bytes to arrive.
    ///
    /// - Parameter maxBytes: the most bytes to return (at least 1).
    /// - Throws: ``RingIOError`` `.endOfStream` when the peer has finished sending and nothing is
    ///   buffered; `.closedResource`, `.connectionReset`, `.busyResource`, `.timedOut`; or `CancellationError`.
    func receiveSome(maxBytes: Int) async throws -> ByteBuffer

    /// Returns exactly `count` bytes.
    ///
    /// - Throws: ``RingIOError`` `.incompleteRead` if the stream ends first; the bytes received so
    ///   far are in the error's `partialData` and stay buffered.
    func receiveExactly(_ count: Int) async throws -> ByteBuffer

    /// Returns the bytes before the first `delimiter`; the delimiter is consumed, later bytes stay buffered.
    ///
    /// - Parameters:
    ///   - delimiter: the byte sequence that ends a record, such as `"\n".utf8`.
    ///   - maxBytes: the most bytes to search, the delimiter included.
    /// - Throws: ``RingIOError`` `.delimiterNotFound` when `maxBytes` bytes hold no delimiter (they
    ///   stay buffered); `.incompleteRead` when the stream ends first; `.invalidArgument` for an
    ///   empty delimiter or `maxBytes` below 1.
    func receiveUntil(_ delimiter: some Collection<UInt8>, maxBytes: Int) async throws -> ByteBuffer

    /// Sends every byte of `bytes`, however many system calls that takes.
    ///
    /// - Throws: ``RingIOError`` with `bytesTransferred` set to what was sent before the failure.
    func sendAll(_ bytes: some Collection<UInt8>) async throws

    /// Closes the sending direction (TCP half close): the peer sees end of stream; receiving goes on.
    func sendEOF() async throws

    /// Closes the stream. Tasks waiting on it get ``RingIOError/Code/closedResource``. Calling it
    /// again does nothing.
    func close() async
}

extension ByteStream {
    /// Sends the UTF-8 encoding of `string`.
    public func sendAll(_ string: String) async throws {
        try await sendAll(string.utf8)
    }

    /// Returns the bytes before the first occurrence of `delimiter` (UTF-8).
    public func receiveUntil(_ delimiter: String, maxBytes: Int) async throws -> ByteBuffer {
        try await receiveUntil(delimiter.utf8, maxBytes: maxBytes)
    }

    /// An asynchronous sequence of received chunks of at most `maxBytes` bytes; it ends at end of stream.
    public func receiveChunks(maxBytes: Int = 65536) -> ReceivedChunks<Self> {
        ReceivedChunks(stream: self, maxBytes: maxBytes)
    }

    /// An asynchronous sequence of records ended by `delimiter` (delimiter excluded).
    ///
    /// It ends cleanly at end of stream when nothing is left over, and throws `.incompleteRead`
    /// when a partial record is left; `.delimiterNotFound` when a record exceeds `maxBytes`;
    /// `.invalidArgument` (from the first `next()`) for an empty delimiter.
    public func receiveDelimitedChunks(
        _ delimiter: some Collection<UInt8>, maxBytes: Int
    ) -> DelimitedChunks<Self> {
        DelimitedChunks(stream: self, delimiter: Array(delimiter), maxBytes: maxBytes)
    }

    /// ``receiveDelimitedChunks(_:maxBytes:)`` with a UTF-8 string delimiter.
    public func receiveDelimitedChunks(_ delimiter: String, maxBytes: Int) -> DelimitedChunks<Self> {
        receiveDelimitedChunks(delimiter.utf8, maxBytes: maxBytes)
    }
}

/// The chunks of a stream as an `AsyncSequence`; see ``ByteStream/receiveChunks(maxBytes:)``.
public struct ReceivedChunks<Stream: ByteStream>: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let stream: Stream
    let maxBytes: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: Stream
        let maxBytes: Int
        var finished = false

        public mutating func next() async throws -> ByteBuffer? {
            guard !finished else { return nil }
            do {
                return try await stream.receiveSome(maxBytes: maxBytes)
            } catch let error as RingIOError where error.code == .endOfStream {
                finished = true
                return nil
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(stream: stream, maxBytes: maxBytes)
    }
}

/// The delimited records of a stream as an `AsyncSequence`; see ``ByteStream/receiveDelimitedChunks(_:maxBytes:)``.
public struct DelimitedChunks<Stream: ByteStream>: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let stream: Stream
    let delimiter: [UInt8]
    let maxBytes: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: Stream
        let delimiter: [UInt8]
        let maxBytes: Int
        var finished = false

        public mutating func next() async throws -> ByteBuffer? {
            guard !finished else { return nil }
            do {
                return try await stream.receiveUntil(delimiter, maxBytes: maxBytes)
            } catch let error as RingIOError where error.code == .incompleteRead && (error.partialData?.isEmpty ?? true) {
                finished = true
                return nil
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(stream: stream, delimiter: delimiter, maxBytes: maxBytes)
    }
}
