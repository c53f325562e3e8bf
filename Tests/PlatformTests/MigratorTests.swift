import Platform
import Postgres
import RPC
import TestSupport
import Testing

@Suite(.hangGuard) struct MigratorTests {
    @Test func appliesEveryMigrationOnceAndIsIdempotent() async throws {
        let db = try await TestDatabase.fresh().client
        let migrator = Migrator(logger: TestDatabase.logger)
        #expect(!migrator.migrations.isEmpty)
        let first = try await migrator.migrate(db)
        #expect(first == migrator.migrations.map(\.version))
        #expect(try await migrator.migrate(db).isEmpty)
        let recorded = try await db.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(Int.self, at: 0) }
        #expect(recorded == first)
    }

    @Test func concurrentMigratorsApplyEachMigrationExactlyOnce() async throws {
        let (url, _) = try await TestDatabase.fresh()
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<6 {
                group.addTask {
                    let client = PostgresClient(conninfo: url, maximumConnections: 1, logger: TestDatabase.logger)
                    return try await Migrator(logger: TestDatabase.logger).migrate(client)
                }
            }
            var all: [Int] = []
            for try await versions in group { all += versions }
            return all
        }
        #expect(applied.sorted() == Migrator(logger: TestDatabase.logger).migrations.map(\.version))
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        let db = try await TestDatabase.fresh().client
        let broken = Migrator(migrations: [
            .init(version: 1, name: "0001_ok", sql: "CREATE TABLE ok (n int);"),
            .init(version: 2, name: "0002_broken", sql: "CREATE TABLE half (n int); SELECT nonsense_function();"),
        ], logger: TestDatabase.logger)
        await #expect(throws: PostgresError.self) { try await broken.migrate(db) }
        let tables = try await db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").map { try $0.decode(String.self, at: 0) }
        #expect(tables == ["ok", "schema_migrations"])
    }

    @Test func everyCRMTableIsScopedByWorkspace() async throws {
        let db = try await TestDatabase.migrated().client
        let tables = try await db.query("""
            SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'
            AND table_name NOT IN ('workspaces', 'schema_migrations') ORDER BY 1
            """).map { try $0.decode(String.self, at: 0) }
        for expected in ["accounts", "activities", "alerts", "api_keys", "campaigns", "contact_list_members", "contact_lists",
                         "contacts", "deal_line_items", "deals", "leads", "meeting_attendees", "meetings", "tasks", "tickets", "users"] {
            #expect(tables.contains(expected), "missing table \(expected)")
        }
        for table in tables {
            let columns = try await db.query("""
                SELECT column_name FROM information_schema.columns WHERE table_name = \(table) AND column_name = 'workspace_id'
                """)
            #expect(columns.count == 1, "\(table) has no workspace_id")
        }
    }

    @Test func contactEmailsAreUniquePerWorkspaceIgnoringCase() async throws {
        let db = try await TestDatabase.migrated().client
        let a = try await TestDatabase.workspace(in: db), b = try await TestDatabase.workspace(in: db)
        try await db.execute("INSERT INTO contacts (id, workspace_id, email) VALUES (gen_random_uuid(), \(a), 'Ana@Example.com')")
        try await db.execute("INSERT INTO contacts (id, workspace_id, email) VALUES (gen_random_uuid(), \(b), 'ana@example.com')")
        do {
            try await db.execute("INSERT INTO contacts (id, workspace_id, email) VALUES (gen_random_uuid(), \(a), 'ANA@example.COM')")
            Issue.record("case-insensitive duplicate accepted")
        } catch let error as PostgresError {
            #expect(error.code == .uniqueViolation)
            #expect(error.rpcError.code == .alreadyExists)
        }
    }

    @Test func healthScoreIsBounded() async throws {
        let db = try await TestDatabase.migrated().client
        let w = try await TestDatabase.workspace(in: db)
        await #expect(throws: PostgresError.self) {
            try await db.execute("INSERT INTO accounts (id, workspace_id, name, normalized_name, health_score) VALUES (gen_random_uuid(), \(w), 'A', 'a', 101)")
        }
    }
}
