#if os(Linux)
import CRingIOSystem
import Glibc
import RingIOCore

/// The process on the other end of a UNIX stream, as the kernel saw it at connect time.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    /// The peer's process id.
    public let processID: Int32
    /// The peer's effective user id.
    public let userID: UInt32
    /// The peer's effective group id.
    public let groupID: UInt32

    init(of fd: Int32, describing what: String) throws(RingIOError) {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard ringio_peer_credentials(fd, &pid, &uid, &gid) == 0 else {
            throw RingIOError.system(errno: errno, "SO_PEERCRED on \(what)")
        }
        processID = pid
        userID = uid
        groupID = gid
    }

    public var description: String { "pid \(processID), uid \(userID), gid \(groupID)" }
}
#endif
