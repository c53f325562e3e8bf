import Cryptography
import CurlHTTP
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
public import Sandbox
import Synchronization

/// The Microsoft identity platform (v2) as Outlook connections use it: `/{tenant}/oauth2/v2.0/authorize`
/// and `/token` (authorization code with PKCE, refresh tokens that rotate), Graph's `/v1.0/me`,
/// and Azure AD's error shape (`error`, `error_description` with its AADSTS code, `error_codes`,
/// `timestamp`, `trace_id`, `correlation_id`). Consent is decided by a control:
/// `POST /_sandbox/microsoft/settings {"consent": "approve"|"deny", "grant": [scopes]}`;
/// `POST /_sandbox/microsoft/revoke` invalidates every refresh token (the user revoked access);
/// `POST /_sandbox/microsoft/access-token` mints an access token for tests of Graph itself.
/// Outlook mail over Graph (`GraphMail`); scenario controls `POST /_sandbox/microsoft/mail/deliver
/// {from, subject, text | html, headers, reply_to}` (into the Inbox), `POST …/mail/delete {id}`,
/// `POST …/mail/expire-delta`; Outlook calendar (`GraphCalendar`) with `POST …/calendar/events
/// {organizer, event}`, `PATCH|DELETE …/calendar/events/{id}`, `POST …/calendar/expire-delta`;
/// change notifications (`GraphSubscriptions`) and `POST …/subscriptions/{id}/lifecycle {event}`.
public struct MicrosoftStandIn: StandIn {
    public struct Configuration: Sendable {
        public var clientID = "6731de76-14a6-49ae-97bc-6eba6914391e"
        public var clientSecret = "nexa-sandbox-microsoft-secret"
        public var redirectURIs = ["http://127.0.0.1:8080/oauth/microsoft/callback"]
        public var email = "ana@nexa-demo.test"
        public var tenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"
        public init() {}
    }

    public let name = "microsoft"
    public let configuration: Configuration
    let state = IdentityStore()
    let mail = GraphMailStore()
    let subscriptions: GraphSubscriptions
    let calendar: GraphCalendar
    let signer: JWTSigner

    public init(configuration: Configuration = .init()) throws {
        self.configuration = configuration
        subscriptions = GraphSubscriptions(sender: HTTPClient(), tenantID: configuration.tenantID)
        calendar = GraphCalendar(identity: state, owner: configuration.email, subscriptions: subscriptions)
        signer = try JWTSigner()
    }

    public var startupSummary: String {
        "identity platform v2 + Graph /me, mail, calendar and subscriptions; client \(configuration.clientID), secret \(configuration.clientSecret), user \(configuration.email)"
    }

    public func faultResponse(status: Int) -> (body: JSON, headers: [(String, String)]) {
        (Self.errorBody("temporarily_unavailable", "AADSTS500011", 500011, "injected failure (\(status))"), [])
    }

    /// Graph's own shape below `/graph` (Outlook's throttling codes for 429), Azure AD's elsewhere.
    public func faultResponse(status: Int, path: String) -> (body: JSON, headers: [(String, String)]) {
        guard path.hasPrefix("/graph/") else { return faultResponse(status: status) }
        let (code, message) = switch status {
        case 429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
        case 503: ("ServiceUnavailable", "Service Unavailable")
        case 504: ("GatewayTimeout", "Gateway Timeout")
        default: ("generalException", "An unexpected error occurred (\(status)).")
        }
        return (["error": ["code": .string(code), "message": .string(message),
                           "innerError": ["date": .string(ISO8601DateFormatter().string(from: Date())), "request-id": .string(UUID().uuidString.lowercased())]]],
                [])
    }

    public func addRoutes(to group: RouterGroup<SandboxContext>) {
        let api = MicrosoftIdentity(configuration: configuration, state: state, signer: signer)
        group.get(":tenant/oauth2/v2.0/authorize") { request, context in api.authorize(request, tenant: context.parameters.get("tenant") ?? "") }
        group.post(":tenant/oauth2/v2.0/token") { request, _ in try await api.token(request) }
        group.get("graph/v1.0/me") { request, _ in api.me(request) }
        GraphMail(identity: state, mail: mail, owner: configuration.email, subscriptions: subscriptions).addRoutes(to: group)
        subscriptions.addRoutes(to: group, identity: state)
        calendar.addRoutes(to: group)
    }

    public func addControlRoutes(to group: RouterGroup<SandboxContext>) {
        let state = self.state
        group.post("settings") { request, _ in
            var request = request
            let body = await request.jsonBody() ?? .null
            state.withLock { s in
                if let consent = body["consent"].stringValue { s.approve = consent != "deny" }
                if case .array(let grant) = body["grant"] { s.grant = grant.compactMap(\.stringValue) } else { s.grant = nil }
            }
            return Response(status: .noContent)
        }
        // An access token for tests that exercise Graph rather than the sign-in (the sign-in is tested on its own).
        group.post("access-token") { _, _ in
            let token = "EwA" + Digest.base64URL(Digest.randomBytes(48))
            state.withLock { _ = $0.accessTokens.insert(token) }
            return Response.json(["access_token": .string(token), "token_type": "Bearer", "expires_in": 3599])
        }
        group.post("revoke") { _, _ in
            state.withLock { $0.refreshTokens.removeAll() }
            return Response(status: .noContent)
        }
        let mail = self.mail, owner = configuration.email, subscriptions = self.subscriptions, calendar = self.calendar
        // Calendar scenarios: an invitation from someone else, moved, cancelled; delta tokens forgotten.
        group.post("calendar/events") { request, _ in
            var request = request
            guard let body = await request.jsonBody(), body["event"].objectValue != nil else {
                return Response.json(["error": "expected {organizer?, event: {subject, start, end, attendees, …}}"], status: .badRequest)
            }
            do {
                let (event, _) = try calendar.create(body["event"], organizer: body["organizer"].stringValue ?? owner)
                await subscriptions.eventChanged(id: event.id, change: "created")
                return Response.json(["id": .string(event.id)])
            } catch let failure as GraphMail.Failure {
                return failure.response
            }
        }
        group.patch("calendar/events/:id") { request, context in
            var request = request
            let changes = await request.jsonBody() ?? .null
            do {
                let event = try calendar.update(try context.parameters.require("id"), changes)
                await subscriptions.eventChanged(id: event.id, change: "updated")
                return Response(status: .noContent)
            } catch let failure as GraphMail.Failure {
                return failure.response
            }
        }
        group.delete("calendar/events/:id") { _, context in
            let id = try context.parameters.require("id")
            guard calendar.remove(id) else { return Response(status: .notFound) }
            await subscriptions.eventChanged(id: id, change: "deleted")
            return Response(status: .noContent)
        }
        group.post("calendar/expire-delta") { _, _ in
            calendar.expireDeltaTokens()
            return Response(status: .noContent)
        }
        group.post("mail/deliver") { request, _ in
            var request = request
            guard let body = await request.jsonBody(), body.objectValue != nil else {
                return Response.json(["error": "expected {from, subject, text | html, headers, reply_to}"], status: .badRequest)
            }
            let original = body["reply_to"].stringValue.flatMap(mail.message(id:))
            if body["reply_to"].stringValue != nil, original == nil {
                return Response.json(["error": "reply_to: no such message"], status: .badRequest)
            }
            let fromText = body["from"].stringValue ?? "someone@example.com"
            let from = GraphMailStore.Address(name: body["from_name"].stringValue, address: fromText)
            var headers = (body["headers"].objectValue ?? [:]).compactMap { name, value in value.stringValue.map { (name: name, value: $0) } }
            if let original { headers.append(("In-Reply-To", original.internetMessageID)) }
            let html = body["html"].stringValue
            let message = mail.add({ id, conversation in
                GraphMailStore.Message(
                    id: id, folder: "inbox", from: from, to: [.init(name: "Ana Demo", address: owner)], cc: [],
                    subject: body["subject"].stringValue ?? "", contentType: html == nil ? "text" : "html", content: html ?? body["text"].stringValue ?? "",
                    received: Date(), sent: Date(), internetMessageID: "<\(UUID().uuidString.lowercased())@example.com>", conversationID: conversation,
                    headers: headers, hasAttachments: body["attachments"].arrayValue?.isEmpty == false, isRead: false)
            }, conversation: original?.conversationID)
            await subscriptions.mailAdded(id: message.id, folder: "inbox")
            return Response.json(["id": .string(message.id), "conversationId": .string(message.conversationID),
                                  "internetMessageId": .string(message.internetMessageID)])
        }
        group.post("mail/delete") { request, _ in
            var request = request
            let id = (await request.jsonBody())?["id"].stringValue ?? ""
            return Response(status: mail.remove(id: id) ? .noContent : .notFound)
        }
        // A lifecycle notification for a subscription: {"event": "reauthorizationRequired"|"subscriptionRemoved"|"missed"}.
        group.post("subscriptions/:id/lifecycle") { request, context in
            var request = request
            let event = (await request.jsonBody())?["event"].stringValue ?? ""
            guard ["reauthorizationRequired", "subscriptionRemoved", "missed"].contains(event) else {
                return Response.json(["error": "event is reauthorizationRequired, subscriptionRemoved or missed"], status: .badRequest)
            }
            return Response(status: await subscriptions.lifecycle(event, id: try context.parameters.require("id")) ? .noContent : .notFound)
        }
        group.post("mail/expire-delta") { _, _ in
            mail.expireDeltaTokens()
            return Response(status: .noContent)
        }
    }

    /// Azure AD's error document.
    static func errorBody(_ error: String, _ code: String, _ number: Int, _ text: String) -> JSON {
        ["error": .string(error), "error_description": .string("\(code): \(text)"), "error_codes": [.int(Int64(number))],
         "timestamp": .string(ISO8601DateFormatter().string(from: Date())), "trace_id": .string(UUID().uuidString.lowercased()),
         "correlation_id": .string(UUID().uuidString.lowercased())]
    }
}

/// The stand-in's state, shared by its routes.
final class IdentityStore: Sendable {
    private let state = Mutex(IdentityState())

    func withLock<R>(_ body: (inout IdentityState) -> R) -> R { state.withLock { body(&$0) } }
}

/// Codes, tokens and the consent setting.
struct IdentityState {
    struct Code {
        var redirectURI: String
        var scopes: [String]
        var challenge: String?
        var expires: Date
    }

    var approve = true
    /// The scopes the user grants (nil: all asked for).
    var grant: [String]?
    var codes: [String: Code] = [:]
    var redeemed: Set<String> = []
    /// Refresh token → its scopes. A refresh replaces the token used.
    var refreshTokens: [String: [String]] = [:]
    var accessTokens: Set<String> = []
}
