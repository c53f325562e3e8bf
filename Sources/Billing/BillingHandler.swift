public import Messages
public import Postgres
public import RPC

/// The billing service: Stripe billing: deals to subscriptions, payments to account health.
///
/// Its domain methods are not built yet; the generated defaults answer UNIMPLEMENTED. Health,
/// reflection and echo are served by the RPC runtime.
public struct BillingHandler: BillingV1.BillingService.Handler {
    let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }
}

/// The billing service, ready for an RPC server.
public func makeBillingService(db: PostgresClient) -> some ServerService {
    BillingV1.BillingService.Server(handler: BillingHandler(db: db))
}
