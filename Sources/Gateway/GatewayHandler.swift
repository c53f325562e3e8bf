import Foundation
public import Logging
public import Messages
import Platform
public import Postgres
public import RPC

/// The gateway's RPC methods: access tokens and connections, connect links, webhook endpoints and
/// the inbox. Every call acts on the caller's workspace only.
public struct GatewayHandler: GatewayV1.GatewayService.Handler {
    let db: PostgresClient
    let endpoints: WebhookEndpoints
    let connections: Connections
    let links: ConnectLinks
    let providers: [String: OAuthProvider]
    /// Nil when the gateway has no domain service addresses.
    let introducer: ServiceIntroducer?
    let logger: Logger

    public init(db: PostgresClient, endpoints: WebhookEndpoints, connections: Connections, links: ConnectLinks,
                providers: [String: OAuthProvider], introducer: ServiceIntroducer? = nil, logger: Logger = Logger(label: "nexa.gateway")) {
        self.db = db
        self.introducer = introducer
        self.endpoints = endpoints
        self.connections = connections
        self.links = links
        self.providers = providers
        self.logger = logger
    }

    public func getAccessToken(
        _ request: GatewayV1.GetAccessTokenRequest, context: ServerContext
    ) async throws -> GatewayV1.GetAccessTokenResponse {
        guard let id = UUID(uuidString: request.connectionID) else { throw RPCError(.invalidArgument, "connection_id is not a UUID") }
        // Only a service identity's `tokens:<service>` grant reads tokens, and only its domain's providers'.
        let permitted = TokenScopes.providers(grantedBy: context.principal?.scopes ?? [], identity: context.principal?.serviceIdentity)
        let token: Connections.AccessToken
        do {
            token = try await connections.accessToken(connectionID: id, workspaceID: try context.workspace(), permittedProviders: permitted)
        } catch let error as PlatformError where error.code == .permissionDenied {
            logger.notice("token read refused", metadata: [
                "api_key": "\(context.principal?.keyID ?? "")", "workspace": "\(context.principal?.workspaceID ?? "")",
                "connection": "\(id)", "scopes": "\(context.principal?.scopes.joined(separator: ",") ?? "")",
                "service_identity": "\(context.principal?.serviceIdentity ?? "")",
            ])
            throw error
        }
        var response = GatewayV1.GetAccessTokenResponse()
        response.accessToken = token.token
        response.expiresAtUnixMs = Int64(token.expiresAt.timeIntervalSince1970 * 1000)
        response.accountEmail = token.connection.accountEmail
        response.scopes = token.connection.scopes
        return response
    }

    public func introduceService(
        _ request: GatewayV1.IntroduceServiceRequest, context: ServerContext
    ) async throws -> GatewayV1.IntroduceServiceResponse {
        guard TokenScopes.providersByService[request.service] != nil else {
            throw RPCError(.invalidArgument, "\"\(request.service)\" is not a service with connections (\(TokenScopes.providersByService.keys.sorted().joined(separator: ", ")))")
        }
        let scopes = context.principal?.scopes ?? []
        guard scopes.contains(request.service) || scopes.contains("*") else {
            throw RPCError(.permissionDenied, "this API key may not call \(request.service)")
        }
        guard let introducer else { throw RPCError(.unavailable, "the gateway has no address for \(request.service)") }
        try await introducer.introduce(service: request.service, workspace: try context.workspace(),
                                       timeout: context.deadline.map { ContinuousClock.now.duration(to: $0) })
        return GatewayV1.IntroduceServiceResponse()
    }

    public func listConnections(
        _ request: GatewayV1.ListConnectionsRequest, context: ServerContext
    ) async throws -> GatewayV1.ListConnectionsResponse {
        var response = GatewayV1.ListConnectionsResponse()
        response.connections = try await connections.list(
            workspaceID: try context.workspace(), provider: request.provider.isEmpty ? nil : request.provider).map(Self.message)
        return response
    }

    public func disconnectConnection(
        _ request: GatewayV1.DisconnectConnectionRequest, context: ServerContext
    ) async throws -> GatewayV1.Connection {
        guard let id = UUID(uuidString: request.connectionID) else { throw RPCError(.invalidArgument, "connection_id is not a UUID") }
        return Self.message(try await connections.disconnect(connectionID: id, workspaceID: try context.workspace()))
    }

    public func createConnectLink(
        _ request: GatewayV1.CreateConnectLinkRequest, context: ServerContext
    ) async throws -> GatewayV1.CreateConnectLinkResponse {
        guard providers[request.provider] != nil else {
            throw RPCError(.invalidArgument, "\"\(request.provider)\" is not a configured OAuth provider (configured: "
                + providers.keys.sorted().joined(separator: ", ") + ")")
        }
        let workspace = try context.workspace()
        // The user by id or by email, within the caller's workspace.
        guard let user = try await db.query("""
            SELECT id FROM users WHERE workspace_id = \(workspace) AND (id::text = lower(\(request.userID)) OR email = \(request.userID))
            """).first.map({ try $0.decode(UUID.self, at: 0) }) else {
            throw RPCError(.notFound, "user \"\(request.userID)\" does not exist in this workspace")
        }
        let link = links.make(provider: request.provider, workspaceID: workspace, userID: user)
        var response = GatewayV1.CreateConnectLinkResponse()
        response.url = link.url
        response.expiresAtUnixMs = Int64(link.expires.timeIntervalSince1970 * 1000)
        return response
    }

    // MARK: API keys

    /// The caller's own key; managing keys needs one valid for every service.
    private func requireKeyManager(_ context: ServerContext) async throws -> UUID {
        let workspace = try context.workspace()
        let keys = try await APIKeys(db: db).list(workspaceID: workspace)
        guard let caller = keys.first(where: { $0.id == context.principal?.keyID }), caller.services.contains("*") else {
            throw RPCError(.permissionDenied, "managing API keys needs a key for every service (*)")
        }
        return workspace
    }

    public func createApiKey(_ request: GatewayV1.CreateApiKeyRequest, context: ServerContext) async throws -> GatewayV1.CreateApiKeyResponse {
        let workspace = try await requireKeyManager(context)
        let known = Set(ServiceSettings.services + ["*"])
        if let unknown = request.services.first(where: { !known.contains($0) }) {
            throw RPCError(.invalidArgument, "unknown service \"\(unknown)\"; one of \(known.sorted().joined(separator: ", "))")
        }
        let (key, text) = try await APIKeys(db: db).create(
            workspaceID: workspace, name: request.name.isEmpty ? "api" : request.name, services: request.services)
        var response = GatewayV1.CreateApiKeyResponse()
        response.key = Self.message(key)
        response.secret = text
        return response
    }

    public func listApiKeys(_ request: GatewayV1.ListApiKeysRequest, context: ServerContext) async throws -> GatewayV1.ListApiKeysResponse {
        let workspace = try await requireKeyManager(context)
        var response = GatewayV1.ListApiKeysResponse()
        response.keys = try await APIKeys(db: db).list(workspaceID: workspace).map(Self.message)
        return response
    }

    public func revokeApiKey(_ request: GatewayV1.RevokeApiKeyRequest, context: ServerContext) async throws -> GatewayV1.ApiKey {
        let workspace = try await requireKeyManager(context)
        guard var key = try await APIKeys(db: db).list(workspaceID: workspace).first(where: { $0.id == request.id }) else {
            throw RPCError(.notFound, "no API key \(request.id) in this workspace")
        }
        try await APIKeys(db: db).revoke(id: key.id)
        key.revokedAt = key.revokedAt ?? Date()
        return Self.message(key)
    }

    static func message(_ key: APIKeys.Key) -> GatewayV1.ApiKey {
        var message = GatewayV1.ApiKey()
        message.id = key.id
        message.name = key.name
        message.services = key.services
        message.createdAtUnixMs = Int64(key.createdAt.timeIntervalSince1970 * 1000)
        message.revoked = key.revokedAt != nil
        return message
    }

    static func message(_ connection: Connections.Connection) -> GatewayV1.Connection {
        var message = GatewayV1.Connection()
        message.id = connection.id.uuidString.lowercased()
        message.provider = connection.provider
        message.userID = connection.userID.uuidString.lowercased()
        message.accountEmail = connection.accountEmail
        message.scopes = connection.scopes
        message.status = connection.status
        message.expiresAtUnixMs = connection.expiresAt.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0
        return message
    }

    public func createWebhookEndpoint(
        _ request: GatewayV1.CreateWebhookEndpointRequest, context: ServerContext
    ) async throws -> GatewayV1.CreateWebhookEndpointResponse {
        let workspace = try context.workspace()
        guard let provider = WebhookProvider(rawValue: request.provider) else {
            throw RPCError(.invalidArgument, "unknown provider \"\(request.provider)\"; one of "
                + WebhookProvider.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let config = Dictionary(request.config.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        let required: [String] = switch provider {
        case .googlePubSub: ["audience"]
        case .sendgrid: ["public_key"]
        case .paypal: ["webhook_id"]
        default: []
        }
        if let missing = required.first(where: { config[$0]?.isEmpty ?? true }) {
            throw RPCError(.invalidArgument, "a \(provider.rawValue) endpoint needs config \"\(missing)\"")
        }
        if !provider.usesSharedSecret && !request.secret.isEmpty {
            throw RPCError(.invalidArgument, "\(provider.rawValue) verifies with public keys; it takes no secret")
        }
        let registered = try await endpoints.create(
            workspaceID: workspace, provider: provider, secret: request.secret.isEmpty ? nil : request.secret, config: config)
        var response = GatewayV1.CreateWebhookEndpointResponse()
        response.endpointID = registered.endpoint.id
        response.path = "/webhooks/\(provider.rawValue)/\(registered.endpoint.id)"
        response.secret = registered.secret ?? ""
        return response
    }

    public func listWebhookEvents(
        _ request: GatewayV1.ListWebhookEventsRequest, context: ServerContext
    ) async throws -> GatewayV1.ListWebhookEventsResponse {
        let entries = try await WebhookInbox.list(
            db: db, workspaceID: try context.workspace(), status: request.status.isEmpty ? nil : request.status,
            limit: request.limit == 0 ? 50 : Int(request.limit))
        var response = GatewayV1.ListWebhookEventsResponse()
        response.events = entries.map { entry in
            var summary = GatewayV1.WebhookEventSummary()
            summary.id = entry.id
            summary.provider = entry.provider
            summary.eventID = entry.eventID
            summary.eventType = entry.eventType
            summary.status = entry.status
            summary.attempts = UInt32(entry.attempts)
            summary.lastError = entry.lastError ?? ""
            summary.receivedAtUnixMs = Int64(entry.receivedAt.timeIntervalSince1970 * 1000)
            summary.deliveredAtUnixMs = entry.deliveredAt.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0
            summary.endpointID = entry.endpointID
            return summary
        }
        return response
    }

    public func replayWebhookEvents(
        _ request: GatewayV1.ReplayWebhookEventsRequest, context: ServerContext
    ) async throws -> GatewayV1.ReplayWebhookEventsResponse {
        let which: WebhookInbox.Replay
        if request.id != 0 {
            which = .one(request.id)
        } else if request.allDead {
            which = .allDead
        } else if request.receivedFromUnixMs != 0 || request.receivedToUnixMs != 0 {
            let to = request.receivedToUnixMs == 0 ? Date() : Date(timeIntervalSince1970: Double(request.receivedToUnixMs) / 1000)
            which = .receivedBetween(Date(timeIntervalSince1970: Double(request.receivedFromUnixMs) / 1000), to)
        } else {
            throw RPCError(.invalidArgument, "name one event (id), all_dead, or a received_from/received_to range")
        }
        var response = GatewayV1.ReplayWebhookEventsResponse()
        response.replayed = UInt32(try await WebhookInbox.replay(which, db: db, workspaceID: try context.workspace()))
        return response
    }
}

