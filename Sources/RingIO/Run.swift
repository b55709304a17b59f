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
///   - uring: ring and provided-buffer sizes when the backend is io_uring.
///   - body: the program; it runs with the loop as its task executor preference.
/// - Returns: what `body` returns.
/// - Throws: ``RingIOError`` `.backendUnavailable` if the backend cannot start, `.invalidArgument`
///   for an out-of-range `uring` value, or what `body` throws.
public func run<T: Sendable>(
    backend: BackendPreference = .automatic, uring: URingConfiguration = URingConfiguration(),
    _ body: @Sendable () async throws -> T
) async throws -> T {
    let runtime = try Runtime(backend: backend, uring: uring)
    let result: Result<T, any Error>
    do {
        result = .success(try await runtime.run(body))
    } catch {
        result = .failure(error)
    }
    await runtime.shutdown()
    return try result.get()
}
