public import Messages
public import Postgres
public import RPC

/// The data_transfer service: CSV import and export.
///
/// Its domain methods are not built yet; the generated defaults answer UNIMPLEMENTED. Health,
/// reflection and echo are served by the RPC runtime.
public struct DataTransferHandler: DataTransferV1.DataTransferService.Handler {
    let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }
}

/// The data_transfer service, ready for an RPC server.
public func makeDataTransferService(db: PostgresClient) -> some ServerService {
    DataTransferV1.DataTransferService.Server(handler: DataTransferHandler(db: db))
}
