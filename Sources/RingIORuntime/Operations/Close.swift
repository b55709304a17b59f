#if os(Linux)
import CLiburing
import Glibc

/// close(2). On io_uring an IORING_OP_CLOSE queued behind every SQE already prepared for the
/// descriptor: the kernel issues SQEs in order, so each of those resolves the number to this
/// socket before the close frees it (a synchronous close would free the number while they still
/// sit in the submission queue, and the next socket made in the same turn would take it and
/// their bytes). On epoll nothing is queued, and closing a socket does not block (RingIO sets no
/// SO_LINGER). Linux frees the number even when close reports an error, so the result is only
/// informative. Performed with `performToCompletion`: nothing may interrupt it.
struct Close: KernelOperation {
    let descriptor: Int32
    let interest = Interest.output

    mutating func prepare(_ sqe: UnsafeMutablePointer<io_uring_sqe>) {
        io_uring_prep_close(sqe, descriptor)
    }

    mutating func attempt() -> Int32 {
        Glibc.close(descriptor) == 0 ? 0 : -errno
    }

    func wouldBlock(_ result: Int32) -> Bool { false }
}
#endif
