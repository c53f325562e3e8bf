public import CurlHTTP
public import Foundation
public import Platform
public import Logging
public import Messages
public import Postgres
public import RPC
public import RPCNIO

/// The email_calendar service: Google mail and calendar sync, both directions.
///
/// `HandleWebhook` takes the gateway's events only: a Google connection made (`connection.created`)
/// starts its mailbox and/or calendar, by its scopes; one that needs the user
/// (`connection.reauth_required`, `connection.disconnected`) pauses them; Gmail's Pub/Sub pushes
/// and Calendar's channel notifications catch them up; the gateway's hourly `sync.tick` renews
/// watches and channels and catches up what a lost push missed; a meeting made or edited in the
/// CRM (`crm` / `meeting.changed`) goes to the calendar. `SendEmail`, `CheckMailSync`,
/// `ResyncMailbox` and `CreateMeeting` serve users. Tokens come from the gateway
/// (`GetAccessToken`), read with the service's identity key for the workspace (`IdentityKeys`).
public struct EmailCalendarHandler: EmailCalendarV1.EmailCalendarService.Handler {
    /// Where Google and the gateway are.
    public struct Endpoints: Sendable {
        /// `https://gmail.googleapis.com` (or a stand-in's).
        public var gmail: String
        /// `https://www.googleapis.com`: Calendar.
        public var googleAPIs: String
        /// The Pub/Sub topic Gmail pushes to.
        public var pubSubTopic: String
        /// The gateway's public URL, where Calendar's notifications go.
        public var gatewayPublicURL: String

        public init(gmail: String = "https://gmail.googleapis.com", googleAPIs: String = "https://www.googleapis.com",
                    pubSubTopic: String = EmailCalendarComponents.defaultTopic, gatewayPublicURL: String = "http://127.0.0.1:8080") {
            self.gmail = gmail
            self.googleAPIs = googleAPIs
            self.pubSubTopic = pubSubTopic
            self.gatewayPublicURL = gatewayPublicURL
        }
    }

    let db: PostgresClient
    let gateway: GatewayV1.GatewayService.Client<RPCClient>
    let http: HTTPClient
    let endpoints: Endpoints
    let mailboxes: MailboxSync
    let calendars: CalendarSync
    let sender: MailSender
    let identities = IdentityKeys(service: "email_calendar")
    /// Google's per-user quota, shared by every call this process makes for a connection.
    let quota = RateLimiter(limits: ["google": GoogleAPI.perUserQuota])
    let logger: Logger

    public init(db: PostgresClient, gateway: RPCClient, http: HTTPClient, endpoints: Endpoints, logger: Logger) {
        self.db = db
        self.gateway = GatewayV1.GatewayService.Client(transport: gateway)
        self.http = http
        self.endpoints = endpoints
        mailboxes = MailboxSync(db: db, settings: .init(topic: endpoints.pubSubTopic))
        calendars = CalendarSync(db: db)
        sender = MailSender(db: db)
        self.logger = logger
    }

    /// The Gmail scopes that make a connection a mailbox, and the Calendar scopes that make it a calendar.
    static let mailScopes = ["https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.readonly",
                             "https://mail.google.com/"]
    static let calendarScopes = ["https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/calendar.events"]

    public func handleWebhook(_ event: GatewayV1.WebhookEvent, context: ServerContext) async throws -> GatewayV1.WebhookAck {
        let workspace = try context.workspace()
        // Only the gateway delivers events: it calls with this service's identity in the workspace.
        guard context.principal?.scopes.contains(APIKeys.tokenScope(for: identities.service)) == true else {
            throw RPCError(.permissionDenied, "HandleWebhook takes events from the gateway only (this service's identity key)")
        }
        identities.remember(context)
        let body = (try? JSONSerialization.jsonObject(with: Data(event.body))) as? [String: Any] ?? [:]
        let connectionID = (body["connection_id"] as? String).flatMap(UUID.init(uuidString:))
        switch (event.provider, event.eventType) {
        case ("google", "connection.created"):
            guard let connection = connectionID, let owner = body["account_email"] as? String, let scopes = body["scopes"] as? [String] else {
                throw RPCError(.invalidArgument, "connection.created needs connection_id, account_email and scopes")
            }
            try await start(connection, owner: owner, scopes: scopes, user: (body["user_id"] as? String).flatMap(UUID.init(uuidString:)),
                            onlyIfNew: false, workspace: workspace, context: context)
        case ("google", "connection.reauth_required"), ("google", "connection.disconnected"):
            guard let connection = connectionID else { throw RPCError(.invalidArgument, "\(event.eventType) needs connection_id") }
            let reason = event.eventType == "connection.disconnected" ? "the connection was disconnected" : "the connection needs the user to reconnect"
            let paused = try await (mailboxes.pause(connection: connection, reason: reason), calendars.pause(connection: connection, reason: reason))
            if paused.0 || paused.1 { logger.notice("sync paused", metadata: ["connection": "\(connection)", "reason": "\(reason)"]) }
        case ("google", "sync.tick"):
            // Scheduled: start what a lost connection.created never started, renew watches and
            // channels near their end, and catch up in case a push was lost.
            guard let connection = connectionID else { throw RPCError(.invalidArgument, "sync.tick needs connection_id") }
            if let owner = body["account_email"] as? String, let scopes = body["scopes"] as? [String] {
                try await start(connection, owner: owner, scopes: scopes, user: (body["user_id"] as? String).flatMap(UUID.init(uuidString:)),
                                onlyIfNew: true, workspace: workspace, context: context)
            }
            if try await mailboxes.isRunning(connection: connection, workspace: workspace) {
                try await run(connection, .mailboxes) {
                    _ = try await mailboxes.renewWatchIfDue(connection: connection, gmail: gmail(connection, context))
                    _ = try await mailboxes.catchUp(connection: connection, gmail: gmail(connection, context))
                }
            }
            if try await calendars.isRunning(connection: connection, workspace: workspace) {
                try await run(connection, .calendars) {
                    _ = try await calendars.renewChannelIfDue(connection: connection, calendar: calendar(connection, context),
                                                              endpoint: { try await channelEndpoint(context) })
                    _ = try await calendars.catchUp(connection: connection, calendar: calendar(connection, context))
                }
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
            _ = try await run(connection, .mailboxes) { try await mailboxes.catchUp(connection: connection, gmail: gmail(connection, context)) }
        case ("google_calendar", "calendar.exists"):
            // Something changed in a watched calendar; the notification names the channel, not the change.
            let channel = event.headers.first { $0.name.lowercased() == "x-goog-channel-id" }?.value ?? ""
            guard let connection = try await calendars.connection(forChannel: channel, workspace: workspace) else {
                logger.notice("notification for a channel no calendar uses (replaced, or paused)", metadata: ["channel": "\(channel)"])
                return GatewayV1.WebhookAck()
            }
            _ = try await run(connection, .calendars) { try await calendars.catchUp(connection: connection, calendar: calendar(connection, context)) }
        case ("crm", "meeting.changed"):
            guard let meeting = (body["subject_id"] as? String).flatMap(UUID.init(uuidString:)) else {
                throw RPCError(.invalidArgument, "meeting.changed needs subject_id")
            }
            try await meetingChanged(meeting, workspace: workspace, context: context)
        case ("nexa", "service.identity"):
            break  // the gateway presenting this service's key (remembered above) for a user's call
        default:
            break  // `calendar.sync` (a channel opened), and what is not this service's
        }
        return GatewayV1.WebhookAck()
    }

    /// Starts the mailbox and/or calendar of a Google connection, by its scopes (`onlyIfNew`:
    /// only those never started, for the tick that stands in for a lost `connection.created`).
    private func start(_ connection: UUID, owner: String, scopes: [String], user: UUID?, onlyIfNew: Bool, workspace: UUID,
                       context: ServerContext) async throws {
        let known = try await db.query("""
            SELECT (SELECT count(*) FROM mailboxes WHERE connection_id = \(connection)), (SELECT count(*) FROM calendars WHERE connection_id = \(connection))
            """)[0]
        let (hasMailbox, hasCalendar) = (try known.decode(Int.self, at: 0) > 0, try known.decode(Int.self, at: 1) > 0)
        if scopes.contains(where: Self.mailScopes.contains), !onlyIfNew || !hasMailbox {
            let report = try await run(connection, .mailboxes) {
                try await mailboxes.start(connection: connection, workspace: workspace, owner: owner, gmail: gmail(connection, context))
            }
            logger.info("mailbox started", metadata: ["connection": "\(connection)", "stored": "\(report.stored)", "seen": "\(report.seen)"])
        }
        if scopes.contains(where: Self.calendarScopes.contains), !onlyIfNew || !hasCalendar {
            let report = try await run(connection, .calendars) {
                try await calendars.start(connection: connection, workspace: workspace, owner: owner, ownerUser: user,
                                          calendar: calendar(connection, context), endpoint: { try await channelEndpoint(context) })
            }
            logger.info("calendar started", metadata: ["connection": "\(connection)", "seen": "\(report.seen)", "created": "\(report.created)"])
        }
    }

    /// A bearer token for `connection`, read from the gateway with this service's identity key
    /// for the caller's workspace (the caller's own key when it is that identity).
    private func token(_ connection: UUID, _ context: ServerContext) -> @Sendable () async throws -> String {
        let workspace = context.principal?.workspaceID ?? ""
        return { [self] in
            var request = GatewayV1.GetAccessTokenRequest()
            request.connectionID = connection.uuidString.lowercased()
            var identity = CallOptions.propagating(context)
            identity.apiKey = try await identityKey(context)
            do {
                return try await gateway.getAccessToken(request, options: identity).accessToken
            } catch let error as RPCError where error.code == .unauthenticated {
                // The remembered key was revoked or rotated: ask for the current one, once.
                identities.forget(workspace: UUID(uuidString: workspace) ?? UUID())
                identity.apiKey = try await identityKey(context)
                return try await gateway.getAccessToken(request, options: identity).accessToken
            }
        }
    }

    /// This service's identity key for the caller's workspace: the caller's own when it is that
    /// identity, else the one the gateway presents when asked to introduce the service.
    private func identityKey(_ context: ServerContext) async throws -> String {
        try await identities.key(for: context) {
            var introduction = GatewayV1.IntroduceServiceRequest()
            introduction.service = identities.service
            _ = try await gateway.introduceService(introduction, options: .propagating(context))
        }
    }

    func gmail(_ connection: UUID, _ context: ServerContext) -> GmailClient {
        GmailClient(http: http, baseURL: endpoints.gmail, quota: (quota, connection.uuidString), token: token(connection, context))
    }

    func calendar(_ connection: UUID, _ context: ServerContext) -> CalendarClient {
        CalendarClient(http: http, baseURL: endpoints.googleAPIs, quota: (quota, connection.uuidString), token: token(connection, context))
    }

    /// A fresh `google_calendar` endpoint at the gateway for a new channel: its URL and secret go
    /// to Google only (the secret is the channel token the gateway checks), never to storage here.
    private func channelEndpoint(_ context: ServerContext) async throws -> CalendarSync.Endpoint {
        var request = GatewayV1.CreateWebhookEndpointRequest()
        request.provider = "google_calendar"
        var options = CallOptions.propagating(context)
        options.apiKey = try await identityKey(context)
        let created = try await gateway.createWebhookEndpoint(request, options: options)
        return CalendarSync.Endpoint(id: created.endpointID, address: endpoints.gatewayPublicURL + created.path, token: created.secret)
    }

    public func getSyncStatus(_ request: EmailCalendarV1.GetSyncStatusRequest, context: ServerContext) async throws -> EmailCalendarV1.GetSyncStatusResponse {
        let workspace = try context.workspace()
        var response = EmailCalendarV1.GetSyncStatusResponse()
        response.mailboxes = try await mailboxes.status(workspace: workspace)
        response.calendars = try await calendars.status(workspace: workspace)
        return response
    }

    /// Which of a connection's synced resources a call works on.
    enum Resource { case mailboxes, calendars }

    /// Google's failures noted on the mailbox or calendar, and answered as statuses the dispatcher
    /// acts on (it retries what is not permanent).
    func run<T>(_ connection: UUID, _ resource: Resource, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as ProviderFailure {
            switch (failure, resource) {
            case (.rejected, _), (.conflict, _): break  // the caller's request, not the resource's state
            case (_, .mailboxes): try? await mailboxes.recordFailure(failure, connection: connection)
            case (_, .calendars): try? await calendars.recordFailure(failure, connection: connection)
            }
            switch failure {
            case .unauthorized(let m): throw RPCError(.failedPrecondition, "Google refused the connection's token: \(m)")
            case .rateLimited(let m): throw RPCError(.resourceExhausted, "Google rate limit: \(m)")
            case .cursorExpired, .unavailable: throw RPCError(.unavailable, "\(failure)")
            case .conflict(let m): throw RPCError(.alreadyExists, "Google: \(m)")
            case .rejected(let m): throw RPCError(.failedPrecondition, "Google rejected the request: \(m)")
            }
        }
    }
}

/// The email_calendar service, ready for an RPC server.
public func makeEmailCalendarService(db: PostgresClient, gateway: RPCClient, http: HTTPClient = HTTPClient(),
                                     endpoints: EmailCalendarHandler.Endpoints = .init(),
                                     logger: Logger = Logger(label: "nexa.email_calendar")) -> some ServerService {
    EmailCalendarV1.EmailCalendarService.Server(handler: EmailCalendarHandler(db: db, gateway: gateway, http: http, endpoints: endpoints, logger: logger))
}

/// What `nexa-email-calendar` runs, from its settings: the gateway at `NEXA_GATEWAY_TARGET`
/// (`host:port`, default the local gateway's RPC port) and `NEXA_GATEWAY_PUBLIC_URL` (where
/// Calendar notifications go), Gmail at `NEXA_GMAIL_API_URL`, Calendar at `NEXA_GOOGLE_APIS_URL`,
/// Gmail pushes on `NEXA_GMAIL_PUBSUB_TOPIC`.
public enum EmailCalendarComponents {
    public static let defaultTopic = "projects/nexa/topics/gmail-push"

    public static func make(db: PostgresClient, service: ServiceSettings, logger: Logger,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceMain.Components {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let gatewayPort = try ServiceSettings(service: "gateway", environment: environment).rpcPort
        var gateway = try ClientConfiguration(parsing: value("NEXA_GATEWAY_TARGET") ?? "127.0.0.1:\(gatewayPort)")
        gateway.tls = try service.rpcTLS()
        var publicURL = value("NEXA_GATEWAY_PUBLIC_URL") ?? "http://127.0.0.1:\(value("NEXA_GATEWAY_HTTP_PORT") ?? "8080")"
        if publicURL.hasSuffix("/") { publicURL.removeLast() }
        let endpoints = EmailCalendarHandler.Endpoints(gmail: service.providers.gmailAPI, googleAPIs: service.providers.googleAPIs,
                                                       pubSubTopic: value("NEXA_GMAIL_PUBSUB_TOPIC") ?? defaultTopic, gatewayPublicURL: publicURL)
        return ServiceMain.Components(rpc: makeEmailCalendarService(
            db: db, gateway: RPCClient(configuration: gateway), http: HTTPClient(), endpoints: endpoints, logger: logger))
    }
}
