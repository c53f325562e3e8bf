public import CurlHTTP
public import Foundation

/// The Microsoft Graph v1.0 calls an Outlook mailbox sync makes, as the connection's user (`me`):
/// mail folders' delta rounds, a message, `sendMail`, and change-notification subscriptions —
/// through `ProviderCalls`, with Graph's errors read into the same failures as Google's.
public struct OutlookClient: Sendable {
    public typealias Failure = ProviderFailure

    /// One page of a delta round: messages changed (or, at first, present), ids removed, and
    /// either the link to the next page or the delta link that ends the round.
    public struct DeltaPage: Sendable {
        public var messages: [GraphMessage]
        public var removed: [String]
        public var nextLink: String?
        public var deltaLink: String?
    }

    /// A change-notification subscription as Graph answered it.
    public struct Subscription: Sendable, Hashable {
        public var id: String
        public var expiration: Date
    }

    let calls: ProviderCalls
    /// `https://graph.microsoft.com/v1.0` or a stand-in's equivalent.
    let baseURL: String

    public init(http: HTTPClient, baseURL: String, token: @escaping @Sendable () async throws -> String) {
        calls = ProviderCalls(http: http, token: token, quota: nil)
        self.baseURL = baseURL
    }

    /// The message properties the sync reads (and the headers bulk mail and threading need).
    static let select = "id,conversationId,subject,bodyPreview,body,from,toRecipients,ccRecipients,receivedDateTime,internetMessageId,"
        + "internetMessageHeaders,parentFolderId,hasAttachments"

    /// The first page of a new delta round over `folder` (`inbox`, `sentitems`), from messages
    /// received since `since`.
    public func delta(folder: String, since: Date, pageSize: Int = 100) async throws(Failure) -> DeltaPage {
        let filter = "receivedDateTime ge " + ProviderCalls.timestamp(since)
        let url = "\(baseURL)/me/mailFolders/\(folder)/messages/delta?$select=\(ProviderCalls.encode(Self.select))&$filter=\(ProviderCalls.encode(filter))"
        return try await deltaPage(url, pageSize: pageSize)
    }

    /// A page of a round from a link Graph handed out (`@odata.nextLink` or `@odata.deltaLink`), called as returned.
    /// - Throws: `.cursorExpired` when Graph no longer knows the link's state (410, or 400 `SyncStateNotFound`).
    public func delta(link: String, pageSize: Int = 100) async throws(Failure) -> DeltaPage {
        try await deltaPage(link, pageSize: pageSize)
    }

    private func deltaPage(_ url: String, pageSize: Int) async throws(Failure) -> DeltaPage {
        let response = try await call("GET", url, headers: [.init("Prefer", "odata.maxpagesize=\(pageSize)")])
        struct Page: Decodable {
            var value: [GraphMessage]
            var next: String?
            var delta: String?
            enum CodingKeys: String, CodingKey { case value, next = "@odata.nextLink", delta = "@odata.deltaLink" }
        }
        guard let page = try? JSONDecoder().decode(Page.self, from: Data(response.body)) else {
            throw .unavailable("a delta page that does not decode")
        }
        guard (page.next == nil) != (page.delta == nil) else { throw .unavailable("a delta page needs exactly one of nextLink and deltaLink") }
        return DeltaPage(messages: page.value.filter { $0.removed == nil }, removed: page.value.filter { $0.removed != nil }.map(\.id),
                         nextLink: page.next, deltaLink: page.delta)
    }

    /// `GET /me/messages/{id}`; nil when it is gone.
    public func message(id: String) async throws(Failure) -> GraphMessage? {
        let response = try await raw("GET", "\(baseURL)/me/messages/\(ProviderCalls.encode(id))?$select=\(ProviderCalls.encode(Self.select))")
        if response.status == 404 { return nil }
        try Self.check(response)
        do { return try JSONDecoder().decode(GraphMessage.self, from: Data(response.body)) } catch {
            throw .unavailable("a message Graph returned does not decode: \(error)")
        }
    }

    /// `POST /me/sendMail` (202, no body): `message` is Graph's message JSON (with our
    /// `internetMessageId`, so the copy in Sent Items can be recognised). Sent once, no retry.
    public func sendMail(_ message: [String: Any]) async throws(Failure) {
        let body = try? JSONSerialization.data(withJSONObject: ["message": message, "saveToSentItems": true])
        _ = try await call("POST", "\(baseURL)/me/sendMail", body: body.map { Array($0) }, retry: nil)
    }

    /// `POST /subscriptions` for `resource` (`me/mailFolders('inbox')/messages`), notifications to
    /// `notificationURL` (lifecycle ones too) with `clientState`, until `expiration`.
    public func subscribe(resource: String, notificationURL: String, clientState: String, expiration: Date) async throws(Failure) -> Subscription {
        let body = try? JSONSerialization.data(withJSONObject: [
            "changeType": "created,updated", "resource": resource, "notificationUrl": notificationURL, "lifecycleNotificationUrl": notificationURL,
            "clientState": clientState, "expirationDateTime": ProviderCalls.timestamp(expiration),
        ])
        return try await subscription(try await call("POST", "\(baseURL)/subscriptions", body: body.map { Array($0) }, retry: nil))
    }

    /// `PATCH /subscriptions/{id}`: a later expiration.
    public func renew(_ id: String, until expiration: Date) async throws(Failure) -> Subscription {
        let body = try? JSONSerialization.data(withJSONObject: ["expirationDateTime": ProviderCalls.timestamp(expiration)])
        return try await subscription(try await call("PATCH", "\(baseURL)/subscriptions/\(ProviderCalls.encode(id))", body: body.map { Array($0) }))
    }

    /// `DELETE /subscriptions/{id}`; one Graph no longer has counts as deleted.
    public func unsubscribe(_ id: String) async throws(Failure) {
        let response = try await raw("DELETE", "\(baseURL)/subscriptions/\(ProviderCalls.encode(id))")
        if response.status == 404 { return }
        try Self.check(response)
    }

    private func subscription(_ response: HTTPClientResponse) throws(Failure) -> Subscription {
        guard let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any], let id = json["id"] as? String,
              let expiration = (json["expirationDateTime"] as? String).flatMap(ProviderCalls.date) else {
            throw .unavailable("a subscription answer without id and expirationDateTime")
        }
        return Subscription(id: id, expiration: expiration)
    }

    private func call(_ method: String, _ url: String, body: [UInt8]? = nil, headers: [HTTPClientRequest.Header] = [],
                      retry: RetryPolicy? = .standard) async throws(Failure) -> HTTPClientResponse {
        let response = try await raw(method, url, body: body, headers: headers, retry: retry)
        try Self.check(response)
        return response
    }

    private func raw(_ method: String, _ url: String, body: [UInt8]? = nil, headers: [HTTPClientRequest.Header] = [],
                     retry: RetryPolicy? = .standard) async throws(Failure) -> HTTPClientResponse {
        try await calls.raw(method, url, body: body, headers: headers, retry: retry)
    }

    /// Graph's error: `{"error": {"code", "message", "innerError"}}`.
    static func check(_ response: HTTPClientResponse) throws(Failure) {
        guard !(200..<300).contains(response.status) else { return }
        let error = ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])?["error"] as? [String: Any]
        let code = error?["code"] as? String ?? ""
        let message = "\(code): \(error?["message"] as? String ?? response.bodyText)"
        switch response.status {
        case 401: throw .unauthorized(message)
        case 403 where ["ErrorAccessDenied", "Authorization_RequestDenied", "AccessDenied"].contains(code): throw .unauthorized(message)
        case 410: throw .cursorExpired
        case 400 where ["SyncStateNotFound", "syncStateNotFound", "resyncRequired", "SyncStateInvalid"].contains(code): throw .cursorExpired
        case 429: throw .rateLimited(message)
        case 409: throw .conflict(message)
        case 400, 403, 404, 422: throw .rejected(message)
        default: throw .unavailable("\(response.status) \(message)")
        }
    }
}
