#if os(Linux)
import CLiburing
import Glibc

/// sendmsg(2) of the `msghdr` at `header` (a ``GatherVector``'s or a ``MessageBuffer``'s),
/// whose memory and the bytes it points at the caller keeps alive until the operation completes.
struct SendMsg: KernelOperation {
    let descriptor: Int32
    let header: UnsafePointer<msghdr>
    let interest = Interest.output

    init(_ descriptor: Int32, header: UnsafeRawPointer) {
        self.descriptor = descriptor
        self.header = header.assumingMemoryBound(to: msghdr.self)
    }

    mutating func prepare(_ sqe: UnsafeMutablePointer<io_uring_sqe>) {
        io_uring_prep_sendmsg(sqe, descriptor, header, UInt32(MSG_NOSIGNAL))
    }

    mutating func attempt() -> Int32 {
        let (descriptor, header) = (self.descriptor, self.header)
        return Syscall.attempt("sendmsg") { Glibc.sendmsg(descriptor, header, Int32(MSG_NOSIGNAL)) }
    }
}
#endif
