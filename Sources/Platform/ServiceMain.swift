public import Foundation
import Logging
import Metrics
import NIOPosix
public import Postgres
import Prometheus
public import RPC
import RPCNIO
import ServiceLifecycle
import UnixSignals

/// What every service executable does: read settings, bootstrap logging and metrics, connect to
/// PostgreSQL and migrate, then serve RPC and the admin port until SIGTERM/SIGINT.
public enum ServiceMain {
    public static func run(service name: String, makeService: (PostgresClient) -> any ServerService) async throws {
        let settings: ServiceSettings
        do {
            settings = try ServiceSettings(service: name)
        } catch {
            FileHandle.standardError.write(Data("nexa-\(name.replacingOccurrences(of: "_", with: "-")): \(error)\n".utf8))
            exit(2)
        }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
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
        let health = HealthStatus()
        var configuration = ServerConfiguration(host: settings.bindHost, port: settings.rpcPort)
        configuration.maximumBodySize = settings.maximumBodySize
        configuration.maximumInFlightPerConnection = settings.maximumInFlightPerConnection
        configuration.shutdownGracePeriod = settings.shutdownGracePeriod
        let server = RPCServer(
            service: makeService(db), configuration: configuration,
            authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)), health: health, logger: logger
        )
        let admin = AdminServer.make(
            host: settings.bindHost, port: settings.adminPort, db: db, health: health, registry: registry, logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server), .init(service: admin)],
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
