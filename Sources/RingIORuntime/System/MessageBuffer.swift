#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// The `msghdr` (with its iovec, address and SCM_RIGHTS control room) for recvmsg/sendmsg, in
/// memory that stays put while the kernel uses it. A channel owns one per direction and uses it
/// for one operation at a time. Loop-confined.
final class MessageBuffer {
    private let message: OpaquePointer
    /// The most descriptors one message carries.
    let maxDescriptors: Int

    /// - Throws: `.system` (ENOMEM) when the allocation fails.
    init(maxDescriptors: Int) throws(RingIOError) {
        guard let message = ringio_message_create(Int32(maxDescriptors)) else {
            throw RingIOError.system(errno: ENOMEM, "allocate a message buffer")
        }
        self.message = message
        self.maxDescriptors = maxDescriptors
    }

    deinit {
        ringio_message_destroy(message)
    }

    /// The `struct msghdr *` for recvmsg/sendmsg or an io_uring SQE.
    var header: UnsafeMutableRawPointer {
        guard let header = ringio_message_header(message) else {
            preconditionFailure("ringio_message_header returned NULL for a live message")
        }
        return header
    }

    /// Prepares a receive of up to `length` bytes into `buffer`.
    func prepareReceive(into buffer: UnsafeMutableRawPointer, length: Int) {
        ringio_message_prepare_receive(message, buffer, length)
    }

    /// Prepares a send of `length` bytes at `buffer` to `address` (nil: the connected peer) with `descriptors`.
    func prepareSend(from buffer: UnsafeRawPointer?, length: Int, to address: SocketAddress?, descriptors: [Int32]) throws(RingIOError) {
        guard descriptors.count <= maxDescriptors else {
            throw RingIOError(.invalidArgument, "a message carries at most \(maxDescriptors) descriptors, not \(descriptors.count)")
        }
        let result: Int32 = descriptors.withUnsafeBufferPointer { fds in
            if let address {
                return address.withSockAddr { name, nameLength in
                    ringio_message_prepare_send(message, buffer, length, name, nameLength, fds.baseAddress, Int32(fds.count))
                }
            }
            return ringio_message_prepare_send(message, buffer, length, nil, 0, fds.baseAddress, Int32(fds.count))
        }
        precondition(result == 0, "ringio_message_prepare_send rejected a checked message")
    }

    /// After a receive: the sender's address, if the kernel reported one.
    var senderAddress: SocketAddress? {
        var length: UInt32 = 0
        guard let name = ringio_message_address(message, &length), length > 0 else { return nil }
        return SocketAddress(name.assumingMemoryBound(to: sockaddr.self), length: socklen_t(length))?.unmappingIPv4
    }

    /// After a receive: the descriptors passed with it (the caller owns them).
    func receivedDescriptors() -> [Int32] {
        guard maxDescriptors > 0 else { return [] }
        return [Int32](unsafeUninitializedCapacity: maxDescriptors) { buffer, count in
            let total = Int(ringio_message_descriptors(message, buffer.baseAddress, Int32(maxDescriptors)))
            count = min(total, maxDescriptors)
        }
    }

    /// After a receive: `msg_flags` (MSG_TRUNC, MSG_CTRUNC).
    var flags: Int32 { ringio_message_flags(message) }

    /// recvmsg on a non-blocking socket; -1 and errno on failure.
    func receive(on fd: Int32, flags: Int32) -> Int {
        ringio_message_receive(fd, message, flags)
    }

    /// sendmsg on a non-blocking socket; -1 and errno on failure.
    func send(on fd: Int32, flags: Int32) -> Int {
        ringio_message_send(fd, message, flags)
    }
}
#endif
