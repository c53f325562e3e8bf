public import Foundation
public import Postgres

/// The account health score: bounded 0–100, and every change recorded with its cause, delta,
/// before and after, so the score explains itself (`nexactl accounts health`).
public enum AccountHealth {
    /// One recorded change of an account's score.
    public struct Change: Sendable, Hashable {
        public var cause: String
        public var source: String?
        public var eventID: String?
        /// What was applied after bounding: `after - before`.
        public var delta: Int
        public var before: Int
        public var after: Int
        public var at: Date
    }

    public static let range = 0...100

    /// Moves the score by `delta`, bounded to 0–100, and records the change with its cause, in
    /// the caller's transaction (the account row is locked until it ends).
    /// - Returns: the recorded change, or nil when the workspace has no such account.
    @discardableResult
    public static func change(
        account: UUID, workspace: UUID, by delta: Int, cause: String, source: String?, eventID: String?,
        in db: PostgresConnectionHandle
    ) async throws -> Change? {
        try await db.query("""
            WITH old AS (SELECT health_score FROM accounts WHERE id = \(account) AND workspace_id = \(workspace) FOR UPDATE),
            new AS (
              UPDATE accounts SET health_score = greatest(\(range.lowerBound), least(\(range.upperBound), accounts.health_score + \(delta))),
                updated_at = now()
              FROM old WHERE accounts.id = \(account) AND accounts.workspace_id = \(workspace)
              RETURNING old.health_score AS before, accounts.health_score AS after)
            INSERT INTO account_health_events (workspace_id, account_id, cause, source, event_id, delta, score_before, score_after)
            SELECT \(workspace), \(account), \(cause), \(source), \(eventID), after - before, before, after FROM new
            RETURNING cause, source, event_id, delta, score_before, score_after, created_at
            """).first.map(change(from:))
    }

    /// The account's score and its changes, oldest first; nil when the workspace has no such account.
    public static func explain(account: UUID, workspace: UUID, in db: PostgresConnectionHandle) async throws -> (score: Int, changes: [Change])? {
        guard let score = try await db.query("SELECT health_score FROM accounts WHERE id = \(account) AND workspace_id = \(workspace)")
            .first?.decode(Int.self, at: 0) else { return nil }
        let changes = try await db.query("""
            SELECT cause, source, event_id, delta, score_before, score_after, created_at
            FROM account_health_events WHERE account_id = \(account) AND workspace_id = \(workspace) ORDER BY id
            """).map(change(from:))
        return (score, changes)
    }

    private static func change(from row: PostgresRow) throws -> Change {
        Change(cause: try row.decode(at: 0), source: try row.decodeIfPresent(at: 1), eventID: try row.decodeIfPresent(at: 2),
               delta: try row.decode(at: 3), before: try row.decode(at: 4), after: try row.decode(at: 5), at: try row.decode(at: 6))
    }
}
