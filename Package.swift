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
        .library(name: "ComputeOpenAI", targets: ["ComputeOpenAI"]),
        .library(name: "SandboxBubblewrap", targets: ["SandboxBubblewrap"]),
        .library(name: "AgentNSTesting", targets: ["AgentNSTesting"]),
        .executable(name: "agentd", targets: ["agentd"]),
        .executable(name: "agentctl", targets: ["agentctl"]),
        .executable(name: "agentfs", targets: ["agentfs"]),
        .executable(name: "agentns-demo", targets: ["agentns-demo"]),
        .executable(name: "agentns-bench", targets: ["agentns-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C libraries, each reached from exactly one Swift target.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CSecp256k1", pkgConfig: "libsecp256k1", providers: [.apt(["libsecp256k1-dev"])]),
        .systemLibrary(name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),

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
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The SQLite backend of AgentStore (the only target that sees sqlite3).
        .target(name: "RuntimeSQLite", dependencies: ["Runtime", "CSQLite"], swiftSettings: swiftSettings),
        // ComputeProvider over the OpenAI chat-completions protocol (the only target that sees HTTP for compute).
        .target(
            name: "ComputeOpenAI",
            dependencies: [
                "Runtime", "Namespace",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Syscalls Swift cannot make: openat2, and the child's setup between fork and exec.
        .target(name: "CSandbox"),
        // SandboxProvider on bubblewrap, cgroups and rlimits (the only target that spawns sandboxes).
        .target(name: "SandboxBubblewrap", dependencies: ["Runtime", "Namespace", "CSandbox"], swiftSettings: swiftSettings),
        // Manual clock, temporary runtimes and test kinds for tests and benchmarks.
        .target(name: "AgentNSTesting", dependencies: ["Runtime", "RuntimeSQLite"], swiftSettings: swiftSettings),

        // The HTTP mapping of the namespace: an edge over RuntimeClient, errors from one table.
        .target(
            name: "AgentHTTP",
            dependencies: [
                "Namespace", "Services", "Runtime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The OpenAPI document, compiled in as bytes (no bundle to find at run time).
            resources: [.embedInCode("openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        // FileClient over HTTP (agentctl, and agentfs next).
        .target(
            name: "AgentClient",
            dependencies: [
                "Namespace", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The FUSE edge: one adapter over any FileClient (libfuse3 is seen only here).
        .target(name: "FUSEAdapter", dependencies: ["Namespace", "CFuse"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "agentfs",
            dependencies: [
                "FUSEAdapter", "AgentClient", "Namespace",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "agentd",
            dependencies: [
                "AgentHTTP", "Runtime", "RuntimeSQLite", "FUSEAdapter", "Namespace", "ComputeOpenAI", "SandboxBubblewrap",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "agentctl",
            dependencies: ["AgentClient", "Namespace", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "agentns-demo", dependencies: ["Runtime", "RuntimeSQLite"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "agentns-bench",
            dependencies: [
                "Runtime", "RuntimeSQLite", "AgentNSTesting", "CSQLite", "AgentHTTP", "AgentClient", "ComputeOpenAI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Child process for the kill -9 test: acknowledges envelopes on stdout as they commit.
        .executableTarget(name: "crash-writer", dependencies: ["Runtime", "RuntimeSQLite"], swiftSettings: swiftSettings),

        .testTarget(name: "NamespaceTests", dependencies: ["Namespace"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HTTPTests",
            dependencies: [
                "AgentHTTP", "AgentClient", "AgentNSTesting", "Runtime", "RuntimeSQLite",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ComputeTests",
            dependencies: [
                "ComputeOpenAI", "Runtime", "Namespace",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SandboxTests", dependencies: ["SandboxBubblewrap", "Runtime", "Namespace"], swiftSettings: swiftSettings),
        .testTarget(
            name: "Conformance",
            dependencies: ["Namespace", "Services", "Runtime", "RuntimeSQLite", "AgentNSTesting", "FUSEAdapter"],
            swiftSettings: swiftSettings
        ),
    ]
)
