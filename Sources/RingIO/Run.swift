internal import RingIORuntime

/// Starts a runtime, runs `body` on its event loop, and shuts the runtime down afterwards
/// (AnyIO's `run`). Everything `body` starts (child tasks, connections) runs on the loop.
///
/// ```swift
/// try await RingIO.run {
///     let client = try await connectTCP(host: "localhost", port: 1234)
///     ...
/// }
/// ```
///
/// - Parameters:
///   - backend: which backend to use; `.automatic` picks io_uring where it can run.
///   - body: the program; it runs with the loop as its task executor preference.
/// - Returns: what `body` returns.
/// - Throws: ``RingIOError`` `.backendUnavailable` if the backend cannot start, or what `body` throws.
public func run<T: Sendable>(backend: BackendPreference = .automatic, _ body: @Sendable () async throws -> T) async throws -> T {
    let runtime = try Runtime(backend: backend)
    let result: Result<T, any Error>
    do {
        result = .success(try await runtime.run(body))
    } catch {
        result = .failure(error)
    }
    await runtime.shutdown()
    return try result.get()
}
