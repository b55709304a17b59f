#if os(Linux)
import CLiburing
import Glibc
import RingIOCore

/// connect(2) to an address the operation owns (the kernel reads it while the connect is in
/// flight).
///
/// The readiness face runs in two steps: connect(2) itself, which on a non-blocking socket
/// answers EINPROGRESS (then the operation waits for output readiness), and after that the
/// outcome, read from SO_ERROR. EAGAIN from the first step (a UNIX listener's backlog is full,
/// which readiness never reports draining) is a result, not a wait: the caller retries later.
struct Connect: KernelOperation {
    let descriptor: Int32
    private let address: AddressStorage
    private var inProgress = false
    let interest = Interest.output

    init(_ descriptor: Int32, to address: SocketAddress) {
        self.descriptor = descriptor
        self.address = AddressStorage(address)
    }

    mutating func prepare(_ sqe: UnsafeMutablePointer<io_uring_sqe>) {
        address.storage.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            io_uring_prep_connect(sqe, descriptor, $0, address.length)
        }
    }

    mutating func attempt() -> Int32 {
        let descriptor = self.descriptor
        guard inProgress else {
            let result = address.storage.withMemoryRebound(to: sockaddr.self, capacity: 1) { [address] pointer in
                Syscall.attempt("connect") { Glibc.connect(descriptor, pointer, address.length) }
            }
            if result == -EINPROGRESS {
                inProgress = true
                return -EAGAIN
            }
            return result
        }
        var socketError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let result = Syscall.attempt("getsockopt SO_ERROR") { getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &socketError, &length) }
        if result < 0 { return result }
        return -socketError
    }

    func wouldBlock(_ result: Int32) -> Bool { inProgress && result == -EAGAIN }
}

/// A `sockaddr_storage` that stays put for as long as an operation refers to it.
final class AddressStorage {
    let storage: UnsafeMutablePointer<sockaddr_storage>
    let length: socklen_t

    init(_ address: SocketAddress) {
        storage = .allocate(capacity: 1)
        length = address.write(to: storage)
    }

    deinit { storage.deallocate() }
}
#endif
