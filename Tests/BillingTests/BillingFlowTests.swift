import Billing
import CurlHTTP
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Logging
import Messages
import Platform
import Postgres
import RPC
import RPCNIO
import Sandbox
import SandboxStripe
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// The whole path against the Stripe stand-in over real HTTP and a real PostgreSQL: a CRM event in
/// over RPC, Stripe out over libcurl, Stripe's webhooks in through the gateway, CRM effects out.
@Suite(.hangGuard) struct BillingFlowTests {
    static let stripeKey = StripeStandIn.Configuration().apiKey
    static let webhookSecret = StripeStandIn.Configuration().webhookSecret

    struct Harness: Sendable {
        let db: PostgresClient
        let workspace: UUID
        let account: UUID
        let csm: UUID
        let deal: UUID
        let sandbox: String
        let http: HTTPClient
        let faults: Faults
        let deals: DealBilling
        let billing: BillingV1.BillingService.Client<RPCClient>
        let key: String
        let dispatcher: WebhookDispatcher
        let endpointURL: String

        func stripe(_ method: String, _ path: String, _ form: [(String, String)] = []) async throws -> [String: Any] {
            let request = method == "GET"
                ? HTTPClientRequest(url: sandbox + "/stripe" + path, headers: [.init("Authorization", "Bearer \(BillingFlowTests.stripeKey)")])
                : HTTPClientRequest.form(sandbox + "/stripe" + path, form, headers: [.init("Authorization", "Bearer \(BillingFlowTests.stripeKey)")])
            let response = try await http.execute(request)
            return (try JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        }

        func price(_ cents: Int, _ interval: String) async throws -> String {
            try await stripe("POST", "/v1/prices", [("currency", "usd"), ("unit_amount", "\(cents)"), ("product_data[name]", "Plan \(cents)"),
                                                    ("recurring[interval]", interval)])["id"] as! String
        }

        func customers(email: String) async throws -> Int {
            ((try await stripe("GET", "/v1/customers?email=\(HTTPClientRequest.formEncode(email))"))["data"] as? [Any])?.count ?? -1
        }

        /// Sends the sandbox's signed deliveries to the gateway, then lets the dispatcher deliver them to billing.
        func deliverWebhooks(duplicate: Bool = false, reverse: Bool = false) async throws {
            _ = try await http.execute(.json(sandbox + "/_sandbox/stripe/deliveries/send",
                                             Array(#"{"url": "\#(endpointURL)", "duplicate": \#(duplicate), "reverse": \#(reverse)}"#.utf8)))
            _ = try await http.execute(HTTPClientRequest(method: "DELETE", url: sandbox + "/_sandbox/stripe/deliveries"))
            while await dispatcher.dispatchDue() > 0 {}
        }

        func accountRow() async throws -> (payment: String, churn: String, health: Int, status: String?, mrr: Int, customer: String?, subscription: String?) {
            let row = try await db.query("""
                SELECT payment_status, churn_risk, health_score, subscription_status, mrr_cents, stripe_customer_id, stripe_subscription_id
                FROM accounts WHERE id = \(account)
                """)[0]
            return (try row.decode(at: 0), try row.decode(at: 1), try row.decode(at: 2), try row.decodeIfPresent(at: 3), try row.decode(at: 4),
                    try row.decodeIfPresent(at: 5), try row.decodeIfPresent(at: 6))
        }
    }

    /// A workspace with a CSM, an account, a primary contact and a closed-won deal of `items`
    /// (`(cents, interval, quantity)`, created as Stripe prices; an id string is used as is).
    static func with(items: [(price: String?, cents: Int, interval: String, quantity: Int)] = [(nil, 4900, "month", 2), (nil, 120_000, "year", 1)],
                     contactEmail: String? = "buyer@acme.test", failAfterStripeCalls: Int = 0,
                     _ body: @escaping @Sendable (Harness) async throws -> Void) async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let (csm, account, deal) = (UUID(), UUID(), UUID())
        try await db.execute("INSERT INTO users (id, workspace_id, email, name) VALUES (\(csm), \(workspace), 'csm@nexa.test', 'Casey CSM')")
        try await db.execute("""
            INSERT INTO accounts (id, workspace_id, name, normalized_name, csm_user_id) VALUES (\(account), \(workspace), 'Acme Corp', 'acme corp', \(csm))
            """)
        var contact: UUID?
        if let contactEmail {
            contact = UUID()
            try await db.execute("""
                INSERT INTO contacts (id, workspace_id, account_id, email, first_name) VALUES (\(contact!), \(workspace), \(account), \(contactEmail), 'Bea')
                """)
        }
        try await db.execute("""
            INSERT INTO deals (id, workspace_id, account_id, primary_contact_id, name, stage) VALUES (\(deal), \(workspace), \(account), \(contact), 'Acme Pro', 'closed_won')
            """)
        let faults = Faults()
        let sandbox = SandboxApp.build(standIns: [try StripeStandIn()], port: 0, journal: Journal(), faults: faults, logger: TestDatabase.logger)
        try await sandbox.test(.live) { sandboxClient in
            let sandboxBase = "http://127.0.0.1:\(sandboxClient.port!)"
            let http = HTTPClient()
            var retry = RetryPolicy()
            retry.initialBackoff = .milliseconds(20)
            retry.maximumBackoff = .milliseconds(200)
            let stripe = StripeClient(baseURL: sandboxBase + "/stripe", secretKey: stripeKey, http: http, retry: retry)
            let crashes = Atomic<Int>(failAfterStripeCalls)
            var configuration = DealBilling.Configuration()
            configuration.initialBackoff = .zero
            let deals = DealBilling(db: db, stripe: stripe, configuration: configuration, logger: TestDatabase.logger) { _ in
                if crashes.subtract(1, ordering: .relaxed).newValue >= 0 { throw CancellationError() }  // "the process died here"
            }
            // Line items: real sandbox prices.
            let bootstrap = Harness(db: db, workspace: workspace, account: account, csm: csm, deal: deal, sandbox: sandboxBase, http: http, faults: faults,
                                    deals: deals, billing: .init(transport: RPCClient(configuration: .init(targets: [("127.0.0.1", 1)]))), key: "",
                                    dispatcher: WebhookDispatcher(db: db, credentials: ServiceCredentials(db: db, vault: try TokenVault(specification: TokenVault.generatedSpecification())), logger: TestDatabase.logger) { _, _, _ in },
                                    endpointURL: "")
            for item in items {
                let price: String
                if let given = item.price { price = given } else { price = try await bootstrap.price(item.cents, item.interval) }
                try await db.execute("""
                    INSERT INTO deal_line_items (id, workspace_id, deal_id, stripe_price_id, quantity) VALUES (\(UUID()), \(workspace), \(deal), \(price), \(item.quantity))
                    """)
            }
            // Billing over real RPC; the gateway's ingress and dispatcher in front of it.
            let server = RPCServer(
                service: BillingV1.BillingService.Server(handler: BillingHandler(db: db, deals: deals, events: StripeEvents(db: db, logger: TestDatabase.logger))),
                configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)), logger: TestDatabase.logger)
            let group = ServiceGroup(services: [server], logger: TestDatabase.logger)
            let vault = try TokenVault(specification: TokenVault.generatedSpecification())
            let endpoints = WebhookEndpoints(db: db, vault: vault)
            let endpoint = try await endpoints.create(workspaceID: workspace, provider: .stripe, secret: webhookSecret)
            let inbox = WebhookInbox(db: db)
            let ingress = WebhookIngress(endpoints: endpoints, sink: .inbox(inbox), verifiers: [.stripe: StripeVerifier()], logger: TestDatabase.logger)
            let gateway = GatewayHTTP.make(host: "127.0.0.1", port: 0, ingress: ingress, maximumBodySize: 1 << 20, logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                tasks.addTask { await inbox.run() }
                let port = try await server.waitUntilListening().port!
                let rpc = RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", port)]))
                var dispatch = WebhookDispatcher.Configuration()
                dispatch.initialBackoff = .milliseconds(1)
                let dispatcher = WebhookDispatcher(db: db, credentials: ServiceCredentials(db: db, vault: vault), configuration: dispatch,
                                                   logger: TestDatabase.logger, transport: WebhookDispatcher.rpcTransport(["billing": rpc]))
                let (_, key) = try await APIKeys(db: db).create(workspaceID: workspace, name: "crm", services: ["billing"])
                try await gateway.test(.live) { gatewayClient in
                    try await body(Harness(db: db, workspace: workspace, account: account, csm: csm, deal: deal, sandbox: sandboxBase, http: http,
                                           faults: faults, deals: deals, billing: .init(transport: rpc), key: key, dispatcher: dispatcher,
                                           endpointURL: "http://127.0.0.1:\(gatewayClient.port!)/webhooks/stripe/\(endpoint.endpoint.id)"))
                }
                await rpc.close()
                await group.triggerGracefulShutdown()
                tasks.cancelAll()
            }
        }
    }

    static func closeDeal(_ h: Harness) async throws -> BillingV1.BillingJob {
        var request = BillingV1.DealClosedRequest()
        request.dealID = h.deal.uuidString
        return try await h.billing.dealClosed(request, options: CallOptions(apiKey: h.key))
    }

    @Test func dealToSubscriptionThenPaidFailedRecoveredWithExactlyOnceEffects() async throws {
        try await Self.with { h in
            let job = try await Self.closeDeal(h)
            #expect(job.status == "pending")
            #expect(try await Self.closeDeal(h).id == job.id, "a duplicate DealClosed queues nothing new")
            #expect(await h.deals.processDue() == 1)
            _ = try await Self.closeDeal(h)
            #expect(await h.deals.processDue() == 0)

            var request = BillingV1.GetBillingJobRequest()
            request.jobID = job.id
            let done = try await h.billing.getBillingJob(request, options: CallOptions(apiKey: h.key))
            #expect(done.status == "done" && done.stripeCustomerID.hasPrefix("cus_") && done.stripeSubscriptionID.hasPrefix("sub_"))
            var account = try await h.accountRow()
            #expect(account.status == "active" && account.health == 70)
            // 2 × $49/month + $1,200/year = $98 + $100 a month.
            #expect(account.mrr == 19_800)
            #expect(try await h.customers(email: "buyer@acme.test") == 1)
            let customer = try await h.stripe("GET", "/v1/customers/\(done.stripeCustomerID)")
            #expect(customer["name"] as? String == "Acme Corp")
            #expect((customer["metadata"] as? [String: Any])?["crm_deal_id"] as? String == h.deal.uuidString.lowercased())
            let subscription = try await h.stripe("GET", "/v1/subscriptions/\(done.stripeSubscriptionID)")
            #expect(((subscription["items"] as? [String: Any])?["data"] as? [Any])?.count == 2)
            let next = try await h.db.query("SELECT next_billing_date > now() FROM accounts WHERE id = \(h.account)")[0].decode(Bool.self, at: 0)
            #expect(next)
            // The subscription's first invoice (2 × $49 + $1,200 = $1,298) was paid at creation.
            try await h.deliverWebhooks()
            account = try await h.accountRow()
            #expect(account.payment == "current" && account.health == 75)

            // Paid → failed → recovered, each delivery sent twice and newest first.
            _ = try await h.http.execute(HTTPClientRequest(method: "POST", url: h.sandbox + "/_sandbox/stripe/subscriptions/\(done.stripeSubscriptionID)/pay"))
            try await h.deliverWebhooks(duplicate: true, reverse: true)
            account = try await h.accountRow()
            #expect(account.payment == "current" && account.health == 80)
            let activities = try await h.db.query("SELECT subject, data->>'amount', data->>'invoice_id' FROM activities WHERE kind = 'payment_received'")
            #expect(activities.count == 2)
            #expect(try activities.first?.decode(String.self, at: 1) == "1298")

            _ = try await h.http.execute(HTTPClientRequest(method: "POST", url: h.sandbox + "/_sandbox/stripe/subscriptions/\(done.stripeSubscriptionID)/fail"))
            try await h.deliverWebhooks(duplicate: true)
            account = try await h.accountRow()
            #expect(account.payment == "overdue" && account.churn == "high" && account.health == 65 && account.status == "past_due")
            let alerts = try await h.db.query("SELECT severity, recipient_user_id, message FROM alerts WHERE kind = 'payment_failed'")
            #expect(alerts.count == 1)
            #expect(try alerts.first?.decode(String.self, at: 0) == "urgent" && alerts.first?.decode(UUID.self, at: 1) == h.csm)
            #expect(try alerts.first?.decode(String.self, at: 2).contains("1298 USD due") == true)
            let tasks = try await h.db.query("SELECT priority, assignee_user_id, due_date = current_date FROM tasks WHERE kind = 'payment_recovery'")
            #expect(tasks.count == 1)
            #expect(try tasks.first?.decode(String.self, at: 0) == "urgent" && tasks.first?.decode(Bool.self, at: 2) == true)

            _ = try await h.http.execute(HTTPClientRequest(method: "POST", url: h.sandbox + "/_sandbox/stripe/subscriptions/\(done.stripeSubscriptionID)/pay"))
            try await h.deliverWebhooks()
            account = try await h.accountRow()
            #expect(account.payment == "current" && account.health == 70 && account.status == "active")

            // A replay of everything changes nothing.
            #expect(try await WebhookInbox.replay(.receivedBetween(Date().addingTimeInterval(-3600), Date().addingTimeInterval(60)), db: h.db, workspaceID: h.workspace) > 0)
            while await h.dispatcher.dispatchDue() > 0 {}
            #expect(try await h.accountRow().health == 70)
            #expect(try await h.db.query("SELECT 1 FROM activities WHERE kind = 'payment_received'").count == 3)

            // The score explains itself.
            var healthRequest = BillingV1.GetAccountHealthRequest()
            healthRequest.accountID = h.account.uuidString
            let health = try await h.billing.getAccountHealth(healthRequest, options: CallOptions(apiKey: h.key))
            #expect(health.score == 70 && health.mrrCents == 19_800)
            #expect(health.changes.map(\.cause) == ["invoice.payment_succeeded", "invoice.payment_succeeded", "invoice.payment_failed", "invoice.payment_succeeded"])
            #expect(health.changes.map(\.delta) == [5, 5, -15, 5] && health.changes.map(\.after) == [75, 80, 65, 70])
            let dead = try await h.db.query("SELECT count(*) FROM webhook_inbox WHERE status <> 'delivered'")[0].decode(Int.self, at: 0)
            #expect(dead == 0)
        }
    }

    @Test func stripeOutagesDuringCreationAreRetriedIntoExactlyOneCustomer() async throws {
        try await Self.with(contactEmail: "retry@acme.test") { h in
            // The first customer POST answers 500 and the first subscription POST 429: retried with the same keys.
            h.faults.add(Faults.Fault(provider: "stripe", method: "POST", pathPrefix: "/v1/customers", status: 500, times: 1))
            h.faults.add(Faults.Fault(provider: "stripe", method: "POST", pathPrefix: "/v1/subscriptions", status: 429, retryAfter: 0, times: 1))
            _ = try await Self.closeDeal(h)
            #expect(await h.deals.processDue() == 1)
            #expect(try await h.accountRow().status == "active")
            #expect(try await h.customers(email: "retry@acme.test") == 1)
        }
    }

    @Test func aCrashBetweenTheStripeCallsAndTheCRMWriteCreatesNothingTwice() async throws {
        try await Self.with(contactEmail: "crash@acme.test", failAfterStripeCalls: 1) { h in
            _ = try await Self.closeDeal(h)
            #expect(await h.deals.processDue() == 1)
            var job = try await h.db.query("SELECT status, attempts FROM billing_jobs")[0]
            #expect(try job.decode(String.self, at: 0) == "pending" && job.decode(Int.self, at: 1) == 1)
            #expect(try await h.accountRow().subscription == nil)
            // "Restart": the job is due again and runs to the end with the same idempotency keys.
            try await h.db.execute("UPDATE billing_jobs SET next_attempt_at = now()")
            #expect(await h.deals.processDue() == 1)
            job = try await h.db.query("SELECT status FROM billing_jobs")[0]
            #expect(try job.decode(String.self, at: 0) == "done")
            let account = try await h.accountRow()
            #expect(try await h.customers(email: "crash@acme.test") == 1)
            let subscriptions = try await h.stripe("GET", "/v1/subscriptions?customer=\(account.customer ?? "")")
            #expect((subscriptions["data"] as? [Any])?.count == 1)
        }
    }

    @Test func badDealsFailWithAClearPreconditionAndAnAlertAndCreateNothing() async throws {
        try await Self.with(items: [], contactEmail: "none@acme.test") { h in
            do {
                _ = try await Self.closeDeal(h)
                Issue.record("a deal without line items was accepted")
            } catch let error as RPCError {
                #expect(error.code == .failedPrecondition && error.message.contains("no line items"))
            }
            #expect(try await h.db.query("SELECT 1 FROM alerts WHERE kind = 'billing_failed'").count == 1)
            #expect(try await h.db.query("SELECT 1 FROM billing_jobs").isEmpty)
        }
        try await Self.with(contactEmail: nil) { h in
            await #expect(throws: RPCError.self) { _ = try await Self.closeDeal(h) }
            try await h.db.execute("UPDATE deals SET stage = 'open'")
            await #expect(throws: RPCError.self) { _ = try await Self.closeDeal(h) }
            #expect(try await h.db.query("SELECT 1 FROM alerts WHERE kind = 'billing_failed'").count == 2)
        }
        try await Self.with(items: [("price_does_not_exist", 0, "month", 1)], contactEmail: "unknown-price@acme.test") { h in
            _ = try await Self.closeDeal(h)
            #expect(await h.deals.processDue() == 1)
            let job = try await h.db.query("SELECT status, last_error FROM billing_jobs")[0]
            #expect(try job.decode(String.self, at: 0) == "failed" && job.decode(String.self, at: 1).contains("price_does_not_exist"))
            #expect(try await h.db.query("SELECT severity FROM alerts WHERE kind = 'billing_failed'").count == 1)
            #expect(try await h.customers(email: "unknown-price@acme.test") == 0, "nothing half-created at Stripe")
        }
    }
}
