// swift-tools-version: 6.1
import PackageDescription

/// Settings shared by every RingIO target: Swift 6 language mode (strict concurrency) is the
/// package default; warnings are kept at zero by CI (`-warnings-as-errors` in `tools/test`).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "RingIO",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RingIO", targets: ["RingIO"]),
        .executable(name: "ringio", targets: ["ringio"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLiburing",
            path: "Sources/CLiburing",
            pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]
        ),
        .target(name: "CRingIOSystem"),
        .target(name: "CRingIOTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .target(name: "RingIOCore", swiftSettings: strictSettings),
        .target(
            name: "RingIORuntime",
            dependencies: ["RingIOCore", "CLiburing", "CRingIOSystem", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(name: "RingIOTLS", dependencies: ["RingIOCore", "CRingIOTLS"], swiftSettings: strictSettings),
        .target(
            name: "RingIO",
            dependencies: ["RingIOCore", "RingIORuntime", "RingIOTLS"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ringio",
            dependencies: [
                "RingIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "RingIOCoreTests", dependencies: ["RingIOCore"], swiftSettings: strictSettings),
        .testTarget(name: "RingIOTests", dependencies: ["RingIO"], swiftSettings: strictSettings),
    ],
    swiftLanguageModes: [.v6]
)
