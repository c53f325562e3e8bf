import Cryptography
import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Sandbox
import SandboxGoogle
import TestSupport
import Testing

/// Gmail API v1 against the stand-in, with an access token from its OAuth flow.
@Suite(.hangGuard) struct GmailTests {
    static let discovery = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("../shared/reference/specs/gmail.v1.json").standardizedFileURL
    static var haveDiscovery: Bool { FileManager.default.fileExists(atPath: discovery.path) }

    struct Session: Sendable {
        let g: GoogleOAuthTests.Google
        let token: String

        func call(_ method: HTTPRequest.Method, _ path: String, json: String? = nil, token: String? = nil) async throws -> (status: Int, json: JSON) {
            var headers: HTTPFields = [.authorization: "Bearer \(token ?? self.token)"]
            if json != nil { headers[.contentType] = "application/json" }
            let r = try await g.client.execute(uri: "/google/gmail/gmail/v1/users/me/" + path, method: method, headers: headers,
                                               body: json.map { ByteBuffer(string: $0) })
            return (r.status.code, r.body.readableBytes > 0 ? try JSON.decode(Array(buffer: r.body)) : .null)
        }

        func deliver(_ json: String) async throws -> JSON {
            let r = try await g.client.execute(uri: "/_sandbox/google/gmail/deliver", method: .post, headers: [:], body: ByteBuffer(string: json))
            return try JSON.decode(Array(buffer: r.body))
        }
    }

    /// A token for ana with the given scopes (consent answered at once).
    func withGmail(scopes: String, _ body: @escaping @Sendable (Session) async throws -> Void) async throws {
        let app = SandboxApp.build(standIns: [try GoogleStandIn()], port: 0, journal: Journal(), faults: Faults(),
                                   logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.test(.live) { client in
            let g = GoogleOAuthTests.Google(client: client)
            try await g.control(#"{"consent": "approve"}"#)
            let uri = g.authorizeURI().replacingOccurrences(of: "scope=" + GoogleOAuthTests.enc(GoogleOAuthTests.scopes),
                                                            with: "scope=" + GoogleOAuthTests.enc(scopes))
            let code = try #require(try g.redirectParameters(try await g.get(uri))["code"])
            let token = try #require(try await g.exchange(code).json["access_token"].stringValue)
            try await body(Session(g: g, token: token))
        }
    }

    static let readAndSend = "openid email https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.send"

    @Test func watchDeliverHistoryListGetAndSend() async throws {
        try await withGmail(scopes: Self.readAndSend) { s in
            let watch = try await s.call(.post, "watch", json: #"{"topicName": "projects/nexa/topics/gmail-push", "labelIds": ["INBOX"]}"#)
            #expect(watch.status == 200)
            let start = try #require(watch.json["historyId"].stringValue)  // int64 as a string
            #expect(watch.json["expiration"].stringValue.flatMap { Int64($0) }.map { $0 > Int64(Date().timeIntervalSince1970 * 1000) } == true)
            #expect(try await s.call(.post, "watch", json: #"{"topicName": "gmail-push"}"#).status == 400)

            let delivered = try await s.deliver(#"{"to": "ana@nexa-demo.test", "from": "Carl <carl@acme.test>", "subject": "Renewal", "text": "Hi Ana,\r\nshall we renew?"}"#)
            let id = try #require(delivered["id"].stringValue)
            let history = try await s.call(.get, "history?startHistoryId=\(start)")
            #expect(history.status == 200)
            let added = history.json["history"].arrayValue?.flatMap { $0["messagesAdded"].arrayValue ?? [] }.compactMap { $0["message"]["id"].stringValue }
            #expect(added == [id])
            #expect(try await s.call(.get, "history?startHistoryId=\(history.json["historyId"].stringValue!)").json["history"] == .null)

            let inbox = try await s.call(.get, "messages?labelIds=INBOX")
            #expect(inbox.json["messages"].arrayValue?.first?["id"].stringValue == id && inbox.json["resultSizeEstimate"] == 1)

            let full = try await s.call(.get, "messages/\(id)")
            let headers = full.json["payload"]["headers"].arrayValue ?? []
            #expect(headers.contains { $0["name"] == "Subject" && $0["value"] == "Renewal" })
            let data = try #require(full.json["payload"]["body"]["data"].stringValue)
            #expect(String(decoding: try #require(Digest.base64URLDecode(data)), as: UTF8.self) == "Hi Ana,\r\nshall we renew?")
            #expect(full.json["labelIds"] == ["INBOX", "UNREAD"] && full.json["internalDate"].stringValue != nil)

            let metadata = try await s.call(.get, "messages/\(id)?format=metadata&metadataHeaders=Subject")
            #expect(metadata.json["payload"]["headers"].arrayValue?.count == 1 && metadata.json["payload"]["body"] == .null)
            let raw = try await s.call(.get, "messages/\(id)?format=raw")
            #expect(raw.json["raw"].stringValue.flatMap(Digest.base64URLDecode).map { String(decoding: $0, as: UTF8.self).contains("Subject: Renewal") } == true)

            let message = "To: carl@acme.test\r\nSubject: Re: Renewal\r\nIn-Reply-To: <x@acme.test>\r\n\r\nYes, let's renew."
            let sent = try await s.call(.post, "messages/send", json: #"{"raw": "\#(Digest.base64URL(Array(message.utf8)))", "threadId": "\#(full.json["threadId"].stringValue!)"}"#)
            #expect(sent.status == 200 && sent.json["labelIds"] == ["SENT"] && sent.json["threadId"] == full.json["threadId"])
            #expect(try await s.call(.get, "messages?labelIds=SENT").json["messages"].arrayValue?.count == 1)
            // threads.get: the message and its reply, oldest first, in the asked format.
            let thread = try await s.call(.get, "threads/\(full.json["threadId"].stringValue!)?format=minimal")
            #expect(thread.status == 200 && thread.json["messages"].arrayValue?.compactMap { $0["id"].stringValue } == [id, sent.json["id"].stringValue!])
            #expect(thread.json["messages"].arrayValue?.first?["payload"] == .null && thread.json["historyId"].stringValue != nil)
            #expect(try await s.call(.get, "threads/0123456789abcdef").status == 404)
            let noRecipient = try await s.call(.post, "messages/send", json: #"{"raw": "\#(Digest.base64URL(Array("Subject: x\r\n\r\nbody".utf8)))"}"#)
            #expect(noRecipient.status == 400 && noRecipient.json["error"]["status"] == "INVALID_ARGUMENT")
        }
    }

    @Test func multipartMessagesBecomeParts() async throws {
        try await withGmail(scopes: Self.readAndSend) { s in
            let raw = "From: a@x.test\\r\\nTo: ana@nexa-demo.test\\r\\nSubject: Both\\r\\nContent-Type: multipart/alternative; boundary=\\\"b1\\\"\\r\\n\\r\\n--b1\\r\\nContent-Type: text/plain\\r\\n\\r\\nplain text\\r\\n--b1\\r\\nContent-Type: text/html\\r\\n\\r\\n<p>html</p>\\r\\n--b1--\\r\\n"
            let id = try #require(try await s.deliver(#"{"to": "ana@nexa-demo.test", "raw": "\#(raw)"}"#)["id"].stringValue)
            let payload = try await s.call(.get, "messages/\(id)").json["payload"]
            #expect(payload["mimeType"] == "multipart/alternative")
            let parts = payload["parts"].arrayValue ?? []
            #expect(parts.map { $0["partId"].stringValue ?? "" } == ["0", "1"])
            #expect(parts.map { $0["mimeType"].stringValue ?? "" } == ["text/plain", "text/html"])
            #expect(parts.first.flatMap { $0["body"]["data"].stringValue }.flatMap(Digest.base64URLDecode).map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("plain text") == true)
        }
    }

    @Test func searchTermsHistoryPagesAndTheProfile() async throws {
        try await withGmail(scopes: Self.readAndSend) { s in
            let start = try #require(try await s.call(.post, "watch", json: #"{"topicName": "projects/p/topics/t"}"#).json["historyId"].stringValue)
            for i in 1...3 {
                let raw = "From: c\(i)@x.test\r\nTo: ana@nexa-demo.test\r\nSubject: S\(i)\r\nMessage-ID: <m\(i)@x.test>\r\n\r\nBody \(i)\r\n"
                let delivery = String(decoding: try JSONSerialization.data(withJSONObject: ["to": "ana@nexa-demo.test", "raw": raw]), as: UTF8.self)
                _ = try await s.deliver(delivery)
            }
            let now = Int(Date().timeIntervalSince1970)
            #expect(try await s.call(.get, "messages?q=after:\(now - 3600)").json["messages"].arrayValue?.count == 3)
            #expect(try await s.call(.get, "messages?q=before:\(now - 3600)").json["messages"] == .null)
            #expect(try await s.call(.get, "messages?q=rfc822msgid:%3Cm2@x.test%3E").json["messages"].arrayValue?.count == 1)
            let first = try await s.call(.get, "history?startHistoryId=\(start)&historyTypes=messageAdded&maxResults=2").json
            #expect(first["history"].arrayValue?.count == 2)
            let token = try #require(first["nextPageToken"].stringValue)
            let second = try await s.call(.get, "history?startHistoryId=\(start)&historyTypes=messageAdded&maxResults=2&pageToken=\(token)").json
            #expect(second["history"].arrayValue?.count == 1 && second["nextPageToken"] == .null)
            #expect(try await s.call(.get, "history?startHistoryId=\(start)&historyTypes=labelAdded").json["history"] == .null)
            let profile = try await s.call(.get, "profile").json
            #expect(profile["emailAddress"] == "ana@nexa-demo.test" && profile["messagesTotal"].intValue == 3)
            #expect(try await s.call(.get, "labels").json["labels"].arrayValue?.contains { $0["id"] == "SENT" } == true)
        }
    }

    @Test func partBodiesComeWithoutTheirTransferEncodingAsGmailsDo() async throws {
        try await withGmail(scopes: Self.readAndSend) { s in
            // "Café — prix" in quoted-printable UTF-8 (with a soft line break), and "<p>Olá</p>" in base64.
            let raw = "From: a@x.test\r\nTo: ana@nexa-demo.test\r\nSubject: Encoded\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n"
                + "--b2\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 =E2=80=94=\r\n prix\r\n"
                + "--b2\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+T2zDoTwvcD4=\r\n--b2--\r\n"
            let delivery = String(decoding: try JSONSerialization.data(withJSONObject: ["to": "ana@nexa-demo.test", "raw": raw]), as: UTF8.self)
            let id = try #require(try await s.deliver(delivery)["id"].stringValue)
            let parts = try await s.call(.get, "messages/\(id)").json["payload"]["parts"].arrayValue ?? []
            let bodies = parts.map { $0["body"]["data"].stringValue.flatMap(Digest.base64URLDecode).map { String(decoding: $0, as: UTF8.self) } ?? "" }
            #expect(bodies.count == 2 && bodies[0].hasPrefix("Café — prix") && bodies[1].hasPrefix("<p>Olá</p>"))
            #expect(parts.first?["body"]["size"].intValue == Int64(Array(bodies[0].utf8).count))
        }
    }

    @Test func errorsAreGoogles() async throws {
        try await withGmail(scopes: "openid https://www.googleapis.com/auth/gmail.readonly") { s in
            let anonymous = try await s.call(.get, "messages", token: "ya29.bogus")
            #expect(anonymous.status == 401 && anonymous.json["error"]["status"] == "UNAUTHENTICATED")
            let send = try await s.call(.post, "messages/send", json: #"{"raw": "eA"}"#)
            #expect(send.status == 403 && send.json["error"]["errors"].arrayValue?.first?["reason"] == "insufficientPermissions")
            #expect(try await s.call(.get, "messages/0123456789abcdef").status == 404)
            let start = try await s.call(.post, "watch", json: #"{"topicName": "projects/p/topics/t"}"#).json["historyId"].stringValue!
            _ = try await s.g.client.execute(uri: "/_sandbox/google/gmail/expire-history", method: .post, headers: [:], body: nil)
            _ = try await s.g.client.execute(uri: "/_sandbox/faults", method: .post, headers: [:],
                                             body: ByteBuffer(string: #"{"provider": "google", "pathPrefix": "/gmail/", "status": 429, "retryAfter": 1, "times": 1}"#))
            let limited = try await s.call(.get, "messages")
            #expect(limited.status == 429 && limited.json["error"]["errors"].arrayValue?.first?["reason"] == "rateLimitExceeded")
            let expired = try await s.call(.get, "history?startHistoryId=\(start)")
            #expect(expired.status == 404 && expired.json["error"]["status"] == "NOT_FOUND")
        }
    }

    @Test(.enabled(if: haveDiscovery, "skipped: ../shared/reference/specs/gmail.v1.json is not beside this clone"))
    func responsesMatchTheDiscoveryDocument() async throws {
        let schemas = try JSON.decode(Array(try Data(contentsOf: Self.discovery)))["schemas"]
        try await withGmail(scopes: Self.readAndSend) { s in
            let watch = try await s.call(.post, "watch", json: #"{"topicName": "projects/p/topics/t"}"#).json
            let id = try await s.deliver(#"{"to": "ana@nexa-demo.test", "subject": "S", "text": "T"}"#)["id"].stringValue!
            var problems: [String] = []
            Self.check(watch, schema: "WatchResponse", schemas, path: "watch", &problems)
            Self.check(try await s.call(.get, "history?startHistoryId=\(watch["historyId"].stringValue!)").json, schema: "ListHistoryResponse", schemas, path: "history", &problems)
            Self.check(try await s.call(.get, "messages").json, schema: "ListMessagesResponse", schemas, path: "list", &problems)
            Self.check(try await s.call(.get, "profile").json, schema: "Profile", schemas, path: "profile", &problems)
            Self.check(try await s.call(.get, "labels").json, schema: "ListLabelsResponse", schemas, path: "labels", &problems)
            let thread = try await s.call(.get, "messages/\(id)?format=minimal").json["threadId"].stringValue!
            Self.check(try await s.call(.get, "threads/\(thread)").json, schema: "Thread", schemas, path: "thread", &problems)
            for format in ["full", "metadata", "minimal", "raw"] {
                Self.check(try await s.call(.get, "messages/\(id)?format=\(format)").json, schema: "Message", schemas, path: format, &problems)
            }
            #expect(problems.isEmpty, "\(problems.joined(separator: "; "))")
        }
    }

    /// Every field we send exists in the schema with the JSON type it declares (int64 → string).
    static func check(_ value: JSON, schema: String, _ schemas: JSON, path: String, _ problems: inout [String]) {
        guard let object = value.objectValue else { problems.append("\(path) is not an object"); return }
        let properties = schemas[schema]["properties"]
        for (key, v) in object {
            let p = properties[key]
            guard p != .null else { problems.append("\(path).\(key) is not in \(schema)"); continue }
            check(v, property: p, schemas, path: "\(path).\(key)", &problems)
        }
    }

    static func check(_ value: JSON, property p: JSON, _ schemas: JSON, path: String, _ problems: inout [String]) {
        if let ref = p["$ref"].stringValue { check(value, schema: ref, schemas, path: path, &problems); return }
        switch (p["type"].stringValue, value) {
        case ("string", .string), ("boolean", .bool), ("integer", .int), ("number", .int), ("number", .double), (_, .null): break
        case ("array", .array(let items)): for (i, item) in items.enumerated() { check(item, property: p["items"], schemas, path: "\(path)[\(i)]", &problems) }
        case ("object", .object): break
        default: problems.append("\(path): \(p["type"].stringValue ?? "?") expected")
        }
    }
}
