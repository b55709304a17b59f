/// An owned, immutable run of bytes received from or sent to a stream.
///
/// A `ByteBuffer` may be backed by memory that belongs to an event loop's receive pool (a
/// provided buffer that the kernel filled): it then reaches you without a copy, and the memory
/// goes back to the pool when the last `ByteBuffer` that refers to it is gone. Slicing shares the
/// storage and never copies.
///
/// `ByteBuffer` is a `RandomAccessCollection` of `UInt8`, so `Array(buffer)` and
/// `String(decoding: buffer, as: UTF8.self)` work as for any byte collection.
public struct ByteBuffer: Sendable {
    @usableFromInline let storage: ByteStorage
    @usableFromInline let lower: Int
    @usableFromInline let upper: Int

    @usableFromInline
    package init(storage: ByteStorage, lower: Int, upper: Int) {
        precondition(
            0 <= lower && lower <= upper && upper <= storage.capacity,
            "ByteBuffer bounds \(lower)..<\(upper) outside storage of \(storage.capacity) bytes")
        self.storage = storage
        self.lower = lower
        self.upper = upper
    }

    /// An empty buffer.
    public init() {
        self.init(storage: ByteStorage.empty, lower: 0, upper: 0)
    }

    /// Copies `bytes` into a new buffer.
    ///
    /// - Parameter bytes: the bytes to copy; any sequence of `UInt8`.
    public init(_ bytes: some Sequence<UInt8>) {
        let array = Array(bytes)
        let storage = ByteStorage(capacity: array.count)
        // The new storage holds `array.count` bytes: the copy fits.
        unsafe array.withUnsafeBytes { source in
            unsafe storage.base.copyMemory(from: source.baseAddress ?? UnsafeRawPointer(storage.base), byteCount: source.count)
        }
        self.init(storage: storage, lower: 0, upper: array.count)
    }

    /// Copies the UTF-8 encoding of `string` into a new buffer.
    public init(_ string: String) {
        self.init(string.utf8)
    }

    /// Calls `body` with the buffer's bytes. The pointer is valid only during the call.
    @inlinable
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // `lower...upper` lies inside the storage, which this buffer keeps alive during the call.
        try unsafe body(UnsafeRawBufferPointer(start: storage.base + lower, count: upper - lower))
    }

    /// The address of the first byte. It stays valid as long as this buffer (or any buffer that
    /// shares its storage) is alive, because the storage never moves or changes: backends use
    /// it to hand the bytes to the kernel for the length of an operation the caller awaits.
    package var storageAddress: UnsafeRawPointer { unsafe UnsafeRawPointer(storage.base + lower) }

    /// The bytes as an array (a copy).
    public var bytes: [UInt8] { Array(self) }
}

extension ByteBuffer: RandomAccessCollection {
    public typealias Index = Int
    public typealias Element = UInt8
    public typealias SubSequence = ByteBuffer

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { upper - lower }
    @inlinable public var count: Int { upper - lower }

    @inlinable
    public subscript(position: Int) -> UInt8 {
        precondition(position >= 0 && position < upper - lower, "ByteBuffer index \(position) out of range 0..<\(upper - lower)")
        return unsafe storage.base.load(fromByteOffset: lower + position, as: UInt8.self)  // checked just above
    }

    /// A slice that shares this buffer's storage; its indices start again at zero.
    @inlinable
    public subscript(bounds: Range<Int>) -> ByteBuffer {
        precondition(
            bounds.lowerBound >= 0 && bounds.upperBound <= upper - lower, "ByteBuffer slice \(bounds) out of range 0..<\(upper - lower)")
        return ByteBuffer(storage: storage, lower: lower + bounds.lowerBound, upper: lower + bounds.upperBound)
    }

    @inlinable
    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        // As in `withUnsafeBytes`; the storage holds bytes only, so binding them to UInt8 is sound.
        try unsafe body(UnsafeBufferPointer(start: (storage.base + lower).assumingMemoryBound(to: UInt8.self), count: upper - lower))
    }
}

extension ByteBuffer: Equatable {
    public static func == (lhs: ByteBuffer, rhs: ByteBuffer) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return unsafe lhs.withUnsafeBytes { l in unsafe rhs.withUnsafeBytes { r in unsafe l.elementsEqual(r) } }
    }
}

extension ByteBuffer: CustomStringConvertible {
    /// A short description: the byte count and the bytes as UTF-8 (invalid sequences replaced).
    public var description: String {
        let preview = String(decoding: prefix(64), as: UTF8.self)
        return "ByteBuffer(\(count) bytes: \(preview.debugDescription)\(count > 64 ? "…" : ""))"
    }
}

extension ByteBuffer {
    /// Concatenates `parts` into one contiguous buffer (one copy); a single part is returned as is.
    package static func joining(_ parts: some Collection<ByteBuffer>, totalCount: Int) -> ByteBuffer {
        if parts.count == 1, let only = parts.first { return only }
        let storage = ByteStorage(capacity: totalCount)
        var offset = 0
        for part in parts {
            // The storage holds `totalCount`, the sum of the parts' counts: each copy fits.
            unsafe part.withUnsafeBytes { source in
                if let base = source.baseAddress {
                    unsafe (storage.base + offset).copyMemory(from: base, byteCount: source.count)
                }
            }
            offset += part.count
        }
        precondition(offset == totalCount, "joining: parts hold \(offset) bytes, expected \(totalCount)")
        return ByteBuffer(storage: storage, lower: 0, upper: totalCount)
    }
}
