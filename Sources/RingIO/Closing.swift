internal import RingIORuntime

extension ByteStream {
    /// Runs `body` with the stream, then closes the stream whether `body` returned or threw
    /// (Python's `async with stream:`).
    public func closeAfter<R>(_ body: (Self) async throws -> R) async throws -> R {
        do {
            let result = try await body(self)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }
}

extension SocketListener {
    /// Runs `body` with the listener, then closes it whether `body` returned or threw.
    public func closeAfter<R>(_ body: (SocketListener) async throws -> R) async throws -> R {
        do {
            let result = try await body(self)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }
}
