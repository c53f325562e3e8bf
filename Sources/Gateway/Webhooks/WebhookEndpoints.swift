import Cryptography
import Platform
import RPC
public import Foundation
public import Postgres
import Synchronization

/// The registered webhook endpoints: which workspace and secret a URL's endpoint id stands for.
/// Lookups are cached briefly (they are on every delivery's path); a disabled or new endpoint
/// takes effect within `cacheTTL`.
public final class WebhookEndpoints: Sendable {
    public struct Registered: Sendable, Hashable {
        public var endpoint: WebhookEndpoint
        /// The shared secret as created, to give to the provider (shown once); nil for key-based providers.
        public var secret: String?
    }

    private let db: PostgresClient
    private let vault: TokenVault
    private let cacheTTL: Duration
    private let cache = Mutex<[String: (endpoint: WebhookEndpoint?, expires: ContinuousClock.Instant)]>([:])

    public init(db: PostgresClient, vault: TokenVault, cacheTTL: Duration = .seconds(5)) {
        self.db = db
        self.vault = vault
        self.cacheTTL = cacheTTL
    }

    private static func context(_ id: String) -> String { "webhook_endpoints.secret:\(id)" }

    /// Registers an endpoint. For shared-secret providers, `secret` is the provider's (Stripe's
    /// `whsec_…`, Zendesk's, Intercom's client secret) or, when nil, a random one we hand to the
    /// provider (Calendar channel token, Graph `clientState`, Mailchimp URL secret).
    public func create(
        workspaceID: UUID, provider: WebhookProvider, secret: String? = nil, config: [String: String] = [:]
    ) async throws -> Registered {
        if provider.usesSharedSecret, let secret, secret.isEmpty {
            throw PlatformError(.invalidArgument, "a \(provider.rawValue) endpoint's secret cannot be empty (omit it to generate one)")
        }
        if provider == .googlePubSub, (config["service_account"] ?? "").isEmpty || (config["audience"] ?? "").isEmpty {
            throw PlatformError(.invalidArgument, "a Pub/Sub endpoint needs the push subscription's audience and service_account")
        }
        let id = "we_" + Digest.base64URL(Digest.randomBytes(15))
        let secret = provider.usesSharedSecret ? (secret ?? Digest.base64URL(Digest.randomBytes(24))) : nil
        let sealed = secret.map { vault.seal($0, context: Self.context(id)) }
        let configJSON = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
        let inserted = try await db.execute("""
            INSERT INTO webhook_endpoints (id, workspace_id, provider, secret, secret_key_id, config)
            SELECT \(id), id, \(provider.rawValue), \(sealed?.box), \(sealed?.keyID), \(configJSON)::jsonb FROM workspaces WHERE id = \(workspaceID)
            """)
        guard inserted == 1 else { throw PlatformError(.notFound, "workspace \(workspaceID) does not exist") }
        let endpoint = WebhookEndpoint(id: id, workspaceID: workspaceID, provider: provider, secret: secret.map { Array($0.utf8) },
                                       config: config, isDisabled: false)
        return Registered(endpoint: endpoint, secret: secret)
    }

    /// What the cache holds for a URL's id: `.some(nil)` when the id is known not to exist, nil
    /// when it must be looked up (`lookup(id:)`).
    func cached(id: String) -> WebhookEndpoint?? {
        guard let hit = cache.withLock({ $0[id] }), hit.expires > ContinuousClock.now else { return nil }
        return .some(hit.endpoint)
    }

    /// The endpoint for a URL's id, secret opened; nil when there is none.
    public func lookup(id: String) async throws -> WebhookEndpoint? {
        if let hit = cached(id: id) { return hit }
        let now = ContinuousClock.now
        let rows = try await db.query("""
            SELECT workspace_id, provider, secret, secret_key_id, config::text, disabled_at IS NOT NULL
            FROM webhook_endpoints WHERE id = \(id)
            """)
        var endpoint: WebhookEndpoint?
        if let row = rows.first, let provider = WebhookProvider(rawValue: try row.decode(String.self, at: 1)) {
            var secret: [UInt8]?
            if let box = try row.decodeIfPresent([UInt8].self, at: 2), let keyID = try row.decodeIfPresent(String.self, at: 3) {
                secret = try vault.open(TokenVault.Sealed(keyID: keyID, box: box), context: Self.context(id))
            }
            let config = (try? JSONSerialization.jsonObject(with: Data(try row.decode(String.self, at: 4).utf8))) as? [String: String] ?? [:]
            endpoint = WebhookEndpoint(id: id, workspaceID: try row.decode(at: 0), provider: provider, secret: secret,
                                       config: config, isDisabled: try row.decode(Bool.self, at: 5))
        }
        cache.withLock { $0[id] = (endpoint, now.advanced(by: cacheTTL)) }
        return endpoint
    }

    /// Stops accepting deliveries on an endpoint; returns false when there is no live one.
    @discardableResult
    public func disable(id: String) async throws -> Bool {
        let changed = try await db.execute("UPDATE webhook_endpoints SET disabled_at = now() WHERE id = \(id) AND disabled_at IS NULL") == 1
        cache.withLock { _ = $0.removeValue(forKey: id) }
        return changed
    }
}
