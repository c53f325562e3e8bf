import CRM
import Foundation
import Postgres
import TestSupport
import Testing

/// The change feed: the database appends what services act on in the same transaction as the
/// change, coalesces bursts, and hands each change to one consumer until it is handled.
@Suite(.hangGuard) struct ChangeFeedTests {
    func pending(_ kind: ChangeKind, _ workspace: UUID, _ db: PostgresClient) async throws -> [CRMChange] {
        try await db.withConnection { try await ChangeFeed.pending(kind, workspace: workspace, in: $0) }
    }

    @Test func aDealWonIsOneChangeAndWinningItAgainAfterHandlingIsAnother() async throws {
        let db = try await TestDatabase.migrated().client
        let (workspace, other) = (try await TestDatabase.workspace(in: db), try await TestDatabase.workspace(in: db))
        let account = try await CRMFixtures.account(in: db, workspace: workspace)
        let (won, open) = (UUID(), UUID())
        try await db.execute("""
            INSERT INTO deals (id, workspace_id, account_id, name, stage) VALUES (\(won), \(workspace), \(account), 'Won', 'closed_won'),
                                                                                 (\(open), \(workspace), \(account), 'Open', 'open')
            """)
        var changes = try await pending(.dealClosedWon, workspace, db)
        #expect(changes.map(\.subject) == [won])
        #expect(try await pending(.dealClosedWon, other, db).isEmpty, "scoped to its workspace")

        // A rolled-back win leaves nothing behind.
        await #expect(throws: (any Error).self) {
            try await db.withTransaction { tx in
                try await tx.execute("UPDATE deals SET stage = 'closed_won' WHERE id = \(open)")
                throw CancellationError()
            }
        }
        #expect(try await pending(.dealClosedWon, workspace, db).count == 1)

        let leased = try await db.withConnection { try await ChangeFeed.lease([.dealClosedWon], in: $0) }
        #expect(leased.map(\.subject) == [won])
        #expect(try await db.withConnection { try await ChangeFeed.complete(leased[0], in: $0) })
        #expect(try await pending(.dealClosedWon, workspace, db).isEmpty)
        try await db.execute("UPDATE deals SET name = 'Won, renamed' WHERE id = \(won)")
        #expect(try await pending(.dealClosedWon, workspace, db).isEmpty, "only a move to won is a change")
        try await db.execute("UPDATE deals SET stage = 'open' WHERE id = \(won)")
        try await db.execute("UPDATE deals SET stage = 'closed_won' WHERE id IN (\(won), \(open))")
        changes = try await pending(.dealClosedWon, workspace, db)
        #expect(Set(changes.map(\.subject)) == [won, open])
    }

    @Test func aFiveThousandMemberListChangeIsOneChangeAndMemberFieldsCount() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (list, other) = (UUID(), UUID())
        try await db.execute("INSERT INTO contact_lists (id, workspace_id, name) VALUES (\(list), \(workspace), 'Customers'), (\(other), \(workspace), 'Other')")
        try await db.execute("""
            INSERT INTO contacts (id, workspace_id, email) SELECT gen_random_uuid(), \(workspace), 'member' || n || '@example.com' FROM generate_series(1, 5000) n
            """)
        try await db.execute("""
            INSERT INTO contact_list_members (workspace_id, list_id, contact_id) SELECT \(workspace), \(list), id FROM contacts WHERE workspace_id = \(workspace)
            """)
        var changes = try await pending(.listChanged, workspace, db)
        #expect(changes.count == 1 && changes.first?.subject == list && changes.first?.version == 1, "one change for 5,000 members")

        // A field a sync sends, changed on members: the list's pending change counts on.
        try await db.execute("UPDATE contacts SET first_name = 'Ana' WHERE email IN ('member1@example.com', 'member2@example.com')")
        try await db.execute("UPDATE contacts SET engagement_score = 5 WHERE email = 'member3@example.com'")
        changes = try await pending(.listChanged, workspace, db)
        #expect(changes.count == 1 && changes.first?.version == 2, "a name counts; an engagement score is not a list field")

        // A change arriving while a consumer works keeps it pending for another pass.
        let leased = try await db.withConnection { try await ChangeFeed.lease([.listChanged], in: $0) }
        try await db.execute("DELETE FROM contact_list_members WHERE list_id = \(list) AND contact_id IN (SELECT id FROM contacts WHERE email = 'member9@example.com')")
        #expect(try await db.withConnection { try await ChangeFeed.complete(leased[0], in: $0) } == false)
        let again = try await db.withConnection { try await ChangeFeed.lease([.listChanged], in: $0) }
        #expect(again.map(\.version) == [3], "due again at once, at its new version")
        #expect(try await db.withConnection { try await ChangeFeed.complete(again[0], in: $0) })
        #expect(try await pending(.listChanged, workspace, db).isEmpty)
        #expect(try await db.query("SELECT 1 FROM crm_changes WHERE subject_id = \(other)").isEmpty, "an untouched list has no change")
    }

    @Test func replicasNeverLeaseTheSameChangeAndARetryWaits() async throws {
        let db = try await TestDatabase.migrated(maximumConnections: 4).client
        let workspace = try await TestDatabase.workspace(in: db)
        let account = try await CRMFixtures.account(in: db, workspace: workspace)
        try await db.execute("""
            INSERT INTO deals (id, workspace_id, account_id, name, stage) SELECT gen_random_uuid(), \(workspace), \(account), 'Deal ' || n, 'closed_won'
            FROM generate_series(1, 20) n
            """)
        let leases = try await withThrowingTaskGroup(of: [CRMChange].self) { group in
            for _ in 0..<4 { group.addTask { try await db.withConnection { try await ChangeFeed.lease([.dealClosedWon], limit: 8, in: $0) } } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let ids = leases.flatMap { $0.map(\.id) }
        #expect(ids.count == 20 && Set(ids).count == 20, "every change leased once")
        #expect(try await db.withConnection { try await ChangeFeed.lease([.dealClosedWon], in: $0) }.isEmpty, "all leased")

        let failed = leases.first { !$0.isEmpty }![0]
        try await db.withConnection { try await ChangeFeed.retry(failed, after: .seconds(3600), error: "Stripe is down", in: $0) }
        #expect(try await db.withConnection { try await ChangeFeed.lease([.dealClosedWon], in: $0) }.isEmpty, "not due before its delay")
        try await db.execute("UPDATE crm_changes SET leased_until = now() WHERE id = \(failed.id)")
        let retried = try await db.withConnection { try await ChangeFeed.lease([.dealClosedWon], in: $0) }
        #expect(retried.map(\.id) == [failed.id] && retried.first?.attempts == 1)
    }

    @Test func escalatedTicketsAndMeetingsMadeInTheCRMAreChangesAndSyncedMeetingsAreNot() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (ticket, quiet, meeting, synced) = (UUID(), UUID(), UUID(), UUID())
        try await db.execute("""
            INSERT INTO tickets (id, workspace_id, subject, escalate) VALUES (\(ticket), \(workspace), 'Down', false), (\(quiet), \(workspace), 'Fine', false)
            """)
        #expect(try await pending(.ticketEscalated, workspace, db).isEmpty)
        try await db.execute("UPDATE tickets SET escalate = true WHERE id = \(ticket)")
        #expect(try await pending(.ticketEscalated, workspace, db).map(\.subject) == [ticket])

        try await db.execute("""
            INSERT INTO meetings (id, workspace_id, title, starts_at, ends_at, source, external_id)
            VALUES (\(meeting), \(workspace), 'Kick-off', now(), now() + interval '1 hour', NULL, NULL),
                   (\(synced), \(workspace), 'From Google', now(), now() + interval '1 hour', 'google', 'evt1')
            """)
        try await db.execute("UPDATE meetings SET title = 'Renamed' WHERE id = \(synced)")
        var changes = try await pending(.meetingChanged, workspace, db)
        #expect(changes.map(\.subject) == [meeting] && changes.first?.version == 1)
        try await db.execute("UPDATE meetings SET starts_at = starts_at + interval '1 day', ends_at = ends_at + interval '1 day' WHERE id = \(meeting)")
        changes = try await pending(.meetingChanged, workspace, db)
        #expect(changes.first?.version == 2)
    }
}
