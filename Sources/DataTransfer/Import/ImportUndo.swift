public import Foundation
import Platform
public import Postgres
import RPC

/// Undoes an import: deletes the contacts it created and restores the fields of those it updated,
/// all in one transaction — except contacts changed since the import wrote them (or, for created
/// ones, in use by a deal), which are left alone and reported.
public struct ImportUndo: Sendable {
    public struct Report: Sendable, Hashable {
        public var deleted: Int
        public var restored: Int
        /// Emails left as they are.
        public var refused: [String]
    }

    let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }

    public func undo(job: UUID, workspace: UUID) async throws -> Report {
        try await db.withTransaction { tx in
            guard let status = try await tx.query("""
                SELECT status FROM import_jobs WHERE id = \(job) AND workspace_id = \(workspace) FOR UPDATE
                """).first?.decode(String.self, at: 0) else {
                throw PlatformError(.notFound, "import job \(job) does not exist in this workspace")
            }
            guard ["completed", "cancelled", "failed"].contains(status) else {
                throw PlatformError(.failedPrecondition, status == "undone" ? "this import was already undone" : "this import is still \(status)")
            }
            let refused = try await tx.query("""
                SELECT c.email::text FROM import_changes ch JOIN contacts c ON c.id = ch.contact_id
                WHERE ch.job_id = \(job) AND (c.updated_at > ch.written_at
                  OR (ch.action = 'created' AND EXISTS (SELECT 1 FROM deals d WHERE d.primary_contact_id = c.id)))
                ORDER BY 1
                """).map { try $0.decode(String.self, at: 0) }
            let deleted = try await tx.execute("""
                DELETE FROM contacts c USING import_changes ch
                WHERE ch.job_id = \(job) AND ch.action = 'created' AND c.id = ch.contact_id AND c.workspace_id = \(workspace)
                  AND c.updated_at <= ch.written_at AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.primary_contact_id = c.id)
                """)
            let restored = try await tx.execute("""
                UPDATE contacts c SET first_name = ch.previous->>'first_name', last_name = ch.previous->>'last_name',
                  phone = ch.previous->>'phone', title = ch.previous->>'title', account_id = (ch.previous->>'account_id')::uuid,
                  tags = ARRAY(SELECT jsonb_array_elements_text(ch.previous->'tags')), custom = ch.previous->'custom', updated_at = now()
                FROM import_changes ch
                WHERE ch.job_id = \(job) AND ch.action = 'updated' AND c.id = ch.contact_id AND c.workspace_id = \(workspace)
                  AND c.updated_at <= ch.written_at
                """)
            try await tx.execute("UPDATE import_jobs SET status = 'undone' WHERE id = \(job)")
            return Report(deleted: deleted, restored: restored, refused: refused)
        }
    }
}
