// Echo round trips on loopback through a RingIO echo server on the same runtime, with
// package-benchmark counting mallocs (its interposer) and time:
// - 64-byte messages: allocations per round trip (target: none in steady state);
// - a 16-byte header and a 48-byte body sent as two `sendAll` calls or as one vectored
//   `sendAll([header, body])`: what gathering saves.
// Run: cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --target EchoBenchmarks
import Benchmark
import RingIO

nonisolated(unsafe) let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.mallocCountTotal, .wallClock, .throughput], maxDuration: .seconds(5))

    for backend in [BackendPreference.ioUring, .epoll] {
        Benchmark("Echo round trip, 64 B (\(backend.rawValue))", configuration: .init(scalingFactor: .kilo)) { benchmark in
            let message = ByteBuffer([UInt8](repeating: 120, count: 64))
            try await withEchoClient(backend) { client in
                try await measure(benchmark) {
                    try await client.sendAll(message)
                    blackHole(try await client.receiveExactly(64))
                }
            }
        }
        for vectored in [false, true] {
            let name = "Header 16 B + body 48 B, \(vectored ? "one vectored send" : "two sends") (\(backend.rawValue))"
            Benchmark(name, configuration: .init(scalingFactor: .kilo)) { benchmark in
                let header = ByteBuffer([UInt8](repeating: 104, count: 16))
                let body = ByteBuffer([UInt8](repeating: 98, count: 48))
                let parts = [header, body]
                try await withEchoClient(backend) { client in
                    try await measure(benchmark) {
                        if vectored {
                            try await client.sendAll(parts)
                        } else {
                            try await client.sendAll(header)
                            try await client.sendAll(body)
                        }
                        blackHole(try await client.receiveExactly(64))
                    }
                }
            }
        }
    }
}

/// Runs `exchange` 1,000 times to warm up (pools and queues reach their steady size), then once
/// per scaled iteration inside the measurement.
func measure(_ benchmark: Benchmark, _ exchange: () async throws -> Void) async throws {
    for _ in 0..<1000 { try await exchange() }
    benchmark.startMeasurement()
    for _ in benchmark.scaledIterations { try await exchange() }
    benchmark.stopMeasurement()
}

/// Runs `body` with a client connected to an echo server, both on a fresh runtime of `backend`
/// (one loop, so client and server share its thread).
func withEchoClient(_ backend: BackendPreference, _ body: (SocketStream) async throws -> Void) async throws {
    let runtime = try Runtime(backend: backend)
    try await withTaskExecutorPreference(runtime.loop) {
        let listener = try await createTCPServer(port: 0, host: "127.0.0.1")
        let client = try await connectTCP(host: "127.0.0.1", port: listener.port ?? 0)
        let server = try await listener.accept()
        let echo = Task(executorPreference: runtime.loop) {
            do {
                while true { try await server.sendAll(try await server.receiveSome(maxBytes: 65536)) }
            } catch {}
        }
        try await body(client)
        await client.close()
        _ = await echo.result
        await server.close()
        await listener.close()
    }
    await runtime.shutdown()
}
