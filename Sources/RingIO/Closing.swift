internal import RingIORuntime

/// Runs `body`, then `close`, whether `body` returned or threw (Python's `async with`).
private func closing<R>(with close: () async -> Void, after body: () async throws -> R) async throws -> R {
    do {
        let result = try await body()
        await close()
        return result
    } catch {
        await close()
        throw error
    }
}

extension ByteStream {
    /// Runs `body` with the stream, then closes the stream whether `body` returned or threw
    /// (Python's `async with stream:`).
    public func closeAfter<R>(_ body: (Self) async throws -> R) async throws -> R {
        try await closing(with: close) { try await body(self) }
    }
}

extension SocketListener {
    /// Runs `body` with the listener, then closes it whether `body` returned or threw.
    public func closeAfter<R>(_ body: (SocketListener) async throws -> R) async throws -> R {
        try await closing(with: close) { try await body(self) }
    }
}

extension TLSListener {
    /// Runs `body` with the listener, then closes it whether `body` returned or threw.
    public func closeAfter<R>(_ body: (TLSListener) async throws -> R) async throws -> R {
        try await closing(with: close) { try await body(self) }
    }
}
