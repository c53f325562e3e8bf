import Foundation
import Gateway
import Postgres
import TestSupport
import Testing

/// The inbox on its own: what a batch stores, how batches form, and what a workspace's deletion takes.
@Suite(.hangGuard) struct WebhookInboxTests {
    static func event(_ workspace: UUID, _ id: String, headers: [String: String] = [:], body: [UInt8] = Array("{}".utf8)) -> WebhookInbox.NewEvent {
        .init(workspaceID: workspace, endpointID: "we_test", provider: .stripe, eventID: id, eventType: "invoice.paid", headers: headers, body: body)
    }

    /// Runs `body` with the inbox's writers running; stops them (draining) afterwards.
    static func running(_ inbox: WebhookInbox, _ body: () async throws -> Void) async throws {
        let writers = Task { await inbox.run() }
        defer { writers.cancel() }
        try await body()
    }

    @Test func everyFieldIsStoredExactlyAndHeadersAreValidJSON() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let inbox = WebhookInbox(db: db)
        let headers = ["stripe-signature": "t=1,v1=\"quoted\" \\ back", "x-odd": "tab\tnew\nline\u{1} é ✓"]
        let body = (0...255).map(UInt8.init)
        try await Self.running(inbox) {
            let stored = try await inbox.append(Self.event(workspace, "evt_exact", headers: headers, body: body))
            #expect(stored == .stored)
        }
        let entry = try #require(try await WebhookInbox.list(db: db, workspaceID: workspace).first)
        #expect(entry.eventID == "evt_exact" && entry.eventType == "invoice.paid" && entry.endpointID == "we_test")
        #expect(entry.body == body)
        let stored = try JSONSerialization.jsonObject(with: Data(entry.headers.utf8)) as? [String: String]
        #expect(stored == headers)
    }

    @Test func aLoneEventIsWrittenAtOnce() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        var configuration = WebhookInbox.Configuration()
        configuration.overlappingBatch = 1_000  // far more than ever waits: no waiting for company
        let inbox = WebhookInbox(db: db, configuration: configuration)
        try await Self.running(inbox) {
            // No other delivery ever comes: a writer that waited for company would never answer
            // (the suite's deadline would end the test).
            let stored = try await inbox.append(Self.event(workspace, "evt_lone"))
            #expect(stored == .stored)
        }
        #expect(try await db.query("SELECT event_id FROM webhook_inbox").map { try $0.decode(String.self, at: 0) } == ["evt_lone"])
    }

    @Test func deliveriesWaitingTogetherShareOneTransaction() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let inbox = WebhookInbox(db: db)
        try await withThrowingTaskGroup(of: WebhookInbox.Stored.self) { group in
            // 200 deliveries queue up before any writer runs (appending needs none)…
            for n in 0..<200 { group.addTask { try await inbox.append(Self.event(workspace, "evt_\(n)")) } }
            try await Wait.until("all 200 deliveries are queued") { inbox.queued == 200 }
            // …and the first writer to start takes them all (a batch holds up to 256).
            try await Self.running(inbox) {
                for try await stored in group { #expect(stored == .stored) }
            }
        }
        // A row's xmin is the transaction that wrote it.
        let (rows, transactions) = try #require(try await db.query("SELECT count(*), count(DISTINCT xmin::text) FROM webhook_inbox").first)
            .decode((Int, Int).self)
        #expect(rows == 200)
        #expect(transactions <= 3, "200 events in \(transactions) transactions")
    }

    @Test func writersWhoseConnectionsDieAnswerWithAnErrorAndRecover() async throws {
        let (url, db) = try await TestDatabase.migrated()
        let workspace = try await TestDatabase.workspace(in: db)
        let inbox = WebhookInbox(db: db)
        try await Self.running(inbox) {
            let first = try await inbox.append(Self.event(workspace, "evt_before"))
            #expect(first == .stored)
            // Every writer holds its connection between batches: end them all, as a server restart would.
            let admin = PostgresClient(conninfo: url, maximumConnections: 1, logger: TestDatabase.logger)
            try await admin.query("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                """)
            try await Wait.until("every other backend has exited") {
                try await admin.query("""
                    SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                    """).isEmpty
            }
            // A delivery meeting a dead connection is refused (the provider retries), never left hanging;
            // each writer then leases a new connection.
            var outcomes: [Bool] = []
            while outcomes.last != true && outcomes.count < 5 {
                do {
                    _ = try await inbox.append(Self.event(workspace, "evt_after_\(outcomes.count)"))
                    outcomes.append(true)
                } catch {
                    outcomes.append(false)
                }
            }
            #expect(outcomes.last == true && outcomes.count <= 3, "outcomes: \(outcomes)")
        }
        #expect(try await db.query("SELECT count(*) FROM webhook_inbox").first?.decode(Int.self, at: 0) == 2)
    }

    @Test func deletingAWorkspaceDeletesItsInboxOnly() async throws {
        let db = try await TestDatabase.migrated().client
        let doomed = try await TestDatabase.workspace(in: db), kept = try await TestDatabase.workspace(in: db)
        let inbox = WebhookInbox(db: db)
        try await Self.running(inbox) {
            for (workspace, id) in [(doomed, "evt_a"), (doomed, "evt_b"), (kept, "evt_a")] {
                let stored = try await inbox.append(Self.event(workspace, id))
                #expect(stored == .stored)
            }
        }
        try await db.execute("DELETE FROM workspaces WHERE id = \(doomed)")
        let left = try await db.query("SELECT workspace_id, event_id FROM webhook_inbox").map { try $0.decode((UUID, String).self) }
        #expect(left.count == 1 && left.first?.0 == kept)
    }

    @Test func aGatewayWhosePoolCannotSpareTheWritersRefusesToStart() async throws {
        let (url, _) = try await TestDatabase.migrated()
        var environment = ProcessInfo.processInfo.environment
        environment["NEXA_DATABASE_URL"] = url
        environment["NEXA_DB_POOL_SIZE"] = "1"
        environment["NEXA_VAULT_KEYS"] = TokenVault.generatedSpecification()
        for port in ["NEXA_GATEWAY_HTTP_PORT", "NEXA_GATEWAY_RPC_PORT", "NEXA_GATEWAY_ADMIN_PORT"] { environment[port] = "\(Processes.freePort())" }
        let (status, output) = try await Processes.run(try Processes.binary("nexa-gateway"), [], environment: environment)
        #expect(status == 2)
        #expect(output.contains("NEXA_DB_POOL_SIZE") && output.contains("at least 2"), "\(output)")
    }
}
