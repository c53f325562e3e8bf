public import Foundation
public import Postgres

/// The account health score: bounded 0–100, and every change recorded with its cause, so the
/// score explains itself (`nexactl accounts health`).
public enum AccountHealth {
    /// Applies `delta` inside the caller's transaction; returns (before, after).
    @discardableResult
    public static func change(
        account: UUID, workspace: UUID, by delta: Int, cause: String, source: String?, eventID: String?,
        in tx: PostgresConnectionHandle
    ) async throws -> (before: Int, after: Int) {
        let row = try await tx.query("""
            WITH old AS (SELECT health_score FROM accounts WHERE id = \(account) AND workspace_id = \(workspace) FOR UPDATE),
            new AS (
              UPDATE accounts SET health_score = greatest(0, least(100, accounts.health_score + \(delta))), updated_at = now()
              FROM old WHERE accounts.id = \(account) AND accounts.workspace_id = \(workspace)
              RETURNING old.health_score AS before, accounts.health_score AS after)
            INSERT INTO account_health_events (workspace_id, account_id, cause, source, event_id, delta, score_before, score_after)
            SELECT \(workspace), \(account), \(cause), \(source), \(eventID), after - before, before, after FROM new
            RETURNING score_before, score_after
            """)
        guard let first = row.first else { return (0, 0) }
        return (try first.decode(Int.self, at: 0), try first.decode(Int.self, at: 1))
    }
}
