/// The buffered receive logic every RingIO stream shares: `receiveSome`, `receiveExactly` and
/// `receiveUntil` over a ``ByteChunkSource``, written once.
///
/// Bytes received beyond what a call returns stay buffered for the next call; slicing keeps
/// pool-backed chunks uncopied unless a result spans several chunks. Only one task may receive at
/// a time: a second one gets ``RingIOError/Code/busyResource``.
///
/// Not `Sendable`: it lives inside a stream and is used only on that stream's event loop.
///
/// Its stored properties skip the dynamic exclusivity check (`@exclusivity(unchecked)`, two
/// runtime calls per access on every receive). They are `@safe` because no access can overlap
/// another: one thread touches them, and no function holds one across a call that reaches back
/// into this object (the receive functions take the state they need and await with none held).
package final class BufferedReceiver {
    @safe @exclusivity(unchecked) private var queue = ChunkQueue()
    /// How many bytes are buffered and not yet returned.
    package var bufferedCount: Int { queue.count }
    /// How many received chunks hold the buffered bytes (tests check the compaction with it).
    package var bufferedChunkCount: Int { queue.chunkCount }
    /// The capacity of the storages the buffered bytes keep alive (bounded by ``ChunkQueue``).
    package var bufferedCapacity: Int { queue.heldCapacity }
    /// Whether a task is inside a receive call right now.
    @safe @exclusivity(unchecked) package private(set) var receiving = false
    @safe @exclusivity(unchecked) private var closed = false
    /// Names the stream in error messages, e.g. `TCP stream [::1]:8080`.
    @safe @exclusivity(unchecked) package var context: String

    package init(context: String) {
        self.context = context
    }

    /// The buffered bytes, without consuming them.
    package var bufferedData: ByteBuffer {
        ByteBuffer.joining(queue.chunks[queue.head...], totalCount: bufferedCount)
    }

    /// Takes every buffered byte out (used when a stream is upgraded, e.g. to TLS).
    package func takeBufferedData() -> ByteBuffer {
        take(bufferedCount)
    }

    /// Returns up to `maxBytes` bytes: buffered bytes if there are any, else one receive.
    ///
    /// Two synchronous steps around its one await, so its async frame holds little: an idle
    /// connection's task keeps every frame of its waiting receive alive, and a frame that also
    /// held the steps' locals would cost each idle connection a task-allocator slab.
    package nonisolated(nonsending) func receiveSome(maxBytes: Int, from source: some ByteChunkSource) async throws -> ByteBuffer {
        if let buffered = try startReceiveSome(maxBytes: maxBytes) { return buffered }
        let chunk: ByteBuffer?
        do {
            chunk = try await source.receiveChunk(maxBytes: maxBytes)
        } catch {
            receiving = false
            throw error
        }
        return try finishReceiveSome(chunk)
    }

    /// The first step of ``receiveSome(maxBytes:from:)``: checks `maxBytes` and that no other
    /// task receives, and returns buffered bytes if there are any. `nil` means: receive one
    /// chunk, then call ``finishReceiveSome(_:)``; the receiver counts as busy until then.
    private func startReceiveSome(maxBytes: Int) throws -> ByteBuffer? {
        guard maxBytes > 0 else {
            throw RingIOError(.invalidArgument, "receiveSome(maxBytes: \(maxBytes)) on \(context): maxBytes must be at least 1")
        }
        try enter("receiveSome")
        guard bufferedCount > 0 else { return nil }
        receiving = false
        return queue.takeFromFirstChunk(maxBytes: maxBytes)
    }

    /// The last step of ``receiveSome(maxBytes:from:)``, with what the source returned.
    private func finishReceiveSome(_ chunk: ByteBuffer?) throws -> ByteBuffer {
        receiving = false
        guard let chunk else {
            throw RingIOError(.endOfStream, "receiveSome on \(context): the peer closed its end of the stream")
        }
        return chunk
    }

    /// Returns exactly `count` bytes; surplus stays buffered.
    package nonisolated(nonsending) func receiveExactly(_ count: Int, from source: some ByteChunkSource) async throws -> ByteBuffer {
        guard count >= 0 else {
            throw RingIOError(.invalidArgument, "receiveExactly(\(count)) on \(context): the count must not be negative")
        }
        try enter("receiveExactly")
        defer { receiving = false }
        while bufferedCount < count {
            let empty = bufferedCount == 0
            // What is buffered waits for the rest: it must not pin a whole receive buffer.
            queue.settle()
            guard let chunk = try await source.receiveChunk(maxBytes: count - bufferedCount) else {
                throw RingIOError(
                    .incompleteRead,
                    "receiveExactly(\(count)) on \(context): the stream ended after \(bufferedCount) of \(count) bytes",
                    partialData: bufferedData)
            }
            // The whole answer in one chunk: returned as it came, without buffering or copying.
            if empty && chunk.count == count { return chunk }
            append(chunk)
        }
        return take(count)
    }

    /// Returns the bytes before the first `delimiter`, consuming the delimiter too.
    ///
    /// The delimiter counts toward `maxBytes`; a delimiter already buffered is found even beyond
    /// `maxBytes`. Bytes after the delimiter stay buffered.
    package nonisolated(nonsending) func receiveUntil(
        _ delimiter: some Collection<UInt8>, maxBytes: Int, from source: some ByteChunkSource
    ) async throws -> ByteBuffer {
        let delimiter = Array(delimiter)
        guard !delimiter.isEmpty else {
            throw RingIOError(.invalidArgument, "receiveUntil on \(context): the delimiter must not be empty")
        }
        guard maxBytes > 0 else {
            throw RingIOError(.invalidArgument, "receiveUntil(maxBytes: \(maxBytes)) on \(context): maxBytes must be at least 1")
        }
        try enter("receiveUntil")
        defer { receiving = false }
        var searchFrom = 0
        while true {
            if let index = firstIndex(of: delimiter, from: searchFrom) {
                let result = take(index)
                drop(delimiter.count)
                return result
            }
            if bufferedCount >= maxBytes {
                throw RingIOError(
                    .delimiterNotFound,
                    "receiveUntil on \(context): the delimiter was not found among the first \(maxBytes) bytes")
            }
            // What is buffered waits for the rest: it must not pin a whole receive buffer.
            queue.settle()
            guard let chunk = try await source.receiveChunk(maxBytes: maxBytes - bufferedCount) else {
                throw RingIOError(
                    .incompleteRead,
                    "receiveUntil on \(context): the stream ended after \(bufferedCount) bytes without the delimiter",
                    partialData: bufferedData)
            }
            searchFrom = max(bufferedCount - delimiter.count + 1, 0)
            append(chunk)
        }
    }

    // MARK: - Buffer management

    /// Drops the buffered bytes; every later receive throws `.closedResource`.
    package func close() {
        closed = true
        queue.removeAll()
    }

    private func enter(_ operation: String) throws {
        guard !closed else {
            throw RingIOError(.closedResource, "\(operation) on \(context): the stream is closed")
        }
        guard !receiving else {
            throw RingIOError(.busyResource, "\(operation) on \(context): another task is already receiving from this stream")
        }
        receiving = true
    }

    /// Buffers `chunk` (small or mostly empty chunks are copied, so memory follows bytes: see
    /// ``ChunkQueue``).
    package func append(_ chunk: ByteBuffer) {
        queue.append(chunk)
    }

    /// Removes and returns the first `count` buffered bytes (a slice when they lie in one chunk).
    private func take(_ count: Int) -> ByteBuffer {
        precondition(count <= bufferedCount, "take(\(count)) with only \(bufferedCount) bytes buffered")
        if count == 0 { return ByteBuffer() }
        if queue.chunks[queue.head].count >= count { return queue.takeFromFirstChunk(maxBytes: count) }
        var parts: [ByteBuffer] = []
        var remaining = count
        while remaining > 0 {
            let part = queue.takeFromFirstChunk(maxBytes: remaining)
            remaining -= part.count
            parts.append(part)
        }
        return ByteBuffer.joining(parts, totalCount: count)
    }

    private func drop(_ count: Int) {
        var remaining = count
        while remaining > 0 {
            remaining -= queue.takeFromFirstChunk(maxBytes: remaining).count
        }
    }

    /// The logical offset of the first occurrence of `delimiter` at or after `start`.
    private func firstIndex(of delimiter: [UInt8], from start: Int) -> Int? {
        let first = delimiter[0]
        let chunks = queue.chunks
        var chunkOffset = 0
        for chunkIndex in queue.head..<chunks.count {
            let chunk = chunks[chunkIndex]
            let localStart = max(start - chunkOffset, 0)
            if localStart < chunk.count {
                // Reads only `raw[i]` for `i < raw.count`, within the call.
                let hit: Int? = unsafe chunk.withUnsafeBytes { raw in
                    var i = localStart
                    while i < raw.count {
                        if unsafe raw[i] == first && matches(delimiter, in: chunks, chunkIndex: chunkIndex, offset: i) {
                            return chunkOffset + i
                        }
                        i += 1
                    }
                    return nil
                }
                if let hit { return hit }
            }
            chunkOffset += chunk.count
        }
        return nil
    }

    /// Whether `delimiter` starts at byte `offset` of chunk `chunkIndex`, possibly running into later chunks.
    private func matches(_ delimiter: [UInt8], in chunks: [ByteBuffer], chunkIndex: Int, offset: Int) -> Bool {
        var chunkIndex = chunkIndex
        var offset = offset
        for byte in delimiter {
            while offset >= chunks[chunkIndex].count {
                chunkIndex += 1
                offset = 0
                if chunkIndex == chunks.count { return false }
            }
            if chunks[chunkIndex][offset] != byte { return false }
            offset += 1
        }
        return true
    }
}
