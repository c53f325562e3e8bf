public import Messages
public import Postgres
public import RPC

/// The support service: Zendesk/Intercom tickets and support volume.
///
/// Its domain methods are not built yet; the generated defaults answer UNIMPLEMENTED. Health,
/// reflection and echo are served by the RPC runtime.
public struct SupportHandler: SupportV1.SupportService.Handler {
    let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }
}

/// The support service, ready for an RPC server.
public func makeSupportService(db: PostgresClient) -> some ServerService {
    SupportV1.SupportService.Server(handler: SupportHandler(db: db))
}
