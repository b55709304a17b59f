#if os(Linux)
import RingIOCore

/// A fixed set of reusable ``ByteStorage`` objects, lent out inside `ByteBuffer`s and collected
/// again once nothing else refers to them: the bookkeeping both receive pools share (the
/// io_uring provided-buffer ring and the epoll receive pool), so receiving allocates nothing.
///
/// Loop-confined: a value inside a loop-confined pool.
struct StorageLending {
    /// The storages, by index.
    private(set) var storages: [ByteStorage] = []
    /// Indices lent and not yet collected.
    private var lent: [Int32] = []

    init(capacity: Int) {
        storages.reserveCapacity(capacity)
        lent.reserveCapacity(capacity)
    }

    /// Adds a storage to the set; returns its index.
    mutating func add(_ storage: ByteStorage) -> Int {
        storages.append(storage)
        return storages.count - 1
    }

    /// How many storages are lent and not yet collected.
    var lentCount: Int { lent.count }

    /// Marks storage `index` as lent and returns it.
    mutating func lend(_ index: Int) -> ByteStorage {
        lent.append(Int32(index))
        return storages[index]
    }

    /// Calls `returned` with the index of every lent storage that no `ByteBuffer` refers to any
    /// more, and stops tracking it. Costs one reference-count check per storage still lent.
    mutating func collect(_ returned: (Int) -> Void) {
        var position = lent.count - 1
        while position >= 0 {
            let index = Int(lent[position])
            if ByteStorage.isOnlyHeldByItsPool(&storages[index]) {
                returned(index)
                lent[position] = lent[lent.count - 1]
                lent.removeLast()
            }
            position -= 1
        }
    }
}
#endif
