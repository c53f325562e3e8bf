import Cryptography
import Foundation
import HTTPTypes
import Hummingbird
import Sandbox
import Synchronization

/// Outlook calendar over Graph v1.0 as Microsoft documents it: `GET /me/events` and
/// `/me/events/{id}`, `GET /me/calendarView/delta?startDateTime=&endDateTime=` (the window fixed
/// by the first request and carried by the links, `@removed` for deleted events), `POST /me/events`
/// (`transactionId` makes a retried create return the first event; `isOnlineMeeting` with
/// `teamsForBusiness` gives an `onlineMeeting.joinUrl`), `PATCH`, `DELETE` and `POST …/cancel`.
/// Times are `dateTime` without an offset plus `timeZone` (Windows or IANA names); answers are in
/// UTC unless `Prefer: outlook.timezone` names another zone. All-day events start and end at
/// midnights.
final class GraphCalendar: Sendable {
    struct Event: Sendable {
        var id: String
        var json: JSON
        var start: Date
        var end: Date
        var order: Int
    }

    private struct State {
        var events: [String: Event] = [:]
        var log = ChangeLog()
        var counter = 0
    }

    private let state = Mutex(State())
    let identity: IdentityStore
    let owner: String
    let subscriptions: GraphSubscriptions

    init(identity: IdentityStore, owner: String, subscriptions: GraphSubscriptions) {
        self.identity = identity
        self.owner = owner
        self.subscriptions = subscriptions
    }

    /// Windows time zone names Outlook uses, and their IANA equivalents (the common ones).
    static let windowsZones: [String: String] = [
        "UTC": "UTC", "GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin", "Romance Standard Time": "Europe/Paris",
        "Central Europe Standard Time": "Europe/Budapest", "E. Europe Standard Time": "Europe/Chisinau", "FLE Standard Time": "Europe/Kiev",
        "Eastern Standard Time": "America/New_York", "Central Standard Time": "America/Chicago", "Mountain Standard Time": "America/Denver",
        "Pacific Standard Time": "America/Los_Angeles", "Tokyo Standard Time": "Asia/Tokyo", "India Standard Time": "Asia/Kolkata",
        "China Standard Time": "Asia/Shanghai", "AUS Eastern Standard Time": "Australia/Sydney", "Singapore Standard Time": "Asia/Singapore",
    ]

    static func zone(_ name: String) -> TimeZone? {
        TimeZone(identifier: windowsZones[name] ?? name)
    }

    func addRoutes(to group: RouterGroup<SandboxContext>) {
        @Sendable func authorized(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
            if let refusal = identity.refusal(request) { return refusal }
            do { return try await body() } catch let failure as GraphMail.Failure { return failure.response }
        }
        group.get("graph/v1.0/me/events") { r, _ in
            try await authorized(r) {
                let all = self.state.withLock { $0.events.values.sorted { ($0.start, $0.order) < ($1.start, $1.order) } }
                return .json(["@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('me')/events",
                              "value": .array(all.map { self.render($0, r) })])
            }
        }
        group.get("graph/v1.0/me/events/:id") { r, c in
            try await authorized(r) {
                guard let event = self.event(try c.parameters.require("id")) else { throw Self.notFound() }
                return .json(self.render(event, r))
            }
        }
        group.get("graph/v1.0/me/calendarView/delta") { r, _ in try await authorized(r) { try self.delta(r) } }
        group.post("graph/v1.0/me/events") { r, _ in
            var r = r
            let body = await r.jsonBody(upTo: 1 << 20)
            return try await authorized(r) {
                let (event, created) = try self.create(body ?? .null, organizer: self.owner)
                if created { await self.subscriptions.eventChanged(id: event.id, change: "created") }
                return .json(self.render(event, r), status: .created)
            }
        }
        group.patch("graph/v1.0/me/events/:id") { r, c in
            var r = r
            let body = await r.jsonBody(upTo: 1 << 20)
            return try await authorized(r) {
                let event = try self.update(try c.parameters.require("id"), body ?? .null)
                await self.subscriptions.eventChanged(id: event.id, change: "updated")
                return .json(self.render(event, r))
            }
        }
        group.delete("graph/v1.0/me/events/:id") { r, c in
            try await authorized(r) {
                let id = try c.parameters.require("id")
                guard self.remove(id) else { throw Self.notFound() }
                await self.subscriptions.eventChanged(id: id, change: "deleted")
                return Response(status: .noContent)
            }
        }
        group.post("graph/v1.0/me/events/:id/cancel") { r, c in
            try await authorized(r) {
                let id = try c.parameters.require("id")
                guard self.remove(id) else { throw Self.notFound() }  // the organizer's copy is removed; attendees are told
                await self.subscriptions.eventChanged(id: id, change: "deleted")
                return Response(status: .accepted)
            }
        }
    }

    static func notFound() -> GraphMail.Failure {
        GraphMail.Failure(response: GraphMail.error(.notFound, "ErrorItemNotFound", "The specified object was not found in the store."))
    }

    private static func invalid(_ message: String) -> GraphMail.Failure {
        GraphMail.Failure(response: GraphMail.error(.badRequest, "ErrorInvalidRequest", message))
    }

    func event(_ id: String) -> Event? { state.withLock { $0.events[id] } }

    var sequence: Int { state.withLock { $0.log.sequence } }

    func expireDeltaTokens() { state.withLock { $0.log.expire() } }

    /// `{"dateTime": "2024-05-01T10:00:00", "timeZone": "W. Europe Standard Time"}` as a time.
    static func time(_ value: JSON) -> Date? {
        guard let text = value["dateTime"].stringValue, let zone = zone(value["timeZone"].stringValue ?? "UTC") else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return f.date(from: String(text.prefix(19)))
    }

    /// Creates an event (a retried create with the same `transactionId` returns the first).
    func create(_ body: JSON, organizer: String) throws -> (Event, created: Bool) {
        guard body.objectValue != nil else { throw Self.invalid("Empty Payload. JSON content expected.") }
        if let transaction = body["transactionId"].stringValue,
           let existing = state.withLock({ $0.events.values.first { $0.json["transactionId"].stringValue == transaction } }) {
            return (existing, false)
        }
        guard let start = Self.time(body["start"]), let end = Self.time(body["end"]) else {
            throw Self.invalid("start and end need a dateTime and a known timeZone.")
        }
        guard end >= start else { throw Self.invalid("The end of the event must be after its start.") }
        if body["isAllDay"].boolValue == true {
            let zone = Self.zone(body["start"]["timeZone"].stringValue ?? "UTC") ?? TimeZone(identifier: "UTC")!
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            guard calendar.startOfDay(for: start) == start, calendar.startOfDay(for: end) == end, end > start else {
                throw GraphMail.Failure(response: GraphMail.error(.badRequest, "ErrorPropertyValidationFailure",
                                                                  "An all-day event's start and end must be midnights, at least a day apart."))
            }
        }
        return state.withLock { s in
            s.counter += 1
            let id = "AAMkAGI2TG93AAA=" + Digest.base64URL(Array("event-\(s.counter)".utf8))
            var json = body
            json["id"] = .string(id)
            json["iCalUId"] = .string("040000008200E00074C5B7101A82E00800000000" + Digest.hex(Array("ical-\(s.counter)".utf8)))
            json["organizer"] = ["emailAddress": ["name": "Ana Demo", "address": .string(organizer)]]
            json["isOrganizer"] = .bool(organizer == owner)
            json["originalStartTimeZone"] = body["start"]["timeZone"]
            json["originalEndTimeZone"] = body["end"]["timeZone"]
            json["createdDateTime"] = .string(GraphSubscriptions.stamp(Date()))
            json["attendees"] = .array((body["attendees"].arrayValue ?? []).map { a in
                var a = a
                if a["type"] == .null { a["type"] = "required" }
                if a["status"] == .null { a["status"] = ["response": "none", "time": "0001-01-01T00:00:00Z"] }
                return a
            })
            if body["isOnlineMeeting"].boolValue == true, (body["onlineMeetingProvider"].stringValue ?? "teamsForBusiness") == "teamsForBusiness" {
                let thread = Digest.hex(Array("meeting-\(s.counter)".utf8))
                json["onlineMeeting"] = ["joinUrl": .string("https://teams.microsoft.com/l/meetup-join/19%3ameeting_\(thread)%40thread.v2/0?context=%7b%22Tid%22%3a%229188040d%22%7d")]
                json["onlineMeetingProvider"] = "teamsForBusiness"
            }
            let event = Event(id: id, json: json, start: start, end: end, order: s.counter)
            s.events[id] = event
            s.log.record(id, in: "events")
            return (event, true)
        }
    }

    /// `PATCH`: the given properties replace the event's.
    func update(_ id: String, _ changes: JSON) throws -> Event {
        guard let fields = changes.objectValue else { throw Self.invalid("Empty Payload. JSON content expected.") }
        let start = changes["start"] == .null ? nil : Self.time(changes["start"])
        let end = changes["end"] == .null ? nil : Self.time(changes["end"])
        if (changes["start"] != .null && start == nil) || (changes["end"] != .null && end == nil) {
            throw Self.invalid("start and end need a dateTime and a known timeZone.")
        }
        return try state.withLock { s in
            guard var event = s.events[id] else { throw Self.notFound() }
            for (key, value) in fields where !["id", "iCalUId", "organizer", "createdDateTime"].contains(key) { event.json[key] = value }
            event.start = start ?? event.start
            event.end = end ?? event.end
            s.events[id] = event
            s.log.record(id, in: "events")
            return event
        }
    }

    func remove(_ id: String) -> Bool {
        state.withLock { s in
            guard s.events.removeValue(forKey: id) != nil else { return false }
            s.log.record(id, in: "events", removed: true)
            return true
        }
    }

    /// `calendarView/delta`: events overlapping the window of the round's first request.
    private func delta(_ request: Request) throws -> Response {
        let q = request.uri.queryParameters
        let log = state.withLock { $0.log }
        let position = try GraphDelta.position(request, isKnown: log.isKnown, current: log.sequence) {
            guard let start = q["startDateTime"].map(String.init).flatMap(GraphSubscriptions.date),
                  let end = q["endDateTime"].map(String.init).flatMap(GraphSubscriptions.date), end > start else {
                throw Self.invalid("calendarView/delta needs startDateTime and endDateTime.")
            }
            return "\(start.timeIntervalSince1970) \(end.timeIntervalSince1970)"
        }
        let window = position.scope.split(separator: " ").compactMap { Double($0).map { Date(timeIntervalSince1970: $0) } }
        guard window.count == 2 else { throw GraphDelta.gone }
        let inWindow = { (e: Event) in e.end > window[0] && e.start < window[1] }
        let entries: [JSON] = state.withLock { s in
            if position.since == 0 {
                return s.events.values.filter(inWindow).sorted { ($0.start, $0.order) < ($1.start, $1.order) }.map { self.render($0, request) }
            }
            return s.log.changes(in: "events", after: position.since, upTo: position.round).map { change in
                guard !change.removed, let event = s.events[change.id], inWindow(event) else {
                    return GraphDelta.removed(change.id, type: "#microsoft.graph.event")
                }
                return self.render(event, request)
            }
        }
        return .json(GraphDelta.page(entries, at: position, link: GraphMail.base(request) + "/me/calendarView/delta",
                                     context: "https://graph.microsoft.com/v1.0/$metadata#Collection(event)", request: request))
    }

    /// An event resource: times in UTC, or in the zone `Prefer: outlook.timezone` names.
    func render(_ event: Event, _ request: Request) -> JSON {
        let preferred = GraphMail.preference("outlook.timezone", in: request)
        let zoneName = preferred.flatMap { Self.zone($0) != nil ? $0 : nil } ?? "UTC"
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = Self.zone(zoneName)
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSS"
        var json = event.json
        json["start"] = ["dateTime": .string(f.string(from: event.start)), "timeZone": .string(zoneName)]
        json["end"] = ["dateTime": .string(f.string(from: event.end)), "timeZone": .string(zoneName)]
        json["@odata.etag"] = .string("W/\"DwAAABYAAAC\(event.order)\"")
        json["isAllDay"] = .bool(event.json["isAllDay"].boolValue ?? false)
        json["isCancelled"] = false
        json["type"] = "singleInstance"
        json["webLink"] = .string("https://outlook.office365.com/owa/?itemid=\(event.id)&exvsurl=1&path=/calendar/item")
        if json["onlineMeeting"] == .null { json["onlineMeeting"] = .null }
        return json
    }
}
