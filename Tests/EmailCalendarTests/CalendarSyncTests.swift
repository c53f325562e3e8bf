import CRM
import CurlHTTP
import EmailCalendar
import Foundation
import Gateway
import Messages
import Postgres
import RPC
import TestSupport
import Testing

/// Ana's Google calendar from the stand-in, through the service: events with a CRM contact become
/// meetings with a prep task, moves and cancellations follow, a forgotten sync token costs no
/// duplicate, and a meeting made in the CRM goes to the calendar once, with a Meet link.
@Suite(.hangGuard) struct CalendarSyncTests {
    static let utc: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"
        return f
    }()

    /// Adds an event to Ana's calendar at the stand-in; returns its id.
    static func event(_ s: EmailServiceHarness, _ json: String) async throws -> String {
        let response = try await s.google.post("/_sandbox/google/calendar/events", #"{"user": "ana@nexa-demo.test", "event": \#(json)}"#)
        #expect(response.status == 200)
        return try #require((try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["id"] as? String)
    }

    @Test func eventsWithAContactBecomeMeetingsWithAPrepTaskThatFollowMovesCancellationsAndAForgottenToken() async throws {
        try await EmailServiceHarness.run { s in
            let start = Date().addingTimeInterval(3 * 86_400).rounded(to: 3600)
            let renewal = try await Self.event(s, """
                {"summary": "Renewal call", "description": "Pricing for next year", "location": "Room 4",
                 "start": {"dateTime": "\(Self.utc.string(from: start))"}, "end": {"dateTime": "\(Self.utc.string(from: start + 1800))"},
                 "attendees": [{"email": "Buyer@example.com", "displayName": "Bea Buyer", "responseStatus": "accepted"}, {"email": "ana@nexa-demo.test"}],
                 "conferenceData": {"createRequest": {"requestId": "r1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}}
                """)
            _ = try await Self.event(s, """
                {"summary": "Lunch", "start": {"dateTime": "2099-01-01T12:00:00Z"}, "end": {"dateTime": "2099-01-01T13:00:00Z"},
                 "attendees": [{"email": "friend@elsewhere.test"}]}
                """)
            _ = try await Self.event(s, """
                {"summary": "Offsite with Buyer", "start": {"date": "2099-03-10"}, "end": {"date": "2099-03-12"}, "attendees": [{"email": "buyer@example.com"}]}
                """)
            #expect(try await s.deliverQueued("connection.created") == 1)

            let meeting = try #require(try await s.db.query("""
                SELECT id, title, description, location, starts_at, ends_at, conference_url, account_id IS NULL, status, source, last_synced_at IS NOT NULL
                FROM meetings WHERE workspace_id = \(s.workspace) AND calendar_event_id = \(renewal)
                """).first)
            let meetingID: UUID = try meeting.decode(at: 0)
            #expect(try meeting.decode(String.self, at: 1) == "Renewal call" && meeting.decode(String.self, at: 2) == "Pricing for next year")
            #expect(try meeting.decode(String.self, at: 3) == "Room 4" && meeting.decode(Date.self, at: 4) == start && meeting.decode(Date.self, at: 5) == start + 1800)
            #expect(try meeting.decode(String.self, at: 6).hasPrefix("https://meet.google.com/"))
            #expect(try meeting.decode(String.self, at: 8) == "confirmed" && meeting.decode(String.self, at: 9) == "google_calendar" && meeting.decode(Bool.self, at: 10))
            let attendees = try await s.db.query("""
                SELECT email::text, name, response, contact_id IS NOT NULL FROM meeting_attendees WHERE meeting_id = \(meetingID) ORDER BY email
                """).map { "\(try $0.decode(String.self, at: 0)) \(try $0.decodeIfPresent(String.self, at: 1) ?? "-") \(try $0.decode(String.self, at: 2)) \(try $0.decode(Bool.self, at: 3))" }
            #expect(attendees == ["ana@nexa-demo.test - needsAction false", "buyer@example.com Bea Buyer accepted true"])
            func task() async throws -> (title: String, due: Date, status: String) {
                let row = try await s.db.query("SELECT title, due_at, status FROM tasks WHERE meeting_id = \(meetingID) AND kind = 'meeting_prep'")
                #expect(row.count == 1)
                return (try row[0].decode(at: 0), try row[0].decode(at: 1), try row[0].decode(at: 2))
            }
            #expect(try await task() == ("Prepare for: Renewal call", start - 3600, "open"))
            // The stranger's lunch is not stored; the all-day offsite is, whole days, end exclusive.
            let titles = try await s.db.query("SELECT title, all_day, starts_at, ends_at FROM meetings WHERE workspace_id = \(s.workspace) ORDER BY title")
            #expect(try titles.map { try $0.decode(String.self, at: 0) } == ["Offsite with Buyer", "Renewal call"])
            #expect(try titles[0].decode(Bool.self, at: 1) && titles[0].decode(Date.self, at: 2) == Self.utc.date(from: "2099-03-10T00:00:00Z")!)
            #expect(try titles[0].decode(Date.self, at: 3) == Self.utc.date(from: "2099-03-12T00:00:00Z")!)

            // Moved two hours later: the meeting and its prep task move.
            _ = try await s.google.http.execute(HTTPClientRequest(method: "PATCH", url: s.google.base + "/_sandbox/google/calendar/events/\(renewal)",
                                                                 headers: [.init("Content-Type", "application/json")], body: Array("""
                {"user": "ana@nexa-demo.test", "changes": {"start": {"dateTime": "\(Self.utc.string(from: start + 7200))"}, "end": {"dateTime": "\(Self.utc.string(from: start + 9000))"}}}
                """.utf8)))
            try await s.calendarPush()
            #expect(try await s.db.query("SELECT starts_at FROM meetings WHERE id = \(meetingID)")[0].decode(Date.self, at: 0) == start + 7200)
            #expect(try await task().due == start + 3600)

            // Google forgot the sync token: a full sync, and still one meeting per event.
            _ = try await s.google.post("/_sandbox/google/calendar/expire-sync-tokens", "{}")
            try await s.calendarPush()
            #expect(try await s.db.query("SELECT count(*) FROM meetings WHERE workspace_id = \(s.workspace)")[0].decode(Int.self, at: 0) == 2)
            let status = try #require(try await s.email.getSyncStatus(.init(), options: s.user).calendars.first)
            #expect(status.state == "active" && status.failureClass == "" && status.meetingsStored == 2 && status.channelExpiresAtUnixMs > 0)

            // The gateway's tick: a channel near its end is replaced by a new one (the old one stopped at Google).
            let old = try await s.db.query("UPDATE calendars SET channel_expires_at = now() + interval '1 hour' RETURNING channel_id")[0].decode(String.self, at: 0)
            #expect(try await s.connections.enqueueTicks(provider: "google") == 1)
            #expect(try await s.deliverQueued("sync.tick") == 1)
            let renewed = try await s.db.query("SELECT channel_id, channel_expires_at > now() + interval '6 days' FROM calendars")[0]
            #expect(try renewed.decode(String.self, at: 0) != old && renewed.decode(Bool.self, at: 1))

            // Cancelled: the meeting is cancelled and its prep task closed.
            _ = try await s.google.http.execute(HTTPClientRequest(method: "DELETE", url: s.google.base + "/_sandbox/google/calendar/events/\(renewal)?user=ana@nexa-demo.test"))
            try await s.calendarPush()
            #expect(try await s.db.query("SELECT status FROM meetings WHERE id = \(meetingID)")[0].decode(String.self, at: 0) == "cancelled")
            #expect(try await task().status == "cancelled")
        }
    }

    @Test func eachInstanceOfARecurringEventIsAMeetingAndCancellingTheSeriesCancelsThemAll() async throws {
        try await EmailServiceHarness.run { s in
            let start = Date().addingTimeInterval(86_400).rounded(to: 3600)
            let series = try await Self.event(s, """
                {"summary": "Weekly sync", "start": {"dateTime": "\(Self.utc.string(from: start))", "timeZone": "Europe/Berlin"},
                 "end": {"dateTime": "\(Self.utc.string(from: start + 1800))", "timeZone": "Europe/Berlin"},
                 "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"], "attendees": [{"email": "buyer@example.com"}]}
                """)
            try await s.deliverQueued("connection.created")
            let meetings = try await s.db.query("""
                SELECT calendar_event_id, starts_at, (SELECT due_at FROM tasks t WHERE t.meeting_id = m.id) FROM meetings m
                WHERE workspace_id = \(s.workspace) ORDER BY starts_at
                """)
            #expect(meetings.count == 3)
            for (n, meeting) in meetings.enumerated() {
                let begins = start + TimeInterval(n * 7 * 86_400)
                #expect(try meeting.decode(String.self, at: 0).hasPrefix(series + "_") && meeting.decode(Date.self, at: 1) == begins)
                #expect(try meeting.decode(Date.self, at: 2) == begins - 3600)
            }
            _ = try await s.google.http.execute(HTTPClientRequest(method: "DELETE", url: s.google.base + "/_sandbox/google/calendar/events/\(series)?user=ana@nexa-demo.test"))
            try await s.calendarPush()
            #expect(try await s.db.query("SELECT count(*) FROM meetings WHERE workspace_id = \(s.workspace) AND status = 'cancelled'")[0].decode(Int.self, at: 0) == 3)
            #expect(try await s.db.query("SELECT count(*) FROM tasks WHERE workspace_id = \(s.workspace) AND status = 'cancelled'")[0].decode(Int.self, at: 0) == 3)
        }
    }

    @Test func aMeetingMadeInTheCRMGoesToTheCalendarOnceWithAMeetLinkAndItsEventComesBackAsTheSameMeeting() async throws {
        try await EmailServiceHarness.run { s in
            try await s.deliverQueued("connection.created")
            let start = Date().addingTimeInterval(86_400).rounded(to: 3600)
            let meeting = try await s.db.withConnection { c in
                try await Records.addMeeting(title: "Kickoff", startsAt: start, endsAt: start + 3600, attendees: ["buyer@example.com"], workspace: s.workspace, in: c)
            }
            var request = EmailCalendarV1.CreateMeetingRequest()
            request.meetingID = meeting.uuidString
            let created = try await s.email.createMeeting(request, options: s.user)
            #expect(created.eventID == CalendarClient.eventID(for: meeting) && created.conferenceURL.hasPrefix("https://meet.google.com/"))
            #expect(try await s.email.createMeeting(request, options: s.user).eventID == created.eventID)  // once

            // The event at Google: attendees invited, a Meet link, under the id derived from the meeting's.
            let token = try await s.google.token()
            let event = try await s.google.http.execute(HTTPClientRequest(
                url: s.google.base + "/google/www/calendar/v3/calendars/primary/events/\(created.eventID)", headers: [.init("Authorization", "Bearer \(token)")]))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(event.body)) as? [String: Any])
            #expect(json["summary"] as? String == "Kickoff" && json["hangoutLink"] as? String == created.conferenceURL)
            #expect((json["attendees"] as? [[String: Any]])?.compactMap { $0["email"] as? String } == ["buyer@example.com"])

            // The notification for our own event updates the same meeting (the buyer accepted), no second one.
            _ = try await s.google.http.execute(HTTPClientRequest(method: "PATCH", url: s.google.base + "/_sandbox/google/calendar/events/\(created.eventID)",
                                                                 headers: [.init("Content-Type", "application/json")], body: Array("""
                {"user": "ana@nexa-demo.test", "changes": {"attendees": [{"email": "buyer@example.com", "responseStatus": "accepted"}]}}
                """.utf8)))
            try await s.calendarPush()
            #expect(try await s.db.query("SELECT count(*) FROM meetings WHERE workspace_id = \(s.workspace)")[0].decode(Int.self, at: 0) == 1)
            #expect(try await s.db.query("SELECT response FROM meeting_attendees WHERE meeting_id = \(meeting)")[0].decode(String.self, at: 0) == "accepted")
            #expect(try await s.db.query("SELECT conference_url FROM meetings WHERE id = \(meeting)")[0].decode(String.self, at: 0) == created.conferenceURL)

            request.meetingID = UUID().uuidString
            await #expect(throws: RPCError.self) { _ = try await s.email.createMeeting(request, options: s.user) }
        }
    }

    @Test func meetingsMadeMovedAndCancelledInTheCRMFollowToTheCalendarThroughTheGatewaysRelay() async throws {
        try await EmailServiceHarness.run { s in
            try await s.deliverQueued("connection.created")
            let relay = CRMChangeRelay(db: s.db, logger: TestDatabase.logger)
            let start = Date().addingTimeInterval(2 * 86_400).rounded(to: 3600)
            let meeting = try await s.db.withConnection { c in
                try await Records.addMeeting(title: "Demo", startsAt: start, endsAt: start + 1800, attendees: ["buyer@example.com"], workspace: s.workspace, in: c)
            }
            // The CRM's change feed → the gateway's inbox (once, however often the relay runs) → the service.
            #expect(await relay.relayDue() == 1)
            #expect(await relay.relayDue() == 0)
            #expect(try await s.deliverQueued("meeting.changed") == 1)
            let event = try #require(try await s.db.query("SELECT calendar_event_id FROM meetings WHERE id = \(meeting)")[0].decodeIfPresent(String.self, at: 0))
            #expect(event == CalendarClient.eventID(for: meeting))
            let token = try await s.google.token()
            func atGoogle() async throws -> [String: Any] {
                let response = try await s.google.http.execute(HTTPClientRequest(
                    url: s.google.base + "/google/www/calendar/v3/calendars/primary/events/\(event)", headers: [.init("Authorization", "Bearer \(token)")]))
                return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            }
            #expect(try await atGoogle()["summary"] as? String == "Demo")

            // Moved an hour later in the CRM: the event moves.
            try await s.db.execute("UPDATE meetings SET starts_at = starts_at + interval '1 hour', ends_at = ends_at + interval '1 hour' WHERE id = \(meeting)")
            #expect(await relay.relayDue() == 1)
            #expect(try await s.deliverQueued("meeting.changed") == 1)
            let moved = try await atGoogle()["start"] as? [String: Any]
            #expect((moved?["dateTime"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) } == start + 3600)

            // Cancelled in the CRM: the event is cancelled.
            try await s.db.execute("UPDATE meetings SET status = 'cancelled' WHERE id = \(meeting)")
            #expect(await relay.relayDue() == 1)
            #expect(try await s.deliverQueued("meeting.changed") == 1)
            #expect(try await atGoogle()["status"] as? String == "cancelled")
        }
    }
}

extension Date {
    /// This time rounded down to a multiple of `seconds` since 1970 (whole seconds, as Google keeps times).
    func rounded(to seconds: TimeInterval) -> Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 / seconds).rounded(.down) * seconds)
    }
}
