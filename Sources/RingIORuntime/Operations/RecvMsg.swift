#if os(Linux)
import CLiburing
import CRingIOSystem
import Glibc
import RingIOCore

/// recvmsg(2) into memory the operation owns (see ``ReceiveMemory``), with the control data
/// and sender address in `message`: UNIX streams (SCM_RIGHTS, `MSG_CMSG_CLOEXEC`) and UDP
/// sockets (`MSG_TRUNC`, so the result is a datagram's full length).
struct RecvMsg: KernelOperation {
    let descriptor: Int32
    let capacity: Int
    let message: MessageBuffer
    let flags: Int32
    private var memory: ReceiveMemory
    let interest = Interest.input

    init(_ descriptor: Int32, capacity: Int, into memory: ReceiveMemory, message: MessageBuffer, flags: Int32) {
        self.descriptor = descriptor
        self.capacity = capacity
        self.memory = memory
        self.message = message
        self.flags = flags
    }

    mutating func prepare(_ sqe: UnsafeMutablePointer<io_uring_sqe>) {
        message.prepareReceive(into: memory.claim(capacity), length: capacity)
        io_uring_prep_recvmsg(sqe, descriptor, message.header.assumingMemoryBound(to: msghdr.self), UInt32(bitPattern: flags))
        memory.lendToKernel()
    }

    mutating func attempt() -> Int32 {
        message.prepareReceive(into: memory.claim(capacity), length: capacity)
        let (message, descriptor, flags) = (self.message, self.descriptor, self.flags)
        let result = Syscall.attempt("recvmsg") { message.receive(on: descriptor, flags: flags) }
        memory.settle(received: result)
        return result
    }

    /// The first `min(result, capacity)` bytes of a successful receive, without copying.
    func bytes(_ result: Int32) -> ByteBuffer? { memory.bytes(min(result, Int32(capacity))) }
}
#endif
