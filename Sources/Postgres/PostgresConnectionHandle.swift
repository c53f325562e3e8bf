public import NIOPosix

/// A leased connection, valid inside `withConnection` / `withTransaction`. Each call runs the
/// blocking libpq work on the thread pool.
public struct PostgresConnectionHandle: Sendable {
    let connection: PostgresConnection
    let threadPool: NIOThreadPool

    /// Runs one statement; returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let connection = self.connection
        return try await threadPool.runIfActive { try connection.run(query).rows }
    }

    /// Runs one statement; returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        let connection = self.connection
        return try await threadPool.runIfActive { try connection.run(query).affected }
    }

    /// Runs a trusted multi-statement script, such as a migration file. Never pass it input:
    /// it has no parameters.
    public func executeScript(_ sql: String) async throws {
        let connection = self.connection
        try await threadPool.runIfActive { try connection.runScript(sql) }
    }

    /// `COPY … FROM STDIN`: streams chunks from `next` (nil ends) without holding them all.
    /// `next` runs on the thread pool and may block.
    @discardableResult
    public func copyIn(_ sql: String, next: @escaping @Sendable () throws -> [UInt8]?) async throws -> Int {
        let connection = self.connection
        return try await threadPool.runIfActive { try connection.copyIn(sql, chunks: next) }
    }

    /// `COPY … TO STDOUT`: hands each row to `sink` on the thread pool, in libpq's buffer (valid
    /// only during the call: copy what you keep); returns the row count.
    @discardableResult
    public func copyOut(_ sql: String, sink: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) async throws -> Int {
        let connection = self.connection
        return try await threadPool.runIfActive { try connection.copyOut(sql, sink: sink) }
    }

    /// Runs `body` in a transaction on this connection, committing on return and rolling back on
    /// throw (no retry: `PostgresClient.withTransaction` retries, on a connection of its own).
    public func withTransaction<R>(isolation: IsolationLevel = .readCommitted, _ body: (PostgresConnectionHandle) async throws -> R) async throws -> R {
        try await execute(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolation.sql)"))
        do {
            let result = try await body(self)
            try await execute("COMMIT")
            return result
        } catch {
            _ = try? await execute("ROLLBACK")
            throw error
        }
    }
}
