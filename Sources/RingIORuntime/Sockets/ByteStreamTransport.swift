#if os(Linux)
package import RingIOCore

/// Any byte stream as the ciphertext transport of a TLS stream that runs on `loop`: what
/// `TLSStream.wrap` uses for streams that are not a ``SocketStream`` (a socket stream lends its
/// channel directly). The stream's own functions run wherever it runs them; their results come
/// back to the loop.
package final class ByteStreamTransport: CiphertextTransport {
    private let stream: any ByteStream
    private let loop: EventLoop
    private let description: String

    package init(_ stream: any ByteStream, loop: EventLoop, description: String) {
        self.stream = stream
        self.loop = loop
        self.description = description
    }

    package nonisolated(nonsending) func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        do {
            return try await stream.receiveSome(maxBytes: maxBytes)
        } catch let error as RingIOError where error.code == .endOfStream {
            return nil
        }
    }

    package nonisolated(nonsending) func send(_ buffer: ByteBuffer) async throws {
        try await stream.sendAll(buffer)
    }

    package nonisolated(nonsending) func park(_ what: String, _ register: (_ wake: @escaping () -> Void) -> Void) async throws {
        try await loop.parkUntilWoken("\(what) on \(description)", register)
    }
}
#endif
