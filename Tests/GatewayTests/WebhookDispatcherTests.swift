import Foundation
import Gateway
import Logging
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

/// The inbox's group commit and the dispatcher's delivery, retry, dead-letter, deferral and replay.
@Suite(.hangGuard) struct WebhookDispatcherTests {
    static func event(_ workspace: UUID, _ id: String, provider: WebhookProvider = .stripe) -> WebhookInbox.NewEvent {
        WebhookInbox.NewEvent(workspaceID: workspace, endpointID: "we_test", provider: provider, eventID: id, eventType: "test.event",
                              headers: ["content-type": "application/json"], body: Array(#"{"id":"\#(id)"}"#.utf8))
    }

    /// Runs `body` with the inbox writers going.
    static func withInbox(_ db: PostgresClient, _ body: (WebhookInbox) async throws -> Void) async throws {
        let inbox = WebhookInbox(db: db)
        let writers = Task { await inbox.run() }
        defer { writers.cancel() }
        try await body(inbox)
    }

    @Test func groupCommitStoresConcurrentDeliveriesOnceEach() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await Self.withInbox(db) { inbox in
            // 300 deliveries of 200 distinct events, all at once.
            let results = try await withThrowingTaskGroup(of: WebhookInbox.Stored.self) { group in
                for i in 0..<300 { group.addTask { try await inbox.append(Self.event(workspace, "evt_\(i % 200)")) } }
                return try await group.reduce(into: [WebhookInbox.Stored]()) { $0.append($1) }
            }
            #expect(results.filter { $0 == .stored }.count == 200)
            #expect(results.filter { $0 == .duplicate }.count == 100)
        }
        let rows = try await db.query("SELECT count(*), count(DISTINCT event_id) FROM webhook_inbox")[0]
        #expect(try rows.decode(Int.self, at: 0) == 200 && rows.decode(Int.self, at: 1) == 200)
    }

    @Test func deliversEachEventOnceAcrossConcurrentDispatchers() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await Self.withInbox(db) { inbox in
            for i in 0..<120 { _ = try await inbox.append(Self.event(workspace, "evt_\(i)", provider: i % 2 == 0 ? .stripe : .zendesk)) }
        }
        let received = Mutex<[String: Int]>([:])
        let services = Mutex<Set<String>>([])
        let keys = Mutex<[String: Set<String>]>([:])
        let transport: WebhookDispatcher.Transport = { service, event, options in
            received.withLock { $0[event.eventID, default: 0] += 1 }
            services.withLock { _ = $0.insert(service) }
            keys.withLock { _ = $0[service, default: []].insert(options.apiKey ?? "") }
            #expect(options.workspaceID == workspace.uuidString.lowercased() && event.body == Array(#"{"id":"\#(event.eventID)"}"#.utf8))
        }
        let vault = try TokenVault(specification: TokenVault.generatedSpecification())
        let credentials = ServiceCredentials(db: db, vault: vault)
        var configuration = WebhookDispatcher.Configuration()
        configuration.batchSize = 7
        let a = WebhookDispatcher(db: db, credentials: credentials, configuration: configuration, logger: TestDatabase.logger, transport: transport)
        let b = WebhookDispatcher(db: db, credentials: credentials, configuration: configuration, logger: TestDatabase.logger, transport: transport)
        await withTaskGroup(of: Void.self) { group in
            for dispatcher in [a, b, a, b] { group.addTask { while await dispatcher.dispatchDue() > 0 {} } }
        }
        #expect(received.withLock { $0.count } == 120)
        #expect(received.withLock { $0.values.allSatisfy { $0 == 1 } })
        #expect(services.withLock { $0 } == ["billing", "support"])
        // One key per service for the workspace (the service's identity there), the same across dispatchers.
        #expect(keys.withLock { $0.mapValues(\.count) } == ["billing": 1, "support": 1])
        let billingKey = try #require(keys.withLock { $0["billing"]?.first })
        let authenticator = APIKeyAuthenticator(keys: APIKeys(db: db))
        let authenticated = try await authenticator.authenticate(
            CallMetadata(apiKey: billingKey), service: BillingV1.BillingService.descriptor, method: BillingV1.BillingService.descriptor.methods[3])
        #expect(authenticated.workspaceID == workspace.uuidString.lowercased())
        #expect(authenticated.scopes == ["billing", "gateway", "tokens:billing"])
        // Billing's key is billing's: it does not call support.
        await #expect(throws: RPCError.self) {
            let support = SupportV1.SupportService.descriptor
            _ = try await authenticator.authenticate(CallMetadata(apiKey: billingKey), service: support, method: support.methods.first { !$0.isPublic }!)
        }
        let delivered = try await db.query("SELECT count(*) FROM webhook_inbox WHERE status = 'delivered' AND delivered_at IS NOT NULL")[0]
        #expect(try delivered.decode(Int.self, at: 0) == 120)
    }

    @Test func failuresRetryWithBackoffThenDeadLetterWithAnAlertAndReplayDelivers() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await Self.withInbox(db) { inbox in _ = try await inbox.append(Self.event(workspace, "evt_fail")) }
        let healthy = Atomic<Bool>(false)
        let calls = Atomic<Int>(0)
        let transport: WebhookDispatcher.Transport = { _, event, _ in
            calls.add(1, ordering: .relaxed)
            if !healthy.load(ordering: .relaxed) { throw RPCError(.internalError, "handler crashed on \(event.eventID)") }
        }
        var configuration = WebhookDispatcher.Configuration()
        configuration.maximumAttempts = 3
        configuration.initialBackoff = .milliseconds(20)
        let dispatcher = WebhookDispatcher(db: db, credentials: ServiceCredentials(db: db, vault: try TokenVault(specification: TokenVault.generatedSpecification())),
                                           configuration: configuration, logger: TestDatabase.logger, transport: transport)

        #expect(await dispatcher.dispatchDue() == 1)
        var row = try await db.query("SELECT status, attempts, last_error, next_attempt_at > now() - interval '1 second' FROM webhook_inbox")[0]
        #expect(try row.decode(String.self, at: 0) == "pending" && row.decode(Int.self, at: 1) == 1)
        #expect(try row.decode(String.self, at: 2).contains("handler crashed"))
        // Retries come back after their backoff, never earlier than due.
        try await Wait.until("the event is dead after its retries") {
            await dispatcher.dispatchDue()
            return try await db.query("SELECT 1 FROM webhook_inbox WHERE status = 'dead'").count == 1
        }
        row = try await db.query("SELECT status, attempts FROM webhook_inbox")[0]
        #expect(try row.decode(String.self, at: 0) == "dead" && row.decode(Int.self, at: 1) == 3)
        #expect(calls.load(ordering: .relaxed) == 3)
        let alert = try await db.query("SELECT kind, severity, message, data->>'event_id' FROM alerts WHERE workspace_id = \(workspace)")
        #expect(alert.count == 1)
        #expect(try alert[0].decode(String.self, at: 0) == "integration_failure" && alert[0].decode(String.self, at: 1) == "urgent")
        #expect(try alert[0].decode(String.self, at: 3) == "evt_fail")
        // Dead events stay dead…
        #expect(await dispatcher.dispatchDue() == 0)
        // …until replayed.
        healthy.store(true, ordering: .relaxed)
        #expect(try await WebhookInbox.replay(.allDead, db: db, workspaceID: workspace) == 1)
        #expect(await dispatcher.dispatchDue() == 1)
        #expect(try await db.query("SELECT status FROM webhook_inbox")[0].decode(String.self, at: 0) == "delivered")
        // Replaying another workspace's events changes nothing here.
        #expect(try await WebhookInbox.replay(.one(1), db: db, workspaceID: UUID()) == 0)
    }

    @Test func aServiceWithoutTheMethodDefersWithoutSpendingAttempts() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        try await Self.withInbox(db) { inbox in _ = try await inbox.append(Self.event(workspace, "evt_waiting")) }
        // A real domain service over real RPC whose HandleWebhook is not built: UNIMPLEMENTED.
        let server = RPCServer(service: BillingV1.BillingService.Server(handler: UnbuiltBilling()), configuration: ServerConfiguration(port: 0),
                               authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)), logger: TestDatabase.logger)
        let group = ServiceGroup(services: [server], logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.waitUntilListening().port!
            let client = RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", port)]))
            let dispatcher = WebhookDispatcher(
                db: db, credentials: ServiceCredentials(db: db, vault: try TokenVault(specification: TokenVault.generatedSpecification())),
                logger: TestDatabase.logger, transport: WebhookDispatcher.rpcTransport(["billing": client]))
            #expect(await dispatcher.dispatchDue() == 1)
            let row = try await db.query("SELECT status, attempts, last_error, next_attempt_at > now() + interval '10 seconds' FROM webhook_inbox")[0]
            #expect(try row.decode(String.self, at: 0) == "pending" && row.decode(Int.self, at: 1) == 0)
            #expect(try row.decode(String.self, at: 2).hasPrefix("UNIMPLEMENTED") && row.decode(Bool.self, at: 3))
            await client.close()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

/// A billing service as it is before its webhook handling exists.
struct UnbuiltBilling: BillingV1.BillingService.Handler {}
