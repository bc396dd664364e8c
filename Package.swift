// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swiftlet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "swiftlet", targets: ["swiftlet"]),
        .executable(name: "swiftlet-monitor", targets: ["swiftlet-monitor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.25.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
    ],
    targets: [
        // C: everything between clone3 and execve, seccomp BPF building, spawn helpers.
        .target(
            name: "CShims",
            path: "CShims",
            exclude: ["monitor"],
            sources: ["src"],
            publicHeadersPath: "include",
            cSettings: [.unsafeFlags(["-O2", "-Wall", "-Wno-unused-function"])],
            linkerSettings: [.linkedLibrary("seccomp"), .linkedLibrary("cap"), .linkedLibrary("archive"), .linkedLibrary("nettle"), .linkedLibrary("z")]
        ),
        // C: one per container, outlives the agent/CLI (like conmon).
        .executableTarget(
            name: "swiftlet-monitor",
            dependencies: ["CShims"],
            path: "CShims/monitor",
            cSettings: [.unsafeFlags(["-O2", "-Wall"])]
        ),
        .target(name: "LinuxSystem", dependencies: ["CShims"]),
        .target(name: "Cgroups", dependencies: ["LinuxSystem"]),
        .target(name: "Networking", dependencies: ["CShims", "LinuxSystem"]),
        .target(name: "Runtime", dependencies: ["CShims", "LinuxSystem", "Cgroups"]),
        // Registry client, content store, layer unpack, overlay snapshots.
        .target(
            name: "Images",
            dependencies: [
                "CShims", "LinuxSystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // What every API user shares (the master, the agent, controllers): selectors, the patch
        // kinds; pure.
        .target(name: "APIMachinery", dependencies: ["LinuxSystem"]),
        // Identities and permissions: the cluster CA and certificates, service-account and
        // bootstrap tokens, RBAC and the Node authorizer's decisions; values, no I/O but key files.
        .target(
            name: "Auth",
            dependencies: [
                "LinuxSystem",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        // The API's clients (agent, scheduler, controllers): kubeconfig, REST on JSON, list+watch
        // with bookmarks, resume and relist, informers and a work queue.
        .target(
            name: "KubeClient",
            dependencies: [
                "APIMachinery", "LinuxSystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The master's revisioned key-value storage: one protocol; SQLite (GRDB) embedded, etcd v3.
        .target(
            name: "Storage",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // `swiftlet master`: resource registry, REST handlers, watches, discovery (pure over a
        // RevisionedStore, driven by tests without sockets) and its Hummingbird front end.
        .target(
            name: "APIServer",
            dependencies: [
                "APIMachinery", "Storage", "KubeModel", "LinuxSystem", "Auth",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // Kubernetes API types (Codable), Quantity, validation, defaulting: pure.
        .target(name: "KubeModel", dependencies: [.product(name: "Yams", package: "Yams")]),
        // The node agent: pod sources, pod workers, sandboxes, lifecycle, status, local API.
        .target(
            name: "Agent",
            dependencies: [
                "CShims", "LinuxSystem", "Cgroups", "Runtime", "Networking", "Images", "KubeModel", "KubeClient", "Auth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The scheduler: pods placed on the nodes that fit (filters and scores as values), bound
        // through the API.
        .target(
            name: "Scheduler",
            dependencies: ["KubeClient", "KubeModel", "LinuxSystem", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "swiftlet",
            dependencies: [
                "Scheduler",
                "Runtime",
                "Networking",
                "Images",
                "Agent",
                "KubeClient",
                "APIServer",
                "Auth",
                "Storage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "LinuxSystemTests", dependencies: ["LinuxSystem"]),
        .testTarget(name: "CgroupsTests", dependencies: ["Cgroups"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime"]),
        .testTarget(name: "NetworkingTests", dependencies: ["Networking"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images"]),
        .testTarget(name: "KubeModelTests", dependencies: ["KubeModel"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent"]),
        .testTarget(name: "APIMachineryTests", dependencies: ["APIMachinery", "LinuxSystem"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "KubeClientTests", dependencies: ["KubeClient", "APIServer", "Storage", "APIMachinery", "LinuxSystem"]),
        .testTarget(name: "AuthTests", dependencies: ["Auth", "LinuxSystem", .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "LinuxSystem"]),
        .testTarget(name: "APIServerTests", dependencies: ["APIServer", "Storage", "APIMachinery", "LinuxSystem", "Auth"]),
    ],
    swiftLanguageModes: [.v6]
)
