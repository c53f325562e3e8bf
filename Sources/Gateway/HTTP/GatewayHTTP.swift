public import Hummingbird
public import Logging
import NIOCore
import Foundation

/// The gateway's public HTTP surface: webhook ingress (`/webhooks/<provider>/<endpoint id>`) and
/// the OAuth connect flow (`/oauth/<provider>/start|callback`).
public enum GatewayHTTP {
    /// The router, separate from the server so tests can drive it in process too.
    public static func router(ingress: WebhookIngress, oauth: OAuthRoutes? = nil, imports: ImportRoutes? = nil, maximumBodySize: Int) -> Router<BasicRequestContext> {
        let router = Router()
        let receive: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            let provider = context.parameters.get("provider") ?? ""
            let endpoint = context.parameters.get("endpoint") ?? ""
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: maximumBodySize)
            } catch {
                return textResponse(WebhookIngress.reply(413, "the body is larger than \(maximumBodySize) bytes"))
            }
            var headers: [String: String] = [:]
            for field in request.headers {
                let name = field.name.canonicalName
                headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
            }
            var query: [String: String] = [:]
            for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
            let reply = await ingress.receive(
                provider: provider, endpointID: endpoint,
                request: WebhookRequest(method: request.method.rawValue, headers: headers, query: query, body: Array(buffer: body)))
            return textResponse(reply)
        }
        router.post("/webhooks/:provider/:endpoint", use: receive)
        router.get("/webhooks/:provider/:endpoint", use: receive)
        router.get("/healthz") { _, _ in "ok\n" }
        oauth?.register(on: router)
        imports?.register(on: router)
        return router
    }

    public static func make(
        host: String, port: Int, ingress: WebhookIngress, oauth: OAuthRoutes?, imports: ImportRoutes?, maximumBodySize: Int, logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            router: router(ingress: ingress, oauth: oauth, imports: imports, maximumBodySize: maximumBodySize),
            configuration: .init(address: .hostname(host, port: port), serverName: nil), logger: logger)
    }

    static func textResponse(_ reply: WebhookIngress.Reply) -> Response {
        Response(status: .init(code: reply.status), headers: [.contentType: reply.contentType],
                 body: .init(byteBuffer: ByteBuffer(string: reply.body)))
    }
}
