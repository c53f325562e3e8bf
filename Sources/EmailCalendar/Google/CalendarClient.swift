public import CRM
public import CurlHTTP
public import Foundation

/// The Google Calendar API calls the calendar sync makes on the user's `primary` calendar:
/// `events.list` (full, and incremental from a sync token; recurring events expanded into their
/// instances), `events.watch` and `channels.stop`, `events.insert` with a Meet link.
public struct CalendarClient: Sendable {
    public typealias Failure = ProviderFailure

    /// One pass of `events.list`: the events, and the token the next pass starts from.
    public struct Page: Sendable, Hashable {
        public var events: [CalendarMeeting]
        public var nextSyncToken: String
    }

    /// A notification channel as `events.watch` opened it.
    public struct Channel: Sendable, Hashable {
        public var id: String
        public var resourceID: String
        public var expiration: Date
    }

    let api: GoogleAPI
    /// `https://www.googleapis.com` or a stand-in's equivalent.
    let baseURL: String

    public init(http: HTTPClient, baseURL: String, quota: (limiter: RateLimiter, user: String)? = nil,
                token: @escaping @Sendable () async throws -> String) {
        api = GoogleAPI(http: http, quota: quota, token: token)
        self.baseURL = baseURL
    }

    private var events: String { "\(baseURL)/calendar/v3/calendars/primary/events" }

    /// Every event from `since` (a full sync, cancelled ones included so that what was cancelled
    /// while a token was lost is cancelled here too), or every change after `syncToken`
    /// (incremental; deletions included). Both expand recurring events (`singleEvents`), as they must agree.
    /// - Throws: `.cursorExpired` when Google no longer knows `syncToken` (410): sync in full.
    public func list(syncToken: String?, since: Date) async throws(Failure) -> Page {
        var found: [CalendarMeeting] = []
        var pageToken: String?
        while true {
            var query = "singleEvents=true&maxResults=250"
            if let syncToken {
                query += "&syncToken=\(ProviderCalls.encode(syncToken))"
            } else {
                query += "&showDeleted=true&timeMin=\(ProviderCalls.encode(ProviderCalls.timestamp(since)))"
            }
            if let pageToken { query += "&pageToken=\(ProviderCalls.encode(pageToken))" }
            let json = try await api.json("GET", "\(events)?\(query)", cost: 1)
            found += (json["items"] as? [[String: Any]] ?? []).compactMap(Self.meeting)
            if let next = json["nextPageToken"] as? String {
                pageToken = next
            } else if let token = json["nextSyncToken"] as? String {
                return Page(events: found, nextSyncToken: token)
            } else {
                throw .unavailable("events.list ended without nextSyncToken")
            }
        }
    }

    /// `events.watch` on the primary calendar: pushes go to `address` with `token` (the gateway
    /// endpoint's secret, which it verifies in constant time).
    public func watch(channelID: String, address: String, token: String) async throws(Failure) -> Channel {
        let body = try? JSONSerialization.data(withJSONObject: ["id": channelID, "type": "web_hook", "address": address, "token": token])
        let json = try await api.json("POST", "\(events)/watch", cost: 1, body: body.map { Array($0) })
        guard let resource = json["resourceId"] as? String,
              let expiration = (json["expiration"] as? String).flatMap(Double.init) ?? (json["expiration"] as? Double) else {
            throw .unavailable("events.watch answered without resourceId and expiration")
        }
        return Channel(id: channelID, resourceID: resource, expiration: Date(timeIntervalSince1970: expiration / 1000))
    }

    /// `channels.stop`; a channel Google no longer knows (404) counts as stopped.
    public func stop(_ channel: (id: String, resourceID: String)) async throws(Failure) {
        let body = try? JSONSerialization.data(withJSONObject: ["id": channel.id, "resourceId": channel.resourceID])
        let response = try await api.raw("POST", "\(baseURL)/calendar/v3/channels/stop", cost: 1, body: body.map { Array($0) })
        if response.status == 404 { return }
        try GoogleAPI.check(response)
    }

    /// `events.insert` of a meeting made in the CRM, under the id `eventID` (so a retry cannot
    /// create a second event: Google answers 409 and the existing one is read), with a Meet link
    /// requested (`conferenceDataVersion=1`, `requestId` = `requestID`) and invitations sent.
    public func insert(_ draft: Meetings.Draft, eventID: String, requestID: String) async throws(Failure) -> CalendarMeeting {
        var event = Self.fields(draft, responses: false)
        event["id"] = eventID
        event["conferenceData"] = ["createRequest": ["requestId": requestID, "conferenceSolutionKey": ["type": "hangoutsMeet"]]]
        // A new event has nothing to clear: what the meeting lacks is left out rather than null.
        if draft.description == nil { event["description"] = nil }
        if draft.location == nil { event["location"] = nil }
        let body = try? JSONSerialization.data(withJSONObject: event)
        // (A typed `catch` pattern here crashes the Swift 6.3.1 compiler; a Result does not.)
        let created: Result<[String: Any], Failure>
        do {
            created = .success(try await api.json("POST", "\(events)?conferenceDataVersion=1&sendUpdates=all", cost: 1, body: body.map { Array($0) }, retry: nil))
        } catch {
            created = .failure(error)
        }
        let json: [String: Any]
        switch created {
        case .success(let event): json = event
        case .failure(.conflict): json = try await api.json("GET", "\(events)/\(ProviderCalls.encode(eventID))", cost: 1)  // made by an earlier try
        case .failure(let failure): throw failure
        }
        guard let meeting = Self.meeting(json) else { throw .unavailable("events.insert answered with an event that does not decode") }
        return meeting
    }

    /// `events.patch` of the CRM meeting's event with what the CRM now says (title, times,
    /// description, location, attendees), guests told.
    public func update(_ draft: Meetings.Draft, eventID: String) async throws(Failure) -> CalendarMeeting {
        let event = Self.fields(draft, responses: true)  // an absent description or location is cleared (null)
        let body = try? JSONSerialization.data(withJSONObject: event)
        let json = try await api.json("PATCH", "\(events)/\(ProviderCalls.encode(eventID))?conferenceDataVersion=1&sendUpdates=all", cost: 1,
                                      body: body.map { Array($0) })
        guard let meeting = Self.meeting(json) else { throw .unavailable("events.patch answered with an event that does not decode") }
        return meeting
    }

    /// The event fields a CRM meeting sets: title, times, description and location (null when the
    /// meeting has none), attendees with their names — and their responses, when `responses`.
    static func fields(_ draft: Meetings.Draft, responses: Bool) -> [String: Any] {
        [
            "summary": draft.title, "start": ["dateTime": ProviderCalls.timestamp(draft.startsAt)], "end": ["dateTime": ProviderCalls.timestamp(draft.endsAt)],
            "description": draft.description ?? NSNull(), "location": draft.location ?? NSNull(),
            "attendees": draft.attendees.map { a -> [String: Any] in
                var attendee: [String: Any] = ["email": a.email]
                if let name = a.name { attendee["displayName"] = name }
                if responses { attendee["responseStatus"] = a.response }
                return attendee
            },
        ]
    }

    /// `events.delete` (guests told); an event Google no longer has counts as cancelled.
    public func cancel(eventID: String) async throws(Failure) {
        let response = try await api.raw("DELETE", "\(events)/\(ProviderCalls.encode(eventID))?sendUpdates=all", cost: 1)
        if response.status == 404 || response.status == 410 { return }
        try GoogleAPI.check(response)
    }

    /// A Google Calendar id for a CRM id: base32hex (`0-9a-v`) of its 16 bytes, 26 characters —
    /// what `events.insert` accepts as a client-chosen id.
    public static func eventID(for id: UUID) -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuv")
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        var bits = 0, value = 0, out = ""
        for byte in bytes {
            value = (value << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(value >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(value << (5 - bits)) & 31]) }
        return out
    }

    /// An `Event` resource as the CRM keeps it; nil without an id. All-day events (`date`) start
    /// at midnight UTC and end at the exclusive end date's midnight.
    static func meeting(_ event: [String: Any]) -> CalendarMeeting? {
        guard let id = event["id"] as? String else { return nil }
        if event["status"] as? String == "cancelled" {
            return CalendarMeeting(eventID: id, title: "", startsAt: .distantPast, endsAt: .distantPast, cancelled: true)
        }
        guard let start = time(event["start"]), let end = time(event["end"]) else { return nil }
        let entryPoints = ((event["conferenceData"] as? [String: Any])?["entryPoints"] as? [[String: Any]]) ?? []
        let meet = (event["hangoutLink"] as? String) ?? entryPoints.first { $0["entryPointType"] as? String == "video" }?["uri"] as? String
        let attendees = (event["attendees"] as? [[String: Any]] ?? []).compactMap { a -> CalendarMeeting.Attendee? in
            guard let email = a["email"] as? String, a["resource"] as? Bool != true else { return nil }
            return CalendarMeeting.Attendee(email: email, name: a["displayName"] as? String, response: a["responseStatus"] as? String ?? "needsAction")
        }
        return CalendarMeeting(eventID: id, title: (event["summary"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "(no title)",
                               description: event["description"] as? String, startsAt: start.date, endsAt: max(end.date, start.date),
                               allDay: start.allDay, location: event["location"] as? String, conferenceURL: meet, attendees: attendees)
    }

    /// `{"dateTime": RFC 3339, "timeZone"?}` or `{"date": "YYYY-MM-DD"}`. A `dateTime` without an
    /// offset is read in its `timeZone` (IANA name).
    static func time(_ value: Any?) -> (date: Date, allDay: Bool)? {
        guard let value = value as? [String: Any] else { return nil }
        if let text = value["dateTime"] as? String {
            if let date = ProviderCalls.date(text) { return (date, false) }
            let local = DateFormatter()
            local.locale = Locale(identifier: "en_US_POSIX")
            local.timeZone = (value["timeZone"] as? String).flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")
            local.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
            return local.date(from: String(text.prefix(19))).map { ($0, false) }
        }
        if let text = value["date"] as? String {
            let day = DateFormatter()
            day.locale = Locale(identifier: "en_US_POSIX")
            day.timeZone = TimeZone(identifier: "UTC")
            day.dateFormat = "yyyy-MM-dd"
            return day.date(from: text).map { ($0, true) }
        }
        return nil
    }
}
