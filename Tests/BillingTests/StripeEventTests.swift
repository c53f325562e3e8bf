import Billing
import Foundation
import Messages
import Postgres
import TestSupport
import Testing

/// Both Stripe payload shapes, and out-of-order subscription events.
@Suite(.hangGuard) struct StripeEventTests {
    static func subscription(status: String, basil: Bool, periodEnd: Int = 1_800_000_000) -> [String: Any] {
        var item: [String: Any] = ["price": ["id": "price_m", "unit_amount": 2500, "currency": "usd",
                                             "recurring": ["interval": "month", "interval_count": 1]] as [String: Any],
                                   "quantity": 4]
        var object: [String: Any] = ["id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status]
        if basil { item["current_period_end"] = periodEnd } else { object["current_period_end"] = periodEnd }
        object["items"] = ["object": "list", "data": [item]]
        return object
    }

    @Test func readsThePeriodEndAndMRRFromEitherShape() throws {
        for basil in [false, true] {
            let s = try #require(StripeSubscription(Self.subscription(status: "active", basil: basil)))
            #expect(s.currentPeriodEnd == Date(timeIntervalSince1970: 1_800_000_000))
            #expect(s.mrrCents == 10_000)
        }
        #expect(StripeSubscription(Self.subscription(status: "canceled", basil: true))?.mrrCents == 0)
    }

    static func event(_ id: String, _ type: String, created: Int, object: [String: Any]) throws -> GatewayV1.WebhookEvent {
        var event = GatewayV1.WebhookEvent()
        event.provider = "stripe"
        event.eventID = id
        event.eventType = type
        event.body = Array(try JSONSerialization.data(withJSONObject: ["id": id, "object": "event", "type": type, "created": created,
                                                                       "data": ["object": object]]))
        return event
    }

    @Test func anOlderSubscriptionEventNeverOverwritesNewerStateAndInvoicesOfBothShapesFindTheirAccount() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let account = UUID()
        try await db.execute("""
            INSERT INTO accounts (id, workspace_id, name, normalized_name, stripe_customer_id) VALUES (\(account), \(workspace), 'Beta', 'beta', 'cus_1')
            """)
        let events = StripeEvents(db: db, logger: TestDatabase.logger)
        let newer = try Self.event("evt_2", "customer.subscription.updated", created: 2000, object: Self.subscription(status: "past_due", basil: true))
        let older = try Self.event("evt_1", "customer.subscription.updated", created: 1000, object: Self.subscription(status: "active", basil: false))
        #expect(try await events.apply(newer, workspace: workspace) == false)
        #expect(try await events.apply(older, workspace: workspace) == false)
        #expect(try await events.apply(newer, workspace: workspace) == true, "a redelivery is recognised")
        let status = try await db.query("SELECT subscription_status, mrr_cents FROM accounts WHERE id = \(account)")[0]
        #expect(try status.decode(String.self, at: 0) == "past_due" && status.decode(Int.self, at: 1) == 10_000)
        let deleted = try Self.event("evt_3", "customer.subscription.deleted", created: 3000, object: Self.subscription(status: "canceled", basil: true))
        _ = try await events.apply(deleted, workspace: workspace)
        let after = try await db.query("SELECT subscription_status, mrr_cents, next_billing_date IS NULL FROM accounts WHERE id = \(account)")[0]
        #expect(try after.decode(String.self, at: 0) == "canceled" && after.decode(Int.self, at: 1) == 0 && after.decode(Bool.self, at: 2))

        // Invoices: the subscription id before basil at the top, from basil under parent.
        let acacia: [String: Any] = ["id": "in_a", "object": "invoice", "customer": "cus_1", "currency": "jpy", "amount_paid": 5000,
                                     "subscription": "sub_1", "status_transitions": ["paid_at": 1_700_000_000]]
        let basil: [String: Any] = ["id": "in_b", "object": "invoice", "customer": "cus_1", "currency": "usd", "amount_paid": 1999,
                                    "parent": ["type": "subscription_details", "subscription_details": ["subscription": "sub_1"]],
                                    "status_transitions": ["paid_at": 1_700_000_100]]
        _ = try await events.apply(try Self.event("evt_a", "invoice.payment_succeeded", created: 4000, object: acacia), workspace: workspace)
        _ = try await events.apply(try Self.event("evt_b", "invoice.payment_succeeded", created: 4001, object: basil), workspace: workspace)
        let amounts = try await db.query("SELECT data->>'amount', data->>'currency' FROM activities ORDER BY occurred_at").map {
            "\(try $0.decode(String.self, at: 0)) \(try $0.decode(String.self, at: 1))"
        }
        #expect(amounts == ["5000 jpy", "19.99 usd"], "zero-decimal currencies are not divided by 100")
        // An event for a customer no account has yet is refused, so the dispatcher retries it later.
        var stranger = basil
        stranger["customer"] = "cus_unknown"
        await #expect(throws: (any Error).self) {
            _ = try await events.apply(try Self.event("evt_c", "invoice.payment_succeeded", created: 4002, object: stranger), workspace: workspace)
        }
    }
}
