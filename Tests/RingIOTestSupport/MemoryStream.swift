package import RingIOCore

/// A byte stream over one end of an in-memory connection (``MemoryTransport``): the in-memory
/// stream pair that layered streams (TLS) are tested over without a socket or a kernel. Its
/// receives are buffered as a socket stream's are.
///
/// `@unchecked Sendable`: its state (the transport end, the receive buffer) is touched only
/// inside its serial context's `confine` (the event loop the test runs the pair on).
package final class MemoryStream: ByteStream, @unchecked Sendable {
    /// The end of the in-memory connection this stream reads and writes.
    package let transport: MemoryTransport
    private let receiver: BufferedReceiver
    private let context: any SerialContext
    private var closed = false

    package init(_ transport: MemoryTransport, name: String, in context: any SerialContext) {
        self.transport = transport
        self.context = context
        receiver = BufferedReceiver(context: "memory stream \(name)")
    }

    /// Two connected streams, used in `context`.
    package static func pair(in context: any SerialContext) -> (MemoryStream, MemoryStream) {
        let (a, b) = MemoryTransport.pair()
        return (MemoryStream(a, name: "a", in: context), MemoryStream(b, name: "b", in: context))
    }

    package func receiveSome(maxBytes: Int) async throws -> ByteBuffer {
        try await context.confine { try await receiver.receiveSome(maxBytes: maxBytes, from: transport) }
    }

    package func receiveExactly(_ count: Int) async throws -> ByteBuffer {
        try await context.confine { try await receiver.receiveExactly(count, from: transport) }
    }

    package func receiveUntil(_ delimiter: some Collection<UInt8>, maxBytes: Int) async throws -> ByteBuffer {
        let delimiter = Array(delimiter)
        return try await context.confine { try await receiver.receiveUntil(delimiter, maxBytes: maxBytes, from: transport) }
    }

    package func sendAll(_ bytes: some Collection<UInt8>) async throws {
        let buffer = ByteBuffer(Array(bytes))
        try await context.confine {
            guard !closed else { throw RingIOError(.closedResource, "send on \(receiver.context): the stream is closed") }
            try await transport.send(buffer)
        }
    }

    package func sendEOF() async throws {
        try await context.confine { transport.finishSending() }
    }

    package func close() async {
        _ = try? await context.confine {
            guard !closed else { return }
            closed = true
            receiver.close()
            transport.finishSending()
        }
    }
}
