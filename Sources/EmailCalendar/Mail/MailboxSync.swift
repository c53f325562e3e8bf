import CRM
public import Foundation
public import Messages
public import Postgres

/// A Gmail mailbox kept in step with the CRM: `start` watches it and syncs a bounded recent window;
/// `catchUp` reads Gmail's history from the stored cursor (after a push, or on a schedule) and
/// stores what is new in the same transaction that advances the cursor, so a crash repeats a
/// pass and never skips one; a cursor Gmail no longer knows turns into a bounded full sync.
/// Activities are recorded once per Gmail id, so any pass may overlap another.
public struct MailboxSync: Sendable {
    public struct Settings: Sendable {
        /// The Pub/Sub topic Gmail pushes to (`projects/…/topics/…`).
        public var topic: String
        /// How far back a full sync reads, and how many messages at most.
        public var window: TimeInterval = 30 * 24 * 3600
        public var maximumMessages = 2000
        /// Messages a full sync commits at a time, and `messages.get` calls in flight (Gmail's
        /// per-user quota still paces them: 250 units a second, 5 a message).
        public var batchSize = 100
        public var fetchConcurrency = 8

        public init(topic: String) { self.topic = topic }
    }

    /// What a pass did.
    public struct Report: Sendable, Hashable {
        public var seen = 0
        public var stored = 0
        public var bulk = 0
        public var withoutParticipant = 0
        /// A full (windowed) sync, not an incremental one.
        public var full = false

        mutating func add(_ other: Report) {
            seen += other.seen
            stored += other.stored
            bulk += other.bulk
            withoutParticipant += other.withoutParticipant
        }
    }

    let db: PostgresClient
    let settings: Settings
    private let states: SyncStates
    private let passes = SinglePass<UUID, Report>()

    public init(db: PostgresClient, settings: Settings) {
        self.db = db
        self.settings = settings
        states = SyncStates(db: db, table: .mailboxes)
    }

    /// Registers the mailbox of `connection` (`owner`'s, in `workspace`), watches INBOX and SENT,
    /// and syncs the last `window`. A mailbox that was synced before (a connection made again after
    /// it needed the user) resumes from its cursor instead.
    public func start(connection: UUID, workspace: UUID, owner: String, gmail: GmailClient, now: Date = Date()) async throws -> Report {
        let resumable = try await db.query("""
            INSERT INTO mailboxes (connection_id, workspace_id, owner_email) VALUES (\(connection), \(workspace), \(owner))
            ON CONFLICT (connection_id) DO UPDATE SET owner_email = EXCLUDED.owner_email, paused_at = NULL, updated_at = now()
            RETURNING history_id IS NOT NULL
            """)[0].decode(Bool.self, at: 0)
        if resumable {
            _ = try await renewWatchIfDue(connection: connection, gmail: gmail, now: now)
            return try await catchUp(connection: connection, gmail: gmail, now: now)
        }
        let cursor = try await watch(connection: connection, gmail: gmail)
        return try await fullSync(connection: connection, workspace: workspace, owner: owner, cursor: cursor, gmail: gmail,
                                  since: now.addingTimeInterval(-settings.window), now: now)
    }

    /// Restarts the mailbox from a clean cursor: a new watch and a full sync from `since` (default
    /// the configured window), storing only what is not stored yet.
    public func resync(connection: UUID, since: Date? = nil, gmail: GmailClient, now: Date = Date()) async throws -> Report {
        guard let row = try await db.query("""
            UPDATE mailboxes SET state = 'initial_sync', updated_at = now() WHERE connection_id = \(connection) RETURNING workspace_id, owner_email
            """).first else { throw Failure.unknownMailbox(connection) }
        let cursor = try await watch(connection: connection, gmail: gmail)
        return try await fullSync(connection: connection, workspace: try row.decode(at: 0), owner: try row.decode(at: 1), cursor: cursor, gmail: gmail,
                                  since: since ?? now.addingTimeInterval(-settings.window), now: now)
    }

    /// Pauses the mailbox because its connection needs the user (`reason`); `start` resumes it.
    /// Returns whether there was a mailbox.
    @discardableResult
    public func pause(connection: UUID, reason: String) async throws -> Bool {
        try await states.pause(connection: connection, reason: reason)
    }

    /// The mailbox a user's call names by connection id (or the workspace's only one): its connection and owner.
    public func named(_ connectionID: String, workspace: UUID) async throws -> (connection: UUID, owner: String) {
        try await states.named(connectionID, workspace: workspace)
    }

    /// Whether the mailbox of `connection` in `workspace` is synced and not paused.
    public func isRunning(connection: UUID, workspace: UUID) async throws -> Bool {
        try await states.isRunning(connection: connection, workspace: workspace)
    }

    /// Renews the mailbox's watch when it ends within `margin` (Gmail's last 7 days; Google
    /// recommends renewing daily). Returns whether it did.
    public func renewWatchIfDue(connection: UUID, gmail: GmailClient, margin: TimeInterval = 2 * 86_400, now: Date = Date()) async throws -> Bool {
        guard let row = try await db.query("SELECT watch_expires_at FROM mailboxes WHERE connection_id = \(connection)").first else {
            throw Failure.unknownMailbox(connection)
        }
        if let expires = try row.decodeIfPresent(Date.self, at: 0), expires > now.addingTimeInterval(margin) { return false }
        _ = try await watch(connection: connection, gmail: gmail)
        return true
    }

    /// Watches INBOX and SENT (again), records when the watch ends, and returns the history id
    /// it starts from.
    private func watch(connection: UUID, gmail: GmailClient) async throws -> UInt64 {
        let watch = try await gmail.watch(topic: settings.topic, labelIds: ["INBOX", "SENT"])
        try await db.execute("UPDATE mailboxes SET watch_expires_at = \(watch.expiration), updated_at = now() WHERE connection_id = \(connection)")
        return watch.historyID
    }

    /// Stores what arrived since the cursor; a full sync when Gmail no longer has the cursor.
    /// Concurrent calls for one mailbox (a burst of pushes) share passes: one runs, the next
    /// waits for it (`SinglePass`).
    /// - Throws: `MailboxSync.Failure.unknownMailbox` for a connection never started.
    public func catchUp(connection: UUID, gmail: GmailClient, now: Date = Date()) async throws -> Report {
        try await passes.run(connection) { try await pass(connection: connection, gmail: gmail, now: now) }
    }

    private func pass(connection: UUID, gmail: GmailClient, now: Date) async throws -> Report {
        guard let row = try await db.query("""
            SELECT workspace_id, owner_email, history_id FROM mailboxes WHERE connection_id = \(connection)
            """).first else { throw Failure.unknownMailbox(connection) }
        let workspace: UUID = try row.decode(at: 0)
        let owner: String = try row.decode(at: 1)
        guard let cursor = try row.decodeIfPresent(Int64.self, at: 2).map(UInt64.init) else {
            // The first sync never finished: do it again.
            let cursor = try await watch(connection: connection, gmail: gmail)
            return try await fullSync(connection: connection, workspace: workspace, owner: owner, cursor: cursor, gmail: gmail,
                                      since: now.addingTimeInterval(-settings.window), now: now)
        }
        // (A typed `catch` pattern here crashes the Swift 6.3.1 compiler; a Result does not.)
        let read: Result<GmailClient.History, GmailClient.Failure>
        do { read = .success(try await gmail.history(since: cursor)) } catch { read = .failure(error) }
        let history: GmailClient.History
        switch read {
        case .success(let read):
            history = read
        case .failure(.cursorExpired):
            let cursor = try await watch(connection: connection, gmail: gmail)
            return try await fullSync(connection: connection, workspace: workspace, owner: owner, cursor: cursor, gmail: gmail,
                                      since: now.addingTimeInterval(-settings.window), now: now)
        case .failure(let failure):
            throw failure
        }
        let messages = try await fetch(history.addedMessageIDs, gmail: gmail)
        return try await store(messages, connection: connection, workspace: workspace, owner: owner, cursor: history.historyID)
    }

    /// What a completeness check found: of the messages Gmail lists in the window, those the CRM
    /// should have (a contact or lead on them, not bulk), and which of those are stored.
    public struct Completeness: Sendable, Hashable {
        public var listed = 0
        public var expected = 0
        public var stored = 0
        /// Gmail ids expected but not stored when the check began.
        public var missing: [String] = []
        public var repaired = 0
        public var percent: Double { expected == 0 ? 100 : Double(stored) / Double(expected) * 100 }
    }

    /// Compares INBOX and SENT of `since..<until` at Gmail with what is stored; with `repair`,
    /// stores what is missing (once, as any pass would). At most `limit` messages are listed.
    public func check(connection: UUID, since: Date, until: Date, repair: Bool, gmail: GmailClient, limit: Int = 10_000) async throws -> Completeness {
        guard let row = try await db.query("SELECT workspace_id, owner_email FROM mailboxes WHERE connection_id = \(connection)").first else {
            throw Failure.unknownMailbox(connection)
        }
        let workspace: UUID = try row.decode(at: 0)
        let owner: String = try row.decode(at: 1)
        // Gmail's search counts whole seconds: ask for a window a second wider each way, then keep
        // what is inside to the millisecond (stored mail by its time, the rest as Gmail dates it).
        let listed = try await listIDs(GmailClient.window(after: since.addingTimeInterval(-1), before: until.addingTimeInterval(1)), limit: limit,
                                       gmail: gmail).sorted()
        let stored = try await storedIDs(listed, workspace: workspace, between: (since, until))
        var result = Completeness(listed: stored.count, stored: stored.count)
        let unstored = try await fetch(listed.filter { !stored.contains($0) }, gmail: gmail)
            .filter { $0.receivedAt.map { $0 >= since && $0 < until } ?? false }
            .map { MailContent($0, owner: owner) }
        result.listed += unstored.count
        let people = try await db.withConnection { try await MailLog.participants(of: unstored, workspace: workspace, in: $0) }
        let missing = zip(unstored, people).filter { $0.1?.isEmpty == false }.map(\.0)
        result.expected = result.stored + missing.count
        result.missing = missing.map(\.providerID)
        guard repair, !missing.isEmpty else { return result }
        result.repaired = try await db.withTransaction { tx in
            let repaired = try await MailLog.store(missing, workspace: workspace, in: tx).filter { if case .stored = $0 { true } else { false } }.count
            try await tx.execute("UPDATE mailboxes SET messages_stored = messages_stored + \(repaired), updated_at = now() WHERE connection_id = \(connection)")
            return repaired
        }
        return result
    }

    /// The ids of INBOX and SENT messages matching Gmail's search `query`, each once, at most `limit`.
    private func listIDs(_ query: String, limit: Int, gmail: GmailClient) async throws -> [String] {
        var ids: [String] = []
        var seen = Set<String>()
        for label in ["INBOX", "SENT"] where ids.count < limit {
            for id in try await gmail.messageIDs(labelId: label, query: query, limit: limit - ids.count) where seen.insert(id).inserted {
                ids.append(id)
            }
        }
        return ids
    }

    /// Which of `ids` are stored as activities of the workspace (and, given a window, occurred in it).
    private func storedIDs(_ ids: [String], workspace: UUID, between window: (Date, Date)? = nil) async throws -> Set<String> {
        let (from, to) = (window?.0, window?.1)
        return Set(try await db.query("""
            SELECT external_id FROM activities WHERE workspace_id = \(workspace) AND source = 'gmail' AND external_id = ANY(\(PostgresTextArray(ids))::text[])
              AND (\(from)::timestamptz IS NULL OR (occurred_at >= \(from) AND occurred_at < \(to)))
            """).map { try $0.decode(String.self, at: 0) })
    }

    public enum Failure: Error, Sendable, Hashable {
        case unknownMailbox(UUID)
    }

    /// Notes why a pass over `connection`'s mailbox failed (an auth failure stops it until the user reconnects).
    public func recordFailure(_ failure: GmailClient.Failure, connection: UUID) async throws {
        try await states.recordFailure(failure, connection: connection)
    }

    /// The workspace's mailboxes as they stand.
    public func status(workspace: UUID) async throws -> [EmailCalendarV1.MailboxStatus] {
        try await db.query("""
            SELECT connection_id, owner_email, state, coalesce(failure_class, ''), coalesce(failure, ''),
                   coalesce((extract(epoch FROM last_synced_at) * 1000)::bigint, 0), coalesce((extract(epoch FROM watch_expires_at) * 1000)::bigint, 0),
                   messages_seen, messages_stored
            FROM mailboxes WHERE workspace_id = \(workspace) ORDER BY owner_email, connection_id
            """).map { row in
            var status = EmailCalendarV1.MailboxStatus()
            status.connectionID = (try row.decode(UUID.self, at: 0)).uuidString.lowercased()
            status.ownerEmail = try row.decode(at: 1)
            status.state = try row.decode(at: 2)
            status.failureClass = try row.decode(at: 3)
            status.failure = try row.decode(at: 4)
            status.lastSyncedAtUnixMs = try row.decode(at: 5)
            status.watchExpiresAtUnixMs = try row.decode(at: 6)
            status.messagesSeen = try row.decode(at: 7)
            status.messagesStored = try row.decode(at: 8)
            return status
        }
    }

    /// INBOX and SENT since `since`, at most `maximumMessages`, in batches that each commit on
    /// their own (a sync that dies keeps what it stored; the next one skips it), then the cursor.
    private func fullSync(connection: UUID, workspace: UUID, owner: String, cursor: UInt64, gmail: GmailClient, since: Date, now: Date) async throws -> Report {
        let ids = try await listIDs(GmailClient.window(after: since), limit: settings.maximumMessages, gmail: gmail)
        var report = Report()
        report.full = true
        // Fetching the next batch overlaps storing this one.
        func fetchBatch(_ batch: [String]) -> Task<[GmailMessage], any Error> {
            Task {
                // Stored by an earlier pass (this one's predecessor died, or a push got there first): not fetched again.
                let stored = try await storedIDs(batch, workspace: workspace)
                // `q` bounds the window at Google; the receipt time bounds it here as well.
                return try await fetch(batch.filter { !stored.contains($0) }, gmail: gmail).filter { ($0.receivedAt ?? now) >= since }
            }
        }
        let batches = stride(from: 0, to: ids.count, by: settings.batchSize).map { Array(ids[$0..<min(ids.count, $0 + settings.batchSize)]) }
        var pending = batches.first.map(fetchBatch)
        for next in batches.dropFirst().map(Optional.some) + [nil] {
            guard let current = pending else { break }
            pending = next.map(fetchBatch)
            do {
                report.add(try await store(try await current.value, connection: connection, workspace: workspace, owner: owner, cursor: nil))
            } catch {
                pending?.cancel()
                throw error
            }
        }
        try await db.execute("""
            UPDATE mailboxes SET history_id = greatest(coalesce(history_id, 0), \(Int64(cursor))), state = 'active', failure = NULL, failure_class = NULL,
              paused_at = NULL, last_synced_at = now(), updated_at = now()
            WHERE connection_id = \(connection)
            """)
        return report
    }

    /// `messages.get` of `ids`, `fetchConcurrency` at a time, in their order; messages gone since are left out.
    private func fetch(_ ids: [String], gmail: GmailClient) async throws -> [GmailMessage] {
        try await withThrowingTaskGroup(of: (Int, GmailMessage?).self) { group in
            var found = [GmailMessage?](repeating: nil, count: ids.count)
            var next = 0
            func submit() {
                guard next < ids.count else { return }
                let index = next, id = ids[index]
                next += 1
                group.addTask { (index, try await gmail.message(id: id)) }
            }
            for _ in 0..<settings.fetchConcurrency { submit() }
            while let (index, message) = try await group.next() {
                found[index] = message
                submit()
            }
            return found.compactMap { $0 }
        }
    }

    /// Stores `messages` in one transaction; with a `cursor`, moves it (forward only) in the same one.
    /// A full sync's batches (no cursor) commit without waiting for the disk: what is lost in a
    /// crash is fetched again, and the synchronous commit that ends the sync (it sets the cursor)
    /// makes every earlier batch durable before the mailbox reads as synced.
    private func store(_ messages: [GmailMessage], connection: UUID, workspace: UUID, owner: String, cursor: UInt64?) async throws -> Report {
        try await db.withTransaction { tx in
            if cursor == nil { try await tx.execute("SET LOCAL synchronous_commit TO off") }
            var report = Report()
            let outcomes = try await MailLog.store(messages.map { MailContent($0, owner: owner) }, workspace: workspace, in: tx)
            for outcome in outcomes {
                report.seen += 1
                switch outcome {
                case .stored: report.stored += 1
                case .alreadyStored: break
                case .bulk: report.bulk += 1
                case .noParticipant: report.withoutParticipant += 1
                }
            }
            if let cursor {
                try await tx.execute("""
                    UPDATE mailboxes SET history_id = greatest(coalesce(history_id, 0), \(Int64(cursor))), state = 'active', failure = NULL, failure_class = NULL,
                      paused_at = NULL, last_synced_at = now(), messages_seen = messages_seen + \(report.seen), messages_stored = messages_stored + \(report.stored),
                      updated_at = now()
                    WHERE connection_id = \(connection)
                    """)
            } else {
                try await tx.execute("""
                    UPDATE mailboxes SET messages_seen = messages_seen + \(report.seen), messages_stored = messages_stored + \(report.stored), updated_at = now()
                    WHERE connection_id = \(connection)
                    """)
            }
            return report
        }
    }
}
