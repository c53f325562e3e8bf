public import Foundation
import Platform
import RPC
public import Postgres
import Synchronization

/// The API key the gateway presents when it calls a domain service for a workspace: created on
/// first use, scoped to that workspace and to the domain services, stored sealed in the vault.
public final class ServiceCredentials: Sendable {
    static let services = ["billing", "email_calendar", "marketing", "support", "data_transfer"]

    private let db: PostgresClient
    private let vault: TokenVault
    private let cache = Mutex<[UUID: String]>([:])
    private let loading = Mutex<[UUID: Task<String, any Error>]>([:])

    public init(db: PostgresClient, vault: TokenVault) {
        self.db = db
        self.vault = vault
    }

    private static func context(_ workspace: UUID) -> String { "gateway_service_keys:\(workspace.uuidString.lowercased())" }

    /// The key for `workspace`, creating it once. Concurrent first calls in this process share one
    /// load; replicas racing to create it agree on the first one stored (the loser revokes its own).
    public func apiKey(for workspace: UUID) async throws -> String {
        if let key = cache.withLock({ $0[workspace] }) { return key }
        let (task, isOwner) = loading.withLock { loading -> (Task<String, any Error>, Bool) in
            if let task = loading[workspace] { return (task, false) }
            let task = Task { try await self.load(workspace) }
            loading[workspace] = task
            return (task, true)
        }
        defer { if isOwner { loading.withLock { _ = $0.removeValue(forKey: workspace) } } }
        let key = try await task.value
        cache.withLock { $0[workspace] = key }
        return key
    }

    /// Never holds one pooled connection while asking for another.
    private func load(_ workspace: UUID) async throws -> String {
        if let stored = try await stored(workspace) { return stored }
        let keys = APIKeys(db: db)
        let (created, text) = try await keys.create(workspaceID: workspace, name: "gateway dispatcher", services: Self.services)
        let sealed = vault.seal(text, context: Self.context(workspace))
        let inserted = try await db.execute("""
            INSERT INTO gateway_service_keys (workspace_id, sealed_key, key_id) VALUES (\(workspace), \(sealed.box), \(sealed.keyID))
            ON CONFLICT (workspace_id) DO NOTHING
            """)
        if inserted == 1 { return text }
        try await keys.revoke(id: created.id)
        guard let stored = try await stored(workspace) else { throw PlatformError(.internalError, "the dispatcher key vanished") }
        return stored
    }

    private func stored(_ workspace: UUID) async throws -> String? {
        guard let row = try await db.query("SELECT sealed_key, key_id FROM gateway_service_keys WHERE workspace_id = \(workspace)").first else {
            return nil
        }
        return try vault.openString(.init(keyID: try row.decode(at: 1), box: try row.decode(at: 0)), context: Self.context(workspace))
    }
}
