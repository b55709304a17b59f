#if os(Linux)
import RingIOCore

/// A readiness backend's receive memory: blocks that `recv` fills and receives return as
/// `ByteBuffer`s without copying, reused once nothing refers to them, shared by every stream of
/// the loop. A stream holds a block only while its bytes are in use, never while it waits
/// (readiness receives take one just for the system call, see ``ReceiveMemory``), so idle
/// connections cost no receive memory. Up to `maxBlocks` are kept; past that, receives use
/// one-off heap memory.
///
/// Loop-confined.
final class ReceivePool {
    static let blockSize = 65536
    private let maxBlocks: Int
    @exclusivity(unchecked) private var blocks: StorageLending
    @exclusivity(unchecked) private var free: [Int] = []

    init(maxBlocks: Int = 1024) {
        self.maxBlocks = maxBlocks
        blocks = StorageLending(capacity: maxBlocks)
        free.reserveCapacity(maxBlocks)
    }

    /// A block to receive into: `index` is `nil` for one-off memory outside the pool.
    func acquire() -> (index: Int?, storage: ByteStorage) {
        if free.isEmpty { collectReleased() }
        if let index = free.popLast() { return (index, blocks.storages[index]) }
        if blocks.storages.count < maxBlocks {
            let index = blocks.add(ByteStorage(capacity: Self.blockSize))
            return (index, blocks.storages[index])
        }
        return (nil, ByteStorage(capacity: Self.blockSize))
    }

    /// Puts back a block that received nothing.
    func putBack(_ index: Int?) {
        if let index { free.append(index) }
    }

    /// Marks block `index` as lent out in a `ByteBuffer`.
    func lend(_ index: Int?) {
        if let index { _ = blocks.lend(index) }
    }

    /// Moves every lent block nothing refers to any more back to the free list.
    func collectReleased() {
        blocks.collect { free.append($0) }
    }
}
#endif
