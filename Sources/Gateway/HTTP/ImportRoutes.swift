public import BlobStorage
import Foundation
public import Logging
public import CurlHTTP
public import Hummingbird
import Messages
import NIOCore
public import RPCNIO
public import Platform
public import RPC

/// The public HTTP API of data transfer (the work happens in `nexa-data-transfer`):
/// - `POST /v1/imports?entity=contacts&mode=fail|skip&dry_run=true&map=Header%3Dfield…&file_name=…`
///   with the CSV as the body: streamed to the blob store (never held whole, capped), then queued.
///   `201` with the job and `Location: /v1/imports/<id>`.
/// - `GET /v1/imports/<id>`: progress, then the summary.
/// - `GET /v1/imports/<id>/errors`: the offending rows plus an `error` column, as CSV.
/// - `POST /v1/exports`, and `GET /v1/downloads/<token>` for the signed link it returns.
/// A file comes from the blob store: streamed from a local folder, or a redirect to an
/// S3-compatible store's presigned URL. All but downloads need `Authorization: Bearer <API key>`;
/// the job belongs to the key's workspace.
public struct ImportRoutes: Sendable {
    let blobs: any BlobStore
    let dataTransfer: RPCClient
    let authenticator: APIKeyAuthenticator
    let maximumUploadSize: Int
    let links: DownloadLinks
    /// How an export's download link is emailed when the request names a `notify_email`.
    let mailer: Mailer?
    let logger: Logger

    public init(blobs: any BlobStore, dataTransfer: RPCClient, authenticator: APIKeyAuthenticator, maximumUploadSize: Int,
                links: DownloadLinks, mailer: Mailer? = nil, logger: Logger = Logger(label: "nexa.gateway.imports")) {
        self.links = links
        self.mailer = mailer
        self.logger = logger
        self.blobs = blobs
        self.dataTransfer = dataTransfer
        self.authenticator = authenticator
        self.maximumUploadSize = maximumUploadSize
    }

    public func register(on router: Router<GatewayRequestContext>) {
        let service = DataTransferV1.DataTransferService.descriptor
        let client = DataTransferV1.DataTransferService.Client(transport: dataTransfer)
        router.post("/v1/imports") { request, context -> Response in
            let key: String, workspace: UUID
            do {
                let caller = try await authorize(request, context, method: "StartImport")
                guard let id = UUID(uuidString: caller.principal.workspaceID) else { throw PlatformError(.unauthenticated, "the key names no workspace") }
                (key, workspace) = (caller.key, id)
            } catch { return Self.error(error) }
            let query = request.uri.queryPairs
            var start = DataTransferV1.StartImportRequest()
            start.entity = query.first { $0.0 == "entity" }?.1 ?? "contacts"
            start.mode = query.first { $0.0 == "mode" }?.1 ?? "fail"
            start.dryRun = query.first { $0.0 == "dry_run" }?.1 == "true"
            start.fileName = query.first { $0.0 == "file_name" }?.1 ?? "upload.csv"
            start.notifyEmail = query.first { $0.0 == "notify" }?.1 ?? ""
            start.templateName = query.first { $0.0 == "template" }?.1 ?? ""
            start.saveTemplate = query.first { $0.0 == "save_template" }?.1 ?? ""
            for (name, value) in query where name == "map" {
                guard let eq = value.lastIndex(of: "=") else { return Self.json(400, ["message": "map takes Header=field, not \(value)"]) }
                var pair = DataTransferV1.MappingPair()
                pair.header = String(value[..<eq])
                pair.field = String(value[value.index(after: eq)...])
                start.mapping.append(pair)
            }
            do {
                let chunks = request.body.map { Array(buffer: $0) }
                start.blobKey = try await blobs.write(prefix: BlobKeys.prefix("imports", workspace: workspace), fileExtension: "csv", limit: maximumUploadSize, chunks: chunks).key
            } catch BlobStoreError.tooLarge {
                return Self.json(413, ["message": "the file is larger than \(maximumUploadSize) bytes"])
            } catch {
                logger.error("an upload could not be stored", metadata: ["error": "\(error)"])
                return Self.json(503, ["message": "the upload could not be stored; try again"])
            }
            do {
                let job = try await client.startImport(start, options: CallOptions(apiKey: key))
                var response = Self.json(201, job)
                response.headers[.location] = "/v1/imports/\(job.id)"
                return response
            } catch {
                return Self.error(error)
            }
        }
        router.get("/v1/imports/:id") { request, context -> Response in
            let key: String
            do { key = try await authorize(request, context, method: "GetImportJob").key } catch { return Self.error(error) }
            var lookup = DataTransferV1.ImportJobRequest()
            lookup.jobID = context.parameters.get("id") ?? ""
            do {
                return Self.json(200, try await client.getImportJob(lookup, options: CallOptions(apiKey: key)))
            } catch {
                return Self.error(error)
            }
        }

        // Export: the body names the fields and filters; the answer carries a signed 7-day link.
        router.post("/v1/exports") { request, context -> Response in
            let caller: (key: String, principal: Principal)
            do { caller = try await authorize(request, context, method: "Export") } catch { return Self.error(error) }
            var request = request
            let body = (try? await request.collectBody(upTo: 64 * 1024)).map { Data(Array(buffer: $0)) } ?? Data()
            let export: DataTransferV1.ExportRequest
            do {
                export = body.isEmpty ? .init() : try JSONDecoder().decode(DataTransferV1.ExportRequest.self, from: body)
            } catch {
                return Self.json(400, ["message": "the body is not an export request: \(error)"])
            }
            do {
                let result = try await client.export(export, options: CallOptions(apiKey: caller.key))
                let link = links.make(blobKey: result.blobKey, workspace: UUID(uuidString: caller.principal.workspaceID) ?? UUID())
                let expires = ISO8601DateFormatter().string(from: link.expires)
                var emailed: String?
                if !export.notifyEmail.isEmpty {
                    guard let mailer else { return Self.json(400, ["message": "this gateway sends no mail (no SMTP server configured)"]) }
                    do {
                        try await mailer.send(
                            to: export.notifyEmail, subject: "Your export is ready: \(result.rows) contact(s)",
                            body: "Your export of \(result.rows) contact(s) (\(result.fields.joined(separator: ", "))) is ready.\n\n"
                                + "Download it until \(expires):\n\(link.url)\n")
                        emailed = export.notifyEmail
                    } catch {
                        // The link is still answered; only the mail failed.
                        logger.warning("export link not emailed", metadata: ["error": "\(error)"])
                    }
                }
                return Self.json(201, ExportAnswer(rows: result.rows, fields: result.fields, downloadURL: link.url, expiresAt: expires, emailedTo: emailed))
            } catch {
                return Self.error(error)
            }
        }
        // Downloads need no key: the signed link is the permission.
        router.get("/v1/downloads/:token") { _, context -> Response in
            switch links.verify(context.parameters.get("token") ?? "") {
            case .tampered: return Self.json(403, ["message": "this download link is not valid"])
            case .expired: return Self.json(410, ["message": "this download link has expired"])
            case .valid(let blobKey, _):
                return await Self.serve(blobs, key: blobKey, filename: String(blobKey.split(separator: "/").last ?? "export.csv"), context: context)
                    ?? Self.json(410, ["message": "the file is gone"])
            }
        }

        router.get("/v1/imports/:id/errors") { request, context -> Response in
            let key: String
            do { key = try await authorize(request, context, method: "GetImportJob").key } catch { return Self.error(error) }
            var lookup = DataTransferV1.ImportJobRequest()
            lookup.jobID = context.parameters.get("id") ?? ""
            do {
                let job = try await client.getImportJob(lookup, options: CallOptions(apiKey: key))
                guard !job.errorsFile.isEmpty,
                      let response = await Self.serve(blobs, key: job.errorsFile, filename: "import-\(job.id)-errors.csv", context: context) else {
                    return Self.json(404, ["message": "this import has no rows with errors"])
                }
                return response
            } catch {
                return Self.error(error)
            }
        }

        @Sendable func authorize(_ request: Request, _ context: GatewayRequestContext, method name: String) async throws -> (key: String, principal: Principal) {
            try await authenticator.authenticateBearer(request, context: context, service: service, method: name)
        }
    }

    /// A blob as the answer, saved as `filename`: streamed from a local file by Hummingbird's
    /// `FileIO` (reads run on NIO's thread pool, not on the request's task), or a redirect to the
    /// remote store's short-lived URL. Nil when there is no such blob.
    static func serve(_ blobs: any BlobStore, key: String, filename: String, context: some RequestContext) async -> Response? {
        guard let download = try? await blobs.download(key, filename: filename, validFor: .seconds(300)) else { return nil }
        switch download {
        case .redirect(let url):
            return Response(status: .found, headers: [.location: url, .cacheControl: "no-store"])
        case .file(let file):
            guard let body = try? await FileIO().loadFile(path: file.path, context: context, chunkLength: 1 << 20) else { return nil }
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(filename)\""],
                            body: body)
        }
    }

    struct ExportAnswer: Encodable {
        var rows: UInt32
        var fields: [String]
        var downloadURL: String
        var expiresAt: String
        /// Set when the link was emailed.
        var emailedTo: String?

        enum CodingKeys: String, CodingKey {
            case rows, fields
            case downloadURL = "download_url"
            case expiresAt = "expires_at"
            case emailedTo = "emailed_to"
        }
    }

    static func json(_ status: Int, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// RPC statuses as HTTP statuses, with the message (never an internal detail).
    static func error(_ error: any Error) -> Response {
        let rpc = (error as? RPCError) ?? (error as? any RPCErrorConvertible)?.rpcError ?? RPCError(.internalError, "internal error")
        let status: Int = switch rpc.code {
        case .invalidArgument, .outOfRange: 400
        case .unauthenticated: 401
        case .permissionDenied: 403
        case .notFound: 404
        case .alreadyExists, .failedPrecondition, .aborted: 409
        case .resourceExhausted: 429
        case .unimplemented: 501
        case .unavailable, .deadlineExceeded: 503
        default: 500
        }
        return json(status, ["message": rpc.message])
    }
}
