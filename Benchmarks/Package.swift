// swift-tools-version: 6.1
import PackageDescription

// RingIO's benchmarks, in a package of their own so that SwiftNIO (the peer RingIO is compared
// with) and the benchmark harness never enter the library's dependency graph.
let package = Package(
    name: "RingIOBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, so the product reference below does not depend on the name of the clone's folder.
        .package(name: "RingIO", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "nio-echo-server",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "EchoBenchmarks",
            dependencies: [
                .product(name: "RingIO", package: "RingIO"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/EchoBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
