public import Glibc

/// A new empty directory under /tmp, for socket files; removed, with what it holds, when the
/// test process exits.
public func temporaryDirectory() throws -> String {
    _ = removeTemporaryDirectoriesAtExit
    var template = Array("/tmp/ringio-test-\(getpid())-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
        guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
        return String(cString: result)
    }
    guard let path else { throw TemporaryDirectoryError(errno: errno) }
    return path
}

/// `mkdtemp` failed.
public struct TemporaryDirectoryError: Error, CustomStringConvertible {
    public let errno: Int32
    public var description: String { "mkdtemp in /tmp failed: \(String(cString: strerror(errno)))" }
}

/// Registers, once, the removal of this process's temporary directories at exit.
private let removeTemporaryDirectoriesAtExit: Void = {
    atexit {
        let prefix = "ringio-test-\(getpid())-"
        guard let directory = opendir("/tmp") else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = directoryEntryName(entry)
            guard name.hasPrefix(prefix) else { continue }
            removeTree("/tmp/" + name)
        }
    }
}()

/// Removes `path` and, if it is a directory, everything under it (no symbolic link is followed).
private func removeTree(_ path: String) {
    if let directory = opendir(path) {
        while let entry = readdir(directory) {
            let name = directoryEntryName(entry)
            if name == "." || name == ".." { continue }
            if entry.pointee.d_type == UInt8(DT_DIR) { removeTree(path + "/" + name) } else { unlink(path + "/" + name) }
        }
        closedir(directory)
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// The name of a `readdir` entry. Read in place: an entry is only as long as its name, so
/// copying the 256-byte `d_name` field reads past the end of the directory buffer.
public func directoryEntryName(_ entry: UnsafeMutablePointer<dirent>) -> String {
    guard let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) else { return "" }
    return String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
}
