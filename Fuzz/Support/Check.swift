import Glibc

/// Traps with `message` when an invariant does not hold, so libFuzzer records the input as a
/// crash. `fatalError` rather than `precondition`, because an optimized build drops a
/// precondition's message and keeps `fatalError`'s.
@inline(__always)
func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { violated(message(), file: file, line: line) }
}

/// Traps with `message`: an invariant was broken.
func violated(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("fuzz invariant violated: \(message)", file: file, line: line)
}

/// Whether `RINGIO_FUZZ_TRACE` is set: the harnesses then print each step, to explain a reproducer.
let tracing = getenv("RINGIO_FUZZ_TRACE") != nil

/// Prints `message` to standard error when ``tracing``.
@inline(__always)
func trace(_ message: @autoclosure () -> String) {
    guard tracing else { return }
    let line = "trace: \(message())\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
