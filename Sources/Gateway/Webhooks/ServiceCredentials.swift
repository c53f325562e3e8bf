public import Foundation
import Platform
public import Postgres
import Synchronization

/// The API key the gateway presents when it calls a domain service for a workspace: created on
/// first use, scoped to that workspace and to the domain services, stored sealed in the vault.
public final class ServiceCredentials: Sendable {
    static let services = ["billing", "email_calendar", "marketing", "support", "data_transfer"]

    private let db: PostgresClient
    private let vault: TokenVault
    private let cache = Mutex<[UUID: String]>([:])

    public init(db: PostgresClient, vault: TokenVault) {
        self.db = db
        self.vault = vault
    }

    private static func context(_ workspace: UUID) -> String { "gateway_service_keys:\(workspace.uuidString.lowercased())" }

    /// The key for `workspace`, creating it once (concurrent first calls agree on one key).
    public func apiKey(for workspace: UUID) async throws -> String {
        if let key = cache.withLock({ $0[workspace] }) { return key }
        let key: String = try await db.withTransaction { tx in
            // Serialise creators for this workspace; the row lock then holds until commit.
            try await tx.execute("SELECT pg_advisory_xact_lock(hashtext(\("gateway_service_keys:" + workspace.uuidString)))")
            if let row = try await tx.query("SELECT sealed_key, key_id FROM gateway_service_keys WHERE workspace_id = \(workspace)").first {
                return try vault.openString(.init(keyID: try row.decode(at: 1), box: try row.decode(at: 0)), context: Self.context(workspace))
            }
            let (_, text) = try await APIKeys(db: db).create(workspaceID: workspace, name: "gateway dispatcher", services: Self.services)
            let sealed = vault.seal(text, context: Self.context(workspace))
            try await tx.execute("""
                INSERT INTO gateway_service_keys (workspace_id, sealed_key, key_id) VALUES (\(workspace), \(sealed.box), \(sealed.keyID))
                """)
            return text
        }
        cache.withLock { $0[workspace] = key }
        return key
    }
}
