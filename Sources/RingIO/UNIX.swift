internal import RingIORuntime

/// Connects to a UNIX domain stream socket (AnyIO's `connect_unix`).
///
/// - Parameter path: the socket file's path, or `@name` for a Linux abstract name.
/// - Returns: the connected stream; it can also pass descriptors (``SocketStream/sendAll(_:descriptors:)``)
///   and tell the peer's credentials (``SocketStream/peerCredentials``).
/// - Throws: ``RingIOError``: `.invalidArgument` for a path longer than `sun_path` holds (107
///   bytes); `.system` with ENOENT when nothing is at `path`; `.connectionRefused` when no server
///   accepts on it; `CancellationError`.
public func connectUNIX(path: String) async throws -> SocketStream {
    try await UNIXSockets.connect(on: try Runtime.currentLoop(), path: path)
}

/// Creates a UNIX domain stream listener (AnyIO's `create_unix_server`). Closing it removes the
/// socket file (if it is still the one it created).
///
/// - Parameters:
///   - path: the socket file's path, or `@name` for a Linux abstract name (no file).
///   - mode: permission bits for the socket file (e.g. `0o660`), applied before listening.
///   - backlog: the kernel's queue of not-yet-accepted connections.
///   - replaceStaleSocket: when a socket file is at `path` but no server accepts on it (its
///     server died), remove it and bind anew. A live server's socket is never replaced.
/// - Throws: ``RingIOError``: `.addressInUse` naming what is in the way (a live server, a stale
///   socket file, something that is not a socket); `.invalidArgument` for a path too long.
public func createUNIXServer(
    path: String, mode: UInt32? = nil, backlog: Int = 4096, replaceStaleSocket: Bool = false
) async throws -> SocketListener {
    try await UNIXSockets.listen(
        on: try Runtime.currentLoop(), path: path, mode: mode, backlog: backlog, replaceStaleSocket: replaceStaleSocket)
}
