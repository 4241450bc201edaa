// swift-tools-version: 6.1
import PackageDescription

// The modules an NBD command runs through (the NBD codec, the core, the runtime, the activity
// log): their release builds do not check each access to a variable for an overlapping access
// at run time. The state they touch is a value or an actor's, used by one thread at a time, and
// the checks were about a tenth of the node's instructions per write (28 per write in the
// runtime, and one per dictionary lookup in every module that looks up a table:
// docs/BENCHMARKS.md). Debug builds, which the tests run, still check. They also copy their
// values field by field (`-disable-type-layout`): by default a copy of a large struct or enum
// (a node effect, an optional request id) called the type's value witness through its metadata,
// a few hundred instructions where a field copy and a retain do. The release build runs every
// node, cluster and swarm test of the test command.
let dataPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-Xfrontend", "-disable-type-layout"], .when(configuration: .release))]

let package = Package(
    name: "Lis",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lis", targets: ["lis"]),
        .library(name: "LisCore", targets: ["LisCore"]),
        .library(name: "LisSim", targets: ["LisSim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // Pure, deterministic state machines and the policy: no clocks, randomness, I/O or logging.
        .target(
            name: "LisCore",
            dependencies: [
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: dataPathSettings
        ),
        // The deterministic simulator: drives LisCore nodes on a virtual clock.
        .target(
            name: "LisSim",
            dependencies: [
                "LisCore", "LisCheck",
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // Checkers: linearizability (Wing & Gong with P-compositionality) for Jepsen and Lis
        // histories. Pure; used by the simulator, the cluster tests and `lis check`.
        .target(name: "LisCheck"),
        // The NBD protocol: handshake and transmission state machine, codec, channel handler.
        .target(
            name: "LisNBD",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: dataPathSettings
        ),
        // The peer wire: frames, the message codec and the join-secret handshake. No sockets.
        .target(
            name: "LisWire",
            dependencies: [
                "LisCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The node runtime: the only module that touches the OS (sockets, files, SQLite).
        .target(
            name: "LisNode",
            dependencies: [
                "LisCore", "LisNBD", "LisHTTP", "LisWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: dataPathSettings
        ),
        // The HTTP API and the dashboard over a node or a simulated run, as routes on interfaces.
        .target(
            name: "LisHTTP",
            dependencies: [
                "LisCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The dashboard's page, built into the binary (no files to install or find at run time).
            resources: [
                .embedInCode("Dashboard/index.html"), .embedInCode("Dashboard/dashboard.js"),
                .embedInCode("Dashboard/dashboard.css"),
            ],
            swiftSettings: dataPathSettings
        ),
        .executableTarget(
            name: "lis",
            dependencies: [
                "LisCore", "LisSim", "LisNode", "LisHTTP", "LisCheck",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .testTarget(
            name: "LisCoreTests",
            dependencies: ["LisCore", .product(name: "TOMLKit", package: "TOMLKit")]
        ),
        .testTarget(name: "LisSimTests", dependencies: ["LisSim", "LisCore"]),
        .testTarget(
            name: "LisWireTests",
            dependencies: ["LisWire", "LisCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(name: "LisCheckTests", dependencies: ["LisCheck"]),
        .testTarget(
            name: "LisNBDTests",
            dependencies: [
                "LisNBD",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "LisNodeTests",
            dependencies: [
                "LisNode", "LisCore", "LisHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
