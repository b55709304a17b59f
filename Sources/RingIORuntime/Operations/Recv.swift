#if os(Linux)
import CLiburing
import Glibc
import RingIOCore

/// recv(2) of at most `capacity` bytes into memory the operation owns.
///
/// The memory is chosen by ``ReceiveMemory``: a stream on io_uring gets fresh memory sized for
/// the receive (the kernel holds it while the receive waits); on epoll it is a block of the
/// loop's receive pool, taken only for the system call, so a waiting stream holds none.
struct Recv: KernelOperation {
    let descriptor: Int32
    let capacity: Int
    private var memory: ReceiveMemory
    let interest = Interest.input

    init(_ descriptor: Int32, capacity: Int, into memory: ReceiveMemory) {
        self.descriptor = descriptor
        self.capacity = capacity
        self.memory = memory
    }

    mutating func prepare(_ sqe: UnsafeMutablePointer<io_uring_sqe>) {
        io_uring_prep_recv(sqe, descriptor, memory.claim(capacity), capacity, 0)
        memory.lendToKernel()
    }

    mutating func attempt() -> Int32 {
        let base = memory.claim(capacity)
        let (descriptor, capacity) = (self.descriptor, self.capacity)
        let result = Syscall.attempt("recv") { Glibc.recv(descriptor, base, capacity, 0) }
        memory.settle(received: result)
        return result
    }

    /// A stream socket returns fewer bytes than asked only when it holds no more (recv(2) on
    /// SOCK_STREAM fills the buffer from every queued segment). Streams only: a datagram
    /// socket's short read is one datagram, with more possibly queued behind it.
    func emptiedDescriptor(_ result: Int32) -> Bool { result > 0 && Int(result) < capacity }

    /// The bytes a successful receive returned (`result` > 0), without copying.
    func bytes(_ result: Int32) -> ByteBuffer? { memory.bytes(result) }

    /// The completion face of multishot recv: it stays armed, and each completion carries a
    /// buffer of provided-buffer group `group` (there is no readiness face: epoll streams use
    /// one-shot receives, which is what multishot saves io_uring from).
    static func prepareMultishot(_ sqe: UnsafeMutablePointer<io_uring_sqe>, descriptor: Int32, group: UInt16) {
        io_uring_prep_recv_multishot(sqe, descriptor, nil, 0, 0)
        ringio_sqe_select_buffer(sqe, group)
    }
}
#endif
