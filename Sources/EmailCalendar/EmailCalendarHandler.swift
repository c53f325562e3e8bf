public import CurlHTTP
public import Foundation
public import Platform
public import Logging
public import Messages
public import Postgres
public import RPC
public import RPCNIO

/// The email_calendar service: Gmail/Outlook mail and calendar sync.
///
/// `HandleWebhook` runs the Gmail half that exists so far: a Google connection made with mail
/// scopes (`connection.created`) starts its mailbox; a Pub/Sub push (`gmail.notification`) catches
/// its mailbox up. Tokens come from the gateway (`GetAccessToken`), called back with the identity
/// key the gateway called with. The other methods are not built yet and answer UNIMPLEMENTED.
public struct EmailCalendarHandler: EmailCalendarV1.EmailCalendarService.Handler {
    let db: PostgresClient
    let gateway: GatewayV1.GatewayService.Client<RPCClient>
    let http: HTTPClient
    let gmailAPI: String
    let sync: MailboxSync
    /// Gmail's per-user quota, shared by every call this process makes for a mailbox.
    let quota = RateLimiter(limits: ["gmail": GmailClient.perUserQuota])
    let logger: Logger

    /// - Parameters:
    ///   - gmailAPI: `https://gmail.googleapis.com` (or a stand-in's).
    ///   - topic: the Pub/Sub topic Gmail pushes to.
    public init(db: PostgresClient, gateway: RPCClient, http: HTTPClient, gmailAPI: String, topic: String, logger: Logger) {
        self.db = db
        self.gateway = GatewayV1.GatewayService.Client(transport: gateway)
        self.http = http
        self.gmailAPI = gmailAPI
        sync = MailboxSync(db: db, settings: .init(topic: topic))
        self.logger = logger
    }

    /// The Gmail scopes that make a connection a mailbox.
    static let mailScopes = ["https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.readonly",
                             "https://mail.google.com/"]

    public func handleWebhook(_ event: GatewayV1.WebhookEvent, context: ServerContext) async throws -> GatewayV1.WebhookAck {
        let workspace = try context.workspace()
        let body = (try? JSONSerialization.jsonObject(with: Data(event.body))) as? [String: Any] ?? [:]
        switch (event.provider, event.eventType) {
        case ("google", "connection.created"):
            guard let connection = (body["connection_id"] as? String).flatMap(UUID.init(uuidString:)), let owner = body["account_email"] as? String,
                  let scopes = body["scopes"] as? [String] else { throw RPCError(.invalidArgument, "connection.created needs connection_id, account_email and scopes") }
            guard scopes.contains(where: Self.mailScopes.contains) else { return GatewayV1.WebhookAck() }  // a calendar-only connection
            let report = try await run(connection) { try await sync.start(connection: connection, workspace: workspace, owner: owner, gmail: gmail(connection, context)) }
            logger.info("mailbox started", metadata: ["connection": "\(connection)", "stored": "\(report.stored)", "seen": "\(report.seen)"])
        case ("google", "sync.tick"):
            // Scheduled: renew the watch when it is near its end, and catch up in case a push was lost.
            guard let connection = (body["connection_id"] as? String).flatMap(UUID.init(uuidString:)),
                  try await !db.query("SELECT 1 FROM mailboxes WHERE connection_id = \(connection) AND workspace_id = \(workspace)").isEmpty else {
                return GatewayV1.WebhookAck()  // not a mailbox (yet): connection.created starts it
            }
            try await run(connection) {
                _ = try await sync.renewWatchIfDue(connection: connection, gmail: gmail(connection, context))
                _ = try await sync.catchUp(connection: connection, gmail: gmail(connection, context))
            }
        case ("google_pubsub", "gmail.notification"):
            // The push's data is base64 JSON: {"emailAddress", "historyId"}; the mailbox's cursor says what is new.
            guard let message = body["message"] as? [String: Any], let data = (message["data"] as? String).flatMap({ Data(base64Encoded: $0) }),
                  let push = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let address = push["emailAddress"] as? String else {
                throw RPCError(.invalidArgument, "a Gmail push carries message.data with emailAddress")
            }
            guard let connection = try await db.query("""
                SELECT connection_id FROM mailboxes WHERE workspace_id = \(workspace) AND lower(owner_email) = lower(\(address))
                """).first.map({ try $0.decode(UUID.self, at: 0) }) else {
                logger.notice("push for a mailbox this workspace does not sync", metadata: ["address": "\(address)"])
                return GatewayV1.WebhookAck()
            }
            _ = try await run(connection) { try await sync.catchUp(connection: connection, gmail: gmail(connection, context)) }
        default:
            break  // nothing of this service's yet
        }
        return GatewayV1.WebhookAck()
    }

    /// A Gmail client for `connection`, its token read from the gateway with the caller's key.
    private func gmail(_ connection: UUID, _ context: ServerContext) -> GmailClient {
        let options = CallOptions.propagating(context)
        return GmailClient(http: http, baseURL: gmailAPI, quota: (quota, connection.uuidString)) { [gateway] in
            var request = GatewayV1.GetAccessTokenRequest()
            request.connectionID = connection.uuidString.lowercased()
            return try await gateway.getAccessToken(request, options: options).accessToken
        }
    }

    public func getSyncStatus(_ request: EmailCalendarV1.GetSyncStatusRequest, context: ServerContext) async throws -> EmailCalendarV1.GetSyncStatusResponse {
        let workspace = try context.workspace()
        var response = EmailCalendarV1.GetSyncStatusResponse()
        response.mailboxes = try await sync.status(workspace: workspace)
        return response
    }

    /// Gmail's failures noted on the mailbox, and answered as statuses the dispatcher acts on (it
    /// retries what is not permanent).
    private func run<T>(_ connection: UUID, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as GmailClient.Failure {
            try? await sync.recordFailure(failure, connection: connection)
            switch failure {
            case .unauthorized(let m): throw RPCError(.failedPrecondition, "Gmail refused the connection's token: \(m)")
            case .rateLimited(let m): throw RPCError(.resourceExhausted, "Gmail rate limit: \(m)")
            case .historyExpired, .unavailable: throw RPCError(.unavailable, "\(failure)")
            }
        }
    }
}

/// The email_calendar service, ready for an RPC server.
public func makeEmailCalendarService(db: PostgresClient, gateway: RPCClient, http: HTTPClient = HTTPClient(),
                                     gmailAPI: String = "https://gmail.googleapis.com", topic: String = EmailCalendarComponents.defaultTopic,
                                     logger: Logger = Logger(label: "nexa.email_calendar")) -> some ServerService {
    EmailCalendarV1.EmailCalendarService.Server(handler: EmailCalendarHandler(
        db: db, gateway: gateway, http: http, gmailAPI: gmailAPI, topic: topic, logger: logger))
}

/// What `nexa-email-calendar` runs, from its settings: the gateway at `NEXA_GATEWAY_TARGET`
/// (`host:port`, default the local gateway's RPC port), Gmail at `NEXA_GMAIL_API_URL`, pushes on
/// `NEXA_GMAIL_PUBSUB_TOPIC`.
public enum EmailCalendarComponents {
    public static let defaultTopic = "projects/nexa/topics/gmail-push"

    public static func make(db: PostgresClient, service: ServiceSettings, logger: Logger,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceMain.Components {
        let gatewayPort = try ServiceSettings(service: "gateway", environment: environment).rpcPort
        var gateway = try ClientConfiguration(parsing: environment["NEXA_GATEWAY_TARGET"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1:\(gatewayPort)")
        gateway.tls = try service.rpcTLS()
        let topic = environment["NEXA_GMAIL_PUBSUB_TOPIC"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultTopic
        return ServiceMain.Components(rpc: makeEmailCalendarService(
            db: db, gateway: RPCClient(configuration: gateway), http: HTTPClient(), gmailAPI: service.providers.gmailAPI, topic: topic, logger: logger))
    }
}
