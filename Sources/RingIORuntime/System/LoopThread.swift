#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// Starts and identifies the OS threads event loops run on.
enum LoopThread {
    private final class Start {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a joinable thread named `name` (at most 15 bytes are kept) running `body`.
    ///
    /// - Parameter simulatedError: fail as if `pthread_create` returned this errno (tests).
    /// - Throws: `RingIOError` naming the thread and `pthread_create`'s error (EAGAIN when the
    ///   process or the system is out of threads, or memory for a stack).
    static func spawn(name: String, simulatedError: Int32? = nil, _ body: @escaping @Sendable () -> Void) throws(RingIOError) -> pthread_t {
        // The retained box is released by the new thread; it is the only owner from then on.
        let context = Unmanaged.passRetained(Start(body))
        var thread = pthread_t()
        let result =
            simulatedError
            ?? pthread_create(
                &thread, nil,
                { argument in
                    guard let argument else { return nil }
                    let start = Unmanaged<Start>.fromOpaque(argument).takeRetainedValue()
                    start.body()
                    return nil
                }, context.toOpaque())
        guard result == 0 else {
            context.release()
            throw RingIOError.system(errno: result, "start the thread of \(name) (pthread_create)")
        }
        return thread
    }

    /// Names the calling thread (at most 15 bytes are kept).
    static func nameCurrent(_ name: String) {
        ringio_name_thread(String(name.utf8.prefix(15)) ?? "RingIO loop")
    }

    /// Waits for `thread` to finish.
    static func join(_ thread: pthread_t) {
        _ = pthread_join(thread, nil)
    }

    /// Whether the calling thread is `thread`.
    @inline(__always)
    static func isCurrent(_ thread: pthread_t) -> Bool {
        pthread_equal(pthread_self(), thread) != 0
    }
}
#endif
