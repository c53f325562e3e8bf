import ArgumentParser
import CRM
import Foundation
import Logging
import Platform
import Postgres

/// `nexa-bench crm-match`: the CRM module's batch matching (`People.find`: addresses normalised,
/// contacts and leads) beside one indexed `SELECT … WHERE email = ANY($1)` on contacts alone, both
/// through the same libpq wrapper, in interleaved rounds on one database.
struct CRMMatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crm-match")
    @Option var databaseURL: String
    @Option var contacts = 100_000
    @Option var leads = 10_000
    @Option var addresses = 10_000
    @Option var rounds = 7

    func run() async throws {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let db = PostgresClient(conninfo: databaseURL, maximumConnections: 1, logger: logger)
        try await Migrator(logger: logger).migrate(db)
        let workspace = UUID()
        try await db.execute("INSERT INTO workspaces (id, name) VALUES (\(workspace), 'crm-match bench')")
        try await db.execute("""
            INSERT INTO contacts (id, workspace_id, email, first_name)
            SELECT gen_random_uuid(), \(workspace), 'person' || n || '@example.com', 'P' || n FROM generate_series(1, \(contacts)) n
            """)
        try await db.execute("""
            INSERT INTO leads (id, workspace_id, email) SELECT gen_random_uuid(), \(workspace), 'person' || (n * 7) || '@example.com'
            FROM generate_series(1, \(leads)) n
            """)
        try await db.execute("ANALYZE contacts, leads")
        // Mixed case, as mail headers carry them; a tenth match nobody.
        let wanted = (0..<addresses).map { i in i % 10 == 9 ? "Nobody\(i)@Example.org" : "Person\(i * (contacts / addresses) + 1)@Example.COM" }
        let list = PostgresTextArray(wanted)

        var ours: [Double] = [], baseline: [Double] = [], matched = 0, baselineRows = 0
        let clock = ContinuousClock()
        for _ in 0..<rounds {
            let start = clock.now
            matched = try await db.withConnection { try await People.find(emails: wanted, workspace: workspace, in: $0) }.count
            ours.append((clock.now - start).inSeconds * 1000)
            let base = clock.now
            baselineRows = try await db.query("""
                SELECT id, email FROM contacts WHERE workspace_id = \(workspace) AND email = ANY(\(list)::citext[])
                """).map { (try $0.decode(UUID.self, at: 0), try $0.decode(String.self, at: 1)) }.count
            baseline.append((clock.now - base).inSeconds * 1000)
        }
        try await db.execute("DELETE FROM workspaces WHERE id = \(workspace)")
        let (o, b) = (Client.median(ours), Client.median(baseline))
        print(String(format: "crm match %d addresses against %d contacts + %d leads: People.find %.1f ms (%d matched)   SELECT … = ANY %.1f ms (%d rows)   ratio %.2fx (target <= 1.5x: %@)",
                     addresses, contacts, leads, o, matched, b, baselineRows, o / b, o / b <= 1.5 ? "met" : "NOT met"))
    }
}
