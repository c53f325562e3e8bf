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
/// `HandleWebhook` (the gateway's calls only) runs the Gmail half that exists so far: a Google
/// connection made with mail scopes (`connection.created`) starts its mailbox; a Pub/Sub push
/// (`gmail.notification`) catches its mailbox up. `SendEmail`, `CheckMailSync` and
/// `ResyncMailbox` serve users. Tokens come from the gateway (`GetAccessToken`), read with the
/// service's identity key for the workspace (`IdentityKeys`). The calendar methods are not built
/// yet and answer UNIMPLEMENTED.
public struct EmailCalendarHandler: EmailCalendarV1.EmailCalendarService.Handler {
    let db: PostgresClient
    let gateway: GatewayV1.GatewayService.Client<RPCClient>
    let http: HTTPClient
    let gmailAPI: String
    let sync: MailboxSync
    let sender: MailSender
    let identities = IdentityKeys(service: "email_calendar")
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
        sender = MailSender(db: db)
        self.logger = logger
    }

    /// The Gmail scopes that make a connection a mailbox.
    static let mailScopes = ["https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.readonly",
                             "https://mail.google.com/"]

    public func handleWebhook(_ event: GatewayV1.WebhookEvent, context: ServerContext) async throws -> GatewayV1.WebhookAck {
        let workspace = try context.workspace()
        // Only the gateway delivers events: it calls with this service's identity in the workspace.
        guard context.principal?.scopes.contains(APIKeys.tokenScope(for: identities.service)) == true else {
            throw RPCError(.permissionDenied, "HandleWebhook takes events from the gateway only (this service's identity key)")
        }
        identities.remember(context)
        let body = (try? JSONSerialization.jsonObject(with: Data(event.body))) as? [String: Any] ?? [:]
        switch (event.provider, event.eventType) {
        case ("google", "connection.created"):
            guard let connection = (body["connection_id"] as? String).flatMap(UUID.init(uuidString:)), let owner = body["account_email"] as? String,
                  let scopes = body["scopes"] as? [String] else { throw RPCError(.invalidArgument, "connection.created needs connection_id, account_email and scopes") }
            guard scopes.contains(where: Self.mailScopes.contains) else { return GatewayV1.WebhookAck() }  // a calendar-only connection
            let report = try await run(connection) { try await sync.start(connection: connection, workspace: workspace, owner: owner, gmail: gmail(connection, context)) }
            logger.info("mailbox started", metadata: ["connection": "\(connection)", "stored": "\(report.stored)", "seen": "\(report.seen)"])
        case ("google", "connection.reauth_required"), ("google", "connection.disconnected"):
            guard let connection = (body["connection_id"] as? String).flatMap(UUID.init(uuidString:)) else {
                throw RPCError(.invalidArgument, "\(event.eventType) needs connection_id")
            }
            let reason = event.eventType == "connection.disconnected" ? "the connection was disconnected" : "the connection needs the user to reconnect"
            if try await sync.pause(connection: connection, reason: reason) {
                logger.notice("mailbox paused", metadata: ["connection": "\(connection)", "reason": "\(reason)"])
            }
        case ("google", "sync.tick"):
            // Scheduled: renew the watch when it is near its end, and catch up in case a push was lost.
            guard let connection = (body["connection_id"] as? String).flatMap(UUID.init(uuidString:)),
                  try await sync.isRunning(connection: connection, workspace: workspace) else {
                return GatewayV1.WebhookAck()  // not a mailbox (yet: connection.created starts it), or paused
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
                SELECT connection_id FROM mailboxes WHERE workspace_id = \(workspace) AND lower(owner_email) = lower(\(address)) AND paused_at IS NULL
                """).first.map({ try $0.decode(UUID.self, at: 0) }) else {
                logger.notice("push for a mailbox this workspace does not sync, or has paused", metadata: ["address": "\(address)"])
                return GatewayV1.WebhookAck()
            }
            _ = try await run(connection) { try await sync.catchUp(connection: connection, gmail: gmail(connection, context)) }
        case ("nexa", "service.identity"):
            break  // the gateway presenting this service's key (remembered above) for a user's call
        default:
            break  // nothing of this service's yet
        }
        return GatewayV1.WebhookAck()
    }

    /// A Gmail client for `connection`, its token read from the gateway with this service's
    /// identity key for the caller's workspace (the caller's own key when it is that identity).
    private func gmail(_ connection: UUID, _ context: ServerContext) -> GmailClient {
        let options = CallOptions.propagating(context)
        let workspace = context.principal?.workspaceID ?? ""
        return GmailClient(http: http, baseURL: gmailAPI, quota: (quota, connection.uuidString)) { [gateway, identities] in
            var request = GatewayV1.GetAccessTokenRequest()
            request.connectionID = connection.uuidString.lowercased()
            let introduce = {
                var introduction = GatewayV1.IntroduceServiceRequest()
                introduction.service = identities.service
                _ = try await gateway.introduceService(introduction, options: options)
            }
            var identity = options
            identity.apiKey = try await identities.key(for: context, introduce: introduce)
            do {
                return try await gateway.getAccessToken(request, options: identity).accessToken
            } catch let error as RPCError where error.code == .unauthenticated {
                // The remembered key was revoked or rotated: ask for the current one, once.
                identities.forget(workspace: UUID(uuidString: workspace) ?? UUID())
                identity.apiKey = try await identities.key(for: context, introduce: introduce)
                return try await gateway.getAccessToken(request, options: identity).accessToken
            }
        }
    }

    /// The mailbox a user's call names, or the workspace's only one when it names none.
    private func mailbox(_ connectionID: String, workspace: UUID) async throws -> (connection: UUID, owner: String) {
        let rows: [PostgresRow]
        if connectionID.isEmpty {
            rows = try await db.query("SELECT connection_id, owner_email FROM mailboxes WHERE workspace_id = \(workspace) LIMIT 2")
            guard rows.count < 2 else { throw RPCError(.invalidArgument, "this workspace has several mailboxes: name one with connection_id") }
        } else {
            guard let id = UUID(uuidString: connectionID) else { throw RPCError(.invalidArgument, "connection_id is not a UUID") }
            rows = try await db.query("SELECT connection_id, owner_email FROM mailboxes WHERE workspace_id = \(workspace) AND connection_id = \(id)")
        }
        guard let row = rows.first else { throw RPCError(.notFound, "no synced Gmail mailbox \(connectionID.isEmpty ? "in this workspace" : connectionID)") }
        return (try row.decode(at: 0), try row.decode(at: 1))
    }

    public func sendEmail(_ request: EmailCalendarV1.SendEmailRequest, context: ServerContext) async throws -> EmailCalendarV1.SendEmailResponse {
        let workspace = try context.workspace()
        let (connection, owner) = try await mailbox(request.connectionID, workspace: workspace)
        var draft = MailSender.Draft(to: request.to, cc: request.cc, subject: request.subject,
                                     text: request.textBody.isEmpty ? nil : request.textBody, html: request.htmlBody.isEmpty ? nil : request.htmlBody)
        if !request.replyToActivityID.isEmpty {
            guard let id = UUID(uuidString: request.replyToActivityID) else { throw RPCError(.invalidArgument, "reply_to_activity_id is not a UUID") }
            draft.replyTo = id
        }
        if !request.idempotencyKey.isEmpty { draft.idempotencyKey = request.idempotencyKey }
        let sent: MailSender.Sent
        do {
            sent = try await run(connection) { try await sender.send(draft, connection: connection, workspace: workspace, owner: owner, gmail: gmail(connection, context)) }
        } catch let problem as MailSender.Problem {
            throw RPCError(problem == .inProgress ? .aborted : .invalidArgument, problem.description)
        }
        logger.info("mail sent", metadata: ["connection": "\(connection)", "gmail_id": "\(sent.gmailID)", "already_sent": "\(sent.alreadySent)"])
        var response = EmailCalendarV1.SendEmailResponse()
        response.activityID = sent.activity?.uuidString.lowercased() ?? ""
        response.gmailMessageID = sent.gmailID
        response.threadID = sent.threadID
        response.messageID = sent.messageID
        response.alreadySent = sent.alreadySent
        return response
    }

    public func checkMailSync(_ request: EmailCalendarV1.CheckMailSyncRequest, context: ServerContext) async throws -> EmailCalendarV1.CheckMailSyncResponse {
        let workspace = try context.workspace()
        let (connection, _) = try await mailbox(request.connectionID, workspace: workspace)
        let until = request.untilUnixMs > 0 ? Date(timeIntervalSince1970: Double(request.untilUnixMs) / 1000) : Date()
        let since = request.sinceUnixMs > 0 ? Date(timeIntervalSince1970: Double(request.sinceUnixMs) / 1000) : until.addingTimeInterval(-7 * 86_400)
        guard since < until else { throw RPCError(.invalidArgument, "since must be before until") }
        let found = try await run(connection) {
            try await sync.check(connection: connection, since: since, until: until, repair: request.repair, gmail: gmail(connection, context))
        }
        logger.info("mail sync checked", metadata: [
            "connection": "\(connection)", "expected": "\(found.expected)", "missing": "\(found.missing.count)", "repaired": "\(found.repaired)",
        ])
        var response = EmailCalendarV1.CheckMailSyncResponse()
        response.listed = Int64(found.listed)
        response.expected = Int64(found.expected)
        response.stored = Int64(found.stored)
        response.completenessPercent = found.percent
        response.missing = found.missing
        response.repaired = Int64(found.repaired)
        return response
    }

    public func resyncMailbox(_ request: EmailCalendarV1.ResyncMailboxRequest, context: ServerContext) async throws -> EmailCalendarV1.MailboxStatus {
        let workspace = try context.workspace()
        guard !request.connectionID.isEmpty else { throw RPCError(.invalidArgument, "connection_id names the mailbox to resync") }
        let (connection, _) = try await mailbox(request.connectionID, workspace: workspace)
        let since = request.sinceUnixMs > 0 ? Date(timeIntervalSince1970: Double(request.sinceUnixMs) / 1000) : nil
        let report = try await run(connection) { try await sync.resync(connection: connection, since: since, gmail: gmail(connection, context)) }
        logger.info("mailbox resynced", metadata: ["connection": "\(connection)", "seen": "\(report.seen)", "stored": "\(report.stored)"])
        guard let status = try await sync.status(workspace: workspace).first(where: { $0.connectionID == connection.uuidString.lowercased() }) else {
            throw RPCError(.notFound, "the mailbox is gone")
        }
        return status
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
            // A refused request is the caller's (a draft Gmail will not send), not the mailbox's state.
            if case .rejected = failure {} else { try? await sync.recordFailure(failure, connection: connection) }
            switch failure {
            case .unauthorized(let m): throw RPCError(.failedPrecondition, "Gmail refused the connection's token: \(m)")
            case .rateLimited(let m): throw RPCError(.resourceExhausted, "Gmail rate limit: \(m)")
            case .historyExpired, .unavailable: throw RPCError(.unavailable, "\(failure)")
            case .rejected(let m): throw RPCError(.failedPrecondition, "Gmail rejected the request: \(m)")
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
