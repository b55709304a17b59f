#if os(Linux)
import Glibc
import RingIOCore

/// A `msghdr` whose iovecs point into several ``ByteBuffer``s, so one `sendmsg` (or one
/// IORING_OP_SENDMSG) sends them all: a vectored send. The header and iovecs live in memory that
/// stays put while the kernel reads them; the buffers themselves are kept alive by the caller.
///
/// A stream channel creates one on its first vectored send and reuses it; it serves one send at
/// a time. Loop-confined.
final class GatherVector {
    /// The most iovecs one system call carries; a longer list is sent in several calls.
    static let capacity = 64

    /// The `struct msghdr *` for sendmsg or an io_uring SQE.
    let header: UnsafeMutablePointer<msghdr>
    private let vectors: UnsafeMutablePointer<iovec>

    init() {
        header = .allocate(capacity: 1)
        header.initialize(to: msghdr())
        vectors = .allocate(capacity: Self.capacity)
        vectors.initialize(repeating: iovec(), count: Self.capacity)
        header.pointee.msg_iov = vectors
    }

    deinit {
        header.deallocate()
        vectors.deallocate()
    }

    /// Points the iovecs at the unsent bytes of `buffers` from `position` on (up to
    /// ``capacity`` buffers; empty ones are skipped) and returns how many bytes they cover: 0 when
    /// everything has been sent. The buffers must stay alive until the send completes.
    func prepare(_ buffers: [ByteBuffer], from position: Position) -> Int {
        var count = 0
        var total = 0
        var index = position.index
        var offset = position.offset
        while index < buffers.count && count < Self.capacity {
            let buffer = buffers[index]
            if buffer.count > offset {
                vectors[count] = iovec(
                    iov_base: UnsafeMutableRawPointer(mutating: buffer.storageAddress + offset), iov_len: buffer.count - offset)
                total += buffer.count - offset
                count += 1
            }
            index += 1
            offset = 0
        }
        header.pointee.msg_iovlen = count
        return total
    }

    /// Where a vectored send has got to: the first buffer not yet fully sent, and how many of its
    /// bytes are.
    struct Position {
        var index = 0
        var offset = 0

        /// Moves past `sent` more bytes of `buffers`.
        mutating func advance(by sent: Int, in buffers: [ByteBuffer]) {
            var remaining = sent
            while remaining > 0 && index < buffers.count {
                let left = buffers[index].count - offset
                if remaining < left {
                    offset += remaining
                    return
                }
                remaining -= left
                index += 1
                offset = 0
            }
        }
    }
}
#endif
