public import Foundation
import Platform
public import Postgres
import RPC

/// Undoes an import: deletes the records (contacts, leads, accounts) it created and restores the
/// fields of those it updated, all in one transaction — except records changed since the import
/// wrote them, or created ones now in use (a contact on a deal, an account with contacts or
/// deals), which are left alone and reported.
public struct ImportUndo: Sendable {
    public struct Report: Sendable, Hashable {
        public var deleted: Int
        public var restored: Int
        /// The records left as they are: emails (contacts, leads) or names (accounts).
        public var refused: [String]
    }

    let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }

    /// Per entity: its table, how a record is named in the report, what keeps a created record
    /// (something refers to it), and how an updated one gets its journalled values back.
    struct Target {
        var table: String
        var label: String
        var inUse: String
        var restore: String

        static func of(_ entity: ImportEntity) -> Target {
            switch entity {
            case .contacts:
                Target(table: "contacts", label: "r.email::text", inUse: "EXISTS (SELECT 1 FROM deals d WHERE d.primary_contact_id = r.id)", restore: """
                    first_name = ch.previous->>'first_name', last_name = ch.previous->>'last_name', phone = ch.previous->>'phone',
                    title = ch.previous->>'title', account_id = (ch.previous->>'account_id')::uuid,
                    tags = ARRAY(SELECT jsonb_array_elements_text(ch.previous->'tags')), custom = ch.previous->'custom'
                    """)
            case .leads:
                Target(table: "leads", label: "r.email::text", inUse: "false", restore: """
                    first_name = ch.previous->>'first_name', last_name = ch.previous->>'last_name', company = ch.previous->>'company',
                    status = ch.previous->>'status'
                    """)
            case .accounts:
                Target(table: "accounts", label: "r.name",
                       inUse: "(EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = r.id) OR EXISTS (SELECT 1 FROM deals d WHERE d.account_id = r.id))",
                       restore: "domain = ch.previous->>'domain'")
            }
        }
    }

    public func undo(job: UUID, workspace: UUID) async throws -> Report {
        try await db.withTransaction { tx in
            guard let found = try await tx.query("""
                SELECT status, entity FROM import_jobs WHERE id = \(job) AND workspace_id = \(workspace) FOR UPDATE
                """).first else {
                throw PlatformError(.notFound, "import job \(job) does not exist in this workspace")
            }
            let status = try found.decode(String.self, at: 0)
            guard ["completed", "cancelled", "failed"].contains(status) else {
                throw PlatformError(.failedPrecondition, status == "undone" ? "this import was already undone" : "this import is still \(status)")
            }
            let target = Target.of(ImportEntity(rawValue: try found.decode(String.self, at: 1)) ?? .contacts)
            let binds = [job.postgresText, workspace.postgresText]
            // A record is the job's to undo while the job is the last to have written it and nobody changed it since.
            let untouched = "r.last_import_job = $1 AND r.updated_at <= r.last_import_at"
            let refused = try await tx.query(PostgresQuery(unsafeSQL: """
                SELECT \(target.label) FROM \(target.table) r
                WHERE r.workspace_id = $2 AND r.id IN (SELECT id FROM \(target.table) WHERE workspace_id = $2 AND created_by_import = $1
                                                       UNION SELECT record_id FROM import_changes WHERE job_id = $1)
                  AND (NOT coalesce(\(untouched), false) OR (r.created_by_import = $1 AND \(target.inUse)))
                ORDER BY 1
                """, binds: binds)).map { try $0.decode(String.self, at: 0) }
            let deleted = try await tx.execute(PostgresQuery(unsafeSQL: """
                DELETE FROM \(target.table) r
                WHERE r.workspace_id = $2 AND r.created_by_import = $1 AND \(untouched) AND NOT \(target.inUse)
                """, binds: binds))
            let restored = try await tx.execute(PostgresQuery(unsafeSQL: """
                UPDATE \(target.table) r SET \(target.restore), last_import_job = NULL, last_import_at = NULL, updated_at = now()
                FROM import_changes ch
                WHERE ch.job_id = $1 AND ch.action = 'updated' AND r.id = ch.record_id AND r.workspace_id = $2 AND \(untouched)
                """, binds: binds))
            try await tx.execute("UPDATE import_jobs SET status = 'undone' WHERE id = \(job)")
            return Report(deleted: deleted, restored: restored, refused: refused)
        }
    }
}
