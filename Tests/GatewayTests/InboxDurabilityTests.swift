import CurlHTTP
import Foundation
import Gateway
import Messages
import NIOCore
import Platform
import Postgres
import RPC
import RPCNIO
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real `nexa-gateway` process, killed with SIGKILL in the middle of a burst of webhooks:
/// every event it acknowledged is delivered, and applied exactly once.
@Suite(.hangGuard) struct InboxDurabilityTests {
    /// A billing service whose webhook handler applies one effect per event through the effect ledger.
    struct LedgerBilling: BillingV1.BillingService.Handler {
        let db: PostgresClient
        let calls: Calls

        func handleWebhook(_ request: GatewayV1.WebhookEvent, context: ServerContext) async throws -> GatewayV1.WebhookAck {
            calls.counts.withLock { $0[request.eventID, default: 0] += 1 }
            let workspace = UUID(uuidString: try context.workspaceID())!
            let applied = try await db.withTransaction { tx in
                try await EffectLedger.claim("test_effect", of: request.eventID, from: request.provider, workspace: workspace, in: tx)
            }
            var ack = GatewayV1.WebhookAck()
            ack.duplicate = !applied
            return ack
        }
    }

    final class Calls: Sendable {
        let counts = Mutex<[String: Int]>([:])
    }

    final class Acknowledged: Sendable {
        let ids = Mutex<Set<String>>([])
    }

    /// What a `nexa-gateway` process needs to run against `url`, serving HTTP on `httpPort`.
    static func gatewayEnvironment(url: String, vault: String, httpPort: Int) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["NEXA_DATABASE_URL"] = url
        environment["NEXA_VAULT_KEYS"] = vault
        environment["NEXA_GATEWAY_HTTP_PORT"] = "\(httpPort)"
        environment["NEXA_GATEWAY_RPC_PORT"] = "\(Processes.freePort())"
        environment["NEXA_GATEWAY_ADMIN_PORT"] = "\(Processes.freePort())"
        environment["NEXA_LOG_LEVEL"] = "error"
        return environment
    }

    /// Polls the gateway's `/healthz` until it answers.
    static func waitUntilUp(_ base: String, http: HTTPClient) async throws {
        try await Wait.until("the gateway answers /healthz") {
            (try? await http.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(5)))?.status == 200
        }
    }

    @Test func killedMidBurstEveryAcknowledgedEventIsDeliveredExactlyOnce() async throws {
        let (url, db) = try await TestDatabase.migrated()
        let workspace = try await TestDatabase.workspace(in: db)
        let vaultSpec = TokenVault.generatedSpecification(id: "k1")
        let endpoint = try await WebhookEndpoints(db: db, vault: try TokenVault(specification: vaultSpec))
            .create(workspaceID: workspace, provider: .stripe, secret: "whsec_durable")

        let calls = Calls()
        let billing = RPCServer(service: BillingV1.BillingService.Server(handler: LedgerBilling(db: db, calls: calls)),
                                configuration: ServerConfiguration(port: 0),
                                authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)), logger: TestDatabase.logger)
        let group = ServiceGroup(services: [billing], logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let billingPort = try await billing.waitUntilListening().port!
            let httpPort = Processes.freePort()
            var environment = Self.gatewayEnvironment(url: url, vault: vaultSpec, httpPort: httpPort)
            environment["NEXA_BILLING_RPC_TARGET"] = "127.0.0.1:\(billingPort)"
            environment["NEXA_WEBHOOK_LEASE_SECONDS"] = "4"
            let executable = try Processes.binary("nexa-gateway")
            func start() throws -> Process {
                return try Processes.start(executable, environment: environment)
            }
            let http = HTTPClient()
            let base = "http://127.0.0.1:\(httpPort)"

            let first = try start()
            try await Self.waitUntilUp(base, http: http)
            let acknowledged = Acknowledged()
            // Eight senders post until the gateway dies under them; the kill lands mid-burst.
            try await withThrowingTaskGroup(of: Void.self) { senders in
                for sender in 0..<8 {
                    senders.addTask {
                        for n in 0..<100_000 {
                            let id = "evt_\(sender)_\(n)"
                            let body = #"{"id":"\#(id)","object":"event","type":"invoice.paid","pad":"\#(String(repeating: "x", count: 900))"}"#
                            let signature = WebhookIngressTests.stripeHeader(secret: "whsec_durable", body: body)
                            guard let reply = try? await http.execute(
                                .json(base + "/webhooks/stripe/\(endpoint.endpoint.id)", Array(body.utf8), headers: [.init("Stripe-Signature", signature)]),
                                timeout: .seconds(30)) else { return }  // the connection died with the process
                            if reply.status == 200 { acknowledged.ids.withLock { _ = $0.insert(id) } }
                        }
                    }
                }
                try await Wait.until("300 deliveries are acknowledged") { acknowledged.ids.withLock { $0.count } >= 300 }
                kill(first.processIdentifier, SIGKILL)
                try await senders.waitForAll()
            }
            _ = await first.exit()
            let acked = acknowledged.ids.withLock { $0 }
            #expect(acked.count >= 300)

            // Every acknowledged event survived the kill…
            let stored = Set(try await db.query("SELECT event_id FROM webhook_inbox").map { try $0.decode(String.self, at: 0) })
            #expect(acked.isSubset(of: stored), "acknowledged but lost: \(acked.subtracting(stored).count)")

            // …and after a restart every one is delivered, its effect applied exactly once.
            let second = try start()
            try await Self.waitUntilUp(base, http: http)
            try await Wait.until("every stored event is delivered", within: .seconds(180)) {
                try await db.query("SELECT count(*) FROM webhook_inbox WHERE status <> 'delivered'")[0].decode(Int.self, at: 0) == 0
            }
            second.terminate()
            _ = await second.exit()
            let effects = try await db.query("SELECT event_id, count(*) FROM effect_ledger GROUP BY event_id")
            let applied = Dictionary(uniqueKeysWithValues: try effects.map { (try $0.decode(String.self, at: 0), try $0.decode(Int.self, at: 1)) })
            #expect(acked.isSubset(of: Set(applied.keys)))
            #expect(applied.values.allSatisfy { $0 == 1 })
            // Every stored event was applied, once. (Read again: a batch the killed gateway had sent may
            // have committed just after the first read — stored, never acknowledged, and delivered too.)
            let finallyStored = Set(try await db.query("SELECT event_id FROM webhook_inbox").map { try $0.decode(String.self, at: 0) })
            #expect(stored.isSubset(of: finallyStored))
            #expect(Set(applied.keys) == finallyStored)
            let delivered = calls.counts.withLock { $0 }
            #expect(acked.allSatisfy { (delivered[$0] ?? 0) >= 1 })

            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// SIGTERM while a delivery waits on its commit: the delivery is still answered (and stored)
    /// before the connection closes and the process exits. Hummingbird would close a connection it
    /// sees idle at once; the webhook handler holds the quiesce event until its delivery is answered.
    @Test func aDeliveryInFlightAtShutdownIsAnsweredBeforeTheGatewayExits() async throws {
        let (url, db) = try await TestDatabase.migrated()
        let workspace = try await TestDatabase.workspace(in: db)
        let vaultSpec = TokenVault.generatedSpecification(id: "k1")
        let endpoint = try await WebhookEndpoints(db: db, vault: try TokenVault(specification: vaultSpec))
            .create(workspaceID: workspace, provider: .stripe, secret: "whsec_shutdown")
        let httpPort = Processes.freePort()
        var environment = Self.gatewayEnvironment(url: url, vault: vaultSpec, httpPort: httpPort)
        environment["NEXA_GATEWAY_DISPATCHER"] = "off"
        let gateway = try Processes.start(try Processes.binary("nexa-gateway"), environment: environment)
        let http = HTTPClient()
        let base = "http://127.0.0.1:\(httpPort)"
        try await Self.waitUntilUp(base, http: http)

        let body = #"{"id":"evt_at_shutdown","object":"event","type":"invoice.paid"}"#
        let signature = WebhookIngressTests.stripeHeader(secret: "whsec_shutdown", body: body)
        let status = try await db.withTransaction { tx in
            // The inbox's COPY waits behind this lock until the transaction ends.
            try await tx.execute("LOCK TABLE webhook_inbox IN SHARE MODE")
            let delivery = Task {
                try await http.execute(.json(base + "/webhooks/stripe/\(endpoint.endpoint.id)", Array(body.utf8),
                                             headers: [.init("Stripe-Signature", signature)]), timeout: .seconds(30)).status
            }
            try await Wait.until("the inbox's COPY waits on the lock") {
                try await db.query("""
                    SELECT 1 FROM pg_locks WHERE relation = 'webhook_inbox'::regclass AND NOT granted
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """).count > 0
            }
            kill(gateway.processIdentifier, SIGTERM)
            // Shutting down, the gateway closes its listener first: connections are then refused.
            try await Wait.until("the gateway refuses new connections") {
                do {
                    _ = try await http.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(5))
                    return false
                } catch let error as HTTPClientError {
                    return error.code == .couldNotConnect
                }
            }
            return delivery
        }.value
        #expect(status == 200)
        #expect(await gateway.exit() == 0)
        #expect(try await db.query("SELECT event_id FROM webhook_inbox").map { try $0.decode(String.self, at: 0) } == ["evt_at_shutdown"])
    }
}
