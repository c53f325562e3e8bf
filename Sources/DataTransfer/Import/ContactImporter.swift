public import CSV
public import Foundation
public import Postgres
import Synchronization

/// Imports contacts from a CSV file: every row checked first, then written in batches of 1,000,
/// each batch one transaction: dedupe by email (case-insensitive, per workspace) — an update never
/// erases a value with an empty cell, and tags merge — and the account found or created by its
/// normalised name. A row repeated inside the file is merged into the first and counted.
public struct ContactImporter: Sendable {
    public enum Mode: String, Sendable {
        /// Any invalid row fails the import: nothing is written, every error is reported (the default).
        case fail
        /// Valid rows are written; invalid ones are counted as skipped.
        case skip
    }

    public struct Summary: Sendable, Hashable {
        public var total = 0
        public var created = 0
        public var updated = 0
        public var skipped = 0
        /// Rows whose email appeared earlier in the same file.
        public var merged = 0
        public var problems: [ContactRow.Problem] = []
        /// The header row, and the invalid rows as read (the first 100,000), for the errors file.
        public var headers: [String] = []
        public var rejected: [(fields: [String], problem: ContactRow.Problem)] = []
        /// Dry run only: what each row would do (`create`, `update`, `merge`, `skip: <reason>`).
        public var plan: [(row: Int, action: String)] = []

        public init() {}

        public static func == (a: Self, b: Self) -> Bool {
            a.total == b.total && a.created == b.created && a.updated == b.updated && a.skipped == b.skipped && a.merged == b.merged
                && a.problems == b.problems
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(total); hasher.combine(created) }
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case malformed(CSVReader.Failure)
        case mapping(ImportMapping.Failure)
        case empty
        case invalidRows([ContactRow.Problem], Summary)

        public var description: String {
            switch self {
            case .malformed(let f): "the file is not valid CSV: \(f)"
            case .mapping(let f): "\(f)"
            case .empty: "the file has no header row"
            case .invalidRows(let problems, _): "\(problems.count) invalid row(s); nothing was imported. First: \(problems[0])"
            }
        }
    }

    /// Where a job stands, and what to do at each committed batch (resume, progress, cancel).
    public struct Checkpoint: Sendable {
        /// Valid rows already written by an earlier run of the same job: skipped, their counts kept.
        public var resumeAfter: Int
        public var summary: Summary
        /// Runs inside each batch's transaction with the counts so far and the valid rows done, so
        /// progress is committed exactly with the rows it counts.
        public var record: @Sendable (PostgresConnectionHandle, Summary, Int) async throws -> Void
        /// Asked after each batch: true stops the import there (cancel).
        public var shouldStop: @Sendable () async -> Bool

        public init(resumeAfter: Int = 0, summary: Summary = Summary(),
                    record: @escaping @Sendable (PostgresConnectionHandle, Summary, Int) async throws -> Void,
                    shouldStop: @escaping @Sendable () async -> Bool = { false }) {
            self.resumeAfter = resumeAfter
            self.summary = summary
            self.record = record
            self.shouldStop = shouldStop
        }
    }

    public let db: PostgresClient
    public var batchSize = 1000

    public init(db: PostgresClient) { self.db = db }

    /// The header row of `file` (nil for an empty file), read without the rest.
    public static func headers(of file: URL) throws -> [String]? {
        var stream = try RecordStream(file: file)
        return try stream.next()?.fields
    }

    /// Checks and (unless `dryRun`) writes the contacts of `file` for `workspace`.
    /// - Parameter mapping: explicit `(header, field)` pairs, or nil to use the suggested mapping.
    /// - Parameter journal: a job id under which every change is recorded for undo (see `ImportUndo`).
    ///
    /// Two passes over the file, neither holding it: the first checks every row (in `fail` mode any
    /// problem stops here, before anything is written); the second reads it again and writes.
    public func run(file: URL, workspace: UUID, mapping pairs: [(header: String, field: String)]? = nil, mode: Mode = .fail,
                    dryRun: Bool = false, checkpoint: Checkpoint? = nil, journal: UUID? = nil) async throws -> Summary {
        // Pass 1: parse and check every row; nothing is written yet.
        var summary = Summary()
        var rows = try RecordStream(file: file)
        guard let header = try rows.next() else { throw Failure.empty }
        let mapping: ImportMapping
        do {
            mapping = try pairs.map { try ImportMapping.explicit($0, headers: header.fields) } ?? ImportMapping.suggest(headers: header.fields)
        } catch let failure as ImportMapping.Failure {
            throw Failure.mapping(failure)
        }
        summary.headers = header.fields
        while let record = try rows.next() {
            summary.total += 1
            // (A typed `catch` here crashes the Swift 6.3.1 compiler in an async function; Result does not.)
            if case .failure(let problem) = Result(catching: { () throws(ContactRow.Problem) in
                try ContactRow(row: record.row, fields: record.fields, mapping: mapping)
            }) {
                summary.problems.append(problem)
                if summary.rejected.count < 100_000 { summary.rejected.append((record.fields, problem)) }
            }
        }
        if mode == .fail, !summary.problems.isEmpty { throw Failure.invalidRows(summary.problems, summary) }
        summary.skipped = summary.problems.count
        if dryRun { summary.plan += summary.problems.prefix(100_000).map { ($0.row, "skip: \($0.field) \($0.message)") } }

        // Pass 2: read again; batches of valid rows, each one transaction. The next batch is read and
        // prepared while the current one is written, so parsing overlaps the database's work.
        let resumeAfter = checkpoint?.resumeAfter ?? 0
        if let checkpoint, resumeAfter > 0 {
            // Already written by an earlier run: their counts were committed with them.
            summary.created = checkpoint.summary.created
            summary.updated = checkpoint.summary.updated
            summary.merged = checkpoint.summary.merged
        }
        let batches = try BatchReader(file: file, mapping: mapping, batchSize: batchSize, resumeAfter: resumeAfter)
        var pending = try batches.next()
        while let batch = pending {
            async let upcoming = batches.next()
            summary.merged += batch.mergedRows.count
            if dryRun {
                summary.plan += batch.mergedRows.prefix(max(0, 100_000 - summary.plan.count)).map { ($0, "merge") }
                let existing = Set(try await db.query("""
                    SELECT lower(email::text) FROM contacts WHERE workspace_id = \(workspace) AND email = ANY(\(PostgresTextArray(batch.rows.map(\.email)))::citext[])
                    """).map { try $0.decode(String.self, at: 0) })
                for (row, isRepeat) in zip(batch.rows, batch.repeats) where !isRepeat {
                    let action = existing.contains(row.email) ? "update" : "create"
                    if summary.plan.count < 100_000 { summary.plan.append((row.row, action)) }
                    if action == "create" { summary.created += 1 } else { summary.updated += 1 }
                }
            } else {
                // A contact first created by an earlier batch of this file counts once, as created.
                let repeats = batch.repeats.filter { $0 }.count
                let before = summary
                summary = try await write(batch, workspace: workspace, journal: journal) { tx, created, updated in
                    var after = before
                    after.created += created
                    after.updated += updated - repeats
                    try await checkpoint?.record(tx, after, batch.validRowsThrough)
                    return after
                }
            }
            if let checkpoint, await checkpoint.shouldStop() { break }
            pending = try await upcoming
        }
        if dryRun { summary.plan.sort { $0.row < $1.row } }
        return summary
    }

    /// One batch of pass 2, ready to write: its rows merged by email, and their COPY form.
    struct Batch: Sendable {
        /// Distinct emails, in file order; a repeated email's rows merged into its first.
        var rows: [ContactRow]
        /// Per row: its email was already written by an earlier batch of this file.
        var repeats: [Bool]
        /// Row numbers of the rows merged into another (a repeat in the batch or of an earlier batch).
        var mergedRows: [Int]
        /// Valid rows of the file up to the end of this batch (the checkpoint's position).
        var validRowsThrough: Int
        /// A company name not in an earlier batch of this run: its account may need creating.
        var hasNewAccounts: Bool
        /// `rows` in the text format of `COPY import_contact_rows FROM STDIN`.
        var copy: [UInt8]
    }

    /// Reads pass 2's batches. Used by one task at a time: each `next()` is awaited before the
    /// following one starts.
    final class BatchReader: @unchecked Sendable {
        private var records: RecordStream
        private let mapping: ImportMapping
        private let batchSize: Int
        private var resumeAfter: Int
        private var valid = 0
        /// Emails already in an earlier batch (hashes: 1,000,000 of them fit in a few MB).
        private var seen = Set<Int>()
        /// Company names whose accounts an earlier batch found or created (the first 100,000).
        private var accounts = Set<String>()

        init(file: URL, mapping: ImportMapping, batchSize: Int, resumeAfter: Int) throws {
            records = try RecordStream(file: file)
            _ = try records.next()
            self.mapping = mapping
            self.batchSize = batchSize
            self.resumeAfter = resumeAfter
        }

        func next() throws -> Batch? {
            var rows: [ContactRow] = []
            rows.reserveCapacity(batchSize)
            while rows.count < batchSize, let record = try records.next() {
                guard let row = try? ContactRow(row: record.row, fields: record.fields, mapping: mapping) else { continue }
                valid += 1
                if valid <= resumeAfter {
                    seen.insert(row.email.hashValue)
                } else {
                    rows.append(row)
                }
            }
            guard !rows.isEmpty else { return nil }
            var byEmail: [String: Int] = [:]
            var batch = Batch(rows: [], repeats: [], mergedRows: [], validRowsThrough: valid, hasNewAccounts: false, copy: [])
            for row in rows {
                let earlier = seen.contains(row.email.hashValue)
                if let index = byEmail[row.email] {
                    batch.rows[index].merge(row)
                    batch.mergedRows.append(row.row)
                } else {
                    if earlier { batch.mergedRows.append(row.row) }
                    byEmail[row.email] = batch.rows.count
                    batch.rows.append(row)
                    batch.repeats.append(earlier)
                }
            }
            for row in batch.rows {
                seen.insert(row.email.hashValue)
                if let name = row.accountName, !accounts.contains(name) {
                    batch.hasNewAccounts = true
                    if accounts.count < 100_000 { accounts.insert(name) }
                }
            }
            batch.copy = try Self.copyRows(batch.rows)
            return batch
        }

        /// The rows as `import_contact_rows` takes them.
        static func copyRows(_ rows: [ContactRow]) throws -> [UInt8] {
            var copy = PostgresCopyRows(reservingCapacity: rows.count * 160)
            for row in rows {
                copy.append(row.email)
                copy.append(row.firstName)
                copy.append(row.lastName)
                copy.append(row.phone)
                copy.append(row.title)
                copy.append(row.accountName)
                copy.append(row.tags.isEmpty ? nil : PostgresTextArray(row.tags).postgresText)
                copy.append(row.custom.isEmpty ? nil : String(decoding: try JSONSerialization.data(withJSONObject: row.custom, options: [.sortedKeys]), as: UTF8.self))
                copy.endRow()
            }
            return copy.bytes
        }
    }

    /// The records of a file, read in chunks as they are asked for.
    struct RecordStream {
        private let handle: FileHandle
        private var reader: CSVReader
        private var pending: [CSVReader.Record] = []
        private var index = 0
        private var ended = false

        init(file: URL) throws {
            guard let handle = FileHandle(forReadingAtPath: file.path) else { throw CocoaError(.fileNoSuchFile) }
            self.handle = handle
            let head = try handle.read(upToCount: 64 * 1024) ?? Data()
            reader = CSVReader(delimiter: CSVReader.detectDelimiter(head))
            pending = try Self.parse(&reader, head)
        }

        private static func parse(_ reader: inout CSVReader, _ bytes: Data) throws -> [CSVReader.Record] {
            do { return try reader.feed(bytes) } catch { throw Failure.malformed(error) }
        }

        mutating func next() throws -> CSVReader.Record? {
            while index >= pending.count {
                if ended { return nil }
                pending = []
                index = 0
                let chunk = try handle.read(upToCount: 256 * 1024) ?? Data()
                if chunk.isEmpty {
                    ended = true
                    try? handle.close()
                    do {
                        if let last = try reader.finish() { pending = [last] }
                    } catch {
                        throw Failure.malformed(error)
                    }
                } else {
                    pending = try Self.parse(&reader, chunk)
                }
            }
            defer { index += 1 }
            return pending[index]
        }
    }

    /// The batch's rows, copied into a temporary table before they are merged into `contacts`.
    /// The account key is computed once per row, as `accounts.normalized_name` is everywhere.
    private static let stagingTable = """
        CREATE TEMP TABLE IF NOT EXISTS import_contact_rows (
          email text NOT NULL, first_name text, last_name text, phone text, title text, account text, tags text[], custom jsonb,
          account_key text GENERATED ALWAYS AS (lower(regexp_replace(trim(account), '\\s+', ' ', 'g'))) STORED
        ) ON COMMIT DELETE ROWS
        """

    /// Upserts one batch in one transaction, with `commit` (the counts, the checkpoint) in it: the
    /// rows go in with one `COPY` into a temporary table, and from there accounts are found or
    /// created and contacts inserted or merged, each in one statement. A contact the job creates is
    /// marked with it (`created_by_import`); one it updates has its previous values journalled by
    /// the database (`journal_import_update`, migration 0005) when the job first writes it.
    private func write<R: Sendable>(
        _ batch: Batch, workspace: UUID, journal: UUID?, commit: @Sendable (PostgresConnectionHandle, Int, Int) async throws -> R
    ) async throws -> R {
        let data = Mutex<[UInt8]?>(batch.copy)
        return try await db.withTransaction { tx in
            try await tx.execute(PostgresQuery(unsafeSQL: Self.stagingTable, binds: []))
            try await tx.copyIn("COPY import_contact_rows (email, first_name, last_name, phone, title, account, tags, custom) FROM STDIN") {
                data.withLock { value in defer { value = nil }; return value }
            }
            // Accounts by normalised name: found, or created once (not asked again for names an
            // earlier batch of this run already settled).
            if batch.hasNewAccounts {
                try await tx.execute("""
                    INSERT INTO accounts (id, workspace_id, name, normalized_name)
                    SELECT gen_random_uuid(), \(workspace), min(trim(account)), account_key
                    FROM import_contact_rows WHERE account_key <> '' GROUP BY account_key
                    ON CONFLICT (workspace_id, normalized_name) DO NOTHING
                    """)
            }
            let counts = try await tx.query("""
                WITH written AS (
                  INSERT INTO contacts AS c (id, workspace_id, account_id, email, first_name, last_name, phone, title, tags, custom,
                                             created_by_import, last_import_job, last_import_at)
                  SELECT gen_random_uuid(), \(workspace), a.id, i.email, coalesce(i.first_name, ''), coalesce(i.last_name, ''), i.phone, i.title,
                         coalesce(i.tags, '{}'), coalesce(i.custom, '{}'), \(journal), \(journal), CASE WHEN \(journal)::uuid IS NOT NULL THEN now() END
                  FROM import_contact_rows i LEFT JOIN accounts a ON a.workspace_id = \(workspace) AND a.normalized_name = i.account_key
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
                """)
            let created = try counts[0].decode(Int.self, at: 0)
            return try await commit(tx, created, try counts[0].decode(Int.self, at: 1) - created)
        }
    }
}

extension ContactRow {
    /// A later row of the same email fills what the earlier left empty and adds its tags.
    mutating func merge(_ other: ContactRow) {
        firstName = other.firstName ?? firstName
        lastName = other.lastName ?? lastName
        phone = other.phone ?? phone
        title = other.title ?? title
        accountName = other.accountName ?? accountName
        tags = Array(Set(tags + other.tags)).sorted()
        custom.merge(other.custom) { _, new in new }
    }
}
