import ArgumentParser
import Glibc
import RingIO

/// `ringio bench`: a loopback TCP echo benchmark that puts io_uring and epoll side by side.
///
/// The echo server runs on one runtime (pinned to CPU 0) and the load generator on another
/// (CPU 1); each connection sends a message, waits for its echo and records the round trip, for
/// a fixed time. For every configuration the backends run in turn, round after round, so drift
/// on a shared machine hits both alike; the table reports each backend's median round.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Loopback TCP echo benchmark, io_uring versus epoll: messages/s, MB/s, round-trip latency percentiles.")

    @Option(help: "Seconds per run.")
    var duration: Double = 3

    @Option(help: "Rounds per configuration (the table shows each backend's median round by messages/s).")
    var rounds: Int = 1

    @Option(help: "Comma-separated connection counts.")
    var connections: String = "1,64,512"

    @Option(help: "Comma-separated message sizes in bytes.")
    var sizes: String = "64,4096"

    @Option(help: "Which backends to run: both, io_uring, epoll or auto.")
    var backend: String = "both"

    func run() async throws {
        Console.startLogging(defaultLevel: .warning)
        let connectionCounts = try Self.parseList(connections, name: "--connections")
        let messageSizes = try Self.parseList(sizes, name: "--sizes")
        guard duration > 0 && duration <= 600 else { throw ValidationError("--duration must be in (0, 600] seconds") }
        guard rounds >= 1 && rounds <= 100 else { throw ValidationError("--rounds must be in 1...100") }
        let backends: [BackendPreference]
        if backend == "both" {
            backends = [.ioUring, .epoll]
        } else if let single = BackendPreference(rawValue: backend) {
            backends = [single]
        } else {
            throw ValidationError("unknown backend \"\(backend)\"; use both, io_uring, epoll or auto")
        }
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let placement = cpus >= 2 ? "server on CPU 0, load generator on CPU 1" : "one CPU: server and load share it"
        Console.say("ringio bench: loopback TCP echo, \(String(format2: duration)) s per run, \(rounds) round(s), \(placement)")
        Console.say(BenchReport.header)
        let total = messageSizes.count * connectionCounts.count * rounds * backends.count
        var step = 0
        for size in messageSizes {
            for count in connectionCounts {
                var results: [BackendPreference: [EchoResult]] = [:]
                for round in 1...rounds {
                    for preference in backends {
                        step += 1
                        Console.complain(
                            "[\(step)/\(total)] \(preference.rawValue), \(count) connections × \(size) B, round \(round)/\(rounds), \(String(format2: duration)) s ..."
                        )
                        let result = try await EchoBenchmark.measure(
                            backend: preference, connections: count, messageSize: size,
                            duration: .milliseconds(Int(duration * 1000)), pinned: cpus >= 2)
                        results[preference, default: []].append(result)
                    }
                }
                let medians = backends.compactMap { results[$0].map(Self.medianRound) }
                let epoll = medians.first { $0.backend == .epoll }
                for result in medians {
                    Console.say(BenchReport.row(result, comparedWith: result.backend == .ioUring ? epoll : nil))
                }
            }
        }
    }

    /// The round with the median messages/s.
    static func medianRound(_ rounds: [EchoResult]) -> EchoResult {
        rounds.sorted { $0.messagesPerSecond < $1.messagesPerSecond }[rounds.count / 2]
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
