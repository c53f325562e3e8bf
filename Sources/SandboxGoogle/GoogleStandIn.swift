import Cryptography
import CurlHTTP
import Foundation
public import Hummingbird
import HTTPTypes
import NIOCore
public import Sandbox

/// Google's OAuth 2.0 and OpenID endpoints (see `google.md` in the provider reference), each
/// under a base path named after its host:
///
/// | Google | stand-in |
/// |---|---|
/// | `https://accounts.google.com` | `/google/accounts` (authorization, consent page, discovery) |
/// | `https://oauth2.googleapis.com` | `/google/oauth2` (token, revoke) |
/// | `https://www.googleapis.com` | `/google/www` (`/oauth2/v3/certs`, `/oauth2/v3/userinfo`) |
/// | `https://gmail.googleapis.com` | `/google/gmail` (Gmail API v1) |
/// | `https://www.googleapis.com/calendar/v3` | `/google/www/calendar/v3` (Calendar API v3) |
public struct GoogleStandIn: StandIn {
    public struct Configuration: Sendable {
        public var clientID = "nexa-sandbox-client.apps.googleusercontent.com"
        public var clientSecret = "GOCSPX-nexa-sandbox-secret"
        /// Exact matches only, as Google requires.
        public var redirectURIs = ["http://127.0.0.1:8080/oauth/google/callback"]
        /// The `iss` of ID tokens.
        public var issuer = "https://accounts.google.com"
        public var users = [
            GoogleUser(sub: "104857600000000000001", email: "ana@nexa-demo.test", name: "Ana Demo"),
            GoogleUser(sub: "104857600000000000002", email: "bob@nexa-demo.test", name: "Bob Demo"),
        ]
        public var seed: UInt64 = 42
        public init() {}
    }

    public let name = "google"
    public let configuration: Configuration
    let store: GoogleOAuthStore
    let gmail: GmailStore
    let calendar: CalendarStore
    let pubsub = PubSubPush()
    /// Sends Calendar push notifications (libcurl, like every outbound call).
    let sender = HTTPClient()
    let signer: JWTSigner

    public init(configuration: Configuration = .init()) throws {
        self.configuration = configuration
        store = GoogleOAuthStore(seed: configuration.seed)
        gmail = GmailStore(seed: configuration.seed)
        calendar = CalendarStore(seed: configuration.seed)
        signer = try JWTSigner()
    }

    public var startupSummary: String {
        "OAuth client \(configuration.clientID) / \(configuration.clientSecret), redirect URIs "
            + configuration.redirectURIs.joined(separator: " ") + ", users "
            + configuration.users.map(\.email).joined(separator: " ")
    }

    public func addRoutes(to group: RouterGroup<SandboxContext>) {
        let oauth = GoogleOAuth(configuration: configuration, store: store, signer: signer)
        group.get("accounts/o/oauth2/v2/auth") { r, _ in await oauth.authorize(r) }
        group.post("accounts/o/oauth2/v2/consent") { r, _ in try await oauth.consent(r) }
        group.get("accounts/.well-known/openid-configuration") { r, _ in oauth.discovery(r) }
        group.post("oauth2/token") { r, _ in try await oauth.token(r) }
        group.post("oauth2/revoke") { r, _ in try await oauth.revoke(r) }
        group.get("www/oauth2/v3/certs") { _, _ in oauth.jwks() }
        group.get("www/oauth2/v3/userinfo") { r, _ in await oauth.userinfo(r) }
        GmailAPI(oauth: store, gmail: gmail) { user, history in await self.pushGmailNotification(user: user, historyId: history) }.addRoutes(to: group)
        CalendarAPI(oauth: store, calendar: calendar, sender: sender).addRoutes(to: group)
    }

    /// `/_sandbox/google/…`:
    /// - `POST settings` (JSON): `consent` = `page` (default: the HTML page), `approve` or `deny`
    ///   (answer at once, for tests); `granted_scopes` (approve only these: a partial grant);
    ///   `access_token_lifetime` (seconds, 60…86400; default Google's 3599).
    /// - `POST revoke-refresh-tokens` (JSON `{"email": …}`): revoke a user's refresh tokens, as a
    ///   password change or a revocation in the Google account does.
    public func addControlRoutes(to group: RouterGroup<SandboxContext>) {
        group.post("settings") { request, _ in
            var request = request
            let body = await request.jsonBody(upTo: 64 * 1024)
            guard let body else { return Response.json(["error": "expected JSON settings"], status: .badRequest) }
            let consent = body["consent"].stringValue.flatMap(GoogleOAuthStore.Consent.init(rawValue:))
            let scopes: [String]?? = body["granted_scopes"] == .null && body.objectValue?["granted_scopes"] == nil
                ? .none : .some(body["granted_scopes"].arrayValue?.compactMap(\.stringValue))
            let lifetime = body["access_token_lifetime"].intValue
            if let lifetime, !(60...86_400).contains(lifetime) {
                return Response.json(["error": "access_token_lifetime must be 60…86400 seconds"], status: .badRequest)
            }
            await store.configure(consent: consent, grantedScopes: scopes, accessTokenLifetime: lifetime.map(Int.init))
            return Response(status: .noContent)
        }
        group.post("gmail/deliver") { request, _ in
            var request = request
            let body = await request.jsonBody(upTo: 1 << 20)
            guard let body, let to = body["to"].stringValue, configuration.users.contains(where: { $0.email == to }) else {
                return Response.json(["error": "expected {to: <sandbox user>, from, subject, text, html, charset, attachments, headers, reply_to} or {to, raw}"],
                                     status: .badRequest)
            }
            // A reply joins the thread of the message it answers, with its Message-ID in In-Reply-To and References.
            var original: GmailStore.Message?
            if let id = body["reply_to"].stringValue {
                guard let found = await gmail.message(user: to, id: id) else {
                    return Response.json(["error": .string("reply_to: no message \(id) in \(to)'s mailbox")], status: .badRequest)
                }
                original = found
            }
            let raw: [UInt8]
            if let given = body["raw"].stringValue {
                raw = Array(given.utf8)
            } else {
                do throws(ScenarioMail.Problem) {
                    let headers = original.map { MIME.headers(of: Substring(String(decoding: $0.raw, as: UTF8.self))).0 }
                    func header(_ name: String) -> String? { headers?.first { $0.0.lowercased() == name }?.1 }
                    raw = try ScenarioMail.raw(body, to: to, replyTo: original.map { _ in (header("message-id"), header("references")) })
                } catch {
                    return Response.json(["error": .string(error.message)], status: .badRequest)
                }
            }
            let m = await gmail.add(user: to, raw: raw, labels: ["INBOX", "UNREAD"], threadId: original?.threadId)
            await pushGmailNotification(user: to, historyId: m.historyId)
            return Response.json(["id": .string(m.id), "threadId": .string(m.threadId), "historyId": .string(String(m.historyId))])
        }
        // Registers a push subscription on a topic: {topic, endpoint, audience?, service_account?, name?}.
        group.post("pubsub/subscriptions") { request, _ in
            var request = request
            let body = await request.jsonBody(upTo: 64 * 1024)
            guard let body, let topic = body["topic"].stringValue, let endpoint = body["endpoint"].stringValue else {
                return Response.json(["error": "expected {topic, endpoint, audience?, service_account?, name?}"], status: .badRequest)
            }
            await pubsub.add(.init(
                name: body["name"].stringValue ?? "projects/nexa-sandbox/subscriptions/gmail-push",
                topic: topic, endpoint: endpoint, audience: body["audience"].stringValue ?? endpoint,
                serviceAccount: body["service_account"].stringValue ?? "gmail-push@nexa-sandbox.iam.gserviceaccount.com"))
            return Response(status: .created)
        }
        // Scenario controls: an event added, changed or cancelled in a user's calendar (channels are told).
        let calendarAPI = CalendarAPI(oauth: store, calendar: calendar, sender: sender)
        group.post("calendar/events") { request, _ in
            var request = request
            let body = await request.jsonBody(upTo: 1 << 20)
            guard let body, let user = body["user"].stringValue, configuration.users.contains(where: { $0.email == user }) else {
                return Response.json(["error": "expected {user: <sandbox user>, event: {...}}"], status: .badRequest)
            }
            do {
                return Response.json(try await calendarAPI.create(user: user, event: body["event"], conference: true))
            } catch let failure as CalendarAPI.Failure {
                return failure.response
            }
        }
        group.patch("calendar/events/:id") { request, context in
            var request = request
            let id = try context.parameters.require("id")
            let body = await request.jsonBody(upTo: 1 << 20)
            guard let body, let user = body["user"].stringValue, let changes = body["changes"].objectValue else {
                return Response.json(["error": "expected {user, changes: {...}}"], status: .badRequest)
            }
            do {
                return Response.json(try await calendarAPI.update(user: user, id: id, changes: changes))
            } catch let failure as CalendarAPI.Failure {
                return failure.response
            }
        }
        group.delete("calendar/events/:id") { request, context in
            let id = try context.parameters.require("id")
            guard let user = request.uri.queryParameters["user"].map(String.init) else {
                return Response.json(["error": "expected ?user=<sandbox user>"], status: .badRequest)
            }
            do {
                _ = try await calendarAPI.delete(user, id: id)
                return Response(status: .noContent)
            } catch let failure as CalendarAPI.Failure {
                return failure.response
            }
        }
        // Pushes wait while held; release sends them, optionally newest first and/or twice each.
        group.post("pubsub/hold") { _, _ in
            await pubsub.hold()
            return Response(status: .noContent)
        }
        group.post("pubsub/release") { request, _ in
            var request = request
            let options = await request.jsonBody(upTo: 64 * 1024)
            let pushes = DeliveryOrder.arrange(await pubsub.release(), options: options)
            for push in pushes { await send(push) }
            return Response.json(["sent": .int(Int64(pushes.count))])
        }
        // Calendar notifications wait while held; release sends them newest first and/or twice.
        group.post("calendar/hold") { _, _ in
            await calendar.hold()
            return Response(status: .noContent)
        }
        group.post("calendar/release") { request, _ in
            var request = request
            let options = await request.jsonBody(upTo: 64 * 1024)
            let held = DeliveryOrder.arrange(await calendar.release(), options: options)
            for n in held { await calendarAPI.deliver(n.channel, state: n.state, number: n.number) }
            return Response.json(["sent": .int(Int64(held.count))])
        }
        group.post("calendar/expire-sync-tokens") { _, _ in
            await calendar.expireSyncTokens()
            return Response(status: .noContent)
        }
        group.post("gmail/expire-history") { _, _ in
            await gmail.expireHistory()
            return Response(status: .noContent)
        }
        group.post("revoke-refresh-tokens") { request, _ in
            var request = request
            let body = await request.jsonBody(upTo: 64 * 1024)
            let revoked = await store.revokeAll(email: body?["email"].stringValue)
            return Response.json(["revoked": .int(Int64(revoked))])
        }
    }
}

/// A Google account of the sandbox.
public struct GoogleUser: Sendable, Hashable {
    public var sub: String
    public var email: String
    public var name: String
    public init(sub: String, email: String, name: String) {
        self.sub = sub
        self.email = email
        self.name = name
    }
}

extension GoogleStandIn {
    /// Google's error envelope for injected failures: 429 `rateLimitExceeded`, 500 `backendError`,
    /// 503 unavailable.
    public func faultResponse(status: Int) -> (body: JSON, headers: [(String, String)]) {
        let (message, domain, reason, state): (String, String, String, String) = switch status {
        case 429: ("Rate Limit Exceeded", "usageLimits", "rateLimitExceeded", "RESOURCE_EXHAUSTED")
        case 403: ("User Rate Limit Exceeded", "usageLimits", "userRateLimitExceeded", "PERMISSION_DENIED")
        case 503: ("The service is currently unavailable.", "global", "backendError", "UNAVAILABLE")
        case 500...: ("Backend Error", "global", "backendError", "INTERNAL")
        default: ("Injected failure", "global", "failedPrecondition", "FAILED_PRECONDITION")
        }
        return (["error": ["code": .int(Int64(status)), "message": .string(message), "status": .string(state),
                           "errors": [["message": .string(message), "domain": .string(domain), "reason": .string(reason)]]]], [])
    }
}
