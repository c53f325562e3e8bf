import Cryptography
public import CurlHTTP
public import Foundation

/// The Gmail API calls the sync makes (`users.watch`, `users.history.list`, `users.messages.list`
/// and `get`), over libcurl with the platform's retry, as the mailbox's owner (`me`).
public struct GmailClient: Sendable {
    public typealias Failure = ProviderFailure

    /// What `history.list` reported: ids of messages added since the cursor, and the new cursor.
    public struct History: Sendable, Hashable {
        public var addedMessageIDs: [String]
        public var historyID: UInt64
    }

    let api: GoogleAPI
    /// `https://gmail.googleapis.com` or a stand-in's equivalent.
    let baseURL: String

    /// - Parameter quota: a limiter with a `google` limit (`GoogleAPI.perUserQuota`) and the mailbox it spends for.
    public init(http: HTTPClient, baseURL: String, quota: (limiter: RateLimiter, user: String)? = nil,
                token: @escaping @Sendable () async throws -> String) {
        api = GoogleAPI(http: http, quota: quota, token: token)
        self.baseURL = baseURL
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
            if let pageToken { query += "&pageToken=\(ProviderCalls.encode(pageToken))" }
            let response = try await raw("GET", query, cost: Cost.historyList)
            if response.status == 404 { throw .cursorExpired }
            try GoogleAPI.check(response)
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
            var path = "messages?maxResults=\(min(500, limit))&q=\(ProviderCalls.encode(query))"
            if let labelId { path += "&labelIds=\(ProviderCalls.encode(labelId))" }
            if let pageToken { path += "&pageToken=\(ProviderCalls.encode(pageToken))" }
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
        let response = try await raw("GET", "messages/\(ProviderCalls.encode(id))?format=full", cost: Cost.messagesGet)
        if response.status == 404 { return nil }
        try GoogleAPI.check(response)
        do {
            return try JSONDecoder().decode(GmailMessage.self, from: Data(response.body))
        } catch {
            throw .unavailable("a message Gmail returned does not decode: \(error)")
        }
    }

    private func call(_ method: String, _ path: String, cost: Double, body: [UInt8]? = nil,
                      retry: RetryPolicy? = .standard) async throws(Failure) -> [String: Any] {
        try await api.json(method, "\(baseURL)/gmail/v1/users/me/\(path)", cost: cost, body: body, retry: retry)
    }

    private func raw(_ method: String, _ path: String, cost: Double) async throws(Failure) -> HTTPClientResponse {
        try await api.raw(method, "\(baseURL)/gmail/v1/users/me/\(path)", cost: cost)
    }

}
