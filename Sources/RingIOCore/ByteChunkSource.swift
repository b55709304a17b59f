/// Where a ``BufferedReceiver`` gets its bytes: a socket channel, or a TLS session.
package protocol ByteChunkSource: AnyObject {
    /// Receives the next run of bytes, at most `maxBytes` (which is at least 1).
    ///
    /// - Returns: a non-empty buffer, or `nil` when the peer has finished sending.
    nonisolated(nonsending) func receiveChunk(maxBytes: Int) async throws -> ByteBuffer?
}
