import CRM
import Foundation
import Postgres
import TestSupport
import Testing

/// Alerts, debounced per kind and account, and tasks.
@Suite(.hangGuard) struct AlertsTests {
    static let volume = AlertKind("support_volume_test", debounce: .seconds(3600))

    @Test func aSecondAlertInsideTheWindowUpdatesTheOpenOneAndOutsideItAddsAnother() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (acme, globex) = (try await CRMFixtures.account(in: db, workspace: workspace), try await CRMFixtures.account(in: db, workspace: workspace, name: "Globex"))
        func raise(_ account: UUID, _ ticket: String) async throws -> Alerts.Outcome {
            try await db.withConnection { tx in
                try await Alerts.raise(NewAlert(kind: Self.volume, severity: .normal, message: "High support volume: ticket \(ticket)", account: account,
                                                details: ["ticket": ticket]), workspace: workspace, in: tx)
            }
        }
        let first = try await raise(acme, "1")
        guard case .raised = first else { Issue.record("the first alert is raised: \(first)"); return }
        #expect(try await raise(acme, "2") == .debounced(first.id, occurrences: 2))
        #expect(try await raise(acme, "3") == .debounced(first.id, occurrences: 3))
        guard case .raised = try await raise(globex, "4") else { Issue.record("another account's alert stands alone"); return }
        let open = try await db.query("SELECT occurrences, message, data->>'ticket' FROM alerts WHERE id = \(first.id)")[0]
        #expect(try open.decode(Int.self, at: 0) == 3)
        #expect(try open.decode(String.self, at: 1) == "High support volume: ticket 3" && open.decode(String.self, at: 2) == "3", "the latest cause")

        // The window is counted from the open alert's first occurrence.
        try await db.execute("UPDATE alerts SET created_at = now() - interval '61 minutes' WHERE id = \(first.id)")
        let later = try await raise(acme, "5")
        guard case .raised = later else { Issue.record("outside the window a new alert is raised: \(later)"); return }
        // A resolved alert is not reopened.
        try await db.execute("UPDATE alerts SET resolved_at = now() WHERE id = \(later.id)")
        guard case .raised = try await raise(acme, "6") else { Issue.record("a resolved alert is not updated"); return }
        #expect(try await db.query("SELECT 1 FROM alerts WHERE kind = 'support_volume_test'").count == 4)
    }

    @Test func concurrentRaisesOfOneDebouncedAlertCountOnOneAlert() async throws {
        let db = try await TestDatabase.migrated(maximumConnections: 8).client
        let workspace = try await TestDatabase.workspace(in: db)
        let account = try await CRMFixtures.account(in: db, workspace: workspace)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for n in 0..<5 {
                        _ = try await db.withTransaction { tx in
                            try await Alerts.raise(NewAlert(kind: Self.volume, severity: .normal, message: "ticket \(writer)-\(n)", account: account),
                                                   workspace: workspace, in: tx)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let rows = try await db.query("SELECT occurrences FROM alerts WHERE account_id = \(account)")
        #expect(rows.count == 1)
        #expect(try rows.first?.decode(Int.self, at: 0) == 40)
    }

    @Test func kindsWithoutAWindowAlwaysRaiseAndTasksCarryTheirFields() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let account = try await CRMFixtures.account(in: db, workspace: workspace)
        for _ in 0..<2 {
            _ = try await db.withConnection { try await Alerts.raise(NewAlert(kind: .paymentFailed, severity: .urgent, message: "failed", account: account),
                                                                     workspace: workspace, in: $0) }
        }
        #expect(try await db.query("SELECT 1 FROM alerts WHERE kind = 'payment_failed' AND severity = 'urgent' AND data = '{}'").count == 2)

        let task = try await db.withConnection {
            try await FollowUps.create(FollowUp(kind: "payment_recovery", title: "Recover", priority: .urgent, dueInDays: 2, account: account),
                                       workspace: workspace, in: $0)
        }
        let row = try await db.query("SELECT kind, priority, due_date - current_date, account_id, status FROM tasks WHERE id = \(task)")[0]
        #expect(try row.decode(String.self, at: 0) == "payment_recovery" && row.decode(String.self, at: 1) == "urgent")
        #expect(try row.decode(Int.self, at: 2) == 2 && row.decode(UUID.self, at: 3) == account && row.decode(String.self, at: 4) == "open")
        let undated = try await db.withConnection { try await FollowUps.create(FollowUp(kind: "call", title: "Call"), workspace: workspace, in: $0) }
        #expect(try await db.query("SELECT due_date IS NULL AND priority = 'normal' FROM tasks WHERE id = \(undated)")[0].decode(Bool.self, at: 0))
    }
}

/// The health score stays within 0–100 and explains itself.
@Suite(.hangGuard) struct AccountHealthTests {
    @Test func changesAreBoundedAndTheirDeltasAddUpToTheScore() async throws {
        let db = try await TestDatabase.migrated().client
        let (workspace, other) = (try await TestDatabase.workspace(in: db), try await TestDatabase.workspace(in: db))
        let account = try await CRMFixtures.account(in: db, workspace: workspace)
        func change(_ delta: Int, _ cause: String, in ws: UUID? = nil) async throws -> AccountHealth.Change? {
            try await db.withTransaction { tx in
                try await AccountHealth.change(account: account, workspace: ws ?? workspace, by: delta, cause: cause, source: "test", eventID: cause, in: tx)
            }
        }
        let up = try #require(try await change(50, "big win"))
        #expect((up.before, up.after, up.delta) == (70, 100, 30), "bounded at 100, the applied delta recorded")
        let down = try #require(try await change(-150, "disaster"))
        #expect((down.before, down.after, down.delta) == (100, 0, -100))
        _ = try await change(15, "recovery")
        #expect(try await change(5, "not theirs", in: other) == nil, "another workspace cannot change it")

        let explained = try #require(try await db.withConnection { try await AccountHealth.explain(account: account, workspace: workspace, in: $0) })
        #expect(explained.score == 15)
        #expect(explained.changes.map(\.cause) == ["big win", "disaster", "recovery"])
        #expect(70 + explained.changes.map(\.delta).reduce(0, +) == explained.score)
        #expect(zip(explained.changes, explained.changes.dropFirst()).allSatisfy { $0.after == $1.before })
        #expect(try await db.withConnection { try await AccountHealth.explain(account: account, workspace: other, in: $0) } == nil)
    }
}
