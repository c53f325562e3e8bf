public import Foundation
import Dispatch
public import Postgres
import Synchronization

/// The durable inbox of verified webhook deliveries, written with group commit: concurrent
/// deliveries queue here and a few writers each insert everything queued so far in one statement
/// (one transaction, one fsync). A delivery is acknowledged only after the commit that holds its
/// row. A redelivered event id is acknowledged and not stored again.
public final class WebhookInbox: Sendable {
    /// A verified event ready to store.
    public struct NewEvent: Sendable, Hashable {
        public var workspaceID: UUID
        public var endpointID: String
        public var provider: WebhookProvider
        public var eventID: String
        public var eventType: String
        public var headers: [String: String]
        public var body: [UInt8]

        public init(workspaceID: UUID, endpointID: String, provider: WebhookProvider, eventID: String, eventType: String,
                    headers: [String: String], body: [UInt8]) {
            self.workspaceID = workspaceID
            self.endpointID = endpointID
            self.provider = provider
            self.eventID = eventID
            self.eventType = eventType
            self.headers = headers
            self.body = body
        }
    }

    public enum Stored: Sendable, Hashable {
        case stored
        case duplicate
    }

    public struct Configuration: Sendable {
        /// Statements in flight at once. Each writer holds a connection for as long as it runs, so
        /// the inbox uses at most half of the client's connections whatever this says.
        public var writers = 2
        /// Rows per statement at most.
        public var maximumBatch = 256
        /// While one statement is in flight, another starts only once this many rows wait: the
        /// rest wait for the first to commit and go in one larger batch. A transaction's fixed
        /// cost (statement, commit, WAL flush) is then shared by more rows, which is what keeps
        /// a CPU-bound machine fast; alone, a row is written at once.
        public var overlappingBatch = 32
        public init() {}
    }

    private struct Waiting {
        var event: NewEvent
        /// Called once, from a writer's thread, when the event's transaction has ended.
        var done: @Sendable (Result<Stored, any Error>) -> Void
    }

    private struct State {
        var queue: [Waiting] = []
        var parkedWriters = 0
        var writing = 0
        var closed = false

        /// Whether a writer should take the queue now (see `Configuration.overlappingBatch`).
        func shouldWrite(_ configuration: Configuration) -> Bool {
            !queue.isEmpty && (closed || writing == 0 || queue.count >= configuration.overlappingBatch)
        }
    }

    private let db: PostgresClient
    private let configuration: Configuration
    private let state = Mutex(State())
    /// Parked writers wait on it; one signal wakes one of them.
    private let wakeWriter = DispatchSemaphore(value: 0)

    public init(db: PostgresClient, configuration: Configuration = .init()) {
        self.db = db
        var configuration = configuration
        configuration.writers = max(1, min(configuration.writers, db.maximumConnections / 2))
        self.configuration = configuration
    }

    /// Deliveries waiting for a writer (for tests that must see a queue form).
    package var queued: Int { state.withLock { $0.queue.count } }

    /// Stores `event` durably and calls `completion` once, from a writer's thread, after the
    /// commit that holds it — or with the store's error (the caller answers 5xx, the provider
    /// retries), or `CancellationError` once the inbox has shut down.
    ///
    /// A callback rather than `async`: the webhook handler answers from the event loop, and a task
    /// per delivery cost more than the write itself.
    public func append(_ event: NewEvent, completion: @escaping @Sendable (Result<Stored, any Error>) -> Void) {
        let accepted = state.withLock { state -> Bool? in
            guard !state.closed else { return nil }
            state.queue.append(Waiting(event: event, done: completion))
            guard state.parkedWriters > 0, state.shouldWrite(configuration) else { return false }
            state.parkedWriters -= 1
            return true
        }
        switch accepted {
        case nil: completion(.failure(CancellationError()))
        case true?: wakeWriter.signal()
        case false?: break
        }
    }

    /// Stores `event` durably; returns once its transaction committed.
    /// - Throws: what `append(_:completion:)` reports.
    public func append(_ event: NewEvent) async throws -> Stored {
        try await withCheckedThrowingContinuation { continuation in
            append(event) { continuation.resume(with: $0) }
        }
    }

    /// Runs the writers until the task is cancelled; then drains what is queued and refuses more.
    ///
    /// Each writer holds a connection and one of the database client's threads for as long as it
    /// runs: its cycle — take what waits, `COPY`, commit, answer — never queues behind request
    /// handling for a thread, which keeps every batch's commit (and so every delivery's answer) prompt.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<configuration.writers {
                group.addTask { await self.writerLoop() }
            }
            await withTaskCancellationHandler {
                await group.waitForAll()
            } onCancel: {
                let parked = self.state.withLock { state in
                    state.closed = true
                    defer { state.parkedWriters = 0 }
                    return state.parkedWriters
                }
                for _ in 0..<parked { self.wakeWriter.signal() }
            }
        }
    }

    private func writerLoop() async {
        while true {
            do {
                let drained = try await db.withConnection { connection in
                    try await connection.withBlockingSession { session -> Bool in
                        while let batch = self.nextBatch() {
                            defer { self.state.withLock { $0.writing -= 1 } }
                            // A lost connection ends the session (its batch was answered): lease another.
                            guard self.write(batch, on: session) else { return false }
                        }
                        return true
                    }
                }
                if drained { return }
            } catch {
                // No connection to be had: what waits is answered with the error (the providers
                // retry) rather than held until the database is back.
                let (waiting, closed) = state.withLock { state in
                    defer { state.queue.removeAll() }
                    return (state.queue, state.closed)
                }
                for item in waiting { item.done(.failure(error)) }
                if closed { return }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    private enum Step {
        case write([Waiting])
        case park
        case finish
    }

    /// The next batch to write; blocks the calling (database) thread while there is none, and
    /// returns nil once the inbox has closed and everything queued was taken.
    private func nextBatch() -> [Waiting]? {
        while true {
            let step: Step = state.withLock { state in
                if state.shouldWrite(configuration) {
                    let count = min(configuration.maximumBatch, state.queue.count)
                    defer { state.queue.removeFirst(count) }
                    state.writing += 1
                    return .write(Array(state.queue.prefix(count)))
                }
                if state.closed && state.queue.isEmpty { return .finish }
                state.parkedWriters += 1
                return .park
            }
            switch step {
            case .write(let batch): return batch
            case .finish: return nil
            case .park: wakeWriter.wait()
            }
        }
    }

    /// `{"name": "value", …}` as UTF-8, names sorted, with JSON string escaping (on every
    /// delivery's path: written byte by byte, far cheaper than JSONSerialization).
    static func jsonObject(_ pairs: [String: String]) -> [UInt8] {
        func appendQuoted(_ text: String, to out: inout [UInt8]) {
            let hex: StaticString = "0123456789abcdef"
            out.append(UInt8(ascii: "\""))
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
                case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case UInt8(ascii: "\r"): out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case UInt8(ascii: "\t"): out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case ..<0x20:
                    out += Array("\\u00".utf8)
                    hex.withUTF8Buffer { out += [$0[Int(byte >> 4)], $0[Int(byte & 0xF)]] }
                default: out.append(byte)  // UTF-8 passes through: JSON text is UTF-8
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(pairs.reduce(2) { $0 + $1.key.utf8.count + $1.value.utf8.count + 8 })
        for (index, pair) in pairs.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out += [UInt8(ascii: ","), UInt8(ascii: " ")] }
            appendQuoted(pair.key, to: &out)
            out += [UInt8(ascii: ":"), UInt8(ascii: " ")]
            appendQuoted(pair.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Stores a batch in one transaction. The common case — no event seen before — is one binary
    /// `COPY` (no statement to plan, nothing for the server to parse: the cheapest bulk path
    /// PostgreSQL has); a batch holding a redelivery fails that COPY as a whole with a unique
    /// violation and goes through `INSERT … ON CONFLICT`. Either statement wakes the dispatchers
    /// (a trigger notifies, migration 0007).
    /// - Returns: false when the connection was lost (the batch is answered with the error either way).
    private func write(_ batch: [Waiting], on session: borrowing PostgresBlockingSession) -> Bool {
        var rows = PostgresBinaryCopyRows(fieldsPerRow: 7, reservingCapacity: batch.reduce(0) { $0 + $1.event.body.count + 256 })
        for item in batch {
            let e = item.event
            rows.startRow()
            rows.append(e.workspaceID)
            rows.append(e.endpointID)
            rows.append(e.provider.rawValue)
            rows.append(e.eventID)
            rows.append(e.eventType)
            rows.append(jsonb: Self.jsonObject(e.headers))
            rows.append(bytea: e.body)
        }
        do {
            try session.copyIn(
                "COPY webhook_inbox (workspace_id, endpoint_id, provider, event_id, event_type, headers, body) FROM STDIN (FORMAT binary)",
                data: rows.finish())
            for item in batch { item.done(.success(.stored)) }
            return true
        } catch let error as PostgresError where error.code == .uniqueViolation {
            return insertSkippingDuplicates(batch, on: session)
        } catch {
            for item in batch { item.done(.failure(error)) }
            return !Self.isConnectionLost(error)
        }
    }

    private static func isConnectionLost(_ error: any Error) -> Bool {
        (error as? PostgresError)?.code == .connectionFailed
    }

    /// One multi-row INSERT; the rows it returns were stored, the others were already there.
    private func insertSkippingDuplicates(_ batch: [Waiting], on session: borrowing PostgresBlockingSession) -> Bool {
        var sql = """
            WITH stored AS (
              INSERT INTO webhook_inbox (workspace_id, endpoint_id, provider, event_id, event_type, headers, body) VALUES 
            """
        var binds: [String?] = []
        binds.reserveCapacity(batch.count * 7)
        for (i, item) in batch.enumerated() {
            let e = item.event
            let headers = String(decoding: Self.jsonObject(e.headers), as: UTF8.self)
            let n = binds.count
            sql += (i == 0 ? "" : ", ") + "($\(n + 1)::uuid, $\(n + 2), $\(n + 3), $\(n + 4), $\(n + 5), $\(n + 6)::jsonb, $\(n + 7)::bytea)"
            binds += [e.workspaceID.postgresText, e.endpointID, e.provider.rawValue, e.eventID, e.eventType, headers, e.body.postgresText]
        }
        sql += """
             ON CONFLICT (workspace_id, provider, event_id) DO NOTHING
              RETURNING workspace_id, provider, event_id)
            SELECT stored.* FROM stored
            """
        do {
            let rows = try session.query(PostgresQuery(unsafeSQL: sql, binds: binds))
            var inserted = Set<String>()
            for row in rows {
                inserted.insert("\(try row.decode(UUID.self, at: 0))|\(try row.decode(String.self, at: 1))|\(try row.decode(String.self, at: 2))")
            }
            for item in batch {
                let key = "\(item.event.workspaceID)|\(item.event.provider.rawValue)|\(item.event.eventID)"
                // Within one batch the same id may come twice: the first is stored, the rest are duplicates.
                item.done(.success(inserted.remove(key) != nil ? .stored : .duplicate))
            }
            return true
        } catch {
            for item in batch { item.done(.failure(error)) }
            return !Self.isConnectionLost(error)
        }
    }
}

extension WebhookInbox {
    /// An inbox row as operators see it.
    public struct Entry: Sendable, Hashable {
        public var id: Int64
        public var workspaceID: UUID
        public var endpointID: String
        public var provider: String
        public var eventID: String
        public var eventType: String
        public var status: String
        public var attempts: Int
        public var lastError: String?
        public var receivedAt: Date
        public var deliveredAt: Date?
        public var headers: String
        public var body: [UInt8]
    }

    /// Which events to put back in the dispatcher's queue.
    public enum Replay: Sendable, Hashable {
        case one(Int64)
        case allDead
        case receivedBetween(Date, Date)
    }

    private static let columns = """
        id, workspace_id, endpoint_id, provider, event_id, event_type, status, attempts, last_error, received_at, delivered_at,
        headers::text, body
        """

    private static func entry(_ row: PostgresRow) throws -> Entry {
        Entry(id: try row.decode(at: 0), workspaceID: try row.decode(at: 1), endpointID: try row.decode(at: 2), provider: try row.decode(at: 3),
              eventID: try row.decode(at: 4), eventType: try row.decode(at: 5), status: try row.decode(at: 6), attempts: try row.decode(at: 7),
              lastError: try row.decodeIfPresent(at: 8), receivedAt: try row.decode(at: 9), deliveredAt: try row.decodeIfPresent(at: 10),
              headers: try row.decode(at: 11), body: try row.decode(at: 12))
    }

    /// Events newest first; `workspaceID` nil means every workspace (operators' CLI).
    public static func list(db: PostgresClient, workspaceID: UUID?, status: String? = nil, limit: Int = 50) async throws -> [Entry] {
        try await db.query("""
            SELECT \(unescaped: columns) FROM webhook_inbox
            WHERE (\(workspaceID)::uuid IS NULL OR workspace_id = \(workspaceID)) AND (\(status)::text IS NULL OR status = \(status))
            ORDER BY id DESC LIMIT \(max(1, min(limit, 1000)))
            """).map(entry)
    }

    public static func show(db: PostgresClient, id: Int64, workspaceID: UUID?) async throws -> Entry? {
        try await db.query("""
            SELECT \(unescaped: columns) FROM webhook_inbox WHERE id = \(id) AND (\(workspaceID)::uuid IS NULL OR workspace_id = \(workspaceID))
            """).first.map(entry)
    }

    /// Makes events due again with a fresh attempt budget (delivered ones too: the effect ledger
    /// makes a second delivery change nothing). Returns how many.
    @discardableResult
    public static func replay(_ which: Replay, db: PostgresClient, workspaceID: UUID?) async throws -> Int {
        let reset = "status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL"
        let query: PostgresQuery
        switch which {
        case .one(let id):
            query = """
                WITH replayed AS (UPDATE webhook_inbox SET \(unescaped: reset)
                  WHERE (\(workspaceID)::uuid IS NULL OR workspace_id = \(workspaceID)) AND id = \(id) RETURNING 1)
                SELECT count(*), pg_notify('webhook_inbox', '') FROM replayed
                """
        case .allDead:
            query = """
                WITH replayed AS (UPDATE webhook_inbox SET \(unescaped: reset)
                  WHERE (\(workspaceID)::uuid IS NULL OR workspace_id = \(workspaceID)) AND status = 'dead' RETURNING 1)
                SELECT count(*), pg_notify('webhook_inbox', '') FROM replayed
                """
        case .receivedBetween(let from, let to):
            query = """
                WITH replayed AS (UPDATE webhook_inbox SET \(unescaped: reset)
                  WHERE (\(workspaceID)::uuid IS NULL OR workspace_id = \(workspaceID)) AND received_at >= \(from) AND received_at < \(to)
                  RETURNING 1)
                SELECT count(*), pg_notify('webhook_inbox', '') FROM replayed
                """
        }
        return try await db.query(query).first?.decode(Int.self, at: 0) ?? 0
    }
}
