public import Foundation
import Platform
import RPC
public import Postgres
import Synchronization

/// The API key the gateway presents when it calls a domain service for a workspace: that
/// service's identity in the workspace — it may call the service, call the gateway back, and (for a
/// service whose domain uses OAuth providers) read those providers' tokens (`tokens:<service>`) —
/// created on first use, stored sealed in the vault. A handler calls the gateway back with the key
/// it was called with.
public final class ServiceCredentials: Sendable {
    private struct Identity: Hashable {
        var workspace: UUID
        var service: String
    }

    private let db: PostgresClient
    private let vault: TokenVault
    private let cache = Mutex<[Identity: String]>([:])
    private let loading = Mutex<[Identity: Task<String, any Error>]>([:])

    public init(db: PostgresClient, vault: TokenVault) {
        self.db = db
        self.vault = vault
    }

    private static func context(_ identity: Identity) -> String {
        "gateway_service_keys:\(identity.workspace.uuidString.lowercased()):\(identity.service)"
    }

    /// What `service`'s identity key may do.
    static func grants(for service: String) -> [String] {
        TokenScopes.providersByService[service] == nil ? [service] : [service, "gateway", APIKeys.tokenScope(for: service)]
    }

    /// The key of `service` for `workspace`, creating it once. Concurrent first calls in this process
    /// share one load; replicas racing to create it agree on the first one stored (the loser revokes its own).
    public func apiKey(for workspace: UUID, service: String) async throws -> String {
        let identity = Identity(workspace: workspace, service: service)
        if let key = cache.withLock({ $0[identity] }) { return key }
        let (task, isOwner) = loading.withLock { loading -> (Task<String, any Error>, Bool) in
            if let task = loading[identity] { return (task, false) }
            let task = Task { try await self.load(identity) }
            loading[identity] = task
            return (task, true)
        }
        defer { if isOwner { loading.withLock { _ = $0.removeValue(forKey: identity) } } }
        let key = try await task.value
        cache.withLock { $0[identity] = key }
        return key
    }

    /// Never holds one pooled connection while asking for another.
    private func load(_ identity: Identity) async throws -> String {
        if let stored = try await stored(identity) { return stored }
        let keys = APIKeys(db: db)
        let (created, text) = try await keys.create(workspaceID: identity.workspace, name: "gateway → \(identity.service)",
                                                    services: Self.grants(for: identity.service))
        let sealed = vault.seal(text, context: Self.context(identity))
        let inserted = try await db.execute("""
            INSERT INTO gateway_service_keys (workspace_id, service, sealed_key, key_id)
            VALUES (\(identity.workspace), \(identity.service), \(sealed.box), \(sealed.keyID))
            ON CONFLICT (workspace_id, service) DO NOTHING
            """)
        if inserted == 1 { return text }
        try await keys.revoke(id: created.id)
        guard let stored = try await stored(identity) else { throw PlatformError(.internalError, "the service key vanished") }
        return stored
    }

    private func stored(_ identity: Identity) async throws -> String? {
        guard let row = try await db.query("""
            SELECT sealed_key, key_id FROM gateway_service_keys WHERE workspace_id = \(identity.workspace) AND service = \(identity.service)
            """).first else {
            return nil
        }
        return try vault.openString(.init(keyID: try row.decode(at: 1), box: try row.decode(at: 0)), context: Self.context(identity))
    }
}
