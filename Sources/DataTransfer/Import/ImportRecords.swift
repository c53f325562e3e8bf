import CRM
import Foundation
import Postgres

/// One checked row of an import, and how its entity goes through staging: the columns of its
/// staging table, and the statements that merge a staged batch into the CRM's table.
///
/// Those statements find existing records with a correlated subquery on a unique index (one probe
/// per staged row), never with a join: the statistics do not yet know a workspace that is being
/// imported into (its accounts were created moments ago), and a join planned on that estimate
/// compared every row of a batch with every account of the workspace — the third 100,000-row
/// import into one database ran 4× slower than the first.
protocol ImportRecord: Sendable {
    static var entity: ImportEntity { get }
    init(row: Int, fields: [String], mapping: ImportMapping) throws(ImportProblem)
    /// The row number in the file (the header is row 1).
    var row: Int { get }
    /// Rows with the same key are the same record: merged within a batch, found again across batches.
    var key: String { get }
    /// A later row of the same record fills what the earlier left empty.
    mutating func merge(_ other: Self)
    /// This row's staging columns (after `batch, row, repeat`), in `stagingColumns` order.
    func appendStaged(to copy: inout PostgresCopyRows) throws

    /// Column definitions of the staging table after `batch, row, repeat`.
    static var stagingColumns: String { get }
    /// The columns `appendStaged` fills.
    static var copiedColumns: String { get }
    /// Runs once, after staging and before the first batch (nothing in a dry run).
    static func prepare(staging: String, workspace: UUID, on connection: PostgresConnectionHandle) async throws
    /// Inserts or merges one staged batch; returns (created, updated).
    static func write(staging: String, batch: Int, workspace: UUID, journal: UUID?, on tx: PostgresConnectionHandle) async throws -> (Int, Int)
    /// Dry run: each new record of the batch (not a repeat) and whether it exists already.
    static func existing(staging: String, batch: Int, workspace: UUID, on tx: PostgresConnectionHandle) async throws -> [(row: Int, exists: Bool)]
}

extension ImportRecord {
    static func prepare(staging: String, workspace: UUID, on connection: PostgresConnectionHandle) async throws {}

    /// When the job writes a record: its stamp, so a later change by anyone else is seen by undo.
    static var importStamp: String { "CASE WHEN $2::uuid IS NOT NULL THEN now() END" }
}

// MARK: Contacts

extension ContactRow: ImportRecord {
    static var entity: ImportEntity { .contacts }
    var key: String { email }

    static let stagingColumns = """
        email text NOT NULL, first_name text, last_name text, phone text, title text, account text, tags text[], custom jsonb,
        account_key text
        """
    static let copiedColumns = "email, first_name, last_name, phone, title, account, tags, custom, account_key"

    func appendStaged(to copy: inout PostgresCopyRows) throws {
        copy.append(email)
        copy.append(firstName)
        copy.append(lastName)
        copy.append(phone)
        copy.append(title)
        copy.append(accountName)
        copy.append(tags.isEmpty ? nil : PostgresTextArray(tags).postgresText)
        copy.append(custom.isEmpty ? nil : String(decoding: try JSONSerialization.data(withJSONObject: custom, options: [.sortedKeys]), as: UTF8.self))
        // The account's `normalized_name`, by the CRM's one definition (computed here, not per row in SQL).
        copy.append(accountName.map(Records.normalizedAccountName))
    }

    /// The file's accounts, found or created once by normalised name, before any contact.
    static func prepare(staging: String, workspace: UUID, on connection: PostgresConnectionHandle) async throws {
        try await connection.execute(PostgresQuery(unsafeSQL: """
            INSERT INTO accounts (id, workspace_id, name, normalized_name)
            SELECT gen_random_uuid(), $1, min(trim(account)), account_key FROM \(staging) WHERE account_key <> '' GROUP BY account_key
            ON CONFLICT (workspace_id, normalized_name) DO NOTHING
            """, binds: [workspace.postgresText]))
    }

    /// Contacts inserted or merged in one statement: empty cells never erase, tags merge, custom
    /// fields merge. A contact the job creates is marked with it (`created_by_import`); one it
    /// updates has its previous values journalled by the database (`journal_import_update`).
    static func write(staging: String, batch: Int, workspace: UUID, journal: UUID?, on tx: PostgresConnectionHandle) async throws -> (Int, Int) {
        try await counts(tx, PostgresQuery(unsafeSQL: """
            WITH written AS (
              INSERT INTO contacts AS c (id, workspace_id, account_id, email, first_name, last_name, phone, title, tags, custom,
                                         created_by_import, last_import_job, last_import_at)
              SELECT i.id, $1, (SELECT a.id FROM accounts a WHERE a.workspace_id = $1 AND a.normalized_name = i.account_key),
                     i.email, coalesce(i.first_name, ''), coalesce(i.last_name, ''), i.phone, i.title,
                     coalesce(i.tags, '{}'), coalesce(i.custom, '{}'), $2, $2, \(importStamp)
              FROM \(staging) i WHERE i.batch = $3
              ON CONFLICT (workspace_id, email) DO UPDATE SET
                first_name = coalesce(nullif(EXCLUDED.first_name, ''), c.first_name),
                last_name = coalesce(nullif(EXCLUDED.last_name, ''), c.last_name),
                phone = coalesce(EXCLUDED.phone, c.phone),
                title = coalesce(EXCLUDED.title, c.title),
                account_id = coalesce(EXCLUDED.account_id, c.account_id),
                tags = ARRAY(SELECT DISTINCT unnest(c.tags || EXCLUDED.tags) ORDER BY 1),
                custom = c.custom || EXCLUDED.custom,
                last_import_job = coalesce(EXCLUDED.last_import_job, c.last_import_job),
                last_import_at = coalesce(EXCLUDED.last_import_at, c.last_import_at),
                updated_at = coalesce(EXCLUDED.last_import_at, now())
              RETURNING (xmax = 0) AS created)
            SELECT count(*) FILTER (WHERE created), count(*) FROM written
            """, binds: [workspace.postgresText, journal?.postgresText, String(batch)]))
    }

    static func existing(staging: String, batch: Int, workspace: UUID, on tx: PostgresConnectionHandle) async throws -> [(row: Int, exists: Bool)] {
        try await pairs(tx, PostgresQuery(unsafeSQL: """
            SELECT s.row, EXISTS (SELECT FROM contacts c WHERE c.workspace_id = $1 AND c.email = s.email::citext) FROM \(staging) s
            WHERE s.batch = $2 AND NOT s.repeat ORDER BY s.row
            """, binds: [workspace.postgresText, String(batch)]))
    }
}

// MARK: Leads

/// A lead: email (required), name, company and status (one of `LeadRow.statuses`).
struct LeadRow: ImportRecord, Hashable {
    static var entity: ImportEntity { .leads }
    static let statuses = ["new", "contacted", "qualified", "unqualified", "converted"]
    var row: Int
    var email: String
    var firstName: String?
    var lastName: String?
    var company: String?
    var status: String?
    var key: String { email }

    init(row: Int, fields: [String], mapping: ImportMapping) throws(ImportProblem) {
        self.row = row
        guard let email = mapping.cell("email", of: fields) else { throw ImportProblem(row: row, field: "email", message: "is required") }
        guard Cells.isEmail(email) else { throw ImportProblem(row: row, field: "email", message: "\"\(email)\" is not an email address") }
        self.email = email.lowercased()
        firstName = mapping.cell("first_name", of: fields)
        lastName = mapping.cell("last_name", of: fields)
        company = mapping.cell("company", of: fields)
        if let raw = mapping.cell("status", of: fields) {
            guard Self.statuses.contains(raw.lowercased()) else {
                throw ImportProblem(row: row, field: "status", message: "\"\(raw)\" is not a lead status (\(Self.statuses.joined(separator: ", ")))")
            }
            status = raw.lowercased()
        }
    }

    mutating func merge(_ other: LeadRow) {
        firstName = other.firstName ?? firstName
        lastName = other.lastName ?? lastName
        company = other.company ?? company
        status = other.status ?? status
    }

    static let stagingColumns = "email text NOT NULL, first_name text, last_name text, company text, status text"
    static let copiedColumns = "email, first_name, last_name, company, status"

    func appendStaged(to copy: inout PostgresCopyRows) throws {
        copy.append(email)
        copy.append(firstName)
        copy.append(lastName)
        copy.append(company)
        copy.append(status)
    }

    /// Leads inserted or merged (a new lead without a status is `new`); then the statuses given,
    /// set on the leads that already existed.
    static func write(staging: String, batch: Int, workspace: UUID, journal: UUID?, on tx: PostgresConnectionHandle) async throws -> (Int, Int) {
        let binds = [workspace.postgresText, journal?.postgresText, String(batch)]
        let written = try await counts(tx, PostgresQuery(unsafeSQL: """
            WITH written AS (
              INSERT INTO leads AS l (id, workspace_id, email, first_name, last_name, company, status, created_by_import, last_import_job, last_import_at)
              SELECT i.id, $1, i.email, coalesce(i.first_name, ''), coalesce(i.last_name, ''), i.company,
                     coalesce(i.status, 'new'), $2, $2, \(importStamp)
              FROM \(staging) i WHERE i.batch = $3
              ON CONFLICT (workspace_id, email) DO UPDATE SET
                first_name = coalesce(nullif(EXCLUDED.first_name, ''), l.first_name),
                last_name = coalesce(nullif(EXCLUDED.last_name, ''), l.last_name),
                company = coalesce(EXCLUDED.company, l.company),
                last_import_job = coalesce(EXCLUDED.last_import_job, l.last_import_job),
                last_import_at = coalesce(EXCLUDED.last_import_at, l.last_import_at),
                updated_at = coalesce(EXCLUDED.last_import_at, now())
              RETURNING (xmax = 0) AS created)
            SELECT count(*) FILTER (WHERE created), count(*) FROM written
            """, binds: binds))
        try await tx.execute(PostgresQuery(unsafeSQL: """
            UPDATE leads l SET status = i.status
            FROM (SELECT s.status, (SELECT x.id FROM leads x WHERE x.workspace_id = $1 AND x.email = s.email::citext) AS id
                  FROM \(staging) s WHERE s.batch = $2 AND s.status IS NOT NULL OFFSET 0) i
            WHERE l.id = i.id AND l.status <> i.status
            """, binds: [workspace.postgresText, String(batch)]))
        return written
    }

    static func existing(staging: String, batch: Int, workspace: UUID, on tx: PostgresConnectionHandle) async throws -> [(row: Int, exists: Bool)] {
        try await pairs(tx, PostgresQuery(unsafeSQL: """
            SELECT s.row, EXISTS (SELECT FROM leads l WHERE l.workspace_id = $1 AND l.email = s.email::citext) FROM \(staging) s
            WHERE s.batch = $2 AND NOT s.repeat ORDER BY s.row
            """, binds: [workspace.postgresText, String(batch)]))
    }
}

// MARK: Accounts

/// An account: name (required; found again by its normalised form) and web domain.
struct AccountRow: ImportRecord, Hashable {
    static var entity: ImportEntity { .accounts }
    var row: Int
    var name: String
    var domain: String?
    /// The name trimmed, inner white space collapsed, lower-cased (as `normalized_name`).
    var key: String { Records.normalizedAccountName(name) }

    init(row: Int, fields: [String], mapping: ImportMapping) throws(ImportProblem) {
        self.row = row
        guard let name = mapping.cell("name", of: fields) else { throw ImportProblem(row: row, field: "name", message: "is required") }
        self.name = name
        if let raw = mapping.cell("domain", of: fields) {
            guard let domain = Cells.domain(raw) else { throw ImportProblem(row: row, field: "domain", message: "\"\(raw)\" is not a web domain") }
            self.domain = domain
        }
    }

    mutating func merge(_ other: AccountRow) { domain = other.domain ?? domain }

    static let stagingColumns = """
        name text NOT NULL, domain text, key text NOT NULL
        """
    static let copiedColumns = "name, domain, key"

    func appendStaged(to copy: inout PostgresCopyRows) throws {
        copy.append(name)
        copy.append(domain)
        copy.append(key)
    }

    /// Accounts inserted by normalised name or merged (an existing account keeps its name; a
    /// domain given replaces it). Rows of the batch with the same normalised name are one account.
    static func write(staging: String, batch: Int, workspace: UUID, journal: UUID?, on tx: PostgresConnectionHandle) async throws -> (Int, Int) {
        try await counts(tx, PostgresQuery(unsafeSQL: """
            WITH input AS (
              SELECT key, (array_agg(id ORDER BY row))[1] AS id, min(trim(name)) AS name,
                     (array_agg(domain ORDER BY row DESC) FILTER (WHERE domain IS NOT NULL))[1] AS domain
              FROM \(staging) WHERE batch = $3 GROUP BY key),
            written AS (
              INSERT INTO accounts AS a (id, workspace_id, name, normalized_name, domain, created_by_import, last_import_job, last_import_at)
              SELECT id, $1, name, key, domain, $2, $2, \(importStamp) FROM input
              ON CONFLICT (workspace_id, normalized_name) DO UPDATE SET
                domain = coalesce(EXCLUDED.domain, a.domain),
                last_import_job = coalesce(EXCLUDED.last_import_job, a.last_import_job),
                last_import_at = coalesce(EXCLUDED.last_import_at, a.last_import_at),
                updated_at = coalesce(EXCLUDED.last_import_at, now())
              RETURNING (xmax = 0) AS created)
            SELECT count(*) FILTER (WHERE created), count(*) FROM written
            """, binds: [workspace.postgresText, journal?.postgresText, String(batch)]))
    }

    static func existing(staging: String, batch: Int, workspace: UUID, on tx: PostgresConnectionHandle) async throws -> [(row: Int, exists: Bool)] {
        try await pairs(tx, PostgresQuery(unsafeSQL: """
            SELECT s.row, EXISTS (SELECT FROM accounts a WHERE a.workspace_id = $1 AND a.normalized_name = s.key) FROM \(staging) s
            WHERE s.batch = $2 AND NOT s.repeat ORDER BY s.row
            """, binds: [workspace.postgresText, String(batch)]))
    }
}

/// `(created, updated)` from a `SELECT count(*) FILTER (WHERE created), count(*)`.
private func counts(_ tx: PostgresConnectionHandle, _ query: PostgresQuery) async throws -> (Int, Int) {
    let row = try await tx.query(query)[0]
    let created = try row.decode(Int.self, at: 0)
    return (created, try row.decode(Int.self, at: 1) - created)
}

private func pairs(_ tx: PostgresConnectionHandle, _ query: PostgresQuery) async throws -> [(row: Int, exists: Bool)] {
    try await tx.query(query).map { (try $0.decode(Int.self, at: 0), try $0.decode(Bool.self, at: 1)) }
}
