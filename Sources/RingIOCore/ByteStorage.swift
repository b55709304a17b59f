/// The memory behind one or more `ByteBuffer`s.
///
/// Either heap memory this object allocated (freed in `deinit`), or memory on loan from a pool
/// (a provided buffer of an event loop), handed back to its `ByteStorageOwner` in `deinit`.
///
/// `@unchecked Sendable`: the bytes are written only before the storage is published in a
/// `ByteBuffer` and never after, and `owner.reclaim` is itself thread-safe.
@usableFromInline
package final class ByteStorage: @unchecked Sendable {
    @usableFromInline package let base: UnsafeMutableRawPointer
    @usableFromInline package let capacity: Int
    let owner: (any ByteStorageOwner)?
    let token: Int

    /// Allocates `capacity` bytes of heap memory (at least one byte, so the pointer is real).
    package init(capacity: Int) {
        self.base = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
        self.capacity = capacity
        self.owner = nil
        self.token = 0
    }

    /// Wraps memory on loan from `owner`; `reclaim(base, token)` is called when no buffer refers to it.
    package init(borrowing base: UnsafeMutableRawPointer, capacity: Int, owner: any ByteStorageOwner, token: Int) {
        self.base = base
        self.capacity = capacity
        self.owner = owner
        self.token = token
    }

    deinit {
        if let owner {
            owner.reclaim(base, token: token)
        } else {
            base.deallocate()
        }
    }

    package static let empty = ByteStorage(capacity: 0)
}

/// A pool that lends memory to `ByteStorage` and takes it back.
package protocol ByteStorageOwner: AnyObject, Sendable {
    /// Takes back the memory lent as `token`. Called from whatever thread dropped the last reference.
    func reclaim(_ base: UnsafeMutableRawPointer, token: Int)
}
