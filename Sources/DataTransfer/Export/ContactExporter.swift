import CSV
public import Foundation
public import Platform
public import Postgres
import RPC

/// Exports contacts as CSV: chosen fields from an allow-list, filters (tags any/all, created and
/// updated ranges, account), at most `maximumRows`, read with a cursor 5,000 rows at a time and
/// written straight to the blob store, never all held. Cells are CSV-quoted and neutralised
/// against spreadsheet formula injection.
public struct ContactExporter: Sendable {
    public struct Filters: Sendable, Hashable {
        public var tagsAny: [String] = []
        public var tagsAll: [String] = []
        public var createdAfter: Date?
        public var createdBefore: Date?
        public var updatedAfter: Date?
        public var updatedBefore: Date?
        public var accountID: UUID?
        public init() {}
    }

    public static let defaultFields = ["email", "first_name", "last_name", "phone", "title", "account.name", "tags", "created_at", "updated_at"]

    /// Field → SQL expression over `contacts c LEFT JOIN accounts a`. Fixed text: no input reaches it.
    static let columns: [String: String] = [
        "email": "c.email::text", "first_name": "c.first_name", "last_name": "c.last_name", "phone": "coalesce(c.phone, '')",
        "title": "coalesce(c.title, '')", "account.name": "coalesce(a.name, '')", "tags": "array_to_string(c.tags, ', ')",
        "created_at": "to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        "updated_at": "to_char(c.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    ]

    let db: PostgresClient
    let blobs: LocalBlobStore
    public let maximumRows: Int

    public init(db: PostgresClient, blobs: LocalBlobStore, maximumRows: Int = 100_000) {
        self.db = db
        self.blobs = blobs
        self.maximumRows = maximumRows
    }

    /// Writes the export; returns its blob key, row count and header.
    public func export(workspace: UUID, fields requested: [String], filters: Filters) async throws -> (key: String, rows: Int, fields: [String]) {
        let fields = requested.isEmpty ? Self.defaultFields : requested
        // Filters first ($1 … $n, all used by the count), then the select's parameters after them.
        var binds: [String?] = [workspace.postgresText]
        var conditions = ["c.workspace_id = $1"]
        func bind(_ value: String?, _ condition: (String) -> String) {
            binds.append(value)
            conditions.append(condition("$\(binds.count)"))
        }
        if !filters.tagsAny.isEmpty { bind(PostgresTextArray(filters.tagsAny).postgresText) { "c.tags && \($0)::text[]" } }
        if !filters.tagsAll.isEmpty { bind(PostgresTextArray(filters.tagsAll).postgresText) { "c.tags @> \($0)::text[]" } }
        if let d = filters.createdAfter { bind(d.postgresText) { "c.created_at >= \($0)::timestamptz" } }
        if let d = filters.createdBefore { bind(d.postgresText) { "c.created_at < \($0)::timestamptz" } }
        if let d = filters.updatedAfter { bind(d.postgresText) { "c.updated_at >= \($0)::timestamptz" } }
        if let d = filters.updatedBefore { bind(d.postgresText) { "c.updated_at < \($0)::timestamptz" } }
        if let a = filters.accountID { bind(a.postgresText) { "c.account_id = \($0)::uuid" } }
        let from = "FROM contacts c LEFT JOIN accounts a ON a.id = c.account_id AND a.workspace_id = c.workspace_id WHERE "
            + conditions.joined(separator: " AND ")
        let filterBinds = binds
        var select: [String] = []
        for field in fields {
            if let column = Self.columns[field] {
                select.append(column)
            } else if field.hasPrefix("custom."), field.count > 7 {
                binds.append(String(field.dropFirst(7)))
                select.append("coalesce(c.custom ->> $\(binds.count)::text, '')")
            } else {
                throw PlatformError(.invalidArgument, "\"\(field)\" is not an exportable field (one of \(Self.defaultFields.joined(separator: ", ")), custom.<key>)")
            }
        }

        let count = try await db.query(PostgresQuery(unsafeSQL: "SELECT count(*) " + from, binds: filterBinds))[0].decode(Int.self, at: 0)
        guard count <= maximumRows else {
            throw PlatformError(.failedPrecondition, "the filters match \(count) contacts, over the export cap of \(maximumRows): narrow them")
        }

        let writer = CSVWriter()
        let (key, rows) = try await blobs.create(prefix: "exports/contacts", fileExtension: "csv") { handle in
            try handle.write(contentsOf: writer.record(fields))
            return try await db.withTransaction(isolation: .repeatableRead) { tx in
                try await tx.execute(PostgresQuery(
                    unsafeSQL: "DECLARE export_cursor NO SCROLL CURSOR FOR SELECT " + select.joined(separator: ", ") + " " + from
                        + " ORDER BY c.created_at, c.id", binds: binds))
                var written = 0
                while true {
                    let batch = try await tx.query("FETCH 5000 FROM export_cursor")
                    if batch.isEmpty { break }
                    var out: [UInt8] = []
                    for row in batch {
                        writer.append(try (0..<fields.count).map { try row.decodeIfPresent(String.self, at: $0) ?? "" }, to: &out)
                    }
                    try handle.write(contentsOf: out)
                    written += batch.count
                }
                try await tx.execute("CLOSE export_cursor")
                return written
            }
        }
        return (key, rows, fields)
    }
}
