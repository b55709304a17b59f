import RingIOCore

/// A serial context on the main actor, for layered streams (a ``TLSStream`` over a
/// ``MemoryStream``) tested without an event loop: their state is touched only on the main
/// actor, as a loop's streams are only on its thread. Time limits are not enforced here
/// (``withTimeLimit(_:_:)`` runs its body as is); tests of deadlines use a real loop.
package final class MainActorContext: SerialContext {
    package static let shared = MainActorContext()

    private init() {}

    package nonisolated(nonsending) func confine<T>(_ body: nonisolated(nonsending) () async throws -> T) async throws -> T {
        // Unchecked, and sound: `body` and its result stay in this task, which runs `body` on the
        // main actor while the caller waits for it.
        nonisolated(unsafe) let body = body
        let result = try await Self.onMainActor { Unchecked(try await body()) }
        return result.value
    }

    @MainActor private static func onMainActor<T>(_ body: () async throws -> Unchecked<T>) async throws -> Unchecked<T> {
        try await body()
    }

    package nonisolated(nonsending) func withTimeLimit<T>(
        _ limit: Duration, _ body: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await body()
    }

    package func spawn(_ body: @escaping @Sendable () async -> Void) {
        Task { @MainActor in await body() }
    }
}

/// A value carried across the hop to the main actor and back within one task.
private struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
