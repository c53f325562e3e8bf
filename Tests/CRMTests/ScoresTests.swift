import CRM
import Foundation
import Postgres
import TestSupport
import Testing

/// Engagement and lead scores: deterministic from stored activity, with breakdowns that add up.
@Suite(.hangGuard) struct ScoresTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func theModelCapsEachFactorAndBoundsTheTotal() {
        let model = ScoreModel.standard
        let busy = model.engagement(.init(replies: 4, meetings: 3, clicks: 9, opens: 40, lastInteraction: Self.now.addingTimeInterval(-3600)), asOf: Self.now)
        #expect(busy.lines.map(\.points) == [30, 30, 20, 5, 15])
        #expect(busy.total == 100)
        let quiet = model.engagement(.init(opens: 2, lastInteraction: Self.now.addingTimeInterval(-20 * 86_400)), asOf: Self.now)
        #expect(quiet.lines.map(\.points) == [0, 0, 0, 2, 8] && quiet.total == 10)
        #expect(model.engagement(.init(), asOf: Self.now).total == 0)
        let refused = model.lead(.init(opens: 3), status: "unqualified", hasCompany: false, asOf: Self.now)
        #expect(refused.lines.reduce(0) { $0 + $1.points } == -17 && refused.total == 0, "bounded at 0")
    }

    @Test func recalculatingFromStoredActivityIsDeterministicAndStored() async throws {
        let db = try await TestDatabase.migrated().client
        let (workspace, other) = (try await TestDatabase.workspace(in: db), try await TestDatabase.workspace(in: db))
        let contact = try await CRMFixtures.contact("ana@example.com", in: db, workspace: workspace)
        let lead = try await CRMFixtures.lead("ana@example.com", in: db, workspace: workspace)
        try await db.execute("UPDATE leads SET status = 'qualified', company = 'Acme' WHERE id = \(lead)")
        let day: TimeInterval = 86_400
        func record(_ n: Int, _ payload: some ActivityPayload, daysAgo: Double, links: ActivityLinks? = nil) async throws {
            _ = try await db.withConnection { tx in
                try await Activities.record(Activity(subject: "a\(n)", occurredAt: Self.now.addingTimeInterval(-daysAgo * day),
                                                     links: links ?? ActivityLinks(contact: contact), source: "test", externalID: "a\(n)",
                                                     payload: payload), workspace: workspace, in: tx)
            }
        }
        try await record(1, EmailMessage(direction: .inbound, from: "ana@example.com", to: ["rep@nexa.test"]), daysAgo: 10)
        try await record(2, EmailMessage(direction: .inbound, from: "ana@example.com", to: ["rep@nexa.test"]), daysAgo: 3)
        try await record(3, EmailMessage(direction: .outbound, from: "rep@nexa.test", to: ["ana@example.com"]), daysAgo: 1)
        for n in 4...10 { try await record(n, EmailOpened(campaignID: "c1"), daysAgo: 40) }
        try await record(11, EmailClicked(campaignID: "c1", url: "https://nexa.test/pricing"), daysAgo: 40)
        try await record(12, EmailMessage(direction: .inbound, from: "ana@example.com", to: ["rep@nexa.test"]), daysAgo: -5)  // after `now`
        try await record(13, EmailClicked(campaignID: "c2", url: "https://nexa.test/"), daysAgo: 50, links: ActivityLinks(lead: lead))

        let engagement = try #require(try await db.withConnection {
            try await Scores.recalculateEngagement(contact: contact, workspace: workspace, asOf: Self.now, in: $0)
        })
        // 2 replies (the outbound mail and the future one do not count), 7 opens capped at 5, 1 click, last reply 3 days ago.
        #expect(engagement.lines.map(\.count) == [2, 0, 1, 7, 1])
        #expect(engagement.lines.map(\.points) == [20, 0, 5, 5, 15])
        #expect(engagement.total == 45)
        let again = try await db.withConnection { try await Scores.recalculateEngagement(contact: contact, workspace: workspace, asOf: Self.now, in: $0) }
        #expect(again == engagement, "deterministic")
        #expect(try await db.query("SELECT engagement_score FROM contacts WHERE id = \(contact)")[0].decode(Int.self, at: 0) == 45)

        // The lead counts its own activity and its contact's, then status and company.
        let score = try #require(try await db.withConnection { try await Scores.recalculateLead(lead: lead, workspace: workspace, asOf: Self.now, in: $0) })
        #expect(score.lines.map(\.points) == [20, 0, 10, 5, 15, 20, 5])
        #expect(score.total == score.lines.reduce(0) { $0 + $1.points } && score.total == 75)
        #expect(try await db.query("SELECT lead_score FROM leads WHERE id = \(lead)")[0].decode(Int.self, at: 0) == 75)

        #expect(try await db.withConnection { try await Scores.recalculateLead(lead: lead, workspace: other, in: $0) } == nil)
        #expect(try await db.withConnection { try await Scores.recalculateEngagement(contact: contact, workspace: other, in: $0) } == nil)
    }
}
