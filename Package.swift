// swift-tools-version: 6.2
import PackageDescription

/// Settings shared by every RingIO target: Swift 6 language mode (strict concurrency) is the
/// package default. Warnings are kept at zero by CI: `tools/test` fails when its build prints a
/// warning in `Sources/` or `Tests/` (not `-warnings-as-errors`, which would also fail on
/// warnings in dependencies' code).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The targets that hold no unsafe code of their own: the compiler checks it (SE-0458), and an
/// unsafe construct there is an error, not a warning.
let safeSettings: [SwiftSetting] =
    strictSettings + [.strictMemorySafety(), .treatWarning("StrictMemorySafety", as: .error)]

let package = Package(
    name: "RingIO",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RingIO", targets: ["RingIO"]),
        .library(name: "RingIOServiceLifecycle", targets: ["RingIOServiceLifecycle"]),
        .executable(name: "ringio", targets: ["ringio"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Only the RingIOServiceLifecycle product (and the ringio tool) use it; the RingIO library does not.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
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
        .target(name: "RingIOCore", swiftSettings: safeSettings),
        .target(
            name: "RingIORuntime",
            dependencies: ["RingIOCore", "CLiburing", "CRingIOSystem", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(name: "RingIOTLS", dependencies: ["RingIOCore", "CRingIOTLS"], swiftSettings: strictSettings),
        .target(
            name: "RingIO",
            dependencies: ["RingIOCore", "RingIORuntime", "RingIOTLS", .product(name: "Logging", package: "swift-log")],
            swiftSettings: safeSettings
        ),
        .target(
            name: "RingIOServiceLifecycle",
            dependencies: ["RingIO", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: safeSettings
        ),
        .executableTarget(
            name: "ringio",
            dependencies: [
                "RingIO",
                "RingIOServiceLifecycle",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: safeSettings
        ),
        .testTarget(name: "RingIOCoreTests", dependencies: ["RingIOCore"], swiftSettings: strictSettings),
        // Shared by the test targets: the test PKI, temporary directories, an in-memory transport.
        .target(
            name: "RingIOTestSupport", dependencies: ["RingIOCore", "RingIOTLS"], path: "Tests/RingIOTestSupport",
            swiftSettings: strictSettings),
        .testTarget(
            name: "RingIOTLSTests", dependencies: ["RingIOCore", "RingIOTLS", "RingIOTestSupport"], swiftSettings: strictSettings),
        .testTarget(
            name: "RingIOTests",
            dependencies: [
                "RingIO", "RingIOServiceLifecycle", "CLiburing", "RingIOTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RingIOServiceLifecycleTests",
            dependencies: [
                "RingIOServiceLifecycle", "RingIOTestSupport", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
