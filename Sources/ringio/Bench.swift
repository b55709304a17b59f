import ArgumentParser
import Glibc
import RingIO

/// `ringio bench`: a loopback TCP echo benchmark. The echo server runs on one runtime (pinned to
/// CPU 0) and the load generator on another (CPU 1); each connection sends a message, waits for
/// its echo and records the round-trip time, for a fixed time per configuration.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Loopback TCP echo benchmark: messages/s, MB/s and round-trip latency percentiles.")

    @Option(help: "Seconds per configuration.")
    var duration: Double = 3

    @Option(help: "Comma-separated connection counts.")
    var connections: String = "1,64,512"

    @Option(help: "Comma-separated message sizes in bytes.")
    var sizes: String = "64,4096"

    @OptionGroup var backendOption: BackendOption

    func run() async throws {
        Console.startLogging(defaultLevel: .warning)
        let connectionCounts = try Self.parseList(connections, name: "--connections")
        let messageSizes = try Self.parseList(sizes, name: "--sizes")
        guard duration > 0 && duration <= 600 else { throw ValidationError("--duration must be in (0, 600] seconds") }
        let preference = try backendOption.preference
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let placement = cpus >= 2 ? "server on CPU 0, load generator on CPU 1" : "one CPU: server and load share it"
        Console.say("ringio bench: loopback TCP echo, \(String(format2: duration)) s per configuration, \(placement)")
        Console.say(BenchReport.header)
        for size in messageSizes {
            for count in connectionCounts {
                Console.complain("running: \(preference.rawValue), \(count) connections × \(size) B for \(String(format2: duration)) s ...")
                let result = try await EchoBenchmark.measure(
                    backend: preference, connections: count, messageSize: size, duration: .milliseconds(Int(duration * 1000)),
                    pinned: cpus >= 2)
                Console.say(BenchReport.row(result))
            }
        }
    }

    static func parseList(_ text: String, name: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.filter { $0 != " " }) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("\(name) takes positive integers separated by commas, got \"\(text)\"")
        }
        return values.compactMap { $0 }
    }
}

extension String {
    /// `value` with two decimals.
    init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        self = "\(hundredths / 100).\(String(repeating: "0", count: hundredths % 100 < 10 ? 1 : 0))\(hundredths % 100)"
    }
}
