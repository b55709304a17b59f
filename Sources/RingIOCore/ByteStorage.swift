import Synchronization

/// The memory behind one or more `ByteBuffer`s.
///
/// Either heap memory this object allocated (freed in `deinit`), or memory that belongs to a
/// pool (an event loop's provided receive buffers). A pooled storage object is itself reused:
/// its pool keeps one reference to it and lends it out again once that reference is the only
/// one left (see ``isOnlyHeldByItsPool``), so receiving into a pool allocates nothing.
///
/// `@unchecked Sendable`: bytes are written only where no `ByteBuffer` refers to them: before the
/// storage is published, by the kernel after its pool took it back, or (a ``ChunkQueue``'s tail)
/// past the end of every buffer made from it so far. No buffer ever sees its bytes change.
///
/// `@safe`: it owns `base` (or holds the pool that owns it) for as long as it lives, and its
/// users, `ByteBuffer` and `ChunkQueue` in this module, read and write only inside
/// `0..<capacity`, each `unsafe` site saying which bounds hold.
@usableFromInline @safe
package final class ByteStorage: @unchecked Sendable {
    @usableFromInline package let base: UnsafeMutableRawPointer
    @usableFromInline package let capacity: Int
    /// Keeps pooled memory alive while this storage exists; `nil` when the storage owns `base`.
    private let poolMemory: AnyObject?

    /// Allocates `capacity` bytes of heap memory (at least one byte, so the pointer is real).
    package init(capacity: Int) {
        unsafe self.base = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
        self.capacity = capacity
        self.poolMemory = nil
    }

    /// Wraps `capacity` bytes at `base`, memory that `poolMemory` owns and keeps valid for as
    /// long as it lives; this storage holds it, so the memory outlives every buffer that uses it.
    package init(pooled base: UnsafeMutableRawPointer, capacity: Int, poolMemory: AnyObject) {
        unsafe self.base = base
        self.capacity = capacity
        self.poolMemory = poolMemory
    }

    deinit {
        // No buffer can use it any more: each one holds this storage.
        if poolMemory == nil { unsafe base.deallocate() }
    }

    package static let empty = ByteStorage(capacity: 0)
}

extension ByteStorage {
    /// Whether `storage`, held by its pool in `storage`, has no other reference: no `ByteBuffer`
    /// uses it any more, so the pool may write into it again. The acquire fence orders the
    /// last user's reads (ended by a releasing reference-count decrement) before those writes.
    package static func isOnlyHeldByItsPool(_ storage: inout ByteStorage) -> Bool {
        guard isKnownUniquelyReferenced(&storage) else { return false }
        atomicMemoryFence(ordering: .acquiring)
        return true
    }
}

extension ByteStorage {
    /// The storage in `slot` if no `ByteBuffer` uses it any more and it holds `capacity` bytes,
    /// else a new one of `allocating` bytes (at least `capacity`), kept in `slot` for next time:
    /// a single-buffer pool for a stream that receives or sends one buffer at a time.
    package static func reused(_ slot: inout ByteStorage?, capacity: Int, allocating: Int) -> ByteStorage {
        if var spare = slot, spare.capacity >= capacity {
            slot = nil
            if isOnlyHeldByItsPool(&spare) {
                slot = spare
                return spare
            }
        }
        let storage = ByteStorage(capacity: max(capacity, allocating))
        slot = storage
        return storage
    }
}
