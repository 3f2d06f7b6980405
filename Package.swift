// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "agentns",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Namespace", targets: ["Namespace"]),
        .library(name: "Services", targets: ["Services"]),
        .library(name: "Runtime", targets: ["Runtime"]),
        .library(name: "RuntimeSQLite", targets: ["RuntimeSQLite"]),
        .library(name: "AgentNSTesting", targets: ["AgentNSTesting"]),
        .executable(name: "agentns-demo", targets: ["agentns-demo"]),
        .executable(name: "agentns-bench", targets: ["agentns-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // C libraries, each reached from exactly one Swift target.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CSecp256k1", pkgConfig: "libsecp256k1", providers: [.apt(["libsecp256k1-dev"])]),

        // Paths, mounts, access, errors and reusable file kinds. No I/O.
        .target(name: "Namespace", swiftSettings: swiftSettings),
        // One file service per agent file tree entry, over the AgentHost protocol.
        .target(name: "Services", dependencies: ["Namespace"], swiftSettings: swiftSettings),
        // Agents, kinds, tick engine, identity; storage behind the AgentStore protocol.
        .target(
            name: "Runtime",
            dependencies: [
                "Namespace", "Services", "CSecp256k1",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The SQLite backend of AgentStore (the only target that sees sqlite3).
        .target(name: "RuntimeSQLite", dependencies: ["Runtime", "CSQLite"], swiftSettings: swiftSettings),
        // Manual clock, temporary runtimes and test kinds for tests and benchmarks.
        .target(name: "AgentNSTesting", dependencies: ["Runtime", "RuntimeSQLite"], swiftSettings: swiftSettings),

        .executableTarget(name: "agentns-demo", dependencies: ["Runtime", "RuntimeSQLite"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "agentns-bench",
            dependencies: ["Runtime", "RuntimeSQLite", "AgentNSTesting", "CSQLite"],
            swiftSettings: swiftSettings
        ),
        // Child process for the kill -9 test: acknowledges envelopes on stdout as they commit.
        .executableTarget(name: "crash-writer", dependencies: ["Runtime", "RuntimeSQLite"], swiftSettings: swiftSettings),

        .testTarget(name: "NamespaceTests", dependencies: ["Namespace"], swiftSettings: swiftSettings),
        .testTarget(
            name: "Conformance",
            dependencies: ["Namespace", "Services", "Runtime", "RuntimeSQLite", "AgentNSTesting"],
            swiftSettings: swiftSettings
        ),
    ]
)
