import CRM
public import CSV
public import Foundation
public import Postgres

/// Imports contacts, leads or accounts from a CSV file: every row checked and staged first, then
/// written in batches of 1,000, each batch one transaction, deduplicated per workspace (contacts
/// and leads by email, case-insensitive; accounts by normalised name) — an update never erases a
/// value with an empty cell, and tags merge. A row repeated inside the file is merged into the
/// first and counted. What differs per entity is in `ImportRecord` (`ImportRecords.swift`).
public struct RecordImporter: Sendable {
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
        /// Rows whose record (email, account name) appeared earlier in the same file.
        public var merged = 0
        /// Every invalid row; `problems` keeps the first `keptProblems` of them.
        public var invalid = 0
        public var problems: [ImportProblem] = []
        public static let keptProblems = 10_000
        /// Rows read leniently (see `CSVReader.Warning`), still imported; the first 1,000 warnings are kept.
        public var rowsWithWarnings = 0
        public var warnings: [ImportProblem] = []
        /// The header row, and the invalid rows as read (the first 100,000), for the errors file.
        public var headers: [String] = []
        public var rejected: [(fields: [String], problem: ImportProblem)] = []
        /// Dry run only: what each row would do (`create`, `update`, `merge`, `skip: <reason>`).
        public var plan: [(row: Int, action: String)] = []

        public init() {}

        public static func == (a: Self, b: Self) -> Bool {
            a.total == b.total && a.created == b.created && a.updated == b.updated && a.skipped == b.skipped && a.merged == b.merged && a.invalid == b.invalid
                && a.problems == b.problems && a.rowsWithWarnings == b.rowsWithWarnings && a.warnings == b.warnings
        }

        public func hash(into hasher: inout Hasher) { hasher.combine(total); hasher.combine(created) }
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case malformed(CSVReader.Failure)
        case mapping(ImportMapping.Failure)
        case empty
        case invalidRows([ImportProblem], Summary)

        public var description: String {
            switch self {
            case .malformed(let f): "the file is not valid CSV: \(f)"
            case .mapping(let f): "\(f)"
            case .empty: "the file has no header row"
            case .invalidRows(let problems, let summary): "\(summary.invalid) invalid row(s); nothing was imported. First: \(problems[0])"
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

    /// Checks and (unless `dryRun`) writes the records of `file` for `workspace`.
    /// - Parameter mapping: explicit `(header, field)` pairs, or nil to use the suggested mapping.
    /// - Parameter journal: a job id under which every change is recorded for undo (see `ImportUndo`).
    ///
    /// One pass over the file, never holding it: every row is checked, and the valid ones, merged
    /// by key within their batch, stream with `COPY` into a temporary staging table on the job's
    /// connection (PostgreSQL takes them in while the file is still being read). In `fail` mode any
    /// problem stops here, before anything is written. Then (contacts) the file's accounts are found
    /// or created in one statement, and each batch of 1,000 goes from staging into the entity's
    /// table in one transaction.
    public func run(file: URL, workspace: UUID, entity: ImportEntity = .contacts, mapping pairs: [(header: String, field: String)]? = nil,
                    mode: Mode = .fail, dryRun: Bool = false, checkpoint: Checkpoint? = nil, journal: UUID? = nil) async throws -> Summary {
        var records = try RecordStream(file: file)
        guard let header = try records.next() else { throw Failure.empty }
        let mapping: ImportMapping
        do {
            mapping = try pairs.map { try ImportMapping.explicit($0, headers: header.fields, entity: entity) }
                ?? ImportMapping.suggest(headers: header.fields, entity: entity)
        } catch let failure as ImportMapping.Failure {
            throw Failure.mapping(failure)
        }
        switch entity {
        case .contacts:
            return try await run(ContactRow.self, records: records, header: header.fields, mapping: mapping, workspace: workspace, mode: mode,
                                 dryRun: dryRun, checkpoint: checkpoint, journal: journal)
        case .leads:
            return try await run(LeadRow.self, records: records, header: header.fields, mapping: mapping, workspace: workspace, mode: mode,
                                 dryRun: dryRun, checkpoint: checkpoint, journal: journal)
        case .accounts:
            return try await run(AccountRow.self, records: records, header: header.fields, mapping: mapping, workspace: workspace, mode: mode,
                                 dryRun: dryRun, checkpoint: checkpoint, journal: journal)
        }
    }

    private func run<Record: ImportRecord>(_: Record.Type, records: RecordStream, header: [String], mapping: ImportMapping, workspace: UUID,
                                           mode: Mode, dryRun: Bool, checkpoint: Checkpoint?, journal: UUID?) async throws -> Summary {
        let stager = Stager<Record>(records: records, header: header, mapping: mapping, batchSize: batchSize, stopAtFirstProblem: mode == .fail,
                                    keepMergedRows: dryRun)
        let staging = "import_staging_\(Record.entity.rawValue)"
        return try await db.withConnection { connection in
            do {
                let summary = try await Self.stageAndWrite(stager, staging: staging, workspace: workspace, mode: mode, dryRun: dryRun,
                                                           checkpoint: checkpoint, journal: journal, on: connection)
                try await connection.execute(PostgresQuery(unsafeSQL: "TRUNCATE \(staging)"))
                return summary
            } catch {
                _ = try? await connection.execute(PostgresQuery(unsafeSQL: "TRUNCATE \(staging)"))
                throw error
            }
        }
    }

    private static func stageAndWrite<Record: ImportRecord>(
        _ stager: Stager<Record>, staging: String, workspace: UUID, mode: Mode, dryRun: Bool, checkpoint: Checkpoint?, journal: UUID?,
        on connection: PostgresConnectionHandle
    ) async throws -> Summary {
        // One staging table per entity and connection (temporary tables are), emptied before each import.
        try await connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS \(staging) (batch integer NOT NULL, row integer NOT NULL, repeat boolean NOT NULL, id uuid NOT NULL, \(Record.stagingColumns));
            CREATE INDEX IF NOT EXISTS \(staging)_batch ON \(staging) (batch);
            TRUNCATE \(staging);
            """)
        try await connection.copyIn("COPY \(staging) (batch, row, repeat, id, \(Record.copiedColumns)) FROM STDIN") { try stager.nextChunk() }
        var summary = stager.summary
        if mode == .fail, summary.invalid > 0 { throw Failure.invalidRows(summary.problems, summary) }
        summary.skipped = summary.invalid
        if dryRun { summary.plan += summary.problems.prefix(100_000).map { ($0.row, "skip: \($0.field) \($0.message)") } }
        if !dryRun { try await Record.prepare(staging: staging, workspace: workspace, on: connection) }

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
                // A batch commits with its checkpoint, so a crash that loses the last few batches
                // resumes before them; the job is acknowledged only by the synchronous commit that
                // ends it (`ImportJobs`), which makes everything before it durable too.
                if !dryRun { try await tx.execute("SET LOCAL synchronous_commit TO off") }
                var after = before
                if dryRun {
                    after.plan += batch.mergedRows.prefix(max(0, 100_000 - after.plan.count)).map { ($0, "merge") }
                    for (row, exists) in try await Record.existing(staging: staging, batch: batch.number, workspace: workspace, on: tx) {
                        if after.plan.count < 100_000 { after.plan.append((row, exists ? "update" : "create")) }
                        if exists { after.updated += 1 } else { after.created += 1 }
                    }
                } else {
                    let (created, updated) = try await Record.write(staging: staging, batch: batch.number, workspace: workspace, journal: journal, on: tx)
                    // A record first created by an earlier batch of this file counts once, as created.
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

    /// One batch as staged: 1,000 valid rows (the last may hold fewer), merged by key.
    struct StagedBatch: Sendable {
        var number: Int
        /// Valid rows of the file up to the end of this batch (the checkpoint's position).
        var validRowsThrough: Int
        /// Staged rows whose record an earlier batch already wrote.
        var repeats = 0
        /// Rows merged into another (a repeat within the batch or of an earlier batch), and (dry run) their row numbers.
        var merged = 0
        var mergedRows: [Int] = []
    }

    /// Pass 1: reads the file record by record, checks each row, and hands `COPY` the valid rows in
    /// the staging table's text format, batch by batch. Runs on the thread `COPY` feeds from, one
    /// chunk at a time; its results are read once `COPY` has finished.
    final class Stager<Record: ImportRecord>: @unchecked Sendable {
        private var records: RecordStream
        private let mapping: ImportMapping
        private let batchSize: Int
        /// `fail` mode: once a row is invalid nothing will be written, so rows are only checked.
        private let stopAtFirstProblem: Bool
        private let keepMergedRows: Bool
        private(set) var summary = Summary()
        private(set) var batches: [StagedBatch] = []
        private var valid = 0
        /// Keys (emails, account names) already in an earlier batch (hashes: 1,000,000 of them fit in a few MB).
        private var seen = Set<Int>()
        private var ids = TimeOrderedIDs()
        private let header: [String]

        init(records: RecordStream, header: [String], mapping: ImportMapping, batchSize: Int, stopAtFirstProblem: Bool, keepMergedRows: Bool) {
            self.records = records
            self.mapping = mapping
            self.batchSize = batchSize
            self.stopAtFirstProblem = stopAtFirstProblem
            self.keepMergedRows = keepMergedRows
            self.header = header
            summary.headers = header
        }

        private func noteWarnings(of record: CSVReader.Record) {
            summary.rowsWithWarnings += 1
            for warning in record.warnings where summary.warnings.count < 1000 {
                let field = warning.field < header.count ? header[warning.field] : "column \(warning.field + 1)"
                summary.warnings.append(ImportProblem(row: record.row, field: field, message: warning.description))
            }
        }

        /// The next batch's rows for `COPY`, or nil at the end of the file.
        func nextChunk() throws -> [UInt8]? {
            var rows: [Record] = []
            rows.reserveCapacity(batchSize)
            while rows.count < batchSize, let record = try records.next() {
                summary.total += 1
                if !record.warnings.isEmpty { noteWarnings(of: record) }
                // (A typed `catch` here crashes the Swift 6.3.1 compiler; Result does not.)
                switch Result(catching: { () throws(ImportProblem) in try Record(row: record.row, fields: record.fields, mapping: mapping) }) {
                case .success(let row):
                    if stopAtFirstProblem, summary.invalid > 0 { continue }
                    rows.append(row)
                case .failure(let problem):
                    summary.invalid += 1
                    if summary.problems.count < Summary.keptProblems { summary.problems.append(problem) }
                    if summary.rejected.count < 100_000 { summary.rejected.append((record.fields, problem)) }
                }
            }
            guard !rows.isEmpty else { return nil }
            valid += rows.count
            var batch = StagedBatch(number: batches.count + 1, validRowsThrough: valid)
            var byKey: [String: Int] = [:]
            var distinct: [Record] = []
            var repeats: [Bool] = []
            for row in rows {
                let key = row.key
                let earlier = seen.contains(key.hashValue)
                if let index = byKey[key] {
                    distinct[index].merge(row)
                } else {
                    byKey[key] = distinct.count
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
                seen.insert(row.key.hashValue)
                copy.append(String(batch.number))
                copy.append(String(row.row))
                copy.append(isRepeat ? "t" : "f")
                copy.append(ids.next().uuidString)  // the id the record gets if it is new
                try row.appendStaged(to: &copy)
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
