public import Foundation
public import Postgres

/// A meeting as a provider calendar has it (an event), in the CRM's terms.
public struct CalendarMeeting: Sendable, Hashable {
    public struct Attendee: Sendable, Hashable {
        public var email: String
        public var name: String?
        /// `needsAction`, `accepted`, `tentative` or `declined`.
        public var response: String

        public init(email: String, name: String? = nil, response: String = "needsAction") {
            self.email = email
            self.name = name
            self.response = response
        }
    }

    /// The provider's event id.
    public var eventID: String
    public var title: String
    public var description: String?
    public var startsAt: Date
    public var endsAt: Date
    /// A whole-day event: `startsAt` and `endsAt` are midnights (UTC) and the end is exclusive.
    public var allDay: Bool
    public var location: String?
    public var conferenceURL: String?
    public var attendees: [Attendee]
    /// Deleted or cancelled at the provider.
    public var cancelled: Bool

    public init(eventID: String, title: String, description: String? = nil, startsAt: Date, endsAt: Date, allDay: Bool = false,
                location: String? = nil, conferenceURL: String? = nil, attendees: [Attendee] = [], cancelled: Bool = false) {
        self.eventID = eventID
        self.title = title
        self.description = description
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.allDay = allDay
        self.location = location
        self.conferenceURL = conferenceURL
        self.attendees = attendees
        self.cancelled = cancelled
    }
}

/// Meetings kept in step with a provider calendar (the seed's `Meeting.upsert`): one meeting per
/// event, its attendees linked to the workspace's contacts and leads, the account of the first
/// contact, and a prep task ("Prepare for: …") due an hour before it starts that moves with it and
/// closes when it is cancelled.
public enum Meetings {
    /// The kind of the prep task.
    public static let prepTaskKind = "meeting_prep"

    public enum Outcome: Sendable, Hashable {
        case created(UUID)
        case updated(UUID)
        case cancelled(UUID)
        /// Nobody on it is a contact or a lead, and the CRM has no meeting for it: not stored.
        case noParticipant
        /// Cancelled, and the CRM never had it.
        case unknownCancelled
    }

    /// Applies `meeting` as read from a calendar (`source`, e.g. `google_calendar`) in the caller's
    /// transaction. A meeting the CRM made there (found by its event id) is updated in place.
    /// - Parameter assignee: the calendar owner's user, who gets the prep task.
    public static func sync(_ meeting: CalendarMeeting, source: String, assignee: UUID?, workspace: UUID,
                            in db: PostgresConnectionHandle) async throws -> Outcome {
        let existing = try await db.query("""
            SELECT id FROM meetings WHERE workspace_id = \(workspace) AND calendar_event_id = \(meeting.eventID) FOR UPDATE
            """).first.map { try $0.decode(UUID.self, at: 0) }
        if meeting.cancelled {
            guard let existing else { return .unknownCancelled }
            try await db.execute("""
                UPDATE meetings SET status = 'cancelled', last_synced_at = now(), updated_at = now() WHERE id = \(existing) AND workspace_id = \(workspace)
                """)
            try await db.execute("""
                UPDATE tasks SET status = 'cancelled' WHERE workspace_id = \(workspace) AND meeting_id = \(existing) AND kind = \(prepTaskKind) AND status = 'open'
                """)
            return .cancelled(existing)
        }
        let found = try await People.find(emails: meeting.attendees.map(\.email), workspace: workspace, in: db)
        let people = meeting.attendees.flatMap { found[EmailAddresses.normalize($0.email) ?? $0.email] ?? [] }
        if existing == nil, people.isEmpty { return .noParticipant }
        let firstContact = people.first { $0.kind == .contact }
        let id = existing ?? UUID()
        if existing == nil {
            try await db.execute("""
                INSERT INTO meetings (id, workspace_id, title, description, starts_at, ends_at, all_day, location, conference_url, status, source,
                                      external_id, calendar_event_id, account_id, last_synced_at)
                VALUES (\(id), \(workspace), \(meeting.title), \(meeting.description), \(meeting.startsAt), \(meeting.endsAt), \(meeting.allDay),
                        \(meeting.location), \(meeting.conferenceURL), 'confirmed', \(source), \(meeting.eventID), \(meeting.eventID),
                        \(firstContact?.account), now())
                """)
        } else {
            try await db.execute("""
                UPDATE meetings SET title = \(meeting.title), description = \(meeting.description), starts_at = \(meeting.startsAt),
                  ends_at = \(meeting.endsAt), all_day = \(meeting.allDay), location = \(meeting.location),
                  conference_url = coalesce(\(meeting.conferenceURL), conference_url), status = 'confirmed',
                  account_id = coalesce(\(firstContact?.account), account_id), last_synced_at = now(), updated_at = now()
                WHERE id = \(id) AND workspace_id = \(workspace)
                """)
        }
        try await db.execute("DELETE FROM meeting_attendees WHERE workspace_id = \(workspace) AND meeting_id = \(id)")
        for attendee in meeting.attendees {
            guard let email = EmailAddresses.normalize(attendee.email) else { continue }
            let matches = found[email] ?? []
            try await db.execute("""
                INSERT INTO meeting_attendees (workspace_id, meeting_id, email, name, response, contact_id, lead_id)
                VALUES (\(workspace), \(id), \(email), \(attendee.name), \(attendee.response),
                        \(matches.first { $0.kind == .contact }?.id), \(matches.first { $0.kind == .lead }?.id))
                ON CONFLICT DO NOTHING
                """)
        }
        // The prep task follows the meeting: created once, moved with it, reopened if it comes back.
        let due = meeting.startsAt.addingTimeInterval(-3600)
        try await db.execute("""
            INSERT INTO tasks (id, workspace_id, kind, title, due_at, due_date, assignee_user_id, account_id, contact_id, meeting_id)
            VALUES (\(UUID()), \(workspace), \(prepTaskKind), \("Prepare for: " + meeting.title), \(due), (\(due)::timestamptz AT TIME ZONE 'UTC')::date,
                    \(assignee), \(firstContact?.account), \(firstContact?.id), \(id))
            ON CONFLICT (workspace_id, meeting_id, kind) WHERE meeting_id IS NOT NULL DO UPDATE SET
              title = EXCLUDED.title, due_at = EXCLUDED.due_at, due_date = EXCLUDED.due_date,
              status = CASE WHEN tasks.status = 'cancelled' THEN 'open' ELSE tasks.status END
            """)
        return existing == nil ? .created(id) : .updated(id)
    }

    /// A meeting made in the CRM, as a calendar needs it to create the event.
    public struct Draft: Sendable, Hashable {
        public var id: UUID
        public var title: String
        public var description: String?
        public var startsAt: Date
        public var endsAt: Date
        public var location: String?
        public var attendees: [CalendarMeeting.Attendee]
        /// Set once a calendar has the event.
        public var calendarEventID: String?
        public var conferenceURL: String?
        /// `confirmed` or `cancelled`.
        public var status: String
        /// Nil for a meeting made in the CRM; the calendar's name for one read from a calendar.
        public var source: String?
    }

    /// The meeting `id` of `workspace`, or nil.
    public static func draft(_ id: UUID, workspace: UUID, in db: PostgresConnectionHandle) async throws -> Draft? {
        guard let row = try await db.query("""
            SELECT title, description, starts_at, ends_at, location, calendar_event_id, conference_url, status, source
            FROM meetings WHERE id = \(id) AND workspace_id = \(workspace)
            """).first else { return nil }
        let attendees = try await db.query("""
            SELECT m.email::text, coalesce(m.name, nullif(trim(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')), '')), m.response
            FROM meeting_attendees m LEFT JOIN contacts c ON c.id = m.contact_id AND c.workspace_id = m.workspace_id
            WHERE m.workspace_id = \(workspace) AND m.meeting_id = \(id) ORDER BY m.email
            """).map { CalendarMeeting.Attendee(email: try $0.decode(at: 0), name: try $0.decodeIfPresent(String.self, at: 1), response: try $0.decode(at: 2)) }
        return Draft(id: id, title: try row.decode(at: 0), description: try row.decodeIfPresent(String.self, at: 1), startsAt: try row.decode(at: 2),
                     endsAt: try row.decode(at: 3), location: try row.decodeIfPresent(String.self, at: 4), attendees: attendees,
                     calendarEventID: try row.decodeIfPresent(String.self, at: 5), conferenceURL: try row.decodeIfPresent(String.self, at: 6),
                     status: try row.decode(at: 7), source: try row.decodeIfPresent(String.self, at: 8))
    }

    /// Records that a calendar has the CRM's meeting `id` as `eventID`, with its conference link.
    public static func linkEvent(_ id: UUID, eventID: String, conferenceURL: String?, workspace: UUID, in db: PostgresConnectionHandle) async throws {
        try await db.execute("""
            UPDATE meetings SET calendar_event_id = \(eventID), conference_url = coalesce(\(conferenceURL), conference_url), last_synced_at = now()
            WHERE id = \(id) AND workspace_id = \(workspace)
            """)
    }
}
