public import Hummingbird
public import Logging
import NIOCore
import Foundation
import RPC

/// The gateway's public HTTP surface: webhook ingress (`/webhooks/<provider>/<endpoint id>`) and
/// the OAuth connect flow (`/oauth/<provider>/start|callback`).
public enum GatewayHTTP {
    /// The router, separate from the server so tests can drive it in process too.
    public static func router(ingress: WebhookIngress, oauth: OAuthRoutes? = nil, imports: ImportRoutes? = nil, maximumBodySize: Int) -> Router<BasicRequestContext> {
        let router = Router()
        let receive: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            let provider = context.parameters.get("provider") ?? ""
            let endpoint = context.parameters.get("endpoint") ?? ""
            let body: ByteBuffer
            do {
                // Not `collectBody`, which copies the request to keep the collected body in it.
                body = try await request.body.collect(upTo: maximumBodySize)
            } catch {
                return textResponse(WebhookIngress.reply(413, "the body is larger than \(maximumBodySize) bytes"))
            }
            var headers: [String: String] = [:]
            for field in request.headers {
                let name = field.name.canonicalName
                headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
            }
            let reply = await ingress.receive(
                provider: provider, endpointID: endpoint,
                request: WebhookRequest(method: request.method.rawValue, headers: headers, query: request.queryDictionary, body: Array(buffer: body)))
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

extension Request {
    /// Every query parameter in order, repeated names kept (`map=…&map=…`).
    var queryPairs: [(String, String)] {
        uri.queryParameters.map { (String($0.key), String($0.value)) }
    }

    /// The query parameters by name, the last value of a repeated name winning.
    var queryDictionary: [String: String] {
        Dictionary(queryPairs, uniquingKeysWith: { _, last in last })
    }
}

extension CallAuthenticator {
    /// Checks `Authorization: Bearer <API key>` as `method` of `service` would be; returns the key and its principal.
    /// - Throws: `RPCError` UNAUTHENTICATED without a bearer key, or whatever the key check refuses.
    func authenticateBearer(_ request: Request, service: ServiceDescriptor, method name: String) async throws -> (key: String, principal: Principal) {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw RPCError(.unauthenticated, "an API key is required (Authorization: Bearer nexa_…)")
        }
        let key = String(header.dropFirst(7))
        let method = service.methods.first { $0.name == name }!
        return (key, try await authenticate(CallMetadata(apiKey: key), service: service, method: method))
    }
}
