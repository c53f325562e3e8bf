import NIOPosix

/// Blocking use of a leased connection on its database thread, for a loop whose statements must
/// follow one another at once — not queue behind other work for a thread between them (a
/// group-commit writer). Valid only inside ``PostgresConnectionHandle/withBlockingSession(_:)``.
public struct PostgresBlockingSession: ~Copyable {
    let connection: PostgresConnection

    /// Runs one statement; returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) throws -> [PostgresRow] {
        try connection.run(query).rows
    }

    /// `COPY … FROM STDIN` of `data`, in one piece; returns the row count.
    @discardableResult
    public func copyIn(_ sql: String, data: [UInt8]) throws -> Int {
        var pending: [UInt8]? = data
        return try connection.copyIn(sql) {
            defer { pending = nil }
            return pending
        }
    }
}

extension PostgresConnectionHandle {
    /// Runs `body` on one of the client's database threads, which it holds until it returns.
    /// Between statements nothing hops back to the caller's executor, so a long-running loop in
    /// `body` answers faster than awaiting each statement — at the cost of one thread for as long
    /// as it runs.
    public func withBlockingSession<R: Sendable>(_ body: @escaping @Sendable (borrowing PostgresBlockingSession) throws -> R) async throws -> R {
        let connection = self.connection
        return try await threadPool.runIfActive { try body(PostgresBlockingSession(connection: connection)) }
    }
}
