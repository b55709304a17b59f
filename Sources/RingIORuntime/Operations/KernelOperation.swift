#if os(Linux)
import CLiburing
import Glibc

/// What a readiness backend waits for before it attempts an operation again.
enum Interest {
    /// The descriptor has bytes, a connection or an error to read.
    case input
    /// The descriptor has room to send, or a connect finished.
    case output
}

/// One kind of kernel operation, written once, with a face for each backend.
///
/// - The completion face, ``prepare(_:)``, fills an io_uring SQE: the kernel runs the operation
///   and posts its result.
/// - The readiness face, ``attempt()``, makes the non-blocking system call itself (through
///   ``Syscall/attempt(_:_:)``); when ``wouldBlock(_:)`` says the result means "not yet", the
///   backend waits until ``descriptor`` is ready for ``interest`` and attempts again.
///
/// Both faces report a result the same way: a count or descriptor (>= 0), or a negated errno.
/// Whatever memory the kernel reads or writes is the operation's lease: it belongs to the value
/// (or to the caller, for memory the value points into), and the value lives in the suspended
/// frame of the task that performs it until the operation has completed (decision 0003).
protocol KernelOperation {
    /// The descriptor the operation names.
    var descriptor: Int32 { get }
    /// The readiness the readiness face waits for.
    var interest: Interest { get }
    /// Fills `sqe` for io_uring (the backend sets its `user_data`).
    mutating func prepare(_ sqe: UnsafeMutablePointer<io_uring_sqe>)
    /// Makes the system call once, without blocking.
    mutating func attempt() -> Int32
    /// Whether `result` of ``attempt()`` means: wait for ``interest``, then attempt again.
    func wouldBlock(_ result: Int32) -> Bool
    /// Whether `result` of ``attempt()`` shows that the descriptor had nothing more for
    /// ``interest`` when the call ran (a stream read that came back short), so an edge-triggered
    /// backend waits for the next edge before attempting again.
    func emptiedDescriptor(_ result: Int32) -> Bool
}

extension KernelOperation {
    func wouldBlock(_ result: Int32) -> Bool { result == -EAGAIN || result == -EWOULDBLOCK }
    func emptiedDescriptor(_ result: Int32) -> Bool { false }
}
#endif
