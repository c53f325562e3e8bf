import Cryptography
import Platform
import RPC
public import Foundation
public import Postgres
import Synchronization

/// The registered webhook endpoints: which workspace and secret a URL's endpoint id stands for.
/// Lookups are on every delivery's path and anyone can ask for any id, so ids of the wrong shape
/// are refused without a lookup, and results — found or not — are kept in a `BoundedCache`; a
/// disabled or new endpoint takes effect within its time to live.
public final class WebhookEndpoints: Sendable {
    public struct Registered: Sendable, Hashable {
        public var endpoint: WebhookEndpoint
        /// The shared secret as created, to give to the provider (shown once); nil for key-based providers.
        public var secret: String?
    }

    private let db: PostgresClient
    private let vault: TokenVault
    private let cache: BoundedCache<String, WebhookEndpoint>
    private let databaseLookups = Atomic<Int>(0)

    /// - Parameters:
    ///   - cacheTTL: how long a found endpoint is used without asking the database again.
    ///   - negativeCacheTTL: how long an id is known not to exist.
    ///   - cacheCapacity: endpoints (and unknown ids) remembered at most.
    public init(db: PostgresClient, vault: TokenVault, cacheTTL: Duration = .seconds(5), negativeCacheTTL: Duration = .seconds(1),
                cacheCapacity: Int = 10_000) {
        self.db = db
        self.vault = vault
        cache = BoundedCache(capacity: cacheCapacity, timeToLive: cacheTTL, negativeTimeToLive: negativeCacheTTL)
    }

    /// Whether `id` has the shape of the ids `create` makes (`we_` and 20 base64url characters);
    /// any other id is unknown without a lookup.
    public static func isWellFormed(id: String) -> Bool {
        let utf8 = id.utf8
        guard utf8.count == 23, utf8.starts(with: "we_".utf8) else { return false }
        return utf8.dropFirst(3).allSatisfy(Digest.isBase64URL)
    }

    /// Endpoints this process has looked up in the database (cache misses).
    public var lookupsFromDatabase: Int { databaseLookups.load(ordering: .relaxed) }

    /// Entries the cache holds (at most its capacity).
    public var cachedCount: Int { cache.count }

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

    /// What the cache holds for a URL's id.
    func cached(id: String) -> BoundedCache<String, WebhookEndpoint>.Entry {
        Self.isWellFormed(id: id) ? cache.entry(for: id) : .fresh(nil)
    }

    /// The endpoint for a URL's id, secret opened; nil when there is none.
    public func lookup(id: String) async throws -> WebhookEndpoint? {
        if case .fresh(let hit) = cached(id: id) { return hit }
        return try await lookupInDatabase(id: id)
    }

    /// The endpoint for a well-formed id as the database has it now; the answer is cached.
    func lookupInDatabase(id: String) async throws -> WebhookEndpoint? {
        let now = ContinuousClock.now
        databaseLookups.add(1, ordering: .relaxed)
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
        cache.store(endpoint, for: id, now: now)
        return endpoint
    }

    /// Stops accepting deliveries on an endpoint; returns false when there is no live one.
    @discardableResult
    public func disable(id: String) async throws -> Bool {
        let changed = try await db.execute("UPDATE webhook_endpoints SET disabled_at = now() WHERE id = \(id) AND disabled_at IS NULL") == 1
        cache.remove(id)
        return changed
    }
}
