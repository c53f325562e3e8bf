import CurlHTTP
import Foundation
import Sandbox
import SandboxMicrosoft
import TestSupport
import Testing

/// Outlook calendar over the Graph stand-in: events with Teams links and idempotent creation,
/// Windows and IANA time zones, all-day rules, and calendarView delta rounds over a fixed window.
@Suite(.hangGuard) struct GraphCalendarTests {
    @Test func eventsZonesTeamsLinksAndTransactionIDs() async throws {
        try await GraphMailTests.withGraph { g in
            let event = """
                {"subject": "Demo", "body": {"contentType": "HTML", "content": "Agenda"},
                 "start": {"dateTime": "2030-05-01T10:00:00", "timeZone": "W. Europe Standard Time"},
                 "end": {"dateTime": "2030-05-01T10:30:00", "timeZone": "W. Europe Standard Time"},
                 "attendees": [{"emailAddress": {"address": "bob@example.org", "name": "Bob"}, "type": "required"}],
                 "isOnlineMeeting": true, "onlineMeetingProvider": "teamsForBusiness", "transactionId": "crm-demo-1"}
                """
            let created = try await g.post("/me/events", event)
            #expect(created.status == 201)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(created.body)) as? [String: Any])
            let id = try #require(json["id"] as? String)
            #expect(((json["onlineMeeting"] as? [String: Any])?["joinUrl"] as? String)?.hasPrefix("https://teams.microsoft.com/l/meetup-join/") == true)
            // Answered in UTC: 10:00 in Berlin in May is 08:00 UTC.
            #expect((json["start"] as? [String: Any])?["dateTime"] as? String == "2030-05-01T08:00:00.0000000")
            #expect((json["start"] as? [String: Any])?["timeZone"] as? String == "UTC" && json["originalStartTimeZone"] as? String == "W. Europe Standard Time")
            #expect(((json["attendees"] as? [[String: Any]])?.first?["status"] as? [String: Any])?["response"] as? String == "none")
            // The same transactionId again: the first event, not a second.
            let retried = try #require(try JSONSerialization.jsonObject(with: Data(try await g.post("/me/events", event).body)) as? [String: Any])
            #expect(retried["id"] as? String == id)
            #expect((try await g.get("/me/events").json["value"] as? [[String: Any]])?.count == 1)
            // In the zone the caller prefers (an IANA name here).
            let local = try await g.get("/me/events/\(id)", prefer: "outlook.timezone=\"America/New_York\"")
            #expect((local.json["start"] as? [String: Any])?["dateTime"] as? String == "2030-05-01T04:00:00.0000000")

            // All-day events start and end at midnights.
            let allDay = try await g.post("/me/events", """
                {"subject": "Offsite", "isAllDay": true, "start": {"dateTime": "2030-06-01T00:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-06-03T00:00:00", "timeZone": "UTC"}}
                """)
            #expect(allDay.status == 201)
            let crooked = try await g.post("/me/events", """
                {"subject": "Offsite", "isAllDay": true, "start": {"dateTime": "2030-06-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-06-02T00:00:00", "timeZone": "UTC"}}
                """)
            #expect(crooked.status == 400 && crooked.bodyText.contains("ErrorPropertyValidationFailure"))
            #expect(try await g.post("/me/events", #"{"subject": "x", "start": {"dateTime": "2030-01-01T00:00:00", "timeZone": "Mars/Olympus"}, "end": {"dateTime": "2030-01-01T01:00:00", "timeZone": "UTC"}}"#).status == 400)
        }
    }

    @Test func calendarViewDeltaKeepsItsWindowAndReportsMovesAndRemovals() async throws {
        try await GraphMailTests.withGraph { g in
            func add(_ subject: String, _ start: String, _ end: String) async throws -> String {
                let response = try await g.post("/calendar/events", """
                    {"organizer": "bob@example.org", "event": {"subject": "\(subject)", "start": {"dateTime": "\(start)", "timeZone": "UTC"},
                     "end": {"dateTime": "\(end)", "timeZone": "UTC"}, "attendees": [{"emailAddress": {"address": "ana@nexa-demo.test"}}]}}
                    """, control: true)
                return try #require((try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["id"] as? String)
            }
            let inside = try await add("Inside", "2030-03-10T09:00:00", "2030-03-10T10:00:00")
            _ = try await add("Outside", "2031-01-10T09:00:00", "2031-01-10T10:00:00")
            let start = g.base + "/graph/v1.0/me/calendarView/delta?startDateTime=2030-01-01T00:00:00Z&endDateTime=2030-12-31T00:00:00Z"
            let initial = try await g.deltaRound(start)
            #expect(initial.entries.compactMap { $0["subject"] as? String } == ["Inside"])
            #expect(initial.entries.first?["isOrganizer"] as? Bool == false)

            // Moved within the window: the next round has it, with its new time.
            #expect(try await g.http.execute(.json(g.base.replacingOccurrences(of: "/microsoft", with: "/_sandbox/microsoft") + "/calendar/events/\(inside)",
                                                   Array(#"{"start": {"dateTime": "2030-03-11T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-03-11T10:00:00", "timeZone": "UTC"}}"#.utf8),
                                                   method: "PATCH")).status == 204)
            let moved = try await g.deltaRound(initial.deltaLink)
            #expect((moved.entries.first?["start"] as? [String: Any])?["dateTime"] as? String == "2030-03-11T09:00:00.0000000")
            // Cancelled by its organizer: removed.
            #expect(try await g.http.execute(HTTPClientRequest(method: "DELETE", url: g.base.replacingOccurrences(of: "/microsoft", with: "/_sandbox/microsoft") + "/calendar/events/\(inside)")).status == 204)
            let removed = try await g.deltaRound(moved.deltaLink)
            #expect(removed.entries.count == 1 && removed.entries.first?["@removed"] != nil && removed.entries.first?["id"] as? String == inside)
            // A window is needed to start; a forgotten token is gone.
            #expect(try await g.get("/me/calendarView/delta").status == 400)
            #expect(try await g.post("/calendar/expire-delta", "{}", control: true).status == 204)
            #expect(try await g.get(removed.deltaLink).status == 410)
        }
    }
}
