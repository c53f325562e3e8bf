import CRM
public import Foundation
public import Messages
public import Postgres

/// A Google calendar (the user's primary) kept in step with the CRM's meetings: `start` opens a
/// notification channel and reads every event from a window back; `catchUp` reads the changes
/// after the stored sync token (after a push, or on a schedule) and applies them in the same
/// transaction that stores the next token, so a crash repeats a pass and never skips one; a token
/// Google no longer knows (410) turns into a full sync. Meetings are kept by event id, so any
/// pass may overlap another without a duplicate.
public struct CalendarSync: Sendable {
    public struct Settings: Sendable {
        /// How far back a full sync reads.
        public var window: TimeInterval = 30 * 24 * 3600
        /// Channels are renewed when they end within this (they cannot be extended: a new one
        /// opens, then the old one stops).
        public var renewalMargin: TimeInterval = 2 * 86_400

        public init() {}
    }

    /// Where pushes for a new channel go: the gateway's webhook URL for a fresh
    /// `google_calendar` endpoint of the workspace, and its secret (the channel token).
    public struct Endpoint: Sendable {
        public var id: String
        public var address: String
        public var token: String

        public init(id: String, address: String, token: String) {
            self.id = id
            self.address = address
            self.token = token
        }
    }

    /// What a pass did.
    public struct Report: Sendable, Hashable {
        public var seen = 0
        public var created = 0
        public var updated = 0
        public var cancelled = 0
        public var withoutParticipant = 0
        public var full = false
    }

    public enum Failure: Error, Sendable, Hashable {
        case unknownCalendar(UUID)
    }

    let db: PostgresClient
    let settings: Settings
    private let states: SyncStates
    private let passes = SinglePass<UUID, Report>()

    public init(db: PostgresClient, settings: Settings = .init()) {
        self.db = db
        self.settings = settings
        states = SyncStates(db: db, table: .calendars)
    }

    /// Registers the primary calendar of `connection` (`owner`'s, user `ownerUser`), opens a
    /// channel and reads the window. A calendar synced before resumes from its sync token.
    public func start(connection: UUID, workspace: UUID, owner: String, ownerUser: UUID?, calendar: CalendarClient,
                      endpoint: () async throws -> Endpoint, now: Date = Date()) async throws -> Report {
        let resumable = try await db.query("""
            INSERT INTO calendars (connection_id, workspace_id, owner_email, owner_user_id) VALUES (\(connection), \(workspace), \(owner), \(ownerUser))
            ON CONFLICT (connection_id) DO UPDATE SET owner_email = EXCLUDED.owner_email, owner_user_id = coalesce(EXCLUDED.owner_user_id, calendars.owner_user_id),
              paused_at = NULL, updated_at = now()
            RETURNING sync_token IS NOT NULL
            """)[0].decode(Bool.self, at: 0)
        _ = try await renewChannelIfDue(connection: connection, calendar: calendar, endpoint: endpoint, now: now)
        if resumable { return try await catchUp(connection: connection, calendar: calendar, now: now) }
        return try await fullSync(connection: connection, calendar: calendar, now: now)
    }

    /// Opens a new channel when there is none or it ends within the margin, then stops the old
    /// one. Returns whether it did.
    public func renewChannelIfDue(connection: UUID, calendar: CalendarClient, endpoint: () async throws -> Endpoint,
                                  now: Date = Date()) async throws -> Bool {
        guard let row = try await db.query("""
            SELECT channel_id, channel_resource_id, channel_expires_at FROM calendars WHERE connection_id = \(connection)
            """).first else { throw Failure.unknownCalendar(connection) }
        if let expires = try row.decodeIfPresent(Date.self, at: 2), expires > now.addingTimeInterval(settings.renewalMargin) { return false }
        let target = try await endpoint()
        let channel = try await calendar.watch(channelID: UUID().uuidString.lowercased(), address: target.address, token: target.token)
        try await db.execute("""
            UPDATE calendars SET channel_id = \(channel.id), channel_resource_id = \(channel.resourceID), channel_expires_at = \(channel.expiration),
              endpoint_id = \(target.id), updated_at = now()
            WHERE connection_id = \(connection)
            """)
        if let old = try row.decodeIfPresent(String.self, at: 0), let resource = try row.decodeIfPresent(String.self, at: 1) {
            try? await calendar.stop((old, resource))  // it ends by itself anyway
        }
        return true
    }

    /// The connection whose calendar the channel `channelID` watches, in `workspace`, unless paused.
    public func connection(forChannel channelID: String, workspace: UUID) async throws -> UUID? {
        try await db.query("""
            SELECT connection_id FROM calendars WHERE channel_id = \(channelID) AND workspace_id = \(workspace) AND paused_at IS NULL
            """).first?.decode(UUID.self, at: 0)
    }

    /// Applies the changes after the stored sync token; a full sync when there is none or Google
    /// no longer knows it. Concurrent calls for one calendar share passes (`SinglePass`).
    public func catchUp(connection: UUID, calendar: CalendarClient, now: Date = Date()) async throws -> Report {
        try await passes.run(connection) { try await pass(connection: connection, calendar: calendar, now: now) }
    }

    private func pass(connection: UUID, calendar: CalendarClient, now: Date) async throws -> Report {
        guard let row = try await db.query("SELECT sync_token FROM calendars WHERE connection_id = \(connection)").first else {
            throw Failure.unknownCalendar(connection)
        }
        guard let token = try row.decodeIfPresent(String.self, at: 0) else { return try await fullSync(connection: connection, calendar: calendar, now: now) }
        // (A typed `catch` pattern here crashes the Swift 6.3.1 compiler; a Result does not.)
        let read: Result<CalendarClient.Page, CalendarClient.Failure>
        do { read = .success(try await calendar.list(syncToken: token, since: now)) } catch { read = .failure(error) }
        switch read {
        case .success(let page): return try await apply(page, connection: connection, full: false)
        case .failure(.cursorExpired): return try await fullSync(connection: connection, calendar: calendar, now: now)
        case .failure(let failure): throw failure
        }
    }

    /// Every event from the window back, then the token.
    private func fullSync(connection: UUID, calendar: CalendarClient, now: Date) async throws -> Report {
        try await apply(try await calendar.list(syncToken: nil, since: now.addingTimeInterval(-settings.window)), connection: connection, full: true)
    }

    /// Applies `page` and stores its token in one transaction.
    private func apply(_ page: CalendarClient.Page, connection: UUID, full: Bool) async throws -> Report {
        try await db.withTransaction { tx in
            guard let row = try await tx.query("SELECT workspace_id, owner_user_id FROM calendars WHERE connection_id = \(connection) FOR UPDATE").first else {
                throw Failure.unknownCalendar(connection)
            }
            let workspace: UUID = try row.decode(at: 0)
            let owner = try row.decodeIfPresent(UUID.self, at: 1)
            var report = Report()
            report.full = full
            for event in page.events {
                report.seen += 1
                switch try await Meetings.sync(event, source: "google_calendar", assignee: owner, workspace: workspace, in: tx) {
                case .created: report.created += 1
                case .updated: report.updated += 1
                case .cancelled: report.cancelled += 1
                case .noParticipant: report.withoutParticipant += 1
                case .unknownCancelled: break
                }
            }
            try await tx.execute("""
                UPDATE calendars SET sync_token = \(page.nextSyncToken), state = 'active', failure = NULL, failure_class = NULL, paused_at = NULL,
                  last_synced_at = now(), events_seen = events_seen + \(report.seen), meetings_stored = meetings_stored + \(report.created),
                  updated_at = now()
                WHERE connection_id = \(connection)
                """)
            return report
        }
    }

    /// Pauses the calendar because its connection needs the user; `start` resumes it.
    @discardableResult
    public func pause(connection: UUID, reason: String) async throws -> Bool {
        try await states.pause(connection: connection, reason: reason)
    }

    /// The calendar a user's call names by connection id (or the workspace's only one): its connection and owner.
    public func named(_ connectionID: String, workspace: UUID) async throws -> (connection: UUID, owner: String) {
        try await states.named(connectionID, workspace: workspace)
    }

    /// Whether the calendar of `connection` in `workspace` is synced and not paused.
    public func isRunning(connection: UUID, workspace: UUID) async throws -> Bool {
        try await states.isRunning(connection: connection, workspace: workspace)
    }

    /// Notes why a pass failed (an auth failure stops the calendar until the user reconnects).
    public func recordFailure(_ failure: CalendarClient.Failure, connection: UUID) async throws {
        try await states.recordFailure(failure, connection: connection)
    }

    /// The workspace's calendars as they stand.
    public func status(workspace: UUID) async throws -> [EmailCalendarV1.CalendarStatus] {
        try await db.query("""
            SELECT connection_id, owner_email, state, coalesce(failure_class, ''), coalesce(failure, ''),
                   coalesce((extract(epoch FROM last_synced_at) * 1000)::bigint, 0), coalesce((extract(epoch FROM channel_expires_at) * 1000)::bigint, 0),
                   events_seen, meetings_stored
            FROM calendars WHERE workspace_id = \(workspace) ORDER BY owner_email, connection_id
            """).map { row in
            var status = EmailCalendarV1.CalendarStatus()
            status.connectionID = (try row.decode(UUID.self, at: 0)).uuidString.lowercased()
            status.ownerEmail = try row.decode(at: 1)
            status.state = try row.decode(at: 2)
            status.failureClass = try row.decode(at: 3)
            status.failure = try row.decode(at: 4)
            status.lastSyncedAtUnixMs = try row.decode(at: 5)
            status.channelExpiresAtUnixMs = try row.decode(at: 6)
            status.eventsSeen = try row.decode(at: 7)
            status.meetingsStored = try row.decode(at: 8)
            return status
        }
    }
}
