public import Hummingbird
import HummingbirdCore
import Metrics
import NIOCore
public import Logging
import Foundation
import RPC
import Platform

/// The gateway's public HTTP surface: webhook ingress (`/webhooks/<provider>/<endpoint id>`) and
/// the OAuth connect flow (`/oauth/<provider>/start|callback`).
public enum GatewayHTTP {
    /// Every route but the webhooks' (which `WebhookChannelHandler` serves ahead of it).
    static func router(oauth: OAuthRoutes? = nil, imports: ImportRoutes? = nil) -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.get("/healthz") { _, _ in "ok\n" }
        oauth?.register(on: router)
        imports?.register(on: router)
        return router
    }

    /// The server: Hummingbird's HTTP/1 with the webhook handler in its pipeline, behind the
    /// idle timeout and request deadlines of `limits`.
    public static func make(
        host: String, port: Int, ingress: WebhookIngress, oauth: OAuthRoutes? = nil, imports: ImportRoutes? = nil, maximumBodySize: Int,
        limits: ConnectionLimits = ConnectionLimits(), logger: Logger
    ) -> some ApplicationProtocol {
        let timedOut = Counter(label: "nexa_http_requests_timed_out_total")
        let refused = Counter(label: "nexa_http_connections_refused_total")
        let gate = ConnectionGate(maximum: limits.maximumConnections)
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestPhaseHandler(), WebhookChannelHandler(ingress: ingress, maximumBodySize: maximumBodySize)],
            idleTimeout: TimeAmount(limits.idleTimeout))
        return Application(
            router: router(oauth: oauth, imports: imports),
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration), limits: limits, gate: gate,
                                    timedOut: timedOut, refused: refused)
            },
            configuration: .init(address: .hostname(host, port: port), serverName: nil), logger: logger)
    }
}

/// A request's context on the public surface: Hummingbird's, plus the peer's address.
public struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer's IP address as text (what miss budgets are kept by).
    var sourceAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}

extension APIKeyAuthenticator {
    /// Checks `Authorization: Bearer <API key>` as `method` of `service` would be; returns the key and its principal.
    /// - Throws: `RPCError` UNAUTHENTICATED without a bearer key, RESOURCE_EXHAUSTED when the
    ///   request's address has presented too many unknown keys, or whatever the key check refuses.
    func authenticateBearer(_ request: Request, context: GatewayRequestContext, service: ServiceDescriptor, method name: String) async throws
        -> (key: String, principal: Principal) {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw RPCError(.unauthenticated, "an API key is required (Authorization: Bearer nexa_…)")
        }
        let key = String(header.dropFirst(7))
        let method = service.methods.first { $0.name == name }!
        return (key, try await authenticate(CallMetadata(apiKey: key), service: service, method: method, source: context.sourceAddress))
    }
}
