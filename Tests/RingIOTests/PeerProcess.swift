import Foundation
import Testing

/// A Python program run as a separate process (an ordinary peer, and one with its own descriptor
/// limit: 10,000 connections need 20,000 descriptors, more than one process may hold here).
struct PythonPeer {
    /// What the program printed and how it ended.
    struct Outcome {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Starts `python3 -c script arguments...`; the returned task ends with its outcome. Waiting
    /// happens in the termination handler, never on an event loop's thread.
    static func start(_ script: String, arguments: [String]) throws -> Task<Outcome, Never> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let finished = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { ended in
            finished.continuation.yield(ended.terminationStatus)
            finished.continuation.finish()
        }
        try process.run()
        return Task.detached {
            // Read both pipes to the end before waiting, so a chatty peer cannot fill them and stall.
            async let out = output.fileHandleForReading.readToEnd()
            async let err = errors.fileHandleForReading.readToEnd()
            let outText = String(decoding: ((try? await out) ?? nil) ?? Data(), as: UTF8.self)
            let errText = String(decoding: ((try? await err) ?? nil) ?? Data(), as: UTF8.self)
            var status: Int32 = -1
            for await value in finished.stream { status = value }
            return Outcome(status: status, output: outText, errors: errText)
        }
    }
}
