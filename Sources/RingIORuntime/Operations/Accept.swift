#if os(Linux)
import CLiburing
import CRingIOSystem
import Glibc

/// accept(2) of one connection, close-on-exec; on a readiness backend also non-blocking (its
/// sockets must be), on io_uring blocking (the kernel drives it).
struct Accept: KernelOperation {
    let descriptor: Int32
    let interest = Interest.input

    mutating func prepare(_ sqe: UnsafeMutablePointer<io_uring_sqe>) {
        io_uring_prep_accept(sqe, descriptor, nil, nil, Int32(RINGIO_SOCK_CLOEXEC))
    }

    mutating func attempt() -> Int32 {
        let descriptor = self.descriptor
        return Syscall.attempt("accept4") { ringio_accept4(descriptor, Int32(RINGIO_SOCK_NONBLOCK) | Int32(RINGIO_SOCK_CLOEXEC)) }
    }

    /// The completion face of multishot accept (Linux 5.19+), which keeps accepting until cancelled.
    static func prepareMultishot(_ sqe: UnsafeMutablePointer<io_uring_sqe>, descriptor: Int32) {
        io_uring_prep_multishot_accept(sqe, descriptor, nil, nil, Int32(RINGIO_SOCK_CLOEXEC))
    }
}
#endif
