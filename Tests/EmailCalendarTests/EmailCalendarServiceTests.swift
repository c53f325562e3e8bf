import CRM
import CurlHTTP
import EmailCalendar
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
import TestSupport
import Testing

/// The service as the gateway's dispatcher reaches it: over RPC with the service's identity key for
/// the workspace, reading tokens back from the real gateway, syncing from the Google stand-in.
@Suite(.hangGuard) struct EmailCalendarServiceTests {
    @Test func aConnectionStartsItsMailboxAndPushesCatchItUpWithTokensFromTheGateway() async throws {
        let db = try await TestDatabase.migrated().client
        let workspace = try await TestDatabase.workspace(in: db)
        let user = UUID()
        try await db.execute("INSERT INTO users (id, workspace_id, email, name) VALUES (\(user), \(workspace), 'ana@nexa-demo.test', 'Ana')")
        try await db.withConnection { c in _ = try await Records.addContact(email: "buyer@example.com", workspace: workspace, in: c) }
        let vault = try TokenVault(specification: TokenVault.generatedSpecification())

        try await MailboxSyncTests.withGoogle { google in
            // A Google connection with mail scopes, as the gateway's OAuth flow stores it (tokens from the stand-in).
            let token = try await google.token()
            let provider = OAuthProvider(name: "google", authorizationURL: google.base + "/google/accounts/o/oauth2/v2/auth",
                                         tokenURL: google.base + "/google/oauth2/token", revocationURL: nil, clientID: "c", clientSecret: "s",
                                         scopes: [], authorizationParameters: [:], owningService: "email_calendar")
            let connections = Connections(db: db, vault: vault, tokens: TokenEndpoint(http: google.http), providers: ["google": provider],
                                          logger: TestDatabase.logger)
            let connection = try await connections.save(
                workspaceID: workspace, userID: user, provider: provider, email: "ana@nexa-demo.test",
                tokens: .init(accessToken: token, refreshToken: "r", expiresIn: 3599, scopes: ["https://www.googleapis.com/auth/gmail.modify"],
                              email: "ana@nexa-demo.test"))
            try await google.deliver(from: "Buyer <buyer@example.com>", subject: "renewal")

            let gatewayServer = RPCServer(service: makeGatewayService(db: db, vault: vault, providers: ["google": provider]),
                                          configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)),
                                          logger: TestDatabase.logger)
            let services = ServiceGroup(services: [gatewayServer], logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await services.run() }
                let gatewayPort = try await gatewayServer.waitUntilListening().port!
                let gatewayClient = RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", gatewayPort)]))
                let emailServer = RPCServer(
                    service: makeEmailCalendarService(db: db, gateway: gatewayClient, http: google.http, gmailAPI: google.base + "/google/gmail",
                                                      logger: TestDatabase.logger),
                    configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)), logger: TestDatabase.logger)
                tasks.addTask { try await emailServer.run() }
                let emailPort = try await emailServer.waitUntilListening().port!
                let email = EmailCalendarV1.EmailCalendarService.Client(transport: RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", emailPort)])))
                // The key the dispatcher calls email_calendar with in this workspace.
                let key = try await ServiceCredentials(db: db, vault: vault).apiKey(for: workspace, service: "email_calendar")
                let options = CallOptions(apiKey: key, workspaceID: workspace.uuidString.lowercased())

                // The gateway's connection.created event: the mailbox starts and the contact's mail is stored.
                let created = try #require(try await db.query("""
                    SELECT body FROM webhook_inbox WHERE workspace_id = \(workspace) AND event_type = 'connection.created'
                    """).first).decode([UInt8].self, at: 0)
                var event = GatewayV1.WebhookEvent()
                event.provider = "google"
                event.eventType = "connection.created"
                event.body = created
                _ = try await email.handleWebhook(event, options: options)
                func subjects() async throws -> [String] {
                    try await db.query("SELECT subject FROM activities WHERE workspace_id = \(workspace) ORDER BY subject").map { try $0.decode(String.self, at: 0) }
                }
                #expect(try await subjects() == ["renewal"])

                // A Pub/Sub push for the mailbox: what arrived since is stored.
                try await google.deliver(from: "buyer@example.com", subject: "signed contract")
                let data = Data(#"{"emailAddress":"ana@nexa-demo.test","historyId":"99999"}"#.utf8).base64EncodedString()
                var push = GatewayV1.WebhookEvent()
                push.provider = "google_pubsub"
                push.eventType = "gmail.notification"
                push.body = Array(#"{"message":{"data":"\#(data)","messageId":"1"},"subscription":"projects/p/subscriptions/s"}"#.utf8)
                _ = try await email.handleWebhook(push, options: options)
                #expect(try await subjects() == ["renewal", "signed contract"])

                // A key without the token grant cannot read the mailbox's token: the push fails, nothing is stored.
                let (_, plain) = try await APIKeys(db: db).create(workspaceID: workspace, name: "plain", services: ["email_calendar", "gateway"])
                try await google.deliver(from: "buyer@example.com", subject: "third")
                await #expect(throws: RPCError.self) {
                    _ = try await email.handleWebhook(push, options: CallOptions(apiKey: plain, workspaceID: workspace.uuidString.lowercased()))
                }
                #expect(try await subjects() == ["renewal", "signed contract"])
                // The failure shows in the sync status, classed; the next good pass clears it.
                var status = try await email.getSyncStatus(.init(), options: options).mailboxes
                #expect(status.count == 1 && status.first?.state == "failed" && status.first?.failureClass == "auth")
                _ = try await email.handleWebhook(push, options: options)
                status = try await email.getSyncStatus(.init(), options: options).mailboxes
                #expect(status.first?.state == "active" && status.first?.failureClass == "" && status.first?.ownerEmail == "ana@nexa-demo.test")
                #expect(status.first?.messagesStored == 3 && (status.first?.lastSyncedAtUnixMs ?? 0) > 0 && (status.first?.watchExpiresAtUnixMs ?? 0) > 0)
                #expect(try await subjects() == ["renewal", "signed contract", "third"])

                // The gateway's hourly tick: a watch near its end is renewed, and mail whose push was lost is caught up.
                try await db.execute("UPDATE mailboxes SET watch_expires_at = now() + interval '1 hour'")
                try await google.deliver(from: "buyer@example.com", subject: "fourth, its push lost")
                #expect(try await connections.enqueueTicks(provider: "google") == 1)
                #expect(try await connections.enqueueTicks(provider: "google") == 0)  // once an hour per connection
                var tick = GatewayV1.WebhookEvent()
                tick.provider = "google"
                tick.eventType = "sync.tick"
                tick.body = try #require(try await db.query("""
                    SELECT body FROM webhook_inbox WHERE workspace_id = \(workspace) AND event_type = 'sync.tick'
                    """).first).decode([UInt8].self, at: 0)
                _ = try await email.handleWebhook(tick, options: options)
                #expect(try await db.query("SELECT watch_expires_at > now() + interval '6 days' FROM mailboxes")[0].decode(Bool.self, at: 0))
                #expect(try await subjects() == ["fourth, its push lost", "renewal", "signed contract", "third"])
                // A push for a mailbox this workspace does not sync is acknowledged and changes nothing.
                let other = Data(#"{"emailAddress":"bob@nexa-demo.test","historyId":"1"}"#.utf8).base64EncodedString()
                push.body = Array(#"{"message":{"data":"\#(other)","messageId":"2"}}"#.utf8)
                _ = try await email.handleWebhook(push, options: options)
                _ = connection
                await services.triggerGracefulShutdown()
                tasks.cancelAll()
            }
        }
    }
}
