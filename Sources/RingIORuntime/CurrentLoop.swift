#if os(Linux)
import Glibc

/// The event loop of the current thread, kept in thread-specific storage.
enum CurrentLoop {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let result = pthread_key_create(&key, nil)
        precondition(result == 0, "pthread_key_create failed with error \(result)")
        return key
    }()

    static func set(_ loop: EventLoop) {
        _ = pthread_setspecific(key, Unmanaged.passUnretained(loop).toOpaque())
    }

    static func clear() {
        _ = pthread_setspecific(key, nil)
    }

    static func get() -> EventLoop? {
        guard let pointer = pthread_getspecific(key) else { return nil }
        // The loop object outlives its thread: the thread's closure holds it until it returns.
        return Unmanaged<EventLoop>.fromOpaque(pointer).takeUnretainedValue()
    }
}
#endif
