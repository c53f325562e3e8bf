public import Foundation
public import Postgres

/// What every synced resource of a connection (its mailbox, its calendar) keeps beside its cursor:
/// a state (`initial_sync`, `active`, `failed`), the class and text of the last failure, and
/// whether it is paused because the connection needs the user.
struct SyncStates: Sendable {
    enum Table: String, Sendable {
        case mailboxes, calendars
    }

    let db: PostgresClient
    let table: Table

    /// Pauses the resource because its connection needs the user (`reason`): classed `auth` until
    /// the connection is made again. Returns whether there was one.
    func pause(connection: UUID, reason: String) async throws -> Bool {
        try await db.execute("""
            UPDATE \(unescaped: table.rawValue) SET state = 'failed', failure_class = 'auth', failure = \(reason), paused_at = coalesce(paused_at, now()),
              updated_at = now()
            WHERE connection_id = \(connection)
            """) == 1
    }

    /// Whether the resource of `connection` in `workspace` is synced and not paused.
    func isRunning(connection: UUID, workspace: UUID) async throws -> Bool {
        try await !db.query("""
            SELECT 1 FROM \(unescaped: table.rawValue) WHERE connection_id = \(connection) AND workspace_id = \(workspace) AND paused_at IS NULL
            """).isEmpty
    }

    /// Notes why a pass failed: an auth failure stops the resource (`failed`) until the user
    /// reconnects; quota, an expired cursor and an unavailable provider keep its state, and the
    /// next good pass clears them.
    func recordFailure(_ failure: GoogleAPI.Failure, connection: UUID) async throws {
        try await db.execute("""
            UPDATE \(unescaped: table.rawValue) SET failure_class = \(failure.failureClass), failure = \("\(failure)"),
              state = CASE WHEN \(failure.failureClass) = 'auth' THEN 'failed' ELSE state END, updated_at = now()
            WHERE connection_id = \(connection)
            """)
    }
}
