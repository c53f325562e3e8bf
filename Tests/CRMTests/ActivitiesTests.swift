import CRM
import Foundation
import Postgres
import TestSupport
import Testing

/// Activities are recorded once per source and external id, with their kind's payload.
@Suite(.hangGuard) struct ActivitiesTests {
    @Test func recordingTheSameActivityTwiceStoresItOnceWithItsTypedPayload() async throws {
        let db = try await TestDatabase.migrated().client
        let (a, b) = (try await TestDatabase.workspace(in: db), try await TestDatabase.workspace(in: db))
        let account = try await CRMFixtures.account(in: db, workspace: a)
        let paidAt = Date(timeIntervalSince1970: 1_700_000_000)
        let payment = Activity(subject: "Payment received: 19.99 USD", occurredAt: paidAt, links: ActivityLinks(account: account),
                               source: "stripe", externalID: "in_1",
                               payload: PaymentReceived(invoiceID: "in_1", amount: Decimal(string: "19.99")!, currency: "usd", paidAt: paidAt,
                                                        eventID: "evt_1"))
        let first = try await db.withConnection { try await Activities.record(payment, workspace: a, in: $0) }
        let again = try await db.withConnection { try await Activities.record(payment, workspace: a, in: $0) }
        let elsewhere = try await db.withConnection { try await Activities.record(payment, workspace: b, in: $0) }
        #expect(first != nil && again == nil, "a redelivery changes nothing")
        #expect(elsewhere != nil, "another workspace's activity with the same external id is its own")

        let row = try await db.query("""
            SELECT kind, subject, account_id, occurred_at, data->>'invoice_id', data->>'amount', data->>'currency', data->>'event_id',
                   jsonb_typeof(data->'amount'), (data->>'paid_at')::timestamptz
            FROM activities WHERE id = \(first!)
            """)[0]
        #expect(try row.decode(String.self, at: 0) == "payment_received")
        #expect(try row.decode(String.self, at: 1) == "Payment received: 19.99 USD")
        #expect(try row.decode(UUID.self, at: 2) == account)
        #expect(try row.decode(Date.self, at: 3) == paidAt)
        #expect(try [4, 5, 6, 7, 8].map { try row.decode(String.self, at: $0) } == ["in_1", "19.99", "usd", "evt_1", "number"])
        #expect(try row.decode(Date.self, at: 9) == paidAt)
    }

    @Test func anEmailLinksItsContactAndLead() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let contact = try await CRMFixtures.contact("ana@example.com", in: db, workspace: workspace)
        let lead = try await CRMFixtures.lead("ana@example.com", in: db, workspace: workspace)
        let mail = Activity(subject: "Re: pricing", body: "Sounds good", occurredAt: Date(), links: ActivityLinks(contact: contact, lead: lead),
                            source: "gmail", externalID: "msg-1",
                            payload: EmailMessage(direction: .inbound, from: "ana@example.com", to: ["rep@nexa.test"], threadID: "t-1"))
        let id = try #require(try await db.withConnection { try await Activities.record(mail, workspace: workspace, in: $0) })
        let row = try await db.query("SELECT kind, contact_id, lead_id, body, data->>'direction', data->'to'->>0 FROM activities WHERE id = \(id)")[0]
        #expect(try row.decode(String.self, at: 0) == "email")
        #expect(try row.decode(UUID.self, at: 1) == contact && row.decode(UUID.self, at: 2) == lead)
        #expect(try [3, 4, 5].map { try row.decode(String.self, at: $0) } == ["Sounds good", "inbound", "rep@nexa.test"])
    }
}
