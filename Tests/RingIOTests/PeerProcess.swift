import Foundation
import Glibc
import RingIOTestSupport
import Testing

/// A Python program run as a separate process (an ordinary peer, and one with its own descriptor
/// limit: 10,000 connections need 20,000 descriptors, more than one process may hold here).
///
/// Started with `posix_spawn`, not Foundation's `Process` (whose descriptor scan reads past a
/// buffer under AddressSanitizer); its output goes to files, and a thread of its own waits for
/// it, so no event loop or cooperative thread ever blocks.
struct PythonPeer {
    /// What the program printed and how it ended.
    struct Outcome {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Starts `python3 -c script arguments...`; the returned task ends with its outcome.
    static func start(_ script: String, arguments: [String]) throws -> Task<Outcome, Never> {
        let directory = try temporaryDirectory()
        let (outputPath, errorPath) = (directory + "/stdout", directory + "/stderr")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = (["python3", "-c", script] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, "python3", &actions, nil, argv, environ)
        try #require(result == 0, "posix_spawnp python3 failed: \(String(cString: strerror(result)))")
        let exited = AsyncStream<Int32>.makeStream()
        let child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            // WIFEXITED / WEXITSTATUS, which Swift does not import as functions.
            exited.continuation.yield(status & 0x7F == 0 ? (status >> 8) & 0xFF : -1)
            exited.continuation.finish()
        }
        return Task.detached {
            var status: Int32 = -1
            for await value in exited.stream { status = value }
            return Outcome(status: status, output: contents(of: outputPath), errors: contents(of: errorPath))
        }
    }

    /// The text of the file at `path` (read with Glibc: Foundation's file reading leaks a
    /// buffer per empty file under LeakSanitizer).
    private static func contents(of path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes += chunk[..<count]
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
