import Glibc
import Testing

@testable import RingIOCore

/// `count` bytes of a prime-period pattern starting at `offset`, in a storage of `capacity`
/// bytes: what a receive into a 16 KiB provided buffer or a TLS record's storage looks like.
private func chunk(_ count: Int, in capacity: Int, offset: Int = 0) -> ByteBuffer {
    let storage = ByteStorage(capacity: capacity)
    pattern.withUnsafeBytes { source in
        if let base = source.baseAddress { storage.base.copyMemory(from: base + offset % 251, byteCount: count) }
    }
    return ByteBuffer(storage: storage, lower: 0, upper: count)
}

/// The pattern, long enough to copy any chunk from (memcpy: fast in debug builds too).
private let pattern: [UInt8] = (0..<(65536 + 251)).map { UInt8($0 % 251) }

/// Whether `buffer` holds the pattern's bytes from `offset` on.
private func holdsPattern(_ buffer: ByteBuffer, from offset: Int) -> Bool {
    var position = offset
    var start = 0
    while start < buffer.count {
        let n = min(buffer.count - start, 65536)
        let equal = buffer[start..<start + n].withUnsafeBytes { got in
            pattern.withUnsafeBytes { expected in
                guard let left = got.baseAddress, let right = expected.baseAddress else { return false }
                return memcmp(left, right + position % 251, n) == 0
            }
        }
        guard equal else { return false }
        start += n
        position += n
    }
    return true
}

/// The bound ``ChunkQueue`` promises: held capacity ≤ 2 × bytes + 128 KiB.
private func withinBound(_ held: Int, bytes: Int) -> Bool { held <= 2 * bytes + 128 * 1024 }

/// Feeds 64 KiB in well-filled 16 KiB chunks, then one-byte chunks each in a 16 KiB storage.
private final class TrickleSource: ByteChunkSource {
    private var sent = 0
    private let total: Int
    var check: (() -> Void)?

    init(total: Int) { self.total = total }

    func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        check?()
        guard sent < total else { return nil }
        let count = sent < 65536 ? min(16384, maxBytes) : 1
        defer { sent += count }
        return chunk(count, in: 16384, offset: sent)
    }
}

/// Returns the chunks it was given, one per receive, then the end of the stream.
private final class StorageSource: ByteChunkSource {
    private var chunks: [ByteBuffer]
    var check: (() -> Void)?

    init(_ chunks: [ByteBuffer]) { self.chunks = chunks }

    func receiveChunk(maxBytes: Int) async throws -> ByteBuffer? {
        check?()
        return chunks.isEmpty ? nil : chunks.removeFirst()
    }
}

@Suite struct ChunkQueueTests {
    /// The review's trickle: inside `receiveExactly(n > 64 KiB)`, 64 KiB and then 20,000
    /// one-byte chunks each arriving in a 16 KiB storage. Each used to pin its whole storage
    /// (20,000 × 16 KiB = 312 MiB for 20 KB); now the buffer stays within the bound throughout.
    @Test func aOneByteTrickleAfter64KiBKeepsTheBufferWithinTheBound() async throws {
        let total = 65536 + 20_000
        let receiver = BufferedReceiver(context: "test")
        let source = TrickleSource(total: total)
        var worst = 0
        var violations = 0
        source.check = {
            worst = max(worst, receiver.bufferedCapacity)
            if !withinBound(receiver.bufferedCapacity, bytes: receiver.bufferedCount) { violations += 1 }
        }
        let received = try await receiver.receiveExactly(total, from: source)
        #expect(violations == 0, "the buffer held more than 2 × its bytes + 128 KiB \(violations) times (worst \(worst) bytes)")
        #expect(worst <= 2 * total + 128 * 1024)
        #expect(received.count == total)
        #expect(holdsPattern(received, from: 0))
    }

    @Test func aChunkIntoAnEmptyQueueIsKeptAsItIs() {
        var queue = ChunkQueue()
        let small = chunk(64, in: 16384)
        queue.append(small)
        #expect(queue.chunks[queue.head].storage === small.storage)
        #expect(queue.takeFromFirstChunk(maxBytes: 64).storage === small.storage)
    }

    @Test func aLoneSmallChunkThatWaitsIsCopiedOutOfItsStorage() {
        var queue = ChunkQueue()
        var storage = ByteStorage(capacity: 16384)
        storage.base.storeBytes(of: 7, as: UInt8.self)
        queue.append(ByteBuffer(storage: storage, lower: 0, upper: 1))
        queue.settle()
        #expect(isKnownUniquelyReferenced(&storage), "a waiting one-byte chunk still pins its 16 KiB storage")
        #expect(queue.heldCapacity <= ChunkQueue.smallestTail)
        #expect(queue.takeFromFirstChunk(maxBytes: 1) == ByteBuffer([7]))
    }

    @Test func aPartlyTakenChunkThatWaitsIsCopiedOutOfItsStorage() {
        var queue = ChunkQueue()
        var storage = ByteStorage(capacity: 16384)
        queue.append(ByteBuffer(storage: storage, lower: 0, upper: 16384))
        _ = queue.takeFromFirstChunk(maxBytes: 16000)
        queue.settle()
        #expect(isKnownUniquelyReferenced(&storage), "384 waiting bytes still pin their 16 KiB storage")
        #expect(queue.count == 384)
    }

    @Test func aWellFilledChunkThatWaitsIsNotCopied() {
        var queue = ChunkQueue()
        let full = chunk(16384, in: 16384)
        queue.append(full)
        queue.settle()
        #expect(queue.chunks[queue.head].storage === full.storage)
    }

    /// A server waiting in `receiveUntil` for the rest of a line from an idle peer that sent one
    /// byte: the byte must not keep its 16 KiB receive buffer while the server waits.
    @Test func aReceiverWaitingForTheRestHoldsOnlyWhatArrived() async throws {
        let receiver = BufferedReceiver(context: "test")
        let source = StorageSource([chunk(1, in: 16384), chunk(1, in: 16384, offset: 10)])
        var heldWhileWaiting: [Int] = []
        source.check = { heldWhileWaiting.append(receiver.bufferedCapacity) }
        await #expect(throws: RingIOError.self) { _ = try await receiver.receiveUntil([0xFF], maxBytes: 1024, from: source) }
        #expect(heldWhileWaiting.count == 3)
        #expect(heldWhileWaiting.allSatisfy { $0 <= ChunkQueue.smallestTail }, "held while waiting: \(heldWhileWaiting)")
    }

    @Test func smallChunksBehindOthersAreCopiedAndTheirStorageIsReleasedAtOnce() {
        var queue = ChunkQueue()
        queue.append(chunk(16384, in: 16384))
        var storage = ByteStorage(capacity: 16384)
        queue.append(ByteBuffer(storage: storage, lower: 0, upper: 10))
        #expect(isKnownUniquelyReferenced(&storage), "a 10-byte chunk behind other bytes still pins its 16 KiB storage")
        #expect(queue.count == 16394)
        #expect(queue.heldCapacity < 2 * 16384)
    }

    @Test func wellFilledLargeChunksAreNeverCopied() {
        var queue = ChunkQueue()
        let full = chunk(16384, in: 16384)
        let mostly = chunk(9000, in: 16384)
        queue.append(full)
        queue.append(mostly)
        #expect(queue.chunkCount == 2)
        #expect(queue.chunks[queue.head].storage === full.storage)
        #expect(queue.chunks[queue.head + 1].storage === mostly.storage)
    }

    @Test func tinyChunksShareOneTailAndKeepTheirOrder() {
        var queue = ChunkQueue()
        for index in 0..<300 { queue.append(chunk(1, in: 16384, offset: index)) }
        // The first is kept as it came; the other 299 share one small tail.
        #expect(queue.chunkCount == 2)
        #expect(queue.heldCapacity <= 16384 + 512)
        var taken = queue.takeFromFirstChunk(maxBytes: 300)
        taken = ByteBuffer(Array(taken) + Array(queue.takeFromFirstChunk(maxBytes: 300)))
        #expect(taken.elementsEqual((0..<300).map { UInt8($0 % 251) }))
        #expect(queue.isEmpty)
    }

    /// Bytes already taken from the tail never change when later chunks are appended after them.
    @Test func bytesTakenFromTheTailStayAsTheyWere() {
        var queue = ChunkQueue()
        queue.append(chunk(5, in: 16384, offset: 0))
        let first = queue.takeFromFirstChunk(maxBytes: 3)
        for index in 0..<2000 { queue.append(chunk(1, in: 16384, offset: 5 + index)) }
        #expect(first.elementsEqual([0, 1, 2]))
        var rest: [UInt8] = []
        while !queue.isEmpty { rest += queue.takeFromFirstChunk(maxBytes: 700) }
        #expect(rest.elementsEqual((3..<2005).map { UInt8($0 % 251) }))
    }

    /// Random chunk sizes in random storages with random reads in between: every byte comes out
    /// in order, and the held capacity stays within the bound after every step.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func randomChunkingAndReadingStaysWithinTheBoundAndLosesNothing(seed: UInt64) {
        var random = SplitMix(seed: seed)
        var queue = ChunkQueue()
        var appended = 0
        var taken = 0
        var worstExcess = Int.min
        for _ in 0..<20_000 {
            if random.next() % 3 != 0 {
                let capacity = [512, 4096, 16384, 65536][Int(random.next() % 4)]
                let count: Int
                switch random.next() % 4 {
                case 0: count = 1
                case 1: count = Int(random.next() % 64) + 1
                case 2: count = capacity / 2 + Int(random.next() % UInt64(capacity / 2))
                default: count = Int(random.next() % UInt64(capacity)) + 1
                }
                queue.append(chunk(count, in: capacity, offset: appended))
                appended += count
            } else if !queue.isEmpty {
                let part = queue.takeFromFirstChunk(maxBytes: Int(random.next() % 20_000) + 1)
                #expect(holdsPattern(part, from: taken))
                taken += part.count
            }
            #expect(queue.count == appended - taken)
            worstExcess = max(worstExcess, queue.heldCapacity - 2 * queue.count)
        }
        #expect(worstExcess <= 128 * 1024, "held capacity exceeded 2 × bytes by \(worstExcess) bytes")
    }
}

/// A small deterministic generator (SplitMix64), so a failing seed can be rerun.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
