import Foundation
public import Logging
public import NIOPosix
import Synchronization

/// A pool of libpq connections. Every blocking libpq call runs on the client's own
/// `NIOThreadPool`, never on an event loop or the cooperative pool. The thread pool has one thread
/// per connection, so a statement waiting on a lock can never starve the transaction that holds
/// it of the thread it needs to commit.
public final class PostgresClient: Sendable {
    /// A libpq connection string or URL, e.g. `postgresql://nexa@127.0.0.1:55432/nexa`.
    public let conninfo: String
    public let maximumConnections: Int
    private let threadPool: NIOThreadPool
    private let logger: Logger
    private let pool: Mutex<Pool>

    private struct Pool {
        var idle: [PostgresConnection] = []
        var open = 0
        var waiters: [CheckedContinuation<PostgresConnection?, Never>] = []
    }

    public init(conninfo: String, maximumConnections: Int = 8, logger: Logger) {
        self.conninfo = conninfo
        self.maximumConnections = max(1, maximumConnections)
        threadPool = NIOThreadPool(numberOfThreads: self.maximumConnections)
        threadPool.start()
        self.logger = logger
        pool = Mutex(Pool())
    }

    deinit {
        threadPool.shutdownGracefully { _ in }
    }

    /// Runs `body` with a connection of its own, returned to the pool afterwards.
    public func withConnection<R: Sendable>(_ body: (PostgresConnectionHandle) async throws -> R) async throws -> R {
        let connection = try await lease()
        let handle = PostgresConnectionHandle(connection: connection, threadPool: threadPool)
        do {
            let result = try await body(handle)
            release(connection)
            return result
        } catch {
            release(connection)
            throw error
        }
    }

    /// Runs one statement; returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withConnection { try await $0.query(query) }
    }

    /// Runs one statement; returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await withConnection { try await $0.execute(query) }
    }

    /// Runs `body` in a transaction, committing on return and rolling back on throw. Serialization
    /// failures and deadlocks run the whole body again, up to `maximumAttempts` times.
    public func withTransaction<R: Sendable>(
        isolation: IsolationLevel = .readCommitted, maximumAttempts: Int = 5,
        _ body: (PostgresConnectionHandle) async throws -> R
    ) async throws -> R {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await withConnection { try await $0.withTransaction(isolation: isolation, body) }
            } catch let error as PostgresError where error.isRetryable && attempt < maximumAttempts {
                logger.debug("retrying transaction", metadata: ["db.error": "\(error.code)", "db.attempt": "\(attempt)"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(10 * attempt))))
            }
        }
    }

    /// Notifications on `channels`, from a dedicated connection that re-listens after a reconnect.
    /// The stream ends when the consumer stops iterating or the task is cancelled.
    public func notifications(channels: [String]) -> AsyncThrowingStream<PostgresNotification, any Error> {
        let (stream, continuation) = AsyncThrowingStream<PostgresNotification, any Error>.makeStream()
        let stopped = Atomic<Bool>(false)
        continuation.onTermination = { _ in stopped.store(true, ordering: .relaxed) }
        let conninfo = self.conninfo
        let logger = self.logger
        // A thread of its own: the loop blocks for as long as the stream lives.
        let listenerThread = NIOThreadPool(numberOfThreads: 1)
        listenerThread.start()
        listenerThread.submit { _ in
            var connection: PostgresConnection?
            var delay = 50
            while !stopped.load(ordering: .relaxed) {
                do {
                    if connection == nil {
                        let fresh = try PostgresConnection(conninfo: conninfo)
                        for channel in channels {
                            _ = try fresh.run(PostgresQuery(unsafeSQL: "LISTEN \(PostgresIdentifier.quote(channel))"))
                        }
                        connection = fresh
                        delay = 50
                    }
                    for n in try connection!.waitForNotifications(timeoutMilliseconds: 200) {
                        continuation.yield(n)
                    }
                } catch {
                    logger.debug("listen connection lost; reconnecting", metadata: ["db.error": "\(error)"])
                    connection = nil
                    usleep(UInt32(delay * 1000))
                    delay = min(delay * 2, 2000)
                }
            }
            continuation.finish()
            listenerThread.shutdownGracefully { _ in }
        }
        return stream
    }

    private func lease() async throws -> PostgresConnection {
        enum Next { case use(PostgresConnection), open, wait }
        let next: Next = pool.withLock { pool in
            if let connection = pool.idle.popLast() { return .use(connection) }
            if pool.open < maximumConnections { pool.open += 1; return .open }
            return .wait
        }
        switch next {
        case .use(let connection):
            return try await prepare(connection)
        case .open:
            do {
                let conninfo = self.conninfo
                return try await threadPool.runIfActive { try PostgresConnection(conninfo: conninfo) }
            } catch {
                pool.withLock { $0.open -= 1 }
                wakeWaiterToOpen()
                throw error
            }
        case .wait:
            let handed = await withCheckedContinuation { continuation in
                pool.withLock { $0.waiters.append(continuation) }
            }
            if let handed { return try await prepare(handed) }
            return try await lease()
        }
    }

    /// A pooled connection may be dead after a server restart: reconnect it before lending it.
    private func prepare(_ connection: PostgresConnection) async throws -> PostgresConnection {
        do {
            try await threadPool.runIfActive { try connection.ensureConnected() }
            return connection
        } catch {
            pool.withLock { $0.open -= 1 }
            wakeWaiterToOpen()
            throw error
        }
    }

    private func release(_ connection: PostgresConnection) {
        let waiter: CheckedContinuation<PostgresConnection?, Never>? = pool.withLock { pool in
            if !pool.waiters.isEmpty { return pool.waiters.removeFirst() }
            pool.idle.append(connection)
            return nil
        }
        waiter?.resume(returning: connection)
    }

    /// A slot freed up (a connection failed): let one waiter open a new connection.
    private func wakeWaiterToOpen() {
        let waiter = pool.withLock { pool in pool.waiters.isEmpty ? nil : pool.waiters.removeFirst() }
        waiter?.resume(returning: nil)
    }
}

/// Transaction isolation levels.
public enum IsolationLevel: Sendable {
    case readCommitted, repeatableRead, serializable

    var sql: String {
        switch self {
        case .readCommitted: "READ COMMITTED"
        case .repeatableRead: "REPEATABLE READ"
        case .serializable: "SERIALIZABLE"
        }
    }
}

/// Quoting for identifiers that cannot be bound (LISTEN channel names).
public enum PostgresIdentifier {
    /// `"name"` with embedded quotes doubled.
    public static func quote(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
