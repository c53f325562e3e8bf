import Cryptography
import Foundation
public import RPC

/// Checks the API key of every non-public call against the `api_keys` table. Keys of the wrong
/// shape are refused without a lookup; lookups — found or not — are kept in a `BoundedCache`, so a
/// hot path does not query the database per call and random keys cannot fill memory. A
/// revocation takes effect within `cacheTTL`. Where the caller's address is known (the gateway's
/// public routes), a `MissBudget` bounds how many unknown keys one address can make us look up.
public final class APIKeyAuthenticator: CallAuthenticator {
    private let keys: APIKeys
    private let cache: BoundedCache<String, Entry>
    private let misses: MissBudget

    private struct Entry {
        var key: APIKeys.Key
        var secretHash: [UInt8]
        /// `key.workspaceID` as the lower-case text calls carry, computed once.
        var workspace: String
    }

    /// - Parameters:
    ///   - cacheTTL: how long a key (and an unknown key id) is used without asking the database again.
    ///   - cacheCapacity: key ids remembered at most.
    ///   - misses: unknown key ids each source address may make us look up.
    public init(keys: APIKeys, cacheTTL: Duration = .seconds(2), cacheCapacity: Int = 10_000, misses: MissBudget = MissBudget()) {
        self.keys = keys
        cache = BoundedCache(capacity: cacheCapacity, timeToLive: cacheTTL, negativeTimeToLive: cacheTTL)
        self.misses = misses
    }

    public func authenticate(_ metadata: CallMetadata, service: ServiceDescriptor, method: MethodDescriptor) async throws -> Principal {
        try await authenticate(metadata, service: service, method: method, source: nil)
    }

    /// Entries the cache holds (at most its capacity).
    public var cachedCount: Int { cache.count }

    /// As `authenticate(_:service:method:)`, for a caller at `source` (its IP address), whose
    /// lookups of unknown key ids are limited.
    /// - Throws: `RPCError` RESOURCE_EXHAUSTED when `source` has spent its lookups.
    public func authenticate(_ metadata: CallMetadata, service: ServiceDescriptor, method: MethodDescriptor, source: String?) async throws
        -> Principal {
        guard !metadata.apiKey.isEmpty else { throw RPCError(.unauthenticated, "an API key is required") }
        guard let presented = APIKeys.Presented(metadata.apiKey) else {
            throw RPCError(.unauthenticated, "the API key is malformed")
        }
        // Past the address's lookups, a key known a moment ago is still checked.
        guard let entry = try await misses.resolve(cache.entry(for: presented.id), source: source, lookUp: { try await lookUp(presented.id) }) else {
            throw Self.tooManyUnknown
        }
        // Compare the hash even for unknown ids, so timing does not tell which ids exist.
        let matches = Digest.constantTimeEquals(Digest.sha256(Array(presented.secret.utf8)), entry?.secretHash ?? Self.noHash)
        guard let entry, matches else { throw RPCError(.unauthenticated, "the API key is not valid") }
        let key = entry.key
        guard key.revokedAt == nil else { throw RPCError(.unauthenticated, "the API key was revoked") }
        guard key.services.contains("*") || key.services.contains(service.shortName) else {
            throw RPCError(.permissionDenied, "this API key may not call the \(service.shortName) service")
        }
        if !metadata.workspaceID.isEmpty && metadata.workspaceID != entry.workspace && metadata.workspaceID.lowercased() != entry.workspace {
            throw RPCError(.permissionDenied, "this API key belongs to another workspace")
        }
        return Principal(keyID: key.id, workspaceID: entry.workspace, scopes: key.services)
    }

    private static let noHash = [UInt8](repeating: 0, count: 32)
    private static let tooManyUnknown = RPCError(.resourceExhausted, "too many unknown API keys from this address; try again later")

    /// The key as the database has it now, cached.
    private func lookUp(_ id: String) async throws -> Entry? {
        let entry = try await keys.lookup(id: id).map { Entry(key: $0.key, secretHash: $0.secretHash, workspace: $0.key.workspaceID.uuidString.lowercased()) }
        cache.store(entry, for: id)
        return entry
    }
}
