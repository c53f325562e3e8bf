import Cryptography
public import CurlHTTP
public import Foundation

/// The Gmail API calls the sync makes (`users.watch`, `users.history.list`, `users.messages.list`
/// and `get`), over libcurl with the platform's retry, as the mailbox's owner (`me`).
public struct GmailClient: Sendable {
    /// A failure the sync acts on.
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// The token is not accepted (401): the connection needs the user.
        case unauthorized(String)
        /// 429, or 403 `rateLimitExceeded` / `userRateLimitExceeded`: back off and resume.
        case rateLimited(String)
        /// `history.list` 404: the cursor is older than Gmail keeps; a full sync is due.
        case historyExpired
        /// 400, or 403 for another reason than rate: the request itself is wrong; repeating it will not help.
        case rejected(String)
        /// Anything else the API answered, or no answer.
        case unavailable(String)

        public var description: String {
            switch self {
            case .unauthorized(let m): "unauthorized: \(m)"
            case .rateLimited(let m): "rate limited: \(m)"
            case .historyExpired: "the history cursor expired"
            case .rejected(let m): "rejected: \(m)"
            case .unavailable(let m): "unavailable: \(m)"
            }
        }
    }

    /// What `history.list` reported: ids of messages added since the cursor, and the new cursor.
    public struct History: Sendable, Hashable {
        public var addedMessageIDs: [String]
        public var historyID: UInt64
    }

    let http: HTTPClient
    /// `https://gmail.googleapis.com` or a stand-in's equivalent.
    let baseURL: String
    let token: @Sendable () async throws -> String
    /// Gmail's per-user quota, spent in its units, and whose it is.
    let quota: (limiter: RateLimiter, user: String)?

    /// Gmail's limit per user: 250 quota units a second (its documented figure).
    public static let perUserQuota = RateLimiter.Limit(burst: 250, perSecond: 250)

    /// - Parameter quota: a limiter with a `gmail` limit (`perUserQuota`) and the mailbox it spends for.
    public init(http: HTTPClient, baseURL: String, quota: (limiter: RateLimiter, user: String)? = nil,
                token: @escaping @Sendable () async throws -> String) {
        self.http = http
        self.baseURL = baseURL
        self.quota = quota
        self.token = token
    }

    /// The quota units of each call, as Gmail prices them.
    enum Cost {
        static let watch: Double = 100
        static let historyList: Double = 2
        static let messagesList: Double = 5
        static let messagesGet: Double = 5
        static let messagesSend: Double = 100
    }

    /// `users.watch`: pushes for `labelIds` go to the Pub/Sub `topic`. Returns the history id to
    /// sync from and when the watch expires.
    public func watch(topic: String, labelIds: [String]) async throws(Failure) -> (historyID: UInt64, expiration: Date) {
        let body = try? JSONSerialization.data(withJSONObject: ["topicName": topic, "labelIds": labelIds])
        let json = try await call("POST", "watch", cost: Cost.watch, body: body.map { Array($0) })
        guard let history = (json["historyId"] as? String).flatMap(UInt64.init),
              let expiration = (json["expiration"] as? String).flatMap(Double.init) else { throw .unavailable("watch answered without historyId") }
        return (history, Date(timeIntervalSince1970: expiration / 1000))
    }

    /// `users.history.list` from `start`, every page, messages added.
    public func history(since start: UInt64) async throws(Failure) -> History {
        var added: [String] = []
        var seen = Set<String>()
        var pageToken: String?
        var latest = start
        repeat {
            var query = "history?startHistoryId=\(start)&historyTypes=messageAdded&maxResults=500"
            if let pageToken { query += "&pageToken=\(Self.encode(pageToken))" }
            let response = try await raw("GET", query, cost: Cost.historyList)
            if response.status == 404 { throw .historyExpired }
            try Self.check(response)
            guard let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] else {
                throw .unavailable("history: not a JSON object")
            }
            for record in json["history"] as? [[String: Any]] ?? [] {
                for entry in record["messagesAdded"] as? [[String: Any]] ?? [] {
                    if let id = (entry["message"] as? [String: Any])?["id"] as? String, seen.insert(id).inserted { added.append(id) }
                }
            }
            latest = max(latest, (json["historyId"] as? String).flatMap(UInt64.init) ?? latest)
            pageToken = json["nextPageToken"] as? String
        } while pageToken != nil
        return History(addedMessageIDs: added, historyID: latest)
    }

    /// `users.messages.list` with Gmail's search `query` (`after:1700000000`, `rfc822msgid:<…>`),
    /// optionally in `labelId`, newest first, at most `limit` ids.
    public func messageIDs(labelId: String? = nil, query: String, limit: Int) async throws(Failure) -> [String] {
        var ids: [String] = []
        var pageToken: String?
        repeat {
            var path = "messages?maxResults=\(min(500, limit))&q=\(Self.encode(query))"
            if let labelId { path += "&labelIds=\(Self.encode(labelId))" }
            if let pageToken { path += "&pageToken=\(Self.encode(pageToken))" }
            let json = try await call("GET", path, cost: Cost.messagesList)
            ids += (json["messages"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            pageToken = json["nextPageToken"] as? String
        } while pageToken != nil && ids.count < limit
        return Array(ids.prefix(limit))
    }

    /// Gmail's search for a time window: `after:` and `before:` in epoch seconds.
    public static func window(after: Date, before: Date? = nil) -> String {
        "after:\(Int(after.timeIntervalSince1970))" + (before.map { " before:\(Int($0.timeIntervalSince1970))" } ?? "")
    }

    /// `users.messages.send` of an RFC 2822 message, in `threadID` when it answers one. Sent once:
    /// no retry here, since Gmail has no idempotency key (the caller searches for the Message-ID
    /// before sending again).
    public func send(raw: [UInt8], threadID: String?) async throws(Failure) -> (id: String, threadID: String) {
        var body: [String: Any] = ["raw": Digest.base64URL(raw)]
        if let threadID { body["threadId"] = threadID }
        let json = try await call("POST", "messages/send", cost: Cost.messagesSend,
                                  body: (try? JSONSerialization.data(withJSONObject: body)).map { Array($0) }, retry: nil)
        guard let id = json["id"] as? String, let thread = json["threadId"] as? String else { throw .unavailable("send answered without id and threadId") }
        return (id, thread)
    }

    /// `users.messages.get` (format `full`); nil when the message is gone.
    public func message(id: String) async throws(Failure) -> GmailMessage? {
        let response = try await raw("GET", "messages/\(Self.encode(id))?format=full", cost: Cost.messagesGet)
        if response.status == 404 { return nil }
        try Self.check(response)
        do {
            return try JSONDecoder().decode(GmailMessage.self, from: Data(response.body))
        } catch {
            throw .unavailable("a message Gmail returned does not decode: \(error)")
        }
    }

    private func call(_ method: String, _ path: String, cost: Double, body: [UInt8]? = nil,
                      retry: RetryPolicy? = .standard) async throws(Failure) -> [String: Any] {
        let response = try await raw(method, path, cost: cost, body: body, retry: retry)
        try Self.check(response)
        guard let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] else {
            throw .unavailable("\(response.status): not a JSON object")
        }
        return json
    }

    private func raw(_ method: String, _ path: String, cost: Double, body: [UInt8]? = nil,
                     retry: RetryPolicy? = .standard) async throws(Failure) -> HTTPClientResponse {
        if let quota {
            do { try await quota.limiter.acquire(provider: "gmail", workspace: quota.user, cost: cost) } catch {
                throw .unavailable("cancelled while waiting for Gmail quota")
            }
        }
        let bearer: String
        do { bearer = try await token() } catch { throw .unauthorized("no access token: \(error)") }
        var headers = [HTTPClientRequest.Header("Authorization", "Bearer \(bearer)")]
        if body != nil { headers.append(.init("Content-Type", "application/json")) }
        let request = HTTPClientRequest(method: method, url: "\(baseURL)/gmail/v1/users/me/\(path)", headers: headers, body: body)
        do {
            if let retry { return try await http.execute(request, retry: retry) }
            return try await http.execute(request)
        } catch {
            throw .unavailable("\(error)")
        }
    }

    /// Google's error body: `{"error": {"code", "message", "errors": [{"reason"}]}}`.
    static func check(_ response: HTTPClientResponse) throws(Failure) {
        guard !(200..<300).contains(response.status) else { return }
        let error = ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])?["error"] as? [String: Any]
        let message = error?["message"] as? String ?? response.bodyText
        let reasons = (error?["errors"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
        switch response.status {
        case 401: throw .unauthorized(message)
        case 429: throw .rateLimited(message)
        case 403 where reasons.contains("rateLimitExceeded") || reasons.contains("userRateLimitExceeded"): throw .rateLimited(message)
        case 403 where reasons.contains("insufficientPermissions"): throw .unauthorized(message)
        case 400, 403: throw .rejected(message)
        default: throw .unavailable("\(response.status) \(message)")
        }
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}
