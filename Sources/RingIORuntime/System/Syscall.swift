#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// The funnel every direct system call goes through: retries EINTR, turns -1/errno into a
/// `RingIOError` that names the operation and what it was applied to.
enum Syscall {
    /// Runs `body` (a C call returning -1 and setting errno on failure), retrying on EINTR.
    ///
    /// - Parameter what: names the call and its object for the error message, e.g. `bind to [::]:80`.
    @discardableResult
    static func run(_ what: @autoclosure () -> String, _ body: () -> Int32) throws(RingIOError) -> Int32 {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw RingIOError.system(errno: code, what())
        }
    }

    /// The readiness face of an operation (see ``KernelOperation``): makes one non-blocking
    /// call, retrying on EINTR, and returns its result, or the negated errno on failure.
    ///
    /// EBADF and EFAULT stop the process: RingIO named a descriptor or memory it does not own,
    /// and going on could read or write another socket's bytes (SwiftNIO treats them the same way).
    @inline(__always)
    static func attempt<Result: BinaryInteger>(_ what: StaticString, _ body: () -> Result) -> Int32 {
        while true {
            let result = body()
            if result >= 0 { return Int32(clamping: result) }
            let code = errno
            if code == EINTR { continue }
            if code == EBADF || code == EFAULT {
                preconditionFailure(
                    "\(what) failed with \(RingIOError.errnoName(code)): RingIO used a descriptor or memory it does not own")
            }
            return -code
        }
    }
}

extension RingIOError {
    /// An error for a failed system call or kernel operation: `<what>: <reason> (<ERRNO>)`.
    static func system(errno code: Int32, _ what: String, bytesTransferred: Int? = nil) -> RingIOError {
        let reason = String(cString: strerror(code)).lowercased()
        return RingIOError(
            Self.code(forErrno: code), "\(what): \(reason) (\(errnoName(code)))", errno: code, bytesTransferred: bytesTransferred)
    }

    /// The switchable code for an errno.
    static func code(forErrno code: Int32) -> Code {
        switch code {
        case ECONNREFUSED: return .connectionRefused
        case ECONNRESET, EPIPE, ECONNABORTED: return .connectionReset
        case ETIMEDOUT, ETIME: return .timedOut
        case EADDRINUSE: return .addressInUse
        case EINVAL: return .invalidArgument
        case EBADF: return .closedResource
        default: return .system
        }
    }

    /// The symbolic name of common errnos (`ECONNREFUSED`), else `errno N`.
    static func errnoName(_ code: Int32) -> String {
        switch code {
        case ECONNREFUSED: return "ECONNREFUSED"
        case ECONNRESET: return "ECONNRESET"
        case ECONNABORTED: return "ECONNABORTED"
        case EPIPE: return "EPIPE"
        case ETIMEDOUT: return "ETIMEDOUT"
        case EHOSTUNREACH: return "EHOSTUNREACH"
        case ENETUNREACH: return "ENETUNREACH"
        case EADDRINUSE: return "EADDRINUSE"
        case EADDRNOTAVAIL: return "EADDRNOTAVAIL"
        case EAFNOSUPPORT: return "EAFNOSUPPORT"
        case EINVAL: return "EINVAL"
        case EBADF: return "EBADF"
        case EMFILE: return "EMFILE"
        case ENFILE: return "ENFILE"
        case ENOBUFS: return "ENOBUFS"
        case ENOMEM: return "ENOMEM"
        case EPERM: return "EPERM"
        case EACCES: return "EACCES"
        case ENOSYS: return "ENOSYS"
        case ECANCELED: return "ECANCELED"
        case ENOENT: return "ENOENT"
        case EMSGSIZE: return "EMSGSIZE"
        case EDESTADDRREQ: return "EDESTADDRREQ"
        case ENOTCONN: return "ENOTCONN"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        default: return "errno \(code)"
        }
    }
}
#endif
