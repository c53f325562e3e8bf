import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Sandbox
import SandboxGoogle
import Synchronization
import TestSupport
import Testing

/// Calendar API v3 against the stand-in, with notifications to a real receiving server.
@Suite(.hangGuard) struct CalendarTests {
    static let discovery = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("../shared/reference/specs/calendar.v3.json").standardizedFileURL

    final class Notifications: Sendable { let headers = Mutex<[[String: String]]>([]) }

    struct Session: Sendable {
        let g: GoogleOAuthTests.Google
        let token: String

        func call(_ method: HTTPRequest.Method, _ path: String, json: String? = nil) async throws -> (status: Int, json: JSON) {
            var headers: HTTPFields = [.authorization: "Bearer \(token)"]
            if json != nil { headers[.contentType] = "application/json" }
            let r = try await g.client.execute(uri: "/google/www/calendar/v3/" + path, method: method, headers: headers,
                                               body: json.map { ByteBuffer(string: $0) })
            return (r.status.code, r.body.readableBytes > 0 ? try JSON.decode(Array(buffer: r.body)) : .null)
        }
    }

    @Test func syncWatchMeetAndDeletions() async throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let received = Notifications()
        let router = Router()
        router.post("hooks/calendar") { request, _ in
            var fields: [String: String] = [:]
            for f in request.headers { fields[f.name.canonicalName] = f.value }
            var request = request
            fields["body-bytes"] = String(try await request.collectBody(upTo: 1024).readableBytes)
            received.headers.withLock { $0.append(fields) }
            return Response(status: .ok)
        }
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        try await receiver.test(.live) { hook in
            let app = SandboxApp.build(standIns: [try GoogleStandIn()], port: 0, journal: Journal(), faults: Faults(), logger: logger)
            try await app.test(.live) { client in
                let g = GoogleOAuthTests.Google(client: client)
                try await g.control(#"{"consent": "approve"}"#)
                let uri = g.authorizeURI().replacingOccurrences(of: "scope=" + GoogleOAuthTests.enc(GoogleOAuthTests.scopes),
                                                                with: "scope=" + GoogleOAuthTests.enc("openid https://www.googleapis.com/auth/calendar.events"))
                let code = try #require(try g.redirectParameters(try await g.get(uri))["code"])
                let s = Session(g: g, token: try #require(try await g.exchange(code).json["access_token"].stringValue))

                let watch = try await s.call(.post, "calendars/primary/events/watch", json: #"{"id": "chan-1", "type": "web_hook", "address": "http://127.0.0.1:\#(hook.port!)/hooks/calendar", "token": "tenant=42"}"#)
                #expect(watch.status == 200 && watch.json["kind"] == "api#channel" && watch.json["expiration"].stringValue != nil)
                let resourceID = try #require(watch.json["resourceId"].stringValue)
                let sync = try #require(received.headers.withLock { $0.first })
                #expect(sync["x-goog-resource-state"] == "sync" && sync["x-goog-message-number"] == "1")
                #expect(sync["x-goog-channel-token"] == "tenant=42" && sync["x-goog-channel-id"] == "chan-1" && sync["body-bytes"] == "0")

                let full = try await s.call(.get, "calendars/primary/events")
                let firstToken = try #require(full.json["nextSyncToken"].stringValue)
                #expect(full.json["kind"] == "calendar#events" && full.json["items"] == [])

                let inserted = try await s.call(.post, "calendars/primary/events?conferenceDataVersion=1", json: """
                    {"id": "crmdeal0001", "summary": "Renewal call", "start": {"dateTime": "2026-12-01T10:00:00Z"}, "end": {"dateTime": "2026-12-01T10:30:00Z"},
                     "attendees": [{"email": "carl@acme.test"}], "conferenceData": {"createRequest": {"requestId": "crm-deal-1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}}
                    """)
                #expect(inserted.status == 200 && inserted.json["hangoutLink"].stringValue?.hasPrefix("https://meet.google.com/") == true)
                #expect(inserted.json["conferenceData"]["createRequest"]["status"]["statusCode"] == "success")
                #expect(inserted.json["attendees"].arrayValue?.first?["responseStatus"] == "needsAction")
                let duplicate = try await s.call(.post, "calendars/primary/events", json: #"{"id": "crmdeal0001", "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}}"#)
                #expect(duplicate.status == 409)
                let noMeet = try await s.call(.post, "calendars/primary/events", json: #"{"summary": "x", "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}, "conferenceData": {"createRequest": {"requestId": "r2"}}}"#)
                #expect(noMeet.json["hangoutLink"] == .null)  // conferenceDataVersion 0: ignored

                let changed = try await s.call(.get, "calendars/primary/events?syncToken=\(firstToken)")
                #expect(changed.json["items"].arrayValue?.count == 2)
                let secondToken = try #require(changed.json["nextSyncToken"].stringValue)
                #expect(try await s.call(.patch, "calendars/primary/events/crmdeal0001", json: #"{"summary": "Renewal call (moved)"}"#).json["sequence"] == 1)
                #expect(try await s.call(.delete, "calendars/primary/events/crmdeal0001").status == 204)
                #expect(try await s.call(.delete, "calendars/primary/events/crmdeal0001").status == 410)
                let delta = try await s.call(.get, "calendars/primary/events?syncToken=\(secondToken)").json["items"].arrayValue ?? []
                #expect(delta.count == 1 && delta.first?["status"] == "cancelled")
                #expect(try await s.call(.get, "calendars/primary/events").json["items"].arrayValue?.count == 1)
                #expect(try await s.call(.get, "calendars/primary/events?showDeleted=true").json["items"].arrayValue?.count == 2)

                let states = received.headers.withLock { $0.map { $0["x-goog-resource-state"] ?? "" } }
                #expect(states.first == "sync" && states.dropFirst().allSatisfy { $0 == "exists" } && states.count >= 5)
                let numbers = received.headers.withLock { $0.compactMap { Int($0["x-goog-message-number"] ?? "") } }
                #expect(numbers == numbers.sorted() && Set(numbers).count == numbers.count)

                _ = try await g.client.execute(uri: "/_sandbox/google/calendar/expire-sync-tokens", method: .post, headers: [:], body: nil)
                let gone = try await s.call(.get, "calendars/primary/events?syncToken=\(secondToken)")
                #expect(gone.status == 410 && gone.json["error"]["errors"].arrayValue?.first?["reason"] == "fullSyncRequired")
                #expect(try await s.call(.get, "calendars/primary/events?syncToken=\(secondToken)&timeMin=2026-01-01T00:00:00Z").status == 400)

                // A scenario control adds an event without a token; the channel is told and the list shows it.
                let before = received.headers.withLock { $0.count }
                let added = try JSON.decode(Array(buffer: try await g.client.execute(
                    uri: "/_sandbox/google/calendar/events", method: .post, headers: [:],
                    body: ByteBuffer(string: #"{"user": "ana@nexa-demo.test", "event": {"summary": "Customer call", "start": {"dateTime": "2026-12-02T09:00:00Z"}, "end": {"dateTime": "2026-12-02T09:30:00Z"}}}"#)).body))
                #expect(added["status"] == "confirmed" && received.headers.withLock { $0.count } == before + 1)
                let cancel = try await g.client.execute(uri: "/_sandbox/google/calendar/events/\(added["id"].stringValue!)?user=ana%40nexa-demo.test",
                                                        method: .delete, headers: [:], body: nil)
                #expect(cancel.status == .noContent)
                #expect(try await s.call(.get, "calendars/primary/events/\(added["id"].stringValue!)").json["status"] == "cancelled")

                // Held notifications come out newest first and twice each.
                _ = try await g.client.execute(uri: "/_sandbox/google/calendar/hold", method: .post, headers: [:], body: nil)
                let heldBefore = received.headers.withLock { $0.count }
                for title in ["a", "b"] {
                    _ = try await s.call(.post, "calendars/primary/events", json: #"{"summary": "\#(title)", "start": {"date": "2026-12-03"}, "end": {"date": "2026-12-04"}}"#)
                }
                #expect(received.headers.withLock { $0.count } == heldBefore)
                _ = try await g.client.execute(uri: "/_sandbox/google/calendar/release", method: .post, headers: [:],
                                               body: ByteBuffer(string: #"{"reverse": true, "duplicate": true}"#))
                let released = received.headers.withLock { Array($0.dropFirst(heldBefore)) }.compactMap { Int($0["x-goog-message-number"] ?? "") }
                #expect(released.count == 4 && released[0] == released[1] && released[2] == released[3] && released[0] > released[2])

                #expect(try await s.call(.post, "channels/stop", json: #"{"id": "chan-1", "resourceId": "\#(resourceID)"}"#).status == 204)
                #expect(try await s.call(.post, "channels/stop", json: #"{"id": "chan-1", "resourceId": "\#(resourceID)"}"#).status == 404)

                if FileManager.default.fileExists(atPath: Self.discovery.path) {
                    let schemas = try JSON.decode(Array(try Data(contentsOf: Self.discovery)))["schemas"]
                    var problems: [String] = []
                    GmailTests.check(inserted.json, schema: "Event", schemas, path: "event", &problems)
                    GmailTests.check(try await s.call(.get, "calendars/primary/events?showDeleted=true").json, schema: "Events", schemas, path: "events", &problems)
                    GmailTests.check(watch.json, schema: "Channel", schemas, path: "channel", &problems)
                    #expect(problems.isEmpty, "\(problems.joined(separator: "; "))")
                } else {
                    print("CalendarTests: skipped the discovery-document check: ../shared/reference/specs/calendar.v3.json is not beside this clone")
                }
            }
        }
    }
}
