#if os(Linux)
import Glibc

/// State guarded by a `pthread_mutex_t`.
///
/// RingIO uses this rather than the standard library's `Mutex` so that ThreadSanitizer, which
/// intercepts pthread locks, sees the synchronisation: with `Mutex` it reported accesses made
/// under the lock as races, drowning real reports (see docs/reliability.md).
///
/// `@unchecked Sendable`: `state` is read and written only between `pthread_mutex_lock` and
/// `pthread_mutex_unlock` on `mutex`, which lives at a fixed heap address for the lock's life.
final class Lock<State>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var state: State

    init(_ state: State) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let result = pthread_mutex_init(mutex, nil)
        precondition(result == 0, "pthread_mutex_init failed with error \(result)")
        self.state = state
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the state, holding the lock.
    func withLock<Result, Failure: Error>(_ body: (inout State) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}
#endif
