import Cryptography
import Foundation
public import RPC
import Synchronization

/// Checks the API key of every non-public call against the `api_keys` table, with a short cache
/// so a hot path does not query the database per call. A revocation takes effect within `cacheTTL`.
public final class APIKeyAuthenticator: CallAuthenticator {
    private let keys: APIKeys
    private let cacheTTL: Duration
    private let cache = Mutex<[String: Entry]>([:])

    private struct Entry {
        var key: APIKeys.Key?
        var secretHash: [UInt8]
        var expires: ContinuousClock.Instant
        /// `key.workspaceID` as the lower-case text calls carry, computed once.
        var workspace: String
    }

    public init(keys: APIKeys, cacheTTL: Duration = .seconds(2)) {
        self.keys = keys
        self.cacheTTL = cacheTTL
    }

    public func authenticate(_ metadata: CallMetadata, service: ServiceDescriptor, method: MethodDescriptor) async throws -> Principal {
        guard !metadata.apiKey.isEmpty else { throw RPCError(.unauthenticated, "an API key is required") }
        guard let presented = APIKeys.Presented(metadata.apiKey) else {
            throw RPCError(.unauthenticated, "the API key is malformed")
        }
        let now = ContinuousClock.now
        var entry = cache.withLock { $0[presented.id] }
        if entry == nil || entry!.expires < now {
            let found = try await keys.lookup(id: presented.id)
            let fresh = Entry(
                key: found?.key, secretHash: found?.secretHash ?? [], expires: now.advanced(by: cacheTTL),
                workspace: found?.key.workspaceID.uuidString.lowercased() ?? "")
            cache.withLock { $0[presented.id] = fresh }
            entry = fresh
        }
        // Compare the hash even for unknown ids, so timing does not tell which ids exist.
        let matches = Digest.constantTimeEquals(
            Digest.sha256(Array(presented.secret.utf8)), entry!.secretHash.isEmpty ? [UInt8](repeating: 0, count: 32) : entry!.secretHash)
        guard let key = entry!.key, matches else { throw RPCError(.unauthenticated, "the API key is not valid") }
        guard key.revokedAt == nil else { throw RPCError(.unauthenticated, "the API key was revoked") }
        guard key.services.contains("*") || key.services.contains(service.shortName) else {
            throw RPCError(.permissionDenied, "this API key may not call the \(service.shortName) service")
        }
        let workspace = entry!.workspace
        if !metadata.workspaceID.isEmpty && metadata.workspaceID != workspace && metadata.workspaceID.lowercased() != workspace {
            throw RPCError(.permissionDenied, "this API key belongs to another workspace")
        }
        return Principal(keyID: key.id, workspaceID: workspace)
    }
}
