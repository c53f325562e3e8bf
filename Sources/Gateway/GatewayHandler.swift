public import Messages
public import Postgres
public import RPC

/// The gateway service: OAuth connections, token vault and webhook ingress (issue: gateway).
///
/// Its domain methods are not built yet; the generated defaults answer UNIMPLEMENTED. Health,
/// reflection and echo are served by the RPC runtime.
public struct GatewayHandler: GatewayV1.GatewayService.Handler {
    let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }
}

/// The gateway service, ready for an RPC server.
public func makeGatewayService(db: PostgresClient) -> some ServerService {
    GatewayV1.GatewayService.Server(handler: GatewayHandler(db: db))
}
