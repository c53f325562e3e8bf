public import Foundation
public import Postgres

/// A kind of CRM change a domain service acts on.
public struct ChangeKind: RawRepresentable, Hashable, Sendable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// A deal created won or moved to `closed_won` (billing).
    public static let dealClosedWon = ChangeKind(rawValue: "deal.closed_won")
    /// A list's members, or a field of a member that list syncs send (marketing).
    public static let listChanged = ChangeKind(rawValue: "list.changed")
    /// A ticket marked for escalation (support).
    public static let ticketEscalated = ChangeKind(rawValue: "ticket.escalated")
    /// A meeting created or edited in the CRM (email & calendar).
    public static let meetingChanged = ChangeKind(rawValue: "meeting.changed")
}

/// One pending change of a CRM record, as leased by a consumer. Changes to one record that arrive
/// before it is handled coalesce into it: `version` counts them.
public struct CRMChange: Sendable, Hashable {
    public var id: Int64
    public var workspace: UUID
    public var kind: ChangeKind
    /// The deal, list, ticket or meeting that changed.
    public var subject: UUID
    public var version: Int
    /// Earlier attempts that failed.
    public var attempts: Int
}

/// The CRM's change feed (`crm_changes`): the database appends to it in the same transaction as a
/// change (triggers of migration 0013, which also `NOTIFY crm_changes`), and each owning service
/// leases its kinds, acts, and marks them handled — after any outage, once, by any replica.
public enum ChangeFeed {
    /// The `NOTIFY` channel that announces new changes.
    public static let channel = "crm_changes"

    /// Leases up to `limit` due changes of `kinds`, oldest first, for `lease` (`SKIP LOCKED`:
    /// replicas never lease the same change; a consumer that dies leaves it due again when the lease ends).
    public static func lease(
        _ kinds: Set<ChangeKind>, limit: Int = 16, for lease: Duration = .seconds(120), in db: PostgresConnectionHandle
    ) async throws -> [CRMChange] {
        try await db.query("""
            UPDATE crm_changes SET leased_until = now() + \(lease.inSeconds) * interval '1 second'
            WHERE id IN (SELECT id FROM crm_changes
                         WHERE kind = ANY(\(PostgresTextArray(kinds.map(\.rawValue)))) AND handled_at IS NULL
                           AND (leased_until IS NULL OR leased_until <= now())
                         ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING id, workspace_id, kind, subject_id, version, attempts
            """).map(CRMChange.init(row:)).sorted { $0.id < $1.id }
    }

    /// Marks `change` handled, in the caller's transaction (with the consumer's own writes). A
    /// change that arrived meanwhile (a newer version) keeps it pending, and due at once.
    /// - Parameter note: what handling it concluded, when it did nothing (kept in `last_error`).
    /// - Returns: false when it stays pending for the newer version.
    @discardableResult
    public static func complete(_ change: CRMChange, note: String? = nil, in db: PostgresConnectionHandle) async throws -> Bool {
        let handled = try await db.execute("""
            UPDATE crm_changes SET handled_at = now(), leased_until = NULL, last_error = \(note)
            WHERE id = \(change.id) AND version = \(change.version) AND handled_at IS NULL
            """) == 1
        if !handled {
            try await db.execute("UPDATE crm_changes SET leased_until = NULL WHERE id = \(change.id) AND handled_at IS NULL")
        }
        return handled
    }

    /// Gives `change` back after a failure that may pass: due again after `delay`.
    public static func retry(_ change: CRMChange, after delay: Duration, error: String, in db: PostgresConnectionHandle) async throws {
        try await db.execute("""
            UPDATE crm_changes SET leased_until = now() + \(delay.inSeconds) * interval '1 second', attempts = attempts + 1, last_error = \(error)
            WHERE id = \(change.id) AND handled_at IS NULL
            """)
    }

    /// The changes of `kind` not yet handled (for reports and tests).
    public static func pending(_ kind: ChangeKind, workspace: UUID, in db: PostgresConnectionHandle) async throws -> [CRMChange] {
        try await db.query("""
            SELECT id, workspace_id, kind, subject_id, version, attempts FROM crm_changes
            WHERE kind = \(kind.rawValue) AND workspace_id = \(workspace) AND handled_at IS NULL ORDER BY id
            """).map(CRMChange.init(row:))
    }
}

extension CRMChange {
    /// `id, workspace_id, kind, subject_id, version, attempts`
    init(row: PostgresRow) throws {
        self.init(id: try row.decode(at: 0), workspace: try row.decode(at: 1), kind: ChangeKind(rawValue: try row.decode(at: 2)),
                  subject: try row.decode(at: 3), version: try row.decode(at: 4), attempts: try row.decode(at: 5))
    }
}
