#if os(Linux)
/// Memory that `send` copies caller-owned bytes into while the kernel reads them (the caller's
/// `[UInt8]` or `String` cannot be pinned across a suspension, and on io_uring the kernel reads
/// them after the call that submitted the send has returned). Two sizes: 4 KiB blocks for small
/// sends, 64 KiB for large ones, so thousands of concurrent small sends do not each hold 64 KiB.
/// Up to 64 free blocks of each size are kept. Loop-confined.
final class SendStaging {
    /// A block on loan to one send.
    struct Block {
        let base: UnsafeMutableRawPointer
        let capacity: Int
    }

    static let smallSize = 4096
    static let largeSize = 65536
    @exclusivity(unchecked) private var small: [UnsafeMutableRawPointer] = []
    @exclusivity(unchecked) private var large: [UnsafeMutableRawPointer] = []
    private let keep = 64

    /// A block for sending `count` bytes (the large size when `count` exceeds the small one;
    /// larger sends go through it a block at a time).
    func acquire(for count: Int) -> Block {
        if count <= Self.smallSize {
            return Block(base: small.popLast() ?? .allocate(byteCount: Self.smallSize, alignment: 64), capacity: Self.smallSize)
        }
        return Block(base: large.popLast() ?? .allocate(byteCount: Self.largeSize, alignment: 64), capacity: Self.largeSize)
    }

    /// Returns a block from ``acquire(for:)``.
    func release(_ block: Block) {
        if block.capacity == Self.smallSize {
            if small.count < keep { small.append(block.base) } else { block.base.deallocate() }
        } else {
            if large.count < keep { large.append(block.base) } else { block.base.deallocate() }
        }
    }

    func releaseAll() {
        for block in small + large { block.deallocate() }
        small = []
        large = []
    }
}
#endif
