public import Foundation
public import Logging
public import Postgres
import Platform

/// Throwaway PostgreSQL databases for tests, on the server `make test` starts
/// (`NEXA_TEST_DATABASE_URL`). Each call makes a new, empty database.
public enum TestDatabase {
    public struct Missing: Error, CustomStringConvertible {
        public var description: String {
            "NEXA_TEST_DATABASE_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL"
        }
    }

    public static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The server's URL, pointed at `database`.
    public static func url(database: String) throws -> String {
        guard let base = ProcessInfo.processInfo.environment["NEXA_TEST_DATABASE_URL"], !base.isEmpty else { throw Missing() }
        guard let slash = base.range(of: "/", options: .backwards), base[..<slash.lowerBound].contains("@") || base.contains("://") else {
            return base
        }
        return String(base[..<slash.lowerBound]) + "/" + database
    }

    /// A new empty database and a client for it.
    public static func fresh(maximumConnections: Int = 8) async throws -> (url: String, client: PostgresClient) {
        let admin = PostgresClient(conninfo: try url(database: "postgres"), maximumConnections: 1, logger: logger)
        let name = "nexa_test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        try await admin.execute(PostgresQuery(unsafeSQL: "CREATE DATABASE \(PostgresIdentifier.quote(name))"))
        let url = try url(database: name)
        return (url, PostgresClient(conninfo: url, maximumConnections: maximumConnections, logger: logger))
    }

    /// A new database with every migration applied.
    public static func migrated(maximumConnections: Int = 8) async throws -> (url: String, client: PostgresClient) {
        let db = try await fresh(maximumConnections: maximumConnections)
        try await Migrator(logger: logger).migrate(db.client)
        return db
    }

    /// A workspace with a random id in `db`.
    public static func workspace(in db: PostgresClient, name: String = "Test workspace") async throws -> UUID {
        let id = UUID()
        try await db.execute("INSERT INTO workspaces (id, name) VALUES (\(id), \(name))")
        return id
    }
}
