import CRM
import Foundation
import Postgres
import TestSupport
import Testing

/// Records created as the CRM creates them: validated, scoped to their workspace, and seen by the
/// change feed like a user's edit.
@Suite(.hangGuard) struct RecordsTests {
    @Test func aDealAddedWonHasItsLineItemsAndIsOneChangeForBilling() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let deal = try await db.withTransaction { tx in
            let account = try await Records.addAccount(name: "  Acme   Corp ", workspace: workspace, in: tx)
            let contact = try await Records.addContact(email: "Buyer@Acme.test", firstName: "Bea", account: account, workspace: workspace, in: tx)
            return try await Records.addDeal(name: "Acme Pro", account: account, primaryContact: contact, stage: "closed_won",
                                             items: [.init(price: "price_1", quantity: 3)], workspace: workspace, in: tx)
        }
        let row = try await db.query("""
            SELECT d.stage, d.closed_at IS NOT NULL, a.name, a.normalized_name, c.email::text, (SELECT sum(quantity) FROM deal_line_items WHERE deal_id = d.id)
            FROM deals d JOIN accounts a ON a.id = d.account_id JOIN contacts c ON c.id = d.primary_contact_id WHERE d.id = \(deal)
            """)[0]
        #expect(try row.decode(String.self, at: 0) == "closed_won" && row.decode(Bool.self, at: 1))
        #expect(try row.decode(String.self, at: 2) == "Acme   Corp" && row.decode(String.self, at: 3) == "acme corp")
        #expect(try row.decode(String.self, at: 4) == "buyer@acme.test" && row.decode(Int.self, at: 5) == 3)
        let changes = try await db.withConnection { try await ChangeFeed.pending(.dealClosedWon, workspace: workspace, in: $0) }
        #expect(changes.map(\.subject) == [deal] && changes.first?.version == 1)
    }

    @Test func invalidRecordsAreRefusedWithAClearErrorAndNothingWritten() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        await #expect(throws: CRMError(.invalidArgument, "\"not-an-address\" is not an email address")) {
            _ = try await db.withConnection { try await Records.addContact(email: "not-an-address", workspace: workspace, in: $0) }
        }
        await #expect(throws: CRMError(.invalidArgument, "a meeting cannot end before it starts")) {
            _ = try await db.withConnection {
                try await Records.addMeeting(title: "Backwards", startsAt: Date(), endsAt: Date().addingTimeInterval(-60), workspace: workspace, in: $0)
            }
        }
        let account = try await db.withConnection { try await Records.addAccount(name: "Acme", workspace: workspace, in: $0) }
        await #expect(throws: CRMError.self) {
            try await db.withTransaction { tx in
                _ = try await Records.addDeal(name: "Bad", account: account, items: [.init(price: "price_1", quantity: 0)], workspace: workspace, in: tx)
            }
        }
        let list = try await db.withConnection { try await Records.addList(name: "VIP", workspace: workspace, in: $0) }
        await #expect(throws: CRMError(.notFound, "no contact has nobody@example.com")) {
            try await db.withTransaction { try await Records.addMembers(["nobody@example.com"], to: list, workspace: workspace, in: $0) }
        }
        #expect(try await db.query("SELECT (SELECT count(*) FROM contacts) + (SELECT count(*) FROM deals) + (SELECT count(*) FROM contact_list_members)")[0]
            .decode(Int.self, at: 0) == 0)
    }

    @Test func membersMeetingsAndTicketsThenListAndShowWithinTheWorkspace() async throws {
        let db = try await TestDatabase.migrated().client
        let (workspace, other) = (try await TestDatabase.workspace(in: db), try await TestDatabase.workspace(in: db))
        let (list, meeting, ticket) = try await db.withTransaction { tx in
            let ana = try await Records.addContact(email: "ana@example.com", firstName: "Ana", workspace: workspace, in: tx)
            _ = try await Records.addContact(email: "bob@example.com", workspace: workspace, in: tx)
            let list = try await Records.addList(name: "Customers", workspace: workspace, in: tx)
            #expect(try await Records.addMembers(["ANA@example.com", "bob@example.com"], to: list, workspace: workspace, in: tx) == 2)
            #expect(try await Records.addMembers(["ana@example.com"], to: list, workspace: workspace, in: tx) == 0, "already a member")
            let start = Date(timeIntervalSince1970: 1_900_000_000)
            let meeting = try await Records.addMeeting(title: "Kick-off", startsAt: start, endsAt: start.addingTimeInterval(1800),
                                                       attendees: ["Ana@example.com", "guest@elsewhere.test"], workspace: workspace, in: tx)
            let ticket = try await Records.addTicket(subject: "Cannot log in", contact: ana, priority: "urgent", escalate: true, workspace: workspace, in: tx)
            return (list, meeting, ticket)
        }
        let attendees = try await db.query("SELECT email::text, contact_id IS NOT NULL FROM meeting_attendees WHERE meeting_id = \(meeting) ORDER BY email")
        #expect(try attendees.map { "\(try $0.decode(String.self, at: 0)) \(try $0.decode(Bool.self, at: 1))" } == ["ana@example.com true", "guest@elsewhere.test false"])
        for (kind, subject) in [(ChangeKind.listChanged, list), (.meetingChanged, meeting), (.ticketEscalated, ticket)] {
            let changes = try await db.withConnection { try await ChangeFeed.pending(kind, workspace: workspace, in: $0) }
            #expect(changes.map(\.subject) == [subject], "\(kind.rawValue): one change")
        }

        let lists = try await db.withConnection { try await Records.list(.lists, workspace: workspace, in: $0) }
        #expect(lists.map(\.summary) == ["Customers  2 members"])
        let tickets = try await db.withConnection { try await Records.list(.tickets, workspace: workspace, in: $0) }
        #expect(tickets.map(\.summary) == ["Cannot log in  open  urgent  escalate"])
        let shown = try #require(try await db.withConnection { try await Records.show(.meetings, id: meeting, workspace: workspace, in: $0) })
        #expect(shown.contains("\"title\": \"Kick-off\""))
        #expect(try await db.withConnection { try await Records.show(.meetings, id: meeting, workspace: other, in: $0) } == nil)
        #expect(try await db.withConnection { try await Records.list(.contacts, workspace: other, in: $0) }.isEmpty)
    }
}
