import CRM
public import Foundation
public import Logging
public import Messages
import Platform
public import Postgres
import RPC

/// What Stripe's webhooks change in the CRM. Each effect is claimed in the effect ledger in the
/// same transaction as its write, so a redelivered or replayed event changes nothing; an older
/// subscription event never overwrites newer state.
public struct StripeEvents: Sendable {
    let db: PostgresClient
    let logger: Logger

    public init(db: PostgresClient, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    /// - Returns: true when the event had been applied before (a duplicate).
    /// - Throws: FAILED_PRECONDITION when no account of the workspace has the event's customer yet
    ///   (the dispatcher retries: the deal's worker may not have stored it), INVALID_ARGUMENT for a malformed event.
    public func apply(_ event: GatewayV1.WebhookEvent, workspace: UUID) async throws -> Bool {
        guard let root = (try? JSONSerialization.jsonObject(with: Data(event.body))) as? [String: Any],
              let id = root["id"] as? String, let type = root["type"] as? String,
              let object = (root["data"] as? [String: Any])?["object"] as? [String: Any] else {
            throw RPCError(.invalidArgument, "not a Stripe event")
        }
        let created = (root["created"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) } ?? Date()
        switch type {
        case "invoice.payment_succeeded":
            guard let invoice = StripeInvoice(object) else { throw RPCError(.invalidArgument, "the invoice is unreadable") }
            return try await paymentSucceeded(invoice, eventID: id, at: created, workspace: workspace)
        case "invoice.payment_failed":
            guard let invoice = StripeInvoice(object) else { throw RPCError(.invalidArgument, "the invoice is unreadable") }
            return try await paymentFailed(invoice, eventID: id, at: created, workspace: workspace)
        case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted":
            guard let subscription = StripeSubscription(object) else { throw RPCError(.invalidArgument, "the subscription is unreadable") }
            return try await subscriptionChanged(subscription, eventID: id, type: type, at: created, workspace: workspace)
        default:
            return false  // not an event billing acts on
        }
    }

    private func account(customer: String, workspace: UUID, in tx: PostgresConnectionHandle) async throws -> (id: UUID, csm: UUID?, name: String) {
        guard let row = try await tx.query("""
            SELECT id, csm_user_id, name FROM accounts WHERE workspace_id = \(workspace) AND stripe_customer_id = \(customer) FOR UPDATE
            """).first else {
            throw PlatformError(.failedPrecondition, "no account of this workspace has Stripe customer \(customer) (yet)")
        }
        return (try row.decode(at: 0), try row.decodeIfPresent(at: 1), try row.decode(at: 2))
    }

    private func paymentSucceeded(_ invoice: StripeInvoice, eventID: String, at created: Date, workspace: UUID) async throws -> Bool {
        try await db.withTransaction { tx in
            let account = try await account(customer: invoice.customer, workspace: workspace, in: tx)
            guard try await EffectLedger.claim("payment_received", of: eventID, from: "stripe", workspace: workspace, in: tx) else { return true }
            let paidAt = invoice.paidAt ?? Date()
            try await Activities.record(Activity(
                subject: "Payment received: \(Currency.format(invoice.amountPaid, invoice.currency))", occurredAt: paidAt,
                links: ActivityLinks(account: account.id), source: "stripe", externalID: invoice.id,
                payload: PaymentReceived(invoiceID: invoice.id, amount: Currency.units(invoice.amountPaid, invoice.currency),
                                         currency: invoice.currency, paidAt: paidAt, eventID: eventID)), workspace: workspace, in: tx)
            // The payment status follows the newest invoice event; an older one arriving late leaves it.
            try await tx.execute("""
                UPDATE accounts SET last_payment_date = greatest(last_payment_date, \(paidAt)), updated_at = now(),
                  payment_status = CASE WHEN payment_state_at IS NULL OR payment_state_at <= \(created) THEN 'current' ELSE payment_status END,
                  payment_state_at = greatest(payment_state_at, \(created))
                WHERE id = \(account.id)
                """)
            try await AccountHealth.change(account: account.id, workspace: workspace, by: 5, cause: "invoice.payment_succeeded",
                                           source: "stripe", eventID: eventID, in: tx)
            return false
        }
    }

    private func paymentFailed(_ invoice: StripeInvoice, eventID: String, at created: Date, workspace: UUID) async throws -> Bool {
        try await db.withTransaction { tx in
            let account = try await account(customer: invoice.customer, workspace: workspace, in: tx)
            guard try await EffectLedger.claim("payment_failed", of: eventID, from: "stripe", workspace: workspace, in: tx) else { return true }
            let due = Currency.format(invoice.amountDue, invoice.currency)
            try await Alerts.raise(NewAlert(
                kind: .paymentFailed, severity: .urgent, message: "Payment failed for \(account.name): \(due) due (invoice \(invoice.id)).",
                account: account.id, recipient: account.csm,
                details: FailedPayment(invoiceID: invoice.id, amountDue: Currency.units(invoice.amountDue, invoice.currency),
                                       currency: invoice.currency, eventID: eventID)), workspace: workspace, in: tx)
            try await FollowUps.create(FollowUp(
                kind: "payment_recovery", title: "Recover the failed payment of \(account.name) (\(due))", priority: .urgent, dueInDays: 0,
                assignee: account.csm, account: account.id), workspace: workspace, in: tx)
            try await tx.execute("""
                UPDATE accounts SET churn_risk = 'high', updated_at = now(),
                  payment_status = CASE WHEN payment_state_at IS NULL OR payment_state_at <= \(created) THEN 'overdue' ELSE payment_status END,
                  payment_state_at = greatest(payment_state_at, \(created))
                WHERE id = \(account.id)
                """)
            try await AccountHealth.change(account: account.id, workspace: workspace, by: -15, cause: "invoice.payment_failed",
                                           source: "stripe", eventID: eventID, in: tx)
            return false
        }
    }

    private func subscriptionChanged(_ s: StripeSubscription, eventID: String, type: String, at created: Date, workspace: UUID) async throws -> Bool {
        try await db.withTransaction { tx in
            let account = try await account(customer: s.customer, workspace: workspace, in: tx)
            guard try await EffectLedger.claim("subscription_state", of: eventID, from: "stripe", workspace: workspace, in: tx) else { return true }
            var state = s
            if type == "customer.subscription.deleted" { state.status = "canceled" }
            let written = try await DealBilling.store(state, eventTime: created, account: account.id, workspace: workspace, in: tx)
            if !written { logger.debug("older subscription event ignored", metadata: ["event": "\(eventID)"]) }
            return false
        }
    }
}

/// The details of a `payment_failed` alert.
struct FailedPayment: Encodable, Sendable {
    var invoiceID: String
    var amountDue: Decimal
    var currency: String
    var eventID: String

    enum CodingKeys: String, CodingKey {
        case invoiceID = "invoice_id", amountDue = "amount_due", currency, eventID = "event_id"
    }
}
