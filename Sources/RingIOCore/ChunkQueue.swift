/// Received bytes waiting to be read, in order, held so that memory follows bytes and not chunks.
///
/// A received chunk usually lives in a larger storage: a 16 KiB provided buffer, a 64 KiB epoll
/// block, a TLS record's 16 KiB. Kept as it is, every one-byte segment or record would pin its
/// whole storage, and a peer could grow the process by gigabytes with megabytes of traffic.
/// So a chunk that arrives behind other queued bytes and uses less than half its storage, or is
/// smaller than ``smallChunk``, is copied into the queue's own *tail* storage (appended after the
/// bytes already there; the original storage is released at once, and a provided buffer goes
/// back to its ring). The first chunk of an empty queue, and larger well-filled chunks, are kept
/// as they are, uncopied: a message that arrives whole, and bulk transfers, are never copied.
///
/// The first chunk stays uncopied only while someone is about to take it: an owner that lets
/// queued bytes wait (a channel with no receiver waiting, a receiver waiting for more bytes)
/// calls ``settle()``, which copies a lone small or mostly empty chunk into the tail. So an idle
/// peer's one byte does not pin a 16 KiB provided buffer while the server waits for the rest.
///
/// The bound this gives, whatever the peer's chunking: the storage capacity the queue holds is
/// at most 2 × ``count`` + 64 KiB + the largest storage a chunk arrives in (every chunk uses at
/// least half its storage, except the open tail, at most 64 KiB, and the first chunk, partly
/// consumed since it arrived). Storage arrives in at most 64 KiB for plain streams on both
/// backends and 16 KiB for TLS records; a `receiveBufferSize` configured larger raises the bound
/// to match. Each received byte is copied at most twice (into a tail, and once more if that
/// tail is sealed half empty).
///
/// Not `Sendable`: it belongs to one stream on one event loop. The tail storage is written
/// only past every range a ``ByteBuffer`` taken from it covers, so buffers already handed out
/// (and possibly read on other threads) never see their bytes change.
package struct ChunkQueue {
    /// Chunks smaller than this are always copied into the tail.
    package static let smallChunk = 4096
    /// The largest tail storage; a fresh tail starts at ``smallestTail`` and doubles.
    package static let largestTail = 65536
    package static let smallestTail = 512

    /// The queued chunks, `chunks[head...]` in order.
    package private(set) var chunks: [ByteBuffer] = []
    package private(set) var head = 0
    /// The bytes queued.
    package private(set) var count = 0
    /// The capacity of the storages the queued chunks keep alive, counted once per chunk: two
    /// chunks that are slices of one storage count it twice, so this over-states, never hides.
    package private(set) var heldCapacity = 0
    /// Whether the last chunk is the tail, which later small chunks are appended to.
    private var tailOpen = false
    /// A tail storage no longer queued, reused when no buffer refers to it any more.
    private var spareTail: ByteStorage?

    package init() {}

    /// Whether no bytes are queued.
    package var isEmpty: Bool { count == 0 }

    /// How many chunks hold the queued bytes.
    package var chunkCount: Int { chunks.count - head }

    /// Appends `chunk`. Into an empty queue it goes as it is (the common case: a message that
    /// arrives whole and is taken whole is never copied); after other bytes, it is copied into
    /// the tail when it is small or mostly empty storage, or when `copying` (its storage must go
    /// back to its pool now).
    package mutating func append(_ chunk: ByteBuffer, copying: Bool = false) {
        guard !chunk.isEmpty else { return }
        if copying || (count > 0 && !Self.isWellFilled(chunk)) {
            copyIntoTail(chunk)
            return
        }
        sealTail()
        chunks.append(chunk)
        count += chunk.count
        heldCapacity += chunk.storage.capacity
    }

    /// Called when the queued bytes will wait (nobody is about to take them): a lone first chunk
    /// that is small or mostly empty storage is copied into the tail, and its storage released.
    package mutating func settle() {
        guard chunkCount == 1, !tailOpen else { return }
        let first = chunks[head]
        guard !Self.isWellFilled(first) else { return }
        chunks.removeAll(keepingCapacity: true)
        head = 0
        count = 0
        heldCapacity = 0
        copyIntoTail(first)
    }

    /// A chunk worth keeping as it is: large, and using at least half its storage.
    private static func isWellFilled(_ chunk: ByteBuffer) -> Bool {
        chunk.count >= smallChunk && chunk.count * 2 >= chunk.storage.capacity
    }

    /// Removes and returns up to `maxBytes` bytes of the first chunk (a slice, no copy).
    package mutating func takeFromFirstChunk(maxBytes: Int) -> ByteBuffer {
        precondition(count > 0 && maxBytes > 0, "takeFromFirstChunk(maxBytes: \(maxBytes)) with \(count) bytes queued")
        let first = chunks[head]
        if first.count <= maxBytes {
            removeFirstChunk()
            return first
        }
        chunks[head] = first[maxBytes..<first.count]
        count -= maxBytes
        return first[0..<maxBytes]
    }

    /// Drops every queued byte.
    package mutating func removeAll() {
        chunks.removeAll()
        head = 0
        count = 0
        heldCapacity = 0
        tailOpen = false
        spareTail = nil
    }

    private mutating func removeFirstChunk() {
        let removed = chunks[head]
        count -= removed.count
        heldCapacity -= removed.storage.capacity
        // Drop the reference now: a consumed chunk must not keep its storage from being reused.
        chunks[head] = ByteBuffer()
        head += 1
        if head == chunks.count {
            if tailOpen {
                tailOpen = false
                spareTail = removed.storage
            }
            chunks.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 16 && head * 2 >= chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
    }

    // MARK: The tail

    private mutating func copyIntoTail(_ chunk: ByteBuffer) {
        var copied = 0
        while copied < chunk.count {
            if !tailOpen || chunks[chunks.count - 1].upper == chunks[chunks.count - 1].storage.capacity {
                openTail(forAtLeast: chunk.count - copied)
            }
            let last = chunks.count - 1
            let tail = chunks[last]
            let room = tail.storage.capacity - tail.upper
            let n = min(room, chunk.count - copied)
            // `n` is at most the tail's free room and what is left of `chunk`.
            unsafe chunk.withUnsafeBytes { source in
                if let base = source.baseAddress {
                    unsafe (tail.storage.base + tail.upper).copyMemory(from: base + copied, byteCount: n)
                }
            }
            chunks[last] = ByteBuffer(storage: tail.storage, lower: tail.lower, upper: tail.upper + n)
            copied += n
            count += n
        }
    }

    /// Starts a new tail: twice the size of a full open one (up to ``largestTail``), else just
    /// big enough for `needed` bytes (at least ``smallestTail``).
    private mutating func openTail(forAtLeast needed: Int) {
        var capacity = Self.smallestTail
        if tailOpen { capacity = min(chunks[chunks.count - 1].storage.capacity * 2, Self.largestTail) }
        while capacity < needed && capacity < Self.largestTail { capacity *= 2 }
        sealTail()
        let storage = ByteStorage.reused(&spareTail, capacity: capacity, allocating: capacity)
        spareTail = nil
        chunks.append(ByteBuffer(storage: storage, lower: 0, upper: 0))
        heldCapacity += storage.capacity
        tailOpen = true
    }

    /// Ends the open tail (a chunk that is not copied follows it). A tail left more than half
    /// empty is copied into storage of its own size, so every sealed tail uses at least half
    /// of what it holds.
    private mutating func sealTail() {
        guard tailOpen else { return }
        tailOpen = false
        let last = chunks.count - 1
        let tail = chunks[last]
        if tail.isEmpty {
            chunks.removeLast()
            heldCapacity -= tail.storage.capacity
            spareTail = tail.storage
            if head == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                head = 0
            }
            return
        }
        guard tail.count * 2 < tail.storage.capacity else { return }
        let exact = ByteBuffer(copying: tail)
        chunks[last] = exact
        heldCapacity += exact.storage.capacity - tail.storage.capacity
    }
}

extension ByteBuffer {
    /// A copy of `other` in storage of exactly its size.
    package init(copying other: ByteBuffer) {
        let storage = ByteStorage(capacity: other.count)
        // The storage holds exactly `other.count` bytes.
        unsafe other.withUnsafeBytes { source in
            if let base = source.baseAddress { unsafe storage.base.copyMemory(from: base, byteCount: source.count) }
        }
        self.init(storage: storage, lower: 0, upper: other.count)
    }
}
