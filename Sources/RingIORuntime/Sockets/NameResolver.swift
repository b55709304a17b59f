#if os(Linux)
import Dispatch
import CLiburing
import CRingIOSystem
import Glibc
import RingIOCore

/// Resolves host names with `getaddrinfo` on a Dispatch worker, so the event loop never blocks.
enum NameResolver {
    /// The stream-socket addresses of `host`, in the resolver's order.
    ///
    /// - Throws: `.nameResolutionFailed` naming the host and the resolver's reason; `CancellationError`
    ///   (the lookup itself runs on to completion in the background and its result is dropped).
    static func resolve(host: String, port: Int, passive: Bool = false) async throws -> [SocketAddress] {
        let waiter = Waiter()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiter.continuation.withLock { $0 = continuation }
                DispatchQueue.global().async {
                    let result = Result { () throws(RingIOError) in try lookup(host: host, port: port, passive: passive) }
                    waiter.continuation.withLock { $0.take() }?.resume(with: result.mapError { $0 as any Error })
                }
            }
        } onCancel: {
            waiter.continuation.withLock { $0.take() }?.resume(throwing: CancellationError())
        }
    }

    /// Whoever takes the continuation first (the lookup or the cancellation) resumes it.
    private final class Waiter: Sendable {
        let continuation = Lock<CheckedContinuation<[SocketAddress], any Error>?>(nil)
    }

    private static func lookup(host: String, port: Int, passive: Bool) throws(RingIOError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG | (passive ? AI_PASSIVE : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            let reason = String(cString: gai_strerror(status))
            throw RingIOError(.nameResolutionFailed, "resolve \"\(host)\": \(reason.prefix(1).lowercased() + reason.dropFirst())")
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            if let address = current.pointee.ai_addr, let parsed = SocketAddress(address, length: current.pointee.ai_addrlen),
                !addresses.contains(parsed)
            {
                addresses.append(parsed)
            }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            throw RingIOError(.nameResolutionFailed, "resolve \"\(host)\": no addresses")
        }
        return addresses
    }
}
#endif
