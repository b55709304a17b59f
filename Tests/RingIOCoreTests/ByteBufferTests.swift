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

    @Test func pooledStorageIsReturnedToItsOwnerWhenTheLastBufferGoes() {
        final class Owner: ByteStorageOwner, @unchecked Sendable {
            var reclaimed: [Int] = []
            func reclaim(_ base: UnsafeMutableRawPointer, token: Int) { reclaimed.append(token) }
        }
        let owner = Owner()
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
        defer { memory.deallocate() }
        do {
            let buffer = ByteBuffer(storage: ByteStorage(borrowing: memory, capacity: 8, owner: owner, token: 7), lower: 0, upper: 4)
            let slice = buffer[1..<3]
            _ = slice.count
            #expect(owner.reclaimed.isEmpty)
        }
        #expect(owner.reclaimed == [7])
    }
}
