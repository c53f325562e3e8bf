import Cryptography
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import Sandbox

/// Gmail API v1 (`https://gmail.googleapis.com` → `/google/gmail`): getProfile, labels.list, watch,
/// stop, history.list (paged, `historyTypes`, `labelId`), messages.list (`q` with `after:`,
/// `before:`, `rfc822msgid:`, paged), messages.get/send, with Google's error bodies. int64 values
/// travel as strings.
struct GmailAPI: Sendable {
    let oauth: GoogleOAuthStore
    let gmail: GmailStore
    /// Tells the watch's Pub/Sub subscribers that `user`'s mailbox changed (as every history
    /// change on a watched label does at Google, a sent message included).
    let changed: @Sendable (_ user: String, _ historyId: UInt64) async -> Void

    static let read = ["https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.modify",
                       "https://www.googleapis.com/auth/gmail.metadata", "https://mail.google.com/"]
    static let send = ["https://www.googleapis.com/auth/gmail.send", "https://www.googleapis.com/auth/gmail.modify",
                       "https://www.googleapis.com/auth/gmail.compose", "https://mail.google.com/"]

    func addRoutes(to group: RouterGroup<SandboxContext>) {
        group.post("gmail/gmail/v1/users/:userId/watch") { r, c in try await call(r, c, scopes: Self.read) { try await watch($0, r) } }
        group.post("gmail/gmail/v1/users/:userId/stop") { r, c in
            try await call(r, c, scopes: Self.read) { user in
                await gmail.stop(user: user.email)
                return nil
            }
        }
        group.get("gmail/gmail/v1/users/:userId/profile") { r, c in try await call(r, c, scopes: Self.read) { await profile($0) } }
        group.get("gmail/gmail/v1/users/:userId/labels") { r, c in try await call(r, c, scopes: Self.read) { await labels($0) } }
        group.get("gmail/gmail/v1/users/:userId/history") { r, c in try await call(r, c, scopes: Self.read) { try await history($0, r) } }
        group.get("gmail/gmail/v1/users/:userId/messages") { r, c in try await call(r, c, scopes: Self.read) { await list($0, r) } }
        group.get("gmail/gmail/v1/users/:userId/messages/:id") { r, c in
            let id = try c.parameters.require("id")
            return try await call(r, c, scopes: Self.read) { try await get($0, id: id, r) }
        }
        group.post("gmail/gmail/v1/users/:userId/messages/send") { r, c in try await call(r, c, scopes: Self.send) { try await send($0, r) } }
        group.get("gmail/gmail/v1/users/:userId/threads/:id") { r, c in
            let id = try c.parameters.require("id")
            return try await call(r, c, scopes: Self.read) { try await thread($0, id: id, r) }
        }
    }

    /// `threads.get`: the thread's messages, oldest first, each as `messages.get` renders it in
    /// the same `format`; the thread's `historyId` is its newest message's.
    private func thread(_ user: GoogleUser, id: String, _ request: Request) async throws -> JSON {
        let messages = await gmail.list(user: user.email, labels: []).filter { $0.threadId == id }.reversed()
        guard let newest = messages.last else {
            throw GmailError(response: Self.error(404, "Requested entity was not found.", reason: "notFound", status: "NOT_FOUND"))
        }
        var rendered: [JSON] = []
        for m in messages { rendered.append(try await get(user, id: m.id, request)) }
        return ["id": .string(id), "historyId": .string(String(newest.historyId)), "messages": .array(rendered)]
    }

    /// Authenticates the Bearer token, resolves `userId` (`me` or the address), checks scopes.
    private func call(_ request: Request, _ context: SandboxContext, scopes: [String],
                      _ body: (GoogleUser) async throws -> JSON?) async throws -> Response {
        guard let auth = request.headers[.authorization], auth.hasPrefix("Bearer "),
              let grant = await oauth.grant(forAccessToken: String(auth.dropFirst(7))) else {
            return Self.error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                              reason: "authError", status: "UNAUTHENTICATED", extra: ["location": "Authorization", "locationType": "header"],
                              headers: [.wwwAuthenticate: "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""])
        }
        let userId = try context.parameters.require("userId")
        guard userId == "me" || userId == grant.user.email else {
            return Self.error(403, "Delegation denied for \(grant.user.email)", reason: "forbidden", status: "PERMISSION_DENIED")
        }
        guard grant.scopes.contains(where: scopes.contains) else {
            return Self.error(403, "Request had insufficient authentication scopes.", reason: "insufficientPermissions",
                              status: "PERMISSION_DENIED", message2: "Insufficient Permission")
        }
        do {
            guard let json = try await body(grant.user) else { return Response(status: .noContent) }
            return .json(json)
        } catch let error as GmailError {
            return error.response
        }
    }

    struct GmailError: Error {
        var response: Response
    }

    private func watch(_ user: GoogleUser, _ request: Request) async throws -> JSON {
        var request = request
        let body = await request.jsonBody(upTo: 64 * 1024)
        guard let topic = body?["topicName"].stringValue, topic.hasPrefix("projects/"), topic.contains("/topics/") else {
            throw GmailError(response: Self.error(400, "Invalid topicName does not match projects/SOME-PROJECT/topics/SOME-TOPIC",
                                                   reason: "invalidArgument", status: "INVALID_ARGUMENT"))
        }
        let (historyId, expiration) = await gmail.watch(user: user.email, topic: topic)
        return ["historyId": .string(String(historyId)), "expiration": .string(String(expiration))]
    }

    private func profile(_ user: GoogleUser) async -> JSON {
        let all = await gmail.list(user: user.email, labels: [])
        return ["emailAddress": .string(user.email), "messagesTotal": .int(Int64(all.count)),
                "threadsTotal": .int(Int64(Set(all.map(\.threadId)).count)), "historyId": .string(String(await gmail.currentHistoryID()))]
    }

    /// The system labels Gmail always has.
    private func labels(_ user: GoogleUser) async -> JSON {
        let system = ["INBOX", "SENT", "UNREAD", "STARRED", "IMPORTANT", "DRAFT", "SPAM", "TRASH"]
        return ["labels": .array(system.map { ["id": .string($0), "name": .string($0), "type": "system"] })]
    }

    private func history(_ user: GoogleUser, _ request: Request) async throws -> JSON {
        guard let start = request.uri.queryParameters["startHistoryId"].flatMap({ UInt64(String($0)) }) else {
            throw GmailError(response: Self.error(400, "Invalid startHistoryId", reason: "invalidArgument", status: "INVALID_ARGUMENT"))
        }
        let types = request.uri.queryParameters.getAll("historyTypes").map { String($0) }
        let label = request.uri.queryParameters["labelId"].map(String.init)
        let max = min(500, request.uri.queryParameters["maxResults"].flatMap { Int(String($0)) } ?? 100)
        let offset = request.uri.queryParameters["pageToken"].flatMap { Int(String($0)) } ?? 0
        switch await gmail.history(user: user.email, since: start) {
        case .expired:
            throw GmailError(response: Self.error(404, "Requested entity was not found.", reason: "notFound", status: "NOT_FOUND"))
        case .records(let all):
            // The stand-in records only messageAdded: asking for other types alone finds nothing.
            let wanted = all.filter { (types.isEmpty || types.contains("messageAdded")) && (label.map($0.message.labelIds.contains) ?? true) }
            let records = Array(wanted.dropFirst(offset).prefix(max))
            var body: JSON = ["historyId": .string(String(await gmail.currentHistoryID()))]
            if offset + records.count < wanted.count { body["nextPageToken"] = .string(String(offset + records.count)) }
            if !records.isEmpty {
                body["history"] = .array(records.map { record in
                    let m: JSON = ["id": .string(record.message.id), "threadId": .string(record.message.threadId),
                                   "labelIds": .array(record.message.labelIds.map { .string($0) })]
                    return ["id": .string(String(record.id)), "messages": [m], "messagesAdded": [["message": m]]]
                })
            }
            return body
        }
    }

    private func list(_ user: GoogleUser, _ request: Request) async -> JSON {
        let labels = request.uri.queryParameters.getAll("labelIds").map { String($0) }
        let max = request.uri.queryParameters["maxResults"].flatMap { Int(String($0)) } ?? 100
        let query = Self.SearchQuery(request.uri.queryParameters["q"].map(String.init) ?? "")
        let all = await gmail.list(user: user.email, labels: labels).filter(query.matches)
        let offset = request.uri.queryParameters["pageToken"].flatMap { Int(String($0)) } ?? 0
        let page = all.dropFirst(offset).prefix(min(max, 500))
        var body: JSON = ["resultSizeEstimate": .int(Int64(all.count))]
        if !page.isEmpty { body["messages"] = .array(page.map { m -> JSON in ["id": .string(m.id), "threadId": .string(m.threadId)] }) }
        if offset + page.count < all.count { body["nextPageToken"] = .string(String(offset + page.count)) }
        return body
    }

    /// The part of Gmail's search syntax the stand-in understands: `after:` and `before:` (epoch
    /// seconds or `YYYY/MM/DD`, in UTC here) and `rfc822msgid:`; other terms are ignored.
    struct SearchQuery {
        var after: Int64?
        var before: Int64?
        var messageID: String?

        init(_ q: String) {
            for term in q.split(separator: " ") {
                let parts = term.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                switch parts[0].lowercased() {
                case "after": after = Self.seconds(parts[1])
                case "before": before = Self.seconds(parts[1])
                case "rfc822msgid": messageID = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "<>"))
                default: break
                }
            }
        }

        static func seconds(_ value: String) -> Int64? {
            if let seconds = Int64(value) { return seconds }
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyy/MM/dd"
            return f.date(from: value).map { Int64($0.timeIntervalSince1970) }
        }

        func matches(_ message: GmailStore.Message) -> Bool {
            let seconds = message.internalDate / 1000
            if let after, seconds <= after { return false }
            if let before, seconds >= before { return false }
            if let messageID {
                let (headers, _) = MIME.headers(of: Substring(String(decoding: message.raw, as: UTF8.self)))
                let id = headers.first { $0.0.lowercased() == "message-id" }?.1.trimmingCharacters(in: CharacterSet(charactersIn: "<> "))
                if id != messageID { return false }
            }
            return true
        }
    }

    private func get(_ user: GoogleUser, id: String, _ request: Request) async throws -> JSON {
        guard let m = await gmail.message(user: user.email, id: id) else {
            throw GmailError(response: Self.error(404, "Requested entity was not found.", reason: "notFound", status: "NOT_FOUND"))
        }
        let format = request.uri.queryParameters["format"].map(String.init) ?? "full"
        let text = String(decoding: m.raw, as: UTF8.self)
        var json: JSON = [
            "id": .string(m.id), "threadId": .string(m.threadId), "labelIds": .array(m.labelIds.map { .string($0) }),
            "historyId": .string(String(m.historyId)), "internalDate": .string(String(m.internalDate)),
            "sizeEstimate": .int(Int64(m.raw.count)),
        ]
        let (_, body) = MIME.headers(of: Substring(text))
        json["snippet"] = .string(String(body.split(whereSeparator: \.isNewline).first(where: { !$0.hasPrefix("--") && !$0.contains(":") }).map { String($0.prefix(200)) } ?? ""))
        switch format {
        case "minimal": break
        case "raw": json["raw"] = .string(Digest.base64URL(m.raw))
        case "metadata":
            let wanted = Set(request.uri.queryParameters.getAll("metadataHeaders").map { $0.lowercased() })
            var part = MIME.part(Substring(text), partID: "", includeBodies: false)
            if !wanted.isEmpty, let headers = part["headers"].arrayValue {
                part["headers"] = .array(headers.filter { wanted.contains($0["name"].stringValue?.lowercased() ?? "") })
            }
            part["parts"] = nil
            part["body"] = nil
            json["payload"] = .object(part.objectValue?.filter { $0.value != .null } ?? [:])
        case "full": json["payload"] = MIME.part(Substring(text), partID: "")
        default:
            throw GmailError(response: Self.error(400, "Invalid value for format: \(format)", reason: "invalidArgument", status: "INVALID_ARGUMENT"))
        }
        return json
    }

    private func send(_ user: GoogleUser, _ request: Request) async throws -> JSON {
        var request = request
        let body = await request.jsonBody(upTo: 36 * 1024 * 1024)
        guard let raw = body?["raw"].stringValue.flatMap(Digest.base64URLDecode), !raw.isEmpty else {
            throw GmailError(response: Self.error(400, "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
                                                   reason: "invalidArgument", status: "INVALID_ARGUMENT"))
        }
        let (headers, _) = MIME.headers(of: Substring(String(decoding: raw, as: UTF8.self)))
        guard headers.contains(where: { ["to", "cc", "bcc"].contains($0.0.lowercased()) }) else {
            throw GmailError(response: Self.error(400, "Recipient address required", reason: "invalidArgument", status: "INVALID_ARGUMENT"))
        }
        // A reply stays in its thread when the caller names it.
        let m = await gmail.add(user: user.email, raw: raw, labels: ["SENT"], threadId: body?["threadId"].stringValue)
        await changed(user.email, m.historyId)
        return ["id": .string(m.id), "threadId": .string(m.threadId), "labelIds": ["SENT"]]
    }

    /// Google's JSON error: `{"error": {"code", "message", "errors": [{message, domain, reason}], "status"}}`.
    static func error(_ code: Int, _ message: String, reason: String, status: String, extra: [String: JSON] = [:],
                      message2: String? = nil, headers: HTTPFields = [:]) -> Response {
        var detail: [String: JSON] = ["message": .string(message2 ?? message), "domain": "global", "reason": .string(reason)]
        detail.merge(extra) { $1 }
        return .json(["error": ["code": .int(Int64(code)), "message": .string(message), "errors": [.object(detail)], "status": .string(status)]],
                     status: .init(code: code), headers: headers)
    }
}
