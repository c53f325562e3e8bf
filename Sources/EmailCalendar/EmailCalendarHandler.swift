public import Messages
public import Postgres
public import RPC

/// The email_calendar service: Gmail/Outlook mail and calendar sync.
///
/// Its domain methods are not built yet; the generated defaults answer UNIMPLEMENTED. Health,
/// reflection and echo are served by the RPC runtime.
public struct EmailCalendarHandler: EmailCalendarV1.EmailCalendarService.Handler {
    let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }
}

/// The email_calendar service, ready for an RPC server.
public func makeEmailCalendarService(db: PostgresClient) -> some ServerService {
    EmailCalendarV1.EmailCalendarService.Server(handler: EmailCalendarHandler(db: db))
}
