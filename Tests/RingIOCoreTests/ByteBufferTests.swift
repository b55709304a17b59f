import Testing

@testable import RingIOCore

@Suite struct ByteBufferTests {
    @Test func slicesShareStorageAndReindexFromZero() {
        let buffer = ByteBuffer("hello world".utf8)
        let world = buffer[6..<11]
        #expect(world.startIndex == 0)
        #expect(String(decoding: world, as: UTF8.self) == "world")
        #expect(world.storage === buffer.storage)
    }

    @Test func joiningCopiesPartsInOrder() {
        let parts = [ByteBuffer("ab".utf8), ByteBuffer("cd".utf8), ByteBuffer("e".utf8)]
        #expect(String(decoding: ByteBuffer.joining(parts, totalCount: 5), as: UTF8.self) == "abcde")
    }

    @Test func equalityComparesBytes() {
        #expect(ByteBuffer("abc") == ByteBuffer([0x61, 0x62, 0x63]))
        #expect(ByteBuffer("abc") != ByteBuffer("abd"))
        #expect(ByteBuffer() == ByteBuffer(""))
    }

    @Test func pooledStorageIsFreeAgainOnlyWhenNoBufferRefersToIt() {
        final class Memory {
            let base = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
            deinit { base.deallocate() }
        }
        let memory = Memory()
        var storage = ByteStorage(pooled: memory.base, capacity: 8, poolMemory: memory)
        #expect(ByteStorage.isOnlyHeldByItsPool(&storage))
        do {
            let buffer = ByteBuffer(storage: storage, lower: 0, upper: 4)
            let slice = buffer[1..<3]
            #expect(!ByteStorage.isOnlyHeldByItsPool(&storage))
            _ = slice.count
        }
        #expect(ByteStorage.isOnlyHeldByItsPool(&storage))
    }

    @Test func aBufferKeepsPooledMemoryAliveAfterItsPoolIsGone() {
        final class Memory {
            let base = UnsafeMutableRawPointer.allocate(byteCount: 4, alignment: 8)
            deinit { base.deallocate() }
        }
        weak var released: Memory?
        var buffer = ByteBuffer()
        do {
            let memory = Memory()
            released = memory
            memory.base.storeBytes(of: 0x6F6B_6F6B, as: UInt32.self)
            buffer = ByteBuffer(storage: ByteStorage(pooled: memory.base, capacity: 4, poolMemory: memory), lower: 0, upper: 4)
        }
        #expect(released != nil)
        #expect(String(decoding: buffer, as: UTF8.self) == "koko")
        buffer = ByteBuffer()
        #expect(released == nil)
    }
}

@Suite struct ByteBufferTextTests {
    @Test func validUTF8DecodesExactly() throws {
        #expect(try ByteBuffer("héllo, 世界 👋").utf8String() == "héllo, 世界 👋")
        #expect(try ByteBuffer([]).utf8String() == "")
    }

    @Test func anInvalidByteIsRejectedWithItsOffset() throws {
        let error = #expect(throws: RingIOError.self) { try ByteBuffer([0x61, 0x62, 0xFF, 0x63]).utf8String() }
        #expect(error?.code == .invalidText)
        #expect(error?.message == "the text is not valid UTF-8 at byte offset 2 (0xFF) of 4 bytes")
        #expect(error?.partialData == ByteBuffer([0x61, 0x62, 0xFF, 0x63]))
    }

    @Test func overlongAndSurrogateEncodingsAreRejected() throws {
        // "/" encoded in two bytes, and U+D800 (a surrogate) encoded in three.
        for bytes: [UInt8] in [[0xC0, 0xAF], [0xED, 0xA0, 0x80]] {
            let error = #expect(throws: RingIOError.self) { try ByteBuffer(bytes).utf8String() }
            #expect(error?.code == .invalidText)
            #expect(error?.message.contains("byte offset 0") == true)
        }
    }

    @Test func aSequenceCutOffAtTheEndIsNamedAsSuch() throws {
        // "é" is C3 A9; the last byte is missing.
        let error = #expect(throws: RingIOError.self) { try ByteBuffer([0x6F, 0x6B, 0xC3]).utf8String() }
        #expect(error?.message == "the text ends inside the multi-byte sequence that starts at byte offset 2 (0xC3) of 3 bytes")
    }
}
