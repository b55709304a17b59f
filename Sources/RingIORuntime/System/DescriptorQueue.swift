#if os(Linux)
/// Descriptors received over a UNIX socket (SCM_RIGHTS) that the program has not taken yet.
/// Whatever is still queued when the stream closes is closed with it. Loop-confined.
struct DescriptorQueue {
    private var descriptors: [Int32] = []

    mutating func append(_ received: [Int32]) {
        descriptors.append(contentsOf: received)
    }

    /// Removes and returns up to `max` descriptors, oldest first.
    mutating func take(max: Int) -> [Int32] {
        let count = Swift.min(max, descriptors.count)
        let taken = Array(descriptors.prefix(count))
        descriptors.removeFirst(count)
        return taken
    }

    /// Closes every queued descriptor.
    mutating func closeAll() {
        for fd in descriptors { SocketCalls.closeNow(fd) }
        descriptors.removeAll()
    }
}
#endif
