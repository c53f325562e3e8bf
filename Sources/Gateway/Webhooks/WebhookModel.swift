import Cryptography
public import Foundation

/// The providers whose webhooks the gateway receives; the raw value is the URL segment
/// (`/webhooks/<provider>/<endpoint id>`) and the stored name.
public enum WebhookProvider: String, Sendable, Hashable, CaseIterable {
    case stripe
    case googlePubSub = "google_pubsub"
    case googleCalendar = "google_calendar"
    case microsoftGraph = "microsoft_graph"
    case mailchimp
    case sendgrid
    case zendesk
    case intercom
    case paypal

    /// The domain service that owns this provider's events (its short name).
    public var owningService: String {
        switch self {
        case .stripe, .paypal: "billing"
        case .googlePubSub, .googleCalendar, .microsoftGraph: "email_calendar"
        case .mailchimp, .sendgrid: "marketing"
        case .zendesk, .intercom: "support"
        }
    }

    /// Whether the endpoint verifies with a shared secret (HMAC key, token or URL secret) that
    /// the gateway stores sealed. The others verify with public keys named in the endpoint's config.
    public var usesSharedSecret: Bool {
        switch self {
        case .googlePubSub, .sendgrid, .paypal: false
        default: true
        }
    }

    /// Request headers worth keeping with the event (lower case).
    var keptHeaders: [String] {
        let common = ["content-type", "user-agent"]
        switch self {
        case .stripe: return common + ["stripe-signature"]
        case .googlePubSub: return common
        case .googleCalendar:
            return common + ["x-goog-channel-id", "x-goog-channel-expiration", "x-goog-resource-id", "x-goog-resource-uri",
                             "x-goog-resource-state", "x-goog-message-number"]
        case .microsoftGraph, .mailchimp: return common
        case .sendgrid: return common + ["x-twilio-email-event-webhook-timestamp"]
        case .zendesk: return common + ["x-zendesk-webhook-id", "x-zendesk-webhook-invocation-id", "x-zendesk-webhook-signature-timestamp"]
        case .intercom: return common
        case .paypal: return common + ["paypal-transmission-id", "paypal-transmission-time", "paypal-auth-algo", "paypal-cert-url"]
        }
    }
}

/// A registered webhook endpoint with its secret opened, as the verifiers need it.
public struct WebhookEndpoint: Sendable, Hashable {
    public var id: String
    public var workspaceID: UUID
    public var provider: WebhookProvider
    /// The shared secret (Stripe `whsec_…`, Zendesk signing secret, Intercom client secret,
    /// Calendar channel token, Graph `clientState`, Mailchimp URL secret); nil for key-based providers.
    public var secret: [UInt8]?
    /// Public parameters: `audience` and `service_account` (Pub/Sub), `public_key` (SendGrid),
    /// `webhook_id` (PayPal).
    public var config: [String: String]
    public var isDisabled: Bool
}

/// An incoming delivery, as the HTTP layer hands it to a verifier.
public struct WebhookRequest: Sendable {
    public var method: String
    /// Lower-case names; repeated headers joined with ", ".
    public var headers: [String: String]
    public var query: [String: String]
    public var body: [UInt8]

    public init(method: String, headers: [String: String], query: [String: String] = [:], body: [UInt8]) {
        self.method = method
        self.headers = headers
        self.query = query
        self.body = body
    }
}

/// What a verified delivery becomes.
public enum WebhookOutcome: Sendable, Equatable {
    /// Store this event, then acknowledge with `status`.
    case store(VerifiedEvent, status: Int)
    /// Answer directly and store nothing: the Graph validation handshake, Mailchimp's GET ping.
    case respond(status: Int, contentType: String, body: String)
}

/// A provider event that passed verification.
public struct VerifiedEvent: Sendable, Hashable {
    /// The provider's own id, the dedupe key (a digest of the body where the provider has none).
    public var eventID: String
    public var eventType: String
}

extension WebhookEndpoint {
    /// The shared secret the verifiers key with. An endpoint without one refuses every delivery:
    /// an empty key would accept a MAC or token anyone can compute.
    func sharedSecret() throws(WebhookRejection) -> [UInt8] {
        guard let secret, !secret.isEmpty else { throw .unauthenticated("the endpoint has no secret configured") }
        return secret
    }
}

/// Why a delivery was refused. Nothing is stored for any of them.
public enum WebhookRejection: Error, Hashable, Sendable, CustomStringConvertible {
    /// Missing, malformed or wrong signature/token/secret → 401.
    case unauthenticated(String)
    /// A valid signature on a timestamp outside the tolerance → 401 (replay protection).
    case stale(String)
    /// Signed correctly, but not a payload of this provider → 400.
    case malformed(String)
    /// The verifier could not check it now (keys or certificate unreachable) → 503, so the provider retries.
    case unavailable(String)

    public var status: Int {
        switch self {
        case .unauthenticated, .stale: 401
        case .malformed: 400
        case .unavailable: 503
        }
    }

    public var description: String {
        switch self {
        case .unauthenticated(let m), .stale(let m), .malformed(let m), .unavailable(let m): m
        }
    }
}

/// One provider's way of proving that a delivery is genuine.
public protocol WebhookVerifier: Sendable {
    func verify(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) async throws(WebhookRejection) -> WebhookOutcome
}

/// A verifier that needs nothing beyond the request and its endpoint (a shared secret, or a key in
/// the endpoint's configuration): the ingress runs it where the request arrived, without a task.
public protocol ImmediateWebhookVerifier: WebhookVerifier {
    func verifyNow(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) throws(WebhookRejection) -> WebhookOutcome
}

extension ImmediateWebhookVerifier {
    public func verify(_ request: WebhookRequest, endpoint: WebhookEndpoint, now: Date) async throws(WebhookRejection) -> WebhookOutcome {
        try verifyNow(request, endpoint: endpoint, now: now)
    }
}

/// Small helpers the verifiers share.
enum WebhookPayload {
    /// The body as a JSON object.
    static func object(_ body: [UInt8]) throws(WebhookRejection) -> [String: Any] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw .malformed("the body is not a JSON object")
        }
        return object
    }

    /// The top-level fields the verifiers read, decoded without building the whole document
    /// (JSONDecoder skips what the type does not name; JSONSerialization would box every value).
    struct Head: Decodable {
        var id: String?
        var type: String?
        var topic: String?
        var event_type: String?
        var created_at: Double?

        func required(_ value: String?, _ name: String) throws(WebhookRejection) -> String {
            guard let value, !value.isEmpty else { throw .malformed("the payload has no \"\(name)\"") }
            return value
        }
    }

    static func head(_ body: [UInt8]) throws(WebhookRejection) -> Head {
        do {
            return try JSONDecoder().decode(Head.self, from: Data(body))
        } catch {
            throw .malformed("the body is not a JSON object")
        }
    }

    /// A stable id for providers that send none, or batch several events in one request.
    static func digestID(_ body: [UInt8]) -> String {
        "sha256:" + Digest.hex(Digest.sha256(body))
    }

    /// Whether `timestamp` lies within `tolerance` of `now`, in either direction.
    static func isFresh(_ timestamp: Date, now: Date, tolerance: TimeInterval) -> Bool {
        abs(now.timeIntervalSince(timestamp)) <= tolerance
    }

    /// `2024-04-17T17:18:10Z` (with or without fractional seconds).
    static func iso8601(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}
