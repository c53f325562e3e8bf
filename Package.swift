// swift-tools-version:6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]
let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

/// The six domain services: (library target, executable product).
let services: [(library: String, executable: String)] = [
    ("Gateway", "nexa-gateway"),
    ("EmailCalendar", "nexa-email-calendar"),
    ("Billing", "nexa-billing"),
    ("Marketing", "nexa-marketing"),
    ("Support", "nexa-support"),
    ("DataTransfer", "nexa-data-transfer"),
]

var targets: [Target] = [
    // C libraries named by the design card, one system-library target each.
    .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
    .systemLibrary(name: "CPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
    .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

    // protoc-c output (generated, committed).
    .target(name: "CMessages", dependencies: ["CProtobufC"]),

    // RPC core: status codes, errors, deadlines, descriptors. No NIO, no C.
    .target(name: "RPC", swiftSettings: strictSettings),
    // Reads protobuf-c descriptors into Swift values (for the generator and tests).
    .target(name: "ProtoSchema", dependencies: ["CMessages", "CProtobufC"], swiftSettings: strictSettings),
    // Swift message types and service stubs over CMessages (generated) plus their small runtime.
    .target(name: "Messages", dependencies: ["CMessages", "CProtobufC", "RPC"], swiftSettings: strictSettings),
    .executableTarget(name: "nexa-protogen", dependencies: ["ProtoSchema"], swiftSettings: strictSettings),
    // TCP transport: protobuf-c-rpc framing, server, client pool.
    .target(
        name: "RPCNIO",
        dependencies: ["RPC", "Messages", "Cryptography", log, metrics, lifecycle, .product(name: "NIOSSL", package: "swift-nio-ssl")] + nio,
        swiftSettings: strictSettings
    ),

    // Safe wrappers over libpq and OpenSSL.
    .target(name: "Postgres", dependencies: ["CPQ", log] + nio, swiftSettings: strictSettings),
    .target(name: "Cryptography", dependencies: ["COpenSSL"], swiftSettings: strictSettings),
    // Outbound HTTP over libcurl, for every provider call and webhook.
    .target(name: "CurlHTTP", dependencies: ["CCurl", metrics] + nio, swiftSettings: strictSettings),

    // RFC 4180 CSV, streaming, for data transfer.
    .target(name: "CSV", swiftSettings: strictSettings),
    .testTarget(name: "CSVTests", dependencies: ["TestSupport", "CSV"], swiftSettings: strictSettings),
    // The CRM's domain, written once for every service: people by email, activities, alerts,
    // tasks, account health. Pure Swift over the Postgres wrapper.
    .target(name: "CRM", dependencies: ["Postgres"], swiftSettings: strictSettings),
    .testTarget(name: "CRMTests", dependencies: ["CRM", "Postgres", "TestSupport"], swiftSettings: strictSettings),
    // Declarative payload ↔ CRM field mapping for the domain services.
    .target(name: "DataMapping", swiftSettings: strictSettings),
    .testTarget(name: "DataMappingTests", dependencies: ["TestSupport", "DataMapping"], swiftSettings: strictSettings),

    // Uploaded and exported files: a local folder, or an S3-compatible store (SigV4 over libcurl).
    .target(name: "BlobStorage", dependencies: ["CurlHTTP", "Cryptography"] + nio, swiftSettings: strictSettings),
    .testTarget(
        name: "BlobStorageTests",
        dependencies: ["BlobStorage", "CurlHTTP", "Sandbox", "SandboxS3", "TestSupport", log, .product(name: "Hummingbird", package: "hummingbird"),
                       .product(name: "HummingbirdTesting", package: "hummingbird")] + nio,
        swiftSettings: strictSettings
    ),

    // Shared by every service: configuration, migrations, API keys, admin HTTP, the service runner.
    .target(
        name: "Platform",
        dependencies: [
            "RPC", "RPCNIO", "Messages", "Postgres", "Cryptography", log, metrics, lifecycle,
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ] + nio,
        resources: [.copy("Migrations")],
        swiftSettings: strictSettings
    ),

    .executableTarget(
        name: "nexactl",
        dependencies: ["Platform", "CRM", "Gateway", "RPC", "RPCNIO", "Messages", "Postgres", "CurlHTTP", argumentParser, log] + nio,
        swiftSettings: strictSettings
    ),
    .executableTarget(
        name: "nexa-bench",
        dependencies: ["RPC", "RPCNIO", "Messages", "CRM", "EmailCalendar", "Platform", "Postgres", argumentParser, log] + nio,
        swiftSettings: strictSettings
    ),
    .executableTarget(
        name: "nexa-fuzz",
        dependencies: ["RPCNIO", "Messages"] + nio,
        swiftSettings: strictSettings
    ),

    .target(
        name: "TestSupport",
        dependencies: ["Postgres", "Platform", log] + nio,
        path: "Tests/TestSupport",
        swiftSettings: strictSettings
    ),
    // Provider stand-ins (nexa-sandbox): a core, then one module per provider.
    .target(
        name: "Sandbox",
        dependencies: ["Cryptography", log, .product(name: "Hummingbird", package: "hummingbird")] + nio,
        swiftSettings: strictSettings
    ),
    .target(
        name: "SandboxStripe",
        dependencies: ["Sandbox", "Cryptography", "CurlHTTP", log, .product(name: "Hummingbird", package: "hummingbird")] + nio,
        swiftSettings: strictSettings
    ),
    .target(
        name: "SandboxGoogle",
        dependencies: ["Sandbox", "Cryptography", "CurlHTTP", log, .product(name: "Hummingbird", package: "hummingbird")] + nio,
        swiftSettings: strictSettings
    ),
    .target(
        name: "SandboxMicrosoft",
        dependencies: ["Sandbox", "Cryptography", "CurlHTTP", log, .product(name: "Hummingbird", package: "hummingbird")] + nio,
        swiftSettings: strictSettings
    ),
    .target(
        name: "SandboxS3",
        dependencies: ["Sandbox", "Cryptography", log, .product(name: "Hummingbird", package: "hummingbird")] + nio,
        swiftSettings: strictSettings
    ),
    .target(
        name: "SandboxSMTP",
        dependencies: ["Sandbox", log, lifecycle, .product(name: "Hummingbird", package: "hummingbird")] + nio,
        swiftSettings: strictSettings
    ),
    .executableTarget(
        name: "nexa-sandbox",
        dependencies: ["Sandbox", "SandboxStripe", "SandboxGoogle", "SandboxMicrosoft", "SandboxS3", "SandboxSMTP", argumentParser, log, lifecycle,
                       .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                       .product(name: "Hummingbird", package: "hummingbird")],
        swiftSettings: strictSettings
    ),
    .testTarget(
        name: "SandboxTests",
        dependencies: ["TestSupport", "Sandbox", "SandboxStripe", "SandboxGoogle", "SandboxMicrosoft", "SandboxSMTP", "Cryptography", "CurlHTTP", log, lifecycle,
                       .product(name: "Hummingbird", package: "hummingbird"),
                       .product(name: "HummingbirdTesting", package: "hummingbird")] + nio,
        swiftSettings: strictSettings
    ),
    .testTarget(name: "RPCTests", dependencies: ["TestSupport", "RPC"], swiftSettings: strictSettings),
    .testTarget(name: "MessagesTests", dependencies: ["TestSupport", "Messages", "ProtoSchema", "RPC"], swiftSettings: strictSettings),
    .testTarget(
        name: "RPCNIOTests",
        dependencies: ["TestSupport", "RPCNIO", "RPC", "Messages", log, lifecycle, .product(name: "NIOTestUtils", package: "swift-nio")] + nio,
        swiftSettings: strictSettings
    ),
    .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport", log] + nio, swiftSettings: strictSettings),
    .testTarget(name: "CryptographyTests", dependencies: ["Cryptography", "TestSupport"], swiftSettings: strictSettings),
    .testTarget(
        name: "CurlHTTPTests",
        dependencies: ["TestSupport", "CurlHTTP", "Sandbox", log, .product(name: "Hummingbird", package: "hummingbird"),
                       .product(name: "HummingbirdTesting", package: "hummingbird")] + nio,
        swiftSettings: strictSettings
    ),
    .testTarget(
        name: "PlatformTests",
        dependencies: ["Platform", "Postgres", "RPC", "RPCNIO", "Messages", "Cryptography", "TestSupport", log] + nio,
        swiftSettings: strictSettings
    ),
]

/// What a domain library needs beyond the platform.
let serviceDependencies: [String: [Target.Dependency]] = [
    "Billing": ["CRM", "CurlHTTP", log, lifecycle],
    "DataTransfer": ["BlobStorage", "CRM", "CSV", "CurlHTTP", log, lifecycle, .product(name: "NIOPosix", package: "swift-nio")],
    "EmailCalendar": ["CRM", "Cryptography", "CurlHTTP", "RPCNIO", log],
    "Gateway": ["BlobStorage", "CRM", "Cryptography", "CurlHTTP", "RPCNIO", log, metrics, lifecycle,
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdCore", package: "hummingbird"),
                // The webhook handler in Hummingbird's HTTP/1 pipeline speaks its HTTP parts.
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOHTTPTypes", package: "swift-nio-extras")] + nio,
]

for service in services {
    targets.append(.target(
        name: service.library,
        dependencies: ["Platform", "RPC", "Messages", "Postgres"] + (serviceDependencies[service.library] ?? []),
        swiftSettings: strictSettings
    ))
    targets.append(.executableTarget(
        name: service.executable,
        dependencies: [.target(name: service.library), "Platform", argumentParser],
        swiftSettings: strictSettings
    ))
}
targets.append(.testTarget(
    name: "DataTransferTests",
    dependencies: ["DataTransfer", "BlobStorage", "CSV", "Gateway", "SandboxSMTP", "Sandbox", "SandboxS3", "Platform", "Postgres", "RPC", "RPCNIO", "Messages", "CurlHTTP", "TestSupport", log, lifecycle,
                   .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird")] + nio,
    swiftSettings: strictSettings
))
targets.append(.testTarget(
    name: "BillingTests",
    dependencies: ["Billing", "Gateway", "Platform", "RPC", "RPCNIO", "Messages", "Postgres", "CurlHTTP", "TestSupport", "Sandbox",
                   "SandboxStripe", log, lifecycle, .product(name: "Hummingbird", package: "hummingbird"),
                   .product(name: "HummingbirdTesting", package: "hummingbird")] + nio,
    swiftSettings: strictSettings
))
targets.append(.testTarget(
    name: "GatewayTests",
    dependencies: ["Gateway", "Platform", "RPC", "RPCNIO", "Messages", "Postgres", "Cryptography", "CurlHTTP", "TestSupport", "Sandbox",
                   "SandboxGoogle", "SandboxMicrosoft", log, lifecycle,
                   .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird")] + nio,
    swiftSettings: strictSettings
))
targets.append(.testTarget(
    name: "EmailCalendarTests",
    dependencies: ["EmailCalendar", "CRM", "Gateway", "Platform", "RPC", "RPCNIO", "Messages", "Postgres", "Cryptography", "CurlHTTP", "TestSupport",
                   "Sandbox", "SandboxGoogle", "SandboxMicrosoft", log, lifecycle, .product(name: "NIOCore", package: "swift-nio"),
                   .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird")],
    swiftSettings: strictSettings
))
targets.append(.testTarget(
    name: "ServicesTests",
    dependencies: services.map { .target(name: $0.library) } + ["Platform", "RPC", "RPCNIO", "Messages", "Postgres", "TestSupport", log, lifecycle] + nio,
    swiftSettings: strictSettings
))

let package = Package(
    name: "nexa-integrations",
    platforms: [.macOS(.v15)],
    products: services.map { .executable(name: $0.executable, targets: [$0.executable]) } + [
        .executable(name: "nexactl", targets: ["nexactl"]),
        .executable(name: "nexa-bench", targets: ["nexa-bench"]),
        .executable(name: "nexa-protogen", targets: ["nexa-protogen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),  // LogHandler.log(event:)
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        // Already in Hummingbird's graph; named for the webhook handler's HTTP parts.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.20.0"),
        // Optional mutual TLS on the RPC ports (not hand-written TLS).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.27.0"),
    ],
    targets: targets
)
