import RingIO

/// One benchmark configuration's measurements.
struct EchoResult {
    var backend: BackendKind
    var connections: Int
    var messageSize: Int
    var messages: Int
    var seconds: Double
    /// Round-trip times in nanoseconds, sorted.
    var latencies: [Int64]
    /// The server loop's suspensions and hops over the run (connection set-up included).
    var server = LoopStatistics()

    var messagesPerSecond: Double { Double(messages) / seconds }
    var suspensionsPerMessage: Double { messages > 0 ? Double(server.suspensions) / Double(messages) : 0 }
    var hopsPerMessage: Double { messages > 0 ? Double(server.hops) / Double(messages) : 0 }
    var megabytesPerSecond: Double { Double(messages * messageSize) / seconds / 1_000_000 }

    /// The `fraction` percentile of the round-trip time, in microseconds.
    func percentile(_ fraction: Double) -> Double {
        guard !latencies.isEmpty else { return 0 }
        let index = min(latencies.count - 1, Int((Double(latencies.count) * fraction).rounded(.down)))
        return Double(latencies[index]) / 1000
    }
}

/// Runs the echo server and the load generator on two runtimes and measures one configuration.
enum EchoBenchmark {
    static func measure(
        backend: BackendPreference, connections: Int, messageSize: Int, duration: Duration, pinned: Bool
    ) async throws -> EchoResult {
        let server = try Runtime(backend: backend, cpuAffinity: pinned ? 0 : nil)
        let load = try Runtime(backend: backend, cpuAffinity: pinned ? 1 : nil)
        let listener = try await server.run { try await createTCPServer(port: 0, host: "127.0.0.1") }
        let serving = Task { try await server.run { try await EchoService.serve(listener) } }
        let port = listener.port ?? 0
        let outcome: Result<EchoResult, any Error>
        do {
            let before = await server.statistics
            let (messages, seconds, latencies) = try await load.run {
                try await generateLoad(port: port, connections: connections, messageSize: messageSize, duration: duration)
            }
            let during = await server.statistics - before
            outcome = .success(
                EchoResult(
                    backend: load.backend, connections: connections, messageSize: messageSize, messages: messages,
                    seconds: seconds, latencies: latencies, server: during))
        } catch {
            outcome = .failure(error)
        }
        await listener.close()
        _ = await serving.result
        await load.shutdown()
        await server.shutdown()
        return try outcome.get()
    }

    /// Ping-pong on every connection until `duration` has passed; returns the message count, the
    /// elapsed seconds and the sorted round-trip times.
    private static func generateLoad(
        port: Int, connections: Int, messageSize: Int, duration: Duration
    ) async throws -> (Int, Double, [Int64]) {
        var opened: [SocketStream] = []
        for _ in 0..<connections {
            opened.append(try await connectTCP(host: "127.0.0.1", port: port))
        }
        let streams = opened
        let message = ByteBuffer([UInt8](repeating: UInt8(ascii: "x"), count: messageSize))
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + duration
        let all = try await withThrowingTaskGroup(of: [Int64]?.self) { group in
            // The watchdog bounds the run without a timer per operation: if the server stalls,
            // closing the streams ends every waiting receive with `.closedResource`.
            group.addTask {
                try? await Task.sleep(until: end + .seconds(30), clock: clock)
                if !Task.isCancelled { for stream in streams { await stream.close() } }
                return nil
            }
            for stream in streams {
                group.addTask {
                    var samples: [Int64] = []
                    samples.reserveCapacity(1 << 16)
                    while clock.now < end {
                        let sent = clock.now
                        try await stream.sendAll(message)
                        _ = try await stream.receiveExactly(messageSize)
                        let elapsed = sent.duration(to: clock.now).components
                        samples.append(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
                    }
                    return samples
                }
            }
            var merged: [Int64] = []
            var finished = 0
            while finished < streams.count, let samples = try await group.next() {
                if let samples {
                    merged.append(contentsOf: samples)
                    finished += 1
                }
            }
            group.cancelAll()
            return merged
        }
        let elapsed = start.duration(to: clock.now).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        for stream in streams { await stream.close() }
        return (all.count, seconds, all.sorted())
    }
}

/// The benchmark's table.
enum BenchReport {
    static let header =
        pad("backend", 9) + pad("conns", 7) + pad("size", 8) + pad("msgs/s", 12) + pad("MB/s", 10)
        + pad("p50 µs", 10) + pad("p99 µs", 10) + pad("p99.9 µs", 10) + pad("susp/msg", 10) + pad("hops/msg", 10)
        + "io_uring/epoll"

    /// One row; `comparison` (the epoll result of the same configuration) adds the ratio column.
    static func row(_ r: EchoResult, comparedWith comparison: EchoResult? = nil) -> String {
        var line =
            pad(r.backend.rawValue, 9) + pad("\(r.connections)", 7) + pad("\(r.messageSize) B", 8)
            + pad("\(Int(r.messagesPerSecond.rounded()))", 12) + pad(String(format2: r.megabytesPerSecond), 10)
            + pad(String(format2: r.percentile(0.5)), 10) + pad(String(format2: r.percentile(0.99)), 10)
            + pad(String(format2: r.percentile(0.999)), 10) + pad(String(format2: r.suspensionsPerMessage), 10)
            + pad(String(format2: r.hopsPerMessage), 10)
        if let other = comparison, other.messagesPerSecond > 0, other.percentile(0.99) > 0 {
            line +=
                "msgs/s \(String(format2: r.messagesPerSecond / other.messagesPerSecond))×, p99 \(String(format2: r.percentile(0.99) / other.percentile(0.99)))×"
        }
        return line
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
