import CRM
import CurlHTTP
import EmailCalendar
import Foundation
import Gateway
import Messages
import NIOCore
import Platform
import Postgres
import RPC
import RPCNIO
import SandboxGoogle
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// The email & calendar service as it runs: over RPC, reading tokens from a real gateway (which
/// introduces it for users' calls), syncing Ana's Gmail mailbox from the Google stand-in, on a
/// real database. Events the gateway queues are handed to the service as its dispatcher would.
struct EmailServiceHarness: Sendable {
    let db: PostgresClient
    /// The test's own database (for a service run as its own process).
    let databaseURL: String
    let workspace: UUID
    let google: MailboxSyncTests.Google
    let connections: Connections
    let provider: OAuthProvider
    let connection: Connections.Connection
    let email: EmailCalendarV1.EmailCalendarService.Client<RPCClient>
    /// The gateway's key for email_calendar in the workspace (what the dispatcher calls with).
    let identity: CallOptions
    /// A user's key for every service.
    let user: CallOptions
    /// The gateway's RPC address, `host:port` (for a service run as its own process).
    let gatewayTarget: String

    static let owner = "ana@nexa-demo.test"
    static let scopes = ["https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/calendar"]

    /// Runs `body` with the service started, `contacts` in the CRM and Ana's mailbox and calendar
    /// connected (its `connection.created` event queued, not yet delivered).
    static func run(contacts: [String] = ["buyer@example.com"], _ body: @escaping @Sendable (EmailServiceHarness) async throws -> Void) async throws {
        let (databaseURL, db) = try await TestDatabase.migrated()
        let workspace = try await TestDatabase.workspace(in: db)
        let user = UUID()
        try await db.execute("INSERT INTO users (id, workspace_id, email, name) VALUES (\(user), \(workspace), \(owner), 'Ana')")
        try await db.withConnection { c in
            for address in contacts { _ = try await Records.addContact(email: address, workspace: workspace, in: c) }
        }
        let vault = try TokenVault(specification: TokenVault.generatedSpecification())

        try await MailboxSyncTests.withGoogle { google in
            let client = GoogleStandIn.Configuration()
            let provider = OAuthProvider(name: "google", authorizationURL: google.base + "/google/accounts/o/oauth2/v2/auth",
                                         tokenURL: google.base + "/google/oauth2/token", revocationURL: nil,
                                         clientID: client.clientID, clientSecret: client.clientSecret,
                                         scopes: [], authorizationParameters: [:], owningService: "email_calendar")
            let connections = Connections(db: db, vault: vault, tokens: TokenEndpoint(http: google.http), providers: ["google": provider],
                                          logger: TestDatabase.logger)
            let connection = try await connections.save(
                workspaceID: workspace, userID: user, provider: provider, email: owner,
                tokens: .init(accessToken: try await google.token(), refreshToken: "r", expiresIn: 3599,
                              scopes: scopes, email: owner))

            // The gateway reaches the service through a client made once the service listens.
            let emailTransport = Mutex<RPCClient?>(nil)
            let credentials = ServiceCredentials(db: db, vault: vault)
            let introducer = ServiceIntroducer(credentials: credentials) { service, event, options in
                guard let client = emailTransport.withLock({ $0 }) else { throw RPCError(.unavailable, "not listening yet") }
                try await WebhookDispatcher.rpcTransport([service: client])(service, event, options)
            }
            let gatewayServer = RPCServer(service: makeGatewayService(db: db, vault: vault, providers: ["google": provider], introducer: introducer),
                                          configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)),
                                          logger: TestDatabase.logger)
            let services = ServiceGroup(services: [gatewayServer], logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await services.run() }
                let gatewayPort = try await gatewayServer.waitUntilListening().port!
                let gatewayClient = RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", gatewayPort)]))
                let emailServer = RPCServer(
                    // Calendar notifications have nowhere to go (port 9 refuses): tests hand them over as the gateway would.
                    service: makeEmailCalendarService(db: db, gateway: gatewayClient, http: google.http,
                                                      endpoints: .init(gmail: google.base + "/google/gmail", googleAPIs: google.base + "/google/www",
                                                                       gatewayPublicURL: "http://127.0.0.1:9"),
                                                      logger: TestDatabase.logger),
                    configuration: ServerConfiguration(port: 0), authenticator: APIKeyAuthenticator(keys: APIKeys(db: db)), logger: TestDatabase.logger)
                tasks.addTask { try await emailServer.run() }
                let emailPort = try await emailServer.waitUntilListening().port!
                let emailClient = RPCClient(configuration: ClientConfiguration(targets: [("127.0.0.1", emailPort)]))
                emailTransport.withLock { $0 = emailClient }
                let identityKey = try await credentials.apiKey(for: workspace, service: "email_calendar")
                let (_, userKey) = try await APIKeys(db: db).create(workspaceID: workspace, name: "ana's", services: ["*"])
                let harness = EmailServiceHarness(
                    db: db, databaseURL: databaseURL, workspace: workspace, google: google, connections: connections, provider: provider, connection: connection,
                    email: EmailCalendarV1.EmailCalendarService.Client(transport: emailClient),
                    identity: CallOptions(apiKey: identityKey, workspaceID: workspace.uuidString.lowercased()),
                    user: CallOptions(apiKey: userKey, workspaceID: workspace.uuidString.lowercased()),
                    gatewayTarget: "127.0.0.1:\(gatewayPort)")
                try await body(harness)
                await services.triggerGracefulShutdown()
                tasks.cancelAll()
            }
        }
    }

    /// Hands the gateway's queued events of `type` to the service, oldest first, as the dispatcher
    /// does (with the service's identity key); returns how many.
    @discardableResult
    func deliverQueued(_ type: String) async throws -> Int {
        let rows = try await db.query("""
            WITH taken AS (
              UPDATE webhook_inbox SET status = 'delivered' WHERE workspace_id = \(workspace) AND event_type = \(type) AND status = 'pending'
              RETURNING id, body, provider)
            SELECT id, body, provider FROM taken ORDER BY id
            """)
        for row in rows {
            var event = GatewayV1.WebhookEvent()
            event.provider = try row.decode(at: 2)
            event.eventType = type
            event.body = try row.decode(at: 1)
            _ = try await email.handleWebhook(event, options: identity)
        }
        return rows.count
    }

    /// A Pub/Sub push for `address`'s mailbox, as the gateway delivers it.
    func push(for address: String = owner, historyID: UInt64 = 99_999, options: CallOptions? = nil) async throws {
        let data = Data(#"{"emailAddress":"\#(address)","historyId":"\#(historyID)"}"#.utf8).base64EncodedString()
        var push = GatewayV1.WebhookEvent()
        push.provider = "google_pubsub"
        push.eventType = "gmail.notification"
        push.body = Array(#"{"message":{"data":"\#(data)","messageId":"1"},"subscription":"projects/p/subscriptions/s"}"#.utf8)
        _ = try await email.handleWebhook(push, options: options ?? identity)
    }

    /// A Calendar notification for Ana's calendar's current channel, as the gateway delivers it.
    func calendarPush() async throws {
        var push = GatewayV1.WebhookEvent()
        push.provider = "google_calendar"
        push.eventType = "calendar.exists"
        var channel = GatewayV1.WebhookHeader()
        channel.name = "x-goog-channel-id"
        channel.value = try await db.query("SELECT channel_id FROM calendars WHERE workspace_id = \(workspace)")[0].decode(String.self, at: 0)
        push.headers = [channel]
        _ = try await email.handleWebhook(push, options: identity)
    }

    /// The subjects of the workspace's activities, sorted.
    func subjects() async throws -> [String] {
        try await db.query("SELECT subject FROM activities WHERE workspace_id = \(workspace) ORDER BY subject").map { try $0.decode(String.self, at: 0) }
    }

    /// Gmail as the stand-in serves Ana's mailbox, to look at what the service sent.
    func gmail() async throws -> GmailClient {
        let token = try await google.token()
        return GmailClient(http: google.http, baseURL: google.base + "/google/gmail") { token }
    }
}
