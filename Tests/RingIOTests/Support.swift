import Glibc
import RingIO
import Testing

/// The backends every networking test runs on. A backend this machine cannot start is left out,
/// with the reason printed once.
enum TestBackends {
    static let all: [BackendPreference] = {
        var usable: [BackendPreference] = []
        for candidate in [BackendPreference.ioUring, .epoll] {
            if let reason = Runtime.unavailableReason(candidate) {
                print("RingIO tests: skipping backend \(candidate.rawValue): \(reason)")
            } else {
                usable.append(candidate)
            }
        }
        return usable
    }()
}

/// Runs `body` inside a fresh runtime on `backend`, shut down afterwards.
func withTestRuntime<T: Sendable>(_ backend: BackendPreference, _ body: @Sendable () async throws -> T) async throws -> T {
    try await RingIO.run(backend: backend, body)
}

/// Runs `body` with a connected loopback TCP pair (the accepted end, the connecting end), closing
/// both and the listener afterwards.
func withStreamPair(
    _ backend: BackendPreference, host: String = "127.0.0.1",
    _ body: @Sendable (_ server: SocketStream, _ client: SocketStream) async throws -> Void
) async throws {
    try await withTestRuntime(backend) {
        let listener = try await createTCPServer(port: 0, host: host)
        let client = try await connectTCP(host: host, port: try #require(listener.port))
        try await closingAfter(listener, server: try await listener.accept(), client: client, body)
    }
}

/// Runs `body` with the accepted and connecting ends, then closes both and the listener, whether
/// `body` threw or not.
func closingAfter(
    _ listener: SocketListener, server: SocketStream, client: SocketStream,
    _ body: @Sendable (_ server: SocketStream, _ client: SocketStream) async throws -> Void
) async throws {
    let result: Result<Void, any Error>
    do {
        result = .success(try await body(server, client))
    } catch {
        result = .failure(error)
    }
    await client.close()
    await server.close()
    await listener.close()
    try result.get()
}

/// Waits (yielding, not sleeping) until `condition` holds.
///
/// It ends when the test is cancelled too (its suite's time limit cancels it), recording an
/// issue at the caller, so a condition that never comes fails the test instead of hanging it.
func eventually(_ condition: () async -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async {
    while !(await condition()) {
        if Task.isCancelled {
            Issue.record("the awaited condition never became true before the test was cancelled", sourceLocation: sourceLocation)
            return
        }
        await Task.yield()
    }
}

/// The text of a received buffer.
func text(_ buffer: ByteBuffer) -> String { String(decoding: buffer, as: UTF8.self) }

/// The number of descriptors this process has open.
func openDescriptorCount() -> Int {
    guard let directory = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    while readdir(directory) != nil { count += 1 }
    return count - 3  // ".", ".." and the directory's own descriptor
}

/// Raises the soft descriptor limit to at least `count` (up to the hard limit).
func raiseDescriptorLimit(to count: UInt) throws {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < count {
        limit.rlim_cur = min(count, limit.rlim_max)
        try #require(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
    }
}

/// `count` bytes of a pattern with a prime period (251), so misplaced or lost bytes show.
func patternBytes(_ count: Int) -> [UInt8] {
    var bytes = (0..<251).map { UInt8($0) }
    while bytes.count < count { bytes.append(contentsOf: bytes) }
    return Array(bytes.prefix(count))
}

/// Whether `buffer` holds exactly `bytes` (memcmp: fast in debug builds too).
func sameBytes(_ buffer: ByteBuffer, _ bytes: [UInt8]) -> Bool {
    guard buffer.count == bytes.count else { return false }
    if bytes.isEmpty { return true }
    return buffer.withUnsafeBytes { received in
        bytes.withUnsafeBytes { expected in
            guard let left = received.baseAddress, let right = expected.baseAddress else { return false }
            return memcmp(left, right, bytes.count) == 0
        }
    }
}

/// Whether IPv6 loopback works on this machine.
let ipv6LoopbackAvailable: Bool = {
    let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_addr = in6addr_loopback
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
    }
}()

/// A Linux abstract socket name no other test uses.
func uniqueAbstractName() -> String {
    "@ringio-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
}

/// `count` connected loopback TCP pairs on `listener` (accepted end, connecting end), connected
/// one after another on the current runtime.
func connectedPairs(_ count: Int, to listener: SocketListener) async throws -> [(server: SocketStream, client: SocketStream)] {
    let port = try #require(listener.port)
    var pairs: [(server: SocketStream, client: SocketStream)] = []
    pairs.reserveCapacity(count)
    for _ in 0..<count {
        let client = try await connectTCP(host: "127.0.0.1", port: port)
        pairs.append((try await listener.accept(), client))
    }
    return pairs
}

/// Closes both ends of every pair.
func closeAll(_ pairs: [(server: SocketStream, client: SocketStream)]) async {
    for pair in pairs {
        await pair.client.close()
        await pair.server.close()
    }
}
