import CRM
import CurlHTTP
public import Foundation
public import Logging
import Platform
public import Postgres
import RPC

/// Deal closed-won → Stripe customer and subscription, through an outbox: `DealClosed` validates
/// the deal and queues a job in one transaction; the worker makes the Stripe calls with
/// idempotency keys derived from the deal, so an outage delays the work and a retry, a duplicate
/// `DealClosed` or a crash between a Stripe call and the CRM write never creates anything twice.
public final class DealBilling: Sendable {
    public struct Job: Sendable, Hashable {
        public var id: UUID
        public var dealID: UUID
        public var status: String
        public var attempts: Int
        public var lastError: String?
        public var customerID: String?
        public var subscriptionID: String?
    }

    public struct Configuration: Sendable {
        public var maximumAttempts = 8
        public var initialBackoff: Duration = .seconds(5)
        public var maximumBackoff: Duration = .seconds(900)
        public var lease: Duration = .seconds(120)
        public var pollInterval: Duration = .seconds(2)
        public init() {}
    }

    let db: PostgresClient
    let stripe: StripeClient?
    let configuration: Configuration
    let logger: Logger
    /// Test hook: runs after the Stripe calls and before the CRM write (a crash there must not duplicate).
    let afterStripeCalls: (@Sendable (UUID) async throws -> Void)?

    public init(db: PostgresClient, stripe: StripeClient?, configuration: Configuration = .init(), logger: Logger,
                afterStripeCalls: (@Sendable (UUID) async throws -> Void)? = nil) {
        self.db = db
        self.stripe = stripe
        self.configuration = configuration
        self.logger = logger
        self.afterStripeCalls = afterStripeCalls
    }

    // MARK: DealClosed

    /// Validates the deal and queues its job (or returns the job already queued for it).
    /// - Throws: NOT_FOUND for an unknown deal; FAILED_PRECONDITION, with an alert, for a deal that
    ///   is not closed-won, has no line items or no primary contact with an email.
    public func dealClosed(dealID: UUID, workspace: UUID) async throws -> Job {
        if let refusal = try await db.withTransaction({ try await Self.queue(deal: dealID, workspace: workspace, in: $0) }) { throw refusal }
        return try await db.withConnection { try await Self.job(dealID: dealID, workspace: workspace, on: $0) }!
    }

    /// Validates the deal and queues its job once, waking a worker, in the caller's transaction.
    /// - Returns: nil when queued (now or before); for a deal that cannot be billed, the
    ///   FAILED_PRECONDITION to answer, its alert raised in the same transaction.
    /// - Throws: NOT_FOUND for an unknown deal.
    static func queue(deal dealID: UUID, workspace: UUID, in tx: PostgresConnectionHandle) async throws -> PlatformError? {
        guard let deal = try await tx.query("""
            SELECT d.stage, d.account_id, d.name, c.email,
                   (SELECT count(*) FROM deal_line_items i WHERE i.deal_id = d.id AND i.workspace_id = d.workspace_id)
            FROM deals d LEFT JOIN contacts c ON c.id = d.primary_contact_id AND c.workspace_id = d.workspace_id
            WHERE d.id = \(dealID) AND d.workspace_id = \(workspace)
            """).first else {
            throw PlatformError(.notFound, "deal \(dealID) does not exist in this workspace")
        }
        let (stage, account, name) = (try deal.decode(String.self, at: 0), try deal.decode(UUID.self, at: 1), try deal.decode(String.self, at: 2))
        let email = try deal.decodeIfPresent(String.self, at: 3)
        let items = try deal.decode(Int.self, at: 4)
        let problem: String? = stage != "closed_won" ? "deal \"\(name)\" is \(stage), not closed_won"
            : items == 0 ? "deal \"\(name)\" has no line items to bill"
            : (email ?? "").isEmpty ? "deal \"\(name)\" has no primary contact with an email"
            : nil
        if let problem {
            try await Alerts.raise(NewAlert(kind: .billingFailed, severity: .normal, message: "Billing was not set up: \(problem).", account: account,
                                            details: BillingFailure(dealID: dealID)), workspace: workspace, in: tx)
            return PlatformError(.failedPrecondition, problem)
        }
        try await tx.query("""
            WITH queued AS (
              INSERT INTO billing_jobs (id, workspace_id, deal_id) VALUES (\(UUID()), \(workspace), \(dealID))
              ON CONFLICT (workspace_id, deal_id, kind) DO NOTHING RETURNING id)
            SELECT pg_notify('billing_jobs', '') FROM queued
            """)
        return nil
    }

    static func job(dealID: UUID? = nil, jobID: UUID? = nil, workspace: UUID, on connection: PostgresConnectionHandle) async throws -> Job? {
        guard let row = try await connection.query("""
            SELECT j.id, j.deal_id, j.status, j.attempts, j.last_error, a.stripe_customer_id, a.stripe_subscription_id
            FROM billing_jobs j JOIN deals d ON d.id = j.deal_id AND d.workspace_id = j.workspace_id
            JOIN accounts a ON a.id = d.account_id AND a.workspace_id = d.workspace_id
            WHERE j.workspace_id = \(workspace) AND (j.deal_id = \(dealID) OR j.id = \(jobID))
            """).first else { return nil }
        let status: String = try row.decode(at: 2)
        return Job(id: try row.decode(at: 0), dealID: try row.decode(at: 1), status: status, attempts: try row.decode(at: 3),
                   lastError: try row.decodeIfPresent(at: 4),
                   customerID: try row.decodeIfPresent(at: 5), subscriptionID: status == "done" ? try row.decodeIfPresent(at: 6) : nil)
    }

    public func job(id: UUID, workspace: UUID) async throws -> Job? {
        try await db.withConnection { try await Self.job(jobID: id, workspace: workspace, on: $0) }
    }

    // MARK: Worker

    /// Runs until cancelled: woken by `NOTIFY billing_jobs`, polling as a fallback.
    public func run() async {
        await NotifiedLoop.run(db: db, channel: "billing_jobs", pollInterval: configuration.pollInterval, logger: logger) {
            await self.processDue()
        }
    }

    /// Leases due jobs (`SKIP LOCKED`: safe with several replicas) and works them; returns how many.
    @discardableResult
    public func processDue() async -> Int {
        let leased: [(UUID, UUID, UUID, Int)]
        do {
            leased = try await db.query("""
                UPDATE billing_jobs SET next_attempt_at = now() + \(configuration.lease.components.seconds) * interval '1 second', updated_at = now()
                WHERE id IN (SELECT id FROM billing_jobs WHERE status = 'pending' AND next_attempt_at <= now()
                             ORDER BY next_attempt_at LIMIT 8 FOR UPDATE SKIP LOCKED)
                RETURNING id, workspace_id, deal_id, attempts
                """).map { (try $0.decode(at: 0), try $0.decode(at: 1), try $0.decode(at: 2), try $0.decode(at: 3)) }
        } catch {
            logger.warning("cannot lease billing jobs", metadata: ["error": "\(error)"])
            return 0
        }
        for (job, workspace, deal, attempts) in leased {
            do {
                try await work(job: job, deal: deal, workspace: workspace)
            } catch {
                await failed(job: job, deal: deal, workspace: workspace, attempts: attempts + 1, error: error)
            }
        }
        return leased.count
    }

    private struct DealFacts {
        var account: UUID
        var accountName: String
        var customerID: String?
        var email: String
        var items: [(price: String, quantity: Int)]
    }

    private func work(job: UUID, deal: UUID, workspace: UUID) async throws {
        guard let stripe else { throw PlatformError(.failedPrecondition, "Stripe is not configured (NEXA_STRIPE_SECRET_KEY)") }
        let facts = try await self.facts(deal: deal, workspace: workspace)
        // Every price first: an unknown one fails the job before anything exists at Stripe.
        for item in facts.items {
            do {
                _ = try await stripe.price(item.price, workspace: workspace.uuidString)
            } catch {
                if case StripeClient.Failure.missing = error {
                    throw PlatformError(.failedPrecondition, "Stripe has no price \(item.price)")
                }
                throw error
            }
        }
        let metadata = ["crm_account_id": facts.account.uuidString.lowercased(), "crm_deal_id": deal.uuidString.lowercased()]
        var customer = facts.customerID
        if customer == nil {
            let created = try await stripe.createCustomer(
                email: facts.email, name: facts.accountName, metadata: metadata, idempotencyKey: "nexa-deal-\(deal.uuidString.lowercased())-customer",
                workspace: workspace.uuidString)
            // Kept at once, so a later deal of this account reuses it; the key covers a crash before this line.
            try await db.execute("""
                UPDATE accounts SET stripe_customer_id = \(created), updated_at = now()
                WHERE id = \(facts.account) AND workspace_id = \(workspace) AND stripe_customer_id IS NULL
                """)
            customer = created
        }
        let subscription = try await stripe.createSubscription(
            customer: customer!, items: facts.items, metadata: metadata, idempotencyKey: "nexa-deal-\(deal.uuidString.lowercased())-subscription",
            workspace: workspace.uuidString)
        try await afterStripeCalls?(job)
        try await db.withTransaction { tx in
            try await Self.store(subscription, eventTime: nil, account: facts.account, workspace: workspace, in: tx)
            try await tx.execute("UPDATE billing_jobs SET status = 'done', last_error = NULL, attempts = attempts + 1, updated_at = now() WHERE id = \(job)")
        }
        logger.info("deal billed", metadata: ["deal": "\(deal)", "customer": "\(customer!)", "subscription": "\(subscription.id)"])
    }

    private func facts(deal: UUID, workspace: UUID) async throws -> DealFacts {
        guard let row = try await db.query("""
            SELECT a.id, a.name, a.stripe_customer_id, c.email FROM deals d
            JOIN accounts a ON a.id = d.account_id AND a.workspace_id = d.workspace_id
            JOIN contacts c ON c.id = d.primary_contact_id AND c.workspace_id = d.workspace_id
            WHERE d.id = \(deal) AND d.workspace_id = \(workspace)
            """).first else {
            throw PlatformError(.failedPrecondition, "the deal, its account or its primary contact is gone")
        }
        let items = try await db.query("""
            SELECT stripe_price_id, quantity FROM deal_line_items WHERE deal_id = \(deal) AND workspace_id = \(workspace) ORDER BY id
            """).map { (price: try $0.decode(String.self, at: 0), quantity: try $0.decode(Int.self, at: 1)) }
        guard !items.isEmpty else { throw PlatformError(.failedPrecondition, "the deal has no line items") }
        return DealFacts(account: try row.decode(at: 0), accountName: try row.decode(at: 1), customerID: try row.decodeIfPresent(at: 2),
                         email: try row.decode(at: 3), items: items)
    }

    /// Writes a subscription's state on its account, unless the account holds state from a newer
    /// event (`eventTime` is the Stripe event's `created`, whole seconds: an event of the same
    /// second still applies; nil for our own API reads, which are current and move no clock).
    /// - Returns: whether it was written.
    @discardableResult
    static func store(_ s: StripeSubscription, eventTime: Date?, account: UUID, workspace: UUID, in tx: PostgresConnectionHandle) async throws -> Bool {
        try await tx.execute("""
            UPDATE accounts SET stripe_subscription_id = \(s.id), subscription_status = \(s.status), mrr_cents = \(s.mrrCents),
              currency = coalesce(\(s.currency), currency), next_billing_date = \(s.status == "canceled" ? nil : s.currentPeriodEnd),
              stripe_state_at = CASE WHEN \(eventTime)::timestamptz IS NULL THEN stripe_state_at
                                     ELSE greatest(stripe_state_at, \(eventTime)::timestamptz) END, updated_at = now()
            WHERE id = \(account) AND workspace_id = \(workspace)
              AND (\(eventTime)::timestamptz IS NULL OR stripe_state_at IS NULL OR stripe_state_at <= \(eventTime))
            """) == 1
    }

    private func failed(job: UUID, deal: UUID, workspace: UUID, attempts: Int, error: any Error) async {
        let permanent = (error as? PlatformError)?.code == .failedPrecondition
            || { if case .refused = error as? StripeClient.Failure { return true }; return false }()
        let message = (error as? PlatformError)?.message ?? "\(error)"
        do {
            if permanent || attempts >= configuration.maximumAttempts {
                try await db.withTransaction { tx in
                    try await tx.execute("""
                        UPDATE billing_jobs SET status = 'failed', attempts = \(attempts), last_error = \(message), updated_at = now() WHERE id = \(job)
                        """)
                    let account = try await tx.query("SELECT account_id FROM deals WHERE id = \(deal) AND workspace_id = \(workspace)")
                        .first?.decode(UUID.self, at: 0)
                    try await Alerts.raise(NewAlert(
                        kind: permanent ? .billingFailed : .integrationFailure, severity: .urgent,
                        message: "Stripe billing for deal \"\(deal)\" failed: \(message)", account: account,
                        details: BillingFailure(dealID: deal, jobID: job)), workspace: workspace, in: tx)
                }
                logger.error("billing job failed", metadata: ["job": "\(job)", "error": "\(message)"])
            } else {
                let wait = Backoff.fullJitter(attempt: attempts, initial: configuration.initialBackoff, maximum: configuration.maximumBackoff)
                try await db.execute("""
                    UPDATE billing_jobs SET attempts = \(attempts), last_error = \(message), updated_at = now(),
                      next_attempt_at = now() + \(Int(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)) * interval '1 millisecond'
                    WHERE id = \(job)
                    """)
                logger.notice("billing job will retry", metadata: ["job": "\(job)", "attempt": "\(attempts)", "error": "\(message)"])
            }
        } catch {
            logger.warning("cannot record a billing job failure", metadata: ["job": "\(job)", "error": "\(error)"])
        }
    }
}

/// The details of a `billing_failed` or `integration_failure` alert about a deal.
struct BillingFailure: Encodable, Sendable {
    var dealID: UUID
    var jobID: UUID?

    enum CodingKeys: String, CodingKey {
        case dealID = "deal_id", jobID = "job_id"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dealID.uuidString.lowercased(), forKey: .dealID)
        try container.encodeIfPresent(jobID?.uuidString.lowercased(), forKey: .jobID)
    }
}
