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
            // A contact is the job's to undo while the job is the last to have written it and nobody changed it since.
            let untouched = "c.last_import_job = $1 AND c.updated_at <= c.last_import_at"
            let refused = try await tx.query(PostgresQuery(unsafeSQL: """
                SELECT c.email::text FROM contacts c
                WHERE c.workspace_id = $2 AND c.id IN (SELECT id FROM contacts WHERE workspace_id = $2 AND created_by_import = $1
                                                       UNION SELECT contact_id FROM import_changes WHERE job_id = $1)
                  AND (NOT coalesce(\(untouched), false)
                       OR (c.created_by_import = $1 AND EXISTS (SELECT 1 FROM deals d WHERE d.primary_contact_id = c.id)))
                ORDER BY 1
                """, binds: [job.postgresText, workspace.postgresText])).map { try $0.decode(String.self, at: 0) }
            let deleted = try await tx.execute(PostgresQuery(unsafeSQL: """
                DELETE FROM contacts c
                WHERE c.workspace_id = $2 AND c.created_by_import = $1 AND \(untouched)
                  AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.primary_contact_id = c.id)
                """, binds: [job.postgresText, workspace.postgresText]))
            let restored = try await tx.execute(PostgresQuery(unsafeSQL: """
                UPDATE contacts c SET first_name = ch.previous->>'first_name', last_name = ch.previous->>'last_name',
                  phone = ch.previous->>'phone', title = ch.previous->>'title', account_id = (ch.previous->>'account_id')::uuid,
                  tags = ARRAY(SELECT jsonb_array_elements_text(ch.previous->'tags')), custom = ch.previous->'custom',
                  last_import_job = NULL, last_import_at = NULL, updated_at = now()
                FROM import_changes ch
                WHERE ch.job_id = $1 AND ch.action = 'updated' AND c.id = ch.contact_id AND c.workspace_id = $2 AND \(untouched)
                """, binds: [job.postgresText, workspace.postgresText]))
            try await tx.execute("UPDATE import_jobs SET status = 'undone' WHERE id = \(job)")
            return Report(deleted: deleted, restored: restored, refused: refused)
        }
    }
}
