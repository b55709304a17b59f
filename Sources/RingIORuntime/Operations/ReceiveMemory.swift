#if os(Linux)
import RingIOCore

/// Where a receive operation's bytes go, claimed when the operation is prepared or attempted.
///
/// - `fresh`: new heap memory of the receive's capacity, kept by the operation across attempts.
///   A completion backend's receive holds its memory while it waits in the kernel, so it is
///   sized for that receive.
/// - `pooled`: a block of a ``ReceivePool``, taken only for the system call of one attempt and
///   put back at once when nothing arrived; a block that received bytes is lent to the
///   `ByteBuffer` returned, and returns to the pool when that is gone.
struct ReceiveMemory {
    private enum Source {
        case fresh
        case pooled(ReceivePool)
    }

    private let source: Source
    private var storage: ByteStorage?
    private var block: Int?

    private init(_ source: Source) { self.source = source }

    /// New memory of the receive's capacity.
    static var fresh: ReceiveMemory { ReceiveMemory(.fresh) }

    /// A block of `pool` for each attempt.
    static func pooled(_ pool: ReceivePool) -> ReceiveMemory { ReceiveMemory(.pooled(pool)) }

    /// The memory to receive `capacity` bytes into (at most ``ReceivePool/blockSize`` for a pool).
    mutating func claim(_ capacity: Int) -> UnsafeMutableRawPointer {
        if let storage { return storage.base }
        let claimed: ByteStorage
        switch source {
        case .fresh:
            claimed = ByteStorage(capacity: capacity)
        case .pooled(let pool):
            (block, claimed) = pool.acquire()
        }
        storage = claimed
        return claimed.base
    }

    /// Records an attempt's result: a pool block that received bytes is lent out, one that did
    /// not goes back to the pool.
    mutating func settle(received result: Int32) {
        guard case .pooled(let pool) = source else { return }
        if result > 0 {
            pool.lend(block)
        } else {
            pool.putBack(block)
            storage = nil
        }
        block = nil
    }

    /// Marks a claimed pool block as lent before the kernel writes into it (the completion face):
    /// it returns to the pool once neither the operation nor a `ByteBuffer` refers to it.
    mutating func lendToKernel() {
        guard case .pooled(let pool) = source, block != nil else { return }
        pool.lend(block)
        block = nil
    }

    /// The first `count` received bytes, without copying; `nil` unless `count` > 0.
    func bytes(_ count: Int32) -> ByteBuffer? {
        guard count > 0, let storage else { return nil }
        return ByteBuffer(storage: storage, lower: 0, upper: Int(count))
    }
}
#endif
