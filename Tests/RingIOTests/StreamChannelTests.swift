import CLiburing
import Glibc
import RingIOCore
import Testing

@testable import RingIORuntime

/// The stream channel on a backend without a kernel (``EmbeddedBackend``): arrival queue,
/// receive mode, short sends and close sequencing, deterministic and in milliseconds.
@Suite(.timeLimit(.minutes(1))) struct StreamChannelTests {
    private let fd = EmbeddedBackend.descriptor

    /// Everything `channel` returns until end of stream, `maxBytes` at a time.
    private func drain(_ channel: StreamChannel, maxBytes: Int = 65536) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let chunk = try await channel.receiveChunk(maxBytes: maxBytes) { bytes += chunk }
        return bytes
    }

    @Test func arrivalsAreReturnedInOrderThenEndOfStream() async throws {
        try await EmbeddedBackend.withStreamChannel { channel, kernel in
            kernel.chunkSize = 4
            kernel.incoming[fd] = Array("hello world".utf8)
            kernel.finished.insert(fd)
            let received = try await drain(channel)
            #expect(String(decoding: received, as: UTF8.self) == "hello world")
            // The end stays: every later receive sees it too.
            let again = try await channel.receiveChunk(maxBytes: 10)
            #expect(again == nil)
            #expect(kernel.armed.count == 1)
        }
    }

    @Test func aSmallMaxBytesSplitsAChunkAndKeepsTheRest() async throws {
        try await EmbeddedBackend.withStreamChannel { channel, kernel in
            kernel.incoming[fd] = Array("abc".utf8)
            kernel.finished.insert(fd)
            var pieces: [String] = []
            while let chunk = try await channel.receiveChunk(maxBytes: 1) { pieces.append(String(decoding: chunk, as: UTF8.self)) }
            #expect(pieces == ["a", "b", "c"])
        }
    }

    @Test func aQueuePastItsLimitStopsTheMultishotOnceAndLosesNothing() async throws {
        try await EmbeddedBackend.withStreamChannel { channel, kernel in
            kernel.incoming[fd] = [0]
            let first = try await channel.receiveChunk(maxBytes: 1)
            #expect(first == ByteBuffer([0]))
            // Nobody reads while 200 KiB arrive: the multishot is asked to stop once.
            let flood = patternBytes(200 * 1024)
            kernel.incoming[fd] = flood
            await eventually { kernel.cancels.count == 1 && kernel.incoming[fd, default: []].isEmpty }
            #expect(kernel.cancels == [kernel.armed[0].id])
            kernel.finished.insert(fd)
            let drained = try await drain(channel)
            #expect(drained == flood)
            // After the stopped multishot ended, the next receive armed a new one.
            #expect(kernel.armed.count == 2)
        }
    }

    @Test func closingInterruptsAWaitingReceiveCancelsTheMultishotAndClosesTheDescriptor() async throws {
        try await EmbeddedBackend.withStreamChannel { channel, kernel in
            let box = UncheckedBox(channel)
            let loop = try #require(Optional(EventLoop.current).flatMap { $0 })
            let waiting = Task(executorPreference: loop) {
                try await box.value.receiveChunk(maxBytes: 10)
            }
            await eventually { kernel.armed.count == 1 }
            await Task.yield()
            await channel.close()
            let error = await #expect(throws: RingIOError.self) { try await waiting.value }
            #expect(error?.code == .closedResource)
            #expect(kernel.cancels == [kernel.armed[0].id])
            #expect(kernel.performed.last == UInt8(IORING_OP_CLOSE.rawValue))
            #expect(channel.descriptor == -1)
            // Bytes the kernel still delivers for the cancelled receive are dropped, and later
            // calls say the stream is closed.
            kernel.incoming[fd] = Array("late".utf8)
            await Task.yield()
            let after = await #expect(throws: RingIOError.self) { try await channel.receiveChunk(maxBytes: 10) }
            #expect(after?.code == .closedResource)
        }
    }

    @Test func afterTheProvidedBuffersRunOutThirtyTwoReceivesAreOneShotThenMultishotIsArmedAgain() async throws {
        try await EmbeddedBackend.withStreamChannel { channel, kernel in
            kernel.incoming[fd] = [1]
            _ = try await channel.receiveChunk(maxBytes: 10)
            kernel.endMultishot(on: fd, with: -ENOBUFS)
            for round in 0..<ReceiveMode.oneShotReceivesAfterExhaustion {
                kernel.incoming[fd] = [UInt8(round)]
                let chunk = try await channel.receiveChunk(maxBytes: 10)
                #expect(chunk == ByteBuffer([UInt8(round)]))
            }
            let recv = UInt8(IORING_OP_RECV.rawValue)
            #expect(kernel.performed.filter { $0 == recv }.count == ReceiveMode.oneShotReceivesAfterExhaustion)
            #expect(kernel.armed.count == 1)
            kernel.incoming[fd] = [9]
            let rearmed = try await channel.receiveChunk(maxBytes: 10)
            #expect(rearmed == ByteBuffer([9]))
            #expect(kernel.armed.count == 2)
        }
    }

    @Test func shortSendsAreResubmittedUntilEveryByteIsOut() async throws {
        try await EmbeddedBackend.withStreamChannel { channel, kernel in
            kernel.sendLimit = 7
            let bytes = patternBytes(100)
            try await channel.send(ByteBuffer(bytes))
            try await channel.send(bytes)
            try await channel.send([ByteBuffer(bytes[0..<30]), ByteBuffer(), ByteBuffer(bytes[30...])])
            #expect(kernel.sent[fd] == bytes + bytes + bytes)
            let send = UInt8(IORING_OP_SEND.rawValue)
            let sendmsg = UInt8(IORING_OP_SENDMSG.rawValue)
            #expect(kernel.performed.filter { $0 == send }.count == 30)
            #expect(kernel.performed.filter { $0 == sendmsg }.count == 15)
        }
    }

    @Test func aSendAfterCloseFailsWithClosedResourceAndSendsNothing() async throws {
        try await EmbeddedBackend.withStreamChannel { channel, kernel in
            await channel.close()
            let error = await #expect(throws: RingIOError.self) { try await channel.send(ByteBuffer([1, 2, 3])) }
            #expect(error?.code == .closedResource)
            #expect(kernel.sent[fd] == nil)
            // Closing twice closes once.
            await channel.close()
            #expect(kernel.performed.filter { $0 == UInt8(IORING_OP_CLOSE.rawValue) }.count == 1)
        }
    }
}

/// Hands a loop-confined value to a task that runs on the same loop.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
