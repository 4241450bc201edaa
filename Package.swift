// swift-tools-version: 6.1
import PackageDescription

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
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // Pure, deterministic state machines and the policy: no clocks, randomness, I/O or logging.
        .target(
            name: "LisCore",
            dependencies: [
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // The deterministic simulator: drives LisCore nodes on a virtual clock.
        .target(
            name: "LisSim",
            dependencies: [
                "LisCore",
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .executableTarget(
            name: "lis",
            dependencies: [
                "LisCore", "LisSim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "LisCoreTests",
            dependencies: ["LisCore", .product(name: "TOMLKit", package: "TOMLKit")]
        ),
        .testTarget(name: "LisSimTests", dependencies: ["LisSim", "LisCore"]),
    ],
    swiftLanguageModes: [.v6]
)
