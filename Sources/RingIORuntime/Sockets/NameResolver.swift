#if os(Linux)
import Dispatch
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
                // A task cancelled before it got here ran the handler first: nothing to look up.
                let cancelled = waiter.state.withLock { state -> Bool in
                    if case .cancelled = state { return true }
                    state = .waiting(continuation)
                    return false
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                DispatchQueue.global().async {
                    let result = Result { () throws(RingIOError) in try lookup(host: host, port: port, passive: passive) }
                    waiter.take()?.resume(with: result.mapError { $0 as any Error })
                }
            }
        } onCancel: {
            waiter.take(cancelling: true)?.resume(throwing: CancellationError())
        }
    }

    /// Whoever takes the continuation first (the lookup or the cancellation) resumes it; a
    /// cancellation that comes before the continuation exists is remembered.
    private final class Waiter: Sendable {
        enum State {
            case idle
            case waiting(CheckedContinuation<[SocketAddress], any Error>)
            case cancelled
            case finished
        }
        let state = Lock<State>(.idle)

        func take(cancelling: Bool = false) -> CheckedContinuation<[SocketAddress], any Error>? {
            state.withLock { state in
                switch state {
                case .waiting(let continuation):
                    state = .finished
                    return continuation
                case .idle:
                    if cancelling { state = .cancelled }
                    return nil
                case .cancelled, .finished:
                    return nil
                }
            }
        }
    }

    private static func lookup(host: String, port: Int, passive: Bool) throws(RingIOError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(RINGIO_SOCK_STREAM)
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
