import ArgumentParser
import Glibc
import RingIO

/// `ringio soak`: many loopback connections exchange verified messages with an echo server in
/// the same process; resident memory and open descriptors must be the same at the end as after
/// warm-up, and every descriptor must be gone after the connections close.
struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Soak test: N connections exchange verified echo messages; memory and descriptors must stay flat.")

    @Option(help: "Concurrent connections.")
    var connections: Int = 1000

    @Option(help: "Messages in total (spread evenly over the connections).")
    var messages: Int = 1_000_000

    @Option(help: "Message size in bytes (at least 16).")
    var size: Int = 64

    @Option(help: "Give up (and fail) after this many seconds.")
    var timeLimit: Int = 600

    @Option(help: "The share of the messages sent before the baseline measurement (memory and descriptors).")
    var warmUp: Double = 0.1

    @OptionGroup var backendOption: BackendOption

    func validate() throws {
        guard connections >= 1, messages >= connections, size >= 16, timeLimit >= 1, warmUp > 0, warmUp < 1 else {
            throw ValidationError("need --connections ≥ 1, --messages ≥ --connections, --size ≥ 16, --time-limit ≥ 1")
        }
    }

    func run() async throws {
        Console.startLogging(defaultLevel: .warning)
        // Both ends live in this process: two descriptors per connection, plus some room.
        var limit = rlimit()
        // The C calls below take `&limit`/`&raised`: Swift passes a pointer to a local that
        // outlives the call, which is all they read or write.
        unsafe getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let needed = rlim_t(2 * connections + 256)
        if limit.rlim_max < needed {
            var raised = limit
            raised.rlim_max = needed
            raised.rlim_cur = needed
            // Raising the hard limit needs CAP_SYS_RESOURCE (root); otherwise say what is missing.
            if unsafe setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
                throw ValidationError(
                    "\(connections) connections need \(needed) descriptors; the hard limit is \(limit.rlim_max) (raise it with ulimit -Hn, as root)"
                )
            }
        } else {
            limit.rlim_cur = max(limit.rlim_cur, needed)
            unsafe setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let preference = try backendOption.preference
        let server = try Runtime(backend: preference, cpuAffinity: 0)
        let load = try Runtime(backend: preference, cpuAffinity: 1)
        let (connections, perConnection, size, timeLimit, warmUp) = (connections, messages / connections, size, timeLimit, warmUp)
        let listener = try await server.run { try await createTCPServer(port: 0, host: "127.0.0.1", backlog: 65535) }
        let serving = Task { try await server.run { try await EchoService.serve(listener) } }
        let clock = ContinuousClock()
        let start = clock.now
        let report = try await load.run {
            try await withTimeout(.seconds(timeLimit)) {
                try await Self.exchange(
                    port: listener.port ?? 0, connections: connections, perConnection: perConnection, size: size, warmUp: warmUp)
            }
        }
        await listener.close()
        _ = await serving.result
        let afterClose = Self.openDescriptors()
        await load.shutdown()
        await server.shutdown()
        let seconds =
            Double(start.duration(to: clock.now).components.seconds) + Double(start.duration(to: clock.now).components.attoseconds) / 1e18
        let rssGrowth = report.rssEnd - report.rssWarm
        Console.say(
            "soak: backend=\(server.backend) connections=\(connections) messages=\(report.verified) verified=\(report.verified) "
                + "seconds=\(String(format2: seconds)) rss_warm_kib=\(report.rssWarm) rss_end_kib=\(report.rssEnd) "
                + "fds_warm=\(report.descriptorsWarm) fds_end=\(report.descriptorsEnd) fds_before=\(report.descriptorsBefore) fds_after_close=\(afterClose)"
        )
        var problems: [String] = []
        if report.verified != connections * perConnection {
            problems.append("\(connections * perConnection - report.verified) messages missing")
        }
        if report.descriptorsEnd != report.descriptorsWarm {
            problems.append("descriptors changed from \(report.descriptorsWarm) to \(report.descriptorsEnd)")
        }
        if afterClose > report.descriptorsBefore {
            problems.append("\(afterClose - report.descriptorsBefore) descriptors left after closing")
        }
        // Allow allocator noise: 5% of the warm figure plus 4 MiB.
        if rssGrowth > report.rssWarm / 20 + 4096 { problems.append("resident memory grew by \(rssGrowth) KiB after warm-up") }
        if !problems.isEmpty {
            Console.complain("ringio soak: FAILED: " + problems.joined(separator: "; "))
            throw ExitCode.failure
        }
    }

    struct Report: Sendable {
        var verified = 0
        var rssWarm = 0
        var rssEnd = 0
        var descriptorsBefore = 0
        var descriptorsWarm = 0
        var descriptorsEnd = 0
    }

    /// Opens the connections, runs the warm-up share of the messages, measures, runs the rest,
    /// measures again, and closes them.
    static func exchange(port: Int, connections: Int, perConnection: Int, size: Int, warmUp fraction: Double) async throws -> Report {
        var report = Report()
        report.descriptorsBefore = openDescriptors()
        var streams: [SocketStream] = []
        for _ in 0..<connections { streams.append(try await connectTCP(host: "127.0.0.1", port: port)) }
        let warmUp = min(max(Int(Double(perConnection) * fraction), 1), perConnection - 1)
        report.verified += try await run(streams, from: 0, to: warmUp, size: size)
        report.rssWarm = residentKiB()
        report.descriptorsWarm = openDescriptors()
        report.verified += try await run(streams, from: warmUp, to: perConnection, size: size)
        report.rssEnd = residentKiB()
        report.descriptorsEnd = openDescriptors()
        for stream in streams { await stream.close() }
        return report
    }

    /// Every connection sends messages `first..<end`, each stamped with its connection and
    /// number, and checks that exactly the same bytes come back.
    static func run(_ streams: [SocketStream], from first: Int, to end: Int, size: Int) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, stream) in streams.enumerated() {
                group.addTask {
                    var verified = 0
                    var message = [UInt8](repeating: UInt8(ascii: "."), count: size)
                    for number in first..<end {
                        let stamp = Array("\(index):\(number):".utf8)
                        message.replaceSubrange(0..<min(stamp.count, size), with: stamp.prefix(size))
                        try await stream.sendAll(message)
                        let echoed = try await stream.receiveExactly(size)
                        guard echoed.elementsEqual(message) else {
                            throw RingIOError(
                                .invalidArgument, "connection \(index) message \(number): the echo differs from what was sent")
                        }
                        verified += 1
                    }
                    return verified
                }
            }
            var total = 0
            for try await count in group { total += count }
            return total
        }
    }

    // Reading /proc with stdio: the FILE is used only between fopen and the deferred fclose,
    // and fgets writes at most 256 bytes, the size of `line`.
    static func residentKiB() -> Int {
        guard let file = unsafe fopen("/proc/self/status", "r") else { return 0 }
        defer { unsafe fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while unsafe fgets(&line, 256, file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("VmRSS:") { return Int(text.filter(\.isNumber)) ?? 0 }
        }
        return 0
    }

    // The DIR is used only between opendir and the deferred closedir; the entries readdir
    // returns are not read.
    static func openDescriptors() -> Int {
        guard let directory = unsafe opendir("/proc/self/fd") else { return -1 }
        defer { unsafe closedir(directory) }
        var count = 0
        while unsafe readdir(directory) != nil { count += 1 }
        return count - 3
    }
}
