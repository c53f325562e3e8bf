import Foundation
public import Logging
public import Postgres

/// Applies the versioned SQL files in `Migrations/` in order, each exactly once and in its own
/// transaction, under an advisory lock so concurrent migrators (several services starting at
/// once) wait for each other instead of racing.
public struct Migrator: Sendable {
    /// One migration file: `NNNN_name.sql`.
    public struct Migration: Sendable, Hashable {
        public var version: Int
        public var name: String
        public var sql: String

        public init(version: Int, name: String, sql: String) {
            self.version = version
            self.name = name
            self.sql = sql
        }
    }

    /// Arbitrary, fixed: identifies the migration lock among advisory locks.
    static let lockKey: Int64 = 0x4E45_5841_4D49_4752

    public let migrations: [Migration]
    private let logger: Logger

    public init(migrations: [Migration] = Migrator.bundled(), logger: Logger) {
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// The migrations shipped with the platform.
    public static func bundled() -> [Migration] {
        guard let folder = Bundle.module.url(forResource: "Migrations", withExtension: nil),
              let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.filter { $0.hasSuffix(".sql") }.map { folder.appendingPathComponent($0) }.compactMap { url in
            let file = url.deletingPathExtension().lastPathComponent
            guard let version = Int(file.prefix(while: \.isNumber)), let sql = try? String(contentsOf: url, encoding: .utf8) else {
                return nil
            }
            return Migration(version: version, name: file, sql: sql)
        }
    }

    /// Applies what is missing; returns the versions it applied.
    @discardableResult
    public func migrate(_ db: PostgresClient) async throws -> [Int] {
        try await db.withConnection { connection in
            try await connection.execute("SELECT pg_advisory_lock(\(Self.lockKey))")
            do {
                let applied = try await apply(on: connection)
                try await connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))")
                return applied
            } catch {
                _ = try? await connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))")
                throw error
            }
        }
    }

    private func apply(on connection: PostgresConnectionHandle) async throws -> [Int] {
        try await connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """)
        let done = Set(try await connection.query("SELECT version FROM schema_migrations").map { try $0.decode(Int.self, at: 0) })
        var applied: [Int] = []
        for migration in migrations where !done.contains(migration.version) {
            try await connection.execute("BEGIN")
            do {
                // A migration file is trusted code shipped with the service, not input.
                try await connection.executeScript(migration.sql)
                try await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
                try await connection.execute("COMMIT")
            } catch {
                _ = try? await connection.execute("ROLLBACK")
                throw error
            }
            logger.info("applied migration", metadata: ["db.migration": "\(migration.name)"])
            applied.append(migration.version)
        }
        return applied
    }
}
