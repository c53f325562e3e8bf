public import BlobStorage
import CurlHTTP
import Foundation
public import Logging
public import Messages
public import Platform
public import Postgres
public import RPC

/// The data transfer service: CSV imports (contacts, leads, accounts) as jobs, contact exports, undo.
public struct DataTransferHandler: DataTransferV1.DataTransferService.Handler {
    let jobs: ImportJobs
    let exporter: ContactExporter

    public init(jobs: ImportJobs, exporter: ContactExporter) {
        self.jobs = jobs
        self.exporter = exporter
    }

    public func export(_ request: DataTransferV1.ExportRequest, context: ServerContext) async throws -> DataTransferV1.ExportResult {
        let entity = request.entity.isEmpty ? "contacts" : request.entity
        guard entity == "contacts" else { throw RPCError(.unimplemented, "exporting \(entity) is not built yet; contacts is") }
        var filters = ContactExporter.Filters()
        filters.tagsAny = request.tagsAny
        filters.tagsAll = request.tagsAll
        func date(_ ms: Int64) -> Date? { ms == 0 ? nil : Date(timeIntervalSince1970: Double(ms) / 1000) }
        filters.createdAfter = date(request.createdAfterUnixMs)
        filters.createdBefore = date(request.createdBeforeUnixMs)
        filters.updatedAfter = date(request.updatedAfterUnixMs)
        filters.updatedBefore = date(request.updatedBeforeUnixMs)
        if !request.accountID.isEmpty {
            guard let account = UUID(uuidString: request.accountID) else { throw RPCError(.invalidArgument, "account_id is not a UUID") }
            filters.accountID = account
        }
        let (key, rows, fields) = try await exporter.export(workspace: try context.workspace(), fields: request.fields, filters: filters)
        var result = DataTransferV1.ExportResult()
        result.id = UUID().uuidString.lowercased()
        result.rows = UInt32(rows)
        result.blobKey = key
        result.fields = fields
        return result
    }

    public func startImport(_ request: DataTransferV1.StartImportRequest, context: ServerContext) async throws -> DataTransferV1.ImportJob {
        guard let entity = ImportEntity(rawValue: request.entity.isEmpty ? "contacts" : request.entity) else {
            throw RPCError(.invalidArgument, "entity is contacts, leads or accounts, not \(request.entity)")
        }
        guard let mode = RecordImporter.Mode(rawValue: request.mode.isEmpty ? "fail" : request.mode) else {
            throw RPCError(.invalidArgument, "mode is fail or skip, not \(request.mode)")
        }
        let mapping = request.mapping.isEmpty ? nil : request.mapping.map { (header: $0.header, field: $0.field) }
        let job = try await jobs.start(workspace: try context.workspace(), entity: entity, blobKey: request.blobKey, fileName: request.fileName,
                                       mapping: mapping, mode: mode, dryRun: request.dryRun,
                                       notifyEmail: request.notifyEmail.isEmpty ? nil : request.notifyEmail,
                                       template: request.templateName.isEmpty ? nil : request.templateName,
                                       saveTemplate: request.saveTemplate.isEmpty ? nil : request.saveTemplate)
        return Self.message(job)
    }

    public func getImportJob(_ request: DataTransferV1.ImportJobRequest, context: ServerContext) async throws -> DataTransferV1.ImportJob {
        guard let id = UUID(uuidString: request.jobID) else { throw RPCError(.invalidArgument, "job_id is not a UUID") }
        return Self.message(try await jobs.get(id, workspace: try context.workspace()))
    }

    public func cancelImport(_ request: DataTransferV1.ImportJobRequest, context: ServerContext) async throws -> DataTransferV1.ImportJob {
        guard let id = UUID(uuidString: request.jobID) else { throw RPCError(.invalidArgument, "job_id is not a UUID") }
        return Self.message(try await jobs.cancel(id, workspace: try context.workspace()))
    }

    public func undoImport(_ request: DataTransferV1.ImportJobRequest, context: ServerContext) async throws -> DataTransferV1.UndoImportResponse {
        guard let id = UUID(uuidString: request.jobID) else { throw RPCError(.invalidArgument, "job_id is not a UUID") }
        let report = try await ImportUndo(db: jobs.db).undo(job: id, workspace: try context.workspace())
        var response = DataTransferV1.UndoImportResponse()
        response.deleted = UInt32(report.deleted)
        response.restored = UInt32(report.restored)
        response.refused = report.refused
        return response
    }

    static func message(_ problem: ContactRow.Problem) -> DataTransferV1.ImportProblem {
        var p = DataTransferV1.ImportProblem()
        p.row = UInt32(problem.row)
        p.field = problem.field
        p.message = problem.message
        return p
    }

    static func message(_ job: ImportJobs.Job) -> DataTransferV1.ImportJob {
        var m = DataTransferV1.ImportJob()
        m.id = job.id.uuidString.lowercased()
        m.entity = job.entity
        m.status = job.status
        m.mode = job.mode
        m.dryRun = job.dryRun
        m.total = UInt32(job.total)
        m.processed = UInt32(job.processed)
        m.created = UInt32(job.created)
        m.updated = UInt32(job.updated)
        m.skipped = UInt32(job.skipped)
        m.merged = UInt32(job.merged)
        m.percent = UInt32(job.percent)
        m.error = job.error ?? ""
        m.problems = job.problems.prefix(100).map(Self.message)
        m.rowsWithWarnings = UInt32(job.rowsWithWarnings)
        m.warnings = job.warnings.prefix(100).map(Self.message)
        m.createdAtUnixMs = Int64(job.createdAt.timeIntervalSince1970 * 1000)
        m.finishedAtUnixMs = job.finishedAt.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0
        m.errorsFile = job.errorsBlobKey ?? ""
        m.mappingSource = job.mappingSource ?? ""
        if let started = job.startedAt, let finished = job.finishedAt {
            m.durationMs = Int64(finished.timeIntervalSince(started) * 1000)
        }
        return m
    }
}

/// The data transfer service, ready for an RPC server.
public func makeDataTransferService(db: PostgresClient, blobs: any BlobStore = LocalBlobStore.fromEnvironment()) -> some ServerService {
    DataTransferV1.DataTransferService.Server(handler: DataTransferHandler(
        jobs: ImportJobs(db: db, blobs: blobs, logger: Logger(label: "nexa.data_transfer")), exporter: ContactExporter(db: db, blobs: blobs)))
}

/// Everything nexa-data-transfer runs: its RPC service and the import worker.
public enum DataTransferComponents {
    public static func make(db: PostgresClient, service: ServiceSettings, logger: Logger) throws -> ServiceMain.Components {
        let notifier = Mailer(http: HTTPClient(), server: MailServer(url: service.providers.smtp))
        let blobs = try BlobStores.fromEnvironment()
        // How long a worker holds a job between batches; another replica resumes it after that.
        let lease = Int(ProcessInfo.processInfo.environment["NEXA_IMPORT_LEASE_SECONDS"] ?? "").map { max(1, $0) } ?? 60
        let jobs = ImportJobs(db: db, blobs: blobs, logger: logger, notifier: notifier, lease: .seconds(lease))
        let cap = Int(ProcessInfo.processInfo.environment["NEXA_EXPORT_MAX_ROWS"] ?? "") ?? 100_000
        return ServiceMain.Components(
            rpc: DataTransferV1.DataTransferService.Server(handler: DataTransferHandler(
                jobs: jobs, exporter: ContactExporter(db: db, blobs: blobs, maximumRows: cap))),
            background: [BackgroundService(name: "imports") { await jobs.run() }])
    }
}
