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
    }

    let db: PostgresClient
    let settings: Settings

    public init(db: PostgresClient, settings: Settings) {
        self.db = db
        self.settings = settings
    }

    /// Registers the mailbox of `connection` (`owner`'s, in `workspace`), watches INBOX and SENT,
    /// and syncs the last `window`.
    public func start(connection: UUID, workspace: UUID, owner: String, gmail: GmailClient, now: Date = Date()) async throws -> Report {
        try await db.execute("""
            INSERT INTO mailboxes (connection_id, workspace_id, owner_email) VALUES (\(connection), \(workspace), \(owner))
            ON CONFLICT (connection_id) DO UPDATE SET owner_email = EXCLUDED.owner_email, updated_at = now()
            """)
        let cursor = try await watch(connection: connection, gmail: gmail)
        return try await fullSync(connection: connection, workspace: workspace, owner: owner, cursor: cursor, gmail: gmail, now: now)
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
    /// - Throws: `PlatformError`-free `MailboxSync.Failure.unknownMailbox` for a connection never started.
    public func catchUp(connection: UUID, gmail: GmailClient, now: Date = Date()) async throws -> Report {
        guard let row = try await db.query("""
            SELECT workspace_id, owner_email, history_id FROM mailboxes WHERE connection_id = \(connection)
            """).first else { throw Failure.unknownMailbox(connection) }
        let workspace: UUID = try row.decode(at: 0)
        let owner: String = try row.decode(at: 1)
        guard let cursor = try row.decodeIfPresent(Int64.self, at: 2).map(UInt64.init) else {
            // The first sync never finished: do it again.
            let cursor = try await watch(connection: connection, gmail: gmail)
            return try await fullSync(connection: connection, workspace: workspace, owner: owner, cursor: cursor, gmail: gmail, now: now)
        }
        // (A typed `catch` pattern here crashes the Swift 6.3.1 compiler; a Result does not.)
        let read: Result<GmailClient.History, GmailClient.Failure>
        do { read = .success(try await gmail.history(since: cursor)) } catch { read = .failure(error) }
        let history: GmailClient.History
        switch read {
        case .success(let read):
            history = read
        case .failure(.historyExpired):
            let cursor = try await watch(connection: connection, gmail: gmail)
            return try await fullSync(connection: connection, workspace: workspace, owner: owner, cursor: cursor, gmail: gmail, now: now)
        case .failure(let failure):
            throw failure
        }
        var messages: [GmailMessage] = []
        for id in history.addedMessageIDs {
            if let message = try await gmail.message(id: id) { messages.append(message) }
        }
        return try await store(messages, connection: connection, workspace: workspace, owner: owner, cursor: history.historyID, full: false)
    }

    public enum Failure: Error, Sendable, Hashable {
        case unknownMailbox(UUID)
    }

    /// Notes why a pass over `connection`'s mailbox failed: an auth failure stops the mailbox
    /// (`failed`) until the user reconnects; quota and an unavailable provider keep its state, and
    /// the next pass clears them.
    public func recordFailure(_ failure: GmailClient.Failure, connection: UUID) async throws {
        let failureClass: String
        switch failure {
        case .unauthorized: failureClass = "auth"
        case .rateLimited: failureClass = "quota"
        case .historyExpired, .unavailable: failureClass = "provider_unavailable"
        }
        try await db.execute("""
            UPDATE mailboxes SET failure_class = \(failureClass), failure = \("\(failure)"),
              state = CASE WHEN \(failureClass) = 'auth' THEN 'failed' ELSE state END, updated_at = now()
            WHERE connection_id = \(connection)
            """)
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

    /// INBOX and SENT of the last `window`, at most `maximumMessages`, then the cursor.
    private func fullSync(connection: UUID, workspace: UUID, owner: String, cursor: UInt64, gmail: GmailClient, now: Date) async throws -> Report {
        let since = now.addingTimeInterval(-settings.window)
        var ids: [String] = []
        for label in ["INBOX", "SENT"] where ids.count < settings.maximumMessages {
            ids += try await gmail.messageIDs(labelId: label, after: since, limit: settings.maximumMessages - ids.count)
        }
        var messages: [GmailMessage] = []
        for id in Set(ids).sorted() {
            // `q` bounds the window at Google; the receipt time bounds it here as well.
            if let message = try await gmail.message(id: id), (message.receivedAt ?? now) >= since { messages.append(message) }
        }
        return try await store(messages, connection: connection, workspace: workspace, owner: owner, cursor: cursor, full: true)
    }

    /// Stores `messages` and moves the cursor (forward only) in one transaction.
    private func store(_ messages: [GmailMessage], connection: UUID, workspace: UUID, owner: String, cursor: UInt64, full: Bool) async throws -> Report {
        try await db.withTransaction { tx in
            var report = Report()
            report.full = full
            for message in messages {
                report.seen += 1
                switch try await MailLog.store(MailContent(message, owner: owner), workspace: workspace, in: tx) {
                case .stored: report.stored += 1
                case .alreadyStored: break
                case .bulk: report.bulk += 1
                case .noParticipant: report.withoutParticipant += 1
                }
            }
            try await tx.execute("""
                UPDATE mailboxes SET history_id = greatest(coalesce(history_id, 0), \(Int64(cursor))), state = 'active', failure = NULL, failure_class = NULL,
                  last_synced_at = now(), messages_seen = messages_seen + \(report.seen), messages_stored = messages_stored + \(report.stored),
                  updated_at = now()
                WHERE connection_id = \(connection)
                """)
            return report
        }
    }
}
