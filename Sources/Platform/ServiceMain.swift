import Foundation
public import Logging
import Metrics
import NIOPosix
public import Postgres
import Prometheus
public import RPC
import RPCNIO
public import ServiceLifecycle
import UnixSignals

/// What every service executable does: read settings, bootstrap logging and metrics, connect to
/// PostgreSQL and migrate, then serve RPC and the admin port until SIGTERM/SIGINT.
public enum ServiceMain {
    /// What a service runs beside the platform's RPC and admin servers.
    public struct Components {
        public var rpc: any ServerService
        /// Started before the RPC server and stopped after it (reverse order), e.g. writers and workers.
        public var background: [any Service]
        /// Started after the RPC server and stopped before it, e.g. a public HTTP server.
        public var frontends: [any Service]

        public init(rpc: any ServerService, background: [any Service] = [], frontends: [any Service] = []) {
            self.rpc = rpc
            self.background = background
            self.frontends = frontends
        }
    }

    public static func run(service name: String, makeService: @escaping (PostgresClient) -> any ServerService) async throws {
        try await run(service: name) { db, _, _ in Components(rpc: makeService(db)) }
    }

    public static func run(
        service name: String, components makeComponents: (PostgresClient, ServiceSettings, Logger) throws -> Components
    ) async throws {
        let settings: ServiceSettings
        do {
            settings = try ServiceSettings(service: name)
        } catch {
            FileHandle.standardError.write(Data("nexa-\(name.replacingOccurrences(of: "_", with: "-")): \(error)\n".utf8))
            exit(2)
        }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = DeferredMetadataLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "nexa.\(name)")
        logger.logLevel = level
        logger.info("starting", metadata: settings.loggable.mapValues { .string($0) })

        let db = PostgresClient(conninfo: settings.databaseURL, maximumConnections: settings.databasePoolSize, logger: logger)
        if settings.migrateOnStart {
            try await waitForDatabase(db, logger: logger)
            try await Migrator(logger: logger).migrate(db)
        }
        let components: Components
        do {
            components = try makeComponents(db, settings, logger)
        } catch {
            FileHandle.standardError.write(Data("nexa-\(name.replacingOccurrences(of: "_", with: "-")): \(error)\n".utf8))
            exit(2)
        }
        let health = HealthStatus()
        var configuration = ServerConfiguration(host: settings.rpcBindHost, port: settings.rpcPort)
        configuration.maximumBodySize = settings.maximumBodySize
        configuration.maximumInFlightPerConnection = settings.maximumInFlightPerConnection
        configuration.maximumConnections = settings.maximumConnections
        configuration.shutdownGracePeriod = settings.shutdownGracePeriod
        do {
            configuration.tls = try settings.rpcTLS()
        } catch {
            FileHandle.standardError.write(Data("nexa-\(name.replacingOccurrences(of: "_", with: "-")): \(error)\n".utf8))
            exit(2)
        }
        let server = RPCServer(
            service: components.rpc, configuration: configuration,
            authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)), health: health, logger: logger
        )
        let admin = AdminServer.make(
            host: settings.adminBindHost, port: settings.adminPort, db: db, health: health, registry: registry, logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                services: components.background.map { .init(service: $0) } + [.init(service: server)]
                    + components.frontends.map { .init(service: $0) } + [.init(service: admin)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        logger.info("stopped")
    }

    /// Start-up ordering is not guaranteed: wait up to 30 s for PostgreSQL to accept connections.
    static func waitForDatabase(_ db: PostgresClient, logger: Logger) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while true {
            do {
                try await db.query("SELECT 1")
                return
            } catch let error as PostgresError where error.code == .connectionFailed && ContinuousClock.now < deadline {
                logger.notice("waiting for the database", metadata: ["db.error": "\(error.message)"])
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}

/// A long-running loop as a lifecycle service: graceful shutdown cancels it, and the loop drains
/// what it holds before returning.
public struct BackgroundService: Service {
    public let name: String
    private let body: @Sendable () async -> Void

    public init(name: String, _ body: @escaping @Sendable () async -> Void) {
        self.name = name
        self.body = body
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }
}
