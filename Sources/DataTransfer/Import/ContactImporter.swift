public import CSV
public import Foundation
public import Postgres

/// Imports contacts from a CSV file: every row checked and staged first, then written in batches of
/// 1,000, each batch one transaction: dedupe by email (case-insensitive, per workspace) — an update never
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
        /// progress is committed exactly with the rows it counts. Returns true to stop after this
        /// batch (cancel).
        public var record: @Sendable (PostgresConnectionHandle, Summary, Int) async throws -> Bool

        public init(resumeAfter: Int = 0, summary: Summary = Summary(),
                    record: @escaping @Sendable (PostgresConnectionHandle, Summary, Int) async throws -> Bool) {
            self.resumeAfter = resumeAfter
            self.summary = summary
            self.record = record
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
    /// One pass over the file, never holding it: every row is checked, and the valid ones, merged
    /// by email within their batch, stream with `COPY` into a temporary staging table on the job's
    /// connection (PostgreSQL takes them in while the file is still being read). In `fail` mode any
    /// problem stops here, before anything is written. Then the file's accounts are found or
    /// created in one statement, and each batch of 1,000 goes from staging into `contacts` in one
    /// transaction.
    public func run(file: URL, workspace: UUID, mapping pairs: [(header: String, field: String)]? = nil, mode: Mode = .fail,
                    dryRun: Bool = false, checkpoint: Checkpoint? = nil, journal: UUID? = nil) async throws -> Summary {
        var records = try RecordStream(file: file)
        guard let header = try records.next() else { throw Failure.empty }
        let mapping: ImportMapping
        do {
            mapping = try pairs.map { try ImportMapping.explicit($0, headers: header.fields) } ?? ImportMapping.suggest(headers: header.fields)
        } catch let failure as ImportMapping.Failure {
            throw Failure.mapping(failure)
        }
        let stager = Stager(records: records, header: header.fields, mapping: mapping, batchSize: batchSize, stopAtFirstProblem: mode == .fail,
                            keepMergedRows: dryRun)
        return try await db.withConnection { connection in
            do {
                let summary = try await Self.stageAndWrite(stager, workspace: workspace, mode: mode, dryRun: dryRun, checkpoint: checkpoint,
                                                           journal: journal, on: connection)
                try await connection.execute("TRUNCATE import_staging")
                return summary
            } catch {
                _ = try? await connection.execute("TRUNCATE import_staging")
                throw error
            }
        }
    }

    private static func stageAndWrite(_ stager: Stager, workspace: UUID, mode: Mode, dryRun: Bool, checkpoint: Checkpoint?, journal: UUID?,
                                      on connection: PostgresConnectionHandle) async throws -> Summary {
        try await connection.executeScript(stagingTable)
        try await connection.copyIn(
            "COPY import_staging (batch, row, repeat, email, first_name, last_name, phone, title, account, tags, custom) FROM STDIN"
        ) { try stager.nextChunk() }
        var summary = stager.summary
        if mode == .fail, !summary.problems.isEmpty { throw Failure.invalidRows(summary.problems, summary) }
        summary.skipped = summary.problems.count
        if dryRun { summary.plan += summary.problems.prefix(100_000).map { ($0.row, "skip: \($0.field) \($0.message)") } }
        if !dryRun {
            // Accounts by normalised name, for the whole file at once: found, or created once.
            try await connection.execute("""
                INSERT INTO accounts (id, workspace_id, name, normalized_name)
                SELECT gen_random_uuid(), \(workspace), min(trim(account)), account_key
                FROM import_staging WHERE account_key <> '' GROUP BY account_key
                ON CONFLICT (workspace_id, normalized_name) DO NOTHING
                """)
        }

        let resumeAfter = checkpoint?.resumeAfter ?? 0
        if let checkpoint, resumeAfter > 0 {
            // Already written by an earlier run: their counts were committed with them.
            summary.created = checkpoint.summary.created
            summary.updated = checkpoint.summary.updated
            summary.merged = checkpoint.summary.merged
        }
        for batch in stager.batches where batch.validRowsThrough > resumeAfter {
            summary.merged += batch.merged
            let before = summary
            let (after, stop): (Summary, Bool) = try await connection.withTransaction { tx in
                var after = before
                if dryRun {
                    after.plan += batch.mergedRows.prefix(max(0, 100_000 - after.plan.count)).map { ($0, "merge") }
                    for row in try await tx.query("""
                        SELECT s.row, c.id IS NOT NULL FROM import_staging s
                        LEFT JOIN contacts c ON c.workspace_id = \(workspace) AND c.email = s.email::citext
                        WHERE s.batch = \(batch.number) AND NOT s.repeat ORDER BY s.row
                        """) {
                        let exists = try row.decode(Bool.self, at: 1)
                        if after.plan.count < 100_000 { after.plan.append((try row.decode(Int.self, at: 0), exists ? "update" : "create")) }
                        if exists { after.updated += 1 } else { after.created += 1 }
                    }
                } else {
                    let (created, updated) = try await write(batch, workspace: workspace, journal: journal, on: tx)
                    // A contact first created by an earlier batch of this file counts once, as created.
                    after.created += created
                    after.updated += updated - batch.repeats
                }
                let stop = try await checkpoint?.record(tx, after, batch.validRowsThrough) ?? false
                return (after, stop)
            }
            summary = after
            if stop { break }
        }
        if dryRun { summary.plan.sort { $0.row < $1.row } }
        return summary
    }

    /// The staging table, one per connection (temporary tables are), emptied before each import.
    /// The account key is computed once per row, as `accounts.normalized_name` is everywhere.
    private static let stagingTable = """
        CREATE TEMP TABLE IF NOT EXISTS import_staging (
          batch integer NOT NULL, row integer NOT NULL, repeat boolean NOT NULL,
          email text NOT NULL, first_name text, last_name text, phone text, title text, account text, tags text[], custom jsonb,
          account_key text GENERATED ALWAYS AS (lower(regexp_replace(trim(account), '\\s+', ' ', 'g'))) STORED
        );
        CREATE INDEX IF NOT EXISTS import_staging_batch ON import_staging (batch);
        TRUNCATE import_staging;
        """

    /// Writes one staged batch of contacts, inserted or merged in one statement (their accounts
    /// exist by then). A contact the job creates is marked with it (`created_by_import`); one it
    /// updates has its previous values journalled by the database (`journal_import_update`,
    /// migration 0005) when the job first writes it. Returns (created, updated).
    private static func write(_ batch: StagedBatch, workspace: UUID, journal: UUID?, on tx: PostgresConnectionHandle) async throws -> (Int, Int) {
        let counts = try await tx.query("""
            WITH written AS (
              INSERT INTO contacts AS c (id, workspace_id, account_id, email, first_name, last_name, phone, title, tags, custom,
                                         created_by_import, last_import_job, last_import_at)
              SELECT gen_random_uuid(), \(workspace), a.id, i.email, coalesce(i.first_name, ''), coalesce(i.last_name, ''), i.phone, i.title,
                     coalesce(i.tags, '{}'), coalesce(i.custom, '{}'), \(journal), \(journal), CASE WHEN \(journal)::uuid IS NOT NULL THEN now() END
              FROM import_staging i LEFT JOIN accounts a ON a.workspace_id = \(workspace) AND a.normalized_name = i.account_key
              WHERE i.batch = \(batch.number)
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
        return (created, try counts[0].decode(Int.self, at: 1) - created)
    }

    /// One batch as staged: 1,000 valid rows (the last may hold fewer), merged by email.
    struct StagedBatch: Sendable {
        var number: Int
        /// Valid rows of the file up to the end of this batch (the checkpoint's position).
        var validRowsThrough: Int
        /// Staged rows whose email an earlier batch already wrote.
        var repeats = 0
        /// Rows merged into another (a repeat within the batch or of an earlier batch), and (dry run) their row numbers.
        var merged = 0
        var mergedRows: [Int] = []
    }

    /// Pass 1: reads the file record by record, checks each row, and hands `COPY` the valid rows in
    /// the staging table's text format, batch by batch. Runs on the thread `COPY` feeds from, one
    /// chunk at a time; its results are read once `COPY` has finished.
    final class Stager: @unchecked Sendable {
        private var records: RecordStream
        private let mapping: ImportMapping
        private let batchSize: Int
        /// `fail` mode: once a row is invalid nothing will be written, so rows are only checked.
        private let stopAtFirstProblem: Bool
        private let keepMergedRows: Bool
        private(set) var summary = Summary()
        private(set) var batches: [StagedBatch] = []
        private var valid = 0
        /// Emails already in an earlier batch (hashes: 1,000,000 of them fit in a few MB).
        private var seen = Set<Int>()

        init(records: RecordStream, header: [String], mapping: ImportMapping, batchSize: Int, stopAtFirstProblem: Bool, keepMergedRows: Bool) {
            self.records = records
            self.mapping = mapping
            self.batchSize = batchSize
            self.stopAtFirstProblem = stopAtFirstProblem
            self.keepMergedRows = keepMergedRows
            summary.headers = header
        }

        /// The next batch's rows for `COPY`, or nil at the end of the file.
        func nextChunk() throws -> [UInt8]? {
            var rows: [ContactRow] = []
            rows.reserveCapacity(batchSize)
            while rows.count < batchSize, let record = try records.next() {
                summary.total += 1
                // (A typed `catch` here crashes the Swift 6.3.1 compiler; Result does not.)
                switch Result(catching: { () throws(ContactRow.Problem) in try ContactRow(row: record.row, fields: record.fields, mapping: mapping) }) {
                case .success(let row):
                    if stopAtFirstProblem, !summary.problems.isEmpty { continue }
                    rows.append(row)
                case .failure(let problem):
                    summary.problems.append(problem)
                    if summary.rejected.count < 100_000 { summary.rejected.append((record.fields, problem)) }
                }
            }
            guard !rows.isEmpty else { return nil }
            valid += rows.count
            var batch = StagedBatch(number: batches.count + 1, validRowsThrough: valid)
            var byEmail: [String: Int] = [:]
            var distinct: [ContactRow] = []
            var repeats: [Bool] = []
            for row in rows {
                let earlier = seen.contains(row.email.hashValue)
                if let index = byEmail[row.email] {
                    distinct[index].merge(row)
                } else {
                    byEmail[row.email] = distinct.count
                    distinct.append(row)
                    repeats.append(earlier)
                    if earlier { batch.repeats += 1 }
                    if !earlier { continue }
                }
                batch.merged += 1
                if keepMergedRows, batch.mergedRows.count < 100_000 { batch.mergedRows.append(row.row) }
            }
            var copy = PostgresCopyRows(reservingCapacity: distinct.count * 180)
            for (row, isRepeat) in zip(distinct, repeats) {
                seen.insert(row.email.hashValue)
                copy.append(String(batch.number))
                copy.append(String(row.row))
                copy.append(isRepeat ? "t" : "f")
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
            batches.append(batch)
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
