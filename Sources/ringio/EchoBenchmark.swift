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

    var messagesPerSecond: Double { Double(messages) / seconds }
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
            let (messages, seconds, latencies) = try await load.run {
                try await generateLoad(port: port, connections: connections, messageSize: messageSize, duration: duration)
            }
            outcome = .success(
                EchoResult(
                    backend: load.backend, connections: connections, messageSize: messageSize, messages: messages,
                    seconds: seconds, latencies: latencies))
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
        var streams: [SocketStream] = []
        for _ in 0..<connections {
            streams.append(try await connectTCP(host: "127.0.0.1", port: port))
        }
        let message = ByteBuffer([UInt8](repeating: UInt8(ascii: "x"), count: messageSize))
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + duration
        // Bound every wait: a stalled server ends the run with `.timedOut` instead of hanging.
        let all = try await withTimeout(duration + .seconds(30)) {
            try await withThrowingTaskGroup(of: [Int64].self) { group in
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
                for try await samples in group { merged.append(contentsOf: samples) }
                return merged
            }
        }
        let seconds = Double(start.duration(to: clock.now).components.attoseconds) / 1e18
            + Double(start.duration(to: clock.now).components.seconds)
        for stream in streams { await stream.close() }
        return (all.count, seconds, all.sorted())
    }
}

/// The benchmark's table.
enum BenchReport {
    static let header = pad("backend", 9) + pad("conns", 7) + pad("size", 8) + pad("msgs/s", 12) + pad("MB/s", 10)
        + pad("p50 µs", 10) + pad("p99 µs", 10) + "p99.9 µs"

    static func row(_ r: EchoResult) -> String {
        pad(r.backend.rawValue, 9) + pad("\(r.connections)", 7) + pad("\(r.messageSize) B", 8)
            + pad("\(Int(r.messagesPerSecond.rounded()))", 12) + pad(String(format2: r.megabytesPerSecond), 10)
            + pad(String(format2: r.percentile(0.5)), 10) + pad(String(format2: r.percentile(0.99)), 10)
            + String(format2: r.percentile(0.999))
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
