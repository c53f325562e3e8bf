public import Foundation
public import Postgres

/// Exactly-once effects for every domain service. A handler claims (source, event id, effect) in
/// the same transaction as its CRM write: the first claim wins and the write goes ahead; a
/// redelivery, a replay or a concurrent duplicate finds the claim taken and skips the effect.
///
///     try await db.withTransaction { tx in
///         guard try await EffectLedger.claim("payment_received", of: event.id, from: "stripe", workspace: ws, in: tx) else { return }
///         // … the CRM write …
///     }
public enum EffectLedger {
    /// Claims an effect inside the caller's transaction.
    /// - Returns: true when this transaction is the first to apply it; false when it was applied before.
    public static func claim(
        _ effect: String, of eventID: String, from source: String, workspace: UUID, in connection: PostgresConnectionHandle
    ) async throws -> Bool {
        try await connection.execute("""
            INSERT INTO effect_ledger (workspace_id, source, event_id, effect)
            VALUES (\(workspace), \(source), \(eventID), \(effect)) ON CONFLICT DO NOTHING
            """) == 1
    }

    /// Whether an effect was applied (for reports and tests).
    public static func isApplied(
        _ effect: String, of eventID: String, from source: String, workspace: UUID, db: PostgresClient
    ) async throws -> Bool {
        try await !db.query("""
            SELECT 1 FROM effect_ledger
            WHERE workspace_id = \(workspace) AND source = \(source) AND event_id = \(eventID) AND effect = \(effect)
            """).isEmpty
    }
}
