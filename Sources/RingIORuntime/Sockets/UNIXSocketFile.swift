#if os(Linux)
import Glibc
import RingIOCore

/// The file a UNIX listener is bound to, remembered by device and inode so that closing the
/// listener removes it only if it is still the same file (not one a newer server bound since).
final class UNIXSocketFile: Sendable {
    let path: String
    private let device: UInt
    private let inode: UInt

    /// Records the socket file at `path` as it is now; `nil` if it cannot be read.
    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        self.path = path
        self.device = UInt(status.st_dev)
        self.inode = UInt(status.st_ino)
    }

    /// Removes the file if it is still the one recorded.
    func removeIfUnchanged() {
        var status = stat()
        guard stat(path, &status) == 0, UInt(status.st_dev) == device, UInt(status.st_ino) == inode else { return }
        unlink(path)
    }
}
#endif
