import CRM
import CurlHTTP
public import Foundation
public import Logging
public import Messages
public import Platform
public import Postgres
public import RPC
import ServiceLifecycle

/// The billing service: deals closed-won become Stripe customers and subscriptions; Stripe's
/// payment and subscription webhooks change the account's health, alerts and tasks.
public struct BillingHandler: BillingV1.BillingService.Handler {
    let db: PostgresClient
    let deals: DealBilling
    let events: StripeEvents

    public init(db: PostgresClient, deals: DealBilling, events: StripeEvents) {
        self.db = db
        self.deals = deals
        self.events = events
    }

    public func handleWebhook(_ request: GatewayV1.WebhookEvent, context: ServerContext) async throws -> GatewayV1.WebhookAck {
        let workspace = try context.workspace()
        guard request.provider == "stripe" else {
            throw RPCError(.unimplemented, "billing handles Stripe events; \(request.provider) is not built yet")
        }
        var ack = GatewayV1.WebhookAck()
        ack.duplicate = try await events.apply(request, workspace: workspace)
        return ack
    }

    public func dealClosed(_ request: BillingV1.DealClosedRequest, context: ServerContext) async throws -> BillingV1.BillingJob {
        guard let deal = UUID(uuidString: request.dealID) else { throw RPCError(.invalidArgument, "deal_id is not a UUID") }
        return Self.message(try await deals.dealClosed(dealID: deal, workspace: try context.workspace()))
    }

    public func getBillingJob(_ request: BillingV1.GetBillingJobRequest, context: ServerContext) async throws -> BillingV1.BillingJob {
        guard let id = UUID(uuidString: request.jobID) else { throw RPCError(.invalidArgument, "job_id is not a UUID") }
        guard let job = try await deals.job(id: id, workspace: try context.workspace()) else {
            throw RPCError(.notFound, "billing job \(id) does not exist in this workspace")
        }
        return Self.message(job)
    }

    public func getAccountHealth(_ request: BillingV1.GetAccountHealthRequest, context: ServerContext) async throws -> BillingV1.AccountHealth {
        let workspace = try context.workspace()
        guard let account = UUID(uuidString: request.accountID) else { throw RPCError(.invalidArgument, "account_id is not a UUID") }
        guard let row = try await db.query("""
            SELECT name, health_score, payment_status, churn_risk, coalesce(subscription_status, ''), mrr_cents, coalesce(currency, ''),
                   (extract(epoch FROM next_billing_date) * 1000)::bigint
            FROM accounts WHERE id = \(account) AND workspace_id = \(workspace)
            """).first else {
            throw RPCError(.notFound, "account \(account) does not exist in this workspace")
        }
        var health = BillingV1.AccountHealth()
        health.accountID = account.uuidString.lowercased()
        health.name = try row.decode(at: 0)
        health.score = Int32(try row.decode(Int.self, at: 1))
        health.paymentStatus = try row.decode(at: 2)
        health.churnRisk = try row.decode(at: 3)
        health.subscriptionStatus = try row.decode(at: 4)
        health.mrrCents = try row.decode(at: 5)
        health.currency = try row.decode(at: 6)
        health.nextBillingUnixMs = try row.decodeIfPresent(Int64.self, at: 7) ?? 0
        let explained = try await db.withConnection { try await AccountHealth.explain(account: account, workspace: workspace, in: $0) }
        health.changes = (explained?.changes ?? []).map { change in
            var message = BillingV1.HealthChange()
            message.cause = change.cause
            message.eventID = change.eventID ?? ""
            message.delta = Int32(change.delta)
            message.before = Int32(change.before)
            message.after = Int32(change.after)
            message.atUnixMs = Int64((change.at.timeIntervalSince1970 * 1000).rounded())
            return message
        }
        return health
    }

    static func message(_ job: DealBilling.Job) -> BillingV1.BillingJob {
        var message = BillingV1.BillingJob()
        message.id = job.id.uuidString.lowercased()
        message.dealID = job.dealID.uuidString.lowercased()
        message.status = job.status
        message.attempts = UInt32(job.attempts)
        message.lastError = job.lastError ?? ""
        message.stripeCustomerID = job.customerID ?? ""
        message.stripeSubscriptionID = job.subscriptionID ?? ""
        return message
    }
}


/// The billing service, ready for an RPC server (no Stripe: jobs wait with an error until it is configured).
public func makeBillingService(db: PostgresClient, stripe: StripeClient? = nil) -> some ServerService {
    let logger = Logger(label: "nexa.billing")
    return BillingV1.BillingService.Server(handler: BillingHandler(
        db: db, deals: DealBilling(db: db, stripe: stripe, logger: logger), events: StripeEvents(db: db, logger: logger)))
}

/// Everything nexa-billing runs: its RPC service and the deal worker.
public enum BillingComponents {
    public static func make(db: PostgresClient, service: ServiceSettings, logger: Logger,
                            environment: [String: String] = ProcessInfo.processInfo.environment) -> ServiceMain.Components {
        let key = environment["NEXA_STRIPE_SECRET_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if key == nil { logger.warning("NEXA_STRIPE_SECRET_KEY is not set: deal billing jobs will fail until it is") }
        let stripe = key.map {
            StripeClient(baseURL: service.providers.stripeAPI, secretKey: $0,
                         version: environment["NEXA_STRIPE_API_VERSION"] ?? "2026-10-28.endive", http: HTTPClient())
        }
        let deals = DealBilling(db: db, stripe: stripe, logger: logger)
        let handler = BillingHandler(db: db, deals: deals, events: StripeEvents(db: db, logger: logger))
        return ServiceMain.Components(
            rpc: BillingV1.BillingService.Server(handler: handler),
            background: [BackgroundService(name: "deal-billing") { await deals.run() },
                         BackgroundService(name: "won-deals") { await deals.runChangeFeed() }])
    }
}
