public import Foundation
public import Postgres
import RPC

/// What every synced resource of a connection (its mailbox, its calendar) keeps beside its cursor:
/// a state (`initial_sync`, `active`, `failed`), the class and text of the last failure, and
/// whether it is paused because the connection needs the user.
struct SyncStates: Sendable {
    enum Table: String, Sendable {
        case mailboxes, calendars

        var noun: (one: String, many: String) {
            switch self {
            case .mailboxes: ("Gmail mailbox", "mailboxes")
            case .calendars: ("Google calendar", "calendars")
            }
        }
    }

    let db: PostgresClient
    let table: Table

    /// The resource a user's call names by connection id, or the workspace's only one when it
    /// names none: its connection and owner's address.
    /// - Throws: `RPCError` — `INVALID_ARGUMENT` for a malformed id or several candidates,
    ///   `NOT_FOUND` for none.
    func named(_ connectionID: String, workspace: UUID) async throws -> (connection: UUID, owner: String) {
        let rows: [PostgresRow]
        if connectionID.isEmpty {
            rows = try await db.query("SELECT connection_id, owner_email FROM \(unescaped: table.rawValue) WHERE workspace_id = \(workspace) LIMIT 2")
            guard rows.count < 2 else {
                throw RPCError(.invalidArgument, "this workspace has several \(table.noun.many): name one with connection_id")
            }
        } else {
            guard let id = UUID(uuidString: connectionID) else { throw RPCError(.invalidArgument, "connection_id is not a UUID") }
            rows = try await db.query("""
                SELECT connection_id, owner_email FROM \(unescaped: table.rawValue) WHERE workspace_id = \(workspace) AND connection_id = \(id)
                """)
        }
        guard let row = rows.first else {
            throw RPCError(.notFound, "no synced \(table.noun.one) \(connectionID.isEmpty ? "in this workspace" : connectionID)")
        }
        return (try row.decode(at: 0), try row.decode(at: 1))
    }

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
    func recordFailure(_ failure: ProviderFailure, connection: UUID) async throws {
        try await db.execute("""
            UPDATE \(unescaped: table.rawValue) SET failure_class = \(failure.failureClass), failure = \("\(failure)"),
              state = CASE WHEN \(failure.failureClass) = 'auth' THEN 'failed' ELSE state END, updated_at = now()
            WHERE connection_id = \(connection)
            """)
    }
}
