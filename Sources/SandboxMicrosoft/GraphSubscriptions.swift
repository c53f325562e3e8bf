import CurlHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Sandbox
import Synchronization

/// Graph change notifications for Outlook resources, as Microsoft documents them:
/// `POST /subscriptions` validates the notification URL (and the lifecycle URL) by POSTing
/// `?validationToken=` and expecting the token echoed as `text/plain` with 200 within 10 s (else
/// 400 to the caller); the expiration may be at most 10,080 minutes away; `PATCH` renews (200 with
/// the subscription), `DELETE` removes (204), `GET` reads. Mail added to a subscribed folder is
/// notified (`value[]` with `subscriptionId`, `clientState`, `changeType`, `resource`,
/// `resourceData`, `tenantId`); lifecycle events (`reauthorizationRequired`,
/// `subscriptionRemoved`, `missed`) are sent by a scenario control. Notification URLs must be https,
/// except on loopback (the development switch the reference asks for).
final class GraphSubscriptions: Sendable {
    struct Subscription: Sendable {
        var id: String
        var resource: String
        var changeType: String
        var notificationURL: String
        var lifecycleURL: String?
        var clientState: String?
        var expiration: Date
        /// The folder its resource names (`me/mailFolders('inbox')/messages`), or nil for all mail.
        var folder: String?
    }

    static let maximumMinutes = 10_080

    let sender: HTTPClient
    let tenantID: String
    let userID = "87d349ed44d7d"
    private let subscriptions = Mutex<[String: Subscription]>([:])

    init(sender: HTTPClient, tenantID: String) {
        self.sender = sender
        self.tenantID = tenantID
    }

    func addRoutes(to group: RouterGroup<SandboxContext>, identity: IdentityStore) {
        group.post("graph/v1.0/subscriptions") { request, _ in
            var request = request
            if let refusal = identity.refusal(request) { return refusal }
            return await self.create(await request.jsonBody(upTo: 64 * 1024))
        }
        group.patch("graph/v1.0/subscriptions/:id") { request, context in
            var request = request
            if let refusal = identity.refusal(request) { return refusal }
            return self.renew(try context.parameters.require("id"), await request.jsonBody(upTo: 64 * 1024))
        }
        group.get("graph/v1.0/subscriptions/:id") { request, context in
            if let refusal = identity.refusal(request) { return refusal }
            guard let s = self.subscriptions.withLock({ $0[(try? context.parameters.require("id")) ?? ""] }) else { return Self.notFound() }
            return .json(self.render(s))
        }
        group.delete("graph/v1.0/subscriptions/:id") { request, context in
            if let refusal = identity.refusal(request) { return refusal }
            let removed = self.subscriptions.withLock { $0.removeValue(forKey: (try? context.parameters.require("id")) ?? "") }
            return removed == nil ? Self.notFound() : Response(status: .noContent)
        }
    }

    static func notFound() -> Response {
        GraphMail.error(.notFound, "ResourceNotFound", "The object was not found.")
    }

    private static func invalid(_ message: String) -> Response {
        GraphMail.error(.badRequest, "InvalidRequest", message)
    }

    private func create(_ body: JSON?) async -> Response {
        guard let body, let resource = body["resource"].stringValue, let changeType = body["changeType"].stringValue,
              let url = body["notificationUrl"].stringValue, let expiresText = body["expirationDateTime"].stringValue else {
            return Self.invalid("changeType, notificationUrl, resource and expirationDateTime are required.")
        }
        guard let expiration = Self.date(expiresText) else { return Self.invalid("expirationDateTime is not a date.") }
        if let problem = Self.expirationProblem(expiration) { return Self.invalid(problem) }
        let changes = changeType.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !changes.isEmpty, changes.allSatisfy(["created", "updated", "deleted"].contains) else {
            return Self.invalid("changeType must be created, updated and/or deleted.")
        }
        guard let folder = Self.folder(of: resource) else { return Self.invalid("Unsupported resource '\(resource)'.") }
        if let state = body["clientState"].stringValue, state.count > 255 { return Self.invalid("clientState may be at most 255 characters.") }
        let lifecycle = body["lifecycleNotificationUrl"].stringValue
        for address in [url] + (lifecycle.map { [$0] } ?? []) {
            guard Self.acceptable(address) else { return Self.invalid("The notification URL must be https: \(address)") }
            guard await validate(address) else {
                return GraphMail.error(.badRequest, "ValidationError",
                                       "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
            }
        }
        let subscription = Subscription(id: UUID().uuidString.lowercased(), resource: resource, changeType: changes.joined(separator: ","),
                                        notificationURL: url, lifecycleURL: lifecycle, clientState: body["clientState"].stringValue,
                                        expiration: expiration, folder: folder.isEmpty ? nil : folder)
        subscriptions.withLock { $0[subscription.id] = subscription }
        return .json(render(subscription), status: .created)
    }

    private func renew(_ id: String, _ body: JSON?) -> Response {
        guard let expiration = body?["expirationDateTime"].stringValue.flatMap(Self.date) else {
            return Self.invalid("expirationDateTime is required.")
        }
        if let problem = Self.expirationProblem(expiration) { return Self.invalid(problem) }
        guard let renewed = subscriptions.withLock({ s -> Subscription? in
            s[id]?.expiration = expiration
            return s[id]
        }) else { return Self.notFound() }
        return .json(render(renewed))
    }

    /// The validation handshake: `POST <url>?validationToken=…`, the token back as text/plain with 200, within 10 s.
    private func validate(_ address: String) async -> Bool {
        let token = "Validation: Testing client application reachability for subscription Request-Id: \(UUID().uuidString.lowercased())"
        let separator = address.contains("?") ? "&" : "?"
        let url = address + separator + "validationToken=" + (token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token)
        guard let response = try? await sender.execute(HTTPClientRequest(method: "POST", url: url, headers: [.init("Content-Type", "text/plain; charset=utf-8")],
                                                                         body: []), timeout: .seconds(10)) else { return false }
        return response.status == 200 && response.header("Content-Type")?.lowercased().hasPrefix("text/plain") == true && response.bodyText == token
    }

    /// Mail added to `folder`: every live subscription covering it is notified.
    func mailAdded(id: String, folder: String) async {
        let now = Date()
        for s in subscriptions.withLock({ Array($0.values) }) where s.expiration > now && (s.folder == nil || s.folder == folder)
            && s.changeType.contains("created") {
            await notify(s, change: "created", resource: "Users/\(userID)/Messages/\(id)", type: "#Microsoft.Graph.Message", id: id)
        }
    }

    /// An event created, updated or deleted: subscriptions on `me/events` for that change are notified.
    func eventChanged(id: String, change: String) async {
        let now = Date()
        for s in subscriptions.withLock({ Array($0.values) }) where s.expiration > now && s.folder == "events" && s.changeType.contains(change) {
            await notify(s, change: change, resource: "Users/\(userID)/Events/\(id)", type: "#Microsoft.Graph.Event", id: id)
        }
    }

    private func notify(_ s: Subscription, change: String, resource: String, type: String, id: String) async {
        var notification: JSON = [
                "subscriptionId": .string(s.id), "subscriptionExpirationDateTime": .string(Self.stamp(s.expiration)), "changeType": .string(change),
                "resource": .string(resource), "tenantId": .string(tenantID),
                "resourceData": ["@odata.type": .string(type), "@odata.id": .string(resource),
                             "@odata.etag": .string("W/\"CQAAABYAAAC\(id.suffix(8))\""), "id": .string(id)],
        ]
        if let state = s.clientState { notification["clientState"] = .string(state) }
        await post(s.notificationURL, ["value": [notification]])
    }

    /// A lifecycle event for subscription `id` (`reauthorizationRequired`, `subscriptionRemoved`,
    /// `missed`); false when it has no lifecycle URL. `subscriptionRemoved` removes it.
    func lifecycle(_ event: String, id: String) async -> Bool {
        guard let s = subscriptions.withLock({ $0[id] }), let url = s.lifecycleURL else { return false }
        if event == "subscriptionRemoved" { subscriptions.withLock { _ = $0.removeValue(forKey: id) } }
        var notification: JSON = ["subscriptionId": .string(s.id), "subscriptionExpirationDateTime": .string(Self.stamp(s.expiration)),
                                  "tenantId": .string(tenantID), "lifecycleEvent": .string(event)]
        if let state = s.clientState { notification["clientState"] = .string(state) }
        await post(url, ["value": [notification]])
        return true
    }

    private func post(_ url: String, _ body: JSON) async {
        _ = try? await sender.execute(.json(url, body.encoded()), timeout: .seconds(10))
    }

    func render(_ s: Subscription) -> JSON {
        ["@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity", "id": .string(s.id), "resource": .string(s.resource),
         "applicationId": "6731de76-14a6-49ae-97bc-6eba6914391e", "changeType": .string(s.changeType),
         "clientState": s.clientState.map { .string($0) } ?? .null, "notificationUrl": .string(s.notificationURL),
         "lifecycleNotificationUrl": s.lifecycleURL.map { .string($0) } ?? .null, "expirationDateTime": .string(Self.stamp(s.expiration)),
         "creatorId": .string(userID), "includeResourceData": false, "latestSupportedTlsVersion": "v1_2", "encryptionCertificate": .null,
         "encryptionCertificateId": .null, "notificationQueryOptions": .null, "notificationUrlAppId": .null]
    }

    /// `me/mailFolders('inbox')/messages` → "inbox"; `me/messages` → "" (all mail); `me/events` →
    /// "events"; nil for what this stand-in does not serve.
    static func folder(of resource: String) -> String? {
        let path = resource.trimmingCharacters(in: CharacterSet(charactersIn: "/")).lowercased()
        if path == "me/messages" { return "" }
        if path == "me/events" { return "events" }
        for (name, _) in GraphMailStore.folders {
            for form in ["me/mailfolders('\(name)')/messages", "me/mailfolders/\(name)/messages"] where path == form { return name }
        }
        return nil
    }

    static func expirationProblem(_ expiration: Date) -> String? {
        let minutes = expiration.timeIntervalSinceNow / 60
        if minutes <= 0 { return "Subscription expiration must be in the future." }
        if minutes > Double(maximumMinutes) { return "Subscription expiration can only be \(maximumMinutes) minutes in the future." }
        return nil
    }

    /// https anywhere; http only on loopback (development).
    static func acceptable(_ address: String) -> Bool {
        guard let url = URLComponents(string: address), let host = url.host else { return false }
        return url.scheme == "https" || (url.scheme == "http" && ["127.0.0.1", "localhost", "::1"].contains(host))
    }

    static func date(_ text: String) -> Date? {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return ISO8601DateFormatter().date(from: text) ?? fractional.date(from: text)
    }

    static func stamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }
}
