import CRM
import EmailCalendar
import Foundation
import Postgres
import TestSupport
import Testing

/// Messages become activities of the contacts and leads on them, once; bulk mail and strangers do not.
@Suite(.hangGuard) struct MailLogTests {
    static func mail(id: String, from: String, to: [String], sent: Bool = false, bulk: Bool = false,
                     at date: Date = Date(timeIntervalSince1970: 1_767_225_600)) throws -> MailContent {
        var headers = [("From", from), ("To", to.joined(separator: ", ")), ("Subject", "Pricing for 50 seats")]
        if bulk { headers.append(("List-Unsubscribe", "<mailto:u@news.example>")) }
        let json = """
            {"id":"\(id)","threadId":"t-\(id)","labelIds":\(sent ? #"["SENT"]"# : #"["INBOX"]"#),"snippet":"What would it cost?",
             "internalDate":"\(Int64(date.timeIntervalSince1970 * 1000))",
             "payload":{"mimeType":"text/plain","headers":[\(MailContentTests.headers(headers))],"body":{"size":19,"data":"V2hhdCB3b3VsZCBpdCBjb3N0Pw"}}}
            """
        return MailContent(try JSONDecoder().decode(GmailMessage.self, from: Data(json.utf8)), owner: MailContentTests.owner)
    }

    @Test func mailWithAContactOrALeadIsOneActivityAndTheRestIsCounted() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (account, contact, lead) = try await db.withConnection { c in
            let account = try await Records.addAccount(name: "Buyer Inc", workspace: workspace, in: c)
            return (account, try await Records.addContact(email: "Buyer@Example.com", account: account, workspace: workspace, in: c),
                    try await Records.addLead(email: "lead@prospect.test", company: "Prospect", workspace: workspace, in: c))
        }
        let owner = MailContentTests.owner
        let inbound = try Self.mail(id: "m1", from: "\"Buyer\" <buyer@example.com>", to: [owner])
        let first = try await db.withConnection { try await MailLog.store(inbound, workspace: workspace, in: $0) }
        guard case .stored(let id) = first else { Issue.record("the contact's mail was not stored: \(first)"); return }
        // Seen again (a duplicate push, a full sync): nothing new.
        #expect(try await db.withConnection { try await MailLog.store(inbound, workspace: workspace, in: $0) } == .alreadyStored)
        let row = try await db.query("""
            SELECT kind, subject, body, contact_id, lead_id, account_id, source, external_id, data->>'direction', data->>'snippet'
            FROM activities WHERE id = \(id)
            """)[0]
        #expect(try row.decode(String.self, at: 0) == "email" && row.decode(String.self, at: 1) == "Pricing for 50 seats")
        #expect(try row.decode(String.self, at: 2) == "What would it cost?")
        #expect(try row.decode(UUID.self, at: 3) == contact && row.decodeIfPresent(UUID.self, at: 4) == nil && row.decode(UUID.self, at: 5) == account)
        #expect(try row.decode(String.self, at: 6) == "gmail" && row.decode(String.self, at: 7) == "m1")
        #expect(try row.decode(String.self, at: 8) == "inbound" && row.decode(String.self, at: 9) == "What would it cost?")
        // Read for intent and tone, with the cues that decided them.
        let analysis = try await db.query("SELECT data->'analysis'->>'intent', data->'analysis'->>'sentiment', data->'analysis'->'intent_cues'::text FROM activities WHERE id = \(id)")[0]
        #expect(try analysis.decode(String.self, at: 0) == "pricing_interest" && analysis.decode(String.self, at: 1) == "neutral")
        #expect(try analysis.decode(String.self, at: 2).contains("cost"))
        let contacted = try await db.query("SELECT last_contacted_at FROM contacts WHERE id = \(contact)")[0].decode(Date.self, at: 0)
        #expect(contacted == Date(timeIntervalSince1970: 1_767_225_600))

        // Outbound: every recipient counts; the lead's score moves with the new activity.
        let before = try await db.query("SELECT lead_score FROM leads WHERE id = \(lead)")[0].decode(Int.self, at: 0)
        let reply = try Self.mail(id: "m2", from: owner, to: ["Lead <lead@prospect.test>", "someone@else.test"], sent: true)
        guard case .stored = try await db.withConnection({ try await MailLog.store(reply, workspace: workspace, in: $0) }) else {
            Issue.record("the reply to the lead was not stored"); return
        }
        let after = try await db.query("SELECT lead_score, last_contacted_at IS NOT NULL FROM leads WHERE id = \(lead)")[0]
        #expect(try after.decode(Int.self, at: 0) > before && after.decode(Bool.self, at: 1))

        // A newsletter from the contact, and mail from a stranger: counted, not stored.
        #expect(try await db.withConnection { try await MailLog.store(try Self.mail(id: "m3", from: "buyer@example.com", to: [owner], bulk: true), workspace: workspace, in: $0) } == .bulk)
        #expect(try await db.withConnection { try await MailLog.store(try Self.mail(id: "m4", from: "nobody@stranger.test", to: [owner]), workspace: workspace, in: $0) } == .noParticipant)
        #expect(try await db.query("SELECT count(*) FROM activities WHERE workspace_id = \(workspace)")[0].decode(Int.self, at: 0) == 2)
        // Another workspace knows none of them.
        let other = try await TestDatabase.workspace(in: db, name: "Other")
        #expect(try await db.withConnection { try await MailLog.store(inbound, workspace: other, in: $0) } == .noParticipant)
    }
}
