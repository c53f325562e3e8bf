import CRM
public import Foundation
public import Logging
import Platform
public import Postgres
import RPC
import Synchronization

/// The token vault: users' provider connections with their tokens sealed at rest, refreshed when
/// they near expiry, single-flight per connection (in process, and across replicas by a row lock).
public final class Connections: Sendable {
    public struct Connection: Sendable, Hashable {
        public var id: UUID
        public var workspaceID: UUID
        public var userID: UUID
        public var provider: String
        public var accountEmail: String
        public var scopes: [String]
        public var status: String
        public var expiresAt: Date?
        /// The lifetime the provider gave the current access token; nil for tokens stored before it was kept.
        public var tokenLifetime: TimeInterval?
    }

    /// A usable access token.
    public struct AccessToken: Sendable, Hashable {
        public var token: String
        public var expiresAt: Date
        public var connection: Connection
    }

    private let db: PostgresClient
    private let vault: TokenVault
    private let tokens: TokenEndpoint
    private let providers: [String: OAuthProvider]
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let inFlight = Mutex<[UUID: Task<AccessToken, any Error>]>([:])

    /// - Parameter now: the clock token expiry is judged by (tests pass a simulated one).
    public init(db: PostgresClient, vault: TokenVault, tokens: TokenEndpoint, providers: [String: OAuthProvider],
                logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.db = db
        self.vault = vault
        self.tokens = tokens
        self.providers = providers
        self.logger = logger
        self.now = now
    }

    /// How long before expiry a token is refreshed: min(5 minutes, half its issued lifetime),
    /// shortened by up to a tenth by `jitter` (0 ..< 1) so that replicas and the many tokens issued
    /// together do not all refresh in the same second. A token of unknown lifetime gets 5 minutes.
    package static func refreshWindow(lifetime: TimeInterval?, jitter: Double) -> TimeInterval {
        let window = min(300, (lifetime ?? 600) / 2)
        return window * (1 - 0.1 * min(max(jitter, 0), 1))
    }

    /// Whether `connection`'s access token may be served without a refresh.
    private func isFresh(_ connection: Connection) -> Bool {
        guard let expires = connection.expiresAt else { return false }
        let window = Self.refreshWindow(lifetime: connection.tokenLifetime, jitter: Double.random(in: 0..<1))
        return expires.timeIntervalSince(now()) > window
    }

    static func context(_ id: UUID, _ column: String) -> String { "oauth_connections.\(column):\(id.uuidString.lowercased())" }

    private static let columns = "id, workspace_id, user_id, provider, account_email, scopes, status, expires_at, access_token, refresh_token, key_id, token_lifetime_seconds"

    private func decode(_ row: PostgresRow) throws -> (Connection, access: [UInt8]?, refresh: [UInt8]?, keyID: String?) {
        let connection = Connection(
            id: try row.decode(at: 0), workspaceID: try row.decode(at: 1), userID: try row.decode(at: 2), provider: try row.decode(at: 3),
            accountEmail: try row.decode(at: 4), scopes: try row.decode(PostgresTextArray.self, at: 5).values, status: try row.decode(at: 6),
            expiresAt: try row.decodeIfPresent(at: 7), tokenLifetime: try row.decodeIfPresent(Int32.self, at: 11).map(TimeInterval.init))
        return (connection, try row.decodeIfPresent(at: 8), try row.decodeIfPresent(at: 9), try row.decodeIfPresent(at: 10))
    }

    /// Stores a new connection (or renews the one for the same account), tokens sealed; and queues a
    /// `connection.created` event for the owning service in the same transaction.
    public func save(workspaceID: UUID, userID: UUID, provider: OAuthProvider, email: String, tokens: TokenEndpoint.Tokens) async throws -> Connection {
        try await db.withTransaction { tx in
            let existing = try await tx.query("""
                SELECT id FROM oauth_connections WHERE workspace_id = \(workspaceID) AND provider = \(provider.name) AND account_email = \(email)
                FOR UPDATE
                """).first.map { try $0.decode(UUID.self, at: 0) }
            let id = existing ?? UUID()
            let access = vault.seal(tokens.accessToken, context: Self.context(id, "access_token"))
            let refresh = tokens.refreshToken.map { vault.seal($0, context: Self.context(id, "refresh_token")) }
            let expires = now().addingTimeInterval(TimeInterval(tokens.expiresIn))
            let lifetime = Int32(clamping: max(1, tokens.expiresIn))
            let scopes = PostgresTextArray(tokens.scopes)
            let rows = try await tx.query("""
                INSERT INTO oauth_connections (id, workspace_id, user_id, provider, account_email, scopes, access_token, refresh_token,
                                               key_id, expires_at, token_lifetime_seconds, status, refreshed_at)
                VALUES (\(id), \(workspaceID), \(userID), \(provider.name), \(email), \(scopes), \(access.box), \(refresh?.box),
                        \(access.keyID), \(expires), \(lifetime), 'active', now())
                ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, scopes = EXCLUDED.scopes, access_token = EXCLUDED.access_token,
                  refresh_token = COALESCE(EXCLUDED.refresh_token, oauth_connections.refresh_token), key_id = EXCLUDED.key_id,
                  expires_at = EXCLUDED.expires_at, token_lifetime_seconds = EXCLUDED.token_lifetime_seconds, status = 'active', refreshed_at = now(), updated_at = now()
                RETURNING \(unescaped: Self.columns)
                """)
            let connection = try decode(rows[0]).0
            try await Self.enqueue("connection.created", connection, in: tx)
            return connection
        }
    }

    /// A connection lifecycle event for the owning domain service, through the same durable inbox
    /// and dispatcher as provider webhooks (the insert wakes the dispatchers).
    static func enqueue(_ type: String, _ connection: Connection, in tx: PostgresConnectionHandle) async throws {
        let body: [String: Any] = ["connection_id": connection.id.uuidString.lowercased(), "provider": connection.provider,
                                   "user_id": connection.userID.uuidString.lowercased(), "account_email": connection.accountEmail,
                                   "scopes": connection.scopes, "status": connection.status]
        let json = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        try await tx.execute("""
            INSERT INTO webhook_inbox (workspace_id, endpoint_id, provider, event_id, event_type, body)
            VALUES (\(connection.workspaceID), 'gateway', \(connection.provider), \("\(type):\(connection.id.uuidString.lowercased()):\(UUID().uuidString.lowercased())"),
                    \(type), \(Array(json)))
            """)
    }

    public func list(workspaceID: UUID, provider: String? = nil) async throws -> [Connection] {
        try await db.query("""
            SELECT \(unescaped: Self.columns) FROM oauth_connections
            WHERE workspace_id = \(workspaceID) AND (\(provider)::text IS NULL OR provider = \(provider)) ORDER BY created_at, id
            """).map { try decode($0).0 }
    }

    /// A valid access token: the stored one while it is fresh, otherwise refreshed first.
    /// - Throws: NOT_FOUND (no such connection in the workspace), FAILED_PRECONDITION (needs the
    ///   user to reconnect), UNAVAILABLE (the provider could not be reached; try later).
    public func accessToken(connectionID: UUID, workspaceID: UUID, permittedProviders: Set<String>? = nil) async throws -> AccessToken {
        guard let row = try await db.query("""
            SELECT \(unescaped: Self.columns) FROM oauth_connections WHERE id = \(connectionID) AND workspace_id = \(workspaceID)
            """).first else {
            throw PlatformError(.notFound, "connection \(connectionID) does not exist in this workspace")
        }
        let (connection, access, _, keyID) = try decode(row)
        if let permittedProviders, !permittedProviders.contains(connection.provider) {
            throw PlatformError(.permissionDenied, "this API key may not read \(connection.provider) tokens (a tokens:<service> grant of a service whose domain uses \(connection.provider) may)")
        }
        try Self.requireActive(connection)
        if let access, let keyID, let expires = connection.expiresAt, isFresh(connection) {
            let token = try vault.openString(.init(keyID: keyID, box: access), context: Self.context(connection.id, "access_token"))
            return AccessToken(token: token, expiresAt: expires, connection: connection)
        }
        return try await refreshed(connectionID: connectionID, workspaceID: workspaceID, force: false)
    }

    /// Refreshes once per connection however many callers ask at the same moment.
    public func refreshed(connectionID: UUID, workspaceID: UUID, force: Bool) async throws -> AccessToken {
        let (task, isOwner) = inFlight.withLock { running -> (Task<AccessToken, any Error>, Bool) in
            if let task = running[connectionID] { return (task, false) }
            let task = Task { try await self.refreshUnderLock(connectionID: connectionID, workspaceID: workspaceID, force: force) }
            running[connectionID] = task
            return (task, true)
        }
        defer { if isOwner { inFlight.withLock { _ = $0.removeValue(forKey: connectionID) } } }
        return try await task.value
    }

    /// The cross-replica part: the row lock serialises refreshers; whoever comes second finds the
    /// token fresh and returns it without calling the provider.
    private func refreshUnderLock(connectionID: UUID, workspaceID: UUID, force: Bool) async throws -> AccessToken {
        enum Outcome: Sendable { case token(AccessToken), reauth(Connection, String) }
        let outcome: Outcome = try await db.withTransaction { tx in
            guard let row = try await tx.query("""
                SELECT \(unescaped: Self.columns) FROM oauth_connections WHERE id = \(connectionID) AND workspace_id = \(workspaceID) FOR UPDATE
                """).first else {
                throw PlatformError(.notFound, "connection \(connectionID) does not exist in this workspace")
            }
            let (connection, access, refresh, keyID) = try decode(row)
            try Self.requireActive(connection)
            if !force, let access, let keyID, let expires = connection.expiresAt, isFresh(connection) {
                let token = try vault.openString(.init(keyID: keyID, box: access), context: Self.context(connection.id, "access_token"))
                return .token(AccessToken(token: token, expiresAt: expires, connection: connection))
            }
            guard let refresh, let keyID, let provider = providers[connection.provider] else {
                return .reauth(connection, "no refresh token or provider configuration")
            }
            let refreshToken = try vault.openString(.init(keyID: keyID, box: refresh), context: Self.context(connection.id, "refresh_token"))
            let fresh: TokenEndpoint.Tokens
            do throws(TokenEndpoint.Failure) {
                fresh = try await tokens.refresh(refreshToken, provider: provider)
            } catch .invalidGrant(let description) {
                return .reauth(connection, description)
            } catch .unavailable(let detail) {
                throw PlatformError(.unavailable, "\(provider.name) is unavailable: \(detail)")
            } catch {
                throw PlatformError(.failedPrecondition, "\(provider.name) refused the refresh: \(error)")
            }
            // Keep the stored refresh token unless the provider rotated it; re-seal both under the active key.
            let sealedAccess = vault.seal(fresh.accessToken, context: Self.context(connection.id, "access_token"))
            let sealedRefresh = vault.seal(fresh.refreshToken ?? refreshToken, context: Self.context(connection.id, "refresh_token"))
            let expires = now().addingTimeInterval(TimeInterval(fresh.expiresIn))
            let lifetime = Int32(clamping: max(1, fresh.expiresIn))
            try await tx.execute("""
                UPDATE oauth_connections SET access_token = \(sealedAccess.box), refresh_token = \(sealedRefresh.box), key_id = \(sealedAccess.keyID),
                  expires_at = \(expires), token_lifetime_seconds = \(lifetime), refreshed_at = now(), updated_at = now() WHERE id = \(connectionID)
                """)
            var updated = connection
            updated.expiresAt = expires
            updated.tokenLifetime = TimeInterval(lifetime)
            return .token(AccessToken(token: fresh.accessToken, expiresAt: expires, connection: updated))
        }
        switch outcome {
        case .token(let token):
            return token
        case .reauth(let connection, let reason):
            try await markReauthRequired(connection, reason: reason)
            throw PlatformError(.failedPrecondition, "the \(connection.provider) connection of \(connection.accountEmail) needs the user to reconnect")
        }
    }

    private func markReauthRequired(_ connection: Connection, reason: String) async throws {
        try await db.withTransaction { tx in
            guard try await tx.execute("""
                UPDATE oauth_connections SET status = 'reauth_required', updated_at = now() WHERE id = \(connection.id) AND status = 'active'
                """) == 1 else { return }
            try await Alerts.raise(NewAlert(
                kind: .reauthRequired, severity: .urgent,
                message: "Reconnect \(connection.provider) for \(connection.accountEmail): the provider no longer accepts its grant (\(reason)).",
                recipient: connection.userID, details: ["connection_id": connection.id.uuidString.lowercased()]),
                workspace: connection.workspaceID, in: tx)
            var changed = connection
            changed.status = "reauth_required"
            try await Self.enqueue("connection.reauth_required", changed, in: tx)
        }
        logger.warning("connection needs reauthorisation", metadata: ["connection": "\(connection.id)", "provider": "\(connection.provider)"])
    }

    private static func requireActive(_ connection: Connection) throws {
        switch connection.status {
        case "active": return
        case "reauth_required":
            throw PlatformError(.failedPrecondition, "the \(connection.provider) connection of \(connection.accountEmail) needs the user to reconnect")
        default:
            throw PlatformError(.failedPrecondition, "the \(connection.provider) connection of \(connection.accountEmail) was disconnected")
        }
    }

    /// Revokes at the provider, then deletes the tokens and marks the connection disconnected.
    public func disconnect(connectionID: UUID, workspaceID: UUID) async throws -> Connection {
        guard let row = try await db.query("""
            SELECT \(unescaped: Self.columns) FROM oauth_connections WHERE id = \(connectionID) AND workspace_id = \(workspaceID)
            """).first else {
            throw PlatformError(.notFound, "connection \(connectionID) does not exist in this workspace")
        }
        let (connection, _, refresh, keyID) = try decode(row)
        if let refresh, let keyID, let provider = providers[connection.provider] {
            let token = try vault.openString(.init(keyID: keyID, box: refresh), context: Self.context(connection.id, "refresh_token"))
            do {
                try await tokens.revoke(token, provider: provider)
            } catch {
                throw PlatformError(.unavailable, "could not revoke at \(provider.name); nothing was deleted: \(error)")
            }
        }
        return try await db.withTransaction { tx in
            try await tx.execute("""
                UPDATE oauth_connections SET access_token = NULL, refresh_token = NULL, key_id = NULL, expires_at = NULL,
                  status = 'disconnected', updated_at = now() WHERE id = \(connectionID)
                """)
            var changed = connection
            changed.status = "disconnected"
            changed.expiresAt = nil
            try await Self.enqueue("connection.disconnected", changed, in: tx)
            return changed
        }
    }

    /// Queues a `sync.tick` event for each active connection of
    /// `provider`, at most one per connection and hour: the owning service's scheduled work (watch
    /// renewal, a catch-up without a push) arrives through the inbox like any event, with the
    /// service's identity key. Returns how many were queued.
    @discardableResult
    public func enqueueTicks(provider: String, now: Date = Date()) async throws -> Int {
        let hour = Int(now.timeIntervalSince1970 / 3600)
        return try await db.execute("""
            INSERT INTO webhook_inbox (workspace_id, endpoint_id, provider, event_id, event_type, body)
            SELECT workspace_id, 'gateway', provider, 'sync.tick:' || id::text || ':' || \(String(hour)), 'sync.tick',
                   convert_to(json_build_object('connection_id', id::text, 'account_email', account_email, 'scopes', scopes, 'user_id', user_id::text)::text, 'UTF8')
            FROM oauth_connections WHERE provider = \(provider) AND status = 'active'
            ON CONFLICT (workspace_id, provider, event_id) DO NOTHING
            """)
    }

    /// Refreshes active connections not refreshed for `age` (providers expire idle grants), one at
    /// a time; failures are logged and retried on the next sweep. Returns how many were refreshed.
    @discardableResult
    public func refreshIdle(olderThan age: TimeInterval = 86_400) async -> Int {
        let due: [(UUID, UUID)]
        do {
            due = try await db.query("""
                SELECT id, workspace_id FROM oauth_connections
                WHERE status = 'active' AND refresh_token IS NOT NULL AND refreshed_at < now() - \(age) * interval '1 second'
                ORDER BY refreshed_at LIMIT 500
                """).map { (try $0.decode(UUID.self, at: 0), try $0.decode(UUID.self, at: 1)) }
        } catch {
            logger.warning("cannot list idle connections", metadata: ["error": "\(error)"])
            return 0
        }
        var refreshed = 0
        for (id, workspace) in due {
            do {
                _ = try await self.refreshed(connectionID: id, workspaceID: workspace, force: true)
                refreshed += 1
            } catch {
                logger.notice("idle refresh failed", metadata: ["connection": "\(id)", "error": "\(error)"])
            }
        }
        return refreshed
    }
}
