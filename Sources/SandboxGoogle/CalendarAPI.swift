import CurlHTTP
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import Sandbox

/// Calendar API v3 (`https://www.googleapis.com/calendar/v3` → `/google/www/calendar/v3`):
/// events.list (sync tokens, 410 when invalid, showDeleted, singleEvents expanding recurring
/// events), get, insert (Meet links with
/// conferenceDataVersion=1), patch, delete, watch, channels.stop, and push notifications with
/// empty bodies and the X-Goog-* headers.
struct CalendarAPI: Sendable {
    let oauth: GoogleOAuthStore
    let calendar: CalendarStore
    let sender: HTTPClient

    static let read = ["https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/calendar.events",
                       "https://www.googleapis.com/auth/calendar.readonly", "https://www.googleapis.com/auth/calendar.events.readonly"]
    static let write = ["https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/calendar.events"]

    func addRoutes(to group: RouterGroup<SandboxContext>) {
        let base = "www/calendar/v3/calendars/:calendarId/events"
        group.get(RouterPath(base)) { r, c in try await call(r, c, Self.read) { try await list($0, r) } }
        group.post(RouterPath(base)) { r, c in try await call(r, c, Self.write) { try await insert($0, r) } }
        group.post(RouterPath(base + "/watch")) { r, c in try await call(r, c, Self.read) { try await watch($0, r) } }
        group.get(RouterPath(base + "/:eventId")) { r, c in
            let id = try c.parameters.require("eventId")
            return try await call(r, c, Self.read) { user in
                guard let e = await calendar.event(user: user, id: id) else { throw notFound() }
                return e.json
            }
        }
        group.patch(RouterPath(base + "/:eventId")) { r, c in
            let id = try c.parameters.require("eventId")
            return try await call(r, c, Self.write) { try await patch($0, id: id, r) }
        }
        group.delete(RouterPath(base + "/:eventId")) { r, c in
            let id = try c.parameters.require("eventId")
            return try await call(r, c, Self.write) { try await delete($0, id: id) }
        }
        group.post("www/calendar/v3/channels/stop") { r, c in
            var r = r
            let body = await r.jsonBody(upTo: 64 * 1024)
            guard let id = body?["id"].stringValue, let resource = body?["resourceId"].stringValue,
                  await calendar.removeChannel(id: id, resourceID: resource) else {
                return GmailAPI.error(404, "Channel '\(body?["id"].stringValue ?? "")' not found for project", reason: "notFound", status: "NOT_FOUND")
            }
            return Response(status: .noContent)
        }
    }

    struct Failure: Error { var response: Response }

    private func notFound() -> Failure { Failure(response: GmailAPI.error(404, "Not Found", reason: "notFound", status: "NOT_FOUND")) }

    /// Bearer token, `calendarId` (`primary` or the user's address), scopes.
    private func call(_ request: Request, _ context: SandboxContext, _ scopes: [String],
                      _ body: (String) async throws -> JSON?) async throws -> Response {
        guard let auth = request.headers[.authorization], auth.hasPrefix("Bearer "),
              let grant = await oauth.grant(forAccessToken: String(auth.dropFirst(7))) else {
            return GmailAPI.error(401, "Request had invalid authentication credentials.", reason: "authError", status: "UNAUTHENTICATED")
        }
        let calendarID = (try context.parameters.require("calendarId")).removingPercentEncoding ?? ""
        guard calendarID == "primary" || calendarID == grant.user.email else { return notFound().response }
        guard grant.scopes.contains(where: scopes.contains) else {
            return GmailAPI.error(403, "Request had insufficient authentication scopes.", reason: "insufficientPermissions", status: "PERMISSION_DENIED")
        }
        do {
            guard let json = try await body(grant.user.email) else { return Response(status: .noContent) }
            return .json(json)
        } catch let failure as Failure {
            return failure.response
        }
    }

    private func list(_ user: String, _ request: Request) async throws -> JSON {
        let q = request.uri.queryParameters
        var items: [JSON]
        if let token = q["syncToken"].map(String.init) {
            for forbidden in ["timeMin", "timeMax", "updatedMin", "q", "orderBy", "iCalUID"] where q[Substring(forbidden)] != nil {
                throw Failure(response: GmailAPI.error(400, "Invalid combination of parameters: syncToken and \(forbidden)", reason: "invalid", status: "INVALID_ARGUMENT"))
            }
            guard token.hasPrefix("CPsync"), let since = Int(token.dropFirst(6)), await calendar.syncTokenIsValid(since) else {
                throw Failure(response: GmailAPI.error(410, "Sync token is no longer valid, a full sync is required.", reason: "fullSyncRequired",
                                                       status: "GONE", extra: ["domain": "calendar", "locationType": "parameter", "location": "syncToken"]))
            }
            // Incremental: every change since, deletions included.
            items = await calendar.all(user: user).filter { $0.sequence > since }.map(\.json)
        } else {
            let showDeleted = q["showDeleted"] == "true"
            items = await calendar.all(user: user).filter { showDeleted || !$0.cancelled }.map(\.json)
        }
        // singleEvents=true: each recurring event as its instances (the form incremental syncs must keep too).
        if q["singleEvents"] == "true" { items = items.flatMap(Recurrence.instances) }
        let now = await calendar.currentSequence
        return [
            "kind": "calendar#events", "etag": .string("\"p3\(now)\""), "summary": .string(user), "updated": .string(Self.timestamp(Date())),
            "timeZone": "UTC", "accessRole": "owner", "defaultReminders": [], "items": .array(items),
            "nextSyncToken": .string("CPsync\(now)"),
        ]
    }

    private func insert(_ user: String, _ request: Request) async throws -> JSON {
        var request = request
        guard let event = await request.jsonBody(upTo: 1 << 20), event.objectValue != nil else {
            throw Failure(response: GmailAPI.error(400, "Parse Error", reason: "parseError", status: "INVALID_ARGUMENT"))
        }
        return try await create(user: user, event: event, conference: request.uri.queryParameters["conferenceDataVersion"] == "1")
    }

    /// Creates an event as `events.insert` does (also used by the sandbox's scenario controls).
    func create(user: String, event: JSON, conference: Bool) async throws -> JSON {
        var event = event
        guard event["start"] != .null else { throw Failure(response: GmailAPI.error(400, "Missing start time.", reason: "required", status: "INVALID_ARGUMENT")) }
        guard event["end"] != .null else { throw Failure(response: GmailAPI.error(400, "Missing end time.", reason: "required", status: "INVALID_ARGUMENT")) }
        var id = await calendar.newID()
        if let given = event["id"].stringValue {
            guard (5...1024).contains(given.count), given.allSatisfy({ ("0"..."9").contains($0) || ("a"..."v").contains($0) }) else {
                throw Failure(response: GmailAPI.error(400, "Invalid resource id value.", reason: "invalid", status: "INVALID_ARGUMENT"))
            }
            guard await calendar.event(user: user, id: given) == nil else {
                throw Failure(response: GmailAPI.error(409, "The requested identifier already exists.", reason: "duplicate", status: "ALREADY_EXISTS"))
            }
            id = given
        }
        let now = Self.timestamp(Date())
        event["kind"] = "calendar#event"
        event["id"] = .string(id)
        event["status"] = event["status"] == .null ? "confirmed" : event["status"]
        event["htmlLink"] = .string("https://www.google.com/calendar/event?eid=\(id)")
        event["created"] = .string(now)
        event["updated"] = .string(now)
        event["creator"] = ["email": .string(user), "self": true]
        event["organizer"] = ["email": .string(user), "self": true]
        event["iCalUID"] = .string("\(id)@google.com")
        event["sequence"] = 0
        event["reminders"] = event["reminders"] == .null ? ["useDefault": true] : event["reminders"]
        event["eventType"] = "default"
        if let attendees = event["attendees"].arrayValue {
            event["attendees"] = .array(attendees.map { a in var a = a; if a["responseStatus"] == .null { a["responseStatus"] = "needsAction" }; return a })
        }
        // conferenceData only with conferenceDataVersion=1; otherwise silently ignored, as Google does.
        if conference, event["conferenceData"]["createRequest"] != .null {
            let code = await [calendar.newID(length: 3), calendar.newID(length: 4), calendar.newID(length: 3)].joined(separator: "-")
            var create = event["conferenceData"]["createRequest"]
            create["status"] = ["statusCode": "success"]
            event["conferenceData"] = [
                "createRequest": create, "conferenceId": .string(code),
                "conferenceSolution": ["key": ["type": "hangoutsMeet"], "name": "Google Meet",
                                       "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png"],
                "entryPoints": [["entryPointType": "video", "uri": .string("https://meet.google.com/\(code)"), "label": .string("meet.google.com/\(code)")]],
            ]
            event["hangoutLink"] = .string("https://meet.google.com/\(code)")
        } else {
            event.remove("conferenceData")
        }
        return await store(user: user, id: id, event)
    }

    private func patch(_ user: String, id: String, _ request: Request) async throws -> JSON {
        var request = request
        guard let changes = (await request.jsonBody(upTo: 1 << 20))?.objectValue else {
            throw Failure(response: GmailAPI.error(400, "Parse Error", reason: "parseError", status: "INVALID_ARGUMENT"))
        }
        return try await update(user: user, id: id, changes: changes)
    }

    /// Applies changes as `events.patch` does.
    func update(user: String, id: String, changes: [String: JSON]) async throws -> JSON {
        guard var event = await calendar.event(user: user, id: id)?.json else { throw notFound() }
        for (key, value) in changes where !["id", "kind", "etag", "created", "creator", "organizer", "iCalUID", "htmlLink"].contains(key) {
            event[key] = value
        }
        event["sequence"] = .int((event["sequence"].intValue ?? 0) + 1)
        event["updated"] = .string(Self.timestamp(Date()))
        return await store(user: user, id: id, event)
    }

    /// Cancels as `events.delete` does.
    func delete(_ user: String, id: String) async throws -> JSON? {
        guard var event = await calendar.event(user: user, id: id)?.json else { throw notFound() }
        guard event["status"] != "cancelled" else {
            throw Failure(response: GmailAPI.error(410, "Resource has been deleted", reason: "deleted", status: "GONE"))
        }
        event["status"] = "cancelled"
        event["updated"] = .string(Self.timestamp(Date()))
        _ = await store(user: user, id: id, event)
        return nil
    }

    /// Saves the event with a fresh etag and tells the channels watching the calendar.
    func store(user: String, id: String, _ event: JSON) async -> JSON {
        var event = event
        let sequence = await calendar.currentSequence + 1
        event["etag"] = .string("\"31811617847\(sequence)\"")
        _ = await calendar.put(user: user, id: id, json: event)
        await notify(user: user, state: "exists")
        return event
    }

    private func watch(_ user: String, _ request: Request) async throws -> JSON {
        var request = request
        let body = await request.jsonBody(upTo: 64 * 1024)
        guard let body, let id = body["id"].stringValue, let address = body["address"].stringValue,
              ["web_hook", "webhook"].contains(body["type"].stringValue ?? "") else {
            throw Failure(response: GmailAPI.error(400, "Invalid channel: id, type web_hook and address are required", reason: "invalid", status: "INVALID_ARGUMENT"))
        }
        let week = Int64(7 * 24 * 3600 * 1000)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let requested = body["expiration"].intValue ?? body["expiration"].stringValue.flatMap { Int64($0) }
        let channel = CalendarStore.Channel(id: id, resourceID: await calendar.newID(length: 27), token: body["token"].stringValue,
                                            address: address, expiration: min(requested ?? now + week, now + week), user: user, messageNumber: 0)
        await calendar.addChannel(channel)
        await send(channel, state: "sync", number: 1)
        var json: JSON = ["kind": "api#channel", "id": .string(id), "resourceId": .string(channel.resourceID),
                          "resourceUri": .string("https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json"),
                          "expiration": .string(String(channel.expiration))]
        if let token = channel.token { json["token"] = .string(token) }
        return json
    }

    func notify(user: String, state: String) async {
        for channel in await calendar.channelsToNotify(user: user) { await send(channel, state: state, number: channel.messageNumber) }
    }

    /// Sends a notification now, or keeps it while notifications are held.
    private func send(_ c: CalendarStore.Channel, state: String, number: Int) async {
        if await calendar.admit(c, state: state, number: number) { await deliver(c, state: state, number: number) }
    }

    /// An empty-body POST with the X-Goog-* headers; the receiver's answer does not matter here.
    func deliver(_ c: CalendarStore.Channel, state: String, number: Int) async {
        var headers: [HTTPClientRequest.Header] = [
            .init("X-Goog-Channel-ID", c.id), .init("X-Goog-Resource-ID", c.resourceID),
            .init("X-Goog-Resource-URI", "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json"),
            .init("X-Goog-Resource-State", state), .init("X-Goog-Message-Number", String(number)),
            .init("X-Goog-Channel-Expiration", httpDate(Date(timeIntervalSince1970: Double(c.expiration) / 1000))),
            .init("Content-Length", "0"),
        ]
        if let token = c.token { headers.append(.init("X-Goog-Channel-Token", token)) }
        _ = try? await sender.execute(HTTPClientRequest(method: "POST", url: c.address, headers: headers, body: []), timeout: .seconds(10))
    }

    static func timestamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}
