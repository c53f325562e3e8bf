import Foundation
public import Hummingbird
import HTTPTypes
public import Logging
import NIOCore

/// Builds the `nexa-sandbox` HTTP application: every stand-in under its base path, with the
/// request journal and fault injection in front, and the shared control API under `/_sandbox`.
public enum SandboxApp {
    public static func build(
        standIns: [any StandIn], host: String = "127.0.0.1", port: Int, journal: Journal, faults: Faults, logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router(context: SandboxContext.self)
        for standIn in standIns {
            let group = router.group(RouterPath(standIn.name))
                .add(middleware: RecordAndInjectMiddleware(provider: standIn.name, journal: journal, faults: faults,
                                                           faultResponse: standIn.faultResponse(status:path:),
                                                           maximumBody: standIn.maximumRequestBody))
            standIn.addRoutes(to: group)
            standIn.addControlRoutes(to: router.group(RouterPath("_sandbox/\(standIn.name)")))
        }
        addControlRoutes(router, journal: journal, faults: faults, standIns: standIns)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil), logger: logger)
    }

    private static func addControlRoutes(_ router: Router<SandboxContext>, journal: Journal, faults: Faults, standIns: [any StandIn]) {
        let control = router.group("_sandbox")
        control.get("providers") { _, _ in
            Response.json(.array(standIns.map { .string($0.name) }))
        }
        control.get("requests") { request, _ in
            let provider = request.uri.queryParameters["provider"].map(String.init)
            let entries = journal.entries(provider: provider)
            return Response.json(try JSON.decode(Array(try JSONEncoder().encode(entries))))
        }
        control.delete("requests") { _, _ in
            journal.clear()
            return Response(status: .noContent)
        }
        control.get("faults") { _, _ in
            Response.json(try JSON.decode(Array(try JSONEncoder().encode(faults.all))))
        }
        control.post("faults") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard let fault = try? JSONDecoder().decode(Faults.Fault.self, from: Data(Array(buffer: body))) else {
                return Response.json(["error": "expected a fault: {provider, method?, pathPrefix?, status?, retryAfter?, latencyMilliseconds?, times?}"], status: .badRequest)
            }
            faults.add(fault)
            return Response(status: .created)
        }
        control.delete("faults") { _, _ in
            faults.clear()
            return Response(status: .noContent)
        }
    }
}

/// Thrown after a fault closed the connection on purpose.
struct DroppedConnection: Error {}

/// Records every request in the journal and applies matching faults before the stand-in serves it.
struct RecordAndInjectMiddleware: RouterMiddleware {
    typealias Context = SandboxContext
    let provider: String
    let journal: Journal
    let faults: Faults
    let faultResponse: @Sendable (Int, String) -> (body: JSON, headers: [(String, String)])
    let maximumBody: Int

    /// What the journal keeps of a body: the text of a small one, the size of a large one.
    private static func journalled(_ body: ByteBuffer) -> String {
        body.readableBytes <= 64 * 1024 ? String(buffer: body) : "<\(body.readableBytes) bytes>"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: maximumBody)
        let prefix = "/\(provider)"
        let path = String(request.uri.path.dropFirst(request.uri.path.hasPrefix(prefix) ? prefix.count : 0))
        let target = path + (request.uri.query.map { "?\($0)" } ?? "")
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let method = request.method.rawValue
        var response: Response
        if let fault = faults.take(provider: provider, method: method, path: path) {
            if let ms = fault.latencyMilliseconds { try await Task.sleep(for: .milliseconds(ms)) }
            if fault.dropConnection == true {
                // The request was read; the connection closes with no response, as a crashed peer's would.
                journal.record(provider: provider, method: method, target: target, headers: headers, body: Self.journalled(body), status: 0)
                try? await context.channel.close()
                throw DroppedConnection()
            }
            if let status = fault.status {
                let (body, extra) = faultResponse(status, path)
                response = Response(status: .init(code: status), headers: [.contentType: "application/json"],
                                    body: .init(byteBuffer: ByteBuffer(bytes: body.encoded())))
                for (name, value) in extra { if let field = HTTPField.Name(name) { response.headers[field] = value } }
                if let retryAfter = fault.retryAfter { response.headers[.retryAfter] = "\(retryAfter)" }
            } else {
                response = try await next(request, context)
            }
        } else {
            response = try await next(request, context)
        }
        journal.record(provider: provider, method: method, target: target, headers: headers,
                       body: Self.journalled(body), status: response.status.code)
        return response
    }
}

extension Response {
    /// A JSON response with stable key order.
    public static func json(_ value: JSON, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.encoded(pretty: true))))
    }
}
