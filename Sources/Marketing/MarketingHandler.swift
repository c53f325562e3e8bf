public import Messages
public import Postgres
public import RPC

/// The marketing service: Mailchimp/SendGrid audiences and campaign engagement.
///
/// Its domain methods are not built yet; the generated defaults answer UNIMPLEMENTED. Health,
/// reflection and echo are served by the RPC runtime.
public struct MarketingHandler: MarketingV1.MarketingService.Handler {
    let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }
}

/// The marketing service, ready for an RPC server.
public func makeMarketingService(db: PostgresClient) -> some ServerService {
    MarketingV1.MarketingService.Server(handler: MarketingHandler(db: db))
}
