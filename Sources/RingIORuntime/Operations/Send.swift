#if os(Linux)
import CLiburing
import Glibc

/// send(2) of `count` bytes at `base`, which the caller keeps alive and unmoved until the
/// operation completes (a `ByteBuffer` its frame holds, or a staging block).
struct Send: KernelOperation {
    let descriptor: Int32
    let base: UnsafeRawPointer
    let count: Int
    let interest = Interest.output

    mutating func prepare(_ sqe: UnsafeMutablePointer<io_uring_sqe>) {
        io_uring_prep_send(sqe, descriptor, base, count, Int32(MSG_NOSIGNAL))
    }

    mutating func attempt() -> Int32 {
        let (descriptor, base, count) = (self.descriptor, self.base, self.count)
        return Syscall.attempt("send") { Glibc.send(descriptor, base, count, Int32(MSG_NOSIGNAL)) }
    }
}
#endif
