// Allocations per echo round trip on loopback, counted by package-benchmark's malloc
// interposer: a client and an echo server on one RingIO runtime exchange 64-byte messages.
// Run: cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --target EchoAllocations
import Benchmark
import RingIO

nonisolated(unsafe) let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.mallocCountTotal, .wallClock, .throughput], maxDuration: .seconds(5))

    for backend in [BackendPreference.ioUring, .epoll] {
        Benchmark("Echo round trip, 64 B (\(backend.rawValue))", configuration: .init(scalingFactor: .kilo)) { benchmark in
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
                let message = ByteBuffer([UInt8](repeating: 120, count: 64))
                // Warm up: pools and queues reach their steady size before measuring.
                for _ in 0..<1000 {
                    try await client.sendAll(message)
                    _ = try await client.receiveExactly(64)
                }
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    try await client.sendAll(message)
                    blackHole(try await client.receiveExactly(64))
                }
                benchmark.stopMeasurement()
                await client.close()
                _ = await echo.result
                await server.close()
                await listener.close()
            }
            await runtime.shutdown()
        }
    }
}
