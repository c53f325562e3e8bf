public import BlobStorage
public import CurlHTTP
import CSV
public import Foundation
public import Logging
public import Platform
public import Postgres
import RPC
import Synchronization

/// Import jobs: queued by `StartImport`, worked by one replica at a time (a lease that each batch
/// renews), resumed after a crash from the last committed batch with exact counts, cancelled
/// after the batch in progress.
public final class ImportJobs: Sendable {
    public struct Job: Sendable, Hashable {
        public var id: UUID
        public var entity: String
        public var status: String
        public var mode: String
        public var dryRun: Bool
        public var total: Int
        public var rowsWritten: Int
        public var created: Int
        public var updated: Int
        public var skipped: Int
        public var merged: Int
        public var error: String?
        public var problems: [ContactRow.Problem]
        /// Rows read leniently (imported all the same), and the first of their warnings.
        public var rowsWithWarnings: Int
        public var warnings: [ContactRow.Problem]
        public var createdAt: Date
        public var startedAt: Date?
        public var finishedAt: Date?
        public var errorsBlobKey: String?
        public var mappingSource: String?

        /// Rows handled so far (written, merged or skipped).
        public var processed: Int { status == "completed" ? total : min(total, rowsWritten + skipped) }
        public var percent: Int { total == 0 ? (status == "completed" ? 100 : 0) : processed * 100 / total }
    }

    let db: PostgresClient
    let blobs: any BlobStore
    let logger: Logger
    /// How the requesting user hears that a job ended.
    let notifier: Mailer?
    /// How long a worker holds a job; each committed batch renews it.
    public let lease: Duration
    /// Test hook: called in each batch's transaction with the batch number; a throw is a crash there.
    let duringBatch: (@Sendable (Int) throws -> Void)?

    public init(db: PostgresClient, blobs: any BlobStore, logger: Logger, notifier: Mailer? = nil, lease: Duration = .seconds(60),
                duringBatch: (@Sendable (Int) throws -> Void)? = nil) {
        self.notifier = notifier
        self.lease = lease
        self.db = db
        self.blobs = blobs
        self.logger = logger
        self.duringBatch = duringBatch
    }

    private static let columns = """
        id, entity, status, mode, dry_run, total, rows_written, created, updated, skipped, merged, error, problems::text,
        created_at, started_at, finished_at, errors_blob_key, mapping_source, rows_with_warnings, warnings::text
        """

    private static func job(_ row: PostgresRow) throws -> Job {
        func problems(at index: Int) throws -> [ContactRow.Problem] {
            let stored = (try? JSONDecoder().decode([StoredProblem].self, from: Data(try row.decode(String.self, at: index).utf8))) ?? []
            return stored.map { ContactRow.Problem(row: $0.row, field: $0.field, message: $0.message) }
        }
        return Job(id: try row.decode(at: 0), entity: try row.decode(at: 1), status: try row.decode(at: 2), mode: try row.decode(at: 3),
                   dryRun: try row.decode(at: 4), total: try row.decode(at: 5), rowsWritten: try row.decode(at: 6), created: try row.decode(at: 7),
                   updated: try row.decode(at: 8), skipped: try row.decode(at: 9), merged: try row.decode(at: 10), error: try row.decodeIfPresent(at: 11),
                   problems: try problems(at: 12), rowsWithWarnings: try row.decode(at: 18), warnings: try problems(at: 19),
                   createdAt: try row.decode(at: 13), startedAt: try row.decodeIfPresent(at: 14), finishedAt: try row.decodeIfPresent(at: 15),
                   errorsBlobKey: try row.decodeIfPresent(at: 16), mappingSource: try row.decodeIfPresent(at: 17))
    }

    struct StoredProblem: Codable { var row: Int; var field: String; var message: String }

    static func problemsJSON(_ problems: [ContactRow.Problem], limit: Int = 1000) -> String {
        let stored = problems.prefix(limit).map { StoredProblem(row: $0.row, field: $0.field, message: $0.message) }
        return String(decoding: (try? JSONEncoder().encode(Array(stored))) ?? Data("[]".utf8), as: UTF8.self)
    }

    public func start(workspace: UUID, entity: ImportEntity = .contacts, blobKey: String, fileName: String,
                      mapping: [(header: String, field: String)]?, mode: RecordImporter.Mode, dryRun: Bool, notifyEmail: String? = nil,
                      template: String? = nil, saveTemplate: String? = nil) async throws -> Job {
        // A key names its workspace: another workspace's upload or export is not this caller's to import.
        guard BlobKeys.key(blobKey, belongsTo: workspace), try await blobs.exists(blobKey) else {
            throw PlatformError(.notFound, "no uploaded file \(blobKey) in this workspace")
        }
        let mappingJSON = try mapping.map { pairs in
            String(decoding: try JSONEncoder().encode(pairs.map { [$0.header, $0.field] }), as: UTF8.self)
        }
        let id = UUID()
        let rows = try await db.query("""
            WITH queued AS (
              INSERT INTO import_jobs (id, workspace_id, entity, mode, dry_run, blob_key, file_name, mapping, notify_email, template, save_template)
              VALUES (\(id), \(workspace), \(entity.rawValue), \(mode.rawValue), \(dryRun), \(blobKey), \(fileName), \(mappingJSON)::jsonb,
                      \(notifyEmail), \(template), \(saveTemplate))
              RETURNING \(unescaped: Self.columns))
            SELECT queued.*, pg_notify('import_jobs', '') FROM queued
            """)
        return try Self.job(rows[0])
    }

    public func get(_ id: UUID, workspace: UUID) async throws -> Job {
        guard let row = try await db.query("SELECT \(unescaped: Self.columns) FROM import_jobs WHERE id = \(id) AND workspace_id = \(workspace)").first else {
            throw PlatformError(.notFound, "import job \(id) does not exist in this workspace")
        }
        return try Self.job(row)
    }

    public func cancel(_ id: UUID, workspace: UUID) async throws -> Job {
        try await db.execute("""
            UPDATE import_jobs SET cancel_requested = true,
              status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
              finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END
            WHERE id = \(id) AND workspace_id = \(workspace)
            """)
        return try await get(id, workspace: workspace)
    }

    /// Runs until cancelled.
    public func run() async {
        await NotifiedLoop.run(db: db, channel: "import_jobs", pollInterval: .seconds(2), logger: logger) { await self.processDue() }
    }

    /// Takes one due job — queued, or running with an expired lease (its worker died) — and works it.
    @discardableResult
    public func processDue() async -> Int {
        let leased: (UUID, UUID, String, Bool, String, String?, Job)?
        do {
            leased = try await db.query("""
                UPDATE import_jobs SET status = 'running', started_at = coalesce(started_at, now()),
                  lease_until = now() + \(lease.components.seconds) * interval '1 second'
                WHERE id = (SELECT id FROM import_jobs
                            WHERE status = 'queued' OR (status = 'running' AND lease_until < now())
                            ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING workspace_id, blob_key, dry_run, mode, mapping::text, \(unescaped: Self.columns)
                """).first.map { row in
                let job = try Self.job(PostgresRow(columns: Array(row.columns.dropFirst(5)), values: Array(row.values.dropFirst(5))))
                return (job.id, try row.decode(UUID.self, at: 0), try row.decode(String.self, at: 1), try row.decode(Bool.self, at: 2),
                        try row.decode(String.self, at: 3), try row.decodeIfPresent(String.self, at: 4), job)
            }
        } catch {
            logger.warning("cannot lease import jobs", metadata: ["error": "\(error)"])
            return 0
        }
        guard let (id, workspace, blobKey, dryRun, mode, mappingJSON, job) = leased else { return 0 }
        await work(id: id, workspace: workspace, blobKey: blobKey, dryRun: dryRun, mode: RecordImporter.Mode(rawValue: mode) ?? .fail,
                   mappingJSON: mappingJSON, job: job)
        return 1
    }

    private func work(id: UUID, workspace: UUID, blobKey: String, dryRun: Bool, mode: RecordImporter.Mode, mappingJSON: String?, job: Job) async {
        // The uploaded file, local for the length of the job (a remote store's copy is fetched first).
        do {
            try await blobs.withLocalFile(blobKey) { file in
                await work(id: id, workspace: workspace, file: file, dryRun: dryRun, mode: mode, mappingJSON: mappingJSON, job: job)
            }
        } catch BlobStoreError.notFound {
            _ = try? await db.execute("""
                UPDATE import_jobs SET status = 'failed', error = 'the uploaded file is gone', finished_at = now(), lease_until = NULL
                WHERE id = \(id)
                """)
            await notify(id: id, workspace: workspace)
        } catch {
            // The lease runs out and another pass tries again.
            logger.warning("cannot read the uploaded file; the import will be retried", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }

    private func work(id: UUID, workspace: UUID, file: URL, dryRun: Bool, mode: RecordImporter.Mode, mappingJSON: String?, job: Job) async {
        let entity = ImportEntity(rawValue: job.entity) ?? .contacts
        let explicit = mappingJSON.flatMap { try? JSONDecoder().decode([[String]].self, from: Data($0.utf8)) }?
            .compactMap { $0.count == 2 ? (header: $0[0], field: $0[1]) : nil }
        let pairs: [(header: String, field: String)]?
        do {
            pairs = try await resolveMapping(id: id, workspace: workspace, entity: entity, file: file, explicit: explicit)
        } catch {
            _ = try? await db.execute("""
                UPDATE import_jobs SET status = 'failed', error = \("\(error)"), finished_at = now(), lease_until = NULL WHERE id = \(id)
                """)
            await notify(id: id, workspace: workspace)
            return
        }
        var resumed = RecordImporter.Summary()
        resumed.created = job.created
        resumed.updated = job.updated
        resumed.merged = job.merged
        let lease = self.lease
        let hook = duringBatch
        let batches = ManagedCounter()
        let db = self.db
        let checkpoint = RecordImporter.Checkpoint(resumeAfter: job.rowsWritten, summary: resumed, record: { tx, summary, written in
            try hook?(batches.next())
            // The cancel flag comes back with the progress write: stop after this batch when set.
            return try await tx.query("""
                UPDATE import_jobs SET rows_written = \(written), created = \(summary.created), updated = \(summary.updated),
                  merged = \(summary.merged), skipped = \(summary.skipped), total = \(summary.total),
                  lease_until = now() + \(lease.components.seconds) * interval '1 second'
                WHERE id = \(id) RETURNING cancel_requested
                """).first?.decode(Bool.self, at: 0) ?? false
        })
        do {
            let summary = try await RecordImporter(db: db).run(file: file, workspace: workspace, entity: entity, mapping: pairs, mode: mode, dryRun: dryRun,
                                                                checkpoint: checkpoint, journal: dryRun ? nil : id)
            let errors = try await writeErrors(summary, workspace: workspace)
            try await db.execute("""
                UPDATE import_jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'completed' END,
                  total = \(summary.total), created = \(summary.created), updated = \(summary.updated), merged = \(summary.merged),
                  skipped = \(summary.skipped), problems = \(Self.problemsJSON(summary.problems))::jsonb, errors_blob_key = \(errors),
                  rows_with_warnings = \(summary.rowsWithWarnings), warnings = \(Self.problemsJSON(summary.warnings))::jsonb,
                  finished_at = now(), lease_until = NULL
                WHERE id = \(id)
                """)
            logger.info("import finished", metadata: ["job": "\(id)", "created": "\(summary.created)", "updated": "\(summary.updated)"])
        } catch let failure as RecordImporter.Failure {
            var problems: [ContactRow.Problem] = []
            var errors: String?
            var read = RecordImporter.Summary()
            if case .invalidRows(let all, let summary) = failure {
                problems = all
                read = summary
                errors = try? await writeErrors(summary, workspace: workspace)
            }
            _ = try? await db.execute("""
                UPDATE import_jobs SET status = 'failed', error = \("\(failure)"), problems = \(Self.problemsJSON(problems))::jsonb,
                  rows_with_warnings = \(read.rowsWithWarnings), warnings = \(Self.problemsJSON(read.warnings))::jsonb,
                  errors_blob_key = \(errors), total = greatest(total, \(read.invalid)), finished_at = now(), lease_until = NULL WHERE id = \(id)
                """)
        } catch is SimulatedCrash {
            logger.notice("import worker stopped mid-job (test)", metadata: ["job": "\(id)"])
            return
        } catch {
            // The lease runs out and another pass resumes from the last committed batch.
            logger.warning("import interrupted; it will resume", metadata: ["job": "\(id)", "error": "\(error)"])
            return
        }
        await notify(id: id, workspace: workspace)
    }

    /// The mapping a job uses: explicit, else a named template, else the newest template saved for
    /// the same header set, else none (suggested from the headers). Saves it under `save_template`.
    private func resolveMapping(id: UUID, workspace: UUID, entity: ImportEntity, file: URL,
                                explicit: [(header: String, field: String)]?) async throws -> [(header: String, field: String)]? {
        let row = try await db.query("SELECT template, save_template FROM import_jobs WHERE id = \(id)")[0]
        let named: String? = try row.decodeIfPresent(at: 0)
        let save: String? = try row.decodeIfPresent(at: 1)
        let headers = try RecordImporter.headers(of: file) ?? []
        // A template is remembered per entity: the same headers may mean a contact file or a lead file.
        let signature = (entity == .contacts ? "" : entity.rawValue + ":") + ImportMapping.signature(of: headers)
        var pairs = explicit
        var source = explicit == nil ? "suggested" : "explicit"
        if pairs == nil {
            let found = try await db.query("""
                SELECT name, mapping::text FROM import_mapping_templates
                WHERE workspace_id = \(workspace) AND (name = \(named) OR (\(named)::text IS NULL AND signature = \(signature)))
                ORDER BY updated_at DESC LIMIT 1
                """).first
            if let named, found == nil { throw PlatformError(.notFound, "no saved mapping named \"\(named)\"") }
            if let found {
                pairs = (try JSONDecoder().decode([[String]].self, from: Data(try found.decode(String.self, at: 1).utf8)))
                    .compactMap { $0.count == 2 ? (header: $0[0], field: $0[1]) : nil }
                source = "template:" + (try found.decode(String.self, at: 0))
            }
        }
        if let save {
            let chosen = try pairs ?? ImportMapping.suggest(headers: headers, entity: entity).columns.sorted { $0.key < $1.key }.map { (header: headers[$0.key], field: $0.value) }
            let json = String(decoding: try JSONEncoder().encode(chosen.map { [$0.header, $0.field] }), as: UTF8.self)
            try await db.execute("""
                INSERT INTO import_mapping_templates (workspace_id, name, signature, mapping) VALUES (\(workspace), \(save), \(signature), \(json)::jsonb)
                ON CONFLICT (workspace_id, name) DO UPDATE SET signature = EXCLUDED.signature, mapping = EXCLUDED.mapping, updated_at = now()
                """)
        }
        try await db.execute("UPDATE import_jobs SET mapping_source = \(source) WHERE id = \(id)")
        return pairs
    }

    /// The offending rows as read, plus an `error` column; nil when there are none.
    private func writeErrors(_ summary: RecordImporter.Summary, workspace: UUID) async throws -> String? {
        guard !summary.rejected.isEmpty else { return nil }
        let writer = CSVWriter()
        var out = writer.record(summary.headers + ["error"])
        for (fields, problem) in summary.rejected {
            writer.append(fields + ["\(problem.field): \(problem.message) (row \(problem.row))"], to: &out)
        }
        // `write` does its disk work on the blob store's I/O threads, not on this task's.
        let chunks = AsyncThrowingStream<[UInt8], any Error> { $0.yield(out); $0.finish() }
        return try await blobs.write(prefix: BlobKeys.prefix("imports", workspace: workspace), fileExtension: "errors.csv", limit: .max, chunks: chunks).key
    }

    /// Emails the summary to whoever asked for it. A mail failure is logged; the job stays done.
    private func notify(id: UUID, workspace: UUID) async {
        guard let notifier, let row = try? await db.query("SELECT notify_email, file_name FROM import_jobs WHERE id = \(id)").first,
              let email = try? row.decodeIfPresent(String.self, at: 0), !email.isEmpty,
              let job = try? await get(id, workspace: workspace) else { return }
        let file = (try? row.decode(String.self, at: 1)) ?? ""
        let seconds = job.startedAt.flatMap { s in job.finishedAt.map { $0.timeIntervalSince(s) } } ?? 0
        var body = """
            Your import of \(file.isEmpty ? "a file" : file) \(job.status == "completed" ? "is complete" : "ended: \(job.status)")\(job.dryRun ? " (dry run: nothing was written)" : "").

            Total rows:  \(job.total)
            Created:     \(job.created)
            Updated:     \(job.updated)
            Skipped:     \(job.skipped)
            Merged:      \(job.merged)
            Duration:    \(String(format: "%.1f", seconds)) s
            """
        if job.rowsWithWarnings > 0 {
            body += "\nWarnings:    \(job.rowsWithWarnings) row(s) read as a spreadsheet would, imported all the same; check them:"
            for warning in job.warnings.prefix(10) { body += "\n  \(warning)" }
        }
        if let error = job.error { body += "\n\n\(error)" }
        if job.errorsBlobKey != nil { body += "\n\nThe rows with errors: /v1/imports/\(id.uuidString.lowercased())/errors" }
        do {
            try await notifier.send(to: email, subject: "Import \(job.status): \(job.created) created, \(job.updated) updated", body: body)
        } catch {
            logger.warning("import notification not sent", metadata: ["job": "\(id)", "error": "\(error)"])
        }
    }
}

/// What a test hook throws to stand for the process dying inside a batch.
public struct SimulatedCrash: Error {
    public init() {}
}

/// A counter shared by the batches of one job.
final class ManagedCounter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}

