public import BlobStorage
import CSV
import NIOPosix
public import Foundation
public import Platform
public import Postgres
import RPC

/// Exports contacts as CSV: chosen fields from an allow-list, filters (tags any/all, created and
/// updated ranges, account), at most `maximumRows`, streamed from `COPY … TO STDOUT` into the
/// blob store a megabyte at a time, never all held. Cells are CSV-quoted and neutralised against
/// spreadsheet formula injection.
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
    let blobs: any BlobStore
    public let maximumRows: Int

    public init(db: PostgresClient, blobs: any BlobStore, maximumRows: Int = 100_000) {
        self.db = db
        self.blobs = blobs
        self.maximumRows = maximumRows
    }

    /// Writes the export; returns its blob key, row count and header.
    ///
    /// PostgreSQL writes the CSV itself (`COPY (SELECT …) TO STDOUT`), quoting included; each
    /// record is neutralised on its way to the file (on libpq's thread, beside PostgreSQL's work,
    /// not in the query). `COPY` takes no parameters, so every filter value is handed to
    /// the transaction as a setting (`set_config`, bound like any parameter) and read back with
    /// `current_setting`: no input is ever spliced into SQL text.
    public func export(workspace: UUID, fields requested: [String], filters: Filters) async throws -> (key: String, rows: Int, fields: [String]) {
        let fields = requested.isEmpty ? Self.defaultFields : requested
        var values: [String?] = []
        func parameter(_ value: String?) -> String {
            values.append(value)
            return "current_setting('nexa_export.p\(values.count)')"
        }
        var conditions = ["c.workspace_id = \(parameter(workspace.postgresText))::uuid"]
        if !filters.tagsAny.isEmpty { conditions.append("c.tags && \(parameter(PostgresTextArray(filters.tagsAny).postgresText))::text[]") }
        if !filters.tagsAll.isEmpty { conditions.append("c.tags @> \(parameter(PostgresTextArray(filters.tagsAll).postgresText))::text[]") }
        if let d = filters.createdAfter { conditions.append("c.created_at >= \(parameter(d.postgresText))::timestamptz") }
        if let d = filters.createdBefore { conditions.append("c.created_at < \(parameter(d.postgresText))::timestamptz") }
        if let d = filters.updatedAfter { conditions.append("c.updated_at >= \(parameter(d.postgresText))::timestamptz") }
        if let d = filters.updatedBefore { conditions.append("c.updated_at < \(parameter(d.postgresText))::timestamptz") }
        if let a = filters.accountID { conditions.append("c.account_id = \(parameter(a.postgresText))::uuid") }
        let from = "FROM contacts c LEFT JOIN accounts a ON a.id = c.account_id AND a.workspace_id = c.workspace_id WHERE "
            + conditions.joined(separator: " AND ")
        var select: [String] = []
        for field in fields {
            if let column = Self.columns[field] {
                select.append(column)
            } else if field.hasPrefix("custom."), field.count > 7 {
                select.append("coalesce(c.custom ->> \(parameter(String(field.dropFirst(7)))), '')")
            } else {
                throw PlatformError(.invalidArgument, "\"\(field)\" is not an exportable field (one of \(Self.defaultFields.joined(separator: ", ")), custom.<key>)")
            }
        }
        // One statement binds every value: set_config(name, $n, true) lasts until the transaction ends.
        let settings = PostgresQuery(
            unsafeSQL: "SELECT " + values.indices.map { "set_config('nexa_export.p\($0 + 1)', $\($0 + 1), true)" }.joined(separator: ", "),
            binds: values)
        let header = CSVWriter().record(fields)

        let (key, rows) = try await blobs.create(prefix: BlobKeys.prefix("exports", workspace: workspace, "contacts"), fileExtension: "csv") { handle in
            try await db.withTransaction { tx in
                try await tx.query(settings)
                // One row past the cap is enough to know the filters match too many: no count first.
                let output = BufferedOutput(handle: handle, header: header)
                let written = try await tx.copyOut(
                    "COPY (SELECT " + select.joined(separator: ", ") + " " + from + " ORDER BY c.created_at, c.id LIMIT \(maximumRows + 1))"
                        + " TO STDOUT WITH (FORMAT csv)"
                ) { try output.append($0) }
                guard written <= maximumRows else {
                    throw PlatformError(.failedPrecondition, "the filters match more than \(maximumRows) contacts, the export cap: narrow them")
                }
                // The last partial megabyte: a blocking write, so on the thread pool like COPY's.
                try await NIOThreadPool.singleton.runIfActive { try output.flush() }
                return written
            }
        }
        return (key, rows, fields)
    }

    /// Collects the header and COPY's rows, neutralised, and writes them to the file a megabyte at
    /// a time, from COPY's sink on the thread pool.
    private final class BufferedOutput: @unchecked Sendable {
        // Touched only by COPY's sink, which runs on one thread at a time, and by `flush` after it.
        private let handle: FileHandle
        private let writer = CSVWriter()
        private var buffer: [UInt8] = []

        init(handle: FileHandle, header: [UInt8]) {
            self.handle = handle
            buffer.reserveCapacity(1 << 20)
            buffer.append(contentsOf: header)
        }

        func append(_ row: UnsafeRawBufferPointer) throws {
            writer.appendNeutralising(record: row, to: &buffer)
            if buffer.count >= 1 << 20 { try flush() }
        }

        func flush() throws {
            try handle.write(contentsOf: buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }
}
