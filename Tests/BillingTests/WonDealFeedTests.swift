import Billing
import CRM
import CurlHTTP
import Foundation
import Postgres
import TestSupport
import Testing

/// Deals won in the CRM reach billing through the change feed: none is lost while billing is
/// down, and none is billed twice by two replicas.
@Suite(.hangGuard) struct WonDealFeedTests {
    @Test func aDealWonWhileBillingWasStoppedIsBilledOnceByTwoReplicas() async throws {
        try await BillingFlowTests.with { h in
            // The deal was won before any billing process ran: its change waits in the feed.
            let waiting = try await h.db.withConnection { try await ChangeFeed.pending(.dealClosedWon, workspace: h.workspace, in: $0) }
            #expect(waiting.map(\.subject) == [h.deal])

            let second = DealBilling(db: h.db, stripe: StripeClient(baseURL: h.sandbox + "/stripe", secretKey: BillingFlowTests.stripeKey, http: h.http),
                                     logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { replicas in
                for deals in [h.deals, second] {
                    replicas.addTask { await deals.runChangeFeed() }
                    replicas.addTask { await deals.run() }
                }
                try await Wait.until("the won deal's billing job is done") {
                    try await h.db.query("SELECT 1 FROM billing_jobs WHERE status = 'done'").count == 1
                }
                replicas.cancelAll()
            }
            #expect(try await h.db.query("SELECT 1 FROM billing_jobs").count == 1)
            #expect(try await h.customers(email: "buyer@acme.test") == 1)
            let customer = try #require(try await h.accountRow().customer)
            #expect((try await h.stripe("GET", "/v1/subscriptions?customer=\(customer)")["data"] as? [Any])?.count == 1)
            #expect(try await h.db.withConnection { try await ChangeFeed.pending(.dealClosedWon, workspace: h.workspace, in: $0) }.isEmpty)

            // Reopened and won again: a new change, and still one job.
            try await h.db.execute("UPDATE deals SET stage = 'open' WHERE id = \(h.deal)")
            try await h.db.execute("UPDATE deals SET stage = 'closed_won' WHERE id = \(h.deal)")
            #expect(await h.deals.consumeWonDeals() == 1)
            #expect(await h.deals.processDue() == 0)
            #expect(try await h.db.query("SELECT 1 FROM billing_jobs").count == 1)
        }
    }

    @Test func aWonDealThatCannotBeBilledRaisesOneAlertAndIsHandled() async throws {
        try await BillingFlowTests.with(items: [], contactEmail: "feed@acme.test") { h in
            #expect(await h.deals.consumeWonDeals() == 1)
            #expect(await h.deals.consumeWonDeals() == 0)
            #expect(try await h.db.query("SELECT 1 FROM alerts WHERE kind = 'billing_failed'").count == 1)
            #expect(try await h.db.query("SELECT 1 FROM billing_jobs").isEmpty)
            let note = try await h.db.query("SELECT last_error FROM crm_changes WHERE subject_id = \(h.deal) AND handled_at IS NOT NULL")
            #expect(try note.first?.decode(String.self, at: 0).contains("no line items") == true)
        }
    }
}
